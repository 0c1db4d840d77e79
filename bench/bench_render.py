"""End-to-end rendering speed: mmsynth vs a naive matplotlib loop, measured in the same run.

Each side is a whole Python process pinned to one core (``taskset -c 0``), start-up included:
``python -m mmsynth.generate --source S`` (render, QA, JSON, tar shards) against
``bench/naive.py`` (the same scenes drawn with a new ``plt.subplots`` figure per sample and
``savefig`` PNG to memory). Then ``--workers 2`` against ``--workers 1`` on all cores.

    python bench/bench_render.py                 # geometry, 3000 samples
    python bench/bench_render.py --source chart --n 1000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], pin: bool) -> float:
    if pin and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - started


def generate(source: str, n: int, out: Path, workers: int = 1, shard_size: int = 1000,
             pin: bool = True) -> float:
    return timed([sys.executable, "-m", "mmsynth.generate", "--source", source, "--num_samples",
                  str(n), "--out", str(out), "--workers", str(workers), "--shard_size",
                  str(shard_size), "--overwrite", "--noprogress"], pin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="geometry")
    parser.add_argument("--n", type=int, default=3000, help="samples per timed run")
    parser.add_argument("--scale_n", type=int, default=4000, help="samples for the workers runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        naive = timed([sys.executable, str(REPO / "bench" / "naive.py"), "--source", args.source,
                       "--n", str(args.n)], pin=True)
        ours = generate(args.source, args.n, out)
        print(f"one core, {args.n} {args.source} samples, whole process incl. start-up:")
        print(f"  naive loop  {naive:7.2f} s  {args.n / naive:8.1f} samples/s")
        print(f"  mmsynth     {ours:7.2f} s  {args.n / ours:8.1f} samples/s")
        print(f"  ratio       {naive / ours:7.2f}x  (target ≥ 4x)")

        shard = max(args.scale_n // 16, 1)
        one = generate(args.source, args.scale_n, out, workers=1, shard_size=shard, pin=False)
        two = generate(args.source, args.scale_n, out, workers=2, shard_size=shard, pin=False)
        print(f"{args.scale_n} samples, shard_size {shard}, {os.cpu_count()} cores:")
        print(f"  --workers 1 {one:7.2f} s  {args.scale_n / one:8.1f} samples/s")
        print(f"  --workers 2 {two:7.2f} s  {args.scale_n / two:8.1f} samples/s")
        print(f"  scaling     {one / two:7.2f}x  (target ≥ 1.7x)")


if __name__ == "__main__":
    main()
