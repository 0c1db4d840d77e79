"""Worked solutions (issue 18, item 1): every geometry question's rationale is the solver's own
trace, and each step is re-derived here, independently of the renderer.

Each step's ``expr`` is evaluated by the small arithmetic evaluator below (its own walk of
Python's syntax tree, not ``eval``, not :mod:`renderers.solution`) and must give the step's
``value``; each number it uses must be one the scene holds, an earlier step's value or a
constant of a formula; the step's words must state its value; the steps' words joined are the
rationale; and the last step's value is the answer before rounding. The answers themselves are
re-derived from the drawn figures by each family's own checker (``test_<family>.py``).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from renderers import get_renderer, renderer_names
from renderers.qa import format_number
from tests.geometry.common import scenes
from tests.solution_check import check_chain, evaluate, scene_numbers
from tests.solution_check import close as _close

N = 400
# Constants of the formulas: ½, doubling, the degrees of a right angle, a straight line, a turn.
CONSTANTS = {1, 2, 90, 180, 360}
# The quadrant of each pair of coordinate signs.
QUADRANT = {(1, 1): 1, (-1, 1): 2, (-1, -1): 3, (1, -1): 4}


def check_steps(scene, item) -> None:
    steps = item.get("steps")
    assert steps, item
    assert item["rationale"] == " ".join(s["text"] for s in steps)
    check_chain(steps, scene_numbers(scene) | CONSTANTS)
    assert item["difficulty"] == len(steps), item  # the level is the steps it takes
    answer = item["value"]
    if item["type"] == "triangle_kind":  # the largest angle less 90°: its sign decides
        last = steps[-1]["value"]
        assert answer == ("acute" if last < 0 else "right" if last == 0 else "obtuse"), item
    elif item["type"] == "coordinates_quadrant":  # the signs of x and y, the last two steps
        x, y = (s["value"] for s in steps[-2:])
        assert x != 0 and y != 0 and QUADRANT[(x > 0) - (x < 0), (y > 0) - (y < 0)] == answer
    elif isinstance(answer, list):  # a point: one step per coordinate, the last ones
        found = [s["value"] for s in steps[-len(answer):]]
        assert all(_close(round(f, 1), a) for f, a in zip(found, answer, strict=True)), item
    elif isinstance(answer, str):  # a slope, as a fraction in lowest terms
        assert _close(float(Fraction(answer)), steps[-1]["value"]), item
    else:
        last = steps[-1]["value"]
        assert _close(round(last, item.get("decimals") or 0), answer), item


def check_mistakes(scene, item) -> None:
    """A worked mistake (material for ``wrong_step`` preference pairs) is arithmetic as honest
    as the solution's — each step re-derived, each number from the scene, an earlier step or a
    formula — and only its answer is wrong: written at the question's rounding, and not the
    truth there."""
    for mistake in item.get("mistakes", ()):
        assert set(mistake) == {"name", "steps", "value", "answer"}, mistake
        check_chain(mistake["steps"], scene_numbers(scene) | CONSTANTS)
        last = mistake["steps"][-1]["value"]
        decimals = item.get("decimals")
        assert _close(mistake["value"], round(last, decimals or 0)), mistake
        assert mistake["value"] != item["value"], (mistake, item)
        assert mistake["answer"] != item["answer"], (mistake, item)
        assert mistake["answer"].startswith(format_number(last, decimals)), mistake


@pytest.mark.parametrize("name", renderer_names("geometry"))
@pytest.mark.parametrize("backward", [0.0, 1.0])
def test_every_step_of_every_rationale_is_re_derived(name, backward):
    family = get_renderer("geometry", name, backward=backward)
    if backward and not family.backward_tasks:
        pytest.skip(f"{name} has no backward questions")
    seen = set()
    for _, scene, questions in scenes(family, seed=18, count=N):
        for item in questions:
            check_steps(scene, item)
            check_mistakes(scene, item)
            seen.add(item["type"])
    assert seen  # the family asked its questions


# Every family but coordinates' reading questions has a classic wrong step for some question.
def test_most_question_types_have_a_worked_mistake():
    with_mistakes, types = set(), set()
    for name in renderer_names("geometry"):
        for _, _, questions in scenes(get_renderer("geometry", name), seed=18, count=N):
            for item in questions:
                types.add(item["type"])
                if item.get("mistakes"):
                    with_mistakes.add(item["type"])
    assert {t.split("_")[0] for t in with_mistakes} >= {
        "angles", "circle", "coordinates", "parallel", "polygon", "rectangle", "right",
        "triangle", "trapezoid", "parallelogram"}
    assert len(with_mistakes) >= 0.6 * len(types), sorted(types - with_mistakes)


def test_the_checker_refuses_what_is_not_arithmetic_or_is_wrong():
    assert evaluate("1 / 2 * (3 + 5) * 4") == (16.0, [1, 2, 3, 5, 4])
    assert evaluate("sqrt(3 ** 2 + 4 ** 2)")[0] == 5.0
    with pytest.raises(AssertionError, match="not plain arithmetic"):
        evaluate("__import__('os')")
    scene = {"given": {"base": 8, "height": 9}}
    good = {"type": "triangle_area", "value": 36, "rationale": "Area = ½ × 8 × 9 = 36.",
            "steps": [{"text": "Area = ½ × 8 × 9 = 36.", "expr": "1 / 2 * 8 * 9", "value": 36}],
            "difficulty": 1}
    check_steps(scene, good)
    with pytest.raises(AssertionError):  # a level that is not the steps it takes
        check_steps(scene, {**good, "difficulty": 2})
    for bad in ({"expr": "8 * 9"},  # the arithmetic does not give the value
                {"expr": "1 / 2 * 8 * 7"},  # 7 is not in the scene
                {"text": "Area = ½ × 8 × 9."}):  # the words do not state the value
        step = {**good["steps"][0], **bad}
        with pytest.raises(AssertionError):
            check_steps(scene, {**good, "rationale": step["text"], "steps": [step]})


def test_the_mistake_checker_refuses_a_mistake_that_is_right_or_not_arithmetic():
    scene = {"given": {"base": 8, "height": 9}}
    wrong = {"name": "half_forgotten", "value": 72, "answer": "72",
             "steps": [{"text": "Area = 8 × 9 = 72.", "expr": "8 * 9", "value": 72}]}
    item = {"type": "triangle_area", "value": 36, "answer": "36", "mistakes": [wrong]}
    check_mistakes(scene, item)
    for bad in ({"value": 36, "answer": "36"},  # not a mistake: the truth
                {"steps": [{**wrong["steps"][0], "expr": "8 * 7"}]},  # 7 is not in the scene
                {"steps": [{**wrong["steps"][0], "value": 70}]}):  # the arithmetic is off
        with pytest.raises(AssertionError):
            check_mistakes(scene, {**item, "mistakes": [{**wrong, **bad}]})
