"""What the decoder needs from transformers beyond its public ``forward``: the keyword its cache
goes by, whether it can compute the last position's logits only, and the tensors inside its
cache objects. Kept here, in one place, because these are the parts a transformers release can
change; the decoder (:mod:`mmsynth.llm.decode`) works on rows and batches and calls this.

Merging and trimming caches edit transformers' ``DynamicCache`` / ``DynamicLayer`` (plain growing
layers with ``keys`` and ``values`` of shape [rows, heads, sequence, head_dim]); for any other
cache :func:`mergeable` says no and the decoder does without. The caches the decoder starts
(:func:`new_cache`) have :class:`GrowingLayer` layers: a ``DynamicLayer`` that appends a token
in place instead of concatenating the whole cache again.

torch and transformers are imported when these run, not when this module is.
"""

from __future__ import annotations

import inspect
from typing import Any


class CausalLM:
    """A causal LM called the way this transformers version expects: ``forward`` returns the
    float32 logits of each row's last position and the updated cache."""

    def __init__(self, model: Any):
        self.model = model
        parameters = set(inspect.signature(model.forward).parameters)
        # transformers renamed past_key_values to cache in some models; logits_to_keep spares
        # computing the logits of every prompt position at prefill
        self.cache_kw = "cache" if "cache" in parameters else "past_key_values"
        self.logits_to_keep = "logits_to_keep" in parameters

    def forward(self, ids: Any, attention: Any, positions: Any, cache: Any) -> tuple[Any, Any]:
        """Run ``ids`` after ``cache`` (None: a new cache from :func:`new_cache`)."""
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": attention,
                                  "position_ids": positions, "use_cache": True,
                                  self.cache_kw: new_cache(self.model) if cache is None else cache}
        if self.logits_to_keep:
            inputs["logits_to_keep"] = 1
        out = self.model(**inputs)
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = getattr(out, "past_key_values", None)
        return out.logits[:, -1, :].float(), cache


def _growing_layer_class() -> type:
    """:class:`GrowingLayer`, defined on first use (it subclasses a transformers class, and
    transformers is imported when decoding runs, not when this module is)."""
    global GrowingLayer
    if GrowingLayer is not None:
        return GrowingLayer
    from transformers.cache_utils import DynamicLayer

    class _GrowingLayer(DynamicLayer):
        """transformers' ``DynamicLayer`` (keys and values of shape [rows, heads, sequence,
        head_dim]) that appends new positions in place, into spare capacity, instead of
        concatenating the whole cache into a new tensor at every step.

        Why: ``DynamicLayer.update`` copies every cached key and value once per decode step: at a
        dozen rows of a ~1,100-token prompt that is ~0.6 GB written per step, a fifth of the step
        on a CPU. Here ``keys`` and ``values`` are views of the first ``length`` positions of
        buffers with room to grow (a quarter more, at least ``SPARE`` positions, when they fill
        up), so a step writes only its new position. The values are the same tensors' values
        (the tests compare them bit for bit); a view is all any caller sees.

        Assigning ``keys`` / ``values`` (as transformers' ``batch_select_indices`` and
        :func:`concat_rows` / :func:`drop_leading` do) replaces the buffer with the tensor given,
        without spare room; the next ``update`` makes some. ``update`` never writes into a tensor
        it did not allocate: the first one it gets (a prefill's keys) is kept as it is, full."""

        SPARE = 64

        def __init__(self) -> None:
            # cached positions of each buffer: keys and values are assigned one after the other
            # (``self.keys = ...; self.values = ...self.values...``), so each keeps its own
            self._keys_length = self._values_length = 0
            super().__init__()

        @property
        def keys(self) -> Any:
            return _first_positions(self._keys, self._keys_length)

        @keys.setter
        def keys(self, tensor: Any) -> None:
            self._keys, self._keys_length = tensor, _positions(tensor)

        @property
        def values(self) -> Any:
            return _first_positions(self._values, self._values_length)

        @values.setter
        def values(self, tensor: Any) -> None:
            self._values, self._values_length = tensor, _positions(tensor)

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any
                   ) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            if self._keys_length == 0:
                self.keys, self.values = key_states, value_states
                return self.keys, self.values
            self._keys, self._keys_length = self._appended(self._keys, self._keys_length,
                                                           key_states)
            self._values, self._values_length = self._appended(self._values,
                                                               self._values_length, value_states)
            return self.keys, self.values

        def _appended(self, buffer: Any, length: int, states: Any) -> tuple[Any, int]:
            """``states`` written after the first ``length`` positions of ``buffer`` (grown into
            a new buffer when it has no room); the buffer and its new length."""
            count = states.shape[-2]
            if length + count > buffer.shape[-2]:
                rows, heads, _, dim = buffer.shape
                grown = buffer.new_empty((rows, heads, length + count
                                          + max(self.SPARE, length // 4), dim))
                grown[:, :, :length] = buffer[:, :, :length]
                buffer = grown
            buffer[:, :, length:length + count] = states
            return buffer, length + count

    _GrowingLayer.__name__ = _GrowingLayer.__qualname__ = "GrowingLayer"
    GrowingLayer = _GrowingLayer
    return GrowingLayer


GrowingLayer: Any = None  # the class, once _growing_layer_class has defined it


def _positions(tensor: Any) -> int:
    """Cached positions in a layer's keys or values (0 for the empty 1-D placeholder
    transformers starts a layer with, or None)."""
    return tensor.shape[-2] if tensor is not None and tensor.dim() == 4 else 0


def _first_positions(buffer: Any, length: int) -> Any:
    """A view of the first ``length`` positions of a layer's buffer (the placeholder as it is)."""
    if buffer is None or buffer.dim() != 4:
        return buffer
    return buffer[:, :, :length]


def new_cache(model: Any) -> Any:
    """A new, empty cache for ``model``: transformers' ``DynamicCache`` for its config, with each
    plain ``DynamicLayer`` a :class:`GrowingLayer` (other layers, sliding windows..., as they
    are). None for a model that keeps no such cache (then the model makes its own)."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return None
    try:
        cache = DynamicCache(config=model.config)
    except Exception:  # a config transformers cannot read layer types from: its own default
        return None
    growing = _growing_layer_class()
    cache.layers = [growing() if type(layer) is DynamicLayer else layer
                    for layer in cache.layers]
    return cache


def mergeable(cache: Any) -> bool:
    """Whether ``cache`` is made of plain growing layers whose tensors may be padded,
    concatenated and trimmed along the sequence (transformers' DynamicCache whose layers are
    DynamicLayer or :class:`GrowingLayer`)."""
    if cache is None:
        return False
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return False
    layers = getattr(cache, "layers", None)
    plain = (DynamicLayer, _growing_layer_class())
    return (type(cache) is DynamicCache and bool(layers)
            and all(type(layer) in plain and layer.is_initialized for layer in layers))


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
    from transformers.cache_utils import DynamicCache

    growing = _growing_layer_class()
    template = next(p for p in prefixes if p is not None)
    cache = DynamicCache()
    for index, layer in enumerate(template.layers):
        blank = (layer.keys[:, :, :0], layer.values[:, :, :0])
        parts = [(p.layers[index].keys, p.layers[index].values) if p is not None else blank
                 for p in prefixes]
        # torch.cat always writes a new tensor, so the stored prefix is never aliased
        keys = torch.cat([left_pad(k, length, -2) for k, _ in parts])
        values = torch.cat([left_pad(v, length, -2) for _, v in parts])
        fresh = growing()
        fresh.lazy_initialization(keys, values)
        fresh.keys, fresh.values = keys, values
        cache.layers.append(fresh)
    return cache
