"""Attention that reads a shared prefix once per batch instead of once per row.

The requests of one prompt set begin with the same ~900 tokens (system message, few-shot
examples). :mod:`mmsynth.llm.prefix` already computes their keys and values once; without this
module each row of a batch still gets its own copy of them, and every decode step reads every
copy (at ~19 rows and a 900-token prefix, more bytes than the model's weights). Here a batch's
cache holds only each row's own suffix, and each attention call is split in two:

* the **prefix part**: the queries of all rows that share a prefix are stacked into one sequence
  and attend to that prefix's keys and values (one tensor, shared, never copied) in a single
  kernel call — the prefix is read once per group of rows, not once per row;
* the **suffix part**: each row's queries attend to its own cached suffix, with the causal and
  padding mask transformers builds for that cache;

and the two softmaxes are merged exactly through their log-sum-exps (``out = (e^(l1-m) o1 +
e^(l2-m) o2) / (e^(l1-m) + e^(l2-m))``). That is the same attention, summed in another order:
float rounding differs from one kernel over the whole row (as it does between batch sizes), the
arithmetic does not (float64 tests pin equality at 1e-12).

The function is registered with transformers' :class:`~transformers.AttentionInterface` under
:data:`NAME`; called without a ``shared_prefix`` keyword it *is* transformers' SDPA attention, so
switching a model to it changes nothing until a decoder passes prefixes. It runs on the CPU (its
prefix and suffix parts are torch's CPU flash-attention kernel, which also returns the
log-sum-exp) for models whose every layer is full causal attention without soft-capping
(:func:`enable`); elsewhere the decoder copies prefix rows as before.

torch and transformers are imported when these run, not when this module is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NAME = "mmsynth_shared_prefix"


def enable(model: Any) -> bool:
    """Switch ``model`` to this attention if it can run it (CPU, SDPA attention, full causal
    attention in every layer, no soft-capping); whether it did. Idempotent."""
    config = model.config.get_text_config()
    if getattr(config, "_attn_implementation", None) == NAME:
        return True
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    try:
        device = next(model.parameters()).device
    except StopIteration:
        return False
    if device.type != "cpu":
        return False
    if getattr(config, "sliding_window", None) or getattr(config, "attn_logit_softcapping", None):
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types and any(kind != "full_attention" for kind in layer_types):
        return False
    _register()
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, TypeError, AttributeError):
        return False
    return getattr(model.config.get_text_config(), "_attn_implementation", None) == NAME


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, attention)
    # the suffix part is masked exactly as SDPA's whole-row attention would be over the suffix
    AttentionMaskInterface.register(NAME, sdpa_mask)


@dataclass(frozen=True)
class RowPrefixes:
    """Which shared prefix each row of a batch attends to before its own tokens: ``caches`` the
    distinct prefix caches (one-row caches of plain growing layers, read, never changed),
    ``groups[i]`` the index in ``caches`` of row ``i``'s (-1: none, all of the row is its own)."""

    caches: tuple[Any, ...]
    groups: tuple[int, ...]

    @classmethod
    def of(cls, prefixes: Sequence[Any]) -> RowPrefixes:
        """From each row's prefix cache (None: none), caches told apart by identity."""
        caches: list[Any] = []
        groups = []
        for cache in prefixes:
            if cache is None:
                groups.append(-1)
                continue
            found = next((i for i, c in enumerate(caches) if c is cache), None)
            if found is None:
                caches.append(cache)
                found = len(caches) - 1
            groups.append(found)
        return cls(tuple(caches), tuple(groups))

    def rows(self) -> list[Any]:
        """Each row's prefix cache (None: none)."""
        return [self.caches[g] if g >= 0 else None for g in self.groups]

    def select(self, keep: Sequence[int]) -> RowPrefixes:
        """Only the rows ``keep``, in that order."""
        rows = self.rows()
        return RowPrefixes.of([rows[j] for j in keep])

    def concat(self, other: RowPrefixes | None, other_rows: int) -> RowPrefixes:
        """These rows followed by ``other``'s (None: ``other_rows`` rows without a prefix)."""
        more = other.rows() if other is not None else [None] * other_rows
        return RowPrefixes.of(self.rows() + more)

    def lengths(self) -> list[int]:
        """Each row's prefix length in tokens (0: none)."""
        sizes = [c.layers[0].keys.shape[-2] for c in self.caches]
        return [sizes[g] if g >= 0 else 0 for g in self.groups]

    def for_forward(self, device: Any) -> SharedPrefix:
        """What one forward's attention calls need: per prefix, the rows that attend to it."""
        import torch

        everyone = len(self.caches) == 1 and all(g == 0 for g in self.groups)
        groups = []
        for index, cache in enumerate(self.caches):
            rows = None if everyone else torch.tensor(
                [j for j, g in enumerate(self.groups) if g == index], dtype=torch.long,
                device=device)
            groups.append((rows, cache))
        return SharedPrefix(tuple(groups), len(self.groups))


class SharedPrefix:
    """The ``shared_prefix`` keyword of one forward: ``groups`` (rows, cache) pairs, rows a long
    tensor of batch rows (None: all of them) attending to that one-row cache. It also keeps the
    additive form of the forward's suffix mask, built once for all layers."""

    def __init__(self, groups: tuple[tuple[Any, Any], ...], rows: int):
        self.groups = groups
        self.rows = rows
        self._mask: tuple[Any, Any, Any] | None = None  # (bool mask, additive, any visible)

    def suffix_mask(self, mask: Any, dtype: Any) -> tuple[Any, Any]:
        """(additive float mask for the flash kernel, [rows, 1, queries] whether a query sees
        any suffix key) for transformers' ``mask`` of this forward (boolean: True attends)."""
        import torch

        if self._mask is None or self._mask[0] is not mask:
            if mask.dtype == torch.bool:
                additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
                additive.masked_fill_(~mask, float("-inf"))
                self._mask = (mask, additive, mask.any(dim=-1))
            else:  # already additive
                self._mask = (mask, mask.to(dtype), (mask > float("-inf")).any(dim=-1))
        return self._mask[1], self._mask[2]


def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
              dropout: float = 0.0, scaling: float | None = None, is_causal: bool | None = None,
              shared_prefix: SharedPrefix | None = None, **kwargs: Any) -> tuple[Any, None]:
    """Transformers' attention-function signature: ``query`` [rows, heads, q, d], ``key`` and
    ``value`` the rows' own cached tokens [rows, kv_heads, k, d], ``attention_mask`` over those
    (boolean, or None: causal, no padding); returns [rows, q, heads, d]. With ``shared_prefix``
    each row also attends to its prefix's keys and values first (see the module's docstring)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if shared_prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    return _split_attention(module, query, key, value, attention_mask, scaling, shared_prefix), None


def _split_attention(module: Any, query: Any, key: Any, value: Any, mask: Any, scale: Any,
                     shared: SharedPrefix) -> Any:
    import torch

    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    rows, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    rep = heads // kv_heads
    layer = module.layer_idx

    # the suffix part: each row against its own cached tokens
    if q_len == 1:  # decode: a row's query heads of one kv head are that head's queries
        q_suffix, k_suffix, v_suffix = query.reshape(rows, kv_heads, rep, dim), key, value
    else:
        q_suffix = query
        k_suffix = key.repeat_interleave(rep, dim=1) if rep > 1 else key
        v_suffix = value.repeat_interleave(rep, dim=1) if rep > 1 else value
    if mask is None:
        out_s, lse_s = flash(q_suffix, k_suffix, v_suffix, is_causal=q_len > 1, scale=scale)
        seen = None
    else:
        additive, seen = shared.suffix_mask(mask, query.dtype)
        out_s, lse_s = flash(q_suffix, k_suffix, v_suffix, attn_mask=additive, scale=scale)
    out_s = out_s.reshape(rows, heads, q_len, dim)
    lse_s = lse_s.reshape(rows, heads, q_len)
    if seen is not None:  # the kernel gives 0, not -inf, for a query that sees no key
        lse_s = lse_s.masked_fill(~seen.expand(rows, 1, q_len), float("-inf"))

    # the prefix part: per shared prefix, its rows' queries as one sequence, per kv head
    out_p = query.new_zeros(rows, heads, q_len, dim)
    lse_p = lse_s.new_full((rows, heads, q_len), float("-inf"))
    for members, cache in shared.groups:
        part = query if members is None else query.index_select(0, members)
        n = part.shape[0]
        stacked = (part.reshape(n, kv_heads, rep * q_len, dim).transpose(0, 1)
                   .reshape(1, kv_heads, n * rep * q_len, dim))
        cached = cache.layers[layer]
        out, lse = flash(stacked, cached.keys, cached.values, scale=scale)
        out = (out.reshape(kv_heads, n, rep * q_len, dim).transpose(0, 1)
               .reshape(n, heads, q_len, dim))
        lse = lse.reshape(kv_heads, n, rep * q_len).transpose(0, 1).reshape(n, heads, q_len)
        if members is None:
            out_p, lse_p = out, lse
        else:
            out_p.index_copy_(0, members, out)
            lse_p.index_copy_(0, members, lse)

    # the two softmaxes merged through their log-sum-exps
    top = torch.maximum(lse_p, lse_s)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    w_p, w_s = (lse_p - top).exp(), (lse_s - top).exp()
    total = (w_p + w_s).clamp_min(torch.finfo(w_p.dtype).tiny)
    merged = (out_p * (w_p / total).unsqueeze(-1).to(out_p.dtype)
              + out_s * (w_s / total).unsqueeze(-1).to(out_s.dtype))
    return merged.transpose(1, 2).contiguous()
