"""Fixtures of the LLM tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def tiny():
    """A random 2-layer Llama (GQA, RoPE) in float64, as the decoder's LoadedModel."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from mmsynth.llm.hf_internals import CausalLM
    from mmsynth.llm.models import LoadedModel

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512)
    model = LlamaForCausalLM(config).to(torch.float64).eval().requires_grad_(False)
    tokenizer = SimpleNamespace(
        decode=lambda ids, skip_special_tokens=True: " ".join(str(i) for i in ids))
    return LoadedModel(tokenizer=tokenizer, lm=CausalLM(model), device=torch.device("cpu"),
                       dtype=torch.float64, eos_ids=frozenset({96}), pad_id=0, max_context=512,
                       seconds=0.0)
