"""What every chart family shares: rendering with the label check, questions, captions, titles."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from renderers.base import Renderer
from renderers.charts.ask import Ctx, ask
from renderers.charts.data import Dim, ImpossibleScene, Measure
from renderers.charts.layout import check_labels
from renderers.qa import pick

READOUT_WEIGHTS = {"labels": 0.4, "grid": 0.25, "estimate": 0.35}


class ChartRenderer(Renderer):
    """A chart family: ``sample_scene`` → ``render`` (drawn, then every label checked) →
    ``questions`` (from the scene's table)."""

    # 2: worked solutions for the questions that read or compute; 3: for all but the table;
    # 4: qa[].difficulty
    version = "4"
    kind_text: ClassVar[str] = "chart"  # "vertical bar chart", used in captions
    menu: ClassVar[dict[str, float]] = {}
    table_probability: ClassVar[float] = 0.3

    def render(self, scene, canvas) -> bytes:
        self.draw(scene, canvas)
        png = canvas.png(self.png_mode(scene))
        check_labels(canvas.text_boxes, canvas.size)
        return png

    def questions(self, scene, rng):
        ctx = Ctx(scene)
        return self.with_composed(ctx, rng, ask(ctx, rng, self.menu,
                                                table_probability=self.table_probability))

    def with_composed(self, ctx, rng, items: list) -> list:
        """``items`` and, when the family composes, its composed questions after them."""
        if not self.composed:
            return items
        from renderers.charts.ask_composed import composed_questions

        return items + composed_questions(ctx, rng)

    def caption(self, scene) -> str:
        m, dim = scene["measure"], scene["dim"]
        n = len(scene["table"]["rows"])
        what = f"{m['phrase']} for {n} {dim['plural']}"
        series = scene["table"]["columns"][1:]
        if len(series) > 1:
            what += f", one series per {scene['series_dim']['name'].lower()} ({', '.join(series)})"
        title = f" titled \"{scene['title']}\"" if scene.get("title") else ""
        return f"a {self.kind_text}{title} showing {what}"


def pick_readout(rng: np.random.Generator, weights: dict[str, float] | None = None) -> str:
    w = weights or READOUT_WEIGHTS
    names = list(w)
    p = np.array([w[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_count(rng: np.random.Generator, lo: int, hi: int) -> int:
    if hi < lo:
        raise ImpossibleScene(f"empty range [{lo}, {hi}]")
    return int(rng.integers(lo, hi + 1))


def title_for(rng: np.random.Generator, m: Measure, dim: Dim, cats: list[str],
              entity: str | None = None) -> str | None:
    """A realistic chart title (or none)."""
    if rng.random() < 0.08:
        return None
    dname = dim.name.lower()
    year = str(int(rng.integers(2012, 2025)))
    unit = f" ({m.unit})" if m.unit and rng.random() < 0.35 else ""
    if dim.time:
        span = f"{cats[0]}–{cats[-1]}"
        forms = [f"{m.name}{unit}, {span}", f"{m.name} by {dname}{unit}",
                 f"{m.name} over time{unit}"]
        if dim.key == "months":
            forms.append(f"Monthly {m.phrase}{unit}, {year}")
        if entity:
            forms += [f"{m.name} in {entity}{unit}", f"{entity}: {m.phrase}{unit}, {span}"]
    else:
        forms = [f"{m.name} by {dname}{unit}", f"{m.name} by {dname}, {year}{unit}",
                 f"{m.name} per {dname}{unit}", f"{m.name} across {len(cats)} {dim.plural}",
                 f"{m.name}: {len(cats)} {dim.plural} compared"]
    title = pick(rng, forms)
    return title[0].upper() + title[1:]


def axis_labels(rng: np.random.Generator, m: Measure, dim: Dim) -> tuple[str | None, str | None]:
    """(category axis label, value axis label), each possibly omitted."""
    cat = dim.name if rng.random() < 0.6 else None
    r = rng.random()
    if r < 0.6:
        val = f"{m.name} ({m.unit})" if m.unit else m.name
    elif r < 0.8 and m.unit:
        # "million USD" → "Million USD"; symbols and abbreviations ("mm", "TWh") stay as they are.
        first = m.unit.split(" ")[0]
        val = m.unit[0].upper() + m.unit[1:] if len(first) > 3 and first.islower() else m.unit
    else:
        val = None
    return cat, val


def scene_common(m: Measure, dim: Dim) -> dict[str, Any]:
    from renderers.charts.data import dim_record, measure_record

    return {"measure": measure_record(m), "dim": dim_record(dim)}
