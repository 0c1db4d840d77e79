"""Exact questions from an image's annotations, no LLM: counts and absences.

* Counting ("How many giraffes are there in the image?" → "There are three giraffes.", value 3)
  only where the count is reliable: the category has no crowd box and 1–``max_count``
  instances, and its boxes hold one object each (not skis, scissors or broccoli).
* Negative questions in the style of LRV-Instruction ("Is there a dog in the image?" → "No,
  there is no dog in the image.") about categories that are neither annotated nor named in a
  caption, nor easily confused with one that is (a "cup" image is not asked about wine
  glasses). Absent categories are drawn from the supercategories of the present ones when
  possible (hard negatives: a motorcycle in a street of cars), else from COCO's most common
  categories, so models learn to say no to plausible objects.
* Optionally (``positive_rate``) the matching "yes" question about a present category, to keep
  existence questions from always being answered "no".

Items have the shape of ``renderers.qa`` items — ``question``, ``answer``, ``type``, ``value``
(plus ``category`` and ``exact``) — so ``mmsynth.sample.conversations_from_qa`` or
:func:`append_qa` turn them into conversation turns. The annotations' shape is documented in
``mmsynth.filters.grounding``. Every choice comes from the ``rng`` passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmsynth.filters.grounding import (
    COCO_CATEGORIES,
    SUPERCATEGORIES,
    SUPERCATEGORY_OF,
    UNCOUNTED_CATEGORIES,
    Evidence,
    plural,
)
from mmsynth.sample import IMAGE_TOKEN, conversations_from_qa

NUMBER_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve")

# How a category is named in a question (the grounding vocabulary maps each back).
DISPLAY_NAMES = {"tv": "TV", "sports ball": "ball", "dining table": "table",
                 "hair drier": "hair dryer", "remote": "remote control",
                 "mouse": "computer mouse"}
MASS = frozenset({"broccoli"})
PLURAL_ONLY = frozenset({"skis", "scissors"})

# Pairs that annotators label either way: when one is present the other is not "absent".
CONFUSABLE: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    {"cup", "wine glass", "bowl"}, {"car", "truck", "bus"}, {"couch", "chair", "bed"},
    {"tv", "laptop"}, {"handbag", "backpack", "suitcase"}, {"bicycle", "motorcycle"},
    {"donut", "cake"}, {"sandwich", "hot dog"}, {"sports ball", "frisbee"},
    {"bear", "teddy bear"}, {"remote", "cell phone"}, {"dining table", "bench"},
    {"orange", "apple"}, {"cow", "sheep", "horse"}, {"oven", "microwave", "toaster"},
))

# COCO's most frequent categories (train2017 instance counts), the fallback pool of negatives.
COMMON_CATEGORIES = ("person", "car", "chair", "book", "bottle", "cup", "dining table", "bowl",
                     "traffic light", "handbag", "umbrella", "bird", "boat", "truck", "bench",
                     "sheep", "banana", "kite", "motorcycle", "backpack", "potted plant", "cow",
                     "wine glass", "carrot", "knife", "donut", "bicycle", "vase", "horse",
                     "clock", "dog", "cat", "pizza", "bus", "laptop", "tv")

_COUNT_QUESTIONS = (
    "How many {p} are there in the image?",
    "How many {p} can you see in this picture?",
    "Count the {p} in this image.",
    "What is the number of {p} in the photo?",
)
_NEGATIVE_SINGULAR = (
    ("Is there {a} in the image?", "No, there is no {s} in the image."),
    ("Does this photo contain {a}?", "No, there is no {s} in this photo."),
    ("Is {a} visible in the picture?", "No, no {s} is visible in the picture."),
    ("Can you find {a} in this image?", "No, there is no {s} in this image."),
)
_NEGATIVE_PLURAL = (
    ("Are there any {p} in the image?", "No, there are no {p} in the image."),
    ("Can you see any {p} in this picture?", "No, there are no {p} in this picture."),
    ("Do you see any {p} in the photo?", "No, I don't see any {p} in the photo."),
)
_NEGATIVE_MASS = (
    ("Is there any {s} in the image?", "No, there is no {s} in the image."),
    ("Can you see any {s} in this picture?", "No, there is no {s} in this picture."),
)
_POSITIVE = (
    ("Is there {a} in the image?", "Yes, there is {a} in the image."),
    ("Can you see {a} in this picture?", "Yes, there is {a} in this picture."),
)
_POSITIVE_PLURAL = (
    ("Are there any {p} in the image?", "Yes, there are {p} in the image."),
)
_POSITIVE_MASS = (("Is there any {s} in the image?", "Yes, there is {s} in the image."),)


def display_name(category: str) -> str:
    return DISPLAY_NAMES.get(category, category)


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0].lower() in "aeiou" else f"a {noun}"


def _fill(template: str, category: str) -> str:
    s = display_name(category)
    return template.format(s=s, p=plural(s), a=_article(s))


def count_phrase(n: int, category: str) -> str:
    """"There are three giraffes." / "There is one giraffe." (n spelled out up to twelve)."""
    s = display_name(category)
    number = NUMBER_NAMES[n] if n < len(NUMBER_NAMES) else str(n)
    return f"There is one {s}." if n == 1 else f"There are {number} {plural(s)}."


def reliable_counts(annotations: Mapping[str, Any] | None, *,
                    max_count: int = 10) -> dict[str, int]:
    """Category → instance count for the categories whose count a question may ask: no crowd
    box, 1 ≤ count ≤ ``max_count``, one object per box."""
    counts: Counter[str] = Counter()
    crowd = set()
    for obj in (annotations or {}).get("objects") or ():
        if obj.get("iscrowd"):
            crowd.add(obj["category"])
        else:
            counts[obj["category"]] += 1
    return {c: n for c, n in sorted(counts.items())
            if c not in crowd and c not in UNCOUNTED_CATEGORIES and 1 <= n <= max_count
            and c in SUPERCATEGORY_OF}


def present_categories(annotations: Mapping[str, Any] | None) -> frozenset[str]:
    """Annotated categories plus those a caption names (not negated)."""
    return Evidence.from_annotations(annotations).allowed


def absent_categories(annotations: Mapping[str, Any] | None) -> list[str]:
    """COCO categories safe to call absent: not present, not confusable with a present one."""
    present = present_categories(annotations)
    blocked = set(present)
    for group in CONFUSABLE:
        if group & present:
            blocked |= group
    return [c for c in COCO_CATEGORIES if c not in blocked]


def _choose_absent(annotations: Mapping[str, Any] | None, rng: np.random.Generator,
                   k: int) -> list[str]:
    absent = absent_categories(annotations)
    present = present_categories(annotations)
    near = [c for c in absent
            if any(c in SUPERCATEGORIES[SUPERCATEGORY_OF[p]] for p in present
                   if p in SUPERCATEGORY_OF)]
    common = [c for c in COMMON_CATEGORIES if c in absent]
    chosen: list[str] = []
    for _ in range(k):
        pools = [p for p in (near, common, absent) if any(c not in chosen for c in p)]
        if not pools:
            break
        # Hard negatives (same supercategory as something present) two times in three.
        pool = pools[0] if len(pools) == 1 or rng.random() < 2 / 3 else pools[1]
        options = [c for c in pool if c not in chosen]
        chosen.append(options[int(rng.integers(len(options)))])
    return chosen


def counting_qa(category: str, count: int, rng: np.random.Generator) -> dict[str, Any]:
    """A counting question about ``category`` whose exact answer is ``count``."""
    template = _COUNT_QUESTIONS[int(rng.integers(len(_COUNT_QUESTIONS)))]
    return {"question": _fill(template, category), "answer": count_phrase(count, category),
            "type": "object_count", "value": count, "category": category, "exact": True}


def negative_qa(category: str, rng: np.random.Generator) -> dict[str, Any]:
    """An existence question about an absent ``category``, answered "No, …"."""
    if category in MASS:
        options = _NEGATIVE_MASS
    elif category in PLURAL_ONLY:
        options = _NEGATIVE_PLURAL
    else:
        options = _NEGATIVE_SINGULAR + _NEGATIVE_PLURAL
    question, answer = options[int(rng.integers(len(options)))]
    return {"question": _fill(question, category), "answer": _fill(answer, category),
            "type": "object_absent", "value": "No", "category": category, "exact": True}


def positive_qa(category: str, rng: np.random.Generator) -> dict[str, Any]:
    """An existence question about a present ``category``, answered "Yes, …"."""
    if category in MASS:
        options = _POSITIVE_MASS
    elif category in PLURAL_ONLY:
        options = _POSITIVE_PLURAL
    else:
        options = _POSITIVE
    question, answer = options[int(rng.integers(len(options)))]
    return {"question": _fill(question, category), "answer": _fill(answer, category),
            "type": "object_present", "value": "Yes", "category": category, "exact": True}


def annotation_qa(annotations: Mapping[str, Any] | None, rng: np.random.Generator, *,
                  counting_rate: float = 0.5, negative_rate: float = 0.3,
                  positive_rate: float = 0.0, max_count: int = 10,
                  per_kind: int = 1) -> list[dict[str, Any]]:
    """Exact QA items for one image: with probability ``counting_rate`` up to ``per_kind``
    counting questions (over reliable categories), with ``negative_rate`` up to ``per_kind``
    negative questions, with ``positive_rate`` a "yes" existence question. Deterministic in
    ``rng``; an image with nothing reliable to count simply gets no counting question."""
    for name, rate in (("counting_rate", counting_rate), ("negative_rate", negative_rate),
                       ("positive_rate", positive_rate)):
        if not 0 <= rate <= 1:
            raise ValueError(f"{name} must be within [0, 1], got {rate!r}")
    items: list[dict[str, Any]] = []
    counts = reliable_counts(annotations, max_count=max_count)
    if counts and rng.random() < counting_rate:
        names = sorted(counts)
        order = rng.permutation(len(names))[:per_kind]
        items += [counting_qa(names[i], counts[names[i]], rng) for i in order]
    if rng.random() < negative_rate:
        items += [negative_qa(c, rng) for c in _choose_absent(annotations, rng, per_kind)]
    annotated = sorted({o["category"] for o in (annotations or {}).get("objects") or ()
                        if o["category"] in SUPERCATEGORY_OF})
    if annotated and positive_rate and rng.random() < positive_rate:
        items.append(positive_qa(annotated[int(rng.integers(len(annotated)))], rng))
    return items


def append_qa(conversations: Sequence[dict[str, str]],
              items: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """``conversations`` followed by ``items`` as human/gpt turns; ``<image>`` stays on the
    first human turn (or leads the first item's question when ``conversations`` is empty)."""
    if not conversations:
        return conversations_from_qa(list(items))
    turns = [dict(t) for t in conversations]
    for item in items:
        question = item["question"].replace(IMAGE_TOKEN, "").strip()
        turns.append({"from": "human", "value": question})
        turns.append({"from": "gpt", "value": item["answer"]})
    return turns
