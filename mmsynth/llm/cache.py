"""A response cache on disk, so a re-run or a resumed run never pays for a reply twice.

One SQLite file in WAL mode: several worker processes read and write it at once (SQLite locks,
``busy_timeout`` waits), and a killed writer leaves at most its last transaction unwritten —
never a corrupt file. The key is a hash of what decides a reply: backend, model, messages and
generation parameters (seed included). Only successful replies are stored; failures are asked
again next time.

Modes: ``off`` (no cache), ``read`` (use stored replies, store nothing new: e.g. a shared
read-only cache), ``readwrite`` (use and store).

:class:`CachedBackend` wraps any :class:`LLMBackend` with a cache, so the coco source (or any
caller) does not know it is there; it counts hits, misses and failures per ``generate`` call.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.llm.base import Generation, GenerationParams, LLMBackend, Messages, per_request

CACHE_MODES = ("off", "read", "readwrite")
CACHE_FILE = "responses.sqlite"
_SCHEMA = 1


def cache_key(backend: str, model: str, messages: Messages, params: GenerationParams,
              numerics: str = "") -> str:
    """The key of a reply: everything that decides it (``numerics``: the backend's
    :attr:`~mmsynth.llm.base.LLMBackend.numerics`, left out when empty so that keys written
    before it existed still match)."""
    fields = {"backend": backend, "model": model, "messages": [dict(m) for m in messages],
              "params": params.to_dict()}
    if numerics:
        fields["numerics"] = numerics
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Replies stored by key in the SQLite file ``path``; opened lazily once per process (a
    connection never crosses a fork)."""

    def __init__(self, path: str | Path, mode: str = "readwrite"):
        if mode not in CACHE_MODES:
            raise UsageError(f"--llm_cache {mode!r}: expected one of {', '.join(CACHE_MODES)}")
        self.path = Path(path)
        self.mode = mode
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    @property
    def writable(self) -> bool:
        return self.mode == "readwrite"

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self.mode == "read" and not self.path.exists():
            raise UsageError(f"--llm_cache read: no cache at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 60000")
            if self.writable:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, "
                             "reply TEXT NOT NULL, created REAL NOT NULL)")
                conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value)")
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (_SCHEMA,))
            conn.execute("SELECT count(*) FROM responses LIMIT 1").fetchone()
        except sqlite3.DatabaseError as e:
            raise UsageError(f"the LLM response cache {self.path} cannot be used ({e}); delete "
                             "it or pass --llm_cache_path elsewhere") from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        conn = self._connect()
        found: dict[str, Generation] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start:start + 500]
            rows = conn.execute(
                f"SELECT key, reply FROM responses WHERE key IN ({','.join('?' * len(chunk))})",
                chunk).fetchall()
            for key, reply in rows:
                found[key] = Generation(**json.loads(reply))
        return found

    def put_many(self, items: Sequence[tuple[str, Generation]]) -> None:
        if not self.writable or not items:
            return
        conn = self._connect()
        now = time.time()
        rows = [(key, json.dumps({"text": g.text, "finish_reason": g.finish_reason,
                                  "prompt_tokens": g.prompt_tokens,
                                  "completion_tokens": g.completion_tokens},
                                 ensure_ascii=False), now)
                for key, g in items if g.ok]
        with conn:  # one transaction: all of this call's replies, or none
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        return self._connect().execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None


class CachedBackend(LLMBackend):
    """``inner`` behind a :class:`ResponseCache`: stored replies are returned as they were; only
    the misses go to ``inner``. ``stats`` counts requests, cache hits, requests sent and failures
    since it was last reset."""

    def __init__(self, inner: LLMBackend, cache: ResponseCache):
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self._stats: Counter[str] = Counter()

    @property
    def stats(self) -> Counter[str]:
        return self._stats

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    @property
    def numerics(self) -> str:
        return self.inner.numerics

    def load(self) -> None:
        self.inner.load()

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.cache.close()
        self.inner.close()

    def generate(self, requests: Sequence[Messages],
                 params: GenerationParams | Sequence[GenerationParams] | None = None,
                 on_done: Callable[[int], None] | None = None) -> list[Generation]:
        params_list = per_request(params, len(requests))
        keys = [_key_or_none(self.inner, m, p) for m, p in zip(requests, params_list,
                                                                strict=True)]
        stored = self.cache.get_many([k for k in keys if k])
        results: list[Generation | None] = [stored.get(k) if k else None for k in keys]
        misses = [i for i, r in enumerate(results) if r is None]
        self.stats["requests"] += len(requests)
        self.stats["cache_hits"] += len(requests) - len(misses)
        if on_done and len(misses) < len(requests):
            on_done(len(requests) - len(misses))
        if misses:
            answers = self.inner.generate([requests[i] for i in misses],
                                          [params_list[i] for i in misses], on_done)
            self.stats["sent"] += len(misses)
            self.stats["failed"] += sum(not a.ok for a in answers)
            self.cache.put_many([(keys[i], a) for i, a in zip(misses, answers, strict=True)
                                 if keys[i]])
            for i, answer in zip(misses, answers, strict=True):
                results[i] = answer
        return results  # type: ignore[return-value]


def _key_or_none(backend: LLMBackend, messages: Messages, params: GenerationParams) -> str | None:
    """No key for a malformed request (the backend reports it) or an unseeded sampled one (its
    reply is meant to be fresh each time)."""
    if params.seed is None and not params.greedy:
        return None
    try:
        return cache_key(backend.name, backend.model_id, messages, params, backend.numerics)
    except (TypeError, AttributeError, ValueError):
        return None
