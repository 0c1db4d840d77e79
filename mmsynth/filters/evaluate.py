"""Measure answer checks on a labelled dev set (``tests/coco/data/grounding_dev.yaml``).

A dev set holds annotation *sets* (the shipped sample photos, loaded from ``assets/coco_sample``
by file name, or hand-made COCO-style ``width``/``height``/``captions``/``objects``) and labelled
*items*: one answer each, with the set it is about, its LLaVA type and a label. Keep-kinds are
answers a careful human would keep (``correct``, ``implied_people``, ``generic_reference``,
``subset_count``); reject-kinds are answers that contradict the annotations (``absent_object``,
``wrong_count``, ``wrong_attribute``, ``wrong_relation``).

:func:`judge` runs one item through a list of stages as a one-sample batch; :func:`evaluate`
runs them all and reports, per kind, the kept share (keep-kinds) or the caught share
(reject-kinds), overall "correct kept" and "wrong caught", and the *shuffled-annotation test*:
every keep-kind answer judged against another set's annotations, which a check that reads the
annotations at all should mostly reject.

``python -m mmsynth.filters.evaluate [PATH] [--shuffled] [--misses]`` prints the figures as a
markdown table. This module imports no torch: it runs where the checks run.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmsynth.errors import UsageError
from mmsynth.filters.grounding import GroundingCheck
from mmsynth.filters.vocabulary import COCO_CATEGORIES
from mmsynth.resources import CHECKOUT_ROOT
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample

KEEP_KINDS = ("correct", "implied_people", "generic_reference", "subset_count")
REJECT_KINDS = ("absent_object", "wrong_count", "wrong_attribute", "wrong_relation")
LABELS = KEEP_KINDS + REJECT_KINDS
# The rejection reasons (see :func:`reason_kind`) that catch each reject-kind for its own
# reason: a wrong count rejected because the check misread an implied person as a hallucinated
# one is caught, but not by the count check.
REASONS_OF = {
    "absent_object": ("hallucinated_object",),
    "wrong_count": ("wrong_count", "unsupported_claim:number"),
    "wrong_attribute": ("unsupported_claim:colour", "unsupported_claim:gender",
                        "unsupported_claim:property", "unsupported_claim:time",
                        "unsupported_claim:weather"),
    "wrong_relation": ("unsupported_claim:relation",),
}
TYPES = ("conversation", "detail", "reasoning")

# The human turn of an item that gives none: a neutral request of its type, so that the question
# check has nothing to find in it.
DEFAULT_QUESTIONS = {
    "conversation": "What can you tell me about this image?",
    "detail": "Describe this image in detail.",
    "reasoning": "What does this scene suggest?",
}

SAMPLE_PREFIX = "sample:"
# The dev set lives with the tests (it is test data, not shipped): the default is found only in a
# source checkout (the one mmsynth.resources names); an installed wheel needs PATH.
DEFAULT_PATH = CHECKOUT_ROOT / "tests" / "coco" / "data" / "grounding_dev.yaml"

Stage = Callable[[list[Sample]], tuple[list[Sample], list[Rejection]]]

_SET_KEYS = {"width", "height", "captions", "objects"}
_ITEM_KEYS = {"set", "type", "question", "answer", "label", "note"}


@dataclass(frozen=True)
class DevItem:
    """One labelled answer; ``annotations`` are its set's, in ``Sample.annotations`` shape."""

    index: int
    set: str
    type: str
    answer: str
    label: str
    annotations: Mapping[str, Any] = field(repr=False)
    question: str | None = None
    note: str | None = None

    @property
    def keep(self) -> bool:
        """Whether a correct check keeps this answer."""
        return self.label in KEEP_KINDS


@dataclass(frozen=True)
class DevSet:
    """A loaded dev set: annotation sets by name, and the items in file order."""

    path: Path
    sets: Mapping[str, Mapping[str, Any]]
    items: tuple[DevItem, ...]

    def categories(self, name: str) -> frozenset[str]:
        """The annotated categories of set ``name``."""
        return frozenset(o["category"] for o in self.sets[name].get("objects") or ())


# ---------------------------------------------------------------------------------------------
# Loading


def load_devset(path: str | Path | None = None) -> DevSet:
    """Read and validate a dev set file (default: the repository's grounding dev set).

    Raises UsageError naming the file, the set or item and what is wrong: an unknown key, type
    or label, a category that is not COCO's, a box outside its image, an item naming a set that
    does not exist, a ``sample:`` file name the shipped sample lacks.
    """
    if path is None and not (CHECKOUT_ROOT / "pyproject.toml").is_file():
        raise UsageError("the default dev set is test data in a source checkout, and this mmsynth "
                         "is installed without one: give PATH (a dev set YAML)")
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = (" (the default one is test data in a source checkout: give PATH)"
                if path == DEFAULT_PATH else "")
        raise UsageError(f"dev set {path} does not exist{hint}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UsageError(f"dev set {path} cannot be read ({type(e).__name__}: "
                         f"{str(e)[:200]})") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise UsageError(f"{path}: expected a mapping with 'version: 1', 'sets' and 'items'")
    raw_sets, raw_items = data.get("sets"), data.get("items")
    if not isinstance(raw_sets, dict) or not raw_sets:
        raise UsageError(f"{path}: 'sets' must be a non-empty mapping of set name to annotations")
    if not isinstance(raw_items, list) or not raw_items:
        raise UsageError(f"{path}: 'items' must be a non-empty list")
    sets = {}
    for name, spec in raw_sets.items():
        where = f"{path}: set {name!r}"
        if not isinstance(name, str) or not name:
            raise UsageError(f"{path}: set names must be non-empty strings, got {name!r}")
        sets[name] = _sample_set(name, spec, where) if name.startswith(SAMPLE_PREFIX) \
            else _handmade_set(spec, where)
    items = [_item(i, raw, sets, f"{path}: item {i}") for i, raw in enumerate(raw_items)]
    return DevSet(path, sets, tuple(items))


def _sample_set(name: str, spec: Any, where: str) -> dict[str, Any]:
    if spec != {"from_sample": True}:
        raise UsageError(f"{where}: a 'sample:' set is written {{from_sample: true}}")
    file_name = name[len(SAMPLE_PREFIX):]
    images = _shipped_sample()
    if file_name not in images:
        raise UsageError(f"{where}: the shipped sample has no image {file_name!r} "
                         f"(it has {', '.join(sorted(images))})")
    return images[file_name]


_SAMPLE_CACHE: dict[str, dict[str, Any]] = {}


def _shipped_sample() -> dict[str, dict[str, Any]]:
    """The shipped sample's annotations by file name, read with the COCO source's own reader so
    that a set here is exactly what a generated sample carries."""
    if not _SAMPLE_CACHE:
        from mmsynth.sources.coco_data import (
            SAMPLE_ROOT,
            SAMPLE_SPLIT,
            load_coco,
            sample_annotations,
        )

        ann = SAMPLE_ROOT / "annotations"
        index = load_coco(ann / f"instances_{SAMPLE_SPLIT}.json",
                          ann / f"captions_{SAMPLE_SPLIT}.json", SAMPLE_ROOT / "images")
        for i in range(len(index)):
            record = index.record(i)
            _SAMPLE_CACHE[record.file_name] = sample_annotations(record)
    return copy.deepcopy(_SAMPLE_CACHE)


def _handmade_set(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise UsageError(f"{where}: expected a mapping with {sorted(_SET_KEYS)}")
    unknown = set(spec) - _SET_KEYS
    missing = _SET_KEYS - set(spec)
    if unknown or missing:
        raise UsageError(f"{where}: " + "; ".join(
            part for part in (unknown and f"unknown keys {sorted(unknown)}",
                              missing and f"missing keys {sorted(missing)}") if part))
    width, height = spec["width"], spec["height"]
    for key, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UsageError(f"{where}: {key} must be a positive integer, got {value!r}")
    captions = spec["captions"]
    if (not isinstance(captions, list) or not 3 <= len(captions) <= 5
            or not all(isinstance(c, str) and c.strip() for c in captions)):
        raise UsageError(f"{where}: captions must be a list of 3 to 5 non-empty strings")
    objects = spec["objects"]
    if not isinstance(objects, list) or not objects:
        raise UsageError(f"{where}: objects must be a non-empty list")
    out = []
    for k, obj in enumerate(objects):
        here = f"{where} object {k}"
        if not isinstance(obj, dict) or set(obj) - {"category", "bbox", "iscrowd"} \
                or not {"category", "bbox"} <= set(obj):
            raise UsageError(f"{here}: expected {{category, bbox, iscrowd}}, got {obj!r}")
        category = obj["category"]
        if category not in COCO_CATEGORIES:
            raise UsageError(f"{here}: {category!r} is not a COCO category")
        bbox = obj["bbox"]
        if (not isinstance(bbox, list) or len(bbox) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise UsageError(f"{here}: bbox must be [x, y, w, h] numbers, got {bbox!r}")
        x, y, w, h = bbox
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise UsageError(f"{here}: bbox {bbox} is empty or leaves the {width}x{height} image")
        crowd = obj.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise UsageError(f"{here}: iscrowd must be 0 or 1, got {crowd!r}")
        out.append({"category": category, "bbox": [float(v) for v in bbox], "iscrowd": int(crowd)})
    return {"objects": out, "captions": list(captions), "width": width, "height": height}


def _item(i: int, raw: Any, sets: Mapping[str, Any], where: str) -> DevItem:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: expected a mapping with set, type, answer, label")
    unknown = set(raw) - _ITEM_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(_ITEM_KEYS)})")
    for key in ("set", "type", "answer", "label"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise UsageError(f"{where}: {key!r} must be a non-empty string")
    for key in ("question", "note"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            raise UsageError(f"{where}: {key!r} must be a non-empty string when given")
    if raw["set"] not in sets:
        raise UsageError(f"{where}: set {raw['set']!r} is not defined under 'sets'")
    if raw["type"] not in TYPES:
        raise UsageError(f"{where}: type {raw['type']!r} is not one of {', '.join(TYPES)}")
    if raw["label"] not in LABELS:
        raise UsageError(f"{where}: label {raw['label']!r} is not one of {', '.join(LABELS)}")
    return DevItem(index=i, set=raw["set"], type=raw["type"], answer=raw["answer"].strip(),
                   label=raw["label"], annotations=sets[raw["set"]],
                   question=raw.get("question"), note=raw.get("note"))


# ---------------------------------------------------------------------------------------------
# Judging


def build_sample(item: DevItem, annotations: Mapping[str, Any] | None = None) -> Sample:
    """The sample a source would have made of ``item``: one human/gpt pair of the item's type,
    with its set's annotations (or ``annotations``, for the shuffled test)."""
    question = item.question or DEFAULT_QUESTIONS[item.type]
    return Sample(
        id=f"devset-{item.index:05d}", image=b"", image_ext="jpg",
        conversations=[{"from": "human", "value": f"{IMAGE_TOKEN}\n{question}"},
                       {"from": "gpt", "value": item.answer}],
        # A copy: stages may rewrite a sample, and one set's annotations serve many items.
        annotations=copy.deepcopy(dict(item.annotations if annotations is None else annotations)),
        meta={"type": item.type, "index": item.index})


def _run(item: DevItem, checks: Sequence[Stage], annotations: Mapping[str, Any] | None
         ) -> str | None:
    """The reason the stages rejected ``item``, or None when it came through."""
    samples = [build_sample(item, annotations)]
    for stage in checks:
        kept, rejected = stage(samples)
        if rejected:
            return rejected[0].reason
        if not kept:
            return f"dropped_by:{getattr(stage, 'name', type(stage).__name__)}"
        samples = list(kept)
    return None


def default_checks() -> list[Stage]:
    """The answer checks as the coco chain runs them by default: grounding, then claim support,
    both in reject mode."""
    from mmsynth.filters.claims import ClaimCheck

    return [GroundingCheck(mode="reject"), ClaimCheck(mode="reject")]


def judge(item: DevItem, checks: Sequence[Stage] | None = None,
          annotations: Mapping[str, Any] | None = None) -> bool:
    """Whether ``checks`` (stages ``stage(samples) -> (kept, rejected)``, run in order; default
    :func:`default_checks`) keep ``item``'s sample. ``annotations`` replace the item's set's."""
    return _run(item, default_checks() if checks is None else checks, annotations) is None


def shuffled_pairs(devset: DevSet) -> dict[str, str]:
    """A deterministic derangement of the sets: each set is paired with the next one in sorted
    order (wrapping round) whose annotated categories differ from its own. Sets that no other
    set differs from are left out."""
    names = sorted(devset.sets)
    pairs = {}
    for p, name in enumerate(names):
        mine = devset.categories(name)
        for step in range(1, len(names)):
            other = names[(p + step) % len(names)]
            if devset.categories(other) != mine:
                pairs[name] = other
                break
    return pairs


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def evaluate(devset: DevSet, checks: Sequence[Stage] | None = None, *,
             shuffled: bool = True) -> dict[str, Any]:
    """Run every item through ``checks`` (default :func:`default_checks`) and measure them.

    Returns ``kinds`` (per label: ``n``, ``kept``, ``rejected``, ``measure`` "kept" or
    ``caught``, and ``rate``: the kept share for keep-kinds, the caught share for reject-kinds;
    for reject-kinds also ``for_reason`` and ``for_reason_rate``, those caught by one of the
    label's own reasons, :data:`REASONS_OF`),
    ``by_type`` (per item type: ``correct_kept`` and ``wrong_caught``), overall
    ``correct_kept`` and ``wrong_caught``, ``reasons`` (rejection reasons by label),
    ``precision`` (of the rejected items, overall and per reason kind, the share labelled with a
    reject-kind: ``n``, ``wrong``, ``precision``, ``by_reason``), ``misses``
    (the misjudged items), and with ``shuffled`` the ``shuffled`` test (``n``, ``rejected``,
    ``rate``, ``pairs``) and its ``shuffled_rejected`` rate.
    """
    checks = default_checks() if checks is None else checks
    kinds = {label: Counter() for label in LABELS}
    types = {t: Counter() for t in TYPES}
    reasons: dict[str, Counter] = {label: Counter() for label in LABELS}
    misses = []
    for item in devset.items:
        reason = _run(item, checks, None)
        kept = reason is None
        kinds[item.label]["n"] += 1
        kinds[item.label]["kept" if kept else "rejected"] += 1
        side = "keep" if item.keep else "reject"
        types[item.type][f"{side}_n"] += 1
        types[item.type][f"{side}_right"] += kept == item.keep
        if reason:
            reasons[item.label][reason] += 1
            kinds[item.label]["for_reason"] += reason_kind(reason) in REASONS_OF.get(item.label,
                                                                                     ())
        if kept != item.keep:
            misses.append({"index": item.index, "set": item.set, "type": item.type,
                           "label": item.label, "reason": reason, "answer": item.answer})
    result: dict[str, Any] = {"path": str(devset.path), "items": len(devset.items), "kinds": {}}
    for label, c in kinds.items():
        keep = label in KEEP_KINDS
        result["kinds"][label] = {
            "n": c["n"], "kept": c["kept"], "rejected": c["rejected"],
            "measure": "kept" if keep else "caught",
            "rate": _rate(c["kept"] if keep else c["rejected"], c["n"])}
        if not keep:
            result["kinds"][label]["for_reason"] = c["for_reason"]
            result["kinds"][label]["for_reason_rate"] = _rate(c["for_reason"], c["n"])
    keep_n = sum(kinds[k]["n"] for k in KEEP_KINDS)
    reject_n = sum(kinds[k]["n"] for k in REJECT_KINDS)
    result["correct_kept"] = _rate(sum(kinds[k]["kept"] for k in KEEP_KINDS), keep_n)
    result["wrong_caught"] = _rate(sum(kinds[k]["rejected"] for k in REJECT_KINDS), reject_n)
    result["by_type"] = {t: {"keep_n": c["keep_n"], "reject_n": c["reject_n"],
                             "correct_kept": _rate(c["keep_right"], c["keep_n"]),
                             "wrong_caught": _rate(c["reject_right"], c["reject_n"])}
                         for t, c in types.items()}
    result["reasons"] = {label: dict(c) for label, c in reasons.items() if c}
    result["precision"] = _precision(reasons)
    result["misses"] = misses
    if shuffled:
        result["shuffled"] = shuffled_test(devset, checks)
        result["shuffled_rejected"] = result["shuffled"]["rate"]
    return result


def reason_kind(reason: str) -> str:
    """The family a rejection reason belongs to: ``hallucinated_object:dog`` →
    ``hallucinated_object``; a claim's kind stays (``unsupported_claim:colour``)."""
    head, _, rest = reason.partition(":")
    return f"{head}:{rest}" if head == "unsupported_claim" else head


def _precision(reasons: Mapping[str, Counter]) -> dict[str, Any]:
    """How often a rejection was right: of the items rejected (overall, and per reason kind),
    the share labelled with a reject-kind."""
    by_kind: dict[str, Counter] = {}
    for label, found in reasons.items():
        for reason, n in found.items():
            c = by_kind.setdefault(reason_kind(reason), Counter())
            c["n"] += n
            c["wrong"] += n if label in REJECT_KINDS else 0
    total = sum(c["n"] for c in by_kind.values())
    wrong = sum(c["wrong"] for c in by_kind.values())
    return {"n": total, "wrong": wrong, "precision": _rate(wrong, total),
            "by_reason": {k: {"n": c["n"], "wrong": c["wrong"],
                              "precision": _rate(c["wrong"], c["n"])}
                          for k, c in sorted(by_kind.items())}}


def shuffled_test(devset: DevSet, checks: Sequence[Stage] | None = None) -> dict[str, Any]:
    """Every keep-kind answer judged against its set's partner in :func:`shuffled_pairs`: the
    share rejected (a check that ignores the annotations rejects none)."""
    checks = default_checks() if checks is None else checks
    pairs = shuffled_pairs(devset)
    n = rejected = 0
    for item in devset.items:
        if not item.keep or item.set not in pairs:
            continue
        n += 1
        rejected += not judge(item, checks, devset.sets[pairs[item.set]])
    return {"n": n, "rejected": rejected, "rate": _rate(rejected, n), "pairs": pairs}


# ---------------------------------------------------------------------------------------------
# Report


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def markdown(result: Mapping[str, Any], *, shuffled: bool = False, misses: bool = False) -> str:
    """The figures of :func:`evaluate` as markdown tables."""
    lines = [f"Dev set `{result['path']}`: {result['items']} items.", "",
             "| kind | expected | items | kept | rejected | measure | rate "
             "| caught for its reason |",
             "|---|---|---:|---:|---:|---|---:|---:|"]
    for label, k in result["kinds"].items():
        expected = "keep" if label in KEEP_KINDS else "reject"
        own = _pct(k["for_reason_rate"]) if "for_reason_rate" in k else ""
        lines.append(f"| {label} | {expected} | {k['n']} | {k['kept']} | {k['rejected']} | "
                     f"{k['measure']} | {_pct(k['rate'])} | {own} |")
    lines.append(f"| **correct kept** | keep | | | | kept | **{_pct(result['correct_kept'])}** "
                 f"| |")
    lines.append(f"| **wrong caught** | reject | | | | caught | "
                 f"**{_pct(result['wrong_caught'])}** | |")
    lines += ["", "| type | keep items | correct kept | reject items | wrong caught |",
              "|---|---:|---:|---:|---:|"]
    for t, c in result["by_type"].items():
        lines.append(f"| {t} | {c['keep_n']} | {_pct(c['correct_kept'])} | {c['reject_n']} | "
                     f"{_pct(c['wrong_caught'])} |")
    if "precision" in result:
        p = result["precision"]
        lines += ["", "| rejection reason | items rejected | labelled wrong | precision |",
                  "|---|---:|---:|---:|"]
        for kind, c in p["by_reason"].items():
            lines.append(f"| {kind} | {c['n']} | {c['wrong']} | {_pct(c['precision'])} |")
        lines.append(f"| **all rejections** | {p['n']} | {p['wrong']} | "
                     f"**{_pct(p['precision'])}** |")
    if shuffled and "shuffled" in result:
        s = result["shuffled"]
        lines += ["", "| shuffled-annotation test | answers | rejected | rate |",
                  "|---|---:|---:|---:|",
                  f"| keep-kind answers on another set's annotations | {s['n']} | "
                  f"{s['rejected']} | **{_pct(s['rate'])}** |"]
    if misses:
        lines += ["", "| # | set | type | label | check said | answer |",
                  "|---:|---|---|---|---|---|"]
        for m in result["misses"]:
            answer = m["answer"].replace("|", "\\|")
            lines.append(f"| {m['index']} | {m['set']} | {m['type']} | {m['label']} | "
                         f"{m['reason'] or 'kept'} | {answer[:120]} |")
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mmsynth.filters.evaluate",
        description="Measure the grounding check on a labelled dev set; print markdown tables.")
    parser.add_argument("path", nargs="?", default=None,
                        help=f"the dev set YAML (default: {DEFAULT_PATH})")
    parser.add_argument("--shuffled", action="store_true",
                        help="also judge every keep-kind answer against another set's "
                             "annotations and report the rejected share")
    parser.add_argument("--misses", action="store_true", help="list the misjudged items")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        devset = load_devset(args.path)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = evaluate(devset, shuffled=args.shuffled)
    print(markdown(result, shuffled=args.shuffled, misses=args.misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
