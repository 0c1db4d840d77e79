"""Where mmsynth finds the data it ships: the prompt sets and the COCO sample.

Installed from a wheel, they are the data packages ``mmsynth.configs`` and ``mmsynth.assets``
(pyproject.toml maps them onto the repository's top-level ``configs/`` and ``assets/`` at build
time), found with :mod:`importlib.resources`. Running from a source checkout (which is also
where an editable install runs from), they are that checkout's own folders.

The checkout wins when the code runs from one: an editable install's finder maps the data
packages to the checkout it was installed from, which need not be the checkout whose code runs
(a worktree or ``PYTHONPATH=.`` ahead of a shared install), and editing a prompt in the
checkout must change what that checkout's code reads.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The folder above the package, a checkout's root when it holds the project's pyproject.toml.
CHECKOUT_ROOT = PACKAGE_DIR.parent


def data_path(folder: str, *parts: str) -> Path:
    """``folder/parts...`` of the shipped data, ``folder`` being ``configs`` or ``assets``.

    The checkout's file or folder when running from a checkout, else the installed package
    ``mmsynth.<folder>``'s. Never raises: a missing file is reported by whoever reads it, and the
    path it names is where it should be.
    """
    checkout = CHECKOUT_ROOT.joinpath(folder, *parts)
    if (CHECKOUT_ROOT / "pyproject.toml").is_file() and checkout.exists():
        return checkout
    try:
        root = importlib.resources.files(f"mmsynth.{folder}")
    except ModuleNotFoundError:  # an install without its data: name where it belongs
        root = PACKAGE_DIR / folder
    # A package on disk (every pip install) gives a real path; a zip import would not.
    return Path(str(root)).joinpath(*parts)


def config_path(*parts: str) -> Path:
    """``configs/<parts...>``: a prompt set or vocabulary file, e.g. ``config_path("prompts")``."""
    return data_path("configs", *parts)
