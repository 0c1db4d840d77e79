"""The COCO reader on the shipped sample, and on small hand-made files for every kind of bad
input it must survive (each a clear UsageError or a counted reason)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmsynth.errors import UsageError
from mmsynth.sources.coco_data import (
    COCO_CATEGORIES,
    SAMPLE_ROOT,
    ImageCorrupt,
    ImageMissing,
    ImageSizeMismatch,
    ImageTooLarge,
    context,
    load_coco,
    load_image,
    resolve_paths,
    sample_annotations,
)

CONTEXT_BOX = re.compile(r"^([a-z][a-z ]*[a-z]): \[(\d\.\d{3}), (\d\.\d{3}), (\d\.\d{3}), "
                         r"(\d\.\d{3})\]$")


@pytest.fixture(scope="module")
def sample():
    return load_coco(*resolve_paths())


# ---------------------------------------------------------------------------------------------
# The shipped sample


def test_sample_is_the_default_and_loads_cleanly(sample):
    paths = resolve_paths()
    assert paths.instances == SAMPLE_ROOT / "annotations" / "instances_sample.json"
    assert paths.captions == SAMPLE_ROOT / "annotations" / "captions_sample.json"
    assert paths.images == SAMPLE_ROOT / "images"
    assert 8 <= len(sample) <= 12
    assert list(sample.ids) == sorted(sample.ids)
    assert not sample.problems


def test_sample_images_load_at_their_annotated_size(sample):
    total = 0
    for image in sample:
        loaded = load_image(image.path, (image.width, image.height))
        assert loaded.image.mode == "RGB" and loaded.image.size == (image.width, image.height)
        assert loaded.original, "shipped JPEGs are stored as they are"
        assert loaded.jpeg == image.path.read_bytes()
        assert max(image.width, image.height) <= 1024
        total += len(loaded.jpeg)
    assert total < 2_000_000


def test_sample_boxes_lie_inside_their_images(sample):
    for image in sample:
        for obj in image.objects:
            x, y, w, h = obj.bbox_xywh
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= image.width and y + h <= image.height
            x1, y1, x2, y2 = obj.bbox_xyxy_norm
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
            assert 0 < obj.area <= w * h


def test_sample_has_five_distinct_captions_per_image(sample):
    for image in sample:
        assert len(image.captions) == 5, image.file_name
        assert len(set(image.captions)) == 5
        for caption in image.captions:
            assert caption == caption.strip() and len(caption.split()) >= 5
            assert caption[0].isupper() and caption.endswith(".")


def test_sample_categories_are_cocos_official_list(sample):
    data = json.loads((SAMPLE_ROOT / "annotations" / "instances_sample.json").read_text())
    official = [{"supercategory": s, "id": i, "name": n} for i, n, s in COCO_CATEGORIES]
    assert data["categories"] == official
    assert len(COCO_CATEGORIES) == 80 and len({n for _, n, _ in COCO_CATEGORIES}) == 80
    names = {n: i for i, n, _ in COCO_CATEGORIES}
    for image in sample:
        for obj in image.objects:
            assert names[obj.category] == obj.category_id


def test_sample_has_a_counting_image_a_crowd_and_an_image_without_boxes(sample):
    people = [sum(o.category == "person" and not o.iscrowd for o in image.objects)
              for image in sample]
    assert max(people) >= 2
    assert any(o.iscrowd for image in sample for o in image.objects)
    assert any(not image.objects and image.captions for image in sample)


def test_sample_licences_reach_every_image(sample):
    licences_md = (SAMPLE_ROOT / "LICENSES.md").read_text()
    for image in sample:
        assert image.license is not None
        assert image.license["name"] and image.license["url"].startswith("https://")
        assert image.attribution
        assert f"`{image.file_name}`" in licences_md


def test_context_format_is_exact(sample):
    coffee = sample.record(sample.position(4))
    assert context(coffee) == "\n".join([
        "An espresso in a red cup on a matching saucer with a small spoon.",
        "A cup of coffee topped with crema sits on a saucer on a wooden table.",
        "View from above of a red and white espresso cup next to a silver teaspoon.",
        "A small cup of espresso served on a red saucer on a rustic wooden surface.",
        "A teaspoon rests on the saucer beside a freshly poured espresso.",
        "cup: [0.288, 0.045, 0.680, 0.767]",
        "spoon: [0.542, 0.165, 0.707, 0.812]",
        "dining table: [0.000, 0.000, 1.000, 1.000]",
    ])
    for image in sample:
        lines = context(image).split("\n")
        assert lines[:len(image.captions)] == image.captions
        boxes = lines[len(image.captions):]
        assert len(boxes) == len(image.objects)
        for line, obj in zip(boxes, image.objects, strict=True):
            match = CONTEXT_BOX.match(line)
            assert match, line
            assert match.group(1) == obj.category
            got = [float(v) for v in match.groups()[1:]]
            assert np.allclose(got, obj.bbox_xyxy_norm, atol=5e-4)


# ---------------------------------------------------------------------------------------------
# Locating files


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def _images(*sizes):
    return [{"id": i, "file_name": f"{i:012d}.jpg", "width": w, "height": h}
            for i, (w, h) in enumerate(sizes, 1)]


def test_coco_root_layout_picks_the_split(tmp_path):
    ann = tmp_path / "annotations"
    _write(ann / "instances_train2017.json", {"images": [], "annotations": []})
    _write(ann / "captions_train2017.json", {"images": [], "annotations": []})
    _write(ann / "captions_val2017.json", {"images": [], "annotations": []})
    (tmp_path / "train2017").mkdir()
    (tmp_path / "val2017").mkdir()
    paths = resolve_paths(coco_root=tmp_path)
    assert paths == (ann / "instances_train2017.json", ann / "captions_train2017.json",
                     tmp_path / "train2017")
    paths = resolve_paths(coco_root=tmp_path, split="val2017")
    assert paths == (None, ann / "captions_val2017.json", tmp_path / "val2017")
    with pytest.raises(UsageError, match=r"no instances_test2017\.json.*captions_val2017\.json"):
        resolve_paths(coco_root=tmp_path, split="test2017")


def test_coco_root_accepts_the_sample_names(tmp_path):
    _write(tmp_path / "annotations" / "instances_sample.json", {"images": [], "annotations": []})
    (tmp_path / "images").mkdir()
    paths = resolve_paths(coco_root=tmp_path)
    assert paths == (tmp_path / "annotations" / "instances_sample.json", None,
                     tmp_path / "images")


def test_explicit_files_and_their_images(tmp_path):
    inst = _write(tmp_path / "annotations" / "instances_x.json", {"images": [], "annotations": []})
    with pytest.raises(UsageError, match="--images"):
        resolve_paths(instances=inst)
    (tmp_path / "images").mkdir()
    assert resolve_paths(instances=inst).images == tmp_path / "images"
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert resolve_paths(instances=inst, images=other) == (inst, None, other)


@pytest.mark.parametrize("kwargs, message", [
    ({"coco_root": "/nonexistent/coco"}, r"--coco_root /nonexistent/coco is not a directory"),
    ({"instances": "/nonexistent/i.json", "images": "/tmp"}, r"/nonexistent/i\.json does not"),
    ({"images": "/tmp"}, r"--images needs --coco_root"),
])
def test_bad_locations_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        resolve_paths(**kwargs)


def test_missing_images_folder_is_named(tmp_path):
    _write(tmp_path / "annotations" / "captions_train2017.json", {"images": [], "annotations": []})
    with pytest.raises(UsageError, match="no image folder under"):
        resolve_paths(coco_root=tmp_path)


# ---------------------------------------------------------------------------------------------
# Unusable files: UsageError naming the file


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match=re.escape(str(tmp_path / "nope.json"))):
        load_coco(tmp_path / "nope.json", None, tmp_path)


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = _write(tmp_path / "bad.json", b'{\n "images": [],\n "annotations": [,]\n}\n')
    with pytest.raises(UsageError) as e:
        load_coco(path, None, tmp_path)
    assert str(path) in str(e.value) and "line 3, column" in str(e.value)


@pytest.mark.parametrize("data, key", [
    ([1, 2], "top level is an array"),
    ({"annotations": []}, "no 'images' key"),
    ({"images": {"id": 1}, "annotations": []}, "'images' must be an array, not an object"),
    ({"images": [], "annotations": "x"}, "'annotations' must be an array, not a string"),
    ({"images": _images((10, 10)), "annotations": [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]}, "no 'categories' key"),
    ({"images": [], "annotations": [], "categories": [{"id": "1", "name": "x"}]},
     r"categories\[0\] needs an integer 'id'"),
])
def test_files_that_are_not_coco_name_the_key(tmp_path, data, key):
    path = _write(tmp_path / "instances.json", data)
    with pytest.raises(UsageError, match=key) as e:
        load_coco(path, None, tmp_path)
    assert str(path) in str(e.value)


# ---------------------------------------------------------------------------------------------
# Bad records: skipped or repaired, and counted

CATS = [{"id": 1, "name": "person", "supercategory": "person"},
        {"id": 17, "name": "cat", "supercategory": "animal"}]


def _load(tmp_path, images, boxes=None, captions=None):
    inst = cap = None
    if boxes is not None:
        inst = _write(tmp_path / "inst.json",
                      {"images": images, "annotations": boxes, "categories": CATS})
    if captions is not None:
        cap = tmp_path / "cap.json"
        if isinstance(captions, bytes):
            cap.write_bytes(captions)
        else:
            _write(cap, {"images": images, "annotations": captions})
    return load_coco(inst, cap, tmp_path)


def _box(image_id, bbox, category_id=1, **extra):
    return {"image_id": image_id, "category_id": category_id, "bbox": bbox, **extra}


def test_unknown_images_and_categories_are_skipped_and_counted(tmp_path):
    index = _load(tmp_path, _images((100, 50)),
                  [_box(1, [1, 2, 3, 4]), _box(7, [1, 2, 3, 4]), _box(1, [1, 2, 3, 4], 99),
                   _box("1", [1, 2, 3, 4]), {"image_id": 1, "keypoints": []}, 5],
                  [{"image_id": 8, "caption": "A lost caption."}])
    assert index.problems == {"annotation_unknown_image": 2, "annotation_unknown_category": 1,
                              "annotation_malformed": 2, "caption_unknown_image": 1}
    (image,) = index
    assert [o.bbox_xywh for o in image.objects] == [[1, 2, 3, 4]]


def test_boxes_outside_are_clipped_and_empty_ones_dropped(tmp_path):
    boxes = [
        _box(1, [-10, 5, 30, 10], area=250),  # left overshoot: clipped to x 0..20
        _box(1, [90, 40, 20, 20]),  # bottom-right overshoot: clipped to 90..100, 40..50
        _box(1, [99.8, 0, 0.5, 10]),  # sub-pixel overshoot: clipped, not counted
        _box(1, [10, 10, 0, 5]),  # zero width: dropped
        _box(1, [10, 10, 5, -1]),  # negative height: dropped
        _box(1, [200, 10, 5, 5]),  # entirely outside: dropped
        _box(1, [1, 2, 3]),  # three numbers: malformed
        _box(1, ["1", 2, 3, 4]),  # a string: malformed
        _box(1, None),  # no box: malformed
    ]
    index = _load(tmp_path, _images((100, 50)), boxes)
    assert index.problems == {"box_clipped": 2, "box_dropped": 3, "box_malformed": 3}
    objects = index.record(0).objects
    assert [o.bbox_xywh for o in objects] == [[0, 5, 20, 10], [90, 40, 10, 10],
                                              [99.8, 0, pytest.approx(0.2), 10]]
    assert objects[0].area == 200  # the given area, capped by the clipped box
    assert objects[1].area == 100  # no area given: the box's
    assert objects[0].bbox_xyxy_norm == (0.0, 0.1, 0.2, 0.3)


def test_non_finite_box_numbers_are_malformed(tmp_path):
    raw = (b'{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], '
           b'"categories": [{"id": 1, "name": "person"}], "annotations": ['
           b'{"image_id": 1, "category_id": 1, "bbox": [NaN, 1, 2, 2]}, '
           b'{"image_id": 1, "category_id": 1, "bbox": [1, 1, Infinity, 2]}]}')
    index = load_coco(_write(tmp_path / "i.json", raw), None, tmp_path)
    assert index.problems == {"box_malformed": 2, "image_no_context": 1}


def test_non_utf8_caption_is_repaired_and_counted(tmp_path):
    images = json.dumps(_images((10, 10))).encode()
    raw = (b'{"images": ' + images + b', "annotations": ['
           b'{"image_id": 1, "id": 1, "caption": "A caf\xe9 with a red door."}, '
           b'{"image_id": 1, "id": 2, "caption": "Two cats \\ud800 on a mat."}, '
           b'{"image_id": 1, "id": 3, "caption": "A na\xc3\xafve, valid caption."}]}')
    index = _load(tmp_path, None, captions=raw)
    assert index.problems == {"caption_non_utf8": 2}
    assert index.record(0).captions == ["A café with a red door.", "Two cats \ufffd on a mat.",
                                        "A naïve, valid caption."]
    context(index.record(0)).encode("utf-8")  # what goes into a shard must encode


def test_empty_and_malformed_captions_are_dropped(tmp_path):
    captions = [{"image_id": 1, "caption": "  A dog\n on  a   sofa. "},
                {"image_id": 1, "caption": "   "}, {"image_id": 1, "caption": ""},
                {"image_id": 1, "caption": 42}]
    index = _load(tmp_path, _images((10, 10)), captions=captions)
    assert index.problems == {"caption_empty": 2, "caption_malformed": 1}
    assert index.record(0).captions == ["A dog on a sofa."]


def test_images_without_annotations(tmp_path):
    images = _images((40, 30), (40, 30), (40, 30))
    index = _load(tmp_path, images, [_box(3, [0, 0, 4, 4], 17)],
                  [{"image_id": 1, "caption": "Only words here."}])
    first, second, third = index
    assert first.captions == ["Only words here."] and not first.objects and first.has_context
    assert not second.has_context and not second.captions and not second.objects
    assert third.objects[0].category == "cat" and not third.captions and third.has_context
    assert index.problems == {"image_no_context": 1}
    assert list(index.has_context) == [True, False, True]


def test_bad_image_records_and_licences(tmp_path):
    images = [
        {"id": 2, "file_name": "b.jpg", "width": 10, "height": 10, "license": 1},
        {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10, "license": 9},
        {"id": 1, "file_name": "dup.jpg", "width": 10, "height": 10},
        {"id": 3, "file_name": "c.jpg", "width": 0, "height": 10},
        {"id": 4, "file_name": "../../etc/passwd", "width": 10, "height": 10},
        {"id": 5, "file_name": "/abs/e.jpg", "width": 10, "height": 10},
        {"file_name": "f.jpg", "width": 10, "height": 10},
        {"id": 2**70, "file_name": "g.jpg", "width": 10, "height": 10},
        {"id": 6, "file_name": "h.jpg", "width": 2**40, "height": 10},
        "not an image",
    ]
    inst = _write(tmp_path / "i.json", {
        "images": images, "annotations": [], "categories": CATS,
        "licenses": [{"id": 1, "name": "CC BY 2.0", "url": "https://example.org/by"}, "bad"]})
    index = load_coco(inst, None, tmp_path / "imgs")
    assert index.problems == {"image_duplicate_id": 1, "image_malformed": 5,
                              "image_bad_file_name": 2, "license_unknown": 1,
                              "license_malformed": 1, "image_no_context": 2}
    first, second = index
    assert (first.id, first.file_name, first.license) == (1, "a.jpg", None)
    assert second.license == {"id": 1, "name": "CC BY 2.0", "url": "https://example.org/by"}
    assert second.path == tmp_path / "imgs" / "b.jpg"


def test_files_are_joined_by_image_id(tmp_path):
    inst = _write(tmp_path / "i.json", {
        "images": _images((50, 50), (60, 60)), "categories": CATS,
        "annotations": [_box(2, [0, 0, 6, 6], 17, iscrowd=1), _box(1, [5, 5, 5, 5])]})
    cap = _write(tmp_path / "c.json", {
        "images": [{"id": 2, "file_name": "other.jpg", "width": 1, "height": 1},
                   {"id": 3, "file_name": "c.jpg", "width": 20, "height": 20}],
        "annotations": [{"image_id": 3, "caption": "Third."}, {"image_id": 2, "caption": "Two."}]})
    index = load_coco(inst, cap, tmp_path)
    assert list(index.ids) == [1, 2, 3]
    one, two, three = index
    assert two.file_name == "000000000002.jpg" and two.width == 60  # the instances record wins
    assert two.captions == ["Two."] and two.objects[0].iscrowd
    assert context(two) == "Two.\ncat: [0.000, 0.000, 0.100, 0.100]"
    assert sample_annotations(two) == {
        "objects": [{"category": "cat", "bbox": [0, 0, 6, 6], "iscrowd": 1}],
        "captions": ["Two."], "width": 60, "height": 60}
    assert three.captions == ["Third."] and not three.objects
    assert not one.captions and one.objects[0].bbox_xywh == [5, 5, 5, 5]
    assert not index.problems


# ---------------------------------------------------------------------------------------------
# Image files


def _image_bytes(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def test_missing_empty_corrupt_and_truncated_files(tmp_path):
    with pytest.raises(ImageMissing) as e:
        load_image(tmp_path / "nope.jpg")
    assert e.value.reason == "ImageMissing"
    with pytest.raises(ImageMissing):
        load_image(tmp_path)
    with pytest.raises(ImageCorrupt, match="empty file"):
        load_image(_write(tmp_path / "zero.jpg", b""))
    with pytest.raises(ImageCorrupt, match="not an image"):
        load_image(_write(tmp_path / "junk.jpg", b"this is not an image\n" * 10))
    jpeg = (SAMPLE_ROOT / "images" / "000000000003.jpg").read_bytes()
    with pytest.raises(ImageCorrupt) as e:
        load_image(_write(tmp_path / "half.jpg", jpeg[: len(jpeg) // 2]))
    assert e.value.reason == "ImageCorrupt"


def test_size_mismatch(tmp_path):
    path = _write(tmp_path / "a.jpg", _image_bytes(Image.new("RGB", (30, 20)), "JPEG"))
    assert load_image(path, (30, 20)).original
    with pytest.raises(ImageSizeMismatch, match=r"30x20.*20x30"):
        load_image(path, (20, 30))


def test_greyscale_jpeg_is_kept_as_is(tmp_path):
    data = _image_bytes(Image.new("L", (16, 8), 77), "JPEG")
    loaded = load_image(_write(tmp_path / "g.jpg", data))
    assert loaded.original and loaded.jpeg == data
    assert loaded.image.mode == "RGB" and loaded.image.getpixel((3, 3)) == (77, 77, 77)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    data = _image_bytes(Image.new("CMYK", (16, 8), (0, 255, 255, 0)), "JPEG", quality=100)
    loaded = load_image(_write(tmp_path / "cmyk.jpg", data))
    assert not loaded.original and loaded.image.mode == "RGB"
    r, g, b = loaded.image.getpixel((5, 5))
    assert r > 200 and g < 60 and b < 60  # full magenta + yellow ink: red
    assert Image.open(io.BytesIO(loaded.jpeg)).mode == "RGB"


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (10, 10), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 0)
    data = _image_bytes(image, "PNG", transparency=0)
    loaded = load_image(_write(tmp_path / "p.png", data))
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((5, 5)) == (0, 0, 255)
    assert not loaded.original and loaded.jpeg[:2] == b"\xff\xd8"


def test_rgba_is_composited_on_white(tmp_path):
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    image.putpixel((0, 0), (255, 0, 0, 0))
    image.putpixel((1, 0), (0, 0, 0, 128))
    loaded = load_image(_write(tmp_path / "a.png", _image_bytes(image, "PNG")))
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((1, 0)) == (127, 127, 127)
    assert loaded.image.getpixel((5, 5)) == (255, 0, 0)


def test_16_bit_greyscale_is_scaled_to_8_bits(tmp_path):
    values = np.array([[0, 32768, 65535, 257]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    loaded = load_image(_write(tmp_path / "16.png", _image_bytes(image, "PNG")))
    assert [loaded.image.getpixel((x, 0))[0] for x in range(4)] == [0, 128, 255, 1]


def test_exif_rotated_jpeg_is_reencoded_in_stored_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _image_bytes(Image.new("RGB", (30, 20), (0, 128, 0)), "JPEG", exif=exif)
    loaded = load_image(_write(tmp_path / "r.jpg", data), (30, 20))
    assert not loaded.original and loaded.image.size == (30, 20)
    assert Image.open(io.BytesIO(loaded.jpeg)).getexif().get(0x0112) is None


def test_decompression_bombs_are_too_large(tmp_path, monkeypatch):
    path = _write(tmp_path / "big.png", _image_bytes(Image.new("L", (60, 60)), "PNG"))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 3,600 pixels: Pillow warns
    with pytest.raises(ImageTooLarge) as e:
        load_image(path)
    assert e.value.reason == "ImageTooLarge"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over twice the limit: Pillow raises
    with pytest.raises(ImageTooLarge):
        load_image(path)
