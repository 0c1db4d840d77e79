"""The training loader on shards someone else made: nothing in a shard runs, nothing but our
members is decoded, and no URL reaches a shell unless asked."""

import pickle
import tarfile

import pytest
from PIL import Image

from mmsynth.errors import UsageError
from mmsynth.loader import make_dataset
from mmsynth.shards import MAX_TEXT_BYTES, ShardProblem

from .crafted import (
    add,
    add_dir,
    add_symlink,
    evil_pickle,
    evil_torch,
    png_bytes,
    record,
    sample,
    write_tar,
)


def records(url, **kwargs):
    return list(make_dataset(url, shuffle_shards=False, shuffle_buffer=0, **kwargs))


def test_the_payload_really_runs_code_when_unpickled(tmp_path):
    # What the tests below guard against is real: a plain pickle.loads runs it.
    marker = tmp_path / "ran"
    pickle.loads(evil_pickle(marker))
    assert marker.exists()


def test_webdataset_default_decoding_would_run_it(tmp_path):
    # The behaviour the loader replaces: wds.decode("pil") unpickles the .pkl member.
    import webdataset as wds

    marker = tmp_path / "ran"
    tar = write_tar(tmp_path / "s" / "shard-000000.tar",
                    [*sample("k0"), ("k0.pkl", evil_pickle(marker))])
    list(wds.WebDataset(str(tar), shardshuffle=False).decode("pil"))
    assert marker.exists()


def test_a_pickle_member_is_never_unpickled_and_the_sample_still_loads(tmp_path):
    marker = tmp_path / "ran"
    tar = write_tar(tmp_path / "s" / "shard-000000.tar",
                    [*sample("k0"), ("k0.pkl", evil_pickle(marker)),
                     ("k0.pyd", evil_pickle(marker)), *sample("k1")])
    problems = {}
    got = records(str(tar), problems=problems)
    assert not marker.exists()
    assert [r["key"] for r in got] == ["k0", "k1"]
    assert isinstance(got[0]["image"], Image.Image) and got[0]["image"].size == (16, 16)
    assert got[0]["conversations"][1]["value"] == "A square."
    assert set(got[0]["json"]) == {"id", "meta", "conversations"}
    assert problems == {"unknown_member:pkl": 1, "unknown_member:pyd": 1}


def test_a_torch_member_is_never_loaded_and_error_mode_names_it(tmp_path):
    marker = tmp_path / "ran"
    tar = write_tar(tmp_path / "s" / "shard-000000.tar",
                    [*sample("k0"), ("k0.pth", evil_torch(marker)), *sample("k1")])
    problems = {}
    assert [r["key"] for r in records(str(tar), problems=problems)] == ["k0", "k1"]
    assert problems == {"unknown_member:pth": 1}
    with pytest.raises(ShardProblem, match=r"'k0\.pth' is not a kind mmsynth writes"):
        records(str(tar), unknown_members="error")
    assert not marker.exists()
    with pytest.raises(UsageError, match="unknown_members"):
        make_dataset(str(tar), unknown_members="unpickle")


def test_pipe_and_other_shell_urls_are_refused_unless_allowed(tmp_path):
    tar = write_tar(tmp_path / "s" / "shard-000000.tar", sample("k0"))
    marker = tmp_path / "ran"
    for url in (f"pipe:touch {marker}", f"pipe:cat {tar}", "https://example.org/x.tar",
                "gs://bucket/x.tar", "hf://datasets/x/y.tar", "-"):
        with pytest.raises(UsageError, match="refusing to open shard URL"):
            make_dataset(url)
    # Refused before anything runs, also when one URL of a list is the shell one.
    with pytest.raises(UsageError, match="allow_pipe=True"):
        make_dataset([str(tar), f"pipe:touch {marker}"])
    assert not marker.exists()
    got = records(f"pipe:cat {tar}", allow_pipe=True)
    assert [r["key"] for r in got] == ["k0"] and got[0]["image"].size == (16, 16)
    # Local paths and file: URLs need no permission.
    assert [r["key"] for r in records(f"file://{tar}")] == ["k0"]


def test_malformed_members_and_samples_are_skipped_and_counted(tmp_path):
    tar_path = tmp_path / "s" / "shard-000000.tar"
    tar_path.parent.mkdir()
    with tarfile.open(tar_path, "w") as tar:
        for name, data in sample("good0"):
            add(tar, name, data)
        add(tar, "list.json", b'["not", "a", "record"]')
        add(tar, "list.png", png_bytes())
        add_dir(tar, "dir.png")
        add(tar, "dir.json", record("dir"))
        add_symlink(tar, "link.png", "/etc/passwd")
        add(tar, "link.json", record("link"))
        add(tar, "huge.json", b" " * (MAX_TEXT_BYTES + 1))
        add(tar, "huge.png", png_bytes())
        add(tar, "../evil.png", png_bytes())
        add(tar, "broken.json", record("broken"))
        add(tar, "broken.png", b"\x89PNG not really")
        for name, data in sample("good1"):
            add(tar, name, data)
    problems = {}
    got = records(str(tar_path), problems=problems)
    assert [r["key"] for r in got] == ["good0", "good1"]
    assert problems == {"bad_json": 1, "not_a_file": 2, "too_large": 1, "bad_name": 1,
                        "incomplete_sample": 3, "bad_image": 1}


def test_the_size_cap_holds_on_a_member_that_claims_to_be_huge(tmp_path, monkeypatch):
    # The cap is checked on the header before a byte is read: a low cap shows it on a small file.
    import mmsynth.shards

    tar = write_tar(tmp_path / "s" / "shard-000000.tar", [*sample("k0"), *sample("k1")])
    monkeypatch.setattr(mmsynth.shards, "MAX_IMAGE_BYTES", len(png_bytes()) - 1)
    problems = {}
    assert records(str(tar), problems=problems) == []
    assert problems == {"too_large": 2, "incomplete_sample": 2}
