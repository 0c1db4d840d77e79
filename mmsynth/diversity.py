"""How varied a run's questions are (issue 18, item 6): reported in the run summary and the card.

- ``distinct_2``: distinct word bigrams over all bigrams of the questions (Li et al.'s distinct-n);
- ``openings``: the share of questions whose first three words no earlier question began with;
- ``type_entropy``: the entropy, in bits, of the questions' types by their first words (what,
  where, how many, a yes/no question, …).

Computed over the human turns of the run's kept samples, read back from its shards' JSON
members in order (the images are not read), at
most :data:`MAX_QUESTIONS` of them (so a run of millions costs a bounded read; the count read is
reported), per sample type too where samples have one (coco's conversation, detail, …).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from mmsynth.sample import IMAGE_TOKEN

MAX_QUESTIONS = 100_000
_WORD = re.compile(r"[a-z0-9']+")
_YES_NO = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would",
           "should", "has", "have", "had", "may", "might", "must"}
_WH = {"what", "which", "who", "whom", "whose", "where", "when", "why", "how"}


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def question_type(text: str) -> str:
    """A question's type by its first words: a wh-word, "how many", "yes/no", or "other"."""
    w = words(text)
    if not w:
        return "other"
    if w[0] == "how" and len(w) > 1 and w[1] in ("many", "much"):
        return f"how {w[1]}"
    if w[0] in _WH:
        return w[0]
    if w[0] in _YES_NO:
        return "yes/no"
    return "other"


def diversity(questions: list[str]) -> dict[str, Any]:
    """The three figures of ``questions`` (and how many there were)."""
    bigrams: list[tuple[str, str]] = []
    openings: set[tuple[str, ...]] = set()
    types: Counter[str] = Counter()
    for q in questions:
        w = words(q)
        bigrams += list(pairwise(w))
        openings.add(tuple(w[:3]))
        types[question_type(q)] += 1
    n = len(questions)
    entropy = -sum(c / n * math.log2(c / n) for c in types.values()) if n else 0.0
    return {"questions": n,
            "distinct_2": round(len(set(bigrams)) / len(bigrams), 4) if bigrams else 0.0,
            "openings": round(len(openings) / n, 4) if n else 0.0,
            "type_entropy": round(entropy, 3) + 0.0,  # (never "-0.0")
            "types": dict(types.most_common())}


def run_diversity(out: str | Path) -> dict[str, Any]:
    """:func:`diversity` of the run's questions in ``out``, overall and by sample type."""
    from mmsynth.shards import iter_run_json

    by_type: dict[str, list[str]] = {}
    everything: list[str] = []
    for record in iter_run_json(out):
        kind = (record.get("meta") or {}).get("type")
        for turn in record.get("conversations", [])[0::2]:
            text = str(turn.get("value", "")).replace(IMAGE_TOKEN, "").strip()
            everything.append(text)
            if kind:
                by_type.setdefault(kind, []).append(text)
        if len(everything) >= MAX_QUESTIONS:
            break
    report = diversity(everything)
    if len(by_type) > 1:
        report["by_type"] = {k: diversity(v) for k, v in sorted(by_type.items())}
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    if "unreadable" in report:
        return [f"  diversity: not measured, {report['unreadable']} (mmsynth verify finds the "
                "broken shards; a resume with --verify rebuilds them)"]
    if not report.get("questions"):
        return []

    def figures(r: dict[str, Any]) -> str:
        return (f"distinct-2 {r['distinct_2']:.3f}, distinct openings {r['openings']:.1%}, "
                f"question-type entropy {r['type_entropy']:.2f} bits")

    lines = [f"  diversity: {report['questions']:,} questions, {figures(report)}"]
    for kind, r in report.get("by_type", {}).items():
        lines.append(f"  diversity of {kind}: {r['questions']:,} questions, {figures(r)}")
    return lines
