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

One concept per module: ``read`` (the run folder and the picked records), ``figures`` (images
checked, embedded, boxes drawn over them), ``plots`` (the statistics), ``cards`` (records and
rejects as template data), ``page`` (template, style, script, policy) and ``values`` (the skip
counter and bounded text); this package holds the caps they share and the entry points.

The samples ``mmsynth dedup`` removed (the run's ``dedup.json``) are not shown and not in the
plots, and the summary says how many; ``--keep_duplicates`` shows them. A stale record is an
error.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from mmsynth import images

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

# The modules below read every cap above from this package at call time (``caps.MAX_PIXELS``),
# so one assignment here (a caller's, a test's monkeypatch) reaches wherever the cap is used; they
# are imported after the caps because some caps are their functions' default arguments.
from mmsynth.errors import UsageError  # noqa: E402
from mmsynth.images import ImageProblem  # noqa: E402
from mmsynth.preview.cards import record_view, reject_view  # noqa: E402
from mmsynth.preview.figures import data_uri, figure, verified_image  # noqa: E402
from mmsynth.preview.page import CSP, SCRIPT, render_page  # noqa: E402
from mmsynth.preview.plots import plots  # noqa: E402
from mmsynth.preview.read import _READER_REASONS, RunView, pick, read_run  # noqa: E402
from mmsynth.preview.values import Skips  # noqa: E402
from mmsynth.shards import atomic_write_bytes  # noqa: E402

__all__ = [
    "CSP", "SCRIPT", "_READER_REASONS", "ImageProblem", "RunView", "Skips", "data_uri", "figure",
    "main", "pick", "plots", "preview", "read_run", "record_view", "reject_view", "render_page",
    "verified_image", "write_preview",
]


def preview(out_dir: str, out: str | None = None, n: int = 200, seed: int = 0,
            keep_duplicates: bool = False) -> Path:
    """Write the preview page of the run in ``out_dir`` to ``out`` (default
    ``OUT_DIR/preview.html``); return its path. ``keep_duplicates``: also show the samples the
    run's dedup.json removed. Raises UsageError for a directory without shards, a stale
    dedup.json or bad arguments."""
    return write_preview(out_dir, out, n, seed, keep_duplicates)[0]


def write_preview(out_dir: str, out: str | None = None, n: int = 200,
                  seed: int = 0, keep_duplicates: bool = False) -> tuple[Path, Skips]:
    """:func:`preview`, also returning what the page counts as skipped."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise UsageError(f"--n {n!r}: must be an integer ≥ 0")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"--seed {seed!r}: must be an integer")
    view = read_run(Path(out_dir), keep_duplicates)
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
    """``mmsynth preview OUT_DIR --out preview.html [--n 200] [--seed 0] [--keep_duplicates]``
    (also ``python -m mmsynth.preview``)."""
    from mmsynth.cli import ArgParser, parse, parse_text, parse_value, positional, require

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgParser(prog="mmsynth preview",
                       usage="%(prog)s OUT_DIR [--out FILE] [--n N] [--seed N] "
                             "[--keep_duplicates]",
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
    parser.add_bool(parser, "keep_duplicates", "also show the samples mmsynth dedup removed "
                                               "(listed in dedup.json; default: off)")
    try:
        args = parse(parser, argv)
        if args is None:  # --help was printed
            return 0
        require(parser, args, "out_dir")
        path, skipped = write_preview(args.out_dir, args.out, args.n, args.seed,
                                      getattr(args, "keep_duplicates", False))
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

