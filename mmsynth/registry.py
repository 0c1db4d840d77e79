"""Name → object registries, the one factory pattern used for sources and renderers.

Entries may be registered eagerly (a decorator on the object) or lazily (a "module:attr" string),
so that listing names or building a light source never imports a heavy module such as torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from mmsynth.errors import UsageError


class Registry:
    """A named collection of objects looked up by name, with errors that list the known names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Callable[[Any], Any] | Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        ``obj`` may be a "package.module:attr" string, imported on first ``get``.
        """
        if obj is None:
            return lambda o: self.register(name, o)
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj
        return obj

    def get(self, name: str) -> Any:
        """The object registered as ``name``; raises UsageError listing the known names."""
        try:
            obj = self._entries[name]
        except (KeyError, TypeError):
            raise UsageError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or '(none)'}"
            ) from None
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
        return obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
