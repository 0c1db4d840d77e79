"""Check a run's output against its own records: ``python -m mmsynth.verify OUT``.

For every shard the run's ``run.json`` plans: its stats must describe it (its own tar name, id,
indices, the run's fingerprint, the tar's size and sha256), and the tar must read back strictly
through the shared reader (only member kinds mmsynth writes, every sample parses, as many samples
as the stats kept). Shard files the run did not plan are reported too, since readers take every
``shard-*.tar``. Exit status: 0 when all is well, 1 when problems were found (each named with its
reason), 2 on usage errors (OUT is not a run's output directory).

:func:`verify` returns the report, for callers other than this command line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.shards import (
    RUN_FILE,
    ShardProblem,
    check_sha256,
    check_stats,
    iter_shard,
    num_shards,
    shard_indices,
    shard_name,
    stats_name,
)


@dataclass(frozen=True)
class Finding:
    """One shard that is not as its run recorded: ``reason`` is a short key, ``message`` says
    what was found."""

    shard: int
    file: str
    reason: str
    message: str


@dataclass
class VerifyReport:
    out: Path
    shards: int
    good: int = 0
    bad: list[Finding] = field(default_factory=list)
    missing: list[Finding] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.bad or self.missing or self.unexpected)

    def render(self) -> str:
        head = (f"mmsynth.verify: {self.good} of {self.shards} shards good in {self.out}"
                + ("" if self.ok else f"; {len(self.bad)} bad, {len(self.missing)} missing"
                   + (f", {len(self.unexpected)} unexpected files" if self.unexpected else "")))
        lines = [head]
        lines += [f"  bad      {f.file}: {f.reason}: {f.message}" for f in self.bad]
        lines += [f"  missing  {f.file}: {f.message}" for f in self.missing]
        lines += [f"  unexpected {name}: not a shard of this run's layout (readers would take "
                  "it)" for name in self.unexpected]
        if not self.ok:
            lines.append("  re-run the run's command with --verify to rebuild bad and missing "
                         "shards")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "shards": self.shards, "good": self.good, "ok": self.ok,
                "bad": [f.__dict__ for f in self.bad],
                "missing": [f.__dict__ for f in self.missing], "unexpected": self.unexpected}


def _run_record(out: Path) -> dict[str, Any]:
    path = out / RUN_FILE
    if not out.is_dir():
        raise UsageError(f"{out} is not a directory (give the --out of a mmsynth run)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        layout = record["layout"]
        num_items, shard_size = int(layout["num_items"]), int(layout["shard_size"])
        fingerprint = record["fingerprint"]
    except FileNotFoundError:
        raise UsageError(f"{out} has no {RUN_FILE} (give the --out of a mmsynth run)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path} cannot be used ({type(e).__name__}: {str(e)[:200]})") from None
    if shard_size <= 0 or num_items < 0 or not isinstance(fingerprint, str):
        raise UsageError(f"{path} records an impossible layout")
    return {"num_items": num_items, "shard_size": shard_size, "fingerprint": fingerprint}


def check_shard(out: Path, shard_id: int, indices: range, fingerprint: str) -> None:
    """ShardProblem unless shard ``shard_id`` is exactly as its stats record it."""
    stats = check_stats(out, shard_id, indices, fingerprint)
    check_sha256(out, stats)
    count = 0
    try:
        for _ in iter_shard(out / shard_name(shard_id), strict=True):
            count += 1
    except UsageError as e:  # a tar the reader cannot open at all
        raise ShardProblem("unreadable", str(e)) from None
    if count != stats.get("kept"):
        raise ShardProblem("kept_mismatch", f"{count} samples, its stats say "
                           f"{str(stats.get('kept'))[:20]}")


def verify(out: str | Path) -> VerifyReport:
    """Check every planned shard of the run in ``out`` (see the module's docstring); UsageError
    when ``out`` is not a run's output directory."""
    out = Path(out)
    record = _run_record(out)
    total = num_shards(record["num_items"], record["shard_size"])
    report = VerifyReport(out=out, shards=total)
    for i in range(total):
        indices = shard_indices(i, record["shard_size"], record["num_items"])
        try:
            check_shard(out, i, indices, record["fingerprint"])
        except ShardProblem as e:
            if e.reason == "no_stats":
                tar = out / shard_name(i)
                message = ("its tar exists without stats (an interrupted write)" if tar.exists()
                           else "not built")
                report.missing.append(Finding(i, shard_name(i), "missing", message))
            else:
                name = stats_name(i) if e.reason in ("bad_stats", "stats_name_another_tar",
                                                     "wrong_indices", "wrong_fingerprint") \
                    else shard_name(i)
                report.bad.append(Finding(i, name, e.reason, str(e)))
        else:
            report.good += 1
    planned = {shard_name(i) for i in range(total)}
    report.unexpected = sorted(p.name for p in out.glob("shard-*.tar") if p.name not in planned)
    return report


def main(argv: list[str] | None = None) -> int:
    """``mmsynth verify OUT [--json_output]`` (also ``python -m mmsynth.verify``): exit status 0
    when all is well, 1 when problems were found, 2 on usage errors."""
    from mmsynth.cli import ArgParser, BoolFlag, parse, positional, require

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgParser(prog="mmsynth verify", usage="%(prog)s OUT [--json_output]",
                       description="Check a mmsynth run's shards against their stats: sha256, "
                                   "sizes, indices, fingerprint, and that every member is one "
                                   "mmsynth writes and every sample parses.")
    positional(parser, "out", "the run's output directory (its --out)")
    parser.add_argument("--json_output", "--nojson_output", action=BoolFlag, default=False,
                        help="print the report as JSON instead of text (default: false)")
    try:
        args = parse(parser, argv)
        if args is None:  # --help was printed
            return 0
        require(parser, args, "out")
        report = verify(str(args.out))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), indent=2) if args.json_output else report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
