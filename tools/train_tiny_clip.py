"""Train the tiny open_clip model shipped in ``assets/clip/`` (the tests' real CLIP, no downloads).

The architecture is ``assets/clip/mmsynth-tiny-clip.json`` (registered with open_clip by path):
a 3-layer ViT on 64x64 images (8x8 patches) and a 2-layer text transformer, 64-d embeddings.
It is trained contrastively (open_clip's ``ClipLoss``) on geometry and chart renders made by this
repository's own sources, each paired with the caption its renderer wrote. Images go through the
model's own eval preprocessing, exactly what the filter stage uses. Renders use run seed
``TRAIN_SEED``; the tests hold out other seeds.

Deterministic on the CPU for a given thread count (fixed seeds, deterministic algorithms);
about 10 minutes on one core:

    PYTHONPATH=. python tools/train_tiny_clip.py   # → assets/clip/mmsynth-tiny-clip.safetensors

The weights are stored as float16 safetensors (a few MB) and loaded into a float32 model.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "assets" / "clip" / "mmsynth-tiny-clip.json"
MODEL_NAME = CONFIG.stem
TRAIN_SEED = 1000


def render_pairs(source: str, n: int, seed: int, image_size: int = 448):
    """(PNG bytes, caption) pairs from ``n`` sample indices of a render source."""
    from mmsynth.config import resolve
    from mmsynth.sources import SOURCES, source_options

    config = resolve({"source": source, "num_samples": n, "seed": seed, "image_size": image_size},
                     source_options)
    samples, _ = SOURCES.get(source)(config, "train").produce(range(n))
    return [(s.image, s.caption) for s in samples]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geometry", type=int, default=3000, help="geometry renders")
    parser.add_argument("--chart", type=int, default=3000, help="chart renders")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--out", default=str(CONFIG.with_suffix(".safetensors")))
    args = parser.parse_args(argv)

    import io

    import open_clip
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    open_clip.add_model_config(CONFIG)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=None)
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)

    started = time.perf_counter()
    pairs = render_pairs("geometry", args.geometry, TRAIN_SEED) + \
        render_pairs("chart", args.chart, TRAIN_SEED)
    images = torch.stack([preprocess(Image.open(io.BytesIO(png)).convert("RGB"))
                          for png, _ in pairs])
    texts = tokenizer([caption for _, caption in pairs])
    print(f"{len(pairs)} renders + captions in {time.perf_counter() - started:.0f} s")

    loss_fn = open_clip.ClipLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr,
                                                   total_steps=args.steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(0)
    model.train()
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = torch.randperm(len(pairs), generator=generator)[:args.batch_size]
        image_features, text_features, logit_scale = model(images[batch], texts[batch])
        loss = loss_fn(image_features, text_features, logit_scale)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():  # CLIP's clamp: the temperature never exceeds 100
            model.logit_scale.clamp_(0, 4.6052)
        if step % 50 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.3f}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)

    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, args.out, metadata={"open_clip_model": MODEL_NAME,
                                         "trained_on": f"geometry+chart renders, seed {TRAIN_SEED}",
                                         "steps": str(args.steps)})
    digest = hashlib.sha256(Path(args.out).read_bytes()).hexdigest()
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}…)")


if __name__ == "__main__":
    main()
