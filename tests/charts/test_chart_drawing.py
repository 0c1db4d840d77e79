"""Draw 30 charts per family: every label inside the image, no two overlapping, and the values
the questions treat as printed really are printed."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from renderers import get_renderer, renderer_names
from renderers.canvas import Canvas

N = 30
SEED = 77


def _boxes_ok(boxes, size):
    for b in boxes:
        assert 0 <= b.x0 < b.x1 <= size and 0 <= b.y0 < b.y1 <= size, f"clipped: {b}"
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0
            assert apart, f"overlap: {a} / {b}"


def _printed(v, d):
    """The ways a value may be printed: plain, with separators, with any affix."""
    plain = f"{abs(v):.{d}f}"
    grouped = f"{abs(v):,.{d}f}"
    sign = "-" if round(v, d) < 0 else ""
    out = set()
    for body in (plain, grouped):
        out |= {sign + body, f"{sign}${body}", f"{sign}{body}%", f"{sign}{body}°C"}
    return out


def _drawn(family, index, canvas):
    renderer = get_renderer("chart", family)
    rng = np.random.default_rng([SEED, index])
    try:
        scene = renderer.sample_scene(rng)
        png = renderer.render(scene, canvas)
    except ValueError as e:  # counted rejections (LabelsDoNotFit, ImpossibleScene)
        assert type(e).__name__ in ("LabelsDoNotFit", "ImpossibleScene"), e
        return None
    return scene, png, list(canvas.text_boxes)


@pytest.mark.parametrize("family", renderer_names("chart"))
def test_labels_inside_apart_and_values_printed(family):
    canvas = Canvas(448)
    drawn = 0
    for i in range(N):
        got = _drawn(family, i, canvas)
        if got is None:
            continue
        scene, png, boxes = got
        drawn += 1
        image = Image.open(io.BytesIO(png))
        image.load()
        assert image.size == (448, 448)
        _boxes_ok(boxes, 448)
        texts = [b.text for b in boxes]
        words = {w for t in texts for w in t.split()}
        if scene.get("title"):
            assert set(scene["title"].split()) <= words, "the title is drawn"
        if scene["readout"]["mode"] == "labels":
            d = scene["decimals"]
            for row in scene["table"]["rows"]:
                for v in row[1:]:
                    forms = _printed(v, d)
                    assert any(t in forms or any(re.search(r"(?<![\d.])" + re.escape(f)
                                                           + r"(?![\d.])", t) for f in forms)
                               for t in texts), f"value {v} is not printed: {texts}"
        dim = scene.get("dim", {})
        thinned = dim.get("time") and family not in ("pie", "donut")
        if family != "histogram" and not thinned:
            for row in scene["table"]["rows"]:
                assert set(row[0].split()) <= words, f"category {row[0]!r} not drawn"
    assert drawn >= 0.9 * N


def test_same_scene_same_png_bytes():
    a, b = Canvas(448), Canvas(448)
    for family in renderer_names("chart"):
        for i in range(3):
            got_a, got_b = _drawn(family, i, a), _drawn(family, i, b)
            assert (got_a is None) == (got_b is None)
            if got_a:
                assert got_a[1] == got_b[1], family
