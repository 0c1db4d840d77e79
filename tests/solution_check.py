"""The independent checker of worked solutions (issue 18), shared by the geometry and chart
tests: a small arithmetic evaluator (its own walk of Python's syntax tree, not ``eval``, not
:mod:`renderers.solution`), the numbers a scene holds, and whether a step's words state its
value."""

from __future__ import annotations

import ast
import contextlib
import math
import operator
from fractions import Fraction

from renderers.qa import format_number

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}


def evaluate(expr: str) -> tuple[float, list[float]]:
    """The value of ``expr`` (numbers, + - * / **, unary minus, parentheses, sqrt, pi) and the
    number literals it uses; anything else is refused."""
    literals: list[float] = []

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            literals.append(node.value)
            return float(node.value)
        if isinstance(node, ast.Name) and node.id == "pi":
            return math.pi
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.Constant)):  # a negative number: one literal
            literals.append(-node.operand.value)
            return -float(node.operand.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "sqrt" and len(node.args) == 1 and not node.keywords):
            return math.sqrt(walk(node.args[0]))
        raise AssertionError(f"not plain arithmetic: {ast.dump(node)} in {expr!r}")

    return walk(ast.parse(expr, mode="eval")), literals


def scene_numbers(value) -> set[float]:
    if isinstance(value, dict):
        return set().union(*(scene_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(scene_numbers(v) for v in value)) if value else set()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {float(value)}
    return set()


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def states(text: str, value: float) -> bool:
    """The step's words write its value (in full, or rounded as the answer is; a coordinate
    as a distance from an axis; a ratio as a fraction)."""
    forms = set()
    for v in (value, abs(value)):
        for decimals in (None, 0, 1, 2, 3):
            with contextlib.suppress(ValueError):  # not integral: only rounded forms
                forms.add(format_number(v, decimals))
    ratio = Fraction(value).limit_denominator(1000)  # a slope, as the text writes it
    if math.isclose(float(ratio), value, rel_tol=1e-12):
        forms.add(f"{ratio.numerator}/{ratio.denominator}")
    return any(f in text for f in forms)




def check_chain(steps, known: set[float], words=lambda text: text) -> None:
    """Each step of a worked solution re-derived: its arithmetic gives its value, every number
    it uses is ``known`` (the scene's, a formula's constants) or an earlier step's value, and
    its words (through ``words``: a chart's thousands separators dropped) state the value."""
    known = set(known)
    for s in steps:
        assert set(s) == {"text", "expr", "value"}, s
        value, literals = evaluate(s["expr"])
        assert close(value, s["value"]), (s, value)
        for literal in literals:
            assert any(close(literal, k) for k in known), (literal, s)
        assert states(words(s["text"]), s["value"]), s
        known.add(float(s["value"]))
