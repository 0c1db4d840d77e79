"""The reply parser of the LLaVA-style prompt sets: an LLM's reply → LLaVA ``conversations``.

:func:`parse_with` reads a reply the way its prompt set says (``format: qa`` — Question/Answer
pairs — or ``prose``, a description under one of the set's ``requests``), within the set's
:class:`ParseRules`, or raises :class:`ParseError` whose ``reason`` is one of :data:`REASONS`.
Small models' messy output is expected: markup, special tokens, labels in many spellings, loops,
copies of the request, replies cut at the token limit. Loading prompt sets and building the
requests is :mod:`mmsynth.prompts.llava`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mmsynth.sample import IMAGE_TOKEN, Rejection

if TYPE_CHECKING:
    from mmsynth.prompts.llava import PromptSet

# Why a reply was not usable. Each is a counted rejection key (``ParseError.key`` adds the type).
REASONS = {
    "empty": "nothing but whitespace, markup or special tokens",
    "truncated": "cut off (token limit or mid-sentence) with too little complete text left",
    "repetitive": "looping text, a sentence said three times, repeated questions, or answers "
                  "that repeat their question",
    "unparseable": "no Question/Answer pairs found (qa), or a description too short (prose)",
    "no_question": "pairs found, but what stands as a question is not one",
    "echo": "copies the prompt: box coordinates, 'captions'/'bounding box', a new example",
}


@dataclass(frozen=True)
class ParseRules:
    """The limits a reply must meet (a prompt set's ``parse:`` block)."""

    min_pairs: int = 1
    max_pairs: int = 6
    min_answer_words: int = 1
    min_words: int = 25
    max_repetition: float = 0.2
    max_paragraphs: int = 1  # later paragraphs of an answer are the model's commentary
    # A grounded description cites its objects' boxes: those are the point, not an echo of the
    # request (its words are still checked without them).
    cites_boxes: bool = False


class ParseError(ValueError):
    """A reply that can't become a sample. ``reason`` is a key of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "", kind: str = ""):
        if reason not in REASONS:
            raise ValueError(f"unknown parse rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.kind = kind

    @property
    def key(self) -> str:
        """The counted rejection reason, e.g. ``truncated:detail``."""
        return f"{self.reason}:{self.kind}" if self.kind else self.reason

    def rejection(self, index: int, text: str = "") -> Rejection:
        detail = self.detail + (f" | reply: {text[:300]!r}" if text else "")
        return Rejection(index, self.key, detail)


# Qwen-VL's box and object-reference tokens are kept: they are a cited box (an echo where no
# box is asked for, see _ECHO), not chat markup.
_SPECIAL_TOKENS = re.compile(
    r"<\|(?!(?:box|object_ref)_(?:start|end)\|>)[^|>\n]{1,40}\|>|</?s>|\[/?INST\]|<image>",
    re.IGNORECASE)
_FENCE = re.compile(r"^\s*```\w*\s*$")
_RULE = re.compile(r"^\s*(?:[-*_=#~]\s*){3,}$")
_HEADING = re.compile(r"^\s*#{1,6}\s*")
_BULLET = re.compile(r"^\s*(?:(?:\d{1,2}|[ivx]{1,4})[.)]\s+|\(\d{1,2}\)\s*|[-*•>]\s+)+",
                     re.IGNORECASE)
_Q_LABELS = {"q", "question", "user", "human", "query"}
_A_LABELS = {"a", "answer", "assistant", "gpt", "ai", "bot", "response", "reply"}
_LABEL = re.compile(
    r"^(?P<label>question|answer|assistant|response|human|query|reply|user|gpt|bot|ai|q|a)"
    r"(?:\s*#?\d{1,2})?\s*(?:[:：]\s*(?P<rest>.*)|$)",
    re.IGNORECASE,
)
# A label inside a line, after a sentence ("…doing? A: It…"), but not after a list number ("2.").
_INLINE_LABEL = re.compile(
    r"(?:(?<=[A-Za-z%][.?!])|(?<=[.?!][\"')\]]))\s+"
    r"(?=(?:Q|A|Question|Answer|User|Human|Assistant|GPT)(?:\s*\d{1,2})?\s*[:：])"
)
_CONTEXT_HEADER = re.compile(r"^\s*(?:captions?|objects?|context)\s*:", re.IGNORECASE)
_ECHO = re.compile(
    r"\[\s*[01]?\.\d+\s*,\s*[01]?\.\d+|\b(?:captions?|bounding box(?:es)?|coordinates|"
    r"object list)\b|<\|(?:box|object_ref)_start\|>|<points?\s+x", re.IGNORECASE)
_IMPERATIVES = {"describe", "explain", "tell", "name", "list", "identify", "count", "imagine",
                "suppose", "give", "point"}
_QUESTION_WORDS = _IMPERATIVES | {
    "what", "why", "how", "where", "when", "who", "whom", "whose", "which", "is", "are", "was",
    "were", "do", "does", "did", "can", "could", "would", "should", "will", "may", "might",
    "has", "have", "had", "considering", "based", "given", "in", "if", "according", "judging",
}
_DANGLING = {"a", "an", "the", "of", "and", "or", "to", "with", "in", "on", "at", "for", "is",
             "are", "was", "were", "that", "which", "but", "by", "from", "as", "his", "her",
             "their", "its", "very", "some", "this", "these", "while", "because"}
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")
_WORD = re.compile(r"[a-z0-9']+")
_PREAMBLE = re.compile(r"^(?:sure|certainly|of course|okay|ok|here|below|great|absolutely)\b.*:$",
                       re.IGNORECASE)
_PROSE_LABEL = re.compile(
    r"^(?:description|detailed description|image description|answer|assistant|gpt|response|"
    r"output)\s*(?:[:：]\s*|$)", re.IGNORECASE)


def parse_with(ps: PromptSet, text: str, *, hit_limit: bool = False,
               rng: np.random.Generator | int | Sequence[int] | None = None
               ) -> list[dict[str, str]]:
    """:func:`parse` with an already loaded prompt set."""
    try:
        if ps.format == "qa":
            pairs = _parse_qa(text, ps.parse, hit_limit)
        else:
            request = _pick_request(ps.requests, rng)
            pairs = [(request, _parse_prose(text, ps.parse, hit_limit))]
    except ParseError as e:
        e.kind = ps.type
        raise
    turns = []
    for i, (question, answer) in enumerate(pairs):
        turns.append({"from": "human", "value": f"{IMAGE_TOKEN}\n{question}" if i == 0
                      else question})
        turns.append({"from": "gpt", "value": answer})
    return turns


def _pick_request(requests: Sequence[str], rng: Any) -> str:
    if rng is None:
        return requests[0]
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return requests[int(rng.integers(len(requests)))]


def clean(text: str) -> str:
    """Special tokens, code fences, rules, headings and bold/italic markers removed; lines
    right-stripped; blank runs collapsed."""
    text = _SPECIAL_TOKENS.sub("", text or "").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("**", "").replace("__", "")
    lines = []
    for line in text.split("\n"):
        if _FENCE.match(line) or _RULE.match(line):
            lines.append("")
            continue
        line = _HEADING.sub("", line)
        line = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"\1", line)  # *it*
        lines.append(line.rstrip())
    text = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def repetition_ratio(text: str, n: int = 4) -> float:
    """The share of word n-grams that repeat an earlier one (0 for short texts)."""
    words = _words(text)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 8:
        return 0.0
    return 1 - len(set(grams)) / len(grams)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def _check_repetition(text: str, rules: ParseRules) -> None:
    ratio = repetition_ratio(text)
    if ratio > rules.max_repetition:
        raise ParseError("repetitive", f"{ratio:.0%} of 4-grams repeat "
                                       f"(limit {rules.max_repetition:.0%})")
    counts = Counter(" ".join(_words(s)) for s in _sentences(text) if len(_words(s)) >= 3)
    if counts:
        sentence, times = counts.most_common(1)[0]
        if times >= 3:
            raise ParseError("repetitive", f"{sentence!r} said {times} times")


def _complete(text: str, hit_limit: bool) -> bool:
    """Whether ``text`` ends like a finished utterance."""
    text = text.rstrip()
    if not text:
        return False
    if text.count("(") != text.count(")") or text.count("[") != text.count("]"):
        return False
    if text.count('"') % 2 or text.count("“") != text.count("”"):
        return False
    words = _words(text)
    if words and words[-1] in _DANGLING and not _TERMINAL.search(text):
        return False
    return bool(_TERMINAL.search(text)) or not hit_limit


def _strip_echoed_example(text: str) -> str:
    """Cut the reply where the model starts writing a new request ("Captions: …")."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _CONTEXT_HEADER.match(line):
            if i == 0 or not "\n".join(lines[:i]).strip():
                raise ParseError("echo", f"reply starts by copying the request: {line!r}")
            return "\n".join(lines[:i]).strip()
    return text


def _prepare(text: str) -> str:
    text = clean(text)
    if not _words(text):
        raise ParseError("empty", "no words in the reply")
    return _strip_echoed_example(text)


def cut_loop(text: str, similarity: float = 0.75) -> tuple[str, bool]:
    """``text`` up to the first sentence that repeats an earlier one, and whether it was cut:
    small models fall into loops, and what precedes one is kept. A sentence repeats another
    when it is the same (three words or more) or shares ``similarity`` of their words (Jaccard,
    six words or more): "The three are eating grass, so they are eating grass." after "The
    three zebras are grazing, so they are eating grass."."""
    seen: list[set[str]] = []
    keys: set[str] = set()
    for m in re.finditer(r"[^.!?\n]+(?:[.!?]+[\"'”’)]*|$)", text):
        key = _norm(m.group())
        words = set(key.split())
        if len(key.split()) < 3:
            continue
        if key in keys or (len(words) >= 6 and any(
                len(words & other) / len(words | other) >= similarity for other in seen)):
            return text[:m.start()].rstrip(), True
        keys.add(key)
        seen.append(words)
    return text, False


def _join(lines: list[str]) -> str:
    """Continuation lines → one value: list items keep their line, wrapped prose is joined."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            if out and not out.endswith("\n\n"):
                out = out.rstrip(" ") + "\n\n"
            continue
        if not out or out.endswith("\n"):
            out += line
        elif _BULLET.match(line):
            out += "\n" + line
        else:
            out += " " + line
    return out.strip()


def _split_labels(line: str) -> tuple[str | None, str]:
    """(``"q"``/``"a"``/None, the rest of the line) for one line of a reply."""
    stripped = _BULLET.sub("", line).strip()
    m = _LABEL.match(stripped)
    if not m:
        return None, line
    label = m["label"].lower()
    rest = (m["rest"] or "").strip()
    if label in ("a", "ai") and m["rest"] is None:
        return None, line  # a line that is just "A" is text, not a label
    return ("q" if label in _Q_LABELS else "a"), rest


def _raw_pairs(text: str) -> list[tuple[str | None, str | None]]:
    """(question, answer) pairs in order; None where a side is missing."""
    lines: list[str] = []
    for line in text.split("\n"):
        lines += _INLINE_LABEL.sub("\n", line).split("\n")
    pairs: list[tuple[str | None, str | None]] = []
    question: list[str] | None = None
    answer: list[str] | None = None
    labelled = False

    def flush() -> None:
        if question is not None or answer is not None:
            pairs.append((None if question is None else _join(question),
                          None if answer is None else _join(answer)))

    for line in lines:
        label, rest = _split_labels(line)
        if label == "q":
            labelled = True
            flush()
            question, answer = [rest], None
        elif label == "a":
            labelled = True
            if answer is not None:  # a second answer with no question between
                flush()
                question = None
            answer = [rest]
        elif answer is not None:
            answer.append(line)
        elif question is not None:
            question.append(line)
    flush()
    return pairs if labelled else _unlabelled_pairs(lines)


def _unlabelled_pairs(lines: list[str]) -> list[tuple[str | None, str | None]]:
    """Fallback for replies without labels: a line ending in '?' (or a '?' followed by text)
    opens a pair, the lines after it answer it ("1. What is …?\\nIt is …")."""
    pairs: list[tuple[str | None, str | None]] = []
    question: str | None = None
    answer: list[str] = []
    for raw in lines:
        line = _BULLET.sub("", raw).strip()
        head, mark, tail = line.partition("? ")
        if line.endswith("?") or (mark and head and head.split()[0].lower() in _QUESTION_WORDS):
            if question is not None:
                pairs.append((question, _join(answer) or None))
            if line.endswith("?"):
                question, answer = line, []
            else:
                question, answer = head + "?", [tail]
        elif question is not None:
            answer.append(raw)
    if question is not None:
        pairs.append((question, _join(answer) or None))
    return pairs


def _paragraphs(text: str, n: int) -> str:
    """The first ``n`` paragraphs (blocks separated by a blank line) of ``text``."""
    return "\n\n".join(re.split(r"\n\s*\n", text.strip())[:n]) if n > 0 else text


def _is_question(text: str) -> bool:
    words = _words(text)
    return bool(words) and (text.rstrip().endswith("?") or words[0] in _QUESTION_WORDS)


_CONTRACTIONS = re.compile(r"\b(what|where|who|how|it|there|that|he|she)['’]s\b|['’]re\b",
                           re.IGNORECASE)


def _norm(text: str) -> str:
    """Words only, lower case, "what's" read as "what is": for comparing questions."""
    text = _CONTRACTIONS.sub(lambda m: f"{m[1]} is" if m[1] else " are", text)
    return " ".join(_words(text))


def _parse_qa(text: str, rules: ParseRules, hit_limit: bool) -> list[tuple[str, str]]:
    text = _prepare(text)
    raw = _raw_pairs(text)
    if not raw:
        raise ParseError("unparseable", "no Question/Answer pairs")
    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    questions: set[str] = set()
    answers: set[str] = set()
    for i, (question, answer) in enumerate(raw):
        last = i == len(raw) - 1
        if question and _norm(question) in questions:
            # The model is looping: what follows the first repeated question is not used.
            dropped += ["repetitive"] * (len(raw) - i)
            break
        looped = False
        if answer:
            answer, looped = cut_loop(_paragraphs(answer, rules.max_paragraphs))
        why = None
        if question is None or not question.strip():
            why = "no_question"
        elif not _words(answer or ""):
            why = "repetitive" if looped else (
                "truncated" if last and hit_limit else "unparseable")
        elif last and not looped and not _complete(answer, hit_limit):
            why = "truncated"
        elif not _is_question(question):
            why = "no_question"
        elif _ECHO.search(question) or _ECHO.search(answer):
            why = "echo"
        elif (_norm(answer) in answers or _norm(answer) == _norm(question)
              or repetition_ratio(answer) > rules.max_repetition):
            why = "repetitive"
        elif len(_words(answer)) < rules.min_answer_words:
            why = "repetitive" if looped else "unparseable"
        if question:
            questions.add(_norm(question))
        if why:
            dropped.append(why)
            continue
        answers.add(_norm(answer))
        question = question.strip()
        if not question.endswith(("?", ".", "!")):
            question += "." if _words(question)[0] in _IMPERATIVES else "?"
        kept.append((question, answer.strip()))
    kept = kept[:rules.max_pairs]
    if len(kept) >= rules.min_pairs:
        _check_repetition(" ".join(f"{q} {a}" for q, a in kept), rules)
        return kept
    order = list(REASONS)
    reason = max(Counter(dropped).items(), key=lambda kv: (kv[1], -order.index(kv[0])))[0] \
        if dropped else "unparseable"
    raise ParseError(reason, f"{len(kept)} usable pair(s) of {len(raw)}, need "
                             f"{rules.min_pairs}; dropped: {', '.join(dropped) or 'none'}")


def _parse_prose(text: str, rules: ParseRules, hit_limit: bool) -> str:
    text = _prepare(text)
    lines = text.split("\n")
    while lines and (_PREAMBLE.match(lines[0].strip()) or not lines[0].strip()
                     or _PROSE_LABEL.fullmatch(lines[0].strip())):
        lines.pop(0)  # "Sure! Here is a description:", "Description", blank lines
    if lines:
        lines[0] = _PROSE_LABEL.sub("", lines[0].strip())
    text = _paragraphs("\n".join(lines).strip(), rules.max_paragraphs)
    lines = text.split("\n")
    if any(_split_labels(ln)[0] == "q" for ln in lines):
        pairs = [(q, a) for q, a in _raw_pairs(text) if a]
        if len(pairs) != 1:
            raise ParseError("unparseable", "question/answer pairs instead of a description")
        text = pairs[0][1]
    text = " ".join(_join([_BULLET.sub("", ln) for ln in text.split("\n")]).split())
    if not rules.cites_boxes and _ECHO.search(text):
        raise ParseError("echo", f"mentions the request's scaffolding: "
                                 f"{_ECHO.search(text)[0]!r}")
    text, looped = cut_loop(text)
    if looped and len(_words(text)) < rules.min_words:
        raise ParseError("repetitive", f"loops after {len(_words(text))} words")
    _check_repetition(text, rules)
    if not looped and not _complete(text, hit_limit=True):  # a description ends a sentence
        ends = [m.end() for m in re.finditer(r"[.!?][\"'”’)]*(?=\s|$)", text)]
        cut = text[:ends[-1]] if ends else ""
        if len(_words(cut)) < rules.min_words:
            raise ParseError("truncated", f"{len(_words(cut))} words before the cut-off "
                                          f"sentence, need {rules.min_words}")
        text = cut
    if rules.cites_boxes:  # after the cut: a box the token limit cut short is no echo
        from mmsynth.boxes import strip_citations

        words_of = strip_citations(text)
        if words_of == text:
            raise ParseError("unparseable", "a grounded description that cites no box")
        if _ECHO.search(words_of):
            raise ParseError("echo", f"mentions the request's scaffolding: "
                                     f"{_ECHO.search(words_of)[0]!r}")
        n = len(_words(words_of))
    else:
        n = len(_words(text))
    if n < rules.min_words:
        raise ParseError("unparseable", f"description has {n} words, need {rules.min_words}")
    return text
