"""Plan a run's shards, skip the complete ones, build the rest, and total the stats."""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mmsynth import __version__
from mmsynth.config import RUN_OPTIONS, layout, resolve
from mmsynth.executors import make_executor
from mmsynth.pipeline import Job, fingerprint_of, source_for
from mmsynth.shards import (
    CARD_FILE,
    RUN_FILE,
    RUN_STATS_FILE,
    atomic_write_json,
    ensure_writable,
    exclusive,
    num_shards,
    prepare_output,
    read_stats,
)
from mmsynth.sources import SOURCES, source_options
from mmsynth.stages import summary_lines as stage_summary


@dataclass
class RunSummary:
    out: Path
    num_items: int
    shards: int
    shards_built: int
    kept: int = 0
    rejected: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    stage_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    stage_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    samples_built: int = 0
    item_noun: str = "samples"
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out), "num_items": self.num_items, "shards": self.shards,
            "shards_built_this_run": self.shards_built, "kept": self.kept,
            "rejected": self.rejected, "rejections": self.rejections,
            "stages": self.stage_stats,
            "seconds_this_run": round(self.seconds, 3),
            "samples_per_second_this_run": round(self.samples_built / self.seconds, 2)
            if self.seconds > 0 else None,
        }

    def render(self) -> str:
        lines = [f"mmsynth: {self.kept} kept, {self.rejected} rejected of {self.num_items} "
                 f"{self.item_noun} in {self.shards} shards → {self.out}"]
        if self.shards_built < self.shards:
            lines.append(f"  resumed: {self.shards - self.shards_built} shards were already "
                         f"complete, {self.shards_built} built now")
        for reason, count in sorted(_grouped(self.rejections).items(), key=lambda kv: -kv[1]):
            lines.append(f"  rejected {count:>7}  {reason}")
        lines += self.stage_lines
        lines += [f"  {note}" for note in self.notes]
        if self.samples_built and self.seconds > 0:
            rate = self.samples_built / self.seconds
            speed = f"{rate:.1f} {self.item_noun}/s" if rate >= 1 else \
                f"{self.seconds / self.samples_built:.1f} s per {self.item_noun[:-1]}"
            lines.append(f"  {speed} ({self.samples_built} {self.item_noun} in "
                         f"{self.seconds:.1f} s)")
        return "\n".join(lines)


def _grouped(rejections: dict[str, int]) -> dict[str, int]:
    """Reasons that end in a number (``clip_low:0.213``) grouped into one line per prefix with
    the numbers' range, so a summary is not one line per score; the others as they are."""
    out: dict[str, int] = {}
    numeric: dict[str, list[tuple[float, int]]] = {}
    for reason, count in rejections.items():
        head, _, tail = reason.rpartition(":")
        try:
            value = float(tail)
        except ValueError:
            value = None
        if head and value is not None:
            numeric.setdefault(head, []).append((value, count))
        else:
            out[reason] = count
    for head, values in numeric.items():
        low, high = min(v for v, _ in values), max(v for v, _ in values)
        shown = f"{head}:{low:g}" if low == high else f"{head}:<{low:g} … {high:g}>"
        out[shown] = sum(c for _, c in values)
    return out


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "mmsynth": __version__}
    for dist in ("numpy", "matplotlib", "pillow", "webdataset"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return versions


def run(flags: dict[str, Any]) -> RunSummary:
    """Resolve the config from ``flags`` and make every missing shard of the run.

    Raises UsageError for bad options or an incompatible output directory.
    """
    config = resolve(flags, source_options)
    source_cls = SOURCES.get(config["source"])
    options = {**RUN_OPTIONS, **source_cls.options}
    fp = fingerprint_of(config)
    out = Path(config["out"])
    executor = make_executor(config)
    source = source_for(Job(config, fp, 0, str(out)))  # validates source options early
    num_items = source.num_items()
    source.check_ready()
    job = Job(config, fp, num_items, str(out))
    record = {
        "fingerprint": fp,
        "layout": {**layout(config, options), "num_items": num_items},
        "config": {k: v for k, v in config.items() if options[k].kind != "run"},
        "versions": _versions(),
        "command": " ".join(sys.argv),
    }
    with executor:  # starts or joins its engine (Ray) before anything is written
        ensure_writable(out)
        with exclusive(out):
            prepare_output(out, record, config["overwrite"])
            return _build(job, out, executor, config["progress"], source)


def _build(job: Job, out: Path, executor, show_progress: bool, source) -> RunSummary:
    total = num_shards(job.num_items, job.shard_size)
    done = {i: s for i in range(total) if (s := read_stats(out, i)) is not None}
    todo = [i for i in range(total) if i not in done]
    summary = RunSummary(out=out, num_items=job.num_items, shards=total, shards_built=len(todo),
                         item_noun=source.item_noun)
    done_items = sum(s["indices"][1] - s["indices"][0] for s in done.values())
    summary.samples_built = job.num_items - done_items

    bar = None
    if show_progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=job.num_items, initial=done_items, unit=summary.item_noun.rstrip("s"),
                   dynamic_ncols=True,
                   desc=f"{job.config['source']} → {out}", mininterval=0.5, file=sys.stderr)
    started = time.perf_counter()
    try:
        for stats in executor.run(job, todo, bar.update if bar else None):
            done[stats["shard"]] = stats
            if bar:
                kept = sum(s["kept"] for s in done.values())
                bar.set_postfix(kept=kept, rejected=sum(s["rejected"] for s in done.values()),
                                refresh=False)
    finally:
        if bar:
            bar.close()
    summary.seconds = time.perf_counter() - started

    rejections: Counter[str] = Counter()
    stage_stats: dict[str, Counter[str]] = {}
    for s in done.values():
        summary.kept += s["kept"]
        summary.rejected += s["rejected"]
        rejections.update(s["rejections"])
        for name, counters in s.get("stages", {}).items():
            stage_stats.setdefault(name, Counter()).update(counters)
    summary.rejections = dict(rejections)
    summary.stage_stats = {name: dict(c) for name, c in stage_stats.items()}
    summary.stage_lines = stage_summary(source.stages(), summary.stage_stats)
    atomic_write_json(out / RUN_STATS_FILE, summary.to_json())
    from mmsynth.card import write_card

    record = json.loads((out / RUN_FILE).read_text())
    shard_stats = [done[i] for i in sorted(done)]
    if not write_card(out, record, summary.to_json(), shard_stats, summary.stage_lines):
        summary.notes.append(f"dataset card not written: {out / CARD_FILE} is not one mmsynth "
                             "wrote (left as it is)")
    return summary
