"""One shard, end to end: source → stages → atomic tar + stats. Executors only map this."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmsynth.errors import RunAborted
from mmsynth.redact import redact, redact_obj, watch_config
from mmsynth.sample import Rejection, Sample
from mmsynth.schema import SCHEMA_VERSION
from mmsynth.shards import (
    atomic_write_json,
    rejects_name,
    shard_indices,
    stats_name,
    write_shard,
)
from mmsynth.sources.base import Source
from mmsynth.stages import ShardProgress

MAX_EXAMPLES_PER_REASON = 3
# The rejects side file: a few rejected samples per reason (round-robin over the reasons, so a
# frequent reason cannot crowd out a rare one), each with a thumbnail when a sample was built.
MAX_REJECT_SAMPLES_PER_REASON = 3
MAX_REJECT_SAMPLES = 24
REJECT_THUMBNAIL_SIDE = 384


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to build any shard of a run; small and picklable."""

    config: dict[str, Any]
    fingerprint: str
    num_items: int
    out: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shard_size(self) -> int:
        return self.config["shard_size"]


_SOURCES: dict[str, Source] = {}


def fingerprint_of(config: dict[str, Any]) -> str:
    """The run's fingerprint as this process resolves ``config``: the content options plus what
    the source adds (renderer versions, prompt files, the resolved CLIP setup)."""
    from mmsynth.config import RUN_OPTIONS, fingerprint
    from mmsynth.sources import SOURCES

    cls = SOURCES.get(config["source"])
    return fingerprint(config, {**RUN_OPTIONS, **cls.options}, fingerprint_extra(config))


def fingerprint_extra(config: dict[str, Any]) -> dict[str, Any]:
    """What shapes the samples besides the options: the source's part (renderer versions,
    prompt files, the CLIP setup) and the shard members each sample has (so shards of another
    layout never mix in one run), and the version of the json member's schema
    (:mod:`mmsynth.schema`: a resumed run never mixes records of two shapes)."""
    from mmsynth.sources import SOURCES

    return {**SOURCES.get(config["source"]).fingerprint_extra(config), "members": SHARD_MEMBERS,
            "schema": SCHEMA_VERSION}


# The shard members of a sample (mmsynth.sample.Sample.to_wds): the txt caption member came in
# with issue 20.
SHARD_MEMBERS = "image+json+txt"


def source_for(job: Job) -> Source:
    """The job's source, built once per process (it may hold a model or a canvas).

    The process first resolves the job's fingerprint itself: a worker whose code, renderer
    versions, prompt files or CLIP weights differ from the driver's (another node, another
    install) would make different samples under the same fingerprint, so it refuses (RunAborted).
    """
    # Keyed by the whole config, not only the fingerprint: layout options (num_samples,
    # shard_size) are outside the fingerprint, and a source answers num_items from its config.
    key = json.dumps(job.config, sort_keys=True, default=str)
    source = _SOURCES.get(key)
    if source is None:
        from mmsynth.sources import SOURCES

        mine = fingerprint_of(job.config)
        if mine != job.fingerprint:
            import os
            import platform

            raise RunAborted(
                f"worker {platform.node()} (pid {os.getpid()}) resolves this job to fingerprint "
                f"{mine}, the driver to {job.fingerprint}: its mmsynth code, renderer versions, "
                "prompt files or CLIP weights differ; install the same version and files on "
                "every node")
        source = SOURCES.get(job.config["source"])(job.config, job.fingerprint)
        _SOURCES.clear()  # one run per process at a time; don't keep old models alive
        _SOURCES[key] = source
    return source


def build_shard(job: Job, shard_id: int, progress: Callable[[int], None] | None = None
                ) -> dict[str, Any]:
    """Run the source's chain over shard ``shard_id`` and publish it; return its stats (also
    written to disk). ``progress(n)`` is told of items done as the chain's steps report them."""
    started = time.perf_counter()
    watch_config(job.config)  # this process may be a worker: learn the key before any detail
    source = source_for(job)
    indices = shard_indices(shard_id, job.shard_size, job.num_items)
    stages = source.stages()
    tracker = ShardProgress(len(indices), progress,
                            [source.producer_work, *(stage.work for stage in stages)])
    samples, rejected = source.produce(indices, tracker.step(0))
    stage_stats: dict[str, dict[str, int]] = {}
    for k, stage in enumerate(stages, 1):
        samples, dropped = stage(samples, tracker.step(k))
        rejected.extend(dropped)
        for part in stage.parts():
            if counters := part.shard_stats():
                stage_stats[part.name] = counters
    tracker.finish()
    samples.sort(key=lambda s: s.meta.get("index", 0))
    out = Path(job.out)
    tar = write_shard(out, shard_id, samples)
    # Before the stats file: a shard whose stats exist has its rejects file too. It never
    # touches the tar, so the shards' bytes do not depend on it.
    atomic_write_json(out / rejects_name(shard_id), {
        "shard": shard_id, "rejected": len(rejected),
        "samples": reject_samples(rejected),
    })
    stats = {
        "shard": shard_id,
        "indices": [indices.start, indices.stop],
        "kept": len(samples),
        "rejected": len(rejected),
        "rejections": redact_obj(dict(sorted(Counter(r.reason for r in rejected).items()))),
        "examples": _examples(rejected),
        "stages": stage_stats,
        "provenance": shard_provenance(samples),
        **tar,
        "fingerprint": job.fingerprint,
        "seconds": round(time.perf_counter() - started, 3),
    }
    atomic_write_json(out / stats_name(shard_id), stats)
    return stats


def _examples(rejected: list[Rejection]) -> dict[str, list[dict[str, Any]]]:
    """A few rejections per reason with their detail, so a summary can say *why*."""
    examples: dict[str, list[dict[str, Any]]] = {}
    for r in rejected:
        bucket = examples.setdefault(r.reason, [])
        if len(bucket) < MAX_EXAMPLES_PER_REASON:
            # Redacted before the cut: a key cut in half is no longer recognised.
            bucket.append({"index": r.index, "detail": redact(r.detail)[:500]})
    return redact_obj(examples)  # reasons too: a reason may carry a detail's text


def shard_provenance(samples: list[Sample]) -> dict[str, dict[str, int]]:
    """What the dataset card totals: kept samples by licence, by generator or data type, and by
    model (LLM, CLIP) that touched them."""
    licenses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    models: Counter[str] = Counter()
    for s in samples:
        meta = s.meta
        lic = meta.get("license")
        licenses[(lic.get("name") if isinstance(lic, dict) else lic) or "unknown"] += 1
        kind = meta.get("generator") or meta.get("type")
        kinds[f"{meta.get('source', '?')}/{kind}" if kind else str(meta.get("source", "?"))] += 1
        for key in ("llm", "clip"):
            entry = meta.get(key)
            if isinstance(entry, dict) and entry.get("model"):
                models[f"{key}: {entry['model']}"] += 1
    return {"licenses": dict(sorted(licenses.items())), "kinds": dict(sorted(kinds.items())),
            "models": dict(sorted(models.items()))}


def reject_samples(rejected: list[Rejection]) -> list[dict[str, Any]]:
    """A capped, deterministic sample of rejections for the preview: round-robin over the
    reasons (sorted), up to MAX_REJECT_SAMPLES_PER_REASON each and MAX_REJECT_SAMPLES in all.
    Each is ``{index, reason, detail}`` plus, when a stage dropped a built sample, its ``record``
    (the sample's JSON) and ``image`` (a thumbnail: ``ext``, ``base64``, original ``width`` and
    ``height``)."""
    by_reason: dict[str, list[Rejection]] = {}
    for r in rejected:
        bucket = by_reason.setdefault(r.reason, [])
        if len(bucket) < MAX_REJECT_SAMPLES_PER_REASON:
            bucket.append(r)
    chosen: list[Rejection] = []
    for rank in range(MAX_REJECT_SAMPLES_PER_REASON):
        for reason in sorted(by_reason):
            if rank < len(by_reason[reason]) and len(chosen) < MAX_REJECT_SAMPLES:
                chosen.append(by_reason[reason][rank])
    entries = []
    for r in chosen:
        entry: dict[str, Any] = {"index": r.index, "reason": redact(r.reason),
                                 "detail": redact(r.detail)[:2000]}
        if r.sample is not None:
            # A rejected sample's record holds the raw LLM reply, which may echo anything.
            entry["record"] = redact_obj(r.sample.to_json())
            if r.sample.image:
                entry["image"] = thumbnail(r.sample.image, r.sample.image_ext)
        entries.append(entry)
    return entries


def thumbnail(image: bytes, ext: str, side: int = REJECT_THUMBNAIL_SIDE) -> dict[str, Any]:
    """``image`` checked and shrunk to at most ``side`` pixels (``mmsynth.images.shrink``), as
    ``{"ext", "base64", "width", "height"}`` with the *original* size, so boxes in the original
    pixel coordinates still place over it. An image that cannot be shown gives ``{"error"}``."""
    import base64

    from mmsynth.images import ImageProblem, shrink

    try:
        data, ext, (width, height) = shrink(image, ext, side)
    except ImageProblem as e:  # a reject may be rejected for its image: say so, keep the rest
        return {"error": str(e)}
    return {"ext": ext, "base64": base64.b64encode(data).decode("ascii"), "width": width,
            "height": height}
