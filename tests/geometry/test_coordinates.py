"""Coordinate grid: every answer re-derived from the plotted points by another route.

Distances come from complex magnitudes (whole ones confirmed with integer square roots), midpoints
from numpy means, slopes are checked by the line y = m·x + c they define passing through both
points exactly (in fractions), quadrants from the complex argument. The drawing is checked for
tick labels sitting on the gridlines they name and point labels beside their own points.
"""

from __future__ import annotations

import cmath
import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest

import renderers.geometry.coordinates as co
from renderers import RENDERERS
from renderers.canvas import Canvas
from renderers.qa import format_fraction, format_number, rounding_clause

from .common import is_plain_json, scenes

SEED = 314159
N = 1000
TOL = 1e-6
ROMAN = ["I", "II", "III", "IV"]


def _pair(x: float, y: float) -> str:
    return f"({format_number(x, 1)}, {format_number(y, 1)})"


def check_qa(scene, ask, qa) -> None:
    pts = {p["name"]: p["xy"] for p in scene["points"]}
    task = ask["task"]
    assert qa["type"] == f"coordinates_{task}"
    # The question names its points (alone, "P", or as a segment or line, "PQ").
    named = {c for token in re.findall(r"\b[A-Z]{1,2}\b", qa["question"]) for c in token}
    assert set(ask["points"]) <= named, (ask["points"], qa["question"])
    if task in ("quadrant", "read"):
        (name,) = ask["points"]
        x, y = pts[name]
        if task == "read":
            assert not scene["show_coords"]
            assert qa["value"] == [x, y]
            assert qa["answer"] == f"({format_number(x)}, {format_number(y)})"
            return
        phase = math.degrees(cmath.phase(complex(x, y)))
        assert phase % 90 != 0  # never on an axis
        quadrant = int((phase % 360) // 90) + 1
        assert qa["value"] == quadrant
        assert qa["answer"] == f"Quadrant {ROMAN[quadrant - 1]}"
        return
    a, b = ask["points"]
    assert a != b
    z1, z2 = complex(*pts[a]), complex(*pts[b])
    if task == "distance":
        expected = abs(z2 - z1)
        squared = int(round(abs(z2 - z1) ** 2))
        whole = math.isqrt(squared) ** 2 == squared
        decimals = ask["decimals"]
        if whole:
            assert qa["value"] == math.isqrt(squared) and isinstance(qa["value"], int)
            assert qa["answer"] == format_number(expected) and qa["exact"]
            assert "Round" not in qa["question"]
        else:
            assert qa["decimals"] == decimals and not qa["exact"]
            assert abs(qa["value"] - expected) <= 0.5 * 10**-decimals + 1e-9
            assert abs(qa["value"] - round(expected, decimals)) < 1e-9
            assert qa["answer"] == format_number(expected, decimals)
            assert qa["question"].endswith(rounding_clause(decimals))
        return
    if task == "midpoint":
        mx, my = np.mean(np.array([pts[a], pts[b]], dtype=float), axis=0)
        assert abs(qa["value"][0] - mx) < TOL and abs(qa["value"][1] - my) < TOL
        assert all(type(v) in (int, float) for v in qa["value"])
        assert qa["answer"] == _pair(mx, my)
        return
    assert task == "slope"
    (x1, y1), (x2, y2) = pts[a], pts[b]
    assert x1 != x2  # never a vertical line
    m = Fraction(qa["value"])
    assert qa["answer"] == qa["value"] == format_fraction(m)  # lowest terms, as written
    # The line of that slope through the first point passes exactly through the second.
    assert y1 - m * x1 == y2 - m * x2
    if m.denominator != 1:
        assert "lowest terms" in qa["question"]


def check_scene(scene, qas) -> None:
    """Independent answer checker for one scene."""
    g = scene["grid"]
    assert g["xmin"] < 0 < g["xmax"] and g["ymin"] < 0 < g["ymax"]
    assert g["step"] in (1, 2)
    names = [p["name"] for p in scene["points"]]
    assert len(set(names)) == len(names) in (2, 3)
    for p in scene["points"]:
        x, y = p["xy"]
        assert isinstance(x, int) and isinstance(y, int)
        assert g["xmin"] < x < g["xmax"] and g["ymin"] < y < g["ymax"] and x != 0 and y != 0
    if scene["connect"]:
        # The drawn segment or line runs through the first two points.
        p, q = (np.array(v) for v in scene["connect"])
        for name in names[:2]:
            r = np.array(next(pt["xy"] for pt in scene["points"] if pt["name"] == name), float)
            (ux, uy), (vx, vy) = q - p, r - p
            assert abs(ux * vy - uy * vx) < 1e-9 * float(np.dot(q - p, q - p))
    assert len(qas) == len(scene["asks"]) >= 1
    assert scene["asks"][0]["task"] == scene["task"]
    for ask, qa in zip(scene["asks"], qas, strict=True):
        check_qa(scene, ask, qa)


def _scenes(seed=SEED, n=N):
    return scenes(co.Coordinates(), seed, n)


def test_registered():
    assert RENDERERS["geometry"].get("coordinates") is co.Coordinates
    assert co.Coordinates.version == "4"


def test_answers_match_the_points():
    types, whole, rounded = set(), 0, 0
    for i, scene, qas in _scenes():
        try:
            check_scene(scene, qas)
        except AssertionError as e:
            raise AssertionError(f"sample {i}: {e}\n{json.dumps(scene)}\n{qas}") from e
        for qa in qas:
            types.add(qa["type"])
            if qa["type"] == "coordinates_distance":
                whole += qa["exact"]
                rounded += not qa["exact"]
    assert types == {f"coordinates_{t}" for t in co.TASKS}
    assert whole > 20 and rounded > 20


def test_checker_catches_wrong_answers():
    for _, scene, qas in _scenes(n=60):
        for k, qa in enumerate(qas):
            bad = list(qas)
            if isinstance(qa["value"], list):
                bad[k] = dict(qa, value=[qa["value"][0] + 1, qa["value"][1]])
            elif qa["type"] == "coordinates_slope":
                bad[k] = dict(qa, value=format_fraction(Fraction(qa["value"]) + 1))
            else:
                bad[k] = dict(qa, value=qa["value"] + 1)
            with pytest.raises(AssertionError):
                check_scene(scene, bad)


def test_scene_is_plain_json_and_deterministic():
    for (_, s1, q1), (_, s2, q2) in zip(_scenes(n=200), _scenes(n=200), strict=True):
        assert is_plain_json(s1) and is_plain_json(q1)
        assert json.dumps(s1, sort_keys=True) == json.dumps(s2, sort_keys=True)
        assert q1 == q2


def test_drawing_labels_the_grid_and_the_points():
    r = co.Coordinates()
    canvas = Canvas()
    for i, scene, _ in _scenes(seed=SEED + 1, n=20):
        png = r.render(scene, canvas)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert r.caption(scene)
        boxes = canvas.text_boxes
        assert all(b.inside(canvas.size, canvas.size) for b in boxes), i
        to_data = canvas.transform.inverted()
        upp = canvas.units_per_pixel
        g = scene["grid"]
        edge = scene["tick_labels"] == "edge"

        # Every number drawn is a tick label on the gridline it names, on its axis (or edge).
        ticks = {"x": set(), "y": set()}
        for b in boxes:
            if not re.fullmatch(r"-?\d+", b.text):
                continue
            v = int(b.text)
            cx, cy = to_data.transform(((b.x0 + b.x1) / 2, canvas.size - (b.y0 + b.y1) / 2))
            on_x = abs(cx - v) <= 1.5 * upp and (cy < g["ymin"] if edge else abs(cy) < 1)
            on_y = abs(cy - v) <= 1.5 * upp and (cx < g["xmin"] if edge else abs(cx) < 1)
            if v == 0 and not edge and -1 < cx < 0 and -1 < cy < 0:
                assert b.text == scene["origin_label"]
                continue
            assert on_x or on_y, (i, b.text, cx, cy)
            assert v % g["step"] == 0
            ticks["x" if on_x else "y"].add(v)
        assert len(ticks["x"]) >= 2 and len(ticks["y"]) >= 2, (i, ticks)
        # Each point's label names it (with its true coordinates when printed) and sits by it.
        for p in scene["points"]:
            x, y = p["xy"]
            want = p["name"] + (f"({format_number(x)}, {format_number(y)})"
                                if scene["show_coords"] else "")
            (b,) = [b for b in boxes if b.text == want]
            px, py = canvas.transform.transform((x, y))
            py = canvas.size - py
            gap = math.hypot(max(b.x0 - px, 0, px - b.x1), max(b.y0 - py, 0, py - b.y1))
            assert gap <= 10, (i, want, gap)
