"""The preview page of someone else's run folder: crafted records, rejects and side files are shown
as text, never run as script (checked in the HTML and in a real headless Chromium), and malformed
members are skipped and counted on the page instead of breaking it."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import tarfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import body_attributes, dump_dom, page_counts
from conftest import REPO, read_shards

import mmsynth.preview as pv
from mmsynth import shards

PWN = "document.body.setAttribute('data-pwned','1')"
P_SCRIPT = f"<script>{PWN}</script>"
P_IMG = f'<img src=x onerror="{PWN}">'
P_ATTR = f'x" onerror="{PWN}'  # breaks out of a double-quoted attribute if placed unescaped
P_BOX = f'1" onload="{PWN}'
PAYLOADS = (P_SCRIPT, P_IMG, P_ATTR)


class Scan(HTMLParser):
    """Every element with its attributes, the script bodies and the text of a page."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in: list[str] = []
        self._row: list[str] | None = None
        self._table: str | None = None
        self.skipped: dict[tuple[str, str], int] = {}
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        self._in.append(tag)
        if tag == "script":
            self.scripts.append("")
        if tag == "table":
            self._table = attributes.get("class")
        if tag == "tr" and self._table == "skipped":
            self._row = []

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()
        if tag == "tr" and self._row is not None:
            where, reason, count = self._row
            self.skipped[(where, reason)] = int(count)
            self._row = None
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in and self._in[-1] == "script":
            self.scripts[-1] += data
        else:
            self.text.append(data)
            if self._row is not None and self._in and self._in[-1] == "td":
                self._row.append(data)


def assert_inert(page: str) -> Scan:
    """No element carries an event handler, the only script is the page's own, every image is a
    data: PNG or JPEG that decodes, and the policy is in place."""
    from PIL import Image

    scan = Scan(page)
    handlers = [(tag, name) for tag, attrs in scan.elements for name in attrs
                if name.lower().startswith("on")]
    assert not handlers, handlers
    assert scan.scripts == [pv.SCRIPT]
    assert [tag for tag, _ in scan.elements if tag in ("iframe", "object", "embed", "a", "form",
                                                      "base", "link")] == []
    metas = [a for tag, a in scan.elements if tag == "meta" and a.get("http-equiv")]
    assert metas == [{"http-equiv": "Content-Security-Policy", "content": pv.CSP}]
    assert "default-src 'none'" in pv.CSP and "img-src data:;" in pv.CSP
    for tag, attrs in scan.elements:
        if tag == "img":
            head, _, data = attrs["src"].partition(",")
            assert head in ("data:image/png;base64", "data:image/jpeg;base64"), attrs["src"][:80]
            with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as im:
                im.load()
    return scan


def _png(size=(64, 48), noise=False) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = (rng.integers(0, 256, (*size[::-1], 3)) if noise
              else np.full((*size[::-1], 3), 200)).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None) -> None:
    info = tarfile.TarInfo(name)
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _record(key: str, **fields) -> bytes:
    return json.dumps({"id": key, "image": f"{key}.png",
                       "conversations": [{"from": "human", "value": "q"},
                                         {"from": "gpt", "value": "a"}],
                       "meta": {"source": "crafted"}, **fields}).encode()


EVIL = {
    "caption": P_SCRIPT + P_IMG,
    "conversations": [{"from": P_ATTR, "value": P_SCRIPT}, {"from": "gpt", "value": P_IMG}],
    "qa": [{"question": P_IMG, "answer": P_SCRIPT, "value": P_ATTR, "unit": P_IMG,
            "type": P_ATTR, "tolerance": P_ATTR}],
    "annotations": {"width": 64, "height": 48, "objects": [
        {"category": P_SCRIPT, "bbox": [4, 4, 20, 20]},     # drawn, its label as text
        {"category": "cat", "bbox": [P_BOX, 1, 2, 3]},      # not numbers: skipped
        {"category": P_IMG, "bbox": [1, 2, P_BOX, 4]},
        {"category": "dog", "bbox": [1, 2, 3]},
        "not an object"]},
    "scene": {"k": P_SCRIPT},
    "meta": {"source": P_SCRIPT, "generator": P_IMG + " $\\frac{", "file_name": P_ATTR,
             "image_id": P_IMG, "license": {"name": P_SCRIPT}, "clip": {"score": P_ATTR}},
}


def craft(geometry_run: Path, tmp_path: Path, big: bool = False) -> Path:
    """A copy of the 50-sample run with a crafted second shard, rejects file and side files."""
    out = tmp_path / "run"
    shutil.copytree(geometry_run, out)
    with tarfile.open(out / "shard-000001.tar", "w") as tar:
        _add(tar, "evil.json", _record("evil", **EVIL))
        _add(tar, "evil.png", _png())
        # The box overlay's size from the image itself when the annotation's is a payload.
        _add(tar, "evil2.json", _record("evil2", annotations={
            "width": P_BOX, "height": 48, "objects": [{"category": "c", "bbox": [1, 2, 3, 4]}]}))
        _add(tar, "evil2.png", _png())
        _add(tar, "list1.json", b"[1, 2]")                        # a JSON list
        _add(tar, "list1.png", _png())
        _add(tar, "adir")                                         # a directory member
        _add(tar, "badturns.json", _record("badturns", conversations="hello"))
        _add(tar, "badturns.png", _png())
        _add(tar, "deep.json", b"[" * 100_000 + b"]" * 100_000)    # nested past the recursion limit
        _add(tar, "deep.png", _png())
        _add(tar, "corrupt.json", _record("corrupt"))
        _add(tar, "corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50)
        _add(tar, "mismatch.json", _record("mismatch"))
        _add(tar, "mismatch.png", _jpeg())                        # a JPEG named .png
        _add(tar, "types.json", _record("types", qa="not a list", annotations=[1, 2],
                                        caption={"a": 1}, meta={"clip": {"score": "high"}}))
        _add(tar, "types.png", _png())
        if big:
            _add(tar, "big.json", _record("big"))
            _add(tar, "big.png", _png((400, 400), noise=True))
    (out / "shard-000002.tar").write_bytes(b"this is not a tar file at all" * 40)
    (out / "shard-000001.rejects.json").write_text(json.dumps({"shard": 1, "samples": [
        {"index": P_ATTR, "reason": P_SCRIPT, "detail": P_IMG,
         "record": {"id": P_SCRIPT, "conversations": [{"from": P_ATTR, "value": P_IMG}],
                    "annotations": {"width": 64, "height": 48, "objects": [
                        {"category": P_IMG, "bbox": [P_BOX, 0, 1, 1]},
                        {"category": "ok", "bbox": [1, 1, 5, 5]}]},
                    "meta": {"reply": P_SCRIPT}},
         "image": {"ext": "png", "base64": base64.b64encode(_png()).decode(), "width": P_BOX,
                   "height": 48}},
        {"index": 2, "reason": "payload in base64", "image": {
            "ext": "png", "base64": f'x" onerror="{PWN}'}},
        {"index": 3, "reason": "a jpeg claimed as png", "image": {
            "ext": "png", "base64": base64.b64encode(_jpeg()).decode()}},
        {"index": 4, "reason": "payload in ext", "image": {
            "ext": P_ATTR, "base64": base64.b64encode(_png()).decode()}},
        "not an object",
        {"index": 5, "reason": "record and image of the wrong types", "record": [1, 2],
         "image": "nope"},
    ]}))
    run = json.loads((out / "run.json").read_text())
    run["config"]["source"] = P_SCRIPT
    run["fingerprint"] = P_ATTR
    (out / "run.json").write_text(json.dumps(run))
    stats = json.loads((out / "stats.json").read_text())
    stats["rejections"] = {P_SCRIPT: 3, "$\\frac{": 2, "no count": "x"}
    (out / "stats.json").write_text(json.dumps(stats))
    return out


EXPECTED_SKIPS = {
    ("shard", pv._READER_REASONS["bad_json"]): 3,       # the list, the turns, the deep nesting
    ("shard", pv._READER_REASONS["not_a_file"]): 1,
    ("shard", "shard-000002.tar cannot be read (further)"): 1,
    ("image", "does not decode"): 1,
    ("image", "not a PNG as claimed"): 2,               # the shard's and the reject's
    ("image", "thumbnail is not valid base64"): 1,
    ("image", "claimed type is not png or jpg"): 1,
    ("box", "bbox is not four numbers"): 4,             # three in the record, one in the reject
    ("box", "not an object"): 1,
    ("field", "qa not a list"): 1,
    ("field", "annotations not an object"): 1,
    ("field", "caption not a string"): 1,
    ("reject", "not a JSON object"): 1,
    ("reject", "record not an object"): 1,
    ("reject", "image not an object"): 1,
    ("stats.json", "a rejection reason without a count"): 1,
}


@pytest.fixture
def crafted(geometry_run, tmp_path):
    out = craft(geometry_run, tmp_path)
    page = tmp_path / "p.html"
    proc = subprocess.run([sys.executable, "-m", "mmsynth.preview", str(out), "--out", str(page),
                           "--n", "200"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return out, page, proc


def test_crafted_run_folder_is_shown_as_text_never_as_markup(crafted):
    _out, page, proc = crafted
    text = page.read_text()
    scan = assert_inert(text)
    shown = "".join(scan.text)
    for payload in PAYLOADS:
        assert payload in shown  # shown to the reader, as text
    assert "&lt;script&gt;" in text and "<script>document" not in text
    # Every usable sample is there: the 50 of the run and the five crafted ones the reader accepts.
    assert "Samples (55 of 55, chosen at random)" in text
    cards = text.count('<div class="card">')
    assert cards == 55
    assert text.count("no image: does not decode") == 1
    assert text.count("no image: not a PNG as claimed: it is JPEG") == 2
    assert "no image: thumbnail is not valid base64" in text
    assert f'x" onerror="{PWN}' not in text
    # The crafted box labels are text in the SVG; the valid boxes are drawn from floats.
    assert '<rect x="4.0" y="4.0" width="20.0" height="20.0"' in text
    assert '<svg class="boxes" viewBox="0 0 64 48"' in text
    for (where, reason), count in EXPECTED_SKIPS.items():
        assert scan.skipped.get((where, reason)) == count, (where, reason, scan.skipped)
    assert f"Skipped while reading ({sum(scan.skipped.values())})" in text
    # The command says so too.
    assert "things the page cannot show" in proc.stderr
    assert "shard: " + pv._READER_REASONS["not_a_file"] in proc.stderr


def test_no_payload_runs_in_chromium_and_the_page_script_does(crafted):
    _out, page, _proc = crafted
    dom = dump_dom(page)
    counts = body_attributes(dom)
    assert counts["ready"] == "1", counts       # the page's own script ran (its hash matches)
    assert "pwned" not in counts
    assert counts["broken-images"] == "0"      # nothing undecodable was embedded
    scan = Scan(page.read_text())
    assert int(counts["images"]) == sum(1 for tag, _ in scan.elements if tag == "img")
    assert int(counts["box-overlays"]) == 3    # evil, evil2 and the first reject
    after = Scan(dom)  # the DOM after the scripts ran: still no handler, nothing marked
    assert not [(t, a) for t, attrs in after.elements for a in attrs
                if a.startswith("on") or a == "data-pwned"]
    assert after.scripts == [pv.SCRIPT]


def test_the_policy_stops_a_payload_that_got_past_the_escaping(crafted, tmp_path):
    """Defence in depth: splice raw payloads into the page (as an escaping bug would) — Chromium
    refuses to run them while the page's own script still runs; without the policy they run, so
    the payloads themselves are live."""
    _out, page, _proc = crafted
    raw = (f'<img src="data:image/png;base64,AAAA" onerror="{PWN}">'
           "<script>document.body.setAttribute('data-pwned2','1')</script>")
    text = page.read_text().replace("<h1>", raw + "<h1>", 1)
    guarded = tmp_path / "guarded.html"
    guarded.write_text(text)
    counts = page_counts(guarded)
    assert counts["ready"] == "1"
    assert "pwned" not in counts and "pwned2" not in counts
    bare = tmp_path / "bare.html"
    bare.write_text(text.replace(f'<meta http-equiv="Content-Security-Policy" '
                                 f'content="{pv.CSP}">', "", 1))
    exposed = page_counts(bare)
    assert exposed.get("pwned") == "1" and exposed.get("pwned2") == "1"


def test_oversize_members_rejects_and_thumbnails_are_not_read(geometry_run, tmp_path,
                                                             monkeypatch):
    out = craft(geometry_run, tmp_path, big=True)
    largest = max(len(m["png"]) for m in read_shards(geometry_run).values())
    big = next(len(m["png"]) for k, m in _members(out / "shard-000001.tar").items() if k == "big")
    cap = (largest + big) // 2
    assert largest < cap < big
    monkeypatch.setattr(shards, "MAX_IMAGE_BYTES", cap)
    page = pv.preview(str(out), str(tmp_path / "p.html"), n=200)
    scan = assert_inert(page.read_text())
    assert scan.skipped[("shard", pv._READER_REASONS["too_large"])] == 1
    assert scan.skipped[("shard", pv._READER_REASONS["incomplete_sample"])] == 1  # big.json alone
    assert "Samples (55 of 55" in page.read_text()

    rejects = out / "shard-000001.rejects.json"
    monkeypatch.setattr(pv, "MAX_REJECTS_BYTES", rejects.stat().st_size - 1)
    scan = assert_inert(pv.preview(str(out), str(tmp_path / "q.html"), n=0).read_text())
    assert scan.skipped[("shard-000001.rejects.json",
                         f"over the {rejects.stat().st_size - 1}-byte cap (not read)")] == 1
    assert ("reject", "not a JSON object") not in scan.skipped

    monkeypatch.setattr(pv, "MAX_REJECTS_BYTES", 64 << 20)
    monkeypatch.setattr(pv, "MAX_THUMBNAIL_BASE64", 100)
    scan = assert_inert(pv.preview(str(out), str(tmp_path / "r.html"), n=0).read_text())
    # The first reject's real thumbnail and the jpeg are over the cap; the base64 payload is not.
    assert scan.skipped[("image", "thumbnail over the 100-byte cap (not read)")] == 3


def test_garbage_side_files_do_not_break_the_page(geometry_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(geometry_run, out)
    (out / "run.json").write_text("[1, 2, 3]")
    (out / "stats.json").write_text('{"kept": "many", "rejected": -1, "rejections": []}')
    (out / "shard-000000.rejects.json").write_text("{not json")
    (out / "shard-000003.rejects.json").mkdir()
    page = pv.preview(str(out), str(tmp_path / "p.html"), n=3)
    scan = assert_inert(page.read_text())
    assert scan.skipped == {
        ("run.json", "not a JSON object"): 1,
        ("stats.json", "its kept is not a count"): 1,
        ("stats.json", "its rejected is not a count"): 1,
        ("stats.json", "its rejections are not an object"): 1,
        ("shard-000000.rejects.json", "not valid JSON"): 1,
        ("shard-000003.rejects.json", "not a regular file"): 1,
    }
    assert "Samples (3 of 50" in page.read_text()


def test_images_are_checked_and_re_encoded_before_embedding():
    png = _png((30, 20))
    data, ext, size = pv.verified_image(png, "png", 1024)
    assert (ext, size) == ("png", (30, 20)) and data[:8] == b"\x89PNG\r\n\x1a\n"
    jpeg = _jpeg() + b"<script>trailing</script>"  # bytes after the image are not carried along
    data, ext, size = pv.verified_image(jpeg, "jpg", 512)
    assert ext == "jpg" and size == (40, 30) and b"<script>" not in data
    shrunk, _, size = pv.verified_image(_png((900, 600)), "png", 300)
    assert size == (900, 600)
    from PIL import Image

    with Image.open(io.BytesIO(shrunk)) as im:
        assert im.size == (300, 200)
    for bad, ext, reason in [(png, "jpg", "not a JPEG as claimed"),
                             (b"GIF89a" + b"\x00" * 40, "png", "does not decode"),
                             (png, "gif", "claimed type is not png or jpg"),
                             (png[:40], "png", "does not decode")]:
        with pytest.raises(pv.ImageProblem) as e:
            pv.verified_image(bad, ext, 512)
        assert e.value.reason == reason


def test_a_claimed_huge_canvas_is_not_decoded(monkeypatch):
    monkeypatch.setattr(pv, "MAX_PIXELS", 64 * 48 - 1)
    with pytest.raises(pv.ImageProblem) as e:
        pv.verified_image(_png(), "png", 512)
    assert e.value.reason == "too many pixels"


def _members(tar_path: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(tar_path) as tar:
        for m in tar:
            if m.isreg():
                key, _, ext = m.name.partition(".")
                samples.setdefault(key, {})[ext] = tar.extractfile(m).read()
    return samples
