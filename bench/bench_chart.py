"""Chart rendering speed: mmsynth vs a naive matplotlib loop, measured in the same run.

Both sides are whole Python processes pinned to one core (``taskset -c 0``), start-up included:

* ours: ``python -m mmsynth.generate --source chart --num_samples N`` (scene, render, QA,
  JSON, tar shards);
* naive: the same scenes (same seeds, same families) drawn the way most plotting code does it:
  a new ``plt.subplots`` figure per chart, ordinary matplotlib calls (``ax.bar``, ``ax.barh``,
  ``ax.plot``, ``ax.fill_between``, ``ax.pie``, ``ax.scatter`` + ``ax.annotate``, ``ax.bxp``),
  ``bar_label`` for printed values, title/axis labels/legend/grid, ``tight_layout``, ``savefig``
  PNG to memory at 448×448, ``plt.close``; scenes and questions are generated as in ours.

    python bench/bench_chart.py --n 1000            # the comparison
    python bench/bench_chart.py --profile 600       # where our time goes (cProfile, in-process)
    python bench/bench_chart.py --naive 200         # just the naive loop (used by the above)
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(cmd: list[str]) -> float:
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - started


# --- the naive baseline ------------------------------------------------------------------------

def naive_chart(scene: dict, plt) -> bytes:
    """One chart the ordinary way: a fresh figure, axes calls, tight_layout, savefig."""
    import numpy as np

    st = scene["style"]
    fam = scene["family"]
    fig, ax = plt.subplots(figsize=(4.48, 4.48), dpi=100)
    fig.set_facecolor(st["paper"])
    ax.set_facecolor(st.get("panel", st["paper"]))
    plt.rcParams["font.family"] = st["font"]
    table = scene["table"]
    cats = [r[0] for r in table["rows"]]
    series = table["columns"][1:]
    vals = np.array([r[1:] for r in table["rows"]], dtype=float)
    colors = st["colors"]
    labels_on = scene["readout"]["mode"] == "labels"
    if fam in ("bar", "hbar", "grouped_bar", "stacked_bar", "histogram"):
        vertical = scene.get("orientation", "vertical") == "vertical"
        x = np.arange(len(cats))
        ns = vals.shape[1]
        width = st["bar_width"] / (1 if scene.get("stacked") or ns == 1 else ns)
        bottom = np.zeros(len(cats))
        for j in range(ns):
            if scene.get("stacked"):
                pos, off = x, 0.0
            else:
                pos, off = x, (j - (ns - 1) / 2) * width
            draw = ax.bar if vertical else ax.barh
            kw = {"bottom": bottom} if vertical else {"left": bottom}
            bars = draw(pos + off, vals[:, j], width, color=colors[j % len(colors)],
                        label=series[j], **kw)
            if labels_on:
                ax.bar_label(bars, fmt="%g", label_type="center" if scene.get("stacked")
                             else "edge", fontsize=st["font_size"])
            if scene.get("stacked"):
                bottom = bottom + vals[:, j]
        (ax.set_xticks if vertical else ax.set_yticks)(x, cats)
        if vertical and max(len(c) for c in cats) * len(cats) > 40:
            ax.tick_params(axis="x", rotation=90)
        if ns > 1:
            ax.legend()
    elif fam in ("line", "area"):
        x = np.arange(len(cats))
        for j in range(vals.shape[1]):
            ax.plot(x, vals[:, j], marker=st["marker"], color=colors[j % len(colors)],
                    linewidth=st["line_width"], label=series[j])
            if fam == "area":
                ax.fill_between(x, vals[:, j], alpha=0.35, color=colors[j % len(colors)])
            if labels_on:
                for xi, v in zip(x, vals[:, j], strict=True):
                    ax.annotate(f"{v:g}", (xi, v), textcoords="offset points", xytext=(0, 6),
                                ha="center", fontsize=st["font_size"])
        ax.set_xticks(x, cats)
        if vals.shape[1] > 1:
            ax.legend()
    elif fam in ("pie", "donut"):
        ax.pie(vals[:, 0], labels=cats, colors=colors[:len(cats)], autopct="%1.1f%%",
               startangle=scene["start_angle"], counterclock=not scene["clockwise"],
               wedgeprops={"width": 1 - scene["hole"]} if scene["hole"] else None)
        ax.axis("equal")
    elif fam == "scatter":
        ax.scatter(vals[:, 0], vals[:, 1], color=colors[0], marker=st["marker"])
        for name, (xv, yv) in zip(cats, vals, strict=True):
            ax.annotate(name, (xv, yv), textcoords="offset points", xytext=(5, 3))
        ax.set_xlabel(series[0])
        ax.set_ylabel(series[1])
    elif fam == "box":
        stats = [{"whislo": r[0], "q1": r[1], "med": r[2], "q3": r[3], "whishi": r[4],
                  "label": c} for c, r in zip(cats, vals, strict=True)]
        ax.bxp(stats, showfliers=False, orientation=scene["orientation"])
    if scene.get("title"):
        ax.set_title(scene["title"])
    for key, setter in (("category_label", ax.set_xlabel), ("value_label", ax.set_ylabel)):
        if scene.get(key):
            setter(scene[key])
    if st.get("grid"):
        ax.grid(True, color=st["grid_color"])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def naive_loop(n: int, seed: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from renderers import registry

    reg = registry("chart")
    names = reg.names()
    families = {name: reg.get(name)() for name in names}
    done = 0
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        family = families[names[int(rng.integers(len(names)))]]
        try:
            scene = family.sample_scene(rng)
        except ValueError:
            continue
        naive_chart(scene, plt)
        family.questions(scene, rng)
        done += 1
    print(f"naive: {done} charts")


# --- profile -------------------------------------------------------------------------------------

BUCKETS = (  # (label, substrings of "file:function"), first match wins
    ("text: rasterise glyphs (stamp-cache misses)", ("ft2font", "draw_text_image",
                                                     "_draw_text_glyphs", "canvas.py:_word",
                                                     "canvas.py:_stamp", "text.py",
                                                     "font_manager", "mathtext",
                                                     "get_text_width_height")),
    ("text: blend cached stamps into the image", ("canvas.py:_blend",)),
    ("text: layout + measure (cache hits)", ("canvas.py:_layout", "canvas.py:measure",
                                             "_font_metrics", "canvas.py:text")),
    ("PNG encode (zlib)", ("png.py", "zlib", "compress", "ImagingCore")),
    ("shapes: draw with Agg", ("draw_path", "draw_markers", "collections.py", "patches.py",
                               "lines.py", "backend_agg", "path.py", "transforms.py",
                               "_path", "artist.py", "colors.py", "markers.py")),
    ("chart layout (margins, wrapping, label placement)", ("charts/layout.py",
                                                           "charts/bars.py",
                                                           "charts/lines.py",
                                                           "charts/pie.py",
                                                           "charts/scatter.py:draw",
                                                           "charts/box.py:draw",
                                                           "charts/histogram.py:draw")),
    ("scene sampling", ("charts/data.py", "sample_", "charts/style.py", "random")),
    ("questions", ("charts/ask.py", "renderers/qa.py", "questions", "sq_", "h_", "b_")),
    ("shards: JSON + tar", ("shards.py", "json", "tarfile", "sample.py", "encoder")),
)


def profile(n: int) -> None:
    import cProfile
    import pstats

    from mmsynth.config import resolve
    from mmsynth.sources import source_options
    from mmsynth.sources.render import ChartSource

    config = resolve({"source": "chart", "num_samples": n}, source_options)
    source = ChartSource(config, "bench")
    source.produce(range(n, n + 50))  # warm caches, as a long run would be
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    samples, rejected = source.produce(range(n))
    from mmsynth.shards import write_shard

    with tempfile.TemporaryDirectory() as tmp:
        write_shard(Path(tmp), 0, samples)
    prof.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(prof)
    own = defaultdict(float)
    total = 0.0
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        key = f"{file.replace(os.sep, '/')}:{func}"
        total += tt
        for label, subs in BUCKETS:
            if any(s in key for s in subs):
                own[label] += tt
                break
        else:
            own["other (numpy, Python glue, ...)"] += tt
    print(f"profile: {n} samples ({len(rejected)} rejected) in {wall:.2f} s under cProfile "
          f"({n / wall:.1f}/s with profiling overhead); self time by bucket:")
    for label, t in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * t / total:5.1f}%  {1000 * t / n:6.2f} ms/sample  {label}")
    print("top functions by self time:")
    stats.sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="charts per timed run")
    parser.add_argument("--naive", type=int, default=0, help="run only the naive loop")
    parser.add_argument("--profile", type=int, default=0, help="profile this many samples")
    parser.add_argument("--repeat", type=int, default=1, help="alternate runs, report best")
    args = parser.parse_args()
    if args.naive:
        naive_loop(args.naive)
        return
    if args.profile:
        profile(args.profile)
        return
    naive_times, our_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            naive_times.append(timed([sys.executable, str(Path(__file__).resolve()),
                                      "--naive", str(args.n)]))
            our_times.append(timed([sys.executable, "-m", "mmsynth.generate", "--source",
                                    "chart", "--num_samples", str(args.n), "--out",
                                    str(Path(tmp) / "out"), "--overwrite", "--noprogress"]))
    naive, ours = min(naive_times), min(our_times)
    print(f"one core, {args.n} charts, whole process incl. start-up (best of {args.repeat}):")
    print(f"  naive loop  {naive:7.2f} s  {args.n / naive:8.1f} charts/s")
    print(f"  mmsynth     {ours:7.2f} s  {args.n / ours:8.1f} charts/s")
    print(f"  ratio       {naive / ours:7.2f}x  (target ≥ 3x, goal 4x)")


if __name__ == "__main__":
    main()
