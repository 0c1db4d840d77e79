"""Points on a coordinate grid: distance, midpoint, slope, quadrant, reading coordinates.

The grid has a line at every integer and tick labels every 1 or 2 units, either along the axes or
along the grid's bottom and left edges; the points sit on integer coordinates, so when their
coordinates are not printed beside them they can be read off the grid exactly.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

from renderers import register
from renderers.base import Renderer
from renderers.geometry import draw as d
from renderers.qa import (
    format_fraction,
    format_number,
    numeric_qa,
    pick,
    round_value,
    spoken_list,
    text_qa,
)
from renderers.solution import number, step
from renderers.style import sample_style

TASKS = ("distance", "midpoint", "slope", "quadrant", "read")
# Point names; none is O (the origin), X or Y (the axes) or M (the midpoint in questions).
NAME_SETS = ("ABC", "PQR", "DEF", "RST", "UVW", "GHI", "JKL", "ABD")
QUADRANTS = {(1, 1): 1, (-1, 1): 2, (-1, -1): 3, (1, -1): 4}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
GRID_GREYS = ("#d4d4d4", "#dadada", "#cfd8e3", "#e0e0e0", "#d8d0c8")
# Pythagorean legs, so some distances come out whole.
LEGS = ((3, 4), (4, 3), (6, 8), (8, 6), (5, 12), (12, 5), (0, 3), (5, 0), (0, 6), (7, 0))


def _coord(x: float) -> str:
    return format_number(x, 1)


def _term(x: float) -> str:
    """A number inside a sum: negatives in parentheses, "(-3)"."""
    return f"({_coord(x)})" if x < 0 else _coord(x)


def _units(n: int) -> str:
    return "1 unit" if n == 1 else f"{n} units"


def point_text(x: float, y: float) -> str:
    """"(1.5, -2)": halves written with one decimal, integers without."""
    return f"({_coord(x)}, {_coord(y)})"


def _clip_line(p, q, box) -> list[list[float]]:
    """The part of the infinite line pq inside box = (xmin, xmax, ymin, ymax) (Liang–Barsky)."""
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    t_lo, t_hi = -math.inf, math.inf
    for delta, start, lo, hi in ((dx, x0, box[0], box[1]), (dy, y0, box[2], box[3])):
        if delta == 0:
            continue
        a, b = (lo - start) / delta, (hi - start) / delta
        t_lo, t_hi = max(t_lo, min(a, b)), min(t_hi, max(a, b))
    return [[float(x0 + t * dx), float(y0 + t * dy)] for t in (t_lo, t_hi)]


def _sample_points(rng, count, xs, ys, task, want_whole):
    """``count`` integer points off the axes, two units apart, fitting ``task``."""
    for _ in range(500):
        pts = []
        while len(pts) < count:
            p = (int(pick(rng, xs)), int(pick(rng, ys)))
            if all(max(abs(p[0] - a), abs(p[1] - b)) >= 2 for a, b in pts):
                pts.append(p)
        (x1, y1), (x2, y2) = pts[0], pts[1]
        if task == "slope" and x1 == x2:
            continue
        if task == "distance" and want_whole:
            legs = (abs(x2 - x1), abs(y2 - y1))
            if legs not in LEGS and (legs[1], legs[0]) not in LEGS:
                continue
        return [list(p) for p in pts]
    return None


@register("geometry", "coordinates")
class Coordinates(Renderer):
    # 2: worked solutions as steps (qa[].steps); 3: the quadrant's too; 4: qa[].difficulty
    version = "4"

    def sample_scene(self, rng):
        task = pick(rng, TASKS)
        while True:
            width, height = (int(v) for v in rng.integers(6, 13, size=2))
            xmin = -int(rng.integers(2, width - 1))
            ymin = -int(rng.integers(2, height - 1))
            xmax, ymax = xmin + width, ymin + height
            xs = [x for x in range(xmin + 1, xmax) if x != 0]
            ys = [y for y in range(ymin + 1, ymax) if y != 0]
            count = 3 if rng.random() < 0.4 else 2
            want_whole = task == "distance" and rng.random() < 0.4
            pts = _sample_points(rng, count, xs, ys, task, want_whole)
            if pts is not None:
                break
        names = list(pick(rng, NAME_SETS)[:count])
        show_coords = bool(rng.random() < 0.45) and task != "read"
        span = max(width, height)
        step = 2 if span > 10 or (span > 7 and rng.random() < 0.5) else 1
        asks = [{"task": task}]
        # A second question about the same picture, now and then.
        if rng.random() < 0.5:
            extra = [t for t in ("distance", "midpoint", "quadrant", "read")
                     if t != task and not (t == "read" and show_coords)]
            asks.append({"task": pick(rng, extra)})
        for ask in asks:
            if ask["task"] in ("quadrant", "read"):
                ask["points"] = [pick(rng, names)]
            elif ask is asks[0]:
                ask["points"] = names[:2]
            else:
                i, j = sorted(int(k) for k in rng.choice(count, size=2, replace=False))
                ask["points"] = [names[i], names[j]]
            if ask["task"] == "distance":
                ask["decimals"] = int(pick(rng, (1, 2)))
        connect = None
        if task in ("distance", "midpoint", "slope") and rng.random() < 0.6:
            p, q = pts[0], pts[1]
            if task == "slope":
                connect = _clip_line(p, q, (xmin, xmax, ymin, ymax))
            else:
                connect = [[float(v) for v in p], [float(v) for v in q]]
        return {
            "family": self.name,
            "task": task,
            "grid": {"xmin": xmin, "xmax": xmax, "ymin": ymin, "ymax": ymax, "step": step},
            "points": [{"name": n, "xy": p} for n, p in zip(names, pts, strict=True)],
            "asks": asks,
            "show_coords": show_coords,
            "connect": connect,
            "tick_labels": "axis" if rng.random() < 0.6 else "edge",
            "origin_label": pick(rng, ("O", "0", None)),
            "grid_color": pick(rng, GRID_GREYS),
            "margin": round(float(rng.uniform(0.02, 0.1)), 3),
            "style": sample_style(rng),
        }

    # ----------------------------------------------------------------------------------- draw

    def draw(self, scene, canvas):
        st = scene["style"]
        g = scene["grid"]
        xmin, xmax, ymin, ymax, step = g["xmin"], g["xmax"], g["ymin"], g["ymax"], g["step"]
        edge = scene["tick_labels"] == "edge"
        ink = st["ink"]
        tick_font = d._font(st, min(st["font_size"], 13) - 3 - st["font_size"], bold=False)
        axis_font = d._font(st, 1, italic=True)
        ticks = {axis: [v for v in range(lo - lo % step, hi + 1, step)
                        if v >= lo and (edge or v != 0)]
                 for axis, lo, hi in (("x", xmin, xmax), ("y", ymin, ymax))}
        # Fit: the grid, the axes running past it, and the pixels that labels need around it.
        # Units the axes run past the grid, before and after (edge labels sit right beyond it).
        over_lo, over_hi = (0.0 if edge else 0.3), 0.7
        w_tick = max(canvas.measure(format_number(v), **tick_font)[0] for v in ticks["y"])
        h_tick = canvas.measure("0", **tick_font)[1]
        w_x, h_x = canvas.measure("x", **axis_font)
        w_y, h_y = canvas.measure("y", **axis_font)
        left, bottom = 8 + (w_tick + 10 if edge else 0), 8 + (h_tick + 9 if edge else 0)
        right, top = w_x + 14, h_y + 12
        room = canvas.size * (1 - 2 * scene["margin"])
        scale = min((room - left - right) / (xmax - xmin + over_lo + over_hi),
                    (room - bottom - top) / (ymax - ymin + over_lo + over_hi))
        x0, x1 = xmin - over_lo - left / scale, xmax + over_hi + right / scale
        y0, y1 = ymin - over_lo - bottom / scale, ymax + over_hi + top / scale
        half = canvas.size / scale / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        view = (cx - half, cy - half, cx + half, cy + half)
        canvas.begin((view[0], view[2]), (view[1], view[3]), background=st["paper"])
        upp = canvas.units_per_pixel
        # Gridlines at every unit.
        grid_lw = 0.8 if st["line_width"] < 2 else 1.0
        # One collection per kind of line: a Line2D each would cost ~0.1 ms apiece.
        grid = [[(x, ymin), (x, ymax)] for x in range(xmin, xmax + 1)]
        grid += [[(xmin, y), (xmax, y)] for y in range(ymin, ymax + 1)]
        canvas.add(LineCollection(grid, colors=scene["grid_color"], linewidths=grid_lw,
                                  gid="grid"))
        # Axes with arrowheads on their positive ends, short tick marks at every unit.
        axis_lw = max(1.2, st["line_width"] * 0.75)
        head, wing = 10 * upp, 4 * upp
        xe, ye = xmax + over_hi, ymax + over_hi
        canvas.add(Line2D([xmin - over_lo, xe - head / 2], [0, 0], color=ink, linewidth=axis_lw))
        canvas.add(Line2D([0, 0], [ymin - over_lo, ye - head / 2], color=ink, linewidth=axis_lw))
        for tri in ([[xe, 0], [xe - head, wing], [xe - head, -wing]],
                    [[0, ye], [wing, ye - head], [-wing, ye - head]]):
            canvas.add(Polygon(tri, closed=True, facecolor=ink, edgecolor=ink, linewidth=0.5))
        tick = 3 * upp
        marks = [[(x, -tick), (x, tick)] for x in range(xmin, xmax + 1)]
        marks += [[(-tick, y), (tick, y)] for y in range(ymin, ymax + 1)]
        canvas.add(LineCollection(marks, colors=ink, linewidths=axis_lw * 0.7))
        # Boxes (data units) that the point labels must keep clear of.
        pad = 4 * upp
        obstacles = [(xmin - over_lo, -pad, xe, pad), (-pad, ymin - over_lo, pad, ye)]
        # Axis names beyond the arrowheads.
        for name, lx, ly, (w, h) in (("x", xe + (w_x / 2 + 6) * upp, 0.0, (w_x, h_x)),
                                     ("y", 0.0, ye + (h_y / 2 + 5) * upp, (w_y, h_y))):
            d.label(canvas, lx, ly, name, st, size_delta=1, italic=True)
            obstacles.append(_box(lx, ly, w * upp, h * upp))
        # The segment or line through the first two points.
        segments = []
        if scene["connect"]:
            p, q = (np.array(v, dtype=float) for v in scene["connect"])
            d.segment(canvas, p, q, st["accent"], max(1.2, st["line_width"] * 0.8))
            segments.append((p, q))
        # Tick labels along the grid's edges, or on the axes masking the gridline behind them:
        # below the x-axis and left of the y-axis, or across it where the drawn segment passes.
        clear = 2 * upp
        pts = [np.array(p["xy"], dtype=float) for p in scene["points"]]
        dot_r = 5 * upp
        dots = [(p[0] - dot_r, p[1] - dot_r, p[0] + dot_r, p[1] + dot_r) for p in pts]
        ticks_planned = []  # (text, x, y, box)
        for axis in ("x", "y"):
            for v in ticks[axis]:
                text = format_number(v)
                w, h = canvas.measure(text, **tick_font)
                spots = []
                for side in ((-1,) if edge else (-1, 1)):
                    if axis == "x":
                        spots.append((float(v), (ymin if edge else 0.0) + side * (h / 2 + 5) * upp))
                    else:
                        spots.append(((xmin if edge else 0.0) + side * (w / 2 + 6) * upp, float(v)))
                for lx, ly in spots:
                    box = _box(lx, ly, w * upp, h * upp)
                    grown = _grow(box, clear)
                    if not any(_hits(grown, a, b) for a, b in segments) and not any(
                            _overlap(grown, o) for o in dots + [t[3] for t in ticks_planned]):
                        ticks_planned.append((text, lx, ly, box))
                        break
        if scene["origin_label"] and not edge:
            text = scene["origin_label"]
            w, h = canvas.measure(text, **tick_font)
            lx, ly = -(w / 2 + 5) * upp, -(h / 2 + 5) * upp
            box = _box(lx, ly, w * upp, h * upp)
            grown = _grow(box, clear)
            if not any(_hits(grown, a, b) for a, b in segments) and not any(
                    _overlap(grown, o) for o in dots):
                ticks_planned.append((text, lx, ly, box))
        # Points, then their labels, each where it collides least: never with the drawing or
        # another point's label if it can help it, and preferably not with a tick label (a tick
        # label in the way is left out; its neighbours still number the grid).
        obstacles += dots
        dot_color = ink if st["mono"] else st["accent"]
        for point, p in zip(scene["points"], pts, strict=True):
            canvas.tag_point(f"point {point['name']}", p, on=d.dot(canvas, p, dot_color,
                                                                   size_px=7))
        soft = [t[3] for t in ticks_planned]
        delta = -1 if scene["show_coords"] else 1
        point_boxes = []
        for point, p in zip(scene["points"], pts, strict=True):
            # The first size (trying smaller type) with a spot that collides with nothing, else
            # the spot with the least collision, hard obstacles first. Where printed coordinates
            # find no free spot, the name alone goes there (the grid still gives them exactly).
            texts = [point["name"]]
            if scene["show_coords"]:
                texts.insert(0, point["name"] + point_text(*point["xy"]))
            tried = []
            for text in texts:
                for shrink in (0, 1, 2):
                    font = d._font(st, delta - shrink, italic=st["italic_points"])
                    w, h = (v * upp for v in canvas.measure(text, **font))
                    cost, lx, ly, box = _place_label(p, w, h, upp, obstacles, soft, segments,
                                                     view)
                    tried.append((cost[:2], text, lx, ly, box, font))
                    if cost[:2] == (0, 0):
                        break
                free = [t for t in tried if t[1] == text and t[0][0] == 0]
                if free:
                    best = min(free, key=lambda t: t[0][1])
                    break
            else:
                best = min(tried, key=lambda t: t[0])
            _, text, lx, ly, box, font = best
            canvas.text(lx, ly, text, color=ink, background=st["paper"], **font)
            obstacles.append(box)
            point_boxes.append(_grow(box, clear))
        for text, lx, ly, box in ticks_planned:
            if not any(_overlap(box, b) for b in point_boxes):
                canvas.text(lx, ly, text, color=ink, background=None if edge else st["paper"],
                            **tick_font)

    # ------------------------------------------------------------------------------ questions

    def questions(self, scene, rng):
        coords = {p["name"]: tuple(p["xy"]) for p in scene["points"]}
        return [self._ask(ask, coords, rng) for ask in scene["asks"]]

    def _ask(self, ask, coords, rng):
        task = ask["task"]
        if task in ("quadrant", "read"):
            (name,) = ask["points"]
            x, y = coords[name]
            if task == "read":
                q = pick(rng, [f"What are the coordinates of point {name}?",
                               f"Read the coordinates of {name} from the grid.",
                               f"Give the coordinates (x, y) of point {name}.",
                               f"Where is point {name}? Answer with its coordinates."])
                side = "right of" if x > 0 else "left of"
                level = "above" if y > 0 else "below"
                steps = [step(f"Point {name} is {_units(abs(x))} {side} the y-axis", number(x),
                              x),
                         step(f"and {_units(abs(y))} {level} the x-axis, so {name} = "
                              f"{point_text(x, y)}.", number(y), y)]
                return text_qa(q, point_text(x, y), type="coordinates_read", value=[x, y],
                               steps=steps)
            quadrant = QUADRANTS[(1 if x > 0 else -1, 1 if y > 0 else -1)]
            q = pick(rng, [f"In which quadrant does point {name} lie?",
                           f"Which quadrant contains point {name}?",
                           f"Point {name} is in which quadrant?",
                           f"Name the quadrant of the coordinate plane that point {name} is in."])
            # the signs of the two coordinates, read off the grid, decide the quadrant
            steps = [step(f"Point {name} = {point_text(x, y)}: its x-coordinate {_coord(x)} is "
                          f"{'positive' if x > 0 else 'negative'}", number(x), x),
                     step(f"and its y-coordinate {_coord(y)} is "
                          f"{'positive' if y > 0 else 'negative'}, so it lies in Quadrant "
                          f"{ROMAN[quadrant]}.", number(y), y)]
            return text_qa(q, f"Quadrant {ROMAN[quadrant]}", type="coordinates_quadrant",
                           value=quadrant, steps=steps)
        a, b = ask["points"]
        (x1, y1), (x2, y2) = coords[a], coords[b]
        dx, dy = x2 - x1, y2 - y1
        if task == "distance":
            squared = dx * dx + dy * dy
            dist = math.sqrt(squared)
            q = pick(rng, [f"What is the distance between points {a} and {b}?",
                           f"Find the length of segment {a}{b}.",
                           f"How far apart are points {a} and {b}?",
                           f"Using the grid, find the distance from {a} to {b}."])
            root = math.isqrt(squared)
            value = (f"√{squared} = {root}" if root * root == squared
                     else f"√{squared} ≈ {format_number(dist, ask['decimals'])}")
            steps = [step(f"The distance is √(Δx² + Δy²) = √({_term(dx)}² + {_term(dy)}²) = "
                          f"{value}.", f"sqrt(({number(x2)} - {number(x1)}) ** 2 + "
                          f"({number(y2)} - {number(y1)}) ** 2)", dist)]
            # the square root forgotten
            mistakes = [("root_forgotten", [step(
                f"The distance is Δx² + Δy² = {_term(dx)}² + {_term(dy)}² = {squared}.",
                f"({number(x2)} - {number(x1)}) ** 2 + ({number(y2)} - {number(y1)}) ** 2",
                squared)])]
            return numeric_qa(q, dist, type="coordinates_distance", decimals=ask["decimals"],
                              steps=steps, mistakes=mistakes)
        if task == "midpoint":
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            q = pick(rng, [f"What are the coordinates of the midpoint of segment {a}{b}?",
                           f"Find the midpoint of {a} and {b}.",
                           f"M is the midpoint of {a}{b}. What are the coordinates of M?",
                           f"Which point lies exactly halfway between {a} and {b}? "
                           "Give its coordinates."])
            steps = [step(f"The midpoint averages the coordinates: x = ({_coord(x1)} + "
                          f"{_term(x2)})/2 = {_coord(mx)}", f"({number(x1)} + {number(x2)}) / 2",
                          mx),
                     step(f"and y = ({_coord(y1)} + {_term(y2)})/2 = {_coord(my)}, so the "
                          f"midpoint is {point_text(mx, my)}.",
                          f"({number(y1)} + {number(y2)}) / 2", my)]
            return text_qa(q, point_text(mx, my), type="coordinates_midpoint",
                           value=[round_value(mx, 1), round_value(my, 1)], steps=steps)
        slope = Fraction(dy, dx)
        q = pick(rng, [f"What is the slope of the line through {a} and {b}?",
                       f"Find the slope of line {a}{b}.",
                       f"What is the gradient of the line passing through points {a} and {b}?",
                       f"Compute the slope of the line that connects {a} and {b}."])
        if slope.denominator != 1:
            q += " Give it as a fraction in lowest terms."
        ratio = f"{_coord(dy)}/{_term(dx)}"
        result = format_fraction(slope)
        steps = [step(f"Slope = Δy / Δx = ({_coord(y2)} − {_term(y1)}) / ({_coord(x2)} − "
                      f"{_term(x1)}) = {ratio}{'' if ratio == result else f' = {result}'}.",
                      f"({number(y2)} - {number(y1)}) / ({number(x2)} - {number(x1)})",
                      float(slope))]
        return text_qa(q, format_fraction(slope), type="coordinates_slope",
                       value=format_fraction(slope), steps=steps)

    def caption(self, scene):
        names = [p["name"] for p in scene["points"]]
        listed = spoken_list(names)
        coords = " labelled with their coordinates" if scene["show_coords"] else ""
        line = {None: "", "distance": f", joined by segment {names[0]}{names[1]}",
                "midpoint": f", joined by segment {names[0]}{names[1]}",
                "slope": f", with the line through {names[0]} and {names[1]}"}
        joined = line.get(scene["task"], "") if scene["connect"] else ""
        return f"a coordinate grid with x and y axes and points {listed} plotted{coords}{joined}"


# Label spots around a point, in order of preference: NE, NW, SE, SW, E, W, N, S, then N and
# S slid sideways and E and W slid up and down. (ux, uy, slide): the box sits on side ux, uy of
# the point and ``slide`` of its own width (or height) along.
SPOTS = ((1, 1, 0), (-1, 1, 0), (1, -1, 0), (-1, -1, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0),
         (0, -1, 0), (0, 1, 0.3), (0, 1, -0.3), (0, -1, 0.3), (0, -1, -0.3), (1, 0, 0.6),
         (1, 0, -0.6), (-1, 0, 0.6), (-1, 0, -0.6))


def _place_label(p, w, h, upp, hard, soft, segments, view):
    """((hard, soft, rank), x, y, box) of the best spot for a w × h label beside point p.

    ``hard`` counts what must not be covered: obstacle boxes (overlap as a fraction of the label),
    segments crossed, leaving the view; ``soft`` the overlap with boxes that may give way.
    """
    gap, clear = 5 * upp, 2 * upp
    best = None
    for k, (ux, uy, slide) in enumerate(SPOTS):
        lx = p[0] + ux * (w / 2 + gap + (0 if uy else 2 * upp)) + (0 if ux else slide * w)
        ly = p[1] + uy * (h / 2 + gap + (0 if ux else 2 * upp)) + (0 if uy else slide * h)
        box = _box(lx, ly, w, h)
        grown = _grow(box, clear)
        bad = sum(_overlap(grown, o) for o in hard) / (w * h)
        bad += sum(1.0 for a, b in segments if _hits(grown, a, b))
        if not _contains(view, box, 3 * upp):
            bad += 100.0
        give = sum(_overlap(grown, o) for o in soft) / (w * h)
        cost = (round(bad, 6), round(give, 6), k)
        if best is None or cost < best[0]:
            best = (cost, lx, ly, box)
    return best


def _box(cx: float, cy: float, w: float, h: float) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _grow(box, by: float) -> tuple[float, float, float, float]:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _contains(outer, inner, pad: float) -> bool:
    return (inner[0] >= outer[0] + pad and inner[1] >= outer[1] + pad
            and inner[2] <= outer[2] - pad and inner[3] <= outer[3] - pad)


def _hits(box, p, q) -> bool:
    """Whether segment pq passes through ``box`` (Liang–Barsky clipping)."""
    t_lo, t_hi = 0.0, 1.0
    for delta, start, lo, hi in ((q[0] - p[0], p[0], box[0], box[2]),
                                 (q[1] - p[1], p[1], box[1], box[3])):
        if abs(delta) < 1e-12:
            if not lo <= start <= hi:
                return False
            continue
        a, b = (lo - start) / delta, (hi - start) / delta
        t_lo, t_hi = max(t_lo, min(a, b)), min(t_hi, max(a, b))
    return t_lo <= t_hi
