"""The coco job on the shipped sample, timed phase by phase, against plain ``model.generate`` on
the same requests and against this machine's own arithmetic limit, all in one run.

1. **The job** (greedy and without the repetition penalty by default, so that replies can be
   compared with the baseline's; ``--repetition_penalty 1.1`` for the job's own default): the
   coco source's own steps, as ``pipeline.build_shard`` runs them on one shard — model load,
   the producer (image decoding),
   each stage of the chain (requests, llm, parse, annotation_qa, grounding, claims, clip) and the
   shard write — each timed; inside the llm stage, the decoder's own sums: chat template +
   tokenising, prefill (the model on prompts and shared prefixes), decode (the model on one new
   token per row) and pick (token choice, stop checks, cache bookkeeping).
2. **The baseline**: the same requests (same chat template, same token ids) through plain
   ``model.generate``: static left-padded batches of up to ``--batch_size`` in the job's order,
   one ``generate`` call per batch of a prompt set (one max_new_tokens and one set of stop
   strings per call, so a batch holds one prompt set), greedy, its prefill and decode forwards
   timed by hooks on the model. Its rows are cut by the decoder's own end-of-sequence / stop
   rule, so texts and token counts are comparable with the job's.
3. **The limit**: the model's FLOPs (2 × the parameters of each matrix a token goes through,
   plus attention's QK and AV) for the tokens each phase must compute, divided by a torch fp32
   matmul rate measured here on the model's own shapes at the job's thread count (a prefill
   shape, and the decode shape at the job's mean rows per step); decode also against the
   weights' bytes read per step at a measured memory bandwidth.

Ratios are against figures measured in the same run; the load average is printed, because the
machine may be shared.

    python bench/bench_coco.py                                 # 9 images x 3 types, full budgets
    python bench/bench_coco.py --images 3 --max_new_tokens 48  # a short run (a minute or two)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# -- the job ------------------------------------------------------------------------------------


@dataclass
class JobRun:
    phases: dict[str, float] = field(default_factory=dict)  # phase → seconds, in order
    llm: dict[str, float] = field(default_factory=dict)  # the decoder's sums
    requests: list = field(default_factory=list)  # (messages, params) in the job's order
    replies: list = field(default_factory=list)
    images: int = 0
    kept: int = 0
    rejected: int = 0
    load_origin: str = ""
    prefilled_tokens: int = 0  # through the model, shared prefixes once each
    prompt_tokens: int = 0  # of the requests, whole
    prefix_tokens: int = 0  # the shared prefixes' tokens (computed once each)
    decode_steps: int = 0
    decoded_rows: int = 0
    lengths: list = field(default_factory=list)  # (shared prefix, prompt) tokens per request
    prefix_lengths: list = field(default_factory=list)  # of the distinct shared prefixes
    backend: Any = None


def job_config(args, out: str) -> dict:
    from mmsynth.config import resolve
    from mmsynth.sources import source_options

    return resolve({"source": "coco", "num_samples": args.images, "shard_size": args.images,
                    "types": args.types, "seed": args.seed, "llm_temperature": 0.0,
                    "llm_max_new_tokens": args.max_new_tokens,
                    "llm_batch_size": args.batch_size, "llm_threads": args.threads,
                    "llm_cache": "off", "llm_weights_cache": args.weights_cache,
                    "llm_quantize": args.quantize,
                    "llm_repetition_penalty": args.repetition_penalty,
                    # as the quickstart runs where no CLIP weights are cached (skipped there)
                    "clip_mode": "off",
                    "out": out}, source_options)


def run_job(config: dict) -> JobRun:
    """The coco job's shard 0, step by step as ``pipeline.build_shard`` runs it, each timed."""
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.shards import write_shard
    from mmsynth.sources import SOURCES

    run = JobRun()
    timer = time.perf_counter()
    source = SOURCES.get("coco")(config, fingerprint_of(config))
    backend = source.backend
    backend.load()
    run.phases["model load"] = time.perf_counter() - timer
    run.load_origin = backend._loaded.origin
    _warm_up(backend)
    indices = range(source.num_items())
    run.images = len(indices)
    timer = time.perf_counter()
    samples, rejected = source.produce(indices)
    run.phases["images (decode)"] = time.perf_counter() - timer
    # The plain chain, each stage timed on its own: greedy, one candidate per request, which is
    # what best_of_n (the wrapper source.stages() builds around llm … claims) then runs.
    from mmsynth.stages import build_chain

    for stage in build_chain(source, source.chain):
        timer = time.perf_counter()
        samples, dropped = stage(samples)
        run.phases[stage.name] = time.perf_counter() - timer
        rejected.extend(dropped)
        if stage.name == "requests":
            drafts = [s for s in samples if "messages" in s.work]
            run.requests = [(d.work["messages"], d.work["params"]) for d in drafts]
        if stage.name == "llm":
            run.replies = [d.work["reply"] for d in drafts]
    timer = time.perf_counter()
    samples.sort(key=lambda s: s.meta.get("index", 0))
    write_shard(Path(config["out"]), 0, samples)
    run.phases["shard write"] = time.perf_counter() - timer
    run.kept, run.rejected = len(samples), len(rejected)
    run.llm = dict(backend.seconds)
    run.prefilled_tokens = backend.prefilled_tokens
    run.decode_steps, run.decoded_rows = backend.decode_steps, backend.decoded_rows
    ids = [backend.encode(m) for m, _ in run.requests]
    run.lengths = [(backend.prefix_length(m, i) if backend.prefix_cache else 0, len(i))
                   for (m, _), i in zip(run.requests, ids, strict=True)]
    run.prompt_tokens = sum(map(len, ids))
    heads = {tuple(i[:p]) for i, (p, _) in zip(ids, run.lengths, strict=True) if p}
    run.prefix_lengths = [len(h) for h in heads]
    run.prefix_tokens = sum(run.prefix_lengths)
    run.backend = backend
    return run


def _warm_up(backend) -> None:
    """One tiny request, untimed, so that neither the job nor the baseline (which runs after it)
    pays the model's first-call costs; the backend's sums are reset after it."""
    from mmsynth.llm import GenerationParams

    backend.generate([[{"role": "user", "content": "Say hello."}]],
                     GenerationParams(max_new_tokens=4))
    backend.seconds.clear()
    backend.prefilled_tokens = backend.decode_steps = backend.decoded_rows = 0


# -- the baseline: plain model.generate ---------------------------------------------------------


@dataclass
class BaselineRun:
    seconds: float = 0.0
    prefill: float = 0.0
    decode: float = 0.0
    texts: list = field(default_factory=list)
    completion_tokens: int = 0
    prefilled_tokens: int = 0
    decode_steps: int = 0
    decoded_rows: int = 0
    batches: int = 0


class ForwardTimer:
    """Forward hooks summing the model's prefill calls (more than one new position) and decode
    calls (one) of ``generate``."""

    def __init__(self, model):
        self.seconds = Counter()
        self.calls = Counter()
        self.rows = 0
        self._started = 0.0
        self._kind = ""
        self._handles = [model.register_forward_pre_hook(self._before, with_kwargs=True),
                         model.register_forward_hook(self._after, with_kwargs=True)]

    def _before(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self._kind = "prefill" if ids.shape[1] > 1 else "decode"
        if self._kind == "decode":
            self.rows += ids.shape[0]
        self._started = time.perf_counter()

    def _after(self, module, args, kwargs, output):
        self.seconds[self._kind] += time.perf_counter() - self._started
        self.calls[self._kind] += 1

    def close(self):
        for handle in self._handles:
            handle.remove()


def plain_generate(backend, requests, batch_size: int) -> BaselineRun:
    import torch
    from transformers import GenerationConfig

    from mmsynth.llm.decode import StopChecker

    loaded = backend._ensure_loaded()
    model, tokenizer = loaded.model, loaded.tokenizer
    eos = sorted(loaded.eos_ids)
    groups: dict[tuple, list[int]] = {}
    for index, (_, params) in enumerate(requests):
        groups.setdefault((params.max_new_tokens, tuple(params.stop)), []).append(index)
    run = BaselineRun(texts=[None] * len(requests))
    timer = ForwardTimer(model)
    started = time.perf_counter()
    try:
        for (max_new_tokens, stop), members in groups.items():
            config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=loaded.pad_id, eos_token_id=eos,
                                      stop_strings=list(stop) or None)
            for first in range(0, len(members), batch_size):
                batch = members[first:first + batch_size]
                ids = [backend.encode(requests[i][0]) for i in batch]
                width = max(map(len, ids))
                input_ids = torch.full((len(ids), width), loaded.pad_id, dtype=torch.long)
                mask = torch.zeros_like(input_ids)
                for row, row_ids in enumerate(ids):
                    input_ids[row, width - len(row_ids):] = torch.tensor(row_ids)
                    mask[row, width - len(row_ids):] = 1
                with torch.inference_mode():
                    out = model.generate(input_ids=input_ids, attention_mask=mask,
                                         generation_config=config, tokenizer=tokenizer)
                run.batches += 1
                run.prefilled_tokens += input_ids.numel()
                for row, i in enumerate(batch):
                    text, count = _cut_like_the_decoder(out[row, width:].tolist(), loaded,
                                                        StopChecker(tokenizer, stop)
                                                        if stop else None)
                    run.texts[i] = text
                    run.completion_tokens += count
    finally:
        timer.close()
    run.seconds = time.perf_counter() - started
    run.prefill, run.decode = timer.seconds["prefill"], timer.seconds["decode"]
    run.decode_steps, run.decoded_rows = timer.calls["decode"], timer.rows
    return run


def _cut_like_the_decoder(tokens: list[int], loaded, stops) -> tuple[str, int]:
    """A generated row's text and token count under the decoder's rule: it ends at the first
    end-of-sequence token (excluded from the text, counted) or where a stop string appears."""
    for k, token in enumerate(tokens):
        if token in loaded.eos_ids:
            return loaded.tokenizer.decode(tokens[:k], skip_special_tokens=True), k + 1
        if stops is not None and (cut := stops.cut(tokens[:k + 1])) is not None:
            return cut, k + 1
    return loaded.tokenizer.decode(tokens, skip_special_tokens=True), len(tokens)


# -- the limit ----------------------------------------------------------------------------------


@dataclass
class Shape:
    layers: int
    hidden: int
    block_params: int  # the matrices of one decoder layer
    vocab: int

    @classmethod
    def of(cls, backend) -> Shape:
        """The model's shape, read off its float32 weights (an int8 model's layers hold
        buffers, not parameters: the float32 load of the same weights is read instead)."""
        from mmsynth.llm.models import load_model

        loaded = load_model(backend.source, "cpu", "float32", None, True, backend.weights_cache)
        model = loaded.model
        text = model.config.get_text_config()
        layer = model.model.layers[0]
        block = sum(p.numel() for p in layer.parameters() if p.dim() == 2)
        return cls(text.num_hidden_layers, text.hidden_size, block, text.vocab_size)

    @property
    def matrix_params(self) -> int:
        return self.layers * self.block_params

    def attention_flops(self, start: int, count: int) -> float:
        """QK and AV of ``count`` tokens at positions start.. (each sees itself and all before)."""
        seen = count * start + count * (count + 1) / 2
        return 4.0 * self.layers * self.hidden * seen

    def token_flops(self, logits: bool) -> float:
        return 2.0 * (self.matrix_params + (self.vocab * self.hidden if logits else 0))


def matmul_rate(rows: int, inner: int, cols: int, seconds: float = 3.0) -> float:
    """FLOP/s of a torch fp32 matmul [rows, inner] @ [inner, cols], best of repeats over about
    ``seconds`` (torch's current thread count)."""
    import torch

    a, b = torch.randn(rows, inner), torch.randn(inner, cols)
    for _ in range(3):
        a @ b
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        for _ in range(5):
            a @ b
        best = min(best, (time.perf_counter() - started) / 5)
    return 2.0 * rows * inner * cols / best


def memory_bandwidth(megabytes: int = 512) -> float:
    """Bytes/s of reading a large fp32 tensor (a sum), best of a few."""
    import torch

    x = torch.ones(megabytes * (1 << 20) // 4)
    best = float("inf")
    for _ in range(4):
        started = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - started)
    return x.numel() * 4 / best


# -- the report ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=9, help="photos of the shipped sample")
    parser.add_argument("--types", default="conversation,detail,reasoning")
    parser.add_argument("--max_new_tokens", type=int, default=0,
                        help="0: each prompt set's own budget (the job's default)")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights_cache", default="on", choices=("on", "off"))
    parser.add_argument("--repetition_penalty", type=float, default=1.0,
                        help="the job's --llm_repetition_penalty; 1 (off, not the job's auto "
                             "1.1) so that the baseline's replies can equal the job's: "
                             "generate's penalty also counts the prompt's tokens, the job's "
                             "only the reply's")
    parser.add_argument("--quantize", default="off", choices=("off", "int8"),
                        help="--llm_quantize of the job (and of the baseline, same model)")
    parser.add_argument("--compare_quantize", action="store_true",
                        help="also run the job with --llm_quantize int8 (after the job and "
                             "the baseline, same process) and compare it with the job")
    parser.add_argument("--no_baseline", action="store_true")
    args = parser.parse_args()
    if args.compare_quantize and args.quantize != "off":
        parser.error("--compare_quantize compares int8 with the job's float32: leave --quantize")
    print(f"load average {os.getloadavg()} at start")

    with tempfile.TemporaryDirectory(prefix="bench_coco_") as out:
        job = run_job(job_config(args, out))
    import torch

    n_req = len(job.requests)
    completion = sum(g.completion_tokens for g in job.replies)
    total = sum(job.phases.values())
    work = total - job.phases["model load"]
    print(f"\ncoco job: {job.images} images, {n_req} requests ({args.types}), greedy, "
          f"max_new_tokens {args.max_new_tokens or 'per prompt set'}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch thread(s); model: {job.load_origin}")
    print(f"{'phase':24s} {'seconds':>8s} {'share':>6s}")
    for name, seconds in job.phases.items():
        print(f"{name:24s} {seconds:8.2f} {seconds / total:6.1%}")
        if name == "llm":
            inside = {**job.llm, "other": seconds - sum(job.llm.values())}
            for part in ("encode", "prefill", "decode", "pick", "other"):
                print(f"  {part:22s} {inside.get(part, 0.0):8.2f} "
                      f"{inside.get(part, 0.0) / total:6.1%}")
    print(f"{'total':24s} {total:8.2f}   (without the load {work:.2f} s)")
    print(f"kept {job.kept} samples, rejected {job.rejected}; prompt tokens {job.prompt_tokens} "
          f"(shared prefixes {job.prefix_tokens}), through the model {job.prefilled_tokens}, "
          f"written {completion}")

    rows_per_step = job.decoded_rows / max(1, job.decode_steps)
    figures = job_figures(job)
    baseline: dict[str, float] = {}
    if not args.no_baseline:
        base = plain_generate(job.backend, job.requests, args.batch_size)
        same = sum(a == g.text for a, g in zip(base.texts, job.replies, strict=True))
        base_job = work - job.phases["llm"] + base.seconds
        print(f"\nbaseline, plain model.generate: {base.batches} static batches, "
              f"{base.seconds:.2f} s (prefill {base.prefill:.2f}, decode {base.decode:.2f}, "
              f"other {base.seconds - base.prefill - base.decode:.2f}); {base.prefilled_tokens} "
              f"prompt tokens prefilled (padding included), {base.completion_tokens} written "
              f"(the job: {completion}), {base.decoded_rows / max(1, base.decode_steps):.1f} "
              f"rows per decode step (the job: {rows_per_step:.1f}); replies equal to the "
              f"job's: {same} of {n_req}")
        baseline = {
            "images/s (job without the load)": job.images / base_job,
            "requests/s (llm stage)": n_req / base.seconds,
            "prefill tok/s (through the model)": base.prefilled_tokens / base.prefill,
            "prefill tok/s (request prompts)": job.prompt_tokens / base.prefill,
            "decode tok/s (written / decode)": base.completion_tokens / base.decode,
            "decode tok/s (rows computed / decode)": base.decoded_rows / base.decode,
        }

    shape = Shape.of(job.backend)
    report_limit(job, shape, completion, rows_per_step)
    print(f"\n{'figure':40s} {'job':>9s} {'baseline':>9s} {'ratio':>7s}")
    for name, value in figures.items():
        base_value = baseline.get(name)
        print(f"{name:40s} {value:9.2f} "
              + (f"{base_value:9.2f} {value / base_value:6.2f}×" if base_value else ""))
    if args.compare_quantize:
        compare_quantized(args, job, figures)
    print(f"load average {os.getloadavg()} at end")


def job_figures(job: JobRun) -> dict[str, float]:
    """The job's rates, by the names the tables print."""
    work = sum(job.phases.values()) - job.phases["model load"]
    prefill_s, decode_s = job.llm.get("prefill", 0.0), job.llm.get("decode", 0.0)
    return {
        "images/s (job without the load)": job.images / work,
        "requests/s (llm stage)": len(job.requests) / job.phases["llm"],
        "prefill tok/s (through the model)": job.prefilled_tokens / prefill_s,
        "prefill tok/s (request prompts)": job.prompt_tokens / prefill_s,
        "decode tok/s (written / decode)": sum(g.completion_tokens for g in job.replies)
        / decode_s,
        "decode tok/s (rows computed / decode)": job.decoded_rows / decode_s,
    }


def compare_quantized(args, job: JobRun, figures: dict[str, float]) -> None:
    """The same job with ``--llm_quantize int8``: its figures against the float32 job's, and how
    many replies and samples came out the same."""
    with tempfile.TemporaryDirectory(prefix="bench_coco_int8_") as out:
        quick = run_job(job_config(argparse.Namespace(**{**vars(args), "quantize": "int8"}),
                                   out))
    written = sum(g.completion_tokens for g in quick.replies)
    same = sum(a.text == b.text for a, b in zip(job.replies, quick.replies, strict=True))
    prefill_s, decode_s = quick.llm.get("prefill", 0.0), quick.llm.get("decode", 0.0)
    int8 = job_figures(quick)
    print(f"\n--llm_quantize int8, same requests: load {quick.phases['model load']:.2f} s "
          f"({quick.load_origin}), llm {quick.phases['llm']:.2f} s (prefill {prefill_s:.2f}, "
          f"decode {decode_s:.2f} in {quick.decode_steps} steps); kept {quick.kept} samples, "
          f"rejected {quick.rejected} (float32: {job.kept}, {job.rejected}); {written} tokens "
          f"written; replies equal to float32's: {same} of {len(job.replies)}")
    print(f"{'figure':40s} {'float32':>9s} {'int8':>9s} {'ratio':>7s}")
    for name, value in figures.items():
        print(f"{name:40s} {value:9.2f} {int8[name]:9.2f} {int8[name] / value:6.2f}×")


def report_limit(job: JobRun, shape: Shape, completion: int, rows_per_step: float) -> None:
    """The job's prefill and decode against what this machine's matmul rate and memory
    bandwidth allow for the same tokens."""
    prefill_rate = matmul_rate(512, shape.hidden, 4 * shape.hidden)
    decode_rows = max(1, round(rows_per_step))
    decode_rate = matmul_rate(decode_rows, shape.hidden, 4 * shape.hidden)
    bandwidth = memory_bandwidth()
    # What the job computes: each shared prefix once, then each request's suffix after it (the
    # logits of its last position only), then each written token (its logits too)
    prefill_flops = (job.prefilled_tokens * shape.token_flops(False)
                     + len(job.lengths) * 2.0 * shape.vocab * shape.hidden
                     + sum(shape.attention_flops(0, p) for p in job.prefix_lengths)
                     + sum(shape.attention_flops(p, t - p) for p, t in job.lengths))
    decode_flops = sum(shape.token_flops(True) * g.completion_tokens
                       + shape.attention_flops(t, g.completion_tokens)
                       for (_, t), g in zip(job.lengths, job.replies, strict=True))
    prefill_s, decode_s = job.llm.get("prefill", 0.0), job.llm.get("decode", 0.0)
    weight_bytes = (shape.matrix_params + shape.vocab * shape.hidden) * 4
    print(f"\nlimit, this machine: fp32 matmul {prefill_rate / 1e9:.1f} GFLOP/s at "
          f"[512x{shape.hidden}]@[{shape.hidden}x{4 * shape.hidden}], "
          f"{decode_rate / 1e9:.1f} GFLOP/s at {decode_rows} rows; reading memory "
          f"{bandwidth / 1e9:.1f} GB/s. Model: {shape.matrix_params / 1e6:.1f} M parameters in "
          f"the layers' matrices + {shape.vocab * shape.hidden / 1e6:.1f} M in the logits, "
          f"{shape.token_flops(False) / 1e6:.0f} MFLOP per prompt token, "
          f"{shape.token_flops(True) / 1e6:.0f} per written token (+ attention)")
    print(f"  prefill: {job.prefilled_tokens} tokens, {prefill_flops / 1e9:.1f} GFLOP: "
          f"{prefill_flops / prefill_rate:.2f} s at the matmul rate "
          f"({job.prefilled_tokens / (prefill_flops / prefill_rate):.0f} tok/s), measured "
          f"{prefill_s:.2f} s = {prefill_s / (prefill_flops / prefill_rate):.2f}x the limit")
    compute_s = decode_flops / decode_rate
    memory_s = job.decode_steps * weight_bytes / bandwidth
    print(f"  decode: {completion} written tokens in {job.decode_steps} steps "
          f"({rows_per_step:.1f} rows per step), {decode_flops / 1e9:.1f} GFLOP: "
          f"{compute_s:.2f} s at the matmul rate ({completion / compute_s:.0f} tok/s), "
          f"{memory_s:.2f} s to read the {weight_bytes / 1e6:.0f} MB of weights once per step "
          f"({completion / memory_s:.0f} tok/s); measured {decode_s:.2f} s = "
          f"{decode_s / max(compute_s, memory_s):.2f}x the larger limit")


if __name__ == "__main__":
    main()
