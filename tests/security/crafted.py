"""Shards someone else made: tars built member by member with ``tarfile``, so each test says
exactly what a hostile or broken shard holds."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

from PIL import Image


def png_bytes(size: int = 16, colour: int = 200) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (colour, 30, 60)).save(buf, format="PNG")
    return buf.getvalue()


def record(key: str, **meta) -> bytes:
    return json.dumps({"id": key, "meta": {"source": "geometry", **meta}, "conversations": [
        {"from": "human", "value": "<image>\nWhat is drawn?"},
        {"from": "gpt", "value": "A square."}]}).encode()


class Touch:
    """Unpickling this creates ``path``: the stand-in for any code a pickle can run."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __reduce__(self):
        return (Path.touch, (self.path,))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(Touch(marker))


def evil_torch(marker: Path) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"weights": Touch(marker)}, buf)
    return buf.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    tar.addfile(info)


def add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A tar of regular ``(name, bytes)`` members, in order (a folder is made for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            add(tar, name, data)
    return path


def sample(key: str, **meta) -> list[tuple[str, bytes]]:
    """The two members mmsynth writes for one sample."""
    return [(f"{key}.json", record(key, **meta)), (f"{key}.png", png_bytes())]


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (what a test compares before and
    after a command that must not touch it)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
