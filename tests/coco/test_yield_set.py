"""The labelled yield set (tests/coco/yield_set.py) through the real coco reader and image loader:
every record is read without a problem, each set has five captions and 2–8 boxes of COCO
categories inside its image, its placeholder image decodes at the stated size, the scenes are
varied, and the captions agree with the boxes by the grounding check's own reading (every COCO
object a caption names is boxed, every count it states is the boxes')."""

from __future__ import annotations

from collections import Counter

import pytest

from mmsynth.filters.grounding import Evidence, check_text
from mmsynth.sources.coco_data import COCO_CATEGORIES, load_coco, load_image, sample_annotations
from tests.coco import yield_set


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    images = tmp_path_factory.mktemp("yield_images")
    yield_set.draw_images(images)
    return load_coco(yield_set.INSTANCES, yield_set.CAPTIONS, images)


def records(index):
    return [index.record(i) for i in range(len(index))]


def test_the_set_loads_through_the_coco_reader_without_a_problem(index):
    assert len(index) >= 30
    assert index.problems == Counter()  # nothing dropped, clipped or repaired
    names = {name: (cid, sup) for cid, name, sup in COCO_CATEGORIES}
    for image in records(index):
        assert len(image.captions) == 5, image.file_name
        assert 2 <= len(image.objects) <= 8, image.file_name
        for obj in image.objects:
            assert obj.category in names and obj.category_id == names[obj.category][0]
            x, y, w, h = obj.bbox_xywh
            assert w > 0 and h > 0 and x + w <= image.width and y + h <= image.height


def test_every_placeholder_decodes_at_the_stated_size(index):
    for image in records(index):
        loaded = load_image(image.path, (image.width, image.height), root=index.images_dir)
        assert loaded.image.size == (image.width, image.height)


def test_the_scenes_are_varied(index):
    supercategories = {sup for cid, name, sup in COCO_CATEGORIES}
    by_name = {name: sup for cid, name, sup in COCO_CATEGORIES}
    seen = Counter(by_name[o.category] for image in records(index) for o in image.objects)
    assert len(seen) >= len(supercategories) - 1, seen  # nearly every supercategory
    categories = {o.category for image in records(index) for o in image.objects}
    assert len(categories) >= 50
    sizes = {(image.width, image.height) for image in records(index)}
    assert len(sizes) >= 3  # landscape, portrait, other aspect ratios
    captions = [c for image in records(index) for c in image.captions]
    assert len(set(captions)) == len(captions)


def test_the_captions_agree_with_the_boxes(index):
    mentions = 0
    for image in records(index):
        annotations = sample_annotations(image)
        boxes_only = Evidence.from_annotations({**annotations, "captions": []})
        for caption in image.captions:
            problems, checked = check_text(caption, boxes_only, kind="detail")
            assert not problems, (image.file_name, caption, problems)
            mentions += checked
    assert mentions >= 1.5 * 5 * len(index)  # the captions name objects; the check read them


def test_make_root_gives_a_coco_root_the_source_resolves(tmp_path):
    from mmsynth.sources.coco_data import resolve_paths

    root = yield_set.make_root(tmp_path / "root")
    paths = resolve_paths(coco_root=root, split=yield_set.SPLIT)
    assert paths.instances.read_bytes() == yield_set.INSTANCES.read_bytes()
    assert paths.captions.read_bytes() == yield_set.CAPTIONS.read_bytes()
    index = load_coco(paths.instances, paths.captions, paths.images)
    assert all(index.record(i).path.is_file() for i in range(len(index)))
