"""COCO-format data for the ``coco`` source: the defensive reader of the annotation files,
joined per image into a compact index. No model code here.

``load_coco`` reads ``instances_*.json`` and/or ``captions_*.json`` into a compact ``CocoIndex``
sorted by image id; ``index.record(i)`` is one image as a plain ``CocoImage``. The neighbouring
concepts have their own modules, and their names are re-exported here (``from
mmsynth.sources.coco_data import X`` keeps working for all of them): ``coco_paths``
(``resolve_paths``: the user's options to files, the shipped sample), ``coco_images``
(``load_image``, the ``ImageError`` kinds) and ``coco_context`` (``context``, ``context_of``,
``sample_annotations``: what an LLM and a sample are given in place of the pixels). The JSON
file layer (parsing with compaction, shape checks, text repair) is ``coco_json``. What is left
(~500 lines) is one concept: each record's checks and the index they fill.

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

Memory: COCO train2017's size (118k images, 860k boxes with polygons, 592k captions; ~530 MB of
JSON) loads with a peak of about 0.85 GB where a plain ``json.load`` of the same files peaks at
2.7 GB, because the parser's object hook turns each annotation into a small tuple as soon as it
is parsed, dropping its segmentation polygons (which the index never uses) before the next one is
built. The peak is then the file's bytes plus its decoded text. The index itself (~125 MB) keeps
boxes in numpy arrays indexed by image (CSR offsets), captions as one string per image, and none
of the parsed JSON. ``bench/bench_coco_load.py`` measures this against ``json.load``.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmsynth.errors import UsageError

# Names of coco_context, coco_images and coco_paths, importable from here as they always were
# (__all__); coco_json's helpers are the reader's own.
from mmsynth.sources.coco_context import context, context_of, sample_annotations
from mmsynth.sources.coco_images import (
    JPEG_QUALITY,
    ImageCorrupt,
    ImageError,
    ImageMissing,
    ImageSizeMismatch,
    ImageTooLarge,
    ImageTooSmall,
    ImageUnreadable,
    LoadedImage,
    SymlinkOutsideImages,
    load_image,
)
from mmsynth.sources.coco_json import (
    _BOX,
    _clean_text,
    _is_int,
    _read_json,
    _require_list,
    _safe_file_name,
)
from mmsynth.sources.coco_paths import (
    DEFAULT_SPLIT,
    OPTION_NAMES,
    SAMPLE_ROOT,
    SAMPLE_SPLIT,
    CocoPaths,
    resolve_paths,
    shipped_sample_root,
)

__all__ = [
    "CLIP_TOLERANCE", "COCO_CATEGORIES", "DEFAULT_SPLIT", "JPEG_QUALITY", "OPTION_NAMES",
    "REPAIRED_PROBLEMS", "SAMPLE_ROOT", "SAMPLE_SPLIT", "CocoImage", "CocoIndex", "CocoObject",
    "CocoPaths", "ImageCorrupt", "ImageError", "ImageMissing", "ImageSizeMismatch",
    "ImageTooLarge", "ImageTooSmall", "ImageUnreadable", "LoadedImage", "SymlinkOutsideImages",
    "context", "context_of", "load_coco", "load_image", "resolve_paths", "sample_annotations",
    "shipped_sample_root",
]

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
