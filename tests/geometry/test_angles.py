"""Angles at a point: every answer re-derived from the drawn rays.

The renderer answers from angle-sum rules (180° on a line, 360° around a point, 90° in a right
angle, vertical angles equal). This checker measures each marked angle between its two drawn rays
with atan2, reads the drawn labels back (a measure, an expression in x, or the unknown mark), and
requires the answer to be the measured unknown angle, or the x that makes every expression label
equal to the angle it labels. Statements in the question ("AOB is a straight line", "∠AOC is a
right angle") are checked against the drawing too.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import renderers.geometry.angles as an
from renderers import RENDERERS
from renderers.canvas import Canvas
from renderers.qa import format_number, with_unit

from .common import is_plain_json, scenes

SEED = 271828
N = 1000
TOL = 1e-6
EXPR = re.compile(r"^\(?(\d*)x(?: ([+−]) (\d+))?\)?°$")


def _polar(v) -> float:
    return math.degrees(math.atan2(v[1], v[0])) % 360


def _ccw(scene, i: int, j: int) -> float:
    """Counter-clockwise angle in degrees from ray i to ray j, measured on the drawing."""
    o = np.array(scene["center"])
    return (_polar(np.array(scene["rays"][j]) - o) - _polar(np.array(scene["rays"][i]) - o)) % 360


def _between(scene, i: int, j: int) -> float:
    """The (non-reflex) angle between rays i and j."""
    a = _ccw(scene, i, j)
    return min(a, 360 - a)


def _parse(label: str):
    """("deg", 65) | ("expr", (a, b)) | ("unknown", mark)."""
    m = re.fullmatch(r"(\d+)°", label)
    if m:
        return "deg", int(m.group(1))
    m = EXPR.fullmatch(label)
    if m:
        a = int(m.group(1) or 1)
        b = int(m.group(3) or 0) * (-1 if m.group(2) == "−" else 1)
        return "expr", (a, b)
    assert label in ("x", "?"), label
    return "unknown", label


def _chain(sectors):
    """The sectors in counter-clockwise order, each starting on the ray where the last ends."""
    ends = {t for _, t in sectors}
    (first,) = [ft for ft in sectors if ft[0] not in ends]
    ordered = [first]
    while len(ordered) < len(sectors):
        (nxt,) = [ft for ft in sectors if ft[0] == ordered[-1][1]]
        ordered.append(nxt)
    return ordered


def check_scene(scene, qas) -> None:
    """Independent answer checker: the drawing → the expected answer."""
    assert len(qas) == 1
    (qa,) = qas
    task = scene["task"]
    assert qa["type"] == f"angles_{task}"
    names = scene["ray_names"]
    center = scene["center_name"]
    assert len(set(names)) == len(names) == len(scene["rays"]) and center not in names
    # Straight lines really are straight; the right angle really is 90°.
    for i, j in scene["straight"]:
        assert abs(_ccw(scene, i, j) - 180) < TOL
    if scene["right_angle"]:
        assert abs(_between(scene, *scene["right_angle"]) - 90) < TOL
    measured = []
    for ang in scene["angles"]:
        m = _ccw(scene, ang["from"], ang["to"])
        assert 20 < m < 180
        assert abs(m - ang["degrees"]) < TOL
        measured.append(m)
    kinds = [_parse(a["label"]) for a in scene["angles"]]
    # Every numeric label is the measure of the angle it labels.
    for (kind, val), m in zip(kinds, measured, strict=True):
        if kind == "deg":
            assert abs(val - m) < TOL
    unknowns = [m for (kind, _), m in zip(kinds, measured, strict=True) if kind == "unknown"]
    exprs = [(val, m) for (kind, val), m in zip(kinds, measured, strict=True) if kind == "expr"]
    if exprs:
        assert not unknowns and len(exprs) == 2
        x = qa["value"]
        assert isinstance(x, int) and qa["unit"] is None
        for (a, b), m in exprs:
            assert a >= 1 and abs(a * x + b - m) < TOL  # x makes each label its drawn angle
        # ... and only that x: the two expressions do not describe the same line in x.
        (a1, b1), (a2, b2) = (v for v, _ in exprs)
        assert (a1, b1) != (a2, b2)
        assert qa["answer"] == format_number(x)
    else:
        assert len(unknowns) == 1
        expected = unknowns[0]
        assert abs(qa["value"] - expected) < TOL
        assert qa["answer"] == with_unit(format_number(round(expected)), "°")
        assert scene["mark"] in [val for kind, val in kinds if kind == "unknown"]
    assert qa["exact"]
    # The pair of angles is what the task says it is.
    rays_of = [(a["from"], a["to"]) for a in scene["angles"]]
    if task in ("vertical", "vertical_algebra"):
        (f1, t1), (f2, t2) = rays_of
        assert not {f1, t1} & {f2, t2}
        assert abs(_ccw(scene, f1, f2) - 180) < TOL
    elif task in ("straight_line", "straight_line_algebra", "linear_pair"):
        # The angles follow each other counter-clockwise, with no gaps, from one ray of a
        # straight line to the other.
        ordered = _chain(rays_of)
        assert abs(_ccw(scene, ordered[0][0], ordered[-1][1]) - 180) < TOL
    elif task == "around_point":
        assert len(rays_of) == len(scene["rays"])
        assert abs(sum(measured) - 360) < TOL
        assert {f for f, _ in rays_of} == set(range(len(scene["rays"])))
    else:
        assert task == "complementary"
        (f1, _), (_, t2) = _chain(rays_of)
        assert {f1, t2} == set(scene["right_angle"])
    # What the question states about the drawing holds.
    question = qa["question"]
    index = {n: k for k, n in enumerate(names)}
    for a, o, b in re.findall(r"\b([A-Z])([A-Z])([A-Z]) (?:is a straight line|and)", question):
        assert o == center and abs(_between(scene, index[a], index[b]) - 180) < TOL
    for a, o, b in re.findall(r"([A-Z])([A-Z])([A-Z]) are straight lines", question):
        assert o == center and abs(_between(scene, index[a], index[b]) - 180) < TOL
    for a, o, b, rest in re.findall(r"∠([A-Z])([A-Z])([A-Z])( is a right angle)?", question):
        assert o == center
        want = 90 if rest else qa["value"]
        assert abs(_between(scene, index[a], index[b]) - want) < TOL, (question, want)
    assert format_number(qa["value"]) in qa["rationale"]


def _scenes(seed=SEED, n=N):
    return scenes(an.Angles(), seed, n)


def test_registered():
    assert RENDERERS["geometry"].get("angles") is an.Angles
    assert an.Angles.version == "3"


def test_answers_match_the_drawn_rays():
    types = set()
    for i, scene, qas in _scenes():
        try:
            check_scene(scene, qas)
        except AssertionError as e:
            raise AssertionError(f"sample {i}: {e}\n{json.dumps(scene)}\n{qas}") from e
        types.add(qas[0]["type"])
    assert types == {f"angles_{t}" for t in an.TASKS}


def test_checker_catches_wrong_answers():
    for _, scene, qas in _scenes(n=50):
        bad = [dict(qas[0], value=qas[0]["value"] + 1)]
        with pytest.raises(AssertionError):
            check_scene(scene, bad)
        if any(re.fullmatch(r"\d+°", a["label"]) for a in scene["angles"]):
            wrong = json.loads(json.dumps(scene))
            k = next(k for k, a in enumerate(wrong["angles"]) if re.fullmatch(r"\d+°", a["label"]))
            wrong["angles"][k]["label"] = f"{wrong['angles'][k]['degrees'] + 3}°"
            with pytest.raises(AssertionError):
                check_scene(wrong, qas)


def test_scene_is_plain_json_and_deterministic():
    for (_, s1, q1), (_, s2, q2) in zip(_scenes(n=200), _scenes(n=200), strict=True):
        assert is_plain_json(s1) and is_plain_json(q1)
        assert json.dumps(s1, sort_keys=True) == json.dumps(s2, sort_keys=True)
        assert q1 == q2


def test_drawing_shows_each_label_in_its_angle():
    r = an.Angles()
    canvas = Canvas()
    for i, scene, _ in _scenes(seed=SEED + 1, n=20):
        png = r.render(scene, canvas)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert r.caption(scene)
        boxes = canvas.text_boxes
        assert all(b.inside(canvas.size, canvas.size) for b in boxes), i
        labels = [a["label"] for a in scene["angles"]]
        assert sorted(b.text for b in boxes) == sorted(
            [*scene["ray_names"], scene["center_name"], *labels])
        to_data = canvas.transform.inverted()
        o = np.array(scene["center"])
        for ang in scene["angles"]:
            (box,) = [b for b in boxes if b.text == ang["label"]]
            c = to_data.transform(((box.x0 + box.x1) / 2, canvas.size - (box.y0 + box.y1) / 2))
            # The label's centre lies inside its angle, counter-clockwise from ``from``.
            start = _polar(np.array(scene["rays"][ang["from"]]) - o)
            assert 0 < (_polar(c - o) - start) % 360 < ang["degrees"], (i, ang["label"])
