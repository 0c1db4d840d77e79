"""Questions about a chart, every answer computed from the scene's data table.

A question is only asked when the picture answers it (see ``renderers.charts.data`` for the
three readouts). With ``labels`` or ``grid`` every value is read exactly; with ``estimate`` a
numeric answer carries a tolerance (the read tolerance times how many values it combines) and
ordinal questions (max, min, comparisons, ranks, counts against a threshold, trends) are only
asked when the values involved differ by at least :meth:`Ctx.gap`, so the ordering is visible.
No question is asked about a tie.

Every item keeps ``args`` (the operation and the names it refers to) so an independent checker
can re-derive the answer from the table and verify that the question names what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

from renderers.charts.data import (
    fmt_affixed,
    fmt_number,
    nice_axis,
    step_decimals,
    table_parts,
    ticks,
)
from renderers.qa import numeric_qa, pick, text_qa

QA = dict[str, Any]
EPS = 1e-9
GAP_FRACTION = 0.04  # estimate mode: values this far apart (of the axis span) look different


class Ctx:
    """The scene's table and what can be read from its picture."""

    def __init__(self, scene: dict[str, Any]):
        self.scene = scene
        self.cats, self.series, self.vals = table_parts(scene["table"])
        self.n, self.ns = len(self.cats), len(self.series)
        self.m = scene["measure"]
        self.dim = scene["dim"]
        self.sdim = scene.get("series_dim")
        self.d = int(scene["decimals"])
        r = scene["readout"]
        self.mode = r["mode"]
        self.exact = self.mode != "estimate"
        self.tol = float(r.get("tolerance") or 0.0)
        axis = scene.get("axis")
        self.span = (axis["max"] - axis["min"]) if axis else 0.0
        self.affix = self.m["affix"]
        self.time = bool(self.dim.get("time"))
        self.prep = "on" if self.dim.get("key") == "weekdays" else "in"
        self.stacked = bool(scene.get("stacked"))

    # --- readability ---------------------------------------------------------------------------

    def gap(self, combined: int = 1) -> float:
        """The smallest difference between two readings (each combining ``combined`` values)
        that the picture shows unambiguously."""
        if self.exact:
            return 10.0 ** -self.d / 2
        return combined * max(self.tol, GAP_FRACTION * self.span)

    def apart(self, a: float, b: float, combined: int = 1) -> bool:
        return abs(a - b) >= self.gap(combined) - EPS

    def col(self, j: int) -> list[float]:
        return [row[j] for row in self.vals]

    # --- phrases -------------------------------------------------------------------------------

    def dim_one(self) -> str:
        return self.dim["name"].lower()

    def dims(self) -> str:
        return self.dim["plural"]

    def mx(self, j: int) -> str:
        """The measure, naming the series when the x axis is time ("revenue of Apex Corp")."""
        if self.ns > 1 and self.time:
            return f"{self.m['phrase']} of {self.series[j]}"
        return self.m["phrase"]

    def scope(self, j: int) -> str:
        """Suffix naming the series on a nominal x axis (" in 2021", " for Online")."""
        if self.ns == 1 or self.time:
            return ""
        s = self.series[j]
        return f" in {s}" if (self.sdim or {}).get("key") == "years" else f" for {s}"

    def at(self, i: int) -> str:
        c = self.cats[i]
        return f"{self.prep} {c}" if self.time else f"of {c}"

    def that(self, i: int) -> str:
        c = self.cats[i]
        return f"that {self.prep} {c}" if self.time else f"that of {c}"

    def cell(self, i: int, j: int) -> str:
        return f"the {self.mx(j)} {self.at(i)}{self.scope(j)}"

    def is_(self) -> str:
        if plural(self.m["phrase"]):
            return "were" if self.time else "are"
        return "was" if self.time else "is"

    def value_text(self, v: float, decimals: int | None = None) -> str:
        return fmt_affixed(v, self.d if decimals is None else decimals, self.affix)

    # --- items ---------------------------------------------------------------------------------

    def num(self, question: str, value: float, type: str, args: dict[str, Any], *,
            reads: int | None, decimals: int | None = None, unit: str | bool | None = True
            ) -> QA | None:
        """A numeric item, or None when only a uselessly loose estimate is possible.

        ``reads``: how many values read off the chart the answer combines (its tolerance is
        ``reads`` × the read tolerance in estimate mode); None when the answer does not depend
        on reading values (a count)."""
        unit = self.affix if unit is True else (unit or None)
        tol = None
        if not self.exact and reads is not None:
            tol = _clean(self.tol * reads)
            if tol > 0.5 * abs(value):
                return None  # an estimate that loose says nothing about this answer
        item = numeric_qa(question, value, type=type, unit=unit,
                          decimals=self.d if decimals is None else decimals, tolerance=tol)
        item["args"] = args
        return item

    def txt(self, question: str, answer: str, type: str, args: dict[str, Any],
            value: Any = None) -> QA:
        item = text_qa(question, answer, type=type, value=value)
        item["args"] = args
        return item


def plural(phrase: str) -> bool:
    """Whether a measure phrase is a plural noun ("exports", "CO2 emissions", "sales")."""
    head = phrase.split(" of ")[0].split()[-1]
    return head.endswith("s") and not head.endswith("ss")


def a_(phrase: str) -> str:
    """The phrase with its indefinite article ("an average", "a number"; none for plurals)."""
    if plural(phrase):
        return phrase
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _clean(x: float) -> float | int:
    r = round(float(x), 6)
    return int(r) if r == int(r) else r


def _series_index(c: Ctx, rng: np.random.Generator) -> int:
    return int(rng.integers(c.ns))


def _unique_extreme(c: Ctx, values: list[float], highest: bool, combined: int = 1) -> int | None:
    """Index of the unique max (or min), if it beats the runner-up visibly."""
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=highest)
    if len(order) < 2 or not c.apart(values[order[0]], values[order[1]], combined):
        return None
    return order[0]


def _pair(c: Ctx, rng: np.random.Generator, values: list[float], combined: int = 1
          ) -> tuple[int, int] | None:
    """Two category indices whose values differ visibly, the larger first."""
    pairs = [(a, b) for a in range(len(values)) for b in range(len(values))
             if a != b and values[a] > values[b] and c.apart(values[a], values[b], combined)]
    if not pairs:
        return None
    return pairs[int(rng.integers(len(pairs)))]


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
                 {"op": "value", "category": c.cats[i], "series": c.series[j]}, reads=1)


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
    return c.txt(q, c.cats[k], "extremum",
                 {"op": "argmax" if highest else "argmin", "series": c.series[j]})


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
    return c.txt(q, c.series[k], "extremum",
                 {"op": "argmax_series" if highest else "argmin_series",
                  "category": c.cats[i]})


# --- comparison --------------------------------------------------------------------------------

def q_compare(c: Ctx, rng) -> QA | None:
    j = _series_index(c, rng)
    pair = _pair(c, rng, c.col(j))
    if pair is None:
        return None
    hi, lo = pair
    a, b = (hi, lo) if rng.random() < 0.5 else (lo, hi)  # a is asked about first
    mx, scope = c.mx(j), c.scope(j)
    form = int(rng.integers(4))
    if form == 0:
        yes = c.vals[a][j] > c.vals[b][j]
        q = f"{c.is_().capitalize()} the {mx} {c.at(a)} higher than {c.that(b)}{scope}?"
        return c.txt(q, "Yes" if yes else "No", "comparison",
                     {"op": "is_greater", "a": c.cats[a], "b": c.cats[b], "series": c.series[j]})
    if form == 1:
        yes = c.vals[a][j] < c.vals[b][j]
        q = f"{c.is_().capitalize()} the {mx} {c.at(a)} lower than {c.that(b)}{scope}?"
        return c.txt(q, "Yes" if yes else "No", "comparison",
                     {"op": "is_less", "a": c.cats[a], "b": c.cats[b], "series": c.series[j]})
    higher = form == 2
    word = "higher" if higher else "lower"
    winner = hi if higher else lo
    if c.time:
        q = f"Was the {mx} {word} {c.prep} {c.cats[a]} or {c.prep} {c.cats[b]}?"
    else:
        q = pick(rng, [f"Which has the {word} {mx}{scope}: {c.cats[a]} or {c.cats[b]}?",
                       f"Which {c.dim_one()} has {a_(word)} {mx}{scope}, {c.cats[a]} or "
                       f"{c.cats[b]}?"])
    return c.txt(q, c.cats[winner], "comparison",
                 {"op": "which_greater" if higher else "which_less", "a": c.cats[a],
                  "b": c.cats[b], "series": c.series[j]})


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
    return c.num(q, rank, "ranking", {"op": "rank", "category": c.cats[i],
                                      "series": c.series[j], "order": "desc" if desc else "asc"},
                 reads=None, decimals=0, unit=None)


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
    return c.txt(q, ", ".join(names), "ranking",
                 {"op": "sort", "series": c.series[j], "order": "desc" if desc else "asc"},
                 value=names)


# --- arithmetic --------------------------------------------------------------------------------

def _pp(c: Ctx) -> bool:
    """Differences of percentages are percentage points."""
    return c.affix == "%"


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
    else:
        if rng.random() < 0.5:
            a, b = b, a
        value = abs(col[a] - col[b])
        pp = " in percentage points" if _pp(c) else ""
        q = (f"What is the difference{pp} between the {mx} {c.at(a)} and {c.that(b)}"
             f"{scope}?")
        op = "abs_difference"
    return c.num(q, value, "arithmetic", {"op": op, "a": c.cats[a], "b": c.cats[b],
                                          "series": c.series[j]}, reads=2, unit=unit)


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
        return c.num(q, value, "arithmetic", {"op": "sum", "categories": list(c.cats),
                                              "series": c.series[j]}, reads=c.n)
    k = int(rng.integers(2, min(3, c.n) + 1))
    idx = sorted(int(x) for x in rng.choice(c.n, size=k, replace=False))
    names = [c.cats[i] for i in idx]
    listed = " and ".join(names) if k == 2 else f"{', '.join(names[:-1])} and {names[-1]}"
    value = sum(col[i] for i in idx)
    if c.time:
        q = f"What is the total {mx} {c.prep} {listed} combined?"
    else:
        q = pick(rng, [f"What is the combined {mx} of {listed}{scope}?",
                       f"What is the total {mx} of {listed}{scope} together?"])
    return c.num(q, value, "arithmetic", {"op": "sum", "categories": names,
                                          "series": c.series[j]}, reads=k)


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
    return c.num(q, value, "arithmetic", {"op": "mean", "series": c.series[j]}, reads=1,
                 decimals=max(2, c.d) if c.exact else max(1, c.d))


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
    return c.num(q, value, "arithmetic", {"op": "ratio", "a": c.cats[a], "b": c.cats[b],
                                          "series": c.series[j]}, reads=None, decimals=2,
                 unit=None)


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
    return c.num(q, value, "arithmetic", {"op": "range", "series": c.series[j]}, reads=2,
                 unit=unit)


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
    return c.num(q, value, "arithmetic", {"op": "share", "category": c.cats[i],
                                          "series": c.series[j]}, reads=None, decimals=1,
                 unit="%")


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
    return c.num(q, count, "counting", {"op": "count_above" if above else "count_below",
                                        "threshold": t, "series": c.series[j]},
                 reads=None, decimals=0, unit=None)


def q_count_categories(c: Ctx, rng) -> QA | None:
    q = pick(rng, [f"How many {c.dims()} are shown in the chart?",
                   f"How many {c.dims()} does the chart compare?",
                   f"How many different {c.dims()} appear in the chart?"])
    return c.num(q, c.n, "counting", {"op": "count_categories"}, reads=None, decimals=0,
                 unit=None)


def q_count_series(c: Ctx, rng) -> QA | None:
    if c.ns < 2:
        return None
    sd = (c.sdim or {}).get("plural", "series")
    q = pick(rng, [f"How many {sd} are compared in the chart?",
                   f"How many {sd} does the legend list?"])
    return c.num(q, c.ns, "counting", {"op": "count_series"}, reads=None, decimals=0, unit=None)


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
    return c.num(q, count, "counting", {"op": "count_series_greater", "a": sa, "b": sb},
                 reads=None, decimals=0, unit=None)


# --- trends (an ordered x axis) ----------------------------------------------------------------

def q_direction(c: Ctx, rng) -> QA | None:
    if not c.time or c.n < 2:
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    a, b = sorted(int(x) for x in rng.choice(c.n, size=2, replace=False))
    if rng.random() < 0.35:
        a, b = 0, c.n - 1
    if not c.apart(col[a], col[b]):
        return None
    up = col[b] > col[a]
    q = pick(rng, [
        f"Did the {c.mx(j)} increase or decrease from {c.cats[a]} to {c.cats[b]}?",
        f"Between {c.cats[a]} and {c.cats[b]}, did the {c.mx(j)} rise or fall?",
    ])
    word = ("Increased" if "increase" in q else "Rose") if up else (
        "Decreased" if "increase" in q else "Fell")
    return c.txt(q, word, "trend", {"op": "direction", "from": c.cats[a], "to": c.cats[b],
                                    "series": c.series[j]},
                 value="increase" if up else "decrease")


def q_change(c: Ctx, rng) -> QA | None:
    if not c.time or c.n < 2:
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    a, b = sorted(int(x) for x in rng.choice(c.n, size=2, replace=False))
    value = col[b] - col[a]
    pp = " in percentage points" if _pp(c) else ""
    q = pick(rng, [
        f"What was the change{pp} in the {c.mx(j)} from {c.cats[a]} to {c.cats[b]}? Give a "
        "negative number for a decrease.",
        f"By how much did the {c.mx(j)} change{pp} between {c.cats[a]} and {c.cats[b]} "
        "(negative if it fell)?",
    ])
    return c.num(q, value, "trend", {"op": "change", "from": c.cats[a], "to": c.cats[b],
                                     "series": c.series[j]}, reads=2,
                 unit=None if _pp(c) else True)


def q_largest_change(c: Ctx, rng) -> QA | None:
    if not c.time or c.n < 3:
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    rise = bool(rng.random() < 0.5)
    deltas = [(col[k + 1] - col[k]) * (1 if rise else -1) for k in range(c.n - 1)]
    order = sorted(range(len(deltas)), key=lambda k: deltas[k], reverse=True)
    best = order[0]
    if deltas[best] < c.gap(2) or (len(order) > 1
                                   and deltas[best] - deltas[order[1]] < c.gap(2)):
        return None
    word = "increase" if rise else "decrease"
    q = pick(rng, [
        f"Between which two consecutive {c.dims()} did the {c.mx(j)} show the largest "
        f"{word}?",
        f"Over which one-{c.dim_one()} interval did the {c.mx(j)} {'grow' if rise else 'drop'}"
        " the most?",
    ])
    frm, to = c.cats[best], c.cats[best + 1]
    return c.txt(q, f"From {frm} to {to}", "trend",
                 {"op": "largest_increase" if rise else "largest_decrease",
                  "series": c.series[j]}, value=[frm, to])


def q_count_rises(c: Ctx, rng) -> QA | None:
    if not c.time or c.n < 3:
        return None
    j = _series_index(c, rng)
    col = c.col(j)
    if not all(c.apart(col[k], col[k + 1]) for k in range(c.n - 1)):
        return None
    rise = bool(rng.random() < 0.5)
    count = sum(1 for k in range(c.n - 1) if (col[k + 1] > col[k]) == rise)
    word = "rise" if rise else "fall"
    q = pick(rng, [
        f"How many times did the {c.mx(j)} {word} from one {c.dim_one()} to the next?",
        f"In how many consecutive {c.dim_one()}-to-{c.dim_one()} steps did the {c.mx(j)} "
        f"{'increase' if rise else 'decrease'}?",
    ])
    return c.num(q, count, "trend", {"op": "count_rises" if rise else "count_falls",
                                     "series": c.series[j]}, reads=None, decimals=0, unit=None)


def q_max_gap(c: Ctx, rng) -> QA | None:
    """The x value where two series are furthest apart."""
    if not c.time or c.ns < 2 or c.n < 3:
        return None
    a, b = (int(x) for x in rng.choice(c.ns, size=2, replace=False))
    gaps = [abs(row[a] - row[b]) for row in c.vals]
    order = sorted(range(c.n), key=lambda k: gaps[k], reverse=True)
    if gaps[order[0]] - gaps[order[1]] < c.gap(2):
        return None
    q = (f"{c.prep.capitalize()} which {c.dim_one()} was the gap between the "
         f"{c.m['phrase']} of {c.series[a]} and {c.series[b]} the largest?")
    return c.txt(q, c.cats[order[0]], "trend", {"op": "max_gap", "a": c.series[a],
                                                "b": c.series[b]})


# --- stacked totals ----------------------------------------------------------------------------

def q_total(c: Ctx, rng) -> QA | None:
    if not c.stacked:
        return None
    i = int(rng.integers(c.n))
    value = sum(c.vals[i])
    q = pick(rng, [f"What is the total {c.m['phrase']} {c.at(i)} across all "
                   f"{(c.sdim or {}).get('plural', 'series')}?",
                   f"How much {c.is_()} the whole stacked bar for {c.cats[i]} in total?"])
    return c.num(q, value, "arithmetic", {"op": "total", "category": c.cats[i]},
                 reads=c.ns)


def q_argmax_total(c: Ctx, rng) -> QA | None:
    if not c.stacked:
        return None
    totals = [sum(row) for row in c.vals]
    highest = bool(rng.random() < 0.6)
    k = _unique_extreme(c, totals, highest, combined=c.ns)
    if k is None:
        return None
    word = "highest" if highest else "lowest"
    q = pick(rng, [f"Which {c.dim_one()} has the {word} total {c.m['phrase']}?",
                   f"Which stacked bar is the {'tallest' if highest else 'shortest'} overall?"
                   if c.scene.get("orientation") == "vertical" else
                   f"Which stacked bar is the {'longest' if highest else 'shortest'} overall?"])
    return c.txt(q, c.cats[k], "extremum", {"op": "argmax_total" if highest else "argmin_total"})


def q_share_of_total(c: Ctx, rng) -> QA | None:
    if not c.stacked or not c.exact:
        return None
    i, j = int(rng.integers(c.n)), _series_index(c, rng)
    row = c.vals[i]
    value = 100.0 * row[j] / sum(row)
    q = f"What percentage of the total for {c.cats[i]} does {c.series[j]} make up?"
    return c.num(q, value, "arithmetic", {"op": "share_of_total", "category": c.cats[i],
                                          "series": c.series[j]}, reads=None, decimals=1,
                 unit="%")


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

