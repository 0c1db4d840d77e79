"""Drawing helpers shared by the geometry families: fitting, labels, angle marks.

All coordinates are in the scene's units; sizes meant in pixels are converted with
``canvas.units_per_pixel`` so marks look the same whatever the figure's scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Arc, Polygon

from renderers.canvas import Canvas

Point = Sequence[float]

POINT_NAMES = ("ABC", "PQR", "XYZ", "DEF", "KLM", "RST", "UVW", "GHI")


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (N, 2) points about the origin, counter-clockwise."""
    t = math.radians(degrees)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return np.asarray(points, dtype=float) @ rot.T


def begin_fitted(canvas: Canvas, points: np.ndarray, margin: float, paper: str) -> None:
    """Start a scene whose limits hold ``points`` with ``margin`` (fraction of the span) around."""
    pts = np.asarray(points, dtype=float)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = float(max(hi - lo))
    pad = span * margin
    canvas.begin((lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad), background=paper)


def polygon(canvas: Canvas, points: np.ndarray, style: dict, fill: bool = True) -> Polygon:
    face = style["fill"] if (fill and style.get("fill")) else "none"
    return canvas.add(Polygon(np.asarray(points), closed=True, facecolor=face,
                              edgecolor=style["ink"], linewidth=style["line_width"],
                              joinstyle="round"))


def tag_figure(canvas: Canvas, artist, word: str, points: np.ndarray,
               names: Sequence[str] | None) -> None:
    """Mark a drawn shape for region questions: the shape as "triangle ABC" (or "the
    pentagon" when its vertices are unnamed) and each named vertex as "point A" on it."""
    called = f"{word} {''.join(names)}" if names else f"the {word}"
    canvas.tag_shape(artist, called)
    for p, n in zip(points, names or (), strict=False):
        canvas.tag_point(f"point {n}", p, on=artist)


def segment(canvas: Canvas, p: Point, q: Point, color: str, width: float,
            dashed: bool = False) -> Line2D:
    return canvas.add(Line2D([p[0], q[0]], [p[1], q[1]], color=color, linewidth=width,
                      linestyle=(0, (5, 4)) if dashed else "-", solid_capstyle="round"))


def _font(style: dict, size_delta: int = 0, italic: bool = False, bold: bool | None = None) -> dict:
    return {"size": style["font_size"] + size_delta, "family": style["font"],
            "style": "italic" if italic else "normal",
            "weight": "bold" if (style["bold_labels"] if bold is None else bold) else "normal"}


def label(canvas: Canvas, x: float, y: float, text: str, style: dict, *, color: str | None = None,
          size_delta: int = 0, italic: bool = False, bold: bool | None = None) -> None:
    canvas.text(x, y, text, color=color or style["ink"], **_font(style, size_delta, italic, bold))


def clearance(canvas: Canvas, text: str, style: dict, normal: np.ndarray, pad_px: float = 5.0,
              **font) -> float:
    """How far (data units) a centred label must sit along unit ``normal`` to clear a line
    through its anchor, for the label's measured box."""
    w, h = canvas.measure(text, **_font(style, **font))
    return ((abs(normal[0]) * w + abs(normal[1]) * h) / 2 + pad_px) * canvas.units_per_pixel


def outward(point: Point, center: Point, distance: float) -> tuple[float, float]:
    """The point ``distance`` away from ``point``, directly away from ``center``."""
    d = np.asarray(point, float) - np.asarray(center, float)
    n = float(np.hypot(*d)) or 1.0
    return float(point[0] + d[0] / n * distance), float(point[1] + d[1] / n * distance)


def name_vertices(canvas: Canvas, points: np.ndarray, names: Sequence[str], style: dict,
                  center: Point | None = None) -> None:
    """Vertex names just outside the figure, away from its centre."""
    center = np.mean(points, axis=0) if center is None else center
    for p, n in zip(points, names, strict=True):
        away = np.asarray(p, float) - np.asarray(center, float)
        away = away / (np.hypot(*away) or 1.0)
        gap = clearance(canvas, n, style, away, pad_px=4, size_delta=1,
                        italic=style["italic_points"])
        x, y = outward(p, center, gap)
        label(canvas, x, y, n, style, italic=style["italic_points"], size_delta=1)


def side_label(canvas: Canvas, p: Point, q: Point, text: str, inside: Point, style: dict,
               color: str | None = None) -> None:
    """A label beside segment pq, on the side away from ``inside``."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    mid = (p + q) / 2
    d = q - p
    normal = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1.0)
    if np.dot(normal, mid - np.asarray(inside, float)) < 0:
        normal = -normal
    x, y = mid + normal * clearance(canvas, text, style, normal)
    label(canvas, float(x), float(y), text, style, color=color)


def direction(p: Point, q: Point) -> float:
    """Angle in degrees of the ray from p to q."""
    return math.degrees(math.atan2(q[1] - p[1], q[0] - p[0]))


def interior_span(vertex: Point, p: Point, q: Point) -> tuple[float, float]:
    """(theta1, theta2) in degrees, counter-clockwise, covering the angle p-vertex-q (< 180°)."""
    a, b = direction(vertex, p), direction(vertex, q)
    if (b - a) % 360 > 180:
        a, b = b, a
    return a, a + (b - a) % 360


def angle_arc(canvas: Canvas, vertex: Point, p: Point, q: Point, radius_px: float, color: str,
              width: float, double: bool = False) -> None:
    t1, t2 = interior_span(vertex, p, q)
    for k in (1.0, 1.25) if double else (1.0,):
        r = 2 * radius_px * k * canvas.units_per_pixel
        canvas.add(Arc(tuple(vertex), r, r, theta1=t1, theta2=t2, color=color, linewidth=width))


def angle_label(canvas: Canvas, vertex: Point, p: Point, q: Point, text: str, radius_px: float,
                style: dict, color: str | None = None) -> None:
    """A label on the bisector of angle p-vertex-q, just beyond the arc."""
    t1, t2 = interior_span(vertex, p, q)
    mid = math.radians((t1 + t2) / 2)
    half = math.radians(max(t2 - t1, 8.0) / 2)
    w, h = canvas.measure(text, **_font(style))
    # Far enough along the bisector that the label's circle of radius ~half its diagonal clears
    # both arms (distance to an arm = r·sin(half-angle)) and the arc.
    reach = math.hypot(w, h) / 2 + 3
    r_px = max(radius_px + reach, reach / math.sin(half))
    r = r_px * canvas.units_per_pixel
    label(canvas, vertex[0] + r * math.cos(mid), vertex[1] + r * math.sin(mid), text, style,
          color=color)


def right_angle_mark(canvas: Canvas, vertex: Point, p: Point, q: Point, size_px: float,
                     color: str, width: float) -> None:
    v = np.asarray(vertex, float)
    u1 = (np.asarray(p, float) - v) / np.hypot(*(np.asarray(p, float) - v))
    u2 = (np.asarray(q, float) - v) / np.hypot(*(np.asarray(q, float) - v))
    s = size_px * canvas.units_per_pixel
    pts = np.array([v + u1 * s, v + (u1 + u2) * s, v + u2 * s])
    canvas.add(Line2D(pts[:, 0], pts[:, 1], color=color, linewidth=width))


def dot(canvas: Canvas, p: Point, color: str, size_px: float = 4.0) -> Line2D:
    return canvas.add(Line2D([p[0]], [p[1]], marker="o", markersize=size_px, color=color,
                      linestyle="none"))


def tick_marks(canvas: Canvas, p: Point, q: Point, count: int, color: str, width: float,
               size_px: float = 6.0, gap_px: float = 4.0) -> None:
    """``count`` short strokes across the middle of segment pq (the equal-sides mark)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    d = q - p
    u = d / (np.hypot(*d) or 1.0)
    n = np.array([-u[1], u[0]])
    upp = canvas.units_per_pixel
    mid = (p + q) / 2
    for k in range(count):
        c = mid + u * (k - (count - 1) / 2) * gap_px * upp
        a, b = c - n * size_px * upp, c + n * size_px * upp
        canvas.add(Line2D([a[0], b[0]], [a[1], b[1]], color=color, linewidth=width,
                          solid_capstyle="butt"))


def snug_arc_radius(canvas: Canvas, vertex: Point, p: Point, q: Point, text: str,
                    radius_px: float, style: dict) -> float:
    """An arc radius (pixels) of at least ``radius_px`` at which ``angle_label`` puts ``text``
    right beyond the arc: a narrow angle pushes its label out, so its arc grows to meet it."""
    t1, t2 = interior_span(vertex, p, q)
    half = math.radians(max(t2 - t1, 8.0) / 2)
    w, h = canvas.measure(text, **_font(style))
    reach = math.hypot(w, h) / 2 + 3
    return max(radius_px, reach / math.sin(half) - reach)


def name_point(canvas: Canvas, point: Point, name: str, style: dict, away: Point) -> None:
    """A point's name just beyond ``point`` in direction ``away``, styled like vertex names."""
    away = np.asarray(away, float)
    away = away / (np.hypot(*away) or 1.0)
    gap = clearance(canvas, name, style, away, pad_px=4, size_delta=1,
                    italic=style["italic_points"])
    label(canvas, point[0] + away[0] * gap, point[1] + away[1] * gap, name, style,
          italic=style["italic_points"], size_delta=1)


def free_direction(point: Point, others: Sequence[Point]) -> np.ndarray:
    """The unit direction at ``point`` that bisects the widest gap between the rays to
    ``others``: where a name or mark clears the segments joining ``point`` to them."""
    p = np.asarray(point, float)
    angles = sorted(math.atan2(q[1] - p[1], q[0] - p[0]) for q in others)
    gaps = [((angles[(i + 1) % len(angles)] - a) % (2 * math.pi) or 2 * math.pi, a)
            for i, a in enumerate(angles)]
    width, start = max(gaps)
    mid = start + width / 2
    return np.array([math.cos(mid), math.sin(mid)])


def segment_hits_rect(p: Point, q: Point, rect: tuple[float, float, float, float]) -> bool:
    """Whether segment pq meets the axis-aligned rectangle (x0, y0, x1, y1) (Liang–Barsky)."""
    x0, y0, x1, y1 = rect
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for step, gap in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if step == 0:
            if gap < 0:
                return False
            continue
        t = gap / step
        if step < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def label_rect(canvas: Canvas, center: Point, text: str, style: dict, pad_px: float = 3.0,
               **font) -> tuple[float, float, float, float]:
    """The data-space box of a label centred at ``center``, grown by ``pad_px``."""
    w, h = canvas.measure(text, **_font(style, **font))
    hw = (w / 2 + pad_px) * canvas.units_per_pixel
    hh = (h / 2 + pad_px) * canvas.units_per_pixel
    return center[0] - hw, center[1] - hh, center[0] + hw, center[1] + hh
