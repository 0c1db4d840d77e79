"""Look at a run before training on it: ``python -m mmsynth.preview OUT_DIR --out preview.html``.

Writes one self-contained HTML page (images and plots embedded as data URIs, no network): a
random sample of records — the image (with the annotation boxes drawn over real photos), the
conversation turns, the QA with exact answers, the scene, the CLIP score when there is one, the
provenance — then the run's statistics as matplotlib plots (kept vs rejected by reason, samples
per source/generator/type, CLIP scores, answer lengths), then the rejected samples kept in each
shard's ``rejects.json`` with their reasons. Reads the output directory only; needs matplotlib
and Pillow, never torch.

A small inline script records, once the page has loaded, how many images it has, how many of
them failed to load and how many plots there are, as ``data-`` attributes of ``<body>`` — what the
headless-browser test reads.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import random
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.shards import RUN_FILE, RUN_STATS_FILE, atomic_write_bytes, run_shards

# Real photographs are shrunk for the page; renders (448 px by default) are embedded as they are.
PHOTO_SIDE = 512
MAX_REJECTS_SHOWN = 60
TOP_REASONS = 14


@dataclass
class RunView:
    """What the page shows about a run, read from its output directory."""

    out: Path
    run: dict[str, Any]
    totals: dict[str, Any]
    kinds: Counter = field(default_factory=Counter)
    answer_words: list[int] = field(default_factory=list)
    clip_scores: list[float] = field(default_factory=list)
    keys: list[tuple[Path, str]] = field(default_factory=list)  # (tar, member) of every json
    rejects: list[dict[str, Any]] = field(default_factory=list)


def read_run(out: Path) -> RunView:
    """Scan ``out``'s shards (JSON members only) and stats; UsageError if it holds no shards."""
    out = Path(out)
    tars = run_shards(out)
    run = _read_json(out / RUN_FILE) or {}
    shard_stats = [s for p in sorted(out.glob("shard-*.stats.json")) if (s := _read_json(p))]
    totals = _read_json(out / RUN_STATS_FILE) or {
        "kept": sum(s.get("kept", 0) for s in shard_stats),
        "rejected": sum(s.get("rejected", 0) for s in shard_stats),
        "rejections": dict(sum((Counter(s.get("rejections", {})) for s in shard_stats),
                               Counter())),
    }
    view = RunView(out=out, run=run, totals=totals)
    for tar_path in tars:
        try:
            with tarfile.open(tar_path) as tar:
                for member in tar:
                    if not member.name.endswith(".json"):
                        continue
                    record = json.loads(tar.extractfile(member).read())
                    view.keys.append((tar_path, member.name))
                    _count(view, record)
        except (tarfile.TarError, OSError, ValueError) as e:
            raise UsageError(f"cannot read {tar_path}: {e}") from None
    for path in sorted(out.glob("shard-*.rejects.json")):
        data = _read_json(path) or {}
        view.rejects += data.get("samples", [])
    return view


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _count(view: RunView, record: dict[str, Any]) -> None:
    meta = record.get("meta", {})
    kind = meta.get("generator") or meta.get("type")
    view.kinds[f"{meta.get('source', '?')}/{kind}" if kind else str(meta.get("source", "?"))] += 1
    for turn in record.get("conversations", []):
        if turn.get("from") == "gpt":
            view.answer_words.append(len(str(turn.get("value", "")).split()))
    score = _clip_score(meta)
    if score is not None:
        view.clip_scores.append(score)


def _clip_score(meta: dict[str, Any]) -> float | None:
    clip = meta.get("clip")
    if isinstance(clip, dict) and isinstance(clip.get("score"), (int, float)):
        return float(clip["score"])
    return None


def pick(view: RunView, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` records chosen at random with ``seed`` (in dataset order), with their image bytes
    under ``_image`` and extension under ``_ext``."""
    chosen = sorted(random.Random(seed).sample(range(len(view.keys)), min(n, len(view.keys))))
    wanted: dict[Path, set[str]] = {}
    for i in chosen:
        tar_path, name = view.keys[i]
        wanted.setdefault(tar_path, set()).add(name.rsplit(".", 1)[0])
    records: list[dict[str, Any]] = []
    for tar_path, keys in wanted.items():
        members: dict[str, dict[str, bytes]] = {}
        with tarfile.open(tar_path) as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                if key in keys:
                    members.setdefault(key, {})[ext] = tar.extractfile(member).read()
        for key in sorted(members):
            m = members[key]
            record = json.loads(m["json"])
            ext = next((e for e in ("png", "jpg") if e in m), None)
            record["_image"], record["_ext"] = (m[ext], ext) if ext else (b"", None)
            records.append(record)
    order = {view.keys[i][1].rsplit(".", 1)[0]: rank for rank, i in enumerate(chosen)}
    records.sort(key=lambda r: order.get(r.get("id"), 0))
    return records


# -- images ------------------------------------------------------------------------------------


def data_uri(image: bytes, ext: str, side: int | None = None) -> str:
    """``image`` as a data URI, shrunk to at most ``side`` pixels when given."""
    if side:
        from PIL import Image

        with Image.open(io.BytesIO(image)) as im:
            if max(im.size) > side:
                im = im.convert("RGB")
                im.thumbnail((side, side))
                buffer = io.BytesIO()
                im.save(buffer, format="JPEG", quality=85)
                image, ext = buffer.getvalue(), "jpg"
    mime = "image/png" if ext == "png" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def _colour(name: str) -> str:
    hue = int(hashlib.md5(name.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 85%, 50%)"


def figure_html(src: str, annotations: dict[str, Any] | None, width: int | None = None,
                height: int | None = None, alt: str = "") -> str:
    """The image, with an SVG overlay of the annotation boxes (COCO [x, y, w, h] in the original
    pixels, so the overlay's viewBox is the original size whatever size the image is shown at)."""
    parts = [f'<div class="figure"><img class="sample" src="{src}" alt="{html.escape(alt)}">']
    objects = (annotations or {}).get("objects") or []
    w = (annotations or {}).get("width") or width
    h = (annotations or {}).get("height") or height
    if objects and w and h:
        parts.append(f'<svg class="boxes" viewBox="0 0 {w} {h}" preserveAspectRatio="none">')
        stroke = max(w, h) / 200
        font = max(w, h) / 28
        for obj in objects:
            x, y, bw, bh = (float(v) for v in obj["bbox"])
            colour = _colour(obj["category"])
            label = html.escape(obj["category"] + (" (crowd)" if obj.get("iscrowd") else ""))
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{bh:.1f}" fill="none" '
                f'stroke="{colour}" stroke-width="{stroke:.1f}"/>'
                f'<text x="{x + stroke:.1f}" y="{max(y + font, font):.1f}" font-size="{font:.1f}" '
                f'fill="{colour}" stroke="black" stroke-width="{stroke / 3:.2f}" '
                f'paint-order="stroke">{label}</text>')
        parts.append("</svg>")
    parts.append("</div>")
    return "".join(parts)


# -- plots ----------------------------------------------------------------------------------------


def _plot(draw, title: str, height: float = 3.2) -> str:
    """A matplotlib figure (no pyplot, no display) as an embedded PNG ``<img class="plot">``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw(ax)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    uri = f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
    return f'<img class="plot" src="{uri}" alt="{html.escape(title)}">'


def _barh(items: list[tuple[str, int]], colours: list[str] | None = None):
    def draw(ax):
        labels = [k for k, _ in items][::-1]
        values = [v for _, v in items][::-1]
        bars = ax.barh(range(len(items)), values, color=(colours or ["#4c72b0"] * len(items))[::-1])
        ax.set_yticks(range(len(items)), labels, fontsize=8)
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


def plots(view: RunView) -> tuple[list[str], list[str]]:
    """(plot <img> tags, notes for statistics that have no data in this run)."""
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


# -- records --------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _turns_html(turns: list[dict[str, str]]) -> str:
    rows = [f'<div class="turn {_esc(t.get("from"))}"><b>{_esc(t.get("from"))}</b> '
            f'{_esc(t.get("value", ""))}</div>' for t in turns]
    return f'<div class="turns">{"".join(rows)}</div>' if rows else ""


def _qa_html(qa: list[dict[str, Any]]) -> str:
    if not qa:
        return ""
    rows = []
    for item in qa:
        value = item.get("value")
        # A stated tolerance is what a grader accepts, whatever ``exact`` says of the value.
        exact = (f"± {item['tolerance']}" if item.get("tolerance") is not None
                 else "exact" if item.get("exact") else "")
        rows.append(f"<tr><td>{_esc(item.get('question', ''))}</td>"
                    f"<td><b>{_esc(item.get('answer', ''))}</b></td>"
                    f"<td>{_esc('' if value is None else json.dumps(value))} "
                    f"{_esc(item.get('unit') or '')}</td><td>{_esc(exact)}</td>"
                    f"<td>{_esc(item.get('type', ''))}</td></tr>")
    return ('<table class="qa"><tr><th>question</th><th>answer</th><th>value</th>'
            f'<th>accepts</th><th>type</th></tr>{"".join(rows)}</table>')


def _provenance_html(meta: dict[str, Any]) -> str:
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
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v if isinstance(v, (str, int, float)) else json.dumps(v))}</td></tr>"  # noqa: E501
                   for k, v in shown.items())
    return f'<table class="meta">{rows}</table>'


def record_html(record: dict[str, Any]) -> str:
    meta = record.get("meta", {})
    photo = record.get("_ext") == "jpg"
    img = figure_html(data_uri(record["_image"], record["_ext"], PHOTO_SIDE if photo else None),
                      record.get("annotations"), alt=record.get("id", "")) \
        if record.get("_image") else '<div class="noimage">no image</div>'
    score = _clip_score(meta)
    clip = (f'<div class="clip">CLIP score <b>{score:.3f}</b></div>' if score is not None
            else "")
    caption = (f'<div class="caption">caption: {_esc(record["caption"])}</div>'
               if record.get("caption") else "")
    scene = record.get("scene")
    scene_html = (f"<details><summary>scene</summary><pre>"
                  f"{_esc(json.dumps(scene, indent=1, ensure_ascii=False))}</pre></details>"
                  if scene else "")
    ann = record.get("annotations")
    ann_html = (f"<details><summary>annotations ({len(ann.get('objects', []))} boxes)</summary>"
                f"<pre>{_esc(json.dumps(ann, indent=1, ensure_ascii=False))}</pre></details>"
                if ann else "")
    return (f'<div class="card"><div class="id">{_esc(record.get("id", ""))}</div>{img}{clip}'
            f'{caption}{_turns_html(record.get("conversations", []))}'
            f'{_qa_html(record.get("qa", []))}{scene_html}{ann_html}'
            f'<details><summary>provenance</summary>{_provenance_html(meta)}</details></div>')


def reject_html(entry: dict[str, Any]) -> str:
    record = entry.get("record") or {}
    image = entry.get("image") or {}
    if image.get("base64"):
        mime = "image/png" if image.get("ext") == "png" else "image/jpeg"
        img = figure_html(f"data:{mime};base64,{image['base64']}", record.get("annotations"),
                          image.get("width"), image.get("height"), alt=entry["reason"])
    else:
        img = ('<div class="noimage">no image'
               + (f": {_esc(image['error'])}" if image.get("error") else "") + "</div>")
    reply = record.get("meta", {}).get("reply")
    reply_html = f'<div class="reply"><b>LLM reply</b> {_esc(reply)}</div>' if reply else ""
    return (f'<div class="card reject"><div class="reason">{_esc(entry["reason"])}</div>'
            f'<div class="id">index {_esc(entry.get("index"))} {_esc(record.get("id", ""))}'
            f'</div>{img}<div class="detail">{_esc(entry.get("detail", ""))}</div>{reply_html}'
            f'{_turns_html(record.get("conversations", []))}</div>')


# -- the page -------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { margin: 0 0 .3em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.summary td { padding: 1px 10px 1px 0; } .note { color: #666; font-style: italic; }
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
_SCRIPT = """
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


def render_page(view: RunView, records: list[dict[str, Any]]) -> str:
    """The whole HTML page."""
    config = view.run.get("config", {})
    source = config.get("source", "?")
    plot_tags, notes = plots(view)
    rejects = view.rejects[:MAX_REJECTS_SHOWN]
    summary_rows = [
        ("output", str(view.out)), ("source", source),
        ("kept", view.totals.get("kept", "?")), ("rejected", view.totals.get("rejected", "?")),
        ("fingerprint", view.run.get("fingerprint", "?")),
        ("mmsynth", view.run.get("versions", {}).get("mmsynth", "?")),
        ("config", json.dumps(config, sort_keys=True, default=str)),
    ]
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>mmsynth preview: {_esc(source)} ({_esc(view.out.name)})</title>",
        f"<style>{_CSS}</style><script>{_SCRIPT}</script></head><body>",
        f"<h1>mmsynth preview: {_esc(source)}</h1>",
        '<table class="summary">' + "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>"
                                            for k, v in summary_rows) + "</table>",
        "<h2>Statistics</h2>", f'<div class="plots">{"".join(plot_tags)}</div>',
        *[f'<p class="note">{_esc(n)}</p>' for n in notes],
        f"<h2>Samples ({len(records)} of {len(view.keys)}, chosen at random)</h2>",
        f'<div class="grid">{"".join(record_html(r) for r in records)}</div>',
        f"<h2>Rejected samples ({len(rejects)} shown of {view.totals.get('rejected', 0)} "
        "rejected; a capped sample per shard and reason)</h2>",
        (f'<div class="grid">{"".join(reject_html(e) for e in rejects)}</div>' if rejects
         else '<p class="note">No rejected samples were kept for this run.</p>'),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def preview(out_dir: str, out: str | None = None, n: int = 200, seed: int = 0) -> Path:
    """Write the preview page of the run in ``out_dir`` to ``out`` (default
    ``OUT_DIR/preview.html``); return its path. Raises UsageError for a directory without
    shards or bad arguments."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise UsageError(f"--n {n!r}: must be an integer ≥ 0")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"--seed {seed!r}: must be an integer")
    view = read_run(Path(out_dir))
    records = pick(view, n, seed)
    page = render_page(view, records)
    target = Path(out) if out else Path(out_dir) / "preview.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, page.encode("utf-8"))
    except OSError as e:
        raise UsageError(f"cannot write --out {target}: {e.strerror or e}") from None
    return target


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
        path = preview(args.out_dir, args.out, args.n, args.seed)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
