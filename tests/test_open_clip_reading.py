"""open_clip's own webdataset training pipeline reads mmsynth's shards (issue 20, item 4): each
sample's ``txt`` member is its caption, and ``sizes.json`` gives the dataset's length, as
img2dataset writes them.

The version pair: ``open_clip_train`` 3.3 (in the ``open_clip_torch`` wheel) pins
``webdataset<=0.2.86`` in its ``training`` extra, and with webdataset ≥ 0.2.97 (1.0 included) its
``group_by_keys_nothrow`` fails on every tar (``KeyError: 'fname'``: it does not skip the
end-of-shard marker that webdataset then yields). So open_clip runs here as its users install
it — in a process whose ``webdataset`` is 0.2.86 (fetched once from the package index into
pytest's cache; the test skips, saying so, where the index cannot be reached) — reading shards
that mmsynth wrote with the webdataset of this environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from mmsynth.run import run
from tests.conftest import decoded, read_shards

OPEN_CLIP_WEBDATASET = "0.2.86"

SCRIPT = r"""
import argparse, json, sys
import webdataset
import open_clip
from open_clip_train.data import get_wds_dataset

shards, world = sys.argv[1], sys.argv[2]
args = argparse.Namespace(train_data=shards, val_data=None, train_num_samples=None,
                          dataset_resampled=False, train_data_upsampling_factors=None, seed=0,
                          batch_size=4, workers=1, world_size=1)
tokenizer = open_clip.get_tokenizer("ViT-B-32")
preprocess = open_clip.image_transform(64, is_train=True)
info = get_wds_dataset(args, preprocess, is_train=True, epoch=0, tokenizer=tokenizer)
texts, images = [], 0
for image_batch, text_batch in info.dataloader:
    images += image_batch.shape[0]
    texts += text_batch.tolist()
print(json.dumps({"webdataset": webdataset.__version__, "num_samples": info.dataloader.num_samples,
                  "images": images, "texts": texts}))
"""


@pytest.fixture(scope="module")
def open_clip_webdataset(request) -> Path:
    """A folder holding webdataset 0.2.86, for open_clip's process."""
    cache = getattr(request.config, "cache", None)
    root = (cache.mkdir("mmsynth") if cache is not None
            else Path(tempfile.mkdtemp(prefix="mmsynth-test-cache-")))
    target = root / f"webdataset-{OPEN_CLIP_WEBDATASET}"
    if (target / "webdataset" / "__init__.py").is_file():
        return target
    with tempfile.TemporaryDirectory() as wheels:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                              "-d", wheels, f"webdataset=={OPEN_CLIP_WEBDATASET}"],
                             capture_output=True, text=True, timeout=300)
        wheel = next(Path(wheels).glob("webdataset-*.whl"), None)
        if got.returncode != 0 or wheel is None:
            pytest.skip(f"webdataset {OPEN_CLIP_WEBDATASET} (open_clip's pin) could not be "
                        f"fetched from the package index: {got.stderr.strip()[-300:]}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                        str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    return target


def test_open_clip_s_training_pipeline_reads_captions_and_the_length(open_clip_webdataset,
                                                                      tmp_path):
    import open_clip

    out = tmp_path / "run"
    summary = run({"source": "chart", "num_samples": 24, "shard_size": 6, "seed": 4,
                   "out": str(out), "clip_mode": "off", "progress": False})
    sizes = json.loads((out / "sizes.json").read_text())
    # Each shard's count is the samples in its tar.
    counts = {}
    for path in sorted(out.glob("shard-*.tar")):
        with tarfile.open(path) as tar:
            counts[path.name] = sum(n.endswith(".json") for n in tar.getnames())
    assert sizes == counts
    assert sum(sizes.values()) == summary.kept
    members = read_shards(out)
    captions = {}
    for key, m in members.items():
        record = decoded(m["json"])
        assert m["txt"].decode() == record["caption"]  # the txt member is the caption
        captions[key] = record["caption"]
    env = {**os.environ, "PYTHONPATH": str(open_clip_webdataset)}
    shards = str(out / f"shard-{{000000..{len(sizes) - 1:06d}}}.tar")
    done = subprocess.run([sys.executable, "-c", SCRIPT, shards, "1"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["webdataset"] == OPEN_CLIP_WEBDATASET
    # open_clip took the length from sizes.json and read every sample with its caption.
    assert got["num_samples"] == summary.kept == got["images"]
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    want = sorted(tokenizer(c)[0].tolist() for c in captions.values())
    assert sorted(got["texts"]) == want
