"""Shard files: atomic publication, per-shard stats, resume, and the output directory's guard.

Files in an output directory::

    run.json                   config, fingerprint, layout, versions (written before any shard)
    shard-000000.tar           webdataset tar: {id}.png|jpg + {id}.json (+ {id}.txt, its
                               caption) per kept sample
    shard-000000.rejects.json  a small capped sample of the shard's rejections (with thumbnails)
    shard-000000.stats.json    kept, rejections by reason, seconds, tar size and sha256
    stats.json                 the run's totals (rewritten at the end of each run)
    sizes.json                 samples per shard tar (rewritten at the end of each run)
    README.md                  the dataset card (rewritten at the end of each run)
    dedup.json                 what ``mmsynth dedup`` removed (readers skip those samples;
                               mmsynth.dedup.record)

A shard's tar is written to a temporary name, fsynced and renamed into place; its rejects file
and then its stats file are written the same way *after* the tar. So a shard is complete exactly
when its stats file exists and matches it (its own tar name, shard id, indices and the run's
fingerprint; a tar of the recorded size; with ``--verify`` also the recorded sha256), and resume
rebuilds every other shard (rewriting its rejects file). Leftover temporary files from a killed
run, and the dataset card's, are removed at start.

What a run wrote is known from its ``run.json`` (the layout gives the shard ids), so
``--overwrite`` deletes exactly those files, never a directory, never a user's file that merely
looks similar (``shard-notes.txt``).

The bottom of the module is the one safe reader every tool uses (``iter_shard``, ``iter_run``,
``parse_record``). One module (~590 lines) on purpose: writer, resume and reader share the file
layout above, and issue 13 puts the reader here, beside the writer whose output it must accept;
its caps are set once, on this module (``mmsynth.shards.MAX_IMAGE_BYTES``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import types
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mmsynth import schema
from mmsynth.config import shown
from mmsynth.errors import UsageError
from mmsynth.hashing import file_sha256
from mmsynth.sample import Sample

RUN_FILE = "run.json"
RUN_STATS_FILE = "stats.json"
# Samples per shard tar, {tar name: count} (img2dataset's and open_clip's convention: open_clip
# reads it to know a dataset's length).
SIZES_FILE = "sizes.json"
CARD_FILE = "README.md"
# What ``mmsynth dedup`` removed from the run (mmsynth.dedup.record, whose DEDUP_FILE is this
# name). Defined here, not imported, so this module never imports the dedup package: that
# imports this one.
DEDUP_FILE = "dedup.json"
# A YAML comment in the front matter of every dataset card we write: a README.md without it is
# the user's, never overwritten or deleted.
CARD_MARK = "# dataset card written by mmsynth; regenerated at the end of each run"
LOCK_FILE = ".mmsynth.lock"
_TMP_MARK = ".tmp-"
# The exact names this tool writes; a file that merely starts with ``shard-`` is not ours.
_SHARD_FILE = re.compile(r"shard-(\d{6})\.(?:tar|stats\.json|rejects\.json)")
_LEFTOVER = re.compile(rf"(?:{_SHARD_FILE.pattern}|run\.json|stats\.json|sizes\.json|README\.md"
                       rf"|dedup\.json){re.escape(_TMP_MARK)}[0-9A-Za-z]+")


def shard_name(shard_id: int) -> str:
    return f"shard-{shard_id:06d}.tar"


def stats_name(shard_id: int) -> str:
    return f"shard-{shard_id:06d}.stats.json"


def rejects_name(shard_id: int) -> str:
    return f"shard-{shard_id:06d}.rejects.json"


def run_shards(out: str | Path) -> list[Path]:
    """The shard tars of a run's output directory, in order (for the readers: preview, export);
    UsageError when ``out`` is not a directory or holds none."""
    out = Path(out)
    if not out.is_dir():
        raise UsageError(f"{out} is not a directory (give the --out of a mmsynth run)")
    tars = sorted(out.glob("shard-*.tar"))
    if not tars:
        raise UsageError(f"{out} holds no shard-*.tar files (give the --out of a mmsynth run)")
    return tars


def shard_indices(shard_id: int, shard_size: int, num_items: int) -> range:
    """The sample indices of shard ``shard_id``: [i·S, min((i+1)·S, N))."""
    return range(shard_id * shard_size, min((shard_id + 1) * shard_size, num_items))


def num_shards(num_items: int, shard_size: int) -> int:
    return -(-num_items // shard_size)


def _tar_writer_class():
    """webdataset's TarWriter, without running ``webdataset/__init__``.

    The package's ``__init__`` imports torch (about 1.7 s), which jobs that only write tars must
    not pay. ``webdataset.writer`` itself needs only numpy and the standard library, so when the
    package is not already imported we load the writer through a bare package object, then drop
    that object again so a later ``import webdataset`` runs the real ``__init__`` (which reuses the
    already-loaded submodules).
    """
    if "webdataset" in sys.modules:
        return sys.modules["webdataset"].TarWriter
    if "webdataset.writer" not in sys.modules:
        spec = importlib.util.find_spec("webdataset")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("webdataset is not installed: pip install webdataset")
        bare = types.ModuleType("webdataset")
        bare.__path__ = list(spec.submodule_search_locations)
        bare.__spec__ = spec
        sys.modules["webdataset"] = bare
        try:
            importlib.import_module("webdataset.writer")
        finally:
            del sys.modules["webdataset"]
    return sys.modules["webdataset.writer"].TarWriter


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _tmp_path(final: Path) -> Path:
    return final.with_name(f"{final.name}{_TMP_MARK}{uuid.uuid4().hex[:12]}")


def _named(error: OSError, path: Path) -> None:
    """``error`` naming the file it hit: a failed write() (ENOSPC) carries no file name, and the
    user must be told which file could not be written."""
    if error.filename is None or _TMP_MARK in Path(str(error.filename)).name:
        error.filename = str(path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            _named(e, path)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def write_shard(out: Path, shard_id: int, samples: Iterable[Sample]) -> dict[str, Any]:
    """Write the samples as ``shard-{id}.tar`` atomically; return its name, size and sha256.

    Members carry mtime 0 and fixed owner names, so equal samples give byte-identical tars.
    """
    final = out / shard_name(shard_id)
    tmp = _tmp_path(final)
    tar_writer = _tar_writer_class()
    writer = None
    try:
        with open(tmp, "wb") as f:
            writer = tar_writer(f, encoder=False, mtime=0.0)
            for sample in samples:
                writer.write(sample.to_wds())
            writer.close()
            f.flush()
            os.fsync(f.fileno())
        digest = file_sha256(tmp)
        size = tmp.stat().st_size
        os.replace(tmp, final)
    except BaseException as e:
        _abandon(writer)
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            _named(e, final)
        raise
    _fsync_dir(out)
    return {"tar": final.name, "tar_bytes": size, "sha256": digest}


def _abandon(writer: Any) -> None:
    """Mark a failed TarWriter's stream closed: tarfile's stream flushes its buffer when it is
    garbage-collected, into a file already closed (a stray "Exception ignored" traceback after
    a full disk), and the temporary file is being deleted anyway."""
    stream = getattr(getattr(writer, "tarstream", None), "fileobj", None)
    if stream is not None and hasattr(stream, "closed"):
        stream.closed = True


def check_stats(out: Path, shard_id: int, indices: range | None = None,
                fingerprint: str | None = None) -> dict[str, Any]:
    """The stats of shard ``shard_id`` when they describe its tar as written: the stats name
    this shard's own tar (never another file), its id, ``indices`` and ``fingerprint`` (when
    given), and the tar has the recorded size. Raises ShardProblem (reason, message) otherwise.
    The sha256 is :func:`check_sha256`'s, since it reads the whole tar."""
    path = out / stats_name(shard_id)
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShardProblem("no_stats", f"{path.name} is missing") from None
    except (OSError, ValueError) as e:
        raise ShardProblem("bad_stats", f"{path.name} cannot be read: {e}") from None
    if not isinstance(stats, dict):
        raise ShardProblem("bad_stats", f"{path.name} is not a JSON object")
    expected = shard_name(shard_id)
    if stats.get("tar") != expected:
        raise ShardProblem("stats_name_another_tar", f"{path.name} names the tar "
                           f"{str(stats.get('tar'))[:80]!r}, not {expected}")
    if stats.get("shard") != shard_id:
        raise ShardProblem("bad_stats", f"{path.name} is for shard {str(stats.get('shard'))[:20]}")
    if indices is not None and stats.get("indices") != [indices.start, indices.stop]:
        raise ShardProblem("wrong_indices", f"{path.name} covers indices "
                           f"{str(stats.get('indices'))[:60]}, not "
                           f"[{indices.start}, {indices.stop}]")
    if fingerprint is not None and stats.get("fingerprint") != fingerprint:
        raise ShardProblem("wrong_fingerprint", f"{path.name} is from a run with fingerprint "
                           f"{str(stats.get('fingerprint'))[:40]}, not {fingerprint}")
    tar = out / expected
    try:
        if not tar.is_file():
            raise ShardProblem("no_tar", f"{expected} is missing (its stats exist)")
        size = tar.stat().st_size
    except OSError as e:
        raise ShardProblem("no_tar", f"{expected} cannot be read: {e.strerror or e}") from None
    if size != stats.get("tar_bytes"):
        raise ShardProblem("size_mismatch", f"{expected} is {size} bytes, its stats say "
                           f"{str(stats.get('tar_bytes'))[:20]}")
    return stats


def check_sha256(out: Path, stats: dict[str, Any]) -> None:
    """ShardProblem when the tar named by (checked) ``stats`` does not hash to their sha256."""
    tar = out / stats["tar"]
    try:
        actual = file_sha256(tar)
    except OSError as e:
        raise ShardProblem("no_tar", f"{tar.name} cannot be read: {e.strerror or e}") from None
    if actual != stats.get("sha256"):
        raise ShardProblem("sha256_mismatch", f"{tar.name} has sha256 {actual[:16]}…, its stats "
                           f"say {str(stats.get('sha256'))[:16]}…")


def read_stats(out: Path, shard_id: int, indices: range | None = None,
               fingerprint: str | None = None) -> dict[str, Any] | None:
    """The stats of a complete shard (see :func:`check_stats`), or None when the shard must be
    (re)built."""
    try:
        return check_stats(out, shard_id, indices, fingerprint)
    except ShardProblem:
        return None


def remove_leftovers(out: Path) -> list[Path]:
    """Delete temporary files of interrupted writes; return what was removed."""
    removed = []
    for path in out.glob(f"*{_TMP_MARK}*"):
        if _LEFTOVER.fullmatch(path.name) and not path.is_dir():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def _recorded_shard_ids(out: Path) -> range | None:
    """The shard ids the run recorded in ``out/run.json`` wrote, or None without a usable one."""
    try:
        record = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
        layout = record["layout"]
        total = num_shards(int(layout["num_items"]), int(layout["shard_size"]))
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    return range(max(0, total))


def our_files(out: Path) -> list[Path]:
    """Files this tool wrote in an output directory (what ``--overwrite`` deletes): the shard
    files of the shard ids ``run.json`` records (every ``shard-NNNNNN.{tar,stats.json,
    rejects.json}`` when it is missing or unreadable), temporary leftovers, stats.json,
    sizes.json, dedup.json (it describes the shards being replaced: left behind, it would be
    stale), our dataset card, and run.json last (so an interrupted delete still knows the
    rest). Only names that match exactly; directories and other non-files are not listed."""
    ids = _recorded_shard_ids(out)
    found: list[Path] = []
    for entry in os.scandir(out):
        match = _SHARD_FILE.fullmatch(entry.name)
        ours = match is not None and (ids is None or int(match.group(1)) in ids)
        if ours or _LEFTOVER.fullmatch(entry.name):
            found.append(Path(entry.path))
    found.sort()
    for name in (RUN_STATS_FILE, SIZES_FILE, DEDUP_FILE):
        if (out / name).exists() or (out / name).is_symlink():
            found.append(out / name)
    if is_our_card(out / CARD_FILE):
        found.append(out / CARD_FILE)
    if (out / RUN_FILE).exists() or (out / RUN_FILE).is_symlink():
        found.append(out / RUN_FILE)
    return found


def delete_our_files(out: Path) -> list[Path]:
    """Delete :func:`our_files` (what ``--overwrite`` replaces); return what was deleted.

    Checked first, deleted after: a directory (or other non-file) under one of our names, or a
    directory that does not let us delete, is a UsageError before anything is deleted.
    """
    paths = our_files(out)
    for path in paths:
        if path.is_dir() or not (path.is_file() or path.is_symlink()):
            raise UsageError(f"--overwrite: {path} is not a file mmsynth wrote (a directory or "
                             "special file under one of its names); move it away first")
    if paths and not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--overwrite: no permission to delete files in {out}")
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return paths


def is_our_card(path: Path) -> bool:
    """Whether ``path`` is a dataset card this tool wrote (a user's README.md is left alone)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = [f.readline().rstrip("\n") for _ in range(2)]
        return head == ["---", CARD_MARK]
    except OSError:
        return False


@contextlib.contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold an advisory lock on the output directory: two runs must not write one directory."""
    import fcntl

    with open(out / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another mmsynth run is writing to {out}; wait for it or use "
                             "another --out") from None
        yield


def ensure_writable(out: Path) -> None:
    """Create ``out`` if needed and check that files can be written there."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe{_TMP_MARK}{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write to --out {out}: {e.strerror or e}") from None


def check_creatable(path: Path, what: str, must_exist: bool = False) -> None:
    """UsageError unless the file ``path`` can be created (or, with ``must_exist``, already is a
    file) — decided without writing anything, so options can be checked before --out is touched.
    A path under a regular file, a directory at ``path``, or a directory we may not write in is
    refused."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} {path} is a directory, not a file")
    if path.exists() or must_exist:
        if not path.is_file():
            raise UsageError(f"{what} {path} does not exist" if not path.exists()
                             else f"{what} {path} is not a regular file")
        if not os.access(path, os.R_OK if must_exist else os.R_OK | os.W_OK):
            raise UsageError(f"{what} {path}: permission denied")
        if must_exist:
            return
    parent = path.absolute().parent
    while not parent.exists():
        if parent.is_symlink():  # dangling
            raise UsageError(f"{what} {path}: {parent} is a broken symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{what} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: cannot create files in {parent} (permission denied or "
                         "a read-only filesystem)")


def _differences(old: dict[str, Any], new: dict[str, Any], key: str, most: int = 6) -> str:
    """The recorded options that differ between two run records, as "; differs: --name old →
    new": what a user passes to resume the old run (an option the old run did not record
    shows as absent). Empty when the records name none (code or renderer versions differ)."""
    before, after = (r.get("config" if key == "fingerprint" else "layout") for r in (old, new))
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ""
    missing = object()
    names = sorted(n for n in set(before) | set(after)
                   if before.get(n, missing) != after.get(n, missing)
                   and n not in ("out", "num_items"))  # num_items: what num_samples makes
    if not names:
        return ""
    shown_ = [f"--{n} {shown(before[n], 40) if n in before else '(absent)'} → "
              f"{shown(after[n], 40) if n in after else '(absent)'}" for n in names[:most]]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return "; differs: " + ", ".join(shown_) + more


def prepare_output(out: Path, run_record: dict[str, Any], overwrite: bool) -> None:
    """Compare ``out`` with an earlier run there, clean leftovers, record this run.

    A directory that holds a run with another fingerprint or layout is refused unless
    ``overwrite``, which deletes this tool's files (only those) first. Call it while holding
    :func:`exclusive`.
    """
    previous = out / RUN_FILE
    if overwrite:
        delete_our_files(out)
    elif previous.exists():
        try:
            old = json.loads(previous.read_text())
        except ValueError:
            raise UsageError(
                f"{previous} is not valid JSON; pass --overwrite to start over"
            ) from None
        for key, what in (("fingerprint", "config"), ("layout", "shard layout")):
            if old.get(key) != run_record[key]:
                raise UsageError(
                    f"{out} holds a run with a different {what} ({key} {old.get(key)} ≠ "
                    f"{run_record[key]}{_differences(old, run_record, key)}); use another "
                    f"--out, or --overwrite to replace it"
                )
    elif any(_SHARD_FILE.fullmatch(p.name) for p in out.glob("shard-*.tar")):
        raise UsageError(f"{out} holds shards but no {RUN_FILE}; pass --overwrite to replace them")
    remove_leftovers(out)
    if not previous.exists():
        atomic_write_json(previous, run_record)


# -- reading shards (readers never trust a shard) -------------------------------------------------
#
# Shards are what people download from each other, so every reader (loader, preview, export,
# verify) goes through the functions below: only the member kinds mmsynth writes are read, as
# bytes, never unpickled or torch.load-ed; only regular files with plain names; each member's
# size is capped before it is read; a malformed sample is skipped and counted (or an error, by
# choice), never a traceback.

# What mmsynth writes into a shard: the image, the record, and the caption (open_clip's txt).
MEMBER_KINDS = frozenset({"png", "jpg", "json", "txt"})
# Caps before reading a member into memory: a render is ~30 KB, a COCO photo ~200 KB, a record a
# few KB; anything far larger is not ours.
MAX_IMAGE_BYTES = 32 << 20
MAX_TEXT_BYTES = 8 << 20
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class ShardProblem(ValueError):
    """A shard member or sample that a reader cannot use; ``reason`` is a short counted key."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def member_limit(kind: str) -> int:
    return MAX_IMAGE_BYTES if kind in ("png", "jpg") else MAX_TEXT_BYTES


def valid_key(key: str) -> bool:
    """A sample key as mmsynth writes it: letters, digits, ``_`` and ``-`` only (so it is safe as
    a file name component and in HTML attributes), at most 200 characters."""
    return 0 < len(key) <= 200 and set(key) <= _KEY_CHARS


def _member_problem(member: Any) -> tuple[str, str] | None:
    """Why a tar member is not one we read, or None."""
    if not member.isreg():
        return "not_a_file", f"{member.name!r} is not a regular file"
    key, dot, kind = member.name.partition(".")
    if not dot or not valid_key(key):
        return "bad_name", f"member name {member.name!r} is not KEY.EXT"
    if kind not in MEMBER_KINDS:
        return f"unknown_member:{kind[:20]}", f"{member.name!r} is not a kind mmsynth writes"
    if member.size > member_limit(kind):
        return "too_large", f"{member.name!r} is {member.size} bytes (limit {member_limit(kind)})"
    return None


def parse_record(members: dict[str, bytes], key: str) -> tuple[dict[str, Any], bytes, str]:
    """(record, image bytes, image extension) of one sample's members; ShardProblem if it lacks
    its json or image member, or its json is not a JSON object with a matching ``id`` and a
    ``conversations`` list."""
    ext = next((e for e in ("png", "jpg") if e in members), None)
    if "json" not in members or ext is None:
        raise ShardProblem("incomplete_sample", f"sample {key!r} lacks its json or image member "
                           f"(has {', '.join(sorted(members)) or 'nothing'})")
    try:
        record = json.loads(members["json"].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # deep nesting: RecursionError
        raise ShardProblem("bad_json", f"{key}.json is not valid JSON: {e}") from None
    if not isinstance(record, dict):
        raise ShardProblem("bad_json", f"{key}.json is a {type(record).__name__}, not an object")
    if record.get("id") != key:
        raise ShardProblem("bad_json", f"{key}.json has id {record.get('id')!r}, not {key!r}")
    turns = record.get("conversations")
    if not isinstance(turns, list) or not all(
            isinstance(t, dict) and isinstance(t.get("value"), str) for t in turns):
        raise ShardProblem("bad_json", f"{key}.json has no list of conversation turns")
    if not isinstance(record.get("meta", {}), dict):
        raise ShardProblem("bad_json", f"{key}.json has a meta that is not an object")
    try:
        record = schema.decode(record)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise ShardProblem("bad_json", f"{key}.json does not follow mmsynth's sample schema "
                           f"(version {schema.SCHEMA_VERSION}): {type(e).__name__}: {e}") from None
    return record, members[ext], ext


def _iter_tar(tar: Any, name: str, problem: Callable[[str, str], None]
              ) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    """The member loop shared by :func:`iter_shard` and :func:`iter_tar_stream`: members are
    checked before they are read, grouped by key, and each group parsed by parse_record."""

    def finish(key: str, members: dict[str, bytes]):
        try:
            return parse_record(members, key)
        except ShardProblem as e:
            problem(e.reason, f"{name}: {e}")
            return None

    key, members = None, {}
    for member in tar:
        # A streamed tar keeps every header it has read; ours are read once.
        tar.members = []
        bad = _member_problem(member)
        if bad:
            problem(bad[0], f"{name}: {bad[1]}")
            continue
        k, _, kind = member.name.partition(".")
        if key is not None and k != key:
            if (done := finish(key, members)) is not None:
                yield done
            members = {}
        key = k
        if kind in members:
            problem("duplicate_member", f"{name}: {member.name!r} appears twice")
            continue
        f = tar.extractfile(member)
        members[kind] = f.read(member_limit(kind) + 1) if f else b""
    if key is not None and (done := finish(key, members)) is not None:
        yield done


def _counter(problems: dict[str, int] | None, strict: bool,
             fatal: Callable[[str], bool] = lambda reason: False) -> Callable[[str, str], None]:
    def problem(reason: str, message: str) -> None:
        if strict or fatal(reason):
            raise ShardProblem(reason, message)
        if problems is not None:
            problems[reason] = problems.get(reason, 0) + 1

    return problem


def iter_shard(tar_path: str | Path, problems: dict[str, int] | None = None,
               strict: bool = False) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    """(record, image bytes, image extension) for each usable sample of one shard tar, in order.

    Members that are not ours (another kind, a directory or link, an odd name, over the size
    cap) and samples that cannot be used are skipped and counted in ``problems`` by reason, or,
    with ``strict``, raise ShardProblem. A tar that cannot be read raises UsageError.
    """
    import tarfile

    problem = _counter(problems, strict)
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            yield from _iter_tar(tar, str(tar_path), problem)
            _check_end(tar, str(tar_path), problem)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UsageError(f"cannot read {tar_path}: {e}") from None


def _check_end(tar: Any, name: str, problem: Callable[[str, str], None]) -> None:
    """tarfile ends an archive quietly at a damaged member header after the first: what
    follows must be the end-of-archive zeros, or the rest of the shard is counted as lost."""
    f = tar.fileobj
    f.seek(tar.offset)
    while chunk := f.read(1 << 16):
        if chunk.count(0) != len(chunk):
            problem("truncated_tar", f"{name}: unreadable from byte {tar.offset} on (a damaged "
                    "member header); the samples after it are not read")
            return


def iter_tar_stream(fileobj: BinaryIO, name: str, problems: dict[str, int] | None = None,
                    strict: bool = False, unknown_members: str = "ignore"
                    ) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    """:func:`iter_shard` over an open, possibly unseekable stream (a plain or compressed tar),
    for the training loader; ``name`` (its URL) goes into messages. ``unknown_members="error"``
    raises ShardProblem on a member of a kind mmsynth does not write, instead of counting it."""
    import tarfile

    if unknown_members not in ("ignore", "error"):
        raise UsageError(f"unknown_members must be 'ignore' or 'error', not {unknown_members!r}")
    problem = _counter(problems, strict, lambda reason: unknown_members == "error"
                       and reason.startswith("unknown_member"))
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            yield from _iter_tar(tar, name, problem)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UsageError(f"cannot read {name}: {e}") from None


def iter_run_json(out: str | Path) -> Iterator[dict[str, Any]]:
    """The JSON record of each sample of a run, in order, without reading the images (a
    summary over the run's text: ``mmsynth.diversity``). Members are checked as
    :func:`iter_shard` checks them; one that is not ours or does not parse is skipped."""
    import tarfile

    for tar_path in run_shards(out):
        try:
            with tarfile.open(tar_path, mode="r:") as tar:
                for member in tar:
                    if _member_problem(member) or not member.name.endswith(".json"):
                        continue
                    f = tar.extractfile(member)
                    try:
                        record = schema.decode(
                            json.loads(f.read(member_limit("json") + 1) if f else b""))
                    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                        continue
                    yield record

                def broken(reason: str, message: str) -> None:
                    raise UsageError(f"cannot read {message}")
                _check_end(tar, str(tar_path), broken)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise UsageError(f"cannot read {tar_path}: {e}") from None


def iter_run(out: str | Path, problems: dict[str, int] | None = None,
             strict: bool = False) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    """:func:`iter_shard` over every shard of a run's output directory, in order."""
    for tar_path in run_shards(out):
        yield from iter_shard(tar_path, problems, strict)
