"""The source contract: turn a range of sample indices into samples and counted rejections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from mmsynth.config import Option
from mmsynth.sample import Rejection, Sample

Progress = Callable[[int], None]


class Source:
    """Produces the samples of index range [start, stop). Built once per worker process from the
    resolved config, so it may hold a model or a canvas; must not rely on the driver's state."""

    name: ClassVar[str] = ""
    # Counters of the last ``produce`` call by name (e.g. {"llm": {...}}); they land in the shard's
    # stats beside the stages' and are totalled for the summary.
    last_stats: dict[str, dict[str, int]]
    options: ClassVar[dict[str, Option]] = {}
    item_noun: ClassVar[str] = "samples"  # what one index is, for summaries

    def __init__(self, config: dict[str, Any], fingerprint: str):
        self.config = config
        self.fingerprint = fingerprint

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
        raise NotImplementedError

    def stages(self) -> list[Callable[[list[Sample]], tuple[list[Sample], list[Rejection]]]]:
        """Checks applied to produced samples, in order (each returns kept, rejected)."""
        return []

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

    @classmethod
    def summarize_stages(cls, stage_stats: dict[str, dict[str, int]]) -> list[str]:
        """Summary lines for the run's stage counters (``stage.last_stats`` totalled by stage
        name); the default prints nothing."""
        return []

    def sample_id(self, index: int) -> str:
        return f"{self.name}-{self.config['seed']}-{index:09d}"

    def provenance(self, index: int, **extra: Any) -> dict[str, Any]:
        from mmsynth import __version__

        return {"source": self.name, "seed": self.config["seed"], "index": index,
                "config_fingerprint": self.fingerprint, "mmsynth_version": __version__, **extra}
