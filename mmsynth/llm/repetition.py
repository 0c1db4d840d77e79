"""Repetition control for one row of the decoder: a repetition penalty, a no-repeat n-gram ban
and a frequency penalty over the tokens of the reply so far (never the prompt's; see
:class:`~mmsynth.llm.base.GenerationParams` for why).

Each is the definition its name has elsewhere, so a value means what a user of those tools
expects:

* ``repetition_penalty`` is transformers' ``RepetitionPenaltyLogitsProcessor`` (CTRL): the logit
  of every token present in the reply is divided by the penalty when positive and multiplied by
  it when not, once per distinct token;
* ``no_repeat_ngram_size`` is transformers' ``NoRepeatNGramLogitsProcessor``: the tokens that
  would complete an n-gram already in the reply get a logit of -inf;
* ``frequency_penalty`` is the OpenAI API's: ``logit[j] -= frequency_penalty * count[j]``, the
  count of token j in the reply.

They are applied in vLLM's order (repetition penalty, then frequency penalty; the ban last,
which no arithmetic undoes), so a server given the same values acts alike on a reply.

The state is the row's own (its tokens so far, their counts, the n-grams seen): nothing depends
on the other rows of a batch, so batch-invariance and per-request seeding hold with the controls
on. torch is imported when logits are processed, not when this module is.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mmsynth.llm.base import GenerationParams


class RepetitionControl:
    """One reply's repetition control: :meth:`observe` each token the reply takes, and
    :meth:`apply` to the logits of its next token."""

    def __init__(self, params: GenerationParams):
        self.penalty = float(params.repetition_penalty)
        self.ngram_size = int(params.no_repeat_ngram_size)
        self.frequency = float(params.frequency_penalty)
        self.tokens: list[int] = []
        self.counts: Counter[int] = Counter()
        # (n-1)-gram → the tokens that followed it in the reply: what completes a seen n-gram
        self.followers: dict[tuple[int, ...], set[int]] = {}

    def observe(self, token: int) -> None:
        """The reply took ``token``."""
        self.tokens.append(token)
        self.counts[token] += 1
        n = self.ngram_size
        if n and len(self.tokens) >= n:
            gram = tuple(self.tokens[-n:])
            self.followers.setdefault(gram[:-1], set()).add(gram[-1])

    def banned(self) -> set[int]:
        """The tokens that would complete an n-gram already in the reply."""
        n = self.ngram_size
        if not n or len(self.tokens) < n - 1:
            return set()
        key = tuple(self.tokens[len(self.tokens) - n + 1:]) if n > 1 else ()
        return self.followers.get(key, set())

    def apply(self, logits: Any) -> Any:
        """The logits of the next token (a 1-D tensor over the vocabulary) with the controls
        applied: a new tensor, ``logits`` itself unchanged."""
        if not self.tokens:
            return logits
        import torch

        out = logits.clone()
        if self.penalty != 1 or self.frequency:
            seen = sorted(self.counts)
            ids = torch.tensor(seen, dtype=torch.long, device=out.device)
            if self.penalty != 1:
                score = out[ids]
                out[ids] = torch.where(score < 0, score * self.penalty, score / self.penalty)
            if self.frequency:
                counts = torch.tensor([self.counts[t] for t in seen], dtype=out.dtype,
                                      device=out.device)
                out[ids] -= counts * self.frequency
        banned = self.banned()
        if banned:
            out[torch.tensor(sorted(banned), dtype=torch.long, device=out.device)] = float("-inf")
        return out
