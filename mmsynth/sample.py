"""The one record that flows between stages and is stored in shards.

A shard sample is ``{id}.png|jpg`` (the encoded image), ``{id}.json`` (everything else, in the
stable typed form of :mod:`mmsynth.schema`) and ``{id}.txt`` (the caption).
The JSON is LLaVA-compatible: ``id``, ``image`` and ``conversations`` are what LLaVA-style
training code reads; ``qa``, ``scene``, ``annotations``, ``caption``, ``preference`` (chosen /
rejected pairs, only when asked for) and ``meta`` ride along.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mmsynth import schema

IMAGE_TOKEN = "<image>"
IMAGE_EXTENSIONS = ("png", "jpg")


@dataclass
class Rejection:
    """A sample that did not make it, and why. ``reason`` is a short counted key such as
    ``render_error:triangle:ZeroDivisionError``; ``detail`` is a human-readable message.
    ``sample`` is the rejected sample when one had been built (a stage dropped it), so a preview
    can show what was dropped; it is never written to a shard."""

    index: int
    reason: str
    detail: str = ""
    sample: Sample | None = field(default=None, repr=False, compare=False)


@dataclass
class Sample:
    """One image with its instruction data.

    ``image`` holds the encoded bytes (PNG or JPEG, as ``image_ext`` says); every other field is
    plain JSON data. ``qa`` items are ``{"question", "answer", "type", ...}`` with exact answers
    where the source knows them; ``scene`` is a renderer's parameters; ``annotations`` are a real
    image's boxes and captions; ``meta`` is provenance (source, generator, seed, index, ...).
    """

    id: str
    image: bytes
    image_ext: str = "png"
    conversations: list[dict[str, str]] = field(default_factory=list)
    qa: list[dict[str, Any]] = field(default_factory=list)
    scene: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    caption: str | None = None
    # Preference pairs (``mmsynth.preference``): each {kind, turn, prompt, chosen, rejected,
    # reason, provenance}; the rejected texts never enter ``conversations``.
    preference: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # Working state between the stages of one shard (a draft's request, the LLM's reply, ...);
    # never written to a shard.
    work: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if "." in self.id or "/" in self.id:
            # webdataset splits a member name at its first dot into key and extension.
            raise ValueError(f"sample id {self.id!r} must not contain '.' or '/'")
        if self.image_ext not in IMAGE_EXTENSIONS:
            raise ValueError(f"image_ext must be one of {IMAGE_EXTENSIONS}, got {self.image_ext!r}")

    @property
    def image_name(self) -> str:
        return f"{self.id}.{self.image_ext}"

    def to_json(self) -> dict[str, Any]:
        """The LLaVA-shaped record (without the image bytes)."""
        record: dict[str, Any] = {
            "id": self.id,
            "image": self.image_name,
            "conversations": self.conversations,
        }
        for name in ("qa", "scene", "annotations", "caption", "preference"):
            value = getattr(self, name)
            if value:
                record[name] = value
        record["meta"] = self.meta
        return record

    def to_wds(self) -> dict[str, Any]:
        """The webdataset sample dict: ``__key__`` plus one bytes value per member extension:
        the image, the JSON record in its stable typed form (:mod:`mmsynth.schema`) and, when
        the sample has a caption, ``txt`` (what image–text trainers such as open_clip read: a
        render's scene caption, a photo's first human caption)."""
        members = {
            "__key__": self.id,
            self.image_ext: self.image,
            "json": schema.dumps(schema.encode(self.to_json())).encode(),
        }
        if self.caption:
            members["txt"] = self.caption.encode()
        return members

    @classmethod
    def from_wds(cls, record: dict[str, Any]) -> Sample:
        """Rebuild a Sample from a raw (undecoded) webdataset record."""
        data = record["json"]
        data = json.loads(data) if isinstance(data, (bytes, str)) else data
        ext = next(e for e in IMAGE_EXTENSIONS if e in record)
        return cls.from_record(schema.decode(data), record[ext], ext)

    @classmethod
    def from_record(cls, data: dict[str, Any], image: bytes, image_ext: str) -> Sample:
        """A Sample from a decoded JSON record (what the shard readers give) and its image;
        ``to_wds`` writes the same members back (the schema is lossless)."""
        return cls(
            id=data["id"],
            image=image,
            image_ext=image_ext,
            conversations=data.get("conversations", []),
            qa=data.get("qa", []),
            scene=data.get("scene"),
            annotations=data.get("annotations"),
            caption=data.get("caption"),
            preference=data.get("preference", []),
            meta=data.get("meta", {}),
        )


# How a QA item's answer is written (``--answer_style``): ``long``, the worked solution ending in
# "The answer is X." (the answer alone where the item has no rationale); ``short``, the answer
# alone, the question asking for it (VQA-style benchmarks score a word or a number).
ANSWER_STYLES = ("long", "short")
SHORT_ANSWER_INSTRUCTION = "Answer with a single word, number or short phrase."


def question_text(item: dict[str, Any], style: str = "long") -> str:
    """A QA item's question as its human turn asks it (without the image token)."""
    question = item["question"]
    # A multi-line answer (a transcribed table) is not short, nor is a box or a point: their
    # questions say what they want.
    if style == "short" and "\n" not in item["answer"] and not item.get("regions"):
        return f"{question} {SHORT_ANSWER_INSTRUCTION}"
    return question


def answer_text(item: dict[str, Any], style: str = "long") -> str:
    """A QA item's gpt turn: see :data:`ANSWER_STYLES`."""
    if style not in ANSWER_STYLES:
        raise ValueError(f"answer style must be one of {ANSWER_STYLES}, got {style!r}")
    rationale = item.get("rationale")
    if style == "long" and rationale:
        return f"{rationale} The answer is {item['answer']}."
    return item["answer"]


def conversations_from_qa(qa: list[dict[str, Any]], answer_style: str = "long"
                          ) -> list[dict[str, str]]:
    """Turn QA items into alternating human/gpt turns, ``<image>`` leading the first question.

    In the ``long`` style a QA item's ``rationale`` (a worked solution), when present, precedes
    the answer in the gpt turn so the model learns the reasoning, not only the number.
    """
    turns: list[dict[str, str]] = []
    for i, item in enumerate(qa):
        question = question_text(item, answer_style)
        if i == 0:
            question = f"{IMAGE_TOKEN}\n{question}"
        turns.append({"from": "human", "value": question})
        turns.append({"from": "gpt", "value": answer_text(item, answer_style)})
    return turns


def without_image_token(text: str) -> str:
    """A turn's text with its ``<image>`` token (and the newline after it) taken out."""
    return text.replace(f"{IMAGE_TOKEN}\n", "").replace(IMAGE_TOKEN, "").strip()


def chat_message(turn: dict[str, str]) -> dict[str, Any]:
    """A LLaVA turn as a chat message of typed content parts, the way TRL, Hugging Face
    processors' ``apply_chat_template`` and chat templates read them: ``human`` → ``user``,
    ``gpt`` → ``assistant``, the ``<image>`` token an ``{"type": "image"}`` part in front of the
    text (no literal ``<image>`` left)."""
    text = turn["value"]
    parts: list[dict[str, Any]] = []
    if IMAGE_TOKEN in text:
        parts.append({"type": "image"})
        text = without_image_token(text)
    parts.append({"type": "text", "text": text})
    return {"role": "user" if turn["from"] == "human" else "assistant", "content": parts}


def check_llava_shape(record: dict[str, Any]) -> list[str]:
    """Problems with a sample's JSON as LLaVA-style training code would read it (empty if none)."""
    problems = []
    for key in ("id", "image", "conversations"):
        if key not in record:
            problems.append(f"missing {key!r}")
    turns = record.get("conversations") or []
    if not turns:
        problems.append("no conversation turns")
    for i, turn in enumerate(turns):
        expected = "human" if i % 2 == 0 else "gpt"
        if turn.get("from") != expected:
            problems.append(f"turn {i} is from {turn.get('from')!r}, expected {expected!r}")
        if not isinstance(turn.get("value"), str) or not turn["value"].strip():
            problems.append(f"turn {i} has an empty value")
    if turns and not str(turns[0].get("value", "")).startswith(IMAGE_TOKEN + "\n"):
        problems.append("the first human turn does not start with '<image>\\n'")
    if sum(str(t.get("value", "")).count(IMAGE_TOKEN) for t in turns) != 1:
        problems.append("'<image>' must appear exactly once")
    return problems
