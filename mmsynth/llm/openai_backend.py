"""An LLM server that speaks the OpenAI chat-completions protocol: vLLM, SGLang, TGI, llama.cpp,
Ollama, ``transformers serve`` or a hosted API.

Requests go out concurrently through the official ``openai`` async client, which owns the HTTP,
the per-request timeout and the retries: exponential back-off with jitter on 408/409/429/5xx,
timeouts and dropped connections, honouring ``Retry-After``. On top of it this backend adds
what the client leaves to its caller:

* a cap on requests in flight (``concurrency``) and requests/tokens per minute (``aiolimiter``);
* retries for replies the client cannot parse (a body cut short, not JSON), on the same back-off;
* a request that still fails becomes a ``Generation`` with ``error`` ("llm_error:<kind>" for the
  source), never an exception, so one bad reply never costs the rest of the shard;
* ``check()``: one health request before a run, so a wrong URL or model is one clear error.

The API key is read from the environment variable named by ``api_key_env`` when the client is
made; it is never stored on the backend, in meta, in run.json or in shards. Credentials in
``base_url`` (``http://user:KEY@host/v1``) are used as they are (the HTTP client sends them as
Basic auth) but never shown: the key and the URL's credentials are handed to ``mmsynth.redact``,
and every error text this backend makes is redacted before it is cut short.

Sampling: each request carries ``seed = request_seed(params.seed, messages)``, so servers that
honour ``seed`` (vLLM, ``transformers serve``) give the same text for the same request.

Repetition control (see :class:`~mmsynth.llm.base.GenerationParams`) is sent only when on, so a
request without it is the body it always was: ``frequency_penalty`` as the OpenAI API's field
(vLLM reads it the same way: the reply's token counts; ``transformers serve`` 5.x turns it into
a repetition penalty of 1 + the value over prompt and reply); ``repetition_penalty`` as the extra
field vLLM and SGLang accept — vLLM counts the prompt's tokens as well as the reply's, so the
same value penalises more there than in the transformers backend; OpenAI's own API refuses the
field (``http_400``), ``transformers serve`` too (``http_422``), each a counted error. No
server has a no-repeat n-gram field: a request with ``no_repeat_ngram_size`` fails as a bad
request rather than being sent without it (``backend_from_config`` refuses the option before a
run starts).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.llm.base import (
    Generation,
    GenerationParams,
    LLMBackend,
    Messages,
    check_messages,
    per_request,
    request_seed,
)
from mmsynth.redact import add_secret, add_url_secrets, redact

# The client's own back-off (openai._constants): 0.5 s doubling to 8 s, with jitter.
_INITIAL_DELAY, _MAX_DELAY = 0.5, 8.0
# Servers accept 32-bit seeds at least.
_SEED_RANGE = 2**31


class LLMUnavailable(UsageError):
    """The server cannot be reached, or does not serve the model: nothing can be generated."""


class OpenAIBackend(LLMBackend):
    """Chat completions from an OpenAI-compatible server at ``base_url`` (".../v1").

    ``concurrency`` requests are in flight at once; ``requests_per_minute`` and
    ``tokens_per_minute`` (0: no limit) hold this process under a provider's limits, paced
    evenly rather than in bursts (tokens are estimated before the call as prompt characters / 4
    + ``max_new_tokens``). ``timeout`` is per
    request in seconds; ``max_retries`` is how often one request is retried before it counts as
    failed.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 requests_per_minute: float = 0, tokens_per_minute: float = 0,
                 timeout: float = 120.0, max_retries: int = 5):
        if not model:
            raise UsageError("--llm_model must name the model the server serves")
        self.model = model
        self.base_url = base_url.rstrip("/")
        add_url_secrets(self.base_url)
        self.shown_url = redact(self.base_url)  # for messages: the URL without its credentials
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.timeout = timeout
        self.max_retries = max_retries
        self.requests_sent = 0  # HTTP requests this backend made (retries inside the client aside)

    @property
    def model_id(self) -> str:
        return self.model

    # -- clients --------------------------------------------------------------------------------

    def _api_key(self) -> str:
        # Local servers take any key; the client insists on one.
        key = os.environ.get(self.api_key_env)
        add_secret(key)
        return key or "EMPTY"

    def _async_client(self):
        import openai

        return openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key(),
                                  timeout=self.timeout, max_retries=self.max_retries)

    def check(self) -> None:
        """One health request: the server answers and serves ``model``; else LLMUnavailable
        naming the URL and the model. Uses a short-lived client (nothing survives a fork)."""
        import openai

        where = f"the LLM server at {self.shown_url} (model {self.model!r})"
        with openai.OpenAI(base_url=self.base_url, api_key=self._api_key(),
                           timeout=min(self.timeout, 30.0), max_retries=1) as client:
            try:
                served = [m.id for m in client.models.list()]
            except openai.NotFoundError:
                served = None  # no /models route: ask for one token instead
            except openai.APIConnectionError as e:
                raise LLMUnavailable(f"cannot reach {where}: {_cause(e)}; start the server or "
                                     "fix --llm_base_url") from None
            except openai.AuthenticationError:
                raise LLMUnavailable(f"{where} refused the API key from ${self.api_key_env} "
                                     "(set it, or name another variable with --llm_api_key_env)"
                                     ) from None
            except openai.APIError as e:
                raise LLMUnavailable(f"{where} failed its health check: {_describe(e)}") from None
            if served is not None:
                if self.model not in served:
                    listed = ", ".join(served[:10]) + (" …" if len(served) > 10 else "")
                    raise LLMUnavailable(f"{where}: the server does not serve this model; it "
                                         f"serves: {listed or 'nothing'}")
                return
            try:
                client.chat.completions.create(
                    model=self.model, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)
            except openai.APIError as e:
                raise LLMUnavailable(f"{where} failed its health check: {_describe(e)}") from None

    # -- generation -----------------------------------------------------------------------------

    def generate(self, requests: Sequence[Messages],
                 params: GenerationParams | Sequence[GenerationParams] | None = None,
                 on_done: Callable[[int], None] | None = None) -> list[Generation]:
        params_list = per_request(params, len(requests))
        results: list[Generation | None] = [None] * len(requests)
        todo = []
        for i, messages in enumerate(requests):
            problem = check_messages(messages)
            if problem:
                results[i] = Generation.failed(f"bad_request: {problem}")
            else:
                todo.append(i)
        if on_done and len(todo) < len(requests):
            on_done(len(requests) - len(todo))
        if todo:
            answers = asyncio.run(self._generate_all(
                [requests[i] for i in todo], [params_list[i] for i in todo], on_done))
            for i, answer in zip(todo, answers, strict=True):
                results[i] = answer
        return results  # type: ignore[return-value]

    async def _generate_all(self, requests, params, on_done=None) -> list[Generation]:
        from aiolimiter import AsyncLimiter

        gate = asyncio.Semaphore(self.concurrency)
        # Paced, not bursty: one request every 60/rpm s; tokens refill every second. A request
        # estimated above a second's tokens takes the whole second's budget.
        limits = []
        if self.requests_per_minute:
            limits.append((AsyncLimiter(1, 60 / self.requests_per_minute), lambda _: 1))
        if self.tokens_per_minute:
            per_second = self.tokens_per_minute / 60
            limits.append((AsyncLimiter(per_second, 1), lambda cost: min(cost, per_second)))
        async def one(client, m, p) -> Generation:
            answer = await self._one(client, gate, limits, m, p)
            if on_done:
                on_done(1)
            return answer

        async with self._async_client() as client:
            return await asyncio.gather(*(one(client, m, p)
                                          for m, p in zip(requests, params, strict=True)))

    async def _one(self, client, gate, limits, messages: Messages,
                   params: GenerationParams) -> Generation:
        import openai

        body: dict[str, Any] = {
            "model": self.model, "messages": [dict(m) for m in messages],
            "max_tokens": params.max_new_tokens, "temperature": float(params.temperature),
            "top_p": float(params.top_p),
        }
        if not params.greedy:
            body["seed"] = request_seed(params.seed, messages) % _SEED_RANGE
        if params.stop:
            body["stop"] = list(params.stop)
        if params.no_repeat_ngram_size:
            return Generation.failed("bad_request: no_repeat_ngram_size is not an "
                                     "OpenAI-compatible field; no server is sent it")
        if params.frequency_penalty:
            body["frequency_penalty"] = float(params.frequency_penalty)
        if params.repetition_penalty != 1:
            # Not an OpenAI field: the client sends extra_body's keys at the body's top level.
            body["extra_body"] = {"repetition_penalty": float(params.repetition_penalty)}
        cost = sum(len(m["content"]) for m in messages) // 4 + params.max_new_tokens
        async with gate:
            for attempt in range(self.max_retries + 1):
                for limiter, amount in limits:
                    await limiter.acquire(amount(cost))
                self.requests_sent += 1
                try:
                    reply = await client.chat.completions.create(**body)
                    return _generation(reply)
                except openai.APITimeoutError:
                    return Generation.failed("timeout: no reply within "
                                             f"{self.timeout:g} s, {self.max_retries} retries")
                except openai.APIConnectionError as e:
                    return Generation.failed(f"connection: {_cause(e)}")
                except openai.APIStatusError as e:
                    return Generation.failed(_describe(e))
                except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError,
                        KeyError, IndexError, TypeError, AttributeError) as e:
                    # The client retries transport failures, not a reply it cannot read.
                    if attempt == self.max_retries:
                        return Generation.failed(
                            redact(f"bad_response: {type(e).__name__}: {e}")[:300])
                    delay = min(_INITIAL_DELAY * 2 ** attempt, _MAX_DELAY)
                    await asyncio.sleep(delay * (1 - 0.25 * random.random()))
        raise AssertionError("unreachable")


def _generation(reply) -> Generation:
    """A chat.completion object → Generation (raises on a reply without a choice)."""
    choice = reply.choices[0]
    text = choice.message.content or ""
    usage = reply.usage
    return Generation(text=text, finish_reason="length" if choice.finish_reason == "length"
                      else "stop",
                      prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                      completion_tokens=getattr(usage, "completion_tokens", 0) or 0)


def _describe(error) -> str:
    """A status error as a short kind + message: "rate_limited: …", "server_error_503: …"."""
    import openai

    status = getattr(error, "status_code", None)
    if isinstance(error, openai.RateLimitError):
        kind = "rate_limited"
    elif isinstance(error, openai.NotFoundError):
        kind = "not_found"
    elif status is not None and status >= 500:
        kind = f"server_error_{status}"
    elif status is not None:
        kind = f"http_{status}"
    else:
        kind = type(error).__name__
    message = getattr(error, "message", None) or str(error)
    return redact(f"{kind}: {message}")[:300]  # before the cut: half a key is not recognised


def _cause(error: BaseException) -> str:
    """The root of a connection error ("Connection refused"), not the client's wrapper text."""
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    return redact(str(root)) or type(root).__name__
