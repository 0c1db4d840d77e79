"""Build shards on a Ray cluster (``--executor ray``): the same ``build_shard``, other processes.

The shard stays the unit of work and of atomicity: a Ray worker builds a whole shard and
publishes it exactly as a local worker does (temporary file, rename, stats last), into ``--out``,
which must be a path every node sees. The driver only schedules shard ids and collects stats.

- Jobs whose stages are stateless (renders) run each shard as a Ray **task**.
- Jobs that hold a model (``Source.holds_model``: the coco LLM, a CLIP filter) run shards on a
  pool of Ray **actors** (``--ray_model_actors``, each with ``--ray_gpus_per_actor`` GPUs); an
  actor builds its source once (``pipeline.source_for`` caches it per process), so the weights
  load once per actor, not once per shard.

Fault tolerance: a task whose worker dies is retried by Ray (``max_retries``), an actor that
dies is restarted and its shard retried (``max_restarts``/``max_task_retries``). A killed worker
leaves at most a temporary file, never a visible partial shard, and the retry writes the same
bytes (every random choice comes from the seed and the sample index). The temporary files of
killed workers are removed when the run completes (or, if it fails, when the next run starts);
if the driver itself dies, re-running the command resumes from the shards whose stats exist.

Progress is per item: workers report counts to a small tracker actor that the driver polls
(only when a progress bar is shown).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ray

from mmsynth import pipeline
from mmsynth.errors import UsageError
from mmsynth.pipeline import Job, build_shard
from mmsynth.shards import read_stats, remove_leftovers, shard_indices

Stats = dict[str, Any]

MAX_RETRIES = 3  # a shard survives this many dead workers in one run; then the run stops
POLL_SECONDS = 0.5  # how often the driver refreshes per-item progress
CONNECT_TIMEOUT_SECONDS = 60.0  # to join an existing cluster
VISIBLE_WITHIN_SECONDS = 10.0  # a shared filesystem may show another node's file a bit late
LOCAL_OBJECT_STORE_BYTES = 256 << 20  # only stats travel through Ray; keep a local store small


def task_name(shard_id: int) -> str:
    """The Ray task name of a shard: the worker's process title while it builds it
    (``ray::mmsynth-shard-000012``), and what ``ray list tasks`` shows."""
    return f"mmsynth-shard-{shard_id:06d}"


# -- what runs on the workers --------------------------------------------------------------------

def _worker_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}


def _build(job: Job, shard_id: int, tracker) -> tuple[Stats, dict[str, Any]]:
    progress = None
    if tracker is not None:
        tracker.start.remote(shard_id)  # a retried shard counts from zero again

        def progress(n: int) -> None:
            tracker.add.remote(shard_id, n)

    return build_shard(job, shard_id, progress), _worker_info()


def build_shard_task(job: Job, shard_id: int, tracker=None) -> tuple[Stats, dict[str, Any]]:
    """One shard as a stateless Ray task."""
    return _build(job, shard_id, tracker)


class ShardBuilder:
    """A Ray actor that builds shards with one long-lived source (and its model)."""

    def __init__(self) -> None:
        self._source = None
        self.sources_loaded = 0

    def build(self, job: Job, shard_id: int, tracker=None) -> tuple[Stats, dict[str, Any]]:
        stats, info = _build(job, shard_id, tracker)
        source = pipeline.source_for(job)  # the cached one build_shard used
        if source is not self._source:
            self._source = source
            self.sources_loaded += 1
        return stats, {**info, "sources_loaded": self.sources_loaded}


class ProgressTracker:
    """Items done per in-flight shard, reported by workers and polled by the driver."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def start(self, shard_id: int) -> None:
        self.counts[shard_id] = 0

    def add(self, shard_id: int, n: int) -> None:
        self.counts[shard_id] = self.counts.get(shard_id, 0) + n

    def forget(self, shard_id: int) -> None:
        self.counts.pop(shard_id, None)

    def snapshot(self) -> dict[int, int]:
        return dict(self.counts)


# -- the driver -----------------------------------------------------------------------------------

class RayExecutor:
    """Shards as Ray tasks (stateless jobs) or on a pool of model actors; stats to the driver.

    ``address``: None starts a local Ray instance of ``workers`` CPUs (shut down after the run);
    ``"auto"`` joins the running cluster; ``"ray://host:10001"`` uses Ray Client. If Ray is
    already initialised in this process (a test session, a notebook), that instance is used.
    ``workers`` is the number of shards in flight. ``model_actors`` (0: ``workers``) and
    ``gpus_per_actor`` size the actor pool of jobs that hold a model. ``mode`` is ``"auto"``
    (ask the source), ``"tasks"`` or ``"actors"``.
    """

    def __init__(self, workers: int = 1, address: str | None = None, model_actors: int = 0,
                 gpus_per_actor: float = 0.0, mode: str = "auto"):
        if mode not in ("auto", "tasks", "actors"):
            raise ValueError(f"mode must be auto, tasks or actors, not {mode!r}")
        self.workers = workers
        self.address = address
        self.model_actors = model_actors or workers
        self.gpus_per_actor = gpus_per_actor
        self.mode = mode
        self.placements: dict[int, dict[str, Any]] = {}  # shard id → worker info, this run
        self.startup_seconds = 0.0  # time to start or join Ray, this run
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        """Start or join Ray now (errors before the run writes anything); left on exit."""
        self._owns_ray = self._connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._owns_ray:
            self._owns_ray = False
            ray.shutdown()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RayExecutor:
        return cls(workers=config["workers"], address=config["ray_address"],
                   model_actors=config["ray_model_actors"],
                   gpus_per_actor=config["ray_gpus_per_actor"])

    def uses_actors(self, job: Job) -> bool:
        if self.mode != "auto":
            return self.mode == "actors"
        from mmsynth.sources import SOURCES

        return SOURCES.get(job.config["source"]).holds_model(job.config)

    def run(self, job: Job, shard_ids: list[int],
            progress: Callable[[int], None] | None = None) -> Iterator[Stats]:
        """Yield each shard's stats as it completes (in completion order)."""
        if not shard_ids:
            return
        started_ray = self._connect()
        tracker = actors = None
        pending: dict[Any, tuple[int, Any]] = {}  # ref → (shard id, actor or None)
        try:
            if progress:
                tracker = ray.remote(num_cpus=0)(ProgressTracker).remote()
            if self.uses_actors(job):
                self._check_gpus()
                builder = ray.remote(num_cpus=1, num_gpus=self.gpus_per_actor,
                                     max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)
                actors = [builder(ShardBuilder).remote()
                          for _ in range(min(self.model_actors, len(shard_ids)))]
                idle = list(actors)
            else:
                task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(build_shard_task)
                idle = [None] * min(self.workers, len(shard_ids))
            # Workers on other nodes have other working directories: give them an absolute path.
            out = Path(job.out).resolve()
            job_ref = ray.put(dataclasses.replace(job, out=str(out)))
            sizes = {s: len(shard_indices(s, job.shard_size, job.num_items)) for s in shard_ids}
            todo = list(reversed(shard_ids))
            finished_items = shown = 0
            last_poll = time.monotonic()
            while todo or pending:
                while todo and idle:
                    slot, shard_id = idle.pop(), todo.pop()
                    call = task if slot is None else slot.build
                    ref = call.options(name=task_name(shard_id)).remote(job_ref, shard_id, tracker)
                    pending[ref] = (shard_id, slot)
                ready, _ = ray.wait(list(pending), num_returns=1,
                                    timeout=POLL_SECONDS if tracker else None)
                for ref in ready:
                    shard_id, slot = pending.pop(ref)
                    stats, info = _result(ref, shard_id)
                    _check_visible(out, shard_id, info)
                    idle.append(slot)
                    self.placements[shard_id] = info
                    finished_items += sizes[shard_id]
                    if tracker:
                        tracker.forget.remote(shard_id)
                    yield stats
                if progress and (ready or time.monotonic() - last_poll >= POLL_SECONDS):
                    last_poll = time.monotonic()
                    counts = ray.get(tracker.snapshot.remote()) if pending else {}
                    running = {s for s, _ in pending.values()}
                    position = finished_items + sum(min(n, sizes[s]) for s, n in counts.items()
                                                    if s in running)
                    if position > shown:  # a retried shard restarts its count: never go back
                        progress(position - shown)
                        shown = position
            # Every shard of this run is published; what a killed worker left behind is not.
            remove_leftovers(out)
        finally:
            for ref, (_, slot) in pending.items():
                if slot is None:
                    ray.cancel(ref, force=True)
            for handle in (*(actors or ()), *((tracker,) if tracker else ())):
                ray.kill(handle)
            if started_ray:
                ray.shutdown()

    def _check_gpus(self) -> None:
        """On a local instance (nothing can autoscale) an actor asking for more GPUs than the
        machine has would wait forever: say so instead."""
        have = ray.cluster_resources().get("GPU", 0)
        if self.address is None and self.gpus_per_actor > have:
            raise UsageError(f"--ray_gpus_per_actor {self.gpus_per_actor:g}: the local Ray "
                             f"instance has {have:g} GPUs")

    def _connect(self) -> bool:
        """Start or join Ray; True when this call started it (and must shut it down)."""
        started, self.startup_seconds = connect(self.address, self.workers)
        return started


def connect(address: str | None, workers: int) -> tuple[bool, float]:
    """Start (``address`` None: a new local instance of ``workers`` CPUs) or join Ray:
    (whether this call started it, and must shut it down; seconds it took). Also what
    ``mmsynth dedup --executor ray`` uses."""
    if ray.is_initialized():
        return False, 0.0
    started = time.perf_counter()
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address is None:
        # "local": always a new instance, never a cluster that RAY_ADDRESS or `ray start`
        # happens to point at (that is what --ray_address auto is for).
        # Ray nices its workers to 15 so that a node's daemons stay responsive; on a machine
        # shared with other work that makes every shard yield to everything else (measured
        # here: shards ~1.8x slower than the local executor's under a load of 2-3). This
        # instance exists for this one job: run its workers at the local executor's priority.
        kwargs.update(address="local", num_cpus=workers,
                      object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                      _system_config={"worker_niceness": 0})
    else:
        kwargs["address"] = address
    try:
        if address is None:
            ray.init(**kwargs)
        else:
            _init_within(CONNECT_TIMEOUT_SECONDS, kwargs)
    except (ConnectionError, TimeoutError) as e:
        raise UsageError(f"--ray_address {address!r}: cannot connect to a Ray "
                         f"cluster ({e})") from None
    return True, time.perf_counter() - started


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _init_within(seconds: float, kwargs: dict[str, Any]) -> None:
    """``ray.init(**kwargs)``, or TimeoutError: an address where no cluster answers makes
    ``ray.init`` wait without end."""
    outcome: dict[str, BaseException] = {}

    def connect() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as e:
            outcome["error"] = e

    # Off the main thread ray.init cannot install its SIGTERM handler (exit, so that atexit
    # disconnects) and warns: install it here, and drop that warning.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
    quiet = _DropMessage("SIGTERM handler is not set")
    ray_logger = logging.getLogger("ray._private.worker")
    ray_logger.addFilter(quiet)
    thread = threading.Thread(target=connect, name="mmsynth-ray-connect", daemon=True)
    thread.start()
    try:
        thread.join(seconds)
    finally:
        ray_logger.removeFilter(quiet)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {seconds:.0f} s")
    if "error" in outcome:
        raise outcome["error"]


def _check_visible(out: Path, shard_id: int, info: dict[str, Any]) -> None:
    """The driver must see what a worker published, or resume and the totals would be wrong."""
    deadline = time.monotonic() + VISIBLE_WITHIN_SECONDS
    while read_stats(out, shard_id) is None:
        if time.monotonic() > deadline:
            raise UsageError(
                f"shard {shard_id} was written by a Ray worker on node {info['node'][:12]} but "
                f"is not visible in {out} here: --out must be a directory every node sees "
                "(a shared filesystem at the same path)")
        time.sleep(0.2)


def _result(ref, shard_id: int) -> tuple[Stats, dict[str, Any]]:
    """A finished shard's (stats, worker info); errors re-raised as the worker raised them."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, UsageError):
            raise e.cause from None
        raise e.as_instanceof_cause() from None
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError,
            ray.exceptions.ObjectLostError) as e:
        raise RuntimeError(
            f"shard {shard_id}: its Ray worker died on each of {MAX_RETRIES + 1} attempts "
            f"({type(e).__name__}); the finished shards are kept, run the same command again to "
            "resume"
        ) from e
