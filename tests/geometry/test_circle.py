"""Circle answers re-derived from the drawn centre and points, not from the renderer's formulas.

The checker measures the figure: the radius is the distance from the drawn centre to a drawn
point on the circle, a diameter's ends are opposite each other through the centre, a central
angle comes from atan2 of the two drawn radii. Circumference, area, arc length and sector area
are computed from those measurements and compared with ``value``/``answer`` at the stated
rounding; "in terms of π" answers are compared as the coefficient of π.
"""

import json
import math

import numpy as np
import pytest

import renderers.geometry.circle  # noqa: F401  (registers the family)
from renderers import RENDERERS
from renderers.canvas import Canvas
from renderers.geometry.circle import Circle
from renderers.qa import with_unit

from .common import area_unit, assert_answer, is_plain_json, scenes

N = 1000
SEED = 12


def assert_pi_answer(item, expected, unit):
    """An exact multiple of π: ``value`` is the integer coefficient of π."""
    coefficient = expected / math.pi
    assert abs(coefficient - round(coefficient)) < 1e-6, (item, coefficient)
    assert isinstance(item["value"], int) and item["value"] == round(coefficient), item
    assert item["answer"] == with_unit(f"{round(coefficient)}π", unit), item
    assert "in terms of π" in item["question"]
    assert "Round to" not in item["question"]


def check(scene, qa):
    unit, task, length = scene["unit"], scene["task"], scene["length"]
    o = np.array(scene["center"], float)
    pts = {n: np.array(p, float) for n, p in scene["points"].items()}
    names = list(pts)
    assert scene["center_name"] not in names and len(set(names)) == len(names)
    assert isinstance(length, int)
    # The radius as drawn: every named point lies on one circle about the drawn centre.
    radii = [float(np.hypot(*(p - o))) for p in pts.values()]
    r = radii[0]
    assert radii == pytest.approx([r] * len(radii), rel=1e-12)
    assert scene["radius"] == pytest.approx(r, rel=1e-12)

    shown = scene["shown"]
    angle = None
    if shown == "radius":
        assert len(names) == 1
        assert r == pytest.approx(length, rel=1e-12)  # the labelled segment O–A
    elif shown == "diameter":
        a, b = pts.values()
        # A diameter: its ends are opposite through the centre, and it has the labelled length.
        assert np.allclose(a - o, o - b, atol=1e-9 * max(1.0, r))
        assert float(np.hypot(*(a - b))) == pytest.approx(length, rel=1e-12)
    else:
        a, b = pts.values()
        assert r == pytest.approx(length, rel=1e-12)
        u, w = a - o, b - o
        cross = float(u[0] * w[1] - u[1] * w[0])
        angle = math.atan2(abs(cross), float(np.dot(u, w)))  # in [0, π]
        assert math.degrees(angle) == pytest.approx(scene["central_angle"], abs=1e-9)
        assert 0 < scene["central_angle"] < 180

    (item,) = qa
    if task in ("radius_from_circumference", "radius_from_area"):
        # Backward: the stated circumference or area is the drawn circle's, and the asked radius
        # is the drawn one.
        assert shown == "radius" and scene["form"] == "pi"
        stated = scene["stated"]
        if task == "radius_from_circumference":
            assert stated * math.pi == pytest.approx(2 * math.pi * r, rel=1e-12)
            assert with_unit(f"{stated}π", unit) in item["question"]
        else:
            assert stated * math.pi == pytest.approx(math.pi * r * r, rel=1e-12)
            assert with_unit(f"{stated}π", area_unit(unit)) in item["question"]
        assert item["type"] == f"circle_{task}"
        assert_answer(item, r, unit)
        assert item["rationale"]
        return item
    kinds = {"diameter": ("diameter", "radius"), "radius": ("radius", "diameter"),
             "circumference": ("circumference", None), "area": ("area", None),
             "arc_length": ("arc_length", "sector"), "sector_area": ("sector_area", "sector")}
    kind, needs = kinds[task]
    if needs:
        assert shown == needs
    if task == "diameter":
        expected, out_unit = 2 * r, unit
    elif task == "radius":
        a, b = pts.values()
        expected, out_unit = float(np.hypot(*(a - b))) / 2, unit
    elif task == "circumference":
        expected, out_unit = 2 * math.pi * r, unit
    elif task == "area":
        expected, out_unit = math.pi * r * r, area_unit(unit)
    elif task == "arc_length":
        expected, out_unit = angle * r, unit
    else:
        expected, out_unit = angle * r * r / 2, area_unit(unit)
    if scene["form"] == "pi":
        assert task in ("circumference", "area")
        assert item["type"] == f"circle_{kind}_pi"
        assert_pi_answer(item, expected, out_unit)
    else:
        assert item["type"] == f"circle_{kind}"
        assert item["unit"] == out_unit
        assert_answer(item, expected, out_unit)
    assert item["rationale"]
    return item


def _scenes(seed, count):
    return scenes(Circle(), seed, count)


def test_registered():
    assert RENDERERS["geometry"].get("circle") is Circle
    assert Circle.version == "3"


def test_every_answer_matches_an_independent_derivation():
    kinds = set()
    for i, scene, qa in _scenes(SEED, N):
        try:
            item = check(scene, qa)
        except AssertionError as error:
            raise AssertionError(f"sample {i}: {scene}") from error
        kinds.add((item["type"], scene["shown"]))
    assert {t for t, _ in kinds} == {
        "circle_diameter", "circle_radius", "circle_circumference", "circle_circumference_pi",
        "circle_area", "circle_area_pi", "circle_arc_length", "circle_sector_area"}
    assert {("circle_area", "radius"), ("circle_area", "diameter"),
            ("circle_circumference", "radius"), ("circle_circumference", "diameter")} <= kinds


def test_every_backward_answer_matches_an_independent_derivation():
    types = set()
    for i, scene, qa in scenes(Circle(backward=1.0), SEED, N):
        try:
            item = check(scene, qa)
        except AssertionError as error:
            raise AssertionError(f"sample {i}: {scene}") from error
        types.add(item["type"])
    assert types == {"circle_radius_from_circumference", "circle_radius_from_area"}


def test_a_backward_figure_marks_the_asked_radius():
    family, canvas = Circle(backward=1.0), Canvas()
    for _, scene, _ in scenes(family, 3, 20):
        family.render(scene, canvas)
        texts = [box.text for box in canvas.text_boxes]
        assert ("?" in texts or "r = ?" in texts) and str(scene["length"]) not in " ".join(texts)
        assert all(box.inside(canvas.size, canvas.size) for box in canvas.text_boxes)


def test_scenes_are_json_and_deterministic():
    for (i, a, qa), (_, b, qb) in zip(_scenes(5, 200), _scenes(5, 200), strict=True):
        assert is_plain_json(a), i
        assert json.loads(json.dumps(a)) == a == b
        assert qa == qb
        assert json.loads(json.dumps(qa)) == qa


def test_rendering_shows_the_labels_inside_the_image():
    family, canvas = Circle(), Canvas()
    for i, scene, _ in _scenes(3, 20):
        png = family.render(scene, canvas)
        assert png.startswith(b"\x89PNG")
        texts = [box.text for box in canvas.text_boxes]
        # The labelled length with its unit, maybe with "r = " or "d = " in front.
        written = f"{scene['length']} {scene['unit']}"
        symbol = "d" if scene["shown"] == "diameter" else "r"
        assert written in texts or f"{symbol} = {written}" in texts, (i, texts)
        if scene["central_angle"] is not None:
            assert f"{scene['central_angle']}°" in texts
        assert {scene["center_name"], *scene["points"]} <= set(texts)
        for box in canvas.text_boxes:
            assert box.inside(canvas.size, canvas.size), (i, box)
        boxes = canvas.text_boxes
        for j, a in enumerate(boxes):
            for b in boxes[j + 1:]:
                assert not a.overlaps(b), (i, a, b)
