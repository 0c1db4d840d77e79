"""Batched LLM generation against one request at a time: same model, same prompts, same run.

Loads the model once (the embedded SmolLM2-135M-Instruct GGUF by default), then answers the same
greedy requests sequentially (batch size 1) and in batches, and prints generated tokens per second
(end-of-sequence tokens included, wall clock) and whether every batched answer equals its
sequential one. Each timing is the best of ``--repeat`` runs; the load average is printed
because a busy machine slows multi-threaded steps a lot.

    python bench/bench_llm.py                                  # 32 prompts, 64 new tokens
    python bench/bench_llm.py --batch_sizes 8,16,32,64 --threads 1
    python bench/bench_llm.py --device cuda --n 256 --batch_sizes 32,128
    python bench/bench_llm.py --stop '\nQuestion 4' --stop '\nCaptions:'   # with stop strings

With ``--server`` it also measures the openai backend against a real OpenAI-compatible server on
127.0.0.1: ``transformers serve`` with the same model (exported by ``mmsynth.llm.export_hf``), or
the server at ``--base_url`` serving ``--server_model``; requests at concurrency 1 and at each
``--concurrency``, samples/s and tokens/s, same prompts, same run (the cache is not used):

    python bench/bench_llm.py --server --batch_sizes 8 --concurrency 8
    python bench/bench_llm.py --server --base_url http://gpu-box:8000/v1 --server_model M
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmsynth.llm import DEFAULT_MODEL, GenerationParams, make_backend

OBJECTS = ["a cat", "two dogs", "a red bus", "a man riding a bicycle", "a bowl of fruit",
           "a woman holding an umbrella", "three sheep", "a kitchen with a refrigerator",
           "a pizza on a table", "a train at a station", "children playing football",
           "a laptop and a cup of coffee", "a giraffe", "a boat on a lake", "a stop sign",
           "an elephant"]
PLACES = ["in a park", "on a busy street", "at the beach", "in a living room"]


def prompts(n: int) -> list[list[dict[str, str]]]:
    """n varied chats shaped like the COCO captioning requests (different lengths)."""
    chats = []
    for i in range(n):
        thing, place = OBJECTS[i % len(OBJECTS)], PLACES[(i // len(OBJECTS)) % len(PLACES)]
        if i % 3 == 0:
            text = f"Describe a photo of {thing} {place} in one sentence."
        elif i % 3 == 1:
            text = (f"The image shows {thing} {place}. Objects: {thing}, a tree, the sky. "
                    "Write a detailed caption of the image.")
        else:
            text = f"Ask one question about a photo of {thing} {place}, then answer it."
        chats.append([{"role": "user", "content": text}])
    return chats


def timed(backend, requests, params, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = backend.generate(requests, params)
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--n", type=int, default=32, help="prompts")
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--batch_sizes", default="8,16,32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's, one per core)")
    parser.add_argument("--repeat", type=int, default=1, help="timings are the best of R runs")
    parser.add_argument("--stop", action="append", default=[],
                        help="a stop string (backslash escapes such as \\n decoded); repeatable")
    parser.add_argument("--server", action="store_true",
                        help="also bench the openai backend against a local server")
    parser.add_argument("--concurrency", default="8", help="openai backend concurrencies")
    parser.add_argument("--base_url", help="an already running server (default: start "
                        "transformers serve with the embedded model)")
    parser.add_argument("--server_model", help="the model name at --base_url")
    parser.add_argument("--continuous_batching", action="store_true",
                        help="start transformers serve with --continuous-batching")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]

    options = {"model": args.model, "device": args.device, "dtype": args.dtype,
               "threads": args.threads}
    one = make_backend("transformers", batch_size=1, **options)
    started = time.perf_counter()
    one.load()
    load = time.perf_counter() - started
    import torch

    print(f"model {one.model_id}: {one.describe()['device']} {one.describe()['dtype']}, "
          f"{torch.get_num_threads()} torch threads, loaded in {load:.1f} s")
    requests = prompts(args.n)
    stops = tuple(codecs.decode(s, "unicode_escape") for s in args.stop)
    params = GenerationParams(max_new_tokens=args.max_new_tokens, stop=stops)  # greedy
    one.generate(requests[:2], GenerationParams(max_new_tokens=4))  # warm-up, untimed
    print(f"{args.n} prompts, greedy, max_new_tokens {args.max_new_tokens}, stops {list(stops)}; "
          f"load average {os.getloadavg()[0]:.2f} at start")

    base_s, base = timed(one, requests, params, args.repeat)
    base_tokens = sum(g.completion_tokens for g in base)
    print(f"  {'mode':<22}{'seconds':>9}{'tokens':>8}{'tok/s':>9}{'ratio':>8}  same text")
    print(f"  {'batch 1, sequential':<22}{base_s:9.2f}{base_tokens:8d}"
          f"{base_tokens / base_s:9.1f}{1:8.2f}x")
    for size in sizes:
        batched = make_backend("transformers", batch_size=size, **options)
        seconds, out = timed(batched, requests, params, args.repeat)
        tokens = sum(g.completion_tokens for g in out)
        same = sum(a == b for a, b in zip(out, base, strict=True))
        print(f"  {f'batch {size}':<22}{seconds:9.2f}{tokens:8d}{tokens / seconds:9.1f}"
              f"{(tokens / seconds) / (base_tokens / base_s):8.2f}x  {same}/{len(out)}")
    print(f"load average {os.getloadavg()[0]:.2f} at end (target: batched ≥ 5x batch 1)")
    if args.server:
        one.close()
        bench_server(args, requests, params)


def bench_server(args, requests, params) -> None:
    """The openai backend: concurrency 1 against each of ``--concurrency``, same prompts."""
    import tempfile

    from tests.llm.servers import export_embedded, free_port, start_transformers_serve

    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.base_url:
            url, model = args.base_url, args.server_model
        else:
            started = time.perf_counter()
            model = str(export_embedded(Path(tmp) / "model"))
            port = free_port()
            extra = ("--continuous-batching",) if args.continuous_batching else ()
            proc = start_transformers_serve(Path(model), port, Path(tmp) / "serve.log", extra)
            url = f"http://127.0.0.1:{port}/v1"
            print(f"\ntransformers serve {' '.join(extra)} up at {url} "
                  f"({time.perf_counter() - started:.1f} s with the export)")
        try:
            warm = make_backend("openai", model=model, base_url=url, timeout=3600)
            warm.check()
            warm.generate(requests[:2], GenerationParams(max_new_tokens=4))
            print(f"{len(requests)} prompts, greedy, max_new_tokens {args.max_new_tokens}; "
                  f"load average {os.getloadavg()[0]:.2f}")
            print(f"  {'mode':<22}{'seconds':>9}{'tokens':>8}{'tok/s':>9}{'samples/s':>11}"
                  f"{'ratio':>8}")
            base = None
            for concurrency in [1, *(int(c) for c in args.concurrency.split(","))]:
                llm = make_backend("openai", model=model, base_url=url, timeout=3600,
                                   concurrency=concurrency)
                seconds, out = timed(llm, requests, params, args.repeat)
                failed = [g.error for g in out if not g.ok]
                assert not failed, failed[:3]
                tokens = sum(g.completion_tokens for g in out)
                rate = len(out) / seconds
                base = base or rate
                print(f"  {f'concurrency {concurrency}':<22}{seconds:9.2f}{tokens:8d}"
                      f"{tokens / seconds:9.1f}{rate:11.2f}{rate / base:8.2f}x")
            print(f"load average {os.getloadavg()[0]:.2f} at end")
        finally:
            if proc:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
