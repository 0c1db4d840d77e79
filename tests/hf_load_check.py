"""Load mmsynth shards with a bare ``datasets.load_dataset("webdataset", data_files=...)`` (no
features) and compare every row's ``json`` with the shard's own bytes. Imports no mmsynth, so it
runs in a side environment with another datasets version (issue 20: datasets 4.0.x, the version
LLaMA-Factory pins):

    python -m venv /tmp/ds4 && /tmp/ds4/bin/pip install "datasets==4.0.*" pillow
    /tmp/ds4/bin/python tests/hf_load_check.py RUN_DIR [RUN_DIR ...]

Each RUN_DIR is loaded alone, then all of them in one call (a mixed load). Prints one line per
load; exits 1 on the first difference. ``--images`` also requires every row of a load whose shards
hold one image kind to carry its image."""

from __future__ import annotations

import glob
import json
import os
import sys
import tarfile
import tempfile


def shard_json(tars: list[str]) -> tuple[dict[tuple[str, str], dict], set[str]]:
    """({(tar, key): json record}, the image kinds) of the shards (two runs of one source and
    seed share their keys)."""
    records, kinds = {}, set()
    for path in tars:
        with tarfile.open(path) as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                if ext == "json":
                    records[os.path.realpath(path), key] = json.load(tar.extractfile(member))
                elif ext in ("png", "jpg"):
                    kinds.add(ext)
    return records, kinds


def check(tars: list[str], images: bool, cache: str) -> str:
    import datasets

    ds = datasets.load_dataset("webdataset", data_files={"train": tars}, split="train",
                               cache_dir=cache)
    want, kinds = shard_json(tars)
    if len(ds) != len(want):
        raise AssertionError(f"{len(ds)} rows, the shards hold {len(want)} samples")
    for row in ds:
        if row["json"] != want[os.path.realpath(row["__url__"]), row["__key__"]]:
            raise AssertionError(f"{row['__key__']}: the json column differs from the shard's")
        # One image kind: every row has it. Both (png renders + jpg photos): datasets keeps the
        # kind of its first five samples only; hf_features() is the way (the README says so).
        if images and len(kinds) == 1 and row[next(iter(kinds))] is None:
            raise AssertionError(f"{row['__key__']}: no image")
    return (f"datasets {datasets.__version__}: {len(ds)} rows, json exact, "
            f"image kinds {sorted(kinds)}")


def main(argv: list[str]) -> int:
    images = "--images" in argv
    runs = [a for a in argv if a != "--images"]
    loads = [[run] for run in runs] + ([runs] if len(runs) > 1 else [])
    with tempfile.TemporaryDirectory() as cache:
        for k, load in enumerate(loads):
            tars = sorted(t for run in load for t in glob.glob(f"{run}/shard-*.tar"))
            try:
                print(f"{' + '.join(load)}: {check(tars, images, f'{cache}/{k}')}")
            except Exception as e:  # the report, not a traceback
                print(f"{' + '.join(load)}: FAILED {type(e).__name__}: {e}")
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
