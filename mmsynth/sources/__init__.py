"""Registered producers of samples. Entries are lazy, so naming a source imports only it."""

from __future__ import annotations

from mmsynth.config import Option
from mmsynth.registry import Registry

SOURCES = Registry("source")
SOURCES.register("geometry", "mmsynth.sources.render:GeometrySource")
SOURCES.register("coco", "mmsynth.sources.coco:CocoSource")
SOURCES.register("chart", "mmsynth.sources.render:ChartSource")


def source_options(name: str) -> dict[str, Option]:
    """The options of source ``name``; UsageError lists the known sources."""
    return SOURCES.get(name).options
