"""A tiny randomly initialised LLaVA, built offline from configs, for the tests that train one
step or three on an export (TRL's DPO and SFT trainers, mmsynth's VLMCollator): a CLIP vision
tower and a one-layer Llama decoder, a word-level tokenizer over the texts it will see, a chat
template that renders image parts as ``<image>``, and a ``LlavaProcessor`` that expands each
32-pixel picture into 4 image tokens (16-pixel patches, the CLS feature dropped)."""

from __future__ import annotations


def tiny_llava(texts):
    """``(model, processor)``, the tokenizer's words taken from ``texts``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = pre_tokenizers.Whitespace()
    vocab = {t: i for i, t in enumerate(["[UNK]", "[PAD]", "<image>", "<|end|>", "<|user|>",
                                         "<|assistant|>", "<|system|>"])}
    for text in texts:
        for word, _ in words.pre_tokenize_str(text):
            vocab.setdefault(word, len(vocab))
    tokens = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokens.pre_tokenizer = words
    template = ("{% for m in messages %}<|{{ m['role'] }}|> {% for p in m['content'] %}"
                "{% if p['type'] == 'image' %}<image> {% else %}{{ p['text'] }} {% endif %}"
                "{% endfor %}<|end|> {% endfor %}"
                "{% if add_generation_prompt %}<|assistant|> {% endif %}")
    tok = PreTrainedTokenizerFast(tokenizer_object=tokens, unk_token="[UNK]", pad_token="[PAD]",
                                  eos_token="<|end|>", chat_template=template,
                                  extra_special_tokens={"image_token": "<image>"})
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                           crop_size={"height": 32, "width": 32}),
        tokenizer=tok, patch_size=16, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=template)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=32, patch_size=16),
        text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=1, pad_token_id=1, eos_token_id=3),
        image_token_index=vocab["<image>"], vision_feature_select_strategy="default")
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(config), processor
