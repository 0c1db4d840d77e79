"""The CLIP scorer: an open_clip model that embeds images and texts and scores how well they
align (cosine similarity of the normalised embeddings), for the weights a
:class:`~mmsynth.filters.clip_weights.ClipPlan` names: the model is
``open_clip.create_model_and_transforms(plan.model, pretrained=plan.pretrained)``, checkpoints
read weights-only. torch and open_clip are imported when the model is loaded, not when this
module is.
"""

from __future__ import annotations

import hashlib
import inspect
import io
from collections.abc import Sequence

from mmsynth.errors import UsageError
from mmsynth.filters.clip_weights import ClipPlan


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
