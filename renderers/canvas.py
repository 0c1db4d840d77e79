"""A reusable drawing surface: one matplotlib Agg figure per process, PNG bytes out.

Why not ``plt.subplots`` + ``savefig`` per sample: figure creation, the full figure draw and the
savefig machinery cost ~13 ms a sample, several times the drawing itself. Here shapes are
matplotlib artists drawn straight onto one kept Agg renderer, and labels are *text stamps*:
each distinct (string, font, size, rotation) is rasterised once by matplotlib and cached as an
alpha mask, then blended in the label's colour wherever it is needed. Text layout and glyph
rasterisation are the dominant cost of a matplotlib figure; a geometry vocabulary of labels
("A", "5 cm", "40°") repeats constantly, so the cache hit rate is high.

The figure is square, ``size`` pixels on a side, with equal x/y scale over the data limits given
to :meth:`Canvas.begin`.
"""

from __future__ import annotations

import functools
import io
import math
import sys
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import RendererAgg  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import Affine2D, IdentityTransform  # noqa: E402
from PIL import Image  # noqa: E402

PNG_MODES = ("RGB", "L", "P")


@dataclass(frozen=True)
class TextBox:
    """A drawn label's pixel box in image coordinates (origin top-left, y down)."""

    text: str
    x0: int
    y0: int
    x1: int
    y1: int

    def overlaps(self, other: TextBox, margin: int = 0) -> bool:
        return not (
            self.x1 + margin <= other.x0
            or other.x1 + margin <= self.x0
            or self.y1 + margin <= other.y0
            or other.y1 + margin <= self.y0
        )

    def inside(self, width: int, height: int) -> bool:
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 <= width and self.y1 <= height


@dataclass(frozen=True)
class _Label:
    x: float
    y: float
    text: str
    size: float
    color: tuple[float, float, float]
    family: str
    weight: str
    style: str
    ha: str
    va: str
    rotation: float
    background: tuple[float, float, float] | None


class Canvas:
    """A kept figure that renders one scene at a time: ``begin`` → ``add``/``text`` → ``png``."""

    def __init__(self, size: int = 448, dpi: int = 100):
        self.size = size
        self.dpi = dpi
        self.figure = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
        # Data → pixel transform shared by every artist; ``begin`` updates it in place.
        self.transform = Affine2D()
        self._units_per_pixel = 1.0
        self._renderer = RendererAgg(size, size, dpi)
        self._artists: list = []
        self._labels: list[_Label] = []
        self._background = (1.0, 1.0, 1.0)
        self.text_boxes: list[TextBox] = []

    def begin(
        self,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        background: str | tuple = "white",
    ) -> None:
        """Start a new scene over the given data limits (widened so x and y share one scale)."""
        (x0, x1), (y0, y1) = xlim, ylim
        span = max(x1 - x0, y1 - y0)
        scale = self.size / span
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.transform.clear().translate(-cx, -cy).scale(scale).translate(self.size / 2, self.size / 2)
        self._units_per_pixel = 1.0 / scale
        self._artists.clear()
        self._labels.clear()
        self.text_boxes = []
        self._background = to_rgb(background)

    @property
    def units_per_pixel(self) -> float:
        return self._units_per_pixel

    def add(self, artist):
        """Queue a matplotlib artist (in data coordinates unless it has its own transform)."""
        if not artist.is_transform_set():
            artist.set_transform(self.transform)
        artist.set_figure(self.figure)
        self._artists.append(artist)
        return artist

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 12,
        color: str | tuple = "black",
        family: str = "DejaVu Sans",
        weight: str = "normal",
        style: str = "normal",
        ha: str = "center",
        va: str = "center",
        rotation: float = 0.0,
        background: str | tuple | None = None,
    ) -> None:
        """Queue a label anchored at data point (x, y); drawn above every artist."""
        self._labels.append(
            _Label(
                x, y, str(text), float(size), to_rgb(color), family, weight, style, ha, va,
                float(rotation) % 360, None if background is None else to_rgb(background),
            )
        )

    def measure(self, text: str, *, size: float = 12, family: str = "DejaVu Sans",
                weight: str = "normal", style: str = "normal", rotation: float = 0.0
                ) -> tuple[int, int]:
        """(width, height) in pixels of a label as :meth:`text` would draw it."""
        alpha, _, _ = _stamp(str(text), float(size), family, weight, style, "center", "center",
                             float(rotation) % 360, self.dpi)
        return alpha.shape[1] - 2 * _STAMP_PAD, alpha.shape[0] - 2 * _STAMP_PAD

    def pixels(self) -> np.ndarray:
        """Draw the queued scene and return the RGBA buffer as an (H, W, 4) uint8 view."""
        renderer = self._renderer
        renderer.clear()
        buffer = np.asarray(renderer.buffer_rgba())
        r, g, b = (int(round(c * 255)) for c in self._background)
        # One uint32 store per pixel: an order of magnitude faster than a strided RGB fill.
        buffer.view(np.uint32)[:] = int.from_bytes(bytes((r, g, b, 255)), sys.byteorder)
        for artist in self._artists:
            artist.draw(renderer)
        to_pixels = self.transform.transform
        for label in self._labels:
            px, py = to_pixels((label.x, label.y))
            self._blend(buffer, label, px, self.size - py)
        return buffer

    def png(self, mode: str = "RGB") -> bytes:
        """Draw the scene and encode it as PNG: ``RGB``, greyscale ``L`` or 64-colour palette ``P``.

        No metadata, no timestamps: the same scene gives the same bytes.
        """
        if mode not in PNG_MODES:
            raise ValueError(f"png mode must be one of {PNG_MODES}, got {mode!r}")
        rgba = self.pixels()
        image = Image.frombuffer("RGBA", (self.size, self.size), rgba, "raw", "RGBA", 0, 1)
        image = image.convert("L" if mode == "L" else "RGB")  # a copy: the buffer is reused
        if mode == "P":
            image = image.quantize(64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        out = io.BytesIO()
        # Z_RLE suits line art: faster than the default strategy and no larger.
        image.save(out, format="PNG", compress_level=1, compress_type=3)
        return out.getvalue()

    def _blend(self, buffer: np.ndarray, label: _Label, px: float, py_down: float) -> None:
        alpha, anchor_col, anchor_row = _stamp(
            label.text, label.size, label.family, label.weight, label.style,
            label.ha, label.va, label.rotation, self.dpi,
        )
        h, w = alpha.shape
        top, left = int(round(py_down)) - anchor_row, int(round(px)) - anchor_col
        self.text_boxes.append(TextBox(label.text, left, top, left + w, top + h))
        r0, c0 = max(top, 0), max(left, 0)
        r1, c1 = min(top + h, self.size), min(left + w, self.size)
        if r0 >= r1 or c0 >= c1:
            return
        region = buffer[r0:r1, c0:c1, :3]
        if label.background is not None:
            region[:] = np.round(np.multiply(label.background, 255)).astype(np.uint8)
        a = alpha[r0 - top : r1 - top, c0 - left : c1 - left, None]
        color = np.multiply(label.color, 255.0, dtype=np.float32)
        region[:] = (region * (1.0 - a) + color * a + 0.5).astype(np.uint8)


_STAMP_PAD = 2


@functools.lru_cache(maxsize=8192)
def _stamp(
    text: str, size: float, family: str, weight: str, style: str,
    ha: str, va: str, rotation: float, dpi: int,
) -> tuple[np.ndarray, int, int]:
    """Rasterise a label once with matplotlib: (alpha mask float32 HxW, anchor col, anchor row).

    The anchor is where the label's (ha, va) point falls inside the mask.
    """
    figure = _scratch_figure(dpi)
    props = FontProperties(family=family, weight=weight, style=style, size=size)
    artist = Text(0, 0, text, fontproperties=props, ha=ha, va=va, rotation=rotation,
                  rotation_mode="anchor", color="black", transform=IdentityTransform())
    artist.set_figure(figure)
    probe = RendererAgg(8, 8, dpi)
    box = artist.get_window_extent(renderer=probe)
    w = max(1, math.ceil(box.x1) - math.floor(box.x0) + 2 * _STAMP_PAD)
    h = max(1, math.ceil(box.y1) - math.floor(box.y0) + 2 * _STAMP_PAD)
    ax_ = _STAMP_PAD - math.floor(box.x0)  # anchor position, pixels from the left
    ay_ = _STAMP_PAD - math.floor(box.y0)  # anchor position, pixels from the bottom
    renderer = RendererAgg(w, h, dpi)
    artist.set_position((ax_, ay_))
    artist.draw(renderer)
    alpha = np.asarray(renderer.buffer_rgba())[..., 3].astype(np.float32) / 255.0
    alpha.setflags(write=False)
    return alpha, ax_, h - ay_


@functools.lru_cache(maxsize=None)
def _scratch_figure(dpi: int) -> Figure:
    return Figure(dpi=dpi)
