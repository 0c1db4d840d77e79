"""Exports (LLaVA JSON, jsonl, datasets save_to_disk) and loading the shards with Hugging Face
``datasets``, on a real 50-sample geometry run."""

import io
import json
import os
import subprocess
import sys

from conftest import REPO, read_shards
from PIL import Image

from mmsynth.export import export_hf, export_jsonl, export_llava
from mmsynth.sample import check_llava_shape

# No network: the datasets library must never reach the Hub in these tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def export(*args):
    return subprocess.run([sys.executable, "-m", "mmsynth.export", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_llava_export_has_every_sample_with_its_image_and_is_stable(geometry_run, tmp_path):
    images = tmp_path / "img"
    proc = export("llava", str(geometry_run), str(tmp_path / "llava.json"), "--images",
                  str(images))
    assert proc.returncode == 0, proc.stderr
    assert "50 rows" in proc.stdout and "50 written" in proc.stdout
    rows = json.loads((tmp_path / "llava.json").read_text())
    shards = read_shards(geometry_run)
    assert len(rows) == 50 and {r["id"] for r in rows} == set(shards)
    for row in rows:
        assert set(row) == {"id", "image", "conversations"}
        assert check_llava_shape(row) == []
        path = images / row["image"]
        assert path.read_bytes() == shards[row["id"]]["png"]  # the shard's own bytes
        assert Image.open(path).size == (448, 448)
        assert row["conversations"] == json.loads(shards[row["id"]]["json"])["conversations"]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in images.rglob("*.png")}
    first = (tmp_path / "llava.json").read_bytes()
    proc = export("llava", str(geometry_run), str(tmp_path / "llava.json"), "--images",
                  str(images))
    assert "0 written, 50 already there" in proc.stdout
    assert (tmp_path / "llava.json").read_bytes() == first
    assert before == {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in images.rglob("*.png")}


def test_an_image_folder_with_other_bytes_is_refused_not_overwritten(geometry_run, tmp_path):
    export_llava(str(geometry_run), str(tmp_path / "a.json"), str(tmp_path / "img"))
    victim = sorted((tmp_path / "img").rglob("*.png"))[0]
    victim.write_bytes(b"someone else's picture")
    proc = export("llava", str(geometry_run), str(tmp_path / "b.json"), "--images",
                  str(tmp_path / "img"))
    assert proc.returncode == 2 and "exists with other content" in proc.stderr
    assert victim.read_bytes() == b"someone else's picture"


def test_jsonl_export_is_sharegpt_shaped_with_meta(geometry_run, tmp_path):
    result = export_jsonl(str(geometry_run), str(tmp_path / "d.jsonl"), str(tmp_path / "img"))
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    assert result["rows"] == len(lines) == 50
    for line in lines:
        row = json.loads(line)
        assert row["images"] == [row["image"]] and (tmp_path / "img" / row["image"]).exists()
        assert row["meta"]["source"] == "geometry" and row["meta"]["seed"] == 0
        # LLaMA-Factory's ShareGPT defaults: role_tag "from", content_tag "value", human/gpt.
        assert [t["from"] for t in row["conversations"][:2]] == ["human", "gpt"]
        assert row["conversations"][0]["value"].count("<image>") == 1


def test_shards_load_unchanged_with_datasets_webdataset(geometry_run, tmp_path):
    from datasets import load_dataset

    # No features: every record has the same keys and types (mmsynth.schema), so what datasets
    # infers from the first five samples fits every other, and nothing is rounded (floats are in
    # JSON text).
    ds = load_dataset("webdataset", data_files={"train": str(geometry_run / "shard-*.tar")},
                      split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 50
    shards = read_shards(geometry_run)
    for row in ds:
        assert row["png"].size == (448, 448)
        assert row["json"] == json.loads(shards[row["__key__"]]["json"])
        assert row["txt"] == shards[row["__key__"]]["txt"].decode()
    # The dataset card declares those features: the directory loads as it is.
    ds = load_dataset(str(geometry_run), split="train", cache_dir=str(tmp_path / "cache2"))
    assert len(ds) == 50 and ds[0]["json"]["id"] == ds[0]["__key__"]


def test_hf_export_saves_a_dataset_with_an_image_feature(geometry_run, tmp_path):
    import datasets

    dest = tmp_path / "hf"
    proc = export("hf", str(geometry_run), str(dest))
    assert proc.returncode == 0, proc.stderr
    ds = datasets.load_from_disk(str(dest))
    assert isinstance(ds.features["image"], datasets.Image) and len(ds) == 50
    shards = read_shards(geometry_run)
    for row in ds:
        record = json.loads(shards[row["id"]]["json"])
        assert row["image"].tobytes() == Image.open(
            io.BytesIO(shards[row["id"]]["png"])).tobytes()
        # The shard record's typed form column for column (mmsynth.schema), the image decoded.
        assert {k: v for k, v in row.items() if k != "image"} == \
            {k: v for k, v in record.items() if k != "image"}
        assert json.loads(row["annotations"]) is None and row["qa"][0]["origin"] == "scene"
    # Its card: the Hub licence id of the one licence, the licences per sample, how to load it.
    card = (dest / "README.md").read_text()
    assert card.startswith("---\nlicense: cc0-1.0\n")
    assert "| CC0-1.0 | 50 |" in card and "load_from_disk('hf')" in card
    licence = (dest / "LICENSE").read_text()
    assert "The 50 samples" in licence and "CC0-1.0: https://creativecommons.org/publicdomain/" \
        "zero/1.0/" in licence
    manifest = json.loads((dest / ".mmsynth-export.json").read_text())
    assert {"README.md", "LICENSE"} <= set(manifest["files"])  # --overwrite removes them too
    assert export("hf", str(geometry_run), str(dest)).returncode == 2  # not empty
    assert export_hf(str(geometry_run), str(dest), overwrite=True)["rows"] == 50
