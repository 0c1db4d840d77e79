"""Geometry figure families; importing this package registers them all."""

from renderers.geometry import triangle  # noqa: F401
