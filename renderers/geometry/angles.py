"""Angles at a point: on a straight line, around a point, vertical and adjacent angles at two
crossing lines, the parts of a right angle, and linear-expression versions that solve for x.

Rays leave a centre O; each marked angle is the counter-clockwise sector between two of them
(always under 180°), labelled with its measure, an expression in x, or the unknown mark.
"""

from __future__ import annotations

import math

import numpy as np

from renderers import register
from renderers.base import Renderer
from renderers.geometry import draw as d
from renderers.qa import numeric_qa, pick
from renderers.solution import number, step
from renderers.style import sample_style

TASKS = ("straight_line", "around_point", "vertical", "linear_pair", "complementary",
         "straight_line_algebra", "vertical_algebra")
CENTER_NAMES = ("O", "O", "O", "P", "V", "M")
RAY_NAMES = ("ABCDEF", "PQRSTU", "KLMNJH", "DEFGHI", "UVWYZS")


def expression(a: int, b: int) -> str:
    """a·x + b as a label reads it: "3x − 12", "x + 40", "2x"."""
    head = "x" if a == 1 else f"{a}x"
    if b == 0:
        return head
    return f"{head} {'+' if b > 0 else '−'} {abs(b)}"


def _composition(rng, total: int, parts: int, lo: int, hi: int) -> list[int]:
    """``parts`` integers in [lo, hi] adding up to ``total``."""
    while True:
        cuts = sorted(int(c) for c in rng.integers(1, total, size=parts - 1))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        if all(lo <= s <= hi for s in sizes):
            return sizes


def _linear(rng, angle: int, x: int, avoid: int | None = None) -> tuple[int, int]:
    """(a, b) with a·x + b = angle: a small coefficient other than ``avoid``, preferably one
    that leaves a modest constant."""
    coefficients = [c for c in (1, 2, 3, 4, 5) if c != avoid]
    modest = [c for c in coefficients if abs(angle - c * x) <= 60]
    a = pick(rng, modest or coefficients)
    return a, angle - a * x


@register("geometry", "angles")
class Angles(Renderer):
    version = "3"  # 2: worked solutions as steps (qa[].steps); 3: qa[].difficulty

    def sample_scene(self, rng):
        task = pick(rng, TASKS)
        mark = pick(rng, ("x", "x", "?")) if "algebra" not in task else "x"
        x_value = None
        straight, right = [], None
        if task == "straight_line":
            sizes = _composition(rng, 180, int(pick(rng, (2, 2, 3))), 30, 150)
            dirs = list(np.cumsum([0, *sizes]))
            straight = [[0, len(dirs) - 1]]
            sectors = [[i, i + 1, s] for i, s in enumerate(sizes)]
        elif task == "around_point":
            sizes = _composition(rng, 360, int(pick(rng, (3, 4, 4, 5))), 45, 170)
            dirs = list(np.cumsum([0, *sizes[:-1]]))
            sectors = [[i, (i + 1) % len(sizes), s] for i, s in enumerate(sizes)]
        elif task in ("vertical", "linear_pair", "vertical_algebra"):
            lo = 60 if task == "vertical_algebra" else 35
            theta = int(pick(rng, [a for a in range(lo, 181 - lo) if abs(a - 90) >= 10]))
            dirs = [0, theta, 180, 180 + theta]
            straight = [[0, 2], [1, 3]]
            given = int(rng.integers(4))
            other = (given + 2) % 4 if task != "linear_pair" else (given + pick(rng, (1, 3))) % 4
            sizes = [theta, 180 - theta, theta, 180 - theta]
            sectors = [[k, (k + 1) % 4, sizes[k]] for k in sorted((given, other))]
        elif task == "complementary":
            part = int(rng.integers(25, 66))
            dirs = [0, part, 90]
            right = [0, 2]
            sectors = [[0, 1, part], [1, 2, 90 - part]]
        else:  # straight_line_algebra: a linear pair labelled with expressions in x
            part = int(rng.integers(50, 131))
            dirs = [0, part, 180]
            straight = [[0, 2]]
            sectors = [[0, 1, part], [1, 2, 180 - part]]
        # Which marked angle is unknown (the expressions' task asks for x instead).
        unknown = int(rng.integers(len(sectors)))
        labels = []
        if "algebra" in task:
            x_value = int(rng.integers(8, 41))
            a1, b1 = _linear(rng, sectors[0][2], x_value)
            a2, b2 = _linear(rng, sectors[1][2], x_value, avoid=a1 if task == "vertical_algebra"
                             else None)
            exprs = [[a1, b1], [a2, b2]]
            labels = [f"({expression(a, b)})°" if b else f"{expression(a, b)}°"
                      for a, b in exprs]
            unknown = None
        else:
            exprs = None
            labels = [mark if k == unknown else f"{s[2]}°" for k, s in enumerate(sectors)]
        # Place: rotate, maybe mirror (which reverses the counter-clockwise order of the rays).
        rotation = round(float(rng.uniform(0, 360)), 2) if rng.random() < 0.75 else 0.0
        mirror = bool(rng.random() < 0.5)
        lengths = [round(float(rng.uniform(0.8, 1.0)), 3) for _ in dirs]
        rays = []
        for deg, length in zip(dirs, lengths, strict=True):
            t = math.radians(float(deg) + rotation)
            x, y = length * math.cos(t), length * math.sin(t)
            rays.append([-x if mirror else x, y])
        marked = []
        for k, (i, j, size) in enumerate(sectors):
            # Counter-clockwise from ray ``from`` to ray ``to``; mirroring swaps them.
            a, b = (j, i) if mirror else (i, j)
            marked.append({"from": a, "to": b, "degrees": int(size), "label": labels[k],
                           "unknown": k == unknown})
            if exprs:
                marked[-1]["expression"] = exprs[k]
        center_name = pick(rng, CENTER_NAMES)
        names = [n for n in pick(rng, RAY_NAMES) if n != center_name]
        return {
            "family": self.name,
            "task": task,
            "center": [0.0, 0.0],
            "center_name": center_name,
            "ray_names": list(names[:len(rays)]),
            "rays": [[float(v) for v in r] for r in rays],
            "straight": straight,
            "right_angle": right,
            "angles": marked,
            "mark": mark,
            "x": x_value,
            "rotation": rotation,
            "mirrored": mirror,
            "arc_px": int(rng.integers(18, 28)),
            # Expression labels are long: more room around the rays.
            "margin": round(float(rng.uniform(0.18, 0.26) if x_value else rng.uniform(0.1, 0.2)),
                            3),
            "style": sample_style(rng),
        }

    def draw(self, scene, canvas):
        st = scene["style"]
        o = np.array(scene["center"])
        rays = [np.array(r) for r in scene["rays"]]
        d.begin_fitted(canvas, np.vstack([o, *rays]), scene["margin"], st["paper"])
        for r, name in zip(rays, scene["ray_names"], strict=True):
            canvas.tag_point(f"point {name}", r,
                             on=d.segment(canvas, o, r, st["ink"], st["line_width"]))
        canvas.tag_point(f"point {scene['center_name']}", o,
                         on=d.dot(canvas, o, st["ink"], size_px=5))
        lw = max(1.0, st["line_width"] * 0.7)
        upp = canvas.units_per_pixel
        # The centre's name goes in the widest unmarked gap between the rays, or else in the
        # widest marked one, whose arc then moves out past the name.
        marked = {(a["from"], a["to"]) for a in scene["angles"]}
        gaps = _gaps(o, rays)
        free = [g for g in gaps if (g[2], g[3]) not in marked]
        width, start, i0, j0 = max(free or gaps)
        name_font = {"size_delta": 1, "italic": st["italic_points"]}
        w, h = canvas.measure(scene["center_name"], **d._font(st, **name_font))
        reach = math.hypot(w, h) / 2 + 4 + st["line_width"] * 0.7  # clear of the rays' ink
        r_name = reach / math.sin(math.radians(min(width, 180.0) / 2))
        mid = math.radians(start + width / 2)
        d.label(canvas, o[0] + r_name * upp * math.cos(mid), o[1] + r_name * upp * math.sin(mid),
                scene["center_name"], st, **name_font)
        min_radius = {(i0, j0): r_name + reach + 4}
        if scene["right_angle"]:
            i, j = scene["right_angle"]
            d.right_angle_mark(canvas, o, rays[i], rays[j], 14, st["accent"], lw)
        for ang in scene["angles"]:
            p, q = rays[ang["from"]], rays[ang["to"]]
            text = ang["label"]
            least = max(scene["arc_px"], min_radius.get((ang["from"], ang["to"]), 0))
            if scene["right_angle"]:
                least = max(least, 30)  # outside the right-angle mark
            w, h = canvas.measure(text, **d._font(st))
            radius, (lx, ly) = _fit_label(p - o, q - o, w, h, least, ang["unknown"],
                                          pad=3 + st["line_width"] * 0.7)
            d.angle_arc(canvas, o, p, q, radius, st["accent"], lw, double=ang["unknown"])
            d.label(canvas, o[0] + lx * upp, o[1] + ly * upp, text, st,
                    color=st["accent"] if ang["unknown"] else st["ink"])
        for r, name in zip(rays, scene["ray_names"], strict=True):
            d.name_point(canvas, r, name, st, r - o)

    def questions(self, scene, rng):
        task = scene["task"]
        o = scene["center_name"]
        names = scene["ray_names"]
        angles = scene["angles"]

        def angle_name(ang):
            return f"∠{names[ang['from']]}{o}{names[ang['to']]}"

        line = ""
        if scene["straight"]:
            lines = [f"{names[i]}{o}{names[j]}" for i, j in scene["straight"]]
            line = (f"{lines[0]} is a straight line. " if len(lines) == 1
                    else f"{lines[0]} and {lines[1]} are straight lines. ")
        if "algebra" in task:
            (a1, b1), (a2, b2) = (ang["expression"] for ang in angles)
            x = scene["x"]
            e1, e2 = expression(a1, b1), expression(a2, b2)
            if task == "straight_line_algebra":
                setup = f"({e1}) + ({e2}) = 180, so {expression(a1 + a2, b1 + b2)} = 180"
                rule = "Angles on a straight line add up to 180°"
                solve = f"(180 - ({number(b1)} + {number(b2)})) / ({number(a1)} + {number(a2)})"
            else:
                # Collect x on the side with the larger coefficient.
                (ah, bh), (al, bl) = sorted([(a1, b1), (a2, b2)], reverse=True)
                setup = f"{e1} = {e2}, so {expression(ah - al, 0)} = {bl - bh}"
                rule = "Vertical angles are equal"
                solve = f"({number(bl)} - {number(bh)}) / ({number(ah)} - {number(al)})"
            q = pick(rng, [f"{line}Find the value of x.",
                           f"{line}What is x?",
                           f"{line}The two marked angles are given in terms of x. Solve for x.",
                           f"{line}Using the labelled angles, find x."])
            steps = [step(f"{rule}: {setup}, so x = {x}.", solve, x)]
            return [numeric_qa(q, x, type=f"angles_{task}", steps=steps)]
        (ask,) = [a for a in angles if a["unknown"]]
        known = [a for a in angles if not a["unknown"]]
        answer = ask["degrees"]
        if scene["mark"] == "x":
            target = "x"
            ask_q = pick(rng, ["Find x.", "What is the value of x?",
                               "What is the measure of the angle marked x?",
                               f"How many degrees is {angle_name(ask)}?"])
        else:
            target = angle_name(ask)
            ask_q = pick(rng, [f"What is the measure of {angle_name(ask)}?",
                               "Find the size of the angle marked “?”.",
                               f"How large is {angle_name(ask)}, marked with a question mark?"])
        terms = "".join(f" − {a['degrees']}°" for a in known)
        minus = "".join(f" - {number(a['degrees'])}" for a in known)
        setup = line
        if task == "straight_line":
            why, expr = (f"Angles on a straight line add up to 180°, so {target} = 180°{terms}",
                         f"180{minus}")
        elif task == "around_point":
            why, expr = (f"Angles around a point add up to 360°, so {target} = 360°{terms}",
                         f"360{minus}")
            setup = pick(rng, ["", f"Several rays meet at point {o}. "])
        elif task == "vertical":
            (opposite,) = known
            why, expr = (f"Vertical angles are equal, so {target} = {answer}°.",
                         number(opposite["degrees"]))
        elif task == "linear_pair":
            why, expr = (f"Adjacent angles on a straight line add up to 180°, so {target} = "
                         f"180°{terms}", f"180{minus}")
        else:
            why, expr = (f"The two parts of a right angle add up to 90°, so {target} = "
                         f"90°{terms}", f"90{minus}")
            i, j = scene["right_angle"]
            setup = f"∠{names[i]}{o}{names[j]} is a right angle. "
        if task != "vertical":
            why += f" = {answer}°."
        return [numeric_qa(f"{setup}{ask_q}", answer, type=f"angles_{task}", unit="°",
                           steps=[step(why, expr, answer)],
                           mistakes=_mistakes(task, target, known, terms, minus))]

    def caption(self, scene):
        what = {
            "straight_line": "angles on a straight line, one of them unknown",
            "around_point": "angles around a point, one of them unknown",
            "vertical": "two crossing lines with a pair of vertical angles marked",
            "linear_pair": "two crossing lines with two adjacent angles marked",
            "complementary": "a right angle split into two parts by a ray",
            "straight_line_algebra": "two angles on a straight line labelled with expressions "
                                     "in x",
            "vertical_algebra": "two crossing lines with vertical angles labelled with "
                                "expressions in x",
        }[scene["task"]]
        return f"a geometry diagram of rays from point {scene['center_name']}: {what}"


def _gaps(o, rays) -> list[tuple[float, float, int, int]]:
    """(width, start, i, j), in degrees, of each counter-clockwise gap from ray i to the next."""
    polar = sorted((math.degrees(math.atan2(r[1] - o[1], r[0] - o[0])) % 360, k)
                   for k, r in enumerate(rays))
    out = []
    for (a, i), (b, j) in zip(polar, polar[1:] + polar[:1], strict=True):
        out.append(((b - a) % 360 or 360.0, a, i, j))
    return out


def _fit_label(u, v, w: float, h: float, least: float, double: bool, pad: float
               ) -> tuple[float, tuple[float, float]]:
    """Arc radius and label centre (pixels from the vertex) for a w × h label in the angle
    between directions u and v (under 180°): the label box sits on the bisector as near the
    vertex as it can while clearing both arms by ``pad``; the arc (at least ``least``) runs just
    inside it, and the label clears the arc (the outer one of a double arc) too."""
    u = np.asarray(u, float) / np.hypot(*u)
    v = np.asarray(v, float) / np.hypot(*v)
    bis = (u + v) / np.hypot(*(u + v))
    hw, hh = w / 2 + pad, h / 2 + pad

    def clear_of_arms(t: float) -> bool:
        c = bis * t
        box = (c[0] - hw, c[1] - hh, c[0] + hw, c[1] + hh)
        return not any(_ray_hits(box, arm) for arm in (u, v))

    def nearest(t: float) -> float:
        c = bis * t
        dx = max(abs(c[0]) - w / 2, 0.0)
        dy = max(abs(c[1]) - h / 2, 0.0)
        return math.hypot(dx, dy)

    t = 0.0
    while not clear_of_arms(t):
        t += 1.0
    spread = 1.25 if double else 1.0  # the outer arc of a double arc, as angle_arc draws it
    radius = max(least, (nearest(t) - pad) / spread)
    outer = radius * spread
    while nearest(t) < outer + pad or not clear_of_arms(t):
        t += 1.0
    return radius, (float(bis[0] * t), float(bis[1] * t))


def _ray_hits(box, direction, length: float = 4000.0) -> bool:
    """Whether the ray from the origin along ``direction`` passes through ``box``."""
    t_lo, t_hi = 0.0, length
    for delta, lo, hi in ((direction[0], box[0], box[2]), (direction[1], box[1], box[3])):
        if abs(delta) < 1e-12:
            if not lo <= 0.0 <= hi:
                return False
            continue
        a, b = lo / delta, hi / delta
        t_lo, t_hi = max(t_lo, min(a, b)), min(t_hi, max(a, b))
    return t_lo <= t_hi


# The classic wrong rule for each angle task: the whole the angles add up to (name, its degrees).
_WRONG_WHOLE = {"straight_line": ("angles_around_a_point", 360),
                "linear_pair": ("angles_around_a_point", 360),
                "around_point": ("straight_line_rule", 180),
                "complementary": ("straight_line_rule", 180)}


def _mistakes(task, target, known, terms, minus):
    """A worked mistake for an angle question: the wrong whole (360° for a straight line, 180°
    around a point or for a right angle), or, for vertical angles, taking them as adjacent."""
    if task == "vertical":
        (opposite,) = known
        wrong = 180 - opposite["degrees"]
        return [("supplementary_not_equal", [step(
            f"Vertical angles add up to 180°, so {target} = 180° − {opposite['degrees']}° = "
            f"{wrong}°.", f"180 - {number(opposite['degrees'])}", wrong)])]
    name, whole = _WRONG_WHOLE[task]
    wrong = whole - sum(a["degrees"] for a in known)
    if wrong <= 0:
        return None
    return [(name, [step(f"The angles add up to {whole}°, so {target} = {whole}°{terms} = "
                         f"{wrong}°.", f"{whole}{minus}", wrong)])]
