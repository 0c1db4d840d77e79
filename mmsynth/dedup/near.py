"""Pairs of packed hashes within a Hamming distance, without comparing all pairs.

Bit-sampling LSH, in numpy: each of :data:`TABLES` tables keys every hash by :data:`KEY_BITS`
bits drawn at random (seeded, so the same run gives the same pairs); hashes that share a key in
some table are compared in full. Two hashes ``d`` bits apart out of 256 share a table's key with
probability ``(1 - d/256) ** KEY_BITS``, so all 48 tables miss a pair 25 bits apart with
probability 0.1%, 30 bits apart 0.5% (a resized render's frame moved its hash by up to 30,
measured), 36 bits apart 4%. Random hashes (d ≈ 128) share a key once in 262,144 comparisons
per table: 1M hashes give some 90 million chance candidates over the 48 tables, each rejected by
one vectorised Hamming distance. A table is a sort of one uint32 array and a few vectorised
passes over it (pairs at each offset within the sorted keys), so memory is a few arrays.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

KEY_BITS = 18
TABLES = 48
_SMALL = 32  # key groups up to this size are paired by offsets; larger ones block by block
_MAX_GROUP = 4096  # hashes compared at once inside one large key group


def _table_keys(hashes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One table's uint32 key for each row of packed hashes (rows × words, uint64)."""
    bits = hashes.shape[1] * 64
    chosen = rng.choice(bits, size=KEY_BITS, replace=False)
    keys = np.zeros(len(hashes), dtype=np.uint64)
    for n, bit in enumerate(chosen):
        word, offset = divmod(int(bit), 64)
        keys |= ((hashes[:, word] >> np.uint64(offset)) & np.uint64(1)) << np.uint64(n)
    return keys.astype(np.uint32)


def _table_pairs(keys: np.ndarray, hashes: np.ndarray, limit: int) -> Iterator[np.ndarray]:
    """Pairs (i < j, n × 2) that share a key in this table and are within ``limit`` bits."""
    from mmsynth.dedup.images import hamming

    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    large = sizes > _SMALL
    in_large = np.repeat(large, sizes)
    # Small groups: the members k places apart in the sorted order, for each k, all at once.
    for k in range(1, min(_SMALL, int(sizes.max()))):
        same = (sorted_keys[:-k] == sorted_keys[k:]) & ~in_large[:-k]
        if not same.any():
            continue
        i, j = order[:-k][same], order[k:][same]
        close = hamming(hashes[i], hashes[j]) <= limit
        if close.any():
            yield np.stack([np.minimum(i, j)[close], np.maximum(i, j)[close]], axis=1)
    for start, size in zip(starts[large], sizes[large], strict=True):
        yield from _close_in(order[start:start + size], hashes, limit)


def _close_in(group: np.ndarray, hashes: np.ndarray, limit: int) -> Iterator[np.ndarray]:
    """Pairs (i < j, n × 2) inside one large key group within ``limit`` bits."""
    from mmsynth.dedup.images import hamming

    group = np.sort(group)
    for lo in range(0, len(group), _MAX_GROUP):
        rows = group[lo:lo + _MAX_GROUP]
        d = hamming(hashes[rows][:, None, :], hashes[group][None, :, :])
        a, b = np.nonzero(d <= limit)
        i, j = rows[a], group[b]
        keep = i < j
        if keep.any():
            yield np.stack([i[keep], j[keep]], axis=1)


def close_pairs(hashes: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Every pair of rows (i < j, sorted, unique) whose hashes are within ``limit`` bits and
    share a key in some table (module docstring): an m × 2 int64 array."""
    if len(hashes) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rng = np.random.default_rng(seed)
    found: list[np.ndarray] = []
    for _ in range(TABLES):
        found.extend(_table_pairs(_table_keys(hashes, rng), hashes, limit))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.unique(np.concatenate(found).astype(np.int64), axis=0)
    return pairs


def close_across(queries: np.ndarray, hashes: np.ndarray, limit: int, seed: int = 0
                 ) -> np.ndarray:
    """Pairs (query row, hash row) within ``limit`` bits, found the same way: an m × 2 array."""
    if not len(queries) or not len(hashes):
        return np.zeros((0, 2), dtype=np.int64)
    both = np.concatenate([queries, hashes])
    pairs = close_pairs(both, limit, seed)
    n = len(queries)
    across = pairs[(pairs[:, 0] < n) & (pairs[:, 1] >= n)]
    return np.stack([across[:, 0], across[:, 1] - n], axis=1)
