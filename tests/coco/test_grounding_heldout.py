"""The held-out labelled set (tests/coco/data/grounding_heldout.yaml): answers written without
reading the grounding rules and never tuned on, so its figures estimate how the checks do on
answers they were not written for (the dev set's overstate it: the rules were written while
reading the dev set's misses).

Measured when it landed, with the coco chain's default checks (grounding, then claim support):

    kind               expected  items  rate
    correct            keep         46  100.0%  kept
    implied_people     keep         17   52.9%  kept
    generic_reference  keep         17   23.5%  kept
    subset_count       keep         17  100.0%  kept
    absent_object      reject       23  100.0%  caught
    wrong_count        reject       23   95.7%  caught
    wrong_attribute    reject       26   73.1%  caught
    wrong_relation     reject       23   39.1%  caught
    correct kept                          78.3%
    wrong caught                          76.8%
    precision of a rejection              77.7%
    shuffled-annotation test              90.7% rejected

After the dev set's second round (stop 5; read by this table only): implied_people 64.7%,
generic_reference 35.3%, wrong_attribute 76.9%, wrong_relation 43.5%, correct kept 82.5%, wrong
caught 79.0%, precision 81.5%, shuffled 90.7%. The floors below follow.

Stop 6: a reject-kind's floor is on the share caught *for its own reason*
(``for_reason_rate``: a wrong count rejected as a wrong count, not because the check misread a
person). One wrong_count item had been caught only as a hallucinated person, so the count
check's own rate on this set has been 91.3% since the set landed (21 of 23); when the presence
rule for implied people stopped that misreading, the accidental catch went and the floor
follows the count check's own rate (0.90). The other reject-kinds were caught for their own
reasons throughout.

After the third round (stop 6; read by this table only): implied_people 88.2%,
generic_reference 47.1%, wrong_count 91.3% (for its reason, as since it landed),
wrong_attribute 80.8%, wrong_relation 43.5%, correct kept 88.7%, wrong caught 79.0%,
precision 87.2%, shuffled 90.7%. The floors below follow.

After the fourth and fifth rounds (stop 7; read by this table only): generic_reference 52.9%,
wrong_relation 52.2%, correct kept 89.7%, wrong caught 81.0%, precision 88.5%, shuffled 90.7%;
the rest unchanged. Floors raised to follow: generic 0.50, relations 0.50, wrong caught 0.80.

After the sixth round (stop 9; read by this table only): generic_reference 58.8%, correct kept
90.7%, precision 89.5%; the rest unchanged. Floors raised to follow: generic 0.55, correct kept
0.90. (One item's text was seen while diffing verdicts between two versions of the code: item 71,
a keep answer the new rules now keep; no rule was written from it.)

FLOORS are those rates rounded down to the nearest 0.05, so a regression fails. To keep the set
honest, improve the rules from new dev-set items of the failing kinds, not from this file's
misses, and read only its table (not ``--misses``) to measure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsynth.filters.evaluate import KEEP_KINDS, LABELS, REJECT_KINDS, evaluate, load_devset
from tests.coco.test_grounding_devset import floor_rate

HELDOUT = Path(__file__).parent / "data" / "grounding_heldout.yaml"
DEVSET = Path(__file__).parent / "data" / "grounding_dev.yaml"

FLOORS = {
    "correct": 1.00,
    "implied_people": 0.85,
    "generic_reference": 0.55,
    "subset_count": 1.00,
    "absent_object": 1.00,
    "wrong_count": 0.90,  # caught for its own reason (see above)
    "wrong_attribute": 0.80,
    "wrong_relation": 0.50,
    "correct_kept": 0.90,
    "wrong_caught": 0.80,
    "shuffled_rejected": 0.90,
    "rejection_precision": 0.85,
}


@pytest.fixture(scope="module")
def heldout():
    return load_devset(HELDOUT)


@pytest.fixture(scope="module")
def measured(heldout):
    return evaluate(heldout)


def test_the_held_out_set_covers_every_label_and_type_and_shares_no_answer_with_the_dev_set(
        heldout):
    counts = {label: sum(i.label == label for i in heldout.items) for label in LABELS}
    assert min(counts.values()) >= 15, counts
    assert {i.type for i in heldout.items} == {"conversation", "detail", "reasoning"}
    assert sum(i.label in KEEP_KINDS for i in heldout.items) > 90
    assert sum(i.label in REJECT_KINDS for i in heldout.items) > 90
    dev = load_devset(DEVSET)
    assert not {i.answer for i in heldout.items} & {i.answer for i in dev.items}
    handmade = {name for name in heldout.sets if not name.startswith("sample:")}
    assert len(handmade) >= 12 and not handmade & set(dev.sets)


@pytest.mark.parametrize("key", sorted(FLOORS))
def test_floor(measured, key):
    rate = floor_rate(measured, key)
    assert rate is not None and rate >= FLOORS[key], f"{key}: {rate} < floor {FLOORS[key]}"
