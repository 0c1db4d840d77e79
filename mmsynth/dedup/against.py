"""The ``--against`` sets: a user's evaluation benchmarks, whose pictures and questions must not
be in the training data.

Each ``--against`` path is one of:

* a folder: every image file under it (``.jpg .jpeg .png .webp .bmp .gif .tif .tiff``) and every
  question file (``.json .jsonl .parquet``), recursively; a mmsynth run's folder (it has a
  ``run.json``) gives its shards' pictures and questions instead;
* a question file: JSON (a list of rows, or an object holding one under ``data``, ``rows``,
  ``questions`` or ``annotations``), JSON lines, or parquet (needs pyarrow, which ``datasets``
  brings);
* an image file, or a shard ``.tar``.

A row's question is its ``question``, ``query``, ``prompt``, ``instruction`` or ``problem``
field (a string), or the user/human turns of its ``conversations`` or ``messages``. A file or
row that gives none is counted, not fatal; a path that does not exist is a UsageError.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmsynth.dedup.images import COARSE, HASH_WORDS, fingerprint
from mmsynth.dedup.text import QuestionIndex
from mmsynth.errors import UsageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
QUESTION_SUFFIXES = {".json", ".jsonl", ".parquet"}
QUESTION_FIELDS = ("question", "query", "prompt", "instruction", "problem")
_ROW_LISTS = ("data", "rows", "questions", "annotations")
_HUMAN = {"human", "user"}


def row_questions(row: Any) -> list[str]:
    """The questions a benchmark row asks (module docstring)."""
    if isinstance(row, str):
        return [row]
    if not isinstance(row, dict):
        return []
    for name in QUESTION_FIELDS:
        if isinstance(row.get(name), str) and row[name].strip():
            return [row[name]]
    found = []
    for name in ("conversations", "messages"):
        turns = row.get(name)
        if isinstance(turns, list):
            for turn in turns:
                if not isinstance(turn, dict):
                    continue
                role = turn.get("from", turn.get("role"))
                value = turn.get("value", turn.get("content"))
                if role in _HUMAN and isinstance(value, str):
                    found.append(value)
                elif role in _HUMAN and isinstance(value, list):  # chat content parts
                    found += [p["text"] for p in value
                              if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return found


def _rows(path: Path) -> Iterator[Any]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise UsageError(f"reading {path} needs pyarrow (pip install pyarrow, or "
                             "'mmsynth[hf]')") from None
        yield from pq.read_table(path).to_pylist()
        return
    text = path.read_text(encoding="utf-8")
    if suffix == ".jsonl":
        for line in text.splitlines():
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    yield None  # counted as a row without a question
        return
    data = json.loads(text)
    if isinstance(data, dict):
        lists = [data[k] for k in _ROW_LISTS if isinstance(data.get(k), list)]
        data = lists[0] if lists else [data]
    if isinstance(data, list):
        yield from data


@dataclass
class Benchmarks:
    """The pictures (their pHashes and where to read them again) and the questions of the
    ``--against`` sets."""

    refs: list[str] = field(default_factory=list)  # each picture, as it is reported
    hashes: np.ndarray = field(default_factory=lambda: np.zeros((0, HASH_WORDS), np.uint64))
    coarse: np.ndarray = field(default_factory=lambda: np.zeros((0, COARSE, COARSE), np.uint8))
    whole: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    questions: QuestionIndex = field(default_factory=QuestionIndex)
    paths: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    _readers: list[tuple[str, int, int] | str] = field(default_factory=list)

    def read(self, i: int) -> bytes:
        """The bytes of picture ``i`` (read again to compare it pixel by pixel)."""
        where = self._readers[i]
        if isinstance(where, str):
            return Path(where).read_bytes()
        path, at, size = where
        with open(path, "rb") as f:
            f.seek(at)
            return f.read(size)

    def describe(self) -> dict[str, Any]:
        return {"paths": self.paths, "images": len(self.refs),
                "questions": self.questions.size, "skipped": self.skipped}

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _add_image(self, data: bytes, ref: str, where: tuple[str, int, int] | str,
                   hashes: list[Any]) -> None:
        try:
            prints = fingerprint(data)
        except ValueError:
            self._skip("unreadable_image")
            return
        hashes.append(prints)
        self.refs.append(ref)
        self._readers.append(where)

    def _add_questions(self, path: Path) -> None:
        try:
            rows = list(_rows(path))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            print(f"  dedup: skipped {path} ({type(e).__name__}: {e})", file=sys.stderr)
            self._skip("unreadable_question_file")
            return
        for n, row in enumerate(rows, 1):
            asked = row_questions(row)
            if not asked:
                self._skip("row_without_question")
            for question in asked:
                self.questions.add(question, f"{path}:{n}")

    def _add_shards(self, tars: Sequence[Path], hashes: list[Any]) -> None:
        import tarfile

        from mmsynth.dedup.text import questions
        from mmsynth.shards import iter_shard

        for tar in tars:
            names: dict[str, str] = {}
            for record, _image, ext in iter_shard(tar, self.skipped):
                ref = f"{tar}:{record['id']}"
                names[f"{record['id']}.{ext}"] = ref
                for question in questions(record):
                    self.questions.add(question, ref)
            with tarfile.open(tar, mode="r:") as t:
                for member in t:
                    if member.name in names:
                        with open(tar, "rb") as f:
                            f.seek(member.offset_data)
                            data = f.read(member.size)
                        self._add_image(data, names[member.name],
                                        (str(tar), member.offset_data, member.size), hashes)

    @classmethod
    def load(cls, paths: Sequence[str], quiet: bool = False) -> Benchmarks:
        """Read every ``--against`` path (module docstring)."""
        from mmsynth.shards import RUN_FILE, run_shards

        bench = cls(paths=[str(p) for p in paths])
        hashes: list[Any] = []
        for given in paths:
            path = Path(given)
            if not path.exists():
                raise UsageError(f"--against {given}: no such file or folder")
            if path.is_dir() and (path / RUN_FILE).is_file():
                bench._add_shards(run_shards(path), hashes)
                continue
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() \
                else [path]
            for file in files:
                suffix = file.suffix.lower()
                if suffix in IMAGE_SUFFIXES:
                    bench._add_image(file.read_bytes(), str(file), str(file), hashes)
                elif suffix in QUESTION_SUFFIXES:
                    bench._add_questions(file)
                elif suffix == ".tar":
                    bench._add_shards([file], hashes)
                elif path.is_file():
                    raise UsageError(f"--against {given}: not an image, question file "
                                     "(.json, .jsonl, .parquet), shard .tar or folder")
        if hashes:
            bench.hashes = np.stack([p.phash for p in hashes])
            bench.coarse = np.stack([p.coarse for p in hashes])
            bench.whole = np.array([p.whole for p in hashes], dtype=bool)
        if not quiet:
            print(f"  dedup: against {len(bench.refs):,} benchmark images and "
                  f"{bench.questions.size:,} questions", file=sys.stderr, flush=True)
        if not bench.refs and not bench.questions.size:
            raise UsageError(f"--against {', '.join(map(str, paths))}: no image or question "
                             "found" + (f" (skipped: {bench.skipped})" if bench.skipped else ""))
        return bench

