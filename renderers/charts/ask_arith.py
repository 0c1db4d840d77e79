"""Chart questions that compute: differences, sums, means, ratios, ranges, shares, and counts
(against a threshold, of categories, of series)."""

from __future__ import annotations

from renderers.charts.ask_common import (
    EPS,
    QA,
    Ctx,
    _pair,
    _pp,
    _series_index,
    a_,
    possessive,
)
from renderers.charts.data import (
    nice_axis,
    step_decimals,
    ticks,
)
from renderers.qa import pick, spoken_list
from renderers.solution import number, step

# --- arithmetic --------------------------------------------------------------------------------

def q_difference(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    col = c.col(j)
    pair = _pair(c, rng, col)
    if pair is None:
        return None
    a, b = pair
    mx, scope = c.mx(j), c.scope(j)
    unit = None if _pp(c) else True
    if rng.random() < 0.5:
        value = col[a] - col[b]
        if _pp(c):
            q = (f"By how many percentage points {c.is_()} the {mx} "
                 f"{c.at(a)} higher than {c.that(b)}{scope}?")
        else:
            q = pick(rng, [
                f"How much higher {c.is_()} the {mx} {c.at(a)} than {c.that(b)}{scope}?",
                f"By how much does the {mx} {c.at(a)} exceed {c.that(b)}{scope}?",
            ])
        op = "difference"
        hi, lo = a, b
    else:
        if rng.random() < 0.5:
            a, b = b, a
        value = abs(col[a] - col[b])
        pp = " in percentage points" if _pp(c) else ""
        q = (f"What is the difference{pp} between the {mx} {c.at(a)} and {c.that(b)}"
             f"{scope}?")
        op = "abs_difference"
        hi, lo = (a, b) if col[a] >= col[b] else (b, a)
    said = c.two_cells(a, b, j)
    steps = [step(f"{said}, so the difference is {c.term(col[hi])} − {c.term(col[lo])} "
                  f"{c.equals(value, unit=unit, pp=_pp(c))}.",
                  f"{number(col[hi])} - {number(col[lo])}", value)]
    backwards = col[lo] - col[hi]  # the smaller minus the larger
    mistakes = [("subtracted_backwards", [step(
        f"{said}, so the difference is {c.term(col[lo])} − {c.term(col[hi])} "
        f"{c.equals(backwards, unit=unit, pp=_pp(c))}.",
        f"{number(col[lo])} - {number(col[hi])}", backwards)])] if op == "difference" else []
    return c.num(q, value, "arithmetic", {"op": op, "a": c.cats[a], "b": c.cats[b],
                                          "series": c.series[j]}, reads=2, unit=unit,
                 steps=steps, mistakes=mistakes)


def q_sum(c: Ctx, rng) -> QA | None:
    if not c.m["additive"]:
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    mx, scope = c.mx(j), c.scope(j)
    if c.n <= 6 and rng.random() < 0.5:
        value = sum(col)
        q = pick(rng, [f"What is the total {mx} across all {c.dims()}{scope}?",
                       f"What is the sum of the {mx} over all {c.dims()} shown{scope}?",
                       f"Adding up all the {c.dims()}, what is the combined {mx}{scope}?"])
        steps = [c.sum_step(col, f"the {mx} of the {c.n} {c.dims()}{scope}")]
        return c.num(q, value, "arithmetic", {"op": "sum", "categories": list(c.cats),
                                              "series": c.series[j]}, reads=c.n, steps=steps)
    k = int(rng.integers(2, min(3, c.n) + 1))
    idx = sorted(int(x) for x in rng.choice(c.n, size=k, replace=False))
    names = [c.cats[i] for i in idx]
    listed = spoken_list(names)
    value = sum(col[i] for i in idx)
    if c.time:
        q = f"What is the total {mx} {c.prep} {listed} combined?"
    else:
        q = pick(rng, [f"What is the combined {mx} of {listed}{scope}?",
                       f"What is the total {mx} of {listed}{scope} together?"])
    what = f"the {mx} {c.prep if c.time else 'of'} {listed}{scope}"
    steps = [c.sum_step([col[i] for i in idx], what)]
    # the last one named left out of the sum (of three: one value left is no sum)
    mistakes = [("value_left_out", [c.sum_step([col[i] for i in idx[:-1]], what)])] if k > 2 \
        else []
    return c.num(q, value, "arithmetic", {"op": "sum", "categories": names,
                                          "series": c.series[j]}, reads=k, steps=steps,
                 mistakes=mistakes)


def q_mean(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    col = c.col(j)
    value = sum(col) / c.n
    mx, scope = c.mx(j), c.scope(j)
    if mx.startswith("average "):  # not "the average average price"
        q = f"Averaged over the {c.n} {c.dims()}{scope}, what is the {mx}?"
    else:
        q = pick(rng, [f"What is the average {mx} across the {c.n} {c.dims()}{scope}?",
                       f"What is the mean {mx} of the {c.dims()} shown{scope}?"])
    decimals = max(2, c.d) if c.exact else max(1, c.d)
    total = sum(col)
    steps = [c.sum_step(col, f"the {mx} of the {c.n} {c.dims()}{scope}"),
             step(f"Their mean is {c.term(total, computed=True)} ÷ {c.n} "
                  f"{c.equals(value, decimals)}.",
                  f"{number(total)} / {c.n}", value)]
    return c.num(q, value, "arithmetic", {"op": "mean", "series": c.series[j]}, reads=1,
                 decimals=decimals, steps=steps)


def q_ratio(c: Ctx, rng) -> QA | None:
    if not c.exact:
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    pos = [i for i in range(c.n) if col[i] > 0]
    if len(pos) < 2:
        return None
    a, b = (int(x) for x in rng.choice(pos, size=2, replace=False))
    value = col[a] / col[b]
    q = (f"What is the ratio of the {c.mx(j)} {c.at(a)} to {c.that(b)}{c.scope(j)}?")
    said = c.two_cells(a, b, j)
    steps = [step(f"{said}, so the ratio is {c.term(col[a])} ÷ {c.term(col[b])} "
                  f"{c.equals(value, 2, unit=None)}.", f"{number(col[a])} / {number(col[b])}",
                  value)]
    inverted = col[b] / col[a]
    mistakes = [("ratio_inverted", [step(
        f"{said}, so the ratio is {c.term(col[b])} ÷ {c.term(col[a])} "
        f"{c.equals(inverted, 2, unit=None)}.", f"{number(col[b])} / {number(col[a])}",
        inverted)])]
    return c.num(q, value, "arithmetic", {"op": "ratio", "a": c.cats[a], "b": c.cats[b],
                                          "series": c.series[j]}, reads=None, decimals=2,
                 unit=None, steps=steps, mistakes=mistakes)


def q_range(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    col = c.col(j)
    value = max(col) - min(col)
    unit = None if _pp(c) else True
    pp = ", in percentage points" if _pp(c) else ""
    q = pick(rng, [
        f"What is the difference between the highest and the lowest {c.mx(j)}{c.scope(j)}"
        f"{pp}?",
        f"How far apart are the largest and the smallest {c.mx(j)}{c.scope(j)}{pp}?",
    ])
    hi, lo = col.index(max(col)), col.index(min(col))
    steps = [step(f"The highest {c.mx(j)}{c.scope(j)} {c.is_()} {c.read(col[hi])} "
                  f"({c.cats[hi]}) and the lowest is {c.read(col[lo])} ({c.cats[lo]}), so they are "
                  f"{c.term(col[hi])} − {c.term(col[lo])} {c.equals(value, unit=unit, pp=_pp(c))}"
                  " apart.", f"{number(col[hi])} - {number(col[lo])}", value)]
    return c.num(q, value, "arithmetic", {"op": "range", "series": c.series[j]}, reads=2,
                 unit=unit, steps=steps)


def q_share(c: Ctx, rng) -> QA | None:
    """What percentage of the whole one category is (additive, all values positive)."""
    if not c.exact or not c.m["additive"] or c.affix == "%":
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    if min(col) <= 0:
        return None
    i = int(rng.integers(c.n))
    value = 100.0 * col[i] / sum(col)
    q = pick(rng, [
        f"What percentage of the total {c.mx(j)}{c.scope(j)} comes from {c.cats[i]}?",
        f"What share of the combined {c.mx(j)} of all {c.dims()}{c.scope(j)} does "
        f"{c.cats[i]} account for, in percent?",
    ])
    total = sum(col)
    steps = [c.sum_step(col, f"the {c.mx(j)} of the {c.n} {c.dims()}{c.scope(j)}"),
             step(f"{possessive(c.cats[i])} {c.value_text(col[i])} is 100 × {c.term(col[i])} ÷ "
                  f"{c.term(total, computed=True)} {c.equals(value, 1, unit='%')} of the total.",
                  f"100 * {number(col[i])} / {number(total)}", value)]
    return c.num(q, value, "arithmetic", {"op": "share", "category": c.cats[i],
                                          "series": c.series[j]}, reads=None, decimals=1,
                 unit="%", steps=steps)


# --- counting ----------------------------------------------------------------------------------

def _threshold(c: Ctx, rng, col: list[float]) -> tuple[float, int] | None:
    """A round threshold no value is close to, that splits the values (or none of them)."""
    axis = c.scene.get("axis") or nice_axis(min(col), max(col), 5, zero=False)
    step = axis["step"]
    cands = set(ticks(axis)) | {round(t + step / 2, step_decimals(step) + 1) for t in ticks(axis)}
    cands = sorted(t for t in cands if axis["min"] < t < axis["max"])
    good = []
    for t in cands:
        if all(abs(v - t) >= max(c.gap(), EPS * 10) for v in col):
            above = sum(1 for v in col if v > t)
            if 0 < above < len(col):
                good.append(t)
    if not good:
        return None
    t = good[int(rng.integers(len(good)))]
    return t, step_decimals(t)


def q_count_threshold(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    col = c.col(j)
    found = _threshold(c, rng, col)
    if found is None:
        return None
    t, td = found
    above = bool(rng.random() < 0.6)
    count = sum(1 for v in col if (v > t if above else v < t))
    tt = c.value_text(t, td)
    mx, scope = c.mx(j), c.scope(j)
    if above:
        q = pick(rng, [f"How many {c.dims()} have {a_(mx)} above {tt}{scope}?",
                       f"In how many {c.dims()} {c.is_()} the {mx} greater "
                       f"than {tt}{scope}?",
                       f"For how many {c.dims()} {c.is_()} the {mx} more than {tt}{scope}?"])
    else:
        q = pick(rng, [f"How many {c.dims()} have {a_(mx)} below {tt}{scope}?",
                       f"In how many {c.dims()} {c.is_()} the {mx} less "
                       f"than {tt}{scope}?"])
    steps = [c.count_step(col, c.cats, t, above, tt)]
    return c.num(q, count, "counting", {"op": "count_above" if above else "count_below",
                                        "threshold": t, "series": c.series[j]},
                 reads=None, decimals=0, unit=None, steps=steps)


def q_count_categories(c: Ctx, rng) -> QA | None:
    q = pick(rng, [f"How many {c.dims()} are shown in the chart?",
                   f"How many {c.dims()} does the chart compare?",
                   f"How many different {c.dims()} appear in the chart?"])
    return c.num(q, c.n, "counting", {"op": "count_categories"}, reads=None, decimals=0,
                 unit=None, steps=[c.tally_step(list(c.cats), f"{c.dims()} on the chart")])


def q_count_series(c: Ctx, rng) -> QA | None:
    if c.ns < 2:
        return None
    sd = (c.sdim or {}).get("plural", "series")
    q = pick(rng, [f"How many {sd} are compared in the chart?",
                   f"How many {sd} does the legend list?"])
    return c.num(q, c.ns, "counting", {"op": "count_series"}, reads=None, decimals=0, unit=None,
                 steps=[c.tally_step(list(c.series), f"{sd} in the legend")])


def q_count_series_greater(c: Ctx, rng) -> QA | None:
    """In how many categories one series beats another."""
    if c.ns < 2:
        return None
    a, b = (int(x) for x in rng.choice(c.ns, size=2, replace=False))
    if not all(c.apart(row[a], row[b]) for row in c.vals):
        return None
    count = sum(1 for row in c.vals if row[a] > row[b])
    sa, sb = c.series[a], c.series[b]
    if c.time:
        q = f"In how many {c.dims()} was the {c.m['phrase']} of {sa} higher than that of {sb}?"
    else:
        q = (f"For how many {c.dims()} is the {c.m['phrase']} for {sa} higher than for {sb}?"
             if (c.sdim or {}).get("key") != "years" else
             f"For how many {c.dims()} was the {c.m['phrase']} higher in {sa} than in {sb}?")
    wins = [f"{cat} ({c.term(row[a])} against {c.term(row[b])})"
            for cat, row in zip(c.cats, c.vals, strict=True) if row[a] > row[b]]
    steps = [c.tally_step(wins, f"{c.dims()} where {sa} is higher than {sb}")]
    return c.num(q, count, "counting", {"op": "count_series_greater", "a": sa, "b": sb},
                 reads=None, decimals=0, unit=None, steps=steps)
