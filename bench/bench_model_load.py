"""How long loading the embedded LLM takes with the cache of dequantised weights
(:mod:`mmsynth.llm.weights_cache`) against without it, same run, each load in a fresh process.

Three loads of SmolLM2-135M-Instruct (GGUF, float32, CPU, one torch thread), in order:

* ``gguf (cache off)``: transformers dequantises the GGUF file, nothing is written — the baseline;
* ``cold (miss)``: an empty cache folder: the same dequantising, plus writing the entry;
* ``warm (hit)``: the entry written by the cold load is checked and loaded.

Each process reports the backend's load time (from the ``load()`` call: tokenizer and model,
``import transformers`` included) and its whole wall time (python start-up and imports too), and
the replies to two short greedy requests, which must be the same on every path. The load
average is printed because the machine may be shared; compare ratios.

    python bench/bench_model_load.py             # one round
    python bench/bench_model_load.py --rounds 3  # best of 3 per path
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

PROGRAM = """
import json, sys, time
sys.path.insert(0, {repo!r})
from mmsynth.llm import GenerationParams, make_backend
backend = make_backend("transformers", device="cpu", threads=1, batch_size=2, **{options!r})
started = time.perf_counter()
backend.load()
seconds = time.perf_counter() - started
replies = backend.generate([[{{"role": "user", "content": "Describe a cat on a red chair."}}],
                            [{{"role": "user", "content": "Name three fruits."}}]],
                           GenerationParams(max_new_tokens=16))
print(json.dumps({{"load_s": seconds, "origin": backend._loaded.origin,
                   "texts": [g.text for g in replies]}}))
"""


def load_once(options: dict) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROGRAM.format(repo=str(REPO),
                                                                options=options)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="best of R loads per path")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()} at start")
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench_model_load_") as folder:
            paths = {"gguf (cache off)": {"weights_cache": False},
                     "cold (miss)": {"weights_cache_dir": folder},
                     "warm (hit)": {"weights_cache_dir": folder}}
            for name, options in paths.items():
                result = load_once(options)
                if name not in best or result["load_s"] < best[name]["load_s"]:
                    best[name] = result
    print(f"\n{'':18s} {'load s':>8s} {'process s':>10s}  origin")
    for name, r in best.items():
        print(f"{name:18s} {r['load_s']:8.2f} {r['process_s']:10.2f}  {r['origin']}")
    base, warm = best["gguf (cache off)"], best["warm (hit)"]
    same = all(r["texts"] == base["texts"] for r in best.values())
    print(f"\nwarm / gguf: load {warm['load_s'] / base['load_s']:.3f}× "
          f"({base['load_s'] / warm['load_s']:.1f}× faster), process "
          f"{warm['process_s'] / base['process_s']:.3f}×; cold / gguf: load "
          f"{best['cold (miss)']['load_s'] / base['load_s']:.2f}×; same greedy replies on every "
          f"path: {same}")
    print(f"load average {os.getloadavg()} at end")


if __name__ == "__main__":
    main()
