"""Circles: diameter ↔ radius, circumference and area (rounded, or exact in terms of π), and the
arc length or sector area cut off by a labelled central angle; backward (``--backward``): the
radius from a circumference or an area given in terms of π."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.patches import Arc, Wedge
from matplotlib.patches import Circle as CirclePatch

from renderers import register
from renderers.base import Renderer
from renderers.geometry import draw as d
from renderers.qa import area_unit, format_number, numeric_qa, pick, text_qa, with_unit
from renderers.solution import number, step
from renderers.style import sample_style

# Rounded answers use the exact π; say so, or 3.14 would be a second "right" answer.
EXACT_PI = "Use the exact value of π."

TASKS = ("diameter", "radius", "circumference", "area", "arc_length", "sector_area")
UNITS = ("cm", "m", "mm", "in", "ft", "units")
CENTER_NAMES = ("O", "O", "O", "C", "M", "P")
POINT_PAIRS = ("AB", "PQ", "MN", "XY", "RS", "DE")
CENTRAL_ANGLES = (30, 36, 40, 45, 50, 60, 72, 75, 80, 90, 100, 105, 110, 120, 135, 140, 150)


def pi_answer(coefficient: float, unit: str) -> str:
    """An exact answer in terms of π: "14π cm"."""
    return with_unit(f"{format_number(coefficient)}π", unit)


@register("geometry", "circle")
class Circle(Renderer):
    version = "3"  # 2: worked solutions as steps (qa[].steps); 3: qa[].difficulty
    backward_tasks = ("radius_from_circumference", "radius_from_area")

    def sample_scene(self, rng):
        task = self.pick_task(rng, TASKS)
        unit = pick(rng, UNITS)
        center_name = pick(rng, CENTER_NAMES)
        points = pick(rng, [p for p in POINT_PAIRS if center_name not in p])
        if task == "diameter":
            shown = "radius"
        elif task == "radius":
            shown = "diameter"
        elif task in ("circumference", "area"):
            shown = pick(rng, ("radius", "diameter"))
        elif task in self.backward_tasks:  # the radius drawn and marked ?
            shown = "radius"
        else:
            shown = "sector"
        if shown == "diameter":
            length = int(rng.integers(3, 31))
            radius = length / 2
        else:
            length = int(rng.integers(2, 21))
            radius = float(length)
        # The exact form needs an integral coefficient of π (an odd diameter squares to quarters).
        pi_ok = task in ("circumference", "area") and (
            task == "circumference" or shown == "radius" or length % 2 == 0)
        if task in self.backward_tasks:  # given in terms of π: the radius comes out whole
            form = "pi"
        else:
            form = "pi" if pi_ok and rng.random() < 0.4 else "decimal"
        angle = int(pick(rng, CENTRAL_ANGLES)) if shown == "sector" else None
        # A diameter's label sits by the centre, where "d =" tells it from the centre's name. Long
        # labels go without: "r = 15 mm" does not fit beside a radius, "d = 30 units" by a
        # diameter.
        if shown == "diameter":
            prefix = bool(rng.random() < 0.6) and (unit != "units" or length < 10)
        else:
            prefix = bool(rng.random() < 0.4) and unit != "units" and length < 10
        center = rng.uniform(-10, 10, size=2)
        phi = float(rng.uniform(0, 360))
        first = center + radius * np.array([math.cos(math.radians(phi)),
                                            math.sin(math.radians(phi))])
        named = {points[0]: first}
        if shown == "diameter":
            named[points[1]] = 2 * center - first
        elif shown == "sector":
            # Counter-clockwise from the first point, or clockwise (a mirrored figure).
            turn = angle if rng.random() < 0.5 else -angle
            named[points[1]] = center + radius * np.array([math.cos(math.radians(phi + turn)),
                                                           math.sin(math.radians(phi + turn))])
        backward = {}
        if task == "radius_from_circumference":  # C = 2πr, as its coefficient of π
            backward = {"stated": 2 * length}
        elif task == "radius_from_area":  # A = πr²
            backward = {"stated": length * length}
        return {
            "family": self.name,
            "task": task,
            **backward,
            "unit": unit,
            "shown": shown,  # the labelled segment: "radius", "diameter" or a "sector"'s radius
            "length": length,  # the labelled length of that segment
            "radius": radius,
            "central_angle": angle,
            "form": form,
            "decimals": int(pick(rng, (1, 2))),
            "center_name": center_name,
            "center": [float(x) for x in center],
            "points": {k: [float(x) for x in v] for k, v in named.items()},
            # Which side of the labelled segment its length label sits on, and the "r =" prefix.
            "label_side": int(pick(rng, (-1, 1))),
            "label_prefix": prefix,
            "margin": round(float(rng.uniform(0.06, 0.22)), 3),
            "style": sample_style(rng),
        }

    def draw(self, scene, canvas):
        st = scene["style"]
        c = np.array(scene["center"])
        r = scene["radius"]
        names = list(scene["points"])
        pts = [np.array(scene["points"][n]) for n in names]
        unit, shown = scene["unit"], scene["shown"]
        lw = st["line_width"]
        thin = max(1.0, lw * 0.7)
        box = np.array([c - r, c + r])
        prefix = {"diameter": "d = "}.get(shown, "r = ") if scene["label_prefix"] else ""
        asked = scene["task"] in self.backward_tasks
        text = f"{prefix}?" if asked else f"{prefix}{scene['length']} {unit}"
        u = (pts[0] - c) / r
        normal = np.array([-u[1], u[0]]) * scene["label_side"]

        def paint(target):
            sector = shown == "sector"
            if sector:
                t1, t2 = d.interior_span(c, pts[0], pts[1])
            if scene["task"] == "sector_area":
                # The shaded sector under the outline; the rest of the disc stays blank.
                target.add(Wedge(tuple(c), r, t1, t2, facecolor=st.get("fill") or "#dcdcdc",
                                 edgecolor="none"))
            face = st["fill"] if (st.get("fill") and not sector) else "none"
            circle = target.add(CirclePatch(tuple(c), r, facecolor=face, edgecolor=st["ink"],
                                            linewidth=lw))
            target.tag_shape(circle, "the circle")
            if sector:
                if scene["task"] == "arc_length":
                    target.add(Arc(tuple(c), 2 * r, 2 * r, theta1=t1, theta2=t2,
                                   color=st["accent"], linewidth=lw * 2.2))
                for p in pts:
                    d.segment(target, c, p, st["ink"], thin)
                degrees = f"{scene['central_angle']}°"
                radius_px = d.snug_arc_radius(target, c, pts[0], pts[1], degrees, 20, st)
                d.angle_arc(target, c, pts[0], pts[1], radius_px, st["accent"], thin)
                d.angle_label(target, c, pts[0], pts[1], degrees, radius_px, st,
                              color=st["accent"])
                # The radius label outside the sector; the centre's name behind the vertex.
                d.side_label(target, c, pts[0], text, pts[1], st)
                bisector = (pts[0] + pts[1]) / 2 - c
                away = -bisector / (np.hypot(*bisector) or 1.0)
            elif shown == "diameter":
                d.segment(target, pts[0], pts[1], st["accent"], thin)
                d.side_label(target, pts[0], pts[1], text, c - normal, st)
                away = -normal
            else:
                d.segment(target, c, pts[0], st["accent"], thin)
                d.side_label(target, c, pts[0], text, (c + pts[0]) / 2 - normal, st)
                away = -u
            for p, n in zip([c, *pts], [scene["center_name"], *names], strict=True):
                target.tag_point(f"point {n}", p, on=d.dot(target, p, st["ink"], 3 + lw))
            d.name_point(target, c, scene["center_name"], st, away)
            for p, n in zip(pts, names, strict=True):
                d.name_point(target, p, n, st, p - c)  # outside the circle

        d.begin_fitted(canvas, box, scene["margin"], st["paper"])
        paint(canvas)

    def questions(self, scene, rng):
        items = self._asked(scene, rng)
        if self.composed and scene["task"] not in self.backward_tasks:
            items.append(self._composed(scene, rng))
        return items

    @staticmethod
    def _composed(scene, rng):
        """Composed: a semicircle's area from a radius (3 steps) or its perimeter from a
        diameter (3 steps); a sector's perimeter from its radius and angle (2 steps)."""
        o, unit, length, dec = (scene["center_name"], scene["unit"], scene["length"],
                                scene["decimals"])
        names = list(scene["points"])
        r = scene["radius"]
        if scene["shown"] == "sector":
            a, b = names
            angle = scene["central_angle"]
            arc = angle / 360 * 2 * math.pi * r
            q = pick(rng, [f"What is the perimeter of sector {a}{o}{b} (its arc and its two "
                           "radii)?",
                           f"How long is the boundary of sector {a}{o}{b}, the arc {a}{b} and "
                           f"the radii {o}{a} and {o}{b} together?"])
            steps = [step(f"The arc is (θ ÷ 360°) × 2πr = ({angle} ÷ 360) × 2 × π × {length} "
                          f"≈ {format_number(arc, dec)},",
                          f"{number(angle)} / 360 * 2 * pi * {number(length)}", arc),
                     step(f"and the two radii add 2 × {length}: {format_number(arc, dec)} + "
                          f"{2 * length} ≈ {format_number(arc + 2 * length, dec)}.",
                          f"{number(arc)} + 2 * {number(length)}", arc + 2 * length)]
            return numeric_qa(f"{q} {EXACT_PI}", arc + 2 * length, type="circle_sector_perimeter",
                              unit=unit, decimals=dec, steps=steps)
        if scene["shown"] == "radius":
            area = math.pi * r * r / 2
            q = pick(rng, [f"What is the area of a semicircle of {'the circle with centre ' + o}?",
                           f"A diameter cuts the circle centred at {o} in half. How much area "
                           "does one half enclose?"])
            steps = [step(f"r² = {length}² = {length * length},", f"{number(length)} ** 2",
                          length * length),
                     step(f"so the whole disc is πr² ≈ {format_number(math.pi * r * r, dec)},",
                          f"{number(length * length)} * pi", math.pi * r * r),
                     step(f"and half of it is {format_number(math.pi * r * r, dec)} ÷ 2 ≈ "
                          f"{format_number(area, dec)}.", f"{number(math.pi * r * r)} / 2", area)]
            return numeric_qa(f"{q} {EXACT_PI}", area, type="circle_semicircle_area",
                              unit=area_unit(unit), decimals=dec, steps=steps)
        a, b = names  # a diameter AB
        arc = math.pi * r
        q = pick(rng, [f"What is the perimeter of the semicircle on diameter {a}{b} (its arc "
                       "and the diameter)?",
                       f"Diameter {a}{b} cuts the circle in half. How long is the boundary of "
                       "one half, the half circle and the diameter together?"])
        steps = [step(f"r = {length} ÷ 2 = {format_number(r, 1)},", f"{number(length)} / 2", r),
                 step(f"so the half circle is πr ≈ {format_number(arc, dec)},",
                      f"pi * {number(r)}", arc),
                 step(f"and with the diameter the boundary is {format_number(arc, dec)} + "
                      f"{length} ≈ {format_number(arc + length, dec)}.",
                      f"{number(arc)} + {number(length)}", arc + length)]
        return numeric_qa(f"{q} {EXACT_PI}", arc + length, type="circle_semicircle_perimeter",
                          unit=unit, decimals=dec, steps=steps)

    def _asked(self, scene, rng):
        task, unit, dec = scene["task"], scene["unit"], scene["decimals"]
        o, length, r = scene["center_name"], scene["length"], scene["radius"]
        names = list(scene["points"])
        circle = f"the circle with centre {o}"
        if task in self.backward_tasks:
            return [self._backward(scene, rng)]
        if task == "diameter":
            q = pick(rng, [
                f"What is the diameter of {circle}?",
                f"The radius {o}{names[0]} is labelled. How long is the diameter of the circle?",
                f"Find the diameter of the circle centred at {o}.",
                f"How wide is the circle across its centre {o}?",
            ])
            steps = [step(f"The diameter is twice the radius: 2 × {length} = {2 * length}.",
                          f"2 * {number(length)}", 2 * length)]
            return [numeric_qa(q, 2 * length, type="circle_diameter", unit=unit,
                               steps=steps)]
        if task == "radius":
            q = pick(rng, [
                f"What is the radius of {circle}?",
                f"The diameter {names[0]}{names[1]} is labelled. What is the radius of the "
                "circle?",
                f"Find the radius of the circle centred at {o}.",
                f"How long is a radius of {circle}?",
            ])
            steps = [step(f"The radius is half the diameter: {length} ÷ 2 = "
                          f"{format_number(length / 2, 1)}.", f"{number(length)} / 2",
                          length / 2)]
            return [numeric_qa(q, length / 2, type="circle_radius", unit=unit, decimals=1,
                               steps=steps)]
        given = ("radius" if scene["shown"] == "radius" else "diameter")
        if task == "circumference":
            coefficient = 2 * r
            if scene["shown"] == "radius":
                how = [step(f"C = 2πr = 2 × π × {length} = {format_number(coefficient)}π",
                            f"2 * {number(length)}", coefficient)]
                # the 2 of 2πr forgotten
                wrong = ("two_forgotten", [step(f"C = πr = π × {length} = {length}π",
                                                number(length), length)])
            else:
                how = [step(f"C = πd = π × {length} = {length}π", number(length), coefficient)]
                # the diameter taken for the radius
                wrong = ("diameter_as_radius", [step(
                    f"C = 2πr = 2 × π × {length} = {2 * length}π", f"2 * {number(length)}",
                    2 * length)])
            q = pick(rng, [
                f"What is the circumference of {circle}?",
                f"The {given} of the circle is labelled. Find its circumference.",
                f"How long is the circle centred at {o} all the way round?",
                f"Find the circumference of the circle centred at {o}.",
            ])
            return [self._answer(q, coefficient, how, scene, unit, "circle_circumference",
                                 wrong)]
        if task == "area":
            coefficient = r * r
            if scene["shown"] == "radius":
                how = [step(f"A = πr² = π × {length}² = {format_number(coefficient)}π",
                            f"{number(length)} ** 2", coefficient)]
                # the circumference's formula used for the area
                wrong = ("circumference_formula", [step(
                    f"A = 2πr = 2 × π × {length} = {2 * length}π", f"2 * {number(length)}",
                    2 * length)])
            else:
                # the diameter taken for the radius
                wrong = ("diameter_as_radius", [step(
                    f"A = πr² = π × {length}² = {length * length}π", f"{number(length)} ** 2",
                    length * length)])
                how = [step(f"r = {length} ÷ 2 = {format_number(r, 1)},",
                            f"{number(length)} / 2", r),
                       step(f"so A = πr² = π × {format_number(r, 1)}² = "
                            f"{format_number(coefficient, 2)}π", f"{number(r)} ** 2",
                            coefficient)]
            q = pick(rng, [
                f"What is the area of {circle}?",
                f"The {given} of the circle is labelled. Find the area of the circle.",
                f"How much area does the circle centred at {o} enclose?",
                f"Find the area of the disc bounded by {circle}.",
            ])
            return [self._answer(q, coefficient, how, scene, area_unit(unit), "circle_area",
                                 wrong)]
        angle = scene["central_angle"]
        a, b = names
        if task == "arc_length":
            value = angle / 360 * 2 * math.pi * r
            q = pick(rng, [
                f"What is the length of the highlighted arc {a}{b}?",
                f"Central angle {a}{o}{b} is {angle}°. How long is the minor arc {a}{b}?",
                f"Find the length of arc {a}{b} of {circle}.",
                f"How long is the arc {a}{b} cut off by the marked central angle?",
            ])
            steps = [step(f"Arc length = (θ ÷ 360°) × 2πr = ({angle} ÷ 360) × 2 × π × {length} "
                          f"≈ {format_number(value, dec)}.",
                          f"{number(angle)} / 360 * 2 * pi * {number(length)}", value)]
            half = angle / 360 * math.pi * r
            mistakes = [("two_forgotten", [step(
                f"Arc length = (θ ÷ 360°) × πr = ({angle} ÷ 360) × π × {length} "
                f"≈ {format_number(half, dec)}.", f"{number(angle)} / 360 * pi * {number(length)}",
                half)])]
            return [numeric_qa(f"{q} {EXACT_PI}", value, type="circle_arc_length", unit=unit,
                               decimals=dec, steps=steps, mistakes=mistakes)]
        value = angle / 360 * math.pi * r * r
        q = pick(rng, [
            f"What is the area of the shaded sector {a}{o}{b}?",
            f"Central angle {a}{o}{b} is {angle}°. Find the area of sector {a}{o}{b}.",
            f"How much area does the shaded sector of {circle} cover?",
            f"Find the area of the shaded sector of the circle centred at {o}.",
        ])
        steps = [step(f"Sector area = (θ ÷ 360°) × πr² = ({angle} ÷ 360) × π × {length}² "
                      f"≈ {format_number(value, dec)}.",
                      f"{number(angle)} / 360 * pi * {number(length)} ** 2", value)]
        arc = angle / 360 * 2 * math.pi * r
        mistakes = [("arc_formula", [step(
            f"Sector area = (θ ÷ 360°) × 2πr = ({angle} ÷ 360) × 2 × π × {length} "
            f"≈ {format_number(arc, dec)}.", f"{number(angle)} / 360 * 2 * pi * {number(length)}",
            arc)])]
        return [numeric_qa(f"{q} {EXACT_PI}", value, type="circle_sector_area",
                           unit=area_unit(unit), decimals=dec, steps=steps, mistakes=mistakes)]

    @staticmethod
    def _backward(scene, rng):
        """The radius from a circumference or an area given as a multiple of π."""
        o, unit, r, stated = scene["center_name"], scene["unit"], scene["length"], scene["stated"]
        circle = f"the circle with centre {o}"
        radius = f"{o}{next(iter(scene['points']))}"
        if scene["task"] == "radius_from_circumference":
            given = pi_answer(stated, unit)
            q = pick(rng, [
                f"The circumference of {circle} is {given}. What is its radius?",
                f"A circle centred at {o} is {given} all the way round. How long is the radius "
                f"{radius}?",
                f"Given that {circle} has a circumference of {given}, find the radius marked ?.",
            ])
            steps = [step(f"C = 2πr, so r = C ÷ 2π = {stated}π ÷ 2π = {r}.",
                          f"{number(stated)} / 2", r)]
            # the circumference divided by π alone: that is the diameter
            mistakes = [("diameter_as_radius", [step(
                f"C = πr, so r = C ÷ π = {stated}π ÷ π = {stated}.", number(stated), stated)])]
            kind = "circle_radius_from_circumference"
        else:
            given = pi_answer(stated, area_unit(unit))
            q = pick(rng, [
                f"The area of {circle} is {given}. What is its radius?",
                f"A circle centred at {o} encloses {given}. How long is the radius {radius}?",
                f"Given that {circle} has an area of {given}, find the radius marked ?.",
            ])
            steps = [step(f"A = πr², so r = √(A ÷ π) = √{stated} = {r}.",
                          f"sqrt({number(stated)})", r)]
            mistakes = [("square_root_forgotten", [step(
                f"A = πr², so r = A ÷ π = {stated}π ÷ π = {stated}.", number(stated), stated)])]
            kind = "circle_radius_from_area"
        return numeric_qa(q, r, type=kind, unit=unit, steps=steps, mistakes=mistakes)

    @staticmethod
    def _answer(question, coefficient, how, scene, unit, kind, wrong):
        """A rounded decimal answer, or the exact multiple of π (``value`` = the coefficient);
        ``how``: the steps that find the coefficient; ``wrong``: (name, steps) of a mistaken
        coefficient (a decimal answer's worked mistake)."""
        if scene["form"] == "pi":
            *before, last = how
            return text_qa(f"{question} Give the exact answer in terms of π.",
                           pi_answer(coefficient, unit), type=f"{kind}_pi",
                           value=int(round(coefficient)),
                           steps=[*before, {**last, "text": f"{last['text']}."}])
        dec = scene["decimals"]

        def times_pi(found):
            coefficient = found[-1]["value"]
            return [*found, step(f"≈ {format_number(coefficient * math.pi, dec)}.",
                                 f"{number(coefficient)} * pi", coefficient * math.pi)]

        name, wrong_how = wrong
        return numeric_qa(f"{question} {EXACT_PI}", coefficient * math.pi, type=kind, unit=unit,
                          decimals=dec, steps=times_pi(how),
                          mistakes=[(name, times_pi(wrong_how))])

    def caption(self, scene):
        o, unit, length = scene["center_name"], scene["unit"], scene["length"]
        names = "".join(scene["points"])
        if scene["shown"] == "sector":
            what = "arc" if scene["task"] == "arc_length" else "shaded sector"
            return (f"a geometry diagram of a circle with centre {o}, radius {length} {unit} and a "
                    f"{scene['central_angle']}° central angle {names[0]}{o}{names[1]} marking "
                    f"the {what} {names}")
        seg = f"diameter {names}" if scene["shown"] == "diameter" else f"radius {o}{names}"
        if scene["task"] in self.backward_tasks:
            return f"a geometry diagram of a circle with centre {o} and its {seg} marked ?"
        return (f"a geometry diagram of a circle with centre {o} and its {seg} labelled "
                f"{length} {unit}")
