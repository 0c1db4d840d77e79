"""Text fingerprints for duplicate search and decontamination.

* **Which text is judged.** Only *written* text: a sample with a question that no QA item
  computed (an LLM's conversation, description or reasoning). A render's or an annotation's
  questions and answers are computed from its own picture, so two scenes that ask "What is the
  area of the triangle?" and both answer 24 are two samples, not one (on 10,000 distinct
  geometry renders 405 share their whole conversation with another, and 553 would pass a
  MinHash 0.9 test).
  Their pictures are still compared; their questions are still checked against benchmarks.
* **Exact.** The conversation's words, Unicode-normalised, lower-cased, the image token dropped.
* **Near.** MinHash (datasketch) of word 3-gram shingles, found through MinHash LSH.
* **Benchmarks.** A question matches a benchmark question when they share a 13-gram (the
  decontamination rule of GPT-3 and most since), or, for questions of :data:`MIN_WORDS` words or
  more, when they are one word apart (one word changed, added or dropped): a short question has
  no 13-gram, and a benchmark question reworded by one word is the commonest leak. One word
  apart is found through the questions' one-word deletions (a word-level symmetric-deletion
  index), never by comparing all pairs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

SHINGLE = 3  # words per MinHash shingle
NUM_PERM = 128  # MinHash permutations
NGRAM = 13  # words per benchmark n-gram
MIN_WORDS = 6  # shortest question matched by "one word apart"
_WORD = re.compile(r"\w+")
_IMAGE_TOKEN = re.compile(r"<image>", re.IGNORECASE)


def words(text: str) -> list[str]:
    """The text's words: NFKC-normalised, lower-cased, without the image token."""
    text = unicodedata.normalize("NFKC", _IMAGE_TOKEN.sub(" ", text)).lower()
    return _WORD.findall(text)


def is_written(record: Mapping[str, Any]) -> bool:
    """Whether a record's text is written (judged as text): it asks questions that no QA item
    computed (a decoded record lists only the QA items its scene or annotations gave; an LLM's
    turns are not among them)."""
    items = record.get("qa")
    computed = sum(1 for q in items if isinstance(q, Mapping)) if isinstance(items, list) else 0
    return len(questions(record)) > computed


def conversation_words(raw: Mapping[str, Any]) -> list[str]:
    turns = raw.get("conversations") or []
    return words(" ".join(str(t.get("value", "")) for t in turns if isinstance(t, Mapping)))


def questions(raw: Mapping[str, Any]) -> list[str]:
    """The human turns of a record's conversation (what a benchmark question could leak into)."""
    turns = raw.get("conversations") or []
    return [str(t.get("value", "")) for t in turns
            if isinstance(t, Mapping) and t.get("from") == "human"]


def exact_key(tokens: list[str]) -> str:
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=16).hexdigest()


def minhash(tokens: list[str]):
    """The MinHash of the tokens' word shingles (a text shorter than a shingle is one), as a
    datasketch LeanMinHash (what the LSH index stores; smaller, and it pickles)."""
    from datasketch import LeanMinHash, MinHash

    shingles = {" ".join(tokens[i:i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1))}
    m = MinHash(num_perm=NUM_PERM, seed=1)
    m.update_batch([s.encode() for s in shingles])
    return LeanMinHash(m)


def _key(tokens: Iterable[str]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(tokens).encode(), digest_size=8).digest(),
                          "little")


def ngram_keys(tokens: list[str]) -> Iterator[int]:
    for i in range(len(tokens) - NGRAM + 1):
        yield _key(tokens[i:i + NGRAM])


def deletion_keys(tokens: list[str]) -> list[int]:
    """The question itself and each of its one-word deletions, hashed in one key space: two
    questions one word apart share one (a word changed at i: both without word i; a word
    added: the longer one without it is the shorter one). Empty below MIN_WORDS words."""
    if len(tokens) < MIN_WORDS:
        return []
    return [_key(tokens)] + [_key(tokens[:i] + tokens[i + 1:]) for i in range(len(tokens))]


class QuestionIndex:
    """Benchmark questions, for :meth:`match` (a shared 13-gram, or one word apart)."""

    def __init__(self) -> None:
        self._ngrams: dict[int, str] = {}
        self._near: dict[int, str] = {}
        self.size = 0

    def add(self, question: str, ref: str) -> None:
        tokens = words(question)
        if not tokens:
            return
        self.size += 1
        for k in ngram_keys(tokens):
            self._ngrams.setdefault(k, ref)
        for k in deletion_keys(tokens):
            self._near.setdefault(k, ref)

    def match(self, question: str) -> str | None:
        """The benchmark item (its reference) the question matches, or None."""
        tokens = words(question)
        for k in ngram_keys(tokens):
            if k in self._ngrams:
                return self._ngrams[k]
        for k in deletion_keys(tokens):
            if k in self._near:
                return self._near[k]
        return None
