"""Batches for training a VLM straight from the loader's records: :class:`VLMCollator`.

>>> from mmsynth.collate import VLMCollator
>>> from mmsynth.loader import make_loader
>>> loader = make_loader("out/", batch_size=8, collate=VLMCollator(processor))
>>> for batch in loader:
...     loss = model(**batch).loss     # input_ids, attention_mask, pixel_values, labels

Each record's LLaVA turns become chat messages with typed content parts (the ``<image>`` token
an ``{"type": "image"}`` part, as ``mmsynth export messages`` writes them); the model's own chat
template renders them, and its processor expands each image into the image tokens the model
expects and makes ``pixel_values``. ``labels`` are the input ids with everything but the
assistant's turns set to -100 (the system and user turns, the image tokens, the padding): a
turn's span is found by rendering the conversation up to it (``add_generation_prompt``) and up to
its end, so it holds the answer and the template's end-of-turn tokens, whatever the template.

With a bare tokenizer and an ``image_processor``, the text keeps one image token per picture
(models that expand it themselves) and ``pixel_values`` come from the image processor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmsynth.sample import IMAGE_TOKEN, chat_message

IGNORE_INDEX = -100


def chat_messages(conversations: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    """LLaVA ``human``/``gpt`` turns as ``user``/``assistant`` messages of typed parts."""
    return [chat_message(turn) for turn in conversations]


class VLMCollator:
    """``collate(records) → batch`` for a Hugging Face VLM (see the module docstring).

    ``processor_or_tokenizer``: a processor with a chat template and an image processor
    (LLaVA-HF, Qwen2-VL, Idefics, …), or a tokenizer with a chat template together with
    ``image_processor``. ``max_length`` truncates (from the right) after the labels are made.
    """

    def __init__(self, processor_or_tokenizer: Any, image_processor: Any = None,
                 max_length: int | None = None):
        self.processor = processor_or_tokenizer
        self.tokenizer = getattr(processor_or_tokenizer, "tokenizer", processor_or_tokenizer)
        self.image_processor = image_processor or getattr(processor_or_tokenizer,
                                                          "image_processor", None)
        if self.image_processor is None:
            raise ValueError("VLMCollator needs a processor with an image processor, or a "
                             "tokenizer and image_processor=")
        self.expands = image_processor is None  # the processor expands the image tokens
        self.max_length = max_length
        if self.tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token: set tokenizer.pad_token first")

    def _render(self, messages: list[dict[str, Any]], generation: bool = False) -> str:
        return self.processor.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=generation)

    def _length(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def __call__(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        texts, images, spans = [], [], []
        for record in records:
            messages = chat_messages(record["conversations"])
            texts.append(self._render(messages))
            images.append(record["image"])
            # Assistant turn k spans from the end of the conversation rendered up to its
            # question (with the assistant's header) to the end of it rendered with its answer.
            spans.append([(self._length(self._render(messages[:k], generation=True)),
                           self._length(self._render(messages[:k + 1])))
                          for k, m in enumerate(messages) if m["role"] == "assistant"])
        if self.expands:
            batch = self.processor(text=texts, images=[[im] for im in images],
                                   return_tensors="pt", padding=True)
        else:
            batch = self.tokenizer(texts, return_tensors="pt", padding=True,
                                   add_special_tokens=False)
            batch["pixel_values"] = self.image_processor(images, return_tensors="pt")[
                "pixel_values"]
        ids = batch["input_ids"]
        labels = torch.full_like(ids, IGNORE_INDEX)
        image_id = self.tokenizer.convert_tokens_to_ids(
            getattr(self.tokenizer, "image_token", None) or IMAGE_TOKEN)
        for row, (text, turn_spans) in enumerate(zip(texts, spans, strict=True)):
            # The expanded image tokens come before every answer (the image leads the first
            # question): each span moves by what the expansion added.
            real = batch["attention_mask"][row].bool()
            positions = real.nonzero().flatten()
            start = int(positions[0]) if self.tokenizer.padding_side == "left" else 0
            shift = int(real.sum()) - self._length(text)
            for a, b in turn_spans:
                labels[row, start + a + shift:start + b + shift] = ids[
                    row, start + a + shift:start + b + shift]
            labels[row, ids[row] == image_id] = IGNORE_INDEX
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        batch["labels"] = labels
        if self.max_length is not None:
            for key in ("input_ids", "attention_mask", "labels"):
                batch[key] = batch[key][:, :self.max_length]
        return dict(batch)
