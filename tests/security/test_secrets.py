"""Secrets stay secret: an API key (from the environment or inside --llm_base_url) that a server
echoes back reaches no file under --out and neither stdout nor stderr, while the run still
authenticates with it; and redact() on each pattern it knows."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mmsynth import redact as redact_module
from mmsynth.redact import REDACTED, add_secret, redact, redact_obj, watch_config
from tests.conftest import cli
from tests.llm.fault_server import FaultServer

KEY = "sk-live-7f3a9c1e5b2d4f60"
URL_KEY = "sk-url-91c4e2a7b8d35f06"
FAST = ("--source", "coco", "--types", "detail", "--progress", "false",
        "--llm_backend", "openai", "--llm_model", "canned-model", "--llm_max_retries", "0",
        "--grounding", "off", "--clip_mode", "off")


@pytest.fixture(autouse=True)
def _fresh_secrets():
    redact_module.forget_all()
    yield
    redact_module.forget_all()


def _leaks(out: Path, proc, *secrets: str) -> list[str]:
    """Where any of ``secrets`` appears: every file under ``out`` (bytes), stdout, stderr."""
    found = []
    needles = [s.encode() for s in secrets]
    for path in sorted(out.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(out)}: {n.decode()}" for n in needles if n in data]
    for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        found += [f"{name}: {s}" for s in secrets if s in text]
    return found


# -- redact() on each pattern ------------------------------------------------------------------


def test_redact_replaces_a_remembered_value_anywhere_and_only_long_ones():
    add_secret(KEY)
    add_secret("short")  # below MIN_SECRET_LENGTH: too likely to occur by chance
    assert redact(f"Error code: 401 - {{'message': 'bad key {KEY}!'}}") == \
        "Error code: 401 - {'message': 'bad key ***!'}"
    assert redact(f"{KEY}{KEY}") == "******"
    assert redact("a short word") == "a short word"


def test_redact_url_userinfo_in_any_url():
    assert redact("--llm_base_url http://bob:s3cr3t-pass@127.0.0.1:8000/v1 --out x") == \
        "--llm_base_url http://***@127.0.0.1:8000/v1 --out x"
    assert redact("https://sk-only-a-key-here@api.example.org/v1") == \
        "https://***@api.example.org/v1"
    assert redact("see redis://:p%40ss@cache:6379/0 and http://u:p@h") == \
        "see redis://***@cache:6379/0 and http://***@h"
    # Not credentials: a URL without userinfo, an address after it, JSON strings side by side.
    for text in ("http://127.0.0.1:8000/v1 mail bob@example.org", '"http://h/a", "x@y"',
                 "user@host.example"):
        assert redact(text) == text


def test_redact_credential_query_values():
    assert redact("https://h/v1?api_key=abc123&x=1&token=zz9#frag") == \
        "https://h/v1?api_key=***&x=1&token=***#frag"
    assert redact("GET /models?key=AIzaSyD-123&alt=json") == "GET /models?key=***&alt=json"
    assert redact("https://h/?Access_Token=t0k&apikey=k3y") == \
        "https://h/?Access_Token=***&apikey=***"
    assert redact("https://h/search?monkey=banana&q=1") == "https://h/search?monkey=banana&q=1"


def test_redact_authorization_headers_and_bearer_tokens():
    assert redact("{'authorization': 'Bearer sk-abc-123456'}") == "{'authorization': 'Bearer ***'}"
    assert redact('"Authorization": "Basic Ym9iOnNlY3JldA=="') == '"Authorization": "Basic ***"'
    assert redact("Authorization: tok-0123456789") == "Authorization: ***"
    assert redact("sent Bearer eyJhbGciOi.J9.sig then") == "sent Bearer *** then"
    assert redact("the bearer of bad news") == "the bearer of bad news"  # too short to be a key


def test_redact_obj_cleans_every_string_keys_too_and_keeps_the_rest():
    add_secret(KEY)
    data = {"detail": f"echo {KEY}", KEY: [1, 2.5, None, True, ("x", f"?token={KEY}")],
            "n": 3}
    assert redact_obj(data) == {"detail": "echo ***", REDACTED: [1, 2.5, None, True,
                                                                 ("x", "?token=***")], "n": 3}
    assert data["detail"] == f"echo {KEY}"  # a copy: the input is untouched


def test_watch_config_learns_the_env_key_and_url_credentials(monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", KEY)
    watch_config({"llm_api_key_env": "MY_LLM_KEY",
                  "llm_base_url": f"http://alice:{URL_KEY}@10.0.0.1/v1"})
    basic = base64.b64encode(f"alice:{URL_KEY}".encode()).decode()
    text = f"key {KEY}; password {URL_KEY}; basic token {basic}; user alice"
    assert redact(text) == "key ***; password ***; basic token ***; user alice"


def test_the_fingerprint_does_not_depend_on_the_key_or_url_credentials(monkeypatch):
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    prints = set()
    for key, url in ((KEY, "http://127.0.0.1:8000/v1"),
                     ("sk-another-key-000000", f"http://u:{URL_KEY}@127.0.0.1:8000/v1")):
        monkeypatch.setenv("OPENAI_API_KEY", key)
        config = resolve({"source": "coco", "llm_backend": "openai", "llm_model": "m",
                          "llm_base_url": url}, source_options)
        prints.add(fingerprint_of(config))
    assert len(prints) == 1


# -- end to end: a server that echoes the key ----------------------------------------------------


@pytest.mark.parametrize("status", ["500", "400"])
def test_an_echoed_env_key_reaches_no_file_and_no_output(tmp_path, monkeypatch, status):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    counted_out, stopped_out = tmp_path / "counted", tmp_path / "stopped"
    with FaultServer(default=f"echo:{status}") as server:
        counted = cli(*FAST, "--num_samples", "3", "--llm_base_url", server.url,
                      "--llm_max_error_rate", "1", "--out", str(counted_out))
        stopped = cli(*FAST, "--num_samples", "2", "--llm_base_url", server.url,
                      "--out", str(stopped_out), check=False)
        headers = [r["headers"].get("authorization") for r in server.chat_requests]
    assert headers and set(headers) == {f"Bearer {KEY}"}  # the key went to the server
    kind = "server_error_500" if status == "500" else "http_400"
    assert f"rejected       3  llm_error:{kind}" in counted.stdout
    stats = json.loads((counted_out / "shard-000000.stats.json").read_text())
    detail = stats["examples"][f"llm_error:{kind}"][0]["detail"]
    # The echo is kept, minus the key: the reason is still readable.
    assert "invalid credentials in header 'Authorization: Bearer ***' (token ***)" in detail
    rejects = json.loads((counted_out / "shard-000000.rejects.json").read_text())
    assert rejects["samples"] and all("***" in s["detail"] for s in rejects["samples"])
    assert stopped.returncode == 1 and "run stopped" in stopped.stderr
    assert "Bearer ***" in stopped.stderr
    assert _leaks(counted_out, counted, KEY) == []
    assert _leaks(stopped_out, stopped, KEY) == []


def test_a_health_check_that_echoes_the_key_prints_it_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", KEY)
    out = tmp_path / "out"
    # No /models route: the health check asks for one token, and the 400 echoes the key.
    with FaultServer(default="echo:400", models_route=False) as server:
        proc = cli(*FAST, "--llm_api_key_env", "MY_LLM_KEY", "--llm_base_url", server.url,
                   "--out", str(out), check=False)
        assert server.chat_requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
    assert proc.returncode == 2
    assert "failed its health check: http_400: " in proc.stderr
    assert "invalid credentials in header 'Authorization: Bearer ***' (token ***)" in proc.stderr
    assert KEY not in proc.stderr + proc.stdout and not out.exists()


def test_a_key_in_the_base_url_authenticates_and_is_written_nowhere(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    basic = base64.b64encode(f"bob:{URL_KEY}".encode()).decode()
    ok_out, echo_out = tmp_path / "ok", tmp_path / "echo"
    with FaultServer() as server:
        ok_port = server.port
        url = f"http://bob:{URL_KEY}@127.0.0.1:{ok_port}/v1"
        ok = cli(*FAST, "--num_samples", "2", "--llm_base_url", url, "--out", str(ok_out))
        sent = {r["headers"].get("authorization") for r in server.requests}
    assert sent == {f"Basic {basic}"}  # the URL's credentials authenticated every request
    assert "4 kept, 0 rejected of 2 images" in ok.stdout
    with FaultServer(default="echo:500") as server:
        url = f"http://bob:{URL_KEY}@127.0.0.1:{server.port}/v1"
        echo = cli(*FAST, "--num_samples", "2", "--llm_base_url", url,
                   "--llm_max_error_rate", "1", "--out", str(echo_out))
        stopped = cli(*FAST, "--num_samples", "2", "--llm_base_url", url,
                      "--out", str(tmp_path / "stopped"), check=False)
    assert "rejected       2  llm_error:server_error_500" in echo.stdout
    assert stopped.returncode == 1
    for out, proc in ((ok_out, ok), (echo_out, echo), (tmp_path / "stopped", stopped)):
        assert _leaks(out, proc, URL_KEY, basic) == [], out
    # What is written shows the URL with its credentials replaced.
    record = json.loads((ok_out / "run.json").read_text())
    shown = f"--llm_base_url http://***@127.0.0.1:{ok_port}/v1"
    assert shown in record["command"]
    assert shown in (ok_out / "README.md").read_text()
    first = json.loads((echo_out / "shard-000000.stats.json").read_text())
    detail = first["examples"]["llm_error:server_error_500"][0]["detail"]
    assert "'Authorization: Basic ***' (token ***) (user:password bob:***)" in detail


def test_a_server_not_there_is_named_without_the_urls_credentials(tmp_path):
    from tests.llm.servers import free_port

    port = free_port()
    proc = cli(*FAST, "--llm_base_url", f"http://bob:{URL_KEY}@127.0.0.1:{port}/v1",
               "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 2
    assert f"cannot reach the LLM server at http://***@127.0.0.1:{port}/v1" in proc.stderr
    assert URL_KEY not in proc.stderr + proc.stdout
