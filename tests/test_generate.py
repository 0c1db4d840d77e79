"""End to end through the real CLI: determinism, resume after kill -9, errors, parallelism."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, cli, decoded, load_json, read_shards, shard_bytes

from mmsynth.run import run
from mmsynth.sample import check_llava_shape


def test_same_seed_gives_byte_identical_valid_llava_shards(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cli("--source", "geometry", "--num_samples", "120", "--out", str(a), "--seed", "7",
        "--shard_size", "50", "--noprogress")
    proc = cli("--source", "geometry", "--num_samples", "120", "--out", str(b), "--seed", "7",
               "--shard_size", "50")
    assert "120 kept, 0 rejected of 120 samples in 3 shards" in proc.stdout
    assert shard_bytes(a) == shard_bytes(b) and len(shard_bytes(a)) == 3
    samples = read_shards(a)
    assert len(samples) == 120
    for key, members in samples.items():
        assert set(members) == {"json", "png", "txt"}
        record = decoded(members["json"])
        assert members["txt"].decode() == record["caption"]  # what image-text trainers read
        assert record["id"] == key and record["image"] == f"{key}.png"
        assert check_llava_shape(record) == []
        assert record["qa"] and record["scene"]["family"] == record["meta"]["generator"]
        assert record["meta"]["seed"] == 7 and record["meta"]["license"]
        assert members["png"].startswith(b"\x89PNG")
    run_record = load_json(a / "run.json")
    assert run_record["fingerprint"] == record["meta"]["config_fingerprint"]
    other = tmp_path / "c"
    cli("--source", "geometry", "--num_samples", "120", "--out", str(other), "--seed", "8",
        "--shard_size", "50", "--noprogress")
    assert shard_bytes(other) != shard_bytes(a)


def test_workers_do_not_change_the_bytes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["--source", "geometry", "--num_samples", "150", "--shard_size", "40", "--seed", "3"]
    cli(*args, "--out", str(one), "--workers", "1", "--noprogress")
    proc = cli(*args, "--out", str(two), "--workers", "2")
    assert "150 kept" in proc.stdout
    assert shard_bytes(one) == shard_bytes(two) and len(shard_bytes(one)) == 4


def test_kill_9_then_rerun_gives_exactly_the_uninterrupted_run(tmp_path):
    args = ["--source", "geometry", "--num_samples", "900", "--shard_size", "60", "--seed", "11",
            "--noprogress"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "mmsynth.generate", *args, "--out", str(killed),
                             "--workers", "2"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(killed.glob("shard-*.stats.json"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-shard
    proc.wait()
    partial = len(list(killed.glob("shard-*.stats.json")))
    assert 3 <= partial < 15, "the run must be interrupted part-way for this test to mean anything"

    resumed = cli(*args, "--out", str(killed))
    assert f"resumed: {partial} shards were already complete" in resumed.stdout
    assert not list(killed.glob("*.tmp-*"))
    clean = tmp_path / "clean"
    cli(*args, "--out", str(clean))
    assert shard_bytes(killed) == shard_bytes(clean)
    assert len(read_shards(killed)) == 900


def test_rerun_of_a_complete_run_builds_nothing(tmp_path):
    args = ["--source", "geometry", "--num_samples", "30", "--shard_size", "10", "--out",
            str(tmp_path), "--noprogress"]
    cli(*args)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("shard-*")}
    proc = cli(*args)
    assert "3 shards were already complete, 0 built now" in proc.stdout
    assert before == {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("shard-*")}


def test_different_config_in_same_out_is_refused_unless_overwrite(tmp_path):
    base = ["--source", "geometry", "--num_samples", "20", "--shard_size", "10", "--out",
            str(tmp_path), "--noprogress"]
    cli(*base, "--seed", "1")
    proc = cli(*base, "--seed", "2", check=False)
    assert proc.returncode == 2
    assert "different config" in proc.stderr and "--overwrite" in proc.stderr
    assert "differs: --seed 1 → 2" in proc.stderr  # what to pass to resume the old run
    assert "Traceback" not in proc.stderr
    proc = cli(*base, "--seed", "1", "--num_samples", "30", check=False)
    assert proc.returncode == 2 and "different shard layout" in proc.stderr
    assert "differs: --num_samples 20 → 30)" in proc.stderr
    cli(*base, "--seed", "2", "--overwrite")
    assert {decoded(m["json"])["meta"]["seed"] for m in read_shards(tmp_path).values()} == {2}


@pytest.mark.parametrize("args, message", [
    (["--source", "geometry", "--num_samples", "0"], "must be a positive integer"),
    (["--source", "nope"], "unknown source 'nope'; known: "),
    (["--source", "geometry", "--colour", "red"], "unknown option colour"),
    (["--source", "geometry", "--families", "[triangle, hexagon_star]"],
     "unknown geometry renderer 'hexagon_star'"),
    (["--source", "geometry", "--out", "/proc/mmsynth-cannot-write-here"], "cannot write to --out"),
    (["--num_samples", "5"], "no --source given"),
    (["--source", "chart", "--answer_style", "medium"], "must be one of long, short"),
])
def test_user_errors_are_one_clear_line_not_a_traceback(args, message, tmp_path):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "o")]
    proc = cli(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_explains_options_and_sources():
    proc = subprocess.run([sys.executable, "-m", "mmsynth.generate", "--help"], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "PAGER": "cat"})
    text = proc.stdout + proc.stderr
    for needle in ("--num_samples", "--shard_size", "--workers", "--overwrite", "geometry:",
                   "--families", "resumes"):
        assert needle in text, needle


def test_a_renderer_that_raises_costs_one_counted_sample(tmp_path, flaky_family):
    def go(out):
        return run({"source": "geometry", "num_samples": 60, "shard_size": 25, "seed": 5,
                    "out": str(out), "families": [flaky_family], "progress": False})

    summary = go(tmp_path / "a")
    reason = "render_error:test_flaky:ZeroDivisionError"
    assert summary.rejected == summary.rejections[reason] > 5
    assert summary.kept + summary.rejected == 60
    stats = load_json(tmp_path / "a" / "shard-000000.stats.json")
    assert "degenerate scene on purpose" in stats["examples"][reason][0]["detail"]
    assert len(read_shards(tmp_path / "a")) == summary.kept
    go(tmp_path / "b")
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")


def test_geometry_job_does_not_import_torch(tmp_path):
    code = (f"import sys; from mmsynth.generate import main; "
            f"main(['--source', 'geometry', '--num_samples', '5', '--out', {str(tmp_path)!r}, "
            f"'--noprogress']); "
            "heavy = [m for m in ('torch', 'transformers', 'open_clip') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)


def test_run_stats_total_the_shards(tmp_path):
    cli("--source", "geometry", "--num_samples", "45", "--shard_size", "20", "--out",
        str(tmp_path), "--noprogress")
    totals = load_json(tmp_path / "stats.json")
    shards = [load_json(p) for p in sorted(tmp_path.glob("shard-*.stats.json"))]
    assert totals["kept"] == sum(s["kept"] for s in shards) == 45
    assert [s["indices"] for s in shards] == [[0, 20], [20, 40], [40, 45]]
    assert Path(tmp_path / "run.json").exists()


def test_a_worker_that_resolves_the_job_differently_refuses_to_build(tmp_path, monkeypatch):
    """Another node with another renderer version must not write shards under this run's
    fingerprint."""
    from mmsynth import pipeline
    from mmsynth.config import resolve
    from mmsynth.errors import RunAborted
    from mmsynth.sources import source_options
    from renderers import registry

    config = resolve({"source": "geometry", "num_samples": 10, "shard_size": 10,
                      "out": str(tmp_path), "progress": False, "clip_mode": "off"},
                     source_options)
    job = pipeline.Job(config, pipeline.fingerprint_of(config), 10, str(tmp_path))
    monkeypatch.setattr(pipeline, "_SOURCES", {})
    monkeypatch.setattr(registry("geometry").get("triangle"), "version", "999")
    with pytest.raises(RunAborted, match=f"the driver to {job.fingerprint}: its mmsynth code, "
                                         "renderer versions"):
        pipeline.build_shard(job, 0)
    assert not list(tmp_path.iterdir())  # nothing written
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "_SOURCES", {})
    assert pipeline.build_shard(job, 0)["kept"] == 10


def test_overwrite_replaces_only_our_files_never_a_users_lookalikes(tmp_path):
    base = ["--source", "geometry", "--num_samples", "20", "--shard_size", "10", "--out",
            str(tmp_path), "--noprogress", "--clip_mode", "off"]
    cli(*base, "--seed", "1")
    (tmp_path / "shard-notes.txt").write_text("my notes\n")
    (tmp_path / "shard-backup").mkdir()
    (tmp_path / "shard-backup" / "shard-000000.tar").write_bytes(b"my backup")
    (tmp_path / "my-notes.md").write_text("# mine\n")
    (tmp_path / "shard-000000.tar.bak").write_bytes(b"my copy")
    proc = cli(*base, "--seed", "2", "--num_samples", "30", "--overwrite")
    assert "30 kept" in proc.stdout and "Traceback" not in proc.stderr
    assert (tmp_path / "shard-notes.txt").read_text() == "my notes\n"
    assert (tmp_path / "shard-backup" / "shard-000000.tar").read_bytes() == b"my backup"
    assert (tmp_path / "my-notes.md").read_text() == "# mine\n"
    assert (tmp_path / "shard-000000.tar.bak").read_bytes() == b"my copy"
    assert sorted(p.name for p in tmp_path.glob("shard-*.tar")) == \
        ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert {decoded(m["json"])["meta"]["seed"] for m in read_shards(tmp_path).values()} == {2}


def test_overwrite_refuses_a_directory_under_one_of_our_names_before_deleting(tmp_path):
    base = ["--source", "geometry", "--num_samples", "20", "--shard_size", "10", "--out",
            str(tmp_path), "--noprogress", "--clip_mode", "off"]
    cli(*base)
    (tmp_path / "shard-000001.stats.json").unlink()
    (tmp_path / "shard-000001.stats.json").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = cli(*base, "--seed", "3", "--overwrite", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "shard-000001.stats.json is not a file mmsynth wrote" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing deleted


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _inside_an_image(tar_path: Path) -> int:
    """The offset of a byte in the middle of the shard's middle image (a flip there leaves the
    tar readable: only the checksum can tell)."""
    import tarfile

    with tarfile.open(tar_path) as tar:
        images = [m for m in tar.getmembers() if m.name.endswith(".png")]
    member = images[len(images) // 2]
    return member.offset_data + member.size // 2


def test_verify_rebuilds_a_same_size_corrupted_shard_to_the_clean_bytes(tmp_path):
    args = ["--source", "geometry", "--num_samples", "30", "--shard_size", "10", "--seed", "6",
            "--noprogress", "--clip_mode", "off"]
    clean, out = tmp_path / "clean", tmp_path / "out"
    cli(*args, "--out", str(clean))
    cli(*args, "--out", str(out))
    tar = out / "shard-000001.tar"
    _flip(tar, _inside_an_image(tar))  # same size, so a plain resume trusts it
    proc = cli(*args, "--out", str(out))
    assert "3 shards were already complete, 0 built now" in proc.stdout
    assert shard_bytes(out) != shard_bytes(clean)
    proc = cli(*args, "--out", str(out), "--verify")
    assert "resumed: 2 shards were already complete, 1 built now" in proc.stdout
    assert "verify: 3 complete shards checked (sha256), 1 did not match and were rebuilt: " \
           "shard-000001.tar" in proc.stdout
    assert shard_bytes(out) == shard_bytes(clean)
    proc = cli(*args, "--out", str(out), "--verify")
    assert "0 built now" in proc.stdout and "all match" in proc.stdout


def test_a_resume_that_trusts_an_unreadable_shard_still_ends_and_says_so(tmp_path):
    args = ["--source", "geometry", "--num_samples", "20", "--shard_size", "10", "--seed", "6",
            "--noprogress", "--clip_mode", "off", "--out", str(tmp_path)]
    cli(*args)
    tar = tmp_path / "shard-000001.tar"
    import tarfile

    with tarfile.open(tar) as t:
        header = t.getmembers()[3].offset
    _flip(tar, header + 10)  # a member header: tarfile stops there ("bad checksum")
    proc = cli(*args)
    assert "0 built now" in proc.stdout
    assert "diversity: not measured, cannot read" in proc.stdout and "--verify" in proc.stdout


def test_stats_that_name_another_tar_do_not_count_as_complete(tmp_path):
    args = ["--source", "geometry", "--num_samples", "30", "--shard_size", "10", "--seed", "6",
            "--noprogress", "--clip_mode", "off"]
    clean, out = tmp_path / "clean", tmp_path / "out"
    cli(*args, "--out", str(clean))
    cli(*args, "--out", str(out))
    # Shard 2's tar replaced by garbage, its stats pointed at shard 0's tar (which has the size
    # and sha256 they now record): size-only trust would keep the garbage.
    (out / "shard-000002.tar").write_bytes(b"garbage")
    stats = load_json(out / "shard-000002.stats.json")
    zero = load_json(out / "shard-000000.stats.json")
    stats.update(tar="shard-000000.tar", tar_bytes=zero["tar_bytes"], sha256=zero["sha256"])
    (out / "shard-000002.stats.json").write_text(json.dumps(stats))
    proc = cli(*args, "--out", str(out))
    assert "2 shards were already complete, 1 built now" in proc.stdout
    assert "rebuilding 1 shards whose stats do not match their tar (stats_name_another_tar: 1)" \
        in proc.stdout
    assert shard_bytes(out) == shard_bytes(clean)
