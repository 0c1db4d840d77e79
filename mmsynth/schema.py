"""The shard ``json`` member's stable, typed schema (version 2; issue 20 item 1).

A reader that infers types from a few samples — Hugging Face ``datasets``' webdataset builder
reads the first five of the first tar and fixes every column's Arrow type from them — breaks on
a record whose fields differ from the next one's: a key seen later is dropped, a float after ints
is truncated, a value after five nulls or empty lists fails the run. So every record written
since version 2 has **the same keys with the same types, in the same order, whatever the source
or the sample**: any one record alone gives the whole schema (``tests/test_schema.py`` checks
that on real output of every source, and validates each record against
``mmsynth/sample.schema.json``).

The rules that make it so:

- **Typed** where every sample has a value of one type: ``id``, ``image``, ``conversations``
  (LLaVA's ``from``/``value`` turns, never empty), ``caption`` (``""`` when none), ``qa`` (never
  empty: a sample whose turns the LLM wrote lists them, ``origin: "llm"``), each QA item's
  ``question``, ``answer``, ``type``, ``origin``, ``exact``, ``unit``, ``difficulty``,
  ``rationale``, and ``meta``'s provenance (``license`` always ``{name, url}``).
- **JSON text** (``json.loads`` it) where the shape belongs to the sample: a QA item's ``value``
  (the exact answer: a number, a string, a list, an object; ``"null"`` when none) and ``details``
  (its other fields: tolerance, decimals, worked steps, regions, ...), ``scene`` (a renderer's
  parameters), ``annotations`` (a photo's boxes and captions), ``preference`` (the pairs) and
  ``meta.details`` (the rest of the provenance: the LLM, the checks' counts, ...). JSON text also
  keeps every float exact, which a typed Arrow float column after ints would not.
- The empty value of a typed slot (``""``, ``0``) means "none"; nothing is ever null.

:func:`encode` is lossless: :func:`decode` gives back the record mmsynth holds in memory
(:meth:`mmsynth.sample.Sample.to_json`), so mmsynth's own readers (the loader, exports, preview,
verify) see the natural nested record. A record without ``meta.schema_version`` (a run written
before version 2) is returned by :func:`decode` as it is.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_VERSION = 2
SCHEMA_FILE = "sample.schema.json"

# Typed slots with their empty values, in their fixed order. A value of the slot's type that is
# not the empty one is stored in the slot alone; anything else (absent, None, another type, the
# empty value itself) leaves the slot empty and keeps the original in ``details``, so decoding is
# exact. ``exact`` is a bool slot that every item must fill (encode refuses one without it).
QA_SLOTS: dict[str, Any] = {"question": "", "answer": "", "type": "", "origin": "",
                            "exact": False, "value": "null", "unit": "", "difficulty": 0,
                            "rationale": "", "details": "{}"}
META_SLOTS: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "source": "", "generator": "",
                              "generator_version": "", "mmsynth_version": "",
                              "config_fingerprint": "", "seed": 0, "index": 0,
                              "license": {"name": "", "url": ""}, "attribution": "",
                              "box_format": "", "details": "{}"}
RECORD_KEYS = ("id", "image", "conversations", "caption", "qa", "scene", "annotations",
               "preference", "meta")
# Where an item's origin is not "llm": computed from what the source drew or was given.
ORIGINS = {"coco": "annotations"}
DEFAULT_ORIGIN = "scene"
LLM_ORIGIN = "llm"


def dumps(value: Any) -> str:
    """JSON text as the shards hold it (compact, UTF-8 kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Slots every record has a real value for, its empty one included (a sample's seed and index
# can be 0): any value of the slot's type is stored in the slot, and a missing one reads back as
# the empty value, as ``exact`` does.
ALWAYS = ("exact", "seed", "index")


def _fits(value: Any, empty: Any, name: str = "") -> bool:
    if isinstance(empty, bool):
        return isinstance(value, bool)
    if type(value) is not type(empty):
        return False
    return name in ALWAYS or value != empty


def _slots(item: dict[str, Any], slots: dict[str, Any], skip: tuple[str, ...]
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed slots, the leftovers for ``details``) of one mapping."""
    typed = {k: (item[k] if k in item and _fits(item[k], empty, k) else empty)
             for k, empty in slots.items() if k not in skip}
    rest = {k: v for k, v in item.items()
            if k in skip or k not in slots or not _fits(v, slots[k], k)}
    return typed, rest


def _encode_item(item: dict[str, Any], origin: str, strict: bool = True) -> dict[str, Any]:
    if strict and not isinstance(item.get("exact"), bool):
        # Every producer says it (the typed column would otherwise read False for an exact one).
        raise ValueError(f"QA item of type {item.get('type')!r} does not say whether its answer "
                         "is exact")
    typed, rest = _slots(item, QA_SLOTS, ("origin", "value", "details"))
    value = rest.pop("value", None)
    if "value" in item and value is None:
        rest["value"] = None  # an explicit null, told apart from no value
    out = {k: typed[k] for k in ("question", "answer", "type")}
    out["origin"] = origin
    out["exact"] = typed["exact"]
    out["value"] = dumps(value)
    out.update({k: typed[k] for k in ("unit", "difficulty", "rationale")})
    out["details"] = dumps(rest)
    return out


def _llm_items(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A sample whose answers the LLM wrote (no computed QA): its question–answer turns."""
    from mmsynth.sample import without_image_token

    turns = record.get("conversations") or []
    kind = (record.get("meta") or {}).get("type")
    kind = kind if isinstance(kind, str) and kind else "conversation"
    return [{"question": without_image_token(turns[i]["value"]),
             "answer": turns[i + 1]["value"], "type": kind, "exact": False}
            for i in range(0, len(turns) - 1, 2)]


def _license(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {"name": value, "url": ""}
    if isinstance(value, dict):
        return {k: value[k] if isinstance(value.get(k), str) else "" for k in ("name", "url")}
    return {"name": "", "url": ""}


def _encode_meta(meta: dict[str, Any]) -> dict[str, Any]:
    typed, rest = _slots(meta, META_SLOTS, ("schema_version", "license", "details"))
    rest.pop("schema_version", None)
    licence = _license(meta.get("license"))
    if "license" in meta and meta["license"] == licence:
        rest.pop("license")
    out = {"schema_version": SCHEMA_VERSION}
    out.update({k: typed[k] for k in ("source", "generator", "generator_version",
                                      "mmsynth_version", "config_fingerprint", "seed",
                                      "index")})
    out["license"] = licence
    out.update({k: typed[k] for k in ("attribution", "box_format")})
    out["details"] = dumps(rest)
    return out


def encode(record: dict[str, Any], strict: bool = True) -> dict[str, Any]:
    """The shard form (version 2) of a sample's record (:meth:`Sample.to_json`). ``strict``
    (writing shards): a QA item must say whether it is exact; off for records read back from
    shards written before version 2, whose text answers did not (they read as not exact)."""
    turns = record.get("conversations") or []
    if strict and len(turns) < 2:
        raise ValueError(f"sample {record.get('id')!r} has no question and answer to store")
    meta = record.get("meta") or {}
    origin = ORIGINS.get(meta.get("source"), DEFAULT_ORIGIN)
    qa = [_encode_item(item, origin, strict) for item in record.get("qa") or []
          if strict or isinstance(item, dict)]
    if not qa:
        qa = [_encode_item(item, LLM_ORIGIN) for item in _llm_items(record)]
    caption = record.get("caption")
    return {
        "id": record["id"],
        "image": record["image"] if strict else str(record.get("image", "")),
        "conversations": [{"from": t["from"] if strict else str(t.get("from", "")),
                           "value": t["value"]} for t in turns],
        "caption": caption if isinstance(caption, str) else "",
        "qa": qa,
        "scene": dumps(record.get("scene")),
        "annotations": dumps(record.get("annotations")),
        "preference": dumps(record.get("preference") or []),
        "meta": _encode_meta(meta),
    }


def is_encoded(record: dict[str, Any]) -> bool:
    meta = record.get("meta")
    return isinstance(meta, dict) and meta.get("schema_version") == SCHEMA_VERSION


def _decode_item(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: item[k] for k in ("question", "answer", "type", "exact")}
    out.update({k: item[k] for k in ("unit", "difficulty", "rationale")
                if _fits(item[k], QA_SLOTS[k], k)})
    value = json.loads(item["value"])
    if value is not None:
        out["value"] = value
    out.update(json.loads(item["details"]))
    return out


def _decode_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = {k: meta[k] for k in ("source", "generator", "generator_version", "mmsynth_version",
                                "config_fingerprint", "seed", "index", "attribution",
                                "box_format") if _fits(meta[k], META_SLOTS[k], k)}
    details = json.loads(meta["details"])
    if "license" not in details and meta["license"] != META_SLOTS["license"]:
        out["license"] = meta["license"]
    out.update(details)
    return out


def decode(record: dict[str, Any]) -> dict[str, Any]:
    """The in-memory record of a shard's ``json`` member (:func:`encode` undone); a record
    written before version 2 is returned as it is. Raises ValueError (or KeyError / TypeError)
    on a version-2 record that is not well formed."""
    if not is_encoded(record):
        return record
    out: dict[str, Any] = {"id": record["id"], "image": record["image"],
                           "conversations": record["conversations"]}
    qa = [_decode_item(i) for i in record["qa"] if i["origin"] != LLM_ORIGIN]
    for name, value in (("qa", qa), ("scene", json.loads(record["scene"])),
                        ("annotations", json.loads(record["annotations"])),
                        ("caption", record["caption"]),
                        ("preference", json.loads(record["preference"]))):
        if value:
            out[name] = value
    out["meta"] = _decode_meta(record["meta"])
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a version-2 record (``mmsynth/sample.schema.json``)."""
    from importlib.resources import files

    return json.loads(files("mmsynth").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


# The typed record as plain types ("string", "int64", "bool"; a dict is a struct, a one-item list
# a list of it), in the order encode writes: the one description the datasets features, the run
# card's YAML and the tests' check of sample.schema.json are made from.
_QA_TYPES = {"question": "string", "answer": "string", "type": "string", "origin": "string",
             "exact": "bool", "value": "string", "unit": "string", "difficulty": "int64",
             "rationale": "string", "details": "string"}
_META_TYPES = {"schema_version": "int64", "source": "string", "generator": "string",
               "generator_version": "string", "mmsynth_version": "string",
               "config_fingerprint": "string", "seed": "int64", "index": "int64",
               "license": {"name": "string", "url": "string"}, "attribution": "string",
               "box_format": "string", "details": "string"}
TYPES: dict[str, Any] = {
    "id": "string", "image": "string",
    "conversations": [{"from": "string", "value": "string"}],
    "caption": "string", "qa": [_QA_TYPES],
    "scene": "string", "annotations": "string", "preference": "string",
    "meta": _META_TYPES,
}


def _feature(spec: Any) -> Any:
    from datasets import List, Value

    if isinstance(spec, dict):
        return {k: _feature(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return List(_feature(spec[0]))
    return Value(spec)


def json_features() -> Any:
    """The ``datasets`` feature of the ``json`` member: the typed record as an Arrow struct.
    Any datasets version reads it, 4.0 included (it needs no ``Json`` feature)."""
    return _feature(TYPES)


def yaml_lines(name: str, spec: Any = None, indent: str = "") -> list[str]:
    """The feature ``name`` in a dataset card's ``dataset_info.features`` YAML (datasets'
    own layout: ``dtype``, ``struct``, ``list``), without importing datasets."""
    spec = TYPES if spec is None else spec
    head = f"{indent}- name: {name}"
    if isinstance(spec, dict):
        return [head, f"{indent}  struct:"] + [
            line for k, v in spec.items() for line in yaml_lines(k, v, indent + "  ")]
    if isinstance(spec, list):
        item = spec[0]
        if isinstance(item, dict):
            return [head, f"{indent}  list:"] + [
                line for k, v in item.items() for line in yaml_lines(k, v, indent + "  ")]
        return [head, f"{indent}  list: {item}"]
    return [head, f"{indent}  dtype: {spec}"]


def hf_features(images: tuple[str, ...] = ("png", "jpg")) -> Any:
    """``datasets.Features`` of a whole shard sample for ``load_dataset("webdataset", ...,
    features=...)``: the image members (both kinds by default, so png renders and jpg photos
    load together: without it datasets keeps only the image kind its first five samples have),
    the typed ``json`` record, the ``txt`` caption and the webdataset keys."""
    from datasets import Features, Image, Value

    return Features({**{ext: Image() for ext in images}, "json": json_features(),
                     "txt": Value("string"), "__key__": Value("string"),
                     "__url__": Value("string")})
