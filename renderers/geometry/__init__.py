"""Geometry figure families; importing this package registers them all."""

from renderers.geometry import (  # noqa: F401
    angles,
    coordinates,
    parallel_lines,
    triangle,
)
