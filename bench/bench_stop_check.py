"""The decoder's stop-string check, per token of one row: the full check (``cut_at_stop``, which
decodes the whole row after every token) against the incremental one (``StopChecker``, which
decodes a window), with the real embedded tokenizer, same rows, same run.

Each row is English text shaped like an answer, checked after every token against the stops of
the conversation prompt set (none occurs, so every token is checked). Prints tokens checked per
second for each row length (best of ``--repeat``) and the load average.

    python bench/bench_stop_check.py                       # rows of 128 and 512 tokens
    python bench/bench_stop_check.py --lengths 128,512,2048 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmsynth.llm import DEFAULT_MODEL
from mmsynth.llm.decode import StopChecker, cut_at_stop
from mmsynth.llm.models import resolve_model

STOPS = ("\nQuestion 4", "\nCaptions:", "\nObjects:")  # configs/prompts/conversation.yaml
TEXT = ("Question 1: What is the cat doing?\nAnswer 1: The cat is sitting on a red chair next to "
        "the window, looking outside at the garden, where a few birds are resting on the fence. ")


def full(tokenizer, row: list[int]) -> None:
    for count in range(1, len(row) + 1):
        assert cut_at_stop(tokenizer, row[:count], STOPS) is None


def incremental(tokenizer, row: list[int]) -> None:
    checker, tokens = StopChecker(tokenizer, STOPS), []
    for token in row:
        tokens.append(token)
        assert checker.cut(tokens) is None


def best(fn, tokenizer, row, repeat: int) -> float:
    seconds = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn(tokenizer, row)
        seconds = min(seconds, time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--lengths", default="128,512")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    source = resolve_model(args.model)
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
    ids = tokenizer(TEXT * 64, add_special_tokens=False)["input_ids"]
    print(f"tokenizer of {source.model_id}; stops {list(STOPS)}; load average "
          f"{os.getloadavg()[0]:.2f} at start")
    print(f"  {'row tokens':>10}{'full tok/s':>12}{'incremental tok/s':>19}{'ratio':>8}")
    for length in (int(n) for n in args.lengths.split(",")):
        row = ids[:length]
        assert len(row) == length, f"the text has only {len(ids)} tokens"
        old = best(full, tokenizer, row, args.repeat)
        new = best(incremental, tokenizer, row, args.repeat)
        print(f"  {length:>10}{length / old:12.0f}{length / new:19.0f}{old / new:8.1f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
