"""The run summary's diversity figures (issue 18, item 6), on questions whose figures are
counted by hand, and on a real run's shards."""

from __future__ import annotations

import json

import pytest

from mmsynth.diversity import diversity, question_type
from mmsynth.run import run


@pytest.mark.parametrize("question, kind", [
    ("What colour is the bus?", "what"), ("How many dogs are there?", "how many"),
    ("How much is the total?", "how much"), ("How tall is it?", "how"),
    ("Is the man smiling?", "yes/no"), ("Are there clouds?", "yes/no"),
    ("Where is the cat?", "where"), ("Describe the picture.", "other"), ("", "other"),
])
def test_question_types(question, kind):
    assert question_type(question) == kind


def test_the_figures_of_a_counted_example():
    qs = ["What is the dog doing?", "What is the cat doing?", "Is the dog happy?"]
    # bigrams: (what is)(is the)(the dog)(dog doing) (what is)(is the)(the cat)(cat doing)
    # (is the)(the dog)(dog happy): 11 in all, 7 distinct
    report = diversity(qs)
    assert report["questions"] == 3
    assert report["distinct_2"] == round(7 / 11, 4)
    assert report["openings"] == round(2 / 3, 4)  # "what is the" twice, "is the dog"
    # types: what 2, yes/no 1 → -(2/3 log2 2/3 + 1/3 log2 1/3)
    assert report["type_entropy"] == pytest.approx(0.918, abs=1e-3)
    assert diversity([])["questions"] == 0


def test_a_run_reports_its_diversity_in_the_summary_stats_and_card(tmp_path):
    summary = run({"source": "geometry", "num_samples": 40, "shard_size": 20, "seed": 2,
                   "out": str(tmp_path), "clip_mode": "off", "progress": False})
    records = []
    from tests.conftest import read_records

    records = read_records(tmp_path)
    questions = [t["value"].removeprefix("<image>\n") for r in records
                 for t in r["conversations"][0::2]]
    assert summary.diversity == diversity(questions)
    line = next(x for x in summary.stage_lines if x.startswith("  diversity: "))
    assert f"{len(questions):,} questions" in line
    assert json.loads((tmp_path / "stats.json").read_text())["diversity"] == summary.diversity
    assert "diversity: " in (tmp_path / "README.md").read_text()
