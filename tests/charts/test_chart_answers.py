"""Every chart family, 1,000 scenes each: the independent checker re-derives every answer.

No drawing here (answers come from the scene alone); ``test_chart_drawing`` draws a sample.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from renderers import get_renderer, renderer_names

from .checker import check_sample

N = 1000
SEED = 20240917
FAMILIES = renderer_names("chart")


def test_the_issue_s_chart_kinds_are_registered():
    assert {"bar", "hbar", "grouped_bar", "stacked_bar", "line", "pie", "donut",
            "scatter"} <= set(FAMILIES)
    assert {"area", "histogram", "box"} <= set(FAMILIES)


COMPOSED_OPS = {"mean_of_two", "mean_gap", "total_gap"}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_composed_answer_rederived_from_the_table(family):
    """Composed questions (--difficulty): asked after the chart's own, which stay as they
    were; every answer re-derived from the table."""
    plain, composed = get_renderer("chart", family), get_renderer("chart", family, composed=True)
    ops = Counter()
    for i in range(N // 3):
        try:
            scene = plain.sample_scene(np.random.default_rng([SEED, i]))
        except ValueError:
            continue
        rng_a, rng_b = (np.random.default_rng([SEED, i]) for _ in range(2))
        plain.sample_scene(rng_a), composed.sample_scene(rng_b)
        own, qas = plain.questions(scene, rng_a), composed.questions(scene, rng_b)
        assert qas[:len(own)] == own
        check_sample(scene, qas)
        ops.update(qa["args"]["op"] for qa in qas[len(own):])
    assert set(ops) <= COMPOSED_OPS
    if family not in ("box", "scatter"):  # (they ask none: no values to add up)
        assert ops["mean_of_two"] and ops["mean_gap"], ops
    else:
        assert not ops, ops


@pytest.mark.parametrize("family", FAMILIES)
def test_every_answer_rederived_from_the_table(family):
    renderer = get_renderer("chart", family)
    ops, types, modes = Counter(), Counter(), Counter()
    impossible = 0
    for i in range(N):
        rng = np.random.default_rng([SEED, i])
        try:
            scene = renderer.sample_scene(rng)
        except ValueError as e:  # a counted rejection in a run, never a crash
            assert type(e).__name__ == "ImpossibleScene", e
            impossible += 1
            continue
        qas = renderer.questions(scene, rng)
        check_sample(scene, qas)
        modes[scene["readout"]["mode"]] += 1
        for qa in qas:
            ops[qa["args"]["op"]] += 1
            types[qa["type"]] += 1
    assert impossible <= 0.03 * N, f"{impossible} impossible scenes"
    # Varied questions: several kinds of question, and the derendering task.
    assert types["chart_to_table"] > 0.1 * N
    assert len(types) >= 4, types
    assert len(ops) >= 6, ops
    if family not in ("pie", "donut"):
        assert len(modes) >= 2, modes


def test_the_question_types_of_the_issue_are_all_asked():
    types = Counter()
    for family in FAMILIES:
        renderer = get_renderer("chart", family)
        for i in range(150):
            rng = np.random.default_rng([SEED + 1, i])
            try:
                scene = renderer.sample_scene(rng)
            except ValueError:
                continue
            types.update(qa["type"] for qa in renderer.questions(scene, rng))
    for t in ("value_retrieval", "extremum", "comparison", "ranking", "arithmetic", "counting",
              "trend", "chart_to_table"):
        assert types[t] > 20, types


def test_same_seed_same_scene_and_questions():
    for family in FAMILIES:
        renderer = get_renderer("chart", family)
        for i in range(20):
            a, b = (np.random.default_rng([3, i]) for _ in range(2))
            try:
                sa = renderer.sample_scene(a)
            except ValueError:
                continue
            assert sa == renderer.sample_scene(b)
            assert renderer.questions(sa, a) == renderer.questions(sa, b)
