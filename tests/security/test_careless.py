"""Careless commands and hostile environments through the real CLI: a clear one-line error (exit 2
for the user's mistakes, 1 for the machine's state), never a traceback, and for user errors
nothing written to --out."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, cli, shard_bytes

from mmsynth.verify import verify

GEOMETRY = ["--source", "geometry", "--noprogress", "--clip_mode", "off"]


def cli_in(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Like ``cli`` but run in ``cwd`` (for relative --out values), importing this checkout."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "mmsynth.generate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def snapshot(path: Path) -> dict[str, bytes | None] | None:
    """Every entry under ``path`` with a file's bytes (None for a directory); None if absent."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): None if p.is_dir() else p.read_bytes()
            for p in sorted(path.rglob("*"))}


def assert_one_error_line(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A small tmpfs mounted at ``path`` (root only); skips the test where mount is refused."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# -- values fire reads as numbers ---------------------------------------------------------------

def test_out_given_as_a_number_is_that_directory(tmp_path):
    proc = cli_in(tmp_path, *GEOMETRY, "--num_samples", "4", "--out", "2024")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "→ 2024" in proc.stdout
    assert [p.name for p in (tmp_path / "2024").glob("shard-*.tar")] == ["shard-000000.tar"]
    assert verify(tmp_path / "2024").ok


def test_an_empty_out_is_refused_not_the_current_directory(tmp_path):
    before = snapshot(tmp_path)
    proc = cli_in(tmp_path, *GEOMETRY, "--num_samples", "4", "--out", "")
    assert_one_error_line(proc, 2, "--out ''", "must be a directory path")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("args, needles", [
    (["--clip_model", "5", "--clip_mode", "required"], ["--clip_mode required", "5/"]),
    (["--source", "coco", "--types", "5"], ["unknown prompt type '5'"]),
    (["--num_samples", "nan"], ["--num_samples expects an integer, got 'nan'"]),
    (["--num_samples", "inf"], ["--num_samples expects an integer, got 'inf'"]),
    (["--num_samples", "1e30", "--shard_size", "1"], ["--num_samples", "must be at most"]),
    (["--num_samples", "1e9", "--shard_size", "1"], ["1_000_000_000 shards", "--shard_size"]),
])
def test_odd_values_are_one_clear_line_and_nothing_is_written(args, needles, tmp_path):
    out = tmp_path / "o"
    base = ["--source", "geometry", "--noprogress"]
    if "--source" in args:
        base = ["--noprogress"]
    # The timeout is a hang guard (today's 1e30 plans forever), not a timing assertion.
    proc = cli(*base, *args, "--out", str(out), check=False, timeout=120)
    assert_one_error_line(proc, 2, *needles)
    assert not out.exists()


# -- job files ------------------------------------------------------------------------------------

def test_a_config_that_is_not_utf8_is_named(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_bytes(b"source: geometry\nnum_samples: 5\n# caf\xe9 (latin-1)\n")
    out = tmp_path / "o"
    proc = cli("--config", str(job), "--out", str(out), check=False)
    assert_one_error_line(proc, 2, "job.yaml is not UTF-8", "0xe9")
    assert not out.exists()


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path):
    lines = ["source: geometry", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", '
             '"lol", "lol"]']
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    lines.append(f"families: [{', '.join(['*a8'] * 9)}]")  # 9**10 strings once expanded
    job = tmp_path / "bomb.yaml"
    job.write_text("\n".join(lines) + "\n")
    out = tmp_path / "o"
    proc = cli("--config", str(job), "--out", str(out), check=False, timeout=60)
    line = assert_one_error_line(proc, 2, "bomb.yaml expands to more than", "aliases")
    assert len(line) < 300 and "lol" not in proc.stderr
    assert not out.exists()


# -- the LLM cache path is checked before --out is touched -------------------------------------

def test_a_cache_path_under_a_regular_file_writes_nothing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    out = tmp_path / "o"
    proc = cli("--source", "coco", "--num_samples", "2", "--noprogress", "--clip_mode", "off",
               "--llm_cache_path", str(blocker / "cache.sqlite"), "--out", str(out), check=False)
    assert_one_error_line(proc, 2, "--llm_cache readwrite", f"{blocker} is a file")
    assert not out.exists()
    # An existing --out is left exactly as it was (no run.json, no lock file).
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    before = snapshot(out)
    proc = cli("--source", "coco", "--num_samples", "2", "--noprogress", "--clip_mode", "off",
               "--llm_cache_path", str(blocker / "cache.sqlite"), "--out", str(out), check=False)
    assert_one_error_line(proc, 2, f"{blocker} is a file")
    assert snapshot(out) == before


def test_a_cache_path_on_a_read_only_filesystem_writes_nothing(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        out = tmp_path / "o"
        proc = cli("--source", "coco", "--num_samples", "2", "--noprogress", "--clip_mode",
                   "off", "--llm_cache_path", str(ro / "cache.sqlite"), "--out", str(out),
                   check=False)
        assert_one_error_line(proc, 2, f"cannot create files in {ro}")
        assert not out.exists()


def test_llm_cache_read_without_a_cache_writes_nothing(tmp_path):
    out = tmp_path / "o"
    proc = cli("--source", "coco", "--num_samples", "2", "--noprogress", "--clip_mode", "off",
               "--llm_cache", "read", "--out", str(out), check=False)
    assert_one_error_line(proc, 2, "--llm_cache read", "does not exist")
    assert not out.exists()


# -- the machine's state: a full disk, a killed worker -------------------------------------------

def test_a_full_disk_says_which_file_keeps_finished_shards_and_resumes(tmp_path):
    args = [*GEOMETRY, "--num_samples", "60", "--shard_size", "5", "--seed", "2"]
    clean = tmp_path / "clean"
    cli(*args, "--out", str(clean))
    with tmpfs(tmp_path / "disk", "size=160k") as disk:
        out = disk / "o"
        proc = cli(*args, "--out", str(out), check=False)
        line = assert_one_error_line(proc, 1, "no space left", f"writing {out}/shard-",
                                     "finished shards are safe",
                                     "run the same command again to resume")
        assert "Exception ignored" not in proc.stderr
        failed = line.split(f"writing {out}/")[1].split()[0]
        finished = sorted(p.name for p in out.glob("shard-*.stats.json"))
        assert 1 <= len(finished) < 12, "the disk must fill part-way for this test to mean it"
        assert not list(out.glob("*.tmp-*"))
        report = verify(out)
        assert report.good == len(finished) and not report.bad
        # The file named is one of a shard that is not complete (its tar, rejects or stats).
        assert failed.startswith("shard-") and f"{failed[:12]}.stats.json" not in finished
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resumed = cli(*args, "--out", str(out))
        assert f"resumed: {len(finished)} shards were already complete" in resumed.stdout
        assert shard_bytes(out) == shard_bytes(clean)


def _pool_workers(pid: int) -> list[int]:
    """The pool workers of driver ``pid``: its children forked from it (same command line; the
    multiprocessing resource tracker has its own)."""
    mine = Path(f"/proc/{pid}/cmdline").read_bytes()
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    workers = []
    for child in children:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/cmdline").read_bytes() == mine:
                workers.append(child)
    return workers


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
                    reason="needs /proc/PID/task/TID/children (Linux)")
def test_a_killed_pool_worker_stops_the_run_in_one_line_and_the_rerun_resumes(tmp_path):
    args = [*GEOMETRY, "--num_samples", "60", "--shard_size", "5", "--seed", "4",
            "--workers", "2"]
    out = tmp_path / "o"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mmsynth.generate", *args, "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("shard-*.stats.json")) and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = _pool_workers(proc.pid)
        assert workers, "no pool worker found"
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert_one_error_line(result, 1, "a worker process died", "complete shards are kept",
                          "run the same command again to resume")
    kept = {p.name.replace(".stats.json", ".tar"): None for p in out.glob("shard-*.stats.json")}
    kept = {name: (out / name).read_bytes() for name in kept}
    assert 1 <= len(kept) < 12, "the run must stop part-way for this test to mean anything"

    resumed = cli(*args, "--out", str(out))
    assert f"resumed: {len(kept)} shards were already complete" in resumed.stdout
    assert all((out / name).read_bytes() == data for name, data in kept.items())
    clean = tmp_path / "clean"
    cli(*args, "--out", str(clean))
    assert shard_bytes(out) == shard_bytes(clean)
    assert verify(out).ok


def test_oserror_that_is_not_the_machines_state_is_not_hidden(monkeypatch, capsys, tmp_path):
    """Only the listed environment errors become one line; another OSError is a bug report."""
    from mmsynth import generate

    def broken(flags):
        raise OSError(errno.ENOENT, "No such file or directory", "renderers/missing.yaml")

    monkeypatch.setattr("mmsynth.run.run", broken)
    with pytest.raises(FileNotFoundError):
        generate.main(["--source", "geometry", "--out", str(tmp_path / "o")])
