"""Coco preference pairs (issue 17) on real output: the session's small coco run again, with
``--preference_pairs``, its replies read from that run's LLM cache (no new generation), and a
best-of-N shard whose failed candidate becomes a ``self_rejected`` pair.

Every pair of the whole output is judged here by the real checks, run afresh (a grounding check
and a claim check built in this file, not the pair maker's): the chosen answer passes both, the
rejected one is refused with the pair's intended reason.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mmsynth.filters.claims import ClaimCheck
from mmsynth.filters.grounding import GroundingCheck
from mmsynth.run import run
from mmsynth.sample import Rejection, Sample
from tests.coco.conftest import FAST
from tests.conftest import read_shards

INTENDED = {"injected_object": "hallucinated_object:", "wrong_count": "wrong_count:",
            "wrong_relation": "unsupported_claim:relation"}


@pytest.fixture(scope="module")
def prefs_run(coco_run, tmp_path_factory):
    cached, _ = coco_run
    out = tmp_path_factory.mktemp("coco-prefs")
    summary = run({"source": "coco", "num_samples": 3, "out": str(out), "seed": 1, **FAST,
                   # Every photo asked a counting question (annotation QA, no LLM): the
                   # wrong_count pairs' material; the LLM's requests are the same.
                   "counting_rate": 1.0, "preference_pairs": 4, "llm_cache": "read",
                   "llm_cache_path": str(cached / "llm_cache" / "responses.sqlite")})
    records = [json.loads(m["json"]) for m in read_shards(out).values()]
    plain = {json.loads(m["json"])["id"]: json.loads(m["json"])
             for m in read_shards(cached).values()}
    return records, plain, summary


def _verdict(record, turns) -> str | None:
    sample = Sample(id=record["id"], image=b"", image_ext="jpg",
                    conversations=[dict(t) for t in turns], annotations=record["annotations"],
                    meta={"index": record["meta"]["index"], "type": record["meta"]["type"]})
    result = GroundingCheck(mode="reject").check_sample(sample, Counter())
    if isinstance(result, Rejection):
        return result.reason
    _, rejected = ClaimCheck("reject")([sample])
    return rejected[0].reason if rejected else None


def _check_pairs(records) -> Counter:
    kinds: Counter = Counter()
    for record in records:
        for pair in record.get("preference", []):
            kinds[pair["kind"]] += 1
            turn = pair["turn"]
            assert pair["prompt"] == record["conversations"][:turn]
            assert pair["rejected"] not in [t["value"] for t in record["conversations"]]
            assert set(pair) == {"kind", "turn", "prompt", "chosen", "rejected", "reason",
                                 "provenance"}
            assert isinstance(pair["provenance"]["seed"], int)
            prompt = pair["prompt"]
            assert _verdict(record, [*prompt, {"from": "gpt", "value": pair["chosen"]}]) is None
            reason = _verdict(record, [*prompt, {"from": "gpt", "value": pair["rejected"]}])
            if pair["kind"] == "self_rejected" and reason is None:
                # A reply the parser refused (truncated, repetitive): the parser's reason.
                assert pair["reason"].split(":")[0] in ("truncated", "repetitive", "echo",
                                                        "unparseable", "empty"), pair
                continue
            assert reason == pair["reason"], (pair, reason)
            if pair["kind"] in INTENDED:
                assert reason.startswith(INTENDED[pair["kind"]]), pair
            if pair["kind"] == "injected_object":
                assert reason == f"hallucinated_object:{pair['provenance']['object']}"
    return kinds


def test_every_pair_of_the_run_is_verified_by_the_real_checks(prefs_run):
    records, _, summary = prefs_run
    kinds = _check_pairs(records)
    assert sum(kinds.values()) > 0
    assert {"injected_object", "wrong_count"} <= set(kinds), kinds
    stats = summary.stage_stats["preference"]
    assert stats["pairs"] == sum(kinds.values())
    assert {k: stats[f"pairs:{k}"] for k in kinds} == dict(kinds)
    # Without failed candidates (one candidate per request) there is no self-rejected pair,
    # and the summary says why.
    assert stats["skipped:self_rejected:no_failed_candidate"] > 0
    assert any("preference: dropped" in line for line in summary.stage_lines)


def test_pairs_change_nothing_else(prefs_run):
    records, plain, _ = prefs_run
    llm = [r for r in records if r["meta"]["type"] != "annotation_qa"]
    assert {r["id"] for r in llm} == {k for k, r in plain.items()
                                      if r["meta"]["type"] != "annotation_qa"}
    for record in llm:
        other = dict(plain[record["id"]])
        assert "preference" not in other
        mine = {k: v for k, v in record.items() if k != "preference"}
        # The fingerprint differs (pairs and the counting rate are content), nothing else.
        mine["meta"] = {k: v for k, v in mine["meta"].items() if k != "config_fingerprint"}
        other["meta"] = {k: v for k, v in other["meta"].items() if k != "config_fingerprint"}
        assert mine == other


def test_self_rejected_pairs_come_from_best_of_n_s_failed_candidates(tmp_path, monkeypatch):
    from tests.coco.test_best_of_n import ABSENT, GOOD, _shard

    def script(i, k):  # image 0: candidate 0 names a giraffe, candidate 1 passes
        return ABSENT if (i, k) == (0, 0) else GOOD[i]

    stats, kept, _, _ = _shard(tmp_path, monkeypatch, script, llm_candidates=2,
                               preference_pairs=4)
    pairs = [p for p in kept[0].get("preference", []) if p["kind"] == "self_rejected"]
    assert len(pairs) == 1
    (pair,) = pairs
    assert pair["chosen"] == GOOD[0] and pair["rejected"] == ABSENT
    assert pair["reason"] == "hallucinated_object:giraffe"
    assert pair["provenance"]["candidate"] == 0
    assert not [p for p in kept[1].get("preference", []) if p["kind"] == "self_rejected"]
    _check_pairs(list(kept.values()))
    assert stats["stages"]["preference"]["pairs:self_rejected"] == 1


def test_off_by_default_and_out_of_the_fingerprint():
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    base = {"source": "coco", "num_samples": 2}
    off = resolve(base, source_options)
    assert off["preference_pairs"] == 0
    assert fingerprint_of(off) == fingerprint_of(resolve({**base, "preference_pairs": 0},
                                                          source_options))
    assert fingerprint_of(off) != fingerprint_of(resolve({**base, "preference_pairs": 2},
                                                          source_options))


def test_the_coco_pairs_export_for_trl_and_llamafactory(prefs_run, tmp_path):
    from mmsynth.export import export_dpo
    from tests.test_export_dpo import check_llamafactory, check_trl

    records, _, summary = prefs_run
    pairs = summary.stage_stats["preference"]["pairs"]
    export_dpo(str(summary.out), str(tmp_path / "trl"))
    assert check_trl(tmp_path / "trl", records) == pairs
    export_dpo(str(summary.out), str(tmp_path / "lf"), "llamafactory")
    assert check_llamafactory(tmp_path / "lf", records) == pairs
