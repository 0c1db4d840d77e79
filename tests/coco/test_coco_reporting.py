"""What the COCO reader drops reaches the run's summary, stats.json and dataset card; images that
are too small or reached through a symbolic link out of the images folder are rejected and
counted. A hand-made COCO set runs through the real CLI against a fake LLM server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mmsynth.sources.coco_data import (
    ImageTooSmall,
    SymlinkOutsideImages,
    load_coco,
    load_image,
    resolve_paths,
)
from tests.conftest import cli, decoded, read_shards
from tests.llm.fault_server import FaultServer

CATS = [{"id": 1, "name": "person", "supercategory": "person"},
        {"id": 17, "name": "cat", "supercategory": "animal"}]
FAST = ("--source", "coco", "--types", "detail", "--progress", "false", "--grounding", "off",
        "--clip_mode", "off", "--llm_backend", "openai", "--llm_model", "canned-model",
        "--llm_max_retries", "0", "--num_samples", "100")
DROPPED = {"image_duplicate_id": 1, "image_bad_file_name": 1, "box_malformed": 1}


def _jpeg(path: Path, size: tuple[int, int], colour=(120, 80, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "JPEG", quality=90)
    return path


def _record(image_id: int, file_name: str, size=(64, 48)) -> dict:
    return {"id": image_id, "file_name": file_name, "width": size[0], "height": size[1]}


@pytest.fixture
def careless_coco(tmp_path) -> Path:
    """A COCO root whose instances file gives 7 image records, of which the reader keeps 5
    (one duplicate id, one file name climbing out with ..), one box record malformed and one
    clipped; of the 5, one image is 16 px wide and one is a symbolic link out of the folder."""
    root = tmp_path / "careless"
    images = root / "images"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        _jpeg(images / name, (64, 48))
    _jpeg(images / "tiny.jpg", (16, 40))
    _jpeg(tmp_path / "outside" / "elsewhere.jpg", (64, 48))
    (images / "link.jpg").symlink_to(tmp_path / "outside" / "elsewhere.jpg")
    _jpeg(tmp_path / "secret.jpg", (64, 48))
    records = [_record(1, "a.jpg"), _record(2, "b.jpg"), _record(2, "b-again.jpg"),
               _record(3, "c.jpg"), _record(4, "../secret.jpg"), _record(5, "tiny.jpg", (16, 40)),
               _record(6, "link.jpg")]
    boxes = [{"image_id": i, "category_id": 17, "bbox": [2, 2, 10, 10]} for i in (1, 2, 3, 5, 6)]
    boxes += [{"image_id": 1, "category_id": 1, "bbox": [1, 2, "wide", 4]},  # malformed
              {"image_id": 3, "category_id": 1, "bbox": [50, 30, 30, 30]}]  # clipped, kept
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(
        {"images": records, "annotations": boxes, "categories": CATS}))
    return root


def test_dropped_records_and_rejected_images_reach_summary_stats_and_card(careless_coco,
                                                                           tmp_path):
    out = tmp_path / "out"
    with FaultServer() as server:
        proc = cli(*FAST, "--coco_root", str(careless_coco), "--images",
                   str(careless_coco / "images"), "--llm_base_url", server.url,
                   "--out", str(out))
        asked = len(server.chat_requests)
    # The summary: 5 images in the run, 3 input records dropped, 1 repaired, 2 images rejected.
    assert "of 5 images in 1 shards" in proc.stdout
    assert ("  coco reader: 3 records dropped: box_malformed 1, image_bad_file_name 1, "
            "image_duplicate_id 1") in proc.stdout
    assert "  coco reader: 1 record repaired: box_clipped 1" in proc.stdout
    assert "rejected       1  image_error:ImageTooSmall" in proc.stdout
    assert "rejected       1  image_error:SymlinkOutsideImages" in proc.stdout
    assert asked == 3  # only a, b and c went to the LLM

    stats = json.loads((out / "stats.json").read_text())
    assert stats["input"] == {"reader": "coco reader", "dropped": DROPPED,
                              "repaired": {"box_clipped": 1}}
    assert stats["rejections"] == {"image_error:ImageTooSmall": 1,
                                   "image_error:SymlinkOutsideImages": 1}
    shard = json.loads((out / "shard-000000.stats.json").read_text())
    assert "16x40, smaller than --min_image_side 32 px" in \
        shard["examples"]["image_error:ImageTooSmall"][0]["detail"]
    assert "a symbolic link out of the images folder" in \
        shard["examples"]["image_error:SymlinkOutsideImages"][0]["detail"]

    card = (out / "README.md").read_text()
    assert "## Input" in card
    assert "Input records left out (the records never became samples) by the coco reader: 3." \
        in card
    for reason, n in DROPPED.items():
        assert f"| `{reason}` | {n} |" in card
    assert "| `box_clipped` | 1 |" in card
    assert "| `image_error:ImageTooSmall` | 1 |" in card
    assert "| `image_error:SymlinkOutsideImages` | 1 |" in card

    files = {decoded(m["json"])["meta"]["file_name"] for m in read_shards(out).values()}
    assert files == {"a.jpg", "b.jpg", "c.jpg"}


def test_follow_symlinks_and_a_lower_min_side_let_those_images_in(careless_coco, tmp_path):
    out = tmp_path / "out"
    with FaultServer() as server:
        proc = cli(*FAST, "--coco_root", str(careless_coco), "--images",
                   str(careless_coco / "images"), "--llm_base_url", server.url,
                   "--follow_symlinks", "true", "--min_image_side", "16", "--out", str(out))
    assert "image_error" not in proc.stdout
    assert "coco reader: 3 records dropped" in proc.stdout  # the reader's drops are unchanged
    files = {decoded(m["json"])["meta"]["file_name"] for m in read_shards(out).values()}
    assert files == {"a.jpg", "b.jpg", "c.jpg", "tiny.jpg", "link.jpg"}
    link = next(m for m in read_shards(out).values()
                if decoded(m["json"])["meta"]["file_name"] == "link.jpg")
    assert link["jpg"] == (tmp_path / "outside" / "elsewhere.jpg").read_bytes()
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["follow_symlinks"] is True and config["min_image_side"] == 16


def test_a_clean_input_reports_nothing(tmp_path):
    root = tmp_path / "clean"
    _jpeg(root / "images" / "a.jpg", (64, 48))
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps({
        "images": [_record(1, "a.jpg")], "categories": CATS,
        "annotations": [{"image_id": 1, "category_id": 17, "bbox": [4, 4, 20, 20]}]}))
    out = tmp_path / "out"
    with FaultServer() as server:
        proc = cli(*FAST, "--coco_root", str(root), "--llm_base_url", server.url,
                   "--out", str(out))
    assert "coco reader" not in proc.stdout
    assert json.loads((out / "stats.json").read_text())["input"] == {}
    assert "## Input" not in (out / "README.md").read_text()


# -- at the source level --------------------------------------------------------------------------


def test_report_sorts_problems_into_dropped_and_repaired(careless_coco):
    index = load_coco(careless_coco / "annotations" / "instances_train2017.json", None,
                      careless_coco / "images")
    assert len(index) == 5
    assert index.report() == {"dropped": DROPPED, "repaired": {"box_clipped": 1}}


def test_an_image_without_context_is_not_a_dropped_record(tmp_path):
    _jpeg(tmp_path / "a.jpg", (64, 48))
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps({"images": [_record(1, "a.jpg"), _record(2, "b.jpg")],
                                "categories": CATS, "annotations": [
                                    {"image_id": 1, "category_id": 17, "bbox": [4, 4, 9, 9]},
                                    {"image_id": 9, "category_id": 17, "bbox": [4, 4, 9, 9]}]}))
    index = load_coco(inst, None, tmp_path)
    assert index.problems["image_no_context"] == 1  # the source rejects it image by image
    assert index.report() == {"dropped": {"annotation_unknown_image": 1}}


def test_min_side_refuses_small_decoded_images(tmp_path):
    path = _jpeg(tmp_path / "narrow.jpg", (31, 200))
    with pytest.raises(ImageTooSmall, match="31x200, smaller than --min_image_side 32 px"):
        load_image(path, (31, 200), min_side=32)
    assert load_image(path, (31, 200), min_side=31).image.size == (31, 200)
    assert load_image(path, (31, 200)).image.size == (31, 200)  # 0: no limit


def test_links_out_of_the_folder_are_refused_links_inside_are_not(tmp_path):
    images = tmp_path / "images"
    inside = _jpeg(images / "real.jpg", (40, 40))
    outside_dir = tmp_path / "elsewhere"
    outside = _jpeg(outside_dir / "x.jpg", (40, 40))
    (images / "alias.jpg").symlink_to(inside)
    (images / "out.jpg").symlink_to(outside)
    (images / "sub").symlink_to(outside_dir, target_is_directory=True)
    (images / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    assert load_image(images / "alias.jpg", root=images).jpeg == inside.read_bytes()
    for name in ("out.jpg", "sub/x.jpg", "dangling.jpg"):
        with pytest.raises(SymlinkOutsideImages, match="--follow_symlinks true"):
            load_image(images / name, root=images)
    assert load_image(images / "out.jpg").jpeg == outside.read_bytes()  # no root: followed
    # The images folder itself may be a link (a dataset kept on another disk).
    linked_root = tmp_path / "linked"
    linked_root.symlink_to(images, target_is_directory=True)
    assert load_image(linked_root / "real.jpg", root=linked_root).image.size == (40, 40)


def test_the_shipped_sample_has_no_image_under_the_default_min_side():
    paths = resolve_paths()
    index = load_coco(*paths)
    assert index.report() == {}
    for image in index:
        loaded = load_image(image.path, (image.width, image.height), min_side=32,
                            root=paths.images)
        assert min(loaded.image.size) >= 32
