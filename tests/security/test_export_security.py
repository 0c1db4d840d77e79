"""Exports of shards someone else made, and careless export commands: nothing is written outside
the chosen folders, a run's own files are never replaced, and --overwrite deletes only what an
export wrote."""

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
from conftest import REPO

from mmsynth.errors import UsageError
from mmsynth.export import HF_MANIFEST, export_hf, export_jsonl, export_llava
from mmsynth.shards import MAX_TEXT_BYTES

from .crafted import add, add_dir, add_symlink, png_bytes, record, sample, tree_digest, write_tar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def export(*args):
    return subprocess.run([sys.executable, "-m", "mmsynth.export", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_record_paths_cannot_leave_the_image_folder(tmp_path):
    work = tmp_path / "work"
    run = tmp_path / "run"
    abs_dir = work / "abs"
    write_tar(run / "shard-000000.tar", [
        *sample("up", source="../../evil"),
        *sample("absolute", source=str(abs_dir)),
        *sample("dotdot", source=".."),
        *sample("climb", file_name="../../x.jpg"),
        *sample("rooted", file_name=str(work / "outside" / "y.jpg")),
        *sample("hidden", file_name="sub/..jpg"),
        *sample("plain"),
    ])
    work.mkdir()
    before = set(tmp_path.rglob("*"))
    images, out = work / "deep" / "er" / "images", work / "deep" / "er" / "llava.json"
    proc = export("llava", str(run), str(out), "--images", str(images))
    assert proc.returncode == 0, proc.stderr
    assert "skipped 4 shard members or samples: unsafe_source 3, unsafe_file_name 1" \
        in proc.stdout
    rows = json.loads(out.read_text())
    assert {r["id"]: r["image"] for r in rows} == {
        "climb": "geometry/x.png", "rooted": "geometry/y.png", "plain": "geometry/plain.png"}
    new = set(tmp_path.rglob("*")) - before
    for path in new:
        assert path == out or path.is_relative_to(images) or (
            path.is_dir() and images.is_relative_to(path)), f"{path} was written outside"
    assert sorted(p.relative_to(images).as_posix() for p in new if p.is_file() and p != out) \
        == ["geometry/plain.png", "geometry/x.png", "geometry/y.png"]
    result = export_jsonl(str(run), str(work / "d.jsonl"), str(images))
    assert result["rows"] == 3 and result["skipped"] == {"unsafe_source": 3,
                                                         "unsafe_file_name": 1}


def test_a_symlink_in_the_image_folder_pointing_out_is_refused(tmp_path):
    run = write_tar(tmp_path / "run" / "shard-000000.tar", sample("k0")).parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "geometry").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="outside --images"):
        export_llava(str(run), str(tmp_path / "l.json"), str(tmp_path / "img"))
    assert list(elsewhere.iterdir()) == []


def test_malformed_shards_are_skipped_counted_and_the_export_completes(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with tarfile.open(run / "shard-000000.tar", "w") as tar:
        for name, data in sample("good0"):
            add(tar, name, data)
        add(tar, "list.json", b"[1, 2]")
        add(tar, "list.png", png_bytes())
        add_dir(tar, "dir.png")
        add(tar, "dir.json", record("dir"))
        add_symlink(tar, "link.png", "/etc/passwd")
        add(tar, "link.json", record("link"))
        add(tar, "huge.json", b" " * (MAX_TEXT_BYTES + 1))
        add(tar, "huge.png", png_bytes())
        add(tar, "key.pkl", b"not read")
    write_tar(run / "shard-000001.tar", sample("good1"))
    proc = export("llava", str(run), str(tmp_path / "l.json"), "--images", str(tmp_path / "i"))
    assert proc.returncode == 0, proc.stderr
    assert "2 rows" in proc.stdout
    assert ("skipped 8 shard members or samples: incomplete_sample 3, not_a_file 2, bad_json 1, "
            "too_large 1, unknown_member:pkl 1") in proc.stdout
    assert [r["id"] for r in json.loads((tmp_path / "l.json").read_text())] == ["good0", "good1"]
    result = export_hf(str(run), str(tmp_path / "hf"))
    assert result["rows"] == 2
    assert result["skipped"] == {"incomplete_sample": 3, "not_a_file": 2, "bad_json": 1,
                                 "too_large": 1, "unknown_member:pkl": 1}


@pytest.fixture
def run_copy(geometry_run, tmp_path):
    """A copy of the shared run: a test that fails must not damage the session's fixture."""
    return shutil.copytree(geometry_run, tmp_path / "run")


def test_exports_into_the_run_folder_are_refused_and_change_nothing(run_copy, tmp_path):
    before = tree_digest(run_copy)
    careless = [
        ("llava", str(run_copy), str(run_copy / "shard-000000.tar")),
        ("llava", str(run_copy), str(run_copy / "run.json")),
        ("llava", str(run_copy), str(run_copy / "llava.json")),
        ("jsonl", str(run_copy), str(run_copy / "sub" / "d.jsonl")),
        ("llava", str(run_copy), str(tmp_path / "l.json"), "--images", str(run_copy)),
        ("jsonl", str(run_copy), str(tmp_path / "d.jsonl"), "--images", str(run_copy / "img")),
    ]
    for args in careless:
        proc = export(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "is inside the run folder" in proc.stderr and "Traceback" not in proc.stderr
    assert tree_digest(run_copy) == before
    assert not (tmp_path / "l.json").exists() and not (tmp_path / "d.jsonl").exists()


def test_hf_overwrite_never_deletes_a_folder_it_did_not_write(run_copy, tmp_path):
    dest = tmp_path / "theirs"
    dest.mkdir()
    (dest / "dataset_info.json").write_text("{}")  # looks like a saved dataset, but is not ours
    (dest / "thesis.tex").write_text("years of work")
    before = tree_digest(dest)
    proc = export("hf", str(run_copy), str(dest), "--overwrite")
    assert proc.returncode == 2 and HF_MANIFEST in proc.stderr, proc.stderr
    assert tree_digest(dest) == before
    with pytest.raises(UsageError, match="is a run folder"):
        export_hf(str(run_copy), str(run_copy), overwrite=True)


def test_hf_overwrite_removes_exactly_what_the_last_export_wrote(run_copy, tmp_path):
    import datasets

    dest = tmp_path / "hf"
    assert export_hf(str(run_copy), str(dest))["rows"] == 50
    ours = json.loads((dest / HF_MANIFEST).read_text())["files"]
    assert "dataset_info.json" in ours and all((dest / n).is_file() for n in ours)
    assert sorted(p.name for p in dest.iterdir()) == sorted([*ours, HF_MANIFEST])
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="pass --overwrite"):
        export_hf(str(run_copy), str(dest))
    assert export_hf(str(run_copy), str(dest), overwrite=True)["rows"] == 50
    assert (dest / "notes.txt").read_text() == "mine"
    assert len(datasets.load_from_disk(str(dest))) == 50
    # A manifest someone edited to point elsewhere deletes nothing.
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (dest / HF_MANIFEST).write_text(json.dumps({"files": ["../victim.txt"]}))
    with pytest.raises(UsageError, match="outside"):
        export_hf(str(run_copy), str(dest), overwrite=True)
    assert victim.read_text() == "keep" and (dest / "notes.txt").exists()


def test_hf_export_of_a_run_without_usable_samples_is_a_clear_error(tmp_path):
    members = [("k0.json", record("k0")), ("k1.json", b"[1]"), ("k1.png", png_bytes())]
    run = write_tar(tmp_path / "run" / "shard-000000.tar", members).parent
    proc = export("hf", str(run), str(tmp_path / "hf"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "holds no usable sample (skipped 2 shard members or samples: " in proc.stderr
    assert "bad_json 1" in proc.stderr and "incomplete_sample 1" in proc.stderr
    assert not (tmp_path / "hf").exists()
