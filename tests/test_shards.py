import json
import subprocess
import sys
import tarfile

import pytest
from conftest import REPO

from mmsynth.errors import UsageError
from mmsynth.sample import Sample
from mmsynth.shards import (
    ShardProblem,
    atomic_write_json,
    check_stats,
    delete_our_files,
    file_sha256,
    our_files,
    read_stats,
    remove_leftovers,
    shard_indices,
    write_shard,
)
from mmsynth.verify import verify


def _samples(n):
    return [Sample(id=f"t-0-{i:09d}", image=bytes([i]) * 10, conversations=[
        {"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}], meta={"index": i})
        for i in range(n)]


def test_shard_indices_cover_every_index_once():
    covered = [i for s in range(4) for i in shard_indices(s, 30, 100)]
    assert covered == list(range(100))
    assert shard_indices(3, 30, 100) == range(90, 100)


def test_write_shard_is_reproducible_and_leaves_no_temporary_file(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    info = write_shard(a, 0, _samples(5))
    write_shard(b, 0, _samples(5))
    assert (a / "shard-000000.tar").read_bytes() == (b / "shard-000000.tar").read_bytes()
    assert sorted(p.name for p in a.iterdir()) == ["shard-000000.tar"]
    assert info["tar_bytes"] == (a / "shard-000000.tar").stat().st_size
    with tarfile.open(a / "shard-000000.tar") as tar:
        names = tar.getnames()
        assert names[:2] == ["t-0-000000000.json", "t-0-000000000.png"]
        assert {m.mtime for m in tar.getmembers()} == {0}


def test_a_shard_without_stats_or_with_a_short_tar_is_incomplete(tmp_path):
    info = write_shard(tmp_path, 0, _samples(3))
    assert read_stats(tmp_path, 0) is None  # the tar alone does not count
    # As build_shard writes them: the stats name their shard (read_stats checks it).
    atomic_write_json(tmp_path / "shard-000000.stats.json", {"shard": 0, **info, "kept": 3})
    assert read_stats(tmp_path, 0)["kept"] == 3
    with open(tmp_path / "shard-000000.tar", "ab") as f:
        f.write(b"x")
    assert read_stats(tmp_path, 0) is None


def test_leftover_temporary_files_are_removed(tmp_path):
    (tmp_path / "shard-000001.tar.tmp-abc").write_bytes(b"partial")
    (tmp_path / "notes.txt.tmp-keep").write_bytes(b"not ours")
    removed = remove_leftovers(tmp_path)
    assert [p.name for p in removed] == ["shard-000001.tar.tmp-abc"]
    assert (tmp_path / "notes.txt.tmp-keep").exists()


def test_writing_shards_does_not_import_torch_and_webdataset_still_works(tmp_path):
    code = f"""
import sys
from mmsynth.shards import write_shard
from mmsynth.sample import Sample
turns = [{{'from': 'human', 'value': 'q'}}, {{'from': 'gpt', 'value': 'a'}}]
write_shard(__import__('pathlib').Path({str(tmp_path)!r}), 0,
            [Sample(id='k', image=b'x', conversations=turns)])
assert 'torch' not in sys.modules, 'torch was imported'
import webdataset as wds
ds = wds.WebDataset({str(tmp_path / 'shard-000000.tar')!r}, shardshuffle=False)
print(sorted(next(iter(ds)).keys()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['__key__', '__local_path__', '__url__', 'json', 'png']"


def _run_dir(tmp_path, shards=2):
    """A tiny hand-made run: ``shards`` shards of 3 samples with their stats and run.json."""
    tmp_path.mkdir(exist_ok=True)
    for i in range(shards):
        info = write_shard(tmp_path, i, _samples(3))
        atomic_write_json(tmp_path / f"shard-{i:06d}.stats.json",
                          {"shard": i, "indices": [3 * i, 3 * i + 3], "kept": 3, **info,
                           "fingerprint": "f" * 16})
        atomic_write_json(tmp_path / f"shard-{i:06d}.rejects.json", {"shard": i})
    atomic_write_json(tmp_path / "run.json", {"fingerprint": "f" * 16,
                                              "layout": {"num_items": 3 * shards,
                                                         "shard_size": 3}})
    return tmp_path


@pytest.mark.parametrize("change, reason", [
    ({"tar": "shard-000000.tar"}, "stats_name_another_tar"),
    ({"tar": "../../etc/passwd"}, "stats_name_another_tar"),
    ({"shard": 0}, "bad_stats"),
    ({"indices": [0, 3]}, "wrong_indices"),
    ({"fingerprint": "0" * 16}, "wrong_fingerprint"),
    ({"tar_bytes": 1}, "size_mismatch"),
])
def test_stats_must_describe_this_shard_exactly(tmp_path, change, reason):
    _run_dir(tmp_path)
    assert read_stats(tmp_path, 1, range(3, 6), "f" * 16)["kept"] == 3
    path = tmp_path / "shard-000001.stats.json"
    atomic_write_json(path, {**json.loads(path.read_text()), **change})
    assert read_stats(tmp_path, 1, range(3, 6), "f" * 16) is None
    with pytest.raises(ShardProblem) as e:
        check_stats(tmp_path, 1, range(3, 6), "f" * 16)
    assert e.value.reason == reason


def test_overwrite_lists_exactly_the_recorded_shards_and_never_a_directory(tmp_path):
    _run_dir(tmp_path)
    for name in ("shard-notes.txt", "shard-000009.tar", "shard-1.tar", "my-notes.md",
                 "shard-000000.tar.tmp-mine.txt"):
        (tmp_path / name).write_text("user's\n")
    (tmp_path / "shard-backup").mkdir()
    (tmp_path / "shard-000000.tar.tmp-abc123").write_bytes(b"ours, interrupted")
    listed = sorted(p.name for p in our_files(tmp_path))
    assert listed == sorted([f"shard-00000{i}.{kind}" for i in (0, 1)
                             for kind in ("tar", "stats.json", "rejects.json")]
                            + ["shard-000000.tar.tmp-abc123", "run.json"])
    assert our_files(tmp_path)[-1].name == "run.json"  # last: an interrupted delete still knows
    delete_our_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["shard-notes.txt", "shard-000009.tar", "shard-1.tar", "my-notes.md",
         "shard-000000.tar.tmp-mine.txt", "shard-backup"])


def test_without_run_json_overwrite_takes_exact_shard_names_only(tmp_path):
    _run_dir(tmp_path)
    (tmp_path / "run.json").unlink()
    (tmp_path / "shard-000007.tar").write_bytes(b"")
    (tmp_path / "shard-notes.txt").write_text("user's\n")
    assert "shard-000007.tar" in {p.name for p in our_files(tmp_path)}
    assert "shard-notes.txt" not in {p.name for p in our_files(tmp_path)}


def test_overwrite_checks_everything_before_deleting_anything(tmp_path):
    _run_dir(tmp_path)
    (tmp_path / "shard-000001.rejects.json").unlink()
    (tmp_path / "shard-000001.rejects.json").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UsageError, match=r"shard-000001\.rejects\.json is not a file mmsynth"):
        delete_our_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_remove_leftovers_takes_only_our_names(tmp_path):
    (tmp_path / "shard-notes.txt.tmp-abc").write_text("user's")
    (tmp_path / "run.json.tmp-0123456789ab").write_text("ours")
    assert [p.name for p in remove_leftovers(tmp_path)] == ["run.json.tmp-0123456789ab"]
    assert (tmp_path / "shard-notes.txt.tmp-abc").exists()


def _verify_cli(*args):
    return subprocess.run([sys.executable, "-m", "mmsynth.verify", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_verify_command_exit_codes_and_named_shards(tmp_path):
    out = _run_dir(tmp_path / "run")
    proc = _verify_cli(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 of 2 shards good" in proc.stdout
    tar = out / "shard-000001.tar"
    data = bytearray(tar.read_bytes())
    data[600] ^= 0xFF  # inside a member's bytes: same size
    tar.write_bytes(bytes(data))
    (out / "shard-000000.stats.json").unlink()
    proc = _verify_cli(out)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "bad      shard-000001.tar: sha256_mismatch" in proc.stdout
    assert "missing  shard-000000.tar: its tar exists without stats" in proc.stdout
    proc = _verify_cli(tmp_path / "nowhere")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_verify_reads_members_strictly(tmp_path):
    """A tar whose sha256 matches its stats but that holds a member mmsynth never writes."""
    import io

    out = _run_dir(tmp_path)
    tar_path = out / "shard-000001.tar"
    with tarfile.open(tar_path, "a") as tar:
        payload = b"import os"
        member = tarfile.TarInfo("t-0-000000001.py")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    stats_path = out / "shard-000001.stats.json"
    atomic_write_json(stats_path, {**json.loads(stats_path.read_text()),
                                   "tar_bytes": tar_path.stat().st_size,
                                   "sha256": file_sha256(tar_path)})
    report = verify(out)
    assert not report.ok and report.good == 1
    assert [(f.file, f.reason) for f in report.bad] == [("shard-000001.tar", "unknown_member:py")]
    (out / "shard-000005.tar").write_bytes(b"")
    assert verify(out).unexpected == ["shard-000005.tar"]
