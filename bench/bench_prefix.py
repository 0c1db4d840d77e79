"""Shared-prefix KV reuse on the real coco requests: the shipped sample's photos × the prompt
types, through the transformers backend with each ``prefix_cache`` mode (off: whole prompts
prefilled; copy: every row starts from a copy of its prefix's KV cache; on: the rows attend to
the one stored prefix, :mod:`mmsynth.llm.shared_attention`), same model, same run.

Prints requests/s and prefill tokens/s (prompt tokens of the requests ÷ wall time of the whole
generate call) for each, its ratio to the first mode's, the prompt tokens actually run through
the model, and how many replies differ from the first mode's (greedy: should be none; sampled:
same seeds). The load average is printed because the machine may be shared; compare ratios, not
absolute figures.

    python bench/bench_prefix.py                       # 9 photos x 3 types, greedy and sampled
    python bench/bench_prefix.py --num_samples 3 --max_new_tokens 16 --modes greedy
    python bench/bench_prefix.py --prefix_modes copy,on   # shared attention against copies
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def coco_requests(num_samples: int, types: str, seed: int, temperature: float,
                  max_new_tokens: int):
    """(messages, params) of the coco job's requests, built by its own stages."""
    from mmsynth.config import resolve
    from mmsynth.sources import SOURCES, source_options
    from mmsynth.sources.coco_stages import RequestsStage

    config = resolve({"source": "coco", "num_samples": num_samples, "types": types,
                      "seed": seed, "llm_temperature": temperature,
                      "llm_max_new_tokens": max_new_tokens, "clip_mode": "off",
                      "out": "/tmp/bench_prefix_unused"}, source_options)
    source = SOURCES.get("coco")(config, "bench")
    photos, _ = source.produce(range(source.num_items()))
    drafts, _ = RequestsStage(source).process(photos, lambda _: None)
    drafts = [d for d in drafts if "messages" in d.work]
    return [d.work["messages"] for d in drafts], [d.work["params"] for d in drafts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_samples", type=int, default=9)
    parser.add_argument("--types", default="conversation,detail,reasoning")
    parser.add_argument("--max_new_tokens", type=int, default=0,
                        help="0: each prompt set's own budget")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", default="greedy,sampled")
    parser.add_argument("--prefix_modes", default="off,copy,on",
                        help="prefix_cache modes to run, the first the baseline")
    args = parser.parse_args()

    from mmsynth.llm.transformers_backend import TransformersBackend

    backends = {flag: TransformersBackend(batch_size=args.batch_size, threads=args.threads,
                                          prefix_cache=flag)
                for flag in args.prefix_modes.split(",")}
    first = next(iter(backends))
    started = time.perf_counter()
    for backend in backends.values():
        backend.load()
    print(f"model loaded in {time.perf_counter() - started:.1f} s; load average "
          f"{os.getloadavg()}")
    for mode in args.modes.split(","):
        requests, params = coco_requests(args.num_samples, args.types, 11,
                                         0.0 if mode == "greedy" else 0.6, args.max_new_tokens)
        prompt_tokens = sum(len(backends[first].encode(m)) for m in requests)
        texts, rates = {}, {}
        for flag, backend in backends.items():
            before = backend.prefilled_tokens
            started = time.perf_counter()
            out = backend.generate(requests, params)
            seconds = time.perf_counter() - started
            texts[flag] = [g.text for g in out]
            rates[flag] = len(requests) / seconds
            completion = sum(g.completion_tokens for g in out)
            print(f"{mode:8s} prefix cache {flag:4s}: {len(requests)} requests in "
                  f"{seconds:6.1f} s = {rates[flag]:.3f} req/s "
                  f"({rates[flag] / rates[first]:.2f}x {first}); prompt tokens "
                  f"{prompt_tokens} ({prompt_tokens / seconds:.0f}/s), run through the model "
                  f"{backend.prefilled_tokens - before}; {completion} tokens written; load "
                  f"average {os.getloadavg()[0]:.2f}")
        for flag in list(backends)[1:]:
            differ = [i for i, (a, b) in enumerate(zip(texts[first], texts[flag], strict=True))
                      if a != b]
            print(f"{mode:8s} replies that differ between {first} and {flag}: {len(differ)} of "
                  f"{len(requests)} {differ}")


if __name__ == "__main__":
    main()
