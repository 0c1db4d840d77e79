"""Random drawing styles shared by families, so no two figures look like one template."""

from __future__ import annotations

from typing import Any

import numpy as np

from renderers.qa import pick

FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", "STIXGeneral")
INKS = ("#1f1f1f", "#000000", "#333333", "#1b2a49", "#2b2b2b")
ACCENTS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#003f88", "#b5179e", "#0b6e4f", "#c1121f")
FILLS = ("#dbe9f6", "#fde2e4", "#e2f0cb", "#fff1c1", "#e8e0f5", "#d8f3f0", "#f1f1f1")
PAPERS = ("#ffffff", "#ffffff", "#fbfbf8", "#fdfcf5", "#f7f9fc")
GREYS = ("#e6e6e6", "#f0f0f0", "#dcdcdc")


def sample_style(rng: np.random.Generator, mono_probability: float = 0.5) -> dict[str, Any]:
    """Line widths, colours, fonts and sizes for one figure.

    A monochrome style is the black-and-white textbook look (and encodes as a greyscale PNG).
    """
    mono = bool(rng.random() < mono_probability)
    ink = pick(rng, INKS)
    return {
        "mono": mono,
        "ink": "#000000" if mono else ink,
        "accent": "#000000" if mono else pick(rng, ACCENTS),
        "fill": (pick(rng, GREYS) if rng.random() < 0.4 else None) if mono
        else (pick(rng, FILLS) if rng.random() < 0.6 else None),
        "paper": "#ffffff" if mono else pick(rng, PAPERS),
        "line_width": round(float(rng.uniform(1.2, 3.2)), 2),
        "font": pick(rng, FONTS),
        "font_size": int(rng.integers(11, 17)),
        "bold_labels": bool(rng.random() < 0.3),
        "italic_points": bool(rng.random() < 0.35),
    }
