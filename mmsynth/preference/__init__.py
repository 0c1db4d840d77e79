"""Preference pairs (issue 17): chosen/rejected answers whose rejected side is provably wrong.

``--preference_pairs N`` adds up to N pairs per sample to the sample's ``preference`` list (the
rejected texts never enter ``conversations``). Each pair is::

    {"kind": "injected_object",            # how the rejected answer was made (below)
     "turn": 1,                            # the gpt turn of ``conversations`` it answers for
     "prompt": [{"from": "human", "value": "<image>\\n..."}, ...],  # the turns before it
     "chosen": "...", "rejected": "...",
     "reason": "hallucinated_object:dog",  # the check's verdict on the rejected answer
     "provenance": {"method": ..., "seed": ..., ...}}   # how it was made, reproducibly

Coco kinds (:mod:`mmsynth.preference.coco`): ``self_rejected``, ``injected_object``,
``wrong_count``, ``wrong_relation``, ``misleading_context`` (the only one that asks the LLM: a
second request for a sample that reaches it); render kinds (:mod:`mmsynth.preference.render`):
``perturbed_scene``, ``wrong_step``. Every coco pair is verified by the real checks
(grounding, then claim support, both in ``reject`` mode): the chosen side must pass and the
rejected side must fail with the intended reason, else the pair is dropped and counted by
reason. Every render pair's rejected answer differs from the scene's true answer beyond the
stated tolerance.

The stage is in the chain only when N > 0 (``stage_for`` returns None at 0), so with the
default every byte of a run is what it was before pairs existed (and the option is ``neutral``:
at 0 it stays out of the fingerprint).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from mmsynth.config import Option, non_negative
from mmsynth.sample import Rejection, Sample
from mmsynth.stages import Stage, by_count

PREFERENCE_OPTIONS: dict[str, Option] = {
    "preference_pairs": Option(
        0, "preference pairs (chosen / rejected answers, the rejected one provably wrong) per "
           "sample, in the sample's 'preference' list; coco: self_rejected (a failed "
           "candidate of the same request: best-of-N or a retry made one), injected_object, "
           "wrong_count, wrong_relation, misleading_context (the LLM's answer from another "
           "photo's context or one with an object added: one more LLM request per sample "
           "that reaches it), each verified by the grounding and claim checks; "
           "geometry / chart: perturbed_scene (the answer computed from a misread value), "
           "wrong_step (the worked solution with one classic wrong step). "
           "0: off", check=non_negative, neutral=True),
}


def pair_seed(run_seed: int, index: int, kind: str) -> int:
    """The seed of a sample's pairs: from (run seed, sample index, data type) alone."""
    key = f"{run_seed}/{index}/{kind}/preference"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def make_pair(kind: str, turn: int, prompt: list[dict[str, str]], chosen: str, rejected: str,
              reason: str, provenance: dict[str, Any]) -> dict[str, Any]:
    """One pair in the stored shape (keys in a fixed order, so shards are byte-stable)."""
    return {"kind": kind, "turn": turn, "prompt": [dict(t) for t in prompt], "chosen": chosen,
            "rejected": rejected, "reason": reason, "provenance": provenance}


class PreferenceStage(Stage):
    """Adds pairs to every sample the source's pair maker knows how to pair; never rejects.

    ``maker(sample, n, counters)`` returns up to ``n`` pairs (a maker that batches work over
    the shard, as coco's LLM requests, has ``pairs_of_shard(samples, n, counters, progress)``
    returning each sample's, and a ``work`` share for progress) and counts what it dropped
    (``dropped:<kind>:<why>``: made but failing verification), what it could not make
    (``skipped:<kind>:<why>``: nothing in the answer to change) and changes it tried that made
    no pair (``tries:<kind>:<why>``). Counters: ``samples``,
    ``samples_with_pairs``, ``pairs``, ``pairs:<kind>``, and those (coco's also
    ``llm_requests``, ``llm_failed``, ``llm_tokens``)."""

    name = "preference"

    def __init__(self, n: int, maker: Callable[[Sample, int, Counter], list[dict[str, Any]]]):
        self.n = n
        self.maker = maker
        self.work = float(getattr(maker, "work", 0.0))

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        c = self.counters
        for name in ("samples", "samples_with_pairs", "pairs"):
            c[name] += 0
        batched = getattr(self.maker, "pairs_of_shard", None)
        made = (batched(samples, self.n, c, progress) if batched is not None
                else [self.maker(sample, self.n, c) for sample in samples])
        for sample, pairs in zip(samples, made, strict=True):
            c["samples"] += 1
            if pairs:
                sample.preference = pairs
                c["samples_with_pairs"] += 1
                c["pairs"] += len(pairs)
                for p in pairs:
                    c[f"pairs:{p['kind']}"] += 1
        return samples, []

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals.get("samples"):
            return []
        t = Counter(totals)
        kinds = by_count(t, "pairs:")
        dropped = by_count(t, "dropped:")
        skipped = by_count(t, "skipped:")
        tries = by_count(t, "tries:")
        lines = [f"  preference: {t['pairs']} pairs on {t['samples_with_pairs']} of "
                 f"{t['samples']} samples ({kinds or 'none'})",
                 f"  preference: dropped {sum(n for k, n in t.items() if k.startswith('dropped:'))}"
                 f" pairs that failed verification ({dropped or 'none'}); not made, nothing to "
                 f"change: {skipped or 'none'}"]
        if tries:
            lines.append(f"  preference: changes that made no pair: {tries}")
        if t["llm_requests"]:
            lines.append(f"  preference: {t['llm_requests']} misleading-context requests to the "
                         f"LLM ({t['llm_tokens']:,} reply tokens, {t['llm_failed']} failed)")
        return lines




def stage_for(source: Any) -> PreferenceStage | None:
    """The chain's ``preference`` stage, unless ``--preference_pairs`` is 0 (then the chain is
    exactly what it was before pairs existed)."""
    n = int(source.config.get("preference_pairs", 0))
    if n <= 0:
        return None
    if source.name == "coco":
        from mmsynth.preference.coco import CocoPairs

        return PreferenceStage(n, CocoPairs(source))
    from mmsynth.preference.render import RenderPairs

    return PreferenceStage(n, RenderPairs(source))
