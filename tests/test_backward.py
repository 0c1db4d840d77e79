"""Backward questions (issue 18, item 3; FOBAR / MathGenie): ``--backward 0.5`` on 600 geometry
samples, with perturbed variants and preference pairs on. What a family usually asks is given in
the question (a perimeter, an area, a circumference), a quantity it usually gives is asked, and
the figure is drawn to match: the independent checkers re-derive every answer from the drawn
figure, and every worked step."""

from __future__ import annotations

from collections import Counter

from mmsynth.run import run
from tests.conftest import read_records
from tests.geometry.test_solution_steps import check_mistakes, check_steps
from tests.test_preference_render import _geometry_checkers

N = 600
BACKWARD_TYPES = {"triangle_side_from_perimeter", "triangle_height_from_area",
                  "circle_radius_from_circumference", "circle_radius_from_area",
                  "rectangle_side_from_area", "rectangle_side_from_perimeter"}


def test_backward_questions_are_right_by_the_independent_checkers(tmp_path):
    summary = run({"source": "geometry", "num_samples": N, "shard_size": 150, "seed": 8,
                   "out": str(tmp_path), "backward": 0.5, "variants": 1, "preference_pairs": 1,
                   "clip_mode": "off", "progress": False})
    records = read_records(tmp_path)
    assert summary.rejected == 0 and len(records) == summary.kept > N
    checkers = _geometry_checkers()
    types = Counter()
    for record in records:
        scene, qa = record["scene"], record["qa"]
        checkers[record["meta"]["generator"]](scene, qa)
        for item in qa:
            check_steps(scene, item)
            check_mistakes(scene, item)
            types[item["type"]] += 1
    assert set(types) >= BACKWARD_TYPES, sorted(types)
    # about half of the triangles, circles and rectangles are asked backward
    backward = sum(types[t] for t in BACKWARD_TYPES)
    forward = sum(n for t, n in types.items() if t.split("_")[0] in ("triangle", "circle")
                  or t in ("rectangle_area", "rectangle_perimeter")) - backward
    assert 0.3 < backward / (backward + forward) < 0.7, (backward, forward)
    # variants of backward samples are backward too: the same question, other numbers
    by_id = {r["id"]: r for r in records}
    varied = [r for r in records if "variant_of" in r["meta"]
              and r["qa"][0]["type"] in BACKWARD_TYPES]
    assert varied
    for variant in varied:
        assert by_id[variant["meta"]["variant_of"]]["qa"][0]["type"] == variant["qa"][0]["type"]


def test_backward_is_in_the_fingerprint_only_when_on():
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    base = {"source": "geometry", "num_samples": 2, "clip_mode": "off"}
    off = fingerprint_of(resolve(base, source_options))
    assert fingerprint_of(resolve({**base, "backward": 0}, source_options)) == off
    assert fingerprint_of(resolve({**base, "backward": 0.5}, source_options)) != off
