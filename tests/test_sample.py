import json

import pytest

from mmsynth.sample import Sample, check_llava_shape, conversations_from_qa

QA = [
    {"question": "What is x?", "answer": "70°", "type": "t", "value": 70, "exact": True,
     "rationale": "Angles sum to 180°."},
    {"question": "And y?", "answer": "3 cm", "type": "t", "value": 3, "exact": True},
]


def test_conversations_from_qa_puts_image_token_first_and_alternates():
    turns = conversations_from_qa(QA)
    assert [t["from"] for t in turns] == ["human", "gpt", "human", "gpt"]
    assert turns[0]["value"] == "<image>\nWhat is x?"
    assert turns[1]["value"] == "Angles sum to 180°. The answer is 70°."
    assert turns[2]["value"] == "And y?"
    assert turns[3]["value"] == "3 cm"


def test_round_trip_through_webdataset_record():
    s = Sample(id="geometry-0-000000001", image=b"\x89PNG fake",
               conversations=conversations_from_qa(QA), qa=QA, scene={"a": 1},
               caption="a triangle", meta={"seed": 0, "index": 1})
    record = s.to_wds()
    assert record["__key__"] == "geometry-0-000000001"
    data = json.loads(record["json"])
    assert data["image"] == "geometry-0-000000001.png"
    assert check_llava_shape(data) == []
    back = Sample.from_wds(record)
    assert back == s


@pytest.mark.parametrize("bad", ["a.b", "a/b"])
def test_ids_that_would_break_webdataset_keys_are_refused(bad):
    with pytest.raises(ValueError, match="must not contain"):
        Sample(id=bad, image=b"")


def test_llava_shape_checker_catches_problems():
    assert "no conversation turns" in check_llava_shape({"id": "x", "image": "x.png",
                                                         "conversations": []})
    bad = {"id": "x", "image": "x.png", "conversations": [
        {"from": "human", "value": "no token"}, {"from": "human", "value": "hi"}]}
    problems = check_llava_shape(bad)
    assert any("turn 1 is from 'human'" in p for p in problems)
    assert any("<image>" in p for p in problems)
