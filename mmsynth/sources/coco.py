"""The ``coco`` source: LLaVA-style instruction data for real photographs, written by a text LLM
from each image's captions and boxes, then checked against those annotations.

A sample index is an image position in the id-sorted COCO index. The chain
(:attr:`CocoSource.chain`; the stages are in ``mmsynth.sources.coco_stages`` and
``mmsynth.filters``):

1. ``produce``: the image file is decoded defensively (``coco_data.load_image``), its JPEG kept,
   and its captions and boxes become a structured context;
2. ``requests``: for each requested type (conversation, detail, reasoning) one chat request from
   the prompt set and that context;
3. ``llm``: all requests of a shard go to the backend together, so it can batch across images
   and types;
4. ``parse``: each reply into ``conversations``, or a rejection with its reason;
5. ``annotation_qa``: a sample of exact counting/negative questions when the image has
   something reliable to ask (no LLM);
6. ``grounding`` rejects samples that name objects the image does not have, or state counts the
   annotations contradict; ``claims`` those whose colours, genders, numbers or spatial relations
   the captions or boxes contradict; ``clip`` scores image–text alignment.

Steps 3–6 but CLIP run inside ``best_of_n`` (:attr:`CocoSource.wrappers`): with
``--llm_candidates N`` / ``--llm_retries R`` (1 and 3 by default) the LLM writes candidates
per request until one passes these checks, which judge each; the first that passes is kept.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from mmsynth.config import Option, non_negative, one_of, positive, rate
from mmsynth.dedup.stage import DEDUP_OPTIONS
from mmsynth.errors import UsageError
from mmsynth.filters.claims import CLAIM_OPTIONS
from mmsynth.filters.clip import CLIP_OPTIONS
from mmsynth.llm import LLM_OPTIONS
from mmsynth.personas import check_personas
from mmsynth.preference import PREFERENCE_OPTIONS
from mmsynth.regions import REGION_OPTIONS
from mmsynth.sample import Rejection, Sample
from mmsynth.sources.base import Source

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
                        "LLaVA data types to write: conversation, detail, reasoning, grounded "
                        "(a description citing each object's box, in --box_format; checked "
                        "against the annotated boxes), or all"),
        "evolve_rounds": Option(0, "rounds of instruction evolution (Evol-Instruct): each kept "
                                "conversation question made harder or new by the LLM, answered "
                                "and checked again; WizardLM's eliminations counted. 0: off",
                                neutral=True, check=non_negative),
        "personas": Option("off", "who asks the conversation questions: off | on (the shipped "
                           "list of 224, assets/personas/personas.txt) | a text file, one persona "
                           "per line; drawn per sample from (seed, index), its id in "
                           "meta.persona", neutral=True, check=check_personas),
        **LLM_OPTIONS,
        "llm_max_new_tokens": Option(0, "most tokens the LLM writes per answer (0: the prompt "
                                        "set's own budget)", check=non_negative),
        # Best-of-N (mmsynth.sources.best_of_n). Neutral: at 1 and 0 the run is the plain
        # chain's, byte for byte, and keeps the fingerprint of runs made before they existed.
        # Three retries by default, chosen by measurement (issue 16, bench/bench_yield.py): with
        # the repetition penalty they take kept LLM samples per request from 0.63 / 0.53 (shipped
        # sample / yield set) to 0.93 / 0.85, for 1.24x / 1.18x the reply tokens of the job with
        # neither; 2 candidates + 1 retry give 0.85 / 0.81 for 1.5x / 1.4x.
        "llm_candidates": Option(1, "candidate replies the LLM writes per request, each seeded "
                                    "from (seed, image, type, k); the checks (parse, grounding, "
                                    "claims; not CLIP) judge every candidate and the first in k "
                                    "order that passes them all is kept (1: one reply per "
                                    "request, as without best-of-N). All candidates of a shard "
                                    "go to the backend in one batched call",
                                 check=positive, neutral=True),
        "llm_retries": Option(3, "retries: a request whose candidates were all rejected gets "
                                 "its next candidate (the next k; one per round, or several with "
                                 "--llm_retry_fill on) until one passes, at most this many; it "
                                 "then ends rejected, by its last candidate's reason, after at "
                                 "most --llm_candidates + this many replies (0: none; with "
                                 "--llm_temperature 0 there are none either: a greedy retry "
                                 "would be the same reply)",
                              check=non_negative, neutral=True, off=0),
        # Off by default: on a 2-core CPU a filled round costs what its rows cost (the shipped
        # sample: 241 s filled, 219 s not); a GPU, where a few rows waste a decode step, was not
        # measured.
        "llm_retry_fill": Option("off", "retry rounds filled: on gives each request still "
                                        "without a passing reply as many of its next "
                                        "candidates as fit in one --llm_batch_size batch, so "
                                        "the retries take fewer rounds (the same kept replies; "
                                        "more tokens, spent on candidates not needed: for a "
                                        "device where a batch of a few rows is as slow as a "
                                        "full one); off: one candidate per request and round, "
                                        "the fewest tokens", "run", one_of("on", "off")),
        "grounding": Option("reject", "answers naming absent objects or wrong counts: "
                                      "reject | drop_turn | off"),
        **CLAIM_OPTIONS,
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
        **PREFERENCE_OPTIONS,
        **REGION_OPTIONS,
        **DEDUP_OPTIONS,
        **CLIP_OPTIONS,
    }

    def __init__(self, config: dict[str, Any], fingerprint: str):
        super().__init__(config, fingerprint)
        from mmsynth.prompts.llava import load_prompt_set, parse_types

        if config["grounding"] not in GROUNDING_MODES:
            raise UsageError(f"--grounding {config['grounding']!r}: expected one of "
                             f"{', '.join(GROUNDING_MODES)}")
        if config.get("llm_candidates", 1) > 1 and config.get("llm_temperature") == 0:
            raise UsageError("--llm_candidates needs sampling: with --llm_temperature 0 "
                             "(greedy) every candidate is the same reply")
        self.types = parse_types(config["types"])
        self.prompt_sets = {t: load_prompt_set(t) for t in self.types}
        self.index = _load_index(config["coco_root"], config["instances"], config["captions"],
                                 config["images"], config["split"])
        if len(self.index) == 0:
            raise UsageError("the COCO annotations list no images")
        self._backend = None

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
        """The prompt files' content (editing a prompt must not be resumed into old shards),
        the resolved CLIP setup (filtered shards never mix with unfiltered ones) and, with
        preference pairs, their kinds and the misleading_context prompt."""
        from mmsynth.filters.clip import announce, clip_plan
        from mmsynth.prompts.llava import load_prompt_set, parse_types

        plan = clip_plan(config)  # UsageError here, before any work, if required and missing
        announce(plan)
        from mmsynth.filters.claims import fingerprint_extra as claims_fingerprint

        extra = {**{t: load_prompt_set(t).fingerprint for t in parse_types(config["types"])},
                 **plan.fingerprint(), **claims_fingerprint(config)}
        if config.get("preference_pairs", 0) > 0:
            from mmsynth.preference.coco import fingerprint_extra as pairs_fingerprint

            extra.update(pairs_fingerprint())
        if config.get("evolve_rounds", 0) > 0:
            from mmsynth.evolve import fingerprint_extra as evolve_fingerprint

            extra.update(evolve_fingerprint())
        if config.get("personas", "off") != "off":
            from mmsynth.personas import fingerprint_extra as personas_fingerprint

            extra.update(personas_fingerprint(config["personas"]))
        return extra

    # -- the model ------------------------------------------------------------------------------

    @property
    def backend(self):
        """The LLM backend, built on first use in the process that generates."""
        if self._backend is None:
            from mmsynth.llm import backend_from_config

            self._backend = backend_from_config(self.config)
        return self._backend

    # -- producing ------------------------------------------------------------------------------

    # The chain after the producer (names in mmsynth.stages.STAGES). Annotation QA comes before
    # the checks, so its samples are checked and counted like the LLM's.
    chain = ("requests", "llm", "parse", "region_qa", "annotation_qa", "grounding", "claims",
             "persona", "evolve", "preference", "dedup", "clip")
    # best_of_n runs the stretch from the LLM to the last check on every round of candidates
    # (mmsynth.sources.best_of_n); CLIP scores what it keeps.
    wrappers: ClassVar[dict[str, tuple[str, ...]]] = {
        "best_of_n": ("llm", "parse", "region_qa", "annotation_qa", "grounding", "claims",
                      "persona")}

    def produce(self, indices: range, progress=None):
        """The producer: a draft per photo that can be used (its JPEG, annotations, structured
        context); photos without captions or boxes, and files that do not decode, are counted
        rejections."""
        from mmsynth.sources.coco_data import (
            ImageError,
            context_of,
            load_image,
            sample_annotations,
        )

        rejected: list[Rejection] = []
        drafts: list[Sample] = []
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
            drafts.append(Sample(id=self.sample_id(i), image=loaded.jpeg, image_ext="jpg",
                                 annotations=sample_annotations(image), meta={"index": i},
                                 work={"photo": True, "record": image,
                                       "context": context_of(image)}))
        return drafts, rejected

    @staticmethod
    def attach_photo(sample: Sample, draft: Sample) -> None:
        """Give a sample its photo, the photo's annotations and caption, and its provenance."""
        image = draft.work["record"]
        sample.image = draft.image
        sample.annotations = draft.annotations
        sample.caption = image.captions[0] if image.captions else None
        sample.meta.update(image_id=image.id, file_name=image.file_name,
                           license=image.license, attribution=image.attribution)

    def sample(self, index: int, kind: str, turns, params, qa=None) -> Sample:
        """A coco sample of type ``kind`` (its photo attached by :meth:`attach_photo`)."""
        from mmsynth.llm import llm_meta

        meta = self.provenance(index, type=kind, license=None)
        if params is not None:
            meta["prompt"] = self.prompt_sets[kind].provenance()
            meta["llm"] = llm_meta(self.backend, params)
        return Sample(id=f"{self.name}-{self.config['seed']}-{index:09d}-{kind}", image=b"",
                      image_ext="jpg", conversations=turns, qa=qa or [], meta=meta)
