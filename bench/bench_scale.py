"""Scale-out: the Ray executor with 1 and 2 workers against the local executor, same run.

One geometry job (default 4,000 samples, shard_size 250) is built four times, each in a fresh
Python process: ``--executor local --workers 1``, ``local --workers 2``, ``ray --workers 1``,
``ray --workers 2`` (a local Ray instance of that many CPUs). Each process reports

- ``start``: for Ray, starting the local instance (``ray.init``); 0 for local;
- ``run``: ``mmsynth.run.run`` itself: planning, building every shard (Ray: scheduling, worker
  processes importing the code, stats back to the driver), totals. The steady-state rate is
  samples / run;
- ``whole``: the process's wall time measured outside it (interpreter, imports, start, run,
  shutdown).

The output directories of all four are compared byte for byte. ``--repeat R`` repeats the four
runs R times, interleaved, and keeps each configuration's fastest.

    python bench/bench_scale.py                # 4000 samples, shard_size 250
    python bench/bench_scale.py --n 8000 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs in the child process: optionally start Ray, then time run() alone.
DRIVER = """
import json, sys, time
executor, workers, flags = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
import contextlib
start, engine = 0.0, contextlib.nullcontext()
if executor == "ray":
    # The local instance exactly as --executor ray starts it; run() below then joins it.
    from mmsynth.ray_executor import RayExecutor
    engine = RayExecutor(workers=workers)
    t = time.perf_counter()
    engine.__enter__()
    start = time.perf_counter() - t
from mmsynth.run import run
t = time.perf_counter()
summary = run({**flags, "executor": executor, "workers": workers})
elapsed = time.perf_counter() - t
engine.__exit__(None, None, None)
assert summary.kept + summary.rejected == flags["num_samples"], summary.render()
print(json.dumps({"start": start, "run": elapsed}))
"""

CONFIGS = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]


def measure(executor: str, workers: int, flags: dict) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER, executor, str(workers),
                           json.dumps(flags)], cwd=REPO, check=True, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    whole = time.perf_counter() - started
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "whole": whole}


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("shard-*.tar"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="geometry samples per run")
    parser.add_argument("--shard_size", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved repetitions; best kept")
    args = parser.parse_args()

    best: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for executor, workers in CONFIGS:
                out = Path(tmp) / f"{executor}{workers}"
                flags = {"source": "geometry", "num_samples": args.n,
                         "shard_size": args.shard_size, "seed": 0, "out": str(out),
                         "overwrite": True, "progress": False}
                m = measure(executor, workers, flags)
                key = (executor, workers)
                if key not in best or m["run"] < best[key]["run"]:
                    best[key] = m
        reference = shard_bytes(Path(tmp) / "local1")
        identical = all(shard_bytes(Path(tmp) / f"{e}{w}") == reference for e, w in CONFIGS)

    load = os.getloadavg()
    print(f"{args.n} geometry samples, shard_size {args.shard_size}, {os.cpu_count()} cores, "
          f"load average after the runs {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"best of {args.repeat}")
    print(f"  {'executor':<18}{'start s':>9}{'run s':>8}{'samples/s':>11}{'whole s':>9}"
          f"{'samples/s':>11}")
    rate, whole_rate = {}, {}
    for (executor, workers), m in best.items():
        rate[executor, workers] = args.n / m["run"]
        whole_rate[executor, workers] = args.n / m["whole"]
        print(f"  {executor + ' --workers ' + str(workers):<18}{m['start']:9.2f}{m['run']:8.2f}"
              f"{rate[executor, workers]:11.1f}{m['whole']:9.2f}"
              f"{whole_rate[executor, workers]:11.1f}")
    print("ratios (run = steady state, Ray start excluded; whole = whole process):")
    rows = [("ray 2 / ray 1 workers", ("ray", 2), ("ray", 1), "≥ 1.7"),
            ("local 2 / local 1 workers", ("local", 2), ("local", 1), ""),
            ("ray / local, 1 worker", ("ray", 1), ("local", 1), "≥ 0.9"),
            ("ray / local, 2 workers", ("ray", 2), ("local", 2), "≥ 0.9")]
    for label, a, b, target in rows:
        print(f"  {label:<26} run {rate[a] / rate[b]:5.2f}x   "
              f"whole {whole_rate[a] / whole_rate[b]:5.2f}x"
              + (f"   (target {target})" if target else ""))
    print(f"  shards byte-identical across all four: {identical}")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
