"""The coco chain's own stages: from a photo's draft to LLM-written, parsed samples.

::

    images (the source's producer)   one draft per loaded photo: its JPEG, annotations, record
      → requests                     a draft per (photo, type): the chat messages and parameters
      → generate                     every request of the shard through the LLM backend at once
      → parse                        each reply into conversation turns, or a counted rejection
      → region_qa                    exact region questions per photo (--region_rate; no LLM)
      → annotation_qa                exact counting / absence questions per photo (no LLM)
      → grounding → clip             the checks (mmsynth.filters)

A draft is a :class:`~mmsynth.sample.Sample` whose ``work`` holds what the next stage needs;
the parse and annotation QA stages build the final samples, so a sample's fields come out in
one place, in one order.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mmsynth.errors import RunAborted
from mmsynth.personas import persona_lines
from mmsynth.sample import Rejection, Sample, conversations_from_qa
from mmsynth.stages import Stage

if TYPE_CHECKING:
    from mmsynth.sources.coco import CocoSource

Progress = Callable[[float], None]


class RequestsStage(Stage):
    """Each photo draft → one request draft per type (messages + parameters), followed by the
    photo draft itself (the annotation QA stage's input)."""

    name = "requests"

    def __init__(self, source: CocoSource):
        self.source = source

    def process(self, samples: list[Sample], progress: Progress):
        from mmsynth.prompts.llava import build_messages

        out: list[Sample] = []
        for photo in samples:
            index, record = photo.meta["index"], photo.work["record"]
            context = photo.work["context"]
            for kind in self.source.types:
                persona = self.persona(kind, index)
                note = None
                if persona is not None:
                    note = persona_lines()[1][kind].replace("{persona}", persona["text"])
                work = {**photo.work, "kind": kind,
                        "messages": build_messages(kind, context, note=note,
                                                   box_format=self.source.config["box_format"]),
                        "params": self.params(kind, index, record)}
                if persona is not None:
                    work["persona"] = persona
                out.append(Sample(id=photo.id, image=photo.image, image_ext="jpg",
                                  annotations=photo.annotations,
                                  meta={"index": index, "type": kind}, work=work))
            out.append(photo)
        return out, []

    def persona(self, kind: str, index: int) -> dict[str, str] | None:
        """Who asks request ``kind`` of image ``index`` (``--personas``; None when off or the
        type has no persona line)."""
        from mmsynth.personas import load_personas, persona_for, personas_path

        path = personas_path(self.source.config.get("personas", "off"))
        if path is None:
            return None
        version, lines = persona_lines()
        if kind not in lines:
            return None
        p = persona_for(self.source.config["seed"], index, kind, load_personas(path))
        return {"id": p.id, "text": p.text, "prompt_version": version}

    def params(self, kind: str, index: int, record: Any):
        from mmsynth.llm import params_from_config

        ps, c = self.source.prompt_sets[kind], self.source.config
        budget = c["llm_max_new_tokens"] or ps.max_new_tokens
        return params_from_config({**c, "llm_max_new_tokens": budget},
                                  seed=candidate_seed(c["seed"], index, kind),
                                  stop=tuple(ps.stop))


def candidate_seed(run_seed: int, index: int, kind: str, k: int = 0) -> int:
    """The generation seed of candidate ``k`` of the request (image ``index``, type ``kind``):
    each reply's random stream comes from (run seed, image, type, k) alone, never from what
    else shares its batch. Candidate 0 is the request's one reply as it was before best-of-N
    existed (its key has no k), so ``--llm_candidates 1`` is the old run."""
    key = f"{run_seed}/{index}/{kind}" + (f"/{k}" if k else "")
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


class GenerateStage(Stage):
    """All request drafts of the shard through the LLM backend together (so it can batch across
    photos and types); each gets its reply in ``work["reply"]``. Progress moves as the backend
    reports replies done. Counters: the backend's (requests, cache hits, sent,
    failed). Stops the run (RunAborted, the shard unwritten) when too many requests failed."""

    name = "llm"
    work = 1.0  # nearly all of a coco shard's time

    def __init__(self, source: CocoSource):
        self.source = source

    def process(self, samples: list[Sample], progress: Progress):
        drafts = [s for s in samples if "messages" in s.work]
        if not drafts:
            return samples, []
        backend = self.source.backend
        before = Counter(backend.stats)
        try:
            replies = self._generate(backend, drafts, progress)
        finally:
            after = Counter(backend.stats)
            after.subtract(before)
            self.counters.update({k: n for k, n in after.items() if n})
        self._check_error_rate(replies, samples)
        for draft, reply in zip(drafts, replies, strict=True):
            draft.work["reply"] = reply
        return samples, []

    def _generate(self, backend, drafts: list[Sample], progress: Progress):
        done = 0

        def replied(n: int) -> None:  # the backend says as replies are ready
            nonlocal done
            done += n
            progress(done / len(drafts))

        # In slices as large as eight full batches: how requests share batches is part of what
        # a run is (kept as it always was), and each slice keeps the batch full.
        step = self.source.config["llm_batch_size"] * 8
        replies = []
        for start in range(0, len(drafts), step):
            part = drafts[start:start + step]
            replies += backend.generate([d.work["messages"] for d in part],
                                        [d.work["params"] for d in part], replied)
        return replies

    def _check_error_rate(self, replies, samples: list[Sample]) -> None:
        """A server that is down must not turn a whole run into counted rejections."""
        failed = Counter(r.error_kind for r in replies if not r.ok)
        limit = self.source.config["llm_max_error_rate"]
        if replies and sum(failed.values()) > limit * len(replies):
            indices = [s.meta["index"] for s in samples]
            kinds = ", ".join(f"{k} {n}" for k, n in failed.most_common())
            example = next(r.error for r in replies if not r.ok)
            raise RunAborted(
                f"{sum(failed.values())} of {len(replies)} LLM requests failed in the shard of "
                f"{self.source.item_noun} [{min(indices)}, {max(indices) + 1}) ({kinds}), more "
                f"than --llm_max_error_rate {limit:g}; e.g. {example}")

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals:
            return []
        return [f"  llm: {totals.get('requests', 0)} requests, {totals.get('cache_hits', 0)} "
                f"from the cache, {totals.get('sent', 0)} sent, {totals.get('failed', 0)} "
                "failed"]


class ParseStage(Stage):
    """Each replied draft → a sample with the parsed turns, or a rejection: ``llm_error:<kind>``
    for a failed request, the parser's reason for a reply it cannot read (with the photo and
    the raw reply, so a preview can show what was dropped)."""

    name = "parse"

    def __init__(self, source: CocoSource):
        self.source = source

    def process(self, samples: list[Sample], progress: Progress):
        from mmsynth.prompts.llava import ParseError, parse_with

        kept: list[Sample] = []
        rejected: list[Rejection] = []
        for draft in samples:
            if "reply" not in draft.work:
                kept.append(draft)
                continue
            index, kind, reply = draft.meta["index"], draft.work["kind"], draft.work["reply"]
            params = draft.work["params"]
            if not reply.ok:
                rejected.append(Rejection(index, f"llm_error:{reply.error_kind}",
                                          reply.error or ""))
                continue
            try:
                turns = parse_with(self.source.prompt_sets[kind], reply.text,
                                   hit_limit=reply.finish_reason == "length",
                                   rng=[self.source.config["seed"], index])
            except ParseError as e:
                rejection = e.rejection(index, reply.text)
                dropped = self.source.sample(index, kind, [], params)
                self.source.attach_photo(dropped, draft)
                _with_persona(dropped, draft)
                dropped.meta["reply"] = reply.text
                rejection.sample = dropped
                rejected.append(rejection)
                continue
            sample = self.source.sample(index, kind, turns, params)
            self.source.attach_photo(sample, draft)
            _with_persona(sample, draft)
            if self.source.prompt_sets[kind].parse.cites_boxes:
                # The convention its cited boxes are in (the grounding check reads them so).
                sample.meta["box_format"] = self.source.config["box_format"]
            kept.append(sample)
        return kept, rejected


def _with_persona(sample: Sample, draft: Sample) -> None:
    """The draft's persona (--personas) in the sample's meta: its id, words and prompt."""
    if "persona" in draft.work:
        sample.meta["persona"] = dict(draft.work["persona"])


class AnnotationQAStage(Stage):
    """Each photo draft → an ``annotation_qa`` sample of exact counting / absence questions when
    the photo has something reliable to ask, else nothing (a photo draft is not a sample)."""

    name = "annotation_qa"

    def __init__(self, source: CocoSource):
        self.source = source

    def process(self, samples: list[Sample], progress: Progress):
        from mmsynth.filters.annotation_qa import annotation_qa

        config = self.source.config
        out: list[Sample] = []
        for sample in samples:
            if not sample.work.get("photo"):
                out.append(sample)
                continue
            index = sample.meta["index"]
            rng = np.random.default_rng([config["seed"], index, 1])
            items = annotation_qa(sample.annotations, rng,
                                  counting_rate=config["counting_rate"],
                                  negative_rate=config["negative_rate"])
            if items:
                qa_sample = self.source.sample(index, "annotation_qa",
                                               conversations_from_qa(items), None, qa=items)
                self.source.attach_photo(qa_sample, sample)
                out.append(qa_sample)
        return out, []


class RegionQAStage(Stage):
    """Each photo draft drawn at ``--region_rate`` (from its own stream: the rate changes no
    other sample) → a ``region_qa`` sample of exact region questions from its boxes
    (:mod:`mmsynth.filters.region_qa`), before the photo draft, which passes on to
    ``annotation_qa``. Counters: samples, questions by kind, the boxes left out (crowd, tiny)
    and the referring candidates another box made ambiguous."""

    name = "region_qa"

    def __init__(self, source: CocoSource):
        from mmsynth.boxes import box_format

        self.source = source
        self.fmt = box_format(source.config["box_format"])

    def process(self, samples: list[Sample], progress: Progress):
        from mmsynth.filters.region_qa import region_qa

        config = self.source.config
        out: list[Sample] = []
        for sample in samples:
            if sample.work.get("photo"):
                index = sample.meta["index"]
                rng = np.random.default_rng([config["seed"], index, 2])
                if rng.random() < config["region_rate"]:
                    items = region_qa(sample.annotations, self.fmt, rng, self.counters)
                    if items:
                        region = self.source.sample(index, "region_qa",
                                                    conversations_from_qa(items), None, qa=items)
                        self.source.attach_photo(region, sample)
                        region.meta["box_format"] = self.fmt.name
                        self.counters["samples"] += 1
                        out.append(region)
                    else:
                        self.counters["nothing_to_ask"] += 1
            out.append(sample)
        return out, []

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals:
            return []
        from mmsynth.stages import by_count

        line = (f"  region_qa: {totals.get('samples', 0)} samples "
                f"({by_count(totals, 'questions:') or 'no questions'})")
        excluded = by_count(totals, "excluded:")
        if excluded:
            line += f"; left out: {excluded}"
        if totals.get("nothing_to_ask"):
            line += f"; {totals['nothing_to_ask']} photos with nothing to ask"
        return [line]


def region_qa_stage(source: CocoSource) -> RegionQAStage | None:
    """The coco chain's ``region_qa`` stage, unless ``--region_rate`` is 0."""
    return RegionQAStage(source) if source.config.get("region_rate", 0) > 0 else None
