"""Composed chart questions (issue 18, item 2): two or three facts of the table chained, asked
after a chart's own questions when a job mixes difficulties (the family's ``composed``).

- ``mean_of_two`` (2 steps): two values added, then halved.
- ``mean_gap`` (3 steps): a series added up, its mean, then how far one value lies from it.
- ``total_gap`` (3 steps): two series each added up, then the difference of their totals.

Only where the chart prints its values or puts them on gridlines: chained estimates would stack
their tolerances until the answer said little.
"""

from __future__ import annotations

import numpy as np

from renderers.charts.ask_common import QA, Ctx, _pp, _series_index, cap
from renderers.qa import is_integral, pick
from renderers.solution import number, step

# At most this many composed questions per chart, after its own.
PER_CHART = 2


def composed_questions(c: Ctx, rng: np.random.Generator) -> list[QA]:
    if not c.exact:
        return []
    makers = [q_mean_of_two, q_mean_gap, q_total_gap]
    out: list[QA] = []
    for k in rng.permutation(len(makers)):
        item = makers[int(k)](c, rng)
        if item is not None:
            out.append(item)
            if len(out) == PER_CHART:
                break
    return out


def q_mean_of_two(c: Ctx, rng) -> QA | None:
    if c.n < 3:  # of two categories it is the plain mean
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    a, b = sorted(int(x) for x in rng.choice(c.n, size=2, replace=False))
    total = col[a] + col[b]
    value = total / 2
    what = f"{c.cell(a, j)} and {c.that(b)}"
    q = pick(rng, [f"What is the average of {what}?",
                   f"Taking {what}, what is their mean?"])
    decimals = c.d + 1  # half of a sum of values at d places: exact at d + 1
    steps = [c.sum_step([col[a], col[b]], what),
             step(f"Their average is {c.term(total, computed=True)} ÷ 2 "
                  f"{c.equals(value, decimals)}.", f"{number(total)} / 2", value)]
    return c.num(q, value, "arithmetic", {"op": "mean_of_two", "a": c.cats[a], "b": c.cats[b],
                                          "series": c.series[j]}, reads=2, decimals=decimals,
                 steps=steps)


def q_mean_gap(c: Ctx, rng) -> QA | None:
    if c.n < 3:
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    i = int(rng.integers(c.n))
    total = sum(col)
    mean = total / c.n
    value = abs(col[i] - mean)
    if value < 10.0 ** -(c.d + 2):  # on the mean: nothing to ask
        return None
    mx, scope = c.mx(j), c.scope(j)
    decimals = max(2, c.d)
    unit = None if _pp(c) else True
    q = pick(rng, [f"How far is {c.cell(i, j)} from the mean over the {c.n} "
                   f"{c.dims()}{scope}?",
                   f"By how much does {c.cell(i, j)} differ from the average over the {c.n} "
                   f"{c.dims()}{scope}?"])
    hi, lo = max(col[i], mean), min(col[i], mean)
    side = "above" if col[i] > mean else "below"
    # the mean as its step wrote it (a whole number without decimals)
    said = c.value_text(mean, 0 if is_integral(mean) else decimals)
    steps = [c.sum_step(col, f"the {mx} of the {c.n} {c.dims()}{scope}"),
             step(f"Their mean is {c.term(total, computed=True)} ÷ {c.n} "
                  f"{c.equals(mean, decimals)}.", f"{number(total)} / {c.n}", mean),
             step(f"{cap(c.cell(i, j))} {c.is_()} {c.read(col[i])}, {side} the mean by "
                  f"{said if hi == mean else c.term(hi)} − {said if lo == mean else c.term(lo)} "
                  f"{c.equals(value, decimals, unit=unit, pp=_pp(c))}.",
                  f"{number(hi)} - {number(lo)}", value)]
    return c.num(q, value, "arithmetic", {"op": "mean_gap", "category": c.cats[i],
                                          "series": c.series[j]}, reads=1, decimals=decimals,
                 unit=unit, steps=steps)


def q_total_gap(c: Ctx, rng) -> QA | None:
    if c.ns < 2 or not c.m["additive"]:
        return None
    j, k = (int(x) for x in rng.choice(c.ns, size=2, replace=False))
    totals = [sum(c.col(j)), sum(c.col(k))]
    if not c.apart(*totals):
        return None
    hi, lo = (j, k) if totals[0] > totals[1] else (k, j)
    t_hi, t_lo = sum(c.col(hi)), sum(c.col(lo))
    value = t_hi - t_lo
    phrase = c.m["phrase"]

    def of(s: int) -> str:  # "of Apex Corp" on a time axis, else the series' scope
        return f"of {c.series[s]}" if c.time else c.scope(s).strip()

    q = pick(rng, [f"Across all the {c.dims()}, how much greater is the total {phrase} "
                   f"{of(hi)} than the total {of(lo)}?",
                   f"Adding up every {c.dim_one()}, by how much does the total {phrase} "
                   f"{of(hi)} exceed that {of(lo)}?"])
    unit = None if _pp(c) else True
    steps = [c.sum_step(c.col(hi), f"the {phrase} {of(hi)}"),
             c.sum_step(c.col(lo), f"the {phrase} {of(lo)}"),
             step(f"The totals differ by {c.term(t_hi, computed=True)} − "
                  f"{c.term(t_lo, computed=True)} {c.equals(value, unit=unit, pp=_pp(c))}.",
                  f"{number(t_hi)} - {number(t_lo)}", value)]
    return c.num(q, value, "arithmetic", {"op": "total_gap", "a": c.series[hi],
                                          "b": c.series[lo]}, reads=2 * c.n, unit=unit,
                 steps=steps)
