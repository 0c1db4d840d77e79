"""A real headless Chromium for the preview tests: load a page, read what its script counted.

Where no Chromium is installed the tests skip, unless ``MMSYNTH_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs Debian's ``chromium``): then they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=15000"]


def chromium() -> str:
    """The browser's path; skips (or fails where a browser is required) when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "no headless Chromium (apt-get install chromium)"
    if os.environ.get("MMSYNTH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message}, but MMSYNTH_REQUIRE_BROWSER=1")
    pytest.skip(message)


def _run(args: list[str], page: Path) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="mmsynth-chromium-") as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args,
                               page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=180)


def dump_dom(page: Path) -> str:
    """Load ``page`` and return its DOM as serialised once it has loaded and its scripts ran (what
    a payload that got past the escaping would have changed is in there)."""
    proc = _run(["--dump-dom"], page)
    assert "<body" in proc.stdout, \
        f"no <body> in the DOM Chromium dumped; stderr:\n{proc.stderr[-2000:]}"
    return proc.stdout


def body_attributes(dom: str) -> dict[str, str]:
    """The ``data-*`` attributes of ``<body>`` in a dumped DOM."""
    body = re.search(r"<body([^>]*)>", dom)
    assert body, "no <body> in the DOM"
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', body.group(1)))


def page_counts(page: Path) -> dict[str, str]:
    """Load ``page`` and return the ``data-*`` attributes its script set on ``<body>``."""
    return body_attributes(dump_dom(page))


def screenshot(page: Path, png: Path, size: str = "1400,2400") -> Path:
    """A PNG screenshot of ``page`` (to look at; the tests check it is a real image)."""
    _run([f"--screenshot={png}", f"--window-size={size}"], page)
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no screenshot"
    return png
