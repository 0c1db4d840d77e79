"""CLIP image–text alignment filter (open_clip): every sample's image is scored against a text
that should describe it, and samples below the threshold are rejected with their score.

    plan = clip_plan(config)                # what will run: on, skipped (and why) or off
    stage = ClipFilter(plan, batch_size=64)  # a stage: stage(samples) -> (kept, rejected)

This module is the stage: its options, which text a sample is scored against, the filter and
the run summary. Which weights are used, and whether the stage runs at all (``clip_mode`` off,
auto, required), is :mod:`mmsynth.filters.clip_weights`; the model that scores is
:mod:`mmsynth.filters.clip_scorer`. Their public names are importable from here too.

Scores are cosine similarities of the normalised embeddings, rounded to 4 decimals (the
rounded value decides and is stored, so shards are byte-stable); ``meta["clip"]`` also carries
CLIPScore = 2.5·max(cos, 0). A sample is rejected as ``clip_low:<score>`` when its score is below
``clip_threshold`` or among the lowest ``clip_drop_quantile`` of its shard (ties broken by sample
index, so the choice is deterministic).

Importing this module is light: torch and open_clip are imported when a model is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmsynth.config import Option, device, number_in, one_of, positive
from mmsynth.filters.clip_scorer import ClipScorer
from mmsynth.filters.clip_weights import (
    CLIP_MODES,
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    ClipPlan,
    announce,
    clip_plan,
)
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample
from mmsynth.stages import Stage

__all__ = ["CLIP_MODES", "CLIP_OPTIONS", "CLIP_TEXTS", "DEFAULT_MODEL", "DEFAULT_PRETRAINED",
           "ClipFilter", "ClipPlan", "ClipScorer", "announce", "clip_plan", "stage_from_config",
           "summary_lines", "texts_for"]

CLIP_TEXTS = ("auto", "caption", "captions", "description")
SCORE_DECIMALS = 4


# The mode, model and weights are "run" options: what enters the fingerprint is the *resolved*
# setup (on with model + tag or checkpoint sha256, or unfiltered), via ``ClipPlan.fingerprint``.
CLIP_OPTIONS: dict[str, Option] = {
    "clip_mode": Option("auto", "CLIP alignment filter: auto (run it when the weights are "
                        "available, else say it was skipped), required (fail without weights), "
                        "off", "run", one_of(*CLIP_MODES)),
    "clip_model": Option(DEFAULT_MODEL, "open_clip model name, or an open_clip model config "
                         ".json", "run"),
    "clip_pretrained": Option(DEFAULT_PRETRAINED, "open_clip pretrained tag (downloaded to the "
                              "Hugging Face cache) or a local checkpoint (.safetensors, .pt)",
                              "run"),
    "clip_threshold": Option(0.28, "reject samples whose image–text cosine similarity is below "
                             "this (0.28: LAION-5B's cut for ViT-B/32; -1: none)", "content",
                             number_in(-1, 1)),
    "clip_drop_quantile": Option(0.0, "also reject the lowest q of each shard's scores (0: none)",
                                 "content", number_in(0, 1, high_open=True)),
    "clip_text": Option("auto", "text scored against the image: auto (renders: the scene "
                        "caption; coco: the description for detail samples, else the captions), "
                        "caption, captions (the best of an image's captions), description (the "
                        "first answer)", "content", one_of(*CLIP_TEXTS)),
    "clip_batch_size": Option(64, "images scored per forward pass", "run", positive),
    "clip_device": Option("cpu", "CLIP device: cpu, cuda or cuda:N", "run",
                          device("cpu", "cuda", "mps")),
    "clip_threads": Option(1, "torch CPU threads per worker for CLIP (use --workers for more "
                           "cores)", "run", positive),
}


# -- which text ---------------------------------------------------------------------------------


def texts_for(sample: Sample, choice: str) -> tuple[str, list[str]]:
    """The text kind used for ``sample`` and its candidate texts (empty when it has none).

    ``auto``: a rendered sample's caption; for a real photograph (``annotations`` with captions)
    a ``detail`` sample's description, otherwise the image's captions."""
    captions = [c for c in ((sample.annotations or {}).get("captions") or []) if c and c.strip()]
    if choice == "auto":
        if not captions:
            choice = "caption"
        else:
            choice = "description" if sample.meta.get("type") == "detail" else "captions"
    if choice == "caption":
        return choice, [sample.caption] if sample.caption and sample.caption.strip() else []
    if choice == "captions":
        if captions:
            return choice, captions
        return choice, [sample.caption] if sample.caption and sample.caption.strip() else []
    answers = [t["value"] for t in sample.conversations if t.get("from") == "gpt"]
    text = answers[0].replace(IMAGE_TOKEN, "").strip() if answers else ""
    return choice, [text] if text else []


# -- the stage ----------------------------------------------------------------------------------


def _rounded(x: float) -> float:
    return round(x, SCORE_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass
class ClipFilter(Stage):
    """A stage: score each sample's image against its text and reject poorly aligned ones.

    Kept samples get ``meta["clip"] = {"score", "clipscore", "model", "pretrained", "text"}``;
    rejected ones are ``Rejection(index, "clip_low:<score>", detail, sample)``; a sample with no
    text to score is rejected as ``clip_no_text``. When the plan is not ``on`` every sample passes
    unchanged and the counters say ``skipped:<why>`` (or ``off``). ``counters`` hold the last
    call's counters: ``checked``, ``kept``, ``rejected_threshold``, ``rejected_quantile``,
    ``no_text``, ``model:<label>``, ``bin:<k>`` (scores in [k/100, (k+1)/100))."""

    plan: ClipPlan
    batch_size: int = 64
    device: str = "cpu"
    threads: int = 1
    name: str = "clip"
    _scorer: ClipScorer | None = field(default=None, repr=False)

    @property
    def scorer(self) -> ClipScorer:
        if self._scorer is None:
            self._scorer = ClipScorer(self.plan, self.batch_size, self.device, self.threads)
        return self._scorer

    @property
    def work(self) -> float:
        """Scoring is a render shard's other long job when the stage is on."""
        return 1.0 if self.plan.on else 0.0

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        stats = self.counters
        if not self.plan.on:
            key = "off" if self.plan.status == "off" else f"skipped:{self.plan.why}"
            stats[key] += len(samples)
            return samples, []

        for key in ("checked", "kept", "rejected_threshold", "rejected_quantile", "no_text"):
            stats[key] = 0  # present even when 0: every shard's stats have the same keys
        rejected: list[Rejection] = []
        todo: list[tuple[Sample, str, list[str]]] = []
        for s in samples:
            kind, texts = texts_for(s, self.plan.text)
            if texts:
                todo.append((s, kind, texts))
            else:
                stats["no_text"] += 1
                rejected.append(Rejection(s.meta.get("index", -1), "clip_no_text",
                                          f"{s.id}: no {kind} text to score the image against",
                                          sample=s))
        raw = self.scorer.score([s.image for s, _, _ in todo], [t for _, _, t in todo]) \
            if todo else []
        scores = [_rounded(x) for x in raw]
        progress(1.0)
        stats["checked"] += len(todo)
        stats[f"model:{self.plan.label}"] += len(todo)

        low = {i for i, x in enumerate(scores) if x < self.plan.threshold}
        by_quantile: set[int] = set()
        n_drop = math.floor(self.plan.drop_quantile * len(todo))
        if n_drop:
            order = sorted(range(len(todo)), key=lambda i: (scores[i],
                                                            todo[i][0].meta.get("index", 0),
                                                            todo[i][0].id))
            by_quantile = set(order[:n_drop]) - low
            cut = scores[order[n_drop - 1]]
        kept: list[Sample] = []
        for i, ((s, kind, _), score) in enumerate(zip(todo, scores, strict=True)):
            stats[f"bin:{math.floor(score * 100)}"] += 1
            if i in low or i in by_quantile:
                if i in low:
                    stats["rejected_threshold"] += 1
                    detail = f"CLIP cosine {score:.4f} < threshold {self.plan.threshold}"
                else:
                    stats["rejected_quantile"] += 1
                    detail = (f"CLIP cosine {score:.4f} is in the lowest "
                              f"{self.plan.drop_quantile:g} of its shard (cut at {cut:.4f})")
                rejected.append(Rejection(s.meta.get("index", -1), f"clip_low:{score:.3f}",
                                          f"{s.id}: {detail} ({kind})", sample=s))
                continue
            s.meta["clip"] = {"score": score, "clipscore": _rounded(2.5 * max(score, 0.0)),
                              "model": self.plan.model,
                              "pretrained": self.plan.label.split("/", 1)[1],
                              "text": kind}
            kept.append(s)
        stats["kept"] += len(kept)
        return kept, rejected

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        return summary_lines(totals)


def stage_for(source: Any) -> ClipFilter:
    """The chain's ``clip`` stage for a source (it passes everything, counted, when off or
    skipped)."""
    return stage_from_config(source.config)


def stage_from_config(config: Mapping[str, Any], plan: ClipPlan | None = None) -> ClipFilter:
    """The CLIP stage for a resolved config (``plan`` as the driver resolved it, if known)."""
    return ClipFilter(plan or clip_plan(config), batch_size=config.get("clip_batch_size", 64),
                      device=config.get("clip_device", "cpu"),
                      threads=config.get("clip_threads", 1))


def _quantile_from_bins(bins: Mapping[int, int], q: float) -> float:
    total = sum(bins.values())
    target, seen = q * total, 0
    for k in sorted(bins):
        seen += bins[k]
        if seen >= target:
            return (k + 0.5) / 100
    return math.nan


def summary_lines(stats: Mapping[str, int]) -> list[str]:
    """The run summary's CLIP lines from the stage's totalled counters."""
    if not stats:
        return []
    lines = []
    for key, n in sorted(stats.items()):
        if key.startswith("skipped:"):
            lines.append(f"  CLIP stage SKIPPED: {key[8:]} — {n} samples NOT alignment-filtered")
        elif key == "off":
            lines.append(f"  CLIP stage off (--clip_mode off): {n} samples not alignment-filtered")
    checked = stats.get("checked", 0)
    if checked or stats.get("no_text"):
        models = ", ".join(k[6:] for k in sorted(stats) if k.startswith("model:"))
        bins = {int(k[4:]): n for k, n in stats.items() if k.startswith("bin:")}
        q = " / ".join(f"{_quantile_from_bins(bins, p):.2f}" for p in (0.1, 0.5, 0.9))
        lines.append(
            f"  CLIP ({models}): {checked} checked, {stats.get('kept', 0)} kept, "
            f"{stats.get('rejected_threshold', 0)} below the threshold, "
            f"{stats.get('rejected_quantile', 0)} in the dropped quantile, "
            f"{stats.get('no_text', 0)} without text; cosine p10/p50/p90 ≈ {q}")
    return lines
