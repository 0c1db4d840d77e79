"""Perturbed variants (issue 18, item 4): ``--variants 1`` on 300 geometry and 300 chart samples.
Every variant is its own sample linked to its origin (``meta.variant_of``), drawn by the family's
own sampler with one draw redrawn: the same names, labels, task and style, the same questions,
changed values and at least one changed answer, every answer and every worked step re-derived
from the variant's scene by the independent checkers."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from mmsynth.run import run
from mmsynth.variants import Recorded, Replayed, skeleton
from tests.charts.test_solution_steps import check_chart_steps
from tests.conftest import decoded, read_records, read_shards, shard_bytes
from tests.geometry.test_solution_steps import check_steps
from tests.test_preference_render import _chart_checker, _geometry_checkers

N = 300
# Measured at seed 5 (stop 13): see the note of the commit that set them. A variant is not made
# when no single redrawn value changes an answer while keeping every name and label (a box plot
# whose questions depend on which series is widest, a polygon whose sides are all drawn in one
# loop with its labels).
FLOORS = {"geometry": 0.85, "chart": 0.8}


def _flags(source, out, **extra):
    return {"source": source, "num_samples": N, "shard_size": 100, "seed": 5, "out": str(out),
            "variants": 1, "clip_mode": "off", "progress": False, **extra}


@pytest.fixture(scope="module", params=["geometry", "chart"])
def variant_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"variants-{request.param}")
    summary = run(_flags(request.param, out))
    shards = read_shards(out)
    records = {key: {**decoded(m["json"]), "png": m["png"]} for key, m in shards.items()}
    return request.param, records, summary


def _without_numbers(text: str) -> str:
    return re.sub(r"\d+(?:\.\d+)?", "#", text)


def test_every_variant_is_right_and_differs_only_in_its_values(variant_run):
    source, records, summary = variant_run
    checkers = _geometry_checkers() if source == "geometry" else None
    variants = [r for r in records.values() if "variant_of" in r["meta"]]
    by_family = Counter()
    for variant in variants:
        origin = records[variant["meta"]["variant_of"]]
        assert "variant_of" not in origin["meta"]
        assert variant["id"] == f"{origin['id']}-v1" and variant["meta"]["variant"]["n"] == 1
        for key in ("index", "generator", "generator_version", "seed", "license"):
            assert variant["meta"][key] == origin["meta"][key], key
        scene, qa = variant["scene"], variant["qa"]
        # Right: every answer and worked step re-derived from the variant's own scene.
        (checkers[variant["meta"]["generator"]] if checkers else _chart_checker)(scene, qa)
        for item in qa:
            if item.get("steps"):
                (check_steps if checkers else check_chart_steps)(scene, item)
        # The same figure and questions with other values: names, labels, task and style kept.
        assert scene != origin["scene"] and skeleton(scene) == skeleton(origin["scene"])
        assert [q["type"] for q in qa] == [q["type"] for q in origin["qa"]]
        assert [_without_numbers(q["question"]) for q in qa] == \
            [_without_numbers(q["question"]) for q in origin["qa"]]
        assert any(a["value"] != b["value"] for a, b in zip(qa, origin["qa"], strict=True))
        assert variant["png"] != origin["png"]
        assert variant["conversations"][0]["value"].startswith("<image>\n")
        by_family[variant["meta"]["generator"]] += 1
    origins = Counter(r["meta"]["generator"] for r in records.values()
                      if "variant_of" not in r["meta"])
    assert sum(origins.values()) == N - summary.rejected  # (a chart scene may not fit, counted)
    assert len(variants) >= FLOORS[source] * N, (len(variants), by_family)
    for family, n in origins.items():  # every family makes variants, not only the easy ones
        assert by_family[family] >= 0.5 * n, (family, by_family[family], n)


def test_variants_follow_their_origin_and_are_counted(variant_run):
    _, records, summary = variant_run
    origins = N - summary.rejected
    keys = list(records)
    for key, record in records.items():
        if "variant_of" in record["meta"]:  # right after its origin in the shard
            assert keys[keys.index(key) - 1] == record["meta"]["variant_of"]
    made = sum("variant_of" in r["meta"] for r in records.values())
    stats = summary.stage_stats["variants"]
    assert stats["variants"] == made == stats["samples_with_variants"]
    assert stats["samples"] == origins and stats["not_made"] == origins - made
    assert summary.kept == origins + made
    line = next(x for x in summary.stage_lines if x.startswith("  variants: "))
    assert f"variants: {made} made for {made} of {origins} samples, {origins - made} not made" \
        in line


def test_variants_are_deterministic_and_resume(tmp_path):
    flags = {**_flags("chart", tmp_path / "a"), "num_samples": 40, "shard_size": 20,
             "variants": 2}
    run(flags)
    again = {**flags, "out": str(tmp_path / "b")}
    run(again)
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")
    records = read_records(tmp_path / "a")
    assert Counter(r["meta"].get("variant", {}).get("n") for r in records)[2] > 0
    # A lost shard is rebuilt to the same bytes.
    lost = sorted((tmp_path / "b").glob("*.tar"))[1]
    lost.unlink()
    for stats in (tmp_path / "b").glob(lost.stem + "*stats*"):
        stats.unlink()
    run(again)
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")


@pytest.mark.parametrize("source", ["geometry", "chart"])
def test_variants_are_in_the_fingerprint_only_when_on(source, monkeypatch):
    from mmsynth import variants
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    base = {"source": source, "num_samples": 2, "clip_mode": "off"}
    off = fingerprint_of(resolve(base, source_options))
    assert fingerprint_of(resolve({**base, "variants": 0}, source_options)) == off
    on = fingerprint_of(resolve({**base, "variants": 1}, source_options))
    assert on != off
    monkeypatch.setattr(variants, "VERSION", variants.VERSION + 1)
    assert fingerprint_of(resolve({**base, "variants": 1}, source_options)) != on


def test_a_replay_gives_back_the_recorded_draws_but_the_redrawn_one():
    def sample(rng):  # a loop that draws until it accepts, then more draws
        while True:
            a = int(rng.integers(0, 100))
            if a % 3 == 0:
                break
        items = [1, 2, 3, 4]
        rng.shuffle(items)
        return a, items, float(rng.random()), str(rng.choice(["x", "y", "z"]))

    recorder = Recorded(np.random.default_rng(1))
    origin = sample(recorder)
    assert origin == sample(np.random.default_rng(1))  # recording changes no draw
    loop = sum(name == "integers" for name, _, _ in recorder.draws)
    for redraw in range(len(recorder.draws)):
        replayed = sample(Replayed(recorder.draws, redraw, np.random.default_rng(7)))
        if redraw < loop:  # the loop's value redrawn: what follows the loop is the origin's
            assert replayed[1:] == origin[1:]
        else:  # a later draw redrawn: everything else is the origin's
            changed = [a != b for a, b in zip(replayed, origin, strict=True)]
            assert sum(changed) <= 1 and replayed[0] == origin[0]
