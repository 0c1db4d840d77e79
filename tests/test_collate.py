"""``mmsynth.collate.VLMCollator`` (issue 20, item 3): a real run's records through
``make_loader(collate=VLMCollator(processor))`` into three optimiser steps of a tiny LLaVA built
offline; the labels hold exactly the assistant's turns (each answer and the template's
end-of-turn token), never a user word, an image token or padding."""

from __future__ import annotations

import math

import pytest

from mmsynth.collate import IGNORE_INDEX, VLMCollator, chat_messages
from mmsynth.loader import make_loader
from mmsynth.run import run
from tests.conftest import read_records
from tests.tiny_vlm import tiny_llava


@pytest.fixture(scope="module")
def geometry(tmp_path_factory):
    out = tmp_path_factory.mktemp("collate")
    run({"source": "geometry", "num_samples": 12, "shard_size": 12, "seed": 3, "out": str(out),
         "clip_mode": "off", "progress": False})
    records = read_records(out)
    return out, records


def test_three_optimiser_steps_of_a_tiny_vlm_through_the_collator(geometry):
    import torch

    out, records = geometry
    texts = [t["value"] for r in records for t in r["conversations"]]
    model, processor = tiny_llava(texts)
    collator = VLMCollator(processor)
    loader = make_loader(out, batch_size=4, num_workers=0, collate=collator, shuffle_buffer=0,
                         on_few_shards="ignore")
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = {n: t.detach().clone() for n, t in model.named_parameters()}
    losses = []
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    for _, batch in zip(range(3), loader, strict=False):
        assert set(batch) >= {"input_ids", "attention_mask", "pixel_values", "labels"}
        assert batch["pixel_values"].shape[1:] == (3, 32, 32)
        # 4 image tokens per picture (32-pixel images in 16-pixel patches), none learned.
        assert ((batch["input_ids"] == image_id).sum(dim=1) == 4).all()
        assert not (batch["labels"] == image_id).any()
        loss = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "pixel_values",
                                              "labels")}).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        losses.append(float(loss.detach()))
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    changed = {n for n, t in model.named_parameters() if not torch.equal(before[n], t)}
    assert any("vision_tower" in n for n in changed) and any("lm_head" in n for n in changed)
    # What is learned, decoded: the answers of the first batch's samples, nothing else.
    first = next(iter(make_loader(out, batch_size=4, num_workers=0, shuffle_buffer=0,
                                  on_few_shards="ignore")))
    batch = collator([{"image": im, "conversations": c}
                      for im, c in zip(first["image"], first["conversations"], strict=True)])
    tok = processor.tokenizer
    for row, conversations in enumerate(first["conversations"]):
        learned = [int(t) for t, lab in zip(batch["input_ids"][row], batch["labels"][row],
                                            strict=True) if lab != IGNORE_INDEX]
        answers = [t["value"] for t in conversations if t["from"] == "gpt"]
        want = tok(" ".join(f"{a} <|end|>" for a in answers), add_special_tokens=False)
        assert learned == want["input_ids"], (tok.decode(learned), answers)


def test_a_tokenizer_and_an_image_processor_keep_one_image_token_a_picture(geometry):
    out, records = geometry
    _, processor = tiny_llava([t["value"] for r in records for t in r["conversations"]])
    collator = VLMCollator(processor.tokenizer, image_processor=processor.image_processor)
    first = next(iter(make_loader(out, batch_size=3, num_workers=0, shuffle_buffer=0,
                                  on_few_shards="ignore", collate=collator)))
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert ((first["input_ids"] == image_id).sum(dim=1) == 1).all()
    assert first["pixel_values"].shape == (3, 3, 32, 32)
    assert (first["labels"] != IGNORE_INDEX).any(dim=1).all()


def test_chat_messages_carry_the_image_as_a_part():
    messages = chat_messages([{"from": "human", "value": "<image>\nWhat is x?"},
                              {"from": "gpt", "value": "4"}])
    assert messages == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is x?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "4"}]}]


def test_a_collator_without_an_image_processor_or_pad_token_is_a_clear_error():
    from tests.test_export_dpo import _tokenizer

    with pytest.raises(ValueError, match="image processor"):
        VLMCollator(_tokenizer())
