"""mmsynth dedup on real runs with planted, labelled duplicates: what it must find, what it must
leave, and the runs it writes.

The floors here are on small sets; the README gives the same measure on 10,000 geometry and
10,000 chart renders (bench/bench_dedup.py --quality).
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import re
import subprocess
import sys

import pytest
from PIL import Image

from mmsynth.dedup.find import Settings, dedup_run
from mmsynth.dedup.record import DEDUP_FILE, read_removed
from mmsynth.sample import Sample
from mmsynth.shards import atomic_write_json, iter_run, run_shards, write_shard
from tests.dedup_plant import TRANSFORMS, plant, plant_in_place

IMAGE_CHECKS = Settings(checks=("exact_image", "near_image"))


def _generate(out, source: str, n: int, seed: int = 0, shard_size: int = 100) -> None:
    from mmsynth.run import run

    run({"source": source, "num_samples": n, "out": str(out), "seed": seed,
         "shard_size": shard_size, "progress": False})


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """A 300-sample geometry run and a 200-sample chart run (distinct scenes)."""
    root = tmp_path_factory.mktemp("dedup_renders")
    _generate(root / "geometry", "geometry", 300)
    _generate(root / "chart", "chart", 200)
    return root


@pytest.mark.parametrize("source", ["geometry", "chart"])
def test_planted_copies_are_found_and_nothing_else(renders, tmp_path, source):
    """10 copies per transform (JPEG q75, resized ±10%, cropped 2%, brightness ±5%) planted in a
    run of distinct renders: at least 39 of the 40 found, each as a duplicate of its original,
    and no distinct render removed (measured at 10,000: 98.4% / 0.02% on geometry)."""
    planted = plant(renders / source, tmp_path / "run", per_transform=10, seed=1)
    result = dedup_run(tmp_path / "run", settings=IMAGE_CHECKS, quiet=True)
    removed = {e["key"]: e for e in result["removed"]}
    found = [k for k, original in planted.items()
             if k in removed and removed[k]["duplicate_of"] == original]
    assert len(found) >= 39, sorted(set(planted) - set(found))
    for name in TRANSFORMS:  # every transform is caught, none only by luck of the others
        assert sum(k.endswith(name) for k in found) >= 9, name
    assert set(removed) <= set(planted), sorted(set(removed) - set(planted))
    assert all(e["reason"] in ("near_image", "exact_image") for e in removed.values())


def test_distinct_renders_are_all_kept(renders):
    for source in ("geometry", "chart"):
        result = dedup_run(renders / source, quiet=True)
        assert result["removed"] == [], (source, result["removed"][:3])
        assert result["samples"] == result["kept"] > 0
        (renders / source / DEDUP_FILE).unlink()


def test_exact_copy_is_exact_image_and_the_lowest_index_stays(renders, tmp_path):
    """The same bytes under two keys: the later one goes, naming the earlier; the kept one is
    the lowest index even when the copy's shard is read first."""
    run = tmp_path / "run"
    planted = plant(renders / "geometry", run, per_transform=0)
    assert planted == {}
    records = list(iter_run(run))
    record, image, ext = records[5]
    copy = Sample.from_record(dict(record, id="copy-of-5", meta={**record["meta"], "index": 9999}),
                              image, ext)
    # The copy in a shard that sorts first: order is by sample index, not by file.
    stats = write_shard(run, 0, [copy] + [Sample.from_record(r, i, e)
                                          for r, i, e in records[:100]])
    atomic_write_json(run / "shard-000000.stats.json", stats)
    result = dedup_run(run, settings=IMAGE_CHECKS, quiet=True)
    assert [(e["key"], e["reason"], e["duplicate_of"]) for e in result["removed"]] == \
        [("copy-of-5", "exact_image", record["id"])]


def test_same_seed_same_record_with_any_number_of_workers(renders, tmp_path):
    planted = plant(renders / "chart", tmp_path / "a", per_transform=3, seed=2)
    plant(renders / "chart", tmp_path / "b", per_transform=3, seed=2)
    one = dedup_run(tmp_path / "a", quiet=True, workers=1)
    two = dedup_run(tmp_path / "b", quiet=True, workers=2)
    assert one["removed"] == two["removed"] and len(one["removed"]) >= 11
    assert {e["key"] for e in one["removed"]} <= set(planted)


def _one_word_apart_elsewhere(tokens: list[str], i: int, others: list[list[str]]) -> bool:
    """Whether another question differs from ``tokens`` at position ``i`` only (brute force,
    independent of the index under test)."""
    return any(len(o) == len(tokens) and o[:i] == tokens[:i] and o[i + 1:] == tokens[i + 1:]
               for o in others)


def test_decontamination_finds_the_shared_50_images_and_50_questions(renders, tmp_path):
    """A benchmark that shares 50 pictures (re-encoded as JPEG) and 50 questions (one word
    changed or added) with a run, among pictures and questions it does not share: all 100
    found, each naming its benchmark item, and nothing else."""
    run = renders / "chart"
    records = list(iter_run(run))
    words = [[re.findall(r"\w+", q.replace("<image>", "").lower())
              for q in (t["value"] for t in r["conversations"] if t["from"] == "human")]
             for r, _, _ in records]
    every = [q for qs in words for q in qs]
    rng = random.Random(7)
    bench = tmp_path / "bench"
    (bench / "images").mkdir(parents=True)
    rows, leaked_q = [], {}
    for n, (record, _, _) in enumerate(records):
        if len(leaked_q) == 50:
            break
        tokens = words[n][0]
        others = [q for q in every if q is not tokens]
        if len(tokens) < 6 or sum(q == tokens for q in every) > 1:
            continue
        i = rng.randrange(1, len(tokens))
        if _one_word_apart_elsewhere(tokens, i, others):
            continue
        if n % 2:  # one word changed
            reworded = [*tokens[:i], "zorblat", *tokens[i + 1:]]
        else:  # one word added
            reworded = [*tokens[:i], "really", *tokens[i:]]
        rows.append({"question": " ".join(reworded).capitalize() + "?", "answer": "x"})
        leaked_q[record["id"]] = len(rows)
    assert len(leaked_q) == 50
    rows += [{"question": f"What is the capital city of country number {k} on this map?"}
             for k in range(30)]
    (bench / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    leaked_i = {}
    for record, image, _ in records[::-1]:
        if len(leaked_i) == 50:
            break
        if record["id"] in leaked_q:
            continue
        buf = io.BytesIO()
        Image.open(io.BytesIO(image)).convert("RGB").save(buf, "JPEG", quality=75)
        path = bench / "images" / f"img{len(leaked_i):03d}.jpg"
        path.write_bytes(buf.getvalue())
        leaked_i[record["id"]] = str(path)
    # Unshared pictures: renders of another seed.
    _generate(tmp_path / "other", "geometry", 20, seed=123)
    for k, (_, image, _) in enumerate(iter_run(tmp_path / "other")):
        (bench / "images" / f"other{k:02d}.png").write_bytes(image)

    target = tmp_path / "run"
    plant(run, target, per_transform=0)
    result = dedup_run(target, against=[str(bench)], quiet=True)
    removed = {e["key"]: e for e in result["removed"]}
    assert {k for k, e in removed.items() if e["reason"] == "contaminated_text"} == set(leaked_q)
    assert {k for k, e in removed.items() if e["reason"] == "contaminated_image"} == \
        set(leaked_i)
    assert len(removed) == 100
    for key, row in leaked_q.items():
        assert removed[key]["duplicate_of"] == f"{bench / 'questions.jsonl'}:{row}"
    for key, path in leaked_i.items():
        assert removed[key]["duplicate_of"] == path
    assert result["against"]["images"] == 70 and result["against"]["questions"] == 80


@pytest.fixture(scope="module")
def written_run(coco_run, tmp_path_factory, renders):
    """The shared coco run (LLM-written text) with planted text copies under other pictures:
    the same text re-cased and re-punctuated (exact_text), one word changed (near_text)."""
    out = tmp_path_factory.mktemp("written")
    src = coco_run[0]
    for tar in run_shards(src):
        (out / tar.name).write_bytes(tar.read_bytes())
        stats = tar.with_name(tar.name.replace(".tar", ".stats.json"))
        (out / stats.name).write_bytes(stats.read_bytes())
    (out / "run.json").write_bytes((src / "run.json").read_bytes())
    written = [Sample.from_record(r, i, e) for r, i, e in iter_run(src) if not r.get("qa")]
    pictures = [i for _, i, _ in iter_run(renders / "geometry")]
    copies, expected = [], {}
    for sample in written[:2]:
        turns = sample.conversations
        shouted = [dict(t, value=t["value"].upper().replace(".", " !")) for t in turns]
        words = turns[-1]["value"].split()
        k = len(words) // 2
        changed = [*turns[:-1], dict(turns[-1], value=" ".join(
            [*words[:k], "zorblat", *words[k + 1:]]))]
        for tag, conv, reason in (("shout", shouted, "exact_text"),
                                  ("edit", changed, "near_text")):
            key = f"{sample.id}-{tag}"
            copies.append(dataclasses.replace(
                sample, id=key, image=pictures[len(copies)], image_ext="png",
                conversations=conv, meta={**sample.meta, "index": 1000 + len(copies)}))
            expected[key] = (reason, sample.id)
    stats = write_shard(out, 900, copies)
    atomic_write_json(out / "shard-000900.stats.json", stats)
    return out, expected, len(written)


def test_written_text_copies_are_found(written_run):
    out, expected, n_written = written_run
    assert n_written >= 2
    result = dedup_run(out, quiet=True)
    removed = {e["key"]: (e["reason"], e["duplicate_of"]) for e in result["removed"]}
    assert removed == expected


def test_rewrite_is_a_run_that_verifies(renders, tmp_path):
    from mmsynth.dedup.command import main
    from mmsynth.loader import make_dataset
    from mmsynth.verify import verify

    planted = plant_in_place(renders / "geometry", tmp_path / "run", per_transform=2, seed=3)
    assert verify(str(tmp_path / "run")).ok  # a run with duplicates, still a run
    assert main([str(tmp_path / "run"), "--rewrite", str(tmp_path / "clean"), "--quiet",
                 "--checks", "exact_image,near_image"]) == 0
    removed = read_removed(tmp_path / "run")
    assert removed is not None and set(removed.keys) == set(planted) and len(planted) == 8
    report = verify(str(tmp_path / "clean"))
    assert report.ok, report.render()
    keys = {r["key"] for r in make_dataset(tmp_path / "clean", shuffle_buffer=0,
                                           split_by_node=False, split_by_worker=False)}
    original = {r["id"] for r, _, _ in iter_run(tmp_path / "run")}
    assert keys == original - set(planted)
    stats = json.loads((tmp_path / "clean" / "stats.json").read_text())
    assert stats["kept"] == len(keys)
    assert stats["rejections"].get("dedup:near_image", 0) + \
        stats["rejections"].get("dedup:exact_image", 0) == 8
    sizes = json.loads((tmp_path / "clean" / "sizes.json").read_text())
    assert sum(sizes.values()) == len(keys)
    assert "## Duplicates and contamination" in (tmp_path / "run" / "README.md").read_text()
    clean_card = (tmp_path / "clean" / "README.md").read_text()
    assert "dedup:near_image" in clean_card or "dedup:exact_image" in clean_card
    # Again into the same folder: refused, then replaced with --overwrite.
    assert main([str(tmp_path / "run"), "--rewrite", str(tmp_path / "clean"), "--quiet"]) == 2
    assert main([str(tmp_path / "run"), "--rewrite", str(tmp_path / "clean"), "--quiet",
                 "--overwrite"]) == 0


def test_the_card_counts_removals(renders, tmp_path):
    plant(renders / "chart", tmp_path / "run", per_transform=1, seed=4)
    (tmp_path / "run" / "README.md").write_text(
        (renders / "chart" / "README.md").read_text())
    dedup_run(tmp_path / "run", quiet=True)
    text = (tmp_path / "run" / "README.md").read_text()
    assert "## Duplicates and contamination" in text
    assert "| near_image |" in text or "| exact_image |" in text
    dedup_run(tmp_path / "run", quiet=True)  # a second pass replaces the section
    assert (tmp_path / "run" / "README.md").read_text().count("## Duplicates") == 1


def test_command_line(renders, tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "mmsynth", "dedup", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for flag in ("--against", "--rewrite", "--workers", "--executor", "--ray_address",
                 "--checks", "--image_hash_bits", "--image_difference", "--text_jaccard",
                 "--overwrite", "--json_output"):
        assert flag in help_text, flag
    assert "--keep_duplicates" in help_text  # the description says how readers keep them
    assert "dedup" in subprocess.run([sys.executable, "-m", "mmsynth", "--help"],
                                     capture_output=True, text=True).stdout
    bad = subprocess.run([sys.executable, "-m", "mmsynth.dedup", str(tmp_path / "nothing")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr
    plant(renders / "geometry", tmp_path / "run", per_transform=0)
    bad = subprocess.run([sys.executable, "-m", "mmsynth.dedup", str(tmp_path / "run"),
                          "--checks", "near_images"], capture_output=True, text=True)
    assert bad.returncode == 2 and "near_image" in bad.stderr
    done = subprocess.run([sys.executable, "-m", "mmsynth.dedup", str(tmp_path / "run"),
                           "--json_output"], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["samples"] == 300 and result["removed_total"] == 0


def test_ray_executor_gives_the_same_record(renders, tmp_path):
    pytest.importorskip("ray")
    plant(renders / "chart", tmp_path / "a", per_transform=2, seed=5)
    plant(renders / "chart", tmp_path / "b", per_transform=2, seed=5)
    local = dedup_run(tmp_path / "a", quiet=True)
    on_ray = dedup_run(tmp_path / "b", quiet=True, executor="ray", workers=2)
    assert on_ray["removed"] == local["removed"] and len(local["removed"]) >= 7


def test_copies_of_the_shipped_photos_are_found(tmp_path):
    """The nine shipped COCO photos, each with a copy per transform under another file name
    (36 copies): all found, no photo removed. Photos are framed whole, so a crop is searched
    for (images._registered) and hashed by 8 × 8 frequencies; measured the same: 36 / 36."""
    from mmsynth.resources import data_path

    photos = sorted(data_path("assets", "coco_sample", "images").glob("*.jpg"))
    assert len(photos) == 9
    rng = random.Random(0)
    samples, planted = [], {}

    def sample(key: str, image: bytes, ext: str, name: str, index: int) -> Sample:
        return Sample(id=key, image=image, image_ext=ext,
                      conversations=[{"from": "human", "value": "<image>\nDescribe it."},
                                     {"from": "gpt", "value": f"Picture {key}."}],
                      meta={"source": "coco", "index": index, "file_name": name})

    for i, path in enumerate(photos):
        samples.append(sample(f"photo-{i}", path.read_bytes(), "jpg", path.name, i))
    for i, path in enumerate(photos):
        for name, transform in TRANSFORMS.items():
            image, ext = transform(Image.open(path), rng)
            key = f"photo-{i}-{name}"
            samples.append(sample(key, image, ext, f"{name}-{path.name}", len(samples)))
            planted[key] = f"photo-{i}"
    # Two samples of one photo (a description and a conversation) are not duplicates.
    samples.append(sample("photo-0-again", photos[0].read_bytes(), "jpg", photos[0].name, 0))
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    atomic_write_json(run / "shard-000000.stats.json", write_shard(run, 0, samples))
    result = dedup_run(run, settings=IMAGE_CHECKS, quiet=True)
    removed = {e["key"]: e["duplicate_of"] for e in result["removed"]}
    assert removed == planted


def test_within_shard_stage_drops_repeated_pictures(renders):
    """--dedup within_shard: a JPEG copy and a byte copy of earlier samples of the shard are
    rejected (dedup:near_image, dedup:exact_image), everything else kept in order."""
    from mmsynth.dedup.stage import WithinShardStage

    originals = [Sample.from_record(r, i, e) for r, i, e in list(iter_run(renders / "chart"))[:30]]
    jpeg, ext = TRANSFORMS["jpeg75"](Image.open(io.BytesIO(originals[3].image)), random.Random(0))
    copies = [dataclasses.replace(originals[3], id="copy-jpeg", image=jpeg, image_ext=ext,
                                  meta={**originals[3].meta, "index": 1000}),
              dataclasses.replace(originals[5], id="copy-bytes",
                                  meta={**originals[5].meta, "index": 1001})]
    stage = WithinShardStage()
    kept, rejected = stage(originals[:10] + copies[:1] + originals[10:] + copies[1:])
    assert [s.id for s in kept] == [s.id for s in originals]
    assert {(r.reason, r.sample.id) for r in rejected} == {("dedup:near_image", "copy-jpeg"),
                                                          ("dedup:exact_image", "copy-bytes")}
    assert stage.counters == {"exact_image": 1, "near_image": 1, "kept": 30}


def test_within_shard_option_runs_in_the_generator(tmp_path):
    from mmsynth.run import run

    summary = run({"source": "geometry", "num_samples": 40, "out": str(tmp_path / "a"),
                   "dedup": "within_shard", "progress": False})
    assert summary.kept == 40 and summary.rejected == 0
    stats = json.loads((tmp_path / "a" / "shard-000000.stats.json").read_text())
    assert stats["stages"]["dedup"]["kept"] == 40
    assert any("dedup within shards" in line for line in summary.stage_lines)
    # Off by default, and off leaves the fingerprint of runs made before the option.
    plain = run({"source": "geometry", "num_samples": 40, "out": str(tmp_path / "b"),
                 "progress": False})
    assert "dedup" not in json.loads((tmp_path / "b" / "shard-000000.stats.json").read_text()
                                     )["stages"]
    assert json.loads((tmp_path / "b" / "run.json").read_text())["fingerprint"] != \
        json.loads((tmp_path / "a" / "run.json").read_text())["fingerprint"]
    assert plain.kept == 40
