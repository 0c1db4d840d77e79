"""Executors map ``build_shard`` over shard ids. Stages never know which one runs them.

``local`` runs shards in this process (``--workers 1``) or in a pool of worker processes;
``ray`` (``mmsynth.ray_executor``) runs them on a Ray cluster with the same ``run`` contract.
Ray is imported only when ``--executor ray`` is chosen.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.pipeline import Job, build_shard

Stats = dict[str, Any]


class LocalExecutor:
    """Shards on ``workers`` local processes; with one worker, in the calling process."""

    def __init__(self, workers: int = 1):
        self.workers = workers

    # An executor is a context manager around a run (``mmsynth.run`` enters it before writing
    # anything), so one that must start or join an engine can fail before the output is touched.
    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def run(self, job: Job, shard_ids: list[int],
            progress: Callable[[int], None] | None = None) -> Iterator[Stats]:
        """Yield each shard's stats as it completes (order not guaranteed with workers > 1)."""
        if self.workers == 1 or len(shard_ids) <= 1:
            for shard_id in shard_ids:
                yield build_shard(job, shard_id, progress)
            return
        yield from self._run_pool(job, shard_ids, progress)

    def _run_pool(self, job, shard_ids, progress):
        # fork is cheapest (workers inherit imported modules); elsewhere spawn.
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        queue = ctx.SimpleQueue()
        pool = ProcessPoolExecutor(min(self.workers, len(shard_ids)), mp_context=ctx,
                                   initializer=_init_worker, initargs=(queue,))
        drain = None
        shard_of = {}
        try:
            for s in shard_ids:
                shard_of[pool.submit(_build_in_worker, job, s)] = s
            pending = set(shard_of)
            if progress:  # started after the workers are forked: they inherit no extra thread
                drain = threading.Thread(target=_drain, args=(queue, progress), daemon=True)
                drain.start()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        # The pool cannot say which worker died or why; the shards it had not
                        # finished are the ones a re-run builds.
                        unfinished = sorted(shard_of[f] for f in (*done, *pending)
                                            if not f.done() or f.cancelled()
                                            or f.exception() is not None)
                        raise BrokenProcessPool(
                            f"a worker process died (killed by a signal or the out-of-memory "
                            f"killer?) while shards {_ranges(unfinished)} were unfinished"
                        ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            queue.put(None)
            if drain:
                drain.join(timeout=5)


_worker_queue = None


def _init_worker(queue) -> None:
    global _worker_queue
    _worker_queue = queue


def _build_in_worker(job: Job, shard_id: int) -> Stats:
    return build_shard(job, shard_id, _worker_queue.put if _worker_queue is not None else None)


def _ranges(ids: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2, 5`` (at most a few groups)."""
    groups: list[list[int]] = []
    for i in ids:
        if groups and i == groups[-1][1] + 1:
            groups[-1][1] = i
        else:
            groups.append([i, i])
    shown = [f"{a}-{b}" if a != b else str(a) for a, b in groups[:6]]
    return ", ".join(shown) + (" …" if len(groups) > 6 else "")


def _drain(queue, progress: Callable[[int], None]) -> None:
    while (n := queue.get()) is not None:
        progress(n)


RAY_OPTIONS = ("ray_address", "ray_model_actors", "ray_gpus_per_actor")


def _local(config: dict[str, Any]) -> LocalExecutor:
    given = [f"--{k}" for k in RAY_OPTIONS if config.get(k)]
    if given:
        raise UsageError(f"{', '.join(given)} only apply with --executor ray")
    return LocalExecutor(workers=config["workers"])


def _ray(config: dict[str, Any]):
    try:
        from mmsynth.ray_executor import RayExecutor
    except ImportError as e:
        if (e.name or "").split(".")[0] != "ray":
            raise
        raise UsageError("--executor ray needs Ray: pip install 'mmsynth[ray]' (or 'ray>=2.9')"
                         ) from None
    return RayExecutor.from_config(config)


# name → factory(config); factories import their engine only when chosen.
EXECUTORS: dict[str, Callable[[dict[str, Any]], Any]] = {"local": _local, "ray": _ray}


def make_executor(config: dict[str, Any]):
    """The executor named by ``--executor``, built from the config (UsageError if unknown)."""
    name = config["executor"]
    if name not in EXECUTORS:
        raise UsageError(f"unknown --executor {name!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](config)
