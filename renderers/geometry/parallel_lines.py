"""Parallel lines cut by a transversal: one angle is given, a related angle is asked.

In the construction frame the two lines run along u = (1, 0), the first through the origin and
the second one unit above it, and the transversal runs along t = (cos θ, sin θ), from the first
line towards the second. An angle at intersection k (0 on the first line, 1 on the second) lies
between the ray a·u along its line and the ray b·t along the transversal (a, b = ±1): it measures
θ when a·b = 1 and 180° − θ otherwise, lies on side a of the transversal, and is *interior*
(between the lines) when b = +1 at intersection 0 or b = −1 at intersection 1. The whole figure
is then rotated (and maybe mirrored), and the scene keeps the placed coordinates and rays.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D

from renderers import register
from renderers.base import Renderer
from renderers.geometry import draw as d
from renderers.qa import numeric_qa, pick
from renderers.solution import number, step
from renderers.style import sample_style

RELATIONS = ("corresponding", "alternate_interior", "alternate_exterior", "co_interior",
             "same_side_exterior", "vertical", "linear_pair")
EQUAL = frozenset({"corresponding", "alternate_interior", "alternate_exterior", "vertical"})
# Names of the two parallel lines and of the transversal.
LINE_NAMES = (("ℓ", "m", "t"), ("a", "b", "t"), ("p", "q", "r"), ("m", "n", "t"),
              ("ℓ", "m", "n"), ("j", "k", "t"))

# Fonts of ``sample_style`` without a glyph for ℓ, and a look-alike that has one.
SCRIPT_L_FALLBACK = {"DejaVu Serif": "STIXGeneral", "DejaVu Sans Mono": "DejaVu Sans"}

# How the question names the pair (a clause about "the angle marked x and the 65° angle").
CLAUSES = {
    "corresponding": ["are corresponding angles"],
    "alternate_interior": ["are alternate interior angles"],
    "alternate_exterior": ["are alternate exterior angles"],
    "co_interior": ["are co-interior angles", "are same-side interior angles",
                    "are consecutive interior angles"],
    "same_side_exterior": ["are same-side exterior angles", "are consecutive exterior angles"],
    "vertical": ["are vertical angles", "are vertically opposite angles"],
    "linear_pair": ["form a linear pair", "are adjacent angles on a straight line"],
}
RULES = {
    "corresponding": "Corresponding angles formed by a transversal of parallel lines are equal",
    "alternate_interior": "Alternate interior angles between parallel lines are equal",
    "alternate_exterior": "Alternate exterior angles of parallel lines are equal",
    "co_interior": "Co-interior (same-side interior) angles between parallel lines are "
                   "supplementary",
    "same_side_exterior": "Same-side exterior angles of parallel lines are supplementary",
    "vertical": "Vertical angles are equal",
    "linear_pair": "Angles forming a linear pair are supplementary",
}
CAPTION_NAMES = {
    "corresponding": "the corresponding angle",
    "alternate_interior": "the alternate interior angle",
    "alternate_exterior": "the alternate exterior angle",
    "co_interior": "the co-interior angle",
    "same_side_exterior": "the same-side exterior angle",
    "vertical": "the vertical angle",
    "linear_pair": "an adjacent angle on the same line",
}


def _interior(k: int, b: int) -> bool:
    return b == (1 if k == 0 else -1)


def _positions(relation: str, rng: np.random.Generator) -> tuple[tuple, tuple]:
    """(k, a, b) of the given angle and of the asked one, for ``relation``."""
    k, a = int(rng.integers(2)), pick(rng, (1, -1))
    if relation in ("alternate_interior", "co_interior"):
        b = 1 if k == 0 else -1  # interior
    elif relation in ("alternate_exterior", "same_side_exterior"):
        b = -1 if k == 0 else 1  # exterior
    else:
        b = pick(rng, (1, -1))
    if relation == "vertical":
        asked = (k, -a, -b)
    elif relation == "linear_pair":  # the two angles share one ray
        asked = (k, -a, b) if rng.random() < 0.5 else (k, a, -b)
    elif relation == "corresponding":
        asked = (1 - k, a, b)
    elif relation in ("alternate_interior", "alternate_exterior"):
        asked = (1 - k, -a, -b)
    else:  # co-interior, same-side exterior
        asked = (1 - k, a, -b)
    return (k, a, b), asked


def _pts(array: np.ndarray) -> list:
    return [[float(x), float(y)] for x, y in np.asarray(array, dtype=float)]


@register("geometry", "parallel_lines")
class ParallelLines(Renderer):
    version = "3"  # 2: worked solutions as steps (qa[].steps); 3: qa[].difficulty

    def sample_scene(self, rng):
        relation = pick(rng, RELATIONS)
        acute = int(rng.integers(35, 76))
        theta = acute if rng.random() < 0.5 else 180 - acute
        given_pos, asked_pos = _positions(relation, rng)
        # Construction frame: lines y = 0 and y = 1, transversal through the origin along t.
        u = np.array([1.0, 0.0])
        t = np.array([math.cos(math.radians(theta)), math.sin(math.radians(theta))])
        cross = [np.zeros(2), t / t[1]]  # where the transversal meets each line
        lo, hi = min(0.0, cross[1][0]), max(0.0, cross[1][0])
        x0 = lo - float(rng.uniform(1.0, 1.4))
        x1 = hi + float(rng.uniform(1.0, 1.4))
        lines = [np.array([[x0, 0.0], [x1, 0.0]]), np.array([[x0, 1.0], [x1, 1.0]])]
        # The transversal runs on past each line, further where a marked exterior angle's
        # label needs the room (its name sits at one end).
        reach = [0.55, 0.55]
        for k, _, b in (given_pos, asked_pos):
            if not _interior(k, b):
                reach[k] = 0.85
        transversal = np.array([cross[0] - float(rng.uniform(reach[0], reach[0] + 0.3)) * t,
                                cross[1] + float(rng.uniform(reach[1], reach[1] + 0.3)) * t])
        # Place: mirror, then rotate (lines often horizontal, as in textbooks).
        mirror = bool(rng.random() < 0.5)
        rotation = 0.0 if rng.random() < 0.35 else round(float(rng.uniform(0, 180)), 2)
        m = np.diag([-1.0, 1.0]) if mirror else np.eye(2)
        c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        m = np.array([[c, -s], [s, c]]) @ m

        def place(points):
            return np.asarray(points, dtype=float) @ m.T

        def angle(pos, **extra):
            k, a, b = pos
            return {"vertex": k, "side_of_transversal": a, "side_of_line": b,
                    "rays": _pts(place([a * u, b * t])), **extra}

        # A parallel mark sits on each line's stretch beyond both intersections, on the side
        # away from the angles marked on that line (an acute angle's label reaches far along it).
        names_at_start = bool(rng.random() < 0.5)
        default_side = 1 if names_at_start else -1
        mark_x = []
        for k in range(2):
            sides = {pos[1] for pos in (given_pos, asked_pos) if pos[0] == k}
            side = -sides.pop() if len(sides) == 1 else default_side
            mark_x.append(hi + 0.72 * (x1 - hi) if side == 1 else lo - 0.72 * (lo - x0))
        given_deg = theta if given_pos[1] * given_pos[2] == 1 else 180 - theta
        names = pick(rng, LINE_NAMES)
        return {
            "family": self.name,
            "task": relation,
            "theta": theta,
            "line_names": list(names[:2]),
            "transversal_name": names[2],
            "lines": [_pts(place(seg)) for seg in lines],
            "transversal": _pts(place(transversal)),
            "intersections": _pts(place(cross)),
            "given": angle(given_pos, degrees=given_deg),
            "asked": angle(asked_pos, mark=pick(rng, ("x", "x", "?"))),
            "rotation": rotation,
            "mirrored": mirror,
            "parallel_marks": bool(rng.random() < 0.7),
            "double_marks": bool(rng.random() < 0.3),
            "mark_points": _pts(place([[mark_x[0], 0.0], [mark_x[1], 1.0]])),
            "names_at_start": names_at_start,
            "arc_px": int(rng.integers(18, 27)),
            "margin": round(float(rng.uniform(0.1, 0.22)), 3),
            "style": sample_style(rng),
        }

    def draw(self, scene, canvas):
        st = scene["style"]
        lines = [np.array(seg) for seg in scene["lines"]]
        trans = np.array(scene["transversal"])
        d.begin_fitted(canvas, np.vstack([*lines, trans]), scene["margin"], st["paper"])
        for seg in [*lines, trans]:
            d.segment(canvas, seg[0], seg[1], st["ink"], st["line_width"])
        lw = max(1.0, st["line_width"] * 0.7)
        upp = canvas.units_per_pixel
        if scene["parallel_marks"]:
            # Chevrons pointing the same way along both lines.
            for seg, center in zip(lines, np.array(scene["mark_points"]), strict=True):
                u = (seg[1] - seg[0]) / np.hypot(*(seg[1] - seg[0]))
                n = np.array([-u[1], u[0]])
                for j in range(2 if scene["double_marks"] else 1):
                    tip = center + u * (6 + 7 * j) * upp
                    wing = 7 * upp
                    pts = np.array([tip - u * wing + n * wing, tip, tip - u * wing - n * wing])
                    canvas.add(Line2D(pts[:, 0], pts[:, 1], color=st["ink"], linewidth=lw,
                                      solid_joinstyle="miter", solid_capstyle="butt"))
        # Line names just beyond one end of each line, the transversal's beyond its far end.
        end = 0 if scene["names_at_start"] else 1
        named = list(zip(lines, scene["line_names"], strict=True))
        named.append((trans, scene["transversal_name"]))
        name_st = st
        if "ℓ" in scene["line_names"] and st["font"] in SCRIPT_L_FALLBACK:
            name_st = {**st, "font": SCRIPT_L_FALLBACK[st["font"]]}
        for seg, name in named:
            tip, other = seg[end], seg[1 - end]
            out = (tip - other) / np.hypot(*(tip - other))
            gap = d.clearance(canvas, name, name_st, out, pad_px=5, size_delta=1, italic=True)
            d.label(canvas, float(tip[0] + out[0] * gap), float(tip[1] + out[1] * gap), name,
                    name_st, size_delta=1, italic=True)
        cross = np.array(scene["intersections"])
        for key, text, color in (("given", f"{scene['given']['degrees']}°", st["ink"]),
                                 ("asked", scene["asked"]["mark"], st["accent"])):
            ang = scene[key]
            v = cross[ang["vertex"]]
            p, q = v + np.array(ang["rays"][0]), v + np.array(ang["rays"][1])
            radius = d.snug_arc_radius(canvas, v, p, q, text, scene["arc_px"], st)
            double = key == "asked"
            if double:
                radius = max(scene["arc_px"], radius / 1.25)
            d.angle_arc(canvas, v, p, q, radius, st["accent"], lw, double=double)
            d.angle_label(canvas, v, p, q, text, radius * (1.25 if double else 1), st,
                          color=color)

    def questions(self, scene, rng):
        relation = scene["task"]
        given = scene["given"]["degrees"]
        equal = relation in EQUAL
        answer = given if equal else 180 - given
        mark = scene["asked"]["mark"]
        l1, l2 = scene["line_names"]
        tname = scene["transversal_name"]
        parallel = f"Lines {l1} and {l2} are parallel. "
        if scene["parallel_marks"] and rng.random() < 0.4:
            parallel = ""  # the arrow marks say it
        clause = pick(rng, CLAUSES[relation])
        if mark == "x":
            target, pair = "x", f"The angle marked x and the {given}° angle {clause}."
            ask = pick(rng, ["What is the value of x?", "Find x.",
                             "What is the measure of the angle marked x?",
                             "How many degrees is x?"])
        else:
            target = "the marked angle"
            pair = f"The angle marked with a question mark and the {given}° angle {clause}."
            ask = pick(rng, ["What is the measure of the angle marked with a question mark?",
                             "Find the size of the angle marked “?”.",
                             "How large is the angle marked with a question mark, in degrees?"])
        q = pick(rng, [
            f"{parallel}{pair} {ask}",
            f"{parallel}Line {tname} crosses both lines. {pair} {ask}",
            f"{parallel}{ask}",
            f"{parallel}The {given}° angle is marked. {ask}",
        ])
        value = f"{answer}°" if equal else f"180° − {given}° = {answer}°"
        steps = [step(f"{RULES[relation]}, so {target} = {value}.",
                      number(given) if equal else f"180 - {number(given)}", answer)]
        # equal angles taken for supplementary ones, or the other way round
        if equal:
            mistake = ("taken_as_supplementary", [step(
                f"The two angles add up to 180°, so {target} = 180° − {given}° = {180 - given}°.",
                f"180 - {number(given)}", 180 - given)])
        else:
            mistake = ("taken_as_equal", [step(f"The two angles are equal, so {target} = "
                                               f"{given}°.", number(given), given)])
        return [numeric_qa(q.strip(), answer, type=f"parallel_{relation}", unit="°",
                           steps=steps, mistakes=[mistake])]

    def caption(self, scene):
        l1, l2 = scene["line_names"]
        return (f"two parallel lines {l1} and {l2} cut by a transversal "
                f"{scene['transversal_name']}, with one angle labelled "
                f"{scene['given']['degrees']}° and {CAPTION_NAMES[scene['task']]} marked "
                f"{scene['asked']['mark']}")
