"""Which CLIP weights a run uses, decided before any work: a :class:`ClipPlan` says whether the
CLIP stage filters (``on``), was ``skipped`` (and why) or is ``off``, and with which model and
weights.

``clip_pretrained`` is an open_clip tag (downloaded to the Hugging Face cache) or a local
checkpoint (``.safetensors``, or a torch file read with ``weights_only=True``). A model config
JSON named like the checkpoint (``tiny.safetensors`` + ``tiny.json``) is registered with
open_clip and used when ``clip_model`` is left at its default; ``clip_model`` may also be such a
JSON file.

``clip_mode``: ``off``; ``required`` (missing weights are a UsageError before any work);
``auto`` (the default: the filter runs when the weights are on disk or can be downloaded,
otherwise the run says, at its start and in its summary, that the stage was SKIPPED and why).
Deciding ``auto`` costs no torch import and at most one bounded connection attempt; open_clip is
imported only when its weights are in the Hugging Face cache or about to be downloaded.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.hashing import cached_file_sha256

CLIP_MODES = ("off", "auto", "required")
DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
HUB_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ClipPlan:
    """What the CLIP stage of a run does. ``status``: ``on``, ``skipped`` (auto without weights;
    ``why`` says why) or ``off``. ``weights`` is the tag, or ``sha256:<hex>`` of a checkpoint."""

    status: str
    why: str = ""
    model: str = DEFAULT_MODEL
    model_config: str | None = None  # a config JSON registered with open_clip
    pretrained: str = DEFAULT_PRETRAINED  # tag or absolute checkpoint path
    weights: str = DEFAULT_PRETRAINED
    threshold: float = 0.28
    drop_quantile: float = 0.0
    text: str = "auto"

    @property
    def on(self) -> bool:
        return self.status == "on"

    @property
    def label(self) -> str:
        """``model/tag`` or ``model/checkpoint-name``, for summaries and meta."""
        shown = Path(self.pretrained).name if self.weights.startswith("sha256:") \
            else self.pretrained
        return f"{self.model}/{shown}"

    def fingerprint(self) -> dict[str, Any]:
        """What of the CLIP setup decides which samples are kept and what they carry. Off and
        skipped are the same (unfiltered), so a run that was skipped resumes under ``off``, but
        never under a filtering setup."""
        if not self.on:
            return {"clip": "unfiltered"}
        return {"clip": {"model": self.model, "weights": self.weights,
                         "model_config": cached_file_sha256(self.model_config)
                         if self.model_config else None,
                         "threshold": self.threshold, "drop_quantile": self.drop_quantile,
                         "text": self.text}}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClipPlan:
        return cls(**data)


def clip_plan(config: Mapping[str, Any]) -> ClipPlan:
    """Resolve the CLIP options of a config into a plan.

    Raises UsageError when ``clip_mode`` is ``required`` and the weights are missing (saying
    which, and how to provide them), or when a given model config file is unusable.
    """
    return _plan(config.get("clip_mode", "auto"), config.get("clip_model", DEFAULT_MODEL),
                 str(config.get("clip_pretrained", DEFAULT_PRETRAINED)),
                 float(config.get("clip_threshold", 0.28)),
                 float(config.get("clip_drop_quantile", 0.0)), config.get("clip_text", "auto"))


@functools.lru_cache(maxsize=16)
def _plan(mode: str, model: str, pretrained: str, threshold: float, drop_quantile: float,
          text: str) -> ClipPlan:
    common = {"threshold": threshold, "drop_quantile": drop_quantile, "text": text}
    if mode == "off":
        return ClipPlan("off", "--clip_mode off", model=model, pretrained=pretrained,
                        weights=pretrained, **common)
    model_config = None
    if model.endswith(".json"):
        if not Path(model).is_file():
            raise UsageError(f"--clip_model {model}: no such open_clip model config file")
        model_config, model = str(Path(model).resolve()), Path(model).stem
    if _looks_like_path(pretrained):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            why = f"the CLIP checkpoint {pretrained} does not exist"
            return _missing(mode, why, model=model, pretrained=pretrained, **common)
        sidecar = path.with_suffix(".json")
        if model_config is None and model == DEFAULT_MODEL and sidecar.is_file():
            model_config, model = str(sidecar.resolve()), sidecar.stem
        return ClipPlan("on", model=model, model_config=model_config,
                        pretrained=str(path.resolve()),
                        weights=f"sha256:{cached_file_sha256(path)}", **common)
    cached, where = _tag_cached(model, pretrained)
    if cached:
        return ClipPlan("on", model=model, model_config=model_config, pretrained=pretrained,
                        weights=pretrained, **common)
    reachable, problem = _hub_reachable()
    if reachable:
        _check_tag(model, pretrained, model_config)
        return ClipPlan("on", model=model, model_config=model_config, pretrained=pretrained,
                        weights=pretrained, **common)
    why = (f"the weights {model}/{pretrained} are not in the Hugging Face cache ({where}) and "
           f"cannot be downloaded ({problem})")
    return _missing(mode, why, model=model, pretrained=pretrained, **common)


def _missing(mode: str, why: str, **fields: Any) -> ClipPlan:
    if mode == "required":
        raise UsageError(
            f"--clip_mode required: {why}. Provide the weights: run once with network access "
            f"so open_clip downloads them to the Hugging Face cache, or pass a local checkpoint "
            f"with --clip_pretrained /path/to/ckpt.safetensors (or .pt; with --clip_model its "
            f"architecture or config .json); or use --clip_mode auto/off to run without the filter")
    return ClipPlan("skipped", why, weights=fields["pretrained"], **fields)


def _looks_like_path(pretrained: str) -> bool:
    return (os.sep in pretrained or "/" in pretrained or pretrained.startswith(("~", "."))
            or pretrained.lower().endswith(CHECKPOINT_SUFFIXES))




def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home) / "hub"


def _tag_cached(model: str, tag: str) -> tuple[bool, str]:
    """Whether open_clip's weights for ``model``/``tag`` are in the Hugging Face cache.

    Without any open_clip weights in the cache (the common case offline) this answers without
    importing open_clip; otherwise open_clip maps the tag to its hub repository."""
    cache = _hub_cache()
    names = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    try:
        any_weights = any(p.name in names for p in cache.glob("models--*/snapshots/*/*"))
    except OSError:
        any_weights = False
    if not any_weights:
        return False, str(cache)
    try:
        import open_clip
        from huggingface_hub import try_to_load_from_cache

        cfg = open_clip.get_pretrained_cfg(model, tag) or {}
    except Exception:  # a broken install is reported when the model loads
        return False, str(cache)
    repo = (cfg.get("hf_hub") or "").strip("/")
    if not repo:
        return False, str(cache)
    found = any(isinstance(try_to_load_from_cache(repo, n, cache_dir=str(cache)), str)
                for n in names)
    return found, str(cache)


@functools.lru_cache(maxsize=1)
def _hub_reachable() -> tuple[bool, str]:
    """One bounded connection attempt to the hub, unless the user said to stay offline."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{var} is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    name, _, port = host.partition(":")
    try:
        socket.create_connection((name, int(port or 443)), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as e:
        return False, f"{name} is unreachable: {e.strerror or e}"
    return True, ""


def _check_tag(model: str, tag: str, model_config: str | None) -> None:
    """A tag we are about to download must exist for the model (else a clear error now)."""
    import open_clip

    if model_config:
        open_clip.add_model_config(model_config)
    if not open_clip.get_pretrained_cfg(model, tag):
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise UsageError(f"--clip_pretrained {tag!r} is not an open_clip tag of {model} "
                         f"(its tags: {tags}) nor an existing checkpoint file")


_ANNOUNCED: set[ClipPlan] = set()


def announce(plan: ClipPlan, stream=None) -> None:
    """Say once per process, at the start of a run, that the CLIP stage will not filter."""
    if plan.status != "skipped" or plan in _ANNOUNCED:
        return
    _ANNOUNCED.add(plan)
    print(f"mmsynth: WARNING: CLIP stage SKIPPED: {plan.why}. Samples will NOT be "
          f"alignment-filtered. Provide the weights (network access, or --clip_pretrained "
          f"/path/to/ckpt) or pass --clip_mode off to silence this.",
          file=stream or sys.stderr, flush=True)
