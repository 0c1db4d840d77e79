"""How fast and how big the dedup pass is, against the naive pass measured in the same run.

Three measures, each phase in its own process (so its peak RSS is its own):

1. **Hash set** (``--hashes N``, default 1,000,000): synthetic 256-bit pHashes (random, with 1% of
   them near copies of another: up to 20 bits flipped) and MinHashes of synthetic texts; times the
   candidate search (``mmsynth.dedup.near.close_pairs``) and the text MinHash LSH
   (``find._near_text``), with peak RSS. Baseline: all pairs' Hamming distances on a 5,000 subset
   (numpy, vectorised), extrapolated to N by the number of pairs.
2. **Real run** (``--run DIR``): the whole ``mmsynth dedup`` pass over a run (``--workers``),
   samples/s and peak RSS. Baseline: the same scan, then every pair compared pixel by pixel
   (``images.difference``) — timed on 300 random pairs and extrapolated to all the run's pairs.
3. **Quality** (``--quality DIR``): copies planted in the run (``tests/dedup_plant.py``: 200 per
   transform), found and false positives; ``--photos N``: the same on the nine shipped COCO
   photos with N copies per transform.

    python bench/bench_dedup.py --hashes 1000000
    python bench/bench_dedup.py --run out/geo20k --workers 2
    python bench/bench_dedup.py --quality out/chart10k
    python bench/bench_dedup.py --photos 200     # the shipped COCO photos, 200 copies per transform
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _hash_set(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    copies = rng.choice(n, size=n // 100, replace=False)
    others = np.setdiff1d(np.arange(n), copies)  # an original is never itself a copy
    originals = rng.choice(others, size=len(copies))
    hashes[copies] = hashes[originals]
    for row in copies:  # flip up to 20 bits
        for bit in rng.choice(256, size=int(rng.integers(0, 21)), replace=False):
            hashes[row, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return hashes, set(zip(np.minimum(copies, originals).tolist(),
                           np.maximum(copies, originals).tolist(), strict=True))


def phase_index(n: int) -> dict:
    from mmsynth.dedup.near import close_pairs

    hashes, planted = _hash_set(n)
    started = time.perf_counter()
    pairs = close_pairs(hashes, 36)
    seconds = time.perf_counter() - started
    found = {tuple(p) for p in pairs.tolist()}
    return {"n": n, "seconds": round(seconds, 2), "pairs": len(pairs),
            "planted_found": f"{len(found & planted)}/{len(planted)}",
            "per_second": round(n / seconds), "peak_rss_mb": round(_peak_mb())}


def phase_naive_index(n: int, subset: int = 5000) -> dict:
    from mmsynth.dedup.images import hamming

    hashes, _ = _hash_set(subset)
    started = time.perf_counter()
    close = 0
    for i in range(subset):
        close += int((hamming(hashes[i], hashes[i + 1:]) <= 36).sum())
    seconds = time.perf_counter() - started
    scale = (n * (n - 1) / 2) / (subset * (subset - 1) / 2)
    return {"subset": subset, "seconds": round(seconds, 2),
            "extrapolated_seconds": round(seconds * scale), "peak_rss_mb": round(_peak_mb())}


def phase_text(n: int) -> dict:
    import numpy as np

    from mmsynth.dedup.find import Found, ShardPrints, _near_text
    from mmsynth.dedup.text import minhash

    rng = np.random.default_rng(1)
    vocabulary = [f"w{k}" for k in range(5000)]
    started = time.perf_counter()
    prints = ShardPrints(shard="synthetic")
    base = None
    for i in range(n):
        if i % 100 == 99 and base is not None:  # 1% near copies: one word changed
            tokens = list(base)
            tokens[len(tokens) // 2] = "changed"
        else:
            tokens = [vocabulary[k] for k in rng.integers(0, len(vocabulary), size=40)]
            base = tokens
        prints.keys.append(str(i))
        prints.minhash.append(minhash(tokens))
    hashed = time.perf_counter() - started
    found = Found()
    started = time.perf_counter()
    _near_text([prints], np.arange(n), prints.keys, found, 0.7)
    return {"n": n, "minhash_seconds": round(hashed, 1),
            "lsh_seconds": round(time.perf_counter() - started, 1),
            "near_copies_removed": len(found.removed), "planted": n // 100,
            "peak_rss_mb": round(_peak_mb())}


def phase_run(run: str, workers: int) -> dict:
    import shutil

    from mmsynth.dedup.find import dedup_run

    with tempfile.TemporaryDirectory() as tmp:  # the run is read, never written
        copy = Path(tmp) / "run"
        copy.mkdir()
        for p in Path(run).iterdir():
            if p.is_file() and p.name != "dedup.json":
                os.symlink(p.resolve(), copy / p.name) if p.suffix == ".tar" else \
                    shutil.copy(p, copy / p.name)
        started = time.perf_counter()
        result = dedup_run(copy, workers=workers, quiet=True)
        seconds = time.perf_counter() - started
    return {"samples": result["samples"], "seconds": round(seconds, 1),
            "samples_per_second": round(result["samples"] / seconds, 1),
            "scan_seconds": result["seconds"]["scan"], "removed": result["removed_total"],
            "compared_pairs": result["compared_pairs"], "peak_rss_mb": round(_peak_mb())}


def phase_naive_pairs(run: str, pairs: int = 300) -> dict:
    import random

    from mmsynth.dedup.images import difference, frame, open_image
    from mmsynth.shards import iter_run

    images = [img for _, img, _ in iter_run(run)]
    n = len(images)
    rng = random.Random(0)
    chosen = [tuple(rng.sample(range(n), 2)) for _ in range(pairs)]
    started = time.perf_counter()
    for i, j in chosen:  # a naive pass holds no frames: each pair reads both pictures again
        difference(frame(open_image(images[i])), frame(open_image(images[j])))
    per_pair = (time.perf_counter() - started) / pairs
    return {"samples": n, "per_pair_ms": round(per_pair * 1000, 2),
            "extrapolated_seconds": round(per_pair * n * (n - 1) / 2)}


def phase_quality(run: str) -> dict:
    from mmsynth.dedup.find import Settings, dedup_run
    from tests.dedup_plant import TRANSFORMS, plant

    with tempfile.TemporaryDirectory() as tmp:
        planted = plant(run, Path(tmp) / "run", per_transform=200)
        result = dedup_run(Path(tmp) / "run", workers=2, quiet=True,
                           settings=Settings(checks=("exact_image", "near_image")))
    removed = {e["key"]: e for e in result["removed"]}
    found = {name: sum(1 for k, o in planted.items() if k.endswith(name) and k in removed
                       and removed[k]["duplicate_of"] == o) for name in TRANSFORMS}
    false = [k for k in removed if k not in planted]
    distinct = result["samples"] - len(planted)
    return {"distinct": distinct, "planted": len(planted), "found": found,
            "found_share": round(sum(found.values()) / len(planted), 4),
            "false_positives": len(false), "false_positive_share": round(len(false) / distinct, 5),
            "seconds": result["seconds"]["total"]}


def phase_photos(per_transform: int) -> dict:
    """The nine shipped COCO photos with ``per_transform`` copies per transform, cycling
    through the photos, each under another file name."""
    import random

    from PIL import Image

    from mmsynth.dedup.find import Settings, dedup_run
    from mmsynth.resources import data_path
    from mmsynth.sample import Sample
    from mmsynth.shards import atomic_write_json, write_shard
    from tests.dedup_plant import TRANSFORMS

    photos = sorted(data_path("assets", "coco_sample", "images").glob("*.jpg"))
    rng = random.Random(0)

    def sample(key: str, image: bytes, ext: str, name: str, index: int) -> Sample:
        return Sample(id=key, image=image, image_ext=ext,
                      conversations=[{"from": "human", "value": "<image>\nDescribe it."},
                                     {"from": "gpt", "value": key}],
                      meta={"source": "coco", "index": index, "file_name": name})

    samples = [sample(f"photo-{i}", p.read_bytes(), "jpg", p.name, i)
               for i, p in enumerate(photos)]
    copies = {}
    for name, transform in TRANSFORMS.items():
        for c in range(per_transform):
            i = c % len(photos)
            image, ext = transform(Image.open(photos[i]), rng)
            key = f"photo-{i}-{name}-{c}"
            samples.append(sample(key, image, ext, f"{name}-{c}-{photos[i].name}",
                                  len(samples)))
            copies[key] = f"photo-{i}"
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        (run / "run.json").write_text("{}")
        atomic_write_json(run / "shard-000000.stats.json", write_shard(run, 0, samples))
        result = dedup_run(run, quiet=True,
                           settings=Settings(checks=("exact_image", "near_image")))
    removed = {e["key"]: e["duplicate_of"] for e in result["removed"]}
    return {"photos": len(photos), "copies": len(copies),
            "removed_copies": sum(k in removed for k in copies),
            "naming_the_photo": sum(removed.get(k) == o for k, o in copies.items()),
            "photos_removed": sum(k not in copies for k in removed)}


def _child(phase: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--phase", phase, *args], check=True,
                          capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hashes", type=int, default=0, help="synthetic hash set size")
    parser.add_argument("--texts", type=int, default=0, help="synthetic MinHash set size")
    parser.add_argument("--run", help="a real run to time the whole pass on")
    parser.add_argument("--quality", help="a run to plant copies in")
    parser.add_argument("--photos", type=int, default=0,
                        help="copies per transform of the nine shipped COCO photos")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.phase:
        functions = {"index": lambda: phase_index(int(a.args[0])),
                     "naive_index": lambda: phase_naive_index(int(a.args[0])),
                     "text": lambda: phase_text(int(a.args[0])),
                     "run": lambda: phase_run(a.args[0], int(a.args[1])),
                     "naive_pairs": lambda: phase_naive_pairs(a.args[0]),
                     "quality": lambda: phase_quality(a.args[0]),
                     "photos": lambda: phase_photos(int(a.args[0]))}
        print(json.dumps(functions[a.phase]()))
        return
    if not (a.hashes or a.texts or a.run or a.quality or a.photos):
        a.hashes = 1_000_000
    if a.hashes:
        ours = _child("index", str(a.hashes))
        naive = _child("naive_index", str(a.hashes))
        print(f"hash set, {a.hashes:,} 256-bit pHashes: candidate search {ours['seconds']} s "
              f"({ours['per_second']:,}/s), peak RSS {ours['peak_rss_mb']} MB, planted near "
              f"pairs found {ours['planted_found']}; naive all pairs (5,000 subset "
              f"{naive['seconds']} s, extrapolated) {naive['extrapolated_seconds']:,} s: "
              f"{naive['extrapolated_seconds'] / ours['seconds']:,.0f}x")
    if a.texts:
        text = _child("text", str(a.texts))
        print(f"text, {a.texts:,} MinHashes: hashing {text['minhash_seconds']} s, LSH "
              f"{text['lsh_seconds']} s, peak RSS {text['peak_rss_mb']} MB, near copies "
              f"removed {text['near_copies_removed']} of {text['planted']} planted")
    if a.run:
        ours = _child("run", a.run, str(a.workers))
        naive = _child("naive_pairs", a.run)
        total_naive = ours["scan_seconds"] + naive["extrapolated_seconds"]
        print(f"real run, {ours['samples']:,} samples, --workers {a.workers}: "
              f"{ours['samples_per_second']} samples/s ({ours['seconds']} s, scan "
              f"{ours['scan_seconds']} s, {ours['compared_pairs']:,} pairs compared), peak RSS "
              f"{ours['peak_rss_mb']} MB; naive (same scan + all pairs compared, "
              f"{naive['per_pair_ms']} ms a pair) {total_naive:,.0f} s: "
              f"{total_naive / ours['seconds']:,.0f}x")
    if a.photos:
        p = _child("photos", str(a.photos))
        print(f"the {p['photos']} shipped COCO photos + {p['copies']} copies: "
              f"{p['removed_copies']} copies removed ({p['naming_the_photo']} naming the photo "
              f"itself, the rest an earlier copy like them), {p['photos_removed']} photos "
              "removed")
    if a.quality:
        q = _child("quality", a.quality)
        print(f"quality on {a.quality}: {q['distinct']:,} distinct + {q['planted']} planted: "
              f"found {q['found_share']:.1%} {q['found']}, false positives "
              f"{q['false_positives']} ({q['false_positive_share']:.3%})")


if __name__ == "__main__":
    main()
