"""Best-of-N's candidates in the decoder (the tiny float64 Llama): candidate k's seed, from
(seed, image, type, k), gives it its own reply, and that reply is the same alone or decoded in
a batch with the request's other candidates and other requests."""

from __future__ import annotations

import pytest

from mmsynth.llm import GenerationParams, request_seed
from mmsynth.llm.decode import Decoder, Item
from mmsynth.sources.coco_stages import candidate_seed

MESSAGES = [{"role": "user", "content": "Describe the photo."}]


def candidates(image: int, n: int, start: int = 0) -> list[Item]:
    """Candidates k = 0 … n-1 of image ``image``'s detail request, as the backend makes its
    decoder items (each row's stream seeded from the params' seed and the messages)."""
    ids = [(image * 7 + j * 11) % 90 + 1 for j in range(10)]
    out = []
    for k in range(n):
        params = GenerationParams(max_new_tokens=12, temperature=0.8, top_p=0.95,
                                  seed=candidate_seed(5, image, "detail", k))
        out.append(Item(start + k, ids, params, request_seed(params.seed, MESSAGES)))
    return out


@pytest.mark.parametrize("batch_size", [2, 8])
def test_candidates_differ_per_k_and_decode_alike_alone_and_batched(tiny, batch_size):
    items = candidates(0, 4) + candidates(1, 4, start=4)
    together = Decoder(tiny, batch_size).run(items)
    for item in items:
        assert Decoder(tiny, 1).run([item])[item.index] == together[item.index], item.index
    first = [together[i].text for i in range(4)]
    assert len(set(first)) == 4, first  # each candidate its own reply
