"""Parallel lines and a transversal: every answer re-derived from the drawn rays.

The renderer answers from the angle-pair rule (equal or supplementary). This checker ignores the
rule and the stored angle positions: it measures the asked angle between its two drawn rays
(atan2 of cross and dot products), checks that the labelled angle really has its label's measure,
and classifies the pair (corresponding, alternate interior, ...) from where the two angles lie
relative to the drawn lines.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import renderers.geometry.parallel_lines as pl
from renderers import RENDERERS
from renderers.canvas import Canvas
from renderers.qa import format_number, with_unit

from .common import is_plain_json, scenes

SEED = 20240611
N = 1000
TOL = 1e-6
# Words that name a pair of angles, and the pair they name.
PAIR_WORDS = {
    "corresponding": "corresponding", "alternate interior": "alternate_interior",
    "alternate exterior": "alternate_exterior", "co-interior": "co_interior",
    "same-side interior": "co_interior", "consecutive interior": "co_interior",
    "same-side exterior": "same_side_exterior", "consecutive exterior": "same_side_exterior",
    "vertical": "vertical", "linear pair": "linear_pair", "on a straight line": "linear_pair",
}


def _cross(a, b) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.hypot(*v)


def _between(a, b) -> float:
    """The angle in degrees between directions a and b, in [0, 180]."""
    return math.degrees(math.atan2(abs(_cross(a, b)), float(np.dot(a, b))))


def _on_segment(p, seg, tol=1e-9) -> bool:
    a, b = np.asarray(seg[0], float), np.asarray(seg[1], float)
    p = np.asarray(p, float)
    ab = b - a
    scale = float(np.hypot(*ab))
    if abs(_cross(ab, p - a)) > tol * scale * scale:
        return False
    s = float(np.dot(p - a, ab)) / scale**2
    return 0.0 < s < 1.0  # strictly inside: every ray from p reaches a drawn end


def _ray_is_drawn(vertex, ray, segments) -> bool:
    """``ray`` from ``vertex`` runs along one of ``segments`` (through the vertex) to an end."""
    for seg in segments:
        for end in seg:
            to_end = np.asarray(end, float) - vertex
            if (abs(_cross(_unit(to_end), _unit(ray))) < 1e-9
                    and float(np.dot(to_end, ray)) > 0):
                return True
    return False


def _relation(scene) -> str:
    """Name the pair of angles from where they lie, not from the stored positions."""
    lines = [np.array(s, dtype=float) for s in scene["lines"]]
    trans = np.array(scene["transversal"], dtype=float)
    ldir, tdir = lines[0][1] - lines[0][0], trans[1] - trans[0]
    cross_pts = np.array(scene["intersections"], dtype=float)
    sep = abs(_cross(_unit(ldir), lines[1][0] - lines[0][0]))

    def where(angle):
        v = cross_pts[angle["vertex"]]
        r1, r2 = (_unit(r) for r in angle["rays"])
        q = v + 0.05 * sep * _unit(r1 + r2)  # a point inside the angle
        sides = [np.sign(_cross(ldir, q - seg[0])) for seg in lines]
        return {
            "vertex": angle["vertex"],
            "interior": bool(sides[0] != sides[1]),
            "transversal_side": np.sign(_cross(tdir, q - trans[0])),
            "own_line_side": sides[angle["vertex"]],
        }

    g, a = where(scene["given"]), where(scene["asked"])
    same_t = g["transversal_side"] == a["transversal_side"]
    if g["vertex"] == a["vertex"]:
        same_l = g["own_line_side"] == a["own_line_side"]
        assert not (same_t and same_l), "the two marked angles are the same angle"
        return "linear_pair" if (same_t or same_l) else "vertical"
    if g["interior"] and a["interior"]:
        return "co_interior" if same_t else "alternate_interior"
    if not g["interior"] and not a["interior"]:
        return "same_side_exterior" if same_t else "alternate_exterior"
    assert same_t and g["own_line_side"] == a["own_line_side"], "an unnamed pair of angles"
    return "corresponding"


def check_scene(scene, qas) -> None:
    """Independent answer checker: geometry of the drawing → the expected answer."""
    lines = [np.array(s, dtype=float) for s in scene["lines"]]
    trans = np.array(scene["transversal"], dtype=float)
    cross_pts = np.array(scene["intersections"], dtype=float)
    d0, d1 = lines[0][1] - lines[0][0], lines[1][1] - lines[1][0]
    # The two drawn lines are parallel and distinct; the transversal is not parallel to them.
    assert abs(_cross(_unit(d0), _unit(d1))) < 1e-9
    assert abs(_cross(_unit(d0), lines[1][0] - lines[0][0])) > 0.1
    assert _between(d0, trans[1] - trans[0]) > 20
    # Each intersection lies on its line and on the transversal, inside the drawn segments.
    for k in range(2):
        assert _on_segment(cross_pts[k], lines[k]), k
        assert _on_segment(cross_pts[k], trans), k
    measured = {}
    for key in ("given", "asked"):
        angle = scene[key]
        v = cross_pts[angle["vertex"]]
        segs = [lines[angle["vertex"]], trans]
        r1, r2 = (np.asarray(r, float) for r in angle["rays"])
        assert _ray_is_drawn(v, r1, segs) and _ray_is_drawn(v, r2, segs)
        # One ray along the vertex's line, the other along the transversal.
        assert abs(_cross(_unit(r1), _unit(d0))) < 1e-9
        assert abs(_cross(_unit(r2), _unit(trans[1] - trans[0]))) < 1e-9
        measured[key] = _between(r1, r2)
    # The labelled angle really measures what its label says.
    assert isinstance(scene["given"]["degrees"], int)
    assert abs(measured["given"] - scene["given"]["degrees"]) < TOL
    expected = measured["asked"]
    relation = _relation(scene)
    assert scene["task"] == relation
    assert len(qas) == 1
    (qa,) = qas
    assert qa["type"] == f"parallel_{relation}"
    assert abs(qa["value"] - expected) < TOL
    assert qa["answer"] == with_unit(format_number(round(expected)), "°")
    assert qa["unit"] == "°" and qa["exact"]
    # The question's mark, its parallel lines when not drawn, and any pair name it states.
    question = qa["question"]
    mark = scene["asked"]["mark"]
    assert (" x" in question) if mark == "x" else ("question mark" in question
                                                   or "“?”" in question)
    if not scene["parallel_marks"]:
        assert "are parallel" in question
    for words, rel in PAIR_WORDS.items():
        if words in question:
            assert rel == relation, (words, relation)
        if words in qa["rationale"].lower():
            assert rel == relation, (words, relation)
    assert any(w in qa["rationale"].lower() for w, rel in PAIR_WORDS.items() if rel == relation)


def _scenes(seed=SEED, n=N):
    return scenes(pl.ParallelLines(), seed, n)


def test_registered():
    assert RENDERERS["geometry"].get("parallel_lines") is pl.ParallelLines
    assert pl.ParallelLines.version == "3"


def test_answers_match_the_drawn_geometry():
    seen_types, seen_answers = set(), set()
    for i, scene, qas in _scenes():
        try:
            check_scene(scene, qas)
        except AssertionError as e:
            raise AssertionError(f"sample {i}: {e}\n{json.dumps(scene)}\n{qas}") from e
        seen_types.add(qas[0]["type"])
        seen_answers.add(qas[0]["value"] == scene["given"]["degrees"])
    assert seen_types == {f"parallel_{r}" for r in pl.RELATIONS}
    assert seen_answers == {True, False}


def test_checker_catches_wrong_answers():
    _, scene, qas = next(_scenes(n=1))
    bad = dict(qas[0], value=qas[0]["value"] + 1)
    with pytest.raises(AssertionError):
        check_scene(scene, [bad])
    wrong_label = json.loads(json.dumps(scene))
    wrong_label["given"]["degrees"] += 5
    with pytest.raises(AssertionError):
        check_scene(wrong_label, qas)


def test_scene_is_plain_json_and_deterministic():
    for (_, s1, q1), (_, s2, q2) in zip(_scenes(n=200), _scenes(n=200), strict=True):
        assert is_plain_json(s1)
        assert json.dumps(s1, sort_keys=True) == json.dumps(s2, sort_keys=True)
        assert q1 == q2
        json.dumps(q1)


def test_drawing_shows_the_labels_in_their_angles():
    r = pl.ParallelLines()
    canvas = Canvas()
    for i, scene, _ in _scenes(seed=SEED + 1, n=20):
        png = r.render(scene, canvas)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert r.caption(scene)
        boxes = canvas.text_boxes
        assert all(b.inside(canvas.size, canvas.size) for b in boxes), i
        texts = [b.text for b in boxes]
        assert sorted(texts) == sorted([*scene["line_names"], scene["transversal_name"],
                                        f"{scene['given']['degrees']}°", scene["asked"]["mark"]])
        to_data = canvas.transform.inverted()
        cross_pts = np.array(scene["intersections"])
        for key, text in (("given", f"{scene['given']['degrees']}°"),
                          ("asked", scene["asked"]["mark"])):
            (box,) = [b for b in boxes if b.text == text]
            center = to_data.transform(((box.x0 + box.x1) / 2, canvas.size - (box.y0 + box.y1) / 2))
            v = cross_pts[scene[key]["vertex"]]
            r1, r2 = (np.array(x) for x in scene[key]["rays"])
            # The label's centre lies inside its angle: between both rays.
            w = center - v
            assert _between(r1, w) < _between(r1, r2) and _between(r2, w) < _between(r1, r2), i
            assert abs(_between(r1, w) + _between(w, r2) - _between(r1, r2)) < 1e-6, i
