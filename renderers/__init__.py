"""Programmatic image families whose answers come from the scene, never from the image.

Every family is a :class:`renderers.base.Renderer` registered under its kind ("geometry",
"chart") and name. ``get_renderer(kind, name)`` builds one; ``renderer_names(kind)`` lists them.
"""

from __future__ import annotations

import importlib

from mmsynth.registry import Registry

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


def get_renderer(kind: str, name: str):
    """A new instance of the family ``name`` of ``kind``; UsageError lists the known ones."""
    return registry(kind).get(name)()
