"""Run configuration: documented options, YAML job files, CLI overrides, the fingerprint.

Precedence, lowest first: option defaults in code → the YAML file given with ``--config`` → flags.
Every key must be a known option of the run or of the chosen source; anything else is an error
that names the key and lists the valid ones. The *fingerprint* hashes the options that decide
what a sample contains (plus the package version); options that only decide where or how fast
the work runs (``out``, ``workers``, ...) are left out, so they can change between a run and its
resume.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsynth import __version__
from mmsynth.errors import UsageError


@dataclass(frozen=True)
class Option:
    """A documented option. ``content`` options shape the samples and enter the fingerprint;
    ``layout`` options shape the shard files; the rest only change how the run executes."""

    default: Any
    help: str
    kind: str = "content"  # "content" | "layout" | "run"
    check: Callable[[Any], str | None] | None = None  # returns a problem, or None


def positive(value: Any) -> str | None:
    return None if isinstance(value, int) and value > 0 else "must be a positive integer"


def non_negative(value: Any) -> str | None:
    return None if isinstance(value, int) and value >= 0 else "must be an integer ≥ 0"


def _non_negative_number(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    return None if ok else "must be a number ≥ 0"


def _ray_address(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return "expects auto, ray://HOST:PORT or HOST:PORT"


RUN_OPTIONS: dict[str, Option] = {
    "source": Option(None, "which producer makes the samples (geometry, chart, coco, ...)"),
    "num_samples": Option(1000, "how many sample indices to produce (rejected ones included)",
                          "layout", positive),
    "seed": Option(0, "run seed; sample i draws every random choice from (seed, i)",
                   "content", non_negative),
    "shard_size": Option(1000, "sample indices per shard: shard i holds [i·S, (i+1)·S)",
                         "layout", positive),
    "out": Option("out", "output directory for shards, stats and run.json", "run"),
    "workers": Option(1, "shards built in parallel: local worker processes, or for --executor "
                         "ray the shards in flight (and the CPUs of a local Ray instance)",
                      "run", positive),
    "executor": Option("local", "where shards are built: local | ray", "run"),
    # Ray options are "run": the executor never changes the bytes, so they stay out of the
    # fingerprint and a run may resume on another executor.
    "ray_address": Option(None, "(--executor ray) cluster to use: unset = start a local Ray "
                                "instance of --workers CPUs; auto = the running cluster; "
                                "ray://HOST:10001 = Ray Client", "run", _ray_address),
    "ray_model_actors": Option(0, "(--executor ray) actors that hold a source's model (LLM, "
                                  "CLIP), each loading it once; 0 = --workers",
                               "run", non_negative),
    "ray_gpus_per_actor": Option(0.0, "(--executor ray) GPUs reserved by each model actor "
                                      "(fractions allowed)", "run", _non_negative_number),
    "overwrite": Option(False, "delete this tool's files in --out first and start over", "run"),
    "progress": Option(True, "show a progress bar", "run"),
    "config": Option(None, "YAML job file whose keys set any option below", "run"),
}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A job file's mapping; UsageError names the file and the problem."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read config {path}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UsageError(f"config {path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(
            f"config {path} must be a mapping of option: value, got {type(data).__name__}"
        )
    return data


def resolve(flags: Mapping[str, Any], source_options: Callable[[str], dict[str, Option]]) -> dict:
    """Merge defaults, the YAML file and flags into one validated config dict.

    ``source_options(name)`` returns the options of the named source (and raises UsageError for
    an unknown name).
    """
    flags = {k: v for k, v in flags.items() if v is not None}
    from_file = load_yaml(flags["config"]) if flags.get("config") else {}
    source = flags.get("source") or from_file.get("source")
    if not source:
        raise UsageError("no --source given (and none in --config)")
    options = {**RUN_OPTIONS, **source_options(source)}
    config = {name: opt.default for name, opt in options.items()}
    for origin, values in ((f"config {flags.get('config')}", from_file), ("flags", flags)):
        unknown = sorted(set(values) - set(options))
        if unknown:
            raise UsageError(
                f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"(from {origin}) for source {source!r}; valid options: {', '.join(options)}"
            )
        config.update(values)
    config["source"] = source
    for name, opt in options.items():
        config[name] = _coerce(name, config[name], opt.default)
        problem = opt.check(config[name]) if opt.check else None
        if problem:
            raise UsageError(f"--{name} {config[name]!r}: {problem}")
    return config


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Bring a value from YAML or a flag to the type of the option's default."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UsageError(f"--{name} expects true or false, got {value!r}")
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UsageError(f"--{name} expects an integer, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--{name} expects an integer, got {value!r}") from None
        if number != int(number):
            raise UsageError(f"--{name} expects an integer, got {value!r}")
        return int(number)
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UsageError(f"--{name} expects a number, got {value!r}") from None
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(default, dict) and not isinstance(value, dict):
        raise UsageError(f"--{name} expects a mapping such as {json.dumps(default)}, got {value!r}")
    return value


def fingerprint(config: Mapping[str, Any], options: Mapping[str, Option],
                extra: Mapping[str, Any] | None = None) -> str:
    """Hash of the content-shaping options, the package version and ``extra`` (what else shapes
    the samples: renderer versions, prompt files), 16 hex digits."""
    content = {k: config[k] for k, opt in options.items() if opt.kind == "content"}
    blob = json.dumps({"mmsynth": __version__, "config": content, "extra": extra or {}},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def layout(config: Mapping[str, Any], options: Mapping[str, Option]) -> dict[str, Any]:
    return {k: config[k] for k, opt in options.items() if opt.kind == "layout"}
