"""The openai backend and the coco source against a real OpenAI-compatible server:
``transformers serve`` with the embedded SmolLM2, started on 127.0.0.1 for this session."""

from __future__ import annotations

import json

import pytest

from mmsynth.llm import GenerationParams, make_backend
from mmsynth.sample import check_llava_shape
from tests.conftest import cli, read_records, shard_bytes
from tests.llm.fault_server import FaultServer
from tests.llm.servers import export_embedded, free_port, start_transformers_serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    model = export_embedded(root / "smollm2")
    port = free_port()
    proc = start_transformers_serve(model, port, root / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}/v1", str(model)
    finally:
        proc.kill()
        proc.wait()


def test_the_real_server_answers_and_honours_the_seed(server):
    url, model = server
    llm = make_backend("openai", model=model, base_url=url)
    llm.check()
    chat = [{"role": "user", "content": "Name three colours."}]
    params = GenerationParams(max_new_tokens=16, temperature=0.8, seed=4)
    first, again = llm.generate([chat, chat], params)
    assert first.ok and first.text.strip() and first.completion_tokens > 0
    assert again.text == first.text  # same request, same seed: same reply
    assert first.finish_reason in ("stop", "length")


def test_coco_through_the_real_server_then_a_rerun_from_the_cache(server, tmp_path):
    url, model = server
    out = tmp_path / "out"
    with FaultServer(model=model, upstream=url) as proxy:  # counts what reaches the server
        args = ("--source", "coco", "--num_samples", "2", "--types", "detail",
                "--llm_max_new_tokens", "48", "--llm_timeout", "900", "--llm_backend", "openai",
                "--llm_model", model,
                "--llm_base_url", proxy.url, "--progress", "false", "--out", str(out))
        first = cli(*args)
        sent = len(proxy.chat_requests)
        before = shard_bytes(out)
        again = cli(*args, "--overwrite")
        assert len(proxy.chat_requests) == sent == 2
    assert "llm: 2 requests, 2 from the cache, 0 sent, 0 failed" in again.stdout, first.stdout
    assert shard_bytes(out) == before
    records = read_records(out)
    assert records and all(check_llava_shape(r) == [] for r in records)
    written = [r for r in records if r["meta"]["type"] == "detail"]
    stats = json.loads((out / "stats.json").read_text())
    assert len(written) + stats["rejections"].get("truncated:detail", 0) \
        + sum(n for k, n in stats["rejections"].items() if k != "truncated:detail") >= 2
    for r in written:
        # candidate 0: retries are on by default, and both requests passed at the first reply
        assert r["meta"]["llm"] == {"backend": "openai", "model": model, "candidate": 0,
                                    "params": r["meta"]["llm"]["params"]}
        assert "repetition_penalty" not in r["meta"]["llm"]["params"]  # auto: none to a server
        assert r["conversations"][1]["value"].strip()
