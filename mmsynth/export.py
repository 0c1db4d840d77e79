"""Shards → the files other training code reads.

::

    python -m mmsynth.export llava SHARDS_DIR out.json  --images IMG_DIR   # LLaVA's JSON list
    python -m mmsynth.export jsonl SHARDS_DIR out.jsonl --images IMG_DIR   # one record a line
    python -m mmsynth.export hf    OUT_DIR [DEST]                          # datasets save_to_disk

``llava`` writes the list LLaVA-style training code loads (``id``, ``image`` relative to the image
folder, ``conversations``) and each image once into IMG_DIR under a stable name:
``{source}/{id}.{ext}`` for renders, ``{source}/{file stem}.{ext}`` for photos (the four samples of
one COCO photo share one file). Re-exporting rewrites nothing that is already there with the same
bytes, so the output is identical; a file of that name with *other* bytes is an error, never
overwritten. ``jsonl`` writes the same records plus ``images`` (a one-element list, as
LLaMA-Factory's ShareGPT format wants) and ``meta``, one per line. ``hf`` writes a Hugging Face
``datasets.Dataset`` with an ``Image`` feature (``save_to_disk``; Arrow files, or Parquet with
``to_parquet``): ``id``, ``image``, ``conversations``, ``caption``, and ``qa``, ``scene``,
``annotations``, ``meta`` as JSON text (exact). It needs the ``hf`` extra
(``pip install mmsynth[hf]``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.sample import IMAGE_EXTENSIONS
from mmsynth.shards import atomic_write_bytes, run_shards


def iter_samples(shards_dir: str | Path) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    """(record, image bytes, image extension) for every sample of every shard, in order."""
    for tar_path in run_shards(shards_dir):
        try:
            with tarfile.open(tar_path) as tar:
                current: dict[str, bytes] = {}
                key = None
                for member in tar:
                    k, _, ext = member.name.partition(".")
                    if key is not None and k != key:
                        yield _pair(tar_path, key, current)
                        current = {}
                    key = k
                    current[ext] = tar.extractfile(member).read()
                if key is not None:
                    yield _pair(tar_path, key, current)
        except (tarfile.TarError, OSError) as e:
            raise UsageError(f"cannot read {tar_path}: {e}") from None


def _pair(tar_path: Path, key: str, members: dict[str, bytes]) -> tuple[dict[str, Any], bytes, str]:
    ext = next((e for e in IMAGE_EXTENSIONS if e in members), None)
    if "json" not in members or ext is None:
        raise UsageError(f"{tar_path}: sample {key!r} lacks its .json or image member "
                         f"(has {', '.join(sorted(members))})")
    try:
        record = json.loads(members["json"])
    except ValueError as e:
        raise UsageError(f"{tar_path}: {key}.json is not valid JSON: {e}") from None
    return record, members[ext], ext


def image_path(record: dict[str, Any], ext: str) -> str:
    """The image's stable name relative to the image folder (see the module docstring)."""
    meta = record.get("meta", {})
    source = str(meta.get("source") or "images")
    file_name = meta.get("file_name")
    stem = Path(str(file_name)).stem if file_name else record["id"]
    return f"{source}/{stem}.{ext}"


class ImageFolder:
    """Writes each image once under its stable name; checks, never overwrites, existing files."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.written = 0
        self.unchanged = 0
        self._seen: dict[str, bytes] = {}  # name → sha256 of what was put there

    def put(self, relative: str, data: bytes) -> None:
        digest = hashlib.sha256(data).digest()
        seen = self._seen.get(relative)
        if seen is not None:  # the same photo for another sample of it
            if seen != digest:
                raise UsageError(f"two different images would both be {self.root / relative}")
            return
        self._seen[relative] = digest
        path = self.root / relative
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


def _records(shards_dir, images, with_meta: bool) -> tuple[list[dict[str, Any]], ImageFolder]:
    folder = ImageFolder(images)
    rows = []
    for record, data, ext in iter_samples(shards_dir):
        relative = image_path(record, ext)
        folder.put(relative, data)
        row = {"id": record["id"], "image": relative, "conversations": record["conversations"]}
        if with_meta:
            row["images"] = [relative]
            row["meta"] = record.get("meta", {})
        rows.append(row)
    return rows, folder


def export_llava(shards_dir: str, out_json: str, images: str | None = None) -> dict[str, Any]:
    """Write LLaVA's JSON list to ``out_json`` and the images under ``images`` (default: an
    ``images`` folder next to ``out_json``). Returns counts."""
    images = images or str(Path(out_json).parent / "images")
    rows, folder = _records(shards_dir, images, with_meta=False)
    _write(Path(out_json), json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    return {"rows": len(rows), "images_written": folder.written,
            "images_unchanged": folder.unchanged, "images": images}


def export_jsonl(shards_dir: str, out_jsonl: str, images: str | None = None) -> dict[str, Any]:
    """Write one JSON record per line (``id``, ``image``, ``images``, ``conversations``,
    ``meta``) to ``out_jsonl`` and the images under ``images``. Returns counts."""
    images = images or str(Path(out_jsonl).parent / "images")
    rows, folder = _records(shards_dir, images, with_meta=True)
    _write(Path(out_jsonl),
           "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows))
    return {"rows": len(rows), "images_written": folder.written,
            "images_unchanged": folder.unchanged, "images": images}


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def hf_features():
    """The ``datasets`` features of :func:`export_hf`'s dataset."""
    from datasets import Features, Image, List, Value

    return Features({
        "id": Value("string"),
        "image": Image(),
        "conversations": List({"from": Value("string"), "value": Value("string")}),
        # JSON text (json.loads it): their fields differ between samples (families, chart
        # kinds, data types), and datasets' Json feature decodes floats with ujson, which
        # changes their last digits.
        "qa": Value("string"), "scene": Value("string"), "annotations": Value("string"),
        "caption": Value("string"),
        "meta": Value("string"),
    })


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _hf_rows(shards_dir: str) -> Iterator[dict[str, Any]]:
    for record, data, ext in iter_samples(shards_dir):
        yield {"id": record["id"], "image": {"bytes": data, "path": f"{record['id']}.{ext}"},
               "conversations": record["conversations"], "qa": _json(record.get("qa") or None),
               "scene": _json(record.get("scene")),
               "annotations": _json(record.get("annotations")),
               "caption": record.get("caption"), "meta": _json(record.get("meta", {}))}


def export_hf(out_dir: str, dest: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Write the run in ``out_dir`` as a ``datasets.Dataset`` (``save_to_disk``) to ``dest``
    (default ``OUT_DIR/hf``). Returns counts. UsageError if ``dest`` is not empty (unless
    ``overwrite``, which replaces a dataset saved there) or ``datasets`` is missing."""
    try:
        import datasets
    except ImportError:
        raise UsageError("export hf needs the datasets package: pip install 'mmsynth[hf]'") \
            from None
    target = Path(dest) if dest else Path(out_dir) / "hf"
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise UsageError(f"{target} is not empty; pass --overwrite to replace it")
        if not (target / "dataset_info.json").exists():
            raise UsageError(f"{target} does not hold a saved dataset; not deleting it")
        shutil.rmtree(target)
    next(iter_samples(out_dir))  # a clear error for a directory without shards, before datasets
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mmsynth-hf-") as cache:
        ds = datasets.Dataset.from_generator(_hf_rows, gen_kwargs={"shards_dir": str(out_dir)},
                                             features=hf_features(), cache_dir=cache)
        ds.save_to_disk(str(target))
        rows = len(ds)
    return {"rows": rows, "dest": str(target)}


def main(argv: list[str] | None = None) -> int:
    """``python -m mmsynth.export {llava,jsonl,hf} ...`` (see the module docstring)."""
    import fire

    argv = sys.argv[1:] if argv is None else list(argv)

    def llava(shards_dir: str, out_json: str, images: str | None = None) -> None:
        """LLaVA's JSON list (id, image, conversations) + the images, each written once."""
        _report(out_json, export_llava(shards_dir, out_json, images))

    def jsonl(shards_dir: str, out_jsonl: str, images: str | None = None) -> None:
        """One JSON record per line (id, image, images, conversations, meta) + the images."""
        _report(out_jsonl, export_jsonl(shards_dir, out_jsonl, images))

    def hf(out_dir: str, dest: str | None = None, overwrite: bool = False) -> None:
        """A Hugging Face datasets Dataset with an Image feature, saved with save_to_disk."""
        result = export_hf(out_dir, dest, overwrite)
        print(f"wrote {result['dest']}: {result['rows']} rows (datasets.load_from_disk)")

    try:
        fire.Fire({"llava": llava, "jsonl": jsonl, "hf": hf}, command=argv,
                  name="mmsynth.export")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _report(path: str, result: dict[str, Any]) -> None:
    print(f"wrote {path}: {result['rows']} rows; images in {result['images']}: "
          f"{result['images_written']} written, {result['images_unchanged']} already there")


if __name__ == "__main__":
    sys.exit(main())
