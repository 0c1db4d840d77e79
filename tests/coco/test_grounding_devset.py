"""The grounding dev set (tests/coco/data/grounding_dev.yaml) and its evaluation.

"Before" figures: today's GroundingCheck() in reject mode (the source's default), measured with
``python -m mmsynth.filters.evaluate --shuffled`` on the dev set as committed (285 items):

    kind               expected  items  rate
    correct            keep         67  100.0%  kept
    implied_people     keep         28   21.4%  kept    (22 rejected: hallucinated_object:person)
    generic_reference  keep         29   10.3%  kept    (26 rejected: the hypothetical object)
    subset_count       keep         29  100.0%  kept
    absent_object      reject       34   97.1%  caught  (missed: "a giraffe" - "calf" in a
                                                         caption grounds giraffe too)
    wrong_count        reject       32   93.8%  caught  (missed: "three pigeons" of 5, "two
                                                         monitors" of 1: kind/multi-category
                                                         words count as subsets)
    wrong_attribute    reject       34    0.0%  caught
    wrong_relation     reject       32    0.0%  caught
    correct kept (all keep-kinds, 153)     68.6%
    wrong caught (all reject-kinds, 132)   47.7%
    shuffled-annotation test (153)         95.4% rejected

"After" (issue 14's second session): the coco chain's default checks, GroundingCheck() then
ClaimCheck() (both in reject mode), measured the same way:

    kind               expected  items  before  after
    correct            keep         67  100.0%  100.0%  kept
    implied_people     keep         28   21.4%  100.0%  kept
    generic_reference  keep         29   10.3%   96.5%  kept
    subset_count       keep         29  100.0%  100.0%  kept
    absent_object      reject       34   97.1%  100.0%  caught
    wrong_count        reject       32   93.8%  100.0%  caught
    wrong_attribute    reject       34    0.0%   97.1%  caught  (the claims stage)
    wrong_relation     reject       32    0.0%   90.6%  caught  (the claims stage)
    correct kept                           68.6%   99.4%
    wrong caught                           47.7%   97.0%
    precision of a rejection                        99.2%
    shuffled-annotation test               95.4%   94.1% rejected

These rules were written while reading this set's misses, so it measures them as a training set
does; the held-out set (grounding_heldout.yaml, written without reading the rules) is the
estimate for answers they were not tuned to.

FLOORS are the "after" rates rounded down to the nearest 0.05, so the test passes today and a
regression fails; they meet the issue's targets (correct kept ≥ 0.95, absent_object and
wrong_count caught ≥ 0.95, wrong_attribute and wrong_relation caught ≥ 0.70, shuffled rejected
≥ 0.90). Raise them as the checks improve; never lower them for the same items.

Second round (issue 14, stop 5): 135 items added, written for the kinds the held-out set showed
failing (people in speculative answers: fishermen, the baker, staff, a coach, a family member,
residents; hypothetical objects in comparisons, advice, lists, long subjects and compound nouns;
relations and attributes in other phrasings; sizes, materials, open/closed, empty/full) on four
new scenes and the old ones. On the grown set (420 items) the code before this round misses 42
items and this round's 10, and every item it misses was missed before too (no verdict got
worse). Measured the same way:

    kind               items  before round 2  after
    implied_people        45           88.9% 100.0%  kept
    generic_reference     61           70.5%  95.1%  kept
    wrong_attribute       57           77.2%  98.2%  caught
    wrong_relation        53           88.7%  88.7%  caught  (new misses: "positioned low,
                                                             underneath", "the tv stands", "the
                                                             other one")
    correct kept (232)                 90.1%  98.7%
    wrong caught (186)                 89.8%  96.2%
    precision                          87.9%  98.4%
    shuffled-annotation test           94.0%  93.1% rejected

The wrong_relation floor was re-based on the grown set (rounded down as above: 0.85); its earlier
32 items are caught as before.

Third round (stop 6): 182 items written by two helpers who read only this file's first lines and
the issue, never the rules or the held-out set (writer A: 91 items, scenes ``r3a_*``; writer B:
91, ``r3b_*``; six shipped photos). Each file was measured as it came, before any rule was tuned
on it: the code of stop 5 kept 80.7% / caught 76.5% of writer A's and 86.0% / 88.2% of writer
B's; after the first rules of this round, written before writer B's file was read (presence for
implied people, hypothetical questions in more forms), writer B's were 89.5% / 88.2%. Then the
rules were tuned on both files' misses. On the grown set (600 items), measured the same way
(``for its reason``: a reject-kind caught by one of its own reasons, which the floors use):

    kind               items  code of stop 5   after
    implied_people        77           94.8%  100.0%  kept
    generic_reference     97           81.4%   95.9%  kept
    wrong_attribute       77           90.9%   96.1%  caught for its reason
    wrong_relation        73           80.8%   86.3%  caught for its reason
    correct kept (346)                 93.6%   98.8%
    wrong caught (254)                 92.5%   95.3%
    precision                          91.4%   98.4%
    shuffled-annotation test           94.8%   94.8% rejected

The code of stop 5 misses 41 items of the grown set, this round's 16, and every item it misses
was missed before (no verdict got worse). The floors stay where they were.

Fourth and fifth rounds (stop 7). Round 4: 38 items the lead wrote for phrasings earlier blind
files had missed (general questions such as "How much grass does a cow eat?", advice in the
imperative, "your X", comparisons of place such as "lower in the frame than", inverted and
parenthetical relations, the kind of place where ...). Round 5: 180 items from two more blind
writers (writer E: ``r5e_*`` and three photos; writer F: ``r5f_*`` and three photos), with the
issue's mix of labels. As they came, before any rule was tuned on them, the code of stop 6 and
this round's code before their misses were read gave the same verdicts: writer E 92.2% kept /
84.6% caught, writer F 93.8% / 69.2%. Then rules were written from their misses (listed
subjects before a modal, "that person isn't in the shot", people aboard, shape, tones such as
"light-coloured", a leading he/she in relations, scenes such as "the kitchen"). On the grown set
(818 items):

    kind               items  code of stop 6   after
    implied_people       101           97.0%  100.0%  kept
    generic_reference    144           82.6%   95.1%  kept
    wrong_attribute       89           93.3%   95.5%  caught for its reason
    wrong_relation        93           72.0%   88.2%  caught for its reason
    correct kept (500)                 94.2%   98.6%
    wrong caught (318)                 90.2%   95.3%
    precision                          90.8%   97.7%
    shuffled-annotation test           93.8%   93.4% rejected

The floors stay where they were and are met.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from mmsynth.errors import UsageError
from mmsynth.filters.evaluate import (
    DEFAULT_PATH,
    KEEP_KINDS,
    LABELS,
    REJECT_KINDS,
    TYPES,
    build_sample,
    evaluate,
    judge,
    load_devset,
    markdown,
    shuffled_pairs,
)
from mmsynth.filters.vocabulary import COCO_CATEGORIES
from mmsynth.sample import IMAGE_TOKEN

FLOORS = {
    "correct": 1.00,
    "implied_people": 1.00,
    "generic_reference": 0.95,
    "subset_count": 1.00,
    "absent_object": 1.00,
    "wrong_count": 1.00,
    "wrong_attribute": 0.95,
    "wrong_relation": 0.85,
    "correct_kept": 0.95,
    "wrong_caught": 0.95,
    "shuffled_rejected": 0.90,
    "rejection_precision": 0.95,
}

DEVSET = Path(__file__).parent / "data" / "grounding_dev.yaml"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def raw() -> dict:
    """The file as YAML, read without the loader, so structure is checked independently."""
    return yaml.safe_load(DEVSET.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def devset():
    return load_devset(DEVSET)


@pytest.fixture(scope="module")
def measured(devset):
    return evaluate(devset)


# ---- the dev set's structure ---------------------------------------------------------------


def test_the_default_path_is_this_dev_set():
    assert DEFAULT_PATH.resolve() == DEVSET.resolve()


def test_enough_items_of_every_kind_and_type(raw):
    items = raw["items"]
    assert len(items) >= 240
    kinds = Counter(i["label"] for i in items)
    assert set(kinds) == set(LABELS)
    assert all(n >= 25 for n in kinds.values()), kinds
    assert kinds["correct"] >= 60
    types = Counter(i["type"] for i in items)
    assert set(types) == set(TYPES)
    assert all(n >= 50 for n in types.values()), types
    for label in LABELS:
        assert len({i["type"] for i in items if i["label"] == label}) >= 2, label
    reasoning_rejects = sum(i["type"] == "reasoning" and i["label"] in REJECT_KINDS
                            for i in items)
    assert reasoning_rejects >= 20


def test_items_reference_existing_sets_and_use_the_sample_and_handmade_sets(raw):
    sets = raw["sets"]
    used = {i["set"] for i in raw["items"]}
    assert used <= set(sets), used - set(sets)
    samples = {s for s in sets if s.startswith("sample:")}
    assert len(samples) == 9 and samples <= used
    handmade = set(sets) - samples
    assert len(handmade) >= 12 and handmade <= used


def test_items_are_complete_and_not_repeated(raw):
    seen = set()
    for n, item in enumerate(raw["items"]):
        assert item["type"] in TYPES and item["label"] in LABELS, n
        assert isinstance(item["answer"], str) and item["answer"].strip(), n
        key = (item["set"], " ".join(item["answer"].split()))
        assert key not in seen, f"item {n} repeats an answer"
        seen.add(key)
        if item["type"] == "reasoning":
            assert item.get("question"), f"reasoning item {n} has no question"


def test_handmade_sets_are_coco_style(raw):
    for name, spec in raw["sets"].items():
        if name.startswith("sample:"):
            assert spec == {"from_sample": True}
            continue
        assert 3 <= len(spec["captions"]) <= 5, name
        assert spec["objects"], name
        for obj in spec["objects"]:
            assert obj["category"] in COCO_CATEGORIES, (name, obj)
            x, y, w, h = obj["bbox"]
            assert w > 0 and h > 0, (name, obj)
            assert x >= 0 and x + w <= spec["width"], (name, obj)
            assert y >= 0 and y + h <= spec["height"], (name, obj)
            assert obj.get("iscrowd", 0) in (0, 1)


def test_sample_sets_are_the_shipped_annotations(devset):
    astronaut = devset.sets["sample:000000000001.jpg"]
    assert [o["category"] for o in astronaut["objects"]] == ["person"]
    assert len(astronaut["captions"]) == 5 and "astronaut" in astronaut["captions"][1]
    stairs = devset.sets["sample:000000000008.jpg"]
    assert sum(o["iscrowd"] for o in stairs["objects"]) == 2
    assert devset.sets["sample:000000000005.jpg"]["objects"] == []  # the rocket: captions only
    for spec in devset.sets.values():
        for obj in spec["objects"]:
            assert obj["category"] in COCO_CATEGORIES


# ---- judging --------------------------------------------------------------------------------


def test_build_sample_is_a_one_pair_sample_of_the_items_type(devset):
    item = next(i for i in devset.items if i.type == "detail" and i.question is None)
    sample = build_sample(item)
    assert [t["from"] for t in sample.conversations] == ["human", "gpt"]
    assert sample.conversations[0]["value"] == f"{IMAGE_TOKEN}\nDescribe this image in detail."
    assert sample.conversations[1]["value"] == item.answer
    assert sample.meta == {"type": "detail", "index": item.index}
    assert sample.annotations == devset.sets[item.set]
    assert sample.annotations is not devset.sets[item.set]  # stages may rewrite it
    asked = next(i for i in devset.items if i.question)
    assert build_sample(asked).conversations[0]["value"] == f"{IMAGE_TOKEN}\n{asked.question}"


def test_judge_runs_the_given_stages_in_order(devset):
    item = devset.items[0]
    seen = []

    def keep_all(samples):
        seen.append(("keep", [s.conversations[1]["value"] for s in samples]))
        return list(samples), []

    def reject_all(samples):
        from mmsynth.sample import Rejection
        seen.append(("reject", len(samples)))
        return [], [Rejection(s.meta["index"], "nope") for s in samples]

    assert judge(item, [keep_all]) is True
    assert judge(item, [keep_all, reject_all]) is False
    assert judge(item, [reject_all, keep_all]) is False
    assert seen == [("keep", [item.answer]), ("keep", [item.answer]), ("reject", 1),
                    ("reject", 1)]


def test_judge_defaults_to_the_grounding_check(devset):
    by_label = {}
    for item in devset.items:
        by_label.setdefault(item.label, item)
    # The first correct item ("The bus is white.") passes today's check; the first absent_object
    # item (a bicycle in the street) does not.
    assert judge(by_label["correct"]) is True
    assert judge(by_label["absent_object"]) is False
    # The same true answer against annotations that lack its objects is rejected.
    farm = devset.sets["farm"]
    assert judge(by_label["correct"], annotations=farm) is False


def test_evaluate_measures_kept_and_caught_shares(devset):
    keep_all = evaluate(devset, [lambda samples: (list(samples), [])])
    assert keep_all["correct_kept"] == 1.0 and keep_all["wrong_caught"] == 0.0
    assert keep_all["shuffled_rejected"] == 0.0
    assert all(keep_all["kinds"][k]["rate"] == 1.0 for k in KEEP_KINDS)
    assert all(keep_all["kinds"][k]["rate"] == 0.0 for k in REJECT_KINDS)
    assert len(keep_all["misses"]) == sum(not i.keep for i in devset.items)
    assert sum(k["n"] for k in keep_all["kinds"].values()) == len(devset.items)

    def reject_all(samples):
        from mmsynth.sample import Rejection
        return [], [Rejection(s.meta["index"], "no") for s in samples]

    none = evaluate(devset, [reject_all])
    assert none["correct_kept"] == 0.0 and none["wrong_caught"] == 1.0
    assert none["shuffled_rejected"] == 1.0
    assert none["shuffled"]["n"] == sum(i.keep for i in devset.items)
    assert none["reasons"]["correct"] == {"no": none["kinds"]["correct"]["n"]}
    # "no" is no reject-kind's own reason: every wrong answer caught, none for its reason.
    assert all(none["kinds"][k]["for_reason_rate"] == 0.0 for k in REJECT_KINDS)

    def reject_as_hallucinated(samples):
        from mmsynth.sample import Rejection
        return [], [Rejection(s.meta["index"], "hallucinated_object:dog") for s in samples]

    dogs = evaluate(devset, [reject_as_hallucinated], shuffled=False)
    assert dogs["kinds"]["absent_object"]["for_reason_rate"] == 1.0
    assert all(dogs["kinds"][k]["for_reason_rate"] == 0.0
               for k in ("wrong_count", "wrong_attribute", "wrong_relation"))
    assert all("for_reason_rate" not in dogs["kinds"][k] for k in KEEP_KINDS)


def test_precision_counts_the_rejected_items_by_reason_kind(measured):
    p = measured["precision"]
    rejected = sum(k["rejected"] for k in measured["kinds"].values())
    wrong = sum(measured["kinds"][k]["rejected"] for k in REJECT_KINDS)
    assert (p["n"], p["wrong"]) == (rejected, wrong)
    assert p["precision"] == round(wrong / rejected, 4)
    assert sum(c["n"] for c in p["by_reason"].values()) == rejected
    assert all(":" not in kind or kind.startswith("unsupported_claim:")
               for kind in p["by_reason"]), "reasons are grouped by kind, not by object"
    assert p["by_reason"]["wrong_count"]["n"] >= 1


def test_shuffled_pairs_are_a_derangement_onto_other_categories(devset):
    pairs = shuffled_pairs(devset)
    assert set(pairs) == set(devset.sets)
    for name, other in pairs.items():
        assert other != name
        assert devset.categories(other) != devset.categories(name)
    assert shuffled_pairs(devset) == pairs
    # Two photos of one person each share their categories: the next set differing is used.
    assert pairs["sample:000000000001.jpg"] == "sample:000000000003.jpg"


# ---- floors ---------------------------------------------------------------------------------


def floor_rate(measured: dict, key: str) -> float | None:
    """The rate a FLOORS key names in an :func:`evaluate` result: a keep-kind's kept share, a
    reject-kind's share caught *for its own reason* (a wrong count caught because the check
    misread a person is no catch of the count check), an overall one, or the precision of a
    rejection."""
    if key == "rejection_precision":
        return measured["precision"]["precision"]
    if key in REJECT_KINDS:
        return measured["kinds"][key]["for_reason_rate"]
    return measured[key] if key in measured else measured["kinds"][key]["rate"]


@pytest.mark.parametrize("key", sorted(FLOORS))
def test_floor(measured, key):
    rate = floor_rate(measured, key)
    assert rate is not None and rate >= FLOORS[key], (
        f"{key}: {rate} < floor {FLOORS[key]}\n" + markdown(measured, shuffled=True, misses=True))


def test_floors_cover_every_kind_and_the_overall_figures():
    assert set(FLOORS) == set(LABELS) | {"correct_kept", "wrong_caught", "shuffled_rejected",
                                         "rejection_precision"}


# ---- bad dev sets and the command line ------------------------------------------------------


def _write(tmp_path: Path, sets: dict, items: list) -> Path:
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "sets": sets, "items": items}))
    return path


GOOD_SET = {"width": 100, "height": 80, "captions": ["A dog.", "A brown dog.", "Dog on grass."],
            "objects": [{"category": "dog", "bbox": [10, 10, 50, 40], "iscrowd": 0}]}
GOOD_ITEM = {"set": "s", "type": "conversation", "label": "correct", "answer": "A dog."}


@pytest.mark.parametrize("sets, items, message", [
    ({"s": GOOD_SET}, [{**GOOD_ITEM, "set": "t"}], "set 't' is not defined"),
    ({"s": {**GOOD_SET, "objects": [{"category": "doggo", "bbox": [0, 0, 5, 5]}]}}, [GOOD_ITEM],
     "'doggo' is not a COCO category"),
    ({"s": {**GOOD_SET, "objects": [{"category": "dog", "bbox": [60, 10, 50, 40]}]}},
     [GOOD_ITEM], "leaves the 100x80 image"),
    ({"s": GOOD_SET}, [{**GOOD_ITEM, "label": "wrong"}], "label 'wrong' is not one of"),
    ({"s": GOOD_SET}, [{**GOOD_ITEM, "type": "chat"}], "type 'chat' is not one of"),
    ({"s": GOOD_SET}, [{**GOOD_ITEM, "answr": "x"}], "unknown keys ['answr']"),
    ({"s": {**GOOD_SET, "captions": ["one"]}}, [GOOD_ITEM], "3 to 5 non-empty strings"),
    ({"sample:nope.jpg": {"from_sample": True}}, [{**GOOD_ITEM, "set": "sample:nope.jpg"}],
     "has no image 'nope.jpg'"),
])
def test_a_bad_dev_set_is_a_usage_error_that_says_where(tmp_path, sets, items, message):
    path = _write(tmp_path, sets, items)
    with pytest.raises(UsageError) as e:
        load_devset(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_a_good_small_dev_set_loads(tmp_path):
    dev = load_devset(_write(tmp_path, {"s": GOOD_SET}, [GOOD_ITEM]))
    assert len(dev.items) == 1 and dev.items[0].keep and dev.categories("s") == {"dog"}


def _module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_the_command_prints_markdown_tables_without_importing_torch(measured):
    proc = _module("-c", "import sys; from mmsynth.filters.evaluate import main; "
                         "code = main(['--shuffled']); "
                         "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| kind | expected | items | kept | rejected | measure | rate |" in out
    assert f"| correct | keep | {measured['kinds']['correct']['n']} |" in out
    assert "**correct kept**" in out and "**wrong caught**" in out
    assert "shuffled-annotation test" in out
    assert f"{measured['shuffled']['rate']:.1%}" in out


def test_the_command_without_shuffled_leaves_that_table_out():
    proc = _module("-m", "mmsynth.filters.evaluate", str(DEVSET))
    assert proc.returncode == 0, proc.stderr
    assert "| correct |" in proc.stdout and "shuffled-annotation" not in proc.stdout


def test_the_command_on_a_missing_file_exits_2_with_a_message(tmp_path):
    proc = _module("-m", "mmsynth.filters.evaluate", str(tmp_path / "none.yaml"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
