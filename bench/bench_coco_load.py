"""How long ``load_coco`` takes and how much memory it needs on a COCO train2017-sized input,
against a plain ``json.load`` of the same files measured in the same run.

The input is synthetic but shaped and sized like the real files: 118,287 images, 860,001 box
annotations with segmentation polygons (1% crowd RLE) and 591,753 captions, written to a temporary
folder from a fixed seed (about 450 MB + 90 MB of JSON, like instances_train2017.json and
captions_train2017.json). Each measurement runs in a fresh Python process, which reports its wall
time, its peak resident memory (VmHWM) and what it still holds at the end (VmRSS, after a
garbage collection). Linux only (it reads /proc/self/status):

    python bench/bench_coco_load.py                # full size
    python bench/bench_coco_load.py --scale 0.05   # a quick look
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
N_IMAGES, N_BOXES, N_CAPTIONS = 118_287, 860_001, 591_753

WORDS = [
    "a", "man", "woman", "person", "dog", "cat", "sitting", "standing", "on", "in", "with", "the",
    "of", "next", "to", "near", "red", "blue", "small", "large", "table", "street", "bus", "train",
    "plate", "pizza", "kitchen", "room", "field", "grass", "water", "boat", "holding", "riding",
    "looking", "white", "black", "green", "two", "three", "people", "group", "food", "clock",
    "sign", "car", "bike", "bench", "tree", "sky", "building", "window",
]


def _polygon_pool(rng: np.random.Generator, size: int = 20_000) -> list[str]:
    """Pre-formatted polygons (COCO's 2-decimal floats, 6 to 40 points) reused at random."""
    pool = []
    for _ in range(size):
        points = rng.uniform(0, 640, size=2 * int(rng.integers(6, 41)))
        pool.append("[[" + ",".join(f"{v:.2f}" for v in points) + "]]")
    return pool


def write_synthetic(folder: Path, scale: float = 1.0, seed: int = 0) -> tuple[Path, Path]:
    """instances_train2017.json and captions_train2017.json, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n_images = max(1, round(N_IMAGES * scale))
    n_boxes = max(1, round(N_BOXES * scale))
    n_captions = max(1, round(N_CAPTIONS * scale))
    ids = np.sort(rng.choice(600_000, size=n_images, replace=False)) + 9
    widths = rng.choice([640, 640, 640, 500, 480, 427], size=n_images)
    heights = rng.choice([480, 480, 427, 375, 640, 333], size=n_images)
    cats = [(1, "person", "person"), (3, "car", "vehicle"), (17, "cat", "animal"),
            (47, "cup", "kitchen"), (62, "chair", "furniture"), (85, "clock", "indoor")]
    images = []
    for image_id, w, h in zip(ids.tolist(), widths.tolist(), heights.tolist(), strict=True):
        images.append(json.dumps({
            "license": int(image_id % 8) + 1, "file_name": f"{image_id:012d}.jpg",
            "coco_url": f"http://images.cocodataset.org/train2017/{image_id:012d}.jpg",
            "height": h, "width": w, "date_captured": "2013-11-14 11:18:45",
            "flickr_url": f"http://farm9.staticflickr.com/8186/{image_id}_4e622c8349_z.jpg",
            "id": image_id}))
    licenses = [{"url": f"http://creativecommons.org/licenses/{i}/2.0/", "id": i,
                 "name": f"Licence {i}"} for i in range(1, 9)]
    head = {"info": {"description": "synthetic COCO-sized file for bench_coco_load"},
            "licenses": licenses}

    pool = _polygon_pool(rng)
    owner = rng.integers(0, n_images, size=n_boxes)
    box_x = rng.uniform(0, 0.8, size=n_boxes)
    box_y = rng.uniform(0, 0.8, size=n_boxes)
    box_w = rng.uniform(0.01, 0.2, size=n_boxes)
    box_h = rng.uniform(0.01, 0.2, size=n_boxes)
    crowd = rng.random(n_boxes) < 0.01
    polygon = rng.integers(0, len(pool), size=n_boxes)
    category = rng.integers(0, len(cats), size=n_boxes)
    instances = folder / "annotations" / "instances_train2017.json"
    instances.parent.mkdir(parents=True, exist_ok=True)
    with instances.open("w") as f:
        f.write(json.dumps(head)[:-1] + ', "images": [')
        f.write(", ".join(images))
        f.write('], "annotations": [')
        for k in range(n_boxes):
            i = int(owner[k])
            w, h = int(widths[i]), int(heights[i])
            bbox = [round(box_x[k] * w, 2), round(box_y[k] * h, 2), round(box_w[k] * w, 2),
                    round(box_h[k] * h, 2)]
            seg = ('{"counts": [' + ",".join(str(v) for v in range(40, 90)) + f'], "size": '
                   f'[{h}, {w}]}}') if crowd[k] else pool[int(polygon[k])]
            f.write(("" if k == 0 else ", ") +
                    f'{{"segmentation": {seg}, "area": {bbox[2] * bbox[3] * 0.6:.4f}, '
                    f'"iscrowd": {int(crowd[k])}, "image_id": {int(ids[i])}, "bbox": '
                    f'{json.dumps(bbox)}, "category_id": {cats[int(category[k])][0]}, '
                    f'"id": {k + 1}}}')
        f.write('], "categories": ')
        f.write(json.dumps([{"supercategory": s, "id": c, "name": n} for c, n, s in cats]))
        f.write("}")

    words = np.array(WORDS)
    caption_owner = np.sort(np.r_[np.repeat(np.arange(n_images), 5),
                                  rng.integers(0, n_images, max(0, n_captions - 5 * n_images))])
    caption_owner = caption_owner[:n_captions]
    lengths = rng.integers(8, 15, size=len(caption_owner))
    captions = folder / "annotations" / "captions_train2017.json"
    with captions.open("w") as f:
        f.write(json.dumps(head)[:-1] + ', "images": [')
        f.write(", ".join(images))
        f.write('], "annotations": [')
        for k, (i, n) in enumerate(zip(caption_owner.tolist(), lengths.tolist(), strict=True)):
            text = " ".join(words[rng.integers(0, len(words), size=n)]).capitalize() + "."
            f.write(("" if k == 0 else ", ") +
                    json.dumps({"image_id": int(ids[i]), "id": k + 1, "caption": text}))
        f.write("]}")
    (folder / "train2017").mkdir(exist_ok=True)
    return instances, captions


# Each measurement is a small program run in its own process; it prints one JSON line.
_PRELUDE = """
import gc, json, sys, time
sys.path.insert(0, {repo!r})
def status_mb(key):  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
def report(seconds, **extra):
    gc.collect()
    print(json.dumps(dict(seconds=seconds, peak_mb=status_mb("VmHWM"), held_mb=status_mb("VmRSS"),
                          **extra)))
"""

PROGRAMS = {
    "python + imports (no data)": """
import numpy
from mmsynth.sources import coco_data
report(0.0)
""",
    "json.load of both files (baseline)": """
import numpy
start = time.perf_counter()
with open({instances!r}) as f:
    instances = json.load(f)
with open({captions!r}) as f:
    captions = json.load(f)
report(time.perf_counter() - start, annotations=len(instances["annotations"]))
""",
    "load_coco (instances + captions)": """
from mmsynth.sources.coco_data import load_coco
start = time.perf_counter()
index = load_coco({instances!r}, {captions!r}, {images!r})
seconds = time.perf_counter() - start
picks = range(0, len(index), max(1, len(index) // 20000))
start = time.perf_counter()
for i in picks:
    index.record(i)
per_record_us = (time.perf_counter() - start) / len(picks) * 1e6
report(seconds, images=len(index), boxes=int(index.box_offsets[-1]),
       captions=sum(c.count(chr(10)) + 1 for c in index.captions if c),
       record_us=per_record_us, problems=dict(index.problems))
""",
}


def measure(program: str, **paths: str) -> dict:
    code = _PRELUDE.format(repo=str(REPO)) + program.format(**paths)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of COCO's size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_coco_") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        instances, captions = write_synthetic(folder, args.scale, args.seed)
        sizes = instances.stat().st_size / 1e6, captions.stat().st_size / 1e6
        print(f"synthetic COCO (scale {args.scale}): instances {sizes[0]:.0f} MB, captions "
              f"{sizes[1]:.0f} MB, written in {time.perf_counter() - start:.1f} s")
        paths = {"instances": str(instances), "captions": str(captions),
                 "images": str(folder / "train2017")}
        results = {name: measure(program, **paths) for name, program in PROGRAMS.items()}
    print(f"\n{'':38s} {'seconds':>8s} {'peak RSS MB':>12s} {'held MB':>8s}")
    for name, r in results.items():
        print(f"{name:38s} {r['seconds']:8.2f} {r['peak_mb']:12.0f} {r['held_mb']:8.0f}")
    ours = results["load_coco (instances + captions)"]
    base = results["json.load of both files (baseline)"]
    print(f"\nload_coco: {ours['images']:,} images, {ours['boxes']:,} boxes, "
          f"{ours['captions']:,} captions; record(i) {ours['record_us']:.0f} µs; "
          f"problems {ours['problems'] or 'none'}")
    ratios = {key: ours[key] / base[key] for key in ("seconds", "peak_mb", "held_mb")}
    print(f"load_coco / json.load: time {ratios['seconds']:.2f}×, peak {ratios['peak_mb']:.2f}×, "
          f"held {ratios['held_mb']:.2f}×")


if __name__ == "__main__":
    main()
