"""A cache of dequantised GGUF models on disk, so only the first load of a GGUF file pays for
dequantising it (the embedded SmolLM2: ~20 s, tokenizer 7 s + weights 11 s on a slow core) and
every later process — a run's workers, the next run, a test session — loads a plain safetensors
copy in about a second.

An entry is a directory holding what ``from_pretrained`` reads (``config.json``,
``generation_config.json``, ``model.safetensors``, the tokenizer's files) and, written last,
``manifest.json``: the entry's key and the size and sha256 of every file. Its name is the key:
a hash of everything that decides the dequantised tensors —

* the GGUF file's sha256 (the weights and the tokenizer come from its bytes, not its path);
* the torch dtype they were cast to;
* the transformers and gguf versions (both take part in dequantising: a release may change a
  tensor's layout or rounding; a new version costs one slow load, a stale entry trusted would
  change outputs silently);
* :data:`FORMAT`, this module's layout.

Where: ``$MMSYNTH_CACHE/llm-weights`` when MMSYNTH_CACHE is set, else
``$XDG_CACHE_HOME/mmsynth/llm-weights``, else ``~/.cache/mmsynth/llm-weights`` (the XDG
convention the Hugging Face cache follows too); ``--llm_weights_cache off`` (or
``weights_cache=False``) does without. An entry of the embedded model takes ~540 MB in float32;
delete the directory to reclaim it.

Safety: an entry is written into a temporary directory beside the others and published by one
``rename``, so a reader sees a whole entry or none; a process killed while writing leaves only a
``.tmp-*`` directory that no reader trusts (and that a later writer removes when it is old). Two
processes racing both build, the first rename wins and the second drops its copy. Before an entry
is used, each file's size and sha256 are checked against its manifest (~0.3 s for 540 MB); an
entry that fails the check or fails to load is logged, removed and rebuilt from the GGUF file.
Any failure to write the cache (a read-only or full disk) is a warning: the model loaded from the
GGUF file is used all the same. A model loaded from an entry maps its weights file (the workers of
a run share those pages): entries are only ever added and removed whole, never changed in place.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsynth.hashing import cached_file_sha256, file_sha256

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
CACHE_ENV = "MMSYNTH_CACHE"
_STALE_TEMP_SECONDS = 3600  # a .tmp-* directory older than this was left by a killed writer


def default_cache_dir() -> Path:
    """Where dequantised weights are kept unless told otherwise (see the module's docstring)."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                            "mmsynth")
    return Path(root) / "llm-weights"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "none"


@dataclass(frozen=True)
class WeightsKey:
    """What decides a GGUF file's dequantised tensors; :attr:`name` names its cache entry."""

    gguf_sha256: str
    dtype: str  # e.g. "float32"
    transformers: str
    gguf: str
    format: int = FORMAT

    @classmethod
    def of(cls, gguf_path: str | Path, dtype: Any) -> WeightsKey:
        return cls(cached_file_sha256(gguf_path), str(dtype).removeprefix("torch."),
                   _version("transformers"), _version("gguf"))

    def to_dict(self) -> dict[str, Any]:
        return {"gguf_sha256": self.gguf_sha256, "dtype": self.dtype,
                "transformers": self.transformers, "gguf": self.gguf, "format": self.format}

    @property
    def name(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return f"{self.gguf_sha256[:12]}-{self.dtype}-{hashlib.sha256(blob).hexdigest()[:16]}"


class WeightsCache:
    """Dequantised models under ``root``, one entry directory per :class:`WeightsKey`."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else default_cache_dir()

    def entry(self, key: WeightsKey) -> Path:
        return self.root / key.name

    def load(self, key: WeightsKey, dtype: Any) -> tuple[Any, Any] | None:
        """(tokenizer, model) from the entry of ``key``, on the CPU; None when there is no entry
        or it is unusable (then it is removed, with a warning, so that it is rebuilt)."""
        entry = self.entry(key)
        if not entry.is_dir():
            return None
        problem = _check_entry(entry, key)
        if problem is None:
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(entry, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(entry, dtype=dtype,
                                                             local_files_only=True)
                return tokenizer, model
            except Exception as e:  # whatever a damaged entry raises: rebuild, never crash
                problem = f"it does not load ({type(e).__name__}: {str(e)[:200]})"
        log.warning("the cached dequantised model %s is unusable: %s; rebuilding it from the "
                    "GGUF file", entry, problem)
        _remove(entry)
        return None

    def store(self, key: WeightsKey, tokenizer: Any, model: Any) -> Path | None:
        """Write ``model`` (loaded from a GGUF file) and ``tokenizer`` as the entry of ``key``,
        atomically; the entry's path, or None when it could not be written (logged)."""
        entry = self.entry(key)
        temp = self.root / f".tmp-{key.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._remove_stale_temps()
            temp.mkdir()
            _write_entry(temp, key, tokenizer, model)
            try:
                os.rename(temp, entry)
            except OSError:
                if not (entry / MANIFEST).is_file():
                    raise
                # another process published the same entry first: keep theirs
                _remove(temp)
            return entry
        except Exception as e:  # a full or read-only disk must not stop a run
            log.warning("could not cache the dequantised model in %s (%s: %s); the next run "
                        "dequantises the GGUF file again", self.root, type(e).__name__, e)
            _remove(temp)
            return None

    def _remove_stale_temps(self) -> None:
        now = time.time()
        for temp in self.root.glob(".tmp-*"):
            try:
                if now - temp.stat().st_mtime > _STALE_TEMP_SECONDS:
                    _remove(temp)
            except OSError:
                pass


def _write_entry(folder: Path, key: WeightsKey, tokenizer: Any, model: Any) -> None:
    """The files of an entry, then its manifest (sizes and digests) last."""
    from safetensors.torch import save_model

    # save_pretrained refuses a GGUF-loaded model (its quantizer is not serialisable): write
    # the config without the GGUF quantisation record, naming the class from_pretrained builds
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(model).__name__]
    config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # save_model writes tied tensors (embeddings = lm_head) once; from_pretrained re-ties them
    save_model(model, str(folder / WEIGHTS), metadata={"format": "pt"})
    files = {}
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        files[path.name] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    manifest = {"key": key.to_dict(), "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _check_entry(entry: Path, key: WeightsKey) -> str | None:
    """Why the entry cannot be trusted, or None: its manifest must name ``key`` and list the
    model's files, and every file must have its recorded size and sha256."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        files = manifest["files"]
        if manifest["key"] != key.to_dict():
            return "its manifest is for another key"
        if WEIGHTS not in files or "config.json" not in files:
            return "its manifest lists no weights or config"
        for name, expected in files.items():
            path = entry / name
            if Path(name).name != name or not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != expected["size"]:
                return (f"{name} has {path.stat().st_size} bytes, the manifest says "
                        f"{expected['size']}")
            if file_sha256(path) != expected["sha256"]:
                return f"{name} does not match its sha256"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"its manifest cannot be read ({type(e).__name__}: {e})"
    return None


def _remove(path: Path) -> None:
    """Remove an entry or temp directory; renamed aside first, so that a reader never finds a
    half-deleted entry under its key."""
    if not path.exists():
        return
    aside = path.with_name(f".tmp-removed-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, aside)
    except OSError:
        aside = path
    shutil.rmtree(aside, ignore_errors=True)
