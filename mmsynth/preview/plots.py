"""The run's statistics as matplotlib plots (no pyplot, no display), embedded as PNGs."""

from __future__ import annotations

import io
from collections import Counter
from statistics import median

import mmsynth.preview as caps
from mmsynth.preview.figures import data_uri
from mmsynth.preview.read import RunView
from mmsynth.preview.values import _label


def _plot(draw, title: str, height: float = 3.2) -> dict[str, str]:
    """A matplotlib figure (no pyplot, no display) as an embedded PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw(ax)
    # Labels come from the run folder: never parsed as mathtext (a stray ``$`` would raise).
    ax.set_title(title, fontsize=11, parse_math=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return {"src": data_uri(buffer.getvalue(), "png"), "title": title}


def _barh(items: list[tuple[str, int]], colours: list[str] | None = None):
    def draw(ax):
        labels = [_label(k) for k, _ in items][::-1]
        values = [v for _, v in items][::-1]
        bars = ax.barh(range(len(items)), values, color=(colours or ["#4c72b0"] * len(items))[::-1])
        ax.set_yticks(range(len(items)), labels, fontsize=8, parse_math=False)
        ax.bar_label(bars, fontsize=8, padding=2)
        if values and min(values) > 0 and max(values) / min(values) > 50:
            ax.set_xscale("log")  # a few rejections next to thousands kept stay visible
            ax.set_xlim(0.5, max(values) * 4)
        else:
            ax.margins(x=0.15)
    return draw


def _hist(values: list[float], xlabel: str, bins: int = 30, log_y: bool = False):
    def draw(ax):
        ax.hist(values, bins=bins, color="#55a868", edgecolor="white")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        if log_y:
            ax.set_yscale("log")
    return draw


def plots(view: RunView) -> tuple[list[dict[str, str]], list[str]]:
    """(plots as {src, title}, notes for statistics that have no data in this run)."""
    tags, notes = [], []
    reasons = Counter(view.totals.get("rejections", {}))
    top = reasons.most_common(caps.TOP_REASONS)
    if len(reasons) > caps.TOP_REASONS:
        top.append((f"{len(reasons) - caps.TOP_REASONS} other reasons",
                    sum(reasons.values()) - sum(n for _, n in top)))
    items = [("kept", int(view.totals.get("kept", 0))), *top]
    tags.append(_plot(_barh(items, ["#4c72b0"] + ["#c44e52"] * len(top)),
                      f"kept vs rejected by reason ({view.totals.get('kept', 0)} kept, "
                      f"{view.totals.get('rejected', 0)} rejected)",
                      height=max(2.2, 0.9 + 0.28 * len(items))))
    kinds = view.kinds.most_common()
    tags.append(_plot(_barh(kinds), "kept samples per source / generator / type",
                      height=max(2.2, 0.9 + 0.28 * len(kinds))))
    if view.clip_scores:
        tags.append(_plot(_hist(view.clip_scores, "CLIP score (cosine similarity)"),
                          f"CLIP scores of {len(view.clip_scores)} kept samples"))
    else:
        notes.append("No CLIP scores in this run.")
    if view.answer_words:
        # A log scale only for a long tail (tables and descriptions next to one-word answers).
        long_tail = max(view.answer_words) > 5 * max(1.0, median(view.answer_words))
        tags.append(_plot(_hist(view.answer_words, "words per answer (gpt turn)",
                                log_y=long_tail),
                          f"answer lengths ({len(view.answer_words)} answers)"))
    return tags, notes

