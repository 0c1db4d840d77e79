"""Region-grounded questions: boxes and points in the questions and answers
(``--region_rate``, ``--box_format``).

Both kinds of source ask them where the geometry is known exactly:

* **coco** (:mod:`mmsynth.filters.region_qa`, the ``region_qa`` stage of the coco chain): a
  ``region_qa`` sample per photo drawn at ``--region_rate``, from the annotated boxes —
  referring, grounding, relations and counting by pointing;
* **geometry / chart** (:class:`RegionStage`, the ``regions`` stage of the render chain): the
  renderer tags what it draws (a triangle and its named vertices, a circle and its points, each
  bar) and the canvas gives their pixel boxes as drawn (:meth:`renderers.canvas.Canvas.regions`);
  a sample drawn at ``--region_rate`` gets a question locating one element ("What is the
  bounding box of triangle ABC?", "Where is point A?") and, where the element answers one, a
  question about what is at a point ("Which bar is at [0.412, 0.655]?").

Every item keeps the geometry it states, in pixels of the original image, under ``regions``
and the format that wrote it under ``box_format``; the sample's ``meta.box_format`` names the
convention, which the dataset card states in words (:meth:`mmsynth.boxes.BoxFormat.describe`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mmsynth.boxes import BOX_FORMATS, BoxFormat, box_format
from mmsynth.config import Option, one_of, rate
from mmsynth.sample import Sample, conversations_from_qa
from mmsynth.stages import Stage, by_count
from renderers.qa import pick

REGION_OPTIONS: dict[str, Option] = {
    "box_format": Option(
        "llava", "how boxes and points are written in questions and answers: llava "
        "([x1, y1, x2, y2] over the original image's width and height, 3 decimals) | "
        "llava_square (the same over the image padded to a square, as LLaVA-1.5 trains) | qwen "
        "(<|box_start|>(x1,y1),(x2,y2)<|box_end|>, integers 0-999) | pixels (whole pixels) | "
        "points (Molmo's <point x=\"..\" y=\"..\"> tags, percent: answers point, not box)",
        neutral=True, check=one_of(*BOX_FORMATS)),
    "region_rate": Option(
        0.0, "share of images given region questions: coco, a region_qa sample (referring, "
        "grounding, relations, counting by pointing, from the annotated boxes); geometry / "
        "chart, questions locating a drawn element and naming what is at a point. 0: off",
        neutral=True, check=rate),
}

# The render questions' streams: one per sample, apart from the scene's and the questions'.
_RNG_KEY = 3


def region_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, _RNG_KEY])


_LOCATE_BOX = ("What is the bounding box of {n} in the image?",
               "Give the bounding box of {n}.",
               "Locate {n} in the image and give its box.")
_LOCATE_POINT = ("Where is {n} in the image? Give its coordinates.",
                 "What are the image coordinates of {n}?")
_POINT_TO = ("Point to {n}.", "Where is {n}? Point to it.")
_AT_POINT = ("Which {noun} is at {p} in the image?", "What {noun} is at the point {p}?")


def render_region_qa(regions: list[Mapping[str, Any]], fmt: BoxFormat, width: int, height: int,
                     rng: np.random.Generator) -> list[dict[str, Any]]:
    """A question locating one tagged element (drawn from ``rng``) and, where an element can be
    named by what is at a point, a question about one; each item holds the element's geometry
    (pixels) under ``regions``."""
    # What can be located: named points, and shapes with a box (any shape when answers point).
    locatable = [r for r in regions
                 if r["kind"] == "point" or "box" in r or fmt.answers_with_points]
    if not locatable:
        return []
    items = []
    # A kind (a shape, a named point) first, then one of its elements: a triangle's three
    # vertices do not crowd out its one box.
    kinds = sorted({r["kind"] for r in locatable})
    kind = kinds[int(rng.integers(len(kinds)))]
    of_kind = [r for r in locatable if r["kind"] == kind]
    region = of_kind[int(rng.integers(len(of_kind)))]
    name = region["label"]
    short = name.removeprefix("the ").removeprefix("point ")
    stored = [dict(region)]
    if region["kind"] == "point" or fmt.answers_with_points:
        point = region["point"]
        question = pick(rng, _POINT_TO if fmt.answers_with_points else _LOCATE_POINT)
        answer = (fmt.points_text([point], short, width, height) if fmt.answers_with_points
                  else fmt.point_text(point, width, height))
        items.append(region_item(question.format(n=name), answer, "region_point",
                                 fmt.point_numbers(point, width, height), stored, fmt,
                                 difficulty=None))
    else:
        box = region["box"]
        items.append(region_item(pick(rng, _LOCATE_BOX).format(n=name),
                                 fmt.box_text(box, width, height), "region_box",
                                 fmt.box_numbers(box, width, height), stored, fmt,
                                 difficulty=None))
    named = [r for r in regions if r.get("answer")]
    if named:
        region = named[int(rng.integers(len(named)))]
        p = fmt.point_text(region["point"], width, height)
        question = pick(rng, _AT_POINT).format(noun=region["noun"], p=p)
        items.append(region_item(question, region["answer"], "region_at_point",
                                 region["answer"], [dict(region)], fmt, difficulty=None))
    return items


def region_item(question: str, answer: str, kind: str, value: Any,
                regions: list[dict[str, Any]], fmt: BoxFormat, **extra: Any) -> dict[str, Any]:
    """A region QA item (coco's and the renders'): its answer exact, the geometry it states
    under ``regions`` (pixels of the original image) and the format that wrote it."""
    return {"question": question, "answer": answer, "type": kind, "value": value, **extra,
            "regions": regions, "box_format": fmt.name, "exact": True}


class RegionStage(Stage):
    """The render chain's ``regions`` stage: a sample drawn at ``--region_rate`` (from its own
    stream: the rate changes no other sample) gets :func:`render_region_qa`'s questions after its
    own, from the elements its renderer tagged (``work["regions"]``, measured as drawn). A
    sample without tagged elements (a family that tags none, a variant) passes unchanged,
    counted."""

    name = "regions"

    def __init__(self, source: Any):
        self.source = source
        self.fmt = box_format(source.config["box_format"])
        self.rate = float(source.config["region_rate"])

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list]:
        config = self.source.config
        for sample in samples:
            index = sample.meta.get("index")
            if index is None:
                continue
            rng = region_rng(config["seed"], index)
            if rng.random() >= self.rate:
                continue
            regions = sample.work.get("regions")
            if not regions:
                self.counters["no_regions"] += 1
                continue
            size = config["image_size"]
            items = render_region_qa(regions, self.fmt, size, size, rng)
            sample.qa = [*sample.qa, *items]
            sample.conversations = conversations_from_qa(sample.qa, config["answer_style"])
            sample.meta["box_format"] = self.fmt.name
            self.counters["samples"] += 1
            for item in items:
                self.counters[f"questions:{item['type']}"] += 1
        return samples, []

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals:
            return []
        line = (f"  regions: {totals.get('samples', 0)} samples with region questions "
                f"({by_count(totals, 'questions:') or 'none'})")
        if totals.get("no_regions"):
            line += f"; {totals['no_regions']} drawn had no tagged element"
        return [line]


def stage_for(source: Any) -> RegionStage | None:
    """The render chain's ``regions`` stage, unless ``--region_rate`` is 0."""
    return RegionStage(source) if source.config.get("region_rate", 0) > 0 else None
