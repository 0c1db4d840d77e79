"""The ``coco`` source: LLaVA-style instruction data for real photographs, written by a text LLM
from each image's captions and boxes, then checked against those annotations.

Per image (a sample index is an image position in the id-sorted COCO index):

1. the image file is decoded defensively (``coco_data.load_image``) and its JPEG kept;
2. for each requested type (conversation, detail, reasoning) one chat request is built from the
   prompt set and the image's text context; all requests of a shard go to the backend together,
   so it can batch across images and types;
3. each reply is parsed into ``conversations`` or rejected with its reason;
4. an ``annotation_qa`` sample of exact counting/negative questions is added when the image has
   something reliable to ask (no LLM);
5. the grounding stage rejects samples that name objects the image does not have, or state
   counts the annotations contradict.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from mmsynth.config import Option, non_negative, rate
from mmsynth.errors import RunAborted, UsageError
from mmsynth.filters.clip import CLIP_OPTIONS
from mmsynth.llm import LLM_OPTIONS
from mmsynth.sample import Rejection, Sample, conversations_from_qa
from mmsynth.sources.base import Progress, Source

GROUNDING_MODES = ("reject", "drop_turn", "off")


@functools.lru_cache(maxsize=4)
def _load_index(coco_root, instances, captions, images, split):
    from mmsynth.sources.coco_data import load_coco, resolve_paths

    paths = resolve_paths(coco_root=coco_root, instances=instances, captions=captions,
                          images=images, split=split)
    return load_coco(paths.instances, paths.captions, paths.images)


class CocoSource(Source):
    """Real photographs (COCO format): an LLM writes conversations, detailed descriptions and
    complex reasoning from captions + boxes; answers are checked against the annotations."""

    name = "coco"
    item_noun = "images"
    options: ClassVar[dict[str, Option]] = {
        "coco_root": Option(None, "COCO root: annotations/{instances,captions}_SPLIT.json + SPLIT/ "
                                  "(default: the sample shipped in assets/coco_sample)"),
        "instances": Option(None, "instances_*.json (boxes); overrides --coco_root's"),
        "captions": Option(None, "captions_*.json; overrides --coco_root's"),
        "images": Option(None, "folder of the image files; overrides --coco_root's"),
        "split": Option(None, "split name under --coco_root (default train2017)"),
        "types": Option("conversation,detail,reasoning",
                        "LLaVA data types to write: conversation, detail, reasoning (or all)"),
        **LLM_OPTIONS,
        "llm_max_new_tokens": Option(0, "most tokens the LLM writes per answer (0: the prompt "
                                        "set's own budget)", check=non_negative),
        "grounding": Option("reject", "answers naming absent objects or wrong counts: "
                                      "reject | drop_turn | off"),
        "min_image_side": Option(32, "images whose width or height is under this many pixels are "
                                     "rejected (image_error:ImageTooSmall); 0: no limit",
                                 check=non_negative),
        "follow_symlinks": Option(False, "read image files through symbolic links that lead out "
                                         "of the images folder (default: such images are "
                                         "rejected, image_error:SymlinkOutsideImages)"),
        "counting_rate": Option(0.5, "share of images given an exact counting question",
                                check=rate),
        "negative_rate": Option(0.3, "share of images given an 'Is there a …?' → 'No' question",
                                check=rate),
        **CLIP_OPTIONS,
    }

    def __init__(self, config: dict[str, Any], fingerprint: str):
        super().__init__(config, fingerprint)
        from mmsynth.prompts.llava import load_prompt_set, parse_types

        if config["grounding"] not in GROUNDING_MODES:
            raise UsageError(f"--grounding {config['grounding']!r}: expected one of "
                             f"{', '.join(GROUNDING_MODES)}")
        self.types = parse_types(config["types"])
        self.prompt_sets = {t: load_prompt_set(t) for t in self.types}
        self.index = _load_index(config["coco_root"], config["instances"], config["captions"],
                                 config["images"], config["split"])
        if len(self.index) == 0:
            raise UsageError("the COCO annotations list no images")
        self._backend = None
        self._grounding = None
        self._clip = None

    def num_items(self) -> int:
        return min(self.config["num_samples"], len(self.index))

    def input_report(self) -> dict[str, dict[str, int]]:
        """The COCO reader's dropped and repaired records (``CocoIndex.report``)."""
        return self.index.report()

    def check_ready(self) -> None:
        """One health request to an LLM server (nothing for the local backend)."""
        self.backend.check()

    @classmethod
    def holds_model(cls, config: dict[str, Any]) -> bool:
        """The LLM backend lives in the process that generates: keep it loaded across shards."""
        return True

    @classmethod
    def fingerprint_extra(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The prompt files' content (editing a prompt must not be resumed into old shards) and
        the resolved CLIP setup (filtered shards never mix with unfiltered ones)."""
        from mmsynth.filters.clip import announce, clip_plan
        from mmsynth.prompts.llava import load_prompt_set, parse_types

        plan = clip_plan(config)  # UsageError here, before any work, if required and missing
        announce(plan)
        return {**{t: load_prompt_set(t).fingerprint for t in parse_types(config["types"])},
                **plan.fingerprint()}

    # -- the model ------------------------------------------------------------------------------

    @property
    def backend(self):
        """The LLM backend, built on first use in the process that generates."""
        if self._backend is None:
            from mmsynth.llm import backend_from_config

            self._backend = backend_from_config(self.config)
        return self._backend

    def _params(self, kind: str, index: int):
        from mmsynth.llm import params_from_config

        ps, c = self.prompt_sets[kind], self.config
        # Each reply's random stream comes from (run seed, image, type) alone, never from what
        # else shares its batch.
        digest = hashlib.sha256(f"{c['seed']}/{index}/{kind}".encode()).digest()
        budget = c["llm_max_new_tokens"] or ps.max_new_tokens
        return params_from_config({**c, "llm_max_new_tokens": budget},
                                  seed=int.from_bytes(digest[:8], "big") >> 1,
                                  stop=tuple(ps.stop))

    # -- producing ------------------------------------------------------------------------------

    def produce(self, indices: range, progress: Progress | None = None):
        from mmsynth.filters.annotation_qa import annotation_qa
        from mmsynth.prompts.llava import ParseError, build_messages, parse_with
        from mmsynth.sources.coco_data import ImageError, context, load_image, sample_annotations

        rejected: list[Rejection] = []
        images = []
        for i in indices:
            image = self.index.record(i)
            if not image.has_context:
                rejected.append(Rejection(i, "image_no_context",
                                          f"image {image.id} has neither captions nor boxes"))
                continue
            try:
                loaded = load_image(image.path, (image.width, image.height),
                                    min_side=self.config["min_image_side"],
                                    root=None if self.config["follow_symlinks"]
                                    else self.index.images_dir)
            except ImageError as e:
                rejected.append(Rejection(i, f"image_error:{e.reason}", str(e)))
                continue
            images.append((i, image, loaded.jpeg, sample_annotations(image)))

        keys, requests, params = [], [], []
        for i, image, _, _ in images:
            text = context(image)
            for kind in self.types:
                keys.append((i, kind))
                requests.append(build_messages(kind, text))
                params.append(self._params(kind, i))
        replies = self._generate(requests, params, progress, len(indices))
        self._check_error_rate(replies, indices)

        by_index: dict[int, list[Sample]] = {}
        by_position = {i: (image, jpeg, ann) for i, image, jpeg, ann in images}
        for (i, kind), reply, p in zip(keys, replies, params, strict=True):
            if not reply.ok:
                rejected.append(Rejection(i, f"llm_error:{reply.error_kind}",
                                          reply.error or ""))
                continue
            try:
                turns = parse_with(self.prompt_sets[kind], reply.text,
                                   hit_limit=reply.finish_reason == "length",
                                   rng=[self.config["seed"], i])
            except ParseError as e:
                rejection = e.rejection(i, reply.text)
                # The photo and the raw reply, so a preview can show what was dropped.
                dropped = self._sample(i, kind, [], p)
                self._attach_image(dropped, *by_position[i])
                dropped.meta["reply"] = reply.text
                rejection.sample = dropped
                rejected.append(rejection)
                continue
            by_index.setdefault(i, []).append(self._sample(i, kind, turns, p))

        samples: list[Sample] = []
        for i, image, jpeg, boxes_and_captions in images:
            rng = np.random.default_rng([self.config["seed"], i, 1])
            items = annotation_qa(boxes_and_captions, rng,
                                  counting_rate=self.config["counting_rate"],
                                  negative_rate=self.config["negative_rate"])
            produced = by_index.get(i, [])
            if items:
                produced.append(self._sample(i, "annotation_qa", conversations_from_qa(items),
                                             None, qa=items))
            for s in produced:
                self._attach_image(s, image, jpeg, boxes_and_captions)
            samples.extend(produced)
        if progress and not requests:
            progress(len(indices))
        return samples, rejected

    def _check_error_rate(self, replies, indices: range) -> None:
        """Stop the run (this shard unwritten) when too many requests failed: a server that is
        down must not turn a whole run into counted rejections."""
        failed = Counter(r.error_kind for r in replies if not r.ok)
        limit = self.config["llm_max_error_rate"]
        if replies and sum(failed.values()) > limit * len(replies):
            kinds = ", ".join(f"{k} {n}" for k, n in failed.most_common())
            example = next(r.error for r in replies if not r.ok)
            raise RunAborted(
                f"{sum(failed.values())} of {len(replies)} LLM requests failed in the shard of "
                f"{self.item_noun} [{indices.start}, {indices.stop}) ({kinds}), more than "
                f"--llm_max_error_rate {limit:g}; e.g. {example}")

    def _generate(self, requests, params, progress, n_items):
        """Replies in request order, sent in slices so progress moves during a long shard."""
        before = Counter(getattr(self.backend, "stats", {}))
        self.last_stats = {}
        try:
            return self._generate_slices(requests, params, progress, n_items)
        finally:
            after = Counter(getattr(self.backend, "stats", {}))
            after.subtract(before)
            self.last_stats = {"llm": {k: n for k, n in after.items() if n}} if requests else {}

    def _generate_slices(self, requests, params, progress, n_items):
        if not requests:
            return []
        # Slices only so progress moves; each is large enough to keep the batch full.
        step = self.config["llm_batch_size"] * 8
        replies = []
        reported = 0
        for start in range(0, len(requests), step):
            replies += self.backend.generate(requests[start:start + step],
                                             params[start:start + step])
            if progress:
                done = n_items * len(replies) // len(requests)
                progress(done - reported)
                reported = done
        return replies

    @staticmethod
    def _attach_image(sample: Sample, image, jpeg: bytes, annotations: dict[str, Any]) -> None:
        """Give a sample its photo, the photo's annotations and caption, and its provenance."""
        sample.image = jpeg
        sample.annotations = annotations
        sample.caption = image.captions[0] if image.captions else None
        sample.meta.update(image_id=image.id, file_name=image.file_name,
                           license=image.license, attribution=image.attribution)

    def _sample(self, index: int, kind: str, turns, params, qa=None) -> Sample:
        from mmsynth.llm import llm_meta

        meta = self.provenance(index, type=kind, license=None)
        if params is not None:
            meta["prompt"] = self.prompt_sets[kind].provenance()
            meta["llm"] = llm_meta(self.backend, params)
        return Sample(id=f"{self.name}-{self.config['seed']}-{index:09d}-{kind}", image=b"",
                      image_ext="jpg", conversations=turns, qa=qa or [], meta=meta)

    # -- checks -----------------------------------------------------------------------------------

    def stages(self):
        """The grounding check (unless off), then the CLIP alignment filter (which passes
        everything, counted, when off or skipped)."""
        if self._clip is None:
            from mmsynth.filters.clip import stage_from_config

            self._clip = stage_from_config(self.config)
        if self.config["grounding"] == "off":
            return [self._clip]
        if self._grounding is None:
            from mmsynth.filters.grounding import GroundingCheck

            self._grounding = GroundingCheck(mode=self.config["grounding"])
        return [self._grounding, self._clip]

    @classmethod
    def summarize_stages(cls, stage_stats: Mapping[str, Mapping[str, int]]) -> list[str]:
        from mmsynth.filters.clip import summary_lines

        lines = []
        llm = stage_stats.get("llm")
        if llm:
            lines.append(f"  llm: {llm.get('requests', 0)} requests, {llm.get('cache_hits', 0)} "
                         f"from the cache, {llm.get('sent', 0)} sent, {llm.get('failed', 0)} "
                         "failed")
        clip = summary_lines(stage_stats.get("clip", {}))
        stats = stage_stats.get("grounding")
        if not stats:
            return [*lines, *clip]
        from mmsynth.filters.grounding import summarize

        s = summarize(Counter(stats))
        return [*lines, f"  grounding: {s['samples_checked']} samples checked, "
                f"hallucination rate {100 * s['hallucination_rate']:.1f}% of samples "
                f"(CHAIR_s), {100 * s['mention_hallucination_rate']:.1f}% of "
                f"{s['mentions_checked']} object mentions (CHAIR_i), wrong counts "
                f"{100 * s['wrong_count_rate']:.1f}%", *clip]
