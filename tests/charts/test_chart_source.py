"""The chart source end to end through the CLI: readable shards, LLaVA JSON, checked answers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import cli, decoded, read_shards, shard_bytes
from PIL import Image

from mmsynth.config import RUN_OPTIONS, load_yaml, resolve
from mmsynth.errors import UsageError
from mmsynth.sample import check_llava_shape
from mmsynth.sources import SOURCES, source_options

from .checker import check_sample

REPO = Path(__file__).resolve().parents[2]


def test_shipped_chart_config_is_complete_and_matches_the_defaults():
    """configs/chart.yaml documents every content option with its default value."""
    data = load_yaml(REPO / "configs" / "chart.yaml")
    defaults = resolve({"source": "chart"}, source_options)
    for key, value in data.items():
        assert defaults[key] == value, key
    content = {k for k, o in {**RUN_OPTIONS, **SOURCES.get("chart").options}.items()
               if o.kind != "run"}
    assert content <= set(data)


@pytest.mark.slow
def test_300_chart_samples_readable_llava_shaped_and_checked(tmp_path):
    out = tmp_path / "out"
    proc = cli("--source", "chart", "--num_samples", "300", "--out", str(out), "--seed", "5",
               "--shard_size", "100", "--noprogress")
    assert "of 300 samples in 3 shards" in proc.stdout
    samples = read_shards(out)
    assert len(samples) >= 0.95 * 300, proc.stdout
    families = set()
    for key, members in samples.items():
        assert set(members) == {"json", "png", "txt"}
        image = Image.open(io.BytesIO(members["png"]))
        image.load()
        assert image.size == (448, 448)
        record = decoded(members["json"])
        assert members["txt"].decode() == record["caption"]
        assert record["id"] == key and check_llava_shape(record) == []
        scene = record["scene"]
        assert scene["table"]["columns"] and scene["table"]["rows"]
        assert scene["family"] == record["meta"]["generator"]
        check_sample(scene, record["qa"])
        assert len(record["conversations"]) == 2 * len(record["qa"])
        families.add(scene["family"])
    assert len(families) >= 10
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else {}
    for reason in stats.get("rejections", {}):
        assert reason.startswith("render_error:"), reason


@pytest.mark.slow
def test_same_seed_same_bytes_and_bad_inputs_are_counted_not_fatal(tmp_path):
    args = ["--source", "chart", "--num_samples", "60", "--seed", "9", "--noprogress"]
    cli(*args, "--out", str(tmp_path / "a"))
    cli(*args, "--out", str(tmp_path / "b"), "--families", "all")
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")
    # An image too small for any chart's labels: every sample is a counted rejection.
    proc = cli(*args, "--out", str(tmp_path / "tiny"), "--image_size", "64")
    assert "0 kept, 60 rejected" in proc.stdout
    assert "LabelsDoNotFit" in proc.stdout


def test_unknown_chart_kind_is_a_usage_error_listing_the_known_ones():
    from mmsynth.sources.render import ChartSource

    config = resolve({"source": "chart", "families": ["bar", "radar"]}, source_options)
    with pytest.raises(UsageError, match=r"unknown chart renderer 'radar'; known: .*stacked_bar"):
        ChartSource(config, "f")
