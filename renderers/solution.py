"""Worked solutions: the steps an answer is found by, kept as data beside the words.

A rendered question's rationale is the solver's own trace: a list of steps, each ::

    {"text": "so angle C = 180° − 50° − 60° = 70°.",   # the step in words, as the rationale says it
     "expr": "180 - 50 - 60",                        # the arithmetic it states, over numbers
     "value": 70}                                    # what the solver found

``text`` of the steps joined by spaces is the item's ``rationale``; ``expr`` is plain Python
arithmetic over number literals (``+ - * / **``, parentheses, ``sqrt(…)``, ``pi``), each literal a
number the scene gives, a constant of the formula (2, ½, 180°, …) or an earlier step's value;
``value`` is the solver's own result, computed by its code, not by evaluating ``expr``. So a
checker that evaluates ``expr`` by itself re-derives every step independently, and the last
step's value is the answer (before rounding). Steps of a question without arithmetic (a point
read off a grid) state the value read: ``expr`` is that number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Step = dict[str, Any]


def step(text: str, expr: str, value: float) -> Step:
    """One step: its words, the arithmetic they state and the solver's value (a plain int when
    integral, so the JSON is the same on every platform)."""
    value = float(value)
    plain: float | int = int(round(value)) if abs(value - round(value)) < 1e-9 else value
    return {"text": text, "expr": expr, "value": plain}


def rationale(steps: Sequence[Step]) -> str:
    """The worked solution in words: the steps' texts, in order."""
    return " ".join(s["text"] for s in steps)


def tally(count: int) -> str:
    """A count as an ``expr``: one ``1`` per thing counted ("1 + 1 + 1"; "0" for none)."""
    return " + ".join(["1"] * count) or "0"


def number(value: float) -> str:
    """A number as an ``expr`` literal: integral values without a decimal point."""
    value = float(value)
    return str(int(round(value))) if abs(value - round(value)) < 1e-9 else repr(value)
