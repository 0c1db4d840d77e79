"""Questions about a chart, every answer computed from the scene's data table.

A question is only asked when the picture answers it (see ``renderers.charts.data`` for the
three readouts). With ``labels`` or ``grid`` every value is read exactly; with ``estimate`` a
numeric answer carries a tolerance (the read tolerance times how many values it combines) and
ordinal questions (max, min, comparisons, ranks, counts against a threshold, trends) are only
asked when the values involved differ by at least :meth:`Ctx.gap`, so the ordering is visible.
No question is asked about a tie.

Every item keeps ``args`` (the operation and the names it refers to) so an independent checker
can re-derive the answer from the table and verify that the question names what it uses.

This module draws the questions (``ask``) and writes the chart-to-table task; the questions are
by family in ``ask_values`` (values, extrema, comparisons), ``ask_arith`` (arithmetic, counts)
and ``ask_trends`` (trends, stacked totals), on the shared :class:`Ctx` of ``ask_common``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# The question families, by what they ask (ask_common holds what they share).
from renderers.charts.ask_arith import (
    _threshold,
    q_count_categories,
    q_count_series,
    q_count_series_greater,
    q_count_threshold,
    q_difference,
    q_mean,
    q_range,
    q_ratio,
    q_share,
    q_sum,
)
from renderers.charts.ask_common import GAP_FRACTION, QA, Ctx, a_
from renderers.charts.ask_trends import (
    q_argmax_total,
    q_change,
    q_count_rises,
    q_direction,
    q_largest_change,
    q_max_gap,
    q_share_of_total,
    q_total,
)
from renderers.charts.ask_values import (
    q_argmax,
    q_argmax_series,
    q_argmin,
    q_compare,
    q_rank,
    q_sort,
    q_value,
)
from renderers.charts.data import fmt_number
from renderers.qa import pick

# What the chart families import from here (Ctx, a_, GAP_FRACTION, _threshold live next door).
__all__ = ["GAP_FRACTION", "GENERATORS", "QA", "Ctx", "_threshold", "a_", "ask", "markdown_table",
           "q_table"]


# --- chart to table ----------------------------------------------------------------------------

def markdown_table(columns: list[str], rows: list[list[Any]], decimals: int | list[int]
                   ) -> str:
    """A markdown table; numbers at ``decimals`` places (one count, or one per column)."""
    decs = decimals if isinstance(decimals, list) else [decimals] * len(columns)

    def cell(v: Any, d: int) -> str:
        return v if isinstance(v, str) else fmt_number(v, d)

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(v, d) for v, d in zip(row, decs, strict=True)) + " |"
              for row in rows]
    return "\n".join(lines)


def q_table(c: Ctx, rng) -> QA:
    table = c.scene["table"]
    answer = markdown_table(table["columns"], table["rows"], c.d)
    q = pick(rng, [
        "Convert the chart into a data table in markdown.",
        "Extract the underlying data of the chart as a markdown table.",
        "Recreate the data table behind this chart (markdown format).",
        "Write out the data shown in the chart as a table in markdown.",
    ])
    if not c.exact:
        q += (f" Values are read off the axis: each within ±{c.tol:g} of the true value is "
              "accepted.")
    item = c.txt(q, answer, "chart_to_table", {"op": "table"},
                 value={"columns": list(table["columns"]),
                        "rows": [list(r) for r in table["rows"]]})
    if not c.exact:
        item["tolerance"] = c.tol
    return item


GENERATORS: dict[str, Callable[[Ctx, Any], QA | None]] = {
    "value": q_value, "argmax": q_argmax, "argmin": q_argmin, "argmax_series": q_argmax_series,
    "compare": q_compare, "rank": q_rank, "sort": q_sort, "difference": q_difference,
    "sum": q_sum, "mean": q_mean, "ratio": q_ratio, "range": q_range, "share": q_share,
    "count_threshold": q_count_threshold, "count_categories": q_count_categories,
    "count_series": q_count_series, "count_series_greater": q_count_series_greater,
    "direction": q_direction, "change": q_change, "largest_change": q_largest_change,
    "count_rises": q_count_rises, "max_gap": q_max_gap, "total": q_total,
    "argmax_total": q_argmax_total, "share_of_total": q_share_of_total,
}


def ask(ctx: Ctx, rng: np.random.Generator, menu: dict[str, float],
        generators: dict[str, Callable[[Ctx, Any], QA | None]] | None = None,
        table_probability: float = 0.3) -> list[QA]:
    """3–5 questions drawn from ``menu`` (generator name → weight), each kind at most once,
    plus the chart-to-table task with ``table_probability``."""
    gens = {**GENERATORS, **(generators or {})}
    names = list(menu)
    weights = np.array([menu[n] for n in names], dtype=float)
    order = rng.choice(len(names), size=len(names), replace=False, p=weights / weights.sum())
    want = int(rng.integers(3, 6))
    out: list[QA] = []
    for k in order:
        item = gens[names[int(k)]](ctx, rng)
        if item is not None:
            out.append(item)
            if len(out) == want:
                break
    if not out:  # every chart can at least be counted
        out.append(q_count_categories(ctx, rng))
    if rng.random() < table_probability:
        table = gens.get("table", q_table)(ctx, rng)
        if table is not None:
            out.insert(int(rng.integers(len(out) + 1)), table)
    return out
