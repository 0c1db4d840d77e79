"""Triangle answers re-derived from the drawn vertices, not from the renderer's formulas."""

import json
import math

import numpy as np
import pytest

from renderers.canvas import Canvas
from renderers.geometry.triangle import Triangle
from renderers.qa import format_number, with_unit

N = 1000


def _angle_at(p, a, b):
    """Interior angle at p of triangle p-a-b, by the law of cosines on the side lengths."""
    pa, pb, ab = math.dist(p, a), math.dist(p, b), math.dist(a, b)
    return math.degrees(math.acos((pa**2 + pb**2 - ab**2) / (2 * pa * pb)))


def _heron(p, q, r):
    a, b, c = math.dist(q, r), math.dist(p, r), math.dist(p, q)
    s = (a + b + c) / 2
    return math.sqrt(max(s * (s - a) * (s - b) * (s - c), 0.0))


def check(scene, qa):
    v = dict(zip(scene["names"], scene["vertices"], strict=True))
    names, given = scene["names"], scene["given"]
    (item,) = qa
    if scene["task"] == "angle":
        # The labelled angles are the drawn ones ...
        for name, degrees in given["angles"].items():
            others = [v[n] for n in names if n != name]
            assert _angle_at(v[name], *others) == pytest.approx(degrees, abs=1e-6)
        # ... and the asked angle is measured on the figure.
        unknown = given["unknown"]
        expected = _angle_at(v[unknown], *[v[n] for n in names if n != unknown])
        unit = "°"
    elif scene["task"] == "perimeter":
        for side, length in given["sides"].items():
            assert math.dist(v[side[0]], v[side[1]]) == pytest.approx(length, abs=1e-6)
        pts = [v[n] for n in names]
        expected = sum(math.dist(pts[i], pts[(i + 1) % 3]) for i in range(3))
        unit = scene["unit"]
    elif scene["task"] == "side":  # backward: the stated perimeter is the drawn one
        pts = [v[n] for n in names]
        drawn = sum(math.dist(pts[i], pts[(i + 1) % 3]) for i in range(3))
        assert given["perimeter"] == pytest.approx(drawn, abs=1e-6)
        assert str(given["perimeter"]) in item["question"]
        for side, length in given["sides"].items():
            assert math.dist(v[side[0]], v[side[1]]) == pytest.approx(length, abs=1e-6)
        unknown = given["unknown"]
        assert unknown in item["question"] or "marked ?" in item["question"]
        expected = math.dist(v[unknown[0]], v[unknown[1]])
        unit = scene["unit"]
    elif scene["task"] == "height":  # backward: the stated area is the drawn one (Heron)
        assert given["area"] == pytest.approx(_heron(*[v[n] for n in names]), abs=1e-6)
        assert f"{given['area']:g} " in item["question"]
        p, q = (v[c] for c in given["base_side"])
        assert math.dist(p, q) == pytest.approx(given["base"], abs=1e-6)
        apex = v[(set(names) - set(given["base_side"])).pop()]
        # the height is the apex's distance from the base line, measured on the figure
        cross = (q[0] - p[0]) * (apex[1] - p[1]) - (q[1] - p[1]) * (apex[0] - p[0])
        expected = abs(cross) / math.dist(p, q)
        assert math.dist(apex, given["foot"]) == pytest.approx(expected, abs=1e-6)
        unit = scene["unit"]
    else:
        p, q = (v[c] for c in given["base_side"])
        assert math.dist(p, q) == pytest.approx(given["base"], abs=1e-6)
        apex = v[(set(names) - set(given["base_side"])).pop()]
        assert math.dist(apex, given["foot"]) == pytest.approx(given["height"], abs=1e-6)
        expected = _heron(*[v[n] for n in names])
        unit = f"{scene['unit']}²" if scene["unit"] != "units" else "square units"
    decimals = item.get("decimals")
    tol = 1e-6 if item["exact"] else 0.5 * 10 ** -decimals + 1e-9
    assert item["value"] == pytest.approx(expected, abs=tol)
    assert item["answer"] == with_unit(format_number(item["value"], decimals), unit)
    if not item["exact"]:
        assert f"Round to {decimals}" in item["question"]


def _checked_tasks(family) -> set[str]:
    """The tasks of N scenes, each scene's answer checked."""
    tasks = set()
    for i in range(N):
        rng = np.random.default_rng([0, i])
        scene = family.sample_scene(rng)
        check(scene, family.questions(scene, rng))
        tasks.add(scene["task"])
    return tasks


def test_every_answer_matches_an_independent_derivation():
    assert _checked_tasks(Triangle()) == {"angle", "perimeter", "area"}


def test_every_backward_answer_matches_an_independent_derivation():
    """--backward 1: the perimeter or the area given, a side or the height asked."""
    assert _checked_tasks(Triangle(backward=1.0)) == {"side", "height"}


def test_backward_zero_draws_the_scenes_of_a_family_without_it():
    half, none = Triangle(backward=0.5), Triangle(backward=0.0)
    tasks = set()
    for i in range(200):
        scene = half.sample_scene(np.random.default_rng([4, i]))
        tasks.add(scene["task"])
        assert none.sample_scene(np.random.default_rng([4, i])) == \
            Triangle().sample_scene(np.random.default_rng([4, i]))
    assert tasks == {"angle", "perimeter", "area", "side", "height"}


def test_scenes_are_json_and_deterministic():
    family = Triangle()
    for i in range(50):
        a = family.sample_scene(np.random.default_rng([3, i]))
        b = family.sample_scene(np.random.default_rng([3, i]))
        assert json.loads(json.dumps(a)) == a == b


@pytest.mark.parametrize("backward", [0.0, 1.0])
def test_labels_stay_inside_the_image(backward):
    family, canvas = Triangle(backward=backward), Canvas()
    for i in range(40):
        scene = family.sample_scene(np.random.default_rng([1, i]))
        family.render(scene, canvas)
        assert canvas.text_boxes
        for box in canvas.text_boxes:
            assert box.inside(canvas.size, canvas.size), (i, box)


def _crosses(p, q, box, shrink=1):
    x0, y0, x1, y1 = box.x0 + shrink, box.y0 + shrink, box.x1 - shrink, box.y1 - shrink
    for t in np.linspace(0, 1, 400):
        x, y = p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t
        if x0 <= x <= x1 and y0 <= y <= y1:
            return True
    return False


@pytest.mark.parametrize("backward", [0.0, 1.0])
def test_labels_cross_no_edge_and_no_other_label(backward):
    family, canvas = Triangle(backward=backward), Canvas()
    for i in range(200):
        scene = family.sample_scene(np.random.default_rng([2, i]))
        family.render(scene, canvas)

        def px(point):
            x, y = canvas.transform.transform(point)
            return x, canvas.size - y

        v = [px(p) for p in scene["vertices"]]
        edges = [(v[k], v[(k + 1) % 3]) for k in range(3)]
        boxes = canvas.text_boxes
        for j, box in enumerate(boxes):
            assert not any(_crosses(p, q, box) for p, q in edges), (i, box)
            assert not any(box.overlaps(other) for other in boxes[j + 1:]), (i, box)
