"""Programmatic image families whose answers come from the scene, never from the image.

Every family is a :class:`renderers.base.Renderer` registered under its kind ("geometry",
"chart") and name. ``get_renderer(kind, name)`` builds one; ``renderer_names(kind)`` lists them.

This package is a library that mmsynth uses and never imports mmsynth, so it can be used (and
tested) on its own. The generic :class:`Registry` lives here for that reason; mmsynth's registries
subclass it to raise mmsynth's ``UsageError``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class UnknownName(LookupError):
    """No entry is registered under the name asked for; the message lists the known ones."""


class Registry:
    """A named collection of objects looked up by name, with errors that list the known names.

    Entries may be registered eagerly (a decorator on the object) or lazily (a "module:attr"
    string), so that listing names or building a light object never imports a heavy module such
    as torch. A failed lookup raises ``error`` (a subclass sets its own).
    """

    error: type[Exception] = UnknownName

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
        """The object registered as ``name``; raises ``error`` listing the known names."""
        try:
            obj = self._entries[name]
        except (KeyError, TypeError):
            raise self.error(
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


# One registry per kind; the kind is also the mmsynth ``--source`` name.
RENDERERS: dict[str, Registry] = {
    "geometry": Registry("geometry renderer"),
    "chart": Registry("chart renderer"),
}
_FAMILY_PACKAGES = {"geometry": "renderers.geometry", "chart": "renderers.charts"}


def register(kind: str, name: str):
    """Class decorator: register a Renderer subclass as family ``name`` of ``kind``."""

    def wrap(cls):
        cls.kind, cls.name = kind, name
        RENDERERS[kind].register(name, cls)
        return cls

    return wrap


def registry(kind: str) -> Registry:
    """The registry of ``kind``, with its families imported (and so registered)."""
    importlib.import_module(_FAMILY_PACKAGES[kind])
    return RENDERERS[kind]


def renderer_names(kind: str) -> list[str]:
    return registry(kind).names()


def get_renderer(kind: str, name: str, **options):
    """A new instance of the family ``name`` of ``kind`` (``options``: the family's, e.g.
    ``backward``); UnknownName lists the known ones."""
    return registry(kind).get(name)(**options)
