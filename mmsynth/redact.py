"""Keep secrets out of everything mmsynth writes or prints: the one place that knows how.

Two kinds of secret are removed, each replaced by ``***``:

* **Known values**: the API key (the value of the environment variable a config names with
  ``llm_api_key_env``) and the credentials found in a config's URLs, remembered per process with
  :func:`watch_config` or :func:`add_secret`. A server that echoes the key in an error body, in
  any form the text keeps verbatim, is caught this way.
* **Patterns**, wherever they appear: the userinfo of any URL (``http://user:KEY@host`` →
  ``http://***@host``), the values of credential-like query parameters (``?api_key=``,
  ``&key=``, ``token=``, ...) and the credentials of ``Authorization: Bearer|Basic …`` headers
  and bare ``Bearer …`` tokens.

:func:`redact` cleans one string, :func:`redact_obj` every string (keys too) of a JSON-like
structure. They are applied at the choke points: where rejection details enter a shard's stats
and rejects file, the run record (``run.json``), the run totals and summary, the dataset card,
and every error message ``generate`` prints. Redact *before* cutting a text short: a key cut in
half is no longer recognised.

The config itself is not changed: the backend keeps using the real URL and key in memory.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

REDACTED = "***"
# Shorter values are too likely to occur by chance ("EMPTY", "test") to be replaced everywhere.
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None

# A URL's userinfo: scheme://USERINFO@host. The class stops at the end of the authority and at
# quotes, so it cannot run across JSON strings; greedy, so a password holding "@" goes whole.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s\"'<>]*@")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|password|passwd|secret"
    r"|client[_-]?secret|sig|signature)=)[^&#\s\"'<>]+")
_AUTH_HEADER = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?"
                          r"(?:(?:bearer|basic|token)\s+)?)[^\s\"',;}]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")


def add_secret(value: str | None) -> None:
    """Remember ``value`` (when it is at least MIN_SECRET_LENGTH characters) for this process:
    :func:`redact` replaces it wherever it appears."""
    global _secret_pattern
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first, so a key that contains another one goes whole.
        _secret_pattern = re.compile("|".join(
            re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def add_url_secrets(url: str | None) -> None:
    """Remember the credentials in ``url``'s userinfo: the password, a long user name (often a
    key itself), and the HTTP Basic token a client makes of them (what a server echoes)."""
    if not isinstance(url, str) or "@" not in url:
        return
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return
    if parts.username is None and parts.password is None:
        return
    user, password = parts.username or "", parts.password or ""
    for raw in {user, password}:
        add_secret(raw)
        add_secret(unquote(raw))
    basic = f"{unquote(user)}:{unquote(password)}".encode()
    add_secret(base64.b64encode(basic).decode("ascii"))


def watch_config(config: Mapping[str, Any]) -> None:
    """Remember the secrets a resolved config points at: the value of the environment variable
    named by ``llm_api_key_env`` and the credentials in any URL among its string values. Cheap
    and idempotent: every process that writes (the driver, each worker) calls it."""
    env_name = config.get("llm_api_key_env")
    if isinstance(env_name, str) and env_name:
        add_secret(os.environ.get(env_name))
    for value in config.values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, str) and "@" in item:
                add_url_secrets(item)


def redact(text: str) -> str:
    """``text`` with every known secret value, URL userinfo, credential query value and
    Authorization credential replaced by ``***``."""
    if not isinstance(text, str) or not text:
        return text
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    # Each pattern only where its anchor occurs: long texts without one (a thumbnail's base64
    # in a rejects file) are then scanned by str.find, not by every regex.
    lowered = text.lower()
    if "://" in text:
        text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    if "=" in text and ("?" in text or "&" in text or ";" in text):
        text = _QUERY_SECRET.sub(rf"\1{REDACTED}", text)
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(rf"\1{REDACTED}", text)
    if "bearer" in lowered:
        text = _BEARER.sub(rf"\1{REDACTED}", text)
    return text


def redact_obj(data: Any) -> Any:
    """A copy of a JSON-like structure (dicts, lists, tuples, strings, numbers) with every
    string, keys included, passed through :func:`redact`; other values as they are."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, Mapping):
        return {redact(k) if isinstance(k, str) else k: redact_obj(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_obj(v) for v in data]
    if isinstance(data, tuple):
        return tuple(redact_obj(v) for v in data)
    return data


def forget_all() -> None:
    """Drop the remembered values (for tests)."""
    global _secret_pattern
    with _lock:
        _secrets.clear()
        _secret_pattern = None
