"""The renderer plugin contract: a pure split between scene, picture and questions.

``scene = sample_scene(rng)`` draws every random choice into plain JSON data;
``draw(scene, canvas)`` paints it; ``questions(scene, rng)`` asks about it and computes each answer
from the scene. Nothing reads the picture back, so answers are exact by construction, and tests
re-derive them from the scene by another route.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from renderers.canvas import Canvas

Scene = dict[str, Any]
QA = dict[str, Any]


class LabelsDoNotFit(ValueError):
    """The figure's labels cannot be placed inside the image (a counted rejection)."""


class Renderer:
    """Base class of every family. Subclasses set ``version`` and implement the four methods."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    # Bump when a change alters the scenes, pictures or questions a seed produces.
    version: ClassVar[str] = "1"
    # Backward questions (FOBAR): tasks that give in the question what the family usually asks
    # and ask for a quantity it usually gives, the figure drawn to match. Drawn instead of a
    # forward task with probability ``backward`` (0: never, and no draw is spent on it, so a
    # seed's scenes are those of a family without them).
    backward_tasks: ClassVar[tuple[str, ...]] = ()

    def __init__(self, backward: float = 0.0, composed: bool = False):
        self.backward = float(backward)
        # Composed questions: two to four facts of the scene chained (a triangle's area from
        # its three sides, a right triangle's perimeter from its legs), asked after the
        # family's own questions when on (``--difficulty`` turns it on: they are what makes
        # the higher levels). Off, no draw is spent on them.
        self.composed = bool(composed)

    def pick_task(self, rng: np.random.Generator, tasks: tuple[str, ...]) -> str:
        """A forward task from ``tasks``, or with probability ``backward`` a backward one."""
        if self.backward > 0 and self.backward_tasks and rng.random() < self.backward:
            return self.backward_tasks[int(rng.integers(len(self.backward_tasks)))]
        return tasks[int(rng.integers(len(tasks)))]

    def sample_scene(self, rng: np.random.Generator) -> Scene:
        """Every random choice of the figure, as JSON-serialisable data."""
        raise NotImplementedError

    def draw(self, scene: Scene, canvas: Canvas) -> None:
        """Paint ``scene`` on a canvas (call ``canvas.begin`` first); no randomness here."""
        raise NotImplementedError

    def questions(self, scene: Scene, rng: np.random.Generator) -> list[QA]:
        """Questions about what the figure shows, with answers computed from ``scene``."""
        raise NotImplementedError

    def caption(self, scene: Scene) -> str:
        """A short description of what was drawn (the text an image–text filter scores)."""
        raise NotImplementedError

    def png_mode(self, scene: Scene) -> str:
        """PNG colour mode: greyscale when the scene's style is monochrome, else RGB."""
        return "L" if scene.get("style", {}).get("mono") else "RGB"

    def render(self, scene: Scene, canvas: Canvas) -> bytes:
        """The scene's picture as PNG bytes.

        Labels sit outside the shapes, so a figure fitted to its shapes can push a label off the
        image: then it is drawn again with that side of the image kept free (labels keep their
        pixel size while the shapes shrink and shift a little). Raises LabelsDoNotFit if that
        does not settle.
        """
        try:
            for _ in range(5):
                self.draw(scene, canvas)
                overflow = canvas.overflow()
                if not any(overflow):
                    return canvas.png(self.png_mode(scene))
                # A little slack: the labels move with the shapes as they shrink.
                canvas.insets = [i + (o + 2 if o else 0)
                                 for i, o in zip(canvas.insets, overflow, strict=True)]
                if max(canvas.insets) > canvas.size // 3:
                    break
            raise LabelsDoNotFit(f"labels do not fit in the image (overflow {overflow} px)")
        finally:
            canvas.insets = [0, 0, 0, 0]
