"""Grounded descriptions (issue 19, item 3): ``--types grounded`` asks the LLM for a description
that cites each object's box, in the run's ``--box_format``; the grounding check verifies every
cited box against an annotated box of the category named before it (IoU ≥ 0.5), else
``wrong_box:<category>``.

The check is measured on labelled citations built here from the shipped photos' annotations:
right boxes (the annotated box, or one moved a little: IoU ≥ 0.6) and wrong ones (another
object's box, a box moved off its object, a box for an absent category, a box after no object
word), each in every box format, in hand-written sentence frames."""

from __future__ import annotations

from collections import Counter

import pytest

from mmsynth.boxes import BOX_FORMATS, box_format, coco_box, iou
from mmsynth.config import resolve
from mmsynth.filters.citations import citation_problems
from mmsynth.filters.grounding import GroundingCheck
from mmsynth.prompts.llava import Context, ParseError, build_messages, parse
from mmsynth.run import run
from mmsynth.sample import Sample
from mmsynth.sources import SOURCES, source_options
from tests.coco.fixed_backend import FixedReply
from tests.conftest import read_records

# Sentence frames: {obj} is the object word, {box} the citation.
FRAMES = (
    "In the middle of the photo, a {obj} {box} stands out clearly.",
    "We can see a {obj} {box} near the front.",
    "There is a {obj} {box}, and it fills much of the frame.",
    "The {obj} {box} is the main subject of this picture.",
)
WORDS = {"person": "man", "cat": "cat", "cup": "cup", "spoon": "spoon", "clock": "clock",
         "tie": "tie", "backpack": "backpack", "dining table": "table"}


def _photos():
    config = resolve({"source": "coco", "num_samples": 9, "clip_mode": "off", "out": "unused"},
                     source_options)
    source = SOURCES.get("coco")(config, "fp")
    drafts, _ = source.produce(range(9))
    return [d.annotations for d in drafts]


def _cite(fmt, box, word, w, h):
    if fmt.answers_with_points:
        return fmt.points_text([((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)], word, w, h)
    return fmt.box_text(box, w, h)


def labelled_citations(fmt_name):
    """(text, annotations, label, kind): label True for a right citation."""
    fmt = box_format(fmt_name)
    items = []
    for ann in _photos():
        w, h = ann["width"], ann["height"]
        objects = [(o["category"], coco_box(o["bbox"])) for o in ann["objects"]
                   if not o["iscrowd"] and o["category"] in WORDS]
        for k, (cat, box) in enumerate(objects):
            frame = FRAMES[k % len(FRAMES)]
            word = WORDS[cat]
            bw, bh = box[2] - box[0], box[3] - box[1]
            nudged = (box[0] + 0.05 * bw, box[1] + 0.05 * bh, box[2] + 0.05 * bw,
                      box[3] + 0.05 * bh)
            nudged = (nudged[0], nudged[1], min(nudged[2], w), min(nudged[3], h))
            assert iou(nudged, box) >= 0.6
            moved = (box[0] + 0.7 * bw, box[1] + 0.7 * bh, min(w, box[2] + 0.7 * bw),
                     min(h, box[3] + 0.7 * bh))
            items.append((frame.format(obj=word, box=_cite(fmt, box, word, w, h)), ann, True,
                          "right"))
            items.append((frame.format(obj=word, box=_cite(fmt, nudged, word, w, h)), ann,
                          True, "nudged"))
            # Off its object: IoU under 0.5 (a point: outside every box of the category).
            if iou(moved, box) < 0.5 and (not fmt.answers_with_points or not any(
                    c == cat and b[0] <= (moved[0] + moved[2]) / 2 <= b[2]
                    and b[1] <= (moved[1] + moved[3]) / 2 <= b[3] for c, b in objects)):
                items.append((frame.format(obj=word, box=_cite(fmt, moved, word, w, h)), ann,
                              False, "moved"))
            for other_cat, other in objects:
                centre = ((other[0] + other[2]) / 2, (other[1] + other[3]) / 2)
                # (a point on another object that is also on one of this category is right)
                on_own_kind = any(c == cat and b[0] <= centre[0] <= b[2]
                                  and b[1] <= centre[1] <= b[3] for c, b in objects)
                if other_cat != cat and all(iou(other, b) < 0.5 for c, b in objects
                                            if c == cat) and not (
                        fmt.answers_with_points and on_own_kind):
                    items.append((frame.format(obj=word, box=_cite(fmt, other, word, w, h)),
                                  ann, False, "other_object"))
            items.append((frame.format(obj="giraffe", box=_cite(fmt, box, "giraffe", w, h)),
                          ann, False, "absent_category"))
            items.append((f"It is bright. {_cite(fmt, box, 'thing', w, h)} Nothing else.", ann,
                          False, "unnamed"))
    return items


@pytest.mark.parametrize("fmt_name", BOX_FORMATS)
def test_wrong_boxes_are_caught_and_right_ones_kept_on_labelled_citations(fmt_name):
    caught, total = Counter(), Counter()
    false_alarms = 0
    flagged = 0
    for text, ann, right, kind in labelled_citations(fmt_name):
        problems, n = citation_problems(text, ann, fmt_name, 1)
        assert n == 1, text
        total[kind] += 1
        wrong = bool(problems)
        flagged += wrong
        if right:
            false_alarms += wrong
            caught[kind] += not wrong
        else:
            caught[kind] += wrong
            assert problems[0].reason.startswith("wrong_box:")
    recall = {k: caught[k] / total[k] for k in total}
    print(fmt_name, dict(total), {k: f"{v:.0%}" for k, v in recall.items()})
    # Floors: every kind at 100% on this set (right kept / wrong caught), precision 100%.
    assert total["right"] >= 9 and total["moved"] >= 3 and total["other_object"] >= 2
    assert all(v == 1.0 for v in recall.values()), recall
    assert false_alarms == 0 and flagged > 0


def test_the_request_shows_boxes_in_the_run_format_and_says_so():
    ctx = Context(("A dog on a bench.",), (("dog", (0.1, 0.2, 0.5, 0.6)),), (640, 480))
    messages = build_messages("grounded", ctx, box_format="qwen")
    assert "<|box_start|>(left,top),(right,bottom)<|box_end|>" in messages[0]["content"]
    assert messages[-1]["content"].count("dog: <|box_start|>(100,200),(500,600)<|box_end|>") == 1
    # The few-shot response cites its boxes in the same format.
    assert "bus <|box_start|>(215,180),(702,861)<|box_end|>" in messages[2]["content"]
    pixels = build_messages("detail", ctx, box_format="pixels")
    assert "dog: [64, 96, 320, 288]" in pixels[-1]["content"]
    assert "in pixels" in pixels[0]["content"]
    # llava: what the prompts always were.
    assert build_messages("detail", ctx) == build_messages("detail", ctx, box_format="llava")


def test_a_grounded_reply_must_cite_and_a_plain_one_must_not():
    good = ("A man [0.041, 0.029, 0.709, 1.000] stands in front of a flag in an orange suit. He "
            "smiles at the camera and holds his hands together. The room behind him is bright "
            "and a model ship hangs on the wall near the top of the picture.")
    (_, answer) = parse("grounded", good)
    assert answer["value"] == good
    with pytest.raises(ParseError) as e:
        parse("grounded", good.replace(" [0.041, 0.029, 0.709, 1.000]", ""))
    assert e.value.reason == "unparseable"
    with pytest.raises(ParseError) as e:
        parse("detail", good.replace("[0.041, 0.029, 0.709, 1.000]",
                                     "<|box_start|>(41,29),(709,999)<|box_end|>"))
    assert e.value.reason == "echo"


REPLY = ("A smiling woman {box} sits in front of a flag in an orange suit. She looks at the "
         "camera with her hands together. A model of a space shuttle is behind her on the left "
         "and a dark helmet rests in front of her.")


@pytest.mark.parametrize(("box", "reason"), [
    ("[0.041, 0.029, 0.709, 1.000]", None),
    ("[0.600, 0.029, 0.990, 0.500]", "wrong_box:person"),
])
def test_the_coco_job_keeps_a_right_citation_and_rejects_a_wrong_one(box, reason, monkeypatch,
                                                                       tmp_path):
    monkeypatch.setattr("mmsynth.llm.backend_from_config",
                        lambda config: FixedReply(REPLY.format(box=box)))
    out = tmp_path / "out"
    summary = run({"source": "coco", "num_samples": 1, "types": "grounded", "seed": 1,
                   "clip_mode": "off", "counting_rate": 0, "negative_rate": 0,
                   "llm_retries": 0, "progress": False, "out": str(out)})
    records = read_records(out)
    grounded = [r for r in records if r["meta"]["type"] == "grounded"]
    if reason is None:
        assert len(grounded) == 1 and summary.rejections == {}, summary.rejections
        assert grounded[0]["meta"]["box_format"] == "llava"
        assert box in grounded[0]["conversations"][1]["value"]
        assert summary.stage_stats["grounding"]["citations"] == 1
    else:
        assert grounded == [] and summary.rejections == {reason: 1}
        assert summary.stage_stats["grounding"]["wrong_box"] == 1


def test_cited_numbers_are_no_counts_and_region_answers_are_not_citations():
    ann = _photos()[0]  # one person
    check = GroundingCheck()
    text = "A person [0.041, 0.029, 0.709, 1.000] stands there."
    sample = Sample(id="x", image=b"", image_ext="jpg", annotations=ann,
                    conversations=[{"from": "human", "value": "<image>\nDescribe it."},
                                   {"from": "gpt", "value": text}],
                    meta={"type": "grounded", "box_format": "llava"})
    assert not isinstance(check.check_sample(sample), type(None))
    per_pair, _ = check.problems(sample)
    assert per_pair == [[]]
    region = Sample(id="y", image=b"", image_ext="jpg", annotations=ann,
                    conversations=[{"from": "human", "value": "<image>\nGive the box of the "
                                                              "person."},
                                   {"from": "gpt", "value": "[0.041, 0.029, 0.709, 1.000]"}],
                    meta={"type": "region_qa", "box_format": "llava"})
    assert check.problems(region)[0] == [[]]
