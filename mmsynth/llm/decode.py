"""The decode loop of the transformers backend: continuous batching over a KV cache, seeded
sampling, and stop strings checked incrementally.

A plain loop rather than ``model.generate``, so that its semantics are exactly
:class:`~mmsynth.llm.base.GenerationParams` (no defaults inherited from a model's
``generation_config``) and each row is sampled on its own:

* up to ``batch_size`` requests (sorted by the caller) are decoded together, left-padded, with an
  attention mask and explicit position ids (so padding changes nothing but the shape of the
  arithmetic);
* a request whose first ids are a shared prefix (``Item.prefix``, see :mod:`mmsynth.llm.prefix`)
  starts after that prefix's KV cache, computed once per decoder store, and only its suffix is
  prefilled. Where the model runs :mod:`mmsynth.llm.shared_attention` (the CPU), the batch's
  cache holds only the rows' own tokens and every row attends to its prefix's one stored copy,
  read once per group of rows; elsewhere the row starts from a copy of the prefix, laid out
  ``[pad][prefix][pad][suffix]`` with an attention mask of 0 on both pads. Either way position
  ids count the row's real tokens, so each one sees the same tokens at the same positions as
  when the whole prompt is prefilled;
* a row finishes at an end-of-sequence token, a stop string or ``max_new_tokens`` and leaves the
  batch at once (its cache rows too); when a quarter of the slots are free, waiting requests are
  prefilled and merged into the running batch, so the batch stays full although answers differ
  in length;
* greedy rows take the argmax; sampled rows draw one uniform number per token from their own
  ``torch.Generator`` (seeded by the caller) and invert the temperature/top-p distribution with
  it, so a request's output does not depend on which other requests share its batch (up to float
  rounding: see :mod:`mmsynth.llm.transformers_backend`);
* a row whose parameters turn on repetition control (:mod:`mmsynth.llm.repetition`) has its
  own logits changed before that choice, from its own reply's tokens only.

What this needs of transformers' model and cache objects goes through
:mod:`mmsynth.llm.hf_internals`. torch is imported when decoding runs, not when this module is.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmsynth.llm import hf_internals as hf
from mmsynth.llm.base import Generation, GenerationParams
from mmsynth.llm.repetition import RepetitionControl
from mmsynth.llm.shared_attention import RowPrefixes

if TYPE_CHECKING:
    from mmsynth.llm.models import LoadedModel
    from mmsynth.llm.prefix import PrefixCaches

log = logging.getLogger(__name__)


@dataclass
class Item:
    """One request to decode: its prompt ids and parameters (seed None: greedy), and how many of
    its leading ids are a shared prefix whose KV cache may be reused (0: none)."""

    index: int
    ids: list[int]
    params: GenerationParams
    seed: int | None
    prefix: int = 0


@dataclass
class Row:
    """A request being decoded: its tokens so far, its own random stream, its stop check and its
    repetition control (None: off)."""

    item: Item
    generator: Any
    stops: StopChecker | None = None
    repetition: RepetitionControl | None = None
    tokens: list[int] = field(default_factory=list)
    done: bool = False


@dataclass
class Batch:
    """Rows decoded together: their KV cache, the attention mask over the cached tokens and the
    token fed next, and that token and its position, per row."""

    rows: list[Row]
    cache: Any
    attention: Any  # [rows, cached + 1], 0 = left padding
    next_ids: Any  # [rows, 1]
    positions: Any  # [rows, 1]
    # the shared prefixes the rows attend to before their cached tokens (None: none)
    prefixes: RowPrefixes | None = None


class Decoder:
    """Continuous batching over a KV cache. Up to ``batch_size`` rows are decoded together; a
    finished row leaves the batch at once (its cache rows too), and when a quarter of the slots
    are free, waiting requests are prefilled on their own and merged in (both caches left-padded
    to a common length; columns no row attends to any more are trimmed). Merging needs a cache
    of plain growing layers (transformers' DynamicCache): for other caches (sliding windows, ...)
    a new batch starts only when the last one is done.

    With ``prefixes`` (a :class:`~mmsynth.llm.prefix.PrefixCaches`), items with a ``prefix``
    start after their prefix's cache (computed on first use and kept there, never changed by a
    request): attended to in place by every row that shares it when ``shared_attention`` and the
    model runs :mod:`mmsynth.llm.shared_attention`, else copied into each row; without a store,
    or for a model whose cache cannot be merged, every prompt is prefilled whole.

    A failing step fails no request: the rows in play are decoded again one at a time, and only
    a request that fails alone gets an error.

    ``seconds`` sums where the time goes (perf_counter around calls the loop makes anyway, for
    benchmarks): ``prefill`` (the model on prompts and prefixes), ``decode`` (the model on one new
    token per row), ``pick`` (choosing tokens, stop checks, cache bookkeeping); ``decode_steps``
    and ``decoded_rows`` count decode forwards and the rows they computed."""

    def __init__(self, loaded: LoadedModel, batch_size: int,
                 on_done: Callable[[int], None] | None = None,
                 prefixes: PrefixCaches | None = None, shared_attention: bool = True):
        self.loaded = loaded
        self.batch_size = batch_size
        self.on_done = on_done
        self.prefixes = prefixes
        self.shared_attention = shared_attention and loaded.lm.shared_prefix_attention
        self.prefilled_tokens = 0  # prompt tokens run through the model (prefixes included)
        self.seconds: Counter[str] = Counter()
        self.decode_steps = 0
        self.decoded_rows = 0
        self.refill_at = max(1, batch_size // 4)
        self.results: dict[int, Generation] = {}
        self.in_play: dict[int, Item] = {}

    def run(self, items: Sequence[Item]) -> dict[int, Generation]:
        import torch

        pending = deque(items)
        retry: list[Item] = []
        batch: Batch | None = None
        with torch.inference_mode():
            while pending or (batch is not None and batch.rows):
                try:
                    live = len(batch.rows) if batch is not None else 0
                    free = self.batch_size - live
                    if pending and (live == 0 or (free >= self.refill_at and _mergeable(batch))):
                        fresh = [pending.popleft() for _ in range(min(free, len(pending)))]
                        self.in_play.update((item.index, item) for item in fresh)
                        new = self._prefill(fresh)
                        batch = new if live == 0 else self._merge(batch, new)
                    if batch.rows:
                        self._step(batch)
                except Exception as e:
                    if isinstance(e, torch.cuda.OutOfMemoryError):
                        torch.cuda.empty_cache()
                    batch = None
                    if self.batch_size == 1:
                        for item in self.in_play.values():
                            log.warning("LLM request %d failed: %s: %s", item.index,
                                        type(e).__name__, e)
                            self.results[item.index] = Generation.failed(
                                f"{type(e).__name__}: {e}", len(item.ids))  # kind: the class
                            if self.on_done:
                                self.on_done(1)
                    else:
                        log.warning("LLM batch of %d failed (%s: %s); decoding its requests "
                                    "one at a time", len(self.in_play), type(e).__name__, e)
                        retry.extend(self.in_play.values())
                    self.in_play.clear()
        for item in sorted(retry, key=lambda it: it.index):
            single = Decoder(self.loaded, 1, prefixes=self.prefixes,
                             shared_attention=self.shared_attention)
            self.results.update(single.run([item]))
            self.prefilled_tokens += single.prefilled_tokens
            self.seconds.update(single.seconds)
            self.decode_steps += single.decode_steps
            self.decoded_rows += single.decoded_rows
        return self.results

    # -- the steps -----------------------------------------------------------------------

    def _prefill(self, items: list[Item]) -> Batch:
        """Left-pad the prompts, run them, and pick each row's first token; from their prefix
        caches where there are."""
        import torch

        prefixes = self._prefix_caches(items)
        if any(p is not None for p in prefixes):
            return self._prefill_after_prefixes(items, prefixes)
        width = max(len(item.ids) for item in items)
        ids = torch.full((len(items), width), self.loaded.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            ids[row, width - len(item.ids):] = torch.tensor(item.ids, dtype=torch.long)
            mask[row, width - len(item.ids):] = 1
        return self._start(items, ids, mask, None)

    def _prefill_after_prefixes(self, items: list[Item], prefixes: list[Any]) -> Batch:
        """Prefill only the suffixes (a row without a prefix cache: all of its prompt is
        suffix), positions counting the row's real tokens: attending to the shared prefixes
        where the model can, else after a copy of each row's prefix cache, rows laid out
        ``[pad][prefix][pad][suffix]`` with the mask 0 on the pads."""
        import torch

        cut = [item.prefix if p is not None else 0 for item, p in zip(items, prefixes,
                                                                      strict=True)]
        if self.prefixes is not None:
            self.prefixes.reused_tokens += sum(cut)
        if self.shared_attention:
            width = max(len(item.ids) - n for item, n in zip(items, cut, strict=True))
            ids = torch.full((len(items), width), self.loaded.pad_id, dtype=torch.long)
            mask = torch.zeros((len(items), width), dtype=torch.long)
            for row, (item, n) in enumerate(zip(items, cut, strict=True)):
                ids[row, width - (len(item.ids) - n):] = torch.tensor(item.ids[n:],
                                                                     dtype=torch.long)
                mask[row, width - (len(item.ids) - n):] = 1
            return self._start(items, ids, mask, None, RowPrefixes.of(prefixes))
        head = max(cut)
        width = max(len(item.ids) - n for item, n in zip(items, cut, strict=True))
        ids = torch.full((len(items), width), self.loaded.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), head + width), dtype=torch.long)
        for row, (item, n) in enumerate(zip(items, cut, strict=True)):
            suffix = item.ids[n:]
            ids[row, width - len(suffix):] = torch.tensor(suffix, dtype=torch.long)
            mask[row, head - n:head] = 1
            mask[row, head + width - len(suffix):] = 1
        cache = hf.stack_prefixes(prefixes, head)
        return self._start(items, ids, mask, cache)

    def _start(self, items: list[Item], ids: Any, mask: Any, cache: Any,
               prefixes: RowPrefixes | None = None) -> Batch:
        """Run the prompt ids ``ids`` (the last ``ids.shape[1]`` columns of ``mask``) after
        ``cache`` (and ``prefixes``, shared: positions then start after each row's) and pick
        each row's first token."""
        import torch

        device = self.loaded.device
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)[:, mask.shape[1] - ids.shape[1]:]
        if prefixes is not None:
            positions += torch.tensor(prefixes.lengths(), dtype=torch.long).view(-1, 1)
        mask, positions = mask.to(device), positions.to(device)
        self.prefilled_tokens += ids.numel()
        started = time.perf_counter()
        logits, cache = self.loaded.lm.forward(ids.to(device), mask, positions, cache, prefixes)
        self.seconds["prefill"] += time.perf_counter() - started
        tokenizer = self.loaded.tokenizer
        rows = [Row(item, None if item.seed is None else torch.Generator().manual_seed(item.seed),
                    StopChecker(tokenizer, item.params.stop) if item.params.stop else None,
                    RepetitionControl(item.params) if item.params.controls_repetition else None)
                for item in items]
        batch = Batch(rows, cache, mask, None, positions[:, -1:], prefixes)
        self._advance(batch, logits)
        return batch

    def _prefix_caches(self, items: list[Item]) -> list[Any]:
        """Each item's prefix cache (None: no prefix, no store, or a cache that cannot be
        copied row by row)."""
        if self.prefixes is None:
            return [None] * len(items)
        return [self.prefixes.get(item.ids[:item.prefix], self._compute_prefix)
                if 0 < item.prefix < len(item.ids) else None for item in items]

    def _compute_prefix(self, ids: list[int]) -> Any:
        """The KV cache of ``ids`` alone (one row, no padding), or None if it is not mergeable."""
        import torch

        device = self.loaded.device
        tokens = torch.tensor([ids], dtype=torch.long, device=device)
        mask = torch.ones_like(tokens)
        positions = torch.arange(len(ids), device=device).view(1, -1)
        self.prefilled_tokens += len(ids)
        started = time.perf_counter()
        _, cache = self.loaded.lm.forward(tokens, mask, positions, None)
        self.seconds["prefill"] += time.perf_counter() - started
        return cache if hf.mergeable(cache) else None

    def _step(self, batch: Batch) -> None:
        started = time.perf_counter()
        logits, batch.cache = self.loaded.lm.forward(batch.next_ids, batch.attention,
                                                     batch.positions, batch.cache,
                                                     batch.prefixes)
        self.seconds["decode"] += time.perf_counter() - started
        self.decode_steps += 1
        self.decoded_rows += len(batch.rows)
        self._advance(batch, logits)

    def _advance(self, batch: Batch, logits: Any) -> None:
        """Give each row its next token, finish rows, drop finished rows from the batch, and set
        up the next step's inputs."""
        started = time.perf_counter()
        try:
            self._advance_rows(batch, logits)
        finally:
            self.seconds["pick"] += time.perf_counter() - started

    def _advance_rows(self, batch: Batch, logits: Any) -> None:
        import torch

        chosen = self._pick(logits, batch.rows)
        eos_ids = self.loaded.eos_ids
        for row, token in zip(batch.rows, chosen, strict=True):
            if row.done:
                continue
            row.tokens.append(token)
            if row.repetition is not None:
                row.repetition.observe(token)
            if token in eos_ids:
                self._finish_unstopped(row, "stop", row.tokens[:-1])
            elif row.stops is not None and (cut := row.stops.cut(row.tokens)) is not None:
                self._finish(row, "stop", cut)
            elif len(row.tokens) >= row.item.params.max_new_tokens:
                self._finish_unstopped(row, "length", row.tokens)
        keep = [j for j, row in enumerate(batch.rows) if not row.done]
        if not keep:
            batch.rows = []
            batch.cache = None
            return
        device = self.loaded.device
        next_ids = torch.tensor(chosen, dtype=torch.long, device=device).view(-1, 1)
        positions, attention = batch.positions + 1, batch.attention
        if len(keep) < len(batch.rows) and hf.can_select_rows(batch.cache):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            hf.select_rows(batch.cache, index)
            next_ids, positions, attention = next_ids[index], positions[index], attention[index]
            batch.rows = [batch.rows[j] for j in keep]
            if batch.prefixes is not None:
                batch.prefixes = batch.prefixes.select(keep)
        batch.next_ids, batch.positions = next_ids, positions
        batch.attention = torch.cat([attention, attention.new_ones((len(batch.rows), 1))], dim=1)
        if _mergeable(batch):
            _trim(batch)

    def _finish_unstopped(self, row: Row, reason: str, checked: list[int]) -> None:
        """Finish a row that ended without a stop string, with the text of ``checked`` (the
        tokens its stop strings were checked against) — unless the incremental check missed a
        stop in that text, when the row ends where a full check after every token ends it."""
        text = self.loaded.tokenizer.decode(checked, skip_special_tokens=True)
        missed = row.stops.missed(checked, text) if row.stops is not None else None
        if missed is not None:
            count, cut = missed
            log.warning("LLM request %d: the incremental stop check missed a stop string; "
                        "the answer ends at its first occurrence (token %d)", row.item.index,
                        count)
            self._finish(row, "stop", cut, count)
        else:
            self._finish(row, reason, text)

    def _finish(self, row: Row, reason: str, text: str, completion_tokens: int | None = None
                ) -> None:
        row.done = True
        item = row.item
        self.results[item.index] = Generation(
            text=text, finish_reason=reason, prompt_tokens=len(item.ids),
            completion_tokens=len(row.tokens) if completion_tokens is None else completion_tokens)
        self.in_play.pop(item.index, None)
        if self.on_done:
            self.on_done(1)

    def _pick(self, logits: Any, rows: list[Row]) -> list[int]:
        """The next token of each row: argmax for greedy rows, a seeded draw for the others, the
        pad token for finished rows that are still computed. A row with repetition control
        chooses from its own logits after the control."""
        greedy = logits.argmax(dim=-1).tolist()
        chosen = []
        for j, row in enumerate(rows):
            params = row.item.params
            if row.done:
                chosen.append(self.loaded.pad_id)
                continue
            controlled = row.repetition is not None
            row_logits = row.repetition.apply(logits[j]) if controlled else logits[j]
            if params.greedy:
                chosen.append(int(row_logits.argmax()) if controlled else greedy[j])
            else:
                chosen.append(sample_token(row_logits, params.temperature, params.top_p,
                                           row.generator))
        return chosen

    def _merge(self, batch: Batch, new: Batch) -> Batch:
        """One batch from two: left-pad the shorter one's cache and mask to the longer's."""
        import torch

        if not new.rows:
            return batch
        if not batch.rows:
            return new
        width = max(batch.attention.shape[1], new.attention.shape[1])
        hf.concat_rows(batch.cache, new.cache, width - 1)
        batch.attention = torch.cat([hf.left_pad(batch.attention, width, 1),
                                     hf.left_pad(new.attention, width, 1)])
        batch.next_ids = torch.cat([batch.next_ids, new.next_ids])
        batch.positions = torch.cat([batch.positions, new.positions])
        if batch.prefixes is not None or new.prefixes is not None:
            mine = batch.prefixes or RowPrefixes.of([None] * len(batch.rows))
            batch.prefixes = mine.concat(new.prefixes, len(new.rows))
        batch.rows = batch.rows + new.rows
        return batch


def _mergeable(batch: Batch | None) -> bool:
    return batch is not None and hf.mergeable(batch.cache)


def _trim(batch: Batch) -> None:
    """Drop leading cache columns that no row attends to (left padding of finished rows)."""
    first = int(batch.attention.any(dim=0).int().argmax())
    if first > 0:
        batch.attention = batch.attention[:, first:]
        hf.drop_leading(batch.cache, first)


def sample_token(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """One token from softmax(logits / temperature) restricted to the top-p nucleus, by inverting
    the cumulative distribution at a single uniform draw from ``generator`` (one draw per token,
    whatever the vocabulary or the other rows). The nucleus is found among the top 64 tokens
    first (sorting the whole vocabulary for every token would cost more than the model step),
    widening the search until it holds ``top_p`` of the probability."""
    import torch

    u = torch.rand((), generator=generator, dtype=torch.float64).item()
    probs = torch.softmax(logits / temperature, dim=-1)
    order = None
    if top_p < 1:
        vocabulary, k = probs.numel(), min(64, probs.numel())
        while True:
            top, order = probs.topk(k)  # sorted, most likely first
            cumulative = top.cumsum(0)
            if cumulative[-1].item() >= top_p or k == vocabulary:
                break
            k = min(vocabulary, k * 8)
        size = int(torch.searchsorted(cumulative, cumulative.new_tensor([top_p])).item()) + 1
        cumulative = cumulative[:size]
    else:
        cumulative = probs.cumsum(0)
    target = cumulative.new_tensor([u * cumulative[-1].item()])
    index = min(int(torch.searchsorted(cumulative, target, right=True).item()),
                cumulative.numel() - 1)
    return int(order[index]) if order is not None else index


# -- stop strings ------------------------------------------------------------------------------


def cut_at_stop(tokenizer: Any, tokens: list[int], stops: Sequence[str]) -> str | None:
    """The text before the first stop string, or None if no stop string occurs yet. The
    definition: it decodes every token, so calling it after every token is quadratic in the
    answer's length; :class:`StopChecker` gives the same answers incrementally."""
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[:min(found)] if found else None


class StopChecker:
    """:func:`cut_at_stop` for one row, called after every new token, decoding only a window of
    the row's last tokens instead of all of them.

    Why a window suffices: the previous call found no stop in the row's text, so a stop found now
    overlaps what the new token changed. The window's text is decoded before and after the new
    token; where the two first differ is where the change begins (the new token's text, and also
    what it changes before it: a multi-byte character completed by this token replaces its
    U+FFFD, a tokenizer's clean-up of spaces may drop one). Only a stop that overlaps that point
    is looked for. A window's first characters may differ from the row's (a character cut by the
    window's start decodes as U+FFFD, SentencePiece drops a leading space), so a window whose two
    texts agree on fewer than the longest stop's length + ``MARGIN`` characters is widened
    (doubled) first. When a stop is found, the row's text is decoded in full and cut by
    :func:`cut_at_stop` itself, so the text returned is exactly its text.

    This assumes that a tokenizer decodes a window of tokens into the row's text, but for its
    first ``MARGIN`` characters (true of byte-level BPE and SentencePiece decoders); a row that
    ends without a stop is checked once more in full by :meth:`missed`, so a tokenizer for which
    it is false costs time, never a different answer."""

    MARGIN = 4  # characters at a window's start that may differ from the row's text

    def __init__(self, tokenizer: Any, stops: Sequence[str]):
        self.tokenizer = tokenizer
        self.stops = tuple(stops)
        self.longest = max(len(s) for s in self.stops)
        # tokens in a window after it moves; it spans up to twice that before moving again
        self.window = max(16, self.longest + 2 * self.MARGIN)
        self._start = 0  # the window's first token
        self._count = 0  # tokens seen by the last call
        self._text = ""  # the window's text at the last call

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def cut(self, tokens: list[int]) -> str | None:
        """The text before the first stop string in the decoded ``tokens``, or None if none occurs
        — :func:`cut_at_stop`'s answer. Call it after each token appended to the row (the first
        with one token), until it finds a stop; other calls decode their window afresh."""
        n = len(tokens)
        if n != self._count + 1 or n - self._start > 2 * self.window:
            self._start = max(0, n - self.window)
            self._text = self._decode(tokens[self._start:n - 1])
        before, after = self._text, self._decode(tokens[self._start:])
        changed = _common_prefix(before, after)
        while self._start > 0 and changed < self.longest + self.MARGIN:
            self._start = max(0, n - 2 * (n - self._start))
            before, after = self._decode(tokens[self._start:n - 1]), self._decode(
                tokens[self._start:])
            changed = _common_prefix(before, after)
        self._count, self._text = n, after
        # a stop new in this text ends after `changed`; once widened, it begins past the margin
        if not any(after.find(s, max(0, changed - len(s) + 1)) >= 0 for s in self.stops):
            return None
        return cut_at_stop(self.tokenizer, tokens, self.stops)

    def missed(self, tokens: list[int], text: str) -> tuple[int, str] | None:
        """For a row that ends without a stop: ``text`` is ``tokens`` decoded in full, the last
        text the stop strings were checked against. None when no stop string occurs in it (the
        incremental check saw right); else the first token count at which a full check finds a
        stop, and the text it cuts there."""
        if not any(s in text for s in self.stops):
            return None
        for count in range(1, len(tokens) + 1):
            cut = cut_at_stop(self.tokenizer, tokens[:count], self.stops)
            if cut is not None:
                return count, cut
        return None  # unreachable: the last prefix is ``text`` itself


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b``."""
    if b.startswith(a):
        return len(a)
    low, high = 0, min(len(a), len(b))
    while low < high:  # a[:low] == b[:low]; find the largest such low by halving
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low
