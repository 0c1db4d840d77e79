"""What the decoder needs from transformers beyond its public ``forward``: the keyword its cache
goes by, whether it can compute the last position's logits only, and the tensors inside its
cache objects. Kept here, in one place, because these are the parts a transformers release can
change; the decoder (:mod:`mmsynth.llm.decode`) works on rows and batches and calls this.

Merging and trimming caches edit transformers' ``DynamicCache`` / ``DynamicLayer`` (plain growing
layers with ``keys`` and ``values`` of shape [rows, heads, sequence, head_dim]); for any other
cache :func:`mergeable` says no and the decoder does without.

torch and transformers are imported when these run, not when this module is.
"""

from __future__ import annotations

import inspect
from typing import Any


class CausalLM:
    """A causal LM called the way this transformers version expects: ``forward`` returns the
    float32 logits of each row's last position and the updated cache.

    ``shared_prefix_attention``: whether the model runs :mod:`mmsynth.llm.shared_attention`
    (switched on here where it can, off with ``shared_prefix_attention=False``), so that
    ``forward`` may be given the rows' shared prefixes instead of copies of them in ``cache``."""

    def __init__(self, model: Any, shared_prefix_attention: bool = True):
        self.model = model
        parameters = set(inspect.signature(model.forward).parameters)
        # transformers renamed past_key_values to cache in some models; logits_to_keep spares
        # computing the logits of every prompt position at prefill
        self.cache_kw = "cache" if "cache" in parameters else "past_key_values"
        self.logits_to_keep = "logits_to_keep" in parameters
        self.shared_prefix_attention = False
        if shared_prefix_attention:
            from mmsynth.llm import shared_attention

            self.shared_prefix_attention = shared_attention.enable(model)

    def forward(self, ids: Any, attention: Any, positions: Any, cache: Any,
                prefixes: Any = None) -> tuple[Any, Any]:
        """``prefixes``: a :class:`~mmsynth.llm.shared_attention.RowPrefixes` each row attends
        to before its cached tokens (only with ``shared_prefix_attention``); ``attention`` and
        ``cache`` then cover the rows' own tokens only."""
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": attention,
                                  "position_ids": positions, "use_cache": True}
        if cache is not None:
            inputs[self.cache_kw] = cache
        if self.logits_to_keep:
            inputs["logits_to_keep"] = 1
        if prefixes is not None:
            inputs["shared_prefix"] = prefixes.for_forward(ids.device)
        out = self.model(**inputs)
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = getattr(out, "past_key_values", None)
        return out.logits[:, -1, :].float(), cache


def mergeable(cache: Any) -> bool:
    """Whether ``cache`` is made of plain growing layers whose tensors may be padded,
    concatenated and trimmed along the sequence (transformers' DynamicCache / DynamicLayer)."""
    if cache is None:
        return False
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return False
    layers = getattr(cache, "layers", None)
    return (type(cache) is DynamicCache and bool(layers)
            and all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers))


def can_select_rows(cache: Any) -> bool:
    """Whether rows can be dropped from ``cache`` (else finished rows stay, computed as
    padding)."""
    return hasattr(cache, "batch_select_indices")


def select_rows(cache: Any, index: Any) -> None:
    """Keep only the rows ``index`` (a long tensor on the cache's device) of ``cache``."""
    cache.batch_select_indices(index)


def left_pad(tensor: Any, length: int, dim: int) -> Any:
    """``tensor`` padded with zeros at the front of ``dim`` to ``length``."""
    import torch.nn.functional as F

    missing = length - tensor.shape[dim]
    if not missing:
        return tensor
    return F.pad(tensor, (0, 0) * (tensor.dim() - 1 - dim % tensor.dim()) + (missing, 0))


def concat_rows(cache: Any, other: Any, length: int) -> None:
    """Append ``other``'s rows to ``cache`` (both mergeable), each left-padded along the sequence
    to ``length`` cached positions."""
    import torch

    for old, fresh in zip(cache.layers, other.layers, strict=True):
        old.keys = torch.cat([left_pad(old.keys, length, -2), left_pad(fresh.keys, length, -2)])
        old.values = torch.cat([left_pad(old.values, length, -2),
                                left_pad(fresh.values, length, -2)])


def drop_leading(cache: Any, first: int) -> None:
    """Drop the first ``first`` cached positions of every row of a mergeable ``cache``."""
    for layer in cache.layers:
        layer.keys = layer.keys[..., first:, :]
        layer.values = layer.values[..., first:, :]


def stack_prefixes(prefixes: list[Any], length: int) -> Any:
    """A new mergeable cache with one row per entry of ``prefixes``: that prefix cache's single
    row left-padded along the sequence to ``length`` cached positions, or only padding (zeros)
    for None. At least one entry is a cache; each is mergeable, of one row, and left untouched
    (its tensors are copied, never shared with the new cache)."""
    import torch
    from transformers.cache_utils import DynamicCache, DynamicLayer

    template = next(p for p in prefixes if p is not None)
    cache = DynamicCache()
    for index, layer in enumerate(template.layers):
        blank = (layer.keys[:, :, :0], layer.values[:, :, :0])
        parts = [(p.layers[index].keys, p.layers[index].values) if p is not None else blank
                 for p in prefixes]
        # torch.cat always writes a new tensor, so the stored prefix is never aliased
        keys = torch.cat([left_pad(k, length, -2) for k, _ in parts])
        values = torch.cat([left_pad(v, length, -2) for _, v in parts])
        fresh = DynamicLayer()
        fresh.lazy_initialization(keys, values)
        fresh.keys, fresh.values = keys, values
        cache.layers.append(fresh)
    return cache
