"""Region-grounded data (issue 19): the box conventions, and render region QA checked against
the drawn pixels.

Every box a render question states is checked by another route than the one that made it: the
canvas computes a box from the element's path as Agg draws it (snapped, stroked); the test
draws that element alone, twice, on a white and on a black background, and reads its coverage
off the pixels (a pixel the element covers is the same colour on both). Every pixel it covers
at least half lies inside the stated box, and the box is tight to those pixels within 2 px."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mmsynth.boxes import BOX_FORMATS, box_format, iou
from mmsynth.run import run
from tests.conftest import decoded, read_records, read_shards, shard_bytes

W, H = 640, 480
BOX = (64.0, 48.0, 320.0, 240.0)  # centre (192, 144)
EXPECTED = {  # worked by hand for BOX on a 640 × 480 image
    "llava": "[0.100, 0.100, 0.500, 0.500]",
    # padded to 640 × 640: the image pasted 80 px down, so y = (48 + 80) / 640, (240 + 80) / 640
    "llava_square": "[0.100, 0.200, 0.500, 0.500]",
    "qwen": "<|box_start|>(100,100),(500,500)<|box_end|>",
    "pixels": "[64, 48, 320, 240]",
    "points": '<point x="30.0" y="30.0" alt="dog">dog</point>',
}
POINT = (192.0, 144.0)
EXPECTED_POINT = {"llava": "[0.300, 0.300]", "llava_square": "[0.300, 0.350]",
                  "qwen": "(300,300)", "pixels": "[192, 144]", "points": "(30.0%, 30.0%)"}


@pytest.mark.parametrize("name", BOX_FORMATS)
def test_each_format_writes_the_hand_computed_text(name):
    fmt = box_format(name)
    if fmt.answers_with_points:
        assert fmt.points_text([POINT], "dog", W, H) == EXPECTED[name]
        two = fmt.points_text([POINT, (320, 240)], "dogs", W, H)
        assert two == '<points x1="30.0" y1="30.0" x2="50.0" y2="50.0" alt="dogs">dogs</points>'
        assert fmt.parse_points(two, W, H) == [POINT, (320.0, 240.0)]
    else:
        assert fmt.box_text(BOX, W, H) == EXPECTED[name]
    assert fmt.point_text(POINT, W, H) == EXPECTED_POINT[name]
    # The card's words name the frame the numbers are in.
    assert "top-left" in fmt.describe() or "origin top-left" in fmt.describe()


@pytest.mark.parametrize("name", BOX_FORMATS)
def test_boxes_and_points_round_trip_to_the_format_precision(name):
    fmt = box_format(name)
    rng = np.random.default_rng(0)
    # How far a written coordinate may be from the pixel it stands for.
    tol = {"llava": 0.0005 * max(W, H), "llava_square": 0.0005 * max(W, H),
           "qwen": 0.5 * max(W, H) / 1000 + 1e-9, "pixels": 0.5,
           "points": 0.05 * max(W, H) / 100 + 1e-9}[name]
    for _ in range(200):
        x0, x1 = sorted(rng.uniform(0, W, 2))
        y0, y1 = sorted(rng.uniform(0, H, 2))
        p = (float(rng.uniform(0, W - 1)), float(rng.uniform(0, H - 1)))
        (back,) = fmt.parse_points(fmt.point_text(p, W, H), W, H)
        assert max(abs(a - b) for a, b in zip(back, p, strict=True)) <= tol
        if not fmt.answers_with_points:
            back = fmt.parse_box(fmt.box_text((x0, y0, x1, y1), W, H), W, H)
            assert max(abs(a - b) for a, b in zip(back, (x0, y0, x1, y1), strict=True)) <= tol


def test_qwen_caps_the_far_edge_at_999_and_a_bad_text_is_refused():
    fmt = box_format("qwen")
    assert fmt.box_text((0, 0, W, H), W, H) == "<|box_start|>(0,0),(999,999)<|box_end|>"
    with pytest.raises(ValueError):
        fmt.parse_box("[0.1, 0.2, 0.3, 0.4]", W, H)
    with pytest.raises(ValueError):
        box_format("yolo")
    assert iou(BOX, BOX) == 1.0 and iou(BOX, (400, 300, 500, 400)) == 0.0


# -- render region QA, checked against the pixels ------------------------------------------------

# Enough samples that 500 of each kind get region questions (the families that tag nothing
# yet, parallel lines, line, area and scatter charts, get none).
WITH_REGIONS = 500
RUN = {"geometry": 600, "chart": 720}


def _coverage(canvas, name: str) -> np.ndarray:
    """How much of each pixel the element ``name`` covers, drawn alone (0..1)."""
    keep = canvas._background
    canvas.solo = name
    try:
        canvas._background = (1.0, 1.0, 1.0)
        on_white = np.asarray(canvas.pixels())[..., :3].astype(int)
        canvas._background = (0.0, 0.0, 0.0)
        on_black = np.asarray(canvas.pixels())[..., :3].astype(int)
    finally:
        canvas.solo, canvas._background = None, keep
    return 1.0 - np.abs(on_white - on_black).max(axis=-1) / 255.0


GAPS: list[float] = []  # how far each checked box is from its pixels (printed with -s)


def check_region(canvas, region: dict) -> None:
    """The stated geometry against the pixels of the element drawn alone."""
    cover = _coverage(canvas, region["label"])
    ink = np.argwhere(cover >= 0.5)
    assert len(ink), f"{region['label']}: nothing drawn"
    x, y = region["point"]
    if region["kind"] == "point":
        # A named point lies on what it names (a vertex on its shape, a centre on its dot).
        nearest = np.min(np.hypot(ink[:, 1] + 0.5 - x, ink[:, 0] + 0.5 - y))
        assert nearest <= 1.0, f"{region['label']} is {nearest:.2f} px from the drawing"
        return
    # A shape's point is inside it: ink on both sides along its row and its column.
    row, col = ink[ink[:, 0] == int(y)][:, 1], ink[ink[:, 1] == int(x)][:, 0]
    assert row.size and row.min() <= x <= row.max() + 1, region
    assert col.size and col.min() <= y <= col.max() + 1, region
    if "box" not in region:
        return
    bx0, by0, bx1, by1 = region["box"]
    y0, x0 = ink.min(axis=0)
    y1, x1 = ink.max(axis=0) + 1
    # Inside: the covered pixels within the box (rounded out to whole pixels).
    assert (x0 >= np.floor(bx0) and y0 >= np.floor(by0) and x1 <= np.ceil(bx1)
            and y1 <= np.ceil(by1)), (region, (x0, y0, x1, y1))
    # Tight within 2 px on every side.
    gap = max(x0 - bx0, y0 - by0, bx1 - x1, by1 - y1)
    assert gap <= 2.0, (region, (x0, y0, x1, y1))
    GAPS.append(float(gap))


@pytest.fixture(scope="module", params=["geometry", "chart"])
def region_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"regions-{request.param}")
    summary = run({"source": request.param, "num_samples": RUN[request.param], "shard_size": 240,
                   "seed": 3,
                   "out": str(out), "region_rate": 1.0, "clip_mode": "off", "progress": False})
    return request.param, out, summary


def test_every_stated_box_and_point_matches_the_drawn_pixels(region_run):
    from renderers import registry
    from renderers.canvas import Canvas

    kind, out, summary = region_run
    GAPS.clear()
    families = registry(kind)
    canvas = Canvas(448)
    checked = {"box": 0, "point": 0, "at_point": 0}
    asked = set()
    for key, members in read_shards(out).items():
        record = decoded(members["json"])
        items = [q for q in record["qa"] if "regions" in q]
        if not items:
            continue
        assert record["meta"]["box_format"] == "llava"
        family = families.get(record["meta"]["generator"])()
        # The same scene draws the same picture: the regions below are the stored picture's.
        assert family.render(record["scene"], canvas) == members["png"], key
        drawn = {r.name: r for r in canvas.regions()}
        fmt = box_format("llava")
        for item in items:
            asked.add(item["type"])
            (region,) = item["regions"]
            assert region["label"] in drawn
            check_region(canvas, region)
            if item["type"] == "region_box":
                back = fmt.parse_box(item["answer"], 448, 448)
                assert max(abs(a - b) for a, b in zip(back, region["box"], strict=True)) <= 0.25
                checked["box"] += 1
            elif item["type"] == "region_point":
                (back,) = fmt.parse_points(item["answer"], 448, 448)
                assert np.hypot(*np.subtract(back, region["point"])) <= 0.4
                checked["point"] += 1
            else:  # what is at a point: the one element whose coverage there is full
                (p,) = fmt.parse_points(item["question"], 448, 448)
                assert drawn[region["label"]].answer == item["answer"]
                cover = _coverage(canvas, region["label"])
                assert cover[int(p[1]), int(p[0])] >= 0.5
                for other in drawn.values():
                    if other.name != region["label"] and other.kind == "shape":
                        assert _coverage(canvas, other.name)[int(p[1]), int(p[0])] < 0.5
                checked["at_point"] += 1
    print(f"{kind}: {checked}; the largest gap between a box and its pixels "
          f"{max(GAPS):.2f} px over {len(GAPS)} boxes")
    with_regions = summary.stage_stats.get("regions", {}).get("samples", 0)
    assert with_regions >= WITH_REGIONS, summary.stage_stats.get("regions")
    assert checked["box"] >= 50, checked
    if kind == "geometry":
        assert checked["point"] >= 100, checked
    else:
        assert checked["at_point"] >= 200, checked
    assert {"region_box", "region_point" if kind == "geometry" else "region_at_point"} <= asked
    # The run's stats name the questions the summary counts.
    assert sum(n for k, n in summary.stage_stats["regions"].items()
               if k.startswith("questions:")) == sum(checked.values())


@pytest.mark.parametrize("source", ["geometry", "chart", "coco"])
def test_box_format_and_region_rate_change_the_fingerprint_only_when_used(source):
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    base = {"source": source, "num_samples": 2, "clip_mode": "off"}
    off = fingerprint_of(resolve(base, source_options))
    assert fingerprint_of(resolve({**base, "box_format": "llava", "region_rate": 0.0},
                                  source_options)) == off
    seen = {off}
    for name in BOX_FORMATS[1:]:
        seen.add(fingerprint_of(resolve({**base, "box_format": name}, source_options)))
    assert len(seen) == len(BOX_FORMATS)
    assert fingerprint_of(resolve({**base, "region_rate": 0.5}, source_options)) != off


def test_render_region_questions_in_every_format_and_the_same_bytes_twice(tmp_path):
    flags = {"source": "geometry", "num_samples": 24, "shard_size": 12, "seed": 4,
             "region_rate": 1.0, "clip_mode": "off", "progress": False}
    for name in BOX_FORMATS:
        run({**flags, "out": str(tmp_path / name), "box_format": name})
        records = read_records(tmp_path / name)
        items = [q for r in records for q in r["qa"] if "regions" in q]
        assert items and all(q["box_format"] == name for q in items)
        fmt = box_format(name)
        for item in items:
            (region,) = item["regions"]
            if fmt.answers_with_points:
                (p,) = fmt.parse_points(item["answer"], 448, 448)
                assert np.hypot(*np.subtract(p, region["point"])) <= 0.5
                assert item["answer"].startswith("<point ")
            elif item["type"] == "region_box":
                b = fmt.parse_box(item["answer"], 448, 448)
                assert max(abs(u - v) for u, v in zip(b, region["box"], strict=True)) <= 0.5
    run({**flags, "out": str(tmp_path / "again"), "box_format": "points"})
    assert shard_bytes(tmp_path / "again") == shard_bytes(tmp_path / "points")
    image = Image.open(io.BytesIO(next(iter(read_shards(tmp_path / "points").values()))["png"]))
    assert image.size == (448, 448)


def test_the_preview_draws_each_stated_box_and_point_and_the_card_states_the_convention(
        tmp_path):
    from mmsynth.preview import preview
    from tests.browser import page_counts

    out = tmp_path / "run"
    run({"source": "chart", "num_samples": 16, "shard_size": 16, "seed": 2, "region_rate": 1.0,
         "box_format": "qwen", "clip_mode": "off", "progress": False, "out": str(out)})
    records = read_records(out)
    stated = sum(len(q["regions"]) for r in records for q in r["qa"] if "regions" in q)
    assert stated > 0
    page = tmp_path / "preview.html"
    preview(str(out), str(page), n=16, seed=0)
    text = page.read_text()
    assert text.count('class="region"') == stated
    card = (out / "README.md").read_text()
    assert "## Boxes and points" in card and "`qwen` convention" in card
    assert "<|box_start|>(x1,y1),(x2,y2)<|box_end|>" in card and "999" in card
    counts = page_counts(page)  # in a real Chromium (skips where there is none, unless CI)
    assert counts["ready"] == "1" and counts["broken-images"] == "0"
    assert int(counts["region-marks"]) == stated
