"""The coco source through the openai backend, end to end in the real CLI, against a server
that fails on purpose (tests/llm/fault_server.py): fail fast, counted errors, the error-rate
stop, a server killed mid-run and resumed, and a re-run served from the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, cli, decoded, read_shards, shard_bytes
from tests.llm.fault_server import FaultServer
from tests.llm.servers import free_port

FAST = ("--source", "coco", "--types", "detail", "--progress", "false",
        "--llm_backend", "openai", "--llm_model", "canned-model", "--llm_max_retries", "1")


def test_a_run_through_the_server_then_a_rerun_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-42")
    out = tmp_path / "out"
    args = (*FAST, "--num_samples", "3", "--grounding", "off", "--out", str(out))
    with FaultServer() as server:
        first = cli(*args, "--llm_base_url", server.url)  # (the canned reply is off-topic)
        sent = len(server.chat_requests)
        before = shard_bytes(out)
        again = cli(*args, "--llm_base_url", server.url, "--overwrite")
        assert len(server.chat_requests) == sent == 3  # the re-run asked the server nothing
    assert shard_bytes(out) == before
    assert "llm: 3 requests, 0 from the cache, 3 sent, 0 failed" in first.stdout
    assert "llm: 3 requests, 3 from the cache, 0 sent, 0 failed" in again.stdout
    samples = read_shards(out)
    detail = [decoded(s["json"]) for s in samples.values()
              if decoded(s["json"])["meta"]["type"] == "detail"]
    assert len(detail) == 3
    for record in detail:
        assert record["meta"]["llm"]["backend"] == "openai"
        assert record["meta"]["llm"]["model"] == "canned-model"
        assert record["conversations"][1]["value"].startswith("The photograph shows a calm")
    assert (out / "llm_cache" / "responses.sqlite").exists()
    # The key went to the server and nowhere else.
    assert server.chat_requests[0]["headers"]["authorization"] == "Bearer sk-test-secret-42"
    for path in out.rglob("*"):
        if path.is_file():
            assert b"sk-test-secret" not in path.read_bytes(), path
    assert "sk-test-secret" not in first.stdout + first.stderr


def test_a_server_that_is_not_there_fails_at_once_and_writes_nothing(tmp_path):
    port = free_port()
    out = tmp_path / "out"
    proc = cli(*FAST, "--llm_base_url", f"http://127.0.0.1:{port}/v1", "--out", str(out),
               check=False)
    assert proc.returncode == 2
    assert (f"cannot reach the LLM server at http://127.0.0.1:{port}/v1 (model 'canned-model')"
            in proc.stderr)
    assert not out.exists()


def test_an_unknown_model_fails_at_once(tmp_path):
    with FaultServer() as server:
        proc = cli(*FAST, "--llm_base_url", server.url, "--llm_model", "gpt-9",
                   "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 2
    assert "does not serve this model; it serves: canned-model" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_errors_under_the_limit_are_counted_over_it_stop_the_run(tmp_path):
    with FaultServer(default="500") as server:
        stopped = cli(*FAST, "--num_samples", "2", "--llm_base_url", server.url,
                      "--out", str(tmp_path / "a"), check=False)
        counted = cli(*FAST, "--num_samples", "2", "--llm_base_url", server.url,
                      "--llm_max_error_rate", "1", "--out", str(tmp_path / "b"))
    assert stopped.returncode == 1
    assert "2 of 2 LLM requests failed in the shard of images [0, 2) (server_error_500 2), " \
           "more than --llm_max_error_rate 0.5" in stopped.stderr
    assert "run the same command again to resume" in stopped.stderr
    assert not list((tmp_path / "a").glob("shard-*"))  # the shard was not written
    assert "rejected       2  llm_error:server_error_500" in counted.stdout


def test_a_server_killed_mid_run_stops_it_and_a_rerun_resumes(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    args = (*FAST, "--num_samples", "6", "--shard_size", "1", "--llm_base_url", url)
    out = tmp_path / "out"
    server = _start_server(port, default="slow:0.5")
    run = subprocess.Popen([sys.executable, "-m", "mmsynth.generate", *args, "--out", str(out)],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(list(out.glob("shard-*.stats.json"))) >= 2)
        server.send_signal(signal.SIGKILL)
        server.wait()
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
        server.kill()
    assert run.returncode == 1, stderr
    assert "llm_error" not in stderr and "connection" in stderr and "run stopped" in stderr
    done = sorted(p.name for p in out.glob("shard-*.tar"))
    assert 2 <= len(done) < 6
    assert not [p for p in out.iterdir() if ".tmp" in p.name]

    server = _start_server(port)
    try:
        resumed = cli(*args, "--out", str(out))
    finally:
        server.kill()
    assert f"resumed: {len(done)} shards were already complete, {6 - len(done)} built now" \
        in resumed.stdout
    reference = tmp_path / "reference"
    with FaultServer(port=0) as clean:
        cli(*FAST, "--num_samples", "6", "--shard_size", "1", "--llm_base_url", clean.url,
            "--out", str(reference))
    assert shard_bytes(out) == shard_bytes(reference)


def _start_server(port: int, default: str = "ok") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "tests/llm/fault_server.py", "--port", str(port),
                             "--default", default], cwd=REPO, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, text=True)
    assert "listening" in proc.stdout.readline()
    return proc


def _wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
