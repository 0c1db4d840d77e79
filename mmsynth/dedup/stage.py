"""``--dedup within_shard``: duplicates dropped inside each shard, as a stage of the generator.

The same tests as ``mmsynth dedup``'s ``exact_image`` and ``near_image`` (a photo's own samples
are never each other's duplicates), on the samples of one shard, in sample order: a sample whose
picture repeats an earlier kept one of the shard is rejected as ``dedup:exact_image`` or
``dedup:near_image``, counted like any rejection. Deterministic (a shard is always built whole);
duplicates across shards are what the pass over the finished run (``mmsynth dedup RUN``) finds.
The near test frames and hashes every picture (about 10 ms each on one core), so it is not free:
exact bytes alone are what a cheap check would catch, and renders rarely repeat bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from mmsynth.config import Option, one_of
from mmsynth.stages import Stage

MODES = ("off", "within_shard")

DEDUP_OPTIONS: dict[str, Option] = {
    "dedup": Option(
        "off", "drop duplicate pictures inside each shard as a stage: off | within_shard (the "
        "same bytes or the same picture by mmsynth dedup's near_image test; rejected as "
        "dedup:exact_image / dedup:near_image). Across the whole run: mmsynth dedup RUN",
        neutral=True, check=one_of(*MODES)),
}


class WithinShardStage(Stage):
    name = "dedup"
    work = 0.05

    def process(self, samples: list, progress: Callable[[float], None]):
        from mmsynth.dedup.find import IMAGE_DIFFERENCE, IMAGE_HASH_BITS, picture_of
        from mmsynth.dedup.images import difference, frame, hamming, open_image
        from mmsynth.sample import Rejection

        kept: list = []
        rejected: list = []
        first_bytes: dict[bytes, int] = {}  # sha256 → position in kept
        frames: list[Any] = []  # of kept samples (None: not an image)
        hashes: list[np.ndarray] = []
        pictures: list[str] = []
        order = sorted(range(len(samples)), key=lambda k: samples[k].meta.get("index", k))
        keep_at: dict[int, int] = {}
        for n, k in enumerate(order):
            sample = samples[k]
            picture = picture_of(sample.meta, sample.id)
            sha = hashlib.sha256(sample.image).digest()
            original = first_bytes.get(sha)
            if original is not None and pictures[original] != picture:
                rejected.append(Rejection(int(sample.meta.get("index", k)), "dedup:exact_image",
                                          f"the same image bytes as {kept[original].id}",
                                          sample))
                self.counters["exact_image"] += 1
                continue
            try:
                framed = frame(open_image(sample.image))
            except ValueError:
                framed = None
            phash = framed.phash() if framed is not None else np.zeros(4, dtype=np.uint64)
            if framed is not None and original is None and hashes:
                close = np.flatnonzero(hamming(phash, np.stack(hashes)) <= IMAGE_HASH_BITS)
                match = next((int(j) for j in close if frames[j] is not None
                              and pictures[j] != picture
                              and difference(frames[j], framed, IMAGE_DIFFERENCE)
                              <= IMAGE_DIFFERENCE), None)
                if match is not None:
                    rejected.append(Rejection(
                        int(sample.meta.get("index", k)), "dedup:near_image",
                        f"the same picture as {kept[match].id}", sample))
                    self.counters["near_image"] += 1
                    continue
            keep_at[k] = len(kept)
            first_bytes.setdefault(sha, len(kept))
            kept.append(sample)
            frames.append(framed)
            hashes.append(phash)
            pictures.append(picture)
            progress((n + 1) / len(order))
        self.counters["kept"] += len(kept)
        # Back in the order the stage was given them.
        return [samples[k] for k in sorted(keep_at)], rejected

    @classmethod
    def summary_lines(cls, totals: dict[str, int]) -> list[str]:
        removed = totals.get("exact_image", 0) + totals.get("near_image", 0)
        return [f"dedup within shards: {removed:,} duplicate pictures dropped (exact "
                f"{totals.get('exact_image', 0):,}, near {totals.get('near_image', 0):,}); "
                "across shards: mmsynth dedup RUN"]


def stage_for(source: Any) -> WithinShardStage | None:
    """The chain's ``dedup`` stage, with ``--dedup within_shard``."""
    return WithinShardStage() if source.config.get("dedup", "off") == "within_shard" else None
