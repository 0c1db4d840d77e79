"""Helpers shared by the geometry checkers: scene streams, the JSON-type check, the answer rule.

Only what every family's checker needs in the same form lives here; each checker's own
derivation of the answers stays in its test file.
"""

import numpy as np
import pytest

from renderers.qa import format_number, with_unit


def scenes(family, seed: int, count: int):
    """(index, scene, questions) for sample indices 0..count-1, as the render source draws them."""
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        scene = family.sample_scene(rng)
        yield i, scene, family.questions(scene, rng)


def is_plain_json(value) -> bool:
    """Only JSON's own types, not numpy's look-alikes."""
    if isinstance(value, dict):
        return all(type(k) is str and is_plain_json(x) for k, x in value.items())
    if isinstance(value, list):
        return all(is_plain_json(x) for x in value)
    return value is None or type(value) in (str, int, float, bool)


def area_unit(unit: str) -> str:
    return "square units" if unit == "units" else f"{unit}²"


def shoelace(points) -> float:
    x, y = np.asarray(points, float).T
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def assert_answer(item, expected, unit):
    """``value`` is ``expected`` (exactly, or within the stated rounding) and ``answer`` is that
    number written by the shared rule, with ``unit``."""
    if abs(expected - round(expected)) < 1e-6:
        assert isinstance(item["value"], int) and item["value"] == round(expected), item
        assert "decimals" not in item and item["exact"], item
        assert item["answer"] == with_unit(str(round(expected)), unit), item
        assert "Round to" not in item["question"]
        return
    decimals = item["decimals"]
    assert decimals in (1, 2), item
    assert item["value"] == round(item["value"], decimals)
    if abs(expected - round(expected, decimals)) < 1e-6:  # written in full, e.g. 17.5
        assert item["exact"], item
        assert item["value"] == pytest.approx(expected, abs=1e-6)
        assert "Round to" not in item["question"]
    else:
        assert not item["exact"], item
        assert abs(item["value"] - expected) <= 0.5 * 10**-decimals + 1e-9, (item, expected)
        places = "decimal place" if decimals == 1 else "decimal places"
        assert item["question"].endswith(f"Round to {decimals} {places}."), item
    assert item["answer"] == with_unit(format_number(expected, decimals), unit), item
