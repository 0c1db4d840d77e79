"""The stage contract: one step of a shard's chain, samples in → (kept, rejections) out.

A source declares its chain as data — a producer that turns the shard's indices into samples
(or drafts of them), then stage names looked up in :data:`STAGES` — and the pipeline runs it::

    producer(indices) → stage → stage → … → kept samples + counted rejections

Each stage owns its story: the counters of the shard it last processed (``counters``, written
into the shard's stats under the stage's ``name``) and the summary lines rendered from the run's
totals of those counters (:meth:`Stage.summary_lines`). The pipeline never reaches into a stage
beyond this contract, and a stage never knows which executor runs it (a model it holds is loaded
lazily, once per process or Ray actor).

A stage may run a stretch of the chain inside it (a source's ``wrappers``, built by
:func:`wrap_stages`): coco's ``best_of_n`` runs llm … claims on every round of candidate replies.
Such a stage resets the stages it runs once per shard (:meth:`Stage.reset`), calls their
``process`` as often as it needs, and lists them in :meth:`Stage.parts`, so their counters and
summary lines are reported under their own names as if they ran in the chain.

Progress: a stage that does a shard's long work (the LLM's replies, CLIP's scoring) declares a
``work`` share and reports fractions of it as it goes, so a progress bar moves inside a shard
instead of jumping when the shard is published.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from mmsynth.registry import Registry

if TYPE_CHECKING:
    from mmsynth.sample import Rejection, Sample


class ShardProgress:
    """Progress of one shard in items (the bar's unit), fed by fractions of each step's work.

    ``weights`` are the steps' shares of the shard's work (the producer's first, then each
    stage's). A step reports ``step(k).advance(fraction_done)``; the items shown never go
    backwards and reach exactly ``items`` when :meth:`finish` is called.
    """

    def __init__(self, items: int, report: Callable[[int], None] | None,
                 weights: Sequence[float]):
        self.items = items
        self.report = report
        total = sum(weights)
        # A chain without declared work (all 0) moves once, at the end.
        shares = [w / total for w in weights] if total > 0 else [0.0] * len(weights)
        self._starts = [sum(shares[:k]) for k in range(len(shares))]
        self._shares = shares
        self._shown = 0

    def step(self, k: int) -> Callable[[float], None]:
        """The ``advance(fraction)`` callback of step ``k`` (0 = the producer)."""
        start, share = self._starts[k], self._shares[k]
        return lambda fraction: self._move(start + share * min(max(fraction, 0.0), 1.0))

    def _move(self, done: float) -> None:
        shown = min(self.items, int(self.items * done + 1e-9))
        if shown > self._shown and self.report:
            self.report(shown - self._shown)
        self._shown = max(self._shown, shown)

    def finish(self) -> None:
        self._move(1.0)


def no_progress(fraction: float) -> None:
    """The progress callback of a step run outside a pipeline (tests, notebooks)."""


class Stage:
    """One step of a chain. Subclasses set ``name`` and implement :meth:`process`.

    ``stage(samples)`` resets :attr:`counters`, runs :meth:`process` and returns
    ``(kept, rejections)``; ``kept`` may hold samples the stage added (the annotation QA stage
    adds one per image) or changed (a turn dropped). A stage passes every sample it does not
    concern (e.g. samples without annotations) through unchanged, in order.
    """

    name: ClassVar[str] = ""
    # Share of a shard's work, for progress (0: too quick to be worth reporting).
    work: float = 0.0

    # The counters of the shard the stage last processed (reset by each call).
    counters: Counter[str]

    def __call__(self, samples: list[Sample], progress: Callable[[float], None] = no_progress,
                 ) -> tuple[list[Sample], list[Rejection]]:
        self.reset()
        return self.process(list(samples), progress)

    def reset(self) -> None:
        """Start a shard: empty :attr:`counters`. A stage that runs other stages several times
        over one shard (best-of-N's judges) resets them once and calls :meth:`process` per
        part, so their counters add up over the shard."""
        self.counters = Counter()

    def process(self, samples: list[Sample], progress: Callable[[float], None]
                ) -> tuple[list[Sample], list[Rejection]]:
        raise NotImplementedError

    def shard_stats(self) -> dict[str, int]:
        """The counters of the last call, for the shard's stats (a stage that wants every
        shard's stats to have the same keys sets them to 0 itself)."""
        return {k: int(v) for k, v in self.counters.items()}

    def parts(self) -> list[Stage]:
        """The stages whose counters and summary lines this stage stands for, in order: itself,
        or, for a stage that runs others inside it, those and itself (each reported under its
        own name, so the shard's stats read as if the stages ran in the chain)."""
        return [self]

    @property
    def last_stats(self) -> Counter[str]:
        """The last call's counters (the name earlier versions used)."""
        return self.counters

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        """The run summary's lines from this stage's counters totalled over the run's shards;
        none by default."""
        return []


# Stage name → "module:attr" of a factory ``(source) → Stage`` (lazy, like the sources): a
# source's chain names its stages, and naming one imports only its module.
STAGES = Registry("stage")


def build_chain(source: Any, names: Sequence[str]) -> list[Stage]:
    """The stages named by ``names``, built for ``source`` (each factory may return None for a
    stage that this config turns off)."""
    stages = []
    for name in names:
        stage = STAGES.get(name)(source)
        if stage is not None:
            stages.append(stage)
    return stages


def wrap_stages(source: Any, stages: list[Stage], wrappers: Mapping[str, Sequence[str]]
                ) -> list[Stage]:
    """``stages`` with each wrapper's stretch replaced by the wrapper built around it
    (``STAGES.get(wrapper)(source, stretch)``). The stretch is the built stages named in the
    wrapper's list (a stage the config turned off is simply not there); they must stand next to
    each other in the chain, since the wrapper runs them in one place."""
    for wrapper, names in wrappers.items():
        at = [k for k, stage in enumerate(stages) if stage.name in names]
        if not at:
            continue
        if at != list(range(at[0], at[-1] + 1)):
            raise ValueError(f"the stages {wrapper} runs ({', '.join(names)}) must stand next "
                             "to each other in the chain")
        stretch = stages[at[0]:at[-1] + 1]
        stages = [*stages[:at[0]], STAGES.get(wrapper)(source, stretch), *stages[at[-1] + 1:]]
    return stages


def by_count(totals: Mapping[str, int], prefix: str) -> str:
    """The counters named ``prefix<what>`` as a summary writes them: "what 3, other 1", most
    first (ties by name), zeros left out."""
    items = [(k[len(prefix):], n) for k, n in totals.items() if k.startswith(prefix) and n]
    return ", ".join(f"{k} {n}" for k, n in sorted(items, key=lambda kn: (-kn[1], kn[0])))


def summary_lines(stages: Sequence[Stage], totals: Mapping[str, Mapping[str, int]]
                  ) -> list[str]:
    """Every stage's summary lines from the run's totals, in chain order (a stage that runs
    others inside it: theirs, then its own)."""
    return [line for stage in stages for part in stage.parts()
            for line in type(part).summary_lines(totals.get(part.name, {}))]


STAGES.register("requests", "mmsynth.sources.coco_stages:RequestsStage")
STAGES.register("llm", "mmsynth.sources.coco_stages:GenerateStage")
STAGES.register("best_of_n", "mmsynth.sources.best_of_n:BestOfN")
STAGES.register("parse", "mmsynth.sources.coco_stages:ParseStage")
STAGES.register("annotation_qa", "mmsynth.sources.coco_stages:AnnotationQAStage")
STAGES.register("grounding", "mmsynth.filters.grounding:stage_for")
STAGES.register("claims", "mmsynth.filters.claims:stage_for")
STAGES.register("clip", "mmsynth.filters.clip:stage_for")
STAGES.register("preference", "mmsynth.preference:stage_for")
STAGES.register("variants", "mmsynth.variants:stage_for")
STAGES.register("difficulty", "mmsynth.difficulty:stage_for")
STAGES.register("persona", "mmsynth.personas:stage_for")
STAGES.register("evolve", "mmsynth.evolve:stage_for")
STAGES.register("regions", "mmsynth.regions:stage_for")
STAGES.register("region_qa", "mmsynth.sources.coco_stages:region_qa_stage")
STAGES.register("dedup", "mmsynth.dedup.stage:stage_for")
