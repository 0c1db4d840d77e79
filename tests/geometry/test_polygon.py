"""Polygon answers re-derived from the drawn vertices, not from the renderer's formulas.

The checker measures the figure: side lengths are distances between consecutive drawn vertices,
angles come from atan2 of the edge vectors, areas from the shoelace formula, a height is the
distance from its drawn top to its drawn foot (checked perpendicular to the base line). It asserts
that the figure is the shape the question names (regular, rectangle, parallelogram, trapezoid),
that every label is the drawn length, that the labels alone determine the answer, and that
``value``/``answer`` are the measurement at the stated rounding.
"""

import json
import math

import numpy as np
import pytest

import renderers.geometry.polygon  # noqa: F401  (registers the family)
from renderers import RENDERERS
from renderers.canvas import Canvas
from renderers.geometry.polygon import PolygonFamily

from .common import area_unit, assert_answer, is_plain_json, scenes, shoelace

N = 1000
SEED = 13


def _cross(u, w):
    return float(u[0] * w[1] - u[1] * w[0])


def _angle(u, w):
    """The angle between vectors u and w, in degrees (0..180)."""
    return math.degrees(math.atan2(abs(_cross(u, w)), float(np.dot(u, w))))


def _check_labels(scene, pts):
    """Every label names a side (consecutive vertices) and is its drawn length."""
    n = len(pts)
    out = {}
    for label in scene["labels"]:
        i, j = label["side"]
        assert j == (i + 1) % n or i == (j + 1) % n, label
        assert isinstance(label["length"], int)
        assert float(np.hypot(*(pts[i] - pts[j]))) == pytest.approx(label["length"], rel=1e-12)
        out[frozenset((i, j))] = label["length"]
    return out


def _check_height(scene, pts):
    """The drawn height: its foot on the base line (v0 v1), perpendicular, the labelled length;
    returns (length, where the foot falls along the base as a fraction of it)."""
    height = scene["height"]
    top, foot = pts[height["from"]], np.array(height["foot"], float)
    base = pts[1] - pts[0]
    scale = float(np.hypot(*base))
    assert height["from"] in (2, 3)
    assert abs(_cross(base, foot - pts[0])) <= 1e-9 * scale * scale  # on the base line
    assert abs(float(np.dot(base, top - foot))) <= 1e-9 * scale * scale  # perpendicular
    assert float(np.hypot(*(top - foot))) == pytest.approx(height["length"], rel=1e-12)
    # ... and it is the distance between the parallel sides (the line through v2 v3).
    assert abs(_cross(base, pts[2] - pts[0])) / scale == pytest.approx(height["length"],
                                                                       rel=1e-12)
    return height["length"], float(np.dot(foot - pts[0], base)) / scale**2


def check_regular(scene, item, pts):
    n, task = scene["n"], scene["task"]
    assert len(pts) == n and 5 <= n <= 10
    edges = [pts[(i + 1) % n] - pts[i] for i in range(n)]
    sides = [float(np.hypot(*e)) for e in edges]
    assert sides == pytest.approx([scene["side"]] * n, rel=1e-12)
    # Convex, and every interior angle equal: a regular polygon.
    turns = [_cross(edges[i - 1], edges[i]) for i in range(n)]
    assert all(t > 0 for t in turns) or all(t < 0 for t in turns)
    interior = [_angle(pts[i - 1] - pts[i], pts[(i + 1) % n] - pts[i]) for i in range(n)]
    assert interior == pytest.approx([interior[0]] * n, abs=1e-9)
    labels = _check_labels(scene, pts)
    if scene["names"] is not None:
        assert len(scene["names"]) == n == len(set(scene["names"]))
    assert item["type"] == f"polygon_{task}"
    if task != "angle_sum":
        assert "regular" in item["question"]
    if task == "perimeter":
        assert labels, "the perimeter needs a labelled side"
        expected = sum(sides)
        assert expected == pytest.approx(n * next(iter(labels.values())), rel=1e-12)
        return expected, scene["unit"]
    if task == "angle_sum":
        return sum(interior), "°"
    k = scene["marked_vertex"]
    if task == "interior_angle":
        return interior[k], "°"
    assert task == "exterior_angle"
    # Between the side arriving at the marked vertex, extended, and the side leaving it.
    return _angle(pts[k] - pts[k - 1], pts[(k + 1) % n] - pts[k]), "°"


def check_quad(scene, item, pts):
    shape, task, unit = scene["shape"], scene["task"], scene["unit"]
    assert len(pts) == 4 and len(set(scene["names"])) == 4
    assert item["type"] == f"{shape}_{task}"
    assert shape in item["question"]
    edges = [pts[(i + 1) % 4] - pts[i] for i in range(4)]
    sides = [float(np.hypot(*e)) for e in edges]
    labels = _check_labels(scene, pts)
    perimeter, area = sum(sides), shoelace(pts)
    base = frozenset((0, 1))
    if shape in ("rectangle", "parallelogram"):
        # Opposite sides equal and parallel.
        assert np.allclose(edges[0], -edges[2], atol=1e-9) and np.allclose(edges[1], -edges[3],
                                                                             atol=1e-9)
    if shape == "rectangle":
        for i in range(4):
            assert abs(float(np.dot(edges[i - 1], edges[i]))) <= 1e-9 * sides[i - 1] * sides[i]
        assert set(labels) == {base, frozenset((1, 2))}
        w, h = labels[base], labels[frozenset((1, 2))]
        if task in ("side_from_area", "side_from_perimeter"):
            # Backward: the stated area or perimeter is the drawn one; the asked side (marked ?)
            # is measured on the figure.
            stated = scene["stated"]
            assert stated == pytest.approx(area if task == "side_from_area" else perimeter,
                                           rel=1e-12)
            assert f"{stated} " in item["question"]
            i, j = scene["labels"][scene["asked"]]["side"]
            asked = "".join(scene["names"][k] for k in (i, j))
            assert asked in item["question"] or "marked ?" in item["question"]
            return sides[i] if j == (i + 1) % 4 else sides[j], unit
        from_labels = w * h if task == "area" else 2 * (w + h)
    elif shape == "parallelogram":
        if scene["height"] is not None:
            h, at = _check_height(scene, pts)
            # Inside: the foot on the base; outside: on its extension.
            assert (0 < at < 1) != scene["height"]["outside"]
        if task == "area":
            assert scene["height"] is not None and base in labels
            from_labels = labels[base] * h
        else:
            slanted = [s for s in labels if s != base]
            assert base in labels and len(slanted) == 1
            from_labels = 2 * (labels[base] + labels[slanted[0]])
    else:
        assert shape == "trapezoid"
        # One pair of parallel sides (v0 v1 and v2 v3), the other pair not.
        assert abs(_cross(edges[0], edges[2])) <= 1e-9 * sides[0] * sides[2]
        assert abs(_cross(edges[1], edges[3])) > 1e-3 * sides[1] * sides[3]
        if task == "area":
            assert scene["height"] is not None
            h, at = _check_height(scene, pts)
            assert 0 < at < 1 and not scene["height"]["outside"]
            a, b = labels[base], labels[frozenset((2, 3))]
            from_labels = (a + b) / 2 * h
        else:
            assert len(labels) == 4
            from_labels = sum(labels.values())
    if task == "area":
        assert from_labels == pytest.approx(area, rel=1e-12)
        return area, area_unit(unit)
    assert from_labels == pytest.approx(perimeter, rel=1e-12)
    return perimeter, unit


def check(scene, qa):
    pts = [np.array(p, float) for p in scene["vertices"]]
    (item,) = qa
    if scene["shape"] == "regular":
        expected, unit = check_regular(scene, item, pts)
    else:
        expected, unit = check_quad(scene, item, pts)
    assert item["unit"] == unit
    assert_answer(item, expected, unit)
    assert item["rationale"]
    return item


def _scenes(seed, count, backward=0.0):
    return scenes(PolygonFamily(backward=backward), seed, count)


def test_every_backward_answer_matches_an_independent_derivation():
    types = set()
    for i, scene, qa in _scenes(SEED, N, backward=1.0):
        try:
            item = check(scene, qa)
        except AssertionError as error:
            raise AssertionError(f"sample {i}: {scene}") from error
        types.add(item["type"])
    # rectangles are asked backward; the other shapes have no backward questions yet
    assert {"rectangle_side_from_area", "rectangle_side_from_perimeter"} <= types
    assert not types & {"rectangle_area", "rectangle_perimeter"}


def test_registered():
    assert RENDERERS["geometry"].get("polygon") is PolygonFamily
    assert PolygonFamily.version == "3"


def test_every_answer_matches_an_independent_derivation():
    kinds = set()
    for i, scene, qa in _scenes(SEED, N):
        try:
            item = check(scene, qa)
        except AssertionError as error:
            raise AssertionError(f"sample {i}: {scene}") from error
        kinds.add((item["type"], item["exact"]))
    assert {t for t, _ in kinds} == {
        "polygon_perimeter", "polygon_angle_sum", "polygon_interior_angle",
        "polygon_exterior_angle", "rectangle_area", "rectangle_perimeter",
        "parallelogram_area", "parallelogram_perimeter", "trapezoid_area",
        "trapezoid_perimeter"}
    # The heptagon's angles are rounded.
    assert ("polygon_interior_angle", False) in kinds
    assert ("polygon_exterior_angle", False) in kinds


def test_scenes_are_json_and_deterministic():
    for (i, a, qa), (_, b, qb) in zip(_scenes(5, 200), _scenes(5, 200), strict=True):
        assert is_plain_json(a), i
        assert json.loads(json.dumps(a)) == a == b
        assert qa == qb
        assert json.loads(json.dumps(qa)) == qa


@pytest.mark.parametrize("backward", [0.0, 1.0])
def test_rendering_shows_the_labels_inside_the_image(backward):
    family, canvas = PolygonFamily(backward=backward), Canvas()
    for i, scene, _ in _scenes(3, 40, backward):
        png = family.render(scene, canvas)
        assert png.startswith(b"\x89PNG")
        texts = [box.text for box in canvas.text_boxes]
        for k, label in enumerate(scene["labels"]):
            shown = "?" if scene.get("asked") == k else f"{label['length']} {scene['unit']}"
            assert shown in texts, (i, texts)
        if scene.get("height"):
            assert f"h = {scene['height']['length']} {scene['unit']}" in texts, (i, texts)
        assert ("?" in texts) == (scene.get("marked_vertex") is not None or "asked" in scene)
        assert set(scene.get("names") or []) <= set(texts)
        for box in canvas.text_boxes:
            assert box.inside(canvas.size, canvas.size), (i, box)
        boxes = canvas.text_boxes
        for j, a in enumerate(boxes):
            for b in boxes[j + 1:]:
                assert not a.overlaps(b), (i, a, b)
