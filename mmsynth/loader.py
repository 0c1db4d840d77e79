"""Stream shards into a PyTorch training loop with webdataset.

>>> from mmsynth.loader import make_dataset, make_loader
>>> loader = make_loader("out/", batch_size=32, num_workers=4, transform=my_transform)
>>> for batch in loader:
...     batch["image"], batch["conversations"], batch["key"]

Shards are shuffled (deterministically per epoch from ``seed``), split across nodes
(``torch.distributed`` ranks) and across DataLoader workers, so every sample arrives once per
epoch; samples pass through a shuffle buffer, images are decoded to PIL (or by ``transform``
to tensors), and each record keeps its conversations as a list.

Shards are not trusted: only each sample's image and JSON record are read and decoded (never
webdataset's default handlers, which unpickle ``.pkl`` and ``torch.load`` ``.pth`` members),
and only local paths or ``file:`` URLs are opened unless ``allow_pipe=True``.

The samples ``mmsynth dedup`` removed (the ``dedup.json`` beside the shards,
:mod:`mmsynth.dedup.record`) are left out, and left out of the sizes too, unless
``keep_duplicates=True``; a stale record is a UsageError.
"""

from __future__ import annotations

import glob
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from mmsynth.dedup.record import Removed, removed_for_urls
from mmsynth.errors import UsageError
from mmsynth.sample import IMAGE_EXTENSIONS
from mmsynth.shards import RUN_FILE, iter_tar_stream

log = logging.getLogger(__name__)


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


# The only URLs the loader opens itself. webdataset's gopen hands every other scheme (pipe:,
# http(s):, gs:, hf:, ais:, scp: ...) to a shell command built from the URL, so a shard list
# someone else wrote could run anything; those need allow_pipe=True.
_LOCAL_SCHEMES = ("", "file")


def _scheme(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).scheme


def check_urls(urls: Sequence[str], allow_pipe: bool = False) -> None:
    """UsageError for a URL the loader would hand to a shell (see ``allow_pipe``)."""
    if allow_pipe:
        return
    for url in urls:
        if url == "-" or _scheme(url) not in _LOCAL_SCHEMES:
            raise UsageError(
                f"refusing to open shard URL {url!r}: webdataset opens {_scheme(url) or url!r} "
                "URLs by running a shell command; pass allow_pipe=True if you trust the whole "
                "shard list, or give local paths")


def _open(url: str, allow_pipe: bool):
    check_urls([url], allow_pipe)
    scheme = _scheme(url)
    if scheme == "":
        return open(url, "rb")
    if scheme == "file":
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        return open(url2pathname(urlparse(url).path), "rb")
    from webdataset.gopen import gopen

    return gopen(url)


class _Problems:
    """Where the loader counts what it skipped, by reason (into the caller's dict when given);
    the first skip of each reason is also logged, so a DataLoader worker, whose counts stay in
    its own process, still says what it dropped. Quacks like the dict mmsynth.shards counts
    into."""

    def __init__(self, counts: dict[str, int] | None):
        self.counts = counts if counts is not None else {}
        self.where = ""

    def __getstate__(self) -> dict[str, Any]:  # a spawned worker counts afresh
        return {"counts": {}, "where": ""}

    def get(self, reason: str, default: int = 0) -> int:
        return self.counts.get(reason, default)

    def __setitem__(self, reason: str, n: int) -> None:
        self.note(reason, self.where, n)

    def note(self, reason: str, where: str, n: int | None = None) -> None:
        if reason not in self.counts:
            log.warning("skipped shard content (%s) in %s; further skips are only counted",
                        reason, where)
        self.counts[reason] = self.counts.get(reason, 0) + 1 if n is None else n


class _TarSamples:
    """Stage: shard URLs → ``{"__key__", "__url__", "json": record, "png"|"jpg": bytes}``.

    Replaces webdataset's tarfile_to_samples: only the member kinds mmsynth writes are read
    (as bytes, within their size caps), the rest are skipped and counted, never decoded."""

    def __init__(self, allow_pipe: bool, unknown_members: str, problems: _Problems):
        self.allow_pipe, self.unknown_members, self.problems = \
            allow_pipe, unknown_members, problems

    def __call__(self, src: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for shard in src:
            url = shard["url"]
            try:
                stream = _open(url, self.allow_pipe)
            except OSError as e:
                raise UsageError(f"cannot open shard {url}: {e.strerror or e}") from None
            self.problems.where = url
            with stream:
                for record, image, ext in iter_tar_stream(stream, url, self.problems,
                                                          unknown_members=self.unknown_members):
                    yield {"__key__": record["id"], "__url__": url, "json": record, ext: image}


class _NotRemoved:
    """Stage: drops the samples their folder's ``dedup.json`` removed (read once, when the
    pipeline is built, and pickled with this stage into spawned workers). Dropping them is what
    the user asked for, not a problem with the shard: nothing is counted or logged."""

    def __init__(self, removed: dict[str, Removed]):
        self.removed = removed

    def __call__(self, src: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        url, keys = None, frozenset()
        for sample in src:
            if sample["__url__"] != url:  # one folder lookup per shard, not per sample
                url = sample["__url__"]
                path = url.removeprefix("file://") if url.startswith("file://") else url
                entry = self.removed.get(os.path.dirname(os.path.abspath(path)))
                keys = entry.keys if entry is not None else frozenset()
            if sample["__key__"] not in keys:
                yield sample


class _Records:
    """Stage: decode the image (and only the image) by ``decode``'s spec and build the record;
    an image that does not decode is skipped and counted."""

    def __init__(self, decode: str, transform: Callable | None, image_mode: str | None,
                 problems: _Problems):
        from webdataset.autodecode import imagehandler

        self.image = imagehandler(decode, extensions=IMAGE_EXTENSIONS)
        self.transform, self.image_mode, self.problems = transform, image_mode, problems

    def __call__(self, src: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for sample in src:
            ext = next(e for e in IMAGE_EXTENSIONS if e in sample)
            try:
                image = self.image(ext, sample[ext])
            except Exception as e:  # PIL raises many kinds for a bad image
                self.problems.note("bad_image", f"{sample['__key__']}.{ext} in "
                                   f"{sample['__url__']} ({type(e).__name__}: {e})")
                continue
            yield _to_record(sample, image, self.transform, self.image_mode)


def _to_record(sample: dict[str, Any], image: Any, transform: Callable | None,
               image_mode: str | None) -> dict[str, Any]:
    from PIL import Image

    meta = sample["json"]
    # Only PIL images: numpy arrays have no mode, and a torch tensor's ``mode`` is a method.
    if image_mode and isinstance(image, Image.Image) and image.mode != image_mode:
        image = image.convert(image_mode)
    if transform is not None:
        image = transform(image)
    return {"key": sample["__key__"], "image": image, "conversations": meta["conversations"],
            "json": meta}


def dataset_size(shards: str | os.PathLike | Sequence[str], keep_duplicates: bool = False
                 ) -> int | None:
    """How many samples the shards hold, from the ``sizes.json`` next to them (what mmsynth
    writes, img2dataset's convention); None when a shard is not listed there or there is none.
    Local paths only.

    Less the samples each shard's ``dedup.json`` removed (what :func:`make_dataset` leaves out,
    so a ``len()`` matches what arrives), unless ``keep_duplicates``; UsageError for a stale
    record."""
    urls = shard_urls(shards)
    return _dataset_size(urls, {} if keep_duplicates else removed_for_urls(urls))


def _dataset_size(urls: Sequence[str], removed: dict[str, Removed]) -> int | None:
    import json

    total = 0
    cache: dict[str, dict[str, int]] = {}
    for url in urls:
        path = url.removeprefix("file://") if url.startswith("file://") else url
        folder, name = os.path.split(os.path.abspath(path))
        if folder not in cache:
            try:
                with open(os.path.join(folder, "sizes.json"), encoding="utf-8") as f:
                    cache[folder] = json.load(f)
            except (OSError, ValueError):
                return None
        sizes = cache[folder]
        if not isinstance(sizes, dict) or not isinstance(sizes.get(name), int):
            return None
        entry = removed.get(folder)
        total += sizes[name] - (entry.per_shard.get(name, 0) if entry is not None else 0)
    return total


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
    unknown_members: str = "ignore",
    allow_pipe: bool = False,
    problems: dict[str, int] | None = None,
    with_length: bool = False,
    epoch_samples: int | None = None,
    keep_duplicates: bool = False,
):
    """A ``webdataset.DataPipeline`` of records ``{"key", "image", "conversations", "json"}``.

    ``epoch_samples``: every reader (a rank's DataLoader worker, or the rank itself without
    workers) yields exactly this many samples per epoch, going round its shards again (in a new
    shuffle) when they run out, so ranks whose shards differ in size still run the same number
    of steps (what :func:`make_loader`'s ``equal_batches`` sets). A reader whose pass over its
    shards gives no sample raises UsageError instead of going round forever.

    ``with_length``: give the pipeline a ``len()`` from ``sizes.json`` (:func:`dataset_size`):
    the whole run's count divided among the ranks when it splits by node (rounded up; a rank's
    true count depends on which shards it draws that epoch); UsageError without a sizes.json.

    ``keep_duplicates``: also yield the samples ``mmsynth dedup`` removed. By default the
    ``dedup.json`` of each shard folder is read once, here, and its removed samples are
    skipped (not counted in ``problems``: they are dropped on purpose) and left out of the
    length; a record that no longer matches the shards raises UsageError (run ``mmsynth dedup``
    again, or pass ``keep_duplicates=True``).

    ``decode`` is a webdataset image spec ("pil", "rgb8", "torchrgb", ...); ``transform`` is
    applied to the decoded image (e.g. a torchvision or open_clip preprocess). PIL images are
    converted to ``image_mode`` first (rendered figures are stored as greyscale or opaque RGBA
    PNGs; ``None`` keeps them as stored). Shuffling is
    deterministic for a given ``seed`` and epoch; ``shuffle_buffer=0`` keeps shard order.

    Shards are not trusted: only the png/jpg image and the json record of each sample are read
    (never unpickled or torch-loaded), within mmsynth's size caps, with valid keys. Other
    members are skipped (``unknown_members="ignore"``) or raise ShardProblem (``"error"``);
    malformed members and samples are skipped. Skips are counted by reason into ``problems``
    (in this process; DataLoader workers count their own) and the first of each reason is
    logged. URLs that webdataset would open through a shell (``pipe:``, ``http:`` ...) raise
    UsageError unless ``allow_pipe``.
    """
    import webdataset as wds
    from webdataset import shardlists
    from webdataset.autodecode import imagespecs

    if decode not in imagespecs:
        raise UsageError(f"decode must be one of webdataset's image specs "
                         f"({', '.join(imagespecs)}), not {decode!r}")
    if unknown_members not in ("ignore", "error"):
        raise UsageError(f"unknown_members must be 'ignore' or 'error', not {unknown_members!r}")
    urls = shard_urls(shards)
    check_urls(urls, allow_pipe)
    removed = {} if keep_duplicates else removed_for_urls(urls)
    counter = _Problems(problems)
    stages: list[Any] = [wds.SimpleShardList(urls)]
    if shuffle_shards:
        stages.append(wds.detshuffle(bufsize=10_000, initial=10_000, seed=seed))
    if split_by_node:
        stages.append(shardlists.split_by_node)
    if split_by_worker:
        stages.append(shardlists.split_by_worker)
    if epoch_samples is not None and epoch_samples < 1:
        raise UsageError(f"epoch_samples must be at least 1, not {epoch_samples}")
    stages.append(_TarSamples(allow_pipe, unknown_members, counter))
    if removed:
        stages.append(_NotRemoved(removed))
    if epoch_samples is not None:
        stages.append(_SomeSamples())
    if shuffle_buffer > 0:
        stages.append(wds.shuffle(shuffle_buffer, initial=min(shuffle_buffer, 100), seed=seed))
    # Objects, not lambdas: DataLoader workers may be spawned, and lambdas do not pickle.
    stages.append(_Records(decode, transform, image_mode, counter))
    pipeline = wds.DataPipeline(*stages)
    if epoch_samples is not None:
        pipeline = pipeline.with_epoch(epoch_samples)
    if with_length:
        total = _dataset_size(urls, removed)
        if total is None:
            raise UsageError("with_length needs the sizes.json that mmsynth writes next to the "
                             "shards (a run made before it has none: re-run it to add it)")
        ranks = world_size() if split_by_node else 1
        pipeline = pipeline.with_length(-(-total // ranks))
    return pipeline


class _SomeSamples:
    """Stage: refuses a pass over a reader's shards that gives no sample (no shard, or none
    usable): a repeating pipeline would otherwise go round it forever."""

    def __call__(self, src: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        empty = True
        for item in src:
            empty = False
            yield item
        if empty:
            raise UsageError("a reader (a rank's DataLoader worker) read no sample in a pass over "
                             "its shards: equal epochs need every reader to get a shard with "
                             "usable samples (at least ranks x workers shards)")


def collate_records(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch records: images stacked when they are tensors, everything else kept as lists."""
    out = {key: [record[key] for record in batch] for key in batch[0]}
    try:
        import torch

        if all(isinstance(im, torch.Tensor) for im in out["image"]):
            out["image"] = torch.stack(out["image"])
    except ImportError:
        pass
    return out


FEW_SHARDS = ("warn", "error", "ignore")


# The name it had before make_loader took a ``collate`` argument.
collate = collate_records


def world_size() -> int:
    """The number of training processes (ranks): torch.distributed's when it is initialised,
    else ``WORLD_SIZE`` (as webdataset's node split reads them), else 1."""
    if "WORLD_SIZE" in os.environ and "RANK" in os.environ:
        return max(1, int(os.environ["WORLD_SIZE"]))
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size()
    except ImportError:
        pass
    return 1


def check_shard_count(n_shards: int, ranks: int, workers: int, on_few: str = "warn") -> None:
    """Shards are the unit the loader splits across ranks and their DataLoader workers: with
    fewer shards than ranks × workers some get none, and a rank with no samples hangs a DDP job
    at its first collective. Warns (``on_few="warn"``), raises UsageError (``"error"``) or
    stays quiet (``"ignore"``)."""
    if on_few not in FEW_SHARDS:
        raise UsageError(f"on_few_shards must be one of {', '.join(FEW_SHARDS)}, not {on_few!r}")
    readers = ranks * max(1, workers)
    if n_shards >= readers or on_few == "ignore":
        return
    message = (f"{n_shards} shard{'s' if n_shards != 1 else ''} for {ranks} rank"
               f"{'s' if ranks != 1 else ''} x {max(1, workers)} DataLoader worker"
               f"{'s' if workers > 1 else ''}: {readers - n_shards} of the {readers} readers get "
               "no samples (an empty rank hangs a DDP job). Regenerate with a --shard_size of at "
               f"most num_samples / {readers} (at least {readers} shards), or use fewer workers "
               "(num_workers) or ranks")
    if on_few == "error":
        raise UsageError(message)
    log.warning("mmsynth.loader: %s", message)


def equal_batches_per_reader(total: int, ranks: int, workers: int, batch_size: int) -> int:
    """Batches each reader yields per epoch so every rank runs the same number of steps:
    the run's samples over all readers, in whole batches, rounded down (open_clip's rule)."""
    per_reader = total // (ranks * workers * batch_size)
    if per_reader < 1:
        raise UsageError(f"{total} samples make no whole batch of {batch_size} for each of "
                         f"{ranks} ranks x {workers} workers: lower batch_size or num_workers")
    return per_reader


def make_loader(shards, *, batch_size: int = 32, num_workers: int = 2,
                collate: Callable | None = None, collate_fn: Callable | None = None,
                on_few_shards: str = "warn", equal_batches: bool = False,
                keep_duplicates: bool = False, **dataset_kwargs):
    """A ``torch.utils.data.DataLoader`` over :func:`make_dataset`, batching with ``collate``
    (or ``collate_fn``, DataLoader's name for it; default :func:`collate_records`: images
    stacked when they are tensors, the rest kept as lists). Checks that every rank and worker
    gets shards (:func:`check_shard_count`, ``on_few_shards``) when the dataset splits by node
    and by worker.

    ``equal_batches``: every rank yields the same number of full batches per epoch (DDP waits
    on the slowest rank: one that runs out first hangs the job) — the run's size from
    ``sizes.json`` divided among ranks x workers in whole batches, rounded down
    (:func:`equal_batches_per_reader`); a reader whose shards run short goes round them again.
    ``len(loader)`` is then that count. Needs a sizes.json and at least ranks x workers
    shards.

    ``keep_duplicates``: also load the samples ``mmsynth dedup`` removed (see
    :func:`make_dataset`); the sizes ``equal_batches`` and ``with_length`` use count the same
    samples the loader yields."""
    from torch.utils.data import DataLoader

    if collate is not None and collate_fn is not None:
        raise UsageError("give collate or collate_fn, not both (they are one argument)")
    collate_fn = collate or collate_fn

    urls = shard_urls(shards)
    splits = dataset_kwargs.get("split_by_node", True) and dataset_kwargs.get("split_by_worker",
                                                                              True)
    if splits:
        check_shard_count(len(urls), world_size(), num_workers,
                          "error" if equal_batches else on_few_shards)
    if equal_batches:
        if not splits:
            raise UsageError("equal_batches divides the shards among ranks and workers: keep "
                             "split_by_node and split_by_worker on")
        total = dataset_size(urls, keep_duplicates)
        if total is None:
            raise UsageError("equal_batches needs the sizes.json that mmsynth writes next to "
                             "the shards (a run made before it has none: re-run it to add it)")
        workers = max(num_workers, 1)
        batches = equal_batches_per_reader(total, world_size(), workers, batch_size)
        dataset_kwargs = {**dataset_kwargs, "epoch_samples": batches * batch_size,
                          "with_length": False, "keep_duplicates": keep_duplicates}
        dataset = make_dataset(urls, **dataset_kwargs)
        with warnings.catch_warnings():  # webdataset's note that a length changes no epoch
            warnings.simplefilter("ignore")
            dataset = dataset.with_length(batches * batch_size * workers)
    else:
        dataset = make_dataset(urls, keep_duplicates=keep_duplicates, **dataset_kwargs)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                      collate_fn=collate_fn or collate_records,
                      persistent_workers=num_workers > 0)
