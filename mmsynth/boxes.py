"""Box and point conventions: the one place that turns pixel geometry into the text a model
trains on, and back.

Everything inside mmsynth keeps geometry in **pixels of the original image**: a box is
``(x1, y1, x2, y2)`` with the origin at the top-left corner, x to the right, y down, and edges
on pixel boundaries (a box over a whole W × H image is ``(0, 0, W, H)``); a point is ``(x, y)``
in the same frame. A :class:`BoxFormat` writes them the way a model family reads them
(``--box_format``):

``llava``
    ``[x1, y1, x2, y2]``, each divided by the image's width or height, three decimals: LLaVA's
    own grounding data, relative to the original image. A point is ``[x, y]``.
``llava_square``
    The same numbers relative to the image padded to a square the way LLaVA-1.5 pads it for
    training (``expand2square``: a side of max(W, H), the image pasted at
    ((S − W) // 2, (S − H) // 2)), so the box matches the pixels the model sees.
``qwen``
    Integers in [0, 1000): ``round(1000 · x / W)`` (capped at 999), written
    ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` as Qwen-VL's tokenizer expects; a point is
    ``(x,y)``.
``pixels``
    Whole pixels of the original image, ``[x1, y1, x2, y2]``; a point is ``[x, y]``.
``points``
    Answers point rather than box (Molmo's pointing data): a box is answered by a point on the
    object (its centre, or the centroid of a drawn shape) as
    ``<point x="41.2" y="65.5" alt="giraffe">giraffe</point>``, several as
    ``<points x1=".." y1=".." x2=".." y2=".." alt="..">..</points>``, in percent of the original
    image's width and height, one decimal.

:func:`box_format` gives the format object; :meth:`BoxFormat.parse_box` /
:meth:`BoxFormat.parse_point` read the text back to pixels (tests and checks use them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

BOX_FORMATS = ("llava", "llava_square", "qwen", "pixels", "points")

Box = tuple[float, float, float, float]
Point = tuple[float, float]

_NUMBER = r"-?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class BoxFormat:
    """One convention of writing boxes and points (see the module's docstring)."""

    name: str

    # -- numbers --------------------------------------------------------------------------------

    def box_numbers(self, box: Sequence[float], width: int, height: int) -> list[float | int]:
        """A pixel box as this format's four numbers (``points``: the normalised-to-[0, 1]
        numbers are not used; it answers with :meth:`point_numbers`)."""
        x1, y1, x2, y2 = (float(v) for v in box)
        return [*self._xy(x1, y1, width, height), *self._xy(x2, y2, width, height)]

    def point_numbers(self, point: Sequence[float], width: int, height: int
                      ) -> list[float | int]:
        return list(self._xy(float(point[0]), float(point[1]), width, height))

    def _xy(self, x: float, y: float, width: int, height: int) -> tuple:
        if self.name == "llava":
            return round(x / width, 3), round(y / height, 3)
        if self.name == "llava_square":
            side, dx, dy = _square(width, height)
            return round((x + dx) / side, 3), round((y + dy) / side, 3)
        if self.name == "qwen":
            return _permille(x, width), _permille(y, height)
        if self.name == "pixels":
            return int(round(x)), int(round(y))
        return round(100 * x / width, 1), round(100 * y / height, 1)  # points: percent

    def _pixels(self, u: float, v: float, width: int, height: int) -> Point:
        """The inverse of :meth:`_xy` (to the format's precision)."""
        if self.name == "llava":
            return u * width, v * height
        if self.name == "llava_square":
            side, dx, dy = _square(width, height)
            return u * side - dx, v * side - dy
        if self.name == "qwen":
            return u * width / 1000, v * height / 1000
        if self.name == "pixels":
            return float(u), float(v)
        return u * width / 100, v * height / 100

    # -- text -----------------------------------------------------------------------------------

    @property
    def answers_with_points(self) -> bool:
        return self.name == "points"

    def box_text(self, box: Sequence[float], width: int, height: int) -> str:
        """A box as an answer or a question writes it (not for ``points``: see
        :meth:`points_text`)."""
        if self.answers_with_points:
            raise ValueError("the points format answers with points: use points_text")
        x1, y1, x2, y2 = self.box_numbers(box, width, height)
        if self.name == "qwen":
            return f"<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"
        if self.name == "pixels":
            return f"[{x1}, {y1}, {x2}, {y2}]"
        return f"[{x1:.3f}, {y1:.3f}, {x2:.3f}, {y2:.3f}]"

    def point_text(self, point: Sequence[float], width: int, height: int) -> str:
        """A point as a question refers to it (``points``: "(41.2%, 65.5%)")."""
        x, y = self.point_numbers(point, width, height)
        if self.name == "qwen":
            return f"({x},{y})"
        if self.name == "pixels":
            return f"[{x}, {y}]"
        if self.name == "points":
            return f"({x:.1f}%, {y:.1f}%)"
        return f"[{x:.3f}, {y:.3f}]"

    def points_text(self, points: Sequence[Sequence[float]], label: str, width: int,
                    height: int) -> str:
        """Points on objects as an answer gives them: Molmo's ``<point>``/``<points>`` tags in
        the ``points`` format, else the format's points joined by commas."""
        if not points:
            raise ValueError("no points to write")
        if not self.answers_with_points:
            return ", ".join(self.point_text(p, width, height) for p in points)
        coords = [self.point_numbers(p, width, height) for p in points]
        if len(coords) == 1:
            (x, y), = coords
            return f'<point x="{x:.1f}" y="{y:.1f}" alt="{label}">{label}</point>'
        attrs = " ".join(f'x{i}="{x:.1f}" y{i}="{y:.1f}"'
                         for i, (x, y) in enumerate(coords, 1))
        return f'<points {attrs} alt="{label}">{label}</points>'

    # -- reading back ---------------------------------------------------------------------------

    def parse_box(self, text: str, width: int, height: int) -> Box:
        """A box this format wrote, back in pixels (ValueError if ``text`` is not one)."""
        if self.name == "qwen":
            pattern = rf"<\|box_start\|>\(({_NUMBER}),({_NUMBER})\),\(({_NUMBER}),({_NUMBER})\)" \
                      r"<\|box_end\|>"
        elif self.answers_with_points:
            raise ValueError("the points format writes no boxes")
        else:
            pattern = rf"\[({_NUMBER}), ({_NUMBER}), ({_NUMBER}), ({_NUMBER})\]"
        m = re.fullmatch(pattern, text.strip())
        if not m:
            raise ValueError(f"{text!r} is not a {self.name} box")
        u1, v1, u2, v2 = (float(g) for g in m.groups())
        return (*self._pixels(u1, v1, width, height), *self._pixels(u2, v2, width, height))

    def parse_points(self, text: str, width: int, height: int) -> list[Point]:
        """Points this format wrote (:meth:`points_text` or :meth:`point_text`), in pixels."""
        text = text.strip()
        if self.answers_with_points and text.startswith("<point"):
            pairs = re.findall(rf'x\d*="({_NUMBER})" y\d*="({_NUMBER})"', text)
        elif self.answers_with_points:
            pairs = re.findall(rf"\(({_NUMBER})%, ({_NUMBER})%\)", text)
        elif self.name == "qwen":
            pairs = re.findall(rf"\(({_NUMBER}),({_NUMBER})\)", text)
        else:
            pairs = re.findall(rf"\[({_NUMBER}), ({_NUMBER})\]", text)
        if not pairs:
            raise ValueError(f"{text!r} holds no {self.name} point")
        return [self._pixels(float(u), float(v), width, height) for u, v in pairs]

    # -- words ----------------------------------------------------------------------------------

    def prompt_words(self) -> str:
        """How a request's system message describes its context's boxes (see
        :data:`LLAVA_PROMPT_WORDS`)."""
        return {
            "llava": LLAVA_PROMPT_WORDS,
            "llava_square": "[left, top, right, bottom] with values from 0 to 1 of the photo "
                            "padded to a square",
            "qwen": "<|box_start|>(left,top),(right,bottom)<|box_end|> with whole numbers from 0 "
                    "to 999",
            "pixels": "[left, top, right, bottom] in pixels",
            "points": "written as a point tag at its centre, with x and y in percent",
        }[self.name]

    def describe(self) -> str:
        """The convention in words a trainer can follow (the dataset card states it)."""
        frame = ("origin at the top-left corner of the original image, x to the right, y down")
        return {
            "llava": f"boxes are [x1, y1, x2, y2] and points [x, y], divided by the original "
                     f"image's width (x) and height (y), three decimals ({frame}; LLaVA's "
                     "convention, not padded)",
            "llava_square": "boxes are [x1, y1, x2, y2] and points [x, y], relative to the "
                            "image padded to a square as LLaVA-1.5 trains (side max(W, H), the "
                            "image pasted at ((S - W) // 2, (S - H) // 2)), divided by that "
                            "side, three decimals; origin top-left, y down",
            "qwen": "boxes are <|box_start|>(x1,y1),(x2,y2)<|box_end|> and points (x,y), "
                    "integers in [0, 1000): round(1000 * x / W) and round(1000 * y / H), at most "
                    f"999 ({frame}; Qwen-VL's convention)",
            "pixels": f"boxes are [x1, y1, x2, y2] and points [x, y] in whole pixels of the "
                      f"original image ({frame})",
            "points": "answers point instead of box (Molmo's convention): <point x=\"..\" "
                      "y=\"..\" alt=\"..\">..</point> or <points x1=\"..\" y1=\"..\" "
                      "...>..</points>, x and y in percent of the original image's width and "
                      f"height, one decimal ({frame}); a point is the centre of the object's "
                      "box (a photo) or a point inside the drawn shape (a render)",
        }[self.name]


# -- boxes cited in text (grounded descriptions) ----------------------------------------------

# A box or point any format writes, where a text cites it: "[0.1, 0.2, 0.3, 0.4]", "[64, 48, 320,
# 240]", "<|box_start|>(100,200),(300,400)<|box_end|>" (after an optional object reference), or
# a Molmo point tag. Used to find citations, and to take them out of a text whose words are
# checked (a box's numbers are no counts, and the echo check must not see them).
CITATION = re.compile(
    r"\[\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*\]"
    r"|(?:<\|object_ref_start\|>[^<]{0,60}<\|object_ref_end\|>)?"
    r"<\|box_start\|>\(\s*\d+\s*,\s*\d+\s*\),\s*\(\s*\d+\s*,\s*\d+\s*\)<\|box_end\|>"
    r"|<points?\b[^>]{0,400}>[^<]{0,60}</points?>")


def strip_citations(text: str) -> str:
    """``text`` with every cited box or point taken out (and the space before it)."""
    return re.sub(r"\s+(?=[.,;:!?])", "", re.sub(r"\s*(?:" + CITATION.pattern + ")", "", text))


def blank_citations(text: str) -> str:
    """``text`` with every cited box or point replaced by as many spaces (offsets stay)."""
    return CITATION.sub(lambda m: " " * len(m.group(0)), text)


@dataclass(frozen=True)
class Citation:
    """A box (or, in the ``points`` format, a point) cited in a text: where, and in pixels."""

    span: tuple[int, int]
    box: Box | None
    point: Point | None


def citations(text: str, fmt: BoxFormat, width: int, height: int) -> list[Citation]:
    """The boxes ``text`` cites in ``fmt`` (a citation in another shape is not one of them)."""
    found = []
    for m in CITATION.finditer(text):
        cited = m.group(0)
        try:
            if fmt.answers_with_points:
                if not cited.startswith("<point"):
                    continue
                (point,) = fmt.parse_points(cited, width, height)[:1]
                found.append(Citation(m.span(), None, point))
            else:
                box_text = cited[cited.index("<|box_start|>"):] if "<|box_start|>" in cited \
                    else cited
                found.append(Citation(m.span(), fmt.parse_box(box_text, width, height), None))
        except ValueError:
            continue
    return found


# How the prompts' system messages describe the boxes of their context, in the llava format;
# another format's request says it in its own words instead (mmsynth.prompts.llava).
LLAVA_PROMPT_WORDS = "[left, top, right, bottom] with values from 0 to 1"


def _square(width: int, height: int) -> tuple[int, int, int]:
    """LLaVA-1.5's ``expand2square``: the square's side and where the image is pasted."""
    side = max(width, height)
    return side, (side - width) // 2, (side - height) // 2


def _permille(v: float, size: int) -> int:
    return min(999, max(0, int(round(1000 * v / size))))


def box_format(name: str) -> BoxFormat:
    if name not in BOX_FORMATS:
        raise ValueError(f"box format must be one of {', '.join(BOX_FORMATS)}, got {name!r}")
    return BoxFormat(name)


def coco_box(bbox: Sequence[float]) -> Box:
    """COCO's ``[x, y, w, h]`` as a pixel box ``(x1, y1, x2, y2)``."""
    x, y, w, h = (float(v) for v in bbox)
    return x, y, x + w, y + h


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two pixel boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def centre(box: Sequence[float]) -> Point:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
