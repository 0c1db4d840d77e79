"""Shared-prefix KV reuse: the prompts of one prompt set all begin with the same system message
and few-shot examples (~900 tokens for coco's), so their keys and values are computed once per
worker and every request starts from a copy of them; only the request's own suffix is prefilled.

Two small parts, both on token ids (never on text, so a tokenisation that merges across the
boundary cannot make a prefix that is not the prompt's own):

* :func:`shared_length`: how many of a prompt's leading ids are its shared head — the longest
  common prefix of the prompt's ids and the ids of its head (every message but the last, rendered
  by the chat template) tokenised alone, if long enough to be worth a cache, and always leaving
  at least one id to prefill (its logits give the first token);
* :class:`PrefixCaches`: a small LRU of prefix KV caches keyed by the prefix ids themselves (so
  one model's store never answers for another tokenisation, and two prompt sets never collide).

The decoder (:mod:`mmsynth.llm.decode`) does the arithmetic; what it needs of transformers'
cache objects is in :mod:`mmsynth.llm.hf_internals`. Nothing here imports torch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

# Prefixes shorter than this are not cached: the copy and the bookkeeping would cost about what
# prefilling them does (the chat template's own header is ~20 tokens).
MIN_PREFIX = 32
# Prefix caches kept per backend: one per prompt set in use (coco: conversation, detail,
# reasoning; the claim judge). A SmolLM2-135M prefix of 900 tokens holds ~41 MB (float32).
CAPACITY = 4


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def shared_length(ids: Sequence[int], head_ids: Sequence[int] | None,
                  minimum: int = MIN_PREFIX) -> int:
    """How many leading ``ids`` (a prompt) to take from a prefix cache: their common prefix with
    ``head_ids`` (the prompt's shared head tokenised alone), at most all but the last id, and 0
    when that is shorter than ``minimum`` or there is no head."""
    if not head_ids:
        return 0
    n = min(common_length(ids, head_ids), len(ids) - 1)
    return n if n >= max(1, minimum) else 0


class PrefixCaches:
    """Prefix KV caches by prefix ids, least recently used dropped beyond ``capacity``.

    A value is whatever ``compute(ids)`` returned for those ids: a cache the decoder copies rows
    from (it never hands the stored tensors to a running batch), or None for a model whose cache
    cannot be copied that way (remembered, so it is not computed again). Counters for reports:
    ``hits``, ``misses`` (prefixes computed) and ``reused_tokens`` (prefix tokens not
    prefilled)."""

    def __init__(self, capacity: int = CAPACITY):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ids: Sequence[int]) -> bool:
        return tuple(ids) in self._entries

    def get(self, ids: Sequence[int], compute: Callable[[list[int]], Any]) -> Any:
        """The cache of prefix ``ids``, computed by ``compute`` on first use."""
        key = tuple(ids)
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]
        value = compute(list(key))
        self.misses += 1
        self._entries[key] = value
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
