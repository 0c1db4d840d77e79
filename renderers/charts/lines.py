"""Line charts (1–4 series over time) and area charts, with markers and optional value labels."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

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
    quantize,
    round_decimals,
    step_decimals,
    table_parts,
    time_values,
    tolerance,
)
from renderers.charts.layout import (
    Cartesian,
    Frame,
    LabelsDoNotFit,
    Legend,
    Rect,
    nearest_is_own,
    numeric_axis,
    polyline_obstacles,
    rects_overlap,
    text_rect,
)
from renderers.charts.style import sample_chart_style
from renderers.qa import pick

X_DIMS = {"years": (5, 12), "months": (6, 12), "quarters": (4, 8), "weekdays": (5, 7)}
ENTITY_DIMS = ("countries", "cities", "companies", "products", "regions", "channels")


def sample_line_scene(rng: np.random.Generator, family: str, *, area: bool) -> dict[str, Any]:
    m = pick(rng, MEASURES)
    keys = [k for k in X_DIMS if (k != "months" or m.seasonal or rng.random() < 0.3)
            and (k != "weekdays" or m.name in ("Orders", "Website visitors", "Sales"))]
    xdim = DIMS[pick(rng, keys)]
    lo, hi = X_DIMS[xdim.key]
    n = sample_count(rng, lo, hi)
    cats = dim_names(rng, xdim, n)
    ns = sample_count(rng, 1, 3 if area else 4)
    if ns == 1 and rng.random() < 0.3:
        ns = 1
    entity_keys = [k for k in m.dims if not DIMS[k].time] or list(ENTITY_DIMS[:3])
    sdim = DIMS[pick(rng, entity_keys)]
    if ns > dim_size(sdim):
        ns = dim_size(sdim)
    entities = dim_names(rng, sdim, ns)
    if ns > 1:
        series = entities
    else:
        series = [f"{m.name} ({m.unit})" if m.unit else m.name]
    mode = pick_readout(rng, {"labels": 0.3 if ns <= 2 and n <= 10 else 0.0, "grid": 0.3,
                              "estimate": 0.4})
    style = sample_chart_style(rng, n_colors=ns, grid=True if mode == "grid" else None)
    style["data_labels"] = mode == "labels"
    if mode != "estimate" and style["marker"] is None:
        style["marker"] = "o"  # exact reading needs visible points
    center = magnitude(rng, m)
    months = xdim.key == "months"
    start = 0
    if months:
        from renderers.charts.data import vocab

        start = [s[:3] for s in vocab("months")].index(cats[0])
    for _attempt in range(8):
        raw = np.stack([time_values(rng, m, n, center * rng.uniform(0.6, 1.0), months=months,
                                    start_month=start) for _ in range(ns)], 1)
        if area and not m.signed:
            raw = np.maximum(raw, center * 0.03)
        zero = area or raw.min() < 0 or (mode != "grid" and bool(rng.random() < 0.5))
        target = int(rng.integers(8, 12)) if mode == "grid" else int(rng.integers(4, 8))
        axis = nice_axis(float(raw.min()), float(raw.max()), target, zero=zero,
                         whole=is_count(m))
        if not zero:  # a little air below the lowest line (never below 0 for a count)
            low = float(raw.min()) - (raw.max() - raw.min()) * 0.05
            axis = cover(axis, max(low, 0.0) if raw.min() >= 0 else low, float(raw.max()))
        decimals = (step_decimals(axis["step"]) if mode == "grid"
                    else round_decimals(rng, m, center))
        values = np.array(quantize(raw, mode, axis["step"], decimals, nonzero=False),
                          dtype=object).reshape(n, ns)
        flat = [v for row in values for v in row]
        if mode != "grid" or len(set(flat)) >= min(4, len(flat)):
            break
    else:
        raise ImpossibleScene("the series collapse onto too few gridlines")
    axis = cover(axis, min(flat), max(flat), 0.1 if mode == "labels" else 0.0)
    cat_label, val_label = axis_labels(rng, m, xdim)
    columns = [[values[i][j] for i in range(n)] for j in range(ns)]
    return {
        "family": family,
        "title": title_for(rng, m, xdim, cats, entity=entities[0] if ns == 1 else None),
        **scene_common(m, xdim),
        "series_dim": dim_record(sdim) if ns > 1 else None,
        "entity": entities[0] if ns == 1 else None,
        "table": make_table(xdim.name, series, cats, columns),
        "decimals": decimals,
        "axis": axis,
        "readout": {"mode": mode,
                    "tolerance": tolerance(axis, style["grid"]) if mode == "estimate" else 0},
        "area": area,
        "category_label": cat_label,
        "value_label": val_label,
        "style": style,
    }


def draw_lines(scene: dict[str, Any], canvas) -> None:
    st = scene["style"]
    f = Frame(canvas, st)
    cats, series, vals = table_parts(scene["table"])
    m = scene["measure"]
    n, ns = len(cats), len(series)
    axis = numeric_axis(scene["axis"], m["affix"], st["thousands"], st["affix_ticks"])
    colors = st["colors"]
    marker = st["marker"]
    legend = None
    if ns > 1:
        legend = Legend([(s, colors[j], "patch" if scene["area"] else "line")
                         for j, s in enumerate(series)], st["legend"], marker=marker,
                        line_width=st["line_width"] * f.k)
    lw = st["line_width"] * f.k
    ms = st["marker_size"] * f.k

    def layout():
        cart = Cartesian(f, title=scene["title"], x_label=scene["category_label"],
                         y_label=scene["value_label"], x=cats, y=axis, legend=legend,
                         thin_ok=True)
        p = cart.plot
        xs = [p.cx(i) for i in range(n)]
        pts = [[(xs[i], p.py(vals[i][j])) for i in range(n)] for j in range(ns)]
        trails = [polyline_obstacles(xs, [y for _, y in line], max(lw, ms / 2))
                  for line in pts]
        return cart, pts, trails

    cart, pts, trails = layout()
    if scene["area"]:  # the fill under each line is data too
        p = cart.plot
        fills = [(p.x0, p.y0, p.x1, max(y for _, y in line)) for line in pts]
    else:
        fills = []
    if not cart.settle_legend([o for t in trails for o in t] + fills):
        legend.position = "top"
        cart, pts, trails = layout()
    p = cart.plot
    cart.draw_background()
    a_min, a_max = scene["axis"]["min"], scene["axis"]["max"]
    base = p.py(0 if a_min < 0 < a_max else a_min)
    for j, line in enumerate(pts):
        xs, ys = [x for x, _ in line], [y for _, y in line]
        if scene["area"]:
            poly = [(xs[0], base), *line, (xs[-1], base)]
            canvas.add(Polygon(poly, closed=True, facecolor=colors[j], edgecolor="none",
                               alpha=0.35 if ns > 1 else 0.5))
        canvas.add(Line2D(xs, ys, color=colors[j], linewidth=lw, marker=marker,
                          markersize=ms, markeredgecolor=colors[j], solid_joinstyle="round"))
    f.obstacles = [o for t in trails for o in t]
    if cart.legend_box:
        f.obstacles.append(cart.legend_box)
    if st["data_labels"]:
        _point_labels(f, cart, scene, pts, vals, trails)
    cart.draw_axes()


def _point_labels(f: Frame, cart: Cartesian, scene, pts, vals, trails) -> None:
    """A value label by every point, above or below it, never over another label or point."""
    st, m = scene["style"], scene["measure"]
    p = cart.plot
    ms = st["marker_size"] * f.k
    g = ms / 2 + max(2.0, 3 * f.k)
    markers: list[Rect] = [(x - ms / 2, y - ms / 2, x + ms / 2, y + ms / 2)
                           for line in pts for x, y in line]
    placed: list[Rect] = [cart.legend_box] if cart.legend_box else []
    fonts = [f.data_font, f.data_font.smaller(1.0)]
    ns = len(pts)
    every = [pt for line in pts for pt in line]
    for j, line in enumerate(pts):
        for i, (x, y) in enumerate(line):
            rivals = [pt for pt in every if pt != (x, y)]
            v = vals[i][j]
            text = fmt_affixed(v, scene["decimals"], m["affix"] if st["affix_labels"] else None,
                               st["thousands"])
            nb = [line[k][1] for k in (i - 1, i + 1) if 0 <= k < len(line)]
            up_first = y >= sum(nb) / len(nb) if nb else True
            if ns > 1:  # the top series labels above, the bottom one below
                others = [pts[o][i][1] for o in range(ns) if o != j]
                up_first = y >= max(others) if y >= min(others) else False
            sides = ["bottom", "top"] if up_first else ["top", "bottom"]
            # Preferably clear of the other series' lines; if no spot is, over them.
            for strict, font, va in ((s_, fo, v_) for s_ in (True, False) for fo in fonts
                                     for v_ in sides):
                w, h = f.measure(text, font)
                yy = y + g if va == "bottom" else y - g
                box = text_rect(x, yy, w, h, "center", va)
                if not (box[0] >= p.x0 and box[2] <= p.x1 and box[1] >= p.y0
                        and box[3] <= p.y1):
                    continue
                if any(rects_overlap(box, o, 1) for o in placed + markers):
                    continue
                if strict and any(rects_overlap(box, o, 0)
                                  for k, trail in enumerate(trails) if k != j for o in trail):
                    continue
                if not nearest_is_own(box, (x, y), rivals):
                    continue  # the label would read as another point's
                # Series-coloured labels tie values to lines; over an area fill, ink reads better.
                colored = (ns > 1 and not scene["area"] and st["theme"] != "dark"
                           and not st["mono"])
                f.text(x, yy, text, font, ha="center", va=va,
                       color=st["colors"][j] if colored else st["ink"])
                placed.append(box)
                break
            else:
                raise LabelsDoNotFit(f"value label {text!r} collides with the lines")


LINE_MENU = {"value": 3, "argmax": 1.5, "argmin": 1, "direction": 2, "change": 1.5,
             "largest_change": 2, "count_rises": 1.2, "compare": 1, "difference": 1,
             "mean": 1, "sum": 0.7, "count_threshold": 1.2, "range": 0.8, "max_gap": 1.2,
             "argmax_series": 1.2, "count_series_greater": 1, "count_series": 0.4,
             "count_categories": 0.4}


@register("chart", "line")
class LineChart(ChartRenderer):
    kind_text = "line chart"
    menu: ClassVar[dict[str, float]] = LINE_MENU

    def sample_scene(self, rng):
        return sample_line_scene(rng, self.name, area=False)

    def draw(self, scene, canvas):
        draw_lines(scene, canvas)

    def caption(self, scene):
        return _line_caption(self.kind_text, scene)


@register("chart", "area")
class AreaChart(LineChart):
    kind_text = "area chart"

    def sample_scene(self, rng):
        return sample_line_scene(rng, self.name, area=True)


def _line_caption(kind: str, scene) -> str:
    cats, series, _ = table_parts(scene["table"])
    m = scene["measure"]
    title = f" titled \"{scene['title']}\"" if scene.get("title") else ""
    who = f" for {', '.join(series)}" if len(series) > 1 else (
        f" in {scene['entity']}" if scene.get("entity") else "")
    return (f"a {kind}{title} of {m['phrase']}{who} from {cats[0]} to {cats[-1]}")
