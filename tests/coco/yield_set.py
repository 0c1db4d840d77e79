"""The labelled yield set of issue 16: hand-written COCO-style annotation sets (five captions and
2–8 boxes each, for scenes of streets, kitchens, sports, animals, offices, beaches, …) in
``tests/coco/data/yield_set/{instances,captions}_yield.json``, plain COCO files the coco source
reads as they are.

The coco reader needs an image file for every record (a missing one is rejected as
``image_error:ImageMissing``, and a file of another size as ``ImageSizeMismatch``), although
the LLM only reads the captions and boxes. So no pictures are committed: :func:`draw_images`
paints a placeholder of each record's stated size (a plain background, each box a filled
rectangle in its category's colour), deterministically. CLIP scores on these placeholders mean
nothing; run the yield bench with ``--clip_mode off``.

    python -m tests.coco.yield_set ROOT      # writes ROOT/annotations + ROOT/yield/, prints
    python -m mmsynth.generate --source coco --coco_root ROOT --split yield \\
        --num_samples 1000 --clip_mode off --out OUT
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "yield_set"
SPLIT = "yield"
INSTANCES = DATA / f"instances_{SPLIT}.json"
CAPTIONS = DATA / f"captions_{SPLIT}.json"


def _colour(text: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(text.encode()).digest()
    return digest[0], digest[1], digest[2]


def draw_images(folder: Path) -> list[Path]:
    """A placeholder JPEG for every image record of the yield set, at its stated size, in
    ``folder`` (made if needed); the paths written, in record order."""
    from PIL import Image, ImageDraw

    data = json.loads(INSTANCES.read_text(encoding="utf-8"))
    names = {c["id"]: c["name"] for c in data["categories"]}
    boxes: dict[int, list[dict]] = {}
    for box in data["annotations"]:
        boxes.setdefault(box["image_id"], []).append(box)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for record in data["images"]:
        image = Image.new("RGB", (record["width"], record["height"]),
                          tuple(64 + c // 2 for c in _colour(record["file_name"])))
        pen = ImageDraw.Draw(image)
        for box in sorted(boxes.get(record["id"], []), key=lambda b: -b["area"]):
            x, y, w, h = box["bbox"]
            pen.rectangle([x, y, x + w - 1, y + h - 1], fill=_colour(names[box["category_id"]]),
                          outline=(0, 0, 0), width=2)
        path = folder / record["file_name"]
        image.save(path, "JPEG", quality=85)
        written.append(path)
    return written


def make_root(root: Path) -> Path:
    """A ``--coco_root`` for the yield set: ``annotations/{instances,captions}_yield.json`` and
    the placeholder images in ``yield/``; use it with ``--split yield``."""
    annotations = root / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    for path in (INSTANCES, CAPTIONS):
        shutil.copyfile(path, annotations / path.name)
    draw_images(root / SPLIT)
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.coco.yield_set ROOT")
    made = make_root(Path(sys.argv[1]))
    print(f"python -m mmsynth.generate --source coco --coco_root {made} --split {SPLIT} "
          "--num_samples 1000 --clip_mode off --out OUT")
