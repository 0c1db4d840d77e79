"""Where the ``coco`` source's files are: ``resolve_paths`` turns the user's options into the
annotation files and image folder to read (a ``--coco_root`` laid out as COCO distributes it,
explicit files, or by default the sample shipped in ``assets/coco_sample``). Re-exported by
``mmsynth.sources.coco_data``."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from mmsynth.errors import UsageError
from mmsynth.resources import data_path

# assets/coco_sample of the checkout, or the copy the wheel ships (mmsynth.resources says which).
SAMPLE_ROOT = data_path("assets", "coco_sample")
SAMPLE_SPLIT = "sample"
DEFAULT_SPLIT = "train2017"

# How the CLI spells the options that resolve_paths takes, for error messages.
OPTION_NAMES = {"coco_root": "--coco_root", "instances": "--instances",
                "captions": "--captions", "images": "--images", "split": "--split"}


class CocoPaths(NamedTuple):
    instances: Path | None
    captions: Path | None
    images: Path



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
