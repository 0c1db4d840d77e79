"""The stage contract: chains as data, counters owned by stages, progress inside a shard."""

from __future__ import annotations

import pytest

from mmsynth.config import resolve
from mmsynth.pipeline import Job, build_shard, fingerprint_of, source_for
from mmsynth.sample import Rejection, Sample
from mmsynth.sources import SOURCES, source_options
from mmsynth.stages import STAGES, ShardProgress, Stage, build_chain
from tests.llm.fault_server import FaultServer


def test_shard_progress_splits_the_items_by_each_steps_work_and_never_goes_back():
    told: list[int] = []
    tracker = ShardProgress(100, told.append, [1.0, 0.0, 3.0])
    producer, quick, slow = tracker.step(0), tracker.step(1), tracker.step(2)
    producer(0.5)
    assert sum(told) == 12  # half of the producer's quarter
    producer(1.0)
    quick(1.0)  # no declared work: no move
    assert sum(told) == 25
    slow(0.5)
    slow(0.2)  # a step reporting less than before does not move the bar back
    assert sum(told) == 62
    tracker.finish()
    assert sum(told) == 100 and all(n > 0 for n in told)


def test_a_chain_without_declared_work_moves_once_at_the_end():
    told: list[int] = []
    tracker = ShardProgress(7, told.append, [0.0, 0.0])
    tracker.step(1)(1.0)
    assert told == []
    tracker.finish()
    assert told == [7]


class _DropOdd(Stage):
    name = "drop_odd"

    def process(self, samples, progress):
        kept, rejected = [], []
        for s in samples:
            if s.meta["index"] % 2:
                self.counters["dropped"] += 1
                rejected.append(Rejection(s.meta["index"], "odd"))
            else:
                kept.append(s)
        self.counters["kept"] += len(kept)
        return kept, rejected


def test_a_stage_owns_its_counters_and_they_reset_each_call():
    stage = _DropOdd()
    samples = [Sample(id=f"s{i}", image=b"", meta={"index": i}) for i in range(5)]
    kept, rejected = stage(samples)
    assert [s.id for s in kept] == ["s0", "s2", "s4"] and len(rejected) == 2
    assert stage.shard_stats() == {"dropped": 2, "kept": 3}
    stage(samples[:2])
    assert stage.shard_stats() == {"kept": 1, "dropped": 1}


def test_sources_declare_their_chains_by_registered_names():
    for name in SOURCES.names():
        for stage in SOURCES.get(name).chain:
            assert stage in STAGES, f"{name} names an unregistered stage {stage!r}"
    assert SOURCES.get("coco").chain[:3] == ("requests", "llm", "parse")
    geometry = SOURCES.get("geometry")(resolve({"source": "geometry"}, source_options), "t")
    assert [type(s).__name__ for s in build_chain(geometry, geometry.chain)] == ["ClipFilter"]


def _job(flags: dict, out) -> Job:
    config = resolve({**flags, "out": str(out)}, source_options)
    fp = fingerprint_of(config)
    items = source_for(Job(config, fp, 0, str(out))).num_items()
    out.mkdir(parents=True, exist_ok=True)
    return Job(config, fp, items, str(out))


def test_a_render_shard_reports_progress_as_it_renders(tmp_path):
    told: list[int] = []
    job = _job({"source": "geometry", "num_samples": 100, "shard_size": 100,
                "clip_mode": "off"}, tmp_path / "geo")
    stats = build_shard(job, 0, told.append)
    assert stats["kept"] + stats["rejected"] == 100
    assert len(told) >= 3 and sum(told) == 100  # every 32 renders, then the rest


@pytest.mark.slow
@pytest.mark.parametrize("retries", [0, 3])
def test_a_coco_shard_reports_progress_as_the_llm_replies(tmp_path, retries):
    """One shard of nine photos: the bar moves with each reply, not once when the shard is
    published (it used to sit at 0% for minutes on a CPU), and retry rounds (the canned reply
    fails the checks of some requests every time) do not take it past the shard's images."""
    told: list[int] = []
    with FaultServer() as server:
        job = _job({"source": "coco", "types": "detail,conversation", "clip_mode": "off",
                    "llm_backend": "openai", "llm_model": "canned-model", "llm_concurrency": 1,
                    "llm_base_url": server.url, "llm_max_retries": 0, "llm_cache": "off",
                    "llm_retries": retries}, tmp_path / "coco")
        stats = build_shard(job, 0, told.append)
        replies = len(server.chat_requests)
    retried = stats["stages"]["best_of_n"]["retries"]
    assert replies == 18 + retried and (retried > 0) == (retries > 0)
    assert sum(told) == job.num_items == 9
    assert len(told) >= 5, told  # moved many times inside the one shard
    assert stats["shard"] == 0 and stats["kept"] + stats["rejected"] >= 9
