"""Shared helpers: run the real CLI in a subprocess, read shards back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Every process of the session (the CLI runs in subprocesses) keeps dequantised GGUF weights
    in pytest's own cache folder, never in the user's: built by the first test session that loads
    the embedded model, reused by later ones (``--cache-clear`` drops it)."""
    cache = getattr(config, "cache", None)
    folder = (cache.mkdir("mmsynth") if cache is not None
              else Path(tempfile.mkdtemp(prefix="mmsynth-test-cache-")))
    os.environ["MMSYNTH_CACHE"] = str(folder)


def cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m mmsynth.generate ARGS`` in a fresh process, as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "mmsynth.generate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def read_shards(out: Path) -> dict[str, dict[str, bytes]]:
    """{key: {extension: bytes}} over every shard in ``out``; fails on duplicate members."""
    samples: dict[str, dict[str, bytes]] = {}
    for tar_path in sorted(out.glob("shard-*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                entry = samples.setdefault(key, {})
                assert ext not in entry, f"duplicate member {member.name}"
                entry[ext] = tar.extractfile(member).read()
    return samples


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("shard-*.tar"))}


def decoded(data: bytes) -> dict:
    """A shard's ``json`` member as mmsynth holds the record in memory (:mod:`mmsynth.schema`)."""
    from mmsynth.schema import decode

    return decode(json.loads(data))


def read_records(out: Path) -> list[dict]:
    """The records of every sample in ``out``'s shards, as mmsynth holds them in memory (the
    shard's typed form decoded, :mod:`mmsynth.schema`), in shard order."""
    return [decoded(m["json"]) for m in read_shards(out).values()]


def load_json(path: Path):
    return json.loads(Path(path).read_text())


# One small real coco run (the embedded LLM on the CPU), shared by the tests that read its output:
# the coco source's own checks, preview/export, the sample schema.
COCO_FAST = {"types": "detail,conversation", "llm_max_new_tokens": 48, "progress": False,
             "shard_size": 2}


@pytest.fixture(scope="session")
def coco_run(tmp_path_factory):
    from mmsynth.run import run

    out = tmp_path_factory.mktemp("coco")
    summary = run({"source": "coco", "num_samples": 3, "out": str(out), "seed": 1, **COCO_FAST})
    return out, summary


@pytest.fixture(scope="session")
def geometry_run(tmp_path_factory):
    """A 50-sample geometry run (seed 0) for tests that only read its output."""
    out = tmp_path_factory.mktemp("geo50")
    cli("--source", "geometry", "--num_samples", "50", "--out", str(out), "--seed", "0",
        "--noprogress")
    return out


@pytest.fixture
def flaky_family():
    """A geometry family that raises on every third scene, registered for one test."""
    import numpy as np

    from renderers import RENDERERS, registry
    from renderers.geometry.triangle import Triangle

    registry("geometry")

    class Flaky(Triangle):
        def sample_scene(self, rng: np.random.Generator):
            scene = super().sample_scene(rng)
            if rng.random() < 1 / 3:
                raise ZeroDivisionError("degenerate scene on purpose")
            return scene

    Flaky.kind, Flaky.name = "geometry", "test_flaky"
    RENDERERS["geometry"].register("test_flaky", Flaky)
    yield "test_flaky"
    del RENDERERS["geometry"]._entries["test_flaky"]
