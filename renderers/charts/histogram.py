"""Histograms: counts of observations in equal-width bins [a, b) of a numeric variable."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from matplotlib.collections import PolyCollection

from renderers import register
from renderers.charts.ask import Ctx, _threshold, ask
from renderers.charts.bars import place_bar_labels
from renderers.charts.base import ChartRenderer, pick_readout, sample_count
from renderers.charts.data import (
    ImpossibleScene,
    cover,
    fmt_affixed,
    nice_axis,
    quantize,
    step_decimals,
    table_parts,
    tolerance,
)
from renderers.charts.layout import Axis, Cartesian, Frame, numeric_axis
from renderers.charts.style import sample_chart_style
from renderers.qa import pick
from renderers.solution import number, step

# (variable, unit, what is counted, low, high, bin widths)
VARIABLES = (
    ("Exam score", "points", "students", 0, 100, (5, 10)),
    ("Age", "years", "respondents", 0, 90, (5, 10)),
    ("Height", "cm", "people", 140, 210, (5, 10)),
    ("Delivery time", "minutes", "orders", 0, 120, (10, 15, 20)),
    ("Commute time", "minutes", "employees", 0, 90, (10, 15)),
    ("House price", "thousand USD", "homes", 100, 1000, (50, 100)),
    ("Daily high temperature", "°C", "days", -10, 40, (2, 5)),
    ("Parcel weight", "kg", "parcels", 0, 30, (2, 5)),
    ("Session length", "minutes", "users", 0, 60, (5, 10)),
    ("Annual salary", "thousand USD", "employees", 20, 200, (10, 20)),
    ("Battery life", "hours", "devices", 0, 24, (2, 4)),
)


def bin_label(a: float, b: float) -> str:
    return f"{a:g}–{b:g}"


def sample_hist_scene(rng: np.random.Generator, family: str) -> dict[str, Any]:
    name, unit, items, lo, hi, widths = VARIABLES[int(rng.integers(len(VARIABLES)))]
    w = int(pick(rng, widths))
    k = sample_count(rng, 5, min(10, (hi - lo) // w))
    first = lo + w * int(rng.integers(0, (hi - lo) // w - k + 1))
    edges = [first + i * w for i in range(k + 1)]
    total = int(rng.integers(40, 600))
    shape = pick(rng, ("normal", "skewed", "bimodal", "uniform"))
    centers = np.array([(edges[i] + edges[i + 1]) / 2 for i in range(k)], dtype=float)
    mu = float(rng.uniform(edges[0] + w, edges[-1] - w))
    sd = float(rng.uniform(0.15, 0.35)) * (edges[-1] - edges[0])
    if shape == "normal":
        dens = np.exp(-0.5 * ((centers - mu) / sd) ** 2)
    elif shape == "skewed":
        z = (centers - edges[0]) / (edges[-1] - edges[0]) * 4 + 0.3
        a = float(rng.uniform(1.5, 3.0))
        dens = z ** (a - 1) * np.exp(-z * a / 2)
        if rng.random() < 0.5:
            dens = dens[::-1]
    elif shape == "bimodal":
        mu2 = float(rng.uniform(edges[0] + w, edges[-1] - w))
        dens = (np.exp(-0.5 * ((centers - mu) / (sd / 2)) ** 2)
                + 0.7 * np.exp(-0.5 * ((centers - mu2) / (sd / 2)) ** 2))
    else:
        dens = rng.uniform(0.5, 1.0, size=k)
    dens = dens / dens.sum() * total + rng.normal(0, 0.03 * total / k, size=k)
    raw = np.maximum(dens, 0.02 * float(dens.max()))  # no bin quite empty
    mode = pick_readout(rng, {"labels": 0.45, "grid": 0.3, "estimate": 0.25})
    style = sample_chart_style(rng, n_colors=1, grid=True if mode == "grid" else None)
    style["data_labels"] = mode == "labels"
    style["bar_gap"] = pick(rng, (0.0, 0.0, 0.04, 0.1))
    target = int(rng.integers(6, 10)) if mode == "grid" else int(rng.integers(4, 7))
    axis = nice_axis(0.0, float(raw.max()), target, zero=True, mantissas=(1, 2, 5))
    step = axis["step"]
    if mode == "grid" and step < 1:
        step = axis["step"] = 1
    counts = [int(round(v)) for v in quantize(raw, mode, step, 0, nonzero=False)]
    if mode == "grid" and step_decimals(step) > 0:
        raise ImpossibleScene("count gridlines must be whole numbers")
    if max(counts) <= 0:
        raise ImpossibleScene("an empty histogram")
    axis = cover(axis, 0, max(counts), 0.12 if mode == "labels" else 0.0)
    labels = [bin_label(edges[i], edges[i + 1]) for i in range(k)]
    x_header = f"{name} ({unit})"
    return {
        "family": family,
        "title": _title(rng, name, items),
        "measure": {"name": f"Number of {items}", "phrase": f"number of {items}", "unit": "",
                    "affix": None, "additive": True, "signed": False},
        "dim": {"key": "bins", "name": x_header, "plural": "bins", "time": False},
        "series_dim": None,
        "variable": {"name": name, "unit": unit, "items": items},
        "bins": [[edges[i], edges[i + 1]] for i in range(k)],
        "table": {"columns": [x_header, f"Number of {items}"],
                  "rows": [[labels[i], counts[i]] for i in range(k)]},
        "decimals": 0,
        "axis": axis,
        "readout": {"mode": mode,
                    "tolerance": tolerance(axis, style["grid"]) if mode == "estimate" else 0},
        "value_label": pick(rng, (f"Number of {items}", "Count", "Frequency")),
        "style": style,
    }


def _title(rng, name: str, items: str) -> str | None:
    if rng.random() < 0.1:
        return None
    return pick(rng, [f"Distribution of {name.lower()}", f"{name} of {items}",
                      f"Histogram of {name.lower()}", f"{name} distribution ({items})"])


def draw_histogram(scene: dict[str, Any], canvas) -> None:
    st = scene["style"]
    f = Frame(canvas, st)
    _, _, vals = table_parts(scene["table"])
    counts = [r[0] for r in vals]
    bins = scene["bins"]
    edges = [b[0] for b in bins] + [bins[-1][1]]
    yaxis = numeric_axis(scene["axis"], None, st["thousands"], False)
    labels = [f"{e:g}" for e in edges]
    width = max(f.measure(s, f.tick_font)[0] for s in labels)
    # Every edge labelled when the labels fit, else every other one.
    every = 1 if width * len(edges) < 0.7 * f.S else 2
    shown = edges[::every]
    xaxis = Axis(edges[0], edges[-1], bins[0][1] - bins[0][0], [f"{e:g}" for e in shown],
                 shown)
    cart = Cartesian(f, title=scene["title"], x_label=scene["dim"]["name"],
                     y_label=scene["value_label"], x=xaxis, y=yaxis, legend=None)
    p = cart.plot
    cart.draw_background()
    color = st["colors"][0]
    gap = st.get("bar_gap", 0.0) * (p.px(edges[1]) - p.px(edges[0]))
    bars = []
    for (a, b), c in zip(bins, counts, strict=True):
        rect = (p.px(a) + gap / 2, p.py(0), p.px(b) - gap / 2, p.py(c))
        bars.append((rect, color, c))
    edge = st["ink"] if st.get("edge") == "ink" else st["paper"]
    drawn = canvas.add(PolyCollection(
        [[(r[0], r[1]), (r[2], r[1]), (r[2], r[3]), (r[0], r[3])] for r, _, _ in bars],
        facecolors=color, edgecolors=edge, linewidths=0.8 * f.k))
    for k, ((rect, _, _), (a, b)) in enumerate(zip(bars, bins, strict=True)):
        if rect[3] - rect[1] >= 2:  # an empty bin has no bar to point at
            label = bin_label(a, b)
            canvas.tag_shape(drawn, f"the bar of the {label} bin", path=k, answer=label,
                             noun="bar")
    f.obstacles = [r for r, _, _ in bars]
    if st["data_labels"]:
        place_bar_labels(f, cart, bars, [fmt_affixed(c, 0, None, st["thousands"])
                                         for c in counts], True, False)
    cart.draw_axes()


# --- questions ---------------------------------------------------------------------------------

def _items(c: Ctx) -> str:
    return c.scene["variable"]["items"]


def h_value(c: Ctx, rng):
    i = int(rng.integers(c.n))
    lab, items, var = c.cats[i], _items(c), c.scene["variable"]
    unit = f" {var['unit']}" if var["unit"] not in ("°C",) else "°C"
    q = pick(rng, [f"How many {items} fall in the {lab}{unit} bin?",
                   f"What is the count of {items} in the {lab} range?",
                   f"According to the histogram, how many {items} are in the bin {lab}?"])
    return c.num(q, c.vals[i][0], "value_retrieval",
                 {"op": "value", "category": lab, "series": c.series[0]}, reads=1, unit=None,
                 steps=[c.read_step(i, 0, f"the bar of the {lab} bin")])


def h_extreme(c: Ctx, rng):
    col = c.col(0)
    most = bool(rng.random() < 0.65)
    order = sorted(range(c.n), key=lambda i: col[i], reverse=most)
    if not c.apart(col[order[0]], col[order[1]]):
        return None
    var = c.scene["variable"]["name"].lower()
    q = pick(rng, [f"Which {var} range contains the {'most' if most else 'fewest'} {_items(c)}?",
                   f"Which bin of the histogram is the {'tallest' if most else 'shortest'}?"])
    steps = [c.extreme_step(col, [f"the {lab} bin" for lab in c.cats], order[0], most,
                            "count")]
    return c.txt(q, c.cats[order[0]], "extremum", {"op": "argmax" if most else "argmin",
                                                   "series": c.series[0]}, steps=steps)


def h_total(c: Ctx, rng):
    q = pick(rng, [f"How many {_items(c)} does the histogram count in total?",
                   f"What is the total number of {_items(c)} across all bins?"])
    return c.num(q, sum(c.col(0)), "arithmetic",
                 {"op": "sum", "categories": list(c.cats), "series": c.series[0]},
                 reads=c.n, unit=None,
                 steps=[c.sum_step(c.col(0), f"the counts of the {c.n} bins")])


def h_below(c: Ctx, rng):
    bins = c.scene["bins"]
    if len(bins) < 3:
        return None
    k = int(rng.integers(1, len(bins)))  # an inner edge
    edge = bins[k][0]
    below = bool(rng.random() < 0.5)
    var = c.scene["variable"]
    unit = "°C" if var["unit"] == "°C" else f" {var['unit']}"
    if below:
        value = sum(c.col(0)[:k])
        q = pick(rng, [f"How many {_items(c)} are counted in the bins below {edge:g}{unit}?",
                       f"In total, how many {_items(c)} fall in the bars to the left of "
                       f"{edge:g}{unit}, i.e. below {edge:g}?"])
        reads = k
    else:
        value = sum(c.col(0)[k:])
        q = pick(rng, [f"How many {_items(c)} are counted in the bins from {edge:g}{unit} "
                       "upward?",
                       f"In total, how many {_items(c)} fall in the bins starting at "
                       f"{edge:g}{unit} or more?"])
        reads = len(bins) - k
    counted = c.col(0)[:k] if below else c.col(0)[k:]
    what = f"below {edge:g}" if below else f"from {edge:g} up"
    if len(counted) == 1:
        (v,), label = counted, c.cats[k - 1 if below else k]
        steps = [step(f"The only bin {what} is {label}, which counts {c.read(v)}.", number(v),
                      v)]
    else:
        steps = [c.sum_step(counted, f"the counts of the {len(counted)} bins {what}")]
    return c.num(q, value, "arithmetic",
                 {"op": "count_below_edge" if below else "count_from_edge", "edge": edge},
                 reads=reads, unit=None, steps=steps)


def h_compare(c: Ctx, rng):
    col = c.col(0)
    pairs = [(a, b) for a in range(c.n) for b in range(c.n)
             if col[a] > col[b] and c.apart(col[a], col[b])]
    if not pairs:
        return None
    a, b = pairs[int(rng.integers(len(pairs)))]
    q = f"How many more {_items(c)} are in the {c.cats[a]} bin than in the {c.cats[b]} bin?"
    steps = [step(f"The {c.cats[a]} bin counts {c.read(col[a])} and the {c.cats[b]} bin "
                  f"{c.read(col[b])}, so it has {c.term(col[a])} − {c.term(col[b])} "
                  f"{c.equals(col[a] - col[b], unit=None)} more.",
                  f"{number(col[a])} - {number(col[b])}", col[a] - col[b])]
    return c.num(q, col[a] - col[b], "arithmetic",
                 {"op": "difference", "a": c.cats[a], "b": c.cats[b], "series": c.series[0]},
                 reads=2, unit=None, steps=steps)


def h_count_bins(c: Ctx, rng):
    q = pick(rng, ["How many bins does the histogram have?",
                   "How many bars are there in the histogram?"])
    return c.num(q, c.n, "counting", {"op": "count_categories"}, reads=None, decimals=0,
                 unit=None, steps=[c.tally_step([f"{lab}" for lab in c.cats],
                                                "bins along the x axis")])


def h_threshold(c: Ctx, rng):
    found = _threshold(c, rng, c.col(0))
    if found is None:
        return None
    t, _ = found
    count = sum(1 for v in c.col(0) if v > t)
    q = f"How many bins contain more than {t:g} {_items(c)}?"
    steps = [c.count_step(c.col(0), [f"the {lab} bin" for lab in c.cats], t, True, f"{t:g}")]
    return c.num(q, count, "counting", {"op": "count_above", "threshold": t,
                                        "series": c.series[0]}, reads=None, decimals=0,
                 unit=None, steps=steps)


HIST_GENERATORS = {"h_value": h_value, "h_extreme": h_extreme, "h_total": h_total,
                   "h_below": h_below, "h_compare": h_compare, "h_count_bins": h_count_bins,
                   "h_threshold": h_threshold}


@register("chart", "histogram")
class Histogram(ChartRenderer):
    kind_text = "histogram"
    menu: ClassVar[dict[str, float]] = {
        "h_value": 3, "h_extreme": 2, "h_total": 1.5, "h_below": 2, "h_compare": 1.2,
        "h_count_bins": 0.5, "h_threshold": 1.2}

    def sample_scene(self, rng):
        return sample_hist_scene(rng, self.name)

    def draw(self, scene, canvas):
        draw_histogram(scene, canvas)

    def questions(self, scene, rng):
        ctx = Ctx(scene)
        return self.with_composed(ctx, rng, ask(ctx, rng, self.menu, HIST_GENERATORS,
                                                self.table_probability))

    def caption(self, scene):
        v = scene["variable"]
        title = f" titled \"{scene['title']}\"" if scene.get("title") else ""
        lo, hi = scene["bins"][0][0], scene["bins"][-1][1]
        return (f"a histogram{title} of {v['name'].lower()} ({v['unit']}) for "
                f"{sum(r[1] for r in scene['table']['rows'])} {v['items']}, in "
                f"{len(scene['bins'])} bins from {lo:g} to {hi:g}")

