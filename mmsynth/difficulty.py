"""A job's mix of question difficulties (``--difficulty "{1: 1, 2: 2, 3: 1}"``, issue 18 item 2).

A render QA's ``difficulty`` is the number of steps of its worked solution (each a value the
scene determines, re-derived by the tests). With a mix, each sample is given a level drawn from
the mix (from a seed of its own: (run seed, index)) and keeps only its questions of that level.
A sample with none is drawn again, from ``(seed, index, attempt)``: first the same family (its
share of the run stays what ``--families`` asked), then any family; every redraw is counted, and a
sample that finds no question of its level is a counted rejection, never a silent mislabel.
With a mix the families also ask their composed questions (two or three facts chained:
``renderers.charts.ask_composed``, and the geometry families' own), which the higher levels
need. ``meta.difficulty`` records the level, the redraw and which of the family's questions
were kept.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mmsynth.sample import Rejection, Sample, conversations_from_qa
from mmsynth.stages import Stage

if TYPE_CHECKING:
    from mmsynth.sources.render import RenderSource

# Scenes of the sample's own family tried before any family is, and scenes tried in all.
SAME_FAMILY = 8
ATTEMPTS = 32


def parse_mix(value: Any) -> dict[int, float] | None:
    """``--difficulty``'s value as {level: weight} (None: off). Raises ValueError with what is
    expected."""
    if value is None or value in ("off", "", {}):
        return None
    if isinstance(value, str):  # a flag's text that was not read as a mapping: YAML's reading
        import yaml

        with contextlib.suppress(yaml.YAMLError):
            value = yaml.safe_load(value)
    if not isinstance(value, Mapping):
        raise ValueError("expects a mapping level: weight, e.g. \"{1: 1, 2: 2, 3: 1}\", or off")
    mix: dict[int, float] = {}
    for level, weight in value.items():
        try:
            k = int(level)
            w = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"level {level!r}: {weight!r} is not a whole level and a weight"
                             ) from None
        if k < 1 or k != float(level) or not w >= 0:
            raise ValueError(f"levels are whole numbers ≥ 1 and weights ≥ 0, got {level!r}: "
                             f"{weight!r}")
        mix[k] = w
    if not sum(mix.values()) > 0:
        raise ValueError("the weights must not all be 0")
    return dict(sorted(mix.items()))


def coerce_mix(name: str, value: Any) -> dict[int, float] | None:
    """The option's :attr:`~mmsynth.config.Option.coerce`: one spelling per mix (so the same
    mix given in YAML, as a flag or in JSON has one fingerprint)."""
    from mmsynth.config import shown
    from mmsynth.errors import UsageError

    try:
        return parse_mix(value)
    except ValueError as e:
        raise UsageError(f"--{name} {shown(value)}: {e}") from None


def level_seed(run_seed: int, index: int) -> int:
    """The seed of sample ``index``'s level: from (run seed, index) alone."""
    key = f"{run_seed}/{index}/difficulty"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


class DifficultyStage(Stage):
    """Keeps each sample's questions of the level drawn for it; redraws a sample with none.

    Counters: ``samples``, ``asked:<level>`` (levels drawn), ``questions:<level>`` (questions
    kept), ``redrawn`` (samples drawn again), ``other_family`` (of those, found in another
    family), ``dropped_questions`` (questions of other levels left out)."""

    name = "difficulty"
    work = 0.2  # a redraw costs a render; most samples need none

    def __init__(self, source: RenderSource, mix: dict[int, float]):
        self.source = source
        self.levels = list(mix)
        weights = np.array(list(mix.values()), float)
        self.cumulative = np.cumsum(weights / weights.sum())

    def level(self, index: int) -> int:
        u = np.random.default_rng(level_seed(self.source.config["seed"], index)).random()
        k = int(np.searchsorted(self.cumulative, u, side="right"))
        return self.levels[min(k, len(self.levels) - 1)]

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        from mmsynth.sources.render import _canvas

        c = self.counters
        for name in ("samples", "redrawn", "other_family", "dropped_questions"):
            c[name] += 0
        canvas = _canvas(self.source.config["image_size"])
        out: list[Sample] = []
        rejected: list[Rejection] = []
        for done, sample in enumerate(samples, 1):
            index = sample.meta["index"]
            level = self.level(index)
            c["samples"] += 1
            c[f"asked:{level}"] += 1
            kept, attempt = self._at_level(sample, level), 0
            while kept is None and attempt < ATTEMPTS:
                attempt += 1
                rng = np.random.default_rng([self.source.config["seed"], index, attempt])
                name = (sample.meta["generator"] if attempt <= SAME_FAMILY
                        else self.source._pick_family(rng))
                try:
                    redrawn = self.source.draw(index, name, rng, canvas)
                except Exception:  # a redrawn scene that does not draw: the next one
                    c["tries:render_error"] += 1
                    continue
                kept = self._at_level(redrawn, level)
            if kept is None:
                rejected.append(Rejection(
                    index, f"difficulty:no_question_of_level_{level}",
                    f"no question of level {level} in {ATTEMPTS + 1} scenes of sample {index}"))
                continue
            if attempt:
                c["redrawn"] += 1
                c["other_family"] += kept.meta["generator"] != sample.meta["generator"]
            kept.meta["difficulty"] = {"level": level, "redrawn": attempt,
                                       "kept": kept.work["qa_kept"]}
            c[f"questions:{level}"] += len(kept.qa)
            out.append(kept)
            progress(done / len(samples))
        return out, rejected

    def _at_level(self, sample: Sample, level: int) -> Sample | None:
        """``sample`` with only its questions of ``level`` (None if it has none)."""
        kept = [i for i, item in enumerate(sample.qa) if item.get("difficulty") == level]
        if not kept:
            return None
        self.counters["dropped_questions"] += len(sample.qa) - len(kept)
        sample.qa = [sample.qa[i] for i in kept]
        sample.conversations = conversations_from_qa(sample.qa,
                                                     self.source.config["answer_style"])
        # replays (preference pairs, variants) ask the family's questions again: these ones
        sample.work["qa_kept"] = kept
        return sample

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals.get("samples"):
            return []
        t = Counter(totals)

        def by_level(prefix: str) -> str:
            levels = sorted(int(k[len(prefix):]) for k in t if k.startswith(prefix))
            return ", ".join(f"{k}: {t[f'{prefix}{k}']}" for k in levels)

        return [f"  difficulty: levels drawn {by_level('asked:')}; questions kept by level "
                f"{by_level('questions:')}; {t['redrawn']} samples redrawn "
                f"({t['other_family']} in another family), {t['dropped_questions']} questions "
                "of other levels left out"]


def stage_for(source: Any) -> DifficultyStage | None:
    """The chain's ``difficulty`` stage, unless ``--difficulty`` is off."""
    mix = parse_mix(source.config.get("difficulty"))
    return DifficultyStage(source, mix) if mix else None
