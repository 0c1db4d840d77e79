"""Polygons: regular polygons (perimeter, angle sum, one interior or exterior angle) and
rectangles, parallelograms and trapezoids (area or perimeter from the labelled lengths).

Only what the labels determine is asked: a parallelogram's area needs its height, its perimeter
its slanted side; a trapezoid's perimeter needs all four sides.
"""

from __future__ import annotations

import math

import numpy as np

from renderers import register
from renderers.base import Renderer
from renderers.geometry import draw as d
from renderers.qa import area_unit, format_number, numeric_qa, pick
from renderers.solution import number, step
from renderers.style import sample_style

SHAPES = ("regular", "regular", "rectangle", "parallelogram", "trapezoid")
REGULAR_TASKS = ("perimeter", "angle_sum", "interior_angle", "exterior_angle")
UNITS = ("cm", "m", "mm", "in", "ft", "units")
POLYGON_NAMES = {5: "pentagon", 6: "hexagon", 7: "heptagon", 8: "octagon", 9: "nonagon",
                 10: "decagon"}
QUAD_NAMES = ("ABCD", "PQRS", "KLMN", "WXYZ", "EFGH")
FIRST_LETTERS = ("A", "K", "P")
ARC_PX = 26  # radius of the arc marking an angle
TICK_PX = 5  # half the length of an equal-sides tick
EXTENSION = 0.9  # how far a side is extended past a vertex to show an exterior angle, in sides


def _regular(rng: np.random.Generator) -> dict:
    n = int(rng.integers(5, 11))
    side = int(rng.integers(2, 21))
    task = pick(rng, REGULAR_TASKS)
    # Vertices on the circumcircle, side ``side`` long, from a random start angle; the names run
    # counter-clockwise or clockwise.
    radius = side / (2 * math.sin(math.pi / n))
    start = float(rng.uniform(0, 360))
    step = 360 / n if rng.random() < 0.5 else -360 / n
    pts = [[radius * math.cos(math.radians(start + k * step)),
            radius * math.sin(math.radians(start + k * step))] for k in range(n)]
    show_side = task == "perimeter" or rng.random() < 0.5
    # Names crowd a labelled side once the sides get short; the extension of an exterior angle
    # runs through a name's spot.
    named = task != "exterior_angle" and (n <= 8 or not show_side) and rng.random() < 0.7
    first = ord(pick(rng, FIRST_LETTERS))
    names = [chr(first + k) for k in range(n)] if named else None
    marked = int(rng.integers(n))  # the vertex of the angle marked "?"
    # The labelled side runs from vertex ``labelled`` to the next one; for an exterior angle it is
    # not one of the two sides at the marked vertex, which the extension and the mark crowd.
    labelled = int(rng.integers(n))
    if task == "exterior_angle":
        labelled = (marked + 1 + int(rng.integers(n - 2))) % n
    return {
        "shape": "regular",
        "task": task,
        "n": n,
        "names": names,
        "vertices": pts,
        "labels": ([{"side": [labelled, (labelled + 1) % n], "length": side}]
                   if show_side else []),
        "side": side,
        "marked_vertex": marked if task in ("interior_angle", "exterior_angle") else None,
        # Equal-side ticks, except where they would crowd the mark of a narrow exterior angle.
        "ticks": bool(rng.random() < 0.5) and task != "exterior_angle",
    }


def _rectangle(rng: np.random.Generator, family: PolygonFamily) -> dict:
    while True:
        w, h = (int(x) for x in rng.integers(2, 26, size=2))
        if w != h and max(w, h) <= 3 * min(w, h):
            break
    scene = {
        "shape": "rectangle",
        "task": family.pick_task(rng, ("area", "perimeter")),
        "vertices": [[0.0, 0.0], [float(w), 0.0], [float(w), float(h)], [0.0, float(h)]],
        "labels": [{"side": [0, 1], "length": w}, {"side": [1, 2], "length": h}],
        "all_right_marks": bool(rng.random() < 0.5),
    }
    if scene["task"] in family.backward_tasks:
        # Backward: the area or the perimeter given, one of the two sides marked ? and asked.
        scene["asked"] = int(rng.integers(2))  # which of the two labels
        scene["stated"] = w * h if scene["task"] == "side_from_area" else 2 * (w + h)
    return scene


def _parallelogram(rng: np.random.Generator) -> dict:
    task = pick(rng, ("area", "perimeter"))
    while True:
        base, height = int(rng.integers(5, 26)), int(rng.integers(3, 21))
        slant = int(rng.integers(height + 1, 2 * height + 2))
        run = math.sqrt(slant * slant - height * height)
        # Not too flat, the foot of the height inside the base, no side too short for its label.
        if (height / slant >= 0.5 and run <= 0.7 * base and 0.8 * height <= base
                and base + run <= 3 * height and slant >= 0.55 * base):
            break
    lean = 1.0 if rng.random() < 0.5 else -1.0
    # Leaning right (lean = 1) or left; A B C D counter-clockwise from the bottom left.
    pts = [[0.0, 0.0], [base, 0.0], [base + lean * run, height], [lean * run, height]]
    # The height drops from the top vertex above the base (inside), or from the overhanging
    # one onto the extended base (outside). Inside, its label needs room between the height
    # and the far slanted side.
    outside = (base - run / 2) < 0.55 * (base + run) or rng.random() < 0.3
    top = (2 if lean > 0 else 3) if outside else (3 if lean > 0 else 2)
    foot = [pts[top][0], 0.0]
    labels = [{"side": [0, 1], "length": base}]
    # The slanted side is needed for the perimeter; for the area it is a distractor. An outside
    # height has the slanted side next to it, so the label goes on the opposite one.
    if task == "perimeter" or rng.random() < 0.4:
        near = [1, 2] if lean > 0 else [3, 0]
        far = [3, 0] if lean > 0 else [1, 2]
        side = far if outside else pick(rng, (near, far))
        labels.append({"side": list(side), "length": slant})
    # The height is needed for the area; for the perimeter it is a distractor.
    show_height = task == "area" or rng.random() < 0.3
    return {
        "shape": "parallelogram",
        "task": task,
        "vertices": [[float(x), float(y)] for x, y in pts],
        "labels": labels,
        "height": ({"from": top, "foot": foot, "length": height, "outside": outside}
                   if show_height else None),
    }


def _trapezoid(rng: np.random.Generator) -> dict:
    task = pick(rng, ("area", "perimeter"))
    if task == "area":
        while True:
            a, b, h = (int(x) for x in rng.integers([6, 3, 3], [31, 25, 25]))
            x1 = float(rng.uniform(0.2, 0.8)) * (a - b)
            # The height drops from the top vertex that leaves its label the wider gap: from D
            # the label sits to its right, from C to its left (measured half-way up).
            right, left = (a + b - x1) / 2, x1 / 2 + b
            top = 3 if right >= left else 2
            # ... and it must stand clear of the leg beside it, for its right-angle mark.
            beside = x1 if top == 3 else a - b - x1
            if (0.35 * a <= b <= 0.8 * a and 0.35 * a <= h <= 0.8 * a
                    and max(left, right) >= 0.6 * a and beside >= 0.08 * a):
                break
        pts = [[0.0, 0.0], [a, 0.0], [x1 + b, h], [x1, h]]
        labels = [{"side": [0, 1], "length": a}, {"side": [2, 3], "length": b}]
        height = {"from": top, "foot": [pts[top][0], 0.0], "length": h, "outside": False}
    else:
        # The legs and the difference of the bases form a triangle; the top base shifts it up.
        while True:
            l1, l2, gap = (int(x) for x in rng.integers([3, 3, 2], [21, 21, 21]))
            if not abs(l1 - l2) < gap < l1 + l2:
                continue
            cos1 = (gap * gap + l1 * l1 - l2 * l2) / (2 * gap * l1)
            cos2 = (gap * gap + l2 * l2 - l1 * l1) / (2 * gap * l2)
            a1, a2 = math.degrees(math.acos(cos1)), math.degrees(math.acos(cos2))
            if not (40 <= a1 <= 85 and 40 <= a2 <= 85):
                continue
            h = l1 * math.sin(math.radians(a1))
            b = int(rng.integers(3, 26))
            a = b + gap
            if 0.3 * a <= b and 1.0 <= a / h <= 3.5:
                break
        x1 = l1 * cos1
        pts = [[0.0, 0.0], [a, 0.0], [x1 + b, h], [x1, h]]
        labels = [{"side": [0, 1], "length": a}, {"side": [1, 2], "length": l2},
                  {"side": [2, 3], "length": b}, {"side": [3, 0], "length": l1}]
        height = None
    return {
        "shape": "trapezoid",
        "task": task,
        "vertices": [[float(x), float(y)] for x, y in pts],
        "labels": labels,
        "height": height,
    }


def _place(scene: dict, rng: np.random.Generator) -> None:
    """Mirror and rotate the figure (and the foot of its height) in place."""
    mirror = rng.random() < 0.5
    angle = float(rng.uniform(0, 360)) if rng.random() < 0.6 else 0.0
    if scene.get("height"):
        # A height label sits beside the dashed height: keep that roughly upright.
        tilt = 20 if scene["shape"] == "parallelogram" else 12
        angle = float(rng.uniform(-tilt, tilt)) if rng.random() < 0.6 else 0.0
    if scene["shape"] == "regular":
        return  # its start angle and direction are random already

    def move(points):
        points = np.asarray(points, float)
        if mirror:
            points = points * np.array([-1.0, 1.0])
        return [[float(x), float(y)] for x, y in d.rotate(points, angle)]

    scene["vertices"] = move(scene["vertices"])
    if scene.get("height"):
        scene["height"]["foot"] = move([scene["height"]["foot"]])[0]


@register("geometry", "polygon")
class PolygonFamily(Renderer):
    version = "3"  # 2: worked solutions as steps (qa[].steps); 3: qa[].difficulty
    backward_tasks = ("side_from_area", "side_from_perimeter")  # rectangles

    def sample_scene(self, rng):
        shape = pick(rng, SHAPES)
        scene = {"family": self.name}
        if shape == "rectangle":
            scene.update(_rectangle(rng, self))
        else:
            scene.update({"regular": _regular, "parallelogram": _parallelogram,
                          "trapezoid": _trapezoid}[shape](rng))
        _place(scene, rng)
        if shape != "regular":
            scene["names"] = list(pick(rng, QUAD_NAMES))
        scene.update({
            "unit": pick(rng, UNITS),
            "decimals": int(pick(rng, (1, 2))),
            "margin": round(float(rng.uniform(0.1, 0.28)), 3),
            "style": sample_style(rng),
        })
        return scene

    def draw(self, scene, canvas):
        st = scene["style"]
        pts = np.array(scene["vertices"])
        n = len(pts)
        unit = scene["unit"]
        center = pts.mean(axis=0)
        lw = max(1.0, st["line_width"] * 0.7)
        height = scene.get("height")
        if height:
            foot_pt = np.array(height["foot"])
            # The base vertex next to the foot (the one an outside height's extension leaves).
            near_index = min((0, 1), key=lambda i: float(np.hypot(*(pts[i] - foot_pt))))

        def paint(target):
            word = POLYGON_NAMES[n] if scene["shape"] == "regular" else scene["shape"]
            d.tag_figure(target, d.polygon(target, pts, st), word, pts, scene.get("names"))
            if scene.get("ticks"):
                for i in range(n):
                    d.tick_marks(target, pts[i], pts[(i + 1) % n], 1, st["ink"], lw,
                                 size_px=TICK_PX)
            if scene["shape"] == "rectangle":
                for i in range(n) if scene["all_right_marks"] else (1,):
                    d.right_angle_mark(target, pts[i], pts[i - 1], pts[(i + 1) % n], 10,
                                       st["accent"], lw)
            if height:
                top, foot = pts[height["from"]], np.array(height["foot"])
                d.segment(target, top, foot, st["accent"], lw, dashed=True)
                toward = _side_toward(top, foot, center)
                text = f"h = {height['length']} {unit}"
                if height["outside"]:
                    # The base extended to the foot; the mark towards the figure, the label
                    # away from it.
                    near = pts[near_index]
                    d.segment(target, near, foot, st["ink"], lw, dashed=True)
                    d.right_angle_mark(target, foot, top, near, 9, st["accent"], lw)
                    d.side_label(target, top, foot, text, center, st, color=st["accent"])
                else:
                    # Inside: the label towards the middle of the figure, the mark away from it.
                    d.right_angle_mark(target, foot, top, foot - toward, 9, st["accent"], lw)
                    d.side_label(target, top, foot, text, (top + foot) / 2 - toward, st,
                                 color=st["accent"])
            marked = scene.get("marked_vertex")
            if marked is not None:
                v, prev, nxt = pts[marked], pts[marked - 1], pts[(marked + 1) % n]
                if scene["task"] == "exterior_angle":
                    ext = v + (v - prev) * EXTENSION
                    d.segment(target, v, ext, st["ink"], lw, dashed=True)
                    prev = 2 * v - prev  # the angle between the extension and the next side
                radius = d.snug_arc_radius(target, v, prev, nxt, "?", ARC_PX, st)
                d.angle_arc(target, v, prev, nxt, radius, st["accent"], lw)
                d.angle_label(target, v, prev, nxt, "?", radius, st, color=st["accent"])
            if scene.get("names"):
                names = scene["names"]
                if height and height["outside"]:
                    # The extended base runs through the near base vertex's usual spot.
                    k = near_index
                    rest = [i for i in range(n) if i != k]
                    d.name_vertices(target, pts[rest], [names[i] for i in rest], st,
                                    center=center)
                    away = d.free_direction(pts[k], [pts[k - 1], pts[(k + 1) % n], foot_pt])
                    d.name_point(target, pts[k], names[k], st, away)
                else:
                    d.name_vertices(target, pts, names, st, center=center)
            for k, item in enumerate(scene["labels"]):
                i, j = item["side"]
                text = "?" if scene.get("asked") == k else f"{item['length']} {unit}"
                if scene.get("ticks"):
                    # Clear of the tick across the side's middle, not just of the side.
                    out = -_side_toward(pts[i], pts[j], center)
                    gap = d.clearance(target, text, st, out, pad_px=8 + TICK_PX)
                    d.label(target, *((pts[i] + pts[j]) / 2 + out * gap), text, st)
                else:
                    d.side_label(target, pts[i], pts[j], text, center, st)

        fit = pts
        if scene.get("task") == "exterior_angle":
            v, prev = pts[scene["marked_vertex"]], pts[scene["marked_vertex"] - 1]
            fit = np.vstack([pts, v + (v - prev) * EXTENSION])
        if height:
            fit = np.vstack([pts, height["foot"]])
        d.begin_fitted(canvas, fit, scene["margin"], st["paper"])
        paint(canvas)

    def questions(self, scene, rng):
        if scene["shape"] == "regular":
            return [self._regular_question(scene, rng)]
        items = [self._quad_question(scene, rng)]
        if self.composed and scene["shape"] == "rectangle" and "asked" not in scene:
            items.append(self._diagonal(scene, rng))
        return items

    @staticmethod
    def _diagonal(scene, rng):
        """Composed (2 steps): a rectangle's diagonal from its sides, by Pythagoras."""
        names, unit = scene["names"], scene["unit"]
        quad, diagonal = "".join(names), names[0] + names[2]
        w, h = (label["length"] for label in scene["labels"])
        total = w * w + h * h
        value = math.sqrt(total)
        dec = scene["decimals"]
        q = pick(rng, [f"How long is the diagonal {diagonal} of rectangle {quad}?",
                       f"What is the length of the diagonal {diagonal} of the rectangle {quad}?"])
        shown = format_number(value, None if abs(value - round(value)) < 1e-9 else dec)
        steps = [step(f"The diagonal is the hypotenuse of a right triangle with legs {w} and "
                      f"{h}: {diagonal}² = {w}² + {h}² = {total},",
                      f"{number(w)} ** 2 + {number(h)} ** 2", total),
                 step(f"so {diagonal} = √{total} {'=' if shown.isdigit() else '≈'} {shown}.",
                      f"sqrt({number(total)})", value)]
        return numeric_qa(q, value, type="rectangle_diagonal", unit=unit, decimals=dec,
                          steps=steps)

    @staticmethod
    def _regular_question(scene, rng):
        n, task, unit, names = scene["n"], scene["task"], scene["unit"], scene["names"]
        shape = POLYGON_NAMES[n]
        called = f"{shape} {''.join(names)}" if names else f"{shape}"
        if task == "perimeter":
            s = scene["side"]
            q = pick(rng, [
                f"What is the perimeter of the regular {called}?",
                "The polygon shown is regular, with one side labelled. What is its perimeter?",
                f"All sides of this regular {shape} are equal. Find its perimeter.",
                "Find the perimeter of the regular polygon shown.",
            ])
            steps = [step(f"A regular {shape} has {n} equal sides, so the perimeter is "
                          f"{n} × {s} = {n * s}.", f"{n} * {number(s)}", n * s)]
            return numeric_qa(q, n * s, type="polygon_perimeter", unit=unit, steps=steps)
        total = (n - 2) * 180
        if task == "angle_sum":
            q = pick(rng, [
                f"What is the sum of the interior angles of this {shape}?",
                "Find the sum of the interior angles of the polygon shown.",
                f"What do the interior angles of the {called} add up to?",
                "How many degrees do the interior angles of the polygon shown add up to?",
            ])
            steps = [step(f"The polygon has {n} sides, so its interior angles add up to "
                          f"({n} − 2) × 180° = {total}°.", f"({n} - 2) * 180", total)]
            mistakes = [("two_not_subtracted", [step(
                f"The polygon has {n} sides, so its interior angles add up to "
                f"{n} × 180° = {n * 180}°.", f"{n} * 180", n * 180)])]
            return numeric_qa(q, total, type="polygon_angle_sum", unit="°", steps=steps,
                              mistakes=mistakes)
        dec = scene["decimals"]
        if task == "interior_angle":
            value = total / n
            q = pick(rng, [
                f"What is the measure of the angle marked with a question mark in the regular "
                f"{called}?",
                "The polygon shown is regular. Find the interior angle marked with a question "
                "mark.",
                f"Find the size of one interior angle of this regular {shape}.",
                "How large is each interior angle of the regular polygon shown?",
            ])
            steps = [step(f"A regular {shape} has {n} equal interior angles adding up to "
                          f"({n} − 2) × 180° = {total}°,", f"({n} - 2) * 180", total),
                     step(f"so each is {total}° ÷ {n}{_eq(value, dec)}°.", f"{total} / {n}",
                          value)]
            # the exterior angle's rule used for the interior angle
            mistakes = [("exterior_rule", [step(
                f"A regular {shape} has {n} equal angles adding up to 360°, so each is "
                f"360° ÷ {n}{_eq(360 / n, dec)}°.", f"360 / {n}", 360 / n)])]
            return numeric_qa(q, value, type="polygon_interior_angle", unit="°", decimals=dec,
                              steps=steps, mistakes=mistakes)
        value = 360 / n
        q = pick(rng, [
            f"One side of this regular {shape} is extended. What is the exterior angle marked with "
            "a question mark?",
            "The polygon shown is regular. Find the exterior angle marked with a question mark.",
            f"What is the measure of the marked exterior angle of the regular {shape}?",
            "A side of the regular polygon shown is extended. How large is the marked exterior "
            "angle?",
        ])
        steps = [step(f"The exterior angles of a polygon add up to 360°; a regular {shape} has "
                      f"{n} equal ones, so each is 360° ÷ {n}{_eq(value, dec)}°.", f"360 / {n}",
                      value)]
        # the interior angle computed instead
        inner = (n - 2) * 180
        mistakes = [("interior_rule", [
            step(f"The angles of a {shape} add up to ({n} − 2) × 180° = {inner}°,",
                 f"({n} - 2) * 180", inner),
            step(f"so each is {inner}° ÷ {n}{_eq(inner / n, dec)}°.", f"{inner} / {n}",
                 inner / n)])]
        return numeric_qa(q, value, type="polygon_exterior_angle", unit="°", decimals=dec,
                          steps=steps, mistakes=mistakes)

    @staticmethod
    def _quad_question(scene, rng):
        shape, task, unit = scene["shape"], scene["task"], scene["unit"]
        quad = "".join(scene["names"])
        if "asked" in scene:
            return PolygonFamily._rectangle_side(scene, rng)
        lengths = [item["length"] for item in scene["labels"]]
        kind = f"{shape}_{task}"
        if task == "perimeter":
            q = pick(rng, [
                f"What is the perimeter of {shape} {quad}?",
                f"Find the perimeter of the {shape} {quad}.",
                f"Using the labelled lengths, compute the perimeter of {shape} {quad}.",
                f"How long is the boundary of {shape} {quad} in total?",
            ])
            if shape == "trapezoid":
                total = sum(lengths)
                steps = [step(f"The perimeter is the sum of the four sides: "
                              f"{' + '.join(map(str, lengths))} = {total}.",
                              " + ".join(map(number, lengths)), total)]
                mistakes = None
            else:
                a, b = lengths[0], lengths[1]
                total = 2 * (a + b)
                steps = [step(f"Opposite sides of a {shape} are equal, so the perimeter is "
                              f"2 × ({a} + {b}) = {total}.", f"2 * ({number(a)} + {number(b)})",
                              total)]
                mistakes = [("labelled_sides_only", [step(
                    f"The perimeter is the sum of the sides: {a} + {b} = {a + b}.",
                    f"{number(a)} + {number(b)}", a + b)])]
            return numeric_qa(q, total, type=kind, unit=unit, steps=steps, mistakes=mistakes)
        q = pick(rng, [
            f"What is the area of {shape} {quad}?",
            f"Find the area of the {shape} {quad}.",
            f"Using the labelled lengths, compute the area of {shape} {quad}.",
            f"How much area does {shape} {quad} enclose?",
        ])
        sq_unit = area_unit(unit)
        if shape == "rectangle":
            w, h = lengths
            steps = [step(f"Area = length × width = {w} × {h} = {w * h}.",
                          f"{number(w)} * {number(h)}", w * h)]
            # the perimeter's formula used for the area
            mistakes = [("perimeter_formula", [step(
                f"Area = 2 × (length + width) = 2 × ({w} + {h}) = {2 * (w + h)}.",
                f"2 * ({number(w)} + {number(h)})", 2 * (w + h))])]
            return numeric_qa(q, w * h, type=kind, unit=sq_unit, steps=steps, mistakes=mistakes)
        h = scene["height"]["length"]
        if shape == "parallelogram":
            base = lengths[0]
            steps = [step(f"Area = base × height = {base} × {h} = {base * h}.",
                          f"{number(base)} * {number(h)}", base * h)]
            return numeric_qa(q, base * h, type=kind, unit=sq_unit, steps=steps)
        a, b = lengths
        area = (a + b) * h / 2
        steps = [step(f"The parallel sides are {a} and {b}, so area = ½ × ({a} + {b}) × {h} = "
                      f"{format_number(area, 1)}.",
                      f"1 / 2 * ({number(a)} + {number(b)}) * {number(h)}", area)]
        mistakes = [("half_forgotten", [step(
            f"The parallel sides are {a} and {b}, so area = ({a} + {b}) × {h} = "
            f"{format_number((a + b) * h, 1)}.", f"({number(a)} + {number(b)}) * {number(h)}",
            (a + b) * h)])]
        return numeric_qa(q, area, type=kind, unit=sq_unit, decimals=1, steps=steps,
                          mistakes=mistakes)

    @staticmethod
    def _rectangle_side(scene, rng):
        """Backward: a rectangle's side from its area or perimeter and the other side."""
        names, unit, stated = scene["names"], scene["unit"], scene["stated"]
        quad = "".join(names)
        asked, known = scene["labels"][scene["asked"]], scene["labels"][1 - scene["asked"]]
        side, other = ("".join(names[i] for i in label["side"]) for label in (asked, known))
        length = known["length"]
        if scene["task"] == "side_from_area":
            given = f"an area of {stated} {area_unit(unit)}"
            answer = stated // length
            steps = [step(f"Area = length × width, so {side} = area ÷ {other} = {stated} ÷ "
                          f"{length} = {answer}.", f"{number(stated)} / {number(length)}",
                          answer)]
            mistakes = None
        else:
            given = f"a perimeter of {stated} {unit}"
            answer = stated // 2 - length
            steps = [step(f"The perimeter is 2 × ({other} + {side}), so {side} = {stated} ÷ 2 − "
                          f"{length} = {answer}.", f"{number(stated)} / 2 - {number(length)}",
                          answer)]
            # the perimeter taken as the two labelled sides only
            mistakes = [("opposite_sides_forgotten", [step(
                f"The perimeter is {other} + {side}, so {side} = {stated} − {length} = "
                f"{stated - length}.", f"{number(stated)} - {number(length)}",
                stated - length)])]
        q = pick(rng, [
            f"{quad} is a rectangle with {given}. Side {other} is {length} {unit}. How long is "
            f"side {side}?",
            f"The rectangle {quad} has {given} and one side {length} {unit} long. Find the side "
            "marked ?.",
            f"Given that rectangle {quad} has {given}, what is the length of {side}?",
        ])
        return numeric_qa(q, answer, type=f"rectangle_{scene['task']}", unit=unit, steps=steps,
                          mistakes=mistakes)

    def caption(self, scene):
        unit = scene["unit"]
        if scene["shape"] == "regular":
            shape = POLYGON_NAMES[scene["n"]]
            bits = []
            if scene["labels"]:
                bits.append(f"one side labelled {scene['side']} {unit}")
            if scene["task"] == "interior_angle":
                bits.append("one interior angle marked ?")
            if scene["task"] == "exterior_angle":
                bits.append("one side extended and the exterior angle marked ?")
            tail = f" with {' and '.join(bits)}" if bits else ""
            return f"a geometry diagram of a regular {shape}{tail}"
        quad = "".join(scene["names"])
        if "asked" in scene:
            return f"a geometry diagram of rectangle {quad} with one side labelled and one marked ?"
        extra = " and a dashed height" if scene.get("height") else ""
        return (f"a geometry diagram of {scene['shape']} {quad} with side lengths labelled"
                f"{extra}")


def _side_toward(p: np.ndarray, q: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The unit normal of segment pq that points to the side of ``target``."""
    u = (q - p) / (np.hypot(*(q - p)) or 1.0)
    normal = np.array([-u[1], u[0]])
    return normal if np.dot(normal, target - p) >= 0 else -normal


def _eq(value: float, decimals: int) -> str:
    """" = 120" for an exact value, " ≈ 128.57" for a rounded one."""
    if abs(value - round(value)) < 1e-9:
        return f" = {format_number(value)}"
    return f" ≈ {format_number(value, decimals)}"
