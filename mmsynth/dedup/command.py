"""``mmsynth dedup RUN [--against PATH ...] [--rewrite OUT]`` (also ``python -m mmsynth.dedup``).

Exit status: 0 when the pass ran (whatever it removed), 2 on usage errors.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mmsynth.errors import UsageError

_DESCRIPTION = """\
Find a finished run's duplicates and its overlap with your evaluation sets, and write
RUN/dedup.json (every removed sample with its reason and the sample or benchmark item it
repeats). The loader, the exports and the preview then skip those samples by default
(--keep_duplicates keeps them); --rewrite OUT also writes a new run without them.

Found: the same image bytes (exact_image); the same picture re-encoded, resized, slightly
cropped or brightened (near_image: a 256-bit pHash of the picture's frame, confirmed pixel by
pixel); the same or nearly the same written text (exact_text, near_text: MinHash LSH; only text
an LLM wrote is judged as text, a render's questions are computed from its own picture);
pictures and questions of the --against sets (contaminated_image, contaminated_text: a shared
13-gram, or one word apart). Of each group the sample with the lowest index stays."""

_EPILOG = """\
examples:
  mmsynth dedup out/
  mmsynth dedup out/ --against benchmarks/ --against eval/questions.jsonl --workers 4
  mmsynth dedup out/ --rewrite out_clean/"""


def main(argv: list[str] | None = None) -> int:
    from mmsynth.cli import (
        ArgParser,
        BoolFlag,
        parse,
        parse_text,
        parse_value,
        positional,
        require,
    )
    from mmsynth.dedup import find
    from mmsynth.dedup.record import REASONS

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgParser(prog="mmsynth dedup", description=_DESCRIPTION, epilog=_EPILOG,
                       usage="%(prog)s RUN [--against PATH ...] [--rewrite OUT] [options]")
    positional(parser, "run", "the run's output directory (its --out)")
    parser.add_argument("--against", action="append", type=parse_text, default=[],
                        metavar="PATH", help="a benchmark to decontaminate against: a folder of "
                        "images and/or question files, a .json/.jsonl/.parquet of questions, an "
                        "image, a shard .tar or a mmsynth run (repeat for several)")
    parser.add_argument("--rewrite", type=parse_text, metavar="OUT",
                        help="also write a new run in OUT without the removed samples (same "
                        "shards layout, stats, card; removals counted as rejections)")
    parser.add_argument("--workers", type=parse_value, default=1, metavar="N",
                        help="processes that read and hash shards (default: 1)")
    parser.add_argument("--executor", type=parse_text, default="local", metavar="NAME",
                        help="local (processes on this machine) or ray (a Ray cluster, "
                        "--ray_address) (default: local)")
    parser.add_argument("--ray_address", type=parse_text, metavar="ADDRESS",
                        help="the Ray cluster to join (default: start a local one)")
    parser.add_argument("--checks", type=parse_value, default=list(REASONS), metavar="LIST",
                        help=f"which checks to run (default: all: {', '.join(REASONS)})")
    parser.add_argument("--image_hash_bits", type=parse_value, default=find.IMAGE_HASH_BITS,
                        metavar="N", help="candidate pictures: pHash bits apart, of 256 "
                        f"(default: {find.IMAGE_HASH_BITS})")
    parser.add_argument("--image_difference", type=parse_value, default=find.IMAGE_DIFFERENCE,
                        metavar="X", help="the same picture: the largest block difference, 0-1 "
                        f"(default: {find.IMAGE_DIFFERENCE})")
    parser.add_argument("--text_jaccard", type=parse_value, default=find.TEXT_JACCARD,
                        metavar="X", help="near text: estimated Jaccard of word 3-grams at least "
                        f"this (default: {find.TEXT_JACCARD})")
    parser.add_argument("--overwrite", "--nooverwrite", action=BoolFlag, default=False,
                        help="--rewrite: replace OUT if it holds an earlier rewrite or run "
                        "(default: off)")
    parser.add_argument("--json_output", "--nojson_output", action=BoolFlag, default=False,
                        help="print the counts as JSON instead of text (default: off)")
    parser.add_argument("--quiet", "--noquiet", action=BoolFlag, default=False,
                        help="no progress lines (default: off)")
    try:
        args = parse(parser, argv)
        if args is None:  # --help was printed
            return 0
        require(parser, args, "run")
        settings = find.Settings(
            image_hash_bits=_number(args.image_hash_bits, "image_hash_bits", int, 0, 256),
            image_difference=_number(args.image_difference, "image_difference", float, 0, 1),
            text_jaccard=_number(args.text_jaccard, "text_jaccard", float, 0, 1),
            checks=tuple(_checks(args.checks)))
        workers = _number(args.workers, "workers", int, 1, 4096)
        against = [p for given in args.against
                   for p in (given if isinstance(given, list) else [given])]
        if args.executor not in ("local", "ray"):
            raise UsageError(f"unknown --executor {args.executor!r}; known: local, ray")
        if args.ray_address and args.executor != "ray":
            raise UsageError("--ray_address only applies with --executor ray")
        if args.rewrite is not None:
            from mmsynth.dedup.rewrite import check_rewrite_target

            check_rewrite_target(str(args.run), str(args.rewrite), args.overwrite)
        result = find.dedup_run(str(args.run), against, workers=workers, settings=settings,
                                quiet=args.quiet or args.json_output,
                                executor=args.executor, ray_address=args.ray_address)
        rewritten: dict[str, Any] | None = None
        if args.rewrite is not None:
            from mmsynth.dedup.rewrite import rewrite

            rewritten = rewrite(str(args.run), str(args.rewrite), overwrite=args.overwrite)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json_output:
        shown = {k: v for k, v in result.items() if k not in ("removed", "shards")}
        if rewritten is not None:
            shown["rewrite"] = rewritten
        print(json.dumps(shown, indent=2))
    else:
        print("\n".join(find.summary_lines(result)))
        if rewritten is not None:
            print(f"rewrite: {rewritten['kept']:,} samples in {rewritten['shards']} shards "
                  f"written to {args.rewrite}")
    return 0


def _number(value: Any, name: str, kind: type, low: float, high: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (kind is int and not isinstance(value, int)) or not low <= value <= high:
        raise UsageError(f"--{name} must be a{'n integer' if kind is int else ' number'} "
                         f"from {low:g} to {high:g}, not {value!r}")
    return kind(value)


def _checks(value: Any) -> list[str]:
    from mmsynth.dedup.record import REASONS

    names = value if isinstance(value, list) else str(value).replace(",", " ").split()
    unknown = [n for n in names if n not in REASONS]
    if unknown or not names:
        raise UsageError(f"--checks: unknown {', '.join(map(str, unknown)) or '(empty)'}; "
                         f"known: {', '.join(REASONS)}")
    return [str(n) for n in names]


if __name__ == "__main__":
    sys.exit(main())
