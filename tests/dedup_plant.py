"""Planting known duplicates in a real run, to measure the dedup pass on labelled data.

``plant(run, out, per_transform)`` copies a run's shards into ``out`` and adds shards of copies
of ``per_transform`` samples for each transform of :data:`TRANSFORMS` (the issue's four: JPEG
quality 75, resized ±10%, cropped 2%, brightness ±5%), each under a new key and a later index,
so the pass must remove exactly the copies and keep every original. Used by
``tests/test_dedup.py`` and, at the sizes of the README's figures, by ``bench/bench_dedup.py``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image, ImageEnhance

from mmsynth.sample import Sample
from mmsynth.shards import atomic_write_json, iter_run, run_shards, write_shard


def _jpeg(image: Image.Image, rng: random.Random) -> tuple[bytes, str]:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=75)
    return buf.getvalue(), "jpg"


def _png(image: Image.Image) -> tuple[bytes, str]:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue(), "png"


def _resize(image: Image.Image, rng: random.Random) -> tuple[bytes, str]:
    scale = rng.choice([0.9, 1.1])
    w, h = image.size
    return _png(image.resize((round(w * scale), round(h * scale)), Image.BICUBIC))


def _crop(image: Image.Image, rng: random.Random) -> tuple[bytes, str]:
    """2% of each dimension cut away, split at random between the two sides."""
    w, h = image.size
    dx, dy = round(w * 0.02), round(h * 0.02)
    left, top = rng.randint(0, dx), rng.randint(0, dy)
    return _png(image.crop((left, top, w - (dx - left), h - (dy - top))))


def _brightness(image: Image.Image, rng: random.Random) -> tuple[bytes, str]:
    return _png(ImageEnhance.Brightness(image.convert("RGB")).enhance(rng.choice([0.95, 1.05])))


TRANSFORMS: dict[str, Callable[[Image.Image, random.Random], tuple[bytes, str]]] = {
    "jpeg75": _jpeg, "resize10": _resize, "crop2": _crop, "brightness5": _brightness}


def _samples(run: Path) -> Iterator[Sample]:
    for record, image, ext in iter_run(run):
        yield Sample.from_record(record, image, ext)


def plant(run: str | Path, out: str | Path, per_transform: int, seed: int = 0,
          shard_size: int = 1000) -> dict[str, str]:
    """Copy ``run`` into ``out`` with planted copies; return {copy key: original key}."""
    run, out = Path(run), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for tar in run_shards(run):
        shutil.copy(tar, out / tar.name)
        stats = tar.with_name(tar.name.removesuffix(".tar") + ".stats.json")
        if stats.exists():
            shutil.copy(stats, out / stats.name)
    shutil.copy(run / "run.json", out / "run.json")
    originals = list(_samples(run))
    rng = random.Random(seed)
    chosen = rng.sample(range(len(originals)), min(len(originals),
                                                   per_transform * len(TRANSFORMS)))
    planted: dict[str, str] = {}
    copies: list[Sample] = []
    next_index = max(int(s.meta.get("index", 0)) for s in originals) + 1
    for n, pick in enumerate(chosen):
        name = list(TRANSFORMS)[n // per_transform] if per_transform else "jpeg75"
        source = originals[pick]
        image, ext = TRANSFORMS[name](Image.open(io.BytesIO(source.image)), rng)
        key = f"{source.id}-{name}"
        meta = json.loads(json.dumps(source.meta))
        meta["index"] = next_index
        if meta.get("file_name"):  # a photo: the copy stands for another file, as a re-upload
            meta["file_name"] = f"copy-{name}-{meta['file_name']}"
        next_index += 1
        copies.append(dataclasses.replace(source, id=key, image=image, image_ext=ext,
                                          meta=meta))
        planted[key] = source.id
    first = len(run_shards(run))
    for k in range(0, len(copies), shard_size):
        stats = write_shard(out, first + k // shard_size, copies[k:k + shard_size])
        atomic_write_json(out / stats["tar"].replace(".tar", ".stats.json"), stats)
    return planted


def plant_in_place(run: str | Path, out: str | Path, per_transform: int, seed: int = 0
                   ) -> dict[str, str]:
    """Copy ``run`` (all its files) into ``out`` and give samples of its last shard the picture
    of an earlier sample, transformed: a run that still verifies (same keys, layout and stats,
    the shard's size and sha256 updated), with known duplicates. {copy key: original key}."""
    run, out = Path(run), Path(out)
    shutil.copytree(run, out)
    (out / "dedup.json").unlink(missing_ok=True)
    tars = run_shards(out)
    last = tars[-1]
    earlier = [s for tar in tars[:-1] for s in _samples_of(tar)]
    victims = list(_samples_of(last))
    rng = random.Random(seed)
    count = min(len(victims), per_transform * len(TRANSFORMS), len(earlier))
    chosen = set(rng.sample(range(len(victims)), count))
    originals = rng.sample(range(len(earlier)), count)
    planted: dict[str, str] = {}
    rewritten = []
    for n, victim in enumerate(victims):
        if n in chosen:
            k = len(planted)
            name = list(TRANSFORMS)[k // per_transform]
            source = earlier[originals[k]]
            image, ext = TRANSFORMS[name](Image.open(io.BytesIO(source.image)), rng)
            victim = dataclasses.replace(victim, image=image, image_ext=ext)
            planted[victim.id] = source.id
        rewritten.append(victim)
    shard_id = int(last.name[len("shard-"):-len(".tar")])
    written = write_shard(out, shard_id, rewritten)
    stats_path = out / last.name.replace(".tar", ".stats.json")
    stats = json.loads(stats_path.read_text())
    stats.update(written)
    atomic_write_json(stats_path, stats)
    return planted


def _samples_of(tar: Path) -> Iterator[Sample]:
    from mmsynth.shards import iter_shard

    for record, image, ext in iter_shard(tar):
        yield Sample.from_record(record, image, ext)
