"""The COCO JSON files at the level of the file: bytes to parsed data, each annotation compacted
into a tuple as it is parsed (the memory figures in ``mmsynth.sources.coco_data``), the top-level
shape checked (``UsageError`` naming the file), and the value checks and text repair the reader
applies to every record. ``load_coco`` in ``coco_data`` builds the index from what this reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mmsynth.errors import UsageError

# Tags of the tuples the object hook makes (JSON itself never yields tuples).
_BOX = "box"
_CAPTION = "caption"
_SURROGATE_ESCAPES = re.compile("[\udc80-\udcff]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _compact(obj: dict[str, Any]) -> Any:
    """Object hook: an annotation becomes a tuple at once (its polygons are dropped here)."""
    if "image_id" in obj:
        if "category_id" in obj or "bbox" in obj:
            return (_BOX, obj.get("image_id"), obj.get("category_id"), obj.get("bbox"),
                    obj.get("area"), obj.get("iscrowd", 0))
        if "caption" in obj:
            return (_CAPTION, obj.get("image_id"), obj.get("caption"))
    return obj


def _read_json(path: Path) -> dict[str, Any]:
    """The file's top-level object; bytes that are not UTF-8 become lone surrogates, which
    ``_clean_text`` repairs where they matter (captions, names)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a COCO JSON file") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    text = raw.decode("utf-8", errors="surrogateescape")  # as fast as strict on valid UTF-8
    del raw
    try:
        data = json.loads(text, object_hook=_compact)
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, "
                         f"column {e.colno}") from None
    except RecursionError:
        raise UsageError(f"{path}: not usable JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a COCO file: the top level is {_json_type(data)}, "
                         "expected an object with 'images' and 'annotations'")
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, tuple):  # an annotation the object hook compacted
        return "an annotation object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _require_list(data: dict[str, Any], key: str, path: Path, required: bool = True) -> list:
    if key not in data:
        if not required:
            return []
        keys = ", ".join(repr(k) for k in list(data)[:8]) or "none"
        raise UsageError(f"{path}: not a COCO file: no {key!r} key (its keys: {keys})")
    value = data[key]
    if not isinstance(value, list):
        raise UsageError(f"{path}: not a COCO file: {key!r} must be an array, "
                         f"not {_json_type(value)}")
    return value


def _is_int(value: Any) -> bool:
    """An integer that fits the index's int64 arrays (JSON booleans are not integers)."""
    return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63


def _clean_text(text: str) -> tuple[str, bool]:
    """``text`` with undecodable bytes repaired (``caption_non_utf8`` in
    ``coco_data``'s doc), and whether it had any."""
    if text.isascii():
        return text, False
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        pass
    text = _SURROGATE_ESCAPES.sub(
        lambda m: m.group().encode("utf-8", "surrogateescape").decode("cp1252", "replace"), text)
    return _LONE_SURROGATE.sub("\ufffd", text), True


def _safe_file_name(name: str) -> bool:
    if not name or "\x00" in name or name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return False
    if ".." in re.split(r"[/\\]", name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
