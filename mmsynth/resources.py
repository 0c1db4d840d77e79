"""Where the data the code reads at run time lives: prompt sets, vocabularies (``configs/``).

The one place that knows it: everything under ``configs/`` is found through :func:`config_path`,
so that shipping the folder inside the wheel (read with ``importlib.resources``) changes one line.
"""

from __future__ import annotations

from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]


def config_path(*parts: str) -> Path:
    """``configs/<parts...>``: a data file or folder, e.g. ``config_path("prompts")``."""
    return _REPO_ROOT.joinpath("configs", *parts)
