"""Claim support (the MiniCheck idea, offline): every sentence of an answer against the image's
document — its captions and boxes.

The grounding check (:mod:`mmsynth.filters.grounding`) asks whether the objects an answer names
are in the image and counted right. Fluent answers also say things about those objects that no
caption or box supports: "the woman" when every caption says a man, a red bus the captions call
white, a cup "to the left of" a laptop whose box lies to its right, a fridge "on the right side
of the room" whose box is at the left, forks "to the right of it" that all lie left of the
pizza. This stage splits each gpt answer into sentences (:func:`split_sentences`), finds the
sentence's colour, gender, number, relation and time-of-day claims (relations between two
objects, an object's position in the picture, about groups and pronoun objects too; the hour
a photo is taken at, "at midday" against captions that say dusk) and judges each
against the :class:`~mmsynth.filters.attributes.Document` (:mod:`mmsynth.filters.attributes`
has the rules; the word lists are ``configs/grounding/claims.yaml``). A contradicted claim is
counted ``unsupported_claim:<kind>``; what happens to its sample is ``--claim_check``:

* ``reject`` (the default): the sample is rejected with the reason of its first unsupported
  claim. Chosen because a contradicted attribute is exactly the fluent hallucination that
  instruction tuning then teaches, and the rules are built to say "unknown" unless captions or
  boxes decide, so a correct answer should rarely be rejected (to be measured on the labelled
  dev set, tests/coco/data/grounding_dev.yaml, once it lands). The cost falls mostly on
  ``detail`` answers, which make the most claims; ``drop_sentence`` keeps more of them.
* ``drop_sentence``: the sentences with an unsupported claim are removed from their answer if
  the rest still stands — at least one sentence and at least ``min_kept_share`` of the answer's
  words are left; otherwise the sample is rejected. (A later sentence may refer back to a
  dropped one — "It is parked…" — which this cannot see; hence not the default.)
* ``flag``: the sample is kept as it is, its unsupported claims listed in its meta.
* ``llm``: as ``reject``, and besides the rules an LLM judges every sentence against the
  document (the prompt set ``configs/prompts/claim_judge.yaml``, one-word verdicts SUPPORTED /
  CONTRADICTED / UNKNOWN), a CONTRADICTED sentence counted ``unsupported_claim:llm``. Meant for
  a strong model behind a server (``--llm_backend openai``); the requests go through the
  source's backend and so through its response cache. Each request's seed comes from (run
  seed, image index, sample type, turn, sentence k).
* ``off``: no stage.

Samples without ``annotations`` and the annotation QA samples (written from the annotations
themselves) pass unchanged. Kept samples get ``meta["claims"] = {"sentences", "checked",
"unsupported", "dropped_sentences", "problems"}``: sentences read, claims checked (every claim
found, whatever its verdict; with ``llm`` each judged sentence is one more), unsupported claims
kept (``flag``) or dropped (``drop_sentence``), and those claims as ``{"turn", "sentence",
"kind", "why"}``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mmsynth.boxes import blank_citations
from mmsynth.config import Option, one_of
from mmsynth.errors import UsageError
from mmsynth.filters.attributes import (
    DEFAULT_MARGIN,
    KINDS,
    Document,
    Verdict,
    find_claims,
    load_claim_words,
)
from mmsynth.resources import config_path
from mmsynth.sample import Rejection, Sample
from mmsynth.stages import Stage

# Sample types whose answers come from the annotations themselves (as in the grounding check).
_EXACT_TYPES = frozenset({"annotation_qa", "region_qa"})

CLAIM_MODES = ("reject", "drop_sentence", "flag", "llm", "off")
JUDGE_PROMPT_FILE = ("prompts", "claim_judge.yaml")
JUDGE_VERDICTS = ("SUPPORTED", "CONTRADICTED", "UNKNOWN")
# The kinds a summary reports, the LLM judge's last.
REPORTED_KINDS = (*KINDS, "llm")

CLAIM_OPTIONS: dict[str, Option] = {
    "claim_check": Option("reject", "answer sentences whose colour, gender, number, spatial "
                                    "or time-of-day claims the captions or boxes contradict: "
                                    "reject | "
                                    "drop_sentence | flag (keep, listed in meta) | llm (reject; "
                                    "an LLM server judges every sentence too) | off",
                          check=one_of(*CLAIM_MODES)),
}


# ---------------------------------------------------------------------------------------------
# Sentences.

_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "approx",
                            "no", "jr", "sr"})


def split_sentences(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` character spans of ``text``'s sentences, blanks trimmed: a sentence
    ends at ``.``/``!``/``?`` before a capital or a digit (not after "Mr.", "e.g." or the like)
    and at a line break."""
    spans = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group().startswith(".") and "\n" not in m.group():
            word = re.search(r"([\w.]+)$", text[start:m.start()])
            if word and word.group(1).lower() in _ABBREVIATIONS:
                continue
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


# ---------------------------------------------------------------------------------------------
# The LLM judge.

@dataclass(frozen=True)
class JudgeExample:
    document: str
    sentence: str
    verdict: str


@dataclass(frozen=True)
class JudgePrompt:
    """The claim judge's prompt set (``configs/prompts/claim_judge.yaml``)."""

    prompt_version: str
    system: str
    template: str
    few_shot: tuple[JudgeExample, ...]
    max_new_tokens: int
    temperature: float
    path: str
    fingerprint: str

    def user(self, document: str, sentence: str) -> str:
        return self.template.replace("{document}", document).replace("{sentence}", sentence)

    def messages(self, document: str, sentence: str) -> list[dict[str, str]]:
        """``[system, (user, assistant) × few-shot, user]``."""
        messages = [{"role": "system", "content": self.system}]
        for ex in self.few_shot:
            messages += [{"role": "user", "content": self.user(ex.document, ex.sentence)},
                         {"role": "assistant", "content": ex.verdict}]
        messages.append({"role": "user", "content": self.user(document, sentence)})
        return messages

    def provenance(self) -> dict[str, str]:
        return {"prompt_version": self.prompt_version, "prompt_fingerprint": self.fingerprint}


_JUDGE_KEYS = {"prompt_version", "system", "template", "few_shot", "max_new_tokens",
               "temperature"}


def load_judge_prompt(path: str | Path | None = None) -> JudgePrompt:
    """The judge's prompt set in ``path`` (default: the shipped one); UsageError names the file
    and the key of anything malformed."""
    return _load_judge(str(Path(path or config_path(*JUDGE_PROMPT_FILE)).resolve()))


@lru_cache(maxsize=8)
def _load_judge(path: str) -> JudgePrompt:
    from mmsynth.config import load_yaml

    data = load_yaml(path)

    def bad(key: str, why: str) -> UsageError:
        return UsageError(f"claim judge prompt {path}: {key}: {why}")

    if not isinstance(data, dict):
        raise bad("(top)", "must be a mapping")
    for key in sorted(_JUDGE_KEYS - set(data)):
        raise bad(key, "missing")
    for key in sorted(set(data) - _JUDGE_KEYS):
        raise bad(key, f"unknown; valid: {', '.join(sorted(_JUDGE_KEYS))}")
    for key in ("prompt_version", "system", "template"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise bad(key, "must be non-empty text")
    for field in ("{document}", "{sentence}"):
        if field not in data["template"]:
            raise bad("template", f"must contain {field}")
    tokens = data["max_new_tokens"]
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise bad("max_new_tokens", f"must be a positive integer, got {tokens!r}")
    temperature = data["temperature"]
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or temperature < 0:
        raise bad("temperature", f"must be a number ≥ 0, got {temperature!r}")
    if not isinstance(data["few_shot"], list):
        raise bad("few_shot", "must be a list")
    examples = []
    for k, ex in enumerate(data["few_shot"]):
        key = f"few_shot[{k}]"
        if not isinstance(ex, dict) or set(ex) != {"captions", "objects", "sentence", "verdict"}:
            raise bad(key, "must have exactly captions, objects, sentence, verdict")
        if ex["verdict"] not in JUDGE_VERDICTS:
            raise bad(f"{key}.verdict", f"must be one of {', '.join(JUDGE_VERDICTS)}")
        if parse_verdict(ex["verdict"]) != ex["verdict"]:
            raise bad(f"{key}.verdict", "the verdict parser does not read it back")
        if not all(isinstance(x, str) for x in [*ex["captions"], *ex["objects"], ex["sentence"]]):
            raise bad(key, "captions, objects and sentence must be text")
        document = "\n".join(["Captions:", *ex["captions"], "Objects:", *ex["objects"]])
        examples.append(JudgeExample(document, ex["sentence"], ex["verdict"]))
    content = Path(path).read_bytes()
    return JudgePrompt(data["prompt_version"], data["system"], data["template"], tuple(examples),
                       tokens, float(temperature), path, hashlib.sha256(content).hexdigest()[:16])


_VERDICT_WORD = re.compile(r"(?<![a-z])(not\s+|n't\s+)?(supported|supports|contradicted|"
                           r"contradicts|contradictory|unknown|unsupported)(?![a-z])",
                           re.IGNORECASE)
_VERDICT_OF = {"supported": "SUPPORTED", "supports": "SUPPORTED",
               "contradicted": "CONTRADICTED", "contradicts": "CONTRADICTED",
               "contradictory": "CONTRADICTED", "unknown": "UNKNOWN", "unsupported": "UNKNOWN"}


def parse_verdict(text: str) -> str | None:
    """The verdict in a judge's reply, read through chatter ("Verdict: **Contradicted** — the
    captions say…"): the first line that names exactly one verdict decides; "not supported"
    and "unsupported" are UNKNOWN, "not contradicted" names none; a line that names several
    (the options repeated) is passed over. None when no line decides."""
    for line in text.splitlines():
        found = set()
        for m in _VERDICT_WORD.finditer(line):
            verdict = _VERDICT_OF[m.group(2).lower()]
            if m.group(1):
                if verdict == "SUPPORTED":
                    found.add("UNKNOWN")
                continue
            found.add(verdict)
        if len(found) == 1:
            return found.pop()
    return None


def document_text(annotations: Mapping[str, Any]) -> str:
    """The document a judge reads: the captions, then the boxes as normalised
    ``category: [x1, y1, x2, y2]`` lines (none without an image size)."""
    from mmsynth.prompts.llava import Context

    try:
        return Context.from_annotations(annotations).render(with_objects=True)
    except ValueError:  # boxes without an image size: captions only
        return Context.from_annotations({**annotations, "objects": []}).render(with_objects=True)


# ---------------------------------------------------------------------------------------------
# The stage.

@dataclass
class _Sentence:
    turn: int
    span: tuple[int, int]
    text: str
    verdicts: list[Verdict]
    judged: str | None = None  # the LLM's verdict, in llm mode
    judge_why: str = ""

    @property
    def problems(self) -> list[tuple[str, str]]:
        """(kind, why) of each unsupported claim."""
        found = [(v.claim.kind, v.why) for v in self.verdicts if v.verdict == "contradicted"]
        if self.judged == "CONTRADICTED":
            found.append(("llm", self.judge_why))
        return found


class ClaimCheck(Stage):
    """A stage: colour, gender, number, relation and time claims of each answer sentence against
    the image's captions and boxes (see the module docstring for the modes).

    ``source`` is needed only for ``mode="llm"`` (its ``backend`` and ``config``); ``margin``
    is the share of the image size by which box centres must differ to decide a relation.
    """

    name = "claims"
    MODES = CLAIM_MODES[:-1]

    def __init__(self, mode: str = "reject", *, margin: float = DEFAULT_MARGIN,
                 min_kept_share: float = 0.5, kinds: Sequence[str] = KINDS,
                 source: Any = None, judge_prompt: JudgePrompt | None = None):
        if mode not in self.MODES:
            raise UsageError(f"--claim_check {mode!r}: expected one of {', '.join(CLAIM_MODES)}")
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise UsageError(f"claim kinds: unknown {unknown[0]!r}; valid: {', '.join(KINDS)}")
        if mode == "llm" and source is None:
            raise UsageError("--claim_check llm needs the source's LLM backend")
        self.mode = mode
        self.margin = margin
        self.min_kept_share = min_kept_share
        self.kinds = tuple(kinds)
        self.source = source
        self.words = load_claim_words()
        self.judge_prompt = judge_prompt or (load_judge_prompt() if mode == "llm" else None)
        # The LLM's replies are most of a shard's time in llm mode.
        self.work = 0.5 if mode == "llm" else 0.0

    # -- checking -------------------------------------------------------------------------------

    def sentences(self, sample: Sample, document: Document) -> list[_Sentence]:
        """Every sentence of the sample's gpt turns with its claims' verdicts. A sentence's
        context (what "its" may stand for) is its answer's text before it, then the
        question of its turn."""
        out = []
        question = ""
        for turn, t in enumerate(sample.conversations):
            if t.get("from") != "gpt":
                question = t.get("value", "")
                continue
            value = t.get("value", "")
            if sample.meta.get("box_format") is not None:
                # Cited boxes are checked by the grounding check; their numbers claim nothing.
                value = blank_citations(value)
            for a, b in split_sentences(value):
                text = value[a:b]
                context = (value[:a], question)
                verdicts = [document.judge(c)
                            for c in find_claims(text, self.words, self.kinds, context)]
                out.append(_Sentence(turn, (a, b), text, verdicts))
        return out

    def process(self, samples: list[Sample], progress: Callable[[float], None]
                ) -> tuple[list[Sample], list[Rejection]]:
        checked: list[tuple[Sample, list[_Sentence]]] = []
        for sample in samples:
            if sample.annotations is None or sample.meta.get("type") in _EXACT_TYPES:
                continue
            document = Document.from_annotations(sample.annotations, margin=self.margin,
                                                 words=self.words)
            checked.append((sample, self.sentences(sample, document)))
        if self.mode == "llm":
            self._judge(checked, progress)
        results = {id(sample): sentences for sample, sentences in checked}
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        for sample in samples:
            if id(sample) not in results:
                self.counters["unchecked"] += 1
                kept.append(sample)
                continue
            outcome = self._act(sample, results[id(sample)])
            (rejected if isinstance(outcome, Rejection) else kept).append(outcome)
        return kept, rejected

    def _judge(self, checked: list[tuple[Sample, list[_Sentence]]],
               progress: Callable[[float], None]) -> None:
        """Every sentence through the LLM judge, in one batch for the shard."""
        from mmsynth.llm import params_from_config

        prompt = self.judge_prompt
        config = self.source.config
        requests, params, targets = [], [], []
        for sample, sentences in checked:
            document = document_text(sample.annotations)
            per_turn: Counter[int] = Counter()
            for s in sentences:
                k = per_turn[s.turn]
                per_turn[s.turn] += 1
                key = (f"{config.get('seed', 0)}/{sample.meta.get('index', -1)}/"
                       f"{sample.meta.get('type', '')}/claim/{s.turn}/{k}")
                seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1
                requests.append(prompt.messages(document, s.text))
                # The judge's budget and temperature are the prompt set's, never the
                # writer's (coco's llm_max_new_tokens 0 means "the prompt set's own"); the
                # writer's repetition control is for long replies, not a one-word verdict.
                params.append(params_from_config(
                    {**config, "llm_max_new_tokens": prompt.max_new_tokens,
                     "llm_temperature": prompt.temperature}, seed=seed, stop=(),
                    repetition_penalty=1.0, no_repeat_ngram_size=0, frequency_penalty=0.0))
                targets.append(s)
        if not requests:
            return
        replies = self.source.backend.generate(requests, params)
        progress(1.0)
        self.counters["judge_requests"] += len(requests)
        for s, reply in zip(targets, replies, strict=True):
            if not reply.ok:
                self.counters[f"judge_error:{reply.error_kind}"] += 1
                continue
            s.judged = parse_verdict(reply.text)
            if s.judged is None:
                self.counters["judge_unparsed"] += 1
            s.judge_why = f"the judge says {reply.text.strip()[:80]!r}"

    def _act(self, sample: Sample, sentences: list[_Sentence]) -> Sample | Rejection:
        c = self.counters
        claims = sum(len(s.verdicts) + (s.judged is not None) for s in sentences)
        problems = [(s, kind, why) for s in sentences for kind, why in s.problems]
        c["samples"] += 1
        c["sentences"] += len(sentences)
        c["claims"] += claims
        for s in sentences:
            for v in s.verdicts:
                c[f"claims:{v.claim.kind}"] += 1
                c[v.verdict] += 1
            if s.judged is not None:
                c["claims:llm"] += 1
                c[{"SUPPORTED": "supported", "CONTRADICTED": "contradicted",
                   "UNKNOWN": "unknown"}[s.judged]] += 1
        for _, kind, _ in problems:
            c[f"unsupported_claim:{kind}"] += 1
        c["samples_with_unsupported"] += bool(problems)
        detail = f"{sample.id}: " + "; ".join(f"turn {s.turn} {why}" for s, _, why in problems)
        index = sample.meta.get("index", -1)
        first = f"unsupported_claim:{problems[0][1]}" if problems else ""
        dropped = 0
        if problems and self.mode in ("reject", "llm"):
            c["rejected"] += 1
            return Rejection(index, first, detail, sample=sample)
        if problems and self.mode == "drop_sentence":
            turns = self._without(sample, sentences)
            if turns is None:
                c["rejected"] += 1
                return Rejection(index, first, detail + " (too little left after dropping "
                                 "the sentences)", sample=sample)
            sample.conversations = turns
            dropped = len({id(s) for s, _, _ in problems})
            c["dropped_sentences"] += dropped
        if problems and self.mode == "flag":
            c["flagged"] += 1
        meta = {"sentences": len(sentences), "checked": claims, "unsupported": len(problems),
                "dropped_sentences": dropped,
                "problems": [{"turn": s.turn, "sentence": s.text, "kind": kind, "why": why}
                             for s, kind, why in problems]}
        if self.mode == "llm":
            meta["judge"] = self.judge_prompt.provenance()
        sample.meta["claims"] = meta
        return sample

    def _without(self, sample: Sample, sentences: list[_Sentence]
                 ) -> list[dict[str, str]] | None:
        """The turns with the unsupported sentences removed, or None when an answer would not
        stand (no sentence left, or less than ``min_kept_share`` of its words)."""
        turns = [dict(t) for t in sample.conversations]
        by_turn: dict[int, list[_Sentence]] = {}
        for s in sentences:
            by_turn.setdefault(s.turn, []).append(s)
        for turn, group in by_turn.items():
            keep = [s for s in group if not s.problems]
            if len(keep) == len(group):
                continue
            total = sum(len(s.text.split()) for s in group)
            left = sum(len(s.text.split()) for s in keep)
            if not keep or left < self.min_kept_share * total:
                return None
            turns[turn]["value"] = " ".join(s.text for s in keep)
        return turns

    # -- reporting ------------------------------------------------------------------------------

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals or not totals.get("samples"):
            return []
        claims = totals.get("claims", 0)
        unsupported = sum(totals.get(f"unsupported_claim:{k}", 0) for k in REPORTED_KINDS)
        share = f"{100 * unsupported / claims:.1f}%" if claims else "0.0%"
        kinds = ", ".join(f"{k} {totals.get(f'unsupported_claim:{k}', 0)}"
                          for k in REPORTED_KINDS
                          if k != "llm" or totals.get("claims:llm", 0))
        actions = [f"{totals.get('rejected', 0)} samples rejected"]
        if totals.get("dropped_sentences"):
            actions.append(f"{totals['dropped_sentences']} sentences dropped")
        if totals.get("flagged"):
            actions.append(f"{totals['flagged']} samples flagged")
        samples = totals["samples"]
        kept = samples - totals.get("rejected", 0)
        # Kept samples that still carry an unsupported claim: the flagged ones (drop_sentence
        # removed theirs; reject and llm kept none).
        left = totals.get("flagged", 0)
        before = 100 * totals.get("samples_with_unsupported", 0) / samples
        after = f"{100 * left / kept:.1f}%" if kept else "0.0%"
        return [f"  claims: {samples} samples, {totals.get('sentences', 0)} sentences, "
                f"{claims} claims checked, {unsupported} unsupported ({share}: {kinds}), "
                f"{totals.get('unknown', 0)} undecided; {', '.join(actions)}; "
                f"{before:.1f}% of samples had an unsupported claim before the check, "
                f"{after} of the {kept} kept after it"]


def fingerprint_extra(config: Mapping[str, Any]) -> dict[str, str]:
    """What besides the option enters a run's fingerprint: the judge prompt's content with
    ``--claim_check llm`` (editing it must not be resumed into old shards); nothing otherwise,
    so other runs keep their fingerprints."""
    if config.get("claim_check") != "llm":
        return {}
    return {"claim_judge": load_judge_prompt().fingerprint}


def stage_for(source: Any) -> ClaimCheck | None:
    """The chain's ``claims`` stage for a source, unless its ``--claim_check`` is off."""
    mode = source.config.get("claim_check", "reject")
    if mode == "off":
        return None
    return ClaimCheck(mode, source=source if mode == "llm" else None)
