"""Cards: picked records and rejects.json entries as the plain strings and numbers the template
shows, whatever shape their fields arrive in (what does not fit is counted as skipped)."""

from __future__ import annotations

from typing import Any

import mmsynth.preview as caps
from mmsynth.images import ImageProblem
from mmsynth.preview.figures import _positive, _thumbnail, figure
from mmsynth.preview.read import _clip_score
from mmsynth.preview.values import Skips, _json, _text


def _list_of_dicts(value: Any, what: str, skipped: Skips) -> list[dict[str, Any]]:
    """The dicts of a list field (at most MAX_ITEMS_SHOWN); the rest counted."""
    if value is None:
        return []
    if not isinstance(value, list):
        skipped[("field", f"{what} not a list")] += 1
        return []
    items = [v for v in value if isinstance(v, dict)]
    if len(items) < len(value):
        skipped[("field", f"{what} entry not an object")] += len(value) - len(items)
    if len(items) > caps.MAX_ITEMS_SHOWN:
        skipped[("field", f"{what} beyond the first {caps.MAX_ITEMS_SHOWN}")] += \
            len(items) - caps.MAX_ITEMS_SHOWN
    return items[:caps.MAX_ITEMS_SHOWN]


def _turns(value: Any, skipped: Skips) -> list[dict[str, str]]:
    turns = []
    for t in _list_of_dicts(value, "conversations", skipped):
        role = _text(t.get("from"), caps.MAX_LABEL)
        turns.append({"role": role, "css": role if role in ("human", "gpt") else "other",
                      "value": _text(t.get("value", ""))})
    return turns


def _qa(value: Any, skipped: Skips) -> list[dict[str, str]]:
    rows = []
    for item in _list_of_dicts(value, "qa", skipped):
        v = item.get("value")
        # A stated tolerance is what a grader accepts, whatever ``exact`` says of the value.
        exact = (f"± {_text(item['tolerance'], caps.MAX_LABEL)}"
                 if item.get("tolerance") is not None
                 else "exact" if item.get("exact") else "")
        rows.append({"question": _text(item.get("question", "")),
                     "answer": _text(item.get("answer", "")),
                     "value": f"{'' if v is None else _json(v, None, caps.MAX_TEXT_SHOWN)} "
                              f"{_text(item.get('unit') or '', caps.MAX_LABEL)}",
                     "exact": exact, "type": _text(item.get("type", ""), caps.MAX_LABEL)})
    return rows


def _diff(chosen: str, rejected: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Both texts as (segment, changed) runs of words, what differs between them marked."""
    import difflib
    import re

    a, b = re.findall(r"\S+\s*", chosen), re.findall(r"\S+\s*", rejected)
    left: list[tuple[str, bool]] = []
    right: list[tuple[str, bool]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append(("".join(a[i1:i2]), op != "equal"))
        if j2 > j1:
            right.append(("".join(b[j1:j2]), op != "equal"))
    return left, right


def _pairs(value: Any, skipped: Skips) -> list[dict[str, Any]]:
    """Preference pairs side by side: the question they answer, chosen and rejected with what
    differs marked, the kind and the check's reason."""
    rows = []
    for pair in _list_of_dicts(value, "preference", skipped):
        prompt = pair.get("prompt")
        question = prompt[-1].get("value", "") if isinstance(prompt, list) and prompt and \
            isinstance(prompt[-1], dict) else ""
        chosen = _text(pair.get("chosen", ""))
        rejected = _text(pair.get("rejected", ""))
        left, right = _diff(chosen, rejected)
        rows.append({"kind": _text(pair.get("kind", ""), caps.MAX_LABEL),
                     "reason": _text(pair.get("reason", ""), caps.MAX_LABEL),
                     "question": _text(question), "chosen": left, "rejected": right})
    return rows


def _provenance(meta: dict[str, Any]) -> list[tuple[str, str]]:
    shown = {}
    for key in ("source", "generator", "generator_version", "type", "seed", "index",
                "config_fingerprint", "image_id", "file_name", "attribution", "prompt"):
        if meta.get(key) not in (None, ""):
            shown[key] = meta[key]
    lic = meta.get("license")
    if lic:
        shown["license"] = lic.get("name") if isinstance(lic, dict) else lic
    llm = meta.get("llm")
    if isinstance(llm, dict):
        shown["llm"] = {k: llm[k] for k in ("backend", "model") if k in llm}
    if meta.get("grounding"):
        shown["grounding"] = meta["grounding"]
    return [(k, _text(v, 1000)) for k, v in shown.items()]


def _meta(record: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    meta = record.get("meta", {})
    if isinstance(meta, dict):
        return meta
    skipped[("field", "meta not an object")] += 1
    return {}


def _details(record: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    """What a record card and a reject card both show."""
    caption = record.get("caption")
    if caption is not None and not isinstance(caption, str):
        skipped[("field", "caption not a string")] += 1
        caption = None
    ann = record.get("annotations")
    objects = ann.get("objects") if isinstance(ann, dict) else None
    return {
        "caption": _text(caption) if caption else "",
        "turns": _turns(record.get("conversations"), skipped),
        "qa": _qa(record.get("qa"), skipped),
        "pairs": _pairs(record.get("preference"), skipped),
        "scene": _json(record["scene"]) if record.get("scene") else "",
        "annotations": _json(ann) if ann else "",
        "n_boxes": len(objects) if isinstance(objects, list) else 0,
    }


def record_view(record: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    """A record picked by :func:`pick` as the strings and numbers its card shows."""
    meta = _meta(record, skipped)
    card = {"id": _text(record.get("id", ""), 300), "figure": None, "noimage": "",
            "clip": _clip_score(meta), "provenance": _provenance(meta),
            **_details(record, skipped)}
    if record.get("_image"):
        width, height = record.get("_size") or (None, None)
        card["figure"] = figure(record["_image"], record["_ext"], record.get("annotations"),
                                width, height, card["id"], skipped, qa=record.get("qa"))
    else:
        problem = record.get("_image_problem")
        if problem is not None:
            skipped[("image", problem.reason)] += 1
        card["noimage"] = f"no image: {problem}" if problem else "no image"
    if card["clip"] is not None:
        card["clip"] = f"{card['clip']:.3f}"
    return card


def reject_view(entry: dict[str, Any], skipped: Skips) -> dict[str, Any]:
    """A rejects.json entry as the strings and numbers its card shows."""
    record = entry.get("record") or {}
    if not isinstance(record, dict):
        skipped[("reject", "record not an object")] += 1
        record = {}
    image = entry.get("image") or {}
    if not isinstance(image, dict):
        skipped[("reject", "image not an object")] += 1
        image = {}
    reason = _text(entry.get("reason", "?"), 500)
    meta = _meta(record, skipped)
    card = {"reason": reason, "index": _text(entry.get("index"), caps.MAX_LABEL),
            "id": _text(record.get("id", ""), 300), "detail": _text(entry.get("detail", "")),
            "reply": _text(meta.get("reply")) if meta.get("reply") else "",
            "figure": None, "noimage": "no image", **_details(record, skipped)}
    if "base64" in image:
        try:
            data, ext, size = _thumbnail(image)
        except ImageProblem as e:
            skipped[("image", e.reason)] += 1
            card["noimage"] = f"no image: {e}"
        else:
            # Boxes are in the original pixels: the entry's recorded size, else the thumbnail's.
            width = _positive(image.get("width")) or size[0]
            height = _positive(image.get("height")) or size[1]
            card["figure"] = figure(data, ext, record.get("annotations"), width, height, reason,
                                    skipped)
    elif image.get("error"):
        card["noimage"] = f"no image: {_text(image['error'], 500)}"
    return card

