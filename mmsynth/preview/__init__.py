"""Look at a run before training on it: ``python -m mmsynth.preview OUT_DIR --out preview.html``.

Writes one self-contained HTML page (images and plots embedded as data URIs, no network): a
random sample of records — the image (with the annotation boxes drawn over real photos), the
conversation turns, the QA with exact answers, the scene, the CLIP score when there is one, the
provenance — then the run's statistics as matplotlib plots (kept vs rejected by reason, samples
per source/generator/type, CLIP scores, answer lengths), then the rejected samples kept in each
shard's ``rejects.json`` with their reasons. Reads the output directory only; needs matplotlib,
Pillow and jinja2, never torch.

A run folder may come from someone else, so everything in it is data, never markup: the page is
a jinja2 template (``page.html.j2``) with autoescaping on; shards are read through the shared
reader (:func:`mmsynth.shards.iter_shard`); every image is decoded with Pillow, checked against
its claimed type and re-encoded before it is embedded; numbers that go into SVG attributes are
floats; every side file is read with a size cap. What cannot be shown is skipped and counted,
and the page says how many of what were skipped and why. A Content-Security-Policy allows only
the page's own script, its own style and ``data:`` images, as a second line of defence.

A small inline script records, once the page has loaded, how many images it has, how many of
them failed to load and how many plots there are, as ``data-`` attributes of ``<body>`` — what the
headless-browser test reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import io
import json
import math
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from statistics import median
from typing import Any

from mmsynth import images
from mmsynth.errors import UsageError
from mmsynth.images import ImageProblem, shrink
from mmsynth.shards import RUN_FILE, RUN_STATS_FILE, atomic_write_bytes, iter_shard, run_shards

# Real photographs are shrunk for the page; renders (448 px by default) are embedded at their size
# unless they are larger than RENDER_SIDE.
PHOTO_SIDE = 512
RENDER_SIDE = 1024
REJECT_SIDE = 512
MAX_REJECTS_SHOWN = 60
TOP_REASONS = 14
# Caps on what is read or shown. A 384-px thumbnail is ~50 KB of base64 and a rejects file of 24
# of them ~1-2 MB; run.json and stats.json are a few KB.
MAX_REJECTS_BYTES = 64 << 20
MAX_SIDE_FILE_BYTES = 8 << 20
MAX_THUMBNAIL_BASE64 = 4 << 20
# Above this many pixels an image is not decoded at all (a small file can claim a huge canvas);
# well below Pillow's own bomb limit, so Pillow never needs to warn.
MAX_PIXELS = images.MAX_PIXELS
MAX_TEXT_SHOWN = 4000
MAX_JSON_SHOWN = 20_000
MAX_ITEMS_SHOWN = 200  # turns, QA rows and boxes per card
MAX_LABEL = 60


# What the shared reader's reasons mean, for the page's list of skipped things.
_READER_REASONS = {
    "not_a_file": "a member that is not a regular file (a directory or link)",
    "bad_name": "a member whose name is not KEY.EXT",
    "too_large": "a member over the reader's size cap (not read)",
    "duplicate_member": "a member that appears twice in a sample",
    "incomplete_sample": "a sample without its json or image member",
    "bad_json": "a record that is not a JSON object with its id and a list of turns",
}

Skips = Counter  # (where, reason) → how many


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


# -- reading ---------------------------------------------------------------------------------


def read_run(out: Path) -> RunView:
    """Scan ``out``'s shards (through the shared reader; records only, images are dropped) and
    side files; UsageError if it holds no shards. Whatever cannot be used is counted in
    ``skipped``."""
    out = Path(out)
    tars = run_shards(out)
    skipped: Skips = Counter()
    view = RunView(out=out, run=_run_record(out, skipped), totals=_totals(out, skipped),
                   skipped=skipped)
    for tar_path in tars:
        problems: dict[str, int] = {}
        position = 0
        try:
            for record, _image, _ext in iter_shard(tar_path, problems):
                view.keys.append((tar_path, position, record["id"]))
                position += 1
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
    run = _read_json(out / RUN_FILE, MAX_SIDE_FILE_BYTES, skipped)
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
    totals = _read_json(out / RUN_STATS_FILE, MAX_SIDE_FILE_BYTES, skipped)
    if totals is not None and (clean := _clean_totals(totals, RUN_STATS_FILE, skipped)):
        return clean
    # No run totals yet (a run in progress): the finished shards' stats.
    shards = []
    for path in sorted(out.glob("shard-*.stats.json")):
        raw = _read_json(path, MAX_SIDE_FILE_BYTES, skipped)
        if raw is not None and (clean := _clean_totals(raw, "shard stats", skipped)):
            shards.append(clean)
    return {
        "kept": sum(s["kept"] for s in shards),
        "rejected": sum(s["rejected"] for s in shards),
        "rejections": dict(sum((Counter(s["rejections"]) for s in shards), Counter())),
    }


def _read_rejects(view: RunView) -> None:
    for path in sorted(view.out.glob("shard-*.rejects.json")):
        if len(view.rejects) >= MAX_REJECTS_SHOWN:
            return
        data = _read_json(path, MAX_REJECTS_BYTES, view.skipped)
        if data is None:
            continue
        samples = data.get("samples") if isinstance(data, dict) else None
        if not isinstance(samples, list):
            view.skipped[("rejects file", "no list of samples")] += 1
            continue
        for entry in samples:
            if not isinstance(entry, dict):
                view.skipped[("reject", "not a JSON object")] += 1
            elif len(view.rejects) < MAX_REJECTS_SHOWN:
                view.rejects.append(entry)


def _label(value: Any, limit: int = MAX_LABEL) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


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


def _number(value: Any) -> float | None:
    """``value`` as a finite float when it is a JSON number, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


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
            image, ext, PHOTO_SIDE if ext == "jpg" else RENDER_SIDE)
    except ImageProblem as e:
        record["_image"], record["_ext"], record["_size"] = b"", None, None
        record["_image_problem"] = e
    return record


# -- images ------------------------------------------------------------------------------------


def verified_image(data: bytes, ext: str, side: int) -> tuple[bytes, str, tuple[int, int]]:
    """``data`` checked and shrunk by :func:`mmsynth.images.shrink` under this page's pixel cap:
    (new bytes, their ext, original (width, height)); ImageProblem when it cannot be shown."""
    return shrink(data, ext, side, MAX_PIXELS)


def data_uri(image: bytes, ext: str) -> str:
    """Verified image bytes as a data URI."""
    mime = "image/png" if ext == "png" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def _thumbnail(image: Any) -> tuple[bytes, str, tuple[int, int]]:
    """A rejects entry's ``image`` ({ext, base64, ...}) verified like a shard image."""
    encoded = image.get("base64")
    if not isinstance(encoded, str):
        raise ImageProblem("thumbnail is not a base64 string")
    if len(encoded) > MAX_THUMBNAIL_BASE64:
        raise ImageProblem(f"thumbnail over the {MAX_THUMBNAIL_BASE64}-byte cap (not read)")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageProblem("thumbnail is not valid base64") from None
    return verified_image(data, image.get("ext"), REJECT_SIDE)


def _colour(name: str) -> str:
    hue = int(hashlib.md5(name.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 85%, 50%)"


def figure(image: bytes, ext: str, annotations: Any, width: Any, height: Any, alt: str,
           skipped: Skips) -> dict[str, Any]:
    """What the template draws for an image: its data URI and an SVG overlay of the annotation
    boxes (COCO [x, y, w, h] in the original pixels, so the overlay's viewBox is the original size
    whatever size the image is shown at). Every number placed in the SVG is a float; a box that
    is not four numbers is skipped and counted."""
    fig: dict[str, Any] = {"src": data_uri(image, ext), "alt": alt, "boxes": [], "viewbox": None}
    if annotations is None:
        return fig
    if not isinstance(annotations, dict):
        skipped[("field", "annotations not an object")] += 1
        return fig
    objects = annotations.get("objects") or []
    if not isinstance(objects, list):
        skipped[("field", "annotations' objects not a list")] += 1
        return fig
    w = _positive(annotations.get("width")) or _positive(width)
    h = _positive(annotations.get("height")) or _positive(height)
    if objects and not (w and h):
        skipped[("box", "no image size to place it on")] += len(objects)
        return fig
    if len(objects) > MAX_ITEMS_SHOWN:
        skipped[("box", f"beyond the first {MAX_ITEMS_SHOWN} of a sample")] += \
            len(objects) - MAX_ITEMS_SHOWN
    stroke, font = max(w or 1, h or 1) / 200, max(w or 1, h or 1) / 28
    for obj in objects[:MAX_ITEMS_SHOWN]:
        box = _box(obj)
        if isinstance(box, str):
            skipped[("box", box)] += 1
            continue
        x, y, bw, bh = box
        category = _label(obj.get("category", "?"))
        colour = _colour(category)
        fig["boxes"].append({
            "x": f"{x:.1f}", "y": f"{y:.1f}", "w": f"{bw:.1f}", "h": f"{bh:.1f}",
            "colour": colour, "stroke": f"{stroke:.1f}", "thin": f"{stroke / 3:.2f}",
            "tx": f"{x + stroke:.1f}", "ty": f"{max(y + font, font):.1f}", "font": f"{font:.1f}",
            "label": category + (" (crowd)" if obj.get("iscrowd") else ""),
        })
    if fig["boxes"]:
        fig["viewbox"] = f"0 0 {w:g} {h:g}"
    return fig


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _box(obj: Any) -> tuple[float, float, float, float] | str:
    """The box's [x, y, w, h] as floats, or why it cannot be drawn."""
    if not isinstance(obj, dict):
        return "not an object"
    bbox = obj.get("bbox")
    values = [_number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
    if values is None or None in values:
        return "bbox is not four numbers"
    if values[2] < 0 or values[3] < 0:
        return "bbox has a negative size"
    return values[0], values[1], values[2], values[3]


# -- plots ----------------------------------------------------------------------------------------


def _plot(draw, title: str, height: float = 3.2) -> dict[str, str]:
    """A matplotlib figure (no pyplot, no display) as an embedded PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw(ax)
    # Labels come from the run folder: never parsed as mathtext (a stray ``$`` would raise).
    ax.set_title(title, fontsize=11, parse_math=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return {"src": data_uri(buffer.getvalue(), "png"), "title": title}


def _barh(items: list[tuple[str, int]], colours: list[str] | None = None):
    def draw(ax):
        labels = [_label(k) for k, _ in items][::-1]
        values = [v for _, v in items][::-1]
        bars = ax.barh(range(len(items)), values, color=(colours or ["#4c72b0"] * len(items))[::-1])
        ax.set_yticks(range(len(items)), labels, fontsize=8, parse_math=False)
        ax.bar_label(bars, fontsize=8, padding=2)
        if values and min(values) > 0 and max(values) / min(values) > 50:
            ax.set_xscale("log")  # a few rejections next to thousands kept stay visible
            ax.set_xlim(0.5, max(values) * 4)
        else:
            ax.margins(x=0.15)
    return draw


def _hist(values: list[float], xlabel: str, bins: int = 30, log_y: bool = False):
    def draw(ax):
        ax.hist(values, bins=bins, color="#55a868", edgecolor="white")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        if log_y:
            ax.set_yscale("log")
    return draw


def plots(view: RunView) -> tuple[list[dict[str, str]], list[str]]:
    """(plots as {src, title}, notes for statistics that have no data in this run)."""
    tags, notes = [], []
    reasons = Counter(view.totals.get("rejections", {}))
    top = reasons.most_common(TOP_REASONS)
    if len(reasons) > TOP_REASONS:
        top.append((f"{len(reasons) - TOP_REASONS} other reasons",
                    sum(reasons.values()) - sum(n for _, n in top)))
    items = [("kept", int(view.totals.get("kept", 0))), *top]
    tags.append(_plot(_barh(items, ["#4c72b0"] + ["#c44e52"] * len(top)),
                      f"kept vs rejected by reason ({view.totals.get('kept', 0)} kept, "
                      f"{view.totals.get('rejected', 0)} rejected)",
                      height=max(2.2, 0.9 + 0.28 * len(items))))
    kinds = view.kinds.most_common()
    tags.append(_plot(_barh(kinds), "kept samples per source / generator / type",
                      height=max(2.2, 0.9 + 0.28 * len(kinds))))
    if view.clip_scores:
        tags.append(_plot(_hist(view.clip_scores, "CLIP score (cosine similarity)"),
                          f"CLIP scores of {len(view.clip_scores)} kept samples"))
    else:
        notes.append("No CLIP scores in this run.")
    if view.answer_words:
        # A log scale only for a long tail (tables and descriptions next to one-word answers).
        long_tail = max(view.answer_words) > 5 * max(1.0, median(view.answer_words))
        tags.append(_plot(_hist(view.answer_words, "words per answer (gpt turn)",
                                log_y=long_tail),
                          f"answer lengths ({len(view.answer_words)} answers)"))
    return tags, notes


# -- cards: records as plain strings for the template ----------------------------------------------


def _text(value: Any, limit: int = MAX_TEXT_SHOWN) -> str:
    """Any JSON value as text for the page (strings as they are), cut at ``limit``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else _json(value, None, limit)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _json(value: Any, indent: int | None = 1, limit: int = MAX_JSON_SHOWN) -> str:
    try:
        text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return "(too deeply nested to show)"
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _list_of_dicts(value: Any, what: str, skipped: Skips) -> list[dict[str, Any]]:
    """The dicts of a list field (at most MAX_ITEMS_SHOWN); the rest counted."""
    if value is None:
        return []
    if not isinstance(value, list):
        skipped[("field", f"{what} not a list")] += 1
        return []
    items = [v for v in value if isinstance(v, dict)]
    if len(items) < len(value):
        skipped[("field", f"{what} entry not an object")] += len(value) - len(items)
    if len(items) > MAX_ITEMS_SHOWN:
        skipped[("field", f"{what} beyond the first {MAX_ITEMS_SHOWN}")] += \
            len(items) - MAX_ITEMS_SHOWN
    return items[:MAX_ITEMS_SHOWN]


def _turns(value: Any, skipped: Skips) -> list[dict[str, str]]:
    turns = []
    for t in _list_of_dicts(value, "conversations", skipped):
        role = _text(t.get("from"), MAX_LABEL)
        turns.append({"role": role, "css": role if role in ("human", "gpt") else "other",
                      "value": _text(t.get("value", ""))})
    return turns


def _qa(value: Any, skipped: Skips) -> list[dict[str, str]]:
    rows = []
    for item in _list_of_dicts(value, "qa", skipped):
        v = item.get("value")
        # A stated tolerance is what a grader accepts, whatever ``exact`` says of the value.
        exact = (f"± {_text(item['tolerance'], MAX_LABEL)}" if item.get("tolerance") is not None
                 else "exact" if item.get("exact") else "")
        rows.append({"question": _text(item.get("question", "")),
                     "answer": _text(item.get("answer", "")),
                     "value": f"{'' if v is None else _json(v, None, MAX_TEXT_SHOWN)} "
                              f"{_text(item.get('unit') or '', MAX_LABEL)}",
                     "exact": exact, "type": _text(item.get("type", ""), MAX_LABEL)})
    return rows


def _provenance(meta: dict[str, Any]) -> list[tuple[str, str]]:
    shown = {}
    for key in ("source", "generator", "generator_version", "type", "seed", "index",
                "config_fingerprint", "image_id", "file_name", "attribution", "prompt"):
        if meta.get(key) not in (None, ""):
            shown[key] = meta[key]
    lic = meta.get("license")
    if lic:
        shown["license"] = lic.get("name") if isinstance(lic, dict) else lic
    llm = meta.get("llm")
    if isinstance(llm, dict):
        shown["llm"] = {k: llm[k] for k in ("backend", "model") if k in llm}
    if meta.get("grounding"):
        shown["grounding"] = meta["grounding"]
    return [(k, _text(v, 1000)) for k, v in shown.items()]


def _meta(record: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    meta = record.get("meta", {})
    if isinstance(meta, dict):
        return meta
    skipped[("field", "meta not an object")] += 1
    return {}


def _details(record: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    """What a record card and a reject card both show."""
    caption = record.get("caption")
    if caption is not None and not isinstance(caption, str):
        skipped[("field", "caption not a string")] += 1
        caption = None
    ann = record.get("annotations")
    objects = ann.get("objects") if isinstance(ann, dict) else None
    return {
        "caption": _text(caption) if caption else "",
        "turns": _turns(record.get("conversations"), skipped),
        "qa": _qa(record.get("qa"), skipped),
        "scene": _json(record["scene"]) if record.get("scene") else "",
        "annotations": _json(ann) if ann else "",
        "n_boxes": len(objects) if isinstance(objects, list) else 0,
    }


def record_view(record: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    """A record picked by :func:`pick` as the strings and numbers its card shows."""
    meta = _meta(record, skipped)
    card = {"id": _text(record.get("id", ""), 300), "figure": None, "noimage": "",
            "clip": _clip_score(meta), "provenance": _provenance(meta),
            **_details(record, skipped)}
    if record.get("_image"):
        width, height = record.get("_size") or (None, None)
        card["figure"] = figure(record["_image"], record["_ext"], record.get("annotations"),
                                width, height, card["id"], skipped)
    else:
        problem = record.get("_image_problem")
        if problem is not None:
            skipped[("image", problem.reason)] += 1
        card["noimage"] = f"no image: {problem}" if problem else "no image"
    if card["clip"] is not None:
        card["clip"] = f"{card['clip']:.3f}"
    return card


def reject_view(entry: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    """A rejects.json entry as the strings and numbers its card shows."""
    record = entry.get("record") or {}
    if not isinstance(record, dict):
        skipped[("reject", "record not an object")] += 1
        record = {}
    image = entry.get("image") or {}
    if not isinstance(image, dict):
        skipped[("reject", "image not an object")] += 1
        image = {}
    reason = _text(entry.get("reason", "?"), 500)
    meta = _meta(record, skipped)
    card = {"reason": reason, "index": _text(entry.get("index"), MAX_LABEL),
            "id": _text(record.get("id", ""), 300), "detail": _text(entry.get("detail", "")),
            "reply": _text(meta.get("reply")) if meta.get("reply") else "",
            "figure": None, "noimage": "no image", **_details(record, skipped)}
    if "base64" in image:
        try:
            data, ext, size = _thumbnail(image)
        except ImageProblem as e:
            skipped[("image", e.reason)] += 1
            card["noimage"] = f"no image: {e}"
        else:
            # Boxes are in the original pixels: the entry's recorded size, else the thumbnail's.
            width = _positive(image.get("width")) or size[0]
            height = _positive(image.get("height")) or size[1]
            card["figure"] = figure(data, ext, record.get("annotations"), width, height, reason,
                                    skipped)
    elif image.get("error"):
        card["noimage"] = f"no image: {_text(image['error'], 500)}"
    return card


# -- the page -------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { margin: 0 0 .3em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.summary td, .skipped td { padding: 1px 10px 1px 0; } .note { color: #666; font-style: italic; }
.skipped td:last-child { text-align: right; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots img { border: 1px solid #ddd; background: white; max-width: 100%; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 14px; }
.card { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 10px;
        overflow-wrap: anywhere; }
.card.reject { border-color: #c44e52; }
.id { font: 12px monospace; color: #555; margin-bottom: 4px; }
.reason { font-weight: bold; color: #c44e52; }
.figure { position: relative; line-height: 0; margin-bottom: 6px; }
.figure img { width: 100%; height: auto; border: 1px solid #eee; }
.figure svg.boxes { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.noimage { padding: 2em; background: #eee; color: #777; text-align: center; }
.turn { margin: 3px 0; padding: 4px 6px; border-radius: 4px; white-space: pre-wrap; }
.turn.human { background: #eef3fb; } .turn.gpt { background: #f1f8ef; }
table.qa, table.meta { border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 6px; }
table.qa td, table.qa th, table.meta td { border: 1px solid #e3e3e3; padding: 2px 4px;
  vertical-align: top; }
table.qa td:first-child { width: 45%; } table.qa td { overflow-wrap: normal; }
pre { font-size: 11px; max-height: 300px; overflow: auto; background: #f6f6f6; }
.clip { font-size: 13px; } .caption { color: #555; font-style: italic; margin: 4px 0; }
.detail, .reply { font-size: 12px; white-space: pre-wrap; margin: 4px 0; }
"""

# Counted after load, for the headless-browser test (and anyone curious): broken images show
# naturalWidth 0 once loading is over.
SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var b = document.body;
  b.setAttribute("data-images", images.length);
  b.setAttribute("data-broken-images", broken.length);
  b.setAttribute("data-plots", document.querySelectorAll("img.plot").length);
  b.setAttribute("data-box-overlays", document.querySelectorAll("svg.boxes").length);
  b.setAttribute("data-ready", "1");
});
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")


# Nothing from the network, no plugins, no forms; only this script and this style (by hash) and
# data: images. Should a payload ever get past the escaping, the browser still refuses to run it.
CSP = (f"default-src 'none'; img-src data:; style-src '{_sha256(_CSS)}'; "
       f"script-src '{_sha256(SCRIPT)}'; base-uri 'none'; form-action 'none'")


def _template():
    import jinja2
    from markupsafe import Markup

    def escape(value: Any) -> Any:
        # The entities html.escape writes (&#x27;, &quot;), which the page has always used and
        # people grep for; markupsafe's own (&#39;, &#34;) are as safe but spelled differently.
        return value if hasattr(value, "__html__") else Markup(html.escape(str(value)))

    # Autoescaping on for the whole page: every value from the run folder is escaped by default;
    # only the page's own constants (style, script, policy) are marked safe, in render_page.
    env = jinja2.Environment(autoescape=True, finalize=escape, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    text = resources.files(__package__).joinpath("page.html.j2").read_text(encoding="utf-8")
    return env.from_string(text)


def render_page(view: RunView, records: list[dict[str, Any]],
                skipped: Skips | None = None) -> str:
    """The whole HTML page. ``skipped``, when given, receives every count the page shows (the
    view's and what rendering itself skips); the view is left as it is."""
    from markupsafe import Markup

    skipped = Counter() if skipped is None else skipped
    skipped.update(view.skipped)
    config = view.run.get("config", {})
    source = _label(config.get("source", "?"), 200)
    plot_tags, notes = plots(view)
    cards = [record_view(r, skipped) for r in records]
    rejects = [reject_view(e, skipped) for e in view.rejects[:MAX_REJECTS_SHOWN]]
    summary = [
        ("output", str(view.out)), ("source", source),
        ("kept", view.totals.get("kept", "?")), ("rejected", view.totals.get("rejected", "?")),
        ("fingerprint", _text(view.run.get("fingerprint", "?"), 200)),
        ("mmsynth", _text(view.run.get("versions", {}).get("mmsynth", "?"), 200)),
        ("config", _text(json.dumps(config, sort_keys=True, default=str))),
    ]
    return _template().render(
        css=Markup(_CSS), script=Markup(SCRIPT), csp=Markup(CSP),
        title=f"mmsynth preview: {source} ({view.out.name})", source=source, summary=summary,
        skipped=sorted(skipped.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])),
        skipped_total=sum(skipped.values()), plots=plot_tags, notes=notes, records=cards,
        total=len(view.keys), rejects=rejects, rejected=view.totals.get("rejected", 0))


def preview(out_dir: str, out: str | None = None, n: int = 200, seed: int = 0) -> Path:
    """Write the preview page of the run in ``out_dir`` to ``out`` (default
    ``OUT_DIR/preview.html``); return its path. Raises UsageError for a directory without
    shards or bad arguments."""
    return write_preview(out_dir, out, n, seed)[0]


def write_preview(out_dir: str, out: str | None = None, n: int = 200,
                  seed: int = 0) -> tuple[Path, Skips]:
    """:func:`preview`, also returning what the page counts as skipped."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise UsageError(f"--n {n!r}: must be an integer ≥ 0")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"--seed {seed!r}: must be an integer")
    view = read_run(Path(out_dir))
    records = pick(view, n, seed)
    skipped: Skips = Counter()
    page = render_page(view, records, skipped)
    target = Path(out) if out else Path(out_dir) / "preview.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, page.encode("utf-8"))
    except OSError as e:
        raise UsageError(f"cannot write --out {target}: {e.strerror or e}") from None
    return target, skipped


def main(argv: list[str] | None = None) -> int:
    """``mmsynth preview OUT_DIR --out preview.html [--n 200] [--seed 0]`` (also
    ``python -m mmsynth.preview``)."""
    from mmsynth.cli import ArgParser, parse, parse_text, parse_value, positional, require

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgParser(prog="mmsynth preview",
                       usage="%(prog)s OUT_DIR [--out FILE] [--n N] [--seed N]",
                       description="Write an HTML preview of the mmsynth run in OUT_DIR: one "
                                   "self-contained page of sample images, their conversations, "
                                   "annotations, rejects and plots.")
    positional(parser, "out_dir", "a run's output directory (its --out)")
    parser.add_argument("--out", type=parse_text, metavar="FILE",
                        help="the HTML file to write (default: OUT_DIR/preview.html)")
    parser.add_argument("-n", "--n", type=parse_value, default=200, metavar="N",
                        help="how many samples to show, chosen at random (default: 200)")
    parser.add_argument("-s", "--seed", type=parse_value, default=0, metavar="N",
                        help="seed of that choice (default: 0)")
    try:
        args = parse(parser, argv)
        if args is None:  # --help was printed
            return 0
        require(parser, args, "out_dir")
        path, skipped = write_preview(args.out_dir, args.out, args.n, args.seed)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        if skipped:
            print(f"skipped {sum(skipped.values())} things the page cannot show (listed on it):",
                  file=sys.stderr)
            for (where, reason), count in sorted(skipped.items()):
                print(f"  {count:6d}  {where}: {reason}", file=sys.stderr)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
