"""The HTML preview, opened in a real headless Chromium: images load, plots are there, records and
rejects are shown with their content."""

import html
import json
import subprocess
import sys

from browser import page_counts, screenshot
from conftest import REPO, cli, decoded, read_shards

from mmsynth.preview import preview


def test_geometry_preview_renders_every_image_and_plot_in_chromium(geometry_run, tmp_path):
    page = tmp_path / "preview.html"
    proc = subprocess.run([sys.executable, "-m", "mmsynth.preview", str(geometry_run), "--out",
                           str(page), "--n", "200", "--seed", "0"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    counts = page_counts(page)
    assert counts["ready"] == "1"
    assert counts["broken-images"] == "0"
    # kept vs rejected, kinds, answer lengths (no CLIP in this run), and all 50 samples.
    assert int(counts["plots"]) == 3
    assert int(counts["images"]) == 50 + 3
    text = page.read_text()
    assert "No CLIP scores in this run." in text
    assert "Samples (50 of 50, chosen at random)" in text
    for key, members in read_shards(geometry_run).items():
        record = decoded(members["json"])
        assert key in text
        assert f"<b>{html.escape(record['qa'][0]['answer'])}</b>" in text
    shot = screenshot(page, tmp_path / "preview.png")
    assert shot.stat().st_size > 50_000  # a page of figures, not a blank window


def test_preview_picks_n_records_by_seed_and_needs_no_torch(geometry_run, tmp_path):
    code = ("import sys; from mmsynth.preview import preview; "
            f"preview({str(geometry_run)!r}, {str(tmp_path / 'a.html')!r}, n=7, seed=1); "
            "heavy = [m for m in ('torch', 'transformers', 'open_clip', 'datasets') "
            "if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    preview(str(geometry_run), str(tmp_path / "b.html"), n=7, seed=1)
    preview(str(geometry_run), str(tmp_path / "c.html"), n=7, seed=2)
    a, b, c = ((tmp_path / f"{x}.html").read_text() for x in "abc")
    assert a == b and a != c
    assert a.count('<img class="sample"') == 7


def test_rejected_samples_are_shown_with_their_reason_and_picture(tmp_path):
    out = tmp_path / "charts"
    cli("--source", "chart", "--num_samples", "400", "--shard_size", "200", "--out", str(out),
        "--seed", "3", "--noprogress")
    rejects = [e for p in sorted(out.glob("shard-*.rejects.json"))
               for e in json.loads(p.read_text())["samples"]]
    with_pictures = [e for e in rejects if "image" in e]
    assert with_pictures, "seed 3 has charts whose labels do not fit"
    assert all("LabelsDoNotFit" in e["reason"] for e in with_pictures)
    page = preview(str(out), str(tmp_path / "p.html"), n=5)
    counts = page_counts(page)
    assert counts["broken-images"] == "0"
    assert int(counts["images"]) == 5 + 3 + len(with_pictures)
    text = page.read_text()
    for e in rejects:
        assert e["reason"] in text and html.escape(e["detail"][:40]) in text


def test_a_directory_without_shards_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mmsynth.preview", str(tmp_path), "--out",
                           str(tmp_path / "p.html")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "holds no shard-*.tar files" in proc.stderr and "Traceback" not in proc.stderr
