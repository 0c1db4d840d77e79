"""Scatter plots of named points (two measures of the same entities), with point labels.

Values are read off two axes: with ``grid`` both coordinates lie on gridlines (both grids drawn),
with ``estimate`` each axis has its own tolerance. Questions ask for coordinates, extremes on
either axis, comparisons, counts against a threshold, and the sign of the correlation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from renderers import register
from renderers.charts.ask import GAP_FRACTION, a_, markdown_table
from renderers.charts.ask_common import possessive
from renderers.charts.base import ChartRenderer, pick_readout, sample_count
from renderers.charts.data import (
    DIMS,
    MEASURES,
    ImpossibleScene,
    cover,
    dim_names,
    dim_record,
    dim_size,
    fmt_affixed,
    is_count,
    measure_record,
    nice_axis,
    quantize,
    round_decimals,
    step_decimals,
    ticks,
    tolerance,
    value_label,
)
from renderers.charts.layout import (
    Cartesian,
    Frame,
    LabelsDoNotFit,
    nearest_is_own,
    numeric_axis,
    rects_overlap,
    text_rect,
)
from renderers.charts.style import sample_chart_style
from renderers.qa import numeric_qa, pick, spoken_list, text_qa
from renderers.solution import Step, number, step, tally

ENTITY_DIMS = ("countries", "cities", "companies", "products")
EPS = 1e-9


def sample_scatter_scene(rng: np.random.Generator, family: str) -> dict[str, Any]:
    dim = DIMS[pick(rng, ENTITY_DIMS)]
    ms = [m for m in MEASURES if dim.key in m.dims]
    if len(ms) < 2:
        raise ImpossibleScene(f"fewer than two measures of {dim.plural}")
    mx, my = (ms[int(i)] for i in rng.choice(len(ms), size=2, replace=False))
    n = sample_count(rng, 5, min(8, dim_size(dim)))
    names = dim_names(rng, dim, n)
    mode = pick_readout(rng, {"grid": 0.4, "estimate": 0.6})
    style = sample_chart_style(rng, n_colors=1, grid=True if mode == "grid" else None)
    style["grid_x"] = style["grid"]
    style["data_labels"] = False
    if style["marker"] is None:
        style["marker"] = "o"
    corr = float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.0, 0.95))
    for _attempt in range(20):
        u = rng.uniform(0, 1, size=n)
        w = corr * (u - 0.5) + math.sqrt(max(0.0, 1 - corr**2)) * rng.normal(0, 0.29, size=n)
        cols, axes, decs = [], [], []
        for m, t in ((mx, u), (my, w)):
            center = float(math.exp(rng.uniform(math.log(m.lo), math.log(m.hi))))
            t = (t - t.min()) / (t.max() - t.min() + 1e-12)
            raw = center * (0.15 + 0.85 * t)
            if m.signed and rng.random() < 0.4:
                raw = raw - center * rng.uniform(0.1, 0.4)
            target = int(rng.integers(5, 8) if mode == "grid" else rng.integers(4, 7))
            axis = nice_axis(float(raw.min()), float(raw.max()), target,
                             zero=bool(rng.random() < 0.3), whole=is_count(m))
            d = step_decimals(axis["step"]) if mode == "grid" else round_decimals(rng, m, center)
            vals = quantize(raw, mode, axis["step"], d, nonzero=False)
            span = raw.max() - raw.min()
            lo = min(vals) - 0.04 * span
            if min(vals) >= 0:  # no negative ticks for a measure that is not negative
                lo = max(lo, 0.0)
            axis = cover(axis, lo, max(vals) + 0.04 * span)
            cols.append(vals)
            axes.append(axis)
            decs.append(d)
        # Points far enough apart to be told apart (in fractions of each axis).
        fx = [(v - axes[0]["min"]) / (axes[0]["max"] - axes[0]["min"]) for v in cols[0]]
        fy = [(v - axes[1]["min"]) / (axes[1]["max"] - axes[1]["min"]) for v in cols[1]]
        if all(abs(fx[a] - fx[b]) + abs(fy[a] - fy[b]) >= 0.1
               for a in range(n) for b in range(a + 1, n)):
            break
    else:
        raise ImpossibleScene("the points crowd together")
    tols = [tolerance(a, style["grid"]) if mode == "estimate" else 0 for a in axes]
    return {
        "family": family,
        "title": _title(rng, mx, my, dim),
        "dim": dim_record(dim),
        "x_measure": measure_record(mx),
        "y_measure": measure_record(my),
        "table": {"columns": [dim.name, value_label(measure_record(mx)),
                              value_label(measure_record(my))],
                  "rows": [[names[i], cols[0][i], cols[1][i]] for i in range(n)]},
        "decimals": decs,  # x, y
        "x_axis": axes[0],
        "y_axis": axes[1],
        "readout": {"mode": mode, "tolerance": tols},
        "style": style,
    }


def _title(rng, mx, my, dim) -> str | None:
    if rng.random() < 0.1:
        return None
    t = pick(rng, [f"{my.name} vs. {mx.phrase}", f"{my.name} and {mx.phrase} by {dim.name.lower()}",
                   f"{mx.name} against {my.phrase}, {rng.integers(2012, 2025)}"])
    return t[0].upper() + t[1:]


def draw_scatter(scene: dict[str, Any], canvas) -> None:
    st = scene["style"]
    f = Frame(canvas, st)
    rows = scene["table"]["rows"]
    mx, my = scene["x_measure"], scene["y_measure"]
    ax = numeric_axis(scene["x_axis"], mx["affix"], st["thousands"], st["affix_ticks"])
    ay = numeric_axis(scene["y_axis"], my["affix"], st["thousands"], st["affix_ticks"])
    cart = Cartesian(f, title=scene["title"], x_label=value_label(mx), y_label=value_label(my),
                     x=ax, y=ay, legend=None)
    p = cart.plot
    cart.draw_background()
    xs = [p.px(r[1]) for r in rows]
    ys = [p.py(r[2]) for r in rows]
    ms = st["marker_size"] * f.k * 1.2
    color = st["colors"][0]
    canvas.add(Line2D(xs, ys, linestyle="none", marker=st["marker"], markersize=ms,
                      color=color, markeredgecolor=st["ink"] if st["edge"] else color,
                      markeredgewidth=0.6 * f.k))
    marks = [(x - ms / 2 - 1, y - ms / 2 - 1, x + ms / 2 + 1, y + ms / 2 + 1)
             for x, y in zip(xs, ys, strict=True)]
    placed: list = []
    g = ms / 2 + max(2.0, 3 * f.k)
    near = (("left", "center", g, 0), ("right", "center", -g, 0), ("center", "bottom", 0, g),
            ("center", "top", 0, -g), ("left", "bottom", g * 0.7, g * 0.7),
            ("right", "bottom", -g * 0.7, g * 0.7), ("left", "top", g * 0.7, -g * 0.7),
            ("right", "top", -g * 0.7, -g * 0.7))
    # Then the same spots a little further out, if every close one is taken.
    spots = near + tuple((ha, va, dx * 1.8, dy * 1.8) for ha, va, dx, dy in near)
    fonts = (f.data_font, f.data_font.smaller(1.5))
    points = list(zip(xs, ys, strict=True))
    for k, ((name, *_), x, y) in enumerate(zip(rows, xs, ys, strict=True)):
        others = points[:k] + points[k + 1:]
        done = False
        for font in fonts:
            w, h = f.measure(name, font)
            for ha, va, dx, dy in spots:
                box = text_rect(x + dx, y + dy, w, h, ha, va)
                if not (box[0] >= p.x0 and box[2] <= p.x1 and box[1] >= p.y0
                        and box[3] <= p.y1):
                    continue
                if any(rects_overlap(box, o, 1) for o in placed + marks):
                    continue
                if not nearest_is_own(box, (x, y), others):
                    continue
                f.text(x + dx, y + dy, name, font, ha=ha, va=va)
                placed.append(box)
                done = True
                break
            if done:
                break
        else:
            raise LabelsDoNotFit(f"point label {name!r} has no free spot")
    cart.draw_axes(zero_line=False)


# --- questions ---------------------------------------------------------------------------------

class _Axes:
    """Per-axis readability of a scatter scene."""

    def __init__(self, scene):
        self.scene = scene
        self.rows = scene["table"]["rows"]
        self.names = [r[0] for r in self.rows]
        self.exact = scene["readout"]["mode"] != "estimate"
        self.tol = scene["readout"]["tolerance"]
        self.axes = [scene["x_axis"], scene["y_axis"]]
        self.ms = [scene["x_measure"], scene["y_measure"]]
        self.d = scene["decimals"]

    def col(self, k: int) -> list[float]:
        return [r[1 + k] for r in self.rows]

    def gap(self, k: int, combined: int = 1) -> float:
        if self.exact:
            return 10.0 ** -self.d[k] / 2
        span = self.axes[k]["max"] - self.axes[k]["min"]
        return combined * max(self.tol[k], GAP_FRACTION * span)

    def num(self, q, value, type, args, k, reads, decimals=None, unit=True, steps=None):
        unit = self.ms[k]["affix"] if unit is True else unit
        tol = None if (self.exact or reads is None) else round(self.tol[k] * reads, 6)
        if tol is not None and tol > 0.5 * abs(value):
            return None  # an estimate that loose says nothing about this answer
        item = numeric_qa(q, value, type=type, unit=unit,
                          decimals=self.d[k] if decimals is None else decimals, tolerance=tol,
                          steps=steps)
        item["args"] = args
        return item

    # --- worked solutions: the coordinates read, then the arithmetic ---------------------------

    def text(self, k: int, v: float, computed: bool = False, affix: bool = True) -> str:
        """A coordinate on axis ``k`` as the plot prints it ("42", "$12.5"); ``computed``: an
        earlier step's result (a whole number without decimals); ``affix``: with the axis's
        unit."""
        whole = computed and abs(v - round(v)) < EPS
        return fmt_affixed(v, 0 if whole else self.d[k], self.ms[k]["affix"] if affix else None)

    def read(self, k: int, v: float) -> str:
        return self.text(k, v) if self.exact else f"about {self.text(k, v)}"

    def term(self, k: int, v: float, computed: bool = False) -> str:
        text = self.text(k, v, computed)
        return f"({text})" if text.startswith("-") else text

    def read_step(self, k: int, i: int) -> Step:
        v = self.col(k)[i]
        return step(f"{possessive(self.names[i])} point lies at {self.read(k, v)} on the "
                    f"{'xy'[k]} axis ({_axis_word(self, k)}).", number(v), v)


def _axis_word(c: _Axes, k: int) -> str:
    return c.ms[k]["phrase"]


def sq_value(c: _Axes, rng):
    k, i = int(rng.integers(2)), int(rng.integers(len(c.rows)))
    q = pick(rng, [f"What is the {_axis_word(c, k)} of {c.names[i]}?",
                   f"According to the plot, what is {c.names[i]}'s {_axis_word(c, k)}?"])
    return c.num(q, c.col(k)[i], "value_retrieval",
                 {"op": "value", "category": c.names[i], "axis": "xy"[k]}, k, reads=1,
                 steps=[c.read_step(k, i)])


def sq_extreme(c: _Axes, rng):
    k = int(rng.integers(2))
    col = c.col(k)
    highest = bool(rng.random() < 0.6)
    order = sorted(range(len(col)), key=lambda i: col[i], reverse=highest)
    if abs(col[order[0]] - col[order[1]]) < c.gap(k) - EPS:
        return None
    word = "highest" if highest else "lowest"
    dim = c.scene["dim"]["name"].lower()
    q = pick(rng, [f"Which {dim} has the {word} {_axis_word(c, k)}?",
                   f"Which labelled point has the {word} {_axis_word(c, k)}?"])
    top, second = order[0], order[1]
    point = ("point furthest to the right" if highest else "point furthest to the left"
             ) if k == 0 else ("highest point" if highest else "lowest point")
    steps = [step(f"The {point} is {possessive(c.names[top])}, at {c.read(k, col[top])}; the "
                  f"next is {possessive(c.names[second])}, at {c.read(k, col[second])}.",
                  number(col[top]), col[top])]
    item = text_qa(q, c.names[order[0]], type="extremum", steps=steps)
    item["args"] = {"op": "argmax" if highest else "argmin", "axis": "xy"[k]}
    return item


def sq_compare(c: _Axes, rng):
    k = int(rng.integers(2))
    col = c.col(k)
    n = len(col)
    pairs = [(a, b) for a in range(n) for b in range(n)
             if a != b and abs(col[a] - col[b]) >= c.gap(k) - EPS]
    if not pairs:
        return None
    a, b = pairs[int(rng.integers(len(pairs)))]
    yes = col[a] > col[b]
    q = f"Does {c.names[a]} have a higher {_axis_word(c, k)} than {c.names[b]}?"
    d = col[a] - col[b]
    steps = [step(f"{possessive(c.names[a])} {_axis_word(c, k)} is {c.read(k, col[a])} and "
                  f"{possessive(c.names[b])} {c.read(k, col[b])}: {c.term(k, col[a])} − "
                  f"{c.term(k, col[b])} = {c.text(k, d, True)}, so it is "
                  f"{'higher' if yes else 'lower'}.", f"{number(col[a])} - {number(col[b])}", d)]
    item = text_qa(q, "Yes" if yes else "No", type="comparison", steps=steps)
    item["args"] = {"op": "is_greater", "a": c.names[a], "b": c.names[b], "axis": "xy"[k]}
    return item


def sq_difference(c: _Axes, rng):
    k = int(rng.integers(2))
    col = c.col(k)
    n = len(col)
    pairs = [(a, b) for a in range(n) for b in range(n)
             if col[a] > col[b] and col[a] - col[b] >= c.gap(k) - EPS]
    if not pairs:
        return None
    a, b = pairs[int(rng.integers(len(pairs)))]
    pp = c.ms[k]["affix"] == "%"
    q = (f"How much higher is the {_axis_word(c, k)} of {c.names[a]} than that of "
         f"{c.names[b]}{', in percentage points' if pp else ''}?")
    d = col[a] - col[b]
    said = (f"{possessive(c.names[a])} {_axis_word(c, k)} is {c.read(k, col[a])} and "
            f"{possessive(c.names[b])} {c.read(k, col[b])}")
    result = f"{c.text(k, d, True, affix=False)} percentage points" if pp else c.text(k, d, True)
    steps = [step(f"{said}: {c.term(k, col[a])} − {c.term(k, col[b])} = {result}.",
                  f"{number(col[a])} - {number(col[b])}", d)]
    return c.num(q, d, "arithmetic",
                 {"op": "difference", "a": c.names[a], "b": c.names[b], "axis": "xy"[k]}, k,
                 reads=2, unit=None if pp else True, steps=steps)


def sq_count(c: _Axes, rng):
    k = int(rng.integers(2))
    col = c.col(k)
    axis = c.axes[k]
    tick = axis["step"]
    cands = sorted({*ticks(axis), *(round(t + tick / 2, step_decimals(tick) + 1)
                                   for t in ticks(axis))})
    good = [t for t in cands if axis["min"] < t < axis["max"]
            and all(abs(v - t) >= max(c.gap(k), 10 * EPS) for v in col)
            and 0 < sum(v > t for v in col) < len(col)]
    if not good:
        return None
    t = good[int(rng.integers(len(good)))]
    above = bool(rng.random() < 0.6)
    count = sum(1 for v in col if (v > t if above else v < t))
    tt = fmt_affixed(t, step_decimals(t), c.ms[k]["affix"])
    dims = c.scene["dim"]["plural"]
    q = f"How many {dims} have {a_(_axis_word(c, k))} {'above' if above else 'below'} {tt}?"
    hits = [i for i, v in enumerate(col) if (v > t if above else v < t)]
    listed = spoken_list([f"{c.names[i]} ({c.read(k, col[i])})" for i in hits])
    side = "above" if above else "below"
    text = (f"Of the {len(col)} points, only {listed} is {side} {tt}: 1." if len(hits) == 1
            else f"Of the {len(col)} points, {listed} are {side} {tt}: {len(hits)} in all.")
    return c.num(q, count, "counting", {"op": "count_above" if above else "count_below",
                                        "threshold": t, "axis": "xy"[k]}, k, reads=None,
                 decimals=0, unit=None, steps=[step(text, tally(len(hits)), len(hits))])


def pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def sq_correlation(c: _Axes, rng):
    r = pearson(c.col(0), c.col(1))
    if abs(r) < 0.7:
        return None
    dims = c.scene["dim"]["plural"]
    wx, wy = _axis_word(c, 0), _axis_word(c, 1)
    if rng.random() < 0.5:
        q = f"Is the relationship between {wx} and {wy} positive or negative?"
        ans = "Positive" if r > 0 else "Negative"
    else:
        q = f"Do {dims} with a higher {wx} tend to have a higher or a lower {wy}?"
        ans = "Higher" if r > 0 else "Lower"
    item = text_qa(q, ans, type="trend", value="positive" if r > 0 else "negative",
                   steps=_covariance_steps(c, wx, wy, r > 0))
    item["args"] = {"op": "correlation"}
    return item


def _covariance_steps(c: _Axes, wx: str, wy: str, positive: bool) -> list[Step]:
    """The sign of the correlation worked out: both means, then the sum of the products of the
    deviations from them (its sign is the correlation's)."""
    xs, ys = c.col(0), c.col(1)
    n = len(xs)
    steps = []
    for k, (vs, word) in enumerate(((xs, wx), (ys, wy))):
        m = sum(vs) / n
        steps.append(step(f"The mean {word} is ({' + '.join(c.term(k, v) for v in vs)}) / {n} "
                          f"{_about(m)}.", f"({' + '.join(number(v) for v in vs)}) / {n}", m))
    mx, my = steps[0]["value"], steps[1]["value"]
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    expr = " + ".join(f"({number(x)} - {number(mx)}) * ({number(y)} - {number(my)})"
                      for x, y in zip(xs, ys, strict=True))
    sign, more = ("positive", "higher") if positive else ("negative", "lower")
    steps.append(step(f"Adding up (x − mean x) × (y − mean y) over the {n} points gives "
                      f"{_about(sxy)}, which is {sign}: a higher {wx} goes with a {more} {wy}.",
                      expr, sxy))
    return steps


def _about(v: float) -> str:
    """A computed value as a step writes it: "= 13" when whole, else "≈ 13.12"."""
    return f"= {round(v)}" if abs(v - round(v)) < EPS else f"≈ {v:.2f}"


def sq_count_points(c: _Axes, rng):
    q = pick(rng, ["How many points are plotted?",
                   f"How many {c.scene['dim']['plural']} are shown in the scatter plot?"])
    steps = [step(f"The labelled points: {spoken_list(c.names)}, {len(c.names)} in all.",
                  tally(len(c.names)), len(c.names))]
    return c.num(q, len(c.rows), "counting", {"op": "count_categories"}, 0, reads=None,
                 decimals=0, unit=None, steps=steps)


def sq_table(c: _Axes, rng):
    t = c.scene["table"]
    answer = markdown_table(t["columns"], t["rows"], [0, *c.d])
    q = pick(rng, ["Extract the coordinates of every labelled point as a markdown table.",
                   "Convert the scatter plot into a data table in markdown."])
    if not c.exact:
        q += (f" Values are read off the axes: x within ±{c.tol[0]:g} and y within "
              f"±{c.tol[1]:g} are accepted.")
    item = text_qa(q, answer, type="chart_to_table",
                   value={"columns": list(t["columns"]), "rows": [list(r) for r in t["rows"]]})
    item["args"] = {"op": "table"}
    if not c.exact:
        item["tolerance"] = {t["columns"][1]: c.tol[0], t["columns"][2]: c.tol[1]}
    return item


SCATTER_GENERATORS = [sq_value, sq_extreme, sq_compare, sq_difference, sq_count,
                      sq_correlation, sq_count_points]
SCATTER_WEIGHTS = [3, 2, 1.5, 1.2, 1.2, 2, 0.4]


@register("chart", "scatter")
class ScatterPlot(ChartRenderer):
    kind_text = "scatter plot"

    def sample_scene(self, rng):
        return sample_scatter_scene(rng, self.name)

    def draw(self, scene, canvas):
        draw_scatter(scene, canvas)

    def questions(self, scene, rng):
        c = _Axes(scene)
        w = np.array(SCATTER_WEIGHTS, dtype=float)
        order = rng.choice(len(w), size=len(w), replace=False, p=w / w.sum())
        want = int(rng.integers(3, 6))
        out = []
        for k in order:
            item = SCATTER_GENERATORS[int(k)](c, rng)
            if item is not None:
                out.append(item)
                if len(out) == want:
                    break
        if rng.random() < self.table_probability:
            out.insert(int(rng.integers(len(out) + 1)), sq_table(c, rng))
        return out

    def caption(self, scene):
        names = [r[0] for r in scene["table"]["rows"]]
        title = f" titled \"{scene['title']}\"" if scene.get("title") else ""
        return (f"a scatter plot{title} of {scene['y_measure']['phrase']} against "
                f"{scene['x_measure']['phrase']} for {len(names)} {scene['dim']['plural']}, "
                f"each point labelled ({', '.join(names)})")
