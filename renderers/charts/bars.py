"""Bar charts: vertical, horizontal, grouped and stacked, with or without value labels."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from matplotlib.collections import PolyCollection

from renderers import register
from renderers.charts.base import (
    ChartRenderer,
    axis_labels,
    pick_readout,
    sample_count,
    scene_common,
    title_for,
)
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
    magnitude,
    make_table,
    nice_axis,
    pick_measure,
    quantize,
    raw_values,
    round_decimals,
    series_dims,
    step_decimals,
    table_parts,
    tolerance,
)
from renderers.charts.layout import (
    Cartesian,
    Font,
    Frame,
    LabelsDoNotFit,
    Legend,
    Rect,
    numeric_axis,
    rects_overlap,
    text_rect,
)
from renderers.charts.style import sample_chart_style, text_on
from renderers.qa import pick

TIME_CATEGORY_DIMS = ("years", "quarters", "months")


def _series_dim(rng, m, cat_key: str, k: int, stacked: bool):
    options = series_dims(m, cat_key, stacked)
    if not options:
        raise ImpossibleScene(f"no way to split {m.name} into series")
    sdim = DIMS[pick(rng, options)]
    return sdim, dim_names(rng, sdim, min(k, dim_size(sdim)))


def sample_bar_scene(rng: np.random.Generator, family: str, *, orientation: str | None,
                     grouped: bool = False, stacked: bool = False) -> dict[str, Any]:
    if stacked:
        m = pick_measure(rng, additive=True)
        while m.signed or not series_dims(m, "", True):
            m = pick_measure(rng, additive=True)
    else:
        m = pick(rng, MEASURES)
    if orientation is None:
        orientation = "vertical" if rng.random() < 0.65 else "horizontal"
    vertical = orientation == "vertical"
    if rng.random() < (0.25 if vertical else 0.1):
        keys = [k for k in TIME_CATEGORY_DIMS if k != "months" or m.seasonal]
        dim = DIMS[pick(rng, keys)]
    else:
        dim = DIMS[pick(rng, m.dims)]
    if grouped:
        ns = sample_count(rng, 2, 4)
        n = sample_count(rng, 2, min(6, 18 // ns, dim_size(dim)))
    elif stacked:
        ns = sample_count(rng, 2, 4)
        n = sample_count(rng, 3, min(8, dim_size(dim)))
    else:
        ns = 1
        n = sample_count(rng, 3, min(12 if dim.time else 10, dim_size(dim)))
    if ns > 1 and not series_dims(m, dim.key, stacked):
        # The measure's only dimension becomes the series; the categories become years.
        dim = DIMS["years"]
        n = min(n, 8)
    cats = dim_names(rng, dim, n)
    if ns > 1:
        sdim, series = _series_dim(rng, m, dim.key, ns, stacked)
        ns = len(series)
        if set(series) & set(cats):
            raise ImpossibleScene("a series has the name of a category")
    else:
        sdim, series = None, [f"{m.name} ({m.unit})" if m.unit else m.name]
    mode = pick_readout(rng, {"labels": 0.55, "grid": 0.45} if stacked else None)
    style = sample_chart_style(rng, n_colors=max(ns, n), grid=True if mode == "grid" else None)
    style["vary_colors"] = bool(ns == 1 and rng.random() < 0.2)
    labels_on = mode == "labels"
    style["data_labels"] = labels_on
    # Values: one column per series.
    center = magnitude(rng, m)
    if stacked:
        raw = np.stack([raw_values(rng, m, n, center / ns, signed=False) for _ in range(ns)], 1)
        # Every segment big enough to be seen (and, with labels, to hold its label).
        floor = (0.07 if vertical else 0.16) if labels_on else 0.04
        raw = np.maximum(raw, raw.sum(1).max() * floor)
    elif ns > 1:
        base = raw_values(rng, m, n, center)
        growth = rng.uniform(-0.15, 0.25)
        raw = np.stack([base * (1 + growth) ** j * rng.uniform(0.75, 1.25, size=n)
                        for j in range(ns)], 1)
    else:
        raw = raw_values(rng, m, n, center)[:, None]
    totals = raw.sum(1) if stacked else raw.ravel()
    if mode == "grid":  # finer steps: values take more distinct gridline levels
        target = int(rng.integers(6, 11)) if vertical else int(rng.integers(5, 8))
        if stacked:
            target = int(rng.integers(8, 13)) if vertical else int(rng.integers(5, 9))
    else:
        target = int(rng.integers(4, 8)) if vertical else int(rng.integers(3, 6))
    # Grid steps may also be 2.5 × 10^k: finer gridlines, more distinct values on them.
    axis = nice_axis(float(min(totals.min(), 0)), float(totals.max()), target, zero=True,
                     whole=is_count(m), mantissas=(1, 2, 2.5, 5) if mode == "grid" else (1, 2, 5))
    decimals = step_decimals(axis["step"]) if mode == "grid" else round_decimals(rng, m, center)
    if mode == "grid" and stacked:
        # Every segment a multiple of the step, so each segment boundary lies on a gridline.
        raw = np.maximum(raw, axis["step"])
    values = np.array(quantize(raw, mode, axis["step"], decimals, nonzero=True),
                      dtype=object).reshape(n, ns)
    columns = [[values[i][j] for i in range(n)] for j in range(ns)]
    sums = [sum(values[i]) for i in range(n)] if stacked else [v for c in columns for v in c]
    show_totals = bool(stacked and labels_on and vertical and rng.random() < 0.4)
    headroom = (((0.18 if ns > 1 else 0.12) if vertical else 0.25) if labels_on and not stacked
                else 0.1 if show_totals else 0.02)
    axis = cover(axis, min(min(sums), 0), max(sums), headroom)
    cat_label, val_label = axis_labels(rng, m, dim)
    scene = {
        "family": family,
        "title": title_for(rng, m, dim, cats),
        **scene_common(m, dim),
        "series_dim": dim_record(sdim) if sdim else None,
        "table": make_table(dim.name, series, cats, columns),
        "decimals": decimals,
        "axis": axis,
        "readout": {"mode": mode,
                    "tolerance": tolerance(axis, style["grid"]) if mode == "estimate" else 0},
        "orientation": orientation,
        "stacked": stacked,
        "category_label": cat_label,
        "value_label": val_label,
        "show_totals": show_totals,
        "style": style,
    }
    return scene


def draw_bars(scene: dict[str, Any], canvas) -> None:
    st = scene["style"]
    f = Frame(canvas, st)
    cats, series, vals = table_parts(scene["table"])
    m = scene["measure"]
    ns = len(series)
    vertical = scene["orientation"] == "vertical"
    stacked = scene["stacked"]
    axis = numeric_axis(scene["axis"], m["affix"], st["thousands"], st["affix_ticks"])
    colors = st["colors"]
    legend = None
    if ns > 1:
        legend = Legend([(s, colors[j], "patch") for j, s in enumerate(series)], st["legend"])

    def layout() -> tuple[Cartesian, list[tuple[Rect, str, float]]]:
        cart = Cartesian(
            f, title=scene["title"],
            x_label=scene["category_label"] if vertical else scene["value_label"],
            y_label=scene["value_label"] if vertical else scene["category_label"],
            x=cats if vertical else axis, y=axis if vertical else cats, legend=legend,
            thin_ok=scene["dim"]["time"] and vertical)
        return cart, _bar_rects(cart.plot, st, vals, vertical, stacked)

    cart, bars = layout()
    if not cart.settle_legend([r for r, _, _ in bars]):
        legend.position = "top"  # no free corner inside: the legend goes above the plot
        cart, bars = layout()
    cart.draw_background()
    edge = st.get("edge")
    ec = {"ink": st["ink"] if st["theme"] != "dark" else "#000000", "paper": st["paper"]}
    verts = [[(r[0], r[1]), (r[2], r[1]), (r[2], r[3]), (r[0], r[3])] for r, _, _ in bars]
    drawn = canvas.add(PolyCollection(
        verts, facecolors=[c for _, c, _ in bars],
        edgecolors=[ec[edge]] * len(bars) if edge else "face",
        linewidths=0.8 * f.k if edge else 0.0))
    _tag_bars(canvas, drawn, bars, cats, series, stacked)
    f.obstacles = [r for r, _, _ in bars] + ([cart.legend_box] if cart.legend_box else [])
    if st["data_labels"]:
        texts = [fmt_affixed(v, scene["decimals"], m["affix"] if st["affix_labels"] else None,
                             st["thousands"]) for _, _, v in bars]
        place_bar_labels(f, cart, bars, texts, vertical, stacked)
        if scene.get("show_totals"):
            _totals(f, cart, scene, bars, vals)
    cart.draw_axes()


def _tag_bars(canvas, drawn, bars, cats, series, stacked: bool) -> None:
    """Each bar (a path of the drawn collection, category by category) for region questions:
    "the bar for Apples" / "the 2019 bar for Apples"; a bar under two pixels thick is not
    tagged (there is nothing to point at)."""
    ns = len(series)
    for k, (rect, _, _) in enumerate(bars):
        if min(rect[2] - rect[0], rect[3] - rect[1]) < 2:
            continue
        cat, s = cats[k // ns], series[k % ns]
        name = f"the bar for {cat}" if ns == 1 else f"the {s} bar for {cat}"
        canvas.tag_shape(drawn, name, path=k, answer=cat if ns == 1 else f"{s}, {cat}",
                         noun="segment" if stacked else "bar")


def _bar_rects(p, st, vals, vertical: bool, stacked: bool) -> list[tuple[Rect, str, float]]:
    """(pixel rect, colour, value) of every bar, category by category."""
    n, ns = len(vals), len(vals[0])
    colors = st["colors"]
    slot = p.slot(vertical)
    group = slot * st["bar_width"]
    width = group if (stacked or ns == 1) else group / ns
    vmap = p.py if vertical else p.px
    bars: list[tuple[Rect, str, float]] = []
    for i in range(n):
        center = p.cx(i) if vertical else p.cy(i)
        base = 0.0
        for j in range(ns):
            v = vals[i][j]
            lo_v, hi_v = (base, base + v) if stacked else (0.0, v)
            if stacked:
                base += v
            a, b = sorted((vmap(lo_v), vmap(hi_v)))
            c0 = center - group / 2 + (0 if (stacked or ns == 1) else j * width)
            rect = (c0, a, c0 + width, b) if vertical else (a, c0, b, c0 + width)
            color = colors[i] if st.get("vary_colors") else colors[j]
            bars.append((rect, color, v))
    return bars


def _totals(f: Frame, cart: Cartesian, scene, bars, vals) -> None:
    st, m = scene["style"], scene["measure"]
    ns = len(vals[0])
    for i, row in enumerate(vals):
        top = max(r[3] for r, _, _ in bars[i * ns:(i + 1) * ns])
        text = fmt_affixed(sum(row), scene["decimals"], m["affix"] if st["affix_labels"]
                           else None, st["thousands"])
        font = Font(f.data_font.size, f.data_font.family, "bold", st["ink"])
        w, h = f.measure(text, font)
        x = cart.plot.cx(i)
        box = text_rect(x, top + f.gap / 2, w, h, "center", "bottom")
        if box[3] > cart.plot.y1 or box[2] - box[0] > cart.plot.slot(True):
            raise LabelsDoNotFit(f"total label {text!r} does not fit above its bar")
        f.text(x, top + f.gap / 2, text, font, ha="center", va="bottom")


def place_bar_labels(f: Frame, cart: Cartesian, bars, texts: list[str], vertical: bool,
                     stacked: bool) -> None:
    """A value label on every bar: inside or past its end, shrunk or turned 90° if needed, never
    over another bar or label; otherwise :class:`LabelsDoNotFit`."""
    p = cart.plot
    plot_rect = (p.x0, p.y0, p.x1, p.y1)
    placed: list[Rect] = []
    prefer_inside = f.style["label_inside"]
    g = max(2.0, round(3 * f.k))
    fonts = [f.data_font, f.data_font.smaller(1.0), f.data_font.smaller(2.0)]
    for k, ((x0, y0, x1, y1), color, v) in enumerate(bars):
        text = texts[k]
        inside_color = text_on(color)
        cands = []  # (x, y, ha, va, rotation, font, colour, inside)
        for font in fonts:
            if stacked:
                cands.append(((x0 + x1) / 2, (y0 + y1) / 2, "center", "center", 0.0, font,
                              inside_color, True))
                continue
            neg = v < 0
            if vertical:
                end = y0 if neg else y1
                out = (x0 + x1) / 2, end - g if neg else end + g, "center", (
                    "top" if neg else "bottom")
                ins = (x0 + x1) / 2, end + g if neg else end - g, "center", (
                    "bottom" if neg else "top")
            else:
                end = x0 if neg else x1
                out = end - g if neg else end + g, (y0 + y1) / 2, "right" if neg else "left", (
                    "center")
                ins = end + g if neg else end - g, (y0 + y1) / 2, "left" if neg else "right", (
                    "center")
            pair = [(*ins, 0.0, font, inside_color, True), (*out, 0.0, font, f.style["ink"],
                                                             False)]
            cands += pair if prefer_inside else pair[::-1]
        if vertical and not stacked:  # last resort: the label turned 90°, past or in the bar
            neg = v < 0
            for font in fonts[::2]:
                cands.append(((x0 + x1) / 2, (y0 - g) if neg else (y1 + g),
                              "right" if neg else "left", "center", 90.0, font, f.style["ink"],
                              False))
                cands.append(((x0 + x1) / 2, (y0 + g) if neg else (y1 - g),
                              "left" if neg else "right", "center", 90.0, font, inside_color,
                              True))
        for x, y, ha, va, rot, font, col, inside in cands:
            w, h = f.measure(text, font)
            if rot:
                # Turned 90° about the anchor: the text runs up (ha=left) or down (ha=right).
                box = (x - h / 2, y, x + h / 2, y + w) if ha == "left" else (
                    x - h / 2, y - w, x + h / 2, y)
            else:
                box = text_rect(x, y, w, h, ha, va)
            if inside:
                ok = (box[0] >= x0 + 1 and box[2] <= x1 - 1 and box[1] >= y0 + 1
                      and box[3] <= y1 - 1)
            else:
                ok = (box[0] >= plot_rect[0] and box[2] <= plot_rect[2]
                      and box[1] >= plot_rect[1] and box[3] <= plot_rect[3])
            if not ok:
                continue
            if any(i != k and rects_overlap(box, o, 1) for i, o in enumerate(f.obstacles)):
                continue
            if any(rects_overlap(box, o, 1) for o in placed):
                continue
            f.text(x, y, text, font, ha=ha, va=va, rotation=rot, color=col)
            placed.append(box)
            break
        else:
            raise LabelsDoNotFit(f"value label {text!r} does not fit on or beside its bar")


class _Bars(ChartRenderer):
    orientation: str | None = None
    grouped = False
    stacked = False

    def sample_scene(self, rng):
        return sample_bar_scene(rng, self.name, orientation=self.orientation,
                                grouped=self.grouped, stacked=self.stacked)

    def draw(self, scene, canvas):
        draw_bars(scene, canvas)


SINGLE_MENU = {"value": 3, "argmax": 2, "argmin": 1.5, "compare": 2, "rank": 1, "sort": 1,
               "difference": 2, "sum": 1.5, "mean": 1, "ratio": 1, "range": 1, "share": 1,
               "count_threshold": 1.5, "count_categories": 0.5, "direction": 0.7,
               "change": 0.7, "largest_change": 0.7}


@register("chart", "bar")
class VerticalBar(_Bars):
    kind_text = "vertical bar chart"
    orientation = "vertical"
    menu: ClassVar[dict[str, float]] = SINGLE_MENU


@register("chart", "hbar")
class HorizontalBar(_Bars):
    kind_text = "horizontal bar chart"
    orientation = "horizontal"
    menu: ClassVar[dict[str, float]] = SINGLE_MENU


@register("chart", "grouped_bar")
class GroupedBar(_Bars):
    kind_text = "grouped bar chart"
    grouped = True
    menu: ClassVar[dict[str, float]] = {
        "value": 3, "argmax": 1.5, "argmin": 1, "argmax_series": 2, "compare": 1.5,
        "difference": 1.5, "sum": 1, "mean": 0.7, "ratio": 0.5, "count_threshold": 1,
        "count_series": 0.5, "count_series_greater": 1.5, "rank": 0.5, "range": 0.5,
        "direction": 0.5, "change": 0.5}

    def caption(self, scene):
        return super().caption(scene).replace("bar chart", f"{scene['orientation']} bar chart")


@register("chart", "stacked_bar")
class StackedBar(_Bars):
    kind_text = "stacked bar chart"
    stacked = True
    menu: ClassVar[dict[str, float]] = {
        "value": 3, "total": 2.5, "argmax_total": 2, "argmax": 1, "argmax_series": 1.5,
        "share_of_total": 1.5, "compare": 1, "difference": 1, "sum": 0.7,
        "count_series": 0.5, "count_series_greater": 1}

    def caption(self, scene):
        return super().caption(scene).replace("stacked bar", f"stacked {scene['orientation']} "
                                              "bar")
