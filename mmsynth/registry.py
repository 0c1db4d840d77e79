"""Name → object registries, the one factory pattern used for sources, backends and renderers.

The generic class is :class:`renderers.Registry` (renderers is a library mmsynth uses and must not
import mmsynth, so the class lives there); mmsynth's registries differ only in raising
:class:`~mmsynth.errors.UsageError`, which the CLI prints as a usage error (exit 2).
"""

from __future__ import annotations

from mmsynth.errors import UsageError
from renderers import Registry as _Registry


class Registry(_Registry):
    """A :class:`renderers.Registry` whose failed lookups are usage errors."""

    error = UsageError
