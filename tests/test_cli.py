"""The ``mmsynth`` command: subcommands, true help, fire-compatible flag values, and the old
``python -m mmsynth.<tool>`` entry points giving the same results."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli, shard_bytes

from mmsynth import __version__
from mmsynth import cli as mcli
from mmsynth.config import RUN_OPTIONS, resolve
from mmsynth.errors import UsageError
from mmsynth.sources import SOURCES, source_options


def run(*args: str, cwd: Path = REPO, module: str = "mmsynth") -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS``; PYTHONPATH points at this checkout so any cwd works."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def option_lines(help_text: str) -> dict[str, str]:
    """{flag name: its help, continuation lines joined} from an argparse --help."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        m = re.match(r"  (-\w, )?--(\w+)(?:, --no\w+)?(?: [A-Z]+)?(?:\s+(.*))?$", line)
        if m:
            current = m.group(2)
            entries[current] = m.group(3) or ""
        elif current and line.startswith(" " * 10) and line.strip():
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def all_options() -> dict[str, object]:
    options = dict(RUN_OPTIONS)
    for name in SOURCES.names():
        for key, opt in SOURCES.get(name).options.items():
            options.setdefault(key, opt)
    return options


# -- mmsynth --help / --version / dispatch ------------------------------------------------

def test_top_help_lists_each_subcommand_with_a_description():
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    for name in ("generate", "preview", "export"):
        row = re.search(rf"^  {name}\s+(\S.*)$", proc.stdout, re.M)
        assert row, name
        assert row.group(1) == mcli.SUBCOMMANDS[name][1]
    assert "--version" in proc.stdout


def test_version_prints_the_package_version():
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"mmsynth {__version__}\n"


def test_a_missing_subcommand_module_is_left_out(monkeypatch, capsys):
    monkeypatch.setitem(mcli.SUBCOMMANDS, "nothere", ("mmsynth.nothere_at_all:main", "absent"))
    assert "nothere" not in mcli.available()
    assert "nothere" not in mcli.top_help() and "generate" in mcli.top_help()
    assert mcli.main(["nothere"]) == 2
    assert "unknown command 'nothere'" in capsys.readouterr().err


def test_unknown_command_suggests_the_close_one():
    proc = run("exprot", "llava")
    assert proc.returncode == 2
    assert "unknown command 'exprot'; did you mean export?" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- generate --help ---------------------------------------------------------------------

def test_generate_help_shows_real_defaults_each_option_once_and_no_short_flags():
    proc = run("generate", "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    entries = option_lines(text)
    assert entries["num_samples"].endswith("(default: 1000)")
    assert entries["seed"].endswith("(default: 0)")
    assert entries["shard_size"].endswith("(default: 1000)")
    assert entries["out"].endswith("(default: out)")
    assert entries["progress"].endswith("(default: on)")
    assert entries["clip_threshold"].endswith("(default: 0.28)")
    assert "default: None" not in text and "Default: None" not in text
    # every option that has a default shows it
    for name, opt in all_options().items():
        if opt.default is not None and name != "llm_max_new_tokens":
            assert "(default: " in entries[name], name
    # coco overrides the LLM table's llm_max_new_tokens: its own default is the one shown
    assert entries["llm_max_new_tokens"].endswith("(default: 0)")
    # the CLIP options are used by all three sources, listed once
    for flag in ("--clip_mode", "--clip_threshold", "--families", "--llm_model"):
        assert len(re.findall(rf"^  {flag}\b", text, re.M)) == 1, flag
    assert re.search(r"^CLIP alignment filter options \(chart, coco, geometry\):", text, re.M)
    # short flags: only -h, which works
    assert set(re.findall(r"(?<![\w-])-[A-Za-z]\b", text)) == {"-h"}
    # the coco description is whole, not cut after its first line
    assert "answers are checked against the annotations." in " ".join(text.split())


def test_generate_help_for_one_source_lists_only_its_options():
    proc = run("generate", "--source", "geometry", "--help")
    assert proc.returncode == 0, proc.stderr
    entries = option_lines(proc.stdout)
    assert {"families", "image_size", "clip_mode", "num_samples"} <= set(entries)
    assert not {"coco_root", "llm_model", "types"} & set(entries)


def test_every_flag_in_the_help_is_accepted(tmp_path):
    """Each flag --help lists goes through the parser with a valid value and comes back as that
    option; and each flag of --source S --help is accepted by resolve for S."""
    options = all_options()
    help_text = run("generate", "--help").stdout
    listed = sorted(set(re.findall(r"^  (?:-h, )?--(\w+)", help_text, re.M)) - {"help"})
    assert set(listed) == set(options)
    negations = set(re.findall(r", --no(\w+)", help_text))
    assert negations == {n for n, o in options.items() if isinstance(o.default, bool)}

    def valid(name: str, opt) -> tuple[list[str], object]:
        if isinstance(opt.default, bool):
            return [f"--{name}"], True
        if name == "source":
            return ["--source", "geometry"], "geometry"
        if name == "config":
            path = tmp_path / "job.yaml"
            path.write_text("source: geometry\n")
            return ["--config", str(path)], str(path)
        if name == "ray_address":
            return ["--ray_address", "auto"], "auto"
        if name == "difficulty":  # a mapping level: weight
            return ["--difficulty", "{1: 1, 2: 2}"], {1: 1, 2: 2}
        if opt.default is None:
            return [f"--{name}", "some/path"], "some/path"
        return [f"--{name}", str(opt.default)], opt.default

    for name in listed:
        argv, expected = valid(name, options[name])
        assert mcli.parse_generate_args(argv) == {name: expected}, name
    for name in negations:
        assert mcli.parse_generate_args([f"--no{name}"]) == {name: False}

    for source in SOURCES.names():
        text = run("generate", "--source", source, "--help").stdout
        for name in set(re.findall(r"^  --(\w+)", text, re.M)) - {"source"}:
            opts = {**RUN_OPTIONS, **SOURCES.get(source).options}
            argv, _ = valid(name, opts[name])
            flags = mcli.parse_generate_args(["--source", source, *argv])
            resolve(flags, source_options)  # raises UsageError for a flag that does not work


# -- values ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("20", 20), ("1e3", 1000.0), ("-0.5", -0.5), ("True", True), ("'quoted'", "quoted"),
    ("[triangle, circle]", ["triangle", "circle"]),
    ("{triangle: 2, circle: 1}", {"triangle": 2, "circle": 1}),
    ("{triangle: 1e3}", {"triangle": 1000.0}),
    ("[hexagon-star, circle]", ["hexagon-star", "circle"]),
    ("off", "off"), ("cuda:0", "cuda:0"), ("data/out", "data/out"), ("[unclosed", "[unclosed"),
])
def test_parse_value(text, value):
    assert mcli.parse_value(text) == value
    assert type(mcli.parse_value(text)) is type(value)


@pytest.mark.parametrize("argv, flags", [
    (["--families", "[triangle, circle]"], {"families": ["triangle", "circle"]}),
    (["--families", "{triangle: 2, circle: 1}"], {"families": {"triangle": 2, "circle": 1}}),
    (["--families=triangle,circle"], {"families": "triangle,circle"}),
    (["--num_samples", "1e3"], {"num_samples": 1000.0}),
    (["--num-samples=7"], {"num_samples": 7}),
    (["--overwrite"], {"overwrite": True}),
    (["--nooverwrite", "--noprogress"], {"overwrite": False, "progress": False}),
    (["--overwrite=false", "--progress", "yes"], {"overwrite": False, "progress": True}),
    (["--out", "2024"], {"out": "2024"}),
    (["--types", "5"], {"types": "5"}),
    (["--clip_model", "5"], {"clip_model": "5"}),
    (["--split=2017"], {"split": "2017"}),
    (["--clip_threshold", "-1"], {"clip_threshold": -1}),
    (["--clip_threshold", "-1e-1"], {"clip_threshold": -0.1}),
    (["--seed", "3", "--seed=4"], {"seed": 4}),
])
def test_flag_values_keep_the_old_syntax(argv, flags):
    assert mcli.parse_generate_args(argv) == flags


def test_only_given_flags_override_the_yaml_file(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("source: geometry\nnum_samples: 50\nseed: 3\nprogress: false\n")
    flags = mcli.parse_generate_args(["--config", str(path), "--seed", "4"])
    assert flags == {"config": str(path), "seed": 4}
    config = resolve(flags, source_options)
    assert (config["num_samples"], config["seed"], config["progress"]) == (50, 4, False)


@pytest.mark.parametrize("argv, message", [
    (["--num_sample", "5"], "unknown option num_sample (--num_sample); did you mean "
                            "--num_samples?"),
    (["-n", "5"], "unknown option n (-n); did you mean --num_samples"),
    (["--colour", "red"], "unknown option colour"),
    (["geometry"], "unexpected argument 'geometry'"),
    (["--overwrite=maybe"], "--overwrite expects true or false, got 'maybe'"),
    (["--num_samples"], "argument --num_samples: expected one argument"),
])
def test_bad_flags_are_clear_errors(argv, message):
    with pytest.raises(UsageError) as e:
        mcli.parse_generate_args(["--source", "geometry", *argv])
    assert message in str(e.value)


def test_a_misspelt_flag_exits_2_with_close_matches_and_no_traceback(tmp_path):
    proc = cli("--source", "geometry", "--num_sample", "5", "--out", str(tmp_path),
               check=False)
    assert proc.returncode == 2
    assert "did you mean --num_samples?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_a_text_option_given_a_number_fails_validation_clearly(tmp_path):
    proc = cli("--source", "coco", "--types", "5", "--out", str(tmp_path / "o"), "--noprogress",
               "--clip_mode", "off", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "'5'" in proc.stderr and "Traceback" not in proc.stderr


# -- the subcommands do what the old entry points did ------------------------------------

def _normalised(text: str, *paths: Path) -> str:
    for p in paths:
        text = text.replace(str(p), "PATH")
    return re.sub(r"[\d.]+ samples/s \([^)]*\)", "RATE", text)


@pytest.mark.slow
def test_generate_subcommand_writes_the_same_shards_as_the_module(tmp_path):
    args = ["--source", "geometry", "--num_samples", "20", "--noprogress"]
    old = cli(*args, "--out", str(tmp_path / "old"))
    new = run("generate", *args, "--out", str(tmp_path / "new"))
    bare = run(*args, "--out", str(tmp_path / "bare"))  # flags without a command: generate
    assert new.returncode == 0 and bare.returncode == 0, new.stderr + bare.stderr
    assert shard_bytes(tmp_path / "old") == shard_bytes(tmp_path / "new") \
        == shard_bytes(tmp_path / "bare")
    assert len(shard_bytes(tmp_path / "old")) == 1
    assert _normalised(old.stdout, tmp_path / "old") == _normalised(new.stdout, tmp_path / "new")


def test_out_2024_is_a_folder_named_2024(tmp_path):
    proc = run("generate", "--source", "geometry", "--num_samples", "3", "--out", "2024",
               "--noprogress", "--clip_mode", "off", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "2024" / "run.json").is_file()
    assert len(list((tmp_path / "2024").glob("shard-*.tar"))) == 1
    page = run("preview", "2024", "--out", "2024.html", "--n", "2", cwd=tmp_path)
    assert page.returncode == 0, page.stderr
    assert (tmp_path / "2024.html").read_text().startswith("<!DOCTYPE html>")


def test_export_subcommand_matches_the_module(geometry_run, tmp_path):
    for kind, name in (("llava", "out.json"), ("jsonl", "out.jsonl")):
        a, b = tmp_path / f"a-{kind}", tmp_path / f"b-{kind}"
        old = run(kind, str(geometry_run), str(a / name), "--images", str(a / "img"),
                  module="mmsynth.export")
        new = run("export", kind, str(geometry_run), str(b / name), "--images", str(b / "img"))
        assert old.returncode == 0 and new.returncode == 0, old.stderr + new.stderr
        assert _normalised(old.stdout, a) == _normalised(new.stdout, b)
        assert "50 rows" in new.stdout
        assert (a / name).read_bytes() == (b / name).read_bytes()
        images = sorted(p.relative_to(a / "img") for p in (a / "img").rglob("*") if p.is_file())
        assert len(images) == 50
        for rel in images:
            assert (a / "img" / rel).read_bytes() == (b / "img" / rel).read_bytes()
    # positional arguments in fire's flag form still work
    c = tmp_path / "c"
    proc = run("export", "llava", "--shards_dir", str(geometry_run), "--out_json",
               str(c / "out.json"), "-i", str(c / "img"))
    assert proc.returncode == 0, proc.stderr
    assert (c / "out.json").read_bytes() == (tmp_path / "a-llava" / "out.json").read_bytes()


def test_export_help_is_true():
    assert run("export", "--help").stdout == run("--help", module="mmsynth.export").stdout
    top = run("export", "--help").stdout
    for command in ("llava", "jsonl", "hf"):
        assert re.search(rf"^    {command}\s+\S", top, re.M), command
    llava = run("export", "llava", "--help")
    assert llava.returncode == 0
    assert "SHARDS_DIR" in llava.stdout and "OUT_JSON" in llava.stdout
    assert "(default: an images folder next to OUT_JSON)" in " ".join(llava.stdout.split())
    assert "None" not in llava.stdout
    hf = " ".join(run("export", "hf", "--help").stdout.split())
    assert "(default: OUT_DIR/hf)" in hf and "--overwrite, --nooverwrite" in hf
    assert "None" not in hf


def test_preview_help_lists_only_flags_that_work(geometry_run, tmp_path):
    text = " ".join(run("preview", "--help").stdout.split())
    assert "(default: 200)" in text and "(default: OUT_DIR/preview.html)" in text
    assert "None" not in text
    assert set(re.findall(r"(?<![\w-])-[A-Za-z]\b", text)) == {"-h", "-n", "-s"}
    proc = run("preview", str(geometry_run), "--out", str(tmp_path / "p.html"), "-n", "3",
               "-s", "1")
    assert proc.returncode == 0, proc.stderr
    assert json.dumps(str(tmp_path / "p.html"))[1:-1] in proc.stdout
    bad = run("preview", str(geometry_run), "--n", "many")
    assert bad.returncode == 2 and "--n 'many'" in bad.stderr and "Traceback" not in bad.stderr
