"""The dataset card (README.md in --out) and the per-shard rejects file: written by every run,
treated as the tool's files by resume, leftovers and --overwrite, never changing the tars."""

import base64
import io

from conftest import cli, decoded, load_json, read_shards, shard_bytes
from PIL import Image

from mmsynth.pipeline import MAX_REJECT_SAMPLES_PER_REASON
from mmsynth.run import run
from mmsynth.shards import CARD_MARK


def geometry(out, *extra):
    return cli("--source", "geometry", "--num_samples", "45", "--shard_size", "20", "--out",
               str(out), "--seed", "4", "--noprogress", *extra)


def test_every_run_writes_a_dataset_card_with_config_counts_licences_and_loading(tmp_path):
    geometry(tmp_path)
    card = (tmp_path / "README.md").read_text()
    lines = card.splitlines()
    assert lines[:2] == ["---", CARD_MARK] and "license: cc0-1.0" in lines
    fingerprint = load_json(tmp_path / "run.json")["fingerprint"]
    assert f"Fingerprint `{fingerprint}`" in card
    assert "| kept samples | 45 |" in card and "No sample was rejected." in card
    kinds = {}
    for members in read_shards(tmp_path).values():
        generator = decoded(members["json"])["meta"]["generator"]
        kinds[generator] = kinds.get(generator, 0) + 1
    for generator, n in kinds.items():
        assert f"| geometry/{generator} | {n} |" in card
    assert "| CC0-1.0 | 45 |" in card and "Apache-2.0" in card
    assert "No model: answers are computed" in card and "No CLIP scores in this run." in card
    assert '"seed": 4' in card and 'load_dataset("webdataset"' in card
    # The snippet writes next to the run: exports refuse to write into a run folder.
    assert "mmsynth export llava THIS_DIR exports/llava.json --images exports/images" in card
    # What to upload: the working files named, each a file the run folder can hold.
    assert "HfApi().upload_folder(" in card
    for pattern in ('".mmsynth.lock"', '"llm_cache/*"', '"*.rejects.json"'):
        assert pattern in card


def test_resume_regenerates_the_card_and_overwrite_deletes_only_our_files(tmp_path):
    geometry(tmp_path)
    (tmp_path / "README.md").write_text(f"---\n{CARD_MARK}\nstale\n")
    (tmp_path / "notes.txt").write_text("mine")
    proc = geometry(tmp_path)
    assert "3 shards were already complete" in proc.stdout
    assert "| kept samples | 45 |" in (tmp_path / "README.md").read_text()
    geometry(tmp_path, "--overwrite")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert len(list(tmp_path.glob("shard-*.rejects.json"))) == 3


def test_a_users_own_readme_is_left_alone_and_the_summary_says_so(tmp_path):
    (tmp_path / "README.md").write_text("# my notes about this folder\n")
    proc = geometry(tmp_path)
    assert "dataset card not written" in proc.stdout
    geometry(tmp_path, "--overwrite", "--seed", "5")
    assert (tmp_path / "README.md").read_text() == "# my notes about this folder\n"


def test_rejects_file_keeps_a_capped_sample_per_reason_without_touching_the_tars(
        tmp_path, flaky_family):
    def go(out):
        return run({"source": "geometry", "num_samples": 80, "shard_size": 40, "seed": 5,
                    "out": str(out), "families": [flaky_family], "progress": False})

    summary = go(tmp_path / "a")
    reason = f"render_error:{flaky_family}:ZeroDivisionError"
    for shard in (0, 1):
        rejects = load_json(tmp_path / "a" / f"shard-{shard:06d}.rejects.json")
        stats = load_json(tmp_path / "a" / f"shard-{shard:06d}.stats.json")
        assert rejects["rejected"] == stats["rejected"] > MAX_REJECT_SAMPLES_PER_REASON
        assert len(rejects["samples"]) == MAX_REJECT_SAMPLES_PER_REASON
        # The first ones, in index order; no picture (the scene never existed).
        assert [e["index"] for e in rejects["samples"]] == \
            [e["index"] for e in stats["examples"][reason]]
        assert all(e["reason"] == reason and "degenerate scene" in e["detail"]
                   and "image" not in e for e in rejects["samples"])
    assert summary.rejected > 2 * MAX_REJECT_SAMPLES_PER_REASON
    # Rebuilding a shard whose stats are gone rewrites its rejects file (same content), and
    # a leftover temporary rejects file from a killed write is removed.
    (tmp_path / "a" / "shard-000001.stats.json").unlink()
    before = (tmp_path / "a" / "shard-000001.rejects.json").read_bytes()
    (tmp_path / "a" / "shard-000001.rejects.json.tmp-0123456789ab").write_text("{")
    go(tmp_path / "a")
    assert (tmp_path / "a" / "shard-000001.rejects.json").read_bytes() == before
    assert not list((tmp_path / "a").glob("*.tmp-*"))


def test_a_chart_whose_labels_do_not_fit_keeps_its_picture_and_the_tars_do_not_change(tmp_path):
    args = ["--source", "chart", "--num_samples", "200", "--shard_size", "200", "--seed", "3"]
    cli(*args, "--out", str(tmp_path / "a"), "--noprogress")
    cli(*args, "--out", str(tmp_path / "b"), "--noprogress", "--workers", "2")
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")
    entries = load_json(tmp_path / "a" / "shard-000000.rejects.json")["samples"]
    pictured = [e for e in entries if "image" in e]
    assert pictured
    for e in pictured:
        image = Image.open(io.BytesIO(base64.b64decode(e["image"]["base64"])))
        assert image.size == (384, 384) and (e["image"]["width"], e["image"]["height"]) == \
            (448, 448)
        assert e["record"]["scene"] and e["record"]["meta"]["index"] == e["index"]
        # A real drawing, not a blank canvas.
        assert len(set(image.convert("L").tobytes())) > 10
    keys = set(read_shards(tmp_path / "a"))
    assert not {e["record"]["id"] for e in pictured} & keys
