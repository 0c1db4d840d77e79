"""Attention over a shared prefix read once per batch (mmsynth.llm.shared_attention): in float64
it equals SDPA over each row's whole [prefix][suffix] sequence, at decode and prefill shapes,
with padding, several prefixes and rows without one; without prefixes it *is* SDPA; the
decoder using it keeps only the rows' own tokens in its cache, never changes a stored prefix,
and gives the tokens of the copying path and of whole prompts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mmsynth.llm.shared_attention import RowPrefixes

HEADS, KV_HEADS, DIM = 6, 2, 8


def one_row_cache(length, layers=1, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(layers=[SimpleNamespace(
        keys=torch.randn(1, KV_HEADS, length, DIM, generator=g, dtype=torch.float64),
        values=torch.randn(1, KV_HEADS, length, DIM, generator=g, dtype=torch.float64))
        for _ in range(layers)])


def reference(query, key, value, own, prefixes, q_len):
    """SDPA row by row over [prefix][own tokens]: ``own[i]`` is row i's real-token count among
    its last columns (left padding before), the queries its last ``q_len`` positions (those
    of padding, when ``own[i]`` < ``q_len``, see their row's prefix only: compared nowhere)."""
    import torch
    import torch.nn.functional as F

    rep = HEADS // KV_HEADS
    outs = []
    for i, cache in enumerate(prefixes):
        width = key.shape[2]
        keep = slice(width - own[i], width)
        k, v = key[i:i + 1, :, keep], value[i:i + 1, :, keep]
        if cache is not None:
            k = torch.cat([cache.layers[0].keys, k], 2)
            v = torch.cat([cache.layers[0].values, v], 2)
        total = k.shape[2]
        q = query[i:i + 1]
        # query j (of the last q_len positions) sees every key up to its own position
        mask = torch.ones(q_len, total, dtype=torch.bool)
        for j in range(q_len):
            position = total - q_len + j
            mask[j, max(0, position + 1):] = False
            mask[j, 0] = True  # a padding query: anything, not compared
        out = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1),
                                             v.repeat_interleave(rep, 1), attn_mask=mask)
        outs.append(out)
    return torch.cat(outs).transpose(1, 2)


def suffix_mask(own, width, q_len):
    """transformers' boolean mask over the rows' own columns: causal, left padding masked."""
    import torch

    rows = len(own)
    mask = torch.zeros(rows, 1, q_len, width, dtype=torch.bool)
    for i, n in enumerate(own):
        for j in range(q_len):
            position = width - q_len + j
            mask[i, 0, j, width - n:position + 1] = True
    return mask


@pytest.mark.parametrize("q_len", [1, 5])
def test_split_attention_equals_sdpa_over_whole_rows(q_len):
    import torch

    from mmsynth.llm.shared_attention import attention

    long, short = one_row_cache(11, seed=1), one_row_cache(4, seed=2)
    prefixes = [long, short, None, long, None]
    own = [7, 3, 9, 6, 2]  # real tokens of each row among the 9 cached columns
    width, rows = 9, len(prefixes)
    g = torch.Generator().manual_seed(3)
    query = torch.randn(rows, HEADS, q_len, DIM, generator=g, dtype=torch.float64)
    key = torch.randn(rows, KV_HEADS, width, DIM, generator=g, dtype=torch.float64)
    value = torch.randn(rows, KV_HEADS, width, DIM, generator=g, dtype=torch.float64)
    shared = RowPrefixes.of(prefixes).for_forward(torch.device("cpu"))
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=HEADS // KV_HEADS, is_causal=True)
    out, weights = attention(module, query, key, value, suffix_mask(own, width, q_len),
                             scaling=DIM ** -0.5, shared_prefix=shared)
    assert weights is None and out.shape == (rows, q_len, HEADS, DIM)
    assert torch.isfinite(out).all()  # a padding query that sees nothing gives no NaN
    expected = reference(query, key, value, own, prefixes, q_len)
    for i, n in enumerate(own):
        real = slice(max(0, q_len - n), q_len)
        assert torch.allclose(out[i, real], expected[i, real], atol=1e-12, rtol=0)


def test_one_prefix_for_every_row_and_no_padding():
    import torch

    from mmsynth.llm.shared_attention import attention

    prefix = one_row_cache(13, seed=4)
    rows, q_len = 3, 4
    g = torch.Generator().manual_seed(5)
    query = torch.randn(rows, HEADS, q_len, DIM, generator=g, dtype=torch.float64)
    key = torch.randn(rows, KV_HEADS, q_len, DIM, generator=g, dtype=torch.float64)
    value = torch.randn(rows, KV_HEADS, q_len, DIM, generator=g, dtype=torch.float64)
    shared = RowPrefixes.of([prefix] * rows).for_forward(torch.device("cpu"))
    assert shared.groups[0][0] is None  # all rows: no gather
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=HEADS // KV_HEADS, is_causal=True)
    # transformers gives no mask for a causal prefill without padding
    out, _ = attention(module, query, key, value, None, scaling=DIM ** -0.5,
                       shared_prefix=shared)
    expected = reference(query, key, value, [q_len] * rows, [prefix] * rows, q_len)
    assert torch.allclose(out, expected, atol=1e-12, rtol=0)


def test_without_prefixes_it_is_transformers_sdpa():
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from mmsynth.llm.shared_attention import attention

    g = torch.Generator().manual_seed(6)
    query = torch.randn(2, HEADS, 1, DIM, generator=g)
    key, value = torch.randn(2, KV_HEADS, 5, DIM, generator=g), torch.randn(2, KV_HEADS, 5, DIM)
    mask = suffix_mask([5, 3], 5, 1)
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=HEADS // KV_HEADS, is_causal=True)
    ours, _ = attention(module, query, key, value, mask, scaling=0.3)
    theirs, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=0.3)
    assert torch.equal(ours, theirs)


def test_row_prefixes_follow_rows_through_selection_and_merging():
    a, b = one_row_cache(3), one_row_cache(5)
    rows = RowPrefixes.of([a, None, b, a])
    assert rows.caches == (a, b) and rows.groups == (0, -1, 1, 0)
    assert rows.lengths() == [3, 0, 5, 3]
    kept = rows.select([3, 1])
    assert kept.rows() == [a, None] and kept.caches == (a,)
    merged = kept.concat(RowPrefixes.of([b]), 1).concat(None, 2)
    assert merged.rows() == [a, None, b, None, None]


def test_enabled_only_where_it_can_run():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from mmsynth.llm.hf_internals import CausalLM

    small = {"vocab_size": 50, "hidden_size": 16, "intermediate_size": 32,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
    torch.manual_seed(0)
    sdpa = LlamaForCausalLM(LlamaConfig(**small))
    assert CausalLM(sdpa).shared_prefix_attention
    assert CausalLM(sdpa).shared_prefix_attention  # again: already switched
    eager = LlamaForCausalLM(LlamaConfig(**small, attn_implementation="eager"))
    assert not CausalLM(eager).shared_prefix_attention
    assert eager.config._attn_implementation == "eager"
    windowed = Qwen2ForCausalLM(Qwen2Config(**small, use_sliding_window=True, sliding_window=8,
                                            max_window_layers=0))
    assert not CausalLM(windowed).shared_prefix_attention
    untouched = LlamaForCausalLM(LlamaConfig(**small))
    assert not CausalLM(untouched, shared_prefix_attention=False).shared_prefix_attention
    assert untouched.config._attn_implementation == "sdpa"


def test_the_decoder_keeps_only_the_rows_own_tokens_and_never_changes_a_prefix(tiny):
    import torch

    from mmsynth.llm.decode import Decoder
    from mmsynth.llm.prefix import PrefixCaches

    from .test_prefix import items, snapshot

    assert tiny.lm.shared_prefix_attention
    store = PrefixCaches()
    decoder = Decoder(tiny, 6, prefixes=store)
    work = items(lambda ids, head: 40 if head is not None and len(head) == 40 else 0)
    batch = decoder._prefill([w for w in work if w.prefix])
    suffixes = [len(w.ids) - w.prefix for w in work if w.prefix]
    assert batch.prefixes is not None and batch.prefixes.lengths() == [40] * len(suffixes)
    assert batch.cache.layers[0].keys.shape[-2] == max(suffixes)  # no prefix copies
    (stored,) = [store.get(work[0].ids[:40], None)]
    before = snapshot(stored)
    while batch.rows:
        decoder._step(batch)
    for (k, v), layer in zip(before, stored.layers, strict=True):
        assert torch.equal(k, layer.keys) and torch.equal(v, layer.values)


@pytest.mark.parametrize("seed", [None, 5])
def test_shared_attention_gives_the_tokens_of_copied_prefixes(tiny, seed):
    from mmsynth.llm.decode import Decoder
    from mmsynth.llm.prefix import PrefixCaches, shared_length

    from .test_prefix import items

    def prefix_of(ids, head):
        return shared_length(ids, head, minimum=8)

    copied = Decoder(tiny, 3, prefixes=PrefixCaches(), shared_attention=False).run(
        items(prefix_of, seed))
    shared = Decoder(tiny, 3, prefixes=PrefixCaches()).run(items(prefix_of, seed))
    assert shared == copied and all(g.ok for g in shared.values())
