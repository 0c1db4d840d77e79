"""The CLIP alignment filter: modes, a real (tiny, shipped) open_clip model, shards end to end.

The model is ``assets/clip/mmsynth-tiny-clip.safetensors``, trained by
``tools/train_tiny_clip.py`` on renders of run seed 1000; the held-out renders here use other
seeds.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from mmsynth.filters.clip import ClipFilter, ClipPlan, ClipScorer, clip_plan, texts_for
from mmsynth.run import _grouped
from mmsynth.sample import Sample
from tests.conftest import REPO, cli, decoded, load_json, read_shards, shard_bytes

CKPT = REPO / "assets" / "clip" / "mmsynth-tiny-clip.safetensors"
TRAIN_SEED = 1000  # tools/train_tiny_clip.py


def renders(source: str, n: int, seed: int) -> list[Sample]:
    from mmsynth.config import resolve
    from mmsynth.sources import SOURCES, source_options

    config = resolve({"source": source, "num_samples": n, "seed": seed, "clip_mode": "off"},
                     source_options)
    samples, _ = SOURCES.get(source)(config, "test").produce(range(n))
    return samples


@pytest.fixture(scope="module")
def held_out() -> list[Sample]:
    assert TRAIN_SEED not in (7, 8)
    return renders("geometry", 100, 7) + renders("chart", 100, 8)


@pytest.fixture(scope="module")
def tiny_plan() -> ClipPlan:
    plan = clip_plan({"clip_mode": "required", "clip_pretrained": str(CKPT),
                      "clip_threshold": -1.0})
    assert plan.on and plan.model == "mmsynth-tiny-clip" and plan.weights.startswith("sha256:")
    return plan


@pytest.fixture(scope="module")
def scorer(tiny_plan) -> ClipScorer:
    return ClipScorer(tiny_plan, batch_size=32)


def auc(positives: list[float], negatives: list[float]) -> float:
    """ROC AUC as the Mann–Whitney probability that a positive outscores a negative."""
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


# -- a real model that aligns ----------------------------------------------------------------


def test_tiny_model_aligns_held_out_renders(scorer, held_out):
    images = scorer.image_features([s.image for s in held_out])
    texts = scorer.text_features([s.caption for s in held_out])
    cos = images.astype(np.float64) @ texts.T.astype(np.float64)
    matched = np.diag(cos)
    # Shuffled: each image against every other sample's caption (all shufflings at once, so the
    # estimate does not hang on one random permutation). A shuffled caption of the same family
    # differs only in letters and numbers a 64-pixel model cannot read: those stay near-ties.
    shuffled = cos[~np.eye(len(held_out), dtype=bool)]
    value = auc(matched, shuffled)
    print(f"held-out AUC {value:.3f}, matched mean {matched.mean():.3f}, "
          f"shuffled mean {shuffled.mean():.3f}")
    assert value >= 0.9
    assert matched.mean() > shuffled.mean() + 0.3
    # The stage's scoring path gives the same numbers.
    assert scorer.score([held_out[3].image], [[held_out[3].caption]])[0] == \
        pytest.approx(matched[3], abs=1e-6)


def test_scores_do_not_depend_on_batch_size(tiny_plan, held_out):
    images = [s.image for s in held_out[:40]]
    texts = [[s.caption] for s in held_out[:40]]
    scores = {b: np.array(ClipScorer(tiny_plan, batch_size=b).score(images, texts))
              for b in (1, 7, 32)}
    assert np.abs(scores[1] - scores[7]).max() <= 1e-5
    assert np.abs(scores[1] - scores[32]).max() <= 1e-5
    assert len(set(np.round(scores[1], 3))) > 10  # real, varied scores


def test_best_of_several_captions(scorer, held_out):
    a, b = held_out[0], held_out[-1]
    own, other = scorer.score([a.image] * 2, [[a.caption], [b.caption]])
    both = scorer.score([a.image], [[b.caption, a.caption]])[0]
    assert both == pytest.approx(max(own, other), abs=1e-7)


# -- the stage ---------------------------------------------------------------------------------


def test_threshold_and_quantile_reject_with_scores(tiny_plan, held_out):
    samples = [Sample(**{**s.__dict__, "meta": dict(s.meta)}) for s in held_out[:50]]
    # Every fifth geometry figure gets a chart's caption: those should score low.
    for i in range(0, 50, 5):
        samples[i].caption = held_out[100 + i // 5].caption
    plan = ClipPlan(**{**tiny_plan.to_dict(), "threshold": 0.0, "drop_quantile": 0.1})
    stage = ClipFilter(plan, batch_size=16)
    kept, rejected = stage(samples)
    assert len(kept) + len(rejected) == 50
    stats = stage.last_stats
    assert stats["checked"] == 50 and stats["kept"] == len(kept)
    assert stats["rejected_threshold"] + stats["rejected_quantile"] == len(rejected)
    below = [r for r in rejected if "threshold" in r.detail]
    assert len(below) == stats["rejected_threshold"]
    # The quantile drops the lowest 5 scores (10% of 50), whether or not they are also low.
    scores = {r.sample.id: float(r.reason.split(":")[1]) for r in rejected}
    for r in rejected:
        assert r.reason.startswith("clip_low:") and r.sample is not None
    kept_scores = [s.meta["clip"]["score"] for s in kept]
    assert min(kept_scores) >= 0.0
    assert min(kept_scores) >= max(round(x, 3) for x in scores.values()) - 1e-3
    assert len(rejected) >= 5
    for s in kept:
        c = s.meta["clip"]
        assert c["clipscore"] == round(2.5 * max(c["score"], 0), 4)
        assert c["model"] == "mmsynth-tiny-clip" and c["text"] == "caption"
        assert c["pretrained"] == CKPT.name
    mismatched = {samples[i].id for i in range(0, 50, 5)}
    assert len(mismatched & set(scores)) >= 8, "most wrong captions are rejected"
    # Deterministic and independent of the input order.
    again, _ = ClipFilter(plan, batch_size=7)(list(reversed(samples)))
    assert sorted(s.id for s in again) == sorted(s.id for s in kept)


def test_sample_without_text_is_a_counted_rejection(tiny_plan, held_out):
    s = Sample(**{**held_out[0].__dict__, "caption": None, "meta": dict(held_out[0].meta)})
    stage = ClipFilter(tiny_plan)
    kept, rejected = stage([s])
    assert not kept and rejected[0].reason == "clip_no_text"
    assert stage.last_stats["no_text"] == 1


def test_which_text_per_source():
    photo = {"captions": ["A dog on a sofa.", "A brown dog."], "objects": []}
    turns = [{"from": "human", "value": "<image>\nDescribe the image."},
             {"from": "gpt", "value": "A brown dog lies on a grey sofa."}]
    detail = Sample(id="c-0-1-detail", image=b"", image_ext="jpg", conversations=turns,
                    annotations=photo, caption="A dog on a sofa.", meta={"type": "detail"})
    convo = Sample(id="c-0-1-conversation", image=b"", image_ext="jpg", conversations=turns,
                   annotations=photo, caption="A dog on a sofa.", meta={"type": "conversation"})
    render = Sample(id="g-0-1", image=b"", caption="a bar chart of rainfall")
    assert texts_for(detail, "auto") == ("description", ["A brown dog lies on a grey sofa."])
    assert texts_for(convo, "auto") == ("captions", photo["captions"])
    assert texts_for(render, "auto") == ("caption", ["a bar chart of rainfall"])
    assert texts_for(convo, "caption") == ("caption", ["A dog on a sofa."])
    assert texts_for(render, "captions") == ("captions", ["a bar chart of rainfall"])


def test_skipped_stage_passes_everything_counted():
    plan = clip_plan({"clip_mode": "auto", "clip_pretrained": "/nonexistent/ckpt.pt"})
    assert plan.status == "skipped" and "/nonexistent/ckpt.pt" in plan.why
    s = Sample(id="g-0-1", image=b"", caption="x")
    kept, rejected = ClipFilter(plan)([s])
    assert kept == [s] and not rejected and "clip" not in s.meta


def test_summary_groups_scored_reasons():
    grouped = _grouped({"clip_low:0.213": 2, "clip_low:0.101": 1, "clip_no_text": 1,
                        "render_error:triangle:ValueError": 3})
    assert grouped == {"clip_low:<0.101 … 0.213>": 3, "clip_no_text": 1,
                       "render_error:triangle:ValueError": 3}


def test_module_is_light():
    code = ("import sys, mmsynth.filters.clip, mmsynth.sources.render, mmsynth.sources.coco; "
            "heavy = [m for m in ('torch', 'open_clip') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_each_concept_has_one_module_and_the_stage_module_still_names_them():
    from mmsynth.filters import clip, clip_scorer, clip_weights

    assert clip.ClipPlan is clip_weights.ClipPlan and clip.clip_plan is clip_weights.clip_plan
    assert clip.announce is clip_weights.announce and clip.ClipScorer is clip_scorer.ClipScorer
    for name in ("stage_from_config", "summary_lines", "texts_for", "ClipFilter"):
        assert getattr(clip, name).__module__ == "mmsynth.filters.clip", name
    # the options' defaults are the weights module's, and its modes are the ones the option takes
    assert clip.CLIP_OPTIONS["clip_model"].default == clip_weights.DEFAULT_MODEL
    assert clip.CLIP_OPTIONS["clip_pretrained"].default == clip_weights.DEFAULT_PRETRAINED
    assert [m for m in ("off", "auto", "required", "maybe")
            if clip.CLIP_OPTIONS["clip_mode"].check(m) is None] == list(clip_weights.CLIP_MODES)


# -- the CLI -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_required_without_weights_fails_fast(tmp_path):
    out = tmp_path / "out"
    proc = cli("--source", "geometry", "--num_samples", "5", "--out", str(out), "--noprogress",
               "--clip_mode", "required", "--clip_pretrained", "/nonexistent/ckpt.pt",
               check=False)
    assert proc.returncode == 2
    assert "/nonexistent/ckpt.pt" in proc.stderr and "--clip_pretrained" in proc.stderr
    assert "does not exist" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_required_with_default_tag_offline_fails_fast(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    code = ("import sys; from mmsynth.generate import main; sys.exit(main(['--source', "
            f"'chart', '--num_samples', '3', '--out', {str(tmp_path / 'o')!r}, '--noprogress', "
            "'--clip_mode', 'required']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env})
    assert proc.returncode == 2, proc.stderr
    assert "ViT-B-32/laion2b_s34b_b79k" in proc.stderr and "HF_HUB_OFFLINE" in proc.stderr


@pytest.mark.slow
def test_auto_without_weights_says_skipped(tmp_path):
    proc = cli("--source", "geometry", "--num_samples", "12", "--out", str(tmp_path),
               "--noprogress", "--clip_pretrained", "/nonexistent/ckpt.pt")
    assert "CLIP stage SKIPPED" in proc.stderr and "/nonexistent/ckpt.pt" in proc.stderr
    assert "CLIP stage SKIPPED" in proc.stdout
    stats = load_json(tmp_path / "stats.json")
    assert stats["kept"] == 12
    (key,) = stats["stages"]["clip"]
    assert key.startswith("skipped:") and stats["stages"]["clip"][key] == 12
    for entry in read_shards(tmp_path).values():
        assert "clip" not in decoded(entry["json"])["meta"]


@pytest.mark.slow
def test_end_to_end_with_the_tiny_checkpoint(tmp_path):
    args = ["--source", "chart", "--num_samples", "40", "--shard_size", "20", "--seed", "5",
            "--noprogress", "--clip_pretrained", str(CKPT), "--clip_threshold", "0.3",
            "--clip_drop_quantile", "0.1", "--clip_batch_size", "8"]
    proc = cli(*args, "--out", str(tmp_path / "a"))
    assert "SKIPPED" not in proc.stdout + proc.stderr
    assert "CLIP (mmsynth-tiny-clip/mmsynth-tiny-clip.safetensors)" in proc.stdout
    stats = load_json(tmp_path / "a" / "stats.json")
    low = {r: n for r, n in stats["rejections"].items() if r.startswith("clip_low:")}
    clip = stats["stages"]["clip"]
    assert sum(low.values()) == clip["rejected_threshold"] + clip["rejected_quantile"]
    assert clip["rejected_quantile"] + clip["rejected_threshold"] >= 4  # 10% of each shard
    assert clip["checked"] == clip["kept"] + sum(low.values())
    for reason in low:
        assert float(reason.split(":")[1]) < 1 and len(reason.split(":")[1]) == 5
    shards = read_shards(tmp_path / "a")
    assert len(shards) == stats["kept"] == clip["kept"]
    for entry in shards.values():
        meta = decoded(entry["json"])["meta"]
        assert meta["clip"]["score"] >= 0.3 and meta["clip"]["model"] == "mmsynth-tiny-clip"
        assert math.isclose(meta["clip"]["clipscore"], 2.5 * meta["clip"]["score"], abs_tol=1e-4)
    # Same config + seed: byte-identical, with two workers and another batch size too.
    cli(*args, "--out", str(tmp_path / "b"), "--workers", "2")
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")


@pytest.mark.slow
def test_filtered_and_unfiltered_runs_never_mix(tmp_path):
    base = ["--source", "geometry", "--num_samples", "6", "--out", str(tmp_path), "--noprogress"]
    cli(*base, "--clip_pretrained", "/nonexistent/ckpt.pt")  # auto → skipped
    cli(*base, "--clip_mode", "off")  # unfiltered too: resumes
    proc = cli(*base, "--clip_pretrained", str(CKPT), check=False)
    assert proc.returncode == 2 and "different config" in proc.stderr
