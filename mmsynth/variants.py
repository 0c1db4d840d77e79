"""Perturbed variants (``--variants K``, issue 18 item 4; MuggleMath's "change the numbers"):
the same questions on a scene redrawn with changed values, each its own sample whose
``meta.variant_of`` names its origin (so a split can keep a family of samples together).

A variant's scene is made by the family's own ``sample_scene`` — so it is as valid as any scene
the family draws (a triangle still closes, a pie still sums to 100 %) — fed the origin's random
draws but one, which is drawn afresh (:class:`Replayed`). It is kept only if it changed values
and nothing else: the scene's skeleton (its keys, list lengths, strings and flags: names, labels,
task, style) equals the origin's, the same questions are asked of it (replaying the origin's
question stream: the same types and arguments but for their numbers), at least one answer
differs, and its labels fit. Which draw is redrawn is tried in an order drawn from (seed, index),
so a variant depends on nothing but the origin: deterministic and resumable.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mmsynth.sample import Rejection, Sample, conversations_from_qa
from mmsynth.sources.render import generator_at, replayed_questions
from mmsynth.stages import Stage, by_count

if TYPE_CHECKING:
    from mmsynth.sources.render import RenderSource

# Redraws tried per variant before it is counted as not made, and how far each moves its value
# from the origin's toward a fresh draw (a small move keeps more questions the same; a fresh
# draw changes values that a small move would leave on the same tick).
ATTEMPTS = 96
STEPS = (0.5, 1.0)
# Bumped when the way variants are drawn changes (a run made before is not resumed into).
VERSION = 1


def variant_seed(run_seed: int, index: int, k: int) -> int:
    """The seed of a sample's ``k``-th variant: from (run seed, sample index, k) alone."""
    key = f"{run_seed}/{index}/{k}/variant"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def _signature(args: tuple, kwargs: dict) -> str:
    # Draw calls are matched by method and arguments; arguments are short (a range, a list of
    # names, a size), so their repr is an exact key.
    return repr((args, sorted(kwargs.items())))


class Recorded:
    """A ``numpy.random.Generator`` stand-in that makes the generator's own draws and records
    each one: (method, arguments, result)."""

    def __init__(self, generator: np.random.Generator):
        self._generator = generator
        self.draws: list[tuple[str, str, Any]] = []

    def __getattr__(self, name: str):
        method = getattr(self._generator, name)

        def draw(*args, **kwargs):
            call = _signature(args, kwargs)  # before the call: shuffle changes its argument
            result = method(*args, **kwargs)
            # shuffle works in place: its result is the shuffled sequence
            made = copy.deepcopy(args[0] if name == "shuffle" else result)
            self.draws.append((name, call, made))
            return result

        return draw


class Replayed:
    """Gives back recorded draws in order, but draw ``redraw``, which ``generator`` makes
    afresh.

    A redrawn value may send a loop of the family's round a different number of times (a
    triangle's sides drawn until they close): the calls then differ from the recording for a
    while. A call that does not match the next recorded one takes the next recorded call of its
    own kind (method and arguments) further on, skipping the loop's rejected rounds, or, when
    there is none, a fresh draw (the loop's extra rounds); so the draws after the loop are the
    origin's again. Which value goes where cannot make a scene invalid — the family's own code
    builds it from whatever it is given — it only decides whether the variant keeps the origin's
    names and style, which the caller checks."""

    def __init__(self, draws: list[tuple[str, str, Any]], redraw: int,
                 generator: np.random.Generator, step: float = 1.0):
        self._draws, self._redraw, self._generator = draws, redraw, generator
        self._step = step
        self._next = 0

    def _find(self, call: tuple[str, str]) -> int | None:
        return next((k for k in range(self._next, len(self._draws))
                     if self._draws[k][:2] == call), None)

    def __getattr__(self, name: str):
        method = getattr(self._generator, name)

        def draw(*args, **kwargs):
            k = self._find((name, _signature(args, kwargs)))
            if k is None:
                return method(*args, **kwargs)
            self._next = k + 1
            if k == self._redraw:
                return _toward(name, self._draws[k][2], method(*args, **kwargs), self._step)
            result = copy.deepcopy(self._draws[k][2])
            if name == "shuffle":
                args[0][:] = result
                return None
            return result

        return draw


# Draws whose support is convex (a range, the positive reals, a simplex): a point between two
# draws is a draw the family could have made. Not ``choice`` (between 2 and 5 lies 3, which a
# pick from (1, 2, 5) never is), nor orders.
CONVEX = frozenset({"integers", "random", "uniform", "normal", "lognormal", "dirichlet"})


def _toward(method: str, old: Any, fresh: Any, step: float) -> Any:
    """``step`` of the way from the recorded draw to a fresh one, for the draws of
    :data:`CONVEX` (whole numbers stay whole); for anything else, the fresh draw."""
    if step >= 1.0 or method not in CONVEX:
        return fresh
    old_a, fresh_a = np.asarray(old), np.asarray(fresh)
    if old_a.shape != fresh_a.shape or old_a.dtype.kind not in "if" or old_a.dtype == bool:
        return fresh
    mixed = old_a + step * (fresh_a - old_a)
    if old_a.dtype.kind == "i":
        mixed = np.rint(mixed)
    mixed = mixed.astype(old_a.dtype)
    return mixed if isinstance(old, np.ndarray) else type(old)(mixed)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def skeleton(value: Any) -> Any:
    """``value`` with every number blanked, those written in its strings too (a label "59°"):
    what a variant must keep."""
    if isinstance(value, dict):
        return {k: skeleton(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [skeleton(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _NUMBER.sub("#", value)
    return value


def same_questions(origin: list[dict[str, Any]], asked: list[dict[str, Any]]) -> bool:
    """Whether ``asked`` are ``origin``'s questions: the same types, and the same words and
    arguments but for their numbers (a threshold drawn from the data's range; not a rounding
    instruction that the new values need and the origin's did not)."""
    return len(origin) == len(asked) and all(
        a.get("type") == b.get("type") and skeleton(a.get("args")) == skeleton(b.get("args"))
        and skeleton(a["question"]) == skeleton(b["question"])
        for a, b in zip(origin, asked, strict=True))


class VariantStage(Stage):
    """Adds up to ``n`` variants after each rendered sample (it never rejects the origin).

    Counters: ``samples``, ``variants`` (made), ``samples_with_variants``, ``not_made`` (a
    variant whose every tried redraw failed) and ``tries:<why>`` per failed redraw:
    ``no_change`` (the redrawn draw changed no value, or changed a name, a label or the task
    too), ``scene_fails`` (the family refused the redrawn values), ``questions_fail`` (a question
    could not be asked of them), ``other_questions`` (a
    different question was asked), ``same_answers``, ``labels_do_not_fit``;
    ``scene_differs`` counts origins whose recorded draws did not remake their scene (none is
    expected)."""

    name = "variants"

    def __init__(self, source: RenderSource, n: int):
        self.source = source
        self.n = n
        self.work = 0.5 * n  # a variant costs about one render, like its origin

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        from mmsynth.sources.render import _canvas

        c = self.counters
        for name in ("samples", "variants", "samples_with_variants", "not_made"):
            c[name] += 0
        canvas = _canvas(self.source.config["image_size"])
        out: list[Sample] = []
        for done, sample in enumerate(samples, 1):
            out.append(sample)
            if sample.scene is None or "scene_rng" not in sample.work:
                continue
            c["samples"] += 1
            made = self._variants(sample, canvas, c)
            out += made
            c["variants"] += len(made)
            c["samples_with_variants"] += bool(made)
            c["not_made"] += self.n - len(made)
            progress(done / len(samples))
        return out, []

    def _variants(self, origin: Sample, canvas, c: Counter) -> list[Sample]:
        family = self.source.families[origin.meta["generator"]]
        recorder = Recorded(generator_at(origin.work["scene_rng"]))
        if family.sample_scene(recorder) != origin.scene:
            c["scene_differs"] += 1
            return []
        draws = recorder.draws
        seen = [copy.deepcopy(origin.scene)]
        made: list[Sample] = []
        for k in range(1, self.n + 1):
            seed = variant_seed(self.source.config["seed"], origin.meta["index"], k)
            rng = np.random.default_rng(seed)
            tries = [(int(i), step) for i in rng.permutation(len(draws)) for step in STEPS]
            for attempt, (redraw, step) in enumerate(tries[:ATTEMPTS]):
                replay = Replayed(draws, redraw, np.random.default_rng([seed, attempt]), step)
                variant = self._attempt(origin, k, family, replay, seen, canvas, c)
                if variant is not None:
                    variant.meta["variant"] = {"n": k, "seed": seed, "attempt": attempt,
                                               "redrawn": redraw, "step": step}
                    made.append(variant)
                    seen.append(variant.scene)
                    break
        return made

    def _attempt(self, origin: Sample, k: int, family, replay: Replayed, seen: list[dict],
                 canvas, c: Counter) -> Sample | None:
        from renderers.base import LabelsDoNotFit
        from renderers.qa import without_mistakes

        try:
            scene = family.sample_scene(replay)
        except Exception:  # a redrawn value the family's own checks refuse
            c["tries:scene_fails"] += 1
            return None
        if scene in seen or skeleton(scene) != skeleton(origin.scene):
            c["tries:no_change"] += 1
            return None
        try:
            asked = replayed_questions(family, scene, origin.work)
        except Exception:  # the redrawn values leave some question unaskable: the next redraw
            c["tries:questions_fail"] += 1
            return None
        if not same_questions(origin.qa, asked):
            c["tries:other_questions"] += 1
            return None
        qa = [without_mistakes(item) for item in asked]
        if all(a.get("value") == b.get("value") for a, b in zip(origin.qa, qa, strict=True)):
            c["tries:same_answers"] += 1
            return None
        try:
            image = family.render(scene, canvas)
        except LabelsDoNotFit:
            c["tries:labels_do_not_fit"] += 1
            return None
        index = origin.meta["index"]
        return Sample(
            id=f"{origin.id}-v{k}", image=image, image_ext=origin.image_ext,
            conversations=conversations_from_qa(qa, self.source.config["answer_style"]),
            qa=qa, scene=scene, caption=family.caption(scene),
            meta={**self.source.provenance(index, generator=origin.meta["generator"],
                                           generator_version=family.version,
                                           license=origin.meta["license"]),
                  "variant_of": origin.id,
                  # a level's questions kept (--difficulty): the variant asks the same ones
                  **({"difficulty": origin.meta["difficulty"]}
                     if "difficulty" in origin.meta else {})},
            work={k: origin.work[k] for k in ("questions_rng", "qa_kept") if k in origin.work},
        )

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals.get("samples"):
            return []
        t = Counter(totals)
        why = by_count(t, "tries:")
        line = (f"  variants: {t['variants']} made for {t['samples_with_variants']} of "
                f"{t['samples']} samples, {t['not_made']} not made")
        return [line + (f" (redraws that made none: {why})" if why else "")]


def stage_for(source: Any) -> VariantStage | None:
    """The chain's ``variants`` stage, unless ``--variants`` is 0."""
    n = int(source.config.get("variants", 0))
    return VariantStage(source, n) if n > 0 else None
