"""Triangles: the missing angle, the perimeter from three sides, the area from base and height;
backward (``--backward``): a side from the perimeter and the other two, the height from the area
and the base."""

from __future__ import annotations

import math

import numpy as np

from renderers import register
from renderers.base import Renderer
from renderers.geometry import draw as d
from renderers.qa import area_unit, numeric_qa, pick, text_qa
from renderers.solution import number, step
from renderers.style import sample_style

TASKS = ("angle", "perimeter", "area")
UNITS = ("cm", "m", "mm", "in", "ft", "units")


def _place(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate and maybe mirror a triangle so figures are not all base-down."""
    if rng.random() < 0.5:
        points = points * np.array([-1.0, 1.0])
    return d.rotate(points, float(rng.uniform(0, 360)) if rng.random() < 0.6 else 0.0)


@register("geometry", "triangle")
class Triangle(Renderer):
    version = "3"  # 2: worked solutions as steps (qa[].steps); 3: qa[].difficulty
    backward_tasks = ("side", "height")

    def sample_scene(self, rng):
        task = self.pick_task(rng, TASKS)
        names = list(pick(rng, d.POINT_NAMES))
        unit = pick(rng, UNITS)
        if task == "angle":
            while True:
                a, b = (int(x) for x in rng.integers(25, 111, size=2))
                if 180 - a - b >= 25:
                    break
            c = 180 - a - b
            # A at the origin, B on the x-axis, C by the law of sines.
            ab = 10.0
            ac = ab * math.sin(math.radians(b)) / math.sin(math.radians(c))
            pts = np.array([[0, 0], [ab, 0],
                            [ac * math.cos(math.radians(a)), ac * math.sin(math.radians(a))]])
            given = {"angles": {names[0]: a, names[1]: b}, "unknown": names[2]}
        elif task in ("perimeter", "side"):
            while True:
                s = sorted(int(x) for x in rng.integers(3, 25, size=3))
                # Slack in the triangle inequality keeps the figure from being a sliver.
                if s[0] + s[1] > s[2] * 1.25:
                    break
            rng.shuffle(s)
            ab, bc, ca = (float(x) for x in s)
            cos_a = (ab**2 + ca**2 - bc**2) / (2 * ab * ca)
            ang = math.acos(max(-1.0, min(1.0, cos_a)))
            pts = np.array([[0, 0], [ab, 0], [ca * math.cos(ang), ca * math.sin(ang)]])
            given = {"sides": {names[0] + names[1]: int(ab), names[1] + names[2]: int(bc),
                               names[2] + names[0]: int(ca)}}
            if task == "side":  # the perimeter given, one side asked
                given["unknown"] = pick(rng, list(given["sides"]))
                given["perimeter"] = int(ab + bc + ca)
        else:  # area from a base and the height onto it
            base = int(rng.integers(5, 21))
            # Height within [0.45, 1.3] × base: slivers leave no room for the height label.
            height = int(rng.integers(max(3, math.ceil(0.45 * base)), math.floor(1.3 * base) + 1))
            foot = float(rng.uniform(0.25, 0.75)) * base
            pts = np.array([[0, 0], [float(base), 0], [foot, float(height)]])
            given = {"base": base, "height": height, "base_side": names[0] + names[1],
                     "foot": [foot, 0.0]}
            if task == "height":  # the area given, the height asked
                given["area"] = base * height / 2
        placed = _place(pts, rng)
        if task in ("area", "height"):
            # The foot of the altitude moves with the triangle.
            foot_pt = placed[0] + (placed[1] - placed[0]) * (given["foot"][0] / given["base"])
            given["foot"] = [float(foot_pt[0]), float(foot_pt[1])]
        return {
            "family": self.name,
            "task": task,
            "names": names,
            "unit": unit,
            "vertices": [[float(x), float(y)] for x, y in placed],
            "given": given,
            "margin": round(float(rng.uniform(0.12, 0.3)), 3),
            "style": sample_style(rng),
        }

    def draw(self, scene, canvas):
        st = scene["style"]
        pts = np.array(scene["vertices"])
        names, given = scene["names"], scene["given"]
        d.begin_fitted(canvas, pts, scene["margin"], st["paper"])
        d.tag_figure(canvas, d.polygon(canvas, pts, st), "triangle", pts, names)
        d.name_vertices(canvas, pts, names, st)
        center = pts.mean(axis=0)
        lw = max(1.0, st["line_width"] * 0.7)
        if scene["task"] == "angle":
            for i in range(3):
                p, q = pts[(i + 1) % 3], pts[(i + 2) % 3]
                d.angle_arc(canvas, pts[i], p, q, 22, st["accent"], lw)
                text = f"{given['angles'][names[i]]}°" if names[i] in given["angles"] else "?"
                d.angle_label(canvas, pts[i], p, q, text, 22, st, color=st["accent"])
        elif scene["task"] in ("perimeter", "side"):
            for i in range(3):
                side = names[i] + names[(i + 1) % 3]
                text = ("?" if side == given.get("unknown")
                        else f"{given['sides'][side]} {scene['unit']}")
                d.side_label(canvas, pts[i], pts[(i + 1) % 3], text, center, st)
        else:
            foot = np.array(given["foot"])
            d.segment(canvas, pts[2], foot, st["accent"], lw, dashed=True)
            d.right_angle_mark(canvas, foot, pts[1], pts[2], 9, st["accent"], lw)
            d.side_label(canvas, pts[0], pts[1], f"{given['base']} {scene['unit']}", center, st)
            length = f"{given['height']} {scene['unit']}"
            texts = ("h = ?", "?") if scene["task"] == "height" else (f"h = {length}", length)
            self._height_label(canvas, pts, foot, texts, st)

    @staticmethod
    def _height_label(canvas, pts, foot, texts, st):
        """Beside the altitude, as high up as it clears every edge.

        The triangle narrows towards the apex, so the label tries mid-height first and moves
        down towards the base, on the roomier side first, then in its short form; if no spot is
        clear it sits on the altitude over a paper patch.
        """
        edges = [(pts[i], pts[(i + 1) % 3]) for i in range(3)] + [(pts[2], foot)]
        base_dir = (pts[1] - pts[0]) / np.hypot(*(pts[1] - pts[0]))
        roomier = 1.0 if np.dot(foot - pts[0], base_dir) < np.dot(pts[1] - foot, base_dir) else -1.0
        for text in texts:
            for normal in (base_dir * roomier, -base_dir * roomier):
                gap = d.clearance(canvas, text, st, normal)
                for t in (0.5, 0.42, 0.34, 0.26, 0.18):
                    center = foot + t * (pts[2] - foot) + normal * gap
                    rect = d.label_rect(canvas, center, text, st)
                    if not any(d.segment_hits_rect(p, q, rect) for p, q in edges):
                        d.label(canvas, float(center[0]), float(center[1]), text, st,
                                color=st["accent"])
                        return
        center = foot + 0.4 * (pts[2] - foot)
        canvas.text(float(center[0]), float(center[1]), texts[-1], color=st["accent"],
                    background=st["fill"] or st["paper"], **d._font(st))

    def questions(self, scene, rng):
        names, given, unit = scene["names"], scene["given"], scene["unit"]
        tri = "".join(names)
        if scene["task"] == "side":
            return [self._side_from_perimeter(scene, rng)]
        if scene["task"] == "height":
            return [self._height_from_area(scene, rng)]
        if scene["task"] == "angle":
            (n1, a1), (n2, a2) = given["angles"].items()
            n3 = given["unknown"]
            answer = 180 - a1 - a2
            q = pick(rng, [
                f"What is the measure of angle {n3} in triangle {tri}?",
                f"Find the angle marked ? at vertex {n3}.",
                f"In triangle {tri}, angle {n1} is {a1}° and angle {n2} is {a2}°. "
                f"How large is angle {n3}?",
                f"What is the size of the unknown angle at {n3}, in degrees?",
            ])
            steps = [step(f"The angles of a triangle add up to 180°, so angle {n3} = "
                          f"180° − {a1}° − {a2}° = {answer}°.",
                          f"180 - {number(a1)} - {number(a2)}", answer)]
            wrong = 360 - a1 - a2
            mistakes = [("angle_sum_360", [step(
                f"The angles of a triangle add up to 360°, so angle {n3} = "
                f"360° − {a1}° − {a2}° = {wrong}°.", f"360 - {number(a1)} - {number(a2)}",
                wrong)])]
            item = numeric_qa(q, answer, type="triangle_angle_sum", unit="°", steps=steps,
                              mistakes=mistakes)
            return [item, self._kind(scene, rng)] if self.composed else [item]
        if scene["task"] == "perimeter":
            sides = list(given["sides"].values())
            total = sum(sides)
            q = pick(rng, [
                f"What is the perimeter of triangle {tri}?",
                f"Find the perimeter of the triangle {tri}.",
                f"How long is the boundary of triangle {tri} in total?",
                f"The side lengths of triangle {tri} are marked. What is its perimeter in {unit}?",
            ])
            steps = [step(f"The perimeter is the sum of the sides: "
                          f"{' + '.join(map(str, sides))} = {total}.",
                          " + ".join(map(number, sides)), total)]
            item = numeric_qa(q, total, type="triangle_perimeter", unit=unit, steps=steps)
            return [item, self._heron(scene, rng)] if self.composed else [item]
        base, height = given["base"], given["height"]
        area = base * height / 2
        q = pick(rng, [
            f"What is the area of triangle {tri}?",
            f"Find the area of triangle {tri}, given the base {given['base_side']} "
            "and the height h shown.",
            f"Using the marked base and height, compute the area of triangle {tri}.",
            f"How much area does triangle {tri} enclose?",
        ])
        steps = [step(f"Area = ½ × base × height = ½ × {base} × {height} = {area:g}.",
                      f"1 / 2 * {number(base)} * {number(height)}", area)]
        mistakes = [("half_forgotten", [step(
            f"Area = base × height = {base} × {height} = {base * height:g}.",
            f"{number(base)} * {number(height)}", base * height)])]
        return [numeric_qa(q, area, type="triangle_area", unit=area_unit(unit), decimals=1,
                           steps=steps, mistakes=mistakes)]

    @staticmethod
    def _kind(scene, rng):
        """Composed (2 steps): the third angle, then the largest against a right angle."""
        given, tri = scene["given"], "".join(scene["names"])
        a1, a2 = given["angles"].values()
        a3 = 180 - a1 - a2
        largest = max(a1, a2, a3)
        kind = "acute" if largest < 90 else "right" if largest == 90 else "obtuse"
        than = {"acute": "less than", "right": "exactly", "obtuse": "more than"}[kind]
        q = pick(rng, [f"Is triangle {tri} acute, right or obtuse?",
                       f"Classify triangle {tri} by its angles: acute, right or obtuse?",
                       f"Using the marked angles, is triangle {tri} an acute, a right or an "
                       "obtuse triangle?"])
        steps = [step(f"The third angle is 180° − {a1}° − {a2}° = {a3}°.",
                      f"180 - {number(a1)} - {number(a2)}", a3),
                 step(f"The largest angle, {largest}°, is {than} 90° ({largest}° − 90° = "
                      f"{largest - 90}°), so the triangle is {kind}.",
                      f"{number(largest)} - 90", largest - 90)]
        return text_qa(q, kind.capitalize(), type="triangle_kind", value=kind, steps=steps)

    @staticmethod
    def _heron(scene, rng):
        """Composed (3 steps): the area from the three sides, by Heron's formula."""
        given, unit, tri = scene["given"], scene["unit"], "".join(scene["names"])
        a, b, c = given["sides"].values()
        perimeter = a + b + c
        s = perimeter / 2
        area = math.sqrt(s * (s - a) * (s - b) * (s - c))
        q = pick(rng, [f"Using the three labelled sides, what is the area of triangle {tri}?",
                       f"Find the area of triangle {tri} from its side lengths.",
                       f"With Heron's formula, how much area does triangle {tri} enclose?"])
        steps = [step(f"The perimeter is {a} + {b} + {c} = {perimeter},",
                      f"{number(a)} + {number(b)} + {number(c)}", perimeter),
                 step(f"so the semi-perimeter is s = {perimeter} ÷ 2 = {s:g}.",
                      f"{number(perimeter)} / 2", s),
                 step(f"By Heron's formula, area = √(s(s − a)(s − b)(s − c)) = √({s:g} × "
                      f"{s - a:g} × {s - b:g} × {s - c:g}) "
                      + (f"= {area:.0f}." if abs(area - round(area)) < 1e-9 else f"≈ {area:.1f}."),
                      f"sqrt({number(s)} * ({number(s)} - {number(a)}) * ({number(s)} - "
                      f"{number(b)}) * ({number(s)} - {number(c)}))", area)]
        return numeric_qa(q, area, type="triangle_area_from_sides", unit=area_unit(unit),
                          decimals=1, steps=steps)

    @staticmethod
    def _side_from_perimeter(scene, rng):
        names, given, unit = scene["names"], scene["given"], scene["unit"]
        tri, side, perimeter = "".join(names), given["unknown"], given["perimeter"]
        others = [length for name, length in given["sides"].items() if name != side]
        answer = perimeter - sum(others)
        q = pick(rng, [
            f"The perimeter of triangle {tri} is {perimeter} {unit}. How long is side {side}?",
            f"Triangle {tri} has a perimeter of {perimeter} {unit}. Find the length of the side "
            "marked ?.",
            f"The sides of triangle {tri} add up to {perimeter} {unit}. Using the labelled "
            f"sides, what is the length of {side}?",
        ])
        steps = [step(f"The sides add up to the perimeter, so {side} = {perimeter} − "
                      f"{' − '.join(map(str, others))} = {answer}.",
                      f"{number(perimeter)} - " + " - ".join(map(number, others)), answer)]
        return numeric_qa(q, answer, type="triangle_side_from_perimeter", unit=unit,
                          steps=steps)

    @staticmethod
    def _height_from_area(scene, rng):
        names, given, unit = scene["names"], scene["given"], scene["unit"]
        tri, base, area = "".join(names), given["base"], given["area"]
        height = 2 * area / base
        stated = f"{area:g} {area_unit(unit)}"
        q = pick(rng, [
            f"The area of triangle {tri} is {stated} and its base {given['base_side']} is "
            f"{base} {unit}. What is the height h?",
            f"Triangle {tri} encloses {stated}. Find the height h onto the base "
            f"{given['base_side']}.",
            f"Given that triangle {tri} has an area of {stated}, how long is the dashed "
            "height h?",
        ])
        steps = [step(f"Area = ½ × base × height, so height = 2 × area ÷ base = 2 × {area:g} ÷ "
                      f"{base} = {height:g}.", f"2 * {number(area)} / {number(base)}", height)]
        mistakes = [("half_forgotten", [step(
            f"Area = base × height, so height = area ÷ base = {area:g} ÷ {base} = "
            f"{area / base:g}.", f"{number(area)} / {number(base)}", area / base)])]
        # (the height is a whole number by construction: its answer needs no rounding)
        return numeric_qa(q, height, type="triangle_height_from_area", unit=unit, steps=steps,
                          mistakes=mistakes)

    def caption(self, scene):
        tri = "".join(scene["names"])
        what = {"angle": "with two of its angles marked in degrees",
                "perimeter": "with the length of each side labelled",
                "side": "with two sides labelled and the third marked ?",
                "area": "with its base and a dashed height labelled",
                "height": "with its base labelled and a dashed height marked ?"}[scene["task"]]
        return f"a geometry diagram of triangle {tri} {what}"
