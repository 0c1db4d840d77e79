"""One rule for answers: how numbers, units and rounding are written, and how QA items look.

* An integral value is written without decimals ("12"); anything else is rounded to the number
  of decimals that the question states ("Round to 2 decimal places." → "12.57").
* Angles carry "°" with no space; other units follow after a space ("5 cm", "12.57 cm²").
  Percentages are tight too ("45%"); currency symbols go in front ("$12.5", "-$3").
* A value read off a chart's axis is an estimate: its item carries a ``tolerance`` and the
  question says how close an answer must be ("… within ±2.5 is accepted.").
* A QA item keeps the machine-readable ``value`` beside the text ``answer``, so checkers compare
  numbers, not strings.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

EXACT_TOL = 1e-9


def is_integral(value: float) -> bool:
    return abs(value - round(value)) < EXACT_TOL


def round_value(value: float, decimals: int | None) -> float | int:
    """The stored answer value: an int when integral, else rounded to ``decimals``."""
    if is_integral(value):
        return int(round(value))
    if decimals is None:
        raise ValueError(f"{value!r} is not integral: the question must state a rounding")
    rounded = round(float(value), decimals)
    return int(rounded) if decimals == 0 else rounded


def format_number(value: float, decimals: int | None = None) -> str:
    """Integral → "12"; otherwise exactly ``decimals`` digits after the point."""
    if is_integral(value):
        return str(int(round(value)))
    if decimals is None:
        raise ValueError(f"{value!r} is not integral: the question must state a rounding")
    return f"{value:.{decimals}f}"


TIGHT_UNITS = ("°", "%")
PREFIX_UNITS = ("$", "€", "£")


def with_unit(text: str, unit: str | None) -> str:
    if not unit:
        return text
    if unit in PREFIX_UNITS:
        return f"-{unit}{text[1:]}" if text.startswith("-") else f"{unit}{text}"
    return f"{text}{unit}" if unit in TIGHT_UNITS else f"{text} {unit}"


def area_unit(unit: str | None) -> str | None:
    """The unit of an area measured in ``unit``: "cm" → "cm²", bare "units" → "square units"."""
    if not unit:
        return unit
    return "square units" if unit == "units" else f"{unit}²"


def rounding_clause(decimals: int) -> str:
    places = "decimal place" if decimals == 1 else "decimal places"
    if decimals == 0:
        return "Round to the nearest whole number."
    return f"Round to {decimals} {places}."


def tolerance_clause(tolerance: float, unit: str | None = None) -> str:
    """The sentence that tells how precise an estimated answer must be."""
    return f"An estimate within ±{with_unit(f'{float(tolerance):g}', unit)} is accepted."


def format_fraction(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def numeric_qa(
    question: str,
    value: float,
    *,
    type: str,
    unit: str | None = None,
    decimals: int | None = None,
    rationale: str | None = None,
    tolerance: float | None = None,
    steps: list[dict[str, Any]] | None = None,
    mistakes: list[tuple[str, list[dict[str, Any]]]] | None = None,
) -> dict[str, Any]:
    """A QA item with a numeric answer. When ``value`` is not integral, ``decimals`` must be given
    and the question is extended with the rounding it expects. With ``tolerance`` (an answer
    estimated from a picture) the question also states how close an answer must be, and the
    item stores it. ``steps``: the worked solution (:mod:`renderers.solution`), stored as the
    item's ``steps`` and, in words, as its ``rationale``. ``mistakes``: ``(name, steps)`` of
    worked solutions with one classic wrong step (a formula misremembered: the ½ of a triangle's
    area forgotten), their last step the wrong answer; kept under ``mistakes`` (for preference
    pairs, never in a shard: :func:`without_mistakes`) when that answer is written at the
    item's rounding and differs from the truth there."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"answer to {question!r} is not finite: {value}")
    if not is_integral(value) and decimals is None:
        raise ValueError(f"{value!r} is not integral: give decimals for {question!r}")
    # Exact: integral, or written in full at ``decimals`` places (17.5 needs no rounding clause).
    exact = is_integral(value) or abs(value - round(value, decimals)) < EXACT_TOL
    if not exact:
        question = f"{question} {rounding_clause(decimals)}"
    if tolerance is not None:
        if not (math.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"tolerance must be positive, got {tolerance!r}")
        question = f"{question} {tolerance_clause(tolerance, unit)}"
    item: dict[str, Any] = {
        "question": question,
        "answer": with_unit(format_number(value, decimals), unit),
        "type": type,
        "value": round_value(value, decimals),
        "unit": unit,
    }
    if not is_integral(value):
        item["decimals"] = decimals
    item["exact"] = exact
    if tolerance is not None:
        item["tolerance"] = tolerance
    _worked(item, rationale, steps)
    wrong = []
    for name, wrong_steps in mistakes or ():
        v = float(wrong_steps[-1]["value"])
        if (not math.isfinite(v) or (not is_integral(v) and decimals is None)
                or round_value(v, decimals) == item["value"]):
            continue  # not writable as this question's answers are, or not wrong here
        wrong.append({"name": name, "steps": [dict(s) for s in wrong_steps],
                      "value": round_value(v, decimals),
                      "answer": with_unit(format_number(v, decimals), unit)})
    if wrong:
        item["mistakes"] = wrong
    return item


def without_mistakes(item: dict[str, Any]) -> dict[str, Any]:
    """A QA item as it is stored: its worked mistakes left out (they are material for
    preference pairs, not data to learn from)."""
    return {k: v for k, v in item.items() if k != "mistakes"}


def text_qa(question: str, answer: str, *, type: str, value: Any = None,
            rationale: str | None = None,
            steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A QA item whose answer is text (a name, a fraction, a point, yes/no); ``steps`` as for
    :func:`numeric_qa`."""
    # Exact: a text answer is written in full (nothing rounded), as numeric_qa's integral ones.
    item: dict[str, Any] = {"question": question, "answer": answer, "type": type,
                            "value": answer if value is None else value, "exact": True}
    _worked(item, rationale, steps)
    return item


def _worked(item: dict[str, Any], rationale: str | None,
            steps: list[dict[str, Any]] | None) -> None:
    from renderers.solution import rationale as in_words

    if steps:
        if rationale is not None:
            raise ValueError("give the steps or the rationale, not both: the steps' words are it")
        rationale = in_words(steps)
    if rationale:
        item["rationale"] = rationale
    if steps:
        item["steps"] = [dict(s) for s in steps]
    # How many reasoning steps the answer takes: its worked solution's (each a value the scene
    # determines); None for an answer that is no chain of steps (a transcribed table).
    item["difficulty"] = len(steps) if steps else None


def spoken_list(items: list[str]) -> str:
    """Items as a sentence lists them: "A", "A and B", "A, B and C"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def pick(rng: np.random.Generator, options: list | tuple):
    """One element of ``options`` chosen by ``rng`` (phrasings, names, units)."""
    return options[int(rng.integers(len(options)))]
