"""The one place that decodes, checks and shrinks an image before mmsynth shows it (the rejects
file's thumbnails, the preview page): only Pillow's PNG and JPEG decoders see the bytes, the
format must be the one claimed, the pixel count is capped before decoding, and what comes out is
re-encoded, so nothing but pixels is carried over."""

from __future__ import annotations

import io
from typing import Any

MAX_PIXELS = 40_000_000
FORMATS = {"png": "PNG", "jpg": "JPEG"}
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})


class ImageProblem(ValueError):
    """An image that is not shown; ``reason`` is the short counted key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def shrink(data: bytes, ext: Any, side: int, max_pixels: int = MAX_PIXELS
           ) -> tuple[bytes, str, tuple[int, int]]:
    """``data`` decoded as the ``ext`` (png or jpg) it claims to be, shrunk to at most ``side``
    pixels and re-encoded: (new bytes, their ext, original (width, height)). ImageProblem when
    it is another format, has more than ``max_pixels``, or does not decode."""
    from PIL import Image

    fmt = FORMATS.get(ext) if isinstance(ext, str) else None
    if fmt is None:
        raise ImageProblem("claimed type is not png or jpg", _short(ext, 20))
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS.values())) as im:
            if im.format != fmt:
                raise ImageProblem(f"not a {fmt} as claimed", f"it is {im.format}")
            size = im.size
            if size[0] * size[1] > max_pixels:
                raise ImageProblem("too many pixels", f"{size[0]}×{size[1]}")
            if max(size) > side:
                im.thumbnail((side, side))  # decodes (a reduced draft for JPEG)
            else:
                im.load()
            buffer = io.BytesIO()
            if fmt == "JPEG":
                (im if im.mode in ("RGB", "L") else im.convert("RGB")).save(
                    buffer, format="JPEG", quality=85)
            else:
                (im if im.mode in _PNG_MODES else im.convert("RGBA")).save(buffer, format="PNG")
    except ImageProblem:
        raise
    except Exception as e:  # Pillow's decoders raise many kinds of errors on crafted bytes
        raise ImageProblem("does not decode", _short(str(e) or type(e).__name__, 120)) from None
    return buffer.getvalue(), ext, size
