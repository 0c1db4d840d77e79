"""What the LLM and a sample are given of a COCO image in place of its pixels: the text
stand-in (``context``), its structured form for the prompt (``context_of``) and the annotations a
sample carries (``sample_annotations``). Re-exported by ``mmsynth.sources.coco_data``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmsynth.sources.coco_data import CocoImage


def context(image: CocoImage) -> str:
    """LLaVA's text stand-in for an image: the captions, one per line, then one line per box,
    ``category: [x1, y1, x2, y2]`` normalised to [0, 1] with 3 decimals (top-left, bottom-right).
    A crowd box (one box over many small instances) is written like any other; ``iscrowd`` is
    on the ``CocoObject`` for checks that count."""
    lines = list(image.captions)
    for obj in image.objects:
        x1, y1, x2, y2 = obj.bbox_xyxy_norm
        lines.append(f"{obj.category}: [{x1:.3f}, {y1:.3f}, {x2:.3f}, {y2:.3f}]")
    return "\n".join(lines)


def context_of(image: CocoImage):
    """The image's structured context for the LLM (``mmsynth.prompts.llava.Context``): its
    captions, and every box as ``(category, (x1, y1, x2, y2))`` normalised to [0, 1] at the
    3-decimal precision the prompt shows. Rendered to text once, where the LLM reads it."""
    from mmsynth.prompts.llava import Context

    captions = tuple(c.strip() for c in image.captions if c.strip())
    objects = tuple((obj.category, tuple(round(v, 3) for v in obj.bbox_xyxy_norm))
                    for obj in image.objects)
    return Context(captions, objects)


def sample_annotations(image: CocoImage) -> dict[str, Any]:
    """The image's annotations as a ``Sample.annotations`` dict, the shape the grounding filter
    and the prompt builder read: ``objects`` (``category``, COCO pixel ``bbox`` [x, y, w, h],
    ``iscrowd`` 0/1), ``captions``, ``width``, ``height``."""
    return {
        "objects": [{"category": o.category, "bbox": list(o.bbox_xywh), "iscrowd": int(o.iscrowd)}
                    for o in image.objects],
        "captions": list(image.captions),
        "width": image.width,
        "height": image.height,
    }
