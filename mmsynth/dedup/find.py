"""The dedup pass over a finished run: fingerprint every sample (streaming the shards, in
parallel), find exact and near duplicates and benchmark matches, decide which samples go, and
write ``dedup.json``.

Pictures are compared as pictures: the samples of one photo (its conversation, description,
region questions…, all under one ``meta.file_name``) are never each other's image duplicates;
the same photo under two file names is. Which sample of a group stays is decided in sample
order: a sample is removed when it duplicates one that is *kept* and comes before it (the
lowest sample index stays; a chain a ≈ b ≈ c where c is unlike a keeps a and c). Reasons are
tried in this order, and a removed sample is nobody's original: ``contaminated_image``,
``contaminated_text`` (matches of the ``--against`` sets), ``exact_image``, ``near_image``,
``exact_text``, ``near_text``.

Memory: what the pass keeps per sample is its key, shard, position, image sha256, 256-bit
pHash and 24 × 24 grey frame (some 700 bytes; for written text also a text key and a 128-word
MinHash); pictures are read again only for the candidate pairs, from their offsets in the tars.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmsynth.dedup import text as textprints
from mmsynth.dedup.images import (
    COARSE,
    HASH_WORDS,
    SHIFT_MARGIN,
    Framed,
    coarse_difference,
    fingerprint,
    frame,
    open_image,
)
from mmsynth.dedup.near import close_across, close_pairs
from mmsynth.dedup.record import DEDUP_FILE, REASONS, refresh_card, write_record
from mmsynth.errors import UsageError
from mmsynth.shards import RUN_FILE, exclusive, iter_shard, run_shards

# Defaults, chosen on 10,000 geometry and 10,000 chart renders with 200 copies of each of four
# transforms (JPEG q75, resized ±10%, cropped 2%, brightness ±5%): figures in the README.
IMAGE_HASH_BITS = 36  # candidate pairs: pHash bits apart, of 256
IMAGE_DIFFERENCE = 0.12  # same picture: images.difference at most this
# Coarse test before the full comparison: the coarse difference is at most the full one at no
# shift, and a pair whose unshifted difference passes the limit by more than the shift margin is
# not searched (images.difference): the same margin is safe here.
COARSE_MARGIN = SHIFT_MARGIN
TEXT_JACCARD = 0.7  # near text: estimated Jaccard of word 3-grams at least this


@dataclass
class Settings:
    image_hash_bits: int = IMAGE_HASH_BITS
    image_difference: float = IMAGE_DIFFERENCE
    text_jaccard: float = TEXT_JACCARD
    checks: tuple[str, ...] = REASONS

    def to_json(self) -> dict[str, Any]:
        return {"image_hash_bits": self.image_hash_bits,
                "image_difference": self.image_difference, "text_jaccard": self.text_jaccard,
                "checks": list(self.checks), "phash": "imagehash.phash 16x16 of the frame",
                "minhash": f"datasketch {textprints.NUM_PERM} perms, word "
                           f"{textprints.SHINGLE}-grams", "ngram": textprints.NGRAM,
                "one_word_apart_from_words": textprints.MIN_WORDS}


@dataclass
class ShardPrints:
    """What one shard gives the pass (built in a worker, sent back whole)."""

    shard: str
    keys: list[str] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    image_sha: list[bytes] = field(default_factory=list)
    phash: list[np.ndarray] = field(default_factory=list)
    coarse: list[np.ndarray] = field(default_factory=list)
    whole: list[bool] = field(default_factory=list)
    picture: list[str] = field(default_factory=list)  # which picture: see picture_of
    written: list[bool] = field(default_factory=list)
    text_key: list[str] = field(default_factory=list)
    minhash: list[Any] = field(default_factory=list)  # datasketch LeanMinHash, or None
    questions_matched: list[str | None] = field(default_factory=list)  # benchmark ref
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)  # key → image (at, size)
    problems: dict[str, int] = field(default_factory=dict)
    unreadable_images: int = 0


_benchmark_questions: textprints.QuestionIndex | None = None


def _set_questions(index: textprints.QuestionIndex | None) -> None:
    global _benchmark_questions
    _benchmark_questions = index


def scan_shard(tar_path: str) -> ShardPrints:
    """Fingerprint every usable sample of one shard (unusable ones counted in ``problems``)."""
    out = ShardPrints(shard=os.path.basename(tar_path))
    image_names: dict[str, str] = {}
    for record, data, ext in iter_shard(tar_path, out.problems):
        try:
            prints = fingerprint(data)
        except ValueError:
            out.problems["bad_image"] = out.problems.get("bad_image", 0) + 1
            continue
        key = record["id"]
        meta = record.get("meta") or {}
        out.keys.append(key)
        out.index.append(int(meta["index"]) if isinstance(meta.get("index"), int) else -1)
        out.image_sha.append(bytes.fromhex(prints.sha256))
        out.phash.append(prints.phash)
        out.coarse.append(prints.coarse)
        out.whole.append(prints.whole)
        out.picture.append(picture_of(record.get("meta"), key))
        written = textprints.is_written(record)
        out.written.append(written)
        tokens = textprints.conversation_words(record) if written else []
        out.text_key.append(textprints.exact_key(tokens) if written else "")
        out.minhash.append(textprints.minhash(tokens) if written and tokens else None)
        match = None
        if _benchmark_questions is not None:
            for question in textprints.questions(record):
                if (match := _benchmark_questions.match(question)) is not None:
                    break
        out.questions_matched.append(match)
        image_names[f"{key}.{ext}"] = key
    with tarfile.open(tar_path, mode="r:") as tar:
        for member in tar:
            if member.name in image_names:
                out.offsets[image_names[member.name]] = (member.offset_data, member.size)
    return out


def picture_of(meta: Any, key: str) -> str:
    """Which picture a sample (its ``meta`` and key) shows. A photo gives several samples (a
    conversation, a description, region questions…), all under its ``meta.file_name``: those
    are one picture's samples, never each other's duplicates. A render's picture is its own."""
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("file_name")
    if isinstance(name, str) and name:
        return f"{meta.get('source', '')}:{name}"
    return f"sample:{key}"


def read_at(path: str, at: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(at)
        return f.read(size)


@dataclass
class Found:
    """The pass's decisions: removed position → (reason, original, score)."""

    removed: dict[int, tuple[str, str, float | None]] = field(default_factory=dict)
    compared: int = 0  # candidate picture pairs compared pixel by pixel


class _Frames:
    """Framed pictures read back from the tars (or benchmark files), a few kept."""

    def __init__(self, load: Callable[[Any], bytes], keep: int = 512):  # 512 x 442 KB
        self.load, self.keep, self.cache = load, keep, {}

    def __call__(self, ref: Any) -> Framed | None:
        if ref not in self.cache:
            if len(self.cache) >= self.keep:
                self.cache.pop(next(iter(self.cache)))
            try:
                self.cache[ref] = frame(open_image(self.load(ref)))
            except (ValueError, OSError):
                self.cache[ref] = None
        return self.cache[ref]


def _progress(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def dedup_run(run: str | os.PathLike, against: Sequence[str] = (), *, workers: int = 1,
              settings: Settings | None = None, quiet: bool = False, executor: str = "local",
              ray_address: str | None = None) -> dict[str, Any]:
    """Find the run's duplicates and benchmark matches and write its ``dedup.json``; return the
    record written (counts by reason, every removed sample with what it duplicates).

    The shards are read and hashed on ``workers`` local processes, or as Ray tasks with
    ``executor="ray"`` (a new local instance of ``workers`` CPUs, or the cluster at
    ``ray_address``); the decisions after that are the same, in this process."""

    settings = settings or Settings()
    unknown = sorted(set(settings.checks) - set(REASONS))
    if unknown:
        raise UsageError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(REASONS)}")
    folder = Path(run)
    if not (folder / RUN_FILE).is_file():
        raise UsageError(f"{folder} is not a run's output directory (no {RUN_FILE})")
    tars = [str(p) for p in run_shards(folder)]
    if not tars:
        raise UsageError(f"{folder} has no shard-*.tar to deduplicate")
    with exclusive(folder):  # not while a generator writes the run (its lock)
        return _dedup_locked(folder, tars, against, workers, settings, quiet, executor,
                             ray_address)


def _dedup_locked(folder: Path, tars: list[str], against: Sequence[str], workers: int,
                  settings: Settings, quiet: bool, executor: str, ray_address: str | None
                  ) -> dict[str, Any]:
    from mmsynth.dedup.against import Benchmarks
    from mmsynth.dedup.images import difference

    started = time.perf_counter()
    bench = Benchmarks.load(against, quiet=quiet) if against else Benchmarks()
    questions = bench.questions if "contaminated_text" in settings.checks else None
    if executor == "ray":
        prints = _scan_ray(tars, questions, workers, ray_address, quiet)
    else:
        prints = _scan(tars, questions, workers, quiet)
    scanned = time.perf_counter() - started

    keys = [k for p in prints for k in p.keys]
    shard_of = [p.shard for p in prints for _ in p.keys]
    index = np.array([i for p in prints for i in p.index], dtype=np.int64)
    n = len(keys)
    # Sample order: the run's own index when every record has one, else the reading order.
    order_value = index if n and (index >= 0).all() else np.arange(n)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(order_value, kind="stable")] = np.arange(n)
    offsets = {k: (str(folder / p.shard), *p.offsets[k]) for p in prints for k in p.keys}
    frames = _Frames(lambda key: read_at(*offsets[key]))
    phash = np.stack([h for p in prints for h in p.phash]) if n else \
        np.zeros((0, HASH_WORDS), dtype=np.uint64)
    coarse = np.stack([c for p in prints for c in p.coarse]) if n else \
        np.zeros((0, COARSE, COARSE), dtype=np.uint8)
    whole = np.array([w for p in prints for w in p.whole], dtype=bool)
    found = Found()

    def remove(pos: int, reason: str, original: str, score: float | None = None) -> None:
        if pos not in found.removed:
            found.removed[pos] = (reason, original, score)

    def same_picture(fa: Framed | None, fb: Framed | None) -> float | None:
        if fa is None or fb is None:
            return None
        found.compared += 1
        d = difference(fa, fb, settings.image_difference)
        return d if d <= settings.image_difference else None

    # 1. Contamination: pictures like a benchmark's, questions like a benchmark's.
    if "contaminated_image" in settings.checks and len(bench.hashes):
        bench_frames = _Frames(bench.read)
        pairs = close_across(phash, bench.hashes, settings.image_hash_bits)
        pairs = _coarse_close(pairs, coarse, bench.coarse, settings.image_difference,
                              whole, bench.whole)
        for pos, b in sorted(pairs.tolist(), key=lambda p: (rank[p[0]], p[1])):
            if pos in found.removed:
                continue
            score = same_picture(frames(keys[pos]), bench_frames(b))
            if score is not None:
                remove(pos, "contaminated_image", bench.refs[b], round(score, 4))
    if "contaminated_text" in settings.checks:
        matched = [m for p in prints for m in p.questions_matched]
        for pos in np.argsort(rank):
            if matched[pos] is not None:
                remove(int(pos), "contaminated_text", matched[pos])

    # 2. The same image bytes (under another picture: one photo's own samples share them).
    picture = [q for p in prints for q in p.picture]
    if "exact_image" in settings.checks:
        image_sha = [s for p in prints for s in p.image_sha]
        first: dict[bytes, int] = {}
        for pos in map(int, np.argsort(rank)):
            sha = image_sha[pos]
            if pos in found.removed:
                continue
            if sha not in first:
                first[sha] = pos
            elif picture[first[sha]] != picture[pos]:
                remove(pos, "exact_image", keys[first[sha]], 0.0)

    # 3. Near pictures: candidates by pHash, confirmed pixel by pixel against kept ones.
    if "near_image" in settings.checks:
        pairs = close_pairs(phash, settings.image_hash_bits)
        candidates = len(pairs)
        pairs = _coarse_close(pairs, coarse, coarse, settings.image_difference, whole, whole)
        _progress(f"  dedup: {candidates:,} candidate picture pairs by pHash, {len(pairs):,} "
                  "after the coarse test", quiet)
        by_later: dict[int, list[int]] = {}
        for a, b in pairs.tolist():
            early, late = (a, b) if rank[a] < rank[b] else (b, a)
            by_later.setdefault(late, []).append(early)
        for late in sorted(by_later, key=lambda p: rank[p]):
            if late in found.removed:
                continue
            for early in sorted(by_later[late], key=lambda p: rank[p]):
                if early in found.removed or picture[early] == picture[late]:
                    continue
                score = same_picture(frames(keys[early]), frames(keys[late]))
                if score is not None:
                    remove(late, "near_image", keys[early], round(score, 4))
                    break

    # 4. Written text: the same words, then nearly the same.
    written = [w for p in prints for w in p.written]
    text_key = [t for p in prints for t in p.text_key]
    if "exact_text" in settings.checks:
        first_text: dict[str, int] = {}
        for pos in map(int, np.argsort(rank)):
            if not written[pos] or pos in found.removed:
                continue
            if text_key[pos] in first_text:
                remove(pos, "exact_text", keys[first_text[text_key[pos]]], 1.0)
            else:
                first_text[text_key[pos]] = pos
    if "near_text" in settings.checks:
        _near_text(prints, rank, keys, found, settings.text_jaccard)

    removed = [{"key": keys[pos], "shard": shard_of[pos], "index": int(index[pos]),
                "reason": reason, "duplicate_of": original, "score": score}
               for pos, (reason, original, score) in
               sorted(found.removed.items(), key=lambda item: rank[item[0]])]
    counts = {reason: 0 for reason in REASONS}
    for item in removed:
        counts[item["reason"]] += 1
    problems: dict[str, int] = {}
    for p in prints:
        for reason, k in p.problems.items():
            problems[reason] = problems.get(reason, 0) + k
    from mmsynth import __version__
    from mmsynth.dedup.record import recorded_sha256

    shards = {}
    for tar in tars:
        name = os.path.basename(tar)
        sha = recorded_sha256(folder, name)
        shards[name] = sha if sha is not None else _file_sha256(tar)
    result = {
        "mmsynth_version": __version__,
        "samples": n,
        "kept": n - len(removed),
        "removed_total": len(removed),
        "counts": counts,
        "unreadable": problems,
        "settings": settings.to_json(),
        "against": bench.describe(),
        "compared_pairs": found.compared,
        "seconds": {"scan": round(scanned, 2), "total": round(time.perf_counter() - started, 2)},
        "shards": shards,
        "removed": removed,
    }
    write_record(folder, result)
    refresh_card(folder)
    return result


def _coarse_close(pairs: np.ndarray, left: np.ndarray, right: np.ndarray, limit: float,
                  left_whole: np.ndarray, right_whole: np.ndarray) -> np.ndarray:
    """The pairs whose coarse frames pass the coarse test (see COARSE_MARGIN); pairs with a
    picture framed whole always do (their comparison also tries crops, which the coarse test
    does not bound)."""
    keep = np.zeros(len(pairs), dtype=bool)
    for start in range(0, len(pairs), 65536):
        chunk = pairs[start:start + 65536]
        keep[start:start + len(chunk)] = (coarse_difference(
            left[chunk[:, 0]], right[chunk[:, 1]]) <= limit + COARSE_MARGIN) | \
            left_whole[chunk[:, 0]] | right_whole[chunk[:, 1]]
    return pairs[keep]


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _near_text(prints: list[ShardPrints], rank: np.ndarray, keys: list[str], found: Found,
               threshold: float) -> None:
    """MinHash LSH over the written texts, in sample order: a text near one kept before it
    (estimated Jaccard ≥ threshold, confirmed on the MinHashes) is removed."""
    from datasketch import MinHashLSH

    hashes = [m for p in prints for m in p.minhash]
    lsh = MinHashLSH(threshold=threshold, num_perm=textprints.NUM_PERM)
    kept: dict[str, np.ndarray] = {}
    for pos in map(int, np.argsort(rank)):
        m = hashes[pos]
        if m is None or pos in found.removed:
            continue
        values = m.hashvalues
        best = None
        for name in lsh.query(m):
            other = kept[name]
            score = float(np.mean(other == values))
            if score >= threshold and (best is None or rank[int(name)] < rank[best[0]]):
                best = (int(name), score)
        if best is not None:
            found.removed[pos] = ("near_text", keys[best[0]], round(best[1], 4))
        else:
            lsh.insert(str(pos), m)
            kept[str(pos)] = values


def _scan(tars: list[str], questions: textprints.QuestionIndex | None, workers: int,
          quiet: bool) -> list[ShardPrints]:
    """scan_shard over every shard, in order, on ``workers`` processes."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    done: list[ShardPrints] = []
    started = time.perf_counter()

    def report(p: ShardPrints) -> None:
        done.append(p)
        samples = sum(len(d.keys) for d in done)
        rate = samples / max(time.perf_counter() - started, 1e-9)
        _progress(f"  dedup: read {len(done)}/{len(tars)} shards, {samples:,} samples "
                  f"({rate:,.0f}/s)", quiet)

    if workers <= 1 or len(tars) == 1:
        _set_questions(questions)
        try:
            for tar in tars:
                report(scan_shard(tar))
        finally:
            _set_questions(None)
        return done
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(min(workers, len(tars)), mp_context=ctx,
                             initializer=_set_questions, initargs=(questions,)) as pool:
        for result in pool.map(scan_shard, tars):
            report(result)
    return done


def _scan_with(tar_path: str, questions: textprints.QuestionIndex | None) -> ShardPrints:
    _set_questions(questions)
    try:
        return scan_shard(tar_path)
    finally:
        _set_questions(None)


def _scan_ray(tars: list[str], questions: textprints.QuestionIndex | None, workers: int,
              address: str | None, quiet: bool) -> list[ShardPrints]:
    """scan_shard over every shard as Ray tasks (the shard paths must be readable where the
    tasks run: a shared file system on a cluster)."""
    try:
        import ray

        from mmsynth.ray_executor import connect
    except ImportError as e:
        if (e.name or "").split(".")[0] != "ray":
            raise
        raise UsageError("--executor ray needs Ray: pip install 'mmsynth[ray]' (or 'ray>=2.9')"
                         ) from None
    started_here, _ = connect(address, workers)
    try:
        task = ray.remote(_scan_with)
        shared = ray.put(questions)
        pending = [task.remote(tar, shared) for tar in tars]
        done: list[ShardPrints] = []
        for n, ref in enumerate(pending, 1):
            done.append(ray.get(ref))
            _progress(f"  dedup: read {n}/{len(tars)} shards (ray)", quiet)
        return done
    finally:
        if started_here:
            ray.shutdown()


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The pass's outcome as the lines the command prints."""
    counts = {k: v for k, v in result["counts"].items() if v}
    lines = [f"dedup: {result['samples']:,} samples read, {result['removed_total']:,} removed, "
             f"{result['kept']:,} kept ({DEDUP_FILE} written; readers skip the removed "
             "samples, --keep_duplicates keeps them)"]
    for reason, k in counts.items():
        lines.append(f"  {reason}: {k:,}")
    if result["unreadable"]:
        lines.append("  unreadable (not judged): " + ", ".join(
            f"{k} {v}" for k, v in sorted(result["unreadable"].items())))
    seconds = result["seconds"]["total"]
    lines.append(f"  {result['samples'] / max(seconds, 1e-9):,.0f} samples/s "
                 f"({seconds:.1f} s; {result['compared_pairs']:,} picture pairs compared)")
    return lines

