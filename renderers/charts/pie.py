"""Pie and donut charts: every slice labelled with its percentage or its value."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Wedge

from renderers import register
from renderers.charts.base import ChartRenderer, sample_count, scene_common, title_for
from renderers.charts.data import (
    DIMS,
    dim_names,
    dim_size,
    fmt_affixed,
    magnitude,
    make_table,
    pick_measure,
    plain,
    round_decimals,
    table_parts,
)
from renderers.charts.layout import (
    Frame,
    LabelsDoNotFit,
    Legend,
    rect_point_distance,
    rects_overlap,
    text_rect,
)
from renderers.charts.style import sample_chart_style, text_on
from renderers.qa import pick

SHARE = {"name": "Share", "phrase": "share", "unit": "%", "affix": "%", "additive": True,
         "signed": False}


def _shares(rng: np.random.Generator, n: int, decimals: int) -> list[float | int]:
    """``n`` percentages, each at least 3%, at ``decimals`` places, summing to exactly 100."""
    floor = 3.0
    raw = rng.dirichlet(np.full(n, float(rng.uniform(0.8, 3.0))))
    pct = floor + raw * (100.0 - floor * n)
    vals = [plain(v, decimals) for v in pct]
    unit = 10 ** -decimals
    diff = round((100 - sum(vals)) / unit)  # whole units of the last decimal
    big = max(range(n), key=lambda i: vals[i])
    vals[big] = plain(vals[big] + diff * unit, decimals)
    return vals


def sample_pie_scene(rng: np.random.Generator, family: str) -> dict[str, Any]:
    m = pick_measure(rng, parts=True)
    dim = DIMS[pick(rng, m.dims)]
    n = sample_count(rng, 3, min(7, dim_size(dim)))
    cats = dim_names(rng, dim, n)
    percent = bool(rng.random() < 0.6) or m.affix == "%"
    if percent:
        decimals = int(pick(rng, (0, 0, 1)))
        values = _shares(rng, n, decimals)
        measure = dict(SHARE)
        header = "Share (%)"
    else:
        center = magnitude(rng, m)
        decimals = round_decimals(rng, m, center)
        raw = center * rng.uniform(0.25, 1.0, size=n)
        values = [plain(v, decimals) for v in raw]
        if min(values) <= 0:
            values = [max(v, plain(10.0 ** -decimals, decimals)) for v in values]
        from renderers.charts.data import measure_record

        measure = measure_record(m)
        header = f"{m.name} ({m.unit})" if m.unit else m.name
    style = sample_chart_style(rng, n_colors=n)
    style["data_labels"] = True
    hole = round(float(rng.uniform(0.35, 0.6)), 2) if family == "donut" else 0.0
    names = pick(rng, ("outside", "outside", "legend", "combined"))
    if names == "legend" and style["mono"]:
        names = "outside"  # greys alone cannot tie a legend to its slices
    if names == "legend" and style["legend"] == "inside":
        style["legend"] = "right"
    title = title_for(rng, m, dim, cats)
    if title and percent and m.affix != "%" and rng.random() < 0.5:
        title = f"Share of {m.phrase} by {dim.name.lower()}"
        title = title[0].upper() + title[1:]
    return {
        "family": family,
        "title": title,
        **scene_common(m, dim),
        "measure": measure,
        "of": m.phrase,
        "series_dim": None,
        "table": make_table(dim.name, [header], cats, [values]),
        "decimals": decimals,
        "axis": None,
        "readout": {"mode": "labels", "tolerance": 0},
        "percent": percent,
        "hole": hole,
        "names": names,  # category names: outside the pie, in a legend, or with the value
        "start_angle": int(pick(rng, (90, 90, 0, int(rng.integers(0, 360))))),
        "clockwise": bool(rng.random() < 0.7),
        "style": style,
    }


def draw_pie(scene: dict[str, Any], canvas) -> None:
    st = scene["style"]
    f = Frame(canvas, st)
    cats, _, vals = table_parts(scene["table"])
    values = [row[0] for row in vals]
    m = scene["measure"]
    S, pad = f.S, f.pad
    colors = st["colors"]
    affix = m["affix"] if (scene["percent"] or st["affix_labels"]) else None
    vtexts = [fmt_affixed(v, scene["decimals"], affix, st["thousands"]) for v in values]
    title_lines, title_font = f.fit_title(scene["title"], S - 2 * pad)
    tries = [scene["names"]]
    if scene["names"] != "legend" and not st["mono"]:
        tries.append("legend")  # names that cannot go round the pie go in a legend
    for names in tries:
        plan = _plan(f, scene, cats, vtexts, title_lines, title_font, names)
        if plan is None:
            continue
        labels = _slice_labels(f, scene, plan, names, values, vtexts)
        if labels is not None:
            break
    else:
        raise LabelsDoNotFit("no room for the pie and its slice labels")
    (cx, cy, r), legend, legend_at, _, _ = plan
    if title_lines:
        center = st["title_align"] == "center"
        f.lines(S / 2 if center else pad, S - pad, title_lines, title_font,
                ha="center" if center else "left")
    if legend is not None:
        f.draw_legend(legend, *legend_at)
    inner = r * scene["hole"]
    for i, (a0, a1) in enumerate(_angles(scene, values)):
        wedge = canvas.add(Wedge((cx, cy), r, a0, a1, width=(r - inner) if inner else None,
                                 facecolor=colors[i], edgecolor=st["paper"],
                                 linewidth=1.2 * f.k))
        # A point inside the slice: on its middle ray, halfway through the ring it fills.
        mid, reach = math.radians((a0 + a1) / 2), (r + inner) / 2 if inner else 0.6 * r
        canvas.tag_shape(wedge, f"the slice for {cats[i]}", answer=cats[i], noun="slice",
                         point=(cx + reach * math.cos(mid), cy + reach * math.sin(mid)),
                         boxed=False)
    leaders = []
    for x, y, text, font, ha, va, color, leader in labels:
        f.text(x, y, text, font, ha=ha, va=va, color=color)
        if leader:
            leaders.append(leader)
    if leaders:
        canvas.add(LineCollection(leaders, colors=st["axis_color"], linewidths=0.8 * f.k))


def _angles(scene, values) -> list[tuple[float, float]]:
    """(start, end) angle in degrees of every slice, counter-clockwise from the x axis."""
    total = float(sum(values))
    sign = -1.0 if scene["clockwise"] else 1.0
    angle = float(scene["start_angle"])
    out = []
    for v in values:
        sweep = 360.0 * v / total
        out.append((angle, angle + sweep) if sign > 0 else (angle - sweep, angle))
        angle += sign * sweep
    return out


def _slice_labels(f: Frame, scene, plan, names, values, vtexts):
    """Where every slice label goes: [(x, y, text, font, ha, va, colour, leader)], or None if
    two would overlap or one would leave the image."""
    st = scene["style"]
    (cx, cy, r), _, _, outer, font = plan
    S, gap = f.S, f.gap
    inner = r * scene["hole"]
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for i, (a0, a1) in enumerate(_angles(scene, values)):
        mid = math.radians((a0 + a1) / 2)
        ux, uy = math.cos(mid), math.sin(mid)
        # The value inside the slice when it fits; otherwise with the name outside.
        inside_text = vtexts[i] if names != "combined" else None
        outside_text = outer[i] if outer else None
        if inside_text is not None:
            rr = (inner + r) / 2 if inner else r * 0.64
            w, h = f.measure(inside_text, f.data_font)
            x, y = cx + ux * rr, cy + uy * rr
            box = text_rect(x, y, w, h, "center", "center")
            if _in_wedge(box, cx, cy, inner, r, a0, a1):
                out.append((x, y, inside_text, f.data_font, "center", "center",
                            text_on(st["colors"][i]), None))
                placed.append(box)
            else:
                outside_text = (f"{outside_text} ({inside_text})" if outside_text
                                else inside_text)
        if outside_text is None:
            continue
        w, h = f.measure(outside_text, font)
        ha = "left" if ux > 0.15 else "right" if ux < -0.15 else "center"
        va = "bottom" if uy > 0.6 else "top" if uy < -0.6 else "center"
        for off in (gap * 1.5, gap * 3.0):
            x, y = cx + ux * (r + off), cy + uy * (r + off)
            box = text_rect(x, y, w, h, ha, va)
            if (box[0] >= 0 and box[2] <= S and box[1] >= 0 and box[3] <= S
                    and rect_point_distance(box, cx, cy) >= r + 1
                    and not any(rects_overlap(box, o, 1) for o in placed)):
                break
        else:
            return None
        out.append((x, y, outside_text, font, ha, va, st["ink"],
                    [(cx + ux * r, cy + uy * r), (cx + ux * (r + off - gap / 2),
                                                  cy + uy * (r + off - gap / 2))]))
        placed.append(box)
    return out


def _plan(f: Frame, scene, cats, vtexts, title_lines, title_font, names):
    """((cx, cy, radius), legend, legend anchor, outside labels, their font) for one way of
    naming the slices, or None when the pie would be too small."""
    st = scene["style"]
    S, pad, gap = f.S, f.pad, f.gap
    top, bottom, left, right = S - pad, pad, pad, S - pad
    if title_lines:
        top -= len(title_lines) * f.line_height(title_font) + gap * 2
    legend, legend_at = None, None
    if names == "legend":
        pos = st["legend"] if st["legend"] in ("right", "bottom", "top") else "right"
        legend = Legend([(c, st["colors"][i], "patch") for i, c in enumerate(cats)], pos)
        if legend.position == "right":
            f.plan_legend(legend, S)
            if legend.width > 0.36 * S:
                legend.position = "bottom"
        if legend.position != "right":
            f.plan_legend(legend, S - 2 * pad)
        if legend.position == "right":
            right -= legend.width + gap * 2
            legend_at = (right + gap * 2, (top + bottom) / 2 + legend.height / 2)
        elif legend.position == "top":
            legend_at = (S / 2 - legend.width / 2, top)
            top -= legend.height + gap * 2
        else:
            legend_at = (S / 2 - legend.width / 2, bottom + legend.height)
            bottom += legend.height + gap * 2
    font = f.data_font if names == "legend" else f.legend_font
    if names == "outside":
        outer = list(cats)
    elif names == "combined":
        outer = [f"{c} ({t})" for c, t in zip(cats, vtexts, strict=True)]
    else:
        outer = []
    # Outside labels need room around the pie: on each side, the widest label that goes there.
    reach = {"l": gap, "r": gap, "t": gap, "b": gap}
    if outer:
        values = [row[1] for row in scene["table"]["rows"]]
        total = float(sum(values))
        sign = -1.0 if scene["clockwise"] else 1.0
        angle = float(scene["start_angle"])
        for text, v in zip(outer, values, strict=True):
            mid = math.radians(angle + sign * 180.0 * v / total)
            angle += sign * 360.0 * v / total
            ux, uy = math.cos(mid), math.sin(mid)
            w, h = f.measure(text, font)
            off = gap * 1.5
            # How far past the pie's edge the label reaches on each side.
            if ux > 0.15:
                reach["r"] = max(reach["r"], off * ux + w + gap)
            elif ux < -0.15:
                reach["l"] = max(reach["l"], -off * ux + w + gap)
            else:
                reach["r"] = max(reach["r"], w / 2 + gap)
                reach["l"] = max(reach["l"], w / 2 + gap)
            if uy > 0.6:
                reach["t"] = max(reach["t"], off * uy + h + gap)
            elif uy < -0.6:
                reach["b"] = max(reach["b"], -off * uy + h + gap)
            else:
                reach["t"] = max(reach["t"], h / 2 + gap)
                reach["b"] = max(reach["b"], h / 2 + gap)
    r = min((right - left - reach["l"] - reach["r"]) / 2,
            (top - bottom - reach["t"] - reach["b"]) / 2)
    if r < 0.18 * S:
        return None
    cx = left + reach["l"] + (right - left - reach["l"] - reach["r"]) / 2
    cy = bottom + reach["b"] + (top - bottom - reach["t"] - reach["b"]) / 2
    return (cx, cy, r), legend, legend_at, outer, font


def _in_wedge(box, cx: float, cy: float, inner: float, r: float, a0: float, a1: float) -> bool:
    """Whether all four corners of ``box`` lie inside the ring sector [a0, a1] (degrees)."""
    for x, y in ((box[0], box[1]), (box[0], box[3]), (box[2], box[1]), (box[2], box[3])):
        dx, dy = x - cx, y - cy
        d = math.hypot(dx, dy)
        if d > r - 1 or d < inner + 1:
            return False
        if a1 - a0 >= 359.9:
            continue
        ang = (math.degrees(math.atan2(dy, dx)) - a0) % 360.0
        if ang > (a1 - a0):
            return False
    return True


PIE_MENU = {"value": 3, "argmax": 2, "argmin": 1.5, "compare": 2, "difference": 1.5,
            "sum": 1.5, "ratio": 1, "share": 2.5, "count_threshold": 1.2,
            "count_categories": 0.7, "sort": 1, "rank": 1}


class _Pie(ChartRenderer):
    menu: ClassVar[dict[str, float]] = PIE_MENU

    def sample_scene(self, rng):
        return sample_pie_scene(rng, self.name)

    def draw(self, scene, canvas):
        draw_pie(scene, canvas)

    def caption(self, scene):
        cats = [r[0] for r in scene["table"]["rows"]]
        title = f" titled \"{scene['title']}\"" if scene.get("title") else ""
        what = "percentage" if scene["percent"] else scene["measure"]["phrase"]
        return (f"a {self.kind_text}{title} splitting {scene['of']} into {len(cats)} "
                f"{scene['dim']['plural']} ({', '.join(cats)}), each slice labelled with its "
                f"{what}")


@register("chart", "pie")
class PieChart(_Pie):
    kind_text = "pie chart"


@register("chart", "donut")
class DonutChart(_Pie):
    kind_text = "donut chart"
