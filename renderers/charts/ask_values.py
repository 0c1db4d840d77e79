"""Chart questions that read values: one value, the extrema, comparisons, ranks and orders."""

from __future__ import annotations

from itertools import pairwise

from renderers.charts.ask_common import (
    QA,
    Ctx,
    _pair,
    _series_index,
    _unique_extreme,
    a_,
    possessive,
)
from renderers.qa import pick, spoken_list
from renderers.solution import number, step, tally

# --- value retrieval ---------------------------------------------------------------------------

def q_value(c: Ctx, rng) -> QA | None:
    i, j = int(rng.integers(c.n)), _series_index(c, rng)
    cell = c.cell(i, j)
    q = pick(rng, [
        f"What {c.is_()} {cell}?",
        f"According to the chart, what {c.is_()} {cell}?",
        f"What value does the chart give for {cell}?",
        f"How much {c.is_()} {cell}?",
    ])
    if c.m["unit"] and not c.affix and rng.random() < 0.5:
        q = q[:-1] + f", in {c.m['unit']}?"
    return c.num(q, c.vals[i][j], "value_retrieval",
                 {"op": "value", "category": c.cats[i], "series": c.series[j]}, reads=1,
                 steps=[c.read_step(i, j)])


# --- extrema -----------------------------------------------------------------------------------

def _q_extreme(c: Ctx, rng, highest: bool) -> QA | None:
    j = _series_index(c, rng)
    k = _unique_extreme(c, c.col(j), highest)
    if k is None:
        return None
    hi = "highest" if highest else "lowest"
    word = pick(rng, ["highest", "largest", "greatest"] if highest
                else ["lowest", "smallest"])
    mx, scope = c.mx(j), c.scope(j)
    if c.time:
        q = pick(rng, [
            f"{c.prep.capitalize()} which {c.dim_one()} was the {mx} {hi}?",
            f"Which {c.dim_one()} had the {word} {mx}?",
            f"When did the {mx} reach its {'peak' if highest else 'lowest point'}?",
        ])
    else:
        q = pick(rng, [
            f"Which {c.dim_one()} has the {word} {mx}{scope}?",
            f"Which {c.dim_one()} shows the {hi} {mx}{scope}?",
            f"Name the {c.dim_one()} with the {word} {mx}{scope}.",
            f"According to the chart, which {c.dim_one()} has the {hi} {mx}{scope}?",
        ])
    steps = [c.extreme_step(c.col(j), c.cats, k, highest, f"{mx}{scope}")]
    return c.txt(q, c.cats[k], "extremum",
                 {"op": "argmax" if highest else "argmin", "series": c.series[j]}, steps=steps)


def q_argmax(c: Ctx, rng) -> QA | None:
    return _q_extreme(c, rng, True)


def q_argmin(c: Ctx, rng) -> QA | None:
    return _q_extreme(c, rng, False)


def q_argmax_series(c: Ctx, rng) -> QA | None:
    """Within one category, which series is highest (or lowest)."""
    if c.ns < 2:
        return None
    i = int(rng.integers(c.n))
    highest = bool(rng.random() < 0.6)
    k = _unique_extreme(c, c.vals[i], highest)
    if k is None:
        return None
    word = "highest" if highest else "lowest"
    sd = (c.sdim or {}).get("name", "series").lower()
    if c.time:
        q = pick(rng, [f"{c.prep.capitalize()} {c.cats[i]}, which {sd} had the {word} "
                       f"{c.m['phrase']}?",
                       f"Which {sd} had the {word} {c.m['phrase']} {c.prep} {c.cats[i]}?"])
    else:
        q = pick(rng, [f"For {c.cats[i]}, which {sd} shows the {word} {c.m['phrase']}?",
                       f"Which {sd} has the {word} {c.m['phrase']} for {c.cats[i]}?"])
    steps = [c.extreme_step(c.vals[i], c.series, k, highest,
                            f"{c.m['phrase']} {c.at(i)}")]
    return c.txt(q, c.series[k], "extremum",
                 {"op": "argmax_series" if highest else "argmin_series",
                  "category": c.cats[i]}, steps=steps)


# --- comparison --------------------------------------------------------------------------------

def q_compare(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    pair = _pair(c, rng, c.col(j))
    if pair is None:
        return None
    hi, lo = pair
    a, b = (hi, lo) if rng.random() < 0.5 else (lo, hi)  # a is asked about first
    mx, scope = c.mx(j), c.scope(j)
    va, vb = c.vals[a][j], c.vals[b][j]
    said = c.two_cells(a, b, j)
    form = int(rng.integers(4))
    if form == 0:
        yes = va > vb
        q = f"{c.is_().capitalize()} the {mx} {c.at(a)} higher than {c.that(b)}{scope}?"
        steps = [c.compare_step(va, vb, said, "it is higher" if yes else "it is lower")]
        return c.txt(q, "Yes" if yes else "No", "comparison",
                     {"op": "is_greater", "a": c.cats[a], "b": c.cats[b], "series": c.series[j]},
                     steps=steps)
    if form == 1:
        yes = va < vb
        q = f"{c.is_().capitalize()} the {mx} {c.at(a)} lower than {c.that(b)}{scope}?"
        steps = [c.compare_step(va, vb, said, "it is lower" if yes else "it is higher")]
        return c.txt(q, "Yes" if yes else "No", "comparison",
                     {"op": "is_less", "a": c.cats[a], "b": c.cats[b], "series": c.series[j]},
                     steps=steps)
    higher = form == 2
    word = "higher" if higher else "lower"
    winner = hi if higher else lo
    if c.time:
        q = f"Was the {mx} {word} {c.prep} {c.cats[a]} or {c.prep} {c.cats[b]}?"
    else:
        q = pick(rng, [f"Which has the {word} {mx}{scope}: {c.cats[a]} or {c.cats[b]}?",
                       f"Which {c.dim_one()} has {a_(word)} {mx}{scope}, {c.cats[a]} or "
                       f"{c.cats[b]}?"])
    steps = [c.compare_step(va, vb, said, f"{possessive(c.cats[winner])} is {word}")]
    return c.txt(q, c.cats[winner], "comparison",
                 {"op": "which_greater" if higher else "which_less", "a": c.cats[a],
                  "b": c.cats[b], "series": c.series[j]}, steps=steps)


def q_rank(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    col = c.col(j)
    i = int(rng.integers(c.n))
    if c.n < 3 or not all(c.apart(col[i], col[k]) for k in range(c.n) if k != i):
        return None
    desc = bool(rng.random() < 0.7)
    rank = 1 + sum(1 for k in range(c.n) if (col[k] > col[i] if desc else col[k] < col[i]))
    order = "highest to lowest" if desc else "lowest to highest"
    q = pick(rng, [
        f"If the {c.dims()} are ranked from {order} {c.mx(j)}{c.scope(j)}, in which position "
        f"is {c.cats[i]}?",
        f"What is the rank of {c.cats[i]} when the {c.dims()} are ordered from {order} "
        f"{c.mx(j)}{c.scope(j)}?",
    ])
    ahead = [f"{c.cats[k]} ({c.term(col[k])})" for k in range(c.n)
             if (col[k] > col[i] if desc else col[k] < col[i])]
    what = "higher" if desc else "lower"
    if ahead:
        before = (f"{len(ahead)} {'is' if len(ahead) == 1 else 'are'} {what} than its "
                  f"{c.term(col[i])}: {spoken_list(ahead)}")
    else:
        before = f"none is {what} than its {c.term(col[i])}"
    steps = [step(f"Of the {c.dims()}, {before}; so {c.cats[i]} is number "
                  f"{len(ahead)} + 1 = {rank}.", tally(len(ahead) + 1), rank)]
    return c.num(q, rank, "ranking", {"op": "rank", "category": c.cats[i],
                                      "series": c.series[j], "order": "desc" if desc else "asc"},
                 reads=None, decimals=0, unit=None, steps=steps)


def q_sort(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    col = c.col(j)
    if not 3 <= c.n <= 7:
        return None
    order = sorted(range(c.n), key=lambda k: col[k], reverse=True)
    if not all(c.apart(col[a], col[b]) for a, b in pairwise(order)):
        return None
    desc = bool(rng.random() < 0.6)
    if not desc:
        order = order[::-1]
    names = [c.cats[k] for k in order]
    word = "highest to lowest" if desc else "lowest to highest"
    q = pick(rng, [
        f"List the {c.dims()} from {word} {c.mx(j)}{c.scope(j)}.",
        f"Sort the {c.dims()} by {c.mx(j)}{c.scope(j)}, from {word}.",
        f"Order the {c.dims()} from {word} by {c.mx(j)}{c.scope(j)}.",
    ])
    steps = [step(f"{'From ' + word + ': ' if n == 0 else ''}"
                  f"{'and ' if n == len(order) - 1 else ''}{c.cats[k]} ({c.read(col[k])})"
                  f"{'.' if n == len(order) - 1 else ','}", number(col[k]), col[k])
             for n, k in enumerate(order)]
    return c.txt(q, ", ".join(names), "ranking",
                 {"op": "sort", "series": c.series[j], "order": "desc" if desc else "asc"},
                 steps=steps,
                 value=names)
