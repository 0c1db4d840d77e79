"""COCO-format data for the ``coco`` source: annotation files joined per image, image files
decoded defensively, and the text an LLM is shown in place of the pixels. No model code here.

``resolve_paths`` turns the user's options into files (a ``--coco_root`` laid out as COCO
distributes it, explicit files, or by default the sample shipped in ``assets/coco_sample``);
``load_coco`` reads ``instances_*.json`` and/or ``captions_*.json`` into a compact ``CocoIndex``
sorted by image id; ``index.record(i)`` is one image as a plain ``CocoImage``; ``context(image)``
is LLaVA's text stand-in for the image and ``sample_annotations(image)`` the dict a sample carries;
``load_image`` returns RGB pixels and the JPEG to store.

Bad input is handled one of two ways. A file that cannot be used at all (missing, not JSON, not
COCO-shaped) raises ``UsageError`` naming the file (and, for JSON syntax, the line and column).
Bad records inside a usable file are skipped or repaired and counted in ``index.problems``, a
``Counter`` of short reasons:

- ``image_malformed``: an ``images`` entry without an integer id, a file name, a size > 0
- ``image_bad_file_name``: a file name that is absolute, climbs out with ``..``, or is not UTF-8
- ``image_duplicate_id``: an image id seen before in the same file (the first is kept)
- ``license_malformed``: a ``licenses`` entry without an integer id (ignored)
- ``license_unknown``: an image's ``license`` id is not in ``licenses`` (its licence is None)
- ``category_duplicate_id``: a category id seen before (the first is kept)
- ``annotation_malformed``: an annotation that is neither a box nor a caption record
- ``annotation_unknown_image``: a box whose ``image_id`` is not among the images (skipped)
- ``annotation_unknown_category``: a box whose ``category_id`` is not a category (skipped)
- ``box_malformed``: ``bbox`` is not four finite numbers (skipped)
- ``box_dropped``: width or height ≤ 0, or nothing left inside the image (skipped)
- ``box_clipped``: a box reaching more than half a pixel outside the image (clipped; sub-pixel
  overshoot, common in COCO from rounding, is clipped without being counted)
- ``caption_unknown_image``: a caption whose ``image_id`` is not among the images (skipped)
- ``caption_malformed``: a caption that is not a string (skipped)
- ``caption_empty``: a caption with no text once whitespace is collapsed (skipped)
- ``caption_non_utf8``: a caption holding bytes that are not UTF-8. Files are decoded with
  ``surrogateescape`` so one bad byte does not cost the file; such a caption is kept, each run
  of bad bytes decoded as Windows-1252 (what they nearly always are: "café" saved as Latin-1),
  and a lone surrogate from a ``\\ud800`` escape becomes U+FFFD, so every kept string encodes.
- ``image_no_context``: an image with neither captions nor boxes. It stays in the index (so
  positions are stable); the source should reject it (``CocoImage.has_context``).

``index.report()`` sorts these into the records the reader *dropped* and those it *repaired*
and kept (``image_no_context`` is in neither: the source rejects such images one by one), for
the run's summary, stats.json and dataset card.

``load_image`` refuses, each with its own ``ImageError``, a file whose decoded width or height
is under ``min_side`` (``ImageTooSmall``) and, given the images folder as ``root``, a file whose
real path leaves it through a symbolic link (``SymlinkOutsideImages``; file names that climb out
with ``..`` never get this far: they are ``image_bad_file_name``).

Memory: COCO train2017's size (118k images, 860k boxes with polygons, 592k captions; ~530 MB of
JSON) loads with a peak of about 0.85 GB where a plain ``json.load`` of the same files peaks at
2.7 GB, because the parser's object hook turns each annotation into a small tuple as soon as it
is parsed, dropping its segmentation polygons (which the index never uses) before the next one is
built. The peak is then the file's bytes plus its decoded text. The index itself (~125 MB) keeps
boxes in numpy arrays indexed by image (CSR offsets), captions as one string per image, and none
of the parsed JSON. ``bench/bench_coco_load.py`` measures this against ``json.load``.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mmsynth.errors import UsageError
from mmsynth.resources import data_path

# assets/coco_sample of the checkout, or the copy the wheel ships (mmsynth.resources says which).
SAMPLE_ROOT = data_path("assets", "coco_sample")
SAMPLE_SPLIT = "sample"
DEFAULT_SPLIT = "train2017"

# How the CLI spells the options that resolve_paths takes, for error messages.
OPTION_NAMES = {"coco_root": "--coco_root", "instances": "--instances",
                "captions": "--captions", "images": "--images", "split": "--split"}

# COCO 2017's 80 detection categories: (id, name, supercategory), as in instances_*2017.json.
COCO_CATEGORIES: tuple[tuple[int, str, str], ...] = (
    (1, "person", "person"), (2, "bicycle", "vehicle"), (3, "car", "vehicle"),
    (4, "motorcycle", "vehicle"), (5, "airplane", "vehicle"), (6, "bus", "vehicle"),
    (7, "train", "vehicle"), (8, "truck", "vehicle"), (9, "boat", "vehicle"),
    (10, "traffic light", "outdoor"), (11, "fire hydrant", "outdoor"),
    (13, "stop sign", "outdoor"), (14, "parking meter", "outdoor"), (15, "bench", "outdoor"),
    (16, "bird", "animal"), (17, "cat", "animal"), (18, "dog", "animal"),
    (19, "horse", "animal"), (20, "sheep", "animal"), (21, "cow", "animal"),
    (22, "elephant", "animal"), (23, "bear", "animal"), (24, "zebra", "animal"),
    (25, "giraffe", "animal"), (27, "backpack", "accessory"), (28, "umbrella", "accessory"),
    (31, "handbag", "accessory"), (32, "tie", "accessory"), (33, "suitcase", "accessory"),
    (34, "frisbee", "sports"), (35, "skis", "sports"), (36, "snowboard", "sports"),
    (37, "sports ball", "sports"), (38, "kite", "sports"), (39, "baseball bat", "sports"),
    (40, "baseball glove", "sports"), (41, "skateboard", "sports"), (42, "surfboard", "sports"),
    (43, "tennis racket", "sports"), (44, "bottle", "kitchen"), (46, "wine glass", "kitchen"),
    (47, "cup", "kitchen"), (48, "fork", "kitchen"), (49, "knife", "kitchen"),
    (50, "spoon", "kitchen"), (51, "bowl", "kitchen"), (52, "banana", "food"),
    (53, "apple", "food"), (54, "sandwich", "food"), (55, "orange", "food"),
    (56, "broccoli", "food"), (57, "carrot", "food"), (58, "hot dog", "food"),
    (59, "pizza", "food"), (60, "donut", "food"), (61, "cake", "food"),
    (62, "chair", "furniture"), (63, "couch", "furniture"), (64, "potted plant", "furniture"),
    (65, "bed", "furniture"), (67, "dining table", "furniture"), (70, "toilet", "furniture"),
    (72, "tv", "electronic"), (73, "laptop", "electronic"), (74, "mouse", "electronic"),
    (75, "remote", "electronic"), (76, "keyboard", "electronic"),
    (77, "cell phone", "electronic"), (78, "microwave", "appliance"), (79, "oven", "appliance"),
    (80, "toaster", "appliance"), (81, "sink", "appliance"), (82, "refrigerator", "appliance"),
    (84, "book", "indoor"), (85, "clock", "indoor"), (86, "vase", "indoor"),
    (87, "scissors", "indoor"), (88, "teddy bear", "indoor"), (89, "hair drier", "indoor"),
    (90, "toothbrush", "indoor"),
)

CLIP_TOLERANCE = 0.5  # pixels a box may overshoot the image before its clipping is counted

# load_coco's problems that leave the record in the index, changed; all others but
# image_no_context (an image kept, rejected later by the source) drop the record.
REPAIRED_PROBLEMS = frozenset({"box_clipped", "caption_non_utf8", "license_unknown"})
_NOT_REPORTED = frozenset({"image_no_context"})


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class CocoObject:
    """One annotated box. ``bbox_xywh`` is COCO's [x, y, width, height] in pixels (clipped to the
    image); ``bbox_xyxy_norm`` is (x1, y1, x2, y2) divided by the image width and height, x1, y1
    the top-left corner. ``area`` is COCO's (the segmentation's area), at most the box's."""

    category: str
    category_id: int
    bbox_xyxy_norm: tuple[float, float, float, float]
    bbox_xywh: list[float]
    iscrowd: bool
    area: float


@dataclass
class CocoImage:
    """One image with everything the annotation files say about it."""

    id: int
    file_name: str
    path: Path
    width: int
    height: int
    license: dict[str, Any] | None  # {"id", "name", "url"} from the file's ``licenses``
    captions: list[str]
    objects: list[CocoObject]
    attribution: str | None = None  # the image record's ``attribution`` (not standard COCO)
    url: str | None = None  # ``flickr_url`` or ``coco_url`` when given

    @property
    def has_context(self) -> bool:
        return bool(self.captions or self.objects)


class CocoPaths(NamedTuple):
    instances: Path | None
    captions: Path | None
    images: Path


# ---------------------------------------------------------------------------------------------
# Locating the files


def shipped_sample_root() -> Path:
    """The COCO sample shipped with mmsynth (``assets/coco_sample``, inside the wheel too)."""
    if (SAMPLE_ROOT / "annotations" / f"instances_{SAMPLE_SPLIT}.json").is_file():
        return SAMPLE_ROOT
    raise UsageError(
        f"the shipped COCO sample is not at {SAMPLE_ROOT}: this install of mmsynth lacks its "
        f"data (reinstall it), or give {OPTION_NAMES['coco_root']}"
    )


def resolve_paths(coco_root: str | Path | None = None, instances: str | Path | None = None,
                  captions: str | Path | None = None, images: str | Path | None = None,
                  split: str | None = None) -> CocoPaths:
    """The annotation files and image folder to read.

    With ``coco_root``: ``annotations/instances_{split}.json``, ``annotations/captions_{split}
    .json`` (either may be absent, not both) and images in ``{split}/`` (or ``images/{split}/``
    or ``images/``). ``split`` defaults to train2017, falling back to the shipped sample's names
    (``*_sample.json``, ``images/``) when the root has no train2017 files. Explicit ``instances``,
    ``captions`` and ``images`` override what the root would give. With nothing given: the sample
    shipped in ``assets/coco_sample``. Raises UsageError naming the missing path.
    """
    if coco_root is None and instances is None and captions is None:
        if images is not None:
            raise UsageError(f"{OPTION_NAMES['images']} needs {OPTION_NAMES['coco_root']} or an "
                             f"annotation file ({OPTION_NAMES['instances']}, "
                             f"{OPTION_NAMES['captions']})")
        coco_root = shipped_sample_root()
    instances = Path(instances).expanduser() if instances is not None else None
    captions = Path(captions).expanduser() if captions is not None else None
    images = Path(images).expanduser() if images is not None else None
    splits = [split] if split else [DEFAULT_SPLIT, SAMPLE_SPLIT]

    if coco_root is not None:
        root = Path(coco_root).expanduser()
        if not root.is_dir():
            raise UsageError(f"{OPTION_NAMES['coco_root']} {root} is not a directory")
        ann_dir = root / "annotations"
        chosen = None
        for name in splits:
            kinds = ("instances", "captions")
            if any((ann_dir / f"{kind}_{name}.json").is_file() for kind in kinds):
                chosen = name
                break
        if chosen is not None:
            if instances is None and (ann_dir / f"instances_{chosen}.json").is_file():
                instances = ann_dir / f"instances_{chosen}.json"
            if captions is None and (ann_dir / f"captions_{chosen}.json").is_file():
                captions = ann_dir / f"captions_{chosen}.json"
        elif instances is None and captions is None:
            present = sorted(p.name for p in ann_dir.glob("*.json")) if ann_dir.is_dir() else []
            wanted = " or ".join(f"{k}_{s}.json" for s in splits for k in ("instances", "captions"))
            hint = f"; it has {', '.join(present)} (choose with {OPTION_NAMES['split']})" \
                if present else ""
            raise UsageError(f"{ann_dir} has no {wanted}{hint}")
        if images is None:
            images = _find_images_dir(root, chosen or splits[0])
    elif images is None:
        ann_file = instances if instances is not None else captions
        assert ann_file is not None
        base = ann_file.parent.parent if ann_file.parent.name == "annotations" else ann_file.parent
        images = _find_images_dir(base, splits[0], required=False)
        if images is None:
            raise UsageError(f"cannot tell where the images for {ann_file} are: give "
                             f"{OPTION_NAMES['images']}")

    for label, path in (("instances", instances), ("captions", captions)):
        if path is not None and not path.is_file():
            what = "is a directory, not a file" if path.is_dir() else "does not exist"
            raise UsageError(f"{OPTION_NAMES[label]} {path} {what}")
    if not images.is_dir():
        raise UsageError(f"{OPTION_NAMES['images']} {images} is not a directory")
    return CocoPaths(instances, captions, images)


def _find_images_dir(base: Path, split: str, required: bool = True) -> Path | None:
    candidates = [base / split, base / "images" / split, base / "images"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if not required:
        return None
    raise UsageError(f"no image folder under {base} (looked for "
                     f"{', '.join(str(c.relative_to(base)) + '/' for c in candidates)}); give "
                     f"{OPTION_NAMES['images']}")


# ---------------------------------------------------------------------------------------------
# Reading the JSON

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
    """``text`` with undecodable bytes repaired (see the module doc), and whether it had any."""
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


# ---------------------------------------------------------------------------------------------
# The index


@dataclass(eq=False)
class CocoIndex:
    """Images sorted by id, with their boxes and captions, held compactly (see the module doc).

    ``len(index)`` images; ``index.record(i)`` builds the i-th as a ``CocoImage``;
    ``index.position(image_id)`` finds one by COCO id; ``index.problems`` counts what was
    skipped or repaired while loading; ``index.sources`` names the files read.
    """

    images_dir: Path
    ids: np.ndarray  # int64, sorted
    widths: np.ndarray  # int32
    heights: np.ndarray  # int32
    file_names: list[str]
    license_ids: np.ndarray  # int64 licence id per image, -1 for none
    licenses: dict[int, dict[str, Any]]
    categories: list[tuple[int, str, str]]  # (id, name, supercategory) in file order
    box_offsets: np.ndarray  # int64, len n + 1: image i's boxes are rows [off[i], off[i+1])
    box_category: np.ndarray  # int32 index into categories
    box_xywh: np.ndarray  # float64 (m, 4), clipped to the image
    box_area: np.ndarray  # float64
    box_crowd: np.ndarray  # bool
    captions: list[str | None]  # per image: its captions joined by "\n", or None
    extras: dict[int, tuple[str | None, str | None]]  # position -> (attribution, url)
    problems: Counter = field(default_factory=Counter)
    sources: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._position = {int(image_id): i for i, image_id in enumerate(self.ids.tolist())}

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[CocoImage]:
        return (self.record(i) for i in range(len(self)))

    def report(self) -> dict[str, dict[str, int]]:
        """``problems`` as the records the reader dropped and those it repaired (see the module
        doc): ``{"dropped": {reason: n}, "repaired": {reason: n}}``, empty groups left out."""
        groups: dict[str, dict[str, int]] = {}
        for reason, count in sorted(self.problems.items()):
            if count and reason not in _NOT_REPORTED:
                group = "repaired" if reason in REPAIRED_PROBLEMS else "dropped"
                groups.setdefault(group, {})[reason] = int(count)
        return groups

    def position(self, image_id: int) -> int:
        """The index of the image whose COCO id is ``image_id`` (KeyError if none)."""
        return self._position[image_id]

    @property
    def num_boxes(self) -> np.ndarray:
        return np.diff(self.box_offsets)

    @property
    def has_context(self) -> np.ndarray:
        """Per image: whether it has any caption or box (what an LLM could be told)."""
        with_captions = np.fromiter((c is not None for c in self.captions), bool, len(self))
        return with_captions | (self.num_boxes > 0)

    def record(self, i: int) -> CocoImage:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"image {i} out of range: the index has {n}")
        i %= n
        width, height = int(self.widths[i]), int(self.heights[i])
        objects = []
        lo, hi = int(self.box_offsets[i]), int(self.box_offsets[i + 1])
        for row in range(lo, hi):
            x, y, w, h = (float(v) for v in self.box_xywh[row])
            cat_id, name, _ = self.categories[int(self.box_category[row])]
            objects.append(CocoObject(
                category=name, category_id=cat_id,
                bbox_xyxy_norm=(x / width, y / height, (x + w) / width, (y + h) / height),
                bbox_xywh=[x, y, w, h], iscrowd=bool(self.box_crowd[row]),
                area=float(self.box_area[row])))
        joined = self.captions[i]
        license = self.licenses.get(int(self.license_ids[i]))
        attribution, url = self.extras.get(i, (None, None))
        return CocoImage(
            id=int(self.ids[i]), file_name=self.file_names[i],
            path=self.images_dir / self.file_names[i], width=width, height=height,
            license=dict(license) if license is not None else None,
            captions=joined.split("\n") if joined is not None else [], objects=objects,
            attribution=attribution, url=url)


def load_coco(instances: str | Path | None, captions: str | Path | None,
              images_dir: str | Path) -> CocoIndex:
    """Read the annotation files (either may be None, not both) into a ``CocoIndex``.

    Images are the union of both files' ``images`` (the instances file's record wins when an id
    is in both), sorted by id. Raises UsageError for a file that is unusable as a whole.
    """
    if instances is None and captions is None:
        raise UsageError("give a COCO instances file, a captions file, or both")
    problems: Counter = Counter()
    image_rows: dict[int, tuple] = {}
    licenses: dict[int, dict[str, Any]] = {}
    categories: list[tuple[int, str, str]] = []
    category_index: dict[int, int] = {}
    pending: list[list] = []  # each file's annotations, compacted by the object hook

    for kind, path in (("instances", instances), ("captions", captions)):
        if path is None:
            continue
        path = Path(path)
        data = _read_json(path)
        file_images = _require_list(data, "images", path)
        annotations = _require_list(data, "annotations", path)
        if kind == "instances":
            for n, cat in enumerate(_require_list(data, "categories", path,
                                                  required=bool(annotations))):
                if not (isinstance(cat, dict) and _is_int(cat.get("id"))
                        and isinstance(cat.get("name"), str) and cat["name"].strip()):
                    raise UsageError(f"{path}: categories[{n}] needs an integer 'id' and a "
                                     "non-empty string 'name'")
                if cat["id"] in category_index:
                    problems["category_duplicate_id"] += 1
                    continue
                category_index[cat["id"]] = len(categories)
                name, _ = _clean_text(" ".join(cat["name"].split()))
                supercategory = cat.get("supercategory")
                categories.append((cat["id"], name,
                                   supercategory if isinstance(supercategory, str) else ""))
        for entry in _require_list(data, "licenses", path, required=False):
            if isinstance(entry, dict) and _is_int(entry.get("id")):
                licenses.setdefault(entry["id"], {
                    "id": entry["id"],
                    "name": _clean_text(str(entry.get("name", "")))[0],
                    "url": _clean_text(str(entry.get("url", "")))[0]})
            else:
                problems["license_malformed"] += 1
        _collect_images(file_images, image_rows, problems)
        del data, file_images
        pending.append(annotations)

    # Positions: images sorted by id.
    ids = np.array(sorted(image_rows), dtype=np.int64)
    position = {int(image_id): i for i, image_id in enumerate(ids.tolist())}
    n = len(ids)
    widths = np.empty(n, np.int32)
    heights = np.empty(n, np.int32)
    license_ids = np.full(n, -1, np.int64)
    file_names: list[str] = [""] * n
    extras: dict[int, tuple[str | None, str | None]] = {}
    for i, image_id in enumerate(ids.tolist()):
        file_name, width, height, license_id, attribution, url = image_rows[image_id]
        widths[i], heights[i], file_names[i] = width, height, file_name
        if license_id is not None:
            if license_id in licenses:
                license_ids[i] = license_id
            else:
                problems["license_unknown"] += 1
        if attribution is not None or url is not None:
            extras[i] = (attribution, url)
    del image_rows

    box_image = array("q")
    box_category = array("i")
    box_xywh = array("d")
    box_area = array("d")
    box_crowd = array("b")
    caption_image = array("q")
    caption_text: list[str] = []
    nan = float("nan")
    for annotations in pending:
        for ann in annotations:
            if type(ann) is not tuple:
                problems["annotation_malformed"] += 1
                continue
            try:
                i = position.get(ann[1])
            except TypeError:  # an unhashable image_id
                i = None
            if ann[0] == _BOX:
                _, _, category_id, bbox, area, crowd = ann
                if i is None:
                    problems["annotation_unknown_image"] += 1
                    continue
                try:
                    c = category_index.get(category_id)
                except TypeError:
                    c = None
                if c is None:
                    problems["annotation_unknown_category"] += 1
                    continue
                if type(bbox) is not list or len(bbox) != 4:
                    problems["box_malformed"] += 1
                    continue
                try:
                    box_xywh.extend(array("d", bbox))  # TypeError unless four numbers
                except TypeError:
                    problems["box_malformed"] += 1
                    continue
                try:
                    box_area.append(area)
                except TypeError:
                    box_area.append(nan)
                box_image.append(i)
                box_category.append(c)
                box_crowd.append(1 if crowd == 1 else 0)
            else:
                text = ann[2]
                if i is None:
                    problems["caption_unknown_image"] += 1
                    continue
                if type(text) is not str:
                    problems["caption_malformed"] += 1
                    continue
                text = " ".join(text.split())
                if not text:
                    problems["caption_empty"] += 1
                    continue
                text, repaired = _clean_text(text)
                if repaired:
                    problems["caption_non_utf8"] += 1
                caption_image.append(i)
                caption_text.append(text)
        annotations.clear()  # free the tuples as soon as they are in the arrays
    del pending

    boxes = _checked_boxes(np.frombuffer(box_image, dtype=np.int64),
                           np.frombuffer(box_xywh, dtype=np.float64).reshape(-1, 4),
                           np.frombuffer(box_area, dtype=np.float64), widths, heights, problems)
    keep, xywh, area = boxes
    box_image_np = np.frombuffer(box_image, dtype=np.int64)[keep]
    # Stable sort by image keeps each image's boxes in file order.
    order = np.argsort(box_image_np, kind="stable")
    box_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(box_image_np, minlength=n), out=box_offsets[1:])

    captions_per_image: list[str | None] = [None] * n
    if caption_text:
        caption_image_np = np.frombuffer(caption_image, dtype=np.int64)
        caption_order = np.argsort(caption_image_np, kind="stable")
        sorted_images = caption_image_np[caption_order]
        starts = np.flatnonzero(np.r_[True, sorted_images[1:] != sorted_images[:-1]])
        ends = np.r_[starts[1:], len(sorted_images)]
        caption_order_list = caption_order.tolist()
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            captions_per_image[int(sorted_images[start])] = "\n".join(
                caption_text[k] for k in caption_order_list[start:end])
    del caption_text

    index = CocoIndex(
        images_dir=Path(images_dir), ids=ids, widths=widths, heights=heights,
        file_names=file_names, license_ids=license_ids, licenses=licenses,
        categories=categories, box_offsets=box_offsets,
        box_category=np.frombuffer(box_category, dtype=np.int32)[keep][order],
        box_xywh=np.ascontiguousarray(xywh[order]), box_area=area[order],
        box_crowd=np.frombuffer(box_crowd, dtype=np.int8)[keep][order].astype(bool),
        captions=captions_per_image, extras=extras, problems=problems,
        sources={"instances": str(instances) if instances is not None else None,
                 "captions": str(captions) if captions is not None else None,
                 "images": str(images_dir)})
    no_context = int((~index.has_context).sum())
    if no_context:
        problems["image_no_context"] += no_context
    return index


def _collect_images(records: list, rows: dict[int, tuple], problems: Counter) -> None:
    seen: set[int] = set()
    for record in records:
        if type(record) is dict and type(record.get("id")) is int and record["id"] in rows \
                and record["id"] not in seen:  # already given by the instances file, which wins
            seen.add(record["id"])
            continue
        if not (isinstance(record, dict) and _is_int(record.get("id"))
                and isinstance(record.get("file_name"), str)
                and _is_int(record.get("width")) and _is_int(record.get("height"))
                and 0 < record["width"] < 2**31 and 0 < record["height"] < 2**31):
            problems["image_malformed"] += 1
            continue
        image_id = record["id"]
        if image_id in seen:
            problems["image_duplicate_id"] += 1
            continue
        seen.add(image_id)
        if not _safe_file_name(record["file_name"]):
            problems["image_bad_file_name"] += 1
            continue
        license_id = record.get("license")
        attribution = record.get("attribution")
        url = record.get("flickr_url") or record.get("coco_url")
        rows[image_id] = (
            record["file_name"], record["width"], record["height"],
            license_id if _is_int(license_id) else None,
            _clean_text(attribution)[0] if isinstance(attribution, str) and attribution else None,
            _clean_text(url)[0] if isinstance(url, str) and url else None)


def _checked_boxes(image: np.ndarray, xywh: np.ndarray, area: np.ndarray, widths: np.ndarray,
                   heights: np.ndarray, problems: Counter
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which boxes to keep, and their [x, y, w, h] clipped to the image and areas (counted:
    ``box_malformed`` for non-finite numbers, ``box_dropped``, ``box_clipped``)."""
    width = widths[image].astype(np.float64)
    height = heights[image].astype(np.float64)
    x, y, w, h = xywh.T
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(xywh).all(axis=1)
        x1, y1 = np.clip(x, 0, width), np.clip(y, 0, height)
        x2, y2 = np.clip(x + w, 0, width), np.clip(y + h, 0, height)
        keep = finite & (w > 0) & (h > 0) & (x2 > x1) & (y2 > y1)
        overshoot = np.max([-x, -y, x + w - width, y + h - height], axis=0)
    inside = overshoot <= 0
    for reason, mask in (("box_malformed", ~finite), ("box_dropped", finite & ~keep),
                         ("box_clipped", keep & (overshoot > CLIP_TOLERANCE))):
        if mask.any():
            problems[reason] += int(mask.sum())
    # Boxes inside the image keep their numbers exactly; the others are clipped.
    clipped = np.where(inside[:, None], xywh, np.stack([x1, y1, x2 - x1, y2 - y1], axis=1))
    clipped = clipped[keep]
    box_area = clipped[:, 2] * clipped[:, 3]
    given = area[keep]
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(given) & (given >= 0)
    return keep, clipped, np.minimum(np.where(usable, given, box_area), box_area)


# ---------------------------------------------------------------------------------------------
# What the LLM sees


def context(image: CocoImage) -> str:
    """LLaVA's text stand-in for an image: the captions, one per line, then one line per box,
    ``category: [x1, y1, x2, y2]`` normalised to [0, 1] with 3 decimals (top-left, bottom-right).
    A crowd box (one box over many small instances) is written like any other; ``iscrowd`` is
    on the ``CocoObject`` for checks that count."""
    lines = list(image.captions)
    for obj in image.objects:
        x1, y1, x2, y2 = obj.bbox_xyxy_norm
        lines.append(f"{obj.category}: [{x1:.3f}, {y1:.3f}, {x2:.3f}, {y2:.3f}]")
    return "\n".join(lines)


def context_of(image: CocoImage):
    """The image's structured context for the LLM (``mmsynth.prompts.llava.Context``): its
    captions, and every box as ``(category, (x1, y1, x2, y2))`` normalised to [0, 1] at the
    3-decimal precision the prompt shows. Rendered to text once, where the LLM reads it."""
    from mmsynth.prompts.llava import Context

    captions = tuple(c.strip() for c in image.captions if c.strip())
    objects = tuple((obj.category, tuple(round(v, 3) for v in obj.bbox_xyxy_norm))
                    for obj in image.objects)
    return Context(captions, objects)


def sample_annotations(image: CocoImage) -> dict[str, Any]:
    """The image's annotations as a ``Sample.annotations`` dict, the shape the grounding filter
    and the prompt builder read: ``objects`` (``category``, COCO pixel ``bbox`` [x, y, w, h],
    ``iscrowd`` 0/1), ``captions``, ``width``, ``height``."""
    return {
        "objects": [{"category": o.category, "bbox": list(o.bbox_xywh), "iscrowd": int(o.iscrowd)}
                    for o in image.objects],
        "captions": list(image.captions),
        "width": image.width,
        "height": image.height,
    }


# ---------------------------------------------------------------------------------------------
# Image files


class ImageError(Exception):
    """An image file that cannot be used. The class name is the counted reason
    (``image_error:ImageCorrupt``); the message says what was wrong with which file."""

    @property
    def reason(self) -> str:
        return type(self).__name__


class ImageMissing(ImageError):
    """No file at the path (or a directory there)."""


class ImageUnreadable(ImageError):
    """The file exists but cannot be read (permissions, I/O error)."""


class ImageCorrupt(ImageError):
    """Empty, truncated, or not an image Pillow can decode."""


class ImageTooLarge(ImageError):
    """More pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` (a decompression-bomb guard)."""


class ImageSizeMismatch(ImageError):
    """The decoded size is not the annotation's width × height, so its boxes would be wrong."""


class ImageTooSmall(ImageError):
    """Narrower or shorter than the smallest side asked for (``--min_image_side``)."""


class SymlinkOutsideImages(ImageError):
    """A symbolic link (the file or a folder on its path) that leads out of the images folder
    (allowed with ``--follow_symlinks true``)."""


class LoadedImage(NamedTuple):
    image: Any  # PIL.Image.Image, mode RGB, fully decoded
    jpeg: bytes  # what a shard stores (see load_image)
    original: bool  # whether ``jpeg`` is the file's own bytes


JPEG_QUALITY = 95  # for files that are re-encoded
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def load_image(path: str | Path, expected_size: tuple[int, int] | None = None,
               quality: int = JPEG_QUALITY, min_side: int = 0,
               root: str | Path | None = None) -> LoadedImage:
    """Decode an image file to RGB, and choose the JPEG bytes a shard stores.

    A plain JPEG (RGB or greyscale, no EXIF rotation) is stored as the file's own bytes: no loss
    and no encoding time. Anything else (PNG, CMYK, palette, alpha, 16-bit, rotated, ...) is
    converted to RGB (alpha composited on white, 16-bit scaled to 8-bit) and stored as a new
    JPEG of ``quality``. Pixels stay in the file's stored orientation, the frame COCO boxes are
    drawn in. ``min_side`` > 0 refuses an image whose decoded width or height is smaller;
    ``root`` (the images folder) refuses a path whose real location, symbolic links followed,
    is outside it. Raises an ``ImageError`` subclass whose name is the reason.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    source = path
    if root is not None:
        real_root = Path(root).resolve()
        source = path.resolve()
        if not source.is_relative_to(real_root):
            raise SymlinkOutsideImages(
                f"{path}: a symbolic link out of the images folder {real_root} (to {source}); "
                "such files are skipped unless --follow_symlinks true")
    try:
        data = source.read_bytes()  # the checked real path, not the link again
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise ImageMissing(f"{path}: no such image file") from None
    except OSError as e:
        raise ImageUnreadable(f"{path}: {e.strerror or e}") from None
    if not data:
        raise ImageCorrupt(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"{path}: {e}") from None
    except UnidentifiedImageError:
        raise ImageCorrupt(f"{path}: not an image file Pillow can read") from None
    except MemoryError:
        raise ImageTooLarge(f"{path}: out of memory decoding it") from None
    except Exception as e:  # truncated or malformed data: Pillow raises many types
        raise ImageCorrupt(f"{path}: {type(e).__name__}: {e}") from None
    if min_side and min(image.size) < min_side:
        raise ImageTooSmall(f"{path}: {image.width}x{image.height}, smaller than "
                            f"--min_image_side {min_side} px")
    if expected_size is not None and image.size != tuple(expected_size):
        raise ImageSizeMismatch(f"{path}: the file is {image.width}x{image.height}, the "
                                f"annotations say {expected_size[0]}x{expected_size[1]}")
    orientation = image.getexif().get(0x0112, 1) if image.format == "JPEG" else 1
    keep = image.format == "JPEG" and image.mode in ("RGB", "L") and orientation in (0, 1)
    rgb = _to_rgb(image)
    if keep:
        return LoadedImage(rgb, data, True)
    icc = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA", "RGBX") else None
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=quality, icc_profile=icc)
    return LoadedImage(rgb, buffer.getvalue(), False)


def _to_rgb(image: Any) -> Any:
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16"):
            values = values / 257.0
        elif mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        elif values.size and np.nanmax(values) > 255:
            values = np.clip(values, 0, 65535) / 257.0
        grey = np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")
