"""Boxes cited in an answer (grounded descriptions: "a man [0.31, 0.12, 0.62, 0.80] rides …"):
each must be the box of an annotated object of the category named right before it.

A citation (:func:`mmsynth.boxes.citations`, in the sample's ``meta.box_format``) belongs to
the object mention that ends at most :data:`MAX_GAP_WORDS` words before it, in the same
sentence; it is right when an annotated box of a category that grounds that mention ("man" →
person) overlaps it by IoU ≥ :data:`MIN_IOU` (in the ``points`` format: when the cited point
lies inside such a box). Otherwise it is a ``wrong_box:<category>`` problem
(``wrong_box:unnamed`` for a box after no object word). The grounding check runs this on every
answer of a sample with a ``box_format`` and checks the words with the citations taken out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mmsynth.boxes import box_format, citations, coco_box, iou
from mmsynth.filters.mentions import mentions

MIN_IOU = 0.5
MAX_GAP_WORDS = 3


def citation_problems(text: str, annotations: Mapping[str, Any], fmt_name: str, turn: int
                      ) -> tuple[list[Any], int]:
    """(problems, citations checked) for one answer."""
    from mmsynth.filters.grounding import Problem

    width, height = annotations.get("width"), annotations.get("height")
    if not (width and height):
        return [], 0
    fmt = box_format(fmt_name)
    cited = citations(text, fmt, int(width), int(height))
    if not cited:
        return [], 0
    boxes = [(o["category"], coco_box(o["bbox"])) for o in annotations.get("objects") or ()]
    found = mentions(text)
    problems = []
    for c in cited:
        before = [m for m in found if m.span[1] <= c.span[0]]
        m = before[-1] if before else None
        if m is not None:
            gap = text[m.span[1]:c.span[0]]
            if re.search(r"[.!?;]", gap) or len(gap.split()) > MAX_GAP_WORDS:
                m = None
        if m is None:
            problems.append(Problem("wrong_box", "unnamed", turn,
                                    f"turn {turn} cites {text[c.span[0]:c.span[1]]!r} after no "
                                    "object word"))
            continue
        categories = set(m.grounding) or {m.category}
        own = [b for cat, b in boxes if cat in categories]
        if c.point is not None:
            ok = any(b[0] <= c.point[0] <= b[2] and b[1] <= c.point[1] <= b[3] for b in own)
        else:
            ok = any(iou(c.box, b) >= MIN_IOU for b in own)
        if not ok:
            best = max((iou(c.box, b) for b in own), default=0.0) if c.box else 0.0
            problems.append(Problem(
                "wrong_box", m.category, turn,
                f"turn {turn} cites {text[c.span[0]:c.span[1]]!r} for {m.word!r}, which "
                + (f"overlaps no annotated {m.category} box by IoU {MIN_IOU:g} (best "
                   f"{best:.2f})" if own else f"has no annotated {m.category} box")))
    return problems, len(cited)
