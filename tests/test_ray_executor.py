"""The Ray executor on a real local Ray instance: the local executor's bytes, a killed worker
retried with no partial shard ever visible, a killed driver resumed, model actors that load the
real LLM once.

The in-process tests share one Ray instance (``ray.init(num_cpus=2)``) for the session; the CLI
tests start their own, as a user's command does.
"""

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
import ray
from conftest import REPO, cli, read_shards, shard_bytes

from mmsynth.config import RUN_OPTIONS, fingerprint, resolve
from mmsynth.errors import UsageError
from mmsynth.executors import LocalExecutor, make_executor
from mmsynth.pipeline import Job, fingerprint_extra, source_for
from mmsynth.ray_executor import RayExecutor
from mmsynth.shards import num_shards
from mmsynth.sources import SOURCES, source_options

N, SHARD = 800, 50
GEOMETRY = {"source": "geometry", "num_samples": N, "shard_size": SHARD, "seed": 5}
ARGS = [f"--{k}={v}" for k, v in GEOMETRY.items()] + ["--noprogress"]


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the in-process tests (executors inside reuse it); its
    workers import this checkout."""
    if ray.is_initialized():
        yield
        return
    with RayExecutor(workers=2):  # a local instance of 2 CPUs, started as the executor does
        yield


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory) -> dict[str, bytes]:
    """The geometry job's shards from the local executor, one worker, through the CLI."""
    out = tmp_path_factory.mktemp("local1")
    cli(*ARGS, "--out", str(out), "--executor", "local", "--workers", "1")
    shards = shard_bytes(out)
    assert len(shards) == N // SHARD
    return shards


def make_job(out: Path, flags: dict) -> Job:
    """The Job that ``mmsynth.run.run`` would build for these flags (same fingerprint)."""
    config = resolve({**flags, "out": str(out), "progress": False}, source_options)
    cls = SOURCES.get(config["source"])
    fp = fingerprint(config, {**RUN_OPTIONS, **cls.options}, fingerprint_extra(config))
    out.mkdir(parents=True, exist_ok=True)
    return Job(config, fp, source_for(Job(config, fp, 0, str(out))).num_items(), str(out))


def run_all(executor, job: Job, progress=None) -> list[dict]:
    return list(executor.run(job, list(range(num_shards(job.num_items, job.shard_size))),
                             progress))


# -- Ray worker processes, found through /proc ------------------------------------------------

def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (OSError, UnicodeDecodeError):
        return ""


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def shard_builders() -> list[tuple[int, str]]:
    """(pid, title) of this session's Ray workers now building a shard: children of the raylet
    this test process started, titled ``ray::mmsynth-shard-NNNNNN`` while on a shard."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            title = _title(pid)
            if title.startswith("ray::mmsynth-shard-") and _ppid(_ppid(pid)) == os.getpid():
                found.append((pid, title))
    return found


class KillOneBuilder(threading.Thread):
    """Kills one Ray worker with SIGKILL while it builds a shard (after a first shard is
    complete), and meanwhile opens every tar that becomes visible in ``out``: each must be a
    whole shard."""

    def __init__(self, out: Path, members_per_shard: int):
        super().__init__(daemon=True)
        self.out, self.members = out, members_per_shard
        self.victim: tuple[int, int] | None = None  # (pid, shard id)
        self.checked: set[str] = set()
        self.problems: list[str] = []
        self.done = threading.Event()

    def check_tars(self) -> None:
        for tar_path in self.out.glob("shard-*.tar"):
            if tar_path.name not in self.checked:
                self.checked.add(tar_path.name)
                try:
                    with tarfile.open(tar_path) as tar:
                        count = len(tar.getmembers())
                except (OSError, tarfile.TarError) as e:
                    count = f"unreadable ({e})"
                if count != self.members:
                    self.problems.append(f"{tar_path.name}: {count} members visible")

    def finish(self) -> None:
        """Stop watching; check the tars published after the last look."""
        self.done.set()
        self.join()
        self.check_tars()

    def run(self) -> None:
        while not self.done.is_set():
            self.check_tars()
            if self.victim is None and any(self.out.glob("shard-*.stats.json")):
                for pid, title in shard_builders():
                    time.sleep(0.05)  # well inside the shard, not at its first sample
                    if _title(pid) == title:
                        os.kill(pid, signal.SIGKILL)
                        self.victim = (pid, int(title.rsplit("-", 1)[1]))
                    break
            time.sleep(0.02)


# -- tests ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_ray_gives_the_bytes_of_the_local_executor(tmp_path, local_reference):
    """The acceptance command's shape: a local Ray instance started by the CLI itself."""
    proc = cli(*ARGS, "--out", str(tmp_path / "ray"), "--executor", "ray", "--workers", "2")
    assert f"{N} kept, 0 rejected of {N} samples in {N // SHARD} shards" in proc.stdout
    assert shard_bytes(tmp_path / "ray") == local_reference
    cli(*ARGS, "--out", str(tmp_path / "local2"), "--executor", "local", "--workers", "2")
    assert shard_bytes(tmp_path / "local2") == local_reference
    assert not list((tmp_path / "ray").glob("*.tmp-*"))


@pytest.mark.slow
def test_a_worker_killed_mid_shard_is_retried_and_no_partial_shard_is_visible(
        tmp_path, ray_session, local_reference):
    job = make_job(tmp_path / "ray", GEOMETRY)
    executor = RayExecutor(workers=2)
    assert not executor.uses_actors(job)  # renders: stateless tasks
    killer = KillOneBuilder(tmp_path / "ray", members_per_shard=3 * SHARD)  # image, json, txt
    positions, position = [], 0

    def progress(n: int) -> None:
        nonlocal position
        assert n > 0
        position += n
        positions.append(position)

    killer.start()
    try:
        stats = run_all(executor, job, progress)
    finally:
        killer.finish()
    assert killer.victim is not None, "no worker was killed: the test proved nothing"
    pid, shard = killer.victim
    assert not Path(f"/proc/{pid}").exists() or _title(pid) == ""
    assert executor.placements[shard]["pid"] != pid  # rebuilt by another worker
    assert killer.problems == []
    assert len(killer.checked) == N // SHARD
    assert sorted(s["shard"] for s in stats) == list(range(N // SHARD))
    assert sum(s["kept"] for s in stats) == N
    assert not list((tmp_path / "ray").glob("*.tmp-*"))  # the killed worker's temp file too
    assert shard_bytes(tmp_path / "ray") == local_reference
    assert len(read_shards(tmp_path / "ray")) == N  # no duplicates, no gaps
    # Per-item progress: moved inside shards, and the retry did not count twice.
    assert position == N
    assert any(p % SHARD for p in positions)


@pytest.mark.slow
def test_a_killed_model_actor_restarts_loads_once_and_retries_its_shard(
        tmp_path, ray_session, local_reference):
    job = make_job(tmp_path / "ray", GEOMETRY)
    executor = RayExecutor(workers=2, model_actors=2, mode="actors")
    killer = KillOneBuilder(tmp_path / "ray", members_per_shard=3 * SHARD)  # image, json, txt
    killer.start()
    try:
        run_all(executor, job)
    finally:
        killer.finish()
    assert killer.victim is not None, "no actor was killed: the test proved nothing"
    pid, shard = killer.victim
    assert executor.placements[shard]["pid"] != pid
    assert killer.problems == []
    by_pid: dict[int, int] = {}
    for info in executor.placements.values():
        assert info["sources_loaded"] == 1  # one source (one model) per actor process
        by_pid[info["pid"]] = by_pid.get(info["pid"], 0) + 1
    assert len(by_pid) <= 3  # two actors, one of them restarted once
    assert max(by_pid.values()) >= 2  # a loaded source served several shards
    assert not list((tmp_path / "ray").glob("*.tmp-*"))
    assert shard_bytes(tmp_path / "ray") == local_reference


@pytest.mark.slow
def test_coco_runs_on_one_llm_actor_that_loads_the_model_once(tmp_path, ray_session):
    flags = {"source": "coco", "num_samples": 3, "shard_size": 1, "seed": 2, "types": "detail",
             "llm_max_new_tokens": 24}
    job = make_job(tmp_path / "ray", flags)
    executor = make_executor({**job.config, "executor": "ray", "ray_model_actors": 1})
    assert executor.uses_actors(job)  # the source holds an LLM
    stats = run_all(executor, job)
    assert len(stats) == 3 and sum(s["kept"] for s in stats) >= 3
    infos = [executor.placements[s] for s in range(3)]
    assert len({i["pid"] for i in infos}) == 1
    assert [i["sources_loaded"] for i in infos] == [1, 1, 1]
    local = dataclasses.replace(job, out=str(tmp_path / "local"))
    (tmp_path / "local").mkdir()
    run_all(LocalExecutor(1), local)
    assert shard_bytes(tmp_path / "ray") == shard_bytes(tmp_path / "local")
    assert len(shard_bytes(tmp_path / "ray")) == 3


@pytest.mark.slow
def test_renders_with_the_clip_stage_run_on_actors_with_the_local_bytes(tmp_path, ray_session):
    ckpt = REPO / "assets" / "clip" / "mmsynth-tiny-clip.safetensors"
    flags = {"source": "chart", "num_samples": 40, "shard_size": 20, "seed": 3,
             "clip_pretrained": str(ckpt), "clip_threshold": 0.3}
    job = make_job(tmp_path / "ray", flags)
    executor = make_executor({**job.config, "executor": "ray", "ray_model_actors": 1})
    assert executor.uses_actors(job)  # CLIP weights stay loaded on the actor
    stats = run_all(executor, job)
    checked = sum(s["stages"]["clip"]["checked"] for s in stats)
    clip_rejected = sum(n for s in stats for r, n in s["rejections"].items()
                        if r.startswith("clip_low:"))
    assert checked >= 38 and checked == sum(s["kept"] for s in stats) + clip_rejected
    assert len({executor.placements[s]["pid"] for s in range(2)}) == 1
    local = dataclasses.replace(job, out=str(tmp_path / "local"))
    (tmp_path / "local").mkdir()
    run_all(LocalExecutor(1), local)
    assert shard_bytes(tmp_path / "ray") == shard_bytes(tmp_path / "local")
    # Without CLIP weights the same renders are stateless Ray tasks.
    plain = make_job(tmp_path / "plain", {**flags, "clip_mode": "off"})
    assert not make_executor({**plain.config, "executor": "ray"}).uses_actors(plain)


@pytest.mark.slow
def test_driver_killed_then_the_same_command_resumes(tmp_path, local_reference):
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "mmsynth.generate", *ARGS, "--out", str(out),
               "--executor", "ray", "--workers", "2"]
    driver = subprocess.Popen(command, cwd=REPO, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while len(list(out.glob("shard-*.stats.json"))) < 2 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone: its Ray instance follows it
        driver.wait()
    finally:
        time.sleep(1)
        # Ray's helper processes (agents) of the killed driver's instance linger a while.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    # A Ray worker of the killed instance that was writing a shard may still finish it (seen on
    # a loaded machine): count once the set of complete shards has stopped changing, so that
    # the count is the one the resumed run finds.
    partial, still = len(list(out.glob("shard-*.stats.json"))), time.time()
    while time.time() - still < 3 and time.time() < deadline + 30:
        time.sleep(0.2)
        now = len(list(out.glob("shard-*.stats.json")))
        if now != partial:
            partial, still = now, time.time()
    assert 2 <= partial < N // SHARD, "the run must be interrupted part-way"

    resumed = cli(*ARGS, "--out", str(out), "--executor", "ray", "--workers", "2")
    assert f"resumed: {partial} shards were already complete" in resumed.stdout
    assert not list(out.glob("*.tmp-*"))
    assert shard_bytes(out) == local_reference
    assert len(read_shards(out)) == N


def test_ray_options_are_refused_without_the_ray_executor():
    config = resolve({"source": "geometry", "ray_model_actors": 2}, source_options)
    with pytest.raises(UsageError, match="--ray_model_actors only apply with --executor ray"):
        make_executor(config)
    config = resolve({"source": "geometry", "executor": "ray", "ray_gpus_per_actor": 0.5,
                      "ray_address": "auto"}, source_options)
    executor = make_executor(config)
    assert (executor.address, executor.gpus_per_actor, executor.model_actors) == ("auto", 0.5, 1)
    with pytest.raises(UsageError, match="ray_gpus_per_actor -1"):
        resolve({"source": "geometry", "ray_gpus_per_actor": -1}, source_options)


def test_executor_options_do_not_change_the_fingerprint():
    opts = {**RUN_OPTIONS, **SOURCES.get("geometry").options}
    local = resolve({"source": "geometry"}, source_options)
    on_ray = resolve({"source": "geometry", "executor": "ray", "ray_address": "auto",
                      "ray_model_actors": 4, "ray_gpus_per_actor": 1}, source_options)
    assert fingerprint(local, opts) == fingerprint(on_ray, opts)


def test_a_local_geometry_job_does_not_import_ray(tmp_path):
    code = (f"import sys; from mmsynth.generate import main; "
            f"main(['--source', 'geometry', '--num_samples', '5', '--out', {str(tmp_path)!r}, "
            f"'--noprogress']); "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)


def test_a_shard_the_driver_cannot_see_is_a_clear_error(tmp_path, monkeypatch):
    """What a worker on another node wrote to its own disk instead of a shared --out."""
    from mmsynth import ray_executor

    monkeypatch.setattr(ray_executor, "VISIBLE_WITHIN_SECONDS", 0.3)
    with pytest.raises(UsageError, match="--out must be a directory every node sees"):
        ray_executor._check_visible(tmp_path, 3, {"node": "f" * 56, "pid": 1})


def test_gpu_actors_on_a_machine_without_gpus_are_refused(tmp_path, ray_session):
    job = make_job(tmp_path / "out", {**GEOMETRY, "num_samples": 10, "shard_size": 10})
    executor = RayExecutor(workers=1, gpus_per_actor=1, mode="actors")
    with pytest.raises(UsageError, match="--ray_gpus_per_actor 1: the local Ray instance has 0"):
        run_all(executor, job)
    assert not list((tmp_path / "out").glob("shard-*"))


def test_an_address_where_no_cluster_answers_is_a_clear_error(tmp_path):
    out = tmp_path / "never"
    code = ("import sys; from mmsynth import ray_executor; "
            "ray_executor.CONNECT_TIMEOUT_SECONDS = 3; from mmsynth.generate import main; "
            "sys.exit(main(['--source', 'geometry', '--num_samples', '5', '--executor', 'ray', "
            f"'--ray_address', '127.0.0.1:1', '--out', {str(out)!r}, '--noprogress']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "--ray_address '127.0.0.1:1': cannot connect to a Ray cluster" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # nothing written
