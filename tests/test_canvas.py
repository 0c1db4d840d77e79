import io

import numpy as np
import pytest
from matplotlib.patches import Polygon
from PIL import Image

from renderers.canvas import Canvas
from renderers.png import encode_png


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 3), (7, 5, 4), (448, 448, 3)])
def test_png_encoder_round_trips_through_pillow(shape):
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(pixels)))
    image.load()
    assert np.array_equal(np.asarray(image), pixels)


def test_canvas_draws_shapes_and_labels_where_asked():
    canvas = Canvas(size=200)
    canvas.begin((0, 10), (0, 10), background="white")
    canvas.add(Polygon([[1, 1], [9, 1], [5, 9]], closed=True, facecolor="none", edgecolor="black"))
    canvas.text(5, 5, "70°", size=14, color="red")
    pixels = np.asarray(Image.open(io.BytesIO(canvas.png("RGB"))).convert("RGB")).astype(int)
    (box,) = canvas.text_boxes
    # The label is centred on (5, 5) → pixel (100, 100), and its pixels are red.
    assert abs((box.x0 + box.x1) / 2 - 100) <= 1 and abs((box.y0 + box.y1) / 2 - 100) <= 1
    patch = pixels[box.y0:box.y1, box.x0:box.x1]
    reddish = (patch[..., 0] > 200) & (patch[..., 1] < 80) & (patch[..., 2] < 80)
    assert reddish.sum() > 10
    # The outline's bottom edge runs along y = 1 → pixel row 180.
    assert (pixels[178:183, 40:160].min(axis=2) < 100).any(axis=0).mean() > 0.95
    assert pixels[5, 5].tolist() == [255, 255, 255]


def test_same_scene_gives_same_bytes_and_greyscale_mode_is_single_channel():
    def draw(canvas):
        canvas.begin((0, 4), (0, 4), background="#fdfcf5")
        canvas.add(Polygon([[1, 1], [3, 1], [2, 3]], facecolor="#dbe9f6", edgecolor="navy"))
        canvas.text(2, 0.5, "AB = 5 cm", size=12)

    a, b = Canvas(size=128), Canvas(size=128)
    draw(a)
    draw(b)
    assert a.png() == b.png()
    draw(a)
    assert Image.open(io.BytesIO(a.png("L"))).mode == "L"


def test_word_layout_matches_matplotlib_width():
    """Labels are composed from per-word stamps; their width must match matplotlib's layout."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    canvas = Canvas(size=300)
    renderer = RendererAgg(10, 10, canvas.dpi)
    for text in ("h = 12 cm", "15 in", "AB", "x"):
        w, _ = canvas.measure(text, size=13, family="DejaVu Serif")
        ref, _, _ = renderer.get_text_width_height_descent(
            text, FontProperties(family="DejaVu Serif", size=13), ismath=False)
        assert abs(w - ref) <= 2, (text, w, ref)
