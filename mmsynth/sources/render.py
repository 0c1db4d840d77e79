"""Rendered sources: a family is drawn per sample, its scene answers its own questions."""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np

from mmsynth.config import Option
from mmsynth.dedup.stage import DEDUP_OPTIONS
from mmsynth.difficulty import coerce_mix
from mmsynth.errors import UsageError
from mmsynth.filters.clip import CLIP_OPTIONS
from mmsynth.preference import PREFERENCE_OPTIONS
from mmsynth.regions import REGION_OPTIONS
from mmsynth.sample import ANSWER_STYLES, Rejection, Sample, conversations_from_qa
from mmsynth.sources.base import Progress, Source
from renderers.base import LabelsDoNotFit
from renderers.qa import without_mistakes

# Rendered images are made by this tool from random parameters: no third-party rights.
# One shape for every source's meta.license (a photo's is COCO's {id, name, url}).
RENDER_LICENSE = {"name": "CC0-1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}


def generator_at(state: dict[str, Any]) -> np.random.Generator:
    """A generator whose stream starts where ``state`` (a ``bit_generator.state``) was."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def replayed_questions(family: Any, scene: dict[str, Any], work: dict[str, Any]
                       ) -> list[dict[str, Any]]:
    """The questions a sample asked (with their worked mistakes), asked again of ``scene`` from
    the sample's own question stream: the same ones, in the same order, as ``sample.qa`` when
    ``scene`` is the sample's (``work["qa_kept"]``: which of the family's questions the sample
    kept, when a stage chose some)."""
    asked = family.questions(scene, generator_at(work["questions_rng"]))
    kept = work.get("qa_kept")
    return asked if kept is None else [asked[i] for i in kept if i < len(asked)]


def _check_families(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return None
    if isinstance(value, dict) and value and all(
        isinstance(w, (int, float)) and w >= 0 for w in value.values()
    ) and sum(value.values()) > 0:
        return None
    return ("expects 'all', a list of family names, or a mapping name: weight "
            "(weights ≥ 0, not all 0)")


@functools.lru_cache(maxsize=4)
def _canvas(size: int):
    from renderers.canvas import Canvas

    return Canvas(size=size)


class RenderSource(Source):
    """Samples from the registered renderer families of one kind (the source name)."""

    # difficulty (only with --difficulty) keeps each sample's questions of a level drawn from
    # the job's mix; variants (only with --variants) adds the same questions on scenes redrawn
    # with changed values; preference (only with --preference_pairs) pairs answers with ones
    # from a misread scene; the alignment filter passes everything, counted, when off or
    # skipped. regions (only with --region_rate) asks where drawn elements are, after the
    # family's own questions.
    # dedup (only with --dedup within_shard) drops repeated pictures before CLIP scores them.
    chain = ("difficulty", "variants", "preference", "regions", "dedup", "clip")
    producer_work = 1.0

    options: ClassVar[dict[str, Option]] = {
        "families": Option("all", "families to draw and their weights: all | [a, b] | {a: 2, b: 1}",
                           check=_check_families),
        "image_size": Option(448, "width and height of each image in pixels",
                             check=lambda v: None if isinstance(v, int) and 64 <= v <= 4096
                             else "must be an integer in [64, 4096]"),
        "answer_style": Option(
            "long", "how answers are written: long (the worked solution, ending in 'The answer "
            "is X.') | short (the answer alone, the question asking for a word, number or "
            "short phrase, as VQA-style benchmarks score)", neutral=True,
            check=lambda v: None if v in ANSWER_STYLES
            else f"must be one of {', '.join(ANSWER_STYLES)}"),
        "difficulty": Option(
            None, "a mix of question difficulties (the steps of the worked solution), level: "
            "weight, e.g. \"{1: 1, 2: 2, 3: 1}\": each sample keeps its questions of a level "
            "drawn from the mix, a sample with none is drawn again (counted). off: every "
            "question", neutral=True, coerce=coerce_mix),
        "backward": Option(
            0.0, "share of scenes drawn as a backward question (FOBAR), in the families that "
            "have them (geometry: triangle): what is usually asked is given in the question "
            "(a perimeter, an area) and a given quantity is asked, the figure drawn to match. "
            "0: off", neutral=True,
            check=lambda v: None if 0.0 <= v <= 1.0 else "must be a number in [0, 1]"),
        "variants": Option(
            0, "perturbed variants per sample (MuggleMath): the same questions on the scene "
            "redrawn with changed values, each its own sample with meta.variant_of naming its "
            "origin. 0: off", neutral=True,
            check=lambda v: None if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 8
            else "must be an integer in [0, 8]"),
        **PREFERENCE_OPTIONS,
        **REGION_OPTIONS,
        **DEDUP_OPTIONS,
        **CLIP_OPTIONS,
    }

    def __init__(self, config: dict[str, Any], fingerprint: str):
        super().__init__(config, fingerprint)
        from renderers import UnknownName, registry

        known = registry(self.name)
        spec = config["families"]
        if spec == "all":
            spec = {n: 1.0 for n in known.names()}
        elif isinstance(spec, str):
            spec = {n.strip(): 1.0 for n in spec.split(",") if n.strip()}
        elif isinstance(spec, (list, tuple)):
            spec = {n: 1.0 for n in spec}
        try:
            # With a difficulty mix the families also ask their composed questions (facts
            # chained): they are what the higher levels are made of.
            composed = config["difficulty"] is not None
            self.families = {name: known.get(name)(backward=config["backward"],
                                                   composed=composed)
                             for name in spec}
        except UnknownName as e:  # renderers' own error (it does not know mmsynth's)
            raise UsageError(str(e)) from None
        weights = np.array([float(w) for w in spec.values()])
        if weights.sum() <= 0:
            raise UsageError("--families: the weights must not all be 0")
        self.cumulative = np.cumsum(weights / weights.sum())
        self.names = list(spec)

    @classmethod
    def fingerprint_extra(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Every registered family's version (a changed family must not resume into old shards),
        the resolved CLIP setup (filtered shards never mix with unfiltered ones) and, with
        preference pairs, their kinds."""
        from mmsynth.filters.clip import announce, clip_plan
        from renderers import registry

        plan = clip_plan(config)  # UsageError here, before any work, if required and missing
        announce(plan)
        known = registry(cls.name)
        extra = {"renderers": {n: known.get(n).version for n in known.names()},
                 **plan.fingerprint()}
        if config.get("variants", 0) > 0:
            from mmsynth.variants import VERSION

            extra["variants_version"] = VERSION
        if config.get("preference_pairs", 0) > 0:
            from mmsynth.preference.render import fingerprint_extra as pairs_fingerprint

            extra.update(pairs_fingerprint())
        return extra

    @classmethod
    def holds_model(cls, config: dict[str, Any]) -> bool:
        """Renders hold no model, unless the CLIP stage runs (then a cluster executor keeps the
        CLIP weights loaded on long-lived actors)."""
        from mmsynth.filters.clip import clip_plan

        return clip_plan(config).status == "on"

    def _pick_family(self, rng: np.random.Generator) -> str:
        # Inverse-CDF on one uniform draw: stable, and cheap next to rendering.
        i = int(np.searchsorted(self.cumulative, rng.random(), side="right"))
        return self.names[min(i, len(self.names) - 1)]

    def produce(self, indices: range, progress: Progress | None = None):
        canvas = _canvas(self.config["image_size"])
        samples: list[Sample] = []
        rejected: list[Rejection] = []
        seed = self.config["seed"]
        for n, index in enumerate(indices, 1):
            rng = np.random.default_rng([seed, index])
            name = self._pick_family(rng)
            drawing: dict[str, Any] = {}
            try:
                samples.append(self.draw(index, name, rng, canvas, drawing))
            except Exception as e:  # a bad scene costs one sample, counted, never the run
                started = "before" in drawing and canvas.text_boxes is not drawing["before"]
                rejected.append(Rejection(index, f"render_error:{name}:{type(e).__name__}",
                                          f"{type(e).__name__}: {e}",
                                          sample=self._dropped(index, name, drawing.get("scene"),
                                                               canvas, e, started)))
            if progress and n % 32 == 0:
                progress(n / len(indices))
        return samples, rejected

    def draw(self, index: int, name: str, rng: np.random.Generator, canvas,
             drawing: dict[str, Any] | None = None) -> Sample:
        """Sample ``index`` of family ``name`` from ``rng``: its scene, picture and questions.
        Raises on a scene that cannot be drawn or asked about; ``drawing`` then holds the
        scene and the canvas's labels from before it began (for a preview of the reject)."""
        drawing = {} if drawing is None else drawing
        family = self.families[name]
        # Where the scene's random stream starts: variants redraw its values
        # (mmsynth.variants).
        scene_rng = rng.bit_generator.state
        drawing["scene"] = scene = family.sample_scene(rng)
        drawing["before"] = canvas.text_boxes  # ``begin`` replaces it: this drawing started
        image = family.render(scene, canvas)
        # Where the questions' random stream starts: preference pairs and variants ask them
        # again of a changed scene (replayed_questions).
        questions_rng = rng.bit_generator.state
        qa = [without_mistakes(item) for item in family.questions(scene, rng)]
        caption = family.caption(scene)
        if not qa:
            raise ValueError("the family asked no question about this scene")
        work = {"scene_rng": scene_rng, "questions_rng": questions_rng}
        if self.config["region_rate"] > 0:
            # The drawn elements as the final picture has them (mmsynth.regions).
            work["regions"] = [r.to_json() for r in canvas.regions()]
        return Sample(
            id=self.sample_id(index), image=image, image_ext="png",
            conversations=conversations_from_qa(qa, self.config["answer_style"]),
            qa=qa, scene=scene, caption=caption,
            meta=self.provenance(index, generator=name, generator_version=family.version,
                                 license=dict(RENDER_LICENSE)),
            work=work,
        )

    def _dropped(self, index: int, name: str, scene, canvas, error: Exception,
                 drawn: bool) -> Sample | None:
        """For a preview of rejects: the picture as far as it was drawn when labels did not fit
        (the canvas still holds it), with its scene; None for other errors, or when this scene's
        drawing had not begun (the canvas would show the previous scene) or is still blank."""
        if (scene is None or not drawn or canvas.is_empty
                or not isinstance(error, LabelsDoNotFit)):
            return None
        family = self.families[name]
        try:
            image = canvas.png(family.png_mode(scene))
        except Exception:  # the half-drawn canvas may not draw; the reason is still counted
            return None
        return Sample(id=self.sample_id(index), image=image, image_ext="png", scene=scene,
                      meta=self.provenance(index, generator=name,
                                           generator_version=family.version,
                                           license=dict(RENDER_LICENSE)))


class GeometrySource(RenderSource):
    """Geometry figures (triangles, circles, polygons, ...) with exact answers."""

    name = "geometry"


class ChartSource(RenderSource):
    """Charts (bar, line, pie, scatter, ...) with answers computed from their data tables."""

    name = "chart"
