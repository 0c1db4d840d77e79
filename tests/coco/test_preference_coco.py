"""Coco preference pairs (issue 17) on real output: the session's small coco run again, with
``--preference_pairs``, its replies read from that run's LLM cache (no new generation), and a
best-of-N shard whose failed candidate becomes a ``self_rejected`` pair.

Every pair of the whole output is judged here by the real checks, run afresh (a grounding check
and a claim check built in this file, not the pair maker's): the chosen answer passes both, the
rejected one is refused with the pair's intended reason. ``misleading_context`` pairs ask the
LLM again (the embedded model in the session run; a scripted one that answers from whatever
context it is shown in the unit tests).
"""

from __future__ import annotations

from collections import Counter

import pytest

from mmsynth.filters.claims import ClaimCheck
from mmsynth.filters.grounding import GroundingCheck
from mmsynth.run import run
from mmsynth.sample import Rejection, Sample
from tests.coco.conftest import FAST
from tests.conftest import decoded, read_records, read_shards

INTENDED = {"injected_object": "hallucinated_object:", "wrong_count": "wrong_count:",
            "wrong_relation": "unsupported_claim:relation",
            "misleading_context": "hallucinated_object:"}


@pytest.fixture(scope="module")
def prefs_run(coco_run, tmp_path_factory):
    cached, _ = coco_run
    out = tmp_path_factory.mktemp("coco-prefs")
    summary = run({"source": "coco", "num_samples": 3, "out": str(out), "seed": 1, **FAST,
                   # Every photo asked a counting question (annotation QA, no LLM): the
                   # wrong_count pairs' material; the LLM's requests are the same.
                   "counting_rate": 1.0, "preference_pairs": 4, "llm_cache": "read",
                   "llm_cache_path": str(cached / "llm_cache" / "responses.sqlite")})
    records = read_records(out)
    plain = {decoded(m["json"])["id"]: decoded(m["json"])
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
            if pair["kind"] == "misleading_context":
                _check_misleading(record, pair, reason)
    return kinds


def _check_misleading(record, pair, reason) -> None:
    """The misled answer names an object the corruption brought in, absent from this photo."""
    provenance = pair["provenance"]
    named = reason.split(":", 1)[1]
    present = {o["category"] for o in record["annotations"]["objects"]}
    assert named not in present
    if provenance["method"] == "added_object":
        assert named == provenance["object"]
        assert provenance["caption"].lower().count(named) == 1
    else:
        assert provenance["method"] == "other_context"
        assert named in provenance["objects"]
        assert provenance["other_image_id"] != record["meta"]["image_id"]
    assert provenance["prompt"]["prompt_type"] == ("detail" if record["meta"]["type"] == "detail"
                                                   else "answer")


def test_every_pair_of_the_run_is_verified_by_the_real_checks(prefs_run):
    records, _, summary = prefs_run
    kinds = _check_pairs(records)
    assert sum(kinds.values()) > 0
    assert {"injected_object", "wrong_count", "misleading_context"} <= set(kinds), kinds
    stats = summary.stage_stats["preference"]
    # The misleading answers were written by the embedded model, one request each, in one call
    # per shard; a pair or a counted reason for every one of them.
    assert stats["llm_requests"] > 0 and stats["llm_failed"] == 0
    misled = sum(n for k, n in stats.items() if k.startswith("dropped:misleading_context:"))
    assert stats["llm_requests"] == kinds["misleading_context"] + misled
    assert any("misleading-context requests" in line for line in summary.stage_lines)
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
    from tests.test_export_dpo import check_dpo_step, check_llamafactory, check_trl

    records, _, summary = prefs_run
    pairs = summary.stage_stats["preference"]["pairs"]
    export_dpo(str(summary.out), str(tmp_path / "trl"))
    assert check_trl(tmp_path / "trl", records) == pairs
    check_dpo_step(tmp_path / "trl")  # the photos through TRL's DPOTrainer, one step
    export_dpo(str(summary.out), str(tmp_path / "lf"), "llamafactory")
    assert check_llamafactory(tmp_path / "lf", records) == pairs


# -- misleading_context with a scripted LLM ---------------------------------------------------

def _misled(messages) -> str:
    """A reply that believes its context: a detail paragraph naming every object listed."""
    from mmsynth.prompts.llava import BOX_LINE

    lines = messages[-1]["content"].splitlines()
    named = list(dict.fromkeys(m["category"] for m in map(BOX_LINE.match, lines) if m))
    return (f"The picture shows {', '.join(article(c) for c in named)} in one scene. The light "
            "is soft and everything in the picture is easy to see. The scene is calm and quiet, "
            "and nothing moves in it. It looks like an ordinary day.")


def article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _misleading_shard(tmp_path, monkeypatch, misled):
    """Shard 0 of a 2-image detail run with every pair kind tried, the backend replying
    ``misled(messages)`` to the misleading_context requests."""
    from tests.coco import test_best_of_n as bon

    stats, kept, backend, _ = bon._shard(tmp_path, monkeypatch, lambda i, k: bon.GOOD[i],
                                         misled=misled, preference_pairs=5)
    return stats, kept, backend.misleading_calls


def test_misleading_context_pairs_a_misled_answer_that_the_checks_refuse(tmp_path, monkeypatch):
    stats, kept, calls = _misleading_shard(tmp_path, monkeypatch, _misled)
    assert calls == [[0, 1]]  # both samples' requests, in one backend call
    pairs = {i: [p for p in r["preference"] if p["kind"] == "misleading_context"]
             for i, r in kept.items()}
    assert all(len(p) == 1 for p in pairs.values()), pairs
    for i, (pair,) in pairs.items():
        assert pair["chosen"] == kept[i]["conversations"][1]["value"]
        assert pair["prompt"] == kept[i]["conversations"][:1]
        assert pair["provenance"]["llm_seed"] != kept[i]["meta"]["llm"]["params"]["seed"]
    _check_pairs(list(kept.values()))
    p = stats["stages"]["preference"]
    assert (p["llm_requests"], p["llm_failed"], p["pairs:misleading_context"]) == (2, 0, 2)
    assert p["llm_tokens"] == 18


def test_a_misleading_answer_the_checks_pass_makes_no_pair(tmp_path, monkeypatch):
    from mmsynth.llm import Generation
    from tests.coco.test_best_of_n import GOOD

    # The model was not misled (it wrote the photo's own good description) for image 0, and its
    # request failed for image 1: no pair, each counted.
    replies = iter([GOOD[0], Generation(error="timeout: no reply")])
    stats, kept, _ = _misleading_shard(tmp_path, monkeypatch, lambda messages: next(replies))
    assert not [p for r in kept.values() for p in r.get("preference", [])
                if p["kind"] == "misleading_context"]
    p = stats["stages"]["preference"]
    assert p["dropped:misleading_context:not_caught"] == 1
    assert p["dropped:misleading_context:llm_error"] == 1
    assert (p["llm_requests"], p["llm_failed"]) == (2, 1)
