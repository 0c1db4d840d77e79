"""COCO image files decoded defensively: ``load_image`` returns RGB pixels and the JPEG a shard
stores, or raises an ``ImageError`` whose class name is the counted reason. Re-exported by
``mmsynth.sources.coco_data``.

``load_image`` refuses, each with its own ``ImageError``, a file whose decoded width or height
is under ``min_side`` (``ImageTooSmall``) and, given the images folder as ``root``, a file whose
real path leaves it through a symbolic link (``SymlinkOutsideImages``; file names that climb out
with ``..`` never get this far: they are ``image_bad_file_name``).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


class ImageError(Exception):
    """An image file that cannot be used. The class name is the counted reason
    (``image_error:ImageCorrupt``); the message says what was wrong with which file."""

    @property
    def reason(self) -> str:
        return type(self).__name__


class ImageMissing(ImageError):
    """No file at the path (or a directory there)."""


class ImageUnreadable(ImageError):
    """The file exists but cannot be read (permissions, I/O error)."""


class ImageCorrupt(ImageError):
    """Empty, truncated, or not an image Pillow can decode."""


class ImageTooLarge(ImageError):
    """More pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` (a decompression-bomb guard)."""


class ImageSizeMismatch(ImageError):
    """The decoded size is not the annotation's width × height, so its boxes would be wrong."""


class ImageTooSmall(ImageError):
    """Narrower or shorter than the smallest side asked for (``--min_image_side``)."""


class SymlinkOutsideImages(ImageError):
    """A symbolic link (the file or a folder on its path) that leads out of the images folder
    (allowed with ``--follow_symlinks true``)."""


class LoadedImage(NamedTuple):
    image: Any  # PIL.Image.Image, mode RGB, fully decoded
    jpeg: bytes  # what a shard stores (see load_image)
    original: bool  # whether ``jpeg`` is the file's own bytes


JPEG_QUALITY = 95  # for files that are re-encoded
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def load_image(path: str | Path, expected_size: tuple[int, int] | None = None,
               quality: int = JPEG_QUALITY, min_side: int = 0,
               root: str | Path | None = None) -> LoadedImage:
    """Decode an image file to RGB, and choose the JPEG bytes a shard stores.

    A plain JPEG (RGB or greyscale, no EXIF rotation) is stored as the file's own bytes: no loss
    and no encoding time. Anything else (PNG, CMYK, palette, alpha, 16-bit, rotated, ...) is
    converted to RGB (alpha composited on white, 16-bit scaled to 8-bit) and stored as a new
    JPEG of ``quality``. Pixels stay in the file's stored orientation, the frame COCO boxes are
    drawn in. ``min_side`` > 0 refuses an image whose decoded width or height is smaller;
    ``root`` (the images folder) refuses a path whose real location, symbolic links followed,
    is outside it. Raises an ``ImageError`` subclass whose name is the reason.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    source = path
    if root is not None:
        real_root = Path(root).resolve()
        source = path.resolve()
        if not source.is_relative_to(real_root):
            raise SymlinkOutsideImages(
                f"{path}: a symbolic link out of the images folder {real_root} (to {source}); "
                "such files are skipped unless --follow_symlinks true")
    try:
        data = source.read_bytes()  # the checked real path, not the link again
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise ImageMissing(f"{path}: no such image file") from None
    except OSError as e:
        raise ImageUnreadable(f"{path}: {e.strerror or e}") from None
    if not data:
        raise ImageCorrupt(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"{path}: {e}") from None
    except UnidentifiedImageError:
        raise ImageCorrupt(f"{path}: not an image file Pillow can read") from None
    except MemoryError:
        raise ImageTooLarge(f"{path}: out of memory decoding it") from None
    except Exception as e:  # truncated or malformed data: Pillow raises many types
        raise ImageCorrupt(f"{path}: {type(e).__name__}: {e}") from None
    if min_side and min(image.size) < min_side:
        raise ImageTooSmall(f"{path}: {image.width}x{image.height}, smaller than "
                            f"--min_image_side {min_side} px")
    if expected_size is not None and image.size != tuple(expected_size):
        raise ImageSizeMismatch(f"{path}: the file is {image.width}x{image.height}, the "
                                f"annotations say {expected_size[0]}x{expected_size[1]}")
    orientation = image.getexif().get(0x0112, 1) if image.format == "JPEG" else 1
    keep = image.format == "JPEG" and image.mode in ("RGB", "L") and orientation in (0, 1)
    rgb = _to_rgb(image)
    if keep:
        return LoadedImage(rgb, data, True)
    icc = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA", "RGBX") else None
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=quality, icc_profile=icc)
    return LoadedImage(rgb, buffer.getvalue(), False)


def _to_rgb(image: Any) -> Any:
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16"):
            values = values / 257.0
        elif mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        elif values.size and np.nanmax(values) > 255:
            values = np.clip(values, 0, 65535) / 257.0
        grey = np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")
