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
import math
import sys
from dataclasses import dataclass
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.transforms import Affine2D, Bbox, IdentityTransform
from PIL import Image

from renderers.png import encode_png

PNG_MODES = ("RGBA", "RGB", "L")


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
class Region:
    """A drawn element that region questions may ask about, in image pixels (origin top-left,
    y down). ``box``: the element's extent, stroke included; ``point``: a point on it (a named
    point itself, or one inside a shape). ``answer``: what "which {noun} is at this point?" is
    answered with (None: not asked that way)."""

    name: str  # how a question names it: "triangle ABC", "point A", "the bar of Apples"
    kind: str  # "shape" | "point"
    point: tuple[float, float]
    box: tuple[float, float, float, float] | None = None
    answer: str | None = None
    noun: str | None = None

    def to_json(self) -> dict:
        out: dict = {"label": self.name, "kind": self.kind,
                     "point": [round(v, 2) for v in self.point]}
        if self.box is not None:
            out["box"] = [round(v, 2) for v in self.box]
        if self.answer is not None:
            out.update(answer=self.answer, noun=self.noun)
        return out


@dataclass(frozen=True)
class _Tag:
    region: str
    kind: str
    artist: object
    path: int | None  # which path of a collection; None: the whole artist
    point: tuple[float, float] | None  # data coordinates (a point region)
    answer: str | None
    noun: str | None


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


# The font families the styles draw with (renderers.style, renderers.charts.style); all ship
# with matplotlib.
REQUIRED_FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", "STIXGeneral")


def _missing_fonts() -> list[str]:
    from matplotlib import font_manager

    missing = []
    for family in REQUIRED_FONTS:
        try:
            font_manager.findfont(font_manager.FontProperties(family=family),
                                  fallback_to_default=False)
        except ValueError:
            missing.append(family)
    return missing


@functools.lru_cache(maxsize=1)
def ensure_fonts() -> None:
    """Make sure every style's font resolves, once per process. matplotlib's font cache is
    shared by every install of the same version on the machine: one written by an environment
    since deleted lists fonts that are gone, and matplotlib then draws with a fallback font,
    silently changing every picture (and the same seed's bytes). Rebuild the cache then; raise
    if a font is still missing."""
    if not _missing_fonts():
        return
    from matplotlib import font_manager

    # In place: the text renderers hold the module's font manager, not the module attribute.
    rebuilt = font_manager._load_fontmanager(try_read_cache=False)
    font_manager.fontManager.__dict__.update(rebuilt.__dict__)
    for cached in (getattr(font_manager.FontManager, "_findfont_cached", None),
                   getattr(font_manager, "_get_font", None)):
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()
    still = _missing_fonts()
    if still:
        raise RuntimeError(f"matplotlib finds no {', '.join(still)} font even after rebuilding "
                           "its font cache; reinstall matplotlib")


class Canvas:
    """A kept figure that renders one scene at a time: ``begin`` → ``add``/``text`` → ``png``."""

    def __init__(self, size: int = 448, dpi: int = 100):
        ensure_fonts()
        self.size = size
        self.dpi = dpi
        self.figure = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
        # Data → pixel transform shared by every artist; ``begin`` updates it in place.
        self.transform = Affine2D()
        self._units_per_pixel = 1.0
        self._renderer = RendererAgg(size, size, dpi)
        self._artists: list = []
        self._labels: list[_Label] = []
        # Pixels kept free on each side (left, top, right, bottom) around the data limits; a
        # renderer grows them when labels placed outside its shapes would leave the image.
        self.insets = [0, 0, 0, 0]
        self._background = (1.0, 1.0, 1.0)
        self.text_boxes: list[TextBox] = []
        # Elements tagged for region questions (tag_shape / tag_point), and the one region to
        # draw alone (tests check a region's box against its own pixels this way).
        self._tags: list[_Tag] = []
        self.solo: str | None = None

    def begin(
        self,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        background: str | tuple = "white",
    ) -> None:
        """Start a new scene over the given data limits (widened so x and y share one scale),
        centred in the image less ``self.insets`` (see :meth:`overflow`)."""
        (x0, x1), (y0, y1) = xlim, ylim
        span = max(x1 - x0, y1 - y0)
        left, top, right, bottom = self.insets
        inner_w, inner_h = self.size - left - right, self.size - top - bottom
        scale = min(inner_w, inner_h) / span
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.transform.clear().translate(-cx, -cy).scale(scale).translate(
            left + inner_w / 2, bottom + inner_h / 2)
        self._units_per_pixel = 1.0 / scale
        self._artists.clear()
        self._labels.clear()
        self._tags = []
        self.text_boxes = []
        self._background = to_rgb(background)

    @property
    def is_empty(self) -> bool:
        """Nothing queued since ``begin``: a picture of it would be blank."""
        return not self._artists and not self._labels

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

    def tag_shape(self, artist, name: str, *, path: int | None = None,
                  answer: str | None = None, noun: str | None = None, point=None,
                  boxed: bool = True) -> None:
        """Mark a queued artist (or path ``path`` of a collection) as the shape ``name``;
        ``point``: a data point inside it (default: the mean of its corners, which is inside a
        convex shape). ``answer``/``noun``: see :class:`Region`. ``boxed=False``: no box is
        given (a pie slice, whose paper-coloured outline eats its tip by an amount the path
        does not say)."""
        at = None if point is None else (float(point[0]), float(point[1]))
        self._tags.append(_Tag(name, "shape" if boxed else "area", artist, path, at, answer,
                               noun))

    def tag_point(self, name: str, xy, on) -> None:
        """Mark data point ``xy`` as the point ``name``; it lies on the queued artist ``on``."""
        self._tags.append(_Tag(name, "point", on, None, (float(xy[0]), float(xy[1])), None,
                               None))

    def regions(self) -> list[Region]:
        """The tagged elements of the scene as drawn last, in pixels of the image."""
        out = []
        for tag in self._tags:
            if tag.kind == "point":
                x, y = self.transform.transform(tag.point)
                out.append(Region(tag.region, "point", (float(x), float(self.size - y))))
                continue
            path, transform, width = _path_of(tag.artist, tag.path)
            # In image pixels (y down), where Agg draws: it snaps a rectilinear path's corners
            # to pixel centres there (the artist's snap setting: auto by default).
            to_image = transform + Affine2D().scale(1, -1).translate(0, self.size)
            corners = to_image.transform(path.vertices)
            stroke = width * self.dpi / 72
            # Agg clips an unfilled path to the image first, which closes it with an explicit
            # segment: a right triangle's hypotenuse then keeps it from being snapped.
            snapped = path.cleaned(to_image, snap=tag.artist.get_snap(), stroke_width=stroke,
                                   clip=None if _filled(tag.artist, tag.path)
                                   else (0.0, 0.0, float(self.size), float(self.size)))
            drawn = snapped.vertices[~np.isin(snapped.codes, (snapped.STOP, snapped.CLOSEPOLY))]
            extent = Bbox.null()
            extent.update_from_data_xy(drawn)
            half = stroke / 2
            x0, x1 = extent.x0 - half, extent.x1 + half
            y0, y1 = extent.y0 - half, extent.y1 + half
            box = (max(0.0, float(x0)), max(0.0, float(y0)),
                   min(float(self.size), float(x1)), min(float(self.size), float(y1)))
            if tag.kind == "area":
                box = None
            # A point inside the shape: the mean of its distinct corners (the shapes tagged are
            # convex: triangles, polygons, bars, circles).
            if tag.point is not None:
                cx, cy = to_image.transform(tag.point)
            else:
                distinct = np.unique(np.round(corners, 6), axis=0)
                cx, cy = distinct.mean(axis=0)
            out.append(Region(tag.region, "shape", (float(cx), float(cy)), box,
                              tag.answer, tag.noun))
        return out

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
        label = _Label(0.0, 0.0, str(text), float(size), (0.0, 0.0, 0.0), family, weight, style,
                       "center", "center", float(rotation) % 360, None)
        _, box = _layout(label, 0.0, 0.0, self.dpi)
        return box.x1 - box.x0, box.y1 - box.y0

    def overflow(self, margin: int = 4) -> list[int]:
        """Pixels by which the queued labels come closer than ``margin`` to each image edge:
        [left, top, right, bottom], all 0 when every label fits."""
        to_pixels = self.transform.transform
        over = [0, 0, 0, 0]
        for label in self._labels:
            px, py = to_pixels((label.x, label.y))
            _, box = _layout(label, px, self.size - py, self.dpi)
            for side, amount in enumerate((margin - box.x0, margin - box.y0,
                                           box.x1 - self.size + margin,
                                           box.y1 - self.size + margin)):
                over[side] = max(over[side], int(math.ceil(amount)))
        return over

    def pixels(self) -> np.ndarray:
        """Draw the queued scene and return the RGBA buffer as an (H, W, 4) uint8 view."""
        renderer = self._renderer
        renderer.clear()
        buffer = np.asarray(renderer.buffer_rgba())
        r, g, b = (int(round(c * 255)) for c in self._background)
        # One uint32 store per pixel: an order of magnitude faster than a strided RGB fill.
        buffer.view(np.uint32)[:] = int.from_bytes(bytes((r, g, b, 255)), sys.byteorder)
        if self.solo is not None:
            for tag in self._tags:
                if tag.region == self.solo:
                    _solo_artist(tag.artist, tag.path).draw(renderer)
            return buffer
        for artist in self._artists:
            artist.draw(renderer)
        to_pixels = self.transform.transform
        for label in self._labels:
            px, py = to_pixels((label.x, label.y))
            self._blend(buffer, label, px, self.size - py)
        return buffer

    def png(self, mode: str = "RGB") -> bytes:
        """Draw the scene and encode it as PNG: ``RGB``, greyscale ``L`` or ``RGBA``.

        No metadata, no timestamps: the same scene gives the same bytes.
        """
        if mode not in PNG_MODES:
            raise ValueError(f"png mode must be one of {PNG_MODES}, got {mode!r}")
        rgba = self.pixels()
        if mode == "RGBA":
            return encode_png(rgba)
        # Pillow drops alpha (or mixes grey) several times faster than a strided numpy copy.
        image = Image.frombuffer("RGBA", (self.size, self.size), rgba, "raw", "RGBA", 0, 1)
        return encode_png(np.asarray(image.convert(mode)))

    def _blend(self, buffer: np.ndarray, label: _Label, px: float, py_down: float) -> None:
        pieces, box = _layout(label, px, py_down, self.dpi)
        self.text_boxes.append(box)
        color = np.multiply(label.color, 255.0, dtype=np.float32)
        if label.background is not None:
            r0, c0 = max(box.y0, 0), max(box.x0, 0)
            buffer[r0:max(box.y1, r0), c0:max(box.x1, c0), :3] = np.round(
                np.multiply(label.background, 255)).astype(np.uint8)
        for alpha, top, left in pieces:
            h, w = alpha.shape
            r0, c0 = max(top, 0), max(left, 0)
            r1, c1 = min(top + h, self.size), min(left + w, self.size)
            if r0 >= r1 or c0 >= c1:
                continue
            region = buffer[r0:r1, c0:c1, :3]
            a = alpha[r0 - top : r1 - top, c0 - left : c1 - left, None] * np.float32(1 / 255)
            region[:] = (region * (1.0 - a) + color * a + 0.5).astype(np.uint8)


def _path_of(artist, index: int | None):
    """(path, transform to display pixels, stroke width in points) of a tagged artist."""
    if index is None:
        stroked = artist.get_edgecolor()[3] > 0 if hasattr(artist, "get_edgecolor") else True
        return (artist.get_path(), artist.get_transform(),
                artist.get_linewidth() if stroked else 0.0)
    widths = artist.get_linewidths()
    edges = artist.get_edgecolors()
    width = float(widths[index % len(widths)]) if len(widths) else 0.0
    if len(edges) and edges[index % len(edges)][3] == 0:
        width = 0.0
    return artist.get_paths()[index], artist.get_transform(), width


def _filled(artist, index: int | None) -> bool:
    faces = artist.get_facecolors() if index is not None else [artist.get_facecolor()]
    if index is not None and len(faces):
        faces = [faces[index % len(faces)]]
    return any(len(f) == 4 and f[3] > 0 for f in faces) if len(faces) else False


def _solo_artist(artist, index: int | None):
    """The artist to draw for a region alone: itself, or one path of a collection."""
    if index is None:
        return artist
    from matplotlib.collections import PathCollection

    def pick(values):
        return [values[index % len(values)]] if len(values) else values

    solo = PathCollection([artist.get_paths()[index]], facecolors=pick(artist.get_facecolors()),
                          edgecolors=pick(artist.get_edgecolors()),
                          linewidths=pick(artist.get_linewidths()),
                          antialiaseds=pick(artist.get_antialiased()),
                          transform=artist.get_transform())
    solo.set_figure(artist.get_figure())
    return solo


# Text is drawn from cached stamps. A one-line, unrotated label is laid out word by word (the
# vocabulary of words — numbers, units, names — is small, so nearly every word is a cache hit);
# anything else is stamped whole. Word layout follows matplotlib's: words advance by their layout
# width plus the font's space, and the line box has the height and descent of "lp".

_STAMP_PAD = 2


class _Stamp(NamedTuple):
    alpha: np.ndarray  # uint8 coverage, H x W
    col: int  # anchor position in the mask, pixels from the left
    row: int  # anchor position in the mask, pixels from the top
    width: float  # layout box of the text, pixels
    height: float
    descent: float


@functools.lru_cache(maxsize=256)
def _props(size: float, family: str, weight: str, style: str) -> FontProperties:
    return FontProperties(family=family, weight=weight, style=style, size=size)


@functools.lru_cache(maxsize=8)
def _probe(dpi: int) -> RendererAgg:
    return RendererAgg(8, 8, dpi)


@functools.lru_cache(maxsize=32768)
def _word(text: str, size: float, family: str, weight: str, style: str, dpi: int) -> _Stamp:
    """One word rasterised by matplotlib's Agg text renderer, anchored at its baseline-left.

    Drawn once into a generous scratch buffer and cropped to its ink, which spares a second
    text layout for measuring; ``width`` runs from the origin to the ink's right edge, and
    ``height``/``descent`` are the ink's extent above and below the baseline.
    """
    em = size * dpi / 72
    renderer = _scratch_renderer(64 * math.ceil((em * (len(text) + 2) + 16) / 64),
                                 8 * math.ceil(em * 2.6 / 8) + 16, dpi)
    renderer.clear()
    origin, baseline = 8, 8 + math.ceil(em * 1.6)  # from the left and the top
    gc = renderer.new_gc()
    gc.set_foreground("black")
    renderer.draw_text(gc, origin, baseline, text, _props(size, family, weight, style), 0.0)
    gc.restore()
    coverage = np.asarray(renderer.buffer_rgba())[..., 3]
    cols = np.flatnonzero(coverage.any(axis=0))
    rows = np.flatnonzero(coverage.any(axis=1))
    if cols.size == 0:  # nothing visible (a space, an unknown glyph)
        return _Stamp(np.zeros((1, 1), np.uint8), 0, 0, 0.0, 0.0, 0.0)
    c0, c1, r0, r1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    alpha = coverage[r0:r1, c0:c1].copy()
    alpha.setflags(write=False)
    return _Stamp(alpha, origin - c0, baseline - r0, float(c1 - origin), float(r1 - r0),
                  float(r1 - baseline))


@functools.lru_cache(maxsize=64)
def _scratch_renderer(width: int, height: int, dpi: int) -> RendererAgg:
    return RendererAgg(width, height, dpi)


@functools.lru_cache(maxsize=4096)
def _stamp(text: str, size: float, family: str, weight: str, style: str,
           ha: str, va: str, rotation: float, dpi: int) -> _Stamp:
    """A whole label (rotated or multi-line) drawn by a matplotlib Text at its (ha, va) point."""
    artist = Text(0, 0, text, fontproperties=_props(size, family, weight, style), ha=ha, va=va,
                  rotation=rotation, rotation_mode="anchor", color="black",
                  transform=IdentityTransform())
    artist.set_figure(_scratch_figure(dpi))
    box = artist.get_window_extent(renderer=_probe(dpi))
    w = max(1, math.ceil(box.x1) - math.floor(box.x0) + 2 * _STAMP_PAD)
    h = max(1, math.ceil(box.y1) - math.floor(box.y0) + 2 * _STAMP_PAD)
    col = _STAMP_PAD - math.floor(box.x0)
    row_up = _STAMP_PAD - math.floor(box.y0)  # from the bottom, as matplotlib counts
    renderer = RendererAgg(w, h, dpi)
    artist.set_position((col, row_up))
    artist.draw(renderer)
    alpha = np.array(np.asarray(renderer.buffer_rgba())[..., 3])
    alpha.setflags(write=False)
    return _Stamp(alpha, col, h - row_up, box.width, box.height, 0.0)


@functools.lru_cache(maxsize=1024)
def _font_metrics(size: float, family: str, weight: str, style: str, dpi: int
                  ) -> tuple[float, float, float]:
    """(line height, descent, space advance) of a font, in pixels."""
    lp = _word("lp", size, family, weight, style, dpi)
    x = _word("x", size, family, weight, style, dpi).width
    xx = _word("x x", size, family, weight, style, dpi).width
    return lp.height, lp.descent, xx - 2 * x


_HA = {"left": 0.0, "center": 0.5, "right": 1.0}


@functools.lru_cache(maxsize=32768)
def _line(text: str, size: float, family: str, weight: str, style: str, dpi: int
          ) -> tuple[tuple[tuple[np.ndarray, float, int, int], ...], float, float, float]:
    """A one-line label's word stamps: ((alpha, x offset, col, row), ...), width, height,
    descent. Cached, so placing a known label is a few additions."""
    height, descent, space = _font_metrics(size, family, weight, style, dpi)
    parts = []
    x = 0.0
    for word in text.split(" "):
        if word:
            st = _word(word, size, family, weight, style, dpi)
            parts.append((st.alpha, x, st.col, st.row))
            x += st.width
        x += space
    return tuple(parts), x - space, height, descent


def _layout(label: _Label, px: float, py_down: float, dpi: int
            ) -> tuple[list[tuple[np.ndarray, int, int]], TextBox]:
    """Where each stamp of a label goes: [(alpha, top, left)] and the label's pixel box."""
    font = (label.size, label.family, label.weight, label.style)
    if label.rotation or "\n" in label.text:
        st = _stamp(label.text, *font, label.ha, label.va, label.rotation, dpi)
        top, left = int(round(py_down)) - st.row, int(round(px)) - st.col
        h, w = st.alpha.shape
        box = TextBox(label.text, left + _STAMP_PAD, top + _STAMP_PAD,
                      left + w - _STAMP_PAD, top + h - _STAMP_PAD)
        return [(st.alpha, top, left)], box
    parts, width, height, descent = _line(label.text, *font, dpi)
    x0 = px - width * _HA[label.ha]
    # Baseline in image rows (y down) from the anchor and the line box.
    baseline = py_down + {"baseline": 0.0, "bottom": -descent, "top": height - descent,
                          "center": height / 2 - descent, "center_baseline": 0.0}[label.va]
    row = int(round(baseline))
    pieces = [(alpha, row - r, int(round(x0 + dx)) - c) for alpha, dx, c, r in parts]
    left = int(round(x0))
    top = int(round(baseline - (height - descent)))
    return pieces, TextBox(label.text, left, top, left + int(math.ceil(width)),
                           top + int(math.ceil(height)))


@functools.cache
def _scratch_figure(dpi: int) -> Figure:
    return Figure(dpi=dpi)
