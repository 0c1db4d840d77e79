"""Best-of-N and retries for the coco chain: the LLM writes several candidate replies per
request, the checks that already exist judge them, and the first candidate (in k order) that
passes every check is kept.

::

    request drafts ── candidate k = 0 … N-1, seeded from (seed, image, type, k)
      → llm                       every candidate of the shard in one batched backend call
      → parse → annotation_qa → grounding → claims
                                  the chain's own stages, run on each candidate as in the chain
      then retry rounds, up to candidate N + R - 1: the next candidate (k = N, N+1, …; with
      --llm_retry_fill, the next several) for each request whose every candidate so far was
      rejected, generated together and judged the same way.

:class:`BestOfN` is built around that stretch of the chain (``CocoSource.wrappers``), so there
is one place for each check: the judges are the very stage objects the chain would run, and
their counters, summed over every candidate of the shard, are reported under their own names
(their summary lines then count candidates, not requests). The stage's own counters say what
the rounds did, and the run's rejections are the requests that still ended rejected, by their
last candidate's reason.

Why a retry is the next k (not N new ones): it is then exactly the candidate N would have
generated up front, so ``--llm_candidates 1 --llm_retries 2`` keeps the same reply as
``--llm_candidates 3`` wherever one of the three passes; a request costs at most N + R replies;
and the rounds stop as soon as every request has a passing reply. One candidate per request and
round costs only the candidates that were needed, but a round of a few failing requests decodes
a batch of a few rows, which on a GPU takes nearly as long as a full one: with
``--llm_retry_fill on`` a round gives each failing request
its next several candidates, as many as fill one ``--llm_batch_size`` batch, and the kept reply
is still the first passing one in k order; the candidates after it were not needed (counted as
tokens on candidates not kept, never paired as ``self_rejected``). The samples are the same
either way; only the counters and the time differ.

Why CLIP does not judge: its quantile mode ranks a shard's samples against each other, so a
candidate's verdict would depend on which other candidates share the shard, and the kept reply
would no longer be a function of the request alone. It scores the kept samples after this stage.

With ``--llm_candidates 1 --llm_retries 0`` the stage runs the stretch once over the shard's
samples, exactly as the chain did before it existed: same backend call, same samples, same
rejections in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mmsynth.sample import Rejection, Sample
from mmsynth.stages import Stage

if TYPE_CHECKING:
    from mmsynth.sources.coco import CocoSource

Progress = Callable[[float], None]
Key = tuple[int, str]  # (image index, type): one request

# Counters every shard's stats carry, 0 when nothing happened.
COUNTERS = ("requests", "candidates", "passed", "kept", "kept_later", "retries", "retried",
            "kept_by_retry", "rejected", "tokens", "tokens_kept", "tokens_rejected")


@dataclass
class Candidate:
    """One candidate reply of a request and the judges' verdict: the sample that passed every
    check, or the rejection of the first judge that refused it (``judge``: its position)."""

    k: int
    draft: Sample
    sample: Sample | None = None
    rejection: Rejection | None = None
    judge: int = 0

    @property
    def tokens(self) -> int:
        reply = self.draft.work.get("reply")
        return reply.completion_tokens if reply is not None else 0


@dataclass
class Request:
    """A request draft (candidate 0 is the draft itself) and its candidates so far."""

    draft: Sample
    key: Key
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def kept(self) -> Candidate | None:
        """The first candidate in k order that passed every check."""
        return next((c for c in sorted(self.candidates, key=lambda c: c.k)
                     if c.sample is not None), None)


class BestOfN(Stage):
    """Generate N candidates per request, judge each with the chain's own checks, keep the
    first that passes, retry the requests that have none (see the module docstring).

    ``stretch`` is the chain's stages this one runs: the generator (``llm``) first, then the
    judges in chain order. Kept samples carry ``work["rejected_candidates"]`` (each failed
    candidate's k, seed, reply text, finish reason, reason and detail: the material for
    self-rejected preference pairs; never written to a shard) and, when best-of-N is on,
    ``meta["llm"]["candidate"]`` (the kept candidate's k; its seed is in the params).
    """

    name = "best_of_n"

    def __init__(self, source: CocoSource, stretch: Sequence[Stage]):
        if not stretch or stretch[0].name != "llm":
            raise ValueError("best_of_n runs the LLM stage first, then its judges")
        self.source = source
        self.generator, self.judges = stretch[0], list(stretch[1:])
        config = source.config
        self.n = int(config.get("llm_candidates", 1))
        # Greedy decoding ignores the seed: a retry would be the same reply, so there is none.
        greedy = config.get("llm_temperature", 0.6) == 0
        self.rounds = 0 if greedy else int(config.get("llm_retries", 0))
        # Off (1 candidate, no retries): the samples are exactly those of the plain chain.
        self.on = self.n > 1 or self.rounds > 0
        # Retry rounds filled up to this many candidates (0: one per request and round).
        self.fill = retry_fill(config)
        self.work = sum(stage.work for stage in stretch)

    def parts(self) -> list[Stage]:
        return [self.generator, *self.judges, self]

    # -- the rounds -----------------------------------------------------------------------------

    def process(self, samples: list[Sample], progress: Progress):
        for stage in (self.generator, *self.judges):
            stage.reset()
        for name in COUNTERS:
            self.counters[name] = 0
        requests = [Request(s, (s.meta["index"], s.work["kind"])) for s in samples
                    if "messages" in s.work]
        for r in requests:
            r.draft.work["candidate"] = 0
        spans = self._spans(progress)
        # Round 0: candidate 0 of every request travels with the shard's other samples (the
        # photo drafts that annotation_qa turns into samples), as in the plain chain; the other
        # candidates are judged a k at a time, so a request is never twice in one judge call.
        groups = [samples] + [[self._candidate(r, k) for r in requests] for k in range(1, self.n)]
        others_kept, others_rejected = self._round(groups, requests, spans(self.n))
        k, end = self.n, self.n + self.rounds  # the next candidate; candidates stop before end
        while k < end:
            failing = [r for r in requests if r.kept is None]
            if not failing:
                break
            # Filled, a round gives each failing request as many of its next candidates as
            # fit in one batch: the kept reply is still the first passing one in k order (a
            # candidate's reply depends only on its request and seed), in fewer rounds.
            width = min(end - k, max(1, self.fill // len(failing))) if self.fill else 1
            group = [[self._candidate(r, k + j) for r in failing] for j in range(width)]
            self.counters["retries"] += len(failing) * width
            if k == self.n:  # later rounds retry some of these same requests again
                self.counters["retried"] = len(failing)
            self._round(group, failing, spans(width))
            k += width
        progress(1.0)
        return self._finish(requests, others_kept, others_rejected)

    def _candidate(self, r: Request, k: int) -> Sample:
        """Candidate ``k`` of a request: its draft with the seed of (seed, image, type, k)."""
        if k == 0:
            return r.draft
        from mmsynth.sources.coco_stages import candidate_seed

        d = r.draft
        index, kind = r.key
        params = d.work["params"].replace(
            seed=candidate_seed(self.source.config["seed"], index, kind, k))
        work = {key: v for key, v in d.work.items() if key != "reply"}
        return Sample(id=d.id, image=d.image, image_ext=d.image_ext, annotations=d.annotations,
                      meta=dict(d.meta), work={**work, "params": params, "candidate": k})

    def _round(self, groups: list[list[Sample]], requests: list[Request],
               span: tuple[Progress, Progress]):
        """Generate every candidate of ``groups`` in one call, then judge each group; the
        verdicts go to their requests. Returns what the first group held besides candidates
        (annotation QA samples kept, and rejections that are not a candidate's)."""
        generate, judge = span
        flat = [s for group in groups for s in group]
        self.generator.process(flat, generate)
        drafts = [s for s in flat if "messages" in s.work]
        self.counters["candidates"] += len(drafts)
        by_key = {r.key: r for r in requests}
        others: tuple[list[Sample], list[tuple[int, Rejection]]] = ([], [])
        for g, group in enumerate(groups):
            kept, rejected = self._judge(group, by_key, lambda f, g=g: judge(
                (g + f) / len(groups)))
            if g == 0:
                others = (kept, rejected)
            elif kept or rejected:
                raise RuntimeError("best_of_n: a candidate group gave samples of no request")
        return others

    def _judge(self, group: list[Sample], by_key: Mapping[Key, Request], progress: Progress
               ) -> tuple[list[Sample], list[tuple[int, Rejection]]]:
        """Run the judges over one group (at most one candidate per request) and give each
        candidate its verdict. Returns the kept samples and rejections that belong to no
        candidate (the annotation QA samples of the first group), each rejection with the
        position of the judge that made it."""
        candidates = {(d.meta["index"], d.work["kind"]): d for d in group if "messages" in d.work}
        kept, rejected = group, []
        for position, judge in enumerate(self.judges, 1):
            kept, dropped = judge.process(kept, progress)
            rejected += [(position, r) for r in dropped]
        verdicts: dict[Key, Candidate] = {}
        other_kept = []
        for s in kept:
            key = (s.meta.get("index"), s.meta.get("type"))
            if key in candidates:
                verdicts[key] = Candidate(0, candidates[key], sample=s)
            else:
                other_kept.append(s)
        other_rejected, anonymous = [], []
        for position, r in rejected:
            key = ((r.sample.meta.get("index"), r.sample.meta.get("type"))
                   if r.sample is not None else None)
            if key in candidates:
                verdicts[key] = Candidate(0, candidates[key], rejection=r, judge=position)
            elif key is None:
                anonymous.append((position, r))
            else:
                other_rejected.append((position, r))
        # A rejection without a sample is parse's for a request that failed (llm_error): it
        # names only the image, so it goes to that image's candidates still without a verdict,
        # in the order parse saw them.
        for key, draft in candidates.items():
            if key in verdicts:
                continue
            match = next((a for a in anonymous if a[1].index == key[0]), None)
            if match is None:
                raise RuntimeError(f"best_of_n: no verdict for the request {key}")
            anonymous.remove(match)
            verdicts[key] = Candidate(0, draft, rejection=match[1], judge=match[0])
        for key, verdict in verdicts.items():
            verdict.k = verdict.draft.work["candidate"]
            by_key[key].candidates.append(verdict)
        return other_kept, other_rejected + anonymous

    def _spans(self, progress: Progress) -> Callable[[int], tuple[Progress, Progress]]:
        """``spans(width)``: the next round's progress callbacks, of its generation and of its
        judging, for a round of ``width`` of the N + R candidate-rounds (round 0 is N of them)."""
        total = self.n + self.rounds
        generate_share = self.generator.work / self.work if self.work else 1.0
        done = 0

        def spans(width: int) -> tuple[Progress, Progress]:
            nonlocal done
            a, b = done / total, (done + width) / total
            done += width
            middle = a + (b - a) * generate_share
            return ((lambda f: progress(a + (middle - a) * f)),
                    (lambda f: progress(middle + (b - middle) * f)))

        return spans

    # -- the outcome ----------------------------------------------------------------------------

    def _finish(self, requests: list[Request], others_kept: list[Sample],
                others_rejected: list[tuple[int, Rejection]]):
        c = self.counters
        c["requests"] += len(requests)
        kept = list(others_kept)
        # (judge position, image, type rank, rejection): see the sort below
        final = [(judge, *self._rank(r.sample, r.index), r) for judge, r in others_rejected]
        for r in requests:
            chosen = r.kept
            for cand in r.candidates:
                c["tokens"] += cand.tokens
                if cand.sample is not None:
                    c["passed"] += 1
                else:
                    c[f"candidate_rejected:{cand.rejection.reason}"] += 1
                    if chosen is None or cand.k < chosen.k:  # else a filled round's extra
                        c["tokens_rejected"] += cand.tokens
            if chosen is None:
                last = r.candidates[-1]
                c["rejected"] += 1
                c[f"ended_rejected:{last.rejection.reason}"] += 1
                final.append((last.judge, r.key[0], self.source.types.index(r.key[1]),
                              last.rejection))
                continue
            c["kept"] += 1
            c["tokens_kept"] += chosen.tokens
            c["kept_later"] += chosen.k > 0
            c["kept_by_retry"] += chosen.k >= self.n
            sample = chosen.sample
            sample.work["rejected_candidates"] = [
                {"candidate": cand.k, "seed": cand.draft.work["params"].seed,
                 "reply": cand.draft.work["reply"].text,
                 "finish_reason": cand.draft.work["reply"].finish_reason,
                 "reason": cand.rejection.reason,
                 "detail": cand.rejection.detail}
                for cand in r.candidates if cand.sample is None and cand.k < chosen.k]
            if self.on and isinstance(sample.meta.get("llm"), dict):
                sample.meta["llm"]["candidate"] = chosen.k
            kept.append(sample)
        # The plain chain's order: by image, then type as requested, then the rest (annotation
        # QA); rejections by the judge that made them, then the same. With one candidate and no
        # retries these orders are the ones the samples already had (a stable sort).
        kept.sort(key=self._rank)
        final.sort(key=lambda entry: entry[:3])
        return kept, [entry[3] for entry in final]

    def _rank(self, sample: Sample | None, index: int | None = None) -> tuple[int, int]:
        types = self.source.types
        if sample is None:
            return (index if index is not None else -1, len(types))
        kind = sample.meta.get("type")
        return (sample.meta.get("index", -1), types.index(kind) if kind in types else len(types))

    # -- reporting ------------------------------------------------------------------------------

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        requests = totals.get("requests", 0)
        if not requests:
            return []
        t = Counter(totals)
        per_request = (t["candidates"] - t["retries"]) / requests
        ended = _by_reason(t, "ended_rejected:")
        line = (f"  best_of_n: {requests} requests, {t['candidates']} candidate replies "
                f"({per_request:g} per request + {t['retries']} retries for {t['retried']} "
                f"requests), {t['passed']} passed every check; {t['kept']} requests kept "
                f"({t['kept'] / requests:.2f} per request; {t['kept_later']} by a later "
                f"candidate than the first, {t['kept_by_retry']} of them by a retry), "
                f"{t['rejected']} ended rejected")
        line += f" (last reason: {ended})" if ended else ""
        lines = [line]
        rejected = _by_reason(t, "candidate_rejected:")
        tokens = t["tokens"]
        cost = f"  best_of_n: candidates rejected: {rejected or 'none'}"
        if tokens:
            unused = tokens - t["tokens_kept"] - t["tokens_rejected"]
            cost += (f"; {tokens:,} reply tokens: {1000 * t['kept'] / tokens:.2f} kept samples "
                     f"per 1,000, {100 * t['tokens_rejected'] / tokens:.1f}% of them spent on "
                     f"rejected candidates, {100 * unused / tokens:.1f}% on candidates after "
                     "the kept one (passing ones not kept, filled retries not needed)")
        lines.append(cost)
        return lines


def retry_fill(config: Mapping[str, object]) -> int:
    """How many candidates a retry round may hold (``--llm_retry_fill``): one batch when on, 0
    (one candidate per request and round: the fewest tokens) when off."""
    return int(config.get("llm_batch_size", 32)) if config.get("llm_retry_fill") == "on" else 0


def _by_reason(totals: Mapping[str, int], prefix: str) -> str:
    """The counters under ``prefix`` by the kind of their reason (``hallucinated_object:dog`` →
    ``hallucinated_object``; the stats keep the whole reason), most frequent first."""
    kinds: Counter[str] = Counter()
    for key, n in totals.items():
        if key.startswith(prefix) and n:
            kinds[key[len(prefix):].split(":", 1)[0]] += n
    return ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items(),
                                                          key=lambda kn: (-kn[1], kn[0])))

