"""One shard, end to end: source → stages → atomic tar + stats. Executors only map this."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmsynth.sample import Rejection
from mmsynth.shards import atomic_write_json, shard_indices, stats_name, write_shard
from mmsynth.sources.base import Progress, Source

MAX_EXAMPLES_PER_REASON = 3


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


def source_for(job: Job) -> Source:
    """The job's source, built once per process (it may hold a model or a canvas)."""
    source = _SOURCES.get(job.fingerprint)
    if source is None:
        from mmsynth.sources import SOURCES

        source = SOURCES.get(job.config["source"])(job.config, job.fingerprint)
        _SOURCES.clear()  # one run per process at a time; don't keep old models alive
        _SOURCES[job.fingerprint] = source
    return source


def build_shard(job: Job, shard_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """Produce, check and publish shard ``shard_id``; return its stats (also written to disk)."""
    started = time.perf_counter()
    source = source_for(job)
    indices = shard_indices(shard_id, job.shard_size, job.num_items)
    samples, rejected = source.produce(indices, progress)
    stage_stats: dict[str, dict[str, int]] = {
        name: dict(counters) for name, counters in getattr(source, "last_stats", {}).items()}
    for stage in source.stages():
        samples, dropped = stage(samples)
        rejected.extend(dropped)
        counters = getattr(stage, "last_stats", None)
        if counters:
            stage_stats[getattr(stage, "name", type(stage).__name__)] = dict(counters)
    samples.sort(key=lambda s: s.meta.get("index", 0))
    out = Path(job.out)
    tar = write_shard(out, shard_id, samples)
    stats = {
        "shard": shard_id,
        "indices": [indices.start, indices.stop],
        "kept": len(samples),
        "rejected": len(rejected),
        "rejections": dict(sorted(Counter(r.reason for r in rejected).items())),
        "examples": _examples(rejected),
        "stages": stage_stats,
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
            bucket.append({"index": r.index, "detail": r.detail[:500]})
    return examples
