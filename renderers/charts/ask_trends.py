"""Chart questions about an ordered x axis (directions, changes, rises, gaps) and stacked totals."""

from __future__ import annotations

from renderers.charts.ask_common import (
    QA,
    Ctx,
    _pp,
    _series_index,
    _unique_extreme,
    possessive,
)
from renderers.qa import pick
from renderers.solution import number, step

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
    steps = [c.compare_step(col[b], col[a], c.two_times(a, b, j), f"it {word.lower()}")]
    return c.txt(q, word, "trend", {"op": "direction", "from": c.cats[a], "to": c.cats[b],
                                    "series": c.series[j]},
                 value="increase" if up else "decrease", steps=steps)


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
    unit = None if _pp(c) else True
    said = c.two_times(a, b, j)
    steps = [step(f"{said}, so the change is {c.term(col[b])} − {c.term(col[a])} "
                  f"{c.equals(value, unit=unit, pp=_pp(c))}.",
                  f"{number(col[b])} - {number(col[a])}", value)]
    # the earlier value minus the later: a rise taken for a fall
    mistakes = [("sign_reversed", [step(
        f"{said}, so the change is {c.term(col[a])} − {c.term(col[b])} "
        f"{c.equals(-value, unit=unit, pp=_pp(c))}.",
        f"{number(col[a])} - {number(col[b])}", col[a] - col[b])])]
    return c.num(q, value, "trend", {"op": "change", "from": c.cats[a], "to": c.cats[b],
                                     "series": c.series[j]}, reads=2, unit=unit, steps=steps,
                 mistakes=mistakes)


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
    steps = []
    for k in range(c.n - 1):  # every one-step change, then the largest
        later, earlier = col[k + 1], col[k]
        hi, lo = (later, earlier) if rise else (earlier, later)
        steps.append(step(f"{'from' if k else 'From'} {c.cats[k]} to {c.cats[k + 1]} the "
                          f"{'rise' if rise else 'drop'} is {c.term(hi)} − {c.term(lo)} "
                          f"{c.equals(hi - lo)};", f"{number(hi)} - {number(lo)}", hi - lo))
    steps.append(step(f"the largest {word}, {c.term(deltas[best], computed=True)}, is from "
                      f"{frm} to {to}.", number(steps[best]["value"]), steps[best]["value"]))
    return c.txt(q, f"From {frm} to {to}", "trend",
                 {"op": "largest_increase" if rise else "largest_decrease",
                  "series": c.series[j]}, value=[frm, to], steps=steps)


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
    moves = [f"{c.cats[k]} to {c.cats[k + 1]} ({c.term(col[k])} → {c.term(col[k + 1])})"
             for k in range(c.n - 1) if (col[k + 1] > col[k]) == rise]
    steps = [c.tally_step(moves, f"{'rises' if rise else 'falls'} from one {c.dim_one()} to "
                                 "the next")]
    return c.num(q, count, "trend", {"op": "count_rises" if rise else "count_falls",
                                     "series": c.series[j]}, reads=None, decimals=0, unit=None,
                 steps=steps)


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
    steps = []
    for k, row in enumerate(c.vals):  # each time's gap: the larger value minus the smaller
        hi, lo = (row[a], row[b]) if row[a] >= row[b] else (row[b], row[a])
        steps.append(step(f"{c.prep.capitalize()} {c.cats[k]}, {c.series[a]} {c.is_()} "
                          f"{c.read(row[a])} and {c.series[b]} {c.read(row[b])}: a gap of "
                          f"{c.term(hi)} − {c.term(lo)} {c.equals(hi - lo)}.",
                          f"{number(hi)} - {number(lo)}", hi - lo))
    top, second = order[0], order[1]
    steps.append(step(f"The gap is largest {c.prep} {c.cats[top]} ({c.term(gaps[top], True)}); "
                      f"the next largest is {c.term(gaps[second], True)}, {c.prep} "
                      f"{c.cats[second]}.", number(gaps[top]), gaps[top]))
    return c.txt(q, c.cats[order[0]], "trend", {"op": "max_gap", "a": c.series[a],
                                                "b": c.series[b]}, steps=steps)


# --- stacked totals ----------------------------------------------------------------------------

def q_total(c: Ctx, rng) -> QA | None:
    if not c.stacked:
        return None
    i = int(rng.integers(c.n))
    value = sum(c.vals[i])
    q = pick(rng, [f"What is the total {c.m['phrase']} {c.at(i)} across all "
                   f"{(c.sdim or {}).get('plural', 'series')}?",
                   f"How much {c.is_()} the whole stacked bar for {c.cats[i]} in total?"])
    steps = [c.sum_step(c.vals[i], f"the stacked segments of the bar for {c.cats[i]}")]
    return c.num(q, value, "arithmetic", {"op": "total", "category": c.cats[i]},
                 reads=c.ns, steps=steps)


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
    steps = [c.sum_step(row, f"the bar for {cat}") for cat, row in zip(c.cats, c.vals,
                                                                       strict=True)]
    steps.append(c.extreme_step(totals, c.cats, k, highest, "total"))
    return c.txt(q, c.cats[k], "extremum", {"op": "argmax_total" if highest else "argmin_total"},
                 steps=steps)


def q_share_of_total(c: Ctx, rng) -> QA | None:
    if not c.stacked or not c.exact:
        return None
    i, j = int(rng.integers(c.n)), _series_index(c, rng)
    row = c.vals[i]
    value = 100.0 * row[j] / sum(row)
    q = f"What percentage of the total for {c.cats[i]} does {c.series[j]} make up?"
    total = sum(row)
    steps = [c.sum_step(row, f"the stacked segments of the bar for {c.cats[i]}"),
             step(f"{possessive(c.series[j])} {c.value_text(row[j])} is 100 × {c.term(row[j])} ÷ "
                  f"{c.term(total, computed=True)} {c.equals(value, 1, unit='%')} of the bar.",
                  f"100 * {number(row[j])} / {number(total)}", value)]
    return c.num(q, value, "arithmetic", {"op": "share_of_total", "category": c.cats[i],
                                          "series": c.series[j]}, reads=None, decimals=1,
                 unit="%", steps=steps)
