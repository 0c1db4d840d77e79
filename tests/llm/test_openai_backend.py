"""The openai backend against a real HTTP server that injects faults (tests/llm/fault_server.py):
retries, Retry-After, timeouts, unreadable replies, concurrency, the health check, the API key."""

from __future__ import annotations

import itertools

import pytest

from mmsynth.errors import UsageError
from mmsynth.llm import GenerationParams, make_backend, request_seed
from mmsynth.llm.openai_backend import LLMUnavailable
from tests.llm.fault_server import CANNED, FaultServer

CHAT = [{"role": "user", "content": "Describe the picture."}]
PARAMS = GenerationParams(max_new_tokens=64, temperature=0.7, seed=3)


def backend(server: FaultServer, **options):
    options = {"max_retries": 2, "timeout": 5.0, **options}
    return make_backend("openai", model=server.model, base_url=server.url, **options)


def test_a_healthy_server_answers_every_request_in_order():
    with FaultServer() as server:
        llm = backend(server)
        chats = [[{"role": "user", "content": f"Question {i}?"}] for i in range(5)]
        out = llm.generate(chats, PARAMS)
    assert [g.text for g in out] == [CANNED] * 5
    assert all(g.ok and g.finish_reason == "stop" and g.completion_tokens > 0 for g in out)
    bodies = {r["body"]["messages"][0]["content"]: r["body"] for r in server.chat_requests}
    assert sorted(bodies) == [f"Question {i}?" for i in range(5)]
    body = bodies["Question 2?"]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (64, 0.7, 1.0)
    # The seed is the request's own (same as the local backend's), so servers that honour it
    # give the same text for the same request whatever else is in flight.
    assert body["seed"] == request_seed(3, chats[2]) % 2**31


def test_429_with_retry_after_is_waited_out_then_retried():
    with FaultServer(["429:1", "429:1"]) as server:
        out = backend(server).generate([CHAT], PARAMS)
    assert out[0].ok and out[0].text == CANNED
    times = [r["time"] for r in server.chat_requests]
    assert len(times) == 3
    # Retry-After says 1 s: the client waited at least that long before each retry.
    assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(times))


@pytest.mark.parametrize("fault", ["500", "503", "truncated", "reset", "slow:3"])
def test_transient_faults_are_retried_then_succeed(fault):
    with FaultServer([fault, fault]) as server:
        out = backend(server, timeout=1.0).generate([CHAT], PARAMS)
    assert out[0].ok, out[0].error
    assert out[0].text == CANNED
    assert len(server.chat_requests) == 3


@pytest.mark.parametrize(("fault", "kind"), [
    ("500", "server_error_500"),
    ("429:0", "rate_limited"),
    ("truncated", "bad_response"),
    ("reset", "connection"),
    ("slow:3", "timeout"),
])
def test_a_fault_that_outlasts_the_retries_is_a_counted_error(fault, kind):
    with FaultServer(default=fault) as server:
        out = backend(server, max_retries=1, timeout=1.0).generate([CHAT, CHAT], PARAMS)
    assert [g.error_kind for g in out] == [kind, kind]
    assert all(g.finish_reason == "error" and g.text == "" for g in out)
    assert len(server.chat_requests) == 4  # each request: the first try and one retry


def test_client_errors_are_not_retried():
    with FaultServer(default="400") as server:
        out = backend(server).generate([CHAT], PARAMS)
    assert out[0].error_kind == "http_400"
    assert len(server.chat_requests) == 1


def test_one_failure_does_not_cost_the_other_requests():
    with FaultServer(["500", "500", "500"], default="ok") as server:
        llm = backend(server, max_retries=0, concurrency=1)
        out = llm.generate([CHAT, [{"role": "user", "content": "b"}], "not a chat"], PARAMS)
    assert out[0].error_kind == "server_error_500"
    assert out[2].error_kind == "bad_request"  # never sent
    assert len(server.chat_requests) == 2


def test_concurrency_caps_requests_in_flight():
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(8)]
    with FaultServer(default="slow:0.3") as server:
        backend(server, concurrency=3).generate(chats, PARAMS)
    assert server.max_in_flight == 3
    with FaultServer(default="slow:0.3") as server:
        backend(server, concurrency=1).generate(chats, PARAMS)
    assert server.max_in_flight == 1


def test_requests_per_minute_are_paced():
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    with FaultServer() as server:
        out = backend(server, requests_per_minute=600).generate(chats, PARAMS)
    assert all(g.ok for g in out)
    times = sorted(r["time"] for r in server.chat_requests)
    assert times[-1] - times[0] >= 0.25  # 600/min: one per 0.1 s (arrivals jitter a little)


def test_tokens_per_minute_are_paced():
    # 600 tokens/min = 10 per second; each request is estimated at 0 + 8 tokens.
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(3)]
    with FaultServer() as server:
        out = backend(server, tokens_per_minute=600).generate(
            chats, PARAMS.replace(max_new_tokens=8))
    assert all(g.ok for g in out)
    times = sorted(r["time"] for r in server.chat_requests)
    assert times[-1] - times[0] >= 1.3  # 8 tokens at 10/s: 0.8 s apart


def test_health_check_names_the_url_and_the_model():
    with FaultServer() as server:
        backend(server).check()  # serves canned-model: fine
        url = server.url
        with pytest.raises(LLMUnavailable, match=r"does not serve this model; it serves: "
                                                 r"canned-model"):
            make_backend("openai", model="gpt-9", base_url=url).check()
    # The server is gone now.
    with pytest.raises(LLMUnavailable, match=rf"cannot reach the LLM server at {url} "
                                             r"\(model 'canned-model'\).*refused"):
        make_backend("openai", model="canned-model", base_url=url, max_retries=0).check()


def test_health_check_without_a_models_route_asks_for_one_token():
    with FaultServer(models_route=False) as server:
        backend(server).check()
        assert server.chat_requests[-1]["body"]["max_tokens"] == 1
        with pytest.raises(LLMUnavailable, match="failed its health check: not_found"):
            make_backend("openai", model="other", base_url=server.url).check()


def test_api_key_comes_from_the_named_variable_and_is_never_kept(monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-secret-123")
    with FaultServer() as server:
        llm = backend(server, api_key_env="MY_TEST_KEY")
        llm.generate([CHAT], PARAMS)
    assert server.chat_requests[0]["headers"]["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in repr(vars(llm)) + repr(llm.describe())


def test_bad_options_are_clear_errors():
    with pytest.raises(UsageError, match="must name the model"):
        make_backend("openai", model="")
    with pytest.raises(UsageError, match="unknown option batch_size"):
        make_backend("openai", model="m", batch_size=4)


def test_repetition_control_is_sent_only_when_on():
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(3)]
    params = [PARAMS, PARAMS.replace(frequency_penalty=0.5),
              PARAMS.replace(repetition_penalty=1.15, frequency_penalty=-0.25)]
    with FaultServer() as server:
        out = backend(server).generate(chats, params)
    assert all(g.ok for g in out)
    bodies = {r["body"]["messages"][0]["content"]: r["body"] for r in server.chat_requests}
    assert not {"frequency_penalty", "repetition_penalty"} & set(bodies["q0"])  # as before
    assert bodies["q1"]["frequency_penalty"] == 0.5 and "repetition_penalty" not in bodies["q1"]
    # repetition_penalty is vLLM's / SGLang's field, at the body's top level
    assert (bodies["q2"]["repetition_penalty"], bodies["q2"]["frequency_penalty"]) == (1.15,
                                                                                        -0.25)


def test_no_repeat_ngram_size_is_never_silently_dropped():
    from mmsynth.llm import backend_from_config

    with FaultServer() as server:
        out = backend(server).generate([CHAT], PARAMS.replace(no_repeat_ngram_size=4))
    assert out[0].error_kind == "bad_request" and "no_repeat_ngram_size" in out[0].error
    assert server.chat_requests == []
    with pytest.raises(UsageError, match="--llm_no_repeat_ngram_size works with --llm_backend "
                                         "transformers only"):
        backend_from_config({"llm_backend": "openai", "llm_model": "m",
                             "llm_no_repeat_ngram_size": 3, "llm_cache": "off"})
