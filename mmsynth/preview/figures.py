"""Images for the page: every image checked and re-encoded before it is embedded (shard images
and rejects' thumbnails alike), as data URIs, with the annotation boxes as an SVG overlay."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import mmsynth.preview as caps
from mmsynth.images import ImageProblem, shrink
from mmsynth.preview.values import Skips, _label, _number


def verified_image(data: bytes, ext: str, side: int) -> tuple[bytes, str, tuple[int, int]]:
    """``data`` checked and shrunk by :func:`mmsynth.images.shrink` under this page's pixel cap:
    (new bytes, their ext, original (width, height)); ImageProblem when it cannot be shown."""
    return shrink(data, ext, side, caps.MAX_PIXELS)


def data_uri(image: bytes, ext: str) -> str:
    """Verified image bytes as a data URI."""
    mime = "image/png" if ext == "png" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def _thumbnail(image: Any) -> tuple[bytes, str, tuple[int, int]]:
    """A rejects entry's ``image`` ({ext, base64, ...}) verified like a shard image."""
    encoded = image.get("base64")
    if not isinstance(encoded, str):
        raise ImageProblem("thumbnail is not a base64 string")
    if len(encoded) > caps.MAX_THUMBNAIL_BASE64:
        raise ImageProblem(f"thumbnail over the {caps.MAX_THUMBNAIL_BASE64}-byte cap (not read)")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageProblem("thumbnail is not valid base64") from None
    return verified_image(data, image.get("ext"), caps.REJECT_SIDE)


def _colour(name: str) -> str:
    hue = int(hashlib.md5(name.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 85%, 50%)"


def figure(image: bytes, ext: str, annotations: Any, width: Any, height: Any, alt: str,
           skipped: Skips, qa: Any = None) -> dict[str, Any]:
    """What the template draws for an image: its data URI and an SVG overlay of the annotation
    boxes (COCO [x, y, w, h] in the original pixels, so the overlay's viewBox is the original size
    whatever size the image is shown at) and of the boxes and points that region questions state
    (``qa[].regions``, dashed, in the same pixels). Every number placed in the SVG is a float; a
    box that is not four numbers is skipped and counted."""
    fig: dict[str, Any] = {"src": data_uri(image, ext), "alt": alt, "boxes": [], "points": [],
                           "viewbox": None}
    _regions(fig, qa, _positive(width), _positive(height), skipped)
    if annotations is None:
        return fig
    if not isinstance(annotations, dict):
        skipped[("field", "annotations not an object")] += 1
        return fig
    objects = annotations.get("objects") or []
    if not isinstance(objects, list):
        skipped[("field", "annotations' objects not a list")] += 1
        return fig
    w = _positive(annotations.get("width")) or _positive(width)
    h = _positive(annotations.get("height")) or _positive(height)
    if objects and not (w and h):
        skipped[("box", "no image size to place it on")] += len(objects)
        return fig
    if len(objects) > caps.MAX_ITEMS_SHOWN:
        skipped[("box", f"beyond the first {caps.MAX_ITEMS_SHOWN} of a sample")] += \
            len(objects) - caps.MAX_ITEMS_SHOWN
    stroke, font = max(w or 1, h or 1) / 200, max(w or 1, h or 1) / 28
    for obj in objects[:caps.MAX_ITEMS_SHOWN]:
        box = _box(obj)
        if isinstance(box, str):
            skipped[("box", box)] += 1
            continue
        x, y, bw, bh = box
        category = _label(obj.get("category", "?"))
        colour = _colour(category)
        fig["boxes"].append({
            "x": f"{x:.1f}", "y": f"{y:.1f}", "w": f"{bw:.1f}", "h": f"{bh:.1f}",
            "colour": colour, "stroke": f"{stroke:.1f}", "thin": f"{stroke / 3:.2f}",
            "tx": f"{x + stroke:.1f}", "ty": f"{max(y + font, font):.1f}", "font": f"{font:.1f}",
            "label": category + (" (crowd)" if obj.get("iscrowd") else ""), "dash": "",
        })
    if fig["boxes"] or fig["points"]:
        fig["viewbox"] = f"0 0 {w:g} {h:g}"
    return fig


def _regions(fig: dict[str, Any], qa: Any, w: float | None, h: float | None,
             skipped: Skips) -> None:
    """The region questions' boxes (dashed) and points (rings) into ``fig``, in the image's
    original pixels (its decoded size)."""
    regions = [r for item in (qa if isinstance(qa, list) else ())
               if isinstance(item, dict) and isinstance(item.get("regions"), list)
               for r in item["regions"]]
    if not regions:
        return
    if not (w and h):
        skipped[("region", "no image size to place it on")] += len(regions)
        return
    stroke, font = max(w, h) / 200, max(w, h) / 28
    for region in regions[:caps.MAX_ITEMS_SHOWN]:
        if not isinstance(region, dict):
            skipped[("region", "not an object")] += 1
            continue
        label = _label(region.get("label", "?"))
        colour = _colour(label)
        box, point = region.get("box"), region.get("point")
        values = [_number(v) for v in box] if isinstance(box, list) and len(box) == 4 else None
        if values is not None and None not in values and values[2] >= values[0] \
                and values[3] >= values[1]:
            x0, y0, x1, y1 = values
            fig["boxes"].append({
                "x": f"{x0:.1f}", "y": f"{y0:.1f}", "w": f"{x1 - x0:.1f}", "h": f"{y1 - y0:.1f}",
                "colour": colour, "stroke": f"{stroke:.1f}", "thin": f"{stroke / 3:.2f}",
                "tx": f"{x0 + stroke:.1f}", "ty": f"{max(y0 + font, font):.1f}",
                "font": f"{font:.1f}", "label": label, "dash": f"{3 * stroke:.1f}"})
        elif isinstance(point, list) and len(point) == 2 and None not in (
                xy := [_number(v) for v in point]):
            fig["points"].append({
                "cx": f"{xy[0]:.1f}", "cy": f"{xy[1]:.1f}", "r": f"{3 * stroke:.1f}",
                "colour": colour, "stroke": f"{stroke:.1f}", "thin": f"{stroke / 3:.2f}",
                "tx": f"{xy[0] + 4 * stroke:.1f}", "ty": f"{xy[1] - 4 * stroke:.1f}",
                "font": f"{font:.1f}", "label": label})
        else:
            skipped[("region", "neither a box nor a point of numbers")] += 1
    if len(regions) > caps.MAX_ITEMS_SHOWN:
        skipped[("region", f"beyond the first {caps.MAX_ITEMS_SHOWN} of a sample")] += \
            len(regions) - caps.MAX_ITEMS_SHOWN
    fig["viewbox"] = f"0 0 {w:g} {h:g}"


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _box(obj: Any) -> tuple[float, float, float, float] | str:
    """The box's [x, y, w, h] as floats, or why it cannot be drawn."""
    if not isinstance(obj, dict):
        return "not an object"
    bbox = obj.get("bbox")
    values = [_number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
    if values is None or None in values:
        return "bbox is not four numbers"
    if values[2] < 0 or values[3] < 0:
        return "bbox has a negative size"
    return values[0], values[1], values[2], values[3]

