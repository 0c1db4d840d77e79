"""Coco preference pairs: a kept answer (chosen) against one made wrong in a known way.

Kinds, tried per sample in an order drawn from the pair seed, until ``--preference_pairs`` are
made:

* ``self_rejected``: a candidate reply of the same request that best-of-N's checks rejected
  (``work["rejected_candidates"]``: a request kept by a later candidate, with
  ``--llm_candidates`` > 1 or a retry, the default's three). Paired when it answers the
  same first question (a ``detail`` request's question is drawn per image, so its candidates
  always do; a conversation's or reasoning's candidates write their own questions and pair only
  when the first one is the same). A reply the parser refused (truncated, repetitive, …) pairs
  as it stands for ``detail`` only, and must be refused again for the same reason.
* ``injected_object``: one sentence of the answer gets "… next to a dog", a COCO category that
  neither the boxes nor the captions allow.
* ``wrong_count``: a stated count of an annotated category (no crowd box, equal to the boxes'
  count) becomes one more or one fewer ("There is one clock." → "There are two clocks.").
  Annotation QA's counting answers pair too.
* ``wrong_relation``: a sentence's left/right or above/below words swapped; when the answer
  states no relation, a true sentence about two objects with one box each that do not overlap
  along the axis, their centres at least :data:`RELATION_GAP` of the image apart, is appended
  to the chosen answer and its swapped form to the rejected one; when no two objects settle a
  relation, a lone object's side of the picture ("The person is on the left side of the
  picture.", its centre :data:`POSITION_GAP` from the middle) is appended the same way.
* ``misleading_context`` (STIC's idea, on the text side): the LLM answers again from a
  corrupted context, and its answer is the rejected one. The context is another photo's
  (its captions and boxes: ``other_context``; the rejected answer must name one of the objects
  that photo has and this one lacks) or this photo's with an absent COCO category added as a
  box and a caption (``added_object``; it must name that object). A ``detail`` sample asks its
  own prompt set again (its human turn is drawn from the seed, so the question is the same);
  a conversation or reasoning turn asks :data:`~mmsynth.prompts.llava.ANSWER_PROMPT`, the
  turn's own question answered from the context. One LLM request per sample that reaches this
  kind, seeded from (seed, image, type); all of a shard's go to the backend in one batched
  call (:meth:`CocoPairs.pairs_of_shard`), the reply cache included.

Verification: the prompt's turns plus the answer go through the grounding check, then claim
support, both in ``reject`` mode (whatever ``--grounding`` / ``--claim_check`` say, so a pair's
verdict is the rules', not a flag's): the chosen side must pass and the rejected side must be
rejected with the intended reason (``hallucinated_object:<category>``,
``wrong_count:<category>``, ``unsupported_claim:relation``, the candidate's own reason,
``hallucinated_object:<an object the corruption brought in>``).
Otherwise the pair is dropped, counted as ``dropped:<kind>:chosen_fails`` /
``not_caught`` / ``other_reason``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mmsynth.filters.claims import ClaimCheck, split_sentences
from mmsynth.filters.grounding import Evidence, GroundingCheck
from mmsynth.filters.mentions import mentions
from mmsynth.filters.vocabulary import COCO_CATEGORIES, NUMBER_WORDS, plural
from mmsynth.preference import make_pair, pair_seed
from mmsynth.sample import Rejection, Sample
from mmsynth.stages import no_progress

if TYPE_CHECKING:
    from mmsynth.sources.coco import CocoSource

KINDS = ("self_rejected", "injected_object", "wrong_count", "wrong_relation",
         "misleading_context")
# How a misleading_context request's context is corrupted (tried in an order the seed draws).
CORRUPTIONS = ("other_context", "added_object")
# Photos drawn for other_context before giving up on it for a sample (one with an object this
# photo lacks is nearly always among them).
OTHER_DRAWS = 16
# Objects whose presence is implied by roles and photos ("the photographer"): inserting one
# proves nothing.
NOT_INJECTED = frozenset({"person"})
PLACES = ("next to", "beside", "near")
# Box centres this share of the image apart (beyond the claim check's 10% margin), the boxes
# not overlapping along that axis.
RELATION_GAP = 0.15
# A lone object's centre this far from the middle of the picture (the check's margin is 10%).
POSITION_GAP = 0.12
SWAPS = {"left": "right", "right": "left", "above": "below", "below": "above"}
_SWAP_RE = re.compile(r"\b(left|right|above|below)\b", re.IGNORECASE)
_WORD_OF = {}
for _word, _value in sorted(NUMBER_WORDS.items(), key=lambda wv: len(wv[0])):
    _WORD_OF.setdefault(_value, _word)
_NUMBER_RE = re.compile(r"\b(\d+|" + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len,
                                                    reverse=True)) + r")\b", re.IGNORECASE)


def article(noun: str) -> str:
    return f"an {noun}" if noun[0].lower() in "aeiou" else f"a {noun}"


@dataclass
class MisleadingRequest:
    """A ``misleading_context`` request waiting for its reply: what to send, and what the
    reply must be to make a pair."""

    messages: list[dict[str, str]]
    params: Any  # GenerationParams
    prompt_set: Any  # PromptSet: how the reply is parsed
    turn: int  # the gpt turn it answers for
    question: str  # that turn's question, as asked
    intended: frozenset[str]  # the verdicts that make the rejected answer provably wrong
    provenance: dict[str, Any] = field(default_factory=dict)


# A pair maker's plan for one sample: yields the LLM requests it needs, is sent each reply,
# returns the sample's pairs.
Plan = Generator[MisleadingRequest, Any, list[dict[str, Any]]]


class CocoPairs:
    """The coco pair maker of :class:`mmsynth.preference.PreferenceStage`."""

    def __init__(self, source: CocoSource):
        self.source = source
        self.grounding = GroundingCheck(mode="reject", annotate_meta=False)
        self.claims = ClaimCheck("reject")

    # -- verification ---------------------------------------------------------------------------

    def verdict(self, sample: Sample, turns: list[dict[str, str]]) -> str | None:
        """The checks' reason for rejecting ``turns`` as an answer about ``sample``'s image, or
        None when they pass (grounding, then claim support, as in the chain)."""
        probe = Sample(id=sample.id, image=b"", image_ext=sample.image_ext,
                       conversations=[dict(t) for t in turns], annotations=sample.annotations,
                       meta={"index": sample.meta.get("index", -1),
                             "type": sample.meta.get("type")})
        result = self.grounding.check_sample(probe, Counter())
        if isinstance(result, Rejection):
            return result.reason
        self.claims.reset()
        _, rejected = self.claims.process([probe], no_progress)
        return rejected[0].reason if rejected else None

    def verified(self, sample: Sample, kind: str, turn: int, chosen: str, rejected: str,
                 intended: str | frozenset[str], provenance: dict[str, Any], counters: Counter,
                 prompt: list[dict[str, str]] | None = None) -> dict[str, Any] | None:
        """The pair, when ``chosen`` passes the checks and ``rejected`` fails them with the
        ``intended`` reason (or one of them); else None, counted as dropped."""
        prompt = sample.conversations[:turn] if prompt is None else prompt
        if self.verdict(sample, [*prompt, {"from": "gpt", "value": chosen}]) is not None:
            counters[f"dropped:{kind}:chosen_fails"] += 1
            return None
        reason = self.verdict(sample, [*prompt, {"from": "gpt", "value": rejected}])
        if reason not in ((intended,) if isinstance(intended, str) else intended):
            counters[f"dropped:{kind}:{'not_caught' if reason is None else 'other_reason'}"] += 1
            return None
        return make_pair(kind, turn, prompt, chosen, rejected, reason, provenance)

    # -- the maker ------------------------------------------------------------------------------

    # Share of a shard's work (progress): the misleading_context requests, at most one per
    # sample and shorter than the chain's, against the LLM stage's 1.0.
    work = 0.3

    def __call__(self, sample: Sample, n: int, counters: Counter) -> list[dict[str, Any]]:
        return self.pairs_of_shard([sample], n, counters)[0]

    def pairs_of_shard(self, samples: list[Sample], n: int, counters: Counter,
                       progress: Callable[[float], None] = no_progress
                       ) -> list[list[dict[str, Any]]]:
        """Each sample's pairs. Every sample's :meth:`plan` runs until it needs an LLM reply;
        the requests of all of them go to the backend in one call; the plans go on with their
        replies (until none needs another)."""
        plans = [self.plan(sample, n, counters) for sample in samples]
        pairs: list[list[dict[str, Any]]] = [[] for _ in samples]
        waiting: dict[int, MisleadingRequest] = {}

        def advance(i: int, reply: Any) -> None:
            try:
                waiting[i] = plans[i].send(reply)
            except StopIteration as done:
                pairs[i] = done.value

        for i in range(len(plans)):
            advance(i, None)
        while waiting:
            order = sorted(waiting)
            replies = self._ask([waiting.pop(i) for i in order], counters, progress)
            for i, reply in zip(order, replies, strict=True):
                advance(i, reply)
        progress(1.0)
        return pairs

    def plan(self, sample: Sample, n: int, counters: Counter) -> Plan:
        """Up to ``n`` pairs for ``sample``, its kinds tried in an order drawn from its pair
        seed; yields a :class:`MisleadingRequest` where it needs the LLM and is sent the reply."""
        if sample.annotations is None or len(sample.conversations) < 2:
            return []
        kind = sample.meta.get("type")
        seed = pair_seed(self.source.config["seed"], sample.meta.get("index", -1), str(kind))
        rng = np.random.default_rng(seed)
        if kind == "region_qa":
            return []  # exact region answers: no kind here makes a wrong box yet
        kinds = ["wrong_count"] if kind == "annotation_qa" else list(KINDS)
        order = [kinds[i] for i in rng.permutation(len(kinds))]
        pairs: list[dict[str, Any]] = []
        for name in order:
            if len(pairs) >= n:
                break
            if name == "misleading_context":
                request = self.misleading_request(sample, rng, seed, counters)
                pair = None
                if request is not None:
                    reply = yield request
                    pair = self.misleading_pair(sample, request, reply, counters)
            else:
                pair = getattr(self, name)(sample, rng, seed, counters)
            if pair is not None:
                pairs.append(pair)
        return pairs

    def _ask(self, requests: list[MisleadingRequest], counters: Counter,
             progress: Callable[[float], None]) -> list[Any]:
        """The replies to ``requests``, in one backend call (cached like the chain's)."""
        done = 0

        def replied(k: int) -> None:
            nonlocal done
            done += k
            progress(done / len(requests))

        replies = self.source.backend.generate([r.messages for r in requests],
                                               [r.params for r in requests], replied)
        counters["llm_requests"] += len(requests)
        counters["llm_failed"] += sum(not r.ok for r in replies)
        counters["llm_tokens"] += sum(r.completion_tokens for r in replies)
        return replies

    @staticmethod
    def _gpt_turns(sample: Sample, rng: np.random.Generator) -> list[int]:
        turns = [t for t in range(1, len(sample.conversations), 2)
                 if sample.conversations[t].get("from") == "gpt"]
        return [turns[i] for i in rng.permutation(len(turns))]

    # -- the kinds ------------------------------------------------------------------------------

    def self_rejected(self, sample, rng, seed, counters) -> dict[str, Any] | None:
        from mmsynth.prompts.llava import ParseError, parse_with

        failed = sample.work.get("rejected_candidates") or []
        if not failed:
            counters["skipped:self_rejected:no_failed_candidate"] += 1
            return None
        kind = sample.meta["type"]
        index = sample.meta["index"]
        ps = self.source.prompt_sets[kind]
        question = sample.conversations[0]
        for cand in failed:
            provenance = {"method": "failed_candidate", "seed": seed,
                          "candidate": cand["candidate"], "candidate_seed": cand["seed"]}
            try:
                turns = parse_with(ps, cand["reply"],
                                   hit_limit=cand.get("finish_reason") == "length",
                                   rng=[self.source.config["seed"], index])
            except ParseError as e:
                if kind != "detail" or e.key != cand["reason"] or not cand["reply"].strip():
                    counters["skipped:self_rejected:unreadable_reply"] += 1
                    continue
                # The parser's verdict is the check here: the reply it refused, as written.
                chosen = [question, sample.conversations[1]]
                if self.verdict(sample, chosen) is not None:
                    counters["dropped:self_rejected:chosen_fails"] += 1
                    return None
                return make_pair("self_rejected", 1, [question], sample.conversations[1]["value"],
                                 cand["reply"].strip(), e.key, provenance)
            if _strip(turns[0]["value"]) != _strip(question["value"]) or len(turns) < 2:
                counters["skipped:self_rejected:other_question"] += 1
                continue
            pair = self.verified(sample, "self_rejected", 1, sample.conversations[1]["value"],
                                 turns[1]["value"], cand["reason"], provenance, counters,
                                 prompt=[question])
            if pair is not None:
                return pair
        return None

    def injected_object(self, sample, rng, seed, counters) -> dict[str, Any] | None:
        allowed = Evidence.from_annotations(sample.annotations).allowed
        absent = [c for c in COCO_CATEGORIES if c not in allowed and c not in NOT_INJECTED]
        for turn in self._gpt_turns(sample, rng)[:3]:
            answer = sample.conversations[turn]["value"]
            spans = [(a, b) for a, b in split_sentences(answer)
                     if answer[b - 1] == "." and len(answer[a:b].split()) >= 5]
            if not spans:
                continue
            a, b = spans[int(rng.integers(len(spans)))]
            category = absent[int(rng.integers(len(absent)))]
            place = PLACES[int(rng.integers(len(PLACES)))]
            rejected = f"{answer[:b - 1]} {place} {article(category)}{answer[b - 1:]}"
            provenance = {"method": "inserted_phrase", "seed": seed, "object": category,
                          "phrase": f"{place} {article(category)}", "sentence": [a, b]}
            return self.verified(sample, "injected_object", turn, answer, rejected,
                                 f"hallucinated_object:{category}", provenance, counters)
        counters["skipped:injected_object:no_sentence"] += 1
        return None

    def wrong_count(self, sample, rng, seed, counters) -> dict[str, Any] | None:
        evidence = Evidence.from_annotations(sample.annotations)
        for turn in self._gpt_turns(sample, rng):
            answer = sample.conversations[turn]["value"]
            for m in mentions(answer):
                true = evidence.annotated.get(m.category, 0)
                if (m.count is None or m.count < 1 or m.negated or m.hedge or m.region
                        or m.partial or m.category in evidence.crowd or m.count != true):
                    continue
                number = _number_before(answer, m.span[0], m.count)
                if number is None:
                    continue
                wrong = true - 1 if true > 2 and rng.random() < 0.5 else true + 1
                a, b = number
                written = answer[a:b]
                if written.isdigit():
                    new = str(wrong)
                else:
                    new = _WORD_OF.get(wrong)
                    if new is None:
                        continue
                    new = new.capitalize() if written[0].isupper() else new
                rejected = answer[:a] + new + answer[b:]
                if true == 1:  # "There is one clock." → "There are two clocks."
                    head = re.sub(r"\b([Ii])s(\s+)$", lambda g: ("A" if g.group(1) == "I"
                                                               else "a") + "re" + g.group(2),
                                  answer[:a])
                    noun = plural(answer[m.span[0]:m.span[1]])
                    rejected = head + new + answer[b:m.span[0]] + noun + answer[m.span[1]:]
                provenance = {"method": "changed_count", "seed": seed, "object": m.category,
                              "count": true, "wrong_count": wrong, "span": [a, b]}
                return self.verified(sample, "wrong_count", turn, answer, rejected,
                                     f"wrong_count:{m.category}", provenance, counters)
        counters["skipped:wrong_count:no_reliable_count"] += 1
        return None

    def wrong_relation(self, sample, rng, seed, counters) -> dict[str, Any] | None:
        turns = self._gpt_turns(sample, rng)
        for turn in turns:
            answer = sample.conversations[turn]["value"]
            for a, b in split_sentences(answer):
                if not _SWAP_RE.search(answer[a:b]):
                    continue
                rejected = answer[:a] + _SWAP_RE.sub(_swap, answer[a:b]) + answer[b:]
                provenance = {"method": "swapped_relation", "seed": seed, "sentence": [a, b]}
                # Kept only when the check catches it; else try the next sentence.
                pair = self.verified(sample, "wrong_relation", turn, answer, rejected,
                                     "unsupported_claim:relation", provenance, counters)
                if pair is not None:
                    return pair
        relation = _clear_relation(sample.annotations, rng)
        if relation is not None:
            first, phrase, second = relation
            true = f"The {first} is {phrase} the {second}."
            false = f"The {first} is {_SWAP_RE.sub(_swap, phrase)} the {second}."
            provenance = {"method": "appended_relation", "seed": seed,
                          "objects": [first, second], "relation": phrase}
        else:
            position = _clear_position(sample.annotations, rng)
            if position is None or not turns:
                counters["skipped:wrong_relation:no_clear_relation"] += 1
                return None
            first, side = position
            true = f"The {first} is on the {side} side of the picture."
            false = f"The {first} is on the {SWAPS[side]} side of the picture."
            provenance = {"method": "appended_position", "seed": seed, "objects": [first],
                          "relation": f"{side} side of the picture"}
        turn = turns[0]
        answer = sample.conversations[turn]["value"].rstrip()
        return self.verified(sample, "wrong_relation", turn, f"{answer} {true}",
                             f"{answer} {false}", "unsupported_claim:relation", provenance,
                             counters)

    def misleading_request(self, sample, rng, seed, counters) -> MisleadingRequest | None:
        """The request that asks the LLM the sample's question from a corrupted context, or
        None (counted) when no corruption can be made."""
        from mmsynth.llm import params_from_config
        from mmsynth.prompts.llava import ANSWER_PROMPT, build_messages, load_prompt_set
        from mmsynth.sources.coco_context import context_of

        kind, index = sample.meta["type"], sample.meta["index"]
        record = self.source.index.record(index)
        allowed = Evidence.from_annotations(sample.annotations).allowed
        corrupted = None
        for method in (CORRUPTIONS[i] for i in rng.permutation(len(CORRUPTIONS))):
            corrupted = getattr(self, f"_{method}")(index, context_of(record), allowed, rng)
            if corrupted is not None:
                break
        if corrupted is None:
            counters["skipped:misleading_context:no_corruption"] += 1
            return None
        context, intended, provenance = corrupted
        if kind == "detail":  # its own prompt again: the same drawn question, the same style
            prompt_set, turn = self.source.prompt_sets[kind], 1
            question = _strip(sample.conversations[0]["value"])
            messages = build_messages(kind, context)
        else:
            prompt_set, turn = load_prompt_set(ANSWER_PROMPT), self._gpt_turns(sample, rng)[0]
            question = _strip(sample.conversations[turn - 1]["value"])
            messages = build_messages(ANSWER_PROMPT, context, question=question)
        config = self.source.config
        params = params_from_config(
            {**config, "llm_max_new_tokens": config["llm_max_new_tokens"]
             or prompt_set.max_new_tokens},
            seed=pair_seed(config["seed"], index, f"{kind}/misleading_context"),
            stop=tuple(prompt_set.stop))
        provenance = {"method": provenance.pop("method"), "seed": seed,
                      "llm_seed": params.seed, "prompt": prompt_set.provenance(), **provenance}
        return MisleadingRequest(messages, params, prompt_set, turn, question, intended,
                                 provenance)

    def misleading_pair(self, sample, request: MisleadingRequest, reply, counters
                        ) -> dict[str, Any] | None:
        """The pair of the sample's answer against the LLM's misled one, verified."""
        from mmsynth.prompts.llava import ParseError, parse_with

        if not reply.ok:
            counters["dropped:misleading_context:llm_error"] += 1
            return None
        try:
            turns = parse_with(request.prompt_set, reply.text,
                               hit_limit=reply.finish_reason == "length",
                               rng=[self.source.config["seed"], sample.meta["index"]])
        except ParseError as e:
            counters[f"dropped:misleading_context:unreadable_reply:{e.key}"] += 1
            return None
        if not request.prompt_set.asks_question and _strip(turns[0]["value"]) != request.question:
            counters["dropped:misleading_context:other_question"] += 1
            return None
        return self.verified(sample, "misleading_context", request.turn,
                             sample.conversations[request.turn]["value"], turns[1]["value"],
                             request.intended, request.provenance, counters)

    # -- the corruptions: (context, the intended verdicts, provenance) or None ------------------

    def _other_context(self, index: int, context, allowed: frozenset[str],
                       rng: np.random.Generator):
        """Another photo's captions and boxes, one that has objects this photo lacks."""
        from mmsynth.sources.coco_context import context_of, sample_annotations

        photos = self.source.index
        for _ in range(OTHER_DRAWS if len(photos) > 1 else 0):
            j = int(rng.integers(len(photos)))
            other = photos.record(j)
            if j == index or not other.has_context:
                continue
            brought = sorted(Evidence.from_annotations(sample_annotations(other)).allowed
                             - allowed)
            if brought:
                return (context_of(other),
                        frozenset(f"hallucinated_object:{c}" for c in brought),
                        {"method": "other_context", "other_image_id": other.id,
                         "objects": brought})
        return None

    def _added_object(self, index: int, context, allowed: frozenset[str],
                      rng: np.random.Generator):
        """This photo's context with an absent COCO category added: a box, and a caption that
        puts it next to the photo's most annotated object (the conversation prompt shows
        captions only)."""
        from mmsynth.prompts.llava import Context

        absent = [c for c in COCO_CATEGORIES if c not in allowed and c not in NOT_INJECTED]
        category = absent[int(rng.integers(len(absent)))]
        w, h = (float(v) for v in rng.uniform(0.15, 0.35, 2))
        x, y = float(rng.uniform(0, 1 - w)), float(rng.uniform(0, 1 - h))
        box = tuple(round(v, 3) for v in (x, y, x + w, y + h))
        common = Counter(c for c, _ in context.objects).most_common(1)
        place = PLACES[int(rng.integers(len(PLACES)))]
        caption = (f"{article(category).capitalize()} {place} the {common[0][0]}." if common
                   else f"There is {article(category)} in the picture.")
        captions = list(context.captions)
        captions.insert(int(rng.integers(len(captions) + 1)), caption)
        return (Context(tuple(captions), (*context.objects, (category, box))),
                frozenset({f"hallucinated_object:{category}"}),
                {"method": "added_object", "object": category, "box": list(box),
                 "caption": caption})


def fingerprint_extra() -> dict[str, Any]:
    """What decides the coco pairs beyond the options: the kinds (a run made before a kind
    existed is not resumed into) and the prompt misleading_context asks with."""
    from mmsynth.prompts.llava import ANSWER_PROMPT, load_prompt_set

    return {"preference_kinds": list(KINDS),
            "preference_answer_prompt": load_prompt_set(ANSWER_PROMPT).fingerprint}


def _strip(text: str) -> str:
    return " ".join(text.replace("<image>", " ").split())


def _swap(m: re.Match) -> str:
    word = SWAPS[m.group(1).lower()]
    return word.capitalize() if m.group(1)[0].isupper() else word


def _number_before(text: str, start: int, count: int) -> tuple[int, int] | None:
    """The span of the number word or digits stating ``count`` just before a mention (at most
    two words between: "three large brown cows")."""
    window = text[max(0, start - 40):start]
    found = None
    for m in _NUMBER_RE.finditer(window):
        found = m
    if found is None or len(window[found.end():].split()) > 2:
        return None
    word = found.group(1).lower()
    value = int(word) if word.isdigit() else NUMBER_WORDS.get(word)
    if value != count:
        return None
    offset = max(0, start - 40)
    return offset + found.start(), offset + found.end()


def _single_boxes(annotations: dict[str, Any]) -> dict[str, tuple[float, ...]]:
    """Category → its one box (x, y, w, h as shares of the image) for the categories that have
    exactly one box and no crowd box ("the clock" is then that box)."""
    width = float(annotations.get("width") or 0)
    height = float(annotations.get("height") or 0)
    if width <= 0 or height <= 0:
        return {}
    boxes: dict[str, list[tuple[float, ...]]] = {}
    crowd = set()
    for obj in annotations.get("objects") or ():
        if obj.get("iscrowd"):
            crowd.add(obj["category"])
            continue
        x, y, w, h = (float(v) for v in obj["bbox"])
        boxes.setdefault(obj["category"], []).append((x / width, y / height, w / width,
                                                       h / height))
    return {c: b[0] for c, b in sorted(boxes.items()) if len(b) == 1 and c not in crowd}


def _clear_position(annotations: dict[str, Any], rng: np.random.Generator
                    ) -> tuple[str, str] | None:
    """A lone object whose centre is :data:`POSITION_GAP` left or right of the middle, and
    that side, or None."""
    options = []
    for c, (x, _, w, _) in _single_boxes(annotations).items():
        centre = x + w / 2
        if abs(centre - 0.5) >= POSITION_GAP:
            options.append((c, "left" if centre < 0.5 else "right"))
    return options[int(rng.integers(len(options)))] if options else None


def _clear_relation(annotations: dict[str, Any], rng: np.random.Generator
                    ) -> tuple[str, str, str] | None:
    """Two categories with one (non-crowd) box each that do not overlap along an axis and whose
    centres are :data:`RELATION_GAP` apart along it, and how the first relates to the second
    ("to the left of", "above"), or None."""
    boxes = _single_boxes(annotations)
    single = list(boxes)
    options = []
    for i, a in enumerate(single):
        for b in single[i + 1:]:
            (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[a], boxes[b]
            # Settled: the boxes do not overlap along the axis, and the centres are far apart.
            if (ax + aw <= bx or bx + bw <= ax) and abs(ax - bx + (aw - bw) / 2) >= RELATION_GAP:
                options.append((a, "to the left of", b) if ax < bx else (a, "to the right of", b))
            elif (ay + ah <= by or by + bh <= ay) and abs(ay - by + (ah - bh) / 2) >= RELATION_GAP:
                options.append((a, "above", b) if ay < by else (a, "below", b))
    if not options:
        return None
    return options[int(rng.integers(len(options)))]
