"""Evolved instructions for real photos (``--evolve_rounds K``, issue 18 item 5; after WizardLM's
Evol-Instruct, made checked).

For each kept coco conversation sample, round 1 takes one of its questions and asks the LLM
(``configs/prompts/evolve.yaml``) to evolve it by one operation drawn from (seed, index, round):
in depth (add a condition, ask about two objects, make it a comparison, ask why or what next) or
in breadth (a new question about another thing in the photo). The evolved question is answered
from the photo's captions and boxes (``configs/prompts/answer.yaml``), and the pair becomes a
sample of type ``evolved`` only if it survives WizardLM's elimination rules, each counted by
reason:

- ``refused``: the model declined ("I'm sorry, I cannot ...");
- ``copies_prompt``: the reply repeats the instruction or the question unchanged;
- ``no_information_gain``: the evolved question adds no word to the original's;
- ``not_a_question`` / ``unreadable``: the reply is no one-line question;
- ``unanswered``: the answer does not parse;
- ``answer_fails:<reason>``: the question or its answer fails the grounding or claim check
  (an absent object, a wrong count, an unsupported colour, ...), as in the chain;
- ``persona_echo`` (with ``--personas``, whose line the request carries too): it names what
  only its persona has.

Round r + 1 evolves round r's survivor. Each evolved sample's ``meta.evolved`` names its origin
sample, the question it came from, the operation and the round. All of a round's requests go to
the backend in one call (cached like the chain's).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mmsynth.personas import persona_lines, turns_echo
from mmsynth.prompts.llava import ANSWER_PROMPT, PROMPT_DIR
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample
from mmsynth.stages import Stage, by_count

if TYPE_CHECKING:
    from mmsynth.sources.coco import CocoSource

# Operations (our words): in depth, then in breadth.
OPERATIONS = {
    "add_constraint": "Make the question harder: add one condition or detail from the captions.",
    "two_objects": "Make the question harder: ask it about two of the objects together.",
    "comparison": "Make the question harder: turn it into a comparison of two things in the "
                  "photo.",
    "reasoning": "Make the question harder: ask why, or what will happen next.",
    "new_question": "Write a different question, about another thing in the photo.",
}
REFUSALS = ("i'm sorry", "i am sorry", "i cannot", "i can't", "as an ai", "i am unable",
            "i'm unable")
# Words of the instruction that an evolved question has no business repeating.
PROMPT_WORDS = ("new question", "instruction", "caption", "object list", "make the question",
                "harder")
_WORD = re.compile(r"[a-z0-9']+")


def evolve_seed(run_seed: int, index: int, what: str) -> int:
    key = f"{run_seed}/{index}/{what}/evolve"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def eliminated(original: str, evolved: str) -> str | None:
    """The WizardLM elimination rule ``evolved`` falls under (None: it is a real evolution)."""
    low = evolved.lower().strip()
    if any(r in low for r in REFUSALS):
        return "refused"
    if low == original.lower().strip() or any(w in low for w in PROMPT_WORDS):
        return "copies_prompt"
    if not low.endswith("?") or "\n" in low:
        return "not_a_question"
    if _words(evolved) <= _words(original):
        return "no_information_gain"
    return None


@dataclass
class _Evolving:
    origin: Sample
    question: str
    round: int
    operation: str = ""
    evolved: str = ""


class EvolveStage(Stage):
    """Adds the evolved samples of each conversation sample after it (never rejects one).

    Counters: ``samples`` (conversation samples evolved), ``tries`` (evolutions asked),
    ``evolved`` (kept), ``kept:<operation>``, ``eliminated:<reason>``, ``llm_requests``,
    ``llm_failed``, ``llm_tokens``."""

    name = "evolve"
    work = 0.5  # two short requests per evolution against the chain's three long ones

    def __init__(self, source: CocoSource, rounds: int):
        from mmsynth.preference.coco import CocoPairs

        self.source = source
        self.rounds = rounds
        self.judge = CocoPairs(source)  # its verdict: grounding, then claims, as in the chain

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        c = self.counters
        for name in ("samples", "tries", "evolved", "llm_requests", "llm_failed", "llm_tokens"):
            c[name] += 0
        seed = self.source.config["seed"]
        live: list[_Evolving] = []
        for sample in samples:
            if sample.meta.get("type") != "conversation" or len(sample.conversations) < 2:
                continue
            c["samples"] += 1
            rng = np.random.default_rng(evolve_seed(seed, sample.meta["index"], "question"))
            questions = [t["value"].replace(IMAGE_TOKEN, "").strip()
                         for t in sample.conversations[0::2]]
            live.append(_Evolving(sample, questions[int(rng.integers(len(questions)))], 1))
        made: dict[str, list[Sample]] = {}
        for r in range(1, self.rounds + 1):
            survivors = self._round(live, r, c)
            for item, evolved in survivors:
                made.setdefault(item.origin.id, []).append(evolved)
            live = [_Evolving(item.origin, item.evolved, r + 1) for item, _ in survivors]
            progress(r / self.rounds)
        out: list[Sample] = []
        for sample in samples:
            out.append(sample)
            out += made.get(sample.id, [])
        return out, []

    def _round(self, live: list[_Evolving], r: int, c: Counter
               ) -> list[tuple[_Evolving, Sample]]:
        from mmsynth.prompts.llava import ParseError, load_prompt_set, parse_with

        evolve_set = load_prompt_set(EVOLVE_PROMPT)
        seed = self.source.config["seed"]
        names = list(OPERATIONS)
        requests = []
        for item in live:
            index = item.origin.meta["index"]
            rng = np.random.default_rng(evolve_seed(seed, index, f"operation/{r}"))
            item.operation = names[int(rng.integers(len(names)))]
            note = OPERATIONS[item.operation]
            persona = item.origin.meta.get("persona")
            if persona:  # --personas: the origin's asker asks the evolved question too
                line = persona_lines()[1]["evolve"].replace("{persona}", persona["text"])
                note = f"{line}\n{note}"
            requests.append(self._request(EVOLVE_PROMPT, item, note, item.question,
                                          f"{r}/evolve"))
        replies = self._ask(requests, c)
        asked: list[_Evolving] = []
        for item, reply in zip(live, replies, strict=True):
            c["tries"] += 1
            if not reply.ok:
                c["eliminated:llm_error"] += 1
                continue
            try:
                turns = parse_with(evolve_set, reply.text,
                                   hit_limit=reply.finish_reason == "length")
            except ParseError:
                c["eliminated:unreadable"] += 1
                continue
            item.evolved = " ".join(turns[1]["value"].split())
            reason = eliminated(item.question, item.evolved)
            if reason:
                c[f"eliminated:{reason}"] += 1
                continue
            asked.append(item)
        answers = self._ask([self._request(ANSWER, item, None, item.evolved, f"{r}/answer")
                             for item in asked], c)
        answer_set = load_prompt_set(ANSWER)
        survivors = []
        for item, reply in zip(asked, answers, strict=True):
            if not reply.ok:
                c["eliminated:llm_error"] += 1
                continue
            try:
                answer = parse_with(answer_set, reply.text,
                                    hit_limit=reply.finish_reason == "length")[1]["value"]
            except ParseError:
                c["eliminated:unanswered"] += 1
                continue
            turns = [{"from": "human", "value": f"{IMAGE_TOKEN}\n{item.evolved}"},
                     {"from": "gpt", "value": answer}]
            verdict = self.judge.verdict(item.origin, turns)
            if verdict is not None:
                c[f"eliminated:answer_fails:{verdict.split(':')[0]}"] += 1
                continue
            persona = item.origin.meta.get("persona")
            if persona and turns_echo(persona["text"], turns, item.origin.annotations):
                c["eliminated:persona_echo"] += 1
                continue
            c["evolved"] += 1
            c[f"kept:{item.operation}"] += 1
            survivors.append((item, self._sample(item, turns, r)))
        return survivors

    def _request(self, prompt, item: _Evolving, note: str | None, question: str, what: str):
        from mmsynth.llm import params_from_config
        from mmsynth.prompts.llava import build_messages, load_prompt_set
        from mmsynth.sources.coco_context import context_of

        index = item.origin.meta["index"]
        ps = load_prompt_set(prompt)
        config = self.source.config
        params = params_from_config(
            {**config, "llm_max_new_tokens": ps.max_new_tokens},
            seed=evolve_seed(config["seed"], index, what), stop=tuple(ps.stop))
        messages = build_messages(prompt, context_of(self.source.index.record(index)),
                                  question=question, note=note)
        return messages, params

    def _ask(self, requests: list[tuple[list, Any]], c: Counter) -> list[Any]:
        if not requests:
            return []
        replies = self.source.backend.generate([m for m, _ in requests],
                                               [p for _, p in requests])
        c["llm_requests"] += len(requests)
        c["llm_failed"] += sum(not r.ok for r in replies)
        c["llm_tokens"] += sum(r.completion_tokens for r in replies)
        return replies

    def _sample(self, item: _Evolving, turns: list[dict[str, str]], r: int) -> Sample:
        from mmsynth.prompts.llava import load_prompt_set

        origin, index = item.origin, item.origin.meta["index"]
        meta = self.source.provenance(index, type="evolved", license=origin.meta.get("license"))
        for key in ("image_id", "file_name", "attribution", "llm"):
            if key in origin.meta:
                meta[key] = origin.meta[key]
        meta["prompt"] = load_prompt_set(EVOLVE_PROMPT).provenance()
        meta["answer_prompt"] = load_prompt_set(ANSWER).provenance()
        meta["evolved"] = {"from": origin.id, "question": item.question,
                           "operation": item.operation, "round": r}
        if "persona" in origin.meta:
            meta["persona"] = dict(origin.meta["persona"])
        return Sample(id=f"{origin.id}-evolved{r}", image=origin.image,
                      image_ext=origin.image_ext, conversations=turns,
                      annotations=origin.annotations, caption=origin.caption, meta=meta)

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals.get("samples"):
            return []
        t = Counter(totals)
        gone = sum(n for k, n in t.items() if k.startswith("eliminated:"))
        return [f"  evolve: {t['tries']} evolutions of {t['samples']} conversation samples: "
                f"{t['evolved']} kept ({by_count(t, 'kept:') or 'none'}), {gone} eliminated "
                f"({by_count(t, 'eliminated:') or 'none'}); {t['llm_requests']} LLM requests "
                f"({t['llm_tokens']:,} reply tokens, {t['llm_failed']} failed)"]


EVOLVE_PROMPT = PROMPT_DIR / "evolve.yaml"
ANSWER = ANSWER_PROMPT


def fingerprint_extra() -> dict[str, Any]:
    """What decides the evolutions beyond the option: the prompts and the operations."""
    from mmsynth.prompts.llava import load_prompt_set

    return {"evolve_prompt": load_prompt_set(EVOLVE_PROMPT).fingerprint,
            "evolve_answer_prompt": load_prompt_set(ANSWER).fingerprint,
            "evolve_operations": sorted(OPERATIONS.items())}


def stage_for(source: Any) -> EvolveStage | None:
    """The chain's ``evolve`` stage, unless ``--evolve_rounds`` is 0."""
    rounds = int(source.config.get("evolve_rounds", 0))
    return EvolveStage(source, rounds) if rounds > 0 else None
