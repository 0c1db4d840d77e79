"""LLaVA-style prompt sets (conversation, detail, reasoning): build chat messages, parse replies.

A prompt set is data in ``configs/prompts/<type>.yaml``::

    type: conversation            # the name it is registered under
    prompt_version: conversation-1  # stored in every sample's meta
    format: qa | prose            # how replies are parsed
    uses_objects: bool            # whether the request lists "category: [x1, y1, x2, y2]" boxes
    max_new_tokens: int           # a budget for the backend
    stop: [str, ...]              # stop strings for the backend (a new example starting)
    parse: {min_pairs, max_pairs, min_answer_words, min_words, max_repetition, max_paragraphs}
    requests: [str, ...]          # prose only: phrasings of the human turn
    system: str
    template: str                 # the user turn; "{context}" is replaced by the context (and
                                  # "{question}", where it appears, by a question asked)
    few_shot: [{captions: [...], objects: ["cat: [0.100, ...]", ...], response: str,
                question: str (only with "{question}" in the template)}, ...]

:func:`build_messages` makes ``[system, (user, assistant) × few-shot, user]`` chat messages;
:func:`parse` turns a reply into LLaVA ``conversations`` with the reply parser of
:mod:`mmsynth.prompts.replies` (whose names callers also import from here), or raises
:class:`ParseError` whose ``reason`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mmsynth.errors import UsageError
from mmsynth.prompts.replies import (
    REASONS,
    ParseError,
    ParseRules,
    clean,
    cut_loop,
    parse_with,
    repetition_ratio,
)
from mmsynth.registry import Registry
from mmsynth.resources import config_path

__all__ = [
    "ANSWER_PROMPT", "BOX_LINE", "PROMPT_DIR", "PROMPT_SETS", "PROMPT_TYPES", "REASONS", "Context",
    "FewShot", "ParseError", "ParseRules", "PromptSet", "build_messages", "clean", "cut_loop",
    "format_box", "load_prompt_set", "parse", "parse_box_line", "parse_types", "parse_with",
    "repetition_ratio",
]

PROMPT_DIR = config_path("prompts")
PROMPT_TYPES = ("conversation", "detail", "grounded", "reasoning")

PROMPT_SETS = Registry("prompt type")
for _name in PROMPT_TYPES:
    PROMPT_SETS.register(_name, PROMPT_DIR / f"{_name}.yaml")


# ---------------------------------------------------------------------------------------------
# Context: what the LLM is told about an image.

BOX_LINE = re.compile(
    r"^(?P<category>[a-z][a-z ]*[a-z]): \[(?P<x1>[01]\.\d{3}), (?P<y1>[01]\.\d{3}), "
    r"(?P<x2>[01]\.\d{3}), (?P<y2>[01]\.\d{3})\]$"
)


# The size a few-shot example's photo is taken to have where a box format needs one (pixels,
# llava_square): its boxes are stored normalised, without the photo.
SHOT_SIZE = (640, 480)


def format_box(category: str, box: Sequence[float], box_format: str = "llava",
               size: tuple[int, int] | None = None) -> str:
    """``category: [x1, y1, x2, y2]`` with normalised coordinates to three decimals; in another
    ``box_format`` (:mod:`mmsynth.boxes`) the box as that format writes it, for an image of
    ``size`` (width, height)."""
    x1, y1, x2, y2 = box
    if box_format == "llava":
        return f"{category}: [{x1:.3f}, {y1:.3f}, {x2:.3f}, {y2:.3f}]"
    from mmsynth.boxes import box_format as fmt_named

    fmt = fmt_named(box_format)
    w, h = size or SHOT_SIZE
    pixels = (x1 * w, y1 * h, x2 * w, y2 * h)
    if fmt.answers_with_points:
        return f"{category}: " + fmt.points_text([((pixels[0] + pixels[2]) / 2,
                                                   (pixels[1] + pixels[3]) / 2)], category, w, h)
    return f"{category}: {fmt.box_text(pixels, w, h)}"


@dataclass(frozen=True)
class Context:
    """An image as text: its captions and its objects with normalised ``(x1, y1, x2, y2)``
    boxes (0–1, origin top left); ``size``, the image's (width, height) when known (a box
    format in pixels needs it)."""

    captions: tuple[str, ...]
    objects: tuple[tuple[str, tuple[float, float, float, float]], ...] = ()
    size: tuple[int, int] | None = None

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, Any], width: float | None = None,
                         height: float | None = None, *, max_objects: int = 20) -> Context:
        """From a sample's ``annotations`` (see ``mmsynth.filters.grounding``): COCO pixel
        ``[x, y, w, h]`` boxes are normalised by ``width``/``height`` (default: the
        annotations' own). Beyond ``max_objects``, the largest boxes are kept, in order."""
        width = width or annotations.get("width")
        height = height or annotations.get("height")
        objects = list(annotations.get("objects") or ())
        if objects and not (width and height):
            raise ValueError("image width and height are needed to normalise boxes")
        if len(objects) > max_objects:
            by_area = sorted(range(len(objects)),
                             key=lambda i: -objects[i]["bbox"][2] * objects[i]["bbox"][3])
            keep = set(by_area[:max_objects])
            objects = [o for i, o in enumerate(objects) if i in keep]
        boxes = []
        for obj in objects:
            x, y, w, h = obj["bbox"]
            box = (x / width, y / height, (x + w) / width, (y + h) / height)
            boxes.append((obj["category"], tuple(min(1.0, max(0.0, v)) for v in box)))
        captions = tuple(" ".join(c.split()) for c in annotations.get("captions") or ())
        size = (int(width), int(height)) if width and height else None
        return cls(captions, tuple(boxes), size)

    @classmethod
    def from_text(cls, text: str) -> Context:
        """A context given as text: lines in :func:`format_box`'s format are objects, other
        lines captions; ``Captions:``/``Objects:`` headers are optional."""
        captions, objects = [], []
        for line in text.splitlines():
            line = line.strip()
            if not line or re.fullmatch(r"(?i)(captions|objects):", line):
                continue
            if BOX_LINE.match(line):
                objects.append(parse_box_line(line))
            else:
                captions.append(line)
        return cls(tuple(captions), tuple(objects))

    def render(self, with_objects: bool = True, box_format: str = "llava") -> str:
        """The context block of a request: a ``Captions:`` section, then ``Objects:`` (their
        boxes in ``box_format``)."""
        lines = ["Captions:", *self.captions]
        if with_objects:
            lines += ["Objects:", *(format_box(c, b, box_format, self.size)
                                    for c, b in self.objects)]
        return "\n".join(lines)


def parse_box_line(line: str) -> tuple[str, tuple[float, float, float, float]]:
    """The inverse of :func:`format_box`; ValueError unless ``line`` is in its exact format."""
    m = BOX_LINE.match(line)
    if not m:
        raise ValueError(f"{line!r} is not 'category: [x1, y1, x2, y2]' with 3-decimal values")
    box = tuple(float(m[k]) for k in ("x1", "y1", "x2", "y2"))
    if not (box[0] < box[2] and box[1] < box[3] and all(0 <= v <= 1 for v in box)):
        raise ValueError(f"{line!r}: the box must have x1 < x2, y1 < y2 within [0, 1]")
    return m["category"], box  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Prompt sets.

@dataclass(frozen=True)
class FewShot:
    context: Context
    response: str
    question: str = ""  # for a template that asks one ("{question}")


@dataclass(frozen=True)
class PromptSet:
    """One data type's prompt: loaded from YAML by :func:`load_prompt_set`."""

    type: str
    prompt_version: str
    format: str
    uses_objects: bool
    system: str
    template: str
    few_shot: tuple[FewShot, ...]
    parse: ParseRules
    requests: tuple[str, ...] = ()
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    path: str = ""
    fingerprint: str = ""

    @property
    def asks_question(self) -> bool:
        """Whether the user turn asks a given question (``{question}`` in the template)."""
        return "{question}" in self.template

    def request(self, context: Context | str, question: str | None = None,
                note: str | None = None, box_format: str = "llava") -> str:
        """The user turn for ``context`` (a Context, or text that :meth:`Context.from_text`
        reads), rendered the way the few-shot examples are: boxes only if ``uses_objects``;
        ``question`` fills a template that asks one; ``note`` (who is asking: a persona's line)
        follows the context."""
        if isinstance(context, str):
            context = Context.from_text(context)
        if self.asks_question and not question:
            raise ValueError(f"prompt set {self.type!r} asks a question: give one")
        rendered = context.render(self.uses_objects, box_format)
        if note:
            rendered = f"{rendered}\n\n{note}"
        text = self.template.replace("{context}", rendered)
        return text.replace("{question}", " ".join(question.split())) if question else text

    def provenance(self) -> dict[str, str]:
        """What goes into a sample's meta: type, version and a hash of the prompt's content."""
        return {"prompt_type": self.type, "prompt_version": self.prompt_version,
                "prompt_fingerprint": self.fingerprint}


# The misleading_context pairs' prompt (mmsynth.preference.coco): loaded by path, not a --types.
ANSWER_PROMPT = PROMPT_DIR / "answer.yaml"

_KEYS = {"type", "prompt_version", "format", "uses_objects", "system", "template", "few_shot",
         "parse", "requests", "max_new_tokens", "stop"}
_REQUIRED = {"type", "prompt_version", "format", "system", "template", "few_shot"}


def load_prompt_set(name_or_path: str | Path) -> PromptSet:
    """A registered prompt type ("conversation", "detail", "reasoning") or a YAML file path.

    Raises UsageError naming the file and key for a malformed set, including few-shot
    responses that the set's own parser would reject."""
    name = str(name_or_path)
    path = Path(name) if name.endswith((".yaml", ".yml")) else PROMPT_SETS.get(name)
    return _load(str(Path(path).resolve()))


@lru_cache(maxsize=32)
def _load(path: str) -> PromptSet:
    from mmsynth.config import load_yaml

    data = load_yaml(path)

    def bad(key: str, why: str) -> UsageError:
        return UsageError(f"prompt set {path}: {key}: {why}")

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown key; valid keys: {', '.join(sorted(_KEYS))}")
    missing = sorted(_REQUIRED - set(data))
    if missing:
        raise bad(missing[0], "missing")
    if data["format"] not in ("qa", "prose"):
        raise bad("format", f"must be qa or prose, got {data['format']!r}")
    if "{context}" not in data["template"]:
        raise bad("template", "must contain {context}")
    rules = data.get("parse") or {}
    unknown = sorted(set(rules) - set(ParseRules.__dataclass_fields__))
    if unknown:
        raise bad(f"parse.{unknown[0]}", "unknown rule")
    requests = tuple(data.get("requests") or ())
    if data["format"] == "prose" and not requests:
        raise bad("requests", "a prose set needs the phrasings of its human turn")
    shots = []
    for i, shot in enumerate(data["few_shot"] or ()):
        try:
            objects = tuple(parse_box_line(line) for line in shot.get("objects") or ())
        except ValueError as e:
            raise bad(f"few_shot[{i}].objects", str(e)) from None
        if not shot.get("captions") or not shot.get("response"):
            raise bad(f"few_shot[{i}]", "needs captions and a response")
        question = str(shot.get("question") or "").strip()
        if ("{question}" in data["template"]) != bool(question):
            raise bad(f"few_shot[{i}].question", "needed exactly when the template asks one "
                                                 "({question})")
        shots.append(FewShot(Context(tuple(shot["captions"]), objects),
                             shot["response"].strip(), question))
    fingerprint = hashlib.sha256(
        json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    prompt_set = PromptSet(
        type=data["type"], prompt_version=str(data["prompt_version"]), format=data["format"],
        uses_objects=bool(data.get("uses_objects", True)), system=data["system"].strip(),
        template=data["template"], few_shot=tuple(shots), parse=ParseRules(**rules),
        requests=requests, max_new_tokens=int(data.get("max_new_tokens", 256)),
        stop=tuple(data.get("stop") or ()), path=path, fingerprint=fingerprint,
    )
    for i, shot in enumerate(shots):
        try:
            parse_with(prompt_set, shot.response)
        except ParseError as e:
            raise bad(f"few_shot[{i}].response", f"its own parser rejects it: {e}") from None
    return prompt_set


def parse_types(value: str | Sequence[str]) -> tuple[str, ...]:
    """``--types`` ("conversation,detail", a list, or "all") → registered type names, in order;
    UsageError lists the valid ones."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip() for n in names if n and n.strip()]
    if names in ([], ["all"]):
        return tuple(PROMPT_SETS.names())
    for n in names:
        PROMPT_SETS.get(n)  # raises UsageError naming the known types
    return tuple(dict.fromkeys(names))


def build_messages(kind: str | Path, context: Context | str, *, shots: int | None = None,
                   question: str | None = None, note: str | None = None,
                   box_format: str = "llava") -> list[dict[str, str]]:
    """Chat messages for one request: the system message, each few-shot example as a user
    turn (its context) and an assistant turn (its response), then the user turn for
    ``context`` (and ``question``, for a set that asks one; ``note``, who asks, after the
    context). ``kind``: a registered type or a prompt set's path. ``shots`` limits the number
    of examples (default: all). ``box_format``: how the context's boxes are written (the
    system message says so in its words, and a few-shot response's cited boxes follow)."""
    ps = load_prompt_set(kind)
    system = ps.system
    if box_format != "llava":
        from mmsynth.boxes import LLAVA_PROMPT_WORDS
        from mmsynth.boxes import box_format as fmt_named

        system = system.replace(LLAVA_PROMPT_WORDS, fmt_named(box_format).prompt_words())
    messages = [{"role": "system", "content": system}]
    for shot in ps.few_shot[:shots]:
        messages.append({"role": "user", "content": ps.request(
            shot.context, shot.question or None, box_format=box_format)})
        messages.append({"role": "assistant",
                         "content": _cited_in(shot.response, box_format, shot.context)})
    messages.append({"role": "user", "content": ps.request(context, question, note,
                                                           box_format=box_format)})
    return messages


def _cited_in(response: str, box_format: str, context: Context) -> str:
    """A few-shot response's cited boxes (written in the llava format, as the prompt files
    keep them) rewritten in ``box_format``, for the example photo's size."""
    if box_format == "llava" or "[" not in response:
        return response
    from mmsynth.boxes import box_format as fmt_named

    llava, fmt = fmt_named("llava"), fmt_named(box_format)
    w, h = context.size or SHOT_SIZE

    def rewrite(m: re.Match) -> str:
        box = llava.parse_box(m.group("box"), w, h)
        if fmt.answers_with_points:
            cited = fmt.points_text([((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)],
                                    m.group("name"), w, h)
        else:
            cited = fmt.box_text(box, w, h)
        return f"{m.group('name')} {cited}"

    return re.sub(r"(?P<name>[A-Za-z]+) (?P<box>\[[01]\.\d{3}, [01]\.\d{3}, [01]\.\d{3}, "
                  r"[01]\.\d{3}\])", rewrite, response)


def parse(kind: str, text: str, *, hit_limit: bool = False,
          rng: np.random.Generator | int | Sequence[int] | None = None) -> list[dict[str, str]]:
    """A reply of prompt type ``kind`` as LLaVA ``conversations`` (``<image>\\n`` leading the
    first human turn); raises :class:`ParseError`.

    ``hit_limit``: generation stopped at ``max_new_tokens``, so the end may be cut: a last
    pair (or sentence) that is not complete is dropped. ``rng`` (or a seed) picks the human
    turn of a prose reply from the set's ``requests``; without it, the first one is used."""
    return parse_with(load_prompt_set(kind), text, hit_limit=hit_limit, rng=rng)

