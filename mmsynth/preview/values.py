"""The preview's shared vocabulary: the skip counter, and values from the run folder (which may
be anyone's) made into bounded text and plain numbers."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import mmsynth.preview as caps

Skips = Counter  # (where, reason) → how many


def _label(value: Any, limit: int = caps.MAX_LABEL) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _number(value: Any) -> float | None:
    """``value`` as a finite float when it is a JSON number, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: Any, limit: int = caps.MAX_TEXT_SHOWN) -> str:
    """Any JSON value as text for the page (strings as they are), cut at ``limit``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else _json(value, None, limit)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _json(value: Any, indent: int | None = 1, limit: int = caps.MAX_JSON_SHOWN) -> str:
    try:
        text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return "(too deeply nested to show)"
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"
