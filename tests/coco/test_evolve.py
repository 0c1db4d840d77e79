"""Evolved instructions (issue 18, item 5): WizardLM's elimination rules, and a real run on the
shipped sample with ``--evolve_rounds 1`` whose evolved samples are present, counted by what
eliminated the rest, and re-judged here by the grounding and claim checks."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mmsynth.evolve import OPERATIONS, eliminated
from mmsynth.filters.claims import ClaimCheck
from mmsynth.filters.grounding import GroundingCheck
from mmsynth.sample import Rejection, Sample
from tests.conftest import cli, read_records


@pytest.mark.parametrize("evolved, reason", [
    ("I'm sorry, I cannot see the photo.", "refused"),
    ("What is the dog doing?", "copies_prompt"),
    ("New question: what is the dog doing near the bench?", "copies_prompt"),
    ("The dog is running", "not_a_question"),
    ("What is the dog doing, the dog?", "no_information_gain"),
    ("What is the dog doing next to the red bench?", None),
])
def test_the_elimination_rules(evolved, reason):
    assert eliminated("What is the dog doing?", evolved) == reason


@pytest.mark.slow
def test_a_coco_run_evolves_checks_and_counts(tmp_path):
    proc = cli("--source", "coco", "--types", "conversation", "--evolve_rounds", "1",
               "--clip_mode", "off", "--out", str(tmp_path), "--noprogress", timeout=900)
    records = read_records(tmp_path)
    evolved = [r for r in records if r["meta"]["type"] == "evolved"]
    ids = {r["id"] for r in records}
    assert evolved, proc.stdout
    grounding, claims = GroundingCheck(mode="reject"), ClaimCheck("reject")
    for record in evolved:
        e = record["meta"]["evolved"]
        assert e["from"] in ids and e["operation"] in OPERATIONS and e["round"] == 1
        assert record["id"] == f"{e['from']}-evolved1"
        assert record["conversations"][0]["value"].startswith("<image>\n")
        assert record["conversations"][0]["value"].endswith("?")
        sample = Sample(id=record["id"], image=b"", conversations=record["conversations"],
                        annotations=record["annotations"], meta=dict(record["meta"]))
        assert not isinstance(grounding.check_sample(sample, Counter()), Rejection)
        claims.reset()
        assert claims.process([sample], lambda f: None)[1] == []
    stats = json.loads((tmp_path / "stats.json").read_text())["stages"]["evolve"]
    assert stats["evolved"] == len(evolved)
    gone = {k: n for k, n in stats.items() if k.startswith("eliminated:") and n}
    assert stats["tries"] == stats["evolved"] + sum(gone.values())
    assert stats["samples"] == sum(r["meta"]["type"] == "conversation" for r in records)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("  evolve: "))
    assert f"{stats['evolved']} kept" in line and "eliminated" in line


def test_evolve_rounds_are_in_the_fingerprint_only_when_on():
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    base = {"source": "coco", "clip_mode": "off"}
    off = fingerprint_of(resolve(base, source_options))
    assert fingerprint_of(resolve({**base, "evolve_rounds": 0}, source_options)) == off
    assert fingerprint_of(resolve({**base, "evolve_rounds": 1}, source_options)) != off
