"""The sha256 of a file, read in blocks: the one implementation the shards, the LLM weights cache
and the CLIP weights use."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

_BLOCK = 1 << 22


def file_sha256(path: str | os.PathLike) -> str:
    """The file's sha256, read now (for what may change under the same name: a shard being
    verified, a cache entry checked for damage)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _cached(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def cached_file_sha256(path: str | os.PathLike) -> str:
    """The file's sha256, computed once per process and (resolved path, size, mtime): for inputs
    hashed into a key or a fingerprint (a GGUF model, a CLIP checkpoint) again and again."""
    stat = Path(path).stat()
    return _cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
