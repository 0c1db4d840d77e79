"""Exact region questions from a photo's annotated boxes, no LLM (``--region_rate``).

Four kinds, each asked only where the annotations settle the answer:

* ``region_referring``: "What object is in the region [box]?" → the category of an object whose
  box overlaps no box of another category by IoU ≥ 0.5 (in the ``points`` format: "What object is
  at (x%, y%)?" about the centre of a box that no other box contains).
* ``region_grounding``: "Give the bounding box of the giraffe." for a category with one
  instance; "… of each giraffe, from left to right." for two to six, the boxes ordered by their
  left edge (``points``: "Point to …", the boxes' centres).
* ``region_relation``: "Is the dog to the left of the bench?" between two single-instance
  categories whose boxes are apart by a margin (5% of the image's width or height) along that
  axis, answered yes or no with the true side.
* ``region_pointing``: "Point to each person, then say how many there are." → the centre of each
  box, left to right, then the count (Molmo's count-by-pointing).

Crowd boxes (one box over many instances) and tiny boxes (a side under ``TINY_SIDE`` pixels or
under ``TINY_AREA`` of the image) are never asked about, and a category that has any is not
listed, counted or called unique (its list would be incomplete); both are counted. Every item
keeps the pixel geometry it states under ``regions`` (``{"label", "box"}`` / ``{"label",
"point"}``, pixels of the original image) and the format that wrote it under ``box_format``, so a
checker re-derives the answer from the annotations and a preview draws it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from mmsynth.boxes import BoxFormat, centre, coco_box, iou
from mmsynth.filters.annotation_qa import NUMBER_NAMES, count_phrase, display_name
from mmsynth.filters.grounding import SUPERCATEGORY_OF, UNCOUNTED_CATEGORIES, plural
from mmsynth.regions import region_item
from renderers.qa import pick

REGION_KINDS = ("region_referring", "region_grounding", "region_relation", "region_pointing")
TINY_SIDE = 8.0  # pixels
TINY_AREA = 0.002  # of the image
MAX_LISTED = 6  # instances a grounding or pointing answer lists
REFERRING_MAX_IOU = 0.5
RELATION_MARGIN = 0.05  # of the image's width (left/right) or height (above/below)

_REFERRING = ("What object is in the region {r} of the image?",
              "What is shown in the region {r}?",
              "Name the object inside the box {r}.")
_REFERRING_POINT = ("What object is at the point {r} of the image?",
                    "What is at {r} in this picture?")
_GROUND_ONE = ("Give the bounding box of the {s}.",
               "Where is the {s}? Answer with its bounding box.",
               "Locate the {s} in the image and give its box.")
_GROUND_MANY = ("Give the bounding box of each {s}, from left to right.",
                "Locate every {s} in the image and list their boxes from left to right.")
_POINT_ONE = ("Point to the {s}.", "Where is the {s}? Point to it.")
_POINT_MANY = ("Point to each {s}, from left to right.",)
_POINT_COUNT = ("Point to each {s} in the image, then say how many there are.",
                "Count the {p} by pointing to each one.")
_RELATIONS = {  # question word → (axis, the side it names: -1 smaller coordinate, +1 larger)
    "to the left of": (0, -1), "to the right of": (0, 1), "above": (1, -1), "below": (1, 1)}
_OPPOSITE = {"to the left of": "to the right of", "to the right of": "to the left of",
             "above": "below", "below": "above"}


class Objects:
    """A photo's annotated boxes sorted into what region questions may use."""

    def __init__(self, annotations: Mapping[str, Any], counters: Counter):
        self.width = int(annotations["width"])
        self.height = int(annotations["height"])
        self.usable: list[tuple[str, tuple[float, float, float, float]]] = []
        self.all_boxes: list[tuple[str, tuple[float, float, float, float]]] = []
        self.incomplete: set[str] = set()
        self.instances: Counter[str] = Counter()
        area = self.width * self.height
        for obj in annotations.get("objects") or ():
            category, box = obj["category"], coco_box(obj["bbox"])
            self.instances[category] += 1
            self.all_boxes.append((category, box))
            w, h = box[2] - box[0], box[3] - box[1]
            if obj.get("iscrowd"):
                counters["excluded:crowd"] += 1
                self.incomplete.add(category)
            elif min(w, h) < TINY_SIDE or w * h < TINY_AREA * area:
                counters["excluded:tiny"] += 1
                self.incomplete.add(category)
            else:
                self.usable.append((category, box))
        self.by_category: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
        for category, box in self.usable:
            self.by_category[category].append(box)

    def listable(self) -> list[str]:
        """Categories whose every instance is usable and few enough to list, sorted."""
        return sorted(c for c, boxes in self.by_category.items()
                      if c not in self.incomplete and c in SUPERCATEGORY_OF
                      and c not in UNCOUNTED_CATEGORIES and len(boxes) <= MAX_LISTED)

    def unique(self) -> list[str]:
        return [c for c in self.listable() if len(self.by_category[c]) == 1]


def _left_to_right(boxes: list) -> list:
    return sorted(boxes, key=lambda b: (b[0], b[1], b[2], b[3]))


def _box_region(label: str, box) -> dict[str, Any]:
    return {"label": label, "box": [round(float(v), 2) for v in box]}


def _point_region(label: str, point) -> dict[str, Any]:
    return {"label": label, "point": [round(float(v), 2) for v in point]}


def referring(objs: Objects, fmt: BoxFormat, rng: np.random.Generator, counters: Counter
              ) -> dict[str, Any] | None:
    candidates = []
    for i, (category, box) in enumerate(objs.usable):
        if category not in SUPERCATEGORY_OF:
            continue
        if fmt.answers_with_points:  # its centre on no other box
            x, y = centre(box)
            clear = not any(b[0] <= x <= b[2] and b[1] <= y <= b[3]
                            for _, b in objs.all_boxes if b != box)
        else:  # no other category's box over half of it
            clear = all(iou(box, b) < REFERRING_MAX_IOU
                        for c, b in objs.all_boxes if c != category)
        if clear:
            candidates.append(i)
        else:
            counters["excluded:ambiguous"] += 1
    if not candidates:
        return None
    category, box = objs.usable[candidates[int(rng.integers(len(candidates)))]]
    name = display_name(category)
    article = "An" if name[0] in "aeiou" else "A"
    if fmt.answers_with_points:
        point = centre(box)
        question = pick(rng, _REFERRING_POINT).format(
            r=fmt.point_text(point, objs.width, objs.height))
        regions = [_point_region(category, point)]
    else:
        question = pick(rng, _REFERRING).format(r=fmt.box_text(box, objs.width, objs.height))
        regions = [_box_region(category, box)]
    return region_item(question, f"{article} {name}.", "region_referring", category, regions, fmt,
                 category=category)


def grounding(objs: Objects, fmt: BoxFormat, rng: np.random.Generator
              ) -> dict[str, Any] | None:
    categories = objs.listable()
    if not categories:
        return None
    category = categories[int(rng.integers(len(categories)))]
    boxes = _left_to_right(objs.by_category[category])
    name = display_name(category)
    w, h = objs.width, objs.height
    if fmt.answers_with_points:
        points = sorted((centre(b) for b in boxes), key=lambda p: (p[0], p[1]))
        templates = _POINT_ONE if len(points) == 1 else _POINT_MANY
        answer = fmt.points_text(points, name if len(points) == 1 else plural(name), w, h)
        regions = [_point_region(category, p) for p in points]
        value = [fmt.point_numbers(p, w, h) for p in points]
    else:
        templates = _GROUND_ONE if len(boxes) == 1 else _GROUND_MANY
        answer = ", ".join(fmt.box_text(b, w, h) for b in boxes)
        regions = [_box_region(category, b) for b in boxes]
        value = [fmt.box_numbers(b, w, h) for b in boxes]
    question = pick(rng, templates).format(s=name)
    return region_item(question, answer, "region_grounding", value, regions, fmt, category=category)


def relation(objs: Objects, fmt: BoxFormat, rng: np.random.Generator) -> dict[str, Any] | None:
    unique = objs.unique()
    pairs = []
    for a in unique:
        for b in unique:
            if a == b:
                continue
            box_a, box_b = objs.by_category[a][0], objs.by_category[b][0]
            for axis, size in ((0, objs.width), (1, objs.height)):
                margin = RELATION_MARGIN * size
                if box_a[axis + 2] + margin < box_b[axis]:  # a wholly before b on this axis
                    pairs.append((a, b, axis))
    if not pairs:
        return None
    a, b, axis = pairs[int(rng.integers(len(pairs)))]
    true_side = "to the left of" if axis == 0 else "above"
    asked = true_side if rng.random() < 0.5 else _OPPOSITE[true_side]
    sa, sb = display_name(a), display_name(b)
    # Which one the question names first is drawn too, so "yes" is not always the first.
    if rng.random() < 0.5:
        a, b, sa, sb, true_side = b, a, sb, sa, _OPPOSITE[true_side]
        asked = _OPPOSITE[asked]
    yes = asked == true_side
    question = f"Is the {sa} {asked} the {sb} in the image?"
    answer = (f"Yes, the {sa} is {true_side} the {sb}." if yes
              else f"No, the {sa} is {true_side} the {sb}.")
    regions = [_box_region(a, objs.by_category[a][0]), _box_region(b, objs.by_category[b][0])]
    return region_item(question, answer, "region_relation", "Yes" if yes else "No", regions, fmt,
                 subject=a, object=b, relation=asked)


def pointing(objs: Objects, fmt: BoxFormat, rng: np.random.Generator) -> dict[str, Any] | None:
    categories = [c for c in objs.listable() if len(objs.by_category[c]) >= 2]
    if not categories:
        return None
    category = categories[int(rng.integers(len(categories)))]
    points = sorted((centre(b) for b in objs.by_category[category]), key=lambda p: (p[0], p[1]))
    name = display_name(category)
    n = len(points)
    listed = fmt.points_text(points, plural(name), objs.width, objs.height)
    sep = " " if fmt.answers_with_points else ". "
    answer = f"{listed}{sep}{count_phrase(n, category)}"
    question = pick(rng, _POINT_COUNT).format(s=name, p=plural(name))
    return region_item(question, answer, "region_pointing", n,
                 [_point_region(category, p) for p in points], fmt, category=category,
                 count_words=NUMBER_NAMES[n] if n < len(NUMBER_NAMES) else str(n))


def region_qa(annotations: Mapping[str, Any] | None, fmt: BoxFormat, rng: np.random.Generator,
              counters: Counter) -> list[dict[str, Any]]:
    """Up to one question of each kind the photo's boxes can answer, in an order drawn from
    ``rng``; empty when none (or the annotations have no image size)."""
    if not annotations or not annotations.get("width") or not annotations.get("height"):
        return []
    objs = Objects(annotations, counters)
    makers = {"region_referring": lambda: referring(objs, fmt, rng, counters),
              "region_grounding": lambda: grounding(objs, fmt, rng),
              "region_relation": lambda: relation(objs, fmt, rng),
              "region_pointing": lambda: pointing(objs, fmt, rng)}
    items = []
    for i in rng.permutation(len(REGION_KINDS)):
        item = makers[REGION_KINDS[int(i)]]()
        if item is not None:
            counters[f"questions:{item['type']}"] += 1
            items.append(item)
    return items
