"""What the chart question writers share: :class:`Ctx` (the scene's table and what can be read
from its picture: exact or estimated, the tolerance, the visible gap) and the small helpers every
question family uses. The questions themselves are in ``ask_values``, ``ask_arith`` and
``ask_trends``; ``renderers.charts.ask`` draws them."""

from __future__ import annotations

from typing import Any

import numpy as np

from renderers.charts.data import (
    fmt_affixed,
    table_parts,
)
from renderers.qa import is_integral, numeric_qa, spoken_list, text_qa
from renderers.solution import Step, number, step, tally

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

    # --- worked solutions (renderers.solution steps, in the chart's own words) ----------------

    def read(self, v: float) -> str:
        """A value as the picture gives it: printed on the chart ("42") or read off its axis
        ("about 42")."""
        text = self.value_text(v)
        return text if self.exact else f"about {text}"

    def term(self, v: float, computed: bool = False) -> str:
        """A value inside written arithmetic: "(−3)" when negative. ``computed``: an earlier
        step's result, written as :meth:`equals` wrote it (a whole number without decimals)."""
        text = self.value_text(v, 0 if computed and is_integral(v) else None)
        return f"({text})" if text.startswith("-") else text

    def values(self, vs: list[float]) -> str:
        """Several values read: "4, 5 and 6" (or "about 4, 5 and 6")."""
        listed = spoken_list([self.value_text(v) for v in vs])
        return listed if self.exact else f"about {listed}"

    def equals(self, v: float, decimals: int | None = None, unit: str | bool | None = True,
               pp: bool = False) -> str:
        """A step's result as the answer writes it: "= 25", or "≈ 23.46" when rounded."""
        d = self.d if decimals is None else decimals
        affix = self.affix if unit is True else (unit or None)
        # the answers' rule: a whole number without decimals, any other at exactly ``d``
        text = fmt_affixed(v, 0 if is_integral(v) else d, affix)
        text += " percentage points" if pp else ""
        return f"= {text}" if abs(v - round(v, d)) < 1e-9 else f"≈ {text}"

    def sum_step(self, vs: list[float], what: str) -> Step:
        """``what`` (the values' description: "the revenue of the 5 regions") added up."""
        total = sum(vs)
        read = "" if self.exact else f", read as {self.values(vs)}"
        return step(f"Adding up {what}{read}: {' + '.join(self.term(v) for v in vs)} "
                    f"{self.equals(total)}.", " + ".join(number(v) for v in vs), total)

    def read_step(self, i: int, j: int, what: str | None = None) -> Step:
        """One cell read off the chart: the whole solution of a value question."""
        v = self.vals[i][j]
        what = what or self.cell(i, j)
        text = (f"The chart labels {what} as {self.value_text(v)}." if self.exact
                else f"Reading the chart, {what} is {self.read(v)}.")
        return step(text, number(v), v)

    def two_times(self, a: int, b: int, j: int) -> str:
        """Series ``j`` read at two times: "Revenue was $40 in 2019 and $52 in 2021"."""
        return (f"{cap(self.mx(j))} {self.is_()} {self.read(self.vals[a][j])} {self.prep} "
                f"{self.cats[a]} and {self.read(self.vals[b][j])} {self.prep} {self.cats[b]}")

    def two_cells(self, a: int, b: int, j: int) -> str:
        """Two cells of series ``j`` read: "The revenue of A is $42 and that of B is $17"."""
        return (f"{cap(self.cell(a, j))} {self.is_()} {self.read(self.vals[a][j])} and "
                f"{self.that(b)} {'was' if self.time else 'is'} {self.read(self.vals[b][j])}")

    def extreme_step(self, vs: list[float], names: list[str], k: int, highest: bool,
                     what: str) -> Step:
        """The extreme ``vs[k]`` among ``what``, with the runner-up it beats."""
        second = sorted((i for i in range(len(vs)) if i != k), key=lambda i: vs[i],
                        reverse=highest)[0]
        word = "highest" if highest else "lowest"
        return step(f"The {word} {what} is {possessive(names[k])}, {self.read(vs[k])}; the "
                    f"next is {possessive(names[second])}, {self.read(vs[second])}.",
                    number(vs[k]), vs[k])

    def count_step(self, vs: list[float], names: list[str], t: float, above: bool,
                   t_text: str) -> Step:
        """The values beyond threshold ``t`` named and tallied (one ``1`` each)."""
        hits = [i for i, v in enumerate(vs) if (v > t if above else v < t)]
        listed = spoken_list([f"{names[i]} ({self.read(vs[i])})" for i in hits])
        side = "above" if above else "below"
        if len(hits) == 1:
            text = f"Of the {len(vs)} values, only {listed} is {side} {t_text}: 1."
        else:
            text = f"Of the {len(vs)} values, {listed} are {side} {t_text}: {len(hits)} in all."
        return step(text, tally(len(hits)), len(hits))

    def tally_step(self, pairs: list[str], what: str) -> Step:
        """Things counted, each named (``pairs``), and the tally: one ``1`` each."""
        if not pairs:
            return step(f"There are no {what}: 0.", "0", 0)
        return step(f"The {what}: {spoken_list(pairs)}, {len(pairs)} in all.",
                    tally(len(pairs)), len(pairs))

    def compare_step(self, va: float, vb: float, said: str, conclusion: str) -> Step:
        """Two values read and compared by their difference (its sign decides)."""
        d = va - vb
        return step(f"{said}: {self.term(va)} − {self.term(vb)} {self.equals(d)}, so "
                    f"{conclusion}.", f"{number(va)} - {number(vb)}", d)

    # --- items ---------------------------------------------------------------------------------

    def num(self, question: str, value: float, type: str, args: dict[str, Any], *,
            reads: int | None, decimals: int | None = None, unit: str | bool | None = True,
            steps: list[Step] | None = None,
            mistakes: list[tuple[str, list[Step]]] | None = None) -> QA | None:
        """A numeric item, or None when only a uselessly loose estimate is possible.

        ``reads``: how many values read off the chart the answer combines (its tolerance is
        ``reads`` × the read tolerance in estimate mode); None when the answer does not depend
        on reading values (a count). ``steps``: the worked solution (values read, then the
        arithmetic), stored as the item's ``steps`` and ``rationale``; ``mistakes``: worked
        solutions with one classic slip (:func:`renderers.qa.numeric_qa`)."""
        unit = self.affix if unit is True else (unit or None)
        tol = None
        if not self.exact and reads is not None:
            tol = _clean(self.tol * reads)
            if tol > 0.5 * abs(value):
                return None  # an estimate that loose says nothing about this answer
        item = numeric_qa(question, value, type=type, unit=unit,
                          decimals=self.d if decimals is None else decimals, tolerance=tol,
                          steps=steps, mistakes=mistakes)
        item["args"] = args
        return item

    def txt(self, question: str, answer: str, type: str, args: dict[str, Any],
            value: Any = None, steps: list[Step] | None = None) -> QA:
        item = text_qa(question, answer, type=type, value=value, steps=steps)
        item["args"] = args
        return item


def cap(text: str) -> str:
    """The first letter capitalised ("the revenue …" → "The revenue …")."""
    return text[:1].upper() + text[1:]


def possessive(name: str) -> str:
    """ "Finance's", "Keyboards'"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


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


def _pp(c: Ctx) -> bool:
    """Differences of percentages are percentage points."""
    return c.affix == "%"
