"""``dedup.json``: what ``mmsynth dedup`` decided about a run, and how readers honour it.

The file sits in the run's folder beside its shards. It lists every removed sample (its key, its
shard, its index in the run, the reason, and the key or benchmark item it duplicates) and the
sha256 of every shard it read, so a reader can tell whether it still describes the shards: a run
resumed, extended or regenerated after the pass makes it stale, and readers refuse a stale file
(UsageError naming the fix) instead of skipping the wrong samples.

Readers (the loader, the exports, the preview) skip the removed keys by default; each has a flag
that keeps them. This module imports nothing heavy: it is all a reader needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmsynth.errors import UsageError

DEDUP_FILE = "dedup.json"
FORMAT = "mmsynth-dedup"
VERSION = 1

# Why a sample was removed. A run's own duplicates name the kept sample's key in
# ``duplicate_of``; contamination names the benchmark item ("FILE" or "FILE:LINE").
REASONS = ("exact_image", "near_image", "exact_text", "near_text",
           "contaminated_image", "contaminated_text")


@dataclass(frozen=True)
class Removed:
    """The removed samples of one run folder, as a reader uses them."""

    folder: str
    keys: frozenset[str]
    per_shard: Mapping[str, int] = field(default_factory=dict)  # shard file name → removed
    counts: Mapping[str, int] = field(default_factory=dict)  # reason → removed

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def __len__(self) -> int:
        return len(self.keys)


def recorded_sha256(folder: Path, shard: str) -> str | None:
    """The sha256 the shard's stats file recorded (what the generator wrote with the tar)."""
    stats = folder / (shard.removesuffix(".tar") + ".stats.json")
    try:
        value = json.loads(stats.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def read_removed(folder: str | os.PathLike, check: bool = True) -> Removed | None:
    """The folder's ``dedup.json`` as a :class:`Removed`, or None when it has none.

    ``check``: the file must describe the shards there now: every shard it read still has the
    sha256 it read (by the shards' stats files), and there is no shard it did not read.
    UsageError otherwise, and for a file that is not a dedup record."""
    folder = Path(folder)
    path = folder / DEDUP_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path} is not a dedup record written by mmsynth dedup")
    if data.get("version") != VERSION:
        raise UsageError(f"{path} has version {data.get('version')!r}; this mmsynth reads "
                         f"version {VERSION}: run mmsynth dedup {folder} again")
    shards = data.get("shards")
    removed = data.get("removed")
    if not isinstance(shards, dict) or not isinstance(removed, list):
        raise UsageError(f"{path} is damaged (no shards or removed list)")
    if check:
        _check_current(folder, shards)
    keys, per_shard = set(), {}
    for item in removed:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise UsageError(f"{path} is damaged (a removed entry without a key)")
        keys.add(item["key"])
        shard = str(item.get("shard", ""))
        per_shard[shard] = per_shard.get(shard, 0) + 1
    counts = data.get("counts") if isinstance(data.get("counts"), dict) else {}
    return Removed(str(folder), frozenset(keys), per_shard, dict(counts))


def _check_current(folder: Path, shards: Mapping[str, Any]) -> None:
    present = sorted(p.name for p in folder.glob("shard-*.tar"))
    changed = [name for name, sha in shards.items()
               if name not in present or recorded_sha256(folder, name) != sha]
    unread = [name for name in present if name not in shards]
    if changed or unread:
        what = []
        if changed:
            what.append(f"{len(changed)} shard(s) changed or gone since it was made "
                        f"({', '.join(changed[:3])}{' …' if len(changed) > 3 else ''})")
        if unread:
            what.append(f"{len(unread)} shard(s) it never read ({', '.join(unread[:3])}"
                        f"{' …' if len(unread) > 3 else ''})")
        raise UsageError(f"{folder / DEDUP_FILE} is stale: {'; '.join(what)}. Run "
                         f"`mmsynth dedup {folder}` again, or keep the duplicates "
                         "(keep_duplicates / --keep_duplicates) to read every sample")


def removed_for_urls(urls: Iterable[str]) -> dict[str, Removed]:
    """The :class:`Removed` of each local folder the shard URLs lie in that has a
    ``dedup.json`` (folder → Removed); URLs that are not local paths are left out."""
    found: dict[str, Removed] = {}
    seen: set[str] = set()
    for url in urls:
        path = url.removeprefix("file://") if url.startswith("file://") else url
        if "://" in path or path.startswith("pipe:"):
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if folder in seen:
            continue
        seen.add(folder)
        removed = read_removed(folder)
        if removed is not None:
            found[folder] = removed
    return found


def is_removed(removed: Mapping[str, Removed], url: str, key: str) -> bool:
    """Whether the sample ``key`` of the shard at ``url`` is removed by its folder's record."""
    if not removed:
        return False
    path = url.removeprefix("file://") if url.startswith("file://") else url
    entry = removed.get(os.path.dirname(os.path.abspath(path)))
    return entry is not None and key in entry.keys


def write_record(folder: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write ``data`` (format and version added) as the folder's ``dedup.json``, atomically."""
    from mmsynth.shards import atomic_write_bytes

    path = Path(folder) / DEDUP_FILE
    body = {"format": FORMAT, "version": VERSION, **data}
    atomic_write_bytes(path, (json.dumps(body, indent=1, ensure_ascii=False) + "\n").encode())
    return path


CARD_BEGIN = "<!-- mmsynth dedup: begin -->"
CARD_END = "<!-- mmsynth dedup: end -->"


def card_section(folder: str | os.PathLike) -> list[str]:
    """The dataset card's "Duplicates and contamination" section for the folder's dedup.json
    (between markers, so a later pass replaces it); [] when there is none."""
    path = Path(folder) / DEDUP_FILE
    if not path.is_file():
        return []
    lines = [CARD_BEGIN, "## Duplicates and contamination", ""]
    try:
        read_removed(folder)
        data = json.loads(path.read_text(encoding="utf-8"))
    except UsageError as e:
        lines += [f"`{DEDUP_FILE}` is here but no longer describes the shards: {e}", CARD_END]
        return lines
    counts = {k: v for k, v in data.get("counts", {}).items() if v}
    lines.append(f"`mmsynth dedup` read {data.get('samples', 0):,} samples and removed "
                 f"{data.get('removed_total', 0):,} (listed in `{DEDUP_FILE}` with the sample or "
                 "benchmark item each repeats); mmsynth's loader, exports and preview skip them "
                 "(`keep_duplicates` keeps them). Plain webdataset or `datasets` readers do "
                 f"not read `{DEDUP_FILE}`: use `mmsynth dedup RUN --rewrite OUT` for shards "
                 "without them.")
    if counts:
        lines += ["", "| reason | removed |", "|---|---|"]
        lines += [f"| {reason} | {n:,} |" for reason, n in counts.items()]
    against = data.get("against", {})
    if against.get("paths"):
        lines += ["", f"Checked against {against.get('images', 0):,} benchmark images and "
                  f"{against.get('questions', 0):,} benchmark questions."]
    lines.append(CARD_END)
    return lines


def with_card_section(text: str, section: list[str]) -> str:
    """The card's text with its dedup section replaced by ``section`` (or added at the end)."""
    if CARD_BEGIN in text and CARD_END in text:
        head, _, rest = text.partition(CARD_BEGIN)
        _, _, tail = rest.partition(CARD_END)
        text = head.rstrip("\n") + "\n" + tail.lstrip("\n")
    if not section:
        return text
    return text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n"


def refresh_card(folder: str | os.PathLike) -> bool:
    """Put the dedup section into the folder's dataset card, if mmsynth wrote the card."""
    from mmsynth.shards import CARD_FILE, atomic_write_bytes, is_our_card

    path = Path(folder) / CARD_FILE
    if not path.is_file() or not is_our_card(path):
        return False
    text = path.read_text(encoding="utf-8")
    atomic_write_bytes(path, with_card_section(text, card_section(folder)).encode())
    return True
