"""How long the readers of a run take — preview, the exports, ``datasets.load_dataset`` — against
the floor measured in the same run: a process that only reads every member of every shard
(``tarfile``, bytes read and dropped). Each step runs as its own process, start-up included, on a
geometry run generated first from a fixed seed:

    python bench/bench_export.py                     # 10,000 samples
    python bench/bench_export.py --num_samples 2000  # a quick look
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

READ_ALL = """
import sys, tarfile, glob
n = 0
for path in sorted(glob.glob(sys.argv[1] + "/shard-*.tar")):
    with tarfile.open(path) as tar:
        for member in tar:
            n += len(tar.extractfile(member).read())
print(n)
"""

LOAD_DATASET = """
import sys
from datasets import Features, Image, Json, Value, load_dataset
features = Features({"png": Image(), "json": Json(), "__key__": Value("string"),
                     "__url__": Value("string")})
ds = load_dataset("webdataset", data_files={"train": sys.argv[1] + "/shard-*.tar"},
                  split="train", features=features, cache_dir=sys.argv[2])
assert len(ds) > 0
"""


def timed(args: list[str]) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_samples", type=int, default=10_000)
    ns = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        out, dest = Path(tmp) / "run", Path(tmp) / "exports"
        subprocess.run([py, "-m", "mmsynth.generate", "--source", "geometry", "--num_samples",
                        str(ns.num_samples), "--out", str(out), "--seed", "0", "--noprogress"],
                       cwd=REPO, check=True, capture_output=True)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        floor = timed([py, "-c", READ_ALL, str(out)])
        steps = {
            "preview (--n 200)": [py, "-m", "mmsynth.preview", str(out), "--out",
                                  str(dest / "preview.html")],
            "export llava": [py, "-m", "mmsynth.export", "llava", str(out),
                             str(dest / "llava.json"), "--images", str(dest / "img")],
            "export llava again": [py, "-m", "mmsynth.export", "llava", str(out),
                                   str(dest / "llava.json"), "--images", str(dest / "img")],
            "export jsonl": [py, "-m", "mmsynth.export", "jsonl", str(out),
                             str(dest / "data.jsonl"), "--images", str(dest / "img")],
            "export hf": [py, "-m", "mmsynth.export", "hf", str(out), str(dest / "hf")],
            "datasets.load_dataset": [py, "-c", LOAD_DATASET, str(out), str(dest / "cache")],
        }
        print(f"{ns.num_samples} geometry samples; floor (read every shard member): "
              f"{floor:.2f} s")
        for name, args in steps.items():
            seconds = timed(args)
            print(f"{name:<24} {seconds:6.2f} s  {seconds / floor:5.2f}x the floor  "
                  f"{ns.num_samples / seconds:8.0f} samples/s")
        print(f"page: {(dest / 'preview.html').stat().st_size / 1e6:.1f} MB; "
              f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
