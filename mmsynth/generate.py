"""Command line: ``mmsynth generate --source geometry --num_samples 1000 --out out/`` (or
``python -m mmsynth.generate ...``).

A thin layer over :func:`mmsynth.run.run`: the flags are parsed by
:func:`mmsynth.cli.parse_generate_args` from the option tables; heavy libraries (torch,
transformers, open_clip) are imported only by the sources and stages that need them.
"""

import errno
import sys
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mmsynth.errors import RunAborted, UsageError


def generate(
    source: str | None = None,
    num_samples: int | None = None,
    out: str | None = None,
    seed: int | None = None,
    config: str | None = None,
    workers: int | None = None,
    shard_size: int | None = None,
    overwrite: bool = False,
    verify: bool = False,
    executor: str | None = None,
    progress: bool | None = None,
    ray_address: str | None = None,
    ray_model_actors: int | None = None,
    ray_gpus_per_actor: float | None = None,
    **options: Any,
) -> None:
    """Generate vision-language instruction data as WebDataset shards.

    Each shard holds a slice of sample indices and is published atomically with a stats file;
    re-running the same command resumes a killed run, and the same seed gives the same bytes.

    Example: python -m mmsynth.generate --source geometry --num_samples 1000 --out out/ --workers 2

    Args:
        source: Which producer makes the samples (mmsynth.sources.SOURCES).
        num_samples: How many sample indices to produce (default 1000); rejected samples count.
        out: Output directory for shards, per-shard stats, stats.json and run.json (default out).
        seed: Run seed (default 0); sample i draws every random choice from (seed, i).
        config: YAML job file (e.g. configs/geometry.yaml); its keys set any option, flags win.
        workers: Shards built in parallel (default 1): local processes, or with --executor ray
            the shards in flight and the CPUs of the local Ray instance it starts.
        shard_size: Sample indices per shard (default 1000); shard i holds [i*S, (i+1)*S).
        overwrite: Delete this tool's files in --out first instead of resuming.
        verify: On resume, check each complete shard's sha256 against its stats and rebuild the
            ones that differ (python -m mmsynth.verify OUT checks a run without changing it).
        executor: Where shards are built: local (default) or ray (a Ray cluster; see README).
        progress: Show a progress bar (default true; --noprogress to hide it).
        ray_address: (ray) Unset starts a local Ray instance; auto joins the running cluster;
            or a cluster or Ray Client address (see README). --out must be seen by every node.
        ray_model_actors: (ray) Actors holding a model (coco's LLM), each loads it once
            (default 0 = --workers).
        ray_gpus_per_actor: (ray) GPUs per model actor (default 0; fractions allowed).
        **options: Source options, e.g. --families "[triangle, circle]" (see below).
    """
    from mmsynth.run import run

    flags = dict(source=source, num_samples=num_samples, out=out, seed=seed, config=config,
                 workers=workers, shard_size=shard_size, executor=executor, progress=progress,
                 overwrite=overwrite or None, verify=verify or None, ray_address=ray_address,
                 ray_model_actors=ray_model_actors, ray_gpus_per_actor=ray_gpus_per_actor,
                 **options)
    summary = run(flags)
    print(summary.render())


# Errors that come from the machine's state, not from this program: said in one line (exit 1).
_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                                 errno.EPERM, errno.EIO, errno.EMFILE, errno.ENFILE})


def _os_problem(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {e.filename}" if e.filename else ""
        return f"no space left on the device{where} (free some space first)"
    return f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m mmsynth.generate`` and ``mmsynth generate``."""
    from mmsynth.cli import parse_generate_args

    argv = sys.argv[1:] if argv is None else list(argv)
    from mmsynth.redact import redact

    # Errors quote servers and URLs: redacted, so a pasted error shows no key.
    try:
        flags = parse_generate_args(argv)
        if flags is not None:  # None: --help was printed
            generate(**flags)
    except UsageError as e:
        print(redact(f"error: {e}"), file=sys.stderr)
        return 2
    except RunAborted as e:
        print(redact(f"error: run stopped: {e}\n  complete shards are kept; fix the cause and "
                     "run the same command again to resume"), file=sys.stderr)
        return 1
    except BrokenProcessPool as e:
        print(f"error: run stopped: {e}; complete shards are kept, run the same command again to "
              "resume", file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno not in _ENVIRONMENT_ERRNOS:
            raise  # not the machine's state but a bug: the traceback is the report
        print(f"error: {_os_problem(e)}; finished shards are safe, run the same command again "
              "to resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: complete shards are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
