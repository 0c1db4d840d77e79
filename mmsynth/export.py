"""Shards → the files other training code reads.

::

    python -m mmsynth.export llava SHARDS_DIR out.json  --images IMG_DIR   # LLaVA's JSON list
    python -m mmsynth.export jsonl SHARDS_DIR out.jsonl --images IMG_DIR   # one record a line
    python -m mmsynth.export hf    OUT_DIR [DEST]                          # datasets save_to_disk
    python -m mmsynth.export dpo   SHARDS_DIR OUT_DIR [--format trl|llamafactory]  # pairs
    python -m mmsynth.export messages     SHARDS_DIR out.jsonl --images IMG_DIR  # TRL / chat
    python -m mmsynth.export llamafactory SHARDS_DIR OUT_DIR                     # sharegpt

``llava`` writes the list LLaVA-style training code loads (``id``, ``image`` relative to the image
folder, ``conversations``) and each image once into IMG_DIR under a stable name:
``{source}/{id}.{ext}`` for renders, ``{source}/{file stem}.{ext}`` for photos (the four samples of
one COCO photo share one file). Re-exporting rewrites nothing that is already there with the same
bytes, so the output is identical; a file of that name with *other* bytes is an error, never
overwritten. ``jsonl`` writes the same records plus ``images`` (a one-element list, as
LLaMA-Factory's ShareGPT format wants) and ``meta`` (in the sample schema's typed form, the
same for every source: lines of several runs load as one dataset), one per line. ``hf`` writes a
Hugging Face ``datasets.Dataset`` (``save_to_disk``; Arrow files, or Parquet with
``to_parquet``) whose columns are the shard record's typed form (:mod:`mmsynth.schema`), the
image as an ``Image`` feature, with a dataset card and, when every sample has one licence, a
``LICENSE``. It needs the ``hf`` extra (``pip install mmsynth[hf]``).

``llava --single_turn`` splits each multi-turn sample into one sample per question
(``{id}-t{k}``, each with the ``<image>`` token), as LLaVA's stage-1 ``plain`` template needs.
``messages`` writes the conversational format of TRL's vision SFT and of processors'
``apply_chat_template``: ``messages`` (``user``/``assistant``, content a list of
``{"type": "image"}`` / ``{"type": "text", "text": …}`` parts, no literal ``<image>``) and
``images`` (a one-element list of paths relative to the output file's folder), plus ``id``.
``llamafactory`` writes ``mmsynth_sft.json`` into OUT_DIR — LLaMA-Factory's sharegpt rows,
``messages`` (``role``/``content``, the user's first content starting with ``<image>``) and
``images`` relative to OUT_DIR — and the ``mmsynth_sft`` entry of ``OUT_DIR/dataset_info.json``
(other entries of an existing file are kept).

``dpo`` writes the preference pairs of a run made with ``--preference_pairs`` (one row a pair)
into OUT_DIR, the images under ``OUT_DIR/images`` (paths in the rows are relative to OUT_DIR):
``--format trl`` (default) ``dpo.jsonl`` in TRL's conversational preference format —
``prompt`` (the turns before the answer, ``user``/``assistant`` messages whose content is a list
of ``{"type": "image"}`` / ``{"type": "text", "text": …}`` parts), ``chosen`` and ``rejected``
(one assistant message each), ``images`` (a one-element list of paths), plus ``id``, ``kind``
and ``reason``; ``--format llamafactory`` ``dpo_llamafactory.json``, LLaMA-Factory's sharegpt
preference rows (``conversations`` ending in a human turn, ``chosen`` / ``rejected`` gpt
messages, ``images``) and a ``dataset_info.json`` holding the ``mmsynth_dpo`` entry
(``formatting: sharegpt``, ``ranking: true``; other entries of an existing file are kept).

Every export leaves out the samples ``mmsynth dedup`` removed (the run's ``dedup.json``,
:mod:`mmsynth.dedup.record`) and says how many; ``--keep_duplicates`` exports them too. A record
that no longer matches the shards (a run resumed or regenerated since) is an error, never a
guess.

Shards may come from anyone, so exports read them through mmsynth.shards' safe reader:
malformed members and samples, and records whose ``meta.source`` is not a plain name or whose
file name is not a plain file name, are skipped, counted by reason and reported. No output file
or image folder may lie inside a run folder (one holding run.json or shard tars). ``hf`` lists
what it wrote in ``DEST/.mmsynth-export.json``; ``--overwrite`` replaces only a destination
holding that list, and removes exactly those files.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from mmsynth.dedup.record import read_removed
from mmsynth.errors import UsageError
from mmsynth.sample import chat_message
from mmsynth.schema import encode
from mmsynth.shards import (
    RUN_FILE,
    ShardProblem,
    atomic_write_bytes,
    iter_run,
    valid_key,
)

# Shards come from other people: every output path is built from checked parts (a plain source
# name, a file stem without any directory, the sample key) and checked to lie inside its folder.
_SOURCE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


# The key of the results (and of ``removed`` below) that counts what dedup.json left out.
REMOVED_BY_DEDUP = "removed_by_dedup"


def iter_samples(shards_dir: str | Path, problems: dict[str, int] | None = None,
                 keep_duplicates: bool = False, removed: dict[str, int] | None = None
                 ) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    """(record, image bytes, image extension) for every usable sample of every shard, in order;
    malformed members and samples are skipped and counted by reason in ``problems``
    (mmsynth.shards.iter_run).

    Unless ``keep_duplicates``, the samples the run's ``dedup.json`` removed are left out too,
    counted under ``REMOVED_BY_DEDUP`` in ``removed`` (apart from ``problems``: they are
    dropped on purpose, not broken). The record is read now, so a stale one raises UsageError
    here, before anything is exported."""
    record = None if keep_duplicates else read_removed(shards_dir)
    if record is None or not record.keys:
        return iter_run(shards_dir, problems)
    return _without(iter_run(shards_dir, problems), record.keys,
                    removed if removed is not None else {})


def _without(samples: Iterator[tuple[dict[str, Any], bytes, str]], keys: frozenset[str],
             removed: dict[str, int]) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    for sample in samples:
        if sample[0]["id"] in keys:
            removed[REMOVED_BY_DEDUP] = removed.get(REMOVED_BY_DEDUP, 0) + 1
        else:
            yield sample


def _safe_stem(stem: str) -> bool:
    return (0 < len(stem) <= 200 and not stem.startswith(".")
            and not any(ord(c) < 32 or c in '\x7f/\\:' for c in stem))


def _placed(shards_dir: str | Path, folder: ImageFolder, problems: dict[str, int],
            keep: Callable[[dict[str, Any]], bool] = lambda record: True,
            keep_duplicates: bool = False, removed: dict[str, int] | None = None
            ) -> Iterator[tuple[dict[str, Any], str]]:
    """The shards' records that ``keep`` takes, each with its image written into ``folder``:
    (record, the image's path relative to the folder). A record whose image cannot be named
    safely is counted in ``problems`` by its reason and skipped; the samples dedup.json
    removed are left out unless ``keep_duplicates`` (:func:`iter_samples`, counted in
    ``removed``)."""
    for record, data, ext in iter_samples(shards_dir, problems, keep_duplicates, removed):
        if not keep(record):
            continue
        try:
            relative = image_path(record, ext)
        except ShardProblem as e:
            problems[e.reason] = problems.get(e.reason, 0) + 1
            continue
        folder.put(relative, data)
        yield record, relative


def image_path(record: dict[str, Any], ext: str) -> str:
    """The image's stable name relative to the image folder (see the module docstring).
    ShardProblem (``unsafe_source`` / ``unsafe_file_name``) when the record's ``meta.source``
    is not a plain name or its ``meta.file_name`` (directories dropped) or ``id`` is not a
    plain file stem."""
    meta = record.get("meta") or {}
    source = meta.get("source") or "images"
    if not isinstance(source, str) or not _SOURCE_NAME.fullmatch(source):
        raise ShardProblem("unsafe_source", f"{record.get('id')!r}: meta.source {source!r} is "
                           "not a plain name (letters, digits, _ and -)")
    file_name = meta.get("file_name")
    if file_name:
        # A COCO file_name may sit in a subfolder (train2017/x.jpg); only its last part names
        # the image, whichever separator it uses.
        stem = PurePosixPath(re.split(r"[/\\]", str(file_name))[-1]).stem
        if not _safe_stem(stem):
            raise ShardProblem("unsafe_file_name", f"{record.get('id')!r}: meta.file_name "
                               f"{file_name!r} does not end in a plain file name")
    else:
        stem = str(record.get("id"))
        if not valid_key(stem):
            raise ShardProblem("unsafe_file_name", f"id {stem!r} is not a plain name")
    return f"{source}/{stem}.{ext}"


def _is_run_dir(path: Path) -> bool:
    try:
        return path.is_dir() and ((path / RUN_FILE).exists() or any(path.glob("shard-*.tar")))
    except OSError:
        return False


def check_outside_runs(path: str | Path, what: str, is_dir: bool = False) -> None:
    """UsageError when ``path`` (an export's output file, or with ``is_dir`` its image folder)
    is, or would be written, inside a run folder (one holding run.json or shard-*.tar): an
    export must never replace a shard or the files a run keeps beside them."""
    resolved = Path(path).resolve()
    for folder in ([resolved] if is_dir else []) + list(resolved.parents):
        if _is_run_dir(folder):
            raise UsageError(f"{what} {path} is inside the run folder {folder}; exports must "
                             "not write into a run folder (write them next to it instead)")


def _skipped(problems: dict[str, int]) -> str:
    n = sum(problems.values())
    if not n:
        return ""
    by_reason = ", ".join(f"{r} {c}" for r, c in sorted(problems.items(), key=lambda i: -i[1]))
    return f"skipped {n} shard members or samples: {by_reason}"


def _left_out(result: dict[str, Any]) -> str:
    """The report's line on the samples dedup.json removed, when there were any."""
    n = result.get(REMOVED_BY_DEDUP, 0)
    return (f"left out {n} sample{'s' if n != 1 else ''} that mmsynth dedup removed "
            "(dedup.json; --keep_duplicates exports them)") if n else ""


class ImageFolder:
    """Writes each image once under its stable name; checks, never overwrites, existing files."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.written = 0
        self.unchanged = 0
        self._seen: dict[str, bytes] = {}  # name → sha256 of what was put there
        self._checked: set[Path] = set()  # folders already known not to be inside a run

    def _target(self, relative: str) -> Path:
        path = self.root / relative
        # Names are built from checked parts; this is the last word, and it also catches a
        # symlink inside the image folder that points elsewhere.
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise UsageError(f"{path} would be written outside --images {self.root} "
                             f"(it resolves to {resolved}); not writing it")
        if resolved.parent not in self._checked:
            check_outside_runs(resolved.parent, "image folder", is_dir=True)
            self._checked.add(resolved.parent)
        return path

    def put(self, relative: str, data: bytes) -> None:
        digest = hashlib.sha256(data).digest()
        seen = self._seen.get(relative)
        if seen is not None:  # the same photo for another sample of it
            if seen != digest:
                raise UsageError(f"two different images would both be {self.root / relative}")
            return
        path = self._target(relative)
        self._seen[relative] = digest
        try:
            if path.exists():
                if path.read_bytes() != data:
                    raise UsageError(f"{path} exists with other content; export into an empty "
                                     "--images folder (or the one this run exported to)")
                self.unchanged += 1
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:12]}")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
        self.written += 1


def _records(shards_dir: str, out_file: str, images: str | None, with_meta: bool,
             keep_duplicates: bool = False
             ) -> tuple[list[dict[str, Any]], ImageFolder, dict[str, int], str, int]:
    """The rows, the image folder they were written to, the problems and how many samples
    dedup.json left out."""
    images = images or str(Path(out_file).parent / "images")
    check_outside_runs(out_file, "output file")
    check_outside_runs(images, "--images folder", is_dir=True)
    folder = ImageFolder(images)
    rows = []
    problems: dict[str, int] = {}
    removed: dict[str, int] = {}
    for record, relative in _placed(shards_dir, folder, problems,
                                    keep_duplicates=keep_duplicates, removed=removed):
        row = {"id": record["id"], "image": relative, "conversations": record["conversations"]}
        if with_meta:
            row["images"] = [relative]
            # meta in the sample schema's typed form (mmsynth.schema): one shape for every
            # source, so the lines of several runs load as one dataset.
            row["meta"] = encode(record, strict=False)["meta"]
        rows.append(row)
    return rows, folder, problems, images, removed.get(REMOVED_BY_DEDUP, 0)


def export_llava(shards_dir: str, out_json: str, images: str | None = None,
                 single_turn: bool = False, keep_duplicates: bool = False) -> dict[str, Any]:
    """Write LLaVA's JSON list to ``out_json`` and the images under ``images`` (default: an
    ``images`` folder next to ``out_json``); ``single_turn``: a row per question (see the module
    docstring). The samples the run's dedup.json removed are left out unless
    ``keep_duplicates``. Returns counts, ``skipped`` by reason and ``removed_by_dedup``
    included. UsageError when either lies inside a run folder, or for a stale dedup.json."""
    rows, folder, problems, images, removed = _records(shards_dir, out_json, images,
                                                       with_meta=False,
                                                       keep_duplicates=keep_duplicates)
    if single_turn:
        rows = [single for row in rows for single in _single_turns(row)]
    _write(Path(out_json), json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    return {"rows": len(rows), "images_written": folder.written,
            "images_unchanged": folder.unchanged, "images": images, "skipped": problems,
            REMOVED_BY_DEDUP: removed}


def _single_turns(row: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per human/gpt pair of ``row``, each question led by ``<image>\n``."""
    from mmsynth.sample import IMAGE_TOKEN, without_image_token

    turns = row["conversations"]
    out = []
    for k in range(len(turns) // 2):
        question = without_image_token(turns[2 * k]["value"])
        out.append({"id": f"{row['id']}-t{k}", "image": row["image"], "conversations": [
            {"from": "human", "value": f"{IMAGE_TOKEN}\n{question}"},
            {"from": "gpt", "value": turns[2 * k + 1]["value"]}]})
    return out


def export_messages(shards_dir: str, out_jsonl: str, images: str | None = None,
                    keep_duplicates: bool = False) -> dict[str, Any]:
    """Write TRL's conversational vision format (see the module docstring) to ``out_jsonl``,
    one row a line, and the images under ``images`` (default: an ``images`` folder next to
    it); ``keep_duplicates`` and the counts returned as :func:`export_llava`'s."""
    rows, folder, problems, images, removed = _records(shards_dir, out_jsonl, images,
                                                       with_meta=False,
                                                       keep_duplicates=keep_duplicates)
    base = Path(out_jsonl).resolve().parent
    lines = []
    for row in rows:
        where = Path(os.path.relpath(Path(images).resolve() / row["image"], base)).as_posix()
        lines.append(json.dumps({"id": row["id"],
                                 "messages": [chat_message(t) for t in row["conversations"]],
                                 "images": [where]}, ensure_ascii=False, separators=(",", ":")))
    _write(Path(out_jsonl), "".join(line + "\n" for line in lines))
    return {"rows": len(rows), "images_written": folder.written,
            "images_unchanged": folder.unchanged, "images": images, "skipped": problems,
            REMOVED_BY_DEDUP: removed}


LLAMAFACTORY_SFT_FILE = "mmsynth_sft.json"
LLAMAFACTORY_SFT_ENTRY = {
    "file_name": LLAMAFACTORY_SFT_FILE, "formatting": "sharegpt",
    "columns": {"messages": "messages", "images": "images"},
    "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
             "assistant_tag": "assistant"},
}


def export_llamafactory(shards_dir: str, out_dir: str, images: str | None = None,
                        keep_duplicates: bool = False) -> dict[str, Any]:
    """Write LLaMA-Factory's sharegpt SFT rows and their ``dataset_info.json`` entry into
    ``out_dir`` (see the module docstring), the images under ``images`` (default
    ``out_dir/images``). ``keep_duplicates`` and the counts returned as :func:`export_llava`'s,
    and the files."""
    out = Path(out_dir)
    check_outside_runs(out, "output folder", is_dir=True)
    rows, folder, problems, images, removed = _records(
        shards_dir, str(out / LLAMAFACTORY_SFT_FILE), images, with_meta=False,
        keep_duplicates=keep_duplicates)
    listed = []
    for row in rows:
        where = Path(os.path.relpath(Path(images).resolve() / row["image"], out.resolve()))
        listed.append({"id": row["id"], "messages": [
            {"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]}
            for t in row["conversations"]], "images": [where.as_posix()]})
    files = [out / LLAMAFACTORY_SFT_FILE, out / "dataset_info.json"]
    _write(files[0], json.dumps(listed, ensure_ascii=False, indent=1) + "\n")
    _add_dataset_info(files[1], "mmsynth_sft", LLAMAFACTORY_SFT_ENTRY)
    return {"rows": len(rows), "images_written": folder.written,
            "images_unchanged": folder.unchanged, "images": images, "skipped": problems,
            REMOVED_BY_DEDUP: removed, "files": [str(f) for f in files]}


def _add_dataset_info(path: Path, name: str, entry: dict[str, Any]) -> None:
    """Set LLaMA-Factory's ``dataset_info.json`` entry ``name``, keeping the file's others."""
    info: dict[str, Any] = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UsageError(f"{path} exists and is not JSON; not replacing it") from None
        if not isinstance(info, dict):
            raise UsageError(f"{path} is not a mapping of dataset entries")
    info[name] = entry
    _write(path, json.dumps(info, ensure_ascii=False, indent=2) + "\n")


def export_jsonl(shards_dir: str, out_jsonl: str, images: str | None = None,
                 keep_duplicates: bool = False) -> dict[str, Any]:
    """Write one JSON record per line (``id``, ``image``, ``images``, ``conversations``,
    ``meta``) to ``out_jsonl`` and the images under ``images``; ``keep_duplicates`` and the
    counts returned as :func:`export_llava`'s."""
    rows, folder, problems, images, removed = _records(shards_dir, out_jsonl, images,
                                                       with_meta=True,
                                                       keep_duplicates=keep_duplicates)
    _write(Path(out_jsonl),
           "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows))
    return {"rows": len(rows), "images_written": folder.written,
            "images_unchanged": folder.unchanged, "images": images, "skipped": problems,
            REMOVED_BY_DEDUP: removed}


DPO_FORMATS = ("trl", "llamafactory")
LLAMAFACTORY_FILE = "dpo_llamafactory.json"
LLAMAFACTORY_ENTRY = {
    "file_name": LLAMAFACTORY_FILE, "formatting": "sharegpt", "ranking": True,
    "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected",
                "images": "images"},
    "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
             "assistant_tag": "gpt"},
}


def _dpo_rows(record: dict[str, Any], image: str, fmt: str) -> list[dict[str, Any]]:
    rows = []
    for k, pair in enumerate(record.get("preference") or []):
        prompt = pair["prompt"]
        row_id = f"{record['id']}-pair{k}"
        if fmt == "trl":
            rows.append({"id": row_id, "prompt": [chat_message(t) for t in prompt],
                         "chosen": [chat_message({"from": "gpt", "value": pair["chosen"]})],
                         "rejected": [chat_message({"from": "gpt", "value": pair["rejected"]})],
                         "images": [image], "kind": pair["kind"], "reason": pair["reason"]})
        else:
            rows.append({"id": row_id,
                         "conversations": [{"from": t["from"], "value": t["value"]}
                                           for t in prompt],
                         "chosen": {"from": "gpt", "value": pair["chosen"]},
                         "rejected": {"from": "gpt", "value": pair["rejected"]},
                         "images": [image], "kind": pair["kind"], "reason": pair["reason"]})
    return rows


def export_dpo(shards_dir: str, out_dir: str, fmt: str = "trl", images: str | None = None,
               keep_duplicates: bool = False) -> dict[str, Any]:
    """Write the run's preference pairs for a DPO trainer into ``out_dir`` (see the module
    docstring for the two formats) and the images under ``images`` (default
    ``out_dir/images``; the rows name them relative to ``out_dir``). The pairs of samples the
    run's dedup.json removed are left out unless ``keep_duplicates``. Returns counts: ``rows``,
    ``samples`` (with pairs), ``by_kind``, the images, ``skipped`` by reason,
    ``removed_by_dedup`` (samples left out, with pairs or not). UsageError for an unknown
    format, an output inside a run folder, a stale dedup.json, or a run without pairs."""
    if fmt not in DPO_FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(DPO_FORMATS)}")
    out = Path(out_dir)
    images = images or str(out / "images")
    check_outside_runs(out, "output folder", is_dir=True)
    check_outside_runs(images, "--images folder", is_dir=True)
    folder = ImageFolder(images)
    rows: list[dict[str, Any]] = []
    by_kind: dict[str, int] = {}
    samples = 0
    problems: dict[str, int] = {}
    removed: dict[str, int] = {}
    for record, relative in _placed(shards_dir, folder, problems,
                                    keep=lambda record: bool(record.get("preference")),
                                    keep_duplicates=keep_duplicates, removed=removed):
        where = Path(os.path.relpath(Path(images).resolve() / relative, out.resolve()))
        new = _dpo_rows(record, where.as_posix(), fmt)
        samples += 1
        rows += new
        for row in new:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
    if not rows:
        raise UsageError(f"{shards_dir} holds no preference pairs (generate with "
                         "--preference_pairs N)" + (f"; {_skipped(problems)}" if problems else ""))
    if fmt == "trl":
        files = [out / "dpo.jsonl"]
        _write(files[0], "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                                 for r in rows))
    else:
        files = [out / LLAMAFACTORY_FILE, out / "dataset_info.json"]
        _write(files[0], json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        _add_dataset_info(files[1], "mmsynth_dpo", LLAMAFACTORY_ENTRY)
    return {"rows": len(rows), "samples": samples, "by_kind": dict(sorted(by_kind.items())),
            "files": [str(f) for f in files], "images_written": folder.written,
            "images_unchanged": folder.unchanged, "images": images, "skipped": problems,
            REMOVED_BY_DEDUP: removed.get(REMOVED_BY_DEDUP, 0)}


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def hf_features():
    """The ``datasets`` features of :func:`export_hf`'s dataset: the shard record's typed form
    (:mod:`mmsynth.schema`, the same columns and types for every source) with the image as an
    ``Image`` feature."""
    from datasets import Features, Image

    from mmsynth.schema import json_features

    return Features({name: Image() if name == "image" else feature
                     for name, feature in json_features().items()})


def _hf_rows(shards_dir: str, problems: dict[str, int], keep_duplicates: bool = False,
             removed: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    for record, data, ext in iter_samples(shards_dir, problems, keep_duplicates, removed):
        row = encode(record, strict=False)
        row["image"] = {"bytes": data, "path": f"{record['id']}.{ext}"}
        yield row


def _licences(ds: Any) -> dict[str, int]:
    """Samples per licence name (the typed ``meta.license``: ``{name, url}``)."""
    counts: dict[str, int] = {}
    for meta in ds["meta"]:
        name = meta["license"]["name"] or meta["license"]["url"] or "unknown"
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _licence_file(rows: int, urls: dict[str, str]) -> str:
    """The export's LICENSE when every sample has one licence: its name and where its text is."""
    ((name, url),) = urls.items()
    return (f"The {rows} samples of this dataset (images and text) are released under "
            f"{name}{f': {url}' if url else ''}.\n\nEach sample's meta.license names it too.\n")


def _hf_card(out_dir: str, target: Path, rows: int, licences: dict[str, int],
             removed: int = 0) -> str:
    """The exported dataset's card: its licence (the Hub's id when every sample has one), its
    columns, how to load and publish it, and the licences per sample; ``removed``: how many
    samples the run's dedup.json left out (said, so a smaller dataset is explained)."""
    from mmsynth.card import _hub_license

    table = "\n".join(f"| {name} | {n} |" for name, n in licences.items())
    return "\n".join([
        "---",
        f"license: {_hub_license(licences)}",
        "tags: [mmsynth, synthetic, llava]",
        "---",
        "",
        f"# mmsynth export of `{Path(out_dir).name}`",
        "",
        f"{rows} samples written by `mmsynth export hf` (a `datasets.Dataset` saved with "
        "`save_to_disk`): `id`, `image` (an `Image` feature), `conversations` (LLaVA's "
        "`human`/`gpt` turns), `caption`, `qa` (every question with its answer, typed `value`, "
        "origin and worked solution), `scene`, `annotations` and `preference` (JSON text), and "
        "`meta` (provenance) — the columns and types of mmsynth's sample schema, the same for "
        "every source (`mmsynth/sample.schema.json`), so exports of several runs concatenate. "
        "The run's own card (`README.md` in the run folder) has its counts, rejections, models "
        "and configuration."
        + (f" {removed} samples of the run are left out: `mmsynth dedup` removed them "
           "(duplicates or benchmark contamination, listed in the run's `dedup.json`)."
           if removed else ""),
        "",
        "## Licences",
        "",
        "Each sample's `meta` names its licence (a photo's also its attribution): keep them "
        "with the data.",
        "",
        "| licence | samples |",
        "|---|---|",
        table,
        "",
        "## Loading and publishing",
        "",
        "```python",
        "from datasets import load_from_disk",
        f"ds = load_from_disk({target.name!r})",
        "ds.push_to_hub(\"you/your-dataset\")  # carries this card's licence on the Hub",
        "```",
        "",
    ])


# export hf lists what it wrote here, so --overwrite deletes exactly that and nothing of the
# user's (a dataset_info.json alone proves nothing about who made the folder).
HF_MANIFEST = ".mmsynth-export.json"


def _manifest_files(target: Path) -> list[Path]:
    """The files a previous export hf wrote into ``target``, from its manifest; UsageError if
    the manifest is unreadable or names anything outside ``target``."""
    manifest = target / HF_MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        names = data["files"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{manifest} is not a manifest export hf wrote; not deleting anything "
                         f"in {target}") from None
    root = target.resolve()
    files = []
    for name in names:
        path = target / name
        if (PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts
                or not path.resolve().is_relative_to(root) or path.resolve() == root):
            raise UsageError(f"{manifest} names {name!r}, outside {target}; not deleting "
                             "anything")
        files.append(path)
    return files


def _prepare_hf_dest(out_dir: str, target: Path, overwrite: bool) -> list[Path]:
    """Check ``target`` and return what an overwrite must remove (the previous export's files,
    as its manifest lists them); UsageError for a destination that is not ours to replace."""
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder; give a folder for the dataset")
    if _is_run_dir(target) or target.resolve() == Path(out_dir).resolve():
        raise UsageError(f"{target} is a run folder; give another destination for the dataset")
    if not target.exists() or not any(target.iterdir()):
        return []
    if not (target / HF_MANIFEST).exists():
        raise UsageError(f"{target} is not empty and holds no {HF_MANIFEST} (the list of files "
                         "export hf writes), so it is not an earlier export; give an empty or "
                         "new destination" + ("; --overwrite only replaces an earlier export"
                                              if overwrite else ""))
    if not overwrite:
        raise UsageError(f"{target} holds an earlier export; pass --overwrite to replace it")
    return _manifest_files(target)


def export_hf(out_dir: str, dest: str | None = None, overwrite: bool = False,
              keep_duplicates: bool = False) -> dict[str, Any]:
    """Write the run in ``out_dir`` as a ``datasets.Dataset`` (``save_to_disk``) to ``dest``
    (default ``OUT_DIR/hf``), with a manifest of the files written; the samples the run's
    dedup.json removed are left out unless ``keep_duplicates``. Returns counts (``skipped`` by
    reason and ``removed_by_dedup`` included). UsageError if ``dest`` is not empty (unless it
    holds an earlier export and ``overwrite``, which removes exactly the files that export
    wrote), if it is a run folder, if the run's dedup.json is stale, or if ``datasets`` is
    missing."""
    try:
        import datasets
    except ImportError:
        raise UsageError("export hf needs the datasets package: pip install 'mmsynth[hf]'") \
            from None
    target = Path(dest) if dest else Path(out_dir) / "hf"
    old_files = _prepare_hf_dest(out_dir, target, overwrite)
    problems: dict[str, int] = {}
    removed: dict[str, int] = {}
    # A clear error, before datasets starts, for a folder without shards or usable samples
    # (datasets cannot save an empty generator), or a stale dedup.json.
    if next(iter_samples(out_dir, problems, keep_duplicates, removed), None) is None:
        why = "; ".join(filter(None, (_skipped(problems),
                                      _left_out(removed)))) or "empty"
        raise UsageError(f"{out_dir} holds no usable sample ({why})")
    problems.clear()
    removed.clear()
    import tempfile

    try:
        target.mkdir(parents=True, exist_ok=True)
        # Saved aside (in the destination, so the moves are renames), then moved in: a user's
        # file is never overwritten, and the old export is only removed once the new one exists.
        with tempfile.TemporaryDirectory(prefix="mmsynth-hf-") as cache, \
                tempfile.TemporaryDirectory(prefix=".mmsynth-staging-", dir=target) as staging:
            ds = datasets.Dataset.from_generator(
                _hf_rows, gen_kwargs={"shards_dir": str(out_dir), "problems": problems,
                                      "keep_duplicates": keep_duplicates, "removed": removed},
                features=hf_features(), cache_dir=cache)
            ds.save_to_disk(staging)
            rows = len(ds)
            licences = _licences(ds)
            ds_urls = {m["license"]["name"]: m["license"]["url"] for m in ds["meta"]}
            del ds
            atomic_write_bytes(Path(staging) / "README.md",
                               _hf_card(out_dir, target, rows, licences,
                                        removed.get(REMOVED_BY_DEDUP, 0)).encode("utf-8"))
            if len(licences) == 1 and "unknown" not in licences:
                atomic_write_bytes(Path(staging) / "LICENSE",
                                   _licence_file(rows, ds_urls).encode("utf-8"))
            new = sorted(p.relative_to(staging).as_posix() for p in Path(staging).rglob("*")
                         if p.is_file())
            old = {p.resolve() for p in old_files}
            clash = [n for n in new
                     if (target / n).exists() and (target / n).resolve() not in old]
            if clash:
                raise UsageError(f"{target} holds {clash[0]!r}, which export hf did not write; "
                                 "not overwriting it")
            for path in old_files:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            # The manifest first: an interrupted move still leaves a list of what is ours.
            atomic_write_bytes(target / HF_MANIFEST,
                               json.dumps({"files": new}, indent=1).encode("utf-8"))
            for name in new:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(staging) / name, target / name)
    except OSError as e:
        raise UsageError(f"cannot write {target}: {e.strerror or e}") from None
    return {"rows": rows, "dest": str(target), "skipped": problems,
            REMOVED_BY_DEDUP: removed.get(REMOVED_BY_DEDUP, 0)}


def main(argv: list[str] | None = None) -> int:
    """``mmsynth export {llava,jsonl,messages,llamafactory,hf,dpo} ...`` (also
    ``python -m mmsynth.export``; see the module docstring)."""
    from mmsynth.cli import ArgParser, parse, parse_text, positional, require

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgParser(prog="mmsynth export",
                       usage="%(prog)s {llava,jsonl,messages,llamafactory,hf,dpo} ...",
                       description="Shards -> the files other training code reads. "
                                   "mmsynth export COMMAND --help shows a command's arguments.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    images_help = "folder the images are written to (default: an images folder next to {})"
    keep_help = ("also export the samples mmsynth dedup removed (listed in the run's "
                 "dedup.json; default: off, they are left out)")
    for name, target, summary in (
            ("llava", "out_json", "LLaVA's JSON list (id, image, conversations) + the images, "
                                  "each written once"),
            ("jsonl", "out_jsonl", "one JSON record per line (id, image, images, conversations, "
                                   "meta) + the images"),
            ("messages", "out_jsonl", "TRL's conversational vision format (messages of typed "
                                      "content parts, images), one row a line + the images")):
        usage = f"%(prog)s SHARDS_DIR {target.upper()} [--images DIR]"
        if name == "llava":
            usage += " [--single_turn]"
        usage += " [--keep_duplicates]"
        sub = commands.add_parser(name, prog=f"mmsynth export {name}", help=summary,
                                  description=summary, usage=usage)
        positional(sub, "shards_dir", "a run's output directory (its --out)")
        positional(sub, target, "the file to write")
        sub.add_argument("-i", "--images", type=parse_text, metavar="DIR",
                         help=images_help.format(target.upper()))
        if name == "llava":
            sub.add_bool(sub, "single_turn", "a row per question, for LLaVA's stage-1 'plain' "
                                             "template (default: off)")
        sub.add_bool(sub, "keep_duplicates", keep_help)
    summary = ("LLaMA-Factory's sharegpt SFT rows (messages, images) + their dataset_info.json "
               "entry")
    sub = commands.add_parser("llamafactory", prog="mmsynth export llamafactory", help=summary,
                              description=summary, usage="%(prog)s SHARDS_DIR OUT_DIR "
                                                         "[--images DIR] [--keep_duplicates]")
    positional(sub, "shards_dir", "a run's output directory (its --out)")
    positional(sub, "out_dir", "the folder to write the rows (and by default the images) to")
    sub.add_argument("-i", "--images", type=parse_text, metavar="DIR",
                     help="folder the images are written to (default: OUT_DIR/images)")
    sub.add_bool(sub, "keep_duplicates", keep_help)
    summary = ("preference pairs (--preference_pairs) for DPO: TRL's conversational preference "
               "format, or LLaMA-Factory's sharegpt ranking rows + dataset_info.json")
    sub = commands.add_parser("dpo", prog="mmsynth export dpo", help=summary,
                              description=summary,
                              usage="%(prog)s SHARDS_DIR OUT_DIR [--format trl|llamafactory] "
                                    "[--images DIR] [--keep_duplicates]")
    positional(sub, "shards_dir", "a run's output directory (its --out)")
    positional(sub, "out_dir", "the folder to write the pairs (and by default the images) to")
    sub.add_argument("-f", "--format", dest="format", type=parse_text, default="trl",
                     metavar="FORMAT", help="trl (dpo.jsonl; default) or llamafactory "
                                            "(dpo_llamafactory.json + dataset_info.json)")
    sub.add_argument("-i", "--images", type=parse_text, metavar="DIR",
                     help="folder the images are written to (default: OUT_DIR/images)")
    sub.add_bool(sub, "keep_duplicates", keep_help)
    summary = "a Hugging Face datasets Dataset with an Image feature, saved with save_to_disk"
    sub = commands.add_parser("hf", prog="mmsynth export hf", help=summary, description=summary,
                              usage="%(prog)s OUT_DIR [DEST] [--overwrite] "
                                    "[--keep_duplicates]")
    positional(sub, "out_dir", "a run's output directory (its --out)")
    positional(sub, "dest", "the dataset folder to write (default: OUT_DIR/hf)")
    sub.add_argument("-d", dest="dest", type=parse_text, help=argparse.SUPPRESS)
    sub.add_bool(sub, "overwrite", "replace DEST if an earlier export hf wrote it, removing "
                                   "exactly the files it listed (default: off)")
    sub.add_bool(sub, "keep_duplicates", keep_help)
    try:
        if not argv:  # as before: no command shows the help
            parser.print_help()
            return 0
        args = parse(parser, argv)
        if args is None:  # --help was printed
            return 0
        keep = getattr(args, "keep_duplicates", False)
        if args.command == "dpo":
            require(commands.choices["dpo"], args, "shards_dir", "out_dir")
            result = export_dpo(args.shards_dir, args.out_dir, str(args.format), args.images,
                                keep_duplicates=keep)
            kinds = ", ".join(f"{k} {n}" for k, n in result["by_kind"].items())
            print(f"wrote {', '.join(result['files'])}: {result['rows']} pairs ({kinds}) from "
                  f"{result['samples']} samples; images in {result['images']}: "
                  f"{result['images_written']} written, {result['images_unchanged']} already "
                  "there")
            _print_skips(result)
        elif args.command == "hf":
            require(commands.choices["hf"], args, "out_dir")
            result = export_hf(args.out_dir, getattr(args, "dest", None),
                               getattr(args, "overwrite", False), keep_duplicates=keep)
            print(f"wrote {result['dest']}: {result['rows']} rows (datasets.load_from_disk)")
            _print_skips(result)
        elif args.command == "llamafactory":
            require(commands.choices["llamafactory"], args, "shards_dir", "out_dir")
            result = export_llamafactory(args.shards_dir, args.out_dir, args.images,
                                         keep_duplicates=keep)
            _report(", ".join(result["files"]), result)
        elif args.command == "llava":
            require(commands.choices["llava"], args, "shards_dir", "out_json")
            _report(args.out_json, export_llava(args.shards_dir, args.out_json, args.images,
                                                getattr(args, "single_turn", False),
                                                keep_duplicates=keep))
        else:
            require(commands.choices[args.command], args, "shards_dir", "out_jsonl")
            export = export_messages if args.command == "messages" else export_jsonl
            _report(args.out_jsonl, export(args.shards_dir, args.out_jsonl, args.images,
                                           keep_duplicates=keep))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _report(path: str, result: dict[str, Any]) -> None:
    print(f"wrote {path}: {result['rows']} rows; images in {result['images']}: "
          f"{result['images_written']} written, {result['images_unchanged']} already there")
    _print_skips(result)


def _print_skips(result: dict[str, Any]) -> None:
    """What the export left out: samples dedup.json removed, then unusable shard content."""
    if left_out := _left_out(result):
        print(left_out)
    if skipped := _skipped(result["skipped"]):
        print(skipped)


if __name__ == "__main__":
    sys.exit(main())
