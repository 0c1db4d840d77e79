from pathlib import Path

import pytest

from mmsynth.config import RUN_OPTIONS, fingerprint, load_yaml, resolve
from mmsynth.errors import UsageError
from mmsynth.sources import SOURCES, source_options

REPO = Path(__file__).resolve().parents[1]


def test_unknown_option_is_named_and_valid_ones_listed():
    with pytest.raises(UsageError) as e:
        resolve({"source": "geometry", "famillies": "all"}, source_options)
    message = str(e.value)
    assert "famillies" in message and "valid options" in message
    assert "families" in message and "num_samples" in message


def test_unknown_source_lists_known_ones():
    with pytest.raises(UsageError, match=r"unknown source 'nope'; known: .*geometry"):
        resolve({"source": "nope"}, source_options)


@pytest.mark.parametrize("flags, match", [
    ({"num_samples": 0}, "num_samples 0: must be a positive integer"),
    ({"num_samples": -5}, "must be a positive integer"),
    ({"num_samples": "many"}, "expects an integer"),
    ({"shard_size": 2.5}, "expects an integer"),
    ({"overwrite": "maybe"}, "expects true or false"),
    ({"image_size": 10}, "must be an integer in"),
    ({"families": {"triangle": -1}}, "weights"),
])
def test_bad_values_are_user_errors(flags, match):
    with pytest.raises(UsageError, match=match):
        resolve({"source": "geometry", **flags}, source_options)


def test_yaml_then_flags_precedence(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("source: geometry\nnum_samples: 50\nseed: 3\n")
    config = resolve({"config": str(path), "seed": 4}, source_options)
    assert config["num_samples"] == 50 and config["seed"] == 4 and config["source"] == "geometry"


def test_malformed_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("source: [unclosed\n")
    with pytest.raises(UsageError, match=r"bad\.yaml is not valid YAML"):
        resolve({"config": str(path)}, source_options)
    path.write_text("- a list\n")
    with pytest.raises(UsageError, match="must be a mapping"):
        resolve({"config": str(path)}, source_options)


def test_fingerprint_ignores_where_and_how_fast_but_not_content():
    opts = {**RUN_OPTIONS, **SOURCES.get("geometry").options}
    base = resolve({"source": "geometry"}, source_options)
    moved = resolve({"source": "geometry", "out": "elsewhere", "workers": 2}, source_options)
    reseeded = resolve({"source": "geometry", "seed": 1}, source_options)
    assert fingerprint(base, opts) == fingerprint(moved, opts)
    assert fingerprint(base, opts) != fingerprint(reseeded, opts)


def test_shipped_geometry_config_is_complete_and_matches_the_defaults():
    """configs/geometry.yaml documents every content option with its default value."""
    data = load_yaml(REPO / "configs" / "geometry.yaml")
    defaults = resolve({"source": "geometry"}, source_options)
    for key, value in data.items():
        assert defaults[key] == value, key
    content = {k for k, o in {**RUN_OPTIONS, **SOURCES.get("geometry").options}.items()
               if o.kind != "run"}
    assert content <= set(data)
