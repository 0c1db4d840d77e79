import subprocess
import sys
import tarfile

from mmsynth.sample import Sample
from mmsynth.shards import (
    atomic_write_json,
    read_stats,
    remove_leftovers,
    shard_indices,
    write_shard,
)


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
    atomic_write_json(tmp_path / "shard-000000.stats.json", {**info, "kept": 3})
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
write_shard(__import__('pathlib').Path({str(tmp_path)!r}), 0, [Sample(id='k', image=b'x')])
assert 'torch' not in sys.modules, 'torch was imported'
import webdataset as wds
ds = wds.WebDataset({str(tmp_path / 'shard-000000.tar')!r}, shardshuffle=False)
print(sorted(next(iter(ds)).keys()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['__key__', '__local_path__', '__url__', 'json', 'png']"
