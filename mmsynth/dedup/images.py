"""Image fingerprints for duplicate search: what makes two pictures "the same" after re-encoding,
resizing, a small crop or a brightness change, and not the same when one label differs.

Two steps, because one hash cannot do both on renders (measured on 10,000 geometry renders: with
a 64-bit pHash of the whole picture, 64 distinct scenes share a hash with another and a 2% crop
moves a hash by up to 16 bits):

1. **The frame.** A render is line art on a plain background, so a crop that eats the margin and
   a resize both change only where the drawing sits. Each picture is looked at in its own
   frame: the drawing's ink (how far each pixel is from the background colour) is summed along
   each axis, and the frame runs from where the first :data:`EDGE_MASS` of the ink lies to where
   the last does, in sub-pixel steps. Unlike the first inked pixel (tried first: off by one
   pixel after JPEG ringing, which moved whole frames), these hardly move under re-encoding or a
   brightness change. A photo (no plain border) is framed whole.
2. **A 256-bit pHash of the frame** (imagehash, 16×16 DCT bits) finds candidate pairs cheaply;
   each candidate is then **compared pixel by pixel** (:func:`difference`): both frames at
   :data:`THUMB` px, colours divided by their own brightest grey (brightness cancels), the largest
   mean difference over 8×8 blocks, with a one-pixel shift search. A relabelled point, another
   number or a different colour is a block that differs; re-encoding noise is spread thin.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

HASH_SIZE = 16  # pHash bits per side: 256 bits
HASH_WORDS = HASH_SIZE * HASH_SIZE // 64
THUMB = 192  # side of the compared frame, px
BLOCK = 8  # compared block, px
BLUR = 1.0  # Gaussian radius applied to the frame, px at THUMB
SHIFT = 1  # shift search, ± px at THUMB
SHIFT_MARGIN = 0.1  # shifts tried when no shift misses the limit by at most this
CROPS = (0.01, 0.02, 0.03)  # crops tried for pictures framed whole (share of each side)
_SPLITS = (0.0, 0.25, 0.5, 0.75, 1.0)  # how a tried crop is split between the two sides
COARSE = THUMB // BLOCK  # side of the coarse grey frame kept for every sample
PLAIN_BORDER = 0.9  # share of border pixels near the median grey for a "plain" background
_NEAR = 16  # grey levels: a border pixel this near the median is background
_FAINT = 24  # grey levels: ink fainter than this is noise (JPEG ringing, flat-area noise)
EDGE_MASS = 0.0005  # share of the ink left outside the frame on each side


@dataclass(frozen=True)
class Framed:
    """A picture in its frame: the RGB frame at THUMB px, its colours divided by the picture's
    brightest grey (0–1)."""

    pixels: np.ndarray  # float32, THUMB × THUMB × 3
    whole: bool = False  # framed whole: a picture without a plain background (a photo)

    def coarse(self) -> np.ndarray:
        """The frame in grey at one pixel per BLOCK × BLOCK block (uint8, COARSE × COARSE): a
        block's grey is a mean of its pixels, so two frames' largest coarse difference is at
        most their :func:`difference` at no shift (a cheap test that spares most candidate
        pairs the full comparison)."""
        grey = self.pixels.mean(axis=2)
        blocks = grey.reshape(COARSE, BLOCK, COARSE, BLOCK).mean(axis=(1, 3))
        return np.clip(np.rint(blocks * 255), 0, 255).astype(np.uint8)

    def phash(self) -> np.ndarray:
        """The frame's 256-bit pHash as HASH_WORDS uint64 words."""
        import imagehash
        from PIL import Image

        grey = Image.fromarray(np.clip(self.pixels.mean(axis=2) * 255, 0, 255).astype(np.uint8))
        if self.whole:
            # A picture framed whole (a photo) is hashed by its 8 × 8 lowest frequencies, four
            # times over: a 2% crop shifts a photo's content, which flips many of the 16 × 16
            # (a copy of a shipped photo moved 44 of 256 bits, 8 of these 64 ×4 = 32).
            bits = np.tile(imagehash.phash(grey, hash_size=8).hash.reshape(-1), 4)
        else:
            bits = imagehash.phash(grey, hash_size=HASH_SIZE).hash.reshape(-1)
        return np.packbits(bits).view(np.uint64).copy()


def open_image(data: bytes):
    """The image bytes as an RGB PIL image (ValueError for bytes that are not an image)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"not a readable image ({type(e).__name__}: {e})") from None
    return image.convert("RGB")


def frame(image) -> Framed:
    """The picture in its frame (module docstring); ``image`` is an RGB PIL image."""
    from PIL import Image, ImageFilter

    rgb = np.asarray(image, dtype=np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background_grey = float(np.median(border))
    # Brightness: one scale for the whole picture, its brightest grey (a percentile, so a few
    # hot pixels do not set it). A brightened or darkened copy scales by the same factor; a
    # light or a dark theme alike (dividing by the background would white out a dark one).
    level = max(float(np.percentile(grey, 99.5)), 1.0)
    height, width = grey.shape
    box = (0.0, 0.0, float(width), float(height))
    whole = True
    # A picture on a plain background (most of its border one colour: renders) is framed by its
    # ink; any other (a photo) is framed whole, since its "ink" is relative to a border that a
    # crop changes (framing photos by ink moved a cropped photo's frame by half the picture).
    plain = np.mean(np.abs(border - background_grey) <= _NEAR) >= PLAIN_BORDER
    ink = np.abs(grey - background_grey)
    ink[ink < _FAINT] = 0.0
    total = float(ink.sum())
    if plain and total > 0:
        x0, x1 = _mass_bounds(ink.sum(axis=0) / total)
        y0, y1 = _mass_bounds(ink.sum(axis=1) / total)
        box = (x0, y0, x1, y1)
        # "Whole" is a property of the kind of picture, never of how far its ink reaches: a
        # flag that flipped between a render and its cropped copy would hash them differently.
        whole = False
    scaled = np.clip(rgb / level * 255.0, 0, 255).astype(np.uint8)
    thumb = Image.fromarray(scaled).resize((THUMB, THUMB), Image.BOX, box=box)
    # Blurred a little before any comparison: JPEG's ringing around text and edges is a fine
    # oscillation that a blur averages away, while a changed label or number moves ink that a
    # small blur keeps. Measured on 10,000 geometry and 10,000 chart renders with 800 planted
    # copies each, at the threshold that keeps 98% of the copies: no blur, 5 false pairs on
    # geometry and 20 copies lost on charts (text ringing); radius 2, hundreds of false pairs on
    # geometry (thin lines and small labels blur into each other); radius 1, 2 and 0.
    thumb = thumb.filter(ImageFilter.GaussianBlur(BLUR))
    return Framed(np.asarray(thumb, dtype=np.float32) / 255.0, whole)


def _mass_bounds(mass: np.ndarray) -> tuple[float, float]:
    """Where the first and last EDGE_MASS of the ink lie along one axis, in sub-pixel
    coordinates: unlike the first inked pixel, these hardly move when an edge pixel's
    anti-aliasing crosses a threshold after JPEG or a brightness change."""
    cumulative = np.concatenate([[0.0], np.cumsum(mass)])
    edges = np.arange(len(cumulative), dtype=np.float64)
    low = float(np.interp(EDGE_MASS, cumulative, edges))
    high = float(np.interp(1.0 - EDGE_MASS, cumulative, edges))
    return low, max(high, low + 1.0)


def _block_difference(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    size = a.shape[0]
    blocks = size // BLOCK
    pa = a[max(0, dy):size + min(0, dy), max(0, dx):size + min(0, dx)]
    pb = b[max(0, -dy):size + min(0, -dy), max(0, -dx):size + min(0, -dx)]
    diff = np.abs(pa - pb).max(axis=2)
    if dy or dx:  # put the overlap back on the full grid (the strip it lost counts as no change)
        diff = np.pad(diff, ((max(0, dy), max(0, -dy)), (max(0, dx), max(0, -dx))))
    return float(diff.reshape(blocks, BLOCK, blocks, BLOCK).mean(axis=(1, 3)).max())


def difference(a: Framed, b: Framed, limit: float | None = None) -> float:
    """How different two framed pictures look: the largest mean absolute difference (0–1, the
    largest of the three colours) over BLOCK × BLOCK blocks, at the best of the shifts up to
    ± SHIFT px. 0 for the same picture; re-encoded, resized, cropped or brightened copies of a
    render stay under :data:`mmsynth.dedup.find.IMAGE_DIFFERENCE`.

    With ``limit`` (the caller's threshold), the shifts are tried only when the unshifted
    difference is above it by at most SHIFT_MARGIN (on 800 planted copies of renders, the
    shifts found one more than no shift, and none from further away), and a value above the
    limit may be the unshifted one: all a yes/no needs, in a fraction of the time."""
    d0 = _block_difference(a.pixels, b.pixels, 0, 0)
    if limit is not None and d0 <= limit:
        return d0
    best = d0
    if limit is None or d0 <= limit + SHIFT_MARGIN:
        best = min([d0] + [_block_difference(a.pixels, b.pixels, dy, dx)
                           for dy in range(-SHIFT, SHIFT + 1) for dx in range(-SHIFT, SHIFT + 1)
                           if dy or dx])
    if (a.whole or b.whole) and (limit is None or best > limit):
        best = min(best, _registered(a, b), _registered(b, a))
    return best


def _registered(a: Framed, b: Framed) -> float:
    """The best block difference between ``b`` and a crop of ``a`` (up to CROPS of each side,
    anywhere), for pictures framed whole: a photo's frame is the photo, so a cropped copy's
    frame is a slightly zoomed, shifted view of the original's."""
    from PIL import Image

    size = a.pixels.shape[0]
    source = Image.fromarray(np.clip(np.rint(a.pixels * 255), 0, 255).astype(np.uint8))
    best = float("inf")
    for crop in CROPS:
        cut = crop * size
        for fx in _SPLITS:
            for fy in _SPLITS:
                box = (fx * cut, fy * cut, size - (1 - fx) * cut, size - (1 - fy) * cut)
                view = np.asarray(source.resize((size, size), Image.BILINEAR, box=box),
                                  dtype=np.float32) / 255.0
                best = min(best, _block_difference(view, b.pixels, 0, 0))
    return best


@dataclass(frozen=True)
class ImagePrint:
    """What the pass keeps of one image: its bytes' sha256, its frame's pHash and coarse grey
    frame (HASH_WORDS × 8 + COARSE² bytes: 608), and whether it is framed whole."""

    sha256: str
    phash: np.ndarray  # HASH_WORDS uint64
    coarse: np.ndarray  # COARSE × COARSE uint8
    whole: bool = False


def fingerprint(data: bytes) -> ImagePrint:
    """The image's :class:`ImagePrint` (ValueError for bytes that are not an image)."""
    framed = frame(open_image(data))
    return ImagePrint(hashlib.sha256(data).hexdigest(), framed.phash(), framed.coarse(),
                      framed.whole)


def coarse_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The largest coarse-grey difference (0–1) of rows of coarse frames, pair by pair."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return d.reshape(len(d), -1).max(axis=1) / 255.0


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between rows of packed hashes (broadcasting, last axis the words)."""
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1)
