"""Geometry figure families; importing this package registers them all."""

from renderers.geometry import (  # noqa: F401
    angles,
    circle,
    coordinates,
    parallel_lines,
    polygon,
    right_triangle,
    triangle,
)
