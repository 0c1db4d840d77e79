"""Random chart styles: themes, palettes, fonts, grids, spines, legends, markers.

A style is plain JSON data in the scene. It changes how a chart looks, never what it says,
except for two fields the questions rely on: ``grid`` (value-axis gridlines, needed to read
values off gridlines) and ``data_labels`` (set by each family from the scene's readout).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from renderers.qa import pick

PALETTES: dict[str, tuple[str, ...]] = {
    "tab10": ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#7f7f7f", "#bcbd22", "#17becf"),
    "tableau": ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                "#ff9da7", "#9c755f", "#bab0ac"),
    "set2": ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494",
             "#b3b3b3"),
    "okabe_ito": ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
                  "#000000"),
    "dark2": ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
              "#666666"),
    "office": ("#4472c4", "#ed7d31", "#a5a5a5", "#ffc000", "#5b9bd5", "#70ad47", "#264478",
               "#9e480e"),
    "pastel": ("#8fb9e0", "#f4a582", "#a6d9a0", "#d4a6e0", "#f7d774", "#9fd8d3", "#f2a0b6",
               "#c9c9c9"),
    "viridis": ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725", "#31688e", "#35b779",
                "#90d743"),
    "warm": ("#b2182b", "#ef8a62", "#fddbc7", "#67a9cf", "#2166ac", "#d6604d", "#f4a582",
             "#92c5de"),
}

FONTS = ("DejaVu Sans", "DejaVu Serif", "STIXGeneral", "DejaVu Sans Mono")
FONT_WEIGHTS = (0.4, 0.25, 0.2, 0.15)
THEMES = ("classic", "minimal", "ggplot", "seaborn", "office", "dark")
MARKERS = ("o", "s", "^", "D", "v", "p")


def sample_chart_style(rng: np.random.Generator, *, n_colors: int,
                       grid: bool | None = None, mono_probability: float = 0.08
                       ) -> dict[str, Any]:
    """A chart style with ``n_colors`` distinct series/slice colours.

    ``grid`` forces value-axis gridlines on or off (None: the theme decides).
    """
    theme = pick(rng, THEMES)
    mono = bool(rng.random() < mono_probability) and theme != "dark"
    st: dict[str, Any] = {"theme": theme, "mono": mono}
    if theme == "dark":
        st.update(paper=pick(rng, ("#1e1e24", "#22272e", "#111111")), ink="#e8e8e8",
                  axis_color="#bbbbbb", grid_color="#4a4a52")
        st["panel"] = st["paper"]
    elif theme == "ggplot":
        st.update(paper="#ffffff", panel="#ebebeb", ink="#333333", axis_color="#555555",
                  grid_color="#ffffff")
    else:
        paper = pick(rng, ("#ffffff", "#ffffff", "#ffffff", "#fbfbf8", "#f7f9fc"))
        st.update(paper=paper, panel=paper, ink=pick(rng, ("#000000", "#222222", "#333333",
                                                          "#1b2a49")),
                  axis_color=pick(rng, ("#000000", "#444444", "#777777")),
                  grid_color=pick(rng, ("#d9d9d9", "#e5e5e5", "#cccccc", "#bfbfbf")))
    if mono:
        st.update(paper="#ffffff", panel="#ffffff" if theme != "ggplot" else "#ebebeb",
                  ink="#000000", axis_color="#000000")
        st["grid_color"] = "#ffffff" if theme == "ggplot" else "#c8c8c8"
        # Evenly spaced greys, so series stay distinguishable without colour.
        levels = np.linspace(0.12, 0.78, max(n_colors, 2))
        if rng.random() < 0.5:
            levels = levels[::-1]
        colors = ["#" + f"{int(round(v * 255)):02x}" * 3 for v in levels]
    else:
        palette = pick(rng, sorted(PALETTES))
        colors = list(PALETTES[palette])
        st["palette"] = palette
        if rng.random() < 0.5:
            start = int(rng.integers(len(colors)))
            colors = colors[start:] + colors[:start]
    if n_colors > len(colors):
        colors = (colors * (n_colors // len(colors) + 1))
    st["colors"] = colors[:max(n_colors, 1)]
    default_grid = {"classic": 0.4, "minimal": 0.9, "ggplot": 1.0, "seaborn": 0.8,
                    "office": 0.95, "dark": 0.8}[theme]
    st["grid"] = bool(rng.random() < default_grid) if grid is None else bool(grid)
    st["grid_dash"] = pick(rng, ("solid", "solid", "dashed", "dotted"))
    if grid:  # values are read off the gridlines: make them plain to see
        st["grid_dash"] = pick(rng, ("solid", "dashed"))
        if theme not in ("ggplot", "dark"):
            st["grid_color"] = pick(rng, ("#bfbfbf", "#b0b0b0", "#c8c8c8", "#a8a8a8"))
    st["grid_width"] = round(float(rng.uniform(0.6, 1.2)), 2)
    st["spines"] = {"classic": pick(rng, ("box", "open")), "minimal": "none",
                    "ggplot": "none", "seaborn": pick(rng, ("open", "none")),
                    "office": "bottom", "dark": pick(rng, ("open", "none"))}[theme]
    st["ticks"] = "none" if st["spines"] in ("none", "bottom") else pick(rng, ("out", "out", "in"))
    st["font"] = FONTS[int(rng.choice(len(FONTS), p=FONT_WEIGHTS))]
    # Sizes from a short list (points, at 448 px): every distinct size is a separate set of
    # cached text stamps, so a continuous choice would make nearly every label a cache miss.
    st["font_size"] = float(pick(rng, (8.0, 9.0, 10.0)))
    st["title_size"] = st["font_size"] + float(pick(rng, (2.0, 4.0)))
    st["title_bold"] = bool(rng.random() < 0.6)
    st["title_align"] = pick(rng, ("center", "center", "left"))
    st["bar_width"] = round(float(rng.uniform(0.55, 0.85)), 2)
    st["edge"] = pick(rng, (None, None, "ink", "paper")) if not mono else "ink"
    st["line_width"] = round(float(rng.uniform(1.4, 2.8)), 2)
    st["marker"] = pick(rng, MARKERS) if rng.random() < 0.75 else None
    st["marker_size"] = round(float(rng.uniform(4.0, 7.0)), 1)
    st["thousands"] = bool(rng.random() < 0.7)
    st["affix_ticks"] = bool(rng.random() < 0.6)
    st["affix_labels"] = bool(rng.random() < 0.8)
    st["label_inside"] = bool(rng.random() < 0.3)
    st["legend"] = pick(rng, ("top", "top", "bottom", "right", "right", "inside"))
    return st


def luminance(color: str) -> float:
    """Relative luminance of a "#rrggbb" colour (0 black … 1 white)."""
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(color: str) -> str:
    """Black or white, whichever reads better on ``color``."""
    return "#000000" if luminance(color) > 0.5 else "#ffffff"
