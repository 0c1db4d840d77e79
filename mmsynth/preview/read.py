"""Reading a run folder for the page: its shards through the shared reader, its side files
(run.json, stats, rejects) each with a size cap, and the records picked to be shown."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mmsynth.preview as caps
from mmsynth.dedup.record import read_removed
from mmsynth.errors import UsageError
from mmsynth.images import ImageProblem
from mmsynth.preview.figures import verified_image
from mmsynth.preview.values import Skips, _label, _number
from mmsynth.shards import RUN_FILE, RUN_STATS_FILE, iter_shard, run_shards

# What the shared reader's reasons mean, for the page's list of skipped things.
_READER_REASONS = {
    "not_a_file": "a member that is not a regular file (a directory or link)",
    "bad_name": "a member whose name is not KEY.EXT",
    "too_large": "a member over the reader's size cap (not read)",
    "duplicate_member": "a member that appears twice in a sample",
    "incomplete_sample": "a sample without its json or image member",
    "bad_json": "a record that is not a JSON object with its id and a list of turns",
}


@dataclass
class RunView:
    """What the page shows about a run, read from its output directory."""

    out: Path
    run: dict[str, Any]
    totals: dict[str, Any]
    kinds: Counter = field(default_factory=Counter)
    answer_words: list[int] = field(default_factory=list)
    clip_scores: list[float] = field(default_factory=list)
    # (tar, position among that tar's usable samples, key) of every usable sample
    keys: list[tuple[Path, int, str]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    skipped: Skips = field(default_factory=Counter)
    # Samples left out because the run's dedup.json removed them; None: no record was honoured
    # (there is none, or keep_duplicates).
    removed_by_dedup: int | None = None


# -- reading ---------------------------------------------------------------------------------


def read_run(out: Path, keep_duplicates: bool = False) -> RunView:
    """Scan ``out``'s shards (through the shared reader; records only, images are dropped) and
    side files; UsageError if it holds no shards, or if its dedup.json is stale. Whatever cannot
    be used is counted in ``skipped``. The samples dedup.json removed are left out (neither
    shown nor in the plots; counted in ``removed_by_dedup``) unless ``keep_duplicates``."""
    out = Path(out)
    tars = run_shards(out)
    removed = None if keep_duplicates else read_removed(out)
    skipped: Skips = Counter()
    view = RunView(out=out, run=_run_record(out, skipped), totals=_totals(out, skipped),
                   skipped=skipped, removed_by_dedup=None if removed is None else 0)
    for tar_path in tars:
        problems: dict[str, int] = {}
        position = 0
        try:
            for record, _image, _ext in iter_shard(tar_path, problems):
                # The position counts every usable sample: pick finds records by it.
                position += 1
                if removed is not None and record["id"] in removed:
                    view.removed_by_dedup += 1
                    continue
                view.keys.append((tar_path, position - 1, record["id"]))
                _count(view, record)
        except UsageError:
            # A tar that ends early or is no tar: what came before is shown, the rest counted.
            skipped[("shard", f"{_label(tar_path.name)} cannot be read (further)")] += 1
        for reason, n in problems.items():
            skipped[("shard", _READER_REASONS.get(reason, reason))] += n
    _read_rejects(view)
    return view


def _read_json(path: Path, cap: int, skipped: Skips) -> Any:
    """The JSON in ``path``; None when it is absent (a run in progress), or counted when it is not
    a regular file, over ``cap`` bytes or not JSON."""
    where = path.name
    try:
        if not path.exists():
            return None
        if not path.is_file():
            skipped[(where, "not a regular file")] += 1
            return None
        if path.stat().st_size > cap:
            skipped[(where, f"over the {cap}-byte cap (not read)")] += 1
            return None
        with open(path, "rb") as f:
            data = f.read(cap + 1)
        if len(data) > cap:
            skipped[(where, f"over the {cap}-byte cap (not read)")] += 1
            return None
        return json.loads(data.decode("utf-8"))
    except OSError:
        skipped[(where, "cannot be read")] += 1
    except (UnicodeDecodeError, ValueError, RecursionError):
        skipped[(where, "not valid JSON")] += 1
    return None


def _run_record(out: Path, skipped: Skips) -> dict[str, Any]:
    run = _read_json(out / RUN_FILE, caps.MAX_SIDE_FILE_BYTES, skipped)
    if run is None:
        return {}
    if not isinstance(run, dict):
        skipped[(RUN_FILE, "not a JSON object")] += 1
        return {}
    for key in ("config", "versions"):
        if not isinstance(run.get(key, {}), dict):
            skipped[(RUN_FILE, f"its {key} is not an object")] += 1
            run = {**run, key: {}}
    return run


def _count_of(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def _clean_totals(raw: Any, where: str, skipped: Skips) -> dict[str, Any] | None:
    """``{kept, rejected, rejections}`` with counts only, or None (counted) for a non-object."""
    if not isinstance(raw, dict):
        skipped[(where, "not a JSON object")] += 1
        return None
    totals: dict[str, Any] = {}
    for key in ("kept", "rejected"):
        totals[key] = _count_of(raw.get(key, 0))
        if totals[key] is None:
            skipped[(where, f"its {key} is not a count")] += 1
            totals[key] = 0
    reasons = raw.get("rejections", {})
    if not isinstance(reasons, dict):
        skipped[(where, "its rejections are not an object")] += 1
        reasons = {}
    totals["rejections"] = {}
    for reason, n in reasons.items():
        if _count_of(n) is None:
            skipped[(where, "a rejection reason without a count")] += 1
        else:
            totals["rejections"][reason] = n
    return totals


def _totals(out: Path, skipped: Skips) -> dict[str, Any]:
    totals = _read_json(out / RUN_STATS_FILE, caps.MAX_SIDE_FILE_BYTES, skipped)
    if totals is not None and (clean := _clean_totals(totals, RUN_STATS_FILE, skipped)):
        return clean
    # No run totals yet (a run in progress): the finished shards' stats.
    shards = []
    for path in sorted(out.glob("shard-*.stats.json")):
        raw = _read_json(path, caps.MAX_SIDE_FILE_BYTES, skipped)
        if raw is not None and (clean := _clean_totals(raw, "shard stats", skipped)):
            shards.append(clean)
    return {
        "kept": sum(s["kept"] for s in shards),
        "rejected": sum(s["rejected"] for s in shards),
        "rejections": dict(sum((Counter(s["rejections"]) for s in shards), Counter())),
    }


def _read_rejects(view: RunView) -> None:
    for path in sorted(view.out.glob("shard-*.rejects.json")):
        if len(view.rejects) >= caps.MAX_REJECTS_SHOWN:
            return
        data = _read_json(path, caps.MAX_REJECTS_BYTES, view.skipped)
        if data is None:
            continue
        samples = data.get("samples") if isinstance(data, dict) else None
        if not isinstance(samples, list):
            view.skipped[("rejects file", "no list of samples")] += 1
            continue
        for entry in samples:
            if not isinstance(entry, dict):
                view.skipped[("reject", "not a JSON object")] += 1
            elif len(view.rejects) < caps.MAX_REJECTS_SHOWN:
                view.rejects.append(entry)


def _count(view: RunView, record: dict[str, Any]) -> None:
    meta = record.get("meta", {})  # an object: the reader checked
    kind = meta.get("generator") or meta.get("type")
    source = _label(meta.get("source", "?"))
    view.kinds[f"{source}/{_label(kind)}" if kind else source] += 1
    for turn in record["conversations"]:  # a list of turns with string values: checked too
        if turn.get("from") == "gpt":
            view.answer_words.append(len(turn["value"].split()))
    score = _clip_score(meta)
    if score is not None:
        view.clip_scores.append(score)

def _clip_score(meta: dict[str, Any]) -> float | None:
    clip = meta.get("clip")
    return _number(clip.get("score")) if isinstance(clip, dict) else None


def pick(view: RunView, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` records chosen at random with ``seed`` (in dataset order), read again through the
    shared reader, with their image — decoded, checked and re-encoded — under ``_image``,
    ``_ext`` and ``_size`` (original pixels), or, when it could not be decoded, ``_image`` empty
    and the :class:`ImageProblem` under ``_image_problem``."""
    chosen = sorted(random.Random(seed).sample(range(len(view.keys)), min(n, len(view.keys))))
    wanted: dict[Path, set[int]] = {}
    for i in chosen:
        tar_path, position, _key = view.keys[i]
        wanted.setdefault(tar_path, set()).add(position)
    found: dict[tuple[Path, int], dict[str, Any]] = {}
    for tar_path, positions in wanted.items():
        last = max(positions)
        try:
            for position, (record, image, ext) in enumerate(iter_shard(tar_path)):
                if position in positions:
                    found[(tar_path, position)] = _with_image(record, image, ext)
                if position >= last:
                    break
        except UsageError:
            pass  # read_run counted the tar's end; what was found is shown
    return [found[key] for i in chosen if (key := view.keys[i][:2]) in found]


def _with_image(record: dict[str, Any], image: bytes, ext: str) -> dict[str, Any]:
    try:
        record["_image"], record["_ext"], record["_size"] = verified_image(
            image, ext, caps.PHOTO_SIDE if ext == "jpg" else caps.RENDER_SIDE)
    except ImageProblem as e:
        record["_image"], record["_ext"], record["_size"] = b"", None, None
        record["_image_problem"] = e
    return record

