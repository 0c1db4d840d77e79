"""Box plots: per group, a box from the lower to the upper quartile with the median, and
whiskers to the minimum and maximum (no outliers are drawn: the whiskers are the extremes)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection

from renderers import register
from renderers.charts.ask import Ctx, _threshold, a_, ask
from renderers.charts.ask_common import possessive
from renderers.charts.base import ChartRenderer, pick_readout, sample_count
from renderers.charts.data import (
    DIMS,
    ImpossibleScene,
    dim_names,
    dim_record,
    dim_size,
    fmt_affixed,
    nice_axis,
    plain,
    snap,
    step_decimals,
    table_parts,
    tolerance,
)
from renderers.charts.layout import Cartesian, Frame, numeric_axis
from renderers.charts.style import sample_chart_style
from renderers.qa import pick
from renderers.solution import number, step

STATS = ("Minimum", "Lower quartile", "Median", "Upper quartile", "Maximum")
STAT_WORDS = {"Minimum": "minimum", "Lower quartile": "lower quartile", "Median": "median",
              "Upper quartile": "upper quartile", "Maximum": "maximum"}

# (variable, phrase, unit, affix, typical low, typical high, decimals, group dims)
VARIABLES = (
    ("Annual salary", "annual salary", "thousand USD", "$", 25, 180, 0,
     ("departments", "companies", "cities")),
    ("Exam score", "exam score", "points", None, 20, 100, 0, ("subjects", "regions")),
    ("Commute time", "commute time", "minutes", None, 5, 90, 0, ("cities", "transport")),
    ("Daily high temperature", "daily high temperature", "°C", "°C", -5, 38, 1, ("cities",)),
    ("Delivery time", "delivery time", "days", None, 1, 14, 1, ("companies", "regions",
                                                                 "channels")),
    ("Price", "price", "USD", "$", 2, 90, 2, ("products", "fruits")),
    ("Customer rating", "customer rating", "out of 10", None, 2, 10, 1, ("products",
                                                                         "companies")),
    ("Session length", "session length", "minutes", None, 2, 60, 1, ("channels", "age_groups")),
)


def sample_box_scene(rng: np.random.Generator, family: str) -> dict[str, Any]:
    name, phrase, unit, affix, lo, hi, dec, dims = VARIABLES[int(rng.integers(len(VARIABLES)))]
    dim = DIMS[pick(rng, dims)]
    n = sample_count(rng, 3, min(6, dim_size(dim)))
    groups = dim_names(rng, dim, n)
    mode = pick_readout(rng, {"grid": 0.35, "estimate": 0.65})
    style = sample_chart_style(rng, n_colors=n, grid=True if mode == "grid" else None)
    style["data_labels"] = False
    style["vary_colors"] = bool(rng.random() < 0.4)
    span = hi - lo
    target = int(rng.integers(10, 15)) if mode == "grid" else int(rng.integers(6, 10))
    axis = nice_axis(lo, hi, target, zero=lo >= 0 and rng.random() < 0.3)
    step = axis["step"]
    rows = []
    for _ in range(n):
        if mode == "grid":
            k0, k1 = round(axis["min"] / step), round(axis["max"] / step)
            if k1 - k0 < 6:
                raise ImpossibleScene("too few gridlines for five distinct statistics")
            # A median, quartiles a few steps from it, whiskers a few steps further out.
            med = int(rng.integers(k0 + 2, k1 - 1))
            a = int(rng.integers(1, min(3, med - k0 - 1) + 1))
            c = int(rng.integers(1, min(3, k1 - med - 1) + 1))
            q1, q3 = med - a, med + c
            mn = q1 - int(rng.integers(1, min(4, q1 - k0) + 1))
            mx = q3 + int(rng.integers(1, min(4, k1 - q3) + 1))
            ks = [mn, q1, med, q3, mx]
            stats = [snap(k * step, step) for k in ks]
        else:
            for _attempt in range(20):
                med = float(rng.uniform(lo + 0.3 * span, hi - 0.3 * span))
                s = float(rng.uniform(0.05, 0.18)) * span
                q1 = med - s * rng.uniform(0.5, 1.2)
                q3 = med + s * rng.uniform(0.5, 1.2)
                mn = q1 - s * rng.uniform(0.6, 2.0)
                mx = q3 + s * rng.uniform(0.6, 2.0)
                stats = [plain(min(max(v, axis["min"]), axis["max"]), dec)
                         for v in (mn, q1, med, q3, mx)]
                # Each part of the box visible: at least 3% of the axis apart.
                gaps = [b - a for a, b in pairwise(stats)]
                if min(gaps) >= 0.03 * (axis["max"] - axis["min"]):
                    break
            else:
                raise ImpossibleScene("a box too flat to read")
        rows.append([groups[len(rows)], *stats])
    decimals = step_decimals(step) if mode == "grid" else dec
    unit_text = f" ({unit})"
    horizontal = bool(rng.random() < 0.3)
    return {
        "family": family,
        "title": None if rng.random() < 0.1 else pick(rng, [
            f"{name} by {dim.name.lower()}", f"Distribution of {phrase} by {dim.name.lower()}",
            f"{name}{unit_text} across {n} {dim.plural}"]),
        "measure": {"name": name, "phrase": phrase, "unit": unit, "affix": affix,
                    "additive": False, "signed": lo < 0},
        "dim": dim_record(dim),
        "series_dim": None,
        "table": {"columns": [dim.name, *STATS], "rows": rows},
        "decimals": decimals,
        "axis": axis,
        "readout": {"mode": mode,
                    "tolerance": tolerance(axis, style["grid"]) if mode == "estimate" else 0},
        "orientation": "horizontal" if horizontal else "vertical",
        "value_label": f"{name}{unit_text}",
        "category_label": dim.name if rng.random() < 0.5 else None,
        "style": style,
    }


def draw_box(scene: dict[str, Any], canvas) -> None:
    st = scene["style"]
    f = Frame(canvas, st)
    groups, _, vals = table_parts(scene["table"])
    m = scene["measure"]
    vertical = scene["orientation"] == "vertical"
    axis = numeric_axis(scene["axis"], m["affix"], st["thousands"], st["affix_ticks"])
    cart = Cartesian(f, title=scene["title"],
                     x_label=scene["category_label"] if vertical else scene["value_label"],
                     y_label=scene["value_label"] if vertical else scene["category_label"],
                     x=groups if vertical else axis, y=axis if vertical else groups,
                     legend=None)
    p = cart.plot
    cart.draw_background()
    slot = p.slot(vertical)
    half = slot * st["bar_width"] * 0.35
    vmap = p.py if vertical else p.px
    boxes, lines, medians, colors = [], [], [], []
    for i, (mn, q1, med, q3, mx) in enumerate(vals):
        c = p.cx(i) if vertical else p.cy(i)
        a, b = vmap(q1), vmap(q3)
        pts = [(c - half, a), (c + half, a), (c + half, b), (c - half, b)]
        seg = [[(c, vmap(mn)), (c, a)], [(c, b), (c, vmap(mx))],
               [(c - half / 2, vmap(mn)), (c + half / 2, vmap(mn))],
               [(c - half / 2, vmap(mx)), (c + half / 2, vmap(mx))]]
        mline = [(c - half, vmap(med)), (c + half, vmap(med))]
        if not vertical:
            pts = [(y, x) for x, y in pts]
            seg = [[(y, x) for x, y in s] for s in seg]
            mline = [(y, x) for x, y in mline]
        boxes.append(pts)
        lines += seg
        medians.append(mline)
        colors.append(st["colors"][i] if st.get("vary_colors") else st["colors"][0])
    ink = st["ink"]
    lw = max(1.0, 1.2 * f.k)
    canvas.add(LineCollection(lines, colors=ink, linewidths=lw))
    drawn = canvas.add(PolyCollection(boxes, facecolors=colors, edgecolors=ink, linewidths=lw))
    for k, group in enumerate(groups):
        canvas.tag_shape(drawn, f"the box of {group}", path=k, answer=group, noun="box")
    canvas.add(LineCollection(medians, colors=ink if st["theme"] != "dark" else "#ffffff",
                              linewidths=lw * 2))
    cart.draw_axes()


# --- questions ---------------------------------------------------------------------------------

def _stat_col(c: Ctx, stat: str) -> int:
    return c.series.index(stat)


def b_value(c: Ctx, rng):
    i = int(rng.integers(c.n))
    stat = pick(rng, ("Median", "Median", "Minimum", "Maximum", "Lower quartile",
                      "Upper quartile"))
    j = _stat_col(c, stat)
    g = c.cats[i]
    q = pick(rng, [f"What is the {STAT_WORDS[stat]} {c.m['phrase']} for {g}?",
                   f"According to the box plot, what is the {STAT_WORDS[stat]} of the "
                   f"{c.m['phrase']} for {g}?"])
    return c.num(q, c.vals[i][j], "value_retrieval",
                 {"op": "value", "category": g, "series": stat}, reads=1,
                 steps=[c.read_step(i, j, f"the {STAT_WORDS[stat]} for {g}")])


def b_extreme(c: Ctx, rng):
    j = _stat_col(c, "Median")
    col = c.col(j)
    highest = bool(rng.random() < 0.6)
    order = sorted(range(c.n), key=lambda i: col[i], reverse=highest)
    if not c.apart(col[order[0]], col[order[1]]):
        return None
    q = f"Which {c.dim_one()} has the {'highest' if highest else 'lowest'} median {c.m['phrase']}?"
    steps = [c.extreme_step(col, c.cats, order[0], highest, f"median {c.m['phrase']}")]
    return c.txt(q, c.cats[order[0]], "extremum",
                 {"op": "argmax" if highest else "argmin", "series": "Median"}, steps=steps)


def b_compare(c: Ctx, rng):
    j = _stat_col(c, "Median")
    col = c.col(j)
    pairs = [(a, b) for a in range(c.n) for b in range(c.n)
             if a != b and c.apart(col[a], col[b])]
    if not pairs:
        return None
    a, b = pairs[int(rng.integers(len(pairs)))]
    yes = col[a] > col[b]
    q = f"Is the median {c.m['phrase']} for {c.cats[a]} higher than for {c.cats[b]}?"
    said = (f"The median for {c.cats[a]} is {c.read(col[a])} and for {c.cats[b]} "
            f"{c.read(col[b])}")
    steps = [c.compare_step(col[a], col[b], said, "it is higher" if yes else "it is lower")]
    return c.txt(q, "Yes" if yes else "No", "comparison",
                 {"op": "is_greater", "a": c.cats[a], "b": c.cats[b], "series": "Median"},
                 steps=steps)


def b_spread(c: Ctx, rng):
    i = int(rng.integers(c.n))
    row = c.vals[i]
    iqr = bool(rng.random() < 0.6)
    g = c.cats[i]
    top, bottom = ("Upper quartile", "Lower quartile") if iqr else ("Maximum", "Minimum")
    # the classic confusion: the whiskers' span taken for the box's, or the other way round
    wrong_top, wrong_bottom = ("Maximum", "Minimum") if iqr else ("Upper quartile",
                                                                   "Lower quartile")
    hi, lo = row[_stat_col(c, top)], row[_stat_col(c, bottom)]
    wrong_hi, wrong_lo = row[_stat_col(c, wrong_top)], row[_stat_col(c, wrong_bottom)]
    value = hi - lo
    if iqr:
        q = f"What is the interquartile range of the {c.m['phrase']} for {g}?"
    else:
        q = (f"What is the range (maximum minus minimum) of the {c.m['phrase']} for {g}?")
    pp = c.affix == "%"
    unit = None if pp else True
    name = "interquartile range" if iqr else "range"

    def spread(top, bottom, hi, lo):
        return step(f"For {g}, the {top.lower()} is {c.read(hi)} and the {bottom.lower()} is "
                    f"{c.read(lo)}, so the {name} is {c.term(hi)} − {c.term(lo)} "
                    f"{c.equals(hi - lo, unit=unit, pp=pp)}.", f"{number(hi)} - {number(lo)}",
                    hi - lo)

    steps = [spread(top, bottom, hi, lo)]
    mistakes = [("range_for_iqr" if iqr else "iqr_for_range",
                 [spread(wrong_top, wrong_bottom, wrong_hi, wrong_lo)])]
    return c.num(q, value, "arithmetic", {"op": "iqr" if iqr else "range_of", "category": g},
                 reads=2, unit=unit, steps=steps, mistakes=mistakes)


def b_widest(c: Ctx, rng):
    lo, hi = _stat_col(c, "Lower quartile"), _stat_col(c, "Upper quartile")
    iqrs = [row[hi] - row[lo] for row in c.vals]
    order = sorted(range(c.n), key=lambda i: iqrs[i], reverse=True)
    if not c.apart(iqrs[order[0]], iqrs[order[1]], combined=2):
        return None
    q = pick(rng, [f"Which {c.dim_one()} has the largest interquartile range?",
                   f"Which {c.dim_one()} has the tallest box?" if c.scene["orientation"] ==
                   "vertical" else f"Which {c.dim_one()} has the widest box?"])
    # each box's height (upper quartile minus lower), then the largest of them
    steps = [step(f"For {g}, the box runs from {c.read(row[lo])} to {c.read(row[hi])}: "
                  f"{c.term(row[hi])} − {c.term(row[lo])} {c.equals(row[hi] - row[lo])}.",
                  f"{number(row[hi])} - {number(row[lo])}", row[hi] - row[lo])
             for g, row in zip(c.cats, c.vals, strict=True)]
    top, second = order[0], order[1]
    steps.append(step(f"The widest box is {possessive(c.cats[top])} "
                      f"({c.term(iqrs[top], True)}); the next is "
                      f"{possessive(c.cats[second])} ({c.term(iqrs[second], True)}).",
                      number(iqrs[top]), iqrs[top]))
    return c.txt(q, c.cats[order[0]], "extremum", {"op": "argmax_iqr"}, steps=steps)


def b_count(c: Ctx, rng):
    j = _stat_col(c, "Median")
    found = _threshold(c, rng, c.col(j))
    if found is None:
        return None
    t, td = found
    count = sum(1 for v in c.col(j) if v > t)
    q = (f"How many {c.dims()} have {a_('median ' + c.m['phrase'])} above "
         f"{fmt_affixed(t, td, c.affix)}?")
    steps = [c.count_step(c.col(j), c.cats, t, True, fmt_affixed(t, td, c.affix))]
    return c.num(q, count, "counting", {"op": "count_above", "threshold": t, "series": "Median"},
                 reads=None, decimals=0, unit=None, steps=steps)


BOX_GENERATORS = {"b_value": b_value, "b_extreme": b_extreme, "b_compare": b_compare,
                  "b_spread": b_spread, "b_widest": b_widest, "b_count": b_count}


@register("chart", "box")
class BoxPlot(ChartRenderer):
    kind_text = "box plot"
    menu: ClassVar[dict[str, float]] = {
        "b_value": 3, "b_extreme": 2, "b_compare": 1.5, "b_spread": 2, "b_widest": 1.2,
        "b_count": 1}
    table_probability = 0.2

    def sample_scene(self, rng):
        return sample_box_scene(rng, self.name)

    def draw(self, scene, canvas):
        draw_box(scene, canvas)

    def questions(self, scene, rng):
        return ask(Ctx(scene), rng, self.menu, BOX_GENERATORS, self.table_probability)

    def caption(self, scene):
        groups = [r[0] for r in scene["table"]["rows"]]
        title = f" titled \"{scene['title']}\"" if scene.get("title") else ""
        return (f"a box plot{title} of {scene['measure']['phrase']} for {len(groups)} "
                f"{scene['dim']['plural']} ({', '.join(groups)}), whiskers at the minimum and "
                "maximum")
