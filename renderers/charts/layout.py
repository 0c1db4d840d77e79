"""Chart layout in pixels: margins from measured text, axes, ticks, gridlines, legends, labels.

The canvas is started over (0, size) × (0, size), so data coordinates *are* pixels (y up).
Every margin is computed from measured label extents (no ``tight_layout``): the title and legend
take what they need at the top (or right, or bottom), the value tick labels set the left margin,
the category labels are wrapped or turned 90° to fit their slot. When something cannot fit,
:class:`LabelsDoNotFit` is raised and the sample is counted as rejected.

Rotated labels are only ever turned by 90°, so the axis-aligned text boxes the canvas records
are the labels' true extents and the overlap check in :func:`check_labels` is exact.

One module (~600 lines) on purpose: :class:`Cartesian` sizes every margin of its axes through
:class:`Frame`'s text measuring and legend planning (``fit_title``, ``plan_legend``,
``line_height``, ...), so the two are one layout, with the placement checks they share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from renderers.base import LabelsDoNotFit  # one for every family; charts raise it here
from renderers.canvas import Canvas, TextBox
from renderers.charts.data import fmt_affixed, step_decimals, ticks

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels, y up

DASHES = {"solid": "-", "dashed": (0, (4, 3)), "dotted": (0, (1, 2.5))}
MIN_FONT = 6.5  # points: labels are never shrunk below this


@dataclass
class Font:
    size: float
    family: str
    weight: str = "normal"
    color: str = "#000000"

    def kw(self) -> dict[str, Any]:
        return {"size": self.size, "family": self.family, "weight": self.weight,
                "color": self.color}

    def smaller(self, by: float) -> Font:
        return Font(max(MIN_FONT, round(self.size - by, 1)), self.family, self.weight, self.color)


@dataclass
class Legend:
    entries: list[tuple[str, str, str]]  # (label, colour, kind: patch | line | marker)
    position: str  # top | bottom | right | inside
    marker: str | None = None
    line_width: float = 2.0
    rows: list[list[int]] = field(default_factory=list)
    item_w: list[float] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    swatch: float = 0.0


def rects_overlap(a: Rect, b: Rect, margin: float = 0.0) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0]
                or a[3] + margin <= b[1] or b[3] + margin <= a[1])


class Frame:
    """One chart being laid out and drawn on a canvas, in pixel coordinates (y up)."""

    def __init__(self, canvas: Canvas, style: dict[str, Any]):
        self.canvas = canvas
        self.style = style
        self.S = S = canvas.size
        self.k = S / 448.0
        canvas.begin((0, S), (0, S), background=style["paper"])
        ink, fam = style["ink"], style["font"]
        base = style["font_size"] * self.k
        # Few distinct sizes per chart (each size is its own set of cached text stamps).
        self.tick_font = Font(round(max(MIN_FONT, base), 1), fam, color=ink)
        self.label_font = self.tick_font
        self.legend_font = self.tick_font
        self.data_font = Font(round(max(MIN_FONT, base - 1.0 * self.k), 1), fam, color=ink)
        self.title_font = Font(round(max(MIN_FONT, style["title_size"] * self.k), 1), fam,
                               "bold" if style["title_bold"] else "normal", ink)
        self.pad = max(4.0, round(10 * self.k))
        self.gap = max(2.0, round(5 * self.k))
        self.tick_len = 0.0 if style["ticks"] == "none" else max(2.0, round(4 * self.k))
        self.obstacles: list[Rect] = []  # data drawn in the plot (for legends placed inside)

    # --- text ----------------------------------------------------------------------------------

    def measure(self, text: str, font: Font, rotation: float = 0.0) -> tuple[int, int]:
        return self.canvas.measure(text, size=font.size, family=font.family, weight=font.weight,
                                   rotation=rotation)

    def line_height(self, font: Font) -> int:
        return self.measure("Ag", font)[1]

    def text(self, x: float, y: float, text: str, font: Font, ha: str = "center",
             va: str = "center", rotation: float = 0.0, color: str | None = None) -> None:
        kw = font.kw()
        if color is not None:
            kw["color"] = color
        self.canvas.text(x, y, text, ha=ha, va=va, rotation=rotation, **kw)

    def lines(self, x: float, y_top: float, lines: Sequence[str], font: Font, ha: str = "center",
              color: str | None = None) -> None:
        """Stacked one-line labels (each drawn from cached word stamps), the first at the top."""
        lh = self.line_height(font) + 1  # +1: rounding never makes two lines touch
        for i, line in enumerate(lines):
            self.text(x, y_top - i * lh, line, font, ha=ha, va="top", color=color)

    def wrap(self, text: str, font: Font, max_w: float, max_lines: int) -> list[str] | None:
        """``text`` in the fewest lines (at most ``max_lines``) each at most ``max_w`` wide,
        splitting at spaces and balancing the lines; None if it cannot fit."""
        if self.measure(text, font)[0] <= max_w:
            return [text]
        words = text.split(" ")
        if len(words) == 1 or max_lines == 1:
            return None
        best: list[str] | None = None
        best_w = math.inf
        for cut in range(1, len(words)):  # two lines, the most balanced split
            a, b = " ".join(words[:cut]), " ".join(words[cut:])
            w = max(self.measure(a, font)[0], self.measure(b, font)[0])
            if w < best_w:
                best, best_w = [a, b], w
        if best_w <= max_w:
            return best
        if max_lines < 3:
            return None
        out, line = [], ""
        for w in words:  # greedy, three lines at most
            trial = f"{line} {w}".strip()
            if self.measure(trial, font)[0] <= max_w:
                line = trial
            else:
                if not line:
                    return None
                out.append(line)
                line = w
        out.append(line)
        if len(out) > max_lines or any(self.measure(s, font)[0] > max_w for s in out):
            return None
        return out

    # --- pieces --------------------------------------------------------------------------------

    def fit_title(self, title: str | None, width: float) -> tuple[list[str], Font]:
        if not title:
            return [], self.title_font
        font = self.title_font
        while True:
            lines = self.wrap(title, font, width, 2)
            if lines is not None:
                return lines, font
            if font.size <= self.tick_font.size:
                raise LabelsDoNotFit(f"title {title!r} does not fit in {width:.0f}px")
            font = font.smaller(1.0)

    def plan_legend(self, legend: Legend, max_w: float) -> None:
        """Rows of entries (top/bottom: flowing rows; right/inside: one column)."""
        font = self.legend_font
        lh = self.line_height(font)
        sw = round(lh * 0.9) if legend.entries[0][2] == "patch" else round(lh * 1.6)
        legend.item_w = [sw + self.gap + self.measure(e[0], font)[0] for e in legend.entries]
        spacing = round(lh * 1.0)
        if legend.position in ("top", "bottom"):
            rows: list[list[int]] = [[]]
            width = 0.0
            for i, w in enumerate(legend.item_w):
                extra = w + (spacing if rows[-1] else 0)
                if rows[-1] and width + extra > max_w:
                    rows.append([i])
                    width = w
                else:
                    rows[-1].append(i)
                    width += extra
            if any(w > max_w for w in legend.item_w):
                raise LabelsDoNotFit("a legend entry is wider than the chart")
            legend.rows = rows
            legend.width = max(sum(legend.item_w[i] for i in r) + spacing * (len(r) - 1)
                               for r in rows)
            legend.height = len(rows) * lh + (len(rows) - 1) * round(lh * 0.35)
        else:
            legend.rows = [[i] for i in range(len(legend.entries))]
            legend.width = max(legend.item_w)
            legend.height = len(legend.entries) * lh + (len(legend.entries) - 1) * round(
                lh * 0.35)
            if legend.position == "inside":
                legend.width += 2 * self.gap
                legend.height += 2 * self.gap
        legend.swatch = sw

    def draw_legend(self, legend: Legend, x0: float, y_top: float) -> None:
        """Draw a planned legend whose box starts at (x0, y_top) going right and down."""
        font = self.legend_font
        lh = self.line_height(font)
        sw = legend.swatch
        spacing = round(lh * 1.0)
        if legend.position == "inside":
            self.canvas.add(Rectangle((x0, y_top - legend.height), legend.width, legend.height,
                                      facecolor=self.style["paper"], edgecolor=self.style[
                                          "grid_color"], linewidth=0.8, alpha=0.92))
            x0, y_top = x0 + self.gap, y_top - self.gap
        for r, row in enumerate(legend.rows):
            row_w = sum(legend.item_w[i] for i in row) + spacing * (len(row) - 1)
            x = x0 + ((legend.width - row_w) / 2 if legend.position in ("top", "bottom") else 0)
            yc = y_top - r * (lh + round(lh * 0.35)) - lh / 2
            for i in row:
                label, color, kind = legend.entries[i]
                if kind == "patch":
                    h = sw * 0.85
                    self.canvas.add(Rectangle((x, yc - h / 2), sw, h, facecolor=color,
                                              edgecolor=self._edge(color), linewidth=0.6))
                else:
                    marker = legend.marker if kind in ("line", "marker") else None
                    xs = [x, x + sw] if kind == "line" else [x + sw / 2]
                    self.canvas.add(Line2D(xs, [yc] * len(xs), color=color,
                                           linewidth=legend.line_width if kind == "line" else 0,
                                           marker=marker or ("o" if kind == "marker" else None),
                                           markersize=self.style["marker_size"] * self.k * 0.9,
                                           markeredgecolor=color))
                self.text(x + sw + self.gap, yc, label, font, ha="left", va="center")
                x += legend.item_w[i] + spacing

    def _edge(self, color: str) -> str:
        e = self.style.get("edge")
        if e == "ink":
            return self.style["ink"] if self.style["theme"] != "dark" else "#000000"
        if e == "paper":
            return self.style["paper"]
        return color


@dataclass
class Axis:
    """A numeric axis: limits, step, tick labels."""

    min: float
    max: float
    step: float
    labels: list[str]
    values: list[float]


def numeric_axis(axis: dict[str, float], affix: str | None, thousands: bool,
                 affix_on_ticks: bool) -> Axis:
    values = ticks(axis)
    sd = step_decimals(axis["step"])
    labels = [fmt_affixed(v, sd, affix if affix_on_ticks else None, thousands) for v in values]
    return Axis(axis["min"], axis["max"], axis["step"], labels, values)


@dataclass
class Plot:
    """The plot rectangle and the maps from data to pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    xnum: Axis | None = None  # numeric x axis, or None when x is categorical
    ynum: Axis | None = None
    n_cats: int = 0

    def px(self, v: float) -> float:
        a = self.xnum
        return self.x0 + (v - a.min) / (a.max - a.min) * (self.x1 - self.x0)

    def py(self, v: float) -> float:
        a = self.ynum
        return self.y0 + (v - a.min) / (a.max - a.min) * (self.y1 - self.y0)

    def slot(self, along_x: bool) -> float:
        return ((self.x1 - self.x0) if along_x else (self.y1 - self.y0)) / self.n_cats

    def cx(self, i: float) -> float:
        """Centre of category ``i`` along x (categories left to right)."""
        return self.x0 + (i + 0.5) * self.slot(True)

    def cy(self, i: float) -> float:
        """Centre of category ``i`` along y (the first at the top)."""
        return self.y1 - (i + 0.5) * self.slot(False)


@dataclass
class CatLabels:
    """How category labels are drawn: lines per label, rotation, every ``thin``-th one."""

    lines: list[list[str]]
    rotation: float = 0.0
    thin: int = 1
    extent: float = 0.0  # pixels they take away from the plot (height below, or width left)
    overhang: float = 0.0  # how far the first label reaches left of its slot


class Cartesian:
    """Lay out and draw the furniture of an x–y chart: title, legend, axes, ticks, grid."""

    def __init__(self, frame: Frame, *, title: str | None, x_label: str | None,
                 y_label: str | None, x: Axis | list[str], y: Axis | list[str],
                 legend: Legend | None, thin_ok: bool = False):
        self.f = f = frame
        S, pad, gap = f.S, f.pad, f.gap
        st = f.style
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.legend = legend
        self.legend_box: Rect | None = None
        top, bottom, left, right = S - pad, pad, pad, S - pad
        # Title.
        title_w = S - 2 * pad
        self.title_lines, self.title_font = f.fit_title(title, title_w)
        self.title_top = top
        if self.title_lines:
            top -= len(self.title_lines) * f.line_height(self.title_font) + gap * 1.5
        # Legend outside the plot.
        if legend is not None:
            if legend.position == "right":
                f.plan_legend(legend, S)
                if legend.width > 0.3 * S:
                    legend.position = "top"
            if legend.position in ("top", "bottom"):
                f.plan_legend(legend, S - 2 * pad)
            if legend.position == "inside":
                f.plan_legend(legend, S)
            if legend.position == "top":
                self.legend_at = (S / 2 - legend.width / 2, top)
                top -= legend.height + gap * 1.5
            elif legend.position == "right":
                right -= legend.width + gap * 2
                self.legend_at = (right + gap * 2, None)
        self.tick_font = f.tick_font
        lh_tick = f.line_height(f.tick_font)
        lh_label = f.line_height(f.label_font)
        if legend is not None and legend.position == "bottom":
            self.legend_at = (S / 2 - legend.width / 2, bottom + legend.height)
            bottom += legend.height + gap * 1.5
        if x_label:
            self.x_label_y = bottom
            bottom += lh_label + gap
        if y_label:
            self.y_label_x = left
            left += lh_label + gap
        top -= lh_tick / 2  # the top y tick label is centred on the plot's top edge
        self.xcat = x if isinstance(x, list) else None
        self.ycat = y if isinstance(y, list) else None
        xnum = x if isinstance(x, Axis) else None
        ynum = y if isinstance(y, Axis) else None
        # Numeric x tick labels sit low enough to clear the lowest y tick label at the corner.
        self.xtick_drop = f.tick_len + gap
        if xnum is not None and ynum is not None:
            self.xtick_drop = max(self.xtick_drop, lh_tick / 2 + 2)
        if xnum is not None:
            bottom += lh_tick + self.xtick_drop
            right = min(right, S - pad - f.measure(xnum.labels[-1], f.tick_font)[0] / 2)
            left = max(left, pad + f.measure(xnum.labels[0], f.tick_font)[0] / 2)
        if ynum is not None:
            left += max(f.measure(s, f.tick_font)[0] for s in ynum.labels) + f.tick_len + gap
        if self.xcat is not None:
            self.xlab = self._fit_x_categories(self.xcat, left, right, thin_ok)
            if ynum is not None and self.xlab.overhang > 0:
                # The first label reaches left of the plot: drop the row below the lowest
                # y tick label.
                self.xtick_drop = max(self.xtick_drop, lh_tick / 2 + 2)
            bottom += self.xlab.extent + self.xtick_drop
        if self.ycat is not None:
            self.ylab = self._fit_y_categories(self.ycat, (top - bottom) / len(self.ycat))
            left += self.ylab.extent + f.tick_len + gap
        # Numeric x tick labels: every one if they fit side by side, else every 2nd, 3rd, ...
        self.x_every = 1
        if xnum is not None and len(xnum.values) > 1:
            widest = max(f.measure(s, f.tick_font)[0] for s in xnum.labels)
            spacing = (right - left) / (len(xnum.values) - 1)
            while widest > self.x_every * spacing - gap and self.x_every < len(xnum.values):
                self.x_every += 1
        if right - left < 0.35 * S or top - bottom < 0.3 * S:
            raise LabelsDoNotFit(f"plot area too small ({right - left:.0f}x{top - bottom:.0f})")
        n = len(self.xcat or self.ycat or [])
        self.plot = Plot(left, bottom, right, top, xnum, ynum, n)
        if legend is not None and legend.position == "right":
            self.legend_at = (self.legend_at[0], (top + bottom) / 2 + legend.height / 2)
        self.panel = st["panel"]

    # --- category labels -----------------------------------------------------------------------

    def _fit_x_categories(self, cats: list[str], left: float, right: float, thin_ok: bool
                          ) -> CatLabels:
        f = self.f
        font = f.tick_font
        lh = f.line_height(font) + 1
        slot = (right - left) / len(cats)
        room = slot - f.gap
        widths = [f.measure(c, font)[0] for c in cats]
        if max(widths) <= room:
            return CatLabels([[c] for c in cats], extent=lh)
        wrapped = [f.wrap(c, font, room, 3) for c in cats]
        if all(w is not None for w in wrapped):
            return CatLabels(wrapped, extent=lh * max(len(w) for w in wrapped))
        if thin_ok:
            for k in (2, 3, 4):
                shown = range(0, len(cats), k)
                inside = all(left + (i + 0.5) * slot - widths[i] / 2 >= f.pad
                             and left + (i + 0.5) * slot + widths[i] / 2 <= f.S - f.pad
                             for i in shown)
                if max(widths) <= slot * k - f.gap and len(cats) > k and inside:
                    return CatLabels([[c] for c in cats], thin=k, extent=lh,
                                     overhang=widths[0] / 2 - slot / 2)
        if slot >= lh + 2 and max(widths) <= 0.3 * f.S:
            return CatLabels([[c] for c in cats], rotation=90.0, extent=max(widths))
        raise LabelsDoNotFit(f"category labels do not fit a {slot:.0f}px slot")

    def _fit_y_categories(self, cats: list[str], slot: float) -> CatLabels:
        f = self.f
        font = f.tick_font
        lh = f.line_height(font) + 1
        max_w = 0.3 * f.S
        out = []
        for c in cats:
            lines = f.wrap(c, font, max_w, 2)
            if lines is None:
                raise LabelsDoNotFit(f"category label {c!r} is too long")
            out.append(lines)
        if max(len(x) for x in out) * lh > slot - 2:
            out = [[c] for c in cats]
            if lh > slot - 2 or max(f.measure(c, font)[0] for c in cats) > max_w:
                raise LabelsDoNotFit(f"category labels do not fit a {slot:.0f}px slot")
        extent = max(f.measure(s, font)[0] for lines in out for s in lines)
        return CatLabels(out, extent=extent)

    # --- drawing -------------------------------------------------------------------------------

    def draw_background(self) -> None:
        p, st, c = self.plot, self.f.style, self.f.canvas
        if self.panel != st["paper"]:
            c.add(Rectangle((p.x0, p.y0), p.x1 - p.x0, p.y1 - p.y0, facecolor=self.panel,
                            edgecolor="none", linewidth=0))
        if not st["grid"]:
            return
        segs = []
        if p.ynum is not None:
            segs += [[(p.x0, p.py(v)), (p.x1, p.py(v))] for v in p.ynum.values]
        if p.xnum is not None and (p.ynum is None or st.get("grid_x")):
            segs += [[(p.px(v), p.y0), (p.px(v), p.y1)] for v in p.xnum.values]
        if segs:
            c.add(LineCollection(segs, colors=st["grid_color"],
                                 linewidths=st["grid_width"] * self.f.k,
                                 linestyles=DASHES[st["grid_dash"]]))

    def draw_axes(self, zero_line: bool = True) -> None:
        """Spines, zero line, ticks, tick labels, axis labels, title and legend."""
        f, p, st = self.f, self.plot, self.f.style
        c = f.canvas
        ac = st["axis_color"]
        lw = max(0.6, 1.0 * f.k)
        spines = st["spines"]
        segs = []
        if spines in ("box", "open"):
            segs += [[(p.x0, p.y0), (p.x1, p.y0)], [(p.x0, p.y0), (p.x0, p.y1)]]
        if spines == "box":
            segs += [[(p.x1, p.y0), (p.x1, p.y1)], [(p.x0, p.y1), (p.x1, p.y1)]]
        if spines == "bottom":
            segs += [[(p.x0, p.y0), (p.x1, p.y0)]] if p.ynum is None or p.ynum.min >= 0 else []
        # The zero line of a value axis that crosses zero.
        if zero_line and p.ynum is not None and p.ynum.min < 0 < p.ynum.max and p.xnum is None:
            segs.append([(p.x0, p.py(0)), (p.x1, p.py(0))])
        if zero_line and p.xnum is not None and p.xnum.min < 0 < p.xnum.max and p.ynum is None:
            segs.append([(p.px(0), p.y0), (p.px(0), p.y1)])
        tl = f.tick_len
        tsign = -1 if st["ticks"] == "out" else 1
        font = f.tick_font
        if p.ynum is not None:
            for v, s in zip(p.ynum.values, p.ynum.labels, strict=True):
                y = p.py(v)
                if tl:
                    segs.append([(p.x0, y), (p.x0 + tsign * tl, y)])
                f.text(p.x0 - max(tl, 0) - f.gap, y, s, font, ha="right", va="center")
        if p.xnum is not None:
            for k, (v, s) in enumerate(zip(p.xnum.values, p.xnum.labels, strict=True)):
                x = p.px(v)
                if tl:
                    segs.append([(x, p.y0), (x, p.y0 + tsign * tl)])
                if k % self.x_every == 0:
                    f.text(x, p.y0 - self.xtick_drop, s, font, ha="center", va="top")
        if self.xcat is not None:
            lab = self.xlab
            for i, _ in enumerate(self.xcat):
                x = p.cx(i)
                if tl:
                    segs.append([(x, p.y0), (x, p.y0 + tsign * tl)])
                if i % lab.thin:
                    continue
                if lab.rotation:
                    f.text(x, p.y0 - self.xtick_drop, lab.lines[i][0], font, ha="right",
                           va="center", rotation=90.0)
                else:
                    f.lines(x, p.y0 - self.xtick_drop, lab.lines[i], font)
        if self.ycat is not None:
            lab = self.ylab
            lh = f.line_height(font)
            for i, _ in enumerate(self.ycat):
                y = p.cy(i)
                if tl:
                    segs.append([(p.x0, y), (p.x0 + tsign * tl, y)])
                lines = lab.lines[i]
                f.lines(p.x0 - tl - f.gap, y + len(lines) * lh / 2, lines, font, ha="right")
        if segs:
            c.add(LineCollection(segs, colors=ac, linewidths=lw, capstyle="projecting"))
        # Axis labels.
        lf = f.label_font
        if self.x_label:
            f.text((p.x0 + p.x1) / 2, self.x_label_y, self.x_label, lf, va="bottom")
        if self.y_label:
            w, _ = f.measure(self.y_label, lf)
            if w > p.y1 - p.y0 + f.pad:
                raise LabelsDoNotFit(f"axis label {self.y_label!r} is longer than the axis")
            # Turned 90° about its anchor: "top" of the text faces left, so the label spans
            # [y_label_x, y_label_x + line height] and is centred on the axis.
            f.text(self.y_label_x, (p.y0 + p.y1) / 2, self.y_label, lf, ha="center", va="top",
                   rotation=90.0)
        # Title.
        if self.title_lines:
            align = st["title_align"]
            if align == "left":
                f.lines(f.pad, self.title_top, self.title_lines, self.title_font, ha="left")
            else:
                f.lines(f.S / 2, self.title_top, self.title_lines, self.title_font)
        if self.legend is not None:
            self._place_legend()

    def inside_spot(self, obstacles: Sequence[Rect]) -> float | None:
        """Left x of a free top corner of the plot for an inside legend, or None."""
        f, p, lg = self.f, self.plot, self.legend
        for x in (p.x1 - lg.width - f.gap, p.x0 + f.gap):
            box = (x, p.y1 - f.gap - lg.height, x + lg.width, p.y1 - f.gap)
            if not any(rects_overlap(box, o, 2) for o in obstacles):
                return x
        return None

    def settle_legend(self, obstacles: Sequence[Rect]) -> bool:
        """For an inside legend, pick a free corner (``legend_box``); False if there is none."""
        if self.legend is None or self.legend.position != "inside":
            return True
        x = self.inside_spot(obstacles)
        if x is None:
            return False
        f, p, lg = self.f, self.plot, self.legend
        self.legend_box = (x, p.y1 - f.gap - lg.height, x + lg.width, p.y1 - f.gap)
        return True

    def _place_legend(self) -> None:
        f, lg = self.f, self.legend
        if lg.position == "inside":
            if self.legend_box is None:
                raise LabelsDoNotFit("the inside legend was not given a free corner")
            f.draw_legend(lg, self.legend_box[0], self.legend_box[3])
            return
        f.draw_legend(lg, *self.legend_at)


def polyline_obstacles(xs: Sequence[float], ys: Sequence[float], pad: float) -> list[Rect]:
    """Small boxes along a polyline, for testing a legend box against the drawn lines."""
    out: list[Rect] = []
    for (xa, ya), (xb, yb) in pairwise(zip(xs, ys, strict=True)):
        n = max(1, int(math.hypot(xb - xa, yb - ya) / 6))
        for t in np.linspace(0, 1, n + 1):
            x, y = xa + (xb - xa) * t, ya + (yb - ya) * t
            out.append((x - pad, y - pad, x + pad, y + pad))
    if len(xs) == 1:
        out.append((xs[0] - pad, ys[0] - pad, xs[0] + pad, ys[0] + pad))
    return out


def check_labels(boxes: Sequence[TextBox], size: int) -> None:
    """Every label inside the image and no two overlapping; else :class:`LabelsDoNotFit`."""
    for b in boxes:
        if not b.inside(size, size):
            raise LabelsDoNotFit(f"label {b.text!r} is clipped at {b}")
    order = sorted(boxes, key=lambda b: b.x0)
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if b.x0 >= a.x1:
                break
            if a.overlaps(b):
                raise LabelsDoNotFit(f"labels {a.text!r} and {b.text!r} overlap")


def rect_point_distance(box: Rect, x: float, y: float) -> float:
    """Distance from a point to the nearest point of a box (0 inside)."""
    dx = max(box[0] - x, 0.0, x - box[2])
    dy = max(box[1] - y, 0.0, y - box[3])
    return math.hypot(dx, dy)


def nearest_is_own(box: Rect, own: tuple[float, float], others: Sequence[tuple[float, float]],
                   margin: float = 3.0) -> bool:
    """Whether a label box is clearly nearer its own point than any other point, so a reader
    ties it to the right one."""
    d0 = rect_point_distance(box, *own)
    return all(rect_point_distance(box, x, y) >= d0 + margin for x, y in others)


def data_rect_clear(frame: Frame, box: Rect, ignore: int | None = None) -> bool:
    """Whether a label box in the plot overlaps no drawn data (except obstacle ``ignore``)."""
    return not any(i != ignore and rects_overlap(box, o, 1) for i, o in enumerate(frame.obstacles))


def text_rect(x: float, y: float, w: float, h: float, ha: str, va: str) -> Rect:
    """The pixel box (y up) of a ``w``×``h`` label anchored at (x, y)."""
    x0 = x - {"left": 0, "center": w / 2, "right": w}[ha]
    y0 = y - {"bottom": 0, "center": h / 2, "top": h}[va]
    return (x0, y0, x0 + w, y0 + h)
