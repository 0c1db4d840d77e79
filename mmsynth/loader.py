"""Stream shards into a PyTorch training loop with webdataset.

>>> from mmsynth.loader import make_dataset, make_loader
>>> loader = make_loader("out/", batch_size=32, num_workers=4, transform=my_transform)
>>> for batch in loader:
...     batch["image"], batch["conversations"], batch["key"]

Shards are shuffled (deterministically per epoch from ``seed``), split across nodes
(``torch.distributed`` ranks) and across DataLoader workers, so every sample arrives once per
epoch; samples pass through a shuffle buffer, images are decoded to PIL (or by ``transform``
to tensors), and each record keeps its conversations as a list.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Callable, Sequence
from typing import Any

from mmsynth.shards import RUN_FILE


def shard_urls(spec: str | os.PathLike | Sequence[str]) -> list[str]:
    """Shard URLs from an output directory, a brace pattern (``data/shard-{000000..000009}.tar``),
    a glob, or a list of paths/URLs."""
    if isinstance(spec, (list, tuple)):
        return [str(s) for s in spec]
    spec = os.fspath(spec)
    if os.path.isdir(spec):
        urls = sorted(glob.glob(os.path.join(spec, "shard-*.tar")))
        if not urls:
            hint = "" if os.path.exists(os.path.join(spec, RUN_FILE)) else " (no run.json either)"
            raise FileNotFoundError(f"no shard-*.tar in {spec}{hint}")
        return urls
    if "{" in spec:
        import braceexpand

        return list(braceexpand.braceexpand(spec))
    if any(c in spec for c in "*?["):
        urls = sorted(glob.glob(spec))
        if not urls:
            raise FileNotFoundError(f"no file matches {spec}")
        return urls
    return [spec]


def _to_record(sample: dict[str, Any], transform: Callable | None,
               image_mode: str | None) -> dict[str, Any]:
    meta = sample["json"]
    image = sample.get("png", sample.get("jpg"))
    if image_mode and getattr(image, "mode", image_mode) != image_mode:
        image = image.convert(image_mode)
    if transform is not None:
        image = transform(image)
    return {"key": sample["__key__"], "image": image, "conversations": meta["conversations"],
            "json": meta}


def make_dataset(
    shards: str | os.PathLike | Sequence[str],
    *,
    transform: Callable | None = None,
    decode: str = "pil",
    image_mode: str | None = "RGB",
    shuffle_shards: bool = True,
    shuffle_buffer: int = 1000,
    seed: int = 0,
    split_by_node: bool = True,
    split_by_worker: bool = True,
):
    """A ``webdataset.DataPipeline`` of records ``{"key", "image", "conversations", "json"}``.

    ``decode`` is a webdataset image spec ("pil", "rgb8", "torchrgb", ...); ``transform`` is
    applied to the decoded image (e.g. a torchvision or open_clip preprocess). PIL images are
    converted to ``image_mode`` first (rendered figures are stored as greyscale or opaque RGBA
    PNGs; ``None`` keeps them as stored). Shuffling is
    deterministic for a given ``seed`` and epoch; ``shuffle_buffer=0`` keeps shard order.
    """
    import webdataset as wds
    from webdataset import shardlists

    stages: list[Any] = [wds.SimpleShardList(shard_urls(shards))]
    if shuffle_shards:
        stages.append(wds.detshuffle(bufsize=10_000, initial=10_000, seed=seed))
    if split_by_node:
        stages.append(shardlists.split_by_node)
    if split_by_worker:
        stages.append(shardlists.split_by_worker)
    stages.append(wds.tarfile_to_samples())
    if shuffle_buffer > 0:
        stages.append(wds.shuffle(shuffle_buffer, initial=min(shuffle_buffer, 100), seed=seed))
    # A partial, not a lambda: DataLoader workers may be spawned, and lambdas do not pickle.
    to_record = functools.partial(_to_record, transform=transform, image_mode=image_mode)
    stages += [wds.decode(decode), wds.map(to_record)]
    return wds.DataPipeline(*stages)


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch records: images stacked when they are tensors, everything else kept as lists."""
    out = {key: [record[key] for record in batch] for key in batch[0]}
    try:
        import torch

        if all(isinstance(im, torch.Tensor) for im in out["image"]):
            out["image"] = torch.stack(out["image"])
    except ImportError:
        pass
    return out


def make_loader(shards, *, batch_size: int = 32, num_workers: int = 2, **dataset_kwargs):
    """A ``torch.utils.data.DataLoader`` over :func:`make_dataset` with :func:`collate`."""
    from torch.utils.data import DataLoader

    dataset = make_dataset(shards, **dataset_kwargs)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate,
                      persistent_workers=num_workers > 0)
