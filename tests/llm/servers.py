"""A real OpenAI-compatible server for tests and benches: ``transformers serve`` (the
``transformers[serving]`` extra) with the embedded SmolLM2, exported by
``mmsynth.llm.export_hf``; offline, on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export_embedded(out_dir: Path) -> Path:
    """The embedded model as a transformers checkpoint (in a subprocess: its memory goes back)."""
    if not (out_dir / "config.json").exists():
        subprocess.run([sys.executable, "-m", "mmsynth.llm.export_hf", str(out_dir)], check=True,
                       capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return out_dir


def start_transformers_serve(model_dir: Path, port: int, log: Path,
                             extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """``transformers serve`` on 127.0.0.1:port, returned once ``/v1/models`` answers."""
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent))
    assert exe, "transformers serve needs the transformers[serving] extra"
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
             *extra, str(model_dir)],
            stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited {proc.returncode}:\n"
                               f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"transformers serve did not answer in 180 s:\n{log.read_text()[-3000:]}")
