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
import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsynth import __version__
from mmsynth.errors import UsageError

_DEFAULT = object()  # Option.off not given: the default is the off value


@dataclass(frozen=True)
class Option:
    """A documented option. ``content`` options shape the samples and enter the fingerprint;
    ``layout`` options shape the shard files; the rest only change how the run executes.

    ``neutral``: a content option added after outputs exist, with a value that changes nothing
    (a control that is off): at that value it is left out of the fingerprint, so a run started
    before the option existed still resumes; any other value enters it as usual. The off value
    is ``off`` when given, else the default. A default that is not the off value (a control
    turned on by measurement) is then fingerprinted: resuming a run made before it needs the
    off value passed (the refusal names it)."""

    default: Any
    help: str
    kind: str = "content"  # "content" | "layout" | "run"
    check: Callable[[Any], str | None] | None = None  # returns a problem, or None
    neutral: bool = False
    off: Any = _DEFAULT
    # How a value from YAML or a flag becomes the option's own (else: the default's type).
    coerce: Callable[[str, Any], Any] | None = None

    @property
    def off_value(self) -> Any:
        """The value of a ``neutral`` option that changes nothing."""
        return self.default if self.off is _DEFAULT else self.off


# The plan must stay answerable in seconds: shard names have six digits, and beyond a billion
# sample indices a typo (1e30) is more likely than a job.
MAX_NUM_SAMPLES = 10**9
MAX_SHARDS = 10**6
# A job file is a short mapping; anything this big, or expanding (YAML aliases) to this many
# values, is not one (and a "billion laughs" alias bomb must not be walked, nor printed).
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxtuple, _SHOWN.maxdict = 3, 8, 8, 8
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 80, 80, 40


def shown(value: Any, limit: int = 200) -> str:
    """``value`` as an error message shows it: a bounded repr (at most ``limit`` characters) that
    never walks more than a few levels or items of a structure."""
    text = _SHOWN.repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- option validators: one set for every option table (run, sources, LLM, CLIP). Each returns
# the problem as text, or None when the value is fine.


def positive(value: Any) -> str | None:
    return None if isinstance(value, int) and value > 0 else "must be a positive integer"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False):
    """A validator for a number in [low, high] (either end open when asked)."""
    def check(value: Any) -> str | None:
        ok = _is_number(value) and (low < value if low_open else low <= value) and (
            value < high if high_open else value <= high)
        return None if ok else (f"must be a number in {'(' if low_open else '['}{low}, "
                                f"{high}{')' if high_open else ']'}")
    return check


rate = number_in(0, 1)  # a share of samples or images


def one_of(*values: str):
    """A validator for one of the given names."""
    def check(value: Any) -> str | None:
        return None if value in values else f"expected one of {', '.join(values)}"
    return check


def device(*names: str):
    """A validator for a torch device: one of ``names``, or ``cuda:N``."""
    def check(value: Any) -> str | None:
        ok = isinstance(value, str) and (value in names or (
            value.startswith("cuda:") and value[5:].isdigit()))
        return None if ok else f"expected one of {', '.join(names)} or cuda:N"
    return check


def _num_samples(value: Any) -> str | None:
    if not isinstance(value, int) or value <= 0:
        return "must be a positive integer"
    return None if value <= MAX_NUM_SAMPLES else f"must be at most {MAX_NUM_SAMPLES:_}"


def _directory_path(value: Any) -> str | None:
    # An empty --out would silently be the current directory.
    return None if isinstance(value, str) and value.strip() else \
        "must be a directory path (for the current directory say --out .)"


def non_negative(value: Any) -> str | None:
    return None if isinstance(value, int) and value >= 0 else "must be an integer ≥ 0"


def non_negative_number(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else "must be a number ≥ 0"


def _ray_address(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return "expects auto, ray://HOST:PORT or HOST:PORT"


RUN_OPTIONS: dict[str, Option] = {
    "source": Option(None, "which producer makes the samples (geometry, chart, coco, ...)"),
    "num_samples": Option(1000, "how many sample indices to produce (rejected ones included; "
                          f"at most {MAX_NUM_SAMPLES:_})", "layout", _num_samples),
    "seed": Option(0, "run seed; sample i draws every random choice from (seed, i)",
                   "content", non_negative),
    "shard_size": Option(1000, "sample indices per shard: shard i holds [i·S, (i+1)·S)",
                         "layout", positive),
    "out": Option("out", "output directory for shards, stats and run.json", "run",
                  _directory_path),
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
                                      "(fractions allowed)", "run", non_negative_number),
    "overwrite": Option(False, "delete this tool's files in --out first and start over", "run"),
    "progress": Option(True, "show a progress bar", "run"),
    "config": Option(None, "YAML job file whose keys set any option below", "run"),
    "verify": Option(False, "on resume, check each complete shard's sha256 against its stats and "
                            "rebuild the ones that differ (reads every tar once)", "run"),
}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A job file's mapping; UsageError names the file and the problem."""
    import yaml

    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read config {path}: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"config {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB; a job file "
                         "is a short mapping of option: value")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"config {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                         f"{e.start}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UsageError(f"config {path} is not valid YAML: {shown(str(e), 400)}") from None
    except RecursionError:
        raise UsageError(f"config {path} nests too deeply to be a job file") from None
    if _expands_beyond(data, MAX_CONFIG_VALUES):
        raise UsageError(f"config {path} expands to more than {MAX_CONFIG_VALUES:_} values "
                         "(YAML aliases repeating a structure?); write the values out")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(
            f"config {path} must be a mapping of option: value, got {type(data).__name__}"
        )
    return data


def _expands_beyond(data: Any, limit: int) -> bool:
    """Whether ``data``, with every shared (aliased) part counted each time it appears, holds more
    than ``limit`` values; stops counting at the limit, so an alias bomb costs ``limit`` steps."""
    stack, count = [data], 0
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
    return False


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
        value = config[name]
        config[name] = opt.coerce(name, value) if opt.coerce else _coerce(name, value, opt.default)
        problem = opt.check(config[name]) if opt.check else None
        if problem:
            raise UsageError(f"--{name} {shown(config[name])}: {problem}")
    shards = -(-config["num_samples"] // config["shard_size"])
    if shards > MAX_SHARDS:
        raise UsageError(f"--num_samples {config['num_samples']} with --shard_size "
                         f"{config['shard_size']} makes {shards:_} shards; at most {MAX_SHARDS:_} "
                         "(shard names have six digits): raise --shard_size")
    return config


def auto_or_number(name: str, value: Any) -> Any:
    """``auto``, or a number (from YAML, or a flag's text): an :attr:`Option.coerce` for
    numeric options whose default depends on another option."""
    if value is None or value == "auto":
        return value
    wrong = UsageError(f"--{name} expects auto or a number, got {shown(value)}")
    if isinstance(value, bool):
        raise wrong
    try:
        return float(value)  # 2, "2" and 2.0 are one value, one fingerprint
    except (TypeError, ValueError):
        raise wrong from None


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Bring a value from YAML or a flag to the type of the option's default."""
    if value is None:
        return value
    if (default is None or isinstance(default, str)) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        # fire reads ``--out 2024`` or ``--clip_model 5`` as a number; for a text (or path)
        # option the user meant the text.
        return str(value)
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UsageError(f"--{name} expects true or false, got {shown(value)}")
    if isinstance(default, int) and not isinstance(default, bool):
        wrong = UsageError(f"--{name} expects an integer, got {shown(value)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise wrong
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise wrong from None
        if not math.isfinite(number) or number != int(number):
            raise wrong
        return int(number)
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UsageError(f"--{name} expects a number, got {shown(value)}") from None
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(default, dict) and not isinstance(value, dict):
        raise UsageError(f"--{name} expects a mapping such as {json.dumps(default)}, got "
                         f"{shown(value)}")
    return value


def fingerprint(config: Mapping[str, Any], options: Mapping[str, Option],
                extra: Mapping[str, Any] | None = None) -> str:
    """Hash of the content-shaping options, the package version and ``extra`` (what else shapes
    the samples: renderer versions, prompt files), 16 hex digits."""
    content = {k: config[k] for k, opt in options.items() if opt.kind == "content"
               and not (opt.neutral and config[k] == opt.off_value)}
    blob = json.dumps({"mmsynth": __version__, "config": content, "extra": extra or {}},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def layout(config: Mapping[str, Any], options: Mapping[str, Option]) -> dict[str, Any]:
    return {k: config[k] for k, opt in options.items() if opt.kind == "layout"}
