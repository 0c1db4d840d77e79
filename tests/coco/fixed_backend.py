"""An LLM backend that answers every request with one fixed text: for coco jobs whose LLM replies
are beside the point (region samples through the real chain) or chosen by the test (a
grounded description with a right or a wrong box)."""

from __future__ import annotations

from mmsynth.llm import Generation, LLMBackend, per_request


class FixedReply(LLMBackend):
    name = "fixed"

    def __init__(self, text: str):
        self.text = text

    @property
    def model_id(self) -> str:
        return "fixed-reply"

    def generate(self, requests, params=None, on_done=None):
        per_request(params, len(requests))
        if on_done:
            on_done(len(requests))
        return [Generation(text=self.text, completion_tokens=len(self.text.split()))
                for _ in requests]
