from collections import Counter

import numpy as np
import pytest
import torch
from conftest import cli
from PIL import Image

from mmsynth.loader import make_dataset, make_loader, shard_urls


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("loader")
    cli("--source", "geometry", "--num_samples", "90", "--shard_size", "15", "--out", str(out),
        "--seed", "2", "--noprogress")
    return out


def _keys(loader):
    return [k for batch in loader for k in batch["key"]]


def test_dataloader_with_two_workers_yields_every_key_once_per_epoch(shards):
    loader = make_loader(shards, batch_size=8, num_workers=2, shuffle_buffer=20, seed=1)
    expected = {f"geometry-2-{i:09d}" for i in range(90)}
    epochs = []
    for _ in range(2):
        keys = _keys(loader)
        assert Counter(keys).most_common(1)[0][1] == 1, "a key arrived twice"
        assert set(keys) == expected
        epochs.append(keys)
    assert epochs[0] != sorted(epochs[0]), "samples should arrive shuffled"


def test_records_carry_image_and_conversations(shards):
    record = next(iter(make_dataset(shards, shuffle_shards=False, shuffle_buffer=0)))
    assert record["key"] == "geometry-2-000000000"
    assert isinstance(record["image"], Image.Image) and record["image"].size == (448, 448)
    assert record["conversations"][0]["value"].startswith("<image>\n")
    assert record["json"]["qa"]


def test_transform_to_tensors_and_batched_collate(shards):
    def to_tensor(image):
        return torch.from_numpy(np.asarray(image.convert("RGB"))).permute(2, 0, 1)

    loader = make_loader(f"{shards}/shard-{{000000..000005}}.tar", batch_size=4, num_workers=2,
                         transform=to_tensor)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 448, 448) and batch["image"].dtype == torch.uint8
    assert len(batch["conversations"]) == 4 and isinstance(batch["conversations"][0], list)


def test_shard_url_forms(shards):
    assert len(shard_urls(shards)) == 6
    assert shard_urls(f"{shards}/shard-{{000000..000002}}.tar")[-1].endswith("shard-000002.tar")
    assert len(shard_urls(f"{shards}/shard-*.tar")) == 6
    with pytest.raises(FileNotFoundError, match="no shard"):
        shard_urls(shards / "..")
