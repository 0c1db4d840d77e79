"""Worked solutions of chart questions (issue 18, item 1): every question but the chart-to-table
transcription — values, differences, sums, means, ratios, ranges, shares, changes, stacked
totals, a box's spread, a histogram's counts, extremes, comparisons, tallies, orders, gaps, a
scatter plot's coordinates and the sign of its correlation — carries the steps it was solved
by, and each step is re-derived here by the checker the geometry steps use
(tests/solution_check.py).

Each step's arithmetic must give its value; every number it uses must be a cell of the table
the question is about (its series' column, or its category's row for a stacked bar's total and
a box's spread), an earlier step's value, the number of values it averages, or 100 for a
percentage; its words must state its value; the last step is the answer before rounding.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from renderers import get_renderer, renderer_names
from tests.solution_check import check_chain, close

N = 300
SEED = 1812
# Questions answered by reading or computing values: each must show its working.
NUMERIC_OPS = {"value", "difference", "abs_difference", "sum", "mean", "ratio", "range",
               "share", "change", "total", "share_of_total", "iqr", "range_of",
               "count_below_edge", "count_from_edge",
               "mean_of_two", "mean_gap", "total_gap"}  # (the last three: composed)
# Answered by a name or yes/no: the last step is the value that decides it.
EXTREME_OPS = {"argmax", "argmin", "argmax_series", "argmin_series"}
COMPARE_OPS = {"is_greater", "is_less", "which_greater", "which_less"}
COUNT_OPS = {"count_above", "count_below"}  # a tally of the values beyond a threshold
# Tallies of other things: rises (or falls), categories one series wins, values ranked ahead.
TALLY_OPS = COUNT_OPS | {"count_rises", "count_falls", "count_series_greater", "rank",
                         "count_categories", "count_series"}
# Decided over all the values: an order, a stacked bar's extreme total, the largest change, the
# widest gap between two series, the widest box.
ORDER_OPS = {"sort", "argmax_total", "argmin_total", "largest_increase", "largest_decrease",
             "max_gap", "argmax_iqr"}
WORKED_OPS = (NUMERIC_OPS | EXTREME_OPS | COMPARE_OPS | TALLY_OPS | ORDER_OPS
              | {"direction", "correlation"})
UNWORKED_OPS = {"table"}  # a transcription of the table: nothing to work out
# one category's row of the table
ROW_OPS = {"total", "share_of_total", "iqr", "range_of", "argmax_series", "argmin_series"}


def cell(scene, category, series) -> float:
    _, *names = scene["table"]["columns"]
    (row,) = [r for r in scene["table"]["rows"] if r[0] == category]
    return float(row[1 + names.index(series)])


def allowed_cells(scene, args) -> set[float]:
    """The table's numbers this question may use."""
    _, *series = scene["table"]["columns"]
    rows = scene["table"]["rows"]
    if args["op"] in ROW_OPS:
        (row,) = [r for r in rows if r[0] == args["category"]]
        return {float(v) for v in row[1:]}
    if args["op"] == "total_gap":  # two series' columns
        js = [1 + series.index(args[k]) for k in ("a", "b")]
        return {float(r[j]) for r in rows for j in js}
    if args.get("series") in series:
        j = 1 + series.index(args["series"])
        return {float(r[j]) for r in rows}
    return {float(v) for r in rows for v in r[1:]}


def _without_separators(text: str) -> str:
    return text.replace(",", "")  # "1,234" states 1234


def with_series(scene, args) -> dict:
    """A scatter question's axis ("x" / "y") as the table column it reads, named as a chart's
    series is."""
    if "axis" not in args:
        return args
    return {**args, "series": scene["table"]["columns"][1 + "xy".index(args["axis"])]}


def check_chart_steps(scene, item) -> None:
    steps = item["steps"]
    assert item["rationale"] == " ".join(s["text"] for s in steps), item
    rows = scene["table"]["rows"]
    args, answer = with_series(scene, item["args"]), item.get("answer")
    op = args["op"]
    known = allowed_cells(scene, args) | {100.0, float(len(rows))}
    if op == "mean_of_two":
        known.add(2.0)  # the two values it averages
    if op in TALLY_OPS:
        known = {0.0, 1.0}  # a tally: one per thing counted
    check_chain(steps, known, _without_separators)
    assert item["difficulty"] == len(steps), item  # the level is the steps it takes
    last = steps[-1]["value"]
    if op in EXTREME_OPS:  # the extreme of the values in question, and the answer's
        cells = allowed_cells(scene, args)
        assert close(last, max(cells) if op.startswith("argmax") else min(cells)), item
        if op in ("argmax", "argmin"):
            assert close(cell(scene, answer, args["series"]), last), item
        else:
            assert close(cell(scene, args["category"], answer), last), item
    elif op in COMPARE_OPS:  # a's value minus b's, whose sign decides
        a, b = cell(scene, args["a"], args["series"]), cell(scene, args["b"], args["series"])
        assert close(last, a - b), item
        decided = {"is_greater": "Yes" if last > 0 else "No",
                   "is_less": "Yes" if last < 0 else "No",
                   "which_greater": args["a"] if last > 0 else args["b"],
                   "which_less": args["a"] if last < 0 else args["b"]}[op]
        assert answer == decided, item
    elif op not in ORDER_OPS | {"direction", "correlation"}:  # a number, before rounding
        assert close(round(last, item.get("decimals") or 0), item["value"]), item
    if op in COUNT_OPS:  # the tally is of the cells beyond the threshold, re-counted here
        t = args["threshold"]
        beyond = [v for v in allowed_cells_list(scene, args)
                  if (v > t if op == "count_above" else v < t)]
        assert last == len(beyond), item
    elif op in ("count_rises", "count_falls"):
        col = allowed_cells_list(scene, args)
        moves = [b - a for a, b in pairwise(col)]
        assert last == sum(1 for m in moves if (m > 0 if op == "count_rises" else m < 0)), item
    elif op == "count_series_greater":
        wins = [r for r in scene["table"]["rows"] if cell(scene, r[0], args["a"])
                > cell(scene, r[0], args["b"])]
        assert last == len(wins), item
    elif op == "rank":
        col = allowed_cells_list(scene, args)
        mine = cell(scene, args["category"], args["series"])
        ahead = [v for v in col if (v > mine if args["order"] == "desc" else v < mine)]
        assert last == 1 + len(ahead), item
    elif op == "sort":  # every cell of the series, once each, in the order asked
        values = [s["value"] for s in steps]
        assert sorted(values) == sorted(allowed_cells_list(scene, args)), item
        assert values == sorted(values, reverse=args["order"] == "desc"), item
        assert [cell(scene, name, args["series"]) for name in item["value"]] == values, item
    elif op in ("argmax_total", "argmin_total"):  # each bar's total, then the extreme one
        totals = [sum(float(v) for v in r[1:]) for r in scene["table"]["rows"]]
        assert [s["value"] for s in steps[:-1]] == pytest.approx(totals), item
        assert close(last, max(totals) if op == "argmax_total" else min(totals)), item
        (row,) = [r for r in scene["table"]["rows"] if r[0] == answer]
        assert close(sum(float(v) for v in row[1:]), last), item
    elif op in ("largest_increase", "largest_decrease"):  # every step's change, the largest
        col = allowed_cells_list(scene, args)
        sign = 1 if op == "largest_increase" else -1
        changes = [sign * (b - a) for a, b in pairwise(col)]
        assert [s["value"] for s in steps[:-1]] == pytest.approx(changes), item
        assert close(last, max(changes)), item
        frm, to = item["value"]
        k = [r[0] for r in scene["table"]["rows"]].index(frm)
        assert scene["table"]["rows"][k + 1][0] == to and close(changes[k], last), item
    elif op == "count_categories":
        assert last == len(rows), item
    elif op == "count_series":
        assert last == len(scene["table"]["columns"]) - 1, item
    elif op in ("max_gap", "argmax_iqr"):  # each category's gap (or box), then the widest
        if op == "max_gap":
            gaps = [abs(cell(scene, r[0], args["a"]) - cell(scene, r[0], args["b"]))
                    for r in rows]
        else:
            gaps = [cell(scene, r[0], "Upper quartile") - cell(scene, r[0], "Lower quartile")
                    for r in rows]
        assert [s["value"] for s in steps[:-1]] == pytest.approx(gaps), item
        assert close(last, max(gaps)), item
        assert close(gaps[[r[0] for r in rows].index(answer)], last), item
    elif op == "correlation":  # the sum of the deviations' products: its sign is the answer
        xs = [float(r[1]) for r in rows]
        ys = [float(r[2]) for r in rows]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        assert close(last, sxy), item
        assert item["value"] == ("positive" if sxy > 0 else "negative"), item
    elif op == "direction":  # the later value minus the earlier; its sign is the answer
        a, b = cell(scene, args["from"], args["series"]), cell(scene, args["to"], args["series"])
        assert close(last, b - a), item
        assert item["value"] == ("increase" if last > 0 else "decrease"), item


def allowed_cells_list(scene, args) -> list[float]:
    """The question's series' cells, in table order (a set would merge equal values)."""
    _, *series = scene["table"]["columns"]
    j = 1 + series.index(args["series"])
    return [float(r[j]) for r in scene["table"]["rows"]]


def _items(family, composed=False):
    renderer = get_renderer("chart", family, composed=composed)
    for i in range(N):
        rng = np.random.default_rng([SEED, i])
        try:
            scene = renderer.sample_scene(rng)
        except ValueError:  # an impossible scene: counted in a run (test_chart_answers)
            continue
        for item in renderer.questions(scene, rng):
            yield scene, item


@pytest.mark.parametrize("family", renderer_names("chart"))
@pytest.mark.parametrize("composed", [False, True])
def test_every_worked_chart_answer_is_re_derived_step_by_step(family, composed):
    worked = Counter()
    for scene, item in _items(family, composed):
        op = item["args"]["op"]
        assert op in WORKED_OPS | UNWORKED_OPS, item  # a new kind of question: work it out
        if op in WORKED_OPS:
            assert item.get("steps"), item  # a question of these kinds shows its working
        if item.get("steps"):
            check_chart_steps(scene, item)
            worked[op] += 1
        else:
            assert item["difficulty"] is None, item
    assert worked, family


def test_all_worked_kinds_are_asked():
    ops = set()
    for family in renderer_names("chart"):
        for composed in (False, True):
            ops |= {item["args"]["op"] for _, item in _items(family, composed)
                    if item.get("steps") and "args" in item}
    assert ops == WORKED_OPS, WORKED_OPS - ops


def test_the_chart_step_checker_refuses_a_cell_of_another_series_or_wrong_sums():
    scene = {"table": {"columns": ["Year", "A", "B"], "rows": [["2020", 4, 40], ["2021", 6, 60]]}}
    good = {"question": "?", "args": {"op": "sum", "series": "A"}, "value": 10,
            "rationale": "Adding up: 4 + 6 = 10.",
            "steps": [{"text": "Adding up: 4 + 6 = 10.", "expr": "4 + 6", "value": 10}],
            "difficulty": 1}
    check_chart_steps(scene, good)
    with pytest.raises(AssertionError):  # a level that is not the steps it takes
        check_chart_steps(scene, {**good, "difficulty": 3})
    for bad in ({"expr": "4 + 60", "value": 64, "text": "4 + 60 = 64."},  # B's cell for A
                {"value": 11, "text": "4 + 6 = 11."}):  # the arithmetic is off
        step = {**good["steps"][0], **bad}
        with pytest.raises(AssertionError):
            check_chart_steps(scene, {**good, "value": step["value"], "rationale": step["text"],
                                      "steps": [step]})
    text = "A in 2020 is 4 and in 2021 6: 4 − 6 = -2, so it is lower."
    compare = {"question": "?", "args": {"op": "is_greater", "a": "2020", "b": "2021",
                                         "series": "A"}, "answer": "No", "rationale": text,
               "steps": [{"text": text, "expr": "4 - 6", "value": -2}], "difficulty": 1}
    check_chart_steps(scene, compare)
    with pytest.raises(AssertionError):  # the answer the sign does not give
        check_chart_steps(scene, {**compare, "answer": "Yes"})


def check_chart_mistakes(scene, item) -> None:
    """A worked mistake (material for ``wrong_step`` pairs) re-derived like a solution — its
    numbers the question's own cells — and wrong only in its answer."""
    rows = scene["table"]["rows"]
    for mistake in item.get("mistakes", ()):
        assert set(mistake) == {"name", "steps", "value", "answer"}, mistake
        known = allowed_cells(scene, item["args"]) | {100.0, float(len(rows))}
        check_chain(mistake["steps"], known, _without_separators)
        last = mistake["steps"][-1]["value"]
        # at the question's rounding (a whole truth stores none: the chart's own decimals)
        assert any(close(mistake["value"], round(last, d)) for d in range(4)), mistake
        assert mistake["value"] != item["value"] and mistake["answer"] != item["answer"]


def test_worked_chart_mistakes_are_honest_arithmetic_with_a_wrong_answer():
    names = Counter()
    for family in renderer_names("chart"):
        for scene, item in _items(family):
            check_chart_mistakes(scene, item)
            names.update(m["name"] for m in item.get("mistakes", ()))
    assert set(names) == {"subtracted_backwards", "value_left_out", "ratio_inverted",
                          "sign_reversed", "range_for_iqr", "iqr_for_range"}, names
