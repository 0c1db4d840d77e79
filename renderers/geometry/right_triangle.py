"""Right triangles: the hypotenuse from two legs, a missing leg, the area from the legs.

Lengths come from scaled Pythagorean triples (exact answers) or from plain integers, whose
square roots are irrational and so are asked for with a stated rounding.
"""

from __future__ import annotations

import math

import numpy as np

from renderers import register
from renderers.base import Renderer
from renderers.geometry import draw as d
from renderers.qa import area_unit, format_number, is_integral, numeric_qa, pick
from renderers.solution import number, step
from renderers.style import sample_style

TASKS = ("hypotenuse", "leg", "area")
UNITS = ("cm", "m", "mm", "in", "ft", "units")
# Primitive triples (leg, leg, hypotenuse) whose legs differ by at most 2.5×: a short leg must
# still have room for its label between the vertex names.
TRIPLES = ((3, 4, 5), (5, 12, 13), (8, 15, 17), (20, 21, 29), (28, 45, 53))
MAX_HYPOTENUSE = 60
MAX_LEG_RATIO = 2.5


def _triple(rng: np.random.Generator) -> tuple[int, int, int]:
    """A scaled Pythagorean triple (a, b, c), legs in random order."""
    a, b, c = pick(rng, TRIPLES)
    k = int(rng.integers(1, max(1, MAX_HYPOTENUSE // c) + 1))
    if rng.random() < 0.5:
        a, b = b, a
    return a * k, b * k, c * k


def _is_square(n: int) -> bool:
    return math.isqrt(n) ** 2 == n


def _general_legs(rng: np.random.Generator) -> tuple[int, int]:
    """Integer legs whose hypotenuse is irrational."""
    while True:
        a, b = (int(x) for x in rng.integers(2, 25, size=2))
        if max(a, b) <= MAX_LEG_RATIO * min(a, b) and not _is_square(a * a + b * b):
            return a, b


def _general_leg_pair(rng: np.random.Generator) -> tuple[int, int]:
    """(hypotenuse, given leg) integers whose other leg is irrational."""
    while True:
        c = int(rng.integers(5, 31))
        a = int(rng.integers(2, c))
        other = math.sqrt(c * c - a * a)
        legs = sorted((a, other))
        if legs[1] <= MAX_LEG_RATIO * legs[0] and not _is_square(c * c - a * a):
            return c, a


def _side(names: list[str], i: int, j: int) -> str:
    i, j = sorted((i, j))
    return names[i] + names[j]


@register("geometry", "right_triangle")
class RightTriangle(Renderer):
    version = "3"  # 2: worked solutions as steps (qa[].steps); 3: qa[].difficulty

    def sample_scene(self, rng):
        task = pick(rng, TASKS)
        names = list(pick(rng, d.POINT_NAMES))
        unit = pick(rng, UNITS)
        right = int(rng.integers(3))  # index of the right-angle vertex
        p, q = [i for i in range(3) if i != right]
        decimals = None
        exact = bool(rng.random() < 0.5)
        if task == "leg" and not exact:
            c, a = _general_leg_pair(rng)
            b = math.sqrt(c * c - a * a)
        elif exact:
            a, b, c = _triple(rng)
        else:
            a, b = _general_legs(rng)
            c = math.sqrt(a * a + b * b)
        if not exact and task != "area":  # an irrational root: asked with a rounding
            decimals = int(pick(rng, (1, 2)))
        # The right angle at the origin, leg a along x, leg b along y; then mirror and rotate.
        pts = np.zeros((3, 2))
        pts[p] = [float(a), 0.0]
        pts[q] = [0.0, float(b)]
        if rng.random() < 0.5:
            pts = pts * np.array([-1.0, 1.0])
        pts = d.rotate(pts, float(rng.uniform(0, 360)) if rng.random() < 0.7 else 0.0)
        leg_a, leg_b, hyp = _side(names, right, p), _side(names, right, q), _side(names, p, q)
        if task == "hypotenuse":
            sides, unknown = {leg_a: a, leg_b: b}, hyp
        elif task == "leg":
            sides, unknown = {hyp: c, leg_a: a}, leg_b
        else:
            sides, unknown = {leg_a: a, leg_b: b}, None
            # With a triple the hypotenuse may be labelled too: a distractor for the area.
            if exact and rng.random() < 0.4:
                sides[hyp] = c
        return {
            "family": self.name,
            "task": task,
            "names": names,
            "unit": unit,
            "vertices": [[float(x), float(y)] for x, y in pts],
            "right_angle": names[right],
            "legs": [leg_a, leg_b],
            "hypotenuse": hyp,
            "given": {"sides": {k: int(v) for k, v in sides.items()}, "unknown": unknown},
            "decimals": decimals,
            "margin": round(float(rng.uniform(0.1, 0.28)), 3),
            "style": sample_style(rng),
        }

    def draw(self, scene, canvas):
        st = scene["style"]
        pts = np.array(scene["vertices"])
        names, given, unit = scene["names"], scene["given"], scene["unit"]
        right = names.index(scene["right_angle"])
        others = [pts[i] for i in range(3) if i != right]
        center = pts.mean(axis=0)
        lw = max(1.0, st["line_width"] * 0.7)
        index = {n: i for i, n in enumerate(names)}

        def paint(target):
            d.tag_figure(target, d.polygon(target, pts, st), "triangle", pts, names)
            d.right_angle_mark(target, pts[right], others[0], others[1], 12, st["accent"], lw)
            d.name_vertices(target, pts, names, st, center=center)
            for side, length in given["sides"].items():
                d.side_label(target, pts[index[side[0]]], pts[index[side[1]]],
                             f"{length} {unit}", center, st)
            if given["unknown"]:
                side = given["unknown"]
                d.side_label(target, pts[index[side[0]]], pts[index[side[1]]], "?", center, st,
                             color=st["accent"])

        d.begin_fitted(canvas, pts, scene["margin"], st["paper"])
        paint(canvas)

    def questions(self, scene, rng):
        names, given, unit = scene["names"], scene["given"], scene["unit"]
        tri, r = "".join(names), scene["right_angle"]
        sides, dec = given["sides"], scene["decimals"]
        hyp = scene["hypotenuse"]
        in_unit = "" if unit in ("units", "in") else f", in {unit},"
        if scene["task"] == "hypotenuse":
            (l1, a), (l2, b) = sides.items()
            total = a * a + b * b
            value = math.sqrt(total)
            q = pick(rng, [
                f"What is the length of the hypotenuse {hyp} of right triangle {tri}?",
                f"Triangle {tri} has a right angle at {r}. How long is side {hyp}?",
                f"Find the length{in_unit} of the side marked with a question mark.",
                f"Using the Pythagorean theorem, find the length of {hyp}.",
                f"The legs of right triangle {tri} are labelled. How long is its hypotenuse?",
            ])
            steps = [step(f"By the Pythagorean theorem, {hyp}² = {l1}² + {l2}² = {a}² + {b}² = "
                          f"{a * a} + {b * b} = {total},", f"{number(a)} ** 2 + {number(b)} ** 2",
                          total),
                     step(f"so {hyp} = √{total}{_approx(value, dec)}.", f"sqrt({number(total)})",
                          value)]
            # the square root forgotten: the sum of the squares taken for the side
            mistakes = [("root_forgotten", [steps[0], step(f"so {hyp} = {total}.",
                                                            number(total), total)])]
            item = numeric_qa(q, value, type="right_triangle_hypotenuse", unit=unit,
                              decimals=dec, steps=steps, mistakes=mistakes)
            return [item, self._perimeter(scene, rng)] if self.composed else [item]
        if scene["task"] == "leg":
            c = sides[hyp]
            (leg, a), = ((k, v) for k, v in sides.items() if k != hyp)
            unknown = given["unknown"]
            total = c * c - a * a
            value = math.sqrt(total)
            q = pick(rng, [
                f"In right triangle {tri}, what is the length of side {unknown}?",
                f"Triangle {tri} has a right angle at {r}. How long is leg {unknown}?",
                f"Find the length{in_unit} of the side marked with a question mark.",
                f"The hypotenuse {hyp} and the leg {leg} are labelled. "
                f"How long is the other leg, {unknown}?",
                f"Using the Pythagorean theorem, find the length of {unknown}.",
            ])
            steps = [step(f"By the Pythagorean theorem, {hyp}² = {leg}² + {unknown}², so "
                          f"{unknown}² = {c}² − {a}² = {c * c} − {a * a} = {total},",
                          f"{number(c)} ** 2 - {number(a)} ** 2", total),
                     step(f"and {unknown} = √{total}{_approx(value, dec)}.",
                          f"sqrt({number(total)})", value)]
            # the squares added, as for a hypotenuse
            added = c * c + a * a
            wrong = math.sqrt(added)
            mistakes = [] if dec is None and not is_integral(wrong) else [("squares_added", [
                step(f"By the Pythagorean theorem, {unknown}² = {c}² + {a}² = {c * c} + {a * a} "
                     f"= {added},", f"{number(c)} ** 2 + {number(a)} ** 2", added),
                step(f"and {unknown} = √{added}{_approx(wrong, dec)}.", f"sqrt({number(added)})",
                     wrong)])]
            item = numeric_qa(q, value, type="right_triangle_leg", unit=unit, decimals=dec,
                              steps=steps, mistakes=mistakes)
            return [item, self._area_from_leg(scene, rng)] if self.composed else [item]
        (l1, l2) = scene["legs"]
        a, b = sides[l1], sides[l2]
        area = a * b / 2
        q = pick(rng, [
            f"What is the area of right triangle {tri}?",
            f"Find the area of triangle {tri}, which has a right angle at {r}.",
            f"The legs of right triangle {tri} are labelled. What is its area?",
            f"How much area does triangle {tri} enclose?",
        ])
        steps = [step(f"The legs {l1} and {l2} are perpendicular, so they are a base and its "
                      f"height: area = ½ × {a} × {b} = {format_number(area, 1)}.",
                      f"1 / 2 * {number(a)} * {number(b)}", area)]
        mistakes = [("half_forgotten", [step(
            f"The legs {l1} and {l2} are perpendicular, so area = {a} × {b} = {a * b}.",
            f"{number(a)} * {number(b)}", a * b)])]
        item = numeric_qa(q, area, type="right_triangle_area", unit=area_unit(unit), decimals=1,
                          steps=steps, mistakes=mistakes)
        if self.composed and hyp not in sides:  # (a labelled hypotenuse leaves one step)
            return [item, self._perimeter(scene, rng)]
        return [item]

    @staticmethod
    def _perimeter(scene, rng):
        """Composed (3 steps): the hypotenuse from the legs, then the perimeter."""
        names, unit, sides = scene["names"], scene["unit"], scene["given"]["sides"]
        tri, hyp = "".join(names), scene["hypotenuse"]
        (l1, l2) = scene["legs"]
        a, b = sides[l1], sides[l2]
        total = a * a + b * b
        c = math.sqrt(total)
        dec = scene["decimals"] or 1
        q = pick(rng, [f"What is the perimeter of right triangle {tri}?",
                       f"The legs of right triangle {tri} are labelled. How long is its "
                       "perimeter?",
                       f"Find the perimeter of triangle {tri}, which has a right angle at "
                       f"{scene['right_angle']}."])
        steps = [step(f"By the Pythagorean theorem, {hyp}² = {a}² + {b}² = {total},",
                      f"{number(a)} ** 2 + {number(b)} ** 2", total),
                 step(f"so {hyp} = √{total}{_approx(c, dec)},", f"sqrt({number(total)})", c),
                 step(f"and the perimeter is {a} + {b} + {format_number(c, dec)}"
                      f"{_approx(a + b + c, dec)}.", f"{number(a)} + {number(b)} + {number(c)}",
                      a + b + c)]
        return numeric_qa(q, a + b + c, type="right_triangle_perimeter", unit=unit,
                          decimals=dec, steps=steps)

    @staticmethod
    def _area_from_leg(scene, rng):
        """Composed (3 steps): the missing leg from the hypotenuse and a leg, then the area."""
        names, unit, given = scene["names"], scene["unit"], scene["given"]
        tri, hyp, unknown = "".join(names), scene["hypotenuse"], given["unknown"]
        c = given["sides"][hyp]
        (leg, a), = ((k, v) for k, v in given["sides"].items() if k != hyp)
        total = c * c - a * a
        b = math.sqrt(total)
        area = a * b / 2
        dec = scene["decimals"] or 1
        q = pick(rng, [f"What is the area of right triangle {tri}?",
                       f"The hypotenuse {hyp} and the leg {leg} are labelled. Find the area of "
                       f"triangle {tri}.",
                       f"How much area does right triangle {tri} enclose?"])
        steps = [step(f"By the Pythagorean theorem, {unknown}² = {c}² − {a}² = {total},",
                      f"{number(c)} ** 2 - {number(a)} ** 2", total),
                 step(f"so {unknown} = √{total}{_approx(b, dec)}.", f"sqrt({number(total)})", b),
                 step(f"The legs are a base and its height: area = ½ × {a} × "
                      f"{format_number(b, dec)}{_approx(area, dec)}.",
                      f"1 / 2 * {number(a)} * {number(b)}", area)]
        return numeric_qa(q, area, type="right_triangle_area_from_leg", unit=area_unit(unit),
                          decimals=dec, steps=steps)

    def caption(self, scene):
        tri = "".join(scene["names"])
        what = {"hypotenuse": "its two legs labelled and the hypotenuse marked ?",
                "leg": "its hypotenuse and one leg labelled and the other leg marked ?",
                "area": "its legs labelled"}[scene["task"]]
        return (f"a geometry diagram of right triangle {tri}, with a right-angle mark at "
                f"{scene['right_angle']}, {what}")


def _approx(value: float, decimals: int | None) -> str:
    """" = 10" for an exact root, " ≈ 10.63" for a rounded one."""
    if decimals is None or abs(value - round(value)) < 1e-9:
        return f" = {format_number(value)}"
    return f" ≈ {format_number(value, decimals)}"
