"""Composed questions (issue 18, item 2): two or three facts of one figure chained, asked when a
job mixes difficulties. Each answer is re-derived here from the drawn figure by measuring it (the
angles by the law of cosines, areas by the shoelace formula, lengths as distances), and each
worked step by the step checker; a question's ``difficulty`` is the number of its steps, and each
composed kind takes the steps it is meant to."""

from __future__ import annotations

import math

import numpy as np
import pytest

from renderers import get_renderer, renderer_names
from tests.geometry.common import area_unit, assert_answer, scenes, shoelace
from tests.geometry.test_solution_steps import check_steps
from tests.test_preference_render import _geometry_checkers

N = 300
# Each composed kind and the steps it takes.
LEVELS = {"triangle_kind": 2, "triangle_area_from_sides": 3, "right_triangle_perimeter": 3,
          "right_triangle_area_from_leg": 3, "circle_semicircle_area": 3,
          "circle_semicircle_perimeter": 3, "circle_sector_perimeter": 2,
          "rectangle_diagonal": 2}


# Which family asks which (the others ask only their own questions).
ASKED = {"triangle": {"triangle_kind", "triangle_area_from_sides"},
         "right_triangle": {"right_triangle_perimeter", "right_triangle_area_from_leg"},
         "circle": {"circle_semicircle_area", "circle_semicircle_perimeter",
                    "circle_sector_perimeter"},
         "polygon": {"rectangle_diagonal"}, "angles": set(), "coordinates": set(),
         "parallel_lines": set()}


def _angles(points):
    """The interior angles of a triangle, by the law of cosines on its drawn sides."""
    out = []
    for i in range(3):
        p, a, b = points[i], points[(i + 1) % 3], points[(i + 2) % 3]
        pa, pb, ab = math.dist(p, a), math.dist(p, b), math.dist(a, b)
        out.append(math.degrees(math.acos((pa**2 + pb**2 - ab**2) / (2 * pa * pb))))
    return out


def _perimeter(points):
    return sum(math.dist(points[i], points[(i + 1) % len(points)]) for i in range(len(points)))


def check_composed(scene, item) -> None:
    """``item``'s answer measured on the figure of ``scene``."""
    kind, unit = item["type"], scene["unit"]
    assert item["difficulty"] == LEVELS[kind], item
    if kind == "triangle_kind":
        largest = max(_angles(scene["vertices"]))
        expected = ("right" if abs(largest - 90) < 1e-6 else
                    "acute" if largest < 90 else "obtuse")
        assert item["value"] == expected and item["answer"] == expected.capitalize(), item
        return
    if kind in ("triangle_area_from_sides", "right_triangle_area_from_leg"):
        assert_answer(item, shoelace(scene["vertices"]), area_unit(unit))
    elif kind == "right_triangle_perimeter":
        assert_answer(item, _perimeter(scene["vertices"]), unit)
    elif kind == "rectangle_diagonal":
        v = scene["vertices"]
        assert_answer(item, math.dist(v[0], v[2]), unit)
    else:  # a circle: the radius as drawn, from the centre to a named point
        center = np.array(scene["center"])
        points = [np.array(p) for p in scene["points"].values()]
        r = float(np.hypot(*(points[0] - center)))
        if kind == "circle_semicircle_area":
            assert_answer(item, math.pi * r * r / 2, area_unit(unit))
        elif kind == "circle_semicircle_perimeter":
            assert float(np.hypot(*(points[0] - points[1]))) == pytest.approx(2 * r)
            assert_answer(item, math.pi * r + 2 * r, unit)
        else:
            assert kind == "circle_sector_perimeter"
            u, w = points[0] - center, points[1] - center
            angle = math.atan2(abs(u[0] * w[1] - u[1] * w[0]), float(np.dot(u, w)))
            assert_answer(item, angle * r + 2 * r, unit)


def check_with_composed(scene, qa, family_check) -> None:
    """The family's own questions by its checker, the composed ones by :func:`check_composed`."""
    own = [item for item in qa if item["type"] not in LEVELS]
    if own:
        family_check(scene, own)
    for item in qa:
        if item["type"] in LEVELS:
            check_composed(scene, item)


@pytest.mark.parametrize("name", renderer_names("geometry"))
def test_every_composed_answer_and_step_is_re_derived(name):
    family, plain = get_renderer("geometry", name, composed=True), get_renderer("geometry", name)
    check = _geometry_checkers()[name]
    seen = set()
    for (_, scene, qa), (_, same, own) in zip(scenes(family, 21, N), scenes(plain, 21, N),
                                              strict=True):
        # composed questions come after the family's own, which they leave as they were
        assert scene == same and qa[:len(own)] == own
        check_with_composed(scene, qa, check)
        for item in qa:
            check_steps(scene, item)
        seen |= {item["type"] for item in qa[len(own):]}
    assert seen == ASKED[name], (name, seen)
