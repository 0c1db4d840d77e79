"""Shared-prefix KV reuse without the embedded model: finding the prefix on token ids, the LRU of
prefix caches, copying prefix rows into a batch cache (a stored prefix is never changed or
aliased), and the decoder on a tiny random Llama in float64 (rounding far below any logit gap),
where a prompt decoded after its prefix cache must give exactly the tokens of the whole prompt
prefilled — batched, merged into a running batch, beside rows without a prefix."""

from __future__ import annotations

import pytest

from mmsynth.llm.base import GenerationParams
from mmsynth.llm.prefix import PrefixCaches, common_length, shared_length

# -- finding the prefix -------------------------------------------------------------------------


def test_common_length_compares_ids():
    assert common_length([1, 2, 3], [1, 2, 3, 4]) == 3
    assert common_length([1, 2, 3], [1, 5]) == 1
    assert common_length([], [1]) == 0


def test_the_prefix_is_the_ids_shared_with_the_head_tokenised_alone():
    prompt = [*list(range(100)), 7, 8]
    assert shared_length(prompt, list(range(100)), minimum=32) == 100


def test_a_head_tokenised_differently_at_its_end_shortens_the_prefix():
    # the head alone ends in token 99, the whole prompt merged its last characters into 500
    prompt = [*list(range(99)), 500, 8]
    assert shared_length(prompt, list(range(100)), minimum=32) == 99


def test_at_least_one_id_is_left_to_prefill():
    prompt = list(range(50))
    assert shared_length(prompt, prompt, minimum=32) == 49
    assert shared_length(prompt, [*prompt, 3], minimum=32) == 49


def test_short_or_missing_heads_give_no_prefix():
    prompt = list(range(100))
    assert shared_length(prompt, list(range(31)), minimum=32) == 0
    assert shared_length(prompt, [], minimum=32) == 0
    assert shared_length(prompt, None) == 0
    assert shared_length(prompt, [9, 9, 9], minimum=1) == 0  # nothing in common


# -- the store ----------------------------------------------------------------------------------


def test_prefix_caches_compute_once_and_drop_the_least_recently_used():
    computed = []

    def compute(ids):
        computed.append(tuple(ids))
        return f"cache{ids}"

    store = PrefixCaches(capacity=2)
    assert store.get([1, 2], compute) == "cache[1, 2]"
    assert store.get((1, 2), compute) == "cache[1, 2]"
    assert computed == [(1, 2)] and (store.hits, store.misses) == (1, 1)
    store.get([3], compute)
    store.get([1, 2], compute)  # now [3] is the least recently used
    store.get([4], compute)
    assert [1, 2] in store and [4] in store and [3] not in store and len(store) == 2
    store.get([3], compute)
    assert computed == [(1, 2), (3,), (4,), (3,)]


def test_a_model_without_mergeable_caches_is_remembered_as_such():
    calls = []
    store = PrefixCaches()
    assert store.get([1], lambda ids: calls.append(ids)) is None
    assert store.get([1], lambda ids: calls.append(ids)) is None
    assert calls == [[1]]


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        PrefixCaches(capacity=0)


# -- a tiny model -------------------------------------------------------------------------------


def snapshot(cache):
    return [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]


def test_stacked_rows_copy_the_prefix_left_padded(tiny):
    import torch

    from mmsynth.llm import hf_internals as hf
    from mmsynth.llm.decode import Decoder

    decoder = Decoder(tiny, 4)
    short, long = decoder._compute_prefix([5, 6, 7]), decoder._compute_prefix(list(range(1, 9)))
    assert hf.mergeable(short) and hf.mergeable(long)
    saved = snapshot(short) + snapshot(long)
    cache = hf.stack_prefixes([long, short, None, short], 8)
    assert hf.mergeable(cache)
    for index, layer in enumerate(cache.layers):
        assert layer.keys.shape[:3] == (4, 2, 8)
        assert torch.equal(layer.keys[0], long.layers[index].keys[0])
        assert torch.equal(layer.keys[1, :, 5:], short.layers[index].keys[0])
        assert not layer.keys[1, :, :5].any() and not layer.values[2].any()
        assert torch.equal(layer.values[3, :, 5:], short.layers[index].values[0])
        layer.keys.add_(1.0)  # the batch's tensors are its own
        layer.values.mul_(0)
    for (k, v), layer in zip(saved, list(short.layers) + list(long.layers), strict=True):
        assert torch.equal(k, layer.keys) and torch.equal(v, layer.values)


def items(prefix_of, seed=None):
    """Requests sharing two heads (A, B) and one without: different suffix lengths."""
    from mmsynth.llm.decode import Item

    head_a, head_b = [(i * 7) % 90 + 1 for i in range(40)], [(i * 11) % 90 + 1 for i in range(33)]
    prompts = [[*head_a, 3, 4, 5], head_b + [9] * 7, [*head_a, 8], list(range(10, 30)),
               [*head_b, 2, 3], [*head_a, 6, 7, 8, 9, 10, 11]]
    heads = [head_a, head_b, head_a, None, head_b, head_a]
    params = GenerationParams(max_new_tokens=12, temperature=0 if seed is None else 0.9,
                              top_p=0.9, seed=seed or 0)
    return [Item(i, ids, params, None if seed is None else seed + i,
                 prefix_of(ids, head)) for i, (ids, head) in enumerate(zip(prompts, heads,
                                                                               strict=True))]


@pytest.mark.parametrize("batch_size", [1, 2, 6])
@pytest.mark.parametrize("seed", [None, 5])
def test_decoding_after_a_prefix_cache_equals_prefilling_the_whole_prompt(tiny, batch_size,
                                                                           seed):
    from mmsynth.llm.decode import Decoder

    plain = Decoder(tiny, batch_size).run(items(lambda ids, head: 0, seed))
    store = PrefixCaches()
    reused = Decoder(tiny, batch_size, prefixes=store).run(
        items(lambda ids, head: shared_length(ids, head, minimum=8), seed))
    assert reused == plain
    assert len(store) == 2 and store.misses == 2 and store.reused_tokens == 3 * 40 + 2 * 33
    # batch 2 of 6 requests: later ones are prefilled after their prefix and merged in


def test_a_request_never_changes_a_stored_prefix(tiny):
    from mmsynth.llm.decode import Decoder

    store = PrefixCaches()
    prefix_of = lambda ids, head: shared_length(ids, head, minimum=8)  # noqa: E731
    Decoder(tiny, 3, prefixes=store).run(items(prefix_of)[:2])
    saved = {key: snapshot(cache) for key, cache in store._entries.items()}
    first = Decoder(tiny, 3, prefixes=store).run(items(prefix_of))
    assert Decoder(tiny, 3, prefixes=store).run(items(prefix_of)) == first
    for key, cache in store._entries.items():
        for (k, v), layer in zip(saved[key], cache.layers, strict=True):
            assert k.equal(layer.keys) and v.equal(layer.values)
    assert store.misses == 2 and store.hits > 0


def test_fewer_tokens_are_run_with_reuse(tiny):
    from mmsynth.llm.decode import Decoder

    plain = Decoder(tiny, 6)
    plain.run(items(lambda ids, head: 0))
    reused = Decoder(tiny, 6, prefixes=PrefixCaches())
    reused.run(items(lambda ids, head: shared_length(ids, head, minimum=8)))
    assert reused.prefilled_tokens < plain.prefilled_tokens
