"""``--answer_style`` (issue 18, item 7): the same scenes and questions, answered as the worked
solution (``long``, the default) or as the answer alone (``short``, the question asking for a
word, number or short phrase). Both are exact: the independent checkers accept the answers as the
conversations state them."""

from __future__ import annotations

import pytest

from mmsynth.run import run
from mmsynth.sample import IMAGE_TOKEN, SHORT_ANSWER_INSTRUCTION
from tests.conftest import decoded, read_shards
from tests.test_preference_render import _chart_checker, _geometry_checkers

N = 60


def _run(tmp_path, source: str, **flags) -> dict[str, dict]:
    out = tmp_path / f"{source}-{flags.get('answer_style', 'default')}"
    run({"source": source, "num_samples": N, "shard_size": 30, "seed": 4, "out": str(out),
         "clip_mode": "off", "progress": False, **flags})
    shards = read_shards(out)
    return {key: {**decoded(m["json"]), "png": m["png"]} for key, m in shards.items()}


def _questions(turns):
    return [t["value"].removeprefix(f"{IMAGE_TOKEN}\n") for t in turns[0::2]]


@pytest.mark.parametrize("source", ["geometry", "chart"])
def test_short_answers_are_the_exact_answers_of_the_same_questions(tmp_path, source):
    long, short = _run(tmp_path, source), _run(tmp_path, source, answer_style="short")
    assert long.keys() == short.keys() and len(long) == N
    checkers = _geometry_checkers() if source == "geometry" else None
    multiline = 0
    for key, record in short.items():
        origin = long[key]
        # The style changes the turns only: the same picture, scene and questions.
        assert record["png"] == origin["png"] and record["scene"] == origin["scene"]
        assert record["qa"] == origin["qa"]
        turns, qa = record["conversations"], record["qa"]
        assert turns[0]["value"].startswith(f"{IMAGE_TOKEN}\n")
        for item, question, answer, long_answer in zip(
                qa, _questions(turns), turns[1::2], origin["conversations"][1::2], strict=True):
            assert answer["value"] == item["answer"]
            if "\n" in item["answer"]:  # a transcribed table: its question says the format
                multiline += 1
                assert question == item["question"]
            else:
                assert question == f"{item['question']} {SHORT_ANSWER_INSTRUCTION}"
            if item.get("rationale"):  # the default is the worked solution
                assert long_answer["value"] == (
                    f"{item['rationale']} The answer is {item['answer']}.")
            else:
                assert long_answer["value"] == item["answer"]
        assert _questions(origin["conversations"]) == [q["question"] for q in qa]
        # The checker accepts the answers as the turns state them.
        stated = [{**item, "answer": answer["value"]} for item, answer in zip(
            qa, turns[1::2], strict=True)]
        check = checkers[record["meta"]["generator"]] if checkers else _chart_checker
        check(record["scene"], stated)
        assert record["meta"]["config_fingerprint"] != origin["meta"]["config_fingerprint"]
    if source == "chart":
        assert multiline, "no chart-to-table question was asked: the test saw no multi-line case"


def test_short_preference_pairs_reject_a_bare_wrong_answer(tmp_path):
    records = _run(tmp_path, "geometry", answer_style="short", preference_pairs=1)
    pairs = [(r, p) for r in records.values() for p in r.get("preference", [])]
    assert len(pairs) >= N // 2, len(pairs)
    for record, pair in pairs:
        item = record["qa"][(pair["turn"] - 1) // 2]
        assert pair["chosen"] == item["answer"]
        assert "The answer is" not in pair["rejected"] and pair["rejected"] != item["answer"]


def test_the_default_is_long_and_keeps_the_fingerprint_of_runs_made_before_the_option():
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    base = {"source": "chart", "num_samples": 2, "clip_mode": "off"}
    before = fingerprint_of(resolve(base, source_options))
    assert fingerprint_of(resolve({**base, "answer_style": "long"}, source_options)) == before
    assert fingerprint_of(resolve({**base, "answer_style": "short"}, source_options)) != before
