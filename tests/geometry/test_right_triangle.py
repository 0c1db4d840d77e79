"""Right-triangle answers re-derived from the drawn vertices, not from the renderer's formulas.

The checker measures the figure: side lengths are distances between the drawn vertices, the right
angle is a zero dot product, the area is the shoelace formula. It then asserts that the labels are
those measurements, that the labels alone determine the answer (Pythagoras on the labels gives
the measured length), and that ``value``/``answer`` are the measurement at the stated rounding.
"""

import json
import math

import numpy as np
import pytest

import renderers.geometry.right_triangle  # noqa: F401  (registers the family)
from renderers import RENDERERS
from renderers.canvas import Canvas
from renderers.geometry.right_triangle import RightTriangle

from .common import area_unit, assert_answer, is_plain_json, scenes, shoelace

N = 1000
SEED = 11


def check(scene, qa):
    names, given, unit = scene["names"], scene["given"], scene["unit"]
    v = {n: np.array(p, float) for n, p in zip(names, scene["vertices"], strict=True)}

    def length(side):
        return float(np.hypot(*(v[side[0]] - v[side[1]])))

    # The right angle really is one: the legs from it are perpendicular.
    r = scene["right_angle"]
    p, q = [n for n in names if n != r]
    u, w = v[p] - v[r], v[q] - v[r]
    assert abs(float(np.dot(u, w))) <= 1e-9 * float(np.hypot(*u) * np.hypot(*w))
    legs = {frozenset(r + p), frozenset(r + q)}
    hyp = frozenset(p + q)
    assert {frozenset(s) for s in scene["legs"]} == legs
    assert frozenset(scene["hypotenuse"]) == hyp

    # Every label is the drawn length of a real side.
    labels = {frozenset(side): value for side, value in given["sides"].items()}
    assert all(len(side) == 2 and side <= set(names) for side in labels)
    for side, value in given["sides"].items():
        assert isinstance(value, int)
        assert length(side) == pytest.approx(value, rel=1e-12, abs=1e-9)

    (item,) = qa
    task = scene["task"]
    assert item["type"] == f"right_triangle_{task}"
    unknown = frozenset(given["unknown"]) if given["unknown"] else None
    if task == "hypotenuse":
        assert unknown == hyp and set(labels) == legs
        expected = length(given["unknown"])
        assert expected == pytest.approx(math.hypot(*labels.values()), rel=1e-12)
    elif task == "leg":
        assert unknown in legs and set(labels) == {hyp} | (legs - {unknown})
        expected = length(given["unknown"])
        known_leg = labels[(legs - {unknown}).pop()]
        assert expected == pytest.approx(math.sqrt(labels[hyp] ** 2 - known_leg**2), rel=1e-12)
    else:
        assert unknown is None and legs <= set(labels)
        expected = shoelace(scene["vertices"])
        a, b = (labels[leg] for leg in legs)
        assert expected == pytest.approx(a * b / 2, rel=1e-12)
        unit = area_unit(unit)
    assert item["unit"] == unit
    assert_answer(item, expected, unit)
    assert item["rationale"]
    return item


def _scenes(seed, count):
    return scenes(RightTriangle(), seed, count)


def test_registered():
    assert RENDERERS["geometry"].get("right_triangle") is RightTriangle
    assert RightTriangle.version == "3"


def test_every_answer_matches_an_independent_derivation():
    kinds = set()
    for i, scene, qa in _scenes(SEED, N):
        try:
            item = check(scene, qa)
        except AssertionError as error:
            raise AssertionError(f"sample {i}: {scene}") from error
        kinds.add((scene["task"], item["exact"]))
    # Every task, with exact (triple) and rounded answers for the square roots.
    assert kinds >= {("hypotenuse", True), ("hypotenuse", False), ("leg", True), ("leg", False),
                     ("area", True)}


def test_scenes_are_json_and_deterministic():
    for (i, a, qa), (_, b, qb) in zip(_scenes(5, 200), _scenes(5, 200), strict=True):
        assert is_plain_json(a), i
        assert json.loads(json.dumps(a)) == a == b
        assert qa == qb
        assert json.loads(json.dumps(qa)) == qa


def test_rendering_shows_the_labels_inside_the_image():
    family, canvas = RightTriangle(), Canvas()
    for i, scene, _ in _scenes(3, 20):
        png = family.render(scene, canvas)
        assert png.startswith(b"\x89PNG")
        texts = [box.text for box in canvas.text_boxes]
        for value in scene["given"]["sides"].values():
            assert f"{value} {scene['unit']}" in texts, (i, texts)
        assert ("?" in texts) == bool(scene["given"]["unknown"])
        assert set(scene["names"]) <= set(texts)
        for box in canvas.text_boxes:
            assert box.inside(canvas.size, canvas.size), (i, box)
        boxes = canvas.text_boxes
        for j, a in enumerate(boxes):
            for b in boxes[j + 1:]:
                assert not a.overlaps(b), (i, a, b)
