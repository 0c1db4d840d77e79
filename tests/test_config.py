from pathlib import Path

import pytest

from mmsynth.config import RUN_OPTIONS, fingerprint, load_yaml, resolve, shown
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


def test_numbers_given_to_text_options_are_their_text():
    """fire reads ``--out 2024`` and ``--clip_model 5`` as numbers."""
    config = resolve({"source": "geometry", "out": 2024, "clip_model": 5, "seed": 3},
                     source_options)
    assert config["out"] == "2024" and config["clip_model"] == "5" and config["seed"] == 3
    assert resolve({"source": "coco", "types": 5, "coco_root": 7},
                   source_options)["coco_root"] == "7"


@pytest.mark.parametrize("flags, match", [
    ({"num_samples": float("nan")}, "expects an integer, got nan"),
    ({"num_samples": "inf"}, "expects an integer, got 'inf'"),
    ({"num_samples": 10**400}, "expects an integer"),
    ({"num_samples": 1e30}, "must be at most 1_000_000_000"),
    ({"num_samples": 10**9, "shard_size": 999}, "1_001_002 shards; at most 1_000_000"),
    ({"out": ""}, "--out '': must be a directory path"),
    ({"out": "  "}, "must be a directory path"),
])
def test_unplannable_or_empty_values_are_user_errors(flags, match):
    with pytest.raises(UsageError, match=match):
        resolve({"source": "geometry", **flags}, source_options)


def test_the_largest_plan_is_accepted():
    config = resolve({"source": "geometry", "num_samples": 10**9}, source_options)
    assert config["num_samples"] == 10**9 and config["shard_size"] == 1000


def test_error_messages_show_a_bounded_value():
    huge = list(range(10**6))
    assert len(shown(huge)) <= 200 and shown(huge).startswith("[0, 1, 2")
    deep: list = []
    for _ in range(10_000):
        deep = [deep, deep]  # 2**10000 leaves once expanded
    assert len(shown(deep)) <= 200
    with pytest.raises(UsageError) as e:
        resolve({"source": "geometry", "seed": huge}, source_options)
    assert len(str(e.value)) < 300


def test_a_config_that_is_not_utf8_or_too_big_or_a_bomb_is_refused(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_bytes(b"source: geometry\n# \xff\n")
    with pytest.raises(UsageError, match=r"not UTF-8 text \(byte 0xff at offset 19\)"):
        load_yaml(path)
    path.write_bytes(b"source: geometry\n" + b"#" * (1 << 20) + b"\n")
    with pytest.raises(UsageError, match="larger than 1 MiB"):
        load_yaml(path)
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path.write_text("source: geometry\n" + "\n".join(lines) + "\n")
    with pytest.raises(UsageError, match="expands to more than 100_000 values"):
        load_yaml(path)
    path.write_text("source: geometry\nbase: &b {seed: 3}\nfamilies: [*b, *b]\n")
    assert load_yaml(path)["families"] == [{"seed": 3}, {"seed": 3}]  # a modest alias is fine


def test_verify_is_a_run_option_outside_the_fingerprint():
    opts = {**RUN_OPTIONS, **SOURCES.get("geometry").options}
    assert opts["verify"].kind == "run" and opts["verify"].default is False
    assert fingerprint(resolve({"source": "geometry", "verify": True}, source_options), opts) == \
        fingerprint(resolve({"source": "geometry"}, source_options), opts)


def test_a_neutral_content_option_at_its_default_leaves_the_fingerprint_as_before():
    """Options added later and off by default (the LLM's repetition controls) must not refuse
    the resume of a run started before they existed; set, they enter the fingerprint."""
    from mmsynth.config import Option

    opts = {"seed": Option(0, "seed"), "penalty": Option(1.0, "p", neutral=True)}
    before = fingerprint({"seed": 0}, {"seed": opts["seed"]})
    assert fingerprint({"seed": 0, "penalty": 1.0}, opts) == before
    assert fingerprint({"seed": 0, "penalty": 1.1}, opts) != before
    coco = {**RUN_OPTIONS, **SOURCES.get("coco").options}
    for name in ("llm_repetition_penalty", "llm_no_repeat_ngram_size", "llm_frequency_penalty"):
        assert coco[name].neutral and coco[name].kind == "content"


def test_a_neutral_option_whose_default_is_on_is_fingerprinted_at_its_default():
    """A control turned on by measurement (the repetition penalty, retries) must not resume a run
    made before it: its default enters the fingerprint; its off value still does not."""
    from mmsynth.config import Option

    opts = {"seed": Option(0, "seed"), "retries": Option(3, "r", neutral=True, off=0)}
    before = fingerprint({"seed": 0}, {"seed": opts["seed"]})
    assert opts["retries"].off_value == 0
    assert fingerprint({"seed": 0, "retries": 0}, opts) == before
    assert fingerprint({"seed": 0, "retries": 3}, opts) != before


def test_the_repetition_penalty_is_auto_or_a_number_and_auto_depends_on_the_backend():
    from mmsynth.llm import repetition_penalty

    def resolved(**flags):
        return resolve({"source": "coco", "out": "unused", **flags}, source_options)

    assert resolved()["llm_repetition_penalty"] == "auto"
    assert repetition_penalty(resolved()) == 1.1  # the transformers backend: measured
    assert repetition_penalty(resolved(llm_backend="openai")) == 1.0  # a server: none sent
    assert repetition_penalty(resolved(llm_backend="openai", llm_repetition_penalty="1.2")) == 1.2
    # a flag's text, an int and a float are one value and one fingerprint
    values = [resolved(llm_repetition_penalty=v) for v in ("2", 2, 2.0)]
    assert [c["llm_repetition_penalty"] for c in values] == [2.0, 2.0, 2.0]
    assert len({fingerprint(c, {**RUN_OPTIONS, **SOURCES.get("coco").options})
                for c in values}) == 1
    for bad, why in (("x", "expects auto or a number"), (0, "must be a number in"),
                     (True, "expects auto or a number")):
        with pytest.raises(UsageError, match=why):
            resolved(llm_repetition_penalty=bad)
