"""Readers honour ``dedup.json`` (mmsynth.dedup.record): the loader, every export and the preview
leave out the samples it removed, unless told to keep them; a stale record is refused; and a
regeneration with ``--overwrite`` deletes it. On a real 24-sample geometry run with preference
pairs (3 shards of 8), and a record written with ``write_record`` as ``mmsynth dedup`` writes
it."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from mmsynth.dedup.record import DEDUP_FILE, read_removed, write_record
from mmsynth.errors import UsageError
from mmsynth.export import (
    export_dpo,
    export_hf,
    export_jsonl,
    export_llamafactory,
    export_llava,
    export_messages,
    main,
)
from mmsynth.loader import _NotRemoved, dataset_size, make_dataset, make_loader
from mmsynth.preview import write_preview
from mmsynth.run import run
from mmsynth.shards import iter_shard, our_files, remove_leftovers, run_shards
from mmsynth.verify import verify

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

FLAGS = {"source": "geometry", "num_samples": 24, "shard_size": 8, "seed": 5,
         "preference_pairs": 1, "clip_mode": "off", "progress": False}
# One from the first shard, two from the second: per-shard sizes must drop by 1 and 2.
REMOVED = ("geometry-5-000000003", "geometry-5-000000009", "geometry-5-000000014")


def _shard_keys(out: Path) -> dict[str, list[str]]:
    """{shard tar name: its keys in order}, through the shared reader."""
    return {tar.name: [r["id"] for r, _, _ in iter_shard(tar)] for tar in run_shards(out)}


def _write_dedup(out: Path, keys: tuple[str, ...]) -> None:
    """A record as mmsynth dedup writes it: every shard's sha256 from its stats file, each
    removed key with its shard, its index in the run and what it duplicates."""
    shards, removed = {}, []
    index = 0
    for name, shard_keys in _shard_keys(out).items():
        stats = json.loads((out / name.replace(".tar", ".stats.json")).read_text())
        shards[name] = stats["sha256"]
        for key in shard_keys:
            if key in keys:
                removed.append({"key": key, "shard": name, "index": index,
                                "reason": "near_image", "duplicate_of": "geometry-5-000000000"})
            index += 1
    assert len(removed) == len(keys)
    write_record(out, {"shards": shards, "counts": {"near_image": len(removed)},
                       "removed": removed})


@pytest.fixture(scope="module")
def deduped(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dedup-run")
    run({**FLAGS, "out": str(out)})
    _write_dedup(out, REMOVED)
    return out


@pytest.fixture(scope="module")
def all_keys(deduped) -> set[str]:
    keys = {k for shard in _shard_keys(deduped).values() for k in shard}
    assert len(keys) == 24 and set(REMOVED) <= keys
    return keys


@pytest.fixture
def copy(deduped, tmp_path) -> Path:
    """A copy of the run a test may change."""
    return Path(shutil.copytree(deduped, tmp_path / "run"))


def _loaded(dataset) -> list[str]:
    return [record["key"] for record in dataset]


# -- the loader ------------------------------------------------------------------------------


def test_the_loader_leaves_out_the_removed_keys_without_counting_a_problem(deduped, all_keys):
    problems: dict[str, int] = {}
    keys = _loaded(make_dataset(deduped, shuffle_buffer=0, problems=problems))
    assert sorted(keys) == sorted(all_keys - set(REMOVED))
    assert problems == {}  # dropped on purpose, not a broken shard
    kept = _loaded(make_dataset(deduped, shuffle_buffer=0, keep_duplicates=True))
    assert sorted(kept) == sorted(all_keys)


# webdataset's note that with_length() changes no epoch
@pytest.mark.filterwarnings("ignore:.with_length:UserWarning")
def test_dataloader_workers_get_the_record_and_lengths_match_what_arrives(deduped, all_keys):
    loader = make_loader(deduped, batch_size=4, num_workers=2, shuffle_buffer=5)
    keys = [k for batch in loader for k in batch["key"]]
    assert sorted(keys) == sorted(all_keys - set(REMOVED))
    # Spawned workers unpickle the stage: it carries the removed keys, no lambda.
    stage = pickle.loads(pickle.dumps(_NotRemoved(read_removed_for(deduped))))
    samples = [{"__key__": k, "__url__": str(deduped / "shard-000000.tar")} for k in all_keys]
    assert {s["__key__"] for s in stage(samples)} == all_keys - set(REMOVED)

    assert len(make_dataset(deduped, with_length=True)) == 21
    assert len(make_dataset(deduped, with_length=True, keep_duplicates=True)) == 24
    equal = make_loader(deduped, batch_size=2, num_workers=1, equal_batches=True)
    assert len(equal) == 21 // 2 and len([b for b in equal]) == 21 // 2
    assert len(make_loader(deduped, batch_size=2, num_workers=1, equal_batches=True,
                           keep_duplicates=True)) == 24 // 2


def read_removed_for(out: Path):
    return {os.path.abspath(out): read_removed(out)}


def test_dataset_size_subtracts_the_removed_samples_per_shard(deduped):
    assert dataset_size(deduped) == 21
    assert dataset_size(deduped, keep_duplicates=True) == 24
    assert dataset_size([str(deduped / "shard-000000.tar")]) == 7
    assert dataset_size(f"{deduped}/shard-{{000001..000002}}.tar") == 14
    assert read_removed(deduped).per_shard == {"shard-000000.tar": 1, "shard-000001.tar": 2}


# -- the exports -----------------------------------------------------------------------------


def _sft_ids(kind: str, out: Path) -> list[str]:
    if kind == "llava":
        return [r["id"] for r in json.loads((out / "llava.json").read_text())]
    if kind == "llamafactory":
        return [r["id"] for r in json.loads((out / "lf" / "mmsynth_sft.json").read_text())]
    return [json.loads(line)["id"] for line in (out / f"{kind}.jsonl").read_text().splitlines()]


EXPORTS = {
    "llava": lambda run_dir, out, **kw: export_llava(run_dir, str(out / "llava.json"),
                                                     str(out / "img"), **kw),
    "jsonl": lambda run_dir, out, **kw: export_jsonl(run_dir, str(out / "jsonl.jsonl"),
                                                     str(out / "img"), **kw),
    "messages": lambda run_dir, out, **kw: export_messages(run_dir, str(out / "messages.jsonl"),
                                                           str(out / "img"), **kw),
    "llamafactory": lambda run_dir, out, **kw: export_llamafactory(run_dir, str(out / "lf"),
                                                                   str(out / "img"), **kw),
}


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_each_sft_export_leaves_out_exactly_the_removed_keys(kind, deduped, all_keys, tmp_path):
    result = EXPORTS[kind](str(deduped), tmp_path / "a")
    ids = _sft_ids(kind, tmp_path / "a")
    assert sorted(ids) == sorted(all_keys - set(REMOVED))
    assert result["rows"] == 21 and result["removed_by_dedup"] == 3 and result["skipped"] == {}
    images = {p.stem for p in (tmp_path / "a" / "img").rglob("*.png")}
    assert images == all_keys - set(REMOVED)  # a removed sample's image is not written either

    result = EXPORTS[kind](str(deduped), tmp_path / "b", keep_duplicates=True)
    assert sorted(_sft_ids(kind, tmp_path / "b")) == sorted(all_keys)
    assert result["rows"] == 24 and result["removed_by_dedup"] == 0


def test_the_command_line_says_what_it_left_out_and_keep_duplicates_keeps_it(
        deduped, all_keys, tmp_path, capsys):
    assert main(["llava", str(deduped), str(tmp_path / "a.json")]) == 0
    printed = capsys.readouterr().out
    assert "21 rows" in printed and "left out 3 samples that mmsynth dedup removed" in printed
    assert main(["jsonl", str(deduped), str(tmp_path / "b.jsonl"), "--keep_duplicates"]) == 0
    printed = capsys.readouterr().out
    assert "24 rows" in printed and "left out" not in printed
    lines = (tmp_path / "b.jsonl").read_text().splitlines()
    assert {json.loads(line)["id"] for line in lines} == all_keys
    assert main(["messages", str(deduped), str(tmp_path / "c.jsonl"), "--nokeep_duplicates"]) == 0
    assert "left out 3 samples" in capsys.readouterr().out
    for command in ("llava", "jsonl", "messages", "llamafactory", "dpo", "hf"):
        assert main([command, "--help"]) == 0
        assert "--keep_duplicates" in capsys.readouterr().out


def test_dpo_export_leaves_out_the_pairs_of_removed_samples(deduped, all_keys, tmp_path, capsys):
    result = export_dpo(str(deduped), str(tmp_path / "a"))
    rows = [json.loads(line) for line in (tmp_path / "a" / "dpo.jsonl").read_text().splitlines()]
    sources = {row["id"].rsplit("-pair", 1)[0] for row in rows}
    assert sources == all_keys - set(REMOVED)  # every sample of this run has a pair
    assert result["samples"] == 21 and result["removed_by_dedup"] == 3
    assert main(["dpo", str(deduped), str(tmp_path / "b"), "--format", "llamafactory",
                 "--keep_duplicates"]) == 0
    assert "left out" not in capsys.readouterr().out
    rows = json.loads((tmp_path / "b" / "dpo_llamafactory.json").read_text())
    assert {row["id"].rsplit("-pair", 1)[0] for row in rows} == all_keys


def test_hf_export_leaves_out_the_removed_keys(deduped, all_keys, tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    result = export_hf(str(deduped), str(tmp_path / "hf"))
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert sorted(ds["id"]) == sorted(all_keys - set(REMOVED))
    assert result["rows"] == 21 and result["removed_by_dedup"] == 3
    assert "3 samples of the run are left out" in (tmp_path / "hf" / "README.md").read_text()
    assert main(["hf", str(deduped), str(tmp_path / "hf2"), "--keep_duplicates"]) == 0
    assert "24 rows" in capsys.readouterr().out
    assert sorted(datasets.load_from_disk(str(tmp_path / "hf2"))["id"]) == sorted(all_keys)


# -- the preview -----------------------------------------------------------------------------


def test_the_preview_skips_the_removed_keys_and_says_how_many(deduped, all_keys, tmp_path):
    page, _ = write_preview(str(deduped), str(tmp_path / "a.html"), n=100)
    text = page.read_text()
    assert all(key not in text for key in REMOVED)
    assert all(key in text for key in all_keys - set(REMOVED))
    assert "Samples (21 of 21" in text and "<td>removed by dedup</td><td>3 (" in text

    page, _ = write_preview(str(deduped), str(tmp_path / "b.html"), n=100, keep_duplicates=True)
    text = page.read_text()
    assert all(key in text for key in all_keys) and "removed by dedup" not in text
    assert "Samples (24 of 24" in text


# -- a stale record, --overwrite, verify -----------------------------------------------------


def _readers_refuse(out: Path, tmp_path: Path, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        make_dataset(out)
    with pytest.raises(UsageError, match=match):
        dataset_size(out)
    with pytest.raises(UsageError, match=match):
        export_llava(str(out), str(tmp_path / "x.json"), str(tmp_path / "img"))
    with pytest.raises(UsageError, match=match):
        write_preview(str(out), str(tmp_path / "x.html"))
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "img").exists()
    # Keeping the duplicates reads every sample, record or not.
    assert len(_loaded(make_dataset(out, shuffle_buffer=0, keep_duplicates=True))) >= 24
    assert export_jsonl(str(out), str(tmp_path / "y.jsonl"), str(tmp_path / "img2"),
                        keep_duplicates=True)["rows"] >= 24


def test_a_changed_shard_makes_the_record_stale(copy, tmp_path, capsys):
    stats_path = copy / "shard-000001.stats.json"
    stats = json.loads(stats_path.read_text())
    stats["sha256"] = "0" * 64  # what a rebuilt shard's stats would say
    stats_path.write_text(json.dumps(stats))
    _readers_refuse(copy, tmp_path, r"stale: 1 shard\(s\) changed .*shard-000001\.tar")
    assert main(["messages", str(copy), str(tmp_path / "m.jsonl")]) == 2
    assert "is stale" in capsys.readouterr().err


def test_a_shard_the_record_never_read_makes_it_stale(copy, tmp_path):
    shutil.copy(copy / "shard-000002.tar", copy / "shard-000003.tar")
    shutil.copy(copy / "shard-000002.stats.json", copy / "shard-000003.stats.json")
    _readers_refuse(copy, tmp_path, r"stale: 1 shard\(s\) it never read \(shard-000003\.tar\)")


def test_overwrite_deletes_the_record_and_leftovers_of_writing_it(copy):
    assert copy / DEDUP_FILE in our_files(copy)
    leftover = copy / f"{DEDUP_FILE}.tmp-0123abcd"
    leftover.write_text("{}")
    assert remove_leftovers(copy) == [leftover] and not leftover.exists()
    run({**FLAGS, "out": str(copy), "overwrite": True})
    assert not (copy / DEDUP_FILE).exists()
    assert read_removed(copy) is None and dataset_size(copy) == 24


def test_verify_does_not_count_the_record_as_a_problem(deduped):
    report = verify(deduped)
    assert report.ok and report.good == 3 and not report.unexpected


def test_the_shards_module_names_the_record_as_the_record_module_does():
    from mmsynth import shards
    from mmsynth.dedup import record

    assert shards.DEDUP_FILE == record.DEDUP_FILE
