"""Yield of the coco job (issue 16) for a list of settings against the baseline: how many
requests end as kept LLM samples, what is rejected and why, what the rejected replies cost in
tokens, how often the model names an absent object before the check, and the wall time per
image — on the shipped sample and on the labelled yield set (``tests/coco/data/yield_set``).

Each setting is a string of ``mmsynth generate`` flags (``"--llm_candidates 2 --llm_retries
1"``); the first setting is always the baseline, the job before issue 16 (one reply per request,
no repetition control: :data:`BASELINE`), the second today's defaults (``""``). Every figure comes
from the run's own stage counters (``best_of_n``, ``grounding``; the same ones the run summary
prints), and each is also shown as a ratio to the baseline's on the same set and type.

Two kinds of runs, both through :func:`mmsynth.run.run` in this process:

* **yield runs**, one per (set, setting, type), with ``--types`` that one type, so that every
  counter is that type's (the counters are not kept per type); "all" is their sum. They share
  one LLM reply cache (``--cache_path``): a reply depends only on its request, parameters and
  seed (candidate k of (seed, image, type)), and candidate 0 is the one-candidate run's reply,
  so a setting pays only for the candidates no earlier setting generated. The annotation QA
  samples (no LLM) are switched off in them, so the grounding counters — CHAIR_s, the share of
  checked answers naming an absent object, *before* the check acts — are the LLM candidates'
  alone (the run summary's figure counts the annotation QA samples too, so it is lower).
* **timed runs**, one per (set, setting) for the sets in ``--time``: the job as a user's first
  run with the defaults runs it (all types in one shard, annotation QA on, the reply cache its
  own new, empty file in OUT), so **no reply comes from a cache** (checked: its cache hits must
  be 0) and the wall time per image is the cost of generating every candidate; the time a
  fresh cache adds (hashing the requests, one SQLite write) is what the quickstart pays too.
  They run before the yield runs of their setting and their replies are then copied into the
  shared cache, so the yield runs do not generate them again (a timed run itself regenerates
  what earlier settings had already cached: candidate 0, say). Their
  best-of-N counters are checked against the yield runs' sums (replies are batch-invariant,
  so they must agree).

CLIP is off throughout (the yield set's images are placeholders; the quickstart skips CLIP where
its weights are not cached). The results (every run's raw counters) are kept in ``--results``
(JSON); a later call adds the (set, setting) runs that file lacks and prints the tables for all
it holds, so a campaign can be run one job at a time.

    python bench/bench_yield.py --sets shipped --time shipped     # baseline and the defaults
    python bench/bench_yield.py --setting "--llm_repetition_penalty 1.1" \\
        --setting "--llm_candidates 2 --llm_retries 1"       # adds two settings to the file
    python bench/bench_yield.py --report_only                               # print the tables
    python bench/bench_yield.py --images 2 --common "--llm_max_new_tokens 24" \\
        --results /tmp/try.json --time shipped                               # a quick try
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "out" / "yield"  # ignored by git

TYPES = ("conversation", "detail", "reasoning")
# The job before issue 16 chose its defaults: one reply per request, no repetition penalty.
BASELINE = "--llm_repetition_penalty 1 --llm_candidates 1 --llm_retries 0"
DEFAULTS = ""
SETS = ("shipped", "yield")

Stages = Mapping[str, Mapping[str, int]]  # stage name → counters, as a run's stats hold them


# -- the runs -----------------------------------------------------------------------------------


def setting_flags(setting: str) -> dict[str, Any]:
    """A setting's flags parsed as ``mmsynth generate`` parses them (typed values)."""
    from mmsynth.cli import parse_generate_args

    return parse_generate_args(shlex.split(setting)) or {}


def set_flags(name: str, root: Path | None, args) -> dict[str, Any]:
    """The flags of every run on a set: the set (the shipped sample is the default), its images
    (``--images``, else all of them), the seed and ``--common``."""
    flags = {"num_samples": args.images or 100_000, "seed": args.seed,
             **setting_flags(args.common)}
    if name == "shipped":
        return flags
    from tests.coco import yield_set

    return {**flags, "coco_root": str(root), "split": yield_set.SPLIT}


def run_job(flags: dict[str, Any]) -> tuple[dict[str, dict[str, int]], int, float, float]:
    """One coco run into a temporary directory: (its stage counters, images, the run's own
    build seconds, wall seconds of the whole call)."""
    from mmsynth.run import run

    with tempfile.TemporaryDirectory(prefix="bench_yield_") as out:
        started = time.perf_counter()
        summary = run({"source": "coco", "clip_mode": "off", "progress": False, **flags,
                       "out": out})
        wall = time.perf_counter() - started
    return summary.stage_stats, summary.num_items, summary.seconds, wall


def yield_runs(set_name: str, root: Path | None, setting: str, args) -> dict[str, Any]:
    """The (set, setting)'s yield runs, one per type, through the shared reply cache."""
    out: dict[str, Any] = {}
    for kind in TYPES:
        stages, images, _, wall = run_job({
            **set_flags(set_name, root, args), "types": kind,
            "llm_cache": "readwrite", "llm_cache_path": args.cache_path,
            "counting_rate": 0.0, "negative_rate": 0.0, **setting_flags(setting)})
        llm = stages.get("llm", {})
        print(f"  yield run {set_name:7s} {kind:12s} [{label(setting)}]: {wall:6.1f} s, "
              f"{llm.get('sent', 0)} replies generated, {llm.get('cache_hits', 0)} from the "
              f"cache; load average {os.getloadavg()[0]:.2f}", flush=True)
        out[kind] = stages
        out["images"] = images
    return out


def timed_run(set_name: str, root: Path | None, setting: str, args) -> dict[str, Any]:
    """The job as a user's first run with the defaults runs it, no reply from any cache: the
    reply cache is the run's own, new and empty (``--llm_cache readwrite`` into OUT, as the
    quickstart has it), so every candidate is generated. Its replies are then added to the
    shared cache, where the yield runs find them. Wall seconds and the run's counters."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_yield_cache_") as fresh:
        cache = Path(fresh) / "responses.sqlite"
        stages, images, seconds, wall = run_job({
            **set_flags(set_name, root, args), "llm_cache": "readwrite",
            "llm_cache_path": str(cache), **setting_flags(setting)})
        hits = stages.get("llm", {}).get("cache_hits", 0)
        if hits:
            raise RuntimeError(f"a timed run got {hits} replies from its new cache")
        added = merge_cache(cache, Path(args.cache_path))
    print(f"  timed run {set_name:7s} [{label(setting)}]: {wall:6.1f} s for {images} "
          f"images (the run's own clock {seconds:.1f} s), {added} new replies for the shared "
          f"cache; load average {load:.2f} → {os.getloadavg()[0]:.2f}", flush=True)
    return {"stages": stages, "images": images, "seconds": seconds, "wall": wall,
            "load": [load, os.getloadavg()[0]]}


def merge_cache(source: Path, target: Path) -> int:
    """Add the replies stored in the cache file ``source`` to ``target`` (a reply is a function
    of its key, so either copy is right); the number added."""
    import sqlite3

    from mmsynth.llm.cache import ResponseCache

    shared = ResponseCache(target, "readwrite")
    before = len(shared)  # also makes the file and its table
    shared.close()
    conn = sqlite3.connect(target, timeout=60)
    try:
        with conn:
            conn.execute("ATTACH DATABASE ? AS run", (str(source),))
            conn.execute("INSERT OR IGNORE INTO responses SELECT key, reply, created "
                         "FROM run.responses")
        conn.execute("DETACH DATABASE run")
        return conn.execute("SELECT count(*) FROM responses").fetchone()[0] - before
    finally:
        conn.close()


# -- the figures --------------------------------------------------------------------------------


def total(parts: Sequence[Stages]) -> dict[str, dict[str, int]]:
    """Stage counters summed over runs (every counter is a count, so they add up)."""
    out: dict[str, Counter[str]] = {}
    for stages in parts:
        for name, counters in stages.items():
            out.setdefault(name, Counter()).update(counters)
    return {name: dict(c) for name, c in out.items()}


def figures(stages: Stages) -> dict[str, float | None]:
    """The bench's figures from one run's (or a sum of runs') stage counters."""
    from mmsynth.filters.grounding import summarize

    b = Counter(stages.get("best_of_n", {}))
    g = summarize(Counter(stages.get("grounding", {})))
    requests, candidates, tokens = b["requests"], b["candidates"], b["tokens"]
    repetitive = reasons(stages)["repetitive"]  # the reason is repetitive:<type>
    return {
        "requests": requests,
        "candidates": candidates,
        "kept/request": b["kept"] / requests if requests else None,
        "repetitive %": 100 * repetitive / candidates if candidates else None,
        # grounding's own CHAIR_s: over the candidates that reached it (parsed), before it acts
        "CHAIR_s %": 100 * g["hallucination_rate"] if g["samples_checked"] else None,
        # the same hallucinated answers over every candidate: a denominator that does not grow
        # when fewer candidates die at the parser (repetitive) before grounding sees them
        "halluc/cand %": 100 * g["samples_with_hallucination"] / candidates
        if candidates else None,
        "wrong count %": 100 * g["wrong_count_rate"] if g["samples_checked"] else None,
        "reply tokens": tokens,
        "kept/1k tok": 1000 * b["kept"] / tokens if tokens else None,
        "rejected tok %": 100 * b["tokens_rejected"] / tokens if tokens else None,
    }


def reasons(stages: Stages, prefix: str = "candidate_rejected:") -> Counter[str]:
    """best_of_n's counters under ``prefix`` by the kind of their reason
    (``hallucinated_object:dog`` → ``hallucinated_object``)."""
    kinds: Counter[str] = Counter()
    for key, n in stages.get("best_of_n", {}).items():
        if key.startswith(prefix) and n:
            kinds[key[len(prefix):].split(":", 1)[0]] += n
    return kinds


COLUMNS = ("requests", "candidates", "kept/request", "repetitive %", "CHAIR_s %",
           "halluc/cand %", "wrong count %", "reply tokens", "kept/1k tok", "rejected tok %",
           "s/image")
FORMATS = {"requests": "{:.0f}", "candidates": "{:.0f}", "reply tokens": "{:.0f}",
           "kept/request": "{:.2f}", "kept/1k tok": "{:.2f}", "s/image": "{:.1f}"}


def _cell(column: str, value: float | None) -> str:
    return "—" if value is None else FORMATS.get(column, "{:.1f}").format(value)


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "—"
    if base == 0:
        return "=" if value == 0 else "new"
    return f"{value / base:.2f}×"


def rows_for(results: Mapping[str, Any], set_name: str, settings: Sequence[str]
             ) -> dict[str, dict[str, dict[str, float | None]]]:
    """type (and "all") → setting → figures, for the settings of ``set_name`` in ``results``."""
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for setting in settings:
        entry = results.get(set_name, {}).get(setting)
        if not entry or "yield" not in entry:
            continue
        per_type = entry["yield"]
        for kind in TYPES:
            table.setdefault(kind, {})[setting] = {**figures(per_type[kind]), "s/image": None}
        timed = entry.get("timed")
        table.setdefault("all", {})[setting] = {
            **figures(total([per_type[k] for k in TYPES])),
            "s/image": timed["wall"] / timed["images"] if timed else None}
    return table


def label(setting: str) -> str:
    """A setting as the tables show it: ``--llm_candidates 2`` → ``candidates 2``."""
    if setting == BASELINE:
        return "baseline (before)"
    return setting.replace("--llm_", "").replace("--", "") if setting else "defaults"


def _table(rows: Mapping[str, Mapping[str, float | None]], width: int) -> list[str]:
    """Figures per setting, then their ratios to the baseline's (the first row)."""
    def line(name: str, cells: Mapping[str, str]) -> str:
        return f"{name:{width}s} " + " ".join(f"{cells[c]:>{max(len(c), 6)}s}" for c in COLUMNS)

    lines = [line("setting", {c: c for c in COLUMNS})]
    for setting, figs in rows.items():
        lines.append(line(label(setting), {c: _cell(c, figs.get(c)) for c in COLUMNS}))
    base = rows.get(BASELINE)
    if base is not None and len(rows) > 1:
        lines.append("ratio to baseline")
        for setting, figs in rows.items():
            if setting != BASELINE:
                lines.append(line(label(setting),
                                  {c: _ratio(figs.get(c), base.get(c)) for c in COLUMNS}))
    return lines


def render(results: Mapping[str, Any], settings: Sequence[str]) -> str:
    """The report: per set, per type and in all, a table of the figures and of their ratios to
    the baseline; then each setting's rejection reasons and the timed runs' cross-check."""
    lines: list[str] = []
    width = max([len(label(s)) for s in settings] + [17])
    for set_name in SETS:
        if set_name not in results:
            continue
        table = rows_for(results, set_name, settings)
        if not table:
            continue
        images = next(iter(results[set_name].values()))["yield"]["images"]
        job = results.get("job", {})
        lines.append(f"\n=== {set_name}: {images} images, seed {job.get('seed', 0)}"
                     + (f", every run with {job['common']}" if job.get("common") else "")
                     + " ===")
        for kind in (*TYPES, "all"):
            lines.append(f"\n[{set_name} / {kind}]")
            lines += _table(table.get(kind, {}), width)
        lines.append(f"\n[{set_name}] candidate rejections by reason (share of candidates) | "
                     "requests that ended rejected, by their last candidate's reason")
        for setting in settings:
            entry = results[set_name].get(setting)
            if not entry or "yield" not in entry:
                continue
            for kind in (*TYPES, "all"):
                stages = (entry["yield"][kind] if kind != "all"
                          else total([entry["yield"][k] for k in TYPES]))
                candidates = stages.get("best_of_n", {}).get("candidates", 0) or 1
                got = ", ".join(f"{r} {n} ({100 * n / candidates:.1f}%)"
                                for r, n in _most_first(reasons(stages)))
                ended = ", ".join(f"{r} {n}"
                                  for r, n in _most_first(reasons(stages, "ended_rejected:")))
                lines.append(f"  {label(setting):{width}s} {kind:12s} {got or 'none'} | "
                             f"{ended or 'none'}")
        timed = [(s, results[set_name][s]) for s in settings
                 if results[set_name].get(s, {}).get("timed")]
        if timed:
            lines.append(f"\n[{set_name}] timed runs (no cached reply: each run's own new, "
                         "empty reply cache, as a first run with the defaults; all types in one "
                         "shard, annotation QA on, CLIP off; the model loaded from the weights "
                         "cache in each): wall, per image, load average before → after, "
                         "agreement with the yield runs' best-of-N counters")
            for setting, entry in timed:
                t = entry["timed"]
                lines.append(f"  {label(setting):{width}s} {t['wall']:7.1f} s "
                             f"{t['wall'] / t['images']:6.1f} s/image  load "
                             f"{t['load'][0]:.2f} → {t['load'][1]:.2f}  {agreement(entry)}")
    return "\n".join(lines)


def _most_first(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda rn: (-rn[1], rn[0]))


def agreement(entry: Mapping[str, Any]) -> str:
    """Whether the timed run's best-of-N counters are the yield runs' sums (they must be)."""
    timed = entry["timed"]["stages"].get("best_of_n", {})
    summed = total([entry["yield"][k] for k in TYPES]).get("best_of_n", {})
    keys = ("requests", "candidates", "passed", "kept", "retries", "tokens")
    differ = [f"{k} {timed.get(k, 0)} vs {summed.get(k, 0)}" for k in keys
              if timed.get(k, 0) != summed.get(k, 0)]
    return "agrees" if not differ else "DIFFERS: " + ", ".join(differ)


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", action="append", default=[],
                        help="generate flags of a setting to measure (repeatable); the baseline "
                             "(the job before issue 16) and today's defaults are always "
                             "measured first")
    parser.add_argument("--sets", default=",".join(SETS), help="shipped, yield, or both")
    parser.add_argument("--time", default="",
                        help="sets whose settings also get a timed run (no cached reply)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=0, help="the first N images of each set "
                        "(0: all: the shipped sample's 9, the yield set's 39)")
    parser.add_argument("--common", default="", help="generate flags for every run, e.g. "
                        "'--llm_max_new_tokens 24' for a quick try")
    parser.add_argument("--cache_path", default=str(OUT / "cache" / "responses.sqlite"),
                        help="the reply cache the yield runs share (across settings and calls)")
    parser.add_argument("--results", default=str(OUT / "results.json"),
                        help="JSON of every run's counters: runs it holds are not redone")
    parser.add_argument("--report_only", action="store_true",
                        help="print the tables from --results, run nothing")
    args = parser.parse_args()

    settings = list(dict.fromkeys([BASELINE, DEFAULTS,
                                   *[s.strip() for s in args.setting if s.strip()]]))
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    job = {"seed": args.seed, "images": args.images, "common": args.common}
    if not args.report_only and results.setdefault("job", job) != job:
        sys.exit(f"{path} holds the runs of {results['job']}, not {job}: pass another --results")
    if not args.report_only:
        for setting in settings:
            setting_flags(setting)  # a bad flag is an error before anything runs
        sets = [s for s in args.sets.split(",") if s]
        timed_sets = {s for s in args.time.split(",") if s}
        print(f"load average {os.getloadavg()} at start; reply cache {args.cache_path}")
        with tempfile.TemporaryDirectory(prefix="bench_yield_root_") as tmp:
            root = None
            if "yield" in sets:
                from tests.coco import yield_set

                root = yield_set.make_root(Path(tmp))
            # Timed first: its replies fill the shared cache, so the yield runs after it
            # generate nothing it did.
            for set_name in sets:
                for setting in settings:
                    entry = results.setdefault(set_name, {}).setdefault(setting, {})
                    if set_name in timed_sets and "timed" not in entry:
                        entry["timed"] = timed_run(set_name, root, setting, args)
                        path.write_text(json.dumps(results, indent=1))
                    if "yield" not in entry:
                        entry["yield"] = yield_runs(set_name, root, setting, args)
                        path.write_text(json.dumps(results, indent=1))
        print(f"load average {os.getloadavg()} at end")
    known = list(dict.fromkeys([*settings, *(s for name in SETS
                                             for s in results.get(name, {}))]))
    print(render(results, known))
    print("\nyield figures: one run per type (annotation QA off), replies from the shared cache "
          "where an earlier run generated them (deterministic); s/image: timed runs only, "
          "in which no reply came from a cache.")


if __name__ == "__main__":
    main()
