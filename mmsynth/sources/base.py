"""The source contract: turn a range of sample indices into samples and counted rejections."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from mmsynth.config import Option
from mmsynth.sample import Rejection, Sample

if TYPE_CHECKING:
    from mmsynth.stages import Stage

# Called with the fraction of the producer's work done so far.
Progress = Callable[[float], None]


class Source:
    """Produces the samples of index range [start, stop). Built once per worker process from the
    resolved config, so it may hold a model or a canvas; must not rely on the driver's state."""

    name: ClassVar[str] = ""
    # The stages after the producer, by name (``mmsynth.stages.STAGES``), in order.
    chain: ClassVar[tuple[str, ...]] = ()
    # Stages that run a stretch of the chain inside them: the wrapper's name (in STAGES, a
    # factory ``(source, stages) → Stage``) → the names of the stages it runs, which stand next
    # to each other in ``chain``. Coco's best_of_n runs the LLM and the checks that judge it.
    wrappers: ClassVar[dict[str, tuple[str, ...]]] = {}
    # The producer's share of a shard's work, for progress (see ``mmsynth.stages``).
    producer_work: ClassVar[float] = 0.0
    options: ClassVar[dict[str, Option]] = {}
    item_noun: ClassVar[str] = "samples"  # what one index is, for summaries

    def __init__(self, config: dict[str, Any], fingerprint: str):
        self.config = config
        self.fingerprint = fingerprint
        self._stages: list[Stage] | None = None

    def check_ready(self) -> None:
        """Fail fast, before the run writes anything: raise UsageError if this source cannot work
        (an LLM server that is down, a model it does not serve). Runs once, in the driver."""

    def num_items(self) -> int:
        """How many sample indices the run covers."""
        return self.config["num_samples"]

    def input_report(self) -> dict[str, dict[str, int]]:
        """What this source's reader left out of or changed in its input, by reason:
        ``{"dropped": {reason: records}, "repaired": {reason: records}}`` (groups with nothing
        omitted; empty by default). Asked once, in the driver, for the whole run (workers read
        the same input, so their readers' counts would repeat it); the run records it in
        stats.json, its summary and the dataset card."""
        return {}

    def produce(self, indices: range, progress: Progress | None = None
                ) -> tuple[list[Sample], list[Rejection]]:
        """The producer: the samples (or drafts the chain completes) of ``indices`` and the
        rejections; ``progress(fraction)`` may report how far it got."""
        raise NotImplementedError

    def stages(self) -> list[Stage]:
        """This source's chain, built once (a stage may hold a model, loaded lazily)."""
        if self._stages is None:
            from mmsynth.stages import build_chain, wrap_stages

            self._stages = wrap_stages(self, build_chain(self, self.chain), self.wrappers)
        return self._stages

    @classmethod
    def holds_model(cls, config: dict[str, Any]) -> bool:
        """Whether this job's source or stages hold a model (LLM, CLIP) that should be loaded
        once per long-lived worker. A cluster executor then builds shards on a pool of actors
        (optionally with GPUs) instead of stateless tasks. The default: no model."""
        return False

    @classmethod
    def fingerprint_extra(cls, config: dict[str, Any]) -> dict[str, Any]:
        """What besides the options decides the samples (renderer versions, prompt files);
        it enters the run's fingerprint."""
        return {}

    def sample_id(self, index: int) -> str:
        return f"{self.name}-{self.config['seed']}-{index:09d}"

    def provenance(self, index: int, **extra: Any) -> dict[str, Any]:
        from mmsynth import __version__

        return {"source": self.name, "seed": self.config["seed"], "index": index,
                "config_fingerprint": self.fingerprint, "mmsynth_version": __version__, **extra}
