"""CLIP image–text alignment filter (open_clip): every sample's image is scored against a text
that should describe it, and samples below the threshold are rejected with their score.

    plan = clip_plan(config)                # what will run: on, skipped (and why) or off
    stage = ClipFilter(plan, batch_size=64)  # a stage: stage(samples) -> (kept, rejected)

The model is ``open_clip.create_model_and_transforms(clip_model, pretrained=clip_pretrained)``,
where ``clip_pretrained`` is an open_clip tag (downloaded to the Hugging Face cache) or a local
checkpoint (``.safetensors``, or a torch file read with ``weights_only=True``). A model config
JSON named like the checkpoint (``tiny.safetensors`` + ``tiny.json``) is registered with
open_clip and used when ``clip_model`` is left at its default; ``clip_model`` may also be such a
JSON file.

Scores are cosine similarities of the normalised embeddings, rounded to 4 decimals (the
rounded value decides and is stored, so shards are byte-stable); ``meta["clip"]`` also carries
CLIPScore = 2.5·max(cos, 0). A sample is rejected as ``clip_low:<score>`` when its score is below
``clip_threshold`` or among the lowest ``clip_drop_quantile`` of its shard (ties broken by sample
index, so the choice is deterministic).

``clip_mode``: ``off``; ``required`` (missing weights are a UsageError before any work);
``auto`` (the default: the filter runs when the weights are on disk or can be downloaded,
otherwise the run says, at its start and in its summary, that the stage was SKIPPED and why).
Deciding ``auto`` costs no torch import and at most one bounded connection attempt.

Importing this module is light: torch and open_clip are imported when a model is loaded.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import math
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmsynth.config import Option, positive
from mmsynth.errors import UsageError
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample
from mmsynth.stages import Stage

CLIP_MODES = ("off", "auto", "required")
CLIP_TEXTS = ("auto", "caption", "captions", "description")
DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
HUB_PROBE_TIMEOUT_S = 3.0
SCORE_DECIMALS = 4


def _one_of(values: Sequence[str]):
    def check(value: Any) -> str | None:
        return None if value in values else f"expected one of {', '.join(values)}"
    return check


def _number_in(low: float, high: float, high_open: bool = False):
    def check(value: Any) -> str | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            low <= value < high if high_open else low <= value <= high)
        return None if ok else f"must be a number in [{low}, {high}{')' if high_open else ']'}"
    return check


def _device(value: Any) -> str | None:
    ok = isinstance(value, str) and (value in ("cpu", "cuda", "mps") or (
        value.startswith("cuda:") and value[5:].isdigit()))
    return None if ok else "expected cpu, cuda, cuda:N or mps"


# The mode, model and weights are "run" options: what enters the fingerprint is the *resolved*
# setup (on with model + tag or checkpoint sha256, or unfiltered), via ``ClipPlan.fingerprint``.
CLIP_OPTIONS: dict[str, Option] = {
    "clip_mode": Option("auto", "CLIP alignment filter: auto (run it when the weights are "
                        "available, else say it was skipped), required (fail without weights), "
                        "off", "run", _one_of(CLIP_MODES)),
    "clip_model": Option(DEFAULT_MODEL, "open_clip model name, or an open_clip model config "
                         ".json", "run"),
    "clip_pretrained": Option(DEFAULT_PRETRAINED, "open_clip pretrained tag (downloaded to the "
                              "Hugging Face cache) or a local checkpoint (.safetensors, .pt)",
                              "run"),
    "clip_threshold": Option(0.28, "reject samples whose image–text cosine similarity is below "
                             "this (0.28: LAION-5B's cut for ViT-B/32; -1: none)", "content",
                             _number_in(-1, 1)),
    "clip_drop_quantile": Option(0.0, "also reject the lowest q of each shard's scores (0: none)",
                                 "content", _number_in(0, 1, high_open=True)),
    "clip_text": Option("auto", "text scored against the image: auto (renders: the scene "
                        "caption; coco: the description for detail samples, else the captions), "
                        "caption, captions (the best of an image's captions), description (the "
                        "first answer)", "content", _one_of(CLIP_TEXTS)),
    "clip_batch_size": Option(64, "images scored per forward pass", "run", positive),
    "clip_device": Option("cpu", "CLIP device: cpu, cuda or cuda:N", "run", _device),
    "clip_threads": Option(1, "torch CPU threads per worker for CLIP (use --workers for more "
                           "cores)", "run", positive),
}


# -- deciding what runs -------------------------------------------------------------------------


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
                         "model_config": _file_sha256(self.model_config)
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
                        pretrained=str(path.resolve()), weights=f"sha256:{_file_sha256(path)}",
                        **common)
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


@functools.lru_cache(maxsize=8)
def _file_sha256_cached(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_sha256(path: str | Path) -> str:
    stat = Path(path).stat()
    return _file_sha256_cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime)


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


# -- scoring ------------------------------------------------------------------------------------


class ClipScorer:
    """An open_clip model that embeds images (encoded bytes) and texts, in batches.

    Loaded on first use in the process that scores. Images are decoded and preprocessed on a
    thread while the model runs the previous batch. Embeddings are L2-normalised float32; a
    sample's embedding does not depend on what else shares its batch beyond float rounding."""

    def __init__(self, plan: ClipPlan, batch_size: int = 64, device: str = "cpu",
                 threads: int = 1):
        self.plan = plan
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self._model = None

    def load(self) -> None:
        if self._model is not None:
            return
        import open_clip
        import torch

        if self.device == "cpu" or not self.device.startswith("cuda"):
            torch.set_num_threads(self.threads)
        if self.plan.model_config:
            open_clip.add_model_config(self.plan.model_config)
        safe = {}
        if "weights_only" in inspect.signature(open_clip.create_model_and_transforms).parameters:
            safe["weights_only"] = True  # older open_clip: torch ≥ 2.6 loads weights-only anyway
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.plan.model, pretrained=self.plan.pretrained, device=self.device, **safe)
        except RuntimeError as e:
            raise UsageError(f"CLIP model {self.plan.label} could not be loaded: {e}") from None
        model.eval()
        self._model, self._preprocess = model, preprocess
        self._tokenizer = open_clip.get_tokenizer(self.plan.model)

    @property
    def model(self):
        self.load()
        return self._model

    def _pixels(self, image: bytes):
        from PIL import Image

        with Image.open(io.BytesIO(image)) as im:
            return self._preprocess(im.convert("RGB"))

    def _image_batches(self, images: Sequence[bytes]):
        """Preprocessed batches, each made on a thread while the caller runs the previous one."""
        from concurrent.futures import ThreadPoolExecutor

        import torch

        def make(start: int):
            return torch.stack([self._pixels(b) for b in images[start:start + self.batch_size]])

        starts = range(0, len(images), self.batch_size)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(make, starts[0]) if starts else None
            for n in range(len(starts)):
                batch = pending.result()
                pending = pool.submit(make, starts[n + 1]) if n + 1 < len(starts) else None
                yield batch

    def image_features(self, images: Sequence[bytes]):
        """(len(images), dim) normalised image embeddings (numpy float32)."""
        import numpy as np
        import torch

        self.load()
        out = []
        with torch.inference_mode():
            for batch in self._image_batches(images):
                f = self._model.encode_image(batch.to(self.device), normalize=True)
                out.append(f.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def text_features(self, texts: Sequence[str]):
        """(len(texts), dim) normalised text embeddings (numpy float32)."""
        import numpy as np
        import torch

        self.load()
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self._tokenizer(list(texts[start:start + self.batch_size]))
                f = self._model.encode_text(tokens.to(self.device), normalize=True)
                out.append(f.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def score(self, images: Sequence[bytes], texts: Sequence[Sequence[str]]) -> list[float]:
        """Cosine similarity of each image with its texts (the best one when several).

        Identical images (by content) and texts are embedded once."""
        import numpy as np

        image_keys = [hashlib.sha1(b).digest() for b in images]
        unique_images = dict(zip(image_keys, images, strict=True))
        unique_texts = list(dict.fromkeys(t for ts in texts for t in ts))
        image_at = {k: i for i, k in enumerate(unique_images)}
        text_at = {t: i for i, t in enumerate(unique_texts)}
        fi = self.image_features(list(unique_images.values())).astype(np.float64)
        ft = self.text_features(unique_texts).astype(np.float64)
        scores = []
        for key, ts in zip(image_keys, texts, strict=True):
            v = fi[image_at[key]]
            scores.append(max(float(v @ ft[text_at[t]]) for t in ts))
        return scores


# -- which text ---------------------------------------------------------------------------------


def texts_for(sample: Sample, choice: str) -> tuple[str, list[str]]:
    """The text kind used for ``sample`` and its candidate texts (empty when it has none).

    ``auto``: a rendered sample's caption; for a real photograph (``annotations`` with captions)
    a ``detail`` sample's description, otherwise the image's captions."""
    captions = [c for c in ((sample.annotations or {}).get("captions") or []) if c and c.strip()]
    if choice == "auto":
        if not captions:
            choice = "caption"
        else:
            choice = "description" if sample.meta.get("type") == "detail" else "captions"
    if choice == "caption":
        return choice, [sample.caption] if sample.caption and sample.caption.strip() else []
    if choice == "captions":
        if captions:
            return choice, captions
        return choice, [sample.caption] if sample.caption and sample.caption.strip() else []
    answers = [t["value"] for t in sample.conversations if t.get("from") == "gpt"]
    text = answers[0].replace(IMAGE_TOKEN, "").strip() if answers else ""
    return choice, [text] if text else []


# -- the stage ----------------------------------------------------------------------------------


def _rounded(x: float) -> float:
    return round(x, SCORE_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass
class ClipFilter(Stage):
    """A stage: score each sample's image against its text and reject poorly aligned ones.

    Kept samples get ``meta["clip"] = {"score", "clipscore", "model", "pretrained", "text"}``;
    rejected ones are ``Rejection(index, "clip_low:<score>", detail, sample)``; a sample with no
    text to score is rejected as ``clip_no_text``. When the plan is not ``on`` every sample passes
    unchanged and the counters say ``skipped:<why>`` (or ``off``). ``counters`` hold the last
    call's counters: ``checked``, ``kept``, ``rejected_threshold``, ``rejected_quantile``,
    ``no_text``, ``model:<label>``, ``bin:<k>`` (scores in [k/100, (k+1)/100))."""

    plan: ClipPlan
    batch_size: int = 64
    device: str = "cpu"
    threads: int = 1
    name: str = "clip"
    _scorer: ClipScorer | None = field(default=None, repr=False)

    @property
    def scorer(self) -> ClipScorer:
        if self._scorer is None:
            self._scorer = ClipScorer(self.plan, self.batch_size, self.device, self.threads)
        return self._scorer

    @property
    def work(self) -> float:
        """Scoring is a render shard's other long job when the stage is on."""
        return 1.0 if self.plan.on else 0.0

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        stats = self.counters
        if not self.plan.on:
            key = "off" if self.plan.status == "off" else f"skipped:{self.plan.why}"
            stats[key] += len(samples)
            return samples, []

        for key in ("checked", "kept", "rejected_threshold", "rejected_quantile", "no_text"):
            stats[key] = 0  # present even when 0: every shard's stats have the same keys
        rejected: list[Rejection] = []
        todo: list[tuple[Sample, str, list[str]]] = []
        for s in samples:
            kind, texts = texts_for(s, self.plan.text)
            if texts:
                todo.append((s, kind, texts))
            else:
                stats["no_text"] += 1
                rejected.append(Rejection(s.meta.get("index", -1), "clip_no_text",
                                          f"{s.id}: no {kind} text to score the image against",
                                          sample=s))
        raw = self.scorer.score([s.image for s, _, _ in todo], [t for _, _, t in todo]) \
            if todo else []
        scores = [_rounded(x) for x in raw]
        progress(1.0)
        stats["checked"] += len(todo)
        stats[f"model:{self.plan.label}"] += len(todo)

        low = {i for i, x in enumerate(scores) if x < self.plan.threshold}
        by_quantile: set[int] = set()
        n_drop = math.floor(self.plan.drop_quantile * len(todo))
        if n_drop:
            order = sorted(range(len(todo)), key=lambda i: (scores[i],
                                                            todo[i][0].meta.get("index", 0),
                                                            todo[i][0].id))
            by_quantile = set(order[:n_drop]) - low
            cut = scores[order[n_drop - 1]]
        kept: list[Sample] = []
        for i, ((s, kind, _), score) in enumerate(zip(todo, scores, strict=True)):
            stats[f"bin:{math.floor(score * 100)}"] += 1
            if i in low or i in by_quantile:
                if i in low:
                    stats["rejected_threshold"] += 1
                    detail = f"CLIP cosine {score:.4f} < threshold {self.plan.threshold}"
                else:
                    stats["rejected_quantile"] += 1
                    detail = (f"CLIP cosine {score:.4f} is in the lowest "
                              f"{self.plan.drop_quantile:g} of its shard (cut at {cut:.4f})")
                rejected.append(Rejection(s.meta.get("index", -1), f"clip_low:{score:.3f}",
                                          f"{s.id}: {detail} ({kind})", sample=s))
                continue
            s.meta["clip"] = {"score": score, "clipscore": _rounded(2.5 * max(score, 0.0)),
                              "model": self.plan.model,
                              "pretrained": self.plan.label.split("/", 1)[1],
                              "text": kind}
            kept.append(s)
        stats["kept"] += len(kept)
        return kept, rejected

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        return summary_lines(totals)


def stage_for(source: Any) -> ClipFilter:
    """The chain's ``clip`` stage for a source (it passes everything, counted, when off or
    skipped)."""
    return stage_from_config(source.config)


def stage_from_config(config: Mapping[str, Any], plan: ClipPlan | None = None) -> ClipFilter:
    """The CLIP stage for a resolved config (``plan`` as the driver resolved it, if known)."""
    return ClipFilter(plan or clip_plan(config), batch_size=config.get("clip_batch_size", 64),
                      device=config.get("clip_device", "cpu"),
                      threads=config.get("clip_threads", 1))


def _quantile_from_bins(bins: Mapping[int, int], q: float) -> float:
    total = sum(bins.values())
    target, seen = q * total, 0
    for k in sorted(bins):
        seen += bins[k]
        if seen >= target:
            return (k + 0.5) / 100
    return math.nan


def summary_lines(stats: Mapping[str, int]) -> list[str]:
    """The run summary's CLIP lines from the stage's totalled counters."""
    if not stats:
        return []
    lines = []
    for key, n in sorted(stats.items()):
        if key.startswith("skipped:"):
            lines.append(f"  CLIP stage SKIPPED: {key[8:]} — {n} samples NOT alignment-filtered")
        elif key == "off":
            lines.append(f"  CLIP stage off (--clip_mode off): {n} samples not alignment-filtered")
    checked = stats.get("checked", 0)
    if checked or stats.get("no_text"):
        models = ", ".join(k[6:] for k in sorted(stats) if k.startswith("model:"))
        bins = {int(k[4:]): n for k, n in stats.items() if k.startswith("bin:")}
        q = " / ".join(f"{_quantile_from_bins(bins, p):.2f}" for p in (0.1, 0.5, 0.9))
        lines.append(
            f"  CLIP ({models}): {checked} checked, {stats.get('kept', 0)} kept, "
            f"{stats.get('rejected_threshold', 0)} below the threshold, "
            f"{stats.get('rejected_quantile', 0)} in the dropped quantile, "
            f"{stats.get('no_text', 0)} without text; cosine p10/p50/p90 ≈ {q}")
    return lines
