"""Plan a run's shards, skip the complete ones, build the rest, and total the stats."""

from __future__ import annotations

import contextlib
import json
import os
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
from mmsynth.errors import UsageError
from mmsynth.executors import make_executor
from mmsynth.pipeline import Job, fingerprint_of, source_for
from mmsynth.redact import redact, redact_obj, watch_config
from mmsynth.shards import (
    CARD_FILE,
    RUN_FILE,
    RUN_STATS_FILE,
    SIZES_FILE,
    ShardProblem,
    atomic_write_json,
    check_creatable,
    check_sha256,
    check_stats,
    ensure_writable,
    exclusive,
    num_shards,
    prepare_output,
    shard_indices,
    shard_name,
    stats_name,
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
    # The source reader's report on its input ({"dropped": {...}, "repaired": {...}}) and whose.
    input_report: dict[str, dict[str, int]] = field(default_factory=dict)
    reader: str = ""
    diversity: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return redact_obj({
            "out": str(self.out), "num_items": self.num_items, "shards": self.shards,
            "shards_built_this_run": self.shards_built, "kept": self.kept,
            "rejected": self.rejected, "rejections": self.rejections,
            "stages": self.stage_stats,
            "seconds_this_run": round(self.seconds, 3),
            "samples_per_second_this_run": round(self.samples_built / self.seconds, 2)
            if self.seconds > 0 else None,
            "input": {"reader": self.reader, **self.input_report} if self.input_report else {},
            "diversity": self.diversity,
        })

    def render(self) -> str:
        lines = [f"mmsynth: {self.kept} kept, {self.rejected} rejected of {self.num_items} "
                 f"{self.item_noun} in {self.shards} shards → {self.out}"]
        if self.shards_built < self.shards:
            lines.append(f"  resumed: {self.shards - self.shards_built} shards were already "
                         f"complete, {self.shards_built} built now")
        for reason, count in sorted(_grouped(self.rejections).items(), key=lambda kv: -kv[1]):
            lines.append(f"  rejected {count:>7}  {reason}")
        lines += input_lines(self.reader, self.input_report)
        lines += self.stage_lines
        lines += [f"  {note}" for note in self.notes]
        if self.samples_built and self.seconds > 0:
            rate = self.samples_built / self.seconds
            speed = f"{rate:.1f} {self.item_noun}/s" if rate >= 1 else \
                f"{self.seconds / self.samples_built:.1f} s per {self.item_noun[:-1]}"
            lines.append(f"  {speed} ({self.samples_built} {self.item_noun} in "
                         f"{self.seconds:.1f} s)")
        return redact("\n".join(lines))


def input_lines(reader: str, report: dict[str, dict[str, int]]) -> list[str]:
    """Summary lines for a reader's input report: "coco reader: 3 records dropped: ..." and
    the same for repaired records, reasons by count (most first)."""
    lines = []
    for group in ("dropped", "repaired"):
        counts = report.get(group) or {}
        if counts:
            total = sum(counts.values())
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(counts.items(),
                                                               key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"  {reader}: {total} record{'s' if total != 1 else ''} {group}: "
                         f"{reasons}")
    return lines


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
    watch_config(config)  # the API key and URL credentials, before anything can echo them
    source_cls = SOURCES.get(config["source"])
    options = {**RUN_OPTIONS, **source_cls.options}
    fp = fingerprint_of(config)
    out = Path(config["out"])
    executor = make_executor(config)
    source = source_for(Job(config, fp, 0, str(out)))  # validates source options early
    num_items = source.num_items()
    source.check_ready()
    _check_llm_cache(config)
    job = Job(config, fp, num_items, str(out))
    # Written as the user can share it: credentials out of the command and any URL in the config
    # (the run itself keeps the real values in memory).
    record = redact_obj({
        "fingerprint": fp,
        "layout": {**layout(config, options), "num_items": num_items},
        "config": {k: v for k, v in config.items() if options[k].kind != "run"},
        "versions": _versions(),
        "command": " ".join(sys.argv),
    })
    report = source.input_report()  # the driver's reader is the run's: counted once, here
    with executor:  # starts or joins its engine (Ray) before anything is written
        ensure_writable(out)
        with exclusive(out):
            prepare_output(out, record, config["overwrite"])
            return _build(job, out, executor, config["progress"], source, config["verify"],
                          report)


def _check_llm_cache(config: dict[str, Any]) -> None:
    """Workers open the LLM response cache after run.json is written; a cache that cannot be
    used must be an error before --out is touched."""
    mode = config.get("llm_cache", "off")
    if mode == "off":
        return
    from mmsynth.llm import cache_path

    check_creatable(cache_path(config), f"the LLM response cache (--llm_cache {mode})",
                    must_exist=mode == "read")


def _complete_shards(job: Job, out: Path, total: int, verify: bool,
                     notes: list[str]) -> dict[int, dict[str, Any]]:
    """The stats of the shards that need no rebuilding; why others with stats are rebuilt goes
    into ``notes`` (a killed run leaves no stats, so these are tampered or foreign files)."""
    present = {entry.name for entry in os.scandir(out)}  # one listing, not a probe per shard
    done: dict[int, dict[str, Any]] = {}
    refused: Counter[str] = Counter()
    for i in range(total):
        if stats_name(i) not in present:
            continue
        try:
            done[i] = check_stats(out, i, shard_indices(i, job.shard_size, job.num_items),
                                  job.fingerprint)
        except ShardProblem as e:
            refused[e.reason] += 1
    if refused:
        notes.append(f"rebuilding {sum(refused.values())} shards whose stats do not match "
                     f"their tar ({', '.join(f'{r}: {n}' for r, n in sorted(refused.items()))})")
    if verify and done:
        failed = []
        for i in sorted(done):
            try:
                check_sha256(out, done[i])
            except ShardProblem:
                failed.append(i)
                del done[i]
        names = ", ".join(shard_name(i) for i in failed[:5]) + (" …" if len(failed) > 5 else "")
        notes.append(f"verify: {len(done) + len(failed)} complete shards checked (sha256), "
                     + (f"{len(failed)} did not match and were rebuilt: {names}" if failed
                        else "all match"))
    return done


def _build(job: Job, out: Path, executor, show_progress: bool, source, verify: bool = False,
           input_report: dict[str, dict[str, int]] | None = None) -> RunSummary:
    total = num_shards(job.num_items, job.shard_size)
    notes: list[str] = []
    done = _complete_shards(job, out, total, verify, notes)
    todo = [i for i in range(total) if i not in done]
    summary = RunSummary(out=out, num_items=job.num_items, shards=total, shards_built=len(todo),
                         item_noun=source.item_noun, notes=notes,
                         input_report=input_report or {}, reader=f"{source.name} reader")
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
    # How varied the questions are, read back from the shards (bounded: mmsynth.diversity).
    from mmsynth.diversity import run_diversity
    from mmsynth.diversity import summary_lines as diversity_lines

    try:
        summary.diversity = run_diversity(out)
    except UsageError as e:
        # A shard that a plain resume trusted (its size matched) but cannot be read: the run's
        # samples are done; the summary says so rather than failing the run.
        summary.diversity = {"unreadable": str(e)}
    summary.stage_lines += diversity_lines(summary.diversity)
    atomic_write_json(out / RUN_STATS_FILE, summary.to_json())
    atomic_write_json(out / SIZES_FILE, {done[i]["tar"]: done[i]["kept"] for i in sorted(done)})
    from mmsynth.card import write_card

    record = json.loads((out / RUN_FILE).read_text())
    shard_stats = [done[i] for i in sorted(done)]
    if not write_card(out, record, summary.to_json(), shard_stats, summary.stage_lines):
        summary.notes.append(f"dataset card not written: {out / CARD_FILE} is not one mmsynth "
                             "wrote (left as it is)")
    return summary
