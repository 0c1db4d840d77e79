"""bench/bench_yield.py's figures and tables from stage counters as a run's stats hold them (no
model: the counters are written here), so the report it prints is what the counters say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_yield", REPO / "bench" / "bench_yield.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stages(requests, candidates, kept, repetitive, tokens, tokens_rejected, checked, with_h):
    return {
        "best_of_n": {"requests": requests, "candidates": candidates, "kept": kept,
                      "passed": kept, "tokens": tokens, "tokens_kept": tokens - tokens_rejected,
                      "tokens_rejected": tokens_rejected,
                      "candidate_rejected:repetitive:detail": repetitive,
                      "candidate_rejected:hallucinated_object:dog": candidates - kept - repetitive,
                      "ended_rejected:repetitive": requests - kept},
        "grounding": {"samples": checked, "samples_with_hallucination": with_h,
                      "rejected": with_h},
    }


def test_figures_come_from_the_counters(bench):
    f = bench.figures(stages(10, 20, 8, 5, 4000, 2500, 15, 3))
    assert f["requests"] == 10 and f["candidates"] == 20
    assert f["kept/request"] == pytest.approx(0.8)
    assert f["repetitive %"] == pytest.approx(25.0)  # of candidates, not of requests
    assert f["CHAIR_s %"] == pytest.approx(20.0)  # grounding's own rate, before the check
    assert f["halluc/cand %"] == pytest.approx(15.0)  # the same answers over every candidate
    assert f["kept/1k tok"] == pytest.approx(2.0)
    assert f["rejected tok %"] == pytest.approx(62.5)
    assert bench.reasons(stages(10, 20, 8, 5, 4000, 2500, 15, 3)) == {
        "repetitive": 5, "hallucinated_object": 7}


def test_all_is_the_sum_of_the_types_and_ratios_are_to_the_baseline(bench):
    base = {"conversation": stages(3, 3, 1, 2, 300, 200, 1, 0),
            "detail": stages(3, 3, 2, 1, 300, 100, 2, 1),
            "reasoning": stages(3, 3, 3, 0, 300, 0, 3, 0), "images": 3}
    better = {kind: stages(3, 6, 3, 1, 600, 300, 5, 1) for kind in bench.TYPES}
    results = {"job": {"seed": 0, "images": 0, "common": ""},
               "shipped": {bench.BASELINE: {"yield": base},
                           "--llm_candidates 2": {"yield": {**better, "images": 3},
                                                  "timed": {"wall": 30.0, "images": 3,
                                                            "seconds": 29.0, "load": [1, 1],
                                                            "stages": {"best_of_n": {}}}}}}
    rows = bench.rows_for(results, "shipped", [bench.BASELINE, "--llm_candidates 2"])
    assert rows["all"][bench.BASELINE]["requests"] == 9
    assert rows["all"][bench.BASELINE]["kept/request"] == pytest.approx(6 / 9)
    assert rows["all"]["--llm_candidates 2"]["s/image"] == pytest.approx(10.0)
    assert rows["all"][bench.BASELINE]["s/image"] is None  # never timed: no wall time is made up
    text = bench.render(results, [bench.BASELINE, "--llm_candidates 2"])
    all_table = text.split("[shipped / all]")[1]
    ratios = all_table.split("ratio to baseline")[1].splitlines()[1].split()
    assert ratios[:3] == ["candidates", "2", "1.00×"]  # requests
    assert "1.50×" in ratios  # kept/request 1.0 against 0.67
    # the timed run's counters do not match the yield runs': said, not hidden
    assert "DIFFERS" in text
