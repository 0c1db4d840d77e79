"""``mmsynth dedup RUN --rewrite OUT``: a new run of shards without the removed samples.

OUT is a run in its own right: the same shard layout and ``run.json`` (fingerprint included),
every shard written by the generator's own writer (atomic, byte-deterministic), stats whose
``kept`` / ``rejected`` / ``rejections`` count the removed samples as rejections with reason
``dedup:<reason>`` (so the summary, the card and ``mmsynth verify`` see them), ``sizes.json``,
``stats.json`` and the dataset card. ``mmsynth verify OUT`` passes on it as on a fresh run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from mmsynth.dedup.record import read_removed
from mmsynth.errors import UsageError
from mmsynth.shards import (
    RUN_FILE,
    RUN_STATS_FILE,
    SIZES_FILE,
    atomic_write_json,
    check_creatable,
    delete_our_files,
    exclusive,
    iter_shard,
    rejects_name,
    run_shards,
    stats_name,
    write_shard,
)

REASON_PREFIX = "dedup:"


def check_rewrite_target(run: str, out: str, overwrite: bool) -> None:
    """UsageError, before the pass, for an OUT that cannot take the rewrite."""
    source, target = Path(run).resolve(), Path(out).resolve()
    if source == target or source in target.parents:
        raise UsageError(f"--rewrite {out}: give a folder outside the run {run}")
    if target.exists() and not target.is_dir():
        raise UsageError(f"--rewrite {out} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not (target / RUN_FILE).is_file():
            raise UsageError(f"--rewrite {out} is a folder with files that are not a mmsynth "
                             "run; give an empty or new folder")
        if not overwrite:
            raise UsageError(f"--rewrite {out} holds a run already; pass --overwrite to "
                             "replace it")
    if not target.exists():
        check_creatable(target, "--rewrite")


def rewrite(run: str, out: str, overwrite: bool = False) -> dict[str, Any]:
    """Write the run's shards without the samples its dedup.json removes into ``out``."""
    check_rewrite_target(run, out, overwrite)
    source, target = Path(run), Path(out)
    removed = read_removed(source)
    if removed is None:
        raise UsageError(f"{run} has no dedup.json: run `mmsynth dedup {run}` first")
    entries = {e["key"]: e for e in json.loads((source / "dedup.json").read_text())["removed"]}
    target.mkdir(parents=True, exist_ok=True)
    from mmsynth.card import write_card
    from mmsynth.pipeline import shard_provenance
    from mmsynth.sample import Sample

    with exclusive(target):
        if (target / RUN_FILE).exists():
            delete_our_files(target)
        record = json.loads((source / RUN_FILE).read_text(encoding="utf-8"))
        shard_stats: list[dict[str, Any]] = []
        for tar in run_shards(source):
            shard_id = int(tar.name[len("shard-"):-len(".tar")])
            stats = _read_json(source / stats_name(shard_id))
            kept, dropped, problems = [], Counter(), {}
            for data, image, ext in iter_shard(tar, problems):
                entry = entries.get(data["id"])
                if entry is not None:
                    dropped[REASON_PREFIX + entry["reason"]] += 1
                    continue
                kept.append(Sample.from_record(data, image, ext))
            if problems:
                raise UsageError(f"{tar} has unreadable samples ({problems}); run mmsynth verify "
                                 f"{run}")
            written = write_shard(target, shard_id, kept)
            rejects = _read_json(source / rejects_name(shard_id), {"shard": shard_id,
                                                                   "samples": []})
            rejects["rejected"] = int(rejects.get("rejected", 0)) + sum(dropped.values())
            atomic_write_json(target / rejects_name(shard_id), rejects)
            rejections = Counter(stats.get("rejections", {}))
            rejections.update(dropped)
            stats.update(kept=len(kept), rejected=int(stats.get("rejected", 0))
                         + sum(dropped.values()),
                         rejections=dict(sorted(rejections.items())),
                         provenance=shard_provenance(kept), **written)
            atomic_write_json(target / stats_name(shard_id), stats)
            shard_stats.append(stats)
        totals = _read_json(source / RUN_STATS_FILE, {})
        rejections = Counter()
        for s in shard_stats:
            rejections.update(s["rejections"])
        totals.update(out=str(target), kept=sum(s["kept"] for s in shard_stats),
                      rejected=sum(s["rejected"] for s in shard_stats),
                      rejections=dict(sorted(rejections.items())))
        atomic_write_json(target / SIZES_FILE, {s["tar"]: s["kept"] for s in shard_stats})
        atomic_write_json(target / RUN_STATS_FILE, totals)
        atomic_write_json(target / RUN_FILE, record)
        write_card(target, record, totals, shard_stats,
                   [f"rewritten by mmsynth dedup from {os.path.abspath(source)}: "
                    f"{len(entries):,} samples removed ({_counts(entries)})"])
    return {"out": str(target), "kept": totals["kept"], "removed": len(entries),
            "shards": len(shard_stats)}


def _counts(entries: dict[str, dict[str, Any]]) -> str:
    counts = Counter(e["reason"] for e in entries.values())
    return ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items())) or "none"


def _read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if default is not None:
            return default
        raise UsageError(f"{path} is missing: the run is incomplete (mmsynth verify "
                         f"{path.parent})") from None
    except ValueError as e:
        raise UsageError(f"cannot read {path}: {e}") from None
