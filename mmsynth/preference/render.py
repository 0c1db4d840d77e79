"""Render preference pairs: the true answer against one computed from a misread scene
(``perturbed_scene``) or with a wrong formula step (``wrong_step``).

``perturbed_scene``: one value the picture gives (a side length, an angle, a point's
coordinate, a chart's data cell) is changed, and the family's own ``questions`` are asked again
of the changed scene with the random stream they had (so the same questions are drawn where the
change allows). A question whose answer there differs from the truth beyond its stated tolerance
(its ``tolerance`` for a value read off a chart, else the stated rounding; names, yes/no and
lists must differ) pairs: chosen is the sample's own answer turn, rejected the changed scene's
answer with its rationale, written the same way. Exact by construction; the tests re-derive the
truth by the independent checkers and compare.

Which value: drawn from the pair seed among the scene's numbers (geometry: every number outside
the style and layout keys; charts: the data table's cells), changed by a visible amount (charts:
at least three read tolerances and a tenth of the axis; geometry: a quarter of the value, at
least 1), each value at most once, up to :data:`ATTEMPTS` values until the sample has its pairs.
A changed value that changes no answer (a vertex the question does not use) or that the
questions cannot take is a *try* (counted ``tries:perturbed_scene:same_answer`` /
``questions_fail``), not a dropped pair: no pair was made.

``wrong_step``: the family's worked solution with one classic mistake — geometry: the ½ of a
triangle's area forgotten, the square root of the Pythagorean sum forgotten, the squares added
for a leg, a polygon's angle sum without the ``- 2``, 360° for a triangle's angles, a diameter
used as the radius, alternate angles taken as supplementary…; charts: a ratio inverted, a
change's sign reversed, a difference subtracted backwards, a value left out of a sum, a box's
whiskers taken for its quartiles or the other way round. Each family writes its mistakes
beside the solution (:func:`renderers.qa.numeric_qa`'s ``mistakes``), as steps whose arithmetic
is right and whose numbers are the scene's: only the rule is wrong, so the rejected answer reads
like a real student's solution. A mistake is offered only when its answer, at the question's
rounding, is not the truth; the pair is made only when it differs beyond tolerance. The tests
re-derive every step (tests/geometry/ and tests/charts/test_solution_steps.py) and have the
family checkers refuse the answer.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from mmsynth.preference import make_pair, pair_seed
from mmsynth.sample import Sample, answer_text
from mmsynth.sources.render import replayed_questions
from renderers.solution import rationale

if TYPE_CHECKING:
    from mmsynth.sources.render import RenderSource

ATTEMPTS = 24
KINDS = ("perturbed_scene", "wrong_step")
# Keys that style or lay out a figure: changing them changes no answer.
LAYOUT_KEYS = frozenset({"style", "margin", "arc_px", "rotation", "mirrored", "decimals",
                         "label_side", "label_prefix", "grid_color", "mark", "right_angle",
                         "straight", "double_marks", "parallel_marks", "names_at_start",
                         "tick_labels", "show_coords", "connect", "all_right_marks", "axis",
                         "readout", "start_angle", "clockwise", "hole"})


def fingerprint_extra() -> dict[str, Any]:
    """What decides the render pairs beyond the options: their kinds (a run made before a kind
    existed is not resumed into)."""
    return {"preference_kinds": list(KINDS)}


def differs(truth: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether ``other``'s value is wrong for ``truth``'s question: numbers beyond the stated
    tolerance (and beyond the stated rounding), anything else unequal."""
    tolerance = truth.get("tolerance") or 0.0
    if isinstance(tolerance, dict):  # a scatter table's per-column tolerances: the largest
        tolerance = max(tolerance.values())
    return _differs(truth.get("value"), other.get("value"), tolerance)


def _differs(a: Any, b: Any, tolerance: float) -> bool:
    if _number(a) and _number(b):
        return abs(float(a) - float(b)) > tolerance + 1e-9
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() != b.keys() or any(_differs(a[k], b[k], tolerance) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(
            _differs(x, y, tolerance) for x, y in zip(a, b, strict=True))
    return json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def numeric_leaves(scene: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths of the numbers a perturbation may change, in a fixed order."""
    if "table" in scene:
        rows = scene["table"]["rows"]
        return [("table", "rows", i, j) for i, row in enumerate(rows)
                for j, v in enumerate(row) if _number(v)]
    out: list[tuple[Any, ...]] = []

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        if isinstance(value, dict):
            for k in value:
                if k not in LAYOUT_KEYS:
                    walk(value[k], (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        elif _number(value):
            out.append(path)

    walk(scene, ())
    return out


def _get(scene: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        scene = scene[k]
    return scene


def _set(scene: Any, path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        scene = scene[k]
    scene[path[-1]] = value


class RenderPairs:
    """The geometry / chart pair maker of :class:`mmsynth.preference.PreferenceStage`.

    Two kinds, tried in an order drawn per sample (from a seed of its own, so each kind's
    random stream is the same whichever goes first): ``perturbed_scene`` and ``wrong_step``.
    Each kind pairs a question at most once; the second kind fills what the first left."""

    def __init__(self, source: RenderSource):
        self.source = source

    def __call__(self, sample: Sample, n: int, counters: Counter) -> list[dict[str, Any]]:
        if sample.scene is None or not sample.qa or "questions_rng" not in sample.work:
            return []
        family = self.source.families[sample.meta["generator"]]
        seeds = {kind: pair_seed(self.source.config["seed"], sample.meta["index"],
                                 sample.meta["generator"] + suffix)
                 for kind, suffix in (("perturbed_scene", ""), ("wrong_step", "/wrong_step"))}
        makers = [("perturbed_scene", self._perturbed_scene), ("wrong_step", self._wrong_step)]
        if np.random.default_rng(seeds["wrong_step"]).random() < 0.5:
            makers.reverse()
        pairs: list[dict[str, Any]] = []
        for kind, make in makers:
            if len(pairs) < n:
                pairs += make(sample, family, n - len(pairs), seeds[kind], counters)
        if len(pairs) < n:
            counters["skipped:fewer_than_asked"] += 1
        return pairs

    def _wrong_step(self, sample: Sample, family: Any, n: int, seed: int, counters: Counter
                    ) -> list[dict[str, Any]]:
        """``wrong_step``: the worked solution with one classic wrong step (a formula
        misremembered, a rule misapplied: :func:`renderers.qa.numeric_qa`'s ``mistakes``), its
        words and arithmetic otherwise honest, ending in the answer that step gives."""
        asked = replayed_questions(family, sample.scene, sample.work)
        rng = np.random.default_rng(seed)
        style = self.source.config.get("answer_style", "long")
        pairs: list[dict[str, Any]] = []
        offered = False
        for i in rng.permutation(min(len(asked), len(sample.qa))):
            truth, item = sample.qa[int(i)], asked[int(i)]
            mistakes = item.get("mistakes")
            if len(pairs) >= n or not mistakes:
                continue
            offered = True
            if item.get("type") != truth.get("type") or item.get("value") != truth.get("value"):
                counters["dropped:wrong_step:replay_differs"] += 1  # the stream did not replay
                continue
            mistake = mistakes[int(rng.integers(len(mistakes)))]
            rejected = answer_text({"answer": mistake["answer"],
                                    "rationale": rationale(mistake["steps"])}, style)
            turn = 2 * int(i) + 1
            chosen = sample.conversations[turn]["value"]
            if not differs(truth, mistake) or rejected == chosen:
                counters["dropped:wrong_step:not_wrong"] += 1
                continue
            provenance = {"method": "wrong_step", "seed": seed, "mistake": mistake["name"],
                          "value": mistake["value"], "truth": truth.get("value")}
            pairs.append(make_pair("wrong_step", turn, sample.conversations[:turn], chosen,
                                   rejected, "wrong_step", provenance))
        if not offered and any(item.get("steps") for item in asked):
            # a worked solution with no classic slip written for it (a count has no steps)
            counters["skipped:wrong_step:no_mistake"] += 1
        return pairs

    def _perturbed_scene(self, sample: Sample, family: Any, n: int, seed: int,
                         counters: Counter) -> list[dict[str, Any]]:
        rng = np.random.default_rng(seed)
        style = self.source.config.get("answer_style", "long")
        leaves = numeric_leaves(sample.scene)
        if not leaves:
            counters["skipped:perturbed_scene:no_value"] += 1
            return []
        pairs: list[dict[str, Any]] = []
        paired: set[int] = set()
        # Each value at most once, in an order drawn from the pair seed.
        order = [leaves[k] for k in rng.permutation(len(leaves))[:ATTEMPTS]]
        for attempt, path in enumerate(order):
            if len(pairs) >= n:
                break
            old = _get(sample.scene, path)
            new = self._changed(sample.scene, old, rng)
            scene = copy.deepcopy(sample.scene)
            _set(scene, path, new)
            try:
                asked = replayed_questions(family, scene, sample.work)
            except Exception:  # the changed scene may not make sense to every question
                counters["tries:perturbed_scene:questions_fail"] += 1
                continue
            made = False
            for i, truth in enumerate(sample.qa):
                if len(pairs) >= n or i in paired or i >= len(asked):
                    continue
                wrong = asked[i]
                if wrong.get("type") != truth.get("type") or wrong.get("args") != truth.get("args"):
                    continue
                if not differs(truth, wrong) or (answer_text(wrong, style)
                                                 == answer_text(truth, style)):
                    continue
                turn = 2 * i + 1
                provenance = {"method": "perturbed_scene", "seed": seed, "attempt": attempt,
                              "changed": {"path": list(path), "from": old, "to": new},
                              "value": wrong.get("value"), "truth": truth.get("value")}
                if truth.get("tolerance") is not None:
                    provenance["tolerance"] = truth["tolerance"]
                pairs.append(make_pair("perturbed_scene", turn, sample.conversations[:turn],
                                       sample.conversations[turn]["value"],
                                       answer_text(wrong, style),
                                       "differs_from_scene", provenance))
                paired.add(i)
                made = True
            if not made:
                counters["tries:perturbed_scene:same_answer"] += 1
        return pairs

    @staticmethod
    def _changed(scene: dict[str, Any], old: float, rng: np.random.Generator) -> float:
        """``old`` changed by a visible amount, with its type (an int stays an int)."""
        sign = 1 if rng.random() < 0.5 else -1
        if "table" in scene:
            axes = [a for a in (scene.get("axis"), scene.get("x_axis"), scene.get("y_axis")) if a]
            # A scatter's cell may be on either axis: the wider span, so the change is visible.
            span = max((float(a["max"] - a["min"]) for a in axes), default=abs(old))
            tolerance = (scene.get("readout") or {}).get("tolerance") or 0
            tolerance = max(tolerance) if isinstance(tolerance, list) else float(tolerance)
            step = max(3 * tolerance, 0.1 * span, 0.2 * abs(old), 1e-3)
            if old > 0 and old - step <= 0:
                sign = 1  # a count, share or size stays positive
        else:
            step = max(0.25 * abs(old), 1.0)
            if old > 0 and old - step <= 0:
                sign = 1
        new = old + sign * step * float(rng.uniform(1.0, 1.5))
        if isinstance(old, int):
            return int(math.copysign(math.ceil(abs(new - old)), new - old)) + old
        return round(new, 6)
