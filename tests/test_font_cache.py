"""A stale matplotlib font cache (one that lacks the fonts matplotlib ships, as a process
writes it while another install is being deleted) must not silently change the pictures: the
renderers rebuild it and draw the same bytes. This happened on this machine and moved the
pinned digests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DRAW = """
import hashlib, numpy as np
from renderers import get_renderer
from renderers.canvas import Canvas
family, canvas = get_renderer("geometry", "triangle"), Canvas()
out = []
for i in range(6):
    rng = np.random.default_rng([0, i])
    out.append(family.render(family.sample_scene(rng), canvas))
print(hashlib.sha256(b"".join(out)).hexdigest())
"""


def _draw(config_dir: Path) -> str:
    env = {**os.environ, "MPLCONFIGDIR": str(config_dir)}
    proc = subprocess.run([sys.executable, "-c", DRAW], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


def test_a_cache_that_lists_fonts_no_longer_there_is_rebuilt(tmp_path):
    fresh = _draw(tmp_path / "fresh")
    (cache,) = (tmp_path / "fresh").glob("fontlist-*.json")
    stale = tmp_path / "stale"
    stale.mkdir()
    data = json.loads(cache.read_text())
    # written while another install's fonts were being deleted: matplotlib's own fonts are not
    # in it (a file that is listed but gone, matplotlib notices itself; one left out, never)
    data["ttflist"] = [f for f in data["ttflist"] if Path(f["fname"]).is_absolute()]
    (stale / cache.name).write_text(json.dumps(data))
    assert _draw(stale) == fresh
