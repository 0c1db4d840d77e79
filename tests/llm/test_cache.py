"""The response cache: keys, modes, concurrent writers, a writer killed mid-write."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import time

import pytest

from mmsynth.errors import UsageError
from mmsynth.llm import GenerationParams, make_backend
from mmsynth.llm.cache import CachedBackend, ResponseCache, cache_key
from tests.llm.fault_server import CANNED, FaultServer

CHAT = [{"role": "user", "content": "Describe the picture."}]
PARAMS = GenerationParams(max_new_tokens=32, temperature=0.6, seed=1)


def cached(server: FaultServer, path, mode="readwrite") -> CachedBackend:
    inner = make_backend("openai", model=server.model, base_url=server.url, max_retries=0)
    return CachedBackend(inner, ResponseCache(path, mode))


def test_key_covers_everything_that_decides_a_reply():
    base = cache_key("openai", "m", CHAT, PARAMS)
    assert base == cache_key("openai", "m", [dict(CHAT[0])], GenerationParams(
        max_new_tokens=32, temperature=0.6, seed=1))
    others = {cache_key("transformers", "m", CHAT, PARAMS), cache_key("openai", "m2", CHAT, PARAMS),
              cache_key("openai", "m", [{"role": "user", "content": "x"}], PARAMS),
              cache_key("openai", "m", CHAT, PARAMS.replace(seed=2)),
              cache_key("openai", "m", CHAT, PARAMS.replace(temperature=0.7)),
              cache_key("openai", "m", CHAT, PARAMS.replace(max_new_tokens=33)),
              cache_key("openai", "m", CHAT, PARAMS.replace(stop=("\n",)))}
    assert base not in others and len(others) == 7


def test_second_call_is_served_from_the_cache(tmp_path):
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(3)]
    with FaultServer() as server:
        first = cached(server, tmp_path / "c.sqlite").generate(chats, PARAMS)
        again = cached(server, tmp_path / "c.sqlite")  # a new process would open it like this
        second = again.generate(chats, PARAMS)
    assert second == first and all(g.text == CANNED for g in second)
    assert len(server.chat_requests) == 3
    assert again.stats == {"requests": 3, "cache_hits": 3}


def test_failures_are_not_stored_and_are_asked_again(tmp_path):
    with FaultServer(["500"]) as server:
        llm = cached(server, tmp_path / "c.sqlite")
        assert llm.generate([CHAT], PARAMS)[0].error_kind == "server_error_500"
        assert llm.generate([CHAT], PARAMS)[0].text == CANNED
    assert len(server.chat_requests) == 2
    assert llm.stats == {"requests": 2, "sent": 2, "failed": 1, "cache_hits": 0}


def test_read_mode_uses_but_never_stores(tmp_path):
    path = tmp_path / "c.sqlite"
    with pytest.raises(UsageError, match="no cache at"):
        ResponseCache(path, "read").get_many(["k"])
    with FaultServer() as server:
        cached(server, path).generate([CHAT], PARAMS)
        reader = cached(server, path, "read")
        reader.generate([CHAT, [{"role": "user", "content": "new"}]], PARAMS)
        assert reader.stats["cache_hits"] == 1 and reader.stats["sent"] == 1
    assert len(ResponseCache(path)) == 1
    with pytest.raises(UsageError, match="--llm_cache 'sometimes'"):
        ResponseCache(path, "sometimes")


def test_unseeded_sampling_is_never_cached(tmp_path):
    with FaultServer() as server:
        llm = cached(server, tmp_path / "c.sqlite")
        for _ in range(2):
            llm.generate([CHAT], PARAMS.replace(seed=None))
    assert len(server.chat_requests) == 2


def test_a_file_that_is_not_a_cache_is_a_clear_error(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match=r"cannot be used .* delete it or pass --llm_cache_path"):
        ResponseCache(path).get_many(["k"])


def _writer(path: str, worker: int, n: int) -> None:
    from mmsynth.llm.base import Generation

    cache = ResponseCache(path)
    for i in range(n):
        cache.put_many([(f"{worker}-{i}-{j}", Generation(text=f"reply {worker} {i} {j}"))
                        for j in range(5)])


def test_concurrent_writers_from_several_processes(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = ResponseCache(path, "read")
    assert len(cache) == 4 * 40 * 5
    assert cache.get_many(["3-39-4"])["3-39-4"].text == "reply 3 39 4"


def _write_forever(path: str) -> None:
    _writer(path, 0, 10**9)


def test_a_writer_killed_mid_write_leaves_a_sound_cache(tmp_path):
    path = str(tmp_path / "c.sqlite")
    proc = mp.get_context("fork").Process(target=_write_forever, args=(path,))
    proc.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            try:
                if len(ResponseCache(path, "read")) >= 200:
                    break
            except (UsageError, sqlite3.OperationalError):
                pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Transactions are whole: every stored call has all five of its replies.
    count = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
    assert count >= 200 and count % 5 == 0
    cache = ResponseCache(path)
    _writer(path, 1, 1)  # and it takes new writes
    assert len(cache) == count + 5
