"""The decoder's KV cache layers (hf_internals.GrowingLayer): appending in place gives the very
tensors transformers' own DynamicLayer gives, through prefill, decode steps, row selection,
merging and trimming."""

from __future__ import annotations

import pytest


def run_steps(model, cache, prompt, steps):
    """Prefill ``prompt`` (rows × tokens, left-padded with 0 where the mask says so) into
    ``cache`` and decode ``steps`` greedy tokens; the logits of every call."""
    import torch

    ids, attention = prompt
    kw = cache_keyword(model)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=attention, position_ids=positions,
                use_cache=True, **{kw: cache})
    logits = [out.logits[:, -1]]
    for _ in range(steps):
        token = logits[-1].argmax(-1, keepdim=True)
        attention = torch.cat([attention, torch.ones_like(token)], -1)
        positions = positions[:, -1:] + 1
        out = model(input_ids=token, attention_mask=attention, position_ids=positions,
                    use_cache=True, **{kw: cache})
        logits.append(out.logits[:, -1])
    return logits


def cache_keyword(model):
    from mmsynth.llm.hf_internals import CausalLM

    return CausalLM(model).cache_kw


def left_padded(rows):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, attention


PROMPTS = [[5, 9, 14, 3, 3, 70], [41, 2], [8] * 11]


def test_new_cache_has_growing_layers_and_is_mergeable(tiny):
    from mmsynth.llm import hf_internals as hf

    cache = hf.new_cache(tiny.lm.model)
    assert [type(layer).__name__ for layer in cache.layers] == ["GrowingLayer"] * 2
    assert not hf.mergeable(cache)  # nothing cached yet
    run_steps(tiny.lm.model, cache, left_padded(PROMPTS), 2)
    assert hf.mergeable(cache)


def test_steps_past_the_spare_capacity_equal_transformers_own_layers(tiny):
    """Enough steps to grow the buffers twice (SPARE = 64 positions at a time)."""
    import torch
    from transformers.cache_utils import DynamicCache

    from mmsynth.llm import hf_internals as hf

    model, prompt = tiny.lm.model, left_padded(PROMPTS)
    ours, theirs = hf.new_cache(model), DynamicCache(config=model.config)
    assert type(theirs.layers[0]).__name__ == "DynamicLayer"
    steps = 2 * hf.GrowingLayer.SPARE + 5
    for a, b in zip(run_steps(model, ours, prompt, steps), run_steps(model, theirs, prompt, steps),
                    strict=True):
        assert torch.equal(a, b)
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
        assert a._keys.shape[-2] > a.keys.shape[-2]  # room to grow: a view, not a copy
    assert ours.get_seq_length() == theirs.get_seq_length() == 11 + steps


def test_selecting_merging_and_trimming_rows_keep_equal_to_transformers(tiny):
    import torch
    from transformers.cache_utils import DynamicCache

    from mmsynth.llm import hf_internals as hf

    model, prompt = tiny.lm.model, left_padded(PROMPTS)
    ours, theirs = hf.new_cache(model), DynamicCache(config=model.config)
    extra_ours, extra_theirs = hf.new_cache(model), DynamicCache(config=model.config)
    for cache, extra in ((ours, extra_ours), (theirs, extra_theirs)):
        run_steps(model, cache, prompt, 3)
        run_steps(model, extra, left_padded([[7, 7, 1]]), 0)
        hf.select_rows(cache, torch.tensor([0, 2]))
        hf.concat_rows(cache, extra, 14)
        hf.drop_leading(cache, 2)
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        assert a.keys.shape == b.keys.shape == (3, 2, 12, 8)
        assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
    assert hf.mergeable(ours)
    # and decoding goes on from there alike
    token = torch.tensor([[4], [5], [6]])
    attention = torch.ones(3, 13, dtype=torch.long)
    logits = [model(input_ids=token, attention_mask=attention, use_cache=True,
                    position_ids=torch.full((3, 1), 12), **{cache_keyword(model): cache}).logits
              for cache in (ours, theirs)]
    assert torch.equal(*logits)


def test_an_update_never_writes_into_a_tensor_it_was_given(tiny):
    """The first update keeps the prefill's keys as they are; assigned tensors (a stored prefix
    stacked into a batch, a trimmed view) are replaced, not written into, on the next step."""
    import torch

    from mmsynth.llm import hf_internals as hf

    layer = hf._growing_layer_class()()
    first = torch.randn(1, 2, 3, 4, dtype=torch.float64)
    layer.update(first, first.clone())
    assert layer.keys.data_ptr() == first.data_ptr()
    given = torch.randn(1, 2, 5, 4, dtype=torch.float64)
    saved = given.clone()
    layer.keys, layer.values = given, given
    step = torch.randn(1, 2, 1, 4, dtype=torch.float64)
    keys, _ = layer.update(step, step)
    assert torch.equal(given, saved) and torch.equal(first, first)
    assert torch.equal(keys, torch.cat([saved, step], -2))
    assert layer._keys.shape[-2] == 6 + layer.SPARE


@pytest.mark.parametrize("batch_size", [1, 3])
def test_the_decoder_gives_the_same_tokens_with_transformers_own_cache(tiny, batch_size,
                                                                        monkeypatch):
    from mmsynth.llm import hf_internals as hf
    from mmsynth.llm.base import GenerationParams
    from mmsynth.llm.decode import Decoder, Item

    params = GenerationParams(max_new_tokens=90, temperature=0, seed=0)
    requests = [Item(i, ids, params, None, 0) for i, ids in enumerate(PROMPTS)]
    ours = Decoder(tiny, batch_size).run(requests)
    monkeypatch.setattr(hf, "new_cache", lambda model: None)  # transformers makes its own
    assert Decoder(tiny, batch_size).run(requests) == ours
