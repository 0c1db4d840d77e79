"""``--llm_quantize int8``: the embedded model's linear layers quantised on the CPU. A model
setting of its own: replies differ from float32's, so it is in the fingerprint, the samples'
meta and the reply cache's key; it refuses devices and dtypes it cannot run on."""

from __future__ import annotations

import pytest

from mmsynth.errors import UsageError
from mmsynth.llm import DEFAULT_MODEL, GenerationParams, llm_meta, make_backend
from tests.llm.test_transformers_backend import PROMPTS, chat, no_network


@pytest.fixture(scope="module")
def int8():
    import torch

    threads = torch.get_num_threads()
    backend = make_backend("transformers", model=DEFAULT_MODEL, batch_size=4, device="cpu",
                           threads=1, quantize="int8")
    with no_network():
        backend.load()
    yield backend
    torch.set_num_threads(threads)


def test_every_linear_layer_is_quantised_and_the_rest_stays_float32(int8):
    import torch

    model = int8._ensure_loaded().model
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    layers = model.config.num_hidden_layers
    quantised = [m for m in model.modules() if type(m).__name__ == "Int8Linear"]
    assert all(m.weight_t.dtype == torch.int8 for m in quantised)
    quantised = len(quantised)
    assert quantised == 7 * layers + 1  # q k v o, gate up down, and the output head
    assert model.get_input_embeddings().weight.dtype == torch.float32
    assert "int8 (" in int8._ensure_loaded().origin


def test_int8_answers_are_sensible_reproducible_and_not_float32s(int8):
    """Not asserted: equality across batch sizes. The int8 products are exact, but attention
    stays float32, whose last bits depend on the batch's shape (as in float32 everywhere), and
    rounding to int8 can carry such a bit into a greedy near-tie more often than float32 does.
    The job is deterministic for one configuration either way (its batches are)."""
    params = GenerationParams(max_new_tokens=20)
    requests = [chat(p) for p in PROMPTS]
    batched = int8.generate(requests, params)
    assert all(g.ok and g.text.strip() for g in batched), batched
    assert "4" in batched[0].text  # "What is 2+2?"
    again = make_backend("transformers", batch_size=4, device="cpu", quantize="int8")
    assert again.generate(requests, params) == batched
    alone = make_backend("transformers", batch_size=1, device="cpu", quantize="int8")
    assert "4" in alone.generate(requests[:1], params)[0].text
    plain = make_backend("transformers", batch_size=4, device="cpu").generate(requests, params)
    assert [g.text for g in plain] != [g.text for g in batched]  # another numeric path


def test_an_int8_layer_is_close_to_its_float32_layer_and_row_independent():
    import torch

    from mmsynth.llm.quantize import _int8_linear_class

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    layer = _int8_linear_class()(linear)
    x = torch.randn(2, 5, 64)
    x[0, 0] *= 50  # an outlier token: it must not cost the other tokens their precision
    out, ref = layer(x), linear(x)
    assert out.shape == ref.shape == (2, 5, 48)
    relative = (out - ref).norm(dim=-1) / ref.norm(dim=-1)
    assert relative.max() < 0.02, relative
    alone = torch.cat([layer(x[i, j]) for i in range(2) for j in range(5)]).reshape(2, 5, 48)
    assert torch.equal(alone, out)  # each row's result is its own, bit for bit


def test_int8_is_in_the_meta_the_cache_key_and_the_fingerprint(int8):
    from mmsynth.config import resolve
    from mmsynth.llm.cache import CachedBackend, ResponseCache, _key_or_none
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    params = GenerationParams(max_new_tokens=8)
    plain = make_backend("transformers", device="cpu")
    assert llm_meta(int8, params)["quantize"] == "int8"
    assert "quantize" not in llm_meta(plain, params)  # earlier runs' meta, as it was
    cached = CachedBackend(int8, ResponseCache("unused.sqlite"))
    assert cached.numerics == "quantize=int8" and plain.numerics == ""
    key = _key_or_none(cached, chat("hi"), params)
    assert key and key != _key_or_none(plain, chat("hi"), params)
    # another dtype is another numeric path too (float32 keys stay as they were)
    bf16 = make_backend("transformers", device="cpu", dtype="bfloat16")
    assert bf16.numerics == "dtype=bfloat16"
    assert _key_or_none(bf16, chat("hi"), params) not in (key, _key_or_none(plain, chat("hi"),
                                                                            params))

    base = {"source": "coco", "num_samples": 2}
    off = resolve(base, source_options)
    on = resolve({**base, "llm_quantize": "int8"}, source_options)
    assert fingerprint_of(off) == fingerprint_of(resolve({**base, "llm_quantize": "off"},
                                                   source_options))
    assert fingerprint_of(on) != fingerprint_of(off)


def test_unsupported_settings_are_clear_errors():
    with pytest.raises(UsageError, match="unknown LLM quantisation 'int4'"):
        make_backend("transformers", quantize="int4")
    with pytest.raises(UsageError, match=r"a CPU path for float32 weights .*bfloat16"):
        make_backend("transformers", device="cpu", dtype="bfloat16", quantize="int8").load()
    from mmsynth.llm import LLM_OPTIONS

    assert "expected one of" in LLM_OPTIONS["llm_quantize"].check("int4")
