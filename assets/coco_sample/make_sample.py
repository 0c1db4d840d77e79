"""Rebuild the shipped COCO-format sample's images, and draw its boxes for review.

The nine photographs in ``images/`` come from Python packages that ship them under permissive
terms (see ``LICENSES.md``). The annotation files in ``annotations/`` were written by hand and are
not generated here. mmsynth never runs this script: the committed files are the sample; this only
documents (and can redo) where each image came from. It needs the packages that ship them:

    pip install scikit-image matplotlib PyWavelets scikit-learn
    python assets/coco_sample/make_sample.py            # rewrite images/, then check them
    python assets/coco_sample/make_sample.py --check    # only check images against annotations
    python assets/coco_sample/make_sample.py --sheet out/coco_sample_boxes.png

Photos that the package ships as JPEG are copied byte for byte; the others (PNG or arrays) are
encoded as JPEG, quality 90, greyscale ones as greyscale JPEG. Re-encoding with another Pillow
or libjpeg may give slightly different bytes.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
INSTANCES = HERE / "annotations" / "instances_sample.json"
CAPTIONS = HERE / "annotations" / "captions_sample.json"
QUALITY = 90

# file name -> (package, how to get the picture)
SOURCES: dict[str, tuple[str, str]] = {
    "000000000001.jpg": ("scikit-image", "skimage/data/astronaut.png"),
    "000000000002.jpg": ("scikit-image", "skimage/data/camera.png"),
    "000000000003.jpg": ("scikit-image", "skimage/data/chelsea.png"),
    "000000000004.jpg": ("scikit-image", "skimage/data/coffee.png"),
    "000000000005.jpg": ("scikit-image", "skimage/data/rocket.jpg"),
    "000000000006.jpg": ("scikit-image", "skimage/data/clock_motion.png"),
    "000000000007.jpg": ("matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
    "000000000008.jpg": ("PyWavelets", "pywt.data.ascent()"),
    "000000000009.jpg": ("scikit-learn", "sklearn/datasets/images/china.jpg"),
}


def _package_file(relative: str) -> Path:
    top = relative.split("/", 1)[0]
    module = __import__(top)
    return Path(module.__file__).resolve().parent / relative.split("/", 1)[1]


def build_images() -> None:
    import numpy as np
    from PIL import Image

    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, (_package, where) in SOURCES.items():
        target = IMAGES / name
        if where.endswith(".jpg"):
            shutil.copyfile(_package_file(where), target)
            continue
        if where == "pywt.data.ascent()":
            import pywt.data

            image = Image.fromarray(np.asarray(pywt.data.ascent(), dtype=np.uint8), mode="L")
        else:
            image = Image.open(_package_file(where))
            image = image.convert("L" if image.mode in ("L", "I;16", "1") else "RGB")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=QUALITY)
        target.write_bytes(buffer.getvalue())
        print(f"{name}  <- {where} ({image.mode} {image.width}x{image.height})")


def check() -> list[str]:
    """Each annotated image exists, decodes, and has the size the annotations say."""
    from PIL import Image

    problems = []
    total = 0
    for path in (INSTANCES, CAPTIONS):
        for record in json.loads(path.read_text())["images"]:
            file = IMAGES / record["file_name"]
            if not file.is_file():
                problems.append(f"{path.name}: {file.name} is missing")
                continue
            with Image.open(file) as image:
                image.load()
                if image.size != (record["width"], record["height"]):
                    problems.append(f"{file.name}: {image.size} but {path.name} says "
                                    f"{record['width']}x{record['height']}")
    total = sum(p.stat().st_size for p in IMAGES.glob("*.jpg"))
    print(f"{len(list(IMAGES.glob('*.jpg')))} images, {total / 1e6:.2f} MB")
    return problems


def contact_sheet(out: Path, scale: float = 1.0) -> None:
    """Every image with its boxes (crowd boxes dashed) and labels, in a grid, as one PNG."""
    from PIL import Image, ImageDraw

    data = json.loads(INSTANCES.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    colours = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
               (70, 240, 240), (240, 50, 230)]
    tiles = []
    for record in sorted(data["images"], key=lambda r: r["id"]):
        image = Image.open(IMAGES / record["file_name"]).convert("RGB")
        image = image.resize((round(image.width * scale), round(image.height * scale)))
        draw = ImageDraw.Draw(image)
        anns = [a for a in data["annotations"] if a["image_id"] == record["id"]]
        for n, ann in enumerate(anns):
            x, y, w, h = (v * scale for v in ann["bbox"])
            colour = colours[n % len(colours)]
            if ann.get("iscrowd"):
                for i in range(int(x), int(x + w), 8):  # dashed outline
                    draw.line([(i, y), (min(i + 4, x + w), y)], fill=colour, width=2)
                    draw.line([(i, y + h - 1), (min(i + 4, x + w), y + h - 1)], fill=colour,
                              width=2)
                for j in range(int(y), int(y + h), 8):
                    draw.line([(x, j), (x, min(j + 4, y + h))], fill=colour, width=2)
                    draw.line([(x + w - 1, j), (x + w - 1, min(j + 4, y + h))], fill=colour,
                              width=2)
            else:
                draw.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=2)
            label = names[ann["category_id"]] + (" (crowd)" if ann.get("iscrowd") else "")
            draw.rectangle([x, y, x + 7 * len(label) + 4, y + 12], fill=colour)
            draw.text((x + 2, y), label, fill=(255, 255, 255))
        draw.rectangle([0, 0, 150, 12], fill=(0, 0, 0))
        draw.text((2, 0), f"{record['id']}: {record['file_name']}", fill=(255, 255, 255))
        tiles.append(image)
    columns = 3
    cell_w = max(t.width for t in tiles) + 8
    cell_h = max(t.height for t in tiles) + 8
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), (255, 255, 255))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * cell_w + 4, (i // columns) * cell_h + 4))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out} ({sheet.width}x{sheet.height})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the committed images")
    parser.add_argument("--sheet", type=Path, help="write the boxes drawn on the images here")
    parser.add_argument("--scale", type=float, default=1.0, help="tile scale for --sheet")
    args = parser.parse_args(argv)
    if not args.check and not args.sheet:
        build_images()
    if args.sheet:
        contact_sheet(args.sheet, args.scale)
    problems = check()
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
