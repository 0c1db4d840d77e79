"""The naive baseline: the same scenes, drawn the way most matplotlib code does it.

A new ``plt.subplots`` figure per sample, artists added to its axes, ``savefig`` to a PNG in
memory, ``plt.close``. It implements the Canvas interface, so a family's ``draw`` runs unchanged
and both paths draw the same shapes and labels.

    python bench/naive.py --source geometry --n 500 --seed 0
"""

from __future__ import annotations

import argparse
import io
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from renderers.canvas import Canvas

_LAYOUT = Canvas()


class NaiveCanvas:
    def __init__(self, size: int = 448, dpi: int = 100):
        self.size, self.dpi = size, dpi
        self.fig = self.ax = None
        self.text_boxes: list = []

    def begin(self, xlim, ylim, background="white"):
        (x0, x1), (y0, y1) = xlim, ylim
        span = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.fig, self.ax = plt.subplots(figsize=(self.size / self.dpi, self.size / self.dpi),
                                         dpi=self.dpi)
        self.fig.subplots_adjust(0, 0, 1, 1)
        self.fig.set_facecolor(background)
        self.ax.set_xlim(cx - span / 2, cx + span / 2)
        self.ax.set_ylim(cy - span / 2, cy + span / 2)
        self.ax.axis("off")
        self._units_per_pixel = span / self.size

    @property
    def units_per_pixel(self):
        return self._units_per_pixel

    @property
    def transform(self):
        return self.ax.transData

    def add(self, artist):
        if not artist.is_transform_set():
            artist.set_transform(self.ax.transData)
        self.ax.add_artist(artist)
        return artist

    def text(self, x, y, text, *, size=12, color="black", family="DejaVu Sans", weight="normal",
             style="normal", ha="center", va="center", rotation=0.0, background=None):
        bbox = None if background is None else {"facecolor": background, "edgecolor": "none"}
        self.ax.text(x, y, text, fontsize=size, color=color, family=family, weight=weight,
                     style=style, ha=ha, va=va, rotation=rotation, bbox=bbox)

    def measure(self, text, **font):
        # Label *placement* is shared with mmsynth's cached measure, so the baseline pays only for
        # what this comparison is about: a figure per sample, a full draw, savefig.
        return _LAYOUT.measure(text, **font)

    def png(self, mode="RGB"):
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=self.dpi)
        plt.close(self.fig)
        return buf.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="geometry")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from renderers import registry

    reg = registry(args.source)
    families = [reg.get(name)() for name in reg.names()]
    canvas = NaiveCanvas()
    started = time.perf_counter()
    for i in range(args.n):
        rng = np.random.default_rng([args.seed, i])
        family = families[int(rng.integers(len(families)))]
        scene = family.sample_scene(rng)
        family.draw(scene, canvas)
        canvas.png()
        family.questions(scene, rng)
    print(f"naive: {args.n} samples in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
