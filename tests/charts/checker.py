"""An independent answer checker for chart samples.

It re-derives every answer from the scene's data table and checks that the question is
answerable from the picture, without importing the renderers' question code (``ask.py``,
``renderers.qa``): numbers are formatted, operations computed and readability rules applied here
from scratch.

Readability rules (as the issue states them, re-implemented):

* ``labels`` readout: every value is printed, so exact answers are fine.
* ``grid`` readout: every value (and, for stacked bars, every segment boundary) is a multiple of
  the value axis' tick step, inside the axis, and gridlines are drawn.
* ``estimate`` readout: every numeric answer that depends on reading values carries a tolerance
  of at least (values combined) × (¼ step with gridlines, ½ step without), the question states
  it with "±", and ratios/shares (which would need exact values) are never asked.
* Ordinal questions (max, min, comparisons, ranks, thresholds, trends) require the values
  involved to differ: exactly (printed / on distinct gridlines) or, when estimated, by at least
  max(tolerance, 4 % of the axis span) per value combined.
"""

from __future__ import annotations

import json
import math
import re
from itertools import pairwise
from typing import Any

EPS = 1e-6
SPAN_FRACTION = 0.04

# Cue words each operation's question must contain (at least one of each group).
CUES = {
    "argmax": [("highest", "largest", "greatest", "most", "peak", "tallest")],
    "argmin": [("lowest", "smallest", "fewest", "shortest", "lowest point")],
    "argmax_series": [("highest",)], "argmin_series": [("lowest",)],
    "is_greater": [("higher",)], "is_less": [("lower",)],
    "which_greater": [("higher",)], "which_less": [("lower",)],
    "rank": [("rank", "position")], "sort": [("list", "sort", "order")],
    "difference": [("higher", "exceed", "more")], "abs_difference": [("difference",)],
    "sum": [("total", "sum", "combined", "together")], "mean": [("average", "mean")],
    "ratio": [("ratio",)], "range": [("highest", "largest")],
    "share": [("percent", "percentage")],
    "count_above": [("how many",), ("above", "greater", "exceed", "more")],
    "count_below": [("how many",), ("below", "less")],
    "count_categories": [("how many",)], "count_series": [("how many",)],
    "count_series_greater": [("how many",), ("higher",)],
    "direction": [("increase", "rise")], "change": [("change",)],
    "largest_increase": [("increase", "grow")], "largest_decrease": [("decrease", "drop")],
    "count_rises": [("how many",), ("rise", "increase")],
    "count_falls": [("how many",), ("fall", "decrease")],
    "max_gap": [("gap",)], "total": [("total",)],
    "argmax_total": [("highest", "tallest", "longest")],
    "argmin_total": [("lowest", "shortest")], "share_of_total": [("percentage",)],
    "table": [("table",)], "count_below_edge": [("below",)],
    "count_from_edge": [("upward", "or more")],
    "iqr": [("interquartile",)], "range_of": [("range",)],
    "argmax_iqr": [("interquartile", "tallest", "widest")],
    "correlation": [("relationship", "tend")],
    "mean_of_two": [("average", "mean")], "mean_gap": [("mean", "average")],
    "total_gap": [("total",), ("greater", "exceed")],
}
# Answers that need exact values: never asked when values are estimated.
EXACT_ONLY = {"ratio", "share", "share_of_total", "mean_of_two", "mean_gap", "total_gap"}


class CheckFailed(AssertionError):
    pass


def require(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


# --- formatting, from scratch --------------------------------------------------------------------

def integral(v: float) -> bool:
    return abs(v - round(v)) < 1e-9


def number_text(v: float, decimals: int | None) -> str:
    if integral(v):
        return str(int(round(v)))
    return f"{v:.{decimals}f}"


def unit_text(text: str, unit: str | None) -> str:
    if not unit:
        return text
    if unit in ("$", "€", "£"):
        return "-" + unit + text[1:] if text.startswith("-") else unit + text
    if unit in ("%", "°"):
        return text + unit
    return f"{text} {unit}"


def affixed(v: float, decimals: int, affix: str | None) -> str:
    body = f"{abs(v):.{decimals}f}"
    sign = "-" if round(v, decimals) < 0 else ""
    if affix in ("$", "€", "£"):
        return sign + affix + body
    return sign + body + (affix or "")


def mentions(text: str, name: str) -> int:
    """Position of ``name`` as a whole phrase in ``text`` (case-sensitive), or -1."""
    m = re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", text)
    return m.start() if m else -1


# --- the checker ---------------------------------------------------------------------------------

class Scene:
    def __init__(self, scene: dict[str, Any]):
        self.s = scene
        table = scene["table"]
        self.columns = table["columns"]
        self.rows = table["rows"]
        self.cats = [r[0] for r in self.rows]
        self.series = self.columns[1:]
        self.vals = [r[1:] for r in self.rows]
        ro = scene["readout"]
        self.mode = ro["mode"]
        self.tol = ro["tolerance"]

    def col(self, name: str) -> list[float]:
        j = self.series.index(name)
        return [row[j] for row in self.vals]


def plain_json(x: Any, where: str = "scene") -> None:
    """Only exact JSON types (a numpy float is a float subclass and would slip through json)."""
    if type(x) is dict:
        for k, v in x.items():
            require(type(k) is str, f"{where}: key {k!r} is not a str")
            plain_json(v, f"{where}.{k}")
    elif type(x) is list:
        for i, v in enumerate(x):
            plain_json(v, f"{where}[{i}]")
    else:
        require(x is None or type(x) in (str, int, float, bool), f"{where}: {type(x).__name__}")


def check_sample(scene: dict[str, Any], qas: list[dict[str, Any]]) -> None:
    """Raise CheckFailed unless the scene is well-formed and every QA item is right."""
    plain_json(scene)
    plain_json(qas, "qa")
    require(json.loads(json.dumps(scene)) == scene, "scene is not plain JSON")
    require(bool(qas), "no questions")
    if scene["family"] == "scatter":
        check_scatter(scene, qas)
        return
    sc = Scene(scene)
    check_table(sc)
    check_readout(sc)
    for qa in qas:
        try:
            check_qa(sc, qa)
        except CheckFailed as e:
            raise CheckFailed(f"{e}\n  question: {qa['question']}\n  answer: {qa['answer']}"
                              f"\n  table: {scene['table']}\n  readout: {scene['readout']}"
                              ) from None


def check_table(sc: Scene) -> None:
    require(len(sc.rows) >= 2, "a chart needs at least two categories")
    require(len(set(sc.cats)) == len(sc.cats), "duplicate category names")
    require(len(set(sc.series)) == len(sc.series), "duplicate series names")
    require(not (set(sc.cats) & set(sc.series)) or len(sc.series) == 1,
            "a series shares a name with a category")
    for row in sc.rows:
        require(isinstance(row[0], str) and row[0], "category names are strings")
        require(len(row) == len(sc.columns), "ragged table")
        for v in row[1:]:
            require(isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v), f"bad cell {v!r}")
    fam = sc.s["family"]
    m = sc.s["measure"]
    if m["phrase"].startswith("number of") and not m["unit"]:
        require(all(integral(v) for row in sc.vals for v in row), "a count that is not whole")
    if fam in ("pie", "donut"):
        require(all(v > 0 for row in sc.vals for v in row), "a pie slice must be positive")
        if sc.s["percent"]:
            require(abs(sum(row[0] for row in sc.vals) - 100) < EPS, "shares do not sum to 100")
    if fam == "box":
        for row in sc.vals:
            require(all(a < b for a, b in pairwise(row)), f"box stats not increasing: {row}")
    if fam == "histogram":
        bins = sc.s["bins"]
        require(len(bins) == len(sc.rows), "one bin per row")
        for (a, b), cat, (count,) in zip(bins, sc.cats, sc.vals, strict=True):
            require(cat == f"{a:g}–{b:g}", f"bin label {cat!r} is not {a}–{b}")
            require(isinstance(count, int) and count >= 0, "counts are whole numbers ≥ 0")
        require(all(bins[i][1] == bins[i + 1][0] for i in range(len(bins) - 1)), "gappy bins")


def check_readout(sc: Scene) -> None:
    s, mode = sc.s, sc.mode
    st = s["style"]
    axis = s.get("axis")
    require(mode in ("labels", "grid", "estimate"), f"unknown readout {mode}")
    if mode == "labels":
        require(st["data_labels"], "labels readout without data labels")
    else:
        require(not st.get("data_labels"), "values printed but readout says otherwise")
    if axis is None:
        require(mode == "labels", "a chart without an axis must print its values")
        return
    lo, hi, step = axis["min"], axis["max"], axis["step"]
    require(lo < hi and step > 0, "bad axis")
    values = [v for row in sc.vals for v in row]
    if s.get("stacked"):
        values += [sum(row[:k + 1]) for row in sc.vals for k in range(len(row))]
    for v in values:
        require(lo - EPS <= v <= hi + EPS, f"value {v} outside the axis [{lo}, {hi}]")
    if s["family"] in ("bar", "hbar", "grouped_bar", "stacked_bar", "histogram"):
        require(lo <= 0 <= hi, "bars must start at zero on the axis")
    if mode == "grid":
        require(st["grid"], "grid readout without gridlines")
        for v in values:
            k = v / step
            require(abs(k - round(k)) < 1e-6, f"value {v} is not on a gridline (step {step})")
    if mode == "estimate":
        expected = step / 4 if st["grid"] else step / 2
        require(abs(sc.tol - expected) < 1e-9, f"tolerance {sc.tol} is not {expected}")
    else:
        require(sc.tol == 0, "exact readouts carry no tolerance")


def gap(sc: Scene, combined: int = 1) -> float:
    """The least difference the picture shows unambiguously."""
    if sc.mode != "estimate":
        return 1e-9
    axis = sc.s["axis"]
    return combined * max(sc.tol, SPAN_FRACTION * (axis["max"] - axis["min"])) - 1e-9


def distinct(sc: Scene, a: float, b: float, combined: int = 1) -> bool:
    return abs(a - b) >= gap(sc, combined)


def check_numeric(qa: dict[str, Any], expected: float, unit: str | None) -> None:
    dec = qa.get("decimals")
    if not integral(expected):
        require(dec is not None, "a non-integral answer needs decimals")
        shown = round(expected, dec)
        if abs(expected - shown) > 1e-9:
            clause = ("Round to the nearest whole number." if dec == 0 else
                      f"Round to {dec} decimal place{'s' if dec != 1 else ''}.")
            require(clause in qa["question"], f"missing rounding clause {clause!r}")
    else:
        shown = round(expected)
    require(abs(float(qa["value"]) - shown) < 1e-6,
            f"value {qa['value']} != expected {shown} (from {expected})")
    # The project's rule: an integral value has no decimals; any other is written at exactly
    # ``dec`` places, even when rounding makes it look whole ("1.0").
    text = unit_text(number_text(expected, dec), unit)
    require(qa["answer"] == text, f"answer text {qa['answer']!r} != {text!r}")
    require(qa.get("unit") == unit, f"unit {qa.get('unit')!r} != {unit!r}")


def names_check(sc: Scene, qa: dict[str, Any], names: list[str], ordered: bool = False) -> None:
    q = qa["question"]
    pos = []
    for n in names:
        p = mentions(q, n)
        require(p >= 0, f"the question does not name {n!r}")
        pos.append(p)
    if ordered:
        require(pos == sorted(pos), f"{names} not named in order")
    rest = q
    for n in sorted(set(names) | set(sc.series if len(sc.series) > 1 else []), key=len,
                    reverse=True):
        rest = re.sub(r"(?<![\w])" + re.escape(n) + r"(?![\w])", " ", rest)
    for c in sc.cats:
        if c not in names:
            require(mentions(rest, c) < 0, f"the question names {c!r}, which it does not use")


def series_of(sc: Scene, qa: dict[str, Any]) -> str:
    s = qa["args"]["series"]
    require(s in sc.series, f"unknown series {s!r}")
    if sc.s["family"] == "box":  # the series are the five statistics
        require(s.lower() in qa["question"], f"the question does not ask for the {s.lower()}")
    elif len(sc.series) > 1:
        require(mentions(qa["question"], s) >= 0, f"the question does not name series {s!r}")
    return s


def unit_of(sc: Scene) -> str | None:
    return sc.s["measure"]["affix"]


def check_qa(sc: Scene, qa: dict[str, Any]) -> None:
    args = qa["args"]
    op = args["op"]
    q = qa["question"]
    low = q.lower()
    for group in CUES.get(op, []):
        require(any(w in low for w in group), f"{op}: the question lacks any of {group}")
    estimate = sc.mode == "estimate"
    require(not (estimate and op in EXACT_ONLY), f"{op} needs exact values")
    cat_index = {c: i for i, c in enumerate(sc.cats)}
    fam = sc.s["family"]
    pp = unit_of(sc) == "%"

    def tol_ok(reads: int) -> None:
        if estimate:
            t = qa.get("tolerance")
            require(t is not None and t >= reads * sc.tol - 1e-9,
                    f"tolerance {t} < {reads} × {sc.tol}")
            require("±" in q, "the question does not state the tolerance")
        else:
            require("tolerance" not in qa, "exact readout with a tolerance")

    if op == "value":
        s = series_of(sc, qa)
        c = args["category"]
        require(c in cat_index, f"unknown category {c!r}")
        names_check(sc, qa, [c])
        check_numeric(qa, sc.col(s)[cat_index[c]], None if fam == "histogram" else unit_of(sc))
        tol_ok(1)
    elif op in ("argmax", "argmin"):
        col = sc.col(series_of(sc, qa))
        order = sorted(range(len(col)), key=lambda i: col[i], reverse=op == "argmax")
        require(distinct(sc, col[order[0]], col[order[1]]), "no clear extreme")
        require(qa["answer"] == sc.cats[order[0]], f"{op} is {sc.cats[order[0]]!r}")
        names_check(sc, qa, [])
    elif op in ("argmax_series", "argmin_series"):
        i = cat_index[args["category"]]
        row = sc.vals[i]
        order = sorted(range(len(row)), key=lambda k: row[k], reverse=op == "argmax_series")
        require(distinct(sc, row[order[0]], row[order[1]]), "no clear extreme series")
        require(qa["answer"] == sc.series[order[0]], f"{op} is {sc.series[order[0]]!r}")
        names_check(sc, qa, [args["category"]])
    elif op in ("is_greater", "is_less", "which_greater", "which_less"):
        col = sc.col(series_of(sc, qa))
        a, b = cat_index[args["a"]], cat_index[args["b"]]
        require(distinct(sc, col[a], col[b]), "compared values too close")
        names_check(sc, qa, [args["a"], args["b"]], ordered=True)
        if op == "is_greater":
            require(qa["answer"] == ("Yes" if col[a] > col[b] else "No"), "wrong yes/no")
        elif op == "is_less":
            require(qa["answer"] == ("Yes" if col[a] < col[b] else "No"), "wrong yes/no")
        else:
            hi = args["a"] if col[a] > col[b] else args["b"]
            lo = args["b"] if hi == args["a"] else args["a"]
            require(qa["answer"] == (hi if op == "which_greater" else lo), "wrong winner")
    elif op == "rank":
        col = sc.col(series_of(sc, qa))
        i = cat_index[args["category"]]
        require(all(distinct(sc, col[i], col[k]) for k in range(len(col)) if k != i),
                "rank is ambiguous")
        desc = args["order"] == "desc"
        require(("highest to lowest" in q) == desc, "rank order wording")
        rank = 1 + sum(1 for v in col if (v > col[i] if desc else v < col[i]))
        names_check(sc, qa, [args["category"]])
        check_numeric(qa, rank, None)
    elif op == "sort":
        col = sc.col(series_of(sc, qa))
        desc = args["order"] == "desc"
        require(("highest to lowest" in q) == desc, "sort order wording")
        order = sorted(range(len(col)), key=lambda i: col[i], reverse=desc)
        require(all(distinct(sc, col[a], col[b]) for a, b in pairwise(order)),
                "sort order is ambiguous")
        require(qa["answer"] == ", ".join(sc.cats[i] for i in order), "wrong order")
    elif op in ("difference", "abs_difference"):
        if fam == "histogram":
            col = [row[0] for row in sc.vals]
        else:
            col = sc.col(series_of(sc, qa))
        a, b = cat_index[args["a"]], cat_index[args["b"]]
        names_check(sc, qa, [args["a"], args["b"]], ordered=True)
        if op == "difference":
            require(col[a] > col[b] and distinct(sc, col[a], col[b]),
                    "'how much higher' needs a visibly higher first value")
            value = col[a] - col[b]
        else:
            value = abs(col[a] - col[b])
        unit = None if (pp or fam == "histogram") else unit_of(sc)
        if pp:
            require("percentage points" in q, "a difference of percentages is in points")
        check_numeric(qa, value, unit)
        tol_ok(2)
    elif op == "sum":
        col = [row[0] for row in sc.vals] if fam == "histogram" else sc.col(series_of(sc, qa))
        cats = args["categories"]
        require(sc.s["measure"]["additive"], "summing a measure that does not add up")
        if len(cats) < len(sc.cats):
            names_check(sc, qa, cats)
        value = sum(col[cat_index[c]] for c in cats)
        check_numeric(qa, value, None if fam == "histogram" else unit_of(sc))
        tol_ok(len(cats))
    elif op == "mean":
        col = sc.col(series_of(sc, qa))
        check_numeric(qa, sum(col) / len(col), unit_of(sc))
        tol_ok(1)
    elif op == "ratio":
        col = sc.col(series_of(sc, qa))
        a, b = cat_index[args["a"]], cat_index[args["b"]]
        names_check(sc, qa, [args["a"], args["b"]], ordered=True)
        require(col[a] > 0 and col[b] > 0, "ratios of positive values only")
        check_numeric(qa, col[a] / col[b], None)
    elif op == "range":
        col = sc.col(series_of(sc, qa))
        check_numeric(qa, max(col) - min(col), None if pp else unit_of(sc))
        tol_ok(2)
    elif op == "share":
        col = sc.col(series_of(sc, qa))
        require(all(v > 0 for v in col) and sc.s["measure"]["additive"], "shares of a whole")
        require(unit_of(sc) != "%", "a share of percentages")
        c = args["category"]
        names_check(sc, qa, [c])
        check_numeric(qa, 100.0 * col[cat_index[c]] / sum(col), "%")
    elif op in ("count_above", "count_below"):
        if fam == "box":
            col = sc.col("Median")
        elif fam == "histogram":
            col = [row[0] for row in sc.vals]
        else:
            col = sc.col(series_of(sc, qa))
        t = args["threshold"]
        require(all(distinct(sc, v, t) for v in col), f"a value is too close to {t}")
        if fam != "histogram":
            require(affixed(t, _decimals_of(t), unit_of(sc)) in q, "threshold not in question")
        else:
            require(f"{t:g}" in q, "threshold not in question")
        count = sum(1 for v in col if (v > t if op == "count_above" else v < t))
        check_numeric(qa, count, None)
    elif op == "count_categories":
        check_numeric(qa, len(sc.cats), None)
    elif op == "count_series":
        check_numeric(qa, len(sc.series), None)
    elif op == "count_series_greater":
        a, b = sc.series.index(args["a"]), sc.series.index(args["b"])
        require(all(distinct(sc, row[a], row[b]) for row in sc.vals), "a pair too close")
        require(mentions(q, args["a"]) < mentions(q, args["b"]), "series order")
        check_numeric(qa, sum(1 for row in sc.vals if row[a] > row[b]), None)
    elif op in ("direction", "change"):
        require(sc.s["dim"]["time"], "a trend needs an ordered axis")
        col = sc.col(series_of(sc, qa))
        a, b = cat_index[args["from"]], cat_index[args["to"]]
        require(a < b, "from must come before to")
        names_check(sc, qa, [args["from"], args["to"]], ordered=True)
        if op == "direction":
            require(distinct(sc, col[a], col[b]), "no visible change")
            up = col[b] > col[a]
            require(qa["value"] == ("increase" if up else "decrease"), "wrong direction")
            require(qa["answer"] in (("Increased", "Rose") if up else ("Decreased", "Fell")),
                    "direction answer wording")
        else:
            check_numeric(qa, col[b] - col[a], None if pp else unit_of(sc))
            tol_ok(2)
    elif op in ("largest_increase", "largest_decrease"):
        require(sc.s["dim"]["time"], "a trend needs an ordered axis")
        col = sc.col(series_of(sc, qa))
        sign = 1 if op == "largest_increase" else -1
        deltas = [sign * (col[k + 1] - col[k]) for k in range(len(col) - 1)]
        order = sorted(range(len(deltas)), key=lambda k: deltas[k], reverse=True)
        best = order[0]
        require(deltas[best] >= gap(sc, 2), "the largest change is not visible")
        require(len(order) == 1 or deltas[best] - deltas[order[1]] >= gap(sc, 2),
                "the largest change is not clearly the largest")
        require(qa["value"] == [sc.cats[best], sc.cats[best + 1]], "wrong interval")
        require(qa["answer"] == f"From {sc.cats[best]} to {sc.cats[best + 1]}", "answer text")
    elif op in ("count_rises", "count_falls"):
        require(sc.s["dim"]["time"], "a trend needs an ordered axis")
        col = sc.col(series_of(sc, qa))
        require(all(distinct(sc, col[k], col[k + 1]) for k in range(len(col) - 1)),
                "a step too small to see")
        up = op == "count_rises"
        check_numeric(qa, sum(1 for k in range(len(col) - 1)
                              if (col[k + 1] > col[k]) == up), None)
    elif op == "max_gap":
        a, b = sc.series.index(args["a"]), sc.series.index(args["b"])
        gaps = [abs(row[a] - row[b]) for row in sc.vals]
        order = sorted(range(len(gaps)), key=lambda k: gaps[k], reverse=True)
        require(gaps[order[0]] - gaps[order[1]] >= gap(sc, 2), "no clear largest gap")
        require(mentions(q, args["a"]) >= 0 and mentions(q, args["b"]) >= 0, "series named")
        require(qa["answer"] == sc.cats[order[0]], "wrong year of largest gap")
    elif op == "total":
        require(sc.s.get("stacked"), "totals of stacked bars only")
        c = args["category"]
        names_check(sc, qa, [c])
        check_numeric(qa, sum(sc.vals[cat_index[c]]), unit_of(sc))
        tol_ok(len(sc.series))
    elif op in ("argmax_total", "argmin_total"):
        totals = [sum(row) for row in sc.vals]
        order = sorted(range(len(totals)), key=lambda i: totals[i],
                       reverse=op == "argmax_total")
        require(distinct(sc, totals[order[0]], totals[order[1]], len(sc.series)),
                "no clear extreme total")
        require(qa["answer"] == sc.cats[order[0]], "wrong extreme total")
    elif op == "share_of_total":
        i = cat_index[args["category"]]
        j = sc.series.index(args["series"])
        names_check(sc, qa, [args["category"]])
        require(mentions(q, args["series"]) >= 0, "series not named")
        check_numeric(qa, 100.0 * sc.vals[i][j] / sum(sc.vals[i]), "%")
    elif op in ("count_below_edge", "count_from_edge"):
        edge = args["edge"]
        bins = sc.s["bins"]
        require(any(b[0] == edge for b in bins[1:]), "the edge must be an inner bin edge")
        require(f"{edge:g}" in q, "edge not in the question")
        below = op == "count_below_edge"
        picked = [row[0] for (a, b), row in zip(bins, sc.vals, strict=True)
                  if (b <= edge if below else a >= edge)]
        check_numeric(qa, sum(picked), None)
        tol_ok(len(picked))
    elif op in ("iqr", "range_of"):
        i = cat_index[args["category"]]
        row = sc.vals[i]
        names_check(sc, qa, [args["category"]])
        value = row[3] - row[1] if op == "iqr" else row[4] - row[0]
        check_numeric(qa, value, None if pp else unit_of(sc))
        tol_ok(2)
    elif op == "argmax_iqr":
        iqrs = [row[3] - row[1] for row in sc.vals]
        order = sorted(range(len(iqrs)), key=lambda i: iqrs[i], reverse=True)
        require(distinct(sc, iqrs[order[0]], iqrs[order[1]], 2), "no clear widest box")
        require(qa["answer"] == sc.cats[order[0]], "wrong widest box")
    elif op == "mean_of_two":  # composed: two values added, then halved
        col = [row[0] for row in sc.vals] if fam == "histogram" else sc.col(series_of(sc, qa))
        names_check(sc, qa, [args["a"], args["b"]], ordered=True)
        a, b = cat_index[args["a"]], cat_index[args["b"]]
        require(a != b, "the average of one value")
        check_numeric(qa, (col[a] + col[b]) / 2, None if fam == "histogram" else unit_of(sc))
    elif op == "mean_gap":  # composed: the mean of a series, then one value's distance to it
        col = [row[0] for row in sc.vals] if fam == "histogram" else sc.col(series_of(sc, qa))
        names_check(sc, qa, [args["category"]])
        require(str(len(col)) in q, "the question does not say how many values it averages")
        value = abs(col[cat_index[args["category"]]] - sum(col) / len(col))
        check_numeric(qa, value, None if (pp or fam == "histogram") else unit_of(sc))
    elif op == "total_gap":  # composed: two series' totals, then their difference
        require(sc.s["measure"]["additive"], "totals of a measure that does not add up")
        for name in (args["a"], args["b"]):
            require(name in sc.series and mentions(q, name) >= 0, f"series {name!r} unnamed")
        require(mentions(q, args["a"]) < mentions(q, args["b"]), "the larger total first")
        hi, lo = sum(sc.col(args["a"])), sum(sc.col(args["b"]))
        require(hi > lo and distinct(sc, hi, lo), "'how much greater' needs a larger total")
        check_numeric(qa, hi - lo, None if pp else unit_of(sc))
    elif op == "table":
        check_table_answer(qa, sc.columns, sc.rows,
                           [0] + [sc.s["decimals"]] * len(sc.series))
        if estimate:
            require(qa.get("tolerance") == sc.tol and "±" in q, "table tolerance")
    else:
        raise CheckFailed(f"unknown operation {op!r}")


def _decimals_of(t: float) -> int:
    for d in range(8):
        if abs(t * 10**d - round(t * 10**d)) < 1e-9:
            return d
    return 8


def check_table_answer(qa, columns, rows, decimals) -> None:
    lines = qa["answer"].split("\n")
    require(len(lines) == len(rows) + 2, "table has the wrong number of lines")

    def cells(line: str) -> list[str]:
        require(line.startswith("|") and line.endswith("|"), f"not a table row: {line!r}")
        return [c.strip() for c in line[1:-1].split("|")]

    require(cells(lines[0]) == list(columns), "table header")
    require(all(set(c) <= {"-"} for c in cells(lines[1])), "table rule")
    for line, row in zip(lines[2:], rows, strict=True):
        got = cells(line)
        require(len(got) == len(row), "table row width")
        require(got[0] == row[0], f"row name {got[0]!r} != {row[0]!r}")
        for g, v, d in zip(got[1:], row[1:], decimals[1:], strict=True):
            require(g == f"{v:.{d}f}" and abs(float(g) - v) < 1e-9, f"cell {g!r} != {v}")
    require(qa["value"] == {"columns": list(columns), "rows": [list(r) for r in rows]},
            "table value")


# --- scatter -------------------------------------------------------------------------------------

def check_scatter(scene, qas) -> None:
    rows = scene["table"]["rows"]
    names = [r[0] for r in rows]
    require(len(set(names)) == len(names), "duplicate point names")
    mode = scene["readout"]["mode"]
    tols = scene["readout"]["tolerance"]
    axes = [scene["x_axis"], scene["y_axis"]]
    st = scene["style"]
    for k, axis in enumerate(axes):
        for r in rows:
            v = r[1 + k]
            require(axis["min"] - EPS <= v <= axis["max"] + EPS, "point outside the axes")
            if mode == "grid":
                require(st["grid"] and st["grid_x"], "grid readout needs both grids")
                require(abs(v / axis["step"] - round(v / axis["step"])) < 1e-6,
                        f"coordinate {v} is not on a gridline")
        if mode == "estimate":
            expected = axis["step"] / 4 if st["grid"] else axis["step"] / 2
            require(abs(tols[k] - expected) < 1e-9, "scatter tolerance")
    ms = [scene["x_measure"], scene["y_measure"]]

    def gap_k(k: int, combined: int = 1) -> float:
        if mode != "estimate":
            return 1e-9
        a = axes[k]
        return combined * max(tols[k], SPAN_FRACTION * (a["max"] - a["min"])) - 1e-9

    for qa in qas:
        args, q = qa["args"], qa["question"]
        op = args["op"]
        for group in CUES.get(op, []):
            require(any(w in q.lower() for w in group), f"{op}: cue words {group}")
        k = "xy".index(args["axis"]) if "axis" in args else 0
        col = [r[1 + k] for r in rows]
        if "axis" in args:
            require(ms[k]["phrase"] in q, "the question names the wrong measure")
            require(ms[1 - k]["phrase"] not in q or ms[1 - k]["phrase"] in ms[k]["phrase"],
                    "the question names the other axis' measure")

        def tol_ok(reads: int, qa=qa, k=k, q=q) -> None:
            if mode == "estimate":
                t = qa.get("tolerance")
                require(t is not None and t >= reads * tols[k] - 1e-9 and "±" in q,
                        "missing tolerance")

        if op == "value":
            i = names.index(args["category"])
            require(mentions(q, names[i]) >= 0, "point not named")
            check_numeric(qa, col[i], ms[k]["affix"])
            tol_ok(1)
        elif op in ("argmax", "argmin"):
            order = sorted(range(len(col)), key=lambda i: col[i], reverse=op == "argmax")
            require(abs(col[order[0]] - col[order[1]]) >= gap_k(k), "no clear extreme")
            require(qa["answer"] == names[order[0]], "wrong extreme point")
        elif op == "is_greater":
            a, b = names.index(args["a"]), names.index(args["b"])
            require(0 <= mentions(q, args["a"]) < mentions(q, args["b"]), "names in order")
            require(abs(col[a] - col[b]) >= gap_k(k), "too close to compare")
            require(qa["answer"] == ("Yes" if col[a] > col[b] else "No"), "wrong yes/no")
        elif op == "difference":
            a, b = names.index(args["a"]), names.index(args["b"])
            require(0 <= mentions(q, args["a"]) < mentions(q, args["b"]), "names in order")
            require(col[a] - col[b] >= gap_k(k), "not visibly higher")
            pp = ms[k]["affix"] == "%"
            check_numeric(qa, col[a] - col[b], None if pp else ms[k]["affix"])
            tol_ok(2)
        elif op in ("count_above", "count_below"):
            t = args["threshold"]
            require(all(abs(v - t) >= gap_k(k) for v in col), "a point too close to the line")
            require(affixed(t, _decimals_of(t), ms[k]["affix"]) in q, "threshold in question")
            check_numeric(qa, sum(1 for v in col if (v > t if op == "count_above" else v < t)),
                          None)
        elif op == "correlation":
            xs, ys = [r[1] for r in rows], [r[2] for r in rows]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
            r = sxy / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
            require(abs(r) >= 0.6, f"correlation {r:.2f} too weak to ask about")
            require(qa["value"] == ("positive" if r > 0 else "negative"), "wrong sign")
            require(qa["answer"] in (("Positive", "Higher") if r > 0 else ("Negative", "Lower")),
                    "answer wording")
        elif op == "count_categories":
            check_numeric(qa, len(rows), None)
        elif op == "table":
            check_table_answer(qa, scene["table"]["columns"], rows, [0, *scene["decimals"]])
            if mode == "estimate":
                cols = scene["table"]["columns"]
                require(qa["tolerance"] == {cols[1]: tols[0], cols[2]: tols[1]}, "table tol")
        else:
            raise CheckFailed(f"unknown scatter operation {op!r}")
