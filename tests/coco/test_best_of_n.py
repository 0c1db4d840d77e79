"""Best-of-N and retries (mmsynth.sources.best_of_n): candidates seeded per k, the chain's own
checks as the judge, the first passing candidate kept, retries only for requests whose every
candidate failed, and the counters that say so.

Most tests drive the real coco chain (the shipped sample, the real parse / grounding / claims
stages) with a scripted backend whose reply is chosen by the candidate's seed, so which
candidate fails which check is known in advance; one runs the embedded model.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from mmsynth.config import RUN_OPTIONS, fingerprint, resolve
from mmsynth.errors import UsageError
from mmsynth.llm import Generation, LLMBackend, per_request
from mmsynth.pipeline import Job, build_shard, fingerprint_extra, fingerprint_of, source_for
from mmsynth.run import run
from mmsynth.sources import SOURCES, source_options
from mmsynth.sources.best_of_n import BestOfN
from mmsynth.sources.coco_stages import candidate_seed
from tests.conftest import cli, decoded, read_records, read_shards

SEED = 7
# Image index 0 is the astronaut (image 1), index 1 the cameraman (image 2) of the shipped sample.
GOOD = {
    0: "This is an official portrait of a smiling woman astronaut in an orange spacesuit. She "
       "sits in front of an American flag and a model space shuttle. A dark helmet rests in "
       "front of her, and a round mission patch is on her chest. She has short brown hair and "
       "smiles at the camera for the portrait.",
    1: "A young man in a long coat operates a video camera mounted on a tripod. He stands on a "
       "wide grassy field in an open park on a clear day. Domed buildings stand far behind him "
       "in the distance. He wears gloves and leans over the camera as he films across the "
       "lawn.",
}
# Names a giraffe, which neither photo has: the grounding check rejects it.
ABSENT = ("A tall giraffe stands beside the person in the middle of the picture. The giraffe "
          "has a long neck and brown spots on its coat. It looks at the camera while the person "
          "stands still. The scene is calm and the light is soft on the giraffe and the person.")
# Too short for a detail reply: the parser rejects it (unparseable).
SHORT = "A photo."


class ScriptedBackend(LLMBackend):
    """Replies by candidate: ``script(index, k)`` is the text of candidate k of image index's
    detail request (recognised by its seed). Records every call's candidates. The preference
    stage's misleading_context requests (their own seeds) get ``misled(messages)`` (a str or a
    Generation; without it, a failed request), their calls recorded in ``misleading_calls``."""

    name = "scripted"

    def __init__(self, script: Callable[[int, int], str], images: int = 2,
                 misled: Callable[[list], str | Generation] | None = None):
        from mmsynth.preference import pair_seed

        self.script = script
        self.by_seed = {candidate_seed(SEED, i, "detail", k): (i, k)
                        for i in range(images) for k in range(12)}
        self.calls: list[list[tuple[int, int]]] = []
        self.misled = misled
        self.misleading = {pair_seed(SEED, i, "detail/misleading_context"): i
                           for i in range(images)}
        self.misleading_calls: list[list[int]] = []

    @property
    def model_id(self) -> str:
        return "scripted-model"

    def generate(self, requests, params=None, on_done=None):
        params = per_request(params, len(requests))
        if any(p.seed in self.misleading for p in params):
            return self._misleading(requests, params, on_done)
        call = [self.by_seed[p.seed] for p in params]
        self.calls.append(call)
        replies = [Generation(text=self.script(i, k), completion_tokens=len(
            self.script(i, k).split())) for i, k in call]
        if on_done:
            on_done(len(replies))
        return replies

    def _misleading(self, requests, params, on_done):
        self.misleading_calls.append([self.misleading[p.seed] for p in params])
        replies = [self.misled(m) if self.misled else Generation(error="scripted: no reply")
                   for m in requests]
        if on_done:
            on_done(len(replies))
        return [r if isinstance(r, Generation) else Generation(text=r, completion_tokens=9)
                for r in replies]


def _shard(tmp_path, monkeypatch, script, misled=None, **flags):
    """Build shard 0 of a 2-image detail run through ``ScriptedBackend(script, misled=misled)``;
    return its stats, kept samples (by image index), the backend and the best_of_n stage."""
    backend = ScriptedBackend(script, misled=misled)
    monkeypatch.setattr("mmsynth.llm.backend_from_config", lambda config: backend)
    out = tmp_path / "out"
    out.mkdir(parents=True)
    config = resolve({"source": "coco", "num_samples": 2, "shard_size": 2, "types": "detail",
                      "seed": SEED, "clip_mode": "off", "counting_rate": 0, "negative_rate": 0,
                      "out": str(out), **flags}, source_options)
    job = Job(config, fingerprint_of(config), 2, str(out))
    stats = build_shard(job, 0)
    stage = next(s for s in source_for(job).stages() if isinstance(s, BestOfN))
    records = read_records(out)
    kept = {r["meta"]["index"]: r for r in records if r["meta"]["type"] == "detail"}
    return stats, kept, backend, stage


def test_candidate_seeds_differ_per_k_and_candidate_0_is_the_old_seed():
    import hashlib

    old = int.from_bytes(hashlib.sha256(b"7/3/detail").digest()[:8], "big") >> 1
    assert candidate_seed(7, 3, "detail") == candidate_seed(7, 3, "detail", 0) == old
    seeds = {candidate_seed(7, 3, "detail", k) for k in range(8)}
    assert len(seeds) == 8
    assert candidate_seed(7, 3, "detail", 1) != candidate_seed(7, 3, "conversation", 1)
    assert candidate_seed(7, 3, "detail", 1) != candidate_seed(8, 3, "detail", 1)


def test_the_first_passing_candidate_is_kept_and_failed_ones_ride_along(tmp_path, monkeypatch):
    # image 0: k=0 names a giraffe, k=1 passes, k=2 passes too (not kept: k=1 comes first);
    # image 1: k=0 passes.
    def script(i, k):
        return ABSENT if (i, k) == (0, 0) else GOOD[i]

    stats, kept, backend, _ = _shard(tmp_path, monkeypatch, script, llm_candidates=3)
    assert backend.calls == [[(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]]  # one call
    assert kept[0]["conversations"][1]["value"] == GOOD[0]
    assert kept[0]["meta"]["llm"]["candidate"] == 1
    assert kept[0]["meta"]["llm"]["params"]["seed"] == candidate_seed(SEED, 0, "detail", 1)
    assert kept[1]["meta"]["llm"]["candidate"] == 0
    assert kept[1]["meta"]["llm"]["params"]["seed"] == candidate_seed(SEED, 1, "detail", 0)
    assert stats["rejected"] == 0 and stats["rejections"] == {}
    b = stats["stages"]["best_of_n"]
    assert (b["requests"], b["candidates"], b["passed"], b["kept"], b["kept_later"]) == \
        (2, 6, 5, 2, 1)
    assert {k: n for k, n in b.items() if k.startswith("candidate_rejected:")} == \
        {"candidate_rejected:hallucinated_object:giraffe": 1}, b
    assert b["retries"] == b["rejected"] == 0
    # The checks counted every candidate they judged, under their own names.
    assert stats["stages"]["grounding"]["samples"] == 6
    assert stats["stages"]["grounding"]["rejected"] == 1
    # The failed candidate's reply and reason stay on the kept sample's draft (for
    # self-rejected preference pairs), never in the shard.
    assert "rejected_candidates" not in json.dumps(kept[0])


def test_rejected_candidates_are_on_the_kept_draft(monkeypatch):
    from mmsynth.sample import Sample

    backend = ScriptedBackend(lambda i, k: ABSENT if k == 0 else GOOD[i])
    monkeypatch.setattr("mmsynth.llm.backend_from_config", lambda config: backend)
    config = resolve({"source": "coco", "num_samples": 2, "types": "detail", "seed": SEED,
                      "clip_mode": "off", "counting_rate": 0, "negative_rate": 0,
                      "llm_candidates": 2, "out": "unused"}, source_options)
    source = SOURCES.get("coco")(config, "fp")
    samples, _ = source.produce(range(2))
    for stage in source.stages()[:2]:  # requests, best_of_n
        samples, rejected = stage(samples)
    assert rejected == []
    llm = [s for s in samples if isinstance(s, Sample) and s.meta.get("type") == "detail"]
    assert [s.conversations[1]["value"] for s in llm] == [GOOD[0], GOOD[1]]
    for s in llm:
        (failed,) = s.work["rejected_candidates"]
        assert failed["candidate"] == 0 and failed["reply"] == ABSENT
        assert failed["reason"] == "hallucinated_object:giraffe" and "giraffe" in failed["detail"]
        assert failed["seed"] == candidate_seed(SEED, s.meta["index"], "detail", 0)


def test_retries_only_for_all_failed_requests_and_stop_after_r(tmp_path, monkeypatch):
    # image 0: every candidate names a giraffe; image 1: k=0 too short, k=1 passes.
    def script(i, k):
        if i == 0:
            return ABSENT
        return SHORT if k == 0 else GOOD[1]

    stats, kept, backend, _ = _shard(tmp_path, monkeypatch, script, llm_candidates=1,
                                     llm_retries=3, llm_retry_fill="off")
    # Round 0 asks both; retry 1 both (both failed); retries 2 and 3 only image 0.
    assert backend.calls == [[(0, 0), (1, 0)], [(0, 1), (1, 1)], [(0, 2)], [(0, 3)]]
    assert list(kept) == [1] and kept[1]["meta"]["llm"]["candidate"] == 1
    # the request, by its last reason
    assert stats["rejections"] == {"hallucinated_object:giraffe": 1}
    b = stats["stages"]["best_of_n"]
    assert (b["candidates"], b["retries"], b["retried"], b["kept_by_retry"], b["rejected"]) == \
        (6, 4, 2, 1, 1)
    assert b["candidate_rejected:hallucinated_object:giraffe"] == 4
    assert b["candidate_rejected:unparseable:detail"] == 1
    assert b["ended_rejected:hallucinated_object:giraffe"] == 1
    tokens = {t: len(t.split()) for t in (ABSENT, SHORT, GOOD[1])}
    assert b["tokens"] == 4 * tokens[ABSENT] + tokens[SHORT] + tokens[GOOD[1]]
    assert b["tokens_kept"] == tokens[GOOD[1]]
    assert b["tokens_rejected"] == 4 * tokens[ABSENT] + tokens[SHORT]
    lines = BestOfN.summary_lines(b)
    assert lines[0] == (
        "  best_of_n: 2 requests, 6 candidate replies (1 per request + 4 retries for 2 "
        "requests), 1 passed every check; 1 requests kept (0.50 per request; 1 by a later "
        "candidate than the first, 1 of them by a retry), 1 ended rejected (last reason: "
        "hallucinated_object 1)")
    share = 100 * b["tokens_rejected"] / b["tokens"]
    assert lines[1] == (
        "  best_of_n: candidates rejected: hallucinated_object 4, unparseable 1; "
        f"{b['tokens']:,} reply tokens: {1000 / b['tokens']:.2f} kept samples per 1,000, "
        f"{share:.1f}% of them spent on rejected candidates, 0.0% on candidates after the "
        "kept one (passing ones not kept, filled retries not needed)")


@pytest.mark.parametrize("batch, calls", [
    (32, [[(0, 0), (1, 0)], [(0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]]),
    (4, [[(0, 0), (1, 0)], [(0, 1), (1, 1), (0, 2), (1, 2)], [(0, 3)]])])
def test_filled_retry_rounds_keep_the_same_samples_in_fewer_rounds(tmp_path, monkeypatch, batch,
                                                                   calls):
    """With --llm_retry_fill on a round holds each failing request's next candidates, as many as
    fit one batch: the kept sample, its self_rejected material and the run's rejections are
    those of one candidate per round; only the counters and the rounds differ."""
    def script(i, k):  # image 0: every candidate names a giraffe; image 1: k=1 passes
        return ABSENT if i == 0 or k == 0 else GOOD[1]

    runs = {}
    for fill in ("off", "on"):
        runs[fill] = _shard(tmp_path / fill, monkeypatch, script, llm_retries=3,
                            llm_retry_fill=fill, llm_batch_size=batch)
    (s_off, kept_off, _, stage_off), (s_on, kept_on, backend, stage_on) = runs["off"], runs["on"]
    assert (stage_off.fill, stage_on.fill) == (0, batch)
    assert backend.calls == calls
    assert kept_on == kept_off and list(kept_on) == [1]
    assert kept_on[1]["meta"]["llm"]["candidate"] == 1
    assert s_on["rejections"] == s_off["rejections"] == {"hallucinated_object:giraffe": 1}
    b = s_on["stages"]["best_of_n"]
    generated = sum(map(len, calls))
    assert (b["candidates"], b["retries"], b["kept"], b["rejected"]) == \
        (generated, generated - 2, 1, 1)
    # image 1's candidates after the kept k=1 passed too, but were not needed
    assert b["passed"] == 1 + sum((i, k) in ((1, 2), (1, 3)) for c in calls for i, k in c)
    assert "0.0% on candidates after the kept one" not in BestOfN.summary_lines(b)[1]


def test_filled_rounds_pair_only_the_candidates_before_the_kept_one(monkeypatch):
    """A filled round also judges candidates after the kept one; those failing are not material
    for self_rejected pairs (one candidate per round would never have made them)."""
    from mmsynth.sample import Sample

    backend = ScriptedBackend(lambda i, k: GOOD[i] if k == 2 else ABSENT)  # k=3 fails again
    monkeypatch.setattr("mmsynth.llm.backend_from_config", lambda config: backend)
    config = resolve({"source": "coco", "num_samples": 2, "types": "detail", "seed": SEED,
                      "clip_mode": "off", "counting_rate": 0, "negative_rate": 0,
                      "llm_retries": 3, "llm_retry_fill": "on", "out": "unused"}, source_options)
    source = SOURCES.get("coco")(config, "fp")
    samples, _ = source.produce(range(2))
    for stage in source.stages()[:2]:  # requests, best_of_n
        samples, rejected = stage(samples)
    assert rejected == [] and len(backend.calls) == 2  # round 0, then one filled round
    llm = [s for s in samples if isinstance(s, Sample) and s.meta.get("type") == "detail"]
    assert [s.meta["llm"]["candidate"] for s in llm] == [2, 2]
    for s in llm:
        assert [c["candidate"] for c in s.work["rejected_candidates"]] == [0, 1]


def test_retries_keep_what_the_same_candidates_up_front_keep(tmp_path, monkeypatch):
    """A retry is the next candidate: N=1, R=2 keeps what N=3 keeps, asking only what it
    needs."""
    def script(i, k):
        return GOOD[i] if (i, k) in ((0, 2), (1, 0)) else ABSENT

    _, up_front, front, _ = _shard(tmp_path / "a", monkeypatch, script, llm_candidates=3)
    _, retried, lazy, _ = _shard(tmp_path / "b", monkeypatch, script, llm_retries=2)
    assert sorted(up_front) == sorted(retried) == [0, 1]
    for i in (0, 1):  # the same reply, seed and candidate (the runs' fingerprints differ)
        assert up_front[i]["conversations"] == retried[i]["conversations"]
        assert up_front[i]["meta"]["llm"] == retried[i]["meta"]["llm"]
    assert up_front[0]["meta"]["llm"]["candidate"] == 2
    assert sum(map(len, front.calls)) == 6 and sum(map(len, lazy.calls)) == 4


def test_one_candidate_no_retries_is_the_plain_chain(tmp_path, monkeypatch):
    """Off (one candidate, no retries) the stage adds nothing to a sample and asks the backend
    once."""
    stats, kept, backend, _ = _shard(tmp_path, monkeypatch, lambda i, k: ABSENT if i else GOOD[0],
                                     llm_candidates=1, llm_retries=0)
    assert backend.calls == [[(0, 0), (1, 0)]]
    assert "candidate" not in kept[0]["meta"]["llm"]
    assert stats["rejections"] == {"hallucinated_object:giraffe": 1}
    b = stats["stages"]["best_of_n"]
    assert (b["candidates"], b["kept"], b["rejected"], b["retries"]) == (2, 1, 1, 0)


def test_greedy_best_of_n_is_a_usage_error_and_greedy_has_no_retries():
    config = resolve({"source": "coco", "llm_candidates": 2, "llm_temperature": 0,
                      "out": "unused"}, source_options)
    with pytest.raises(UsageError, match="needs sampling"):
        SOURCES.get("coco")(config, "fp")
    # the default retries with greedy decoding: none (a retry would be the same reply)
    greedy = resolve({"source": "coco", "llm_temperature": 0, "out": "unused"}, source_options)
    assert greedy["llm_retries"] == 3
    stage = next(s for s in SOURCES.get("coco")(greedy, "fp").stages()
                 if isinstance(s, BestOfN))
    assert (stage.n, stage.rounds, stage.on) == (1, 0, False)


def test_the_options_are_neutral_content_options_with_true_help(tmp_path):
    cls = SOURCES.get("coco")
    options = cls.options
    for name, default, off in (("llm_candidates", 1, 1), ("llm_retries", 3, 0)):
        assert options[name].kind == "content" and options[name].neutral
        assert (options[name].default, options[name].off_value) == (default, off)
    base = {"source": "coco", "out": str(tmp_path)}
    fp = fingerprint_of(resolve(base, source_options))
    off = resolve({**base, "llm_candidates": 1, "llm_retries": 0, "llm_repetition_penalty": 1},
                  source_options)
    # At their off values the neutral options leave the fingerprint of a run made before
    # they existed; today's defaults (three retries, the repetition penalty) are another run.
    existing = {k: o for k, o in {**RUN_OPTIONS, **options}.items() if not o.neutral}
    assert fingerprint_of(off) == fingerprint(off, existing, fingerprint_extra(off))
    assert fingerprint_of(off) != fp
    assert fingerprint_of(resolve({**base, "llm_candidates": 3}, source_options)) != fp
    assert fingerprint_of(resolve({**base, "llm_retries": 1}, source_options)) != fp
    text = cli("--help", "--source", "coco", timeout=120).stdout
    flat = " ".join(text.split())
    assert "--llm_candidates" in text and "--llm_retries" in text
    assert "the first in k order that passes them all is kept" in flat
    assert "after at most --llm_candidates + this many replies" in flat
    proc = cli("--source", "coco", "--llm_candidates", "0", "--out", str(tmp_path / "o"),
               check=False, timeout=120)
    assert proc.returncode == 2 and "llm_candidates" in proc.stderr


@pytest.mark.slow
def test_the_embedded_model_same_seed_same_kept_replies(tmp_path):
    """Three candidates and a retry with the real model: the same seed keeps the same replies,
    every kept reply's seed is its candidate's, and the counters add up."""
    flags = {"source": "coco", "num_samples": 2, "types": "detail", "seed": 3,
             "llm_max_new_tokens": 40, "llm_cache": "off", "clip_mode": "off",
             "progress": False, "llm_candidates": 3, "llm_retries": 1}
    first = run({**flags, "out": str(tmp_path / "a")})
    again = run({**flags, "out": str(tmp_path / "b")})
    a, b = read_shards(tmp_path / "a"), read_shards(tmp_path / "b")
    assert a == b and first.rejections == again.rejections
    stage = first.stage_stats["best_of_n"]
    assert stage["requests"] == 2
    assert stage["candidates"] == 6 + stage["retries"] and stage["retries"] <= 2
    assert stage["kept"] + stage["rejected"] == 2
    for members in a.values():
        meta = decoded(members["json"])["meta"]
        if meta["type"] == "detail":
            k = meta["llm"]["candidate"]
            assert meta["llm"]["params"]["seed"] == candidate_seed(3, meta["index"], "detail", k)
    assert any(line.startswith("  best_of_n: 2 requests, ") for line in first.stage_lines)


def test_candidates_have_their_own_cache_entries_and_candidate_0_hits_the_old_ones(
        tmp_path, monkeypatch):
    from mmsynth.llm.cache import CachedBackend, ResponseCache

    def script(i, k):
        return ABSENT if k == 0 else GOOD[i]

    inner = ScriptedBackend(script)
    cache = ResponseCache(tmp_path / "responses.sqlite")
    monkeypatch.setattr("mmsynth.llm.backend_from_config",
                        lambda config: CachedBackend(inner, cache))
    for n, out in ((1, "one"), (3, "three")):
        config = resolve({"source": "coco", "num_samples": 2, "types": "detail", "seed": SEED,
                          "clip_mode": "off", "counting_rate": 0, "negative_rate": 0,
                          "llm_candidates": n, "llm_retries": 0, "out": str(tmp_path / out)},
                         source_options)
        (tmp_path / out).mkdir()
        stats = build_shard(Job(config, fingerprint_of(config), 2, str(tmp_path / out)), 0)
    # The first run stored candidate 0 of both requests; the second found them and sent only
    # candidates 1 and 2, which it stored under keys of their own.
    assert inner.calls == [[(0, 0), (1, 0)], [(0, 1), (1, 1), (0, 2), (1, 2)]]
    assert stats["stages"]["llm"] == {"requests": 6, "cache_hits": 2, "sent": 4}
    assert len(cache) == 6
    assert stats["stages"]["best_of_n"]["kept"] == 2


def test_the_wrapper_runs_the_stretch_the_config_has_and_reports_it_by_name():
    from mmsynth.stages import Stage, wrap_stages

    def chain(**flags):
        config = resolve({"source": "coco", "out": "unused", "clip_mode": "off", **flags},
                         source_options)
        stages = SOURCES.get("coco")(config, "fp").stages()
        return [s.name for s in stages], [p.name for p in stages[1].parts()]

    assert chain() == (["requests", "best_of_n", "clip"],
                       ["llm", "parse", "annotation_qa", "grounding", "claims", "best_of_n"])
    # A check the config turns off is simply not judged.
    assert chain(grounding="off", claim_check="off")[1] == \
        ["llm", "parse", "annotation_qa", "best_of_n"]

    class Named(Stage):
        def __init__(self, name):
            self.name = name

    with pytest.raises(ValueError, match="next to each other"):
        wrap_stages(None, [Named("llm"), Named("clip"), Named("claims")],
                    {"best_of_n": ("llm", "claims")})
