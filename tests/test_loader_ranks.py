"""Ranks and workers (issue 20, item 3): a run with fewer shards than ranks × workers is named,
with the fix, before a DDP job hangs on an empty rank; with enough shards every sample arrives
exactly once across 2 ranks × 2 DataLoader workers (real workers; the ranks set as torchrun
sets them, ``RANK`` / ``WORLD_SIZE``)."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from mmsynth.errors import UsageError
from mmsynth.loader import check_shard_count, make_loader
from mmsynth.run import run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for shards in (1, 4):
        folder = tmp_path_factory.mktemp(f"ranks-{shards}")
        run({"source": "geometry", "num_samples": 24, "shard_size": 24 // shards, "seed": 1,
             "out": str(folder), "clip_mode": "off", "progress": False})
        assert len(list(folder.glob("shard-*.tar"))) == shards
        out[shards] = folder
    return out


def _as_rank(monkeypatch, rank: int, world: int = 2) -> None:
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world))


def test_one_shard_for_two_ranks_and_two_workers_is_named_with_its_fix(runs, monkeypatch,
                                                                       caplog):
    _as_rank(monkeypatch, 1)
    with caplog.at_level(logging.WARNING, logger="mmsynth.loader"):
        make_loader(runs[1], batch_size=4, num_workers=2)
    (message,) = [r.getMessage() for r in caplog.records if "shard" in r.getMessage()]
    assert "1 shard for 2 ranks x 2 DataLoader workers" in message
    assert "3 of the 4 readers get no samples" in message and "--shard_size" in message
    with pytest.raises(UsageError, match="num_samples / 4"):
        make_loader(runs[1], batch_size=4, num_workers=2, on_few_shards="error")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmsynth.loader"):
        make_loader(runs[4], batch_size=4, num_workers=2)
    assert not caplog.records
    with pytest.raises(UsageError):
        check_shard_count(1, 1, 1, on_few="sometimes")


def test_four_shards_over_two_ranks_and_two_workers_give_every_sample_once(runs, monkeypatch):
    keys: Counter[str] = Counter()
    per_rank = []
    for rank in (0, 1):
        _as_rank(monkeypatch, rank)
        loader = make_loader(runs[4], batch_size=4, num_workers=2, shuffle_buffer=0,
                             on_few_shards="error")
        got = [k for batch in loader for k in batch["key"]]
        per_rank.append(len(got))
        keys.update(got)
    assert len(keys) == 24 and set(keys.values()) == {1}, keys
    assert per_rank == [12, 12]


def test_a_collate_function_is_taken_by_either_name(runs, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)

    def count(batch):
        return len(batch)

    for name in ("collate", "collate_fn"):
        loader = make_loader(runs[4], batch_size=5, num_workers=0, **{name: count})
        assert sum(loader) == 24
    with pytest.raises(UsageError, match="not both"):
        make_loader(runs[4], collate=count, collate_fn=count)


def test_the_length_comes_from_sizes_json(runs, monkeypatch, tmp_path):
    import shutil
    import warnings

    from mmsynth.loader import dataset_size, make_dataset

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dataset_size(runs[4]) == dataset_size(runs[1]) == 24
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # webdataset notes that a length changes no epoch
        assert len(make_dataset(runs[4], with_length=True)) == 24
        _as_rank(monkeypatch, 1)
        assert len(make_dataset(runs[4], with_length=True)) == 12
        assert sum(1 for _ in make_dataset(runs[4], shuffle_buffer=0)) == 12
    # A folder without sizes.json (a run made before it): no length, and a clear error.
    bare = tmp_path / "bare"
    bare.mkdir()
    for tar in runs[4].glob("shard-*.tar"):
        shutil.copy(tar, bare / tar.name)
    assert dataset_size(bare) is None
    with pytest.raises(UsageError, match=r"sizes\.json"):
        make_dataset(bare, with_length=True)


def test_equal_batches_give_every_rank_the_same_steps_over_uneven_shards(monkeypatch,
                                                                         tmp_path):
    from mmsynth.loader import equal_batches_per_reader

    # 27 samples in shards of 8, 8, 8 and 3: without equal_batches the rank holding the short
    # shard runs out first (the rank split is by shard).
    run({"source": "geometry", "num_samples": 27, "shard_size": 8, "seed": 2,
         "out": str(tmp_path), "clip_mode": "off", "progress": False})
    plain, equal, distinct = [], [], []
    for rank in (0, 1):
        _as_rank(monkeypatch, rank)
        loader = make_loader(tmp_path, batch_size=2, num_workers=2, shuffle_buffer=0,
                             shuffle_shards=False, on_few_shards="error")
        plain.append(sum(len(b["key"]) for b in loader))
        loader = make_loader(tmp_path, batch_size=2, num_workers=2, equal_batches=True)
        batches = [b["key"] for b in loader]
        # 27 // (2 ranks x 2 workers x 2) = 3 batches a worker, 6 a rank, all full
        assert len(loader) == len(batches) == 6 and all(len(b) == 2 for b in batches)
        equal.append(len(batches))
        distinct.append(len({k for b in batches for k in b}))
        again = [b["key"] for b in loader]  # the next epoch: as many steps again
        assert len(again) == 6
    assert sorted(plain) == [11, 16] and equal == [6, 6]
    assert min(distinct) >= 3  # a worker with the 3-sample shard goes round it again
    assert equal_batches_per_reader(27, 2, 2, 2) == 3
    with pytest.raises(UsageError, match="no whole batch"):
        equal_batches_per_reader(7, 2, 2, 2)
    _as_rank(monkeypatch, 0, world=4)
    with pytest.raises(UsageError, match="readers get no samples"):
        make_loader(tmp_path, batch_size=2, num_workers=2, equal_batches=True)
    # make_dataset alone: a reader with no shard (rank 4 of 5 over 4 shards) is refused, not
    # left spinning
    from mmsynth.loader import make_dataset

    _as_rank(monkeypatch, 4, world=5)
    with pytest.raises(UsageError, match="read no sample"):
        next(iter(make_dataset(tmp_path, epoch_samples=4)))
