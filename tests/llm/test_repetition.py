"""Repetition control (issue 16, part 1): each control against a real consumer's definition on
the same logits — transformers' RepetitionPenaltyLogitsProcessor (with ``prompt_ignore_length``,
the reply-only penalty as transformers itself spells it) and NoRepeatNGramLogitsProcessor, the
OpenAI API's frequency-penalty formula —, then the decoder on the tiny float64 Llama
(tests/llm/conftest.py): no repeated n-gram is ever emitted, a request's tokens do not depend on
its batch, per-request seeds still decide sampled rows, and the defaults change nothing (neither
the tokens, nor the meta, nor the reply cache's keys)."""

from __future__ import annotations

import hashlib
import json

import pytest

from mmsynth.errors import UsageError
from mmsynth.llm import GenerationParams, params_from_config
from mmsynth.llm.cache import cache_key
from mmsynth.llm.decode import Decoder, Item
from mmsynth.llm.repetition import RepetitionControl

VOCABULARY = 300


def random_case(seed: int, prompt_length: int = 40, reply_length: int = 60, alphabet: int = 12):
    """Logits with both signs, a prompt over the whole vocabulary, and a reply drawn from a small
    alphabet (so tokens and n-grams repeat, as in a looping reply)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(VOCABULARY, generator=g) * 3
    prompt = torch.randint(0, VOCABULARY, (prompt_length,), generator=g).tolist()
    letters = torch.randint(0, VOCABULARY, (alphabet,), generator=g).tolist()
    reply = [letters[i] for i in torch.randint(0, alphabet, (reply_length,), generator=g)]
    return logits, prompt, reply


def controlled(params: GenerationParams, reply: list[int], logits):
    """The control's logits after it observed ``reply``."""
    control = RepetitionControl(params)
    for token in reply:
        control.observe(token)
    before = logits.clone()
    out = control.apply(logits)
    assert logits.equal(before)  # the batch's logits are never changed in place
    return out


def transformers_penalty(penalty: float, prompt: list[int], reply: list[int], logits):
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor

    processor = RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=len(prompt))
    ids = torch.tensor([prompt + reply], dtype=torch.long)
    return processor(ids, logits.clone()[None])[0]


def transformers_ngram(size: int, reply: list[int], logits):
    import torch
    from transformers import NoRepeatNGramLogitsProcessor

    ids = torch.tensor([reply], dtype=torch.long)
    return NoRepeatNGramLogitsProcessor(size)(ids, logits.clone()[None])[0]


def openai_frequency(alpha: float, reply: list[int], logits):
    """mu[j] - c[j] * alpha_frequency, c[j] the times token j was sampled before (the OpenAI
    API's parameter details)."""
    import torch

    counts = torch.bincount(torch.tensor(reply, dtype=torch.long), minlength=logits.numel())
    return logits - counts.to(logits.dtype) * alpha


@pytest.mark.parametrize("penalty", [1.3, 0.7, 2.0])
def test_the_repetition_penalty_is_transformers_over_the_reply_only(penalty):
    changed = 0
    for seed in range(20):
        logits, prompt, reply = random_case(seed)
        for length in range(1, len(reply) + 1, 7):
            ours = controlled(GenerationParams(repetition_penalty=penalty), reply[:length],
                              logits)
            expected = transformers_penalty(penalty, prompt, reply[:length], logits)
            assert ours.equal(expected), (seed, length)
            changed += int((ours != logits).sum())
        # the prompt's tokens are not penalised: only the reply's move
        moved = set((ours != logits).nonzero().flatten().tolist())
        assert moved <= set(reply) and moved - set(prompt)
    assert changed > 100


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_the_no_repeat_ngram_ban_is_transformers_over_the_reply(size):
    banned = 0
    for seed in range(20):
        logits, _, reply = random_case(seed, alphabet=6)
        for length in range(1, len(reply) + 1):
            ours = controlled(GenerationParams(no_repeat_ngram_size=size), reply[:length],
                              logits)
            expected = transformers_ngram(size, reply[:length], logits)
            assert ours.equal(expected), (seed, length)
            banned += int(ours.isinf().sum())
    assert banned > 50


@pytest.mark.parametrize("alpha", [0.5, -0.3, 2.0])
def test_the_frequency_penalty_is_the_openai_formula(alpha):
    for seed in range(20):
        logits, _, reply = random_case(seed)
        ours = controlled(GenerationParams(frequency_penalty=alpha), reply, logits)
        assert ours.equal(openai_frequency(alpha, reply, logits)), seed


def test_all_three_together_compose_in_vllms_order():
    for seed in range(20):
        logits, prompt, reply = random_case(seed, alphabet=6)
        params = GenerationParams(repetition_penalty=1.2, frequency_penalty=0.4,
                                  no_repeat_ngram_size=3)
        expected = transformers_ngram(3, reply, openai_frequency(
            0.4, reply, transformers_penalty(1.2, prompt, reply, logits)))
        assert controlled(params, reply, logits).equal(expected), seed


def test_an_empty_reply_changes_nothing():
    logits, _, _ = random_case(0)
    params = GenerationParams(repetition_penalty=1.5, no_repeat_ngram_size=1,
                              frequency_penalty=1.0)
    assert controlled(params, [], logits).equal(logits)


# -- the decoder --------------------------------------------------------------------------------


def prompts() -> list[list[int]]:
    return [[(i * 7 + k) % 90 + 1 for i in range(n)] for k, n in
            [(0, 12), (3, 20), (5, 7), (11, 30), (2, 16), (9, 9)]]


def reply_ids(generation) -> list[int]:
    return [int(t) for t in generation.text.split()]  # the tiny tokenizer writes ids


def ngrams(tokens: list[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def run(tiny, requests, batch_size):
    return Decoder(tiny, batch_size).run(requests)


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("temperature", [0.0, 0.02])  # the random model's logits are small
def test_the_decoder_never_repeats_an_ngram(tiny, size, temperature):
    def requests(params):
        return [Item(i, ids, params, None if params.greedy else 100 + i)
                for i, ids in enumerate(prompts())]

    plain = GenerationParams(max_new_tokens=40, temperature=temperature, top_p=1.0)
    banned = plain.replace(no_repeat_ngram_size=size)
    before = run(tiny, requests(plain), 3)
    after = run(tiny, requests(banned), 3)
    # without the ban the random model loops: the test is not vacuous
    assert sum(len(set(ngrams(reply_ids(g), size))) < len(ngrams(reply_ids(g), size))
               for g in before.values()) >= 2
    for g in after.values():
        grams = ngrams(reply_ids(g), size)
        assert len(set(grams)) == len(grams), g.text
        assert g.finish_reason in ("stop", "length")


MIXED = [GenerationParams(max_new_tokens=24, repetition_penalty=1.4),
         GenerationParams(max_new_tokens=24, temperature=0.9, top_p=0.9, seed=1,
                          frequency_penalty=0.7, no_repeat_ngram_size=2),
         GenerationParams(max_new_tokens=24),
         GenerationParams(max_new_tokens=24, temperature=0.8, seed=1),
         GenerationParams(max_new_tokens=24, temperature=1.0, top_p=0.8, seed=1,
                          repetition_penalty=1.2, frequency_penalty=0.3),
         GenerationParams(max_new_tokens=24, no_repeat_ngram_size=3, frequency_penalty=-0.5)]


def mixed_items(seed_offset: int = 0) -> list[Item]:
    return [Item(i, ids, p, None if p.greedy else 1000 + i + seed_offset)
            for i, (ids, p) in enumerate(zip(prompts(), MIXED, strict=True))]


@pytest.mark.parametrize("batch_size", [2, 6])
def test_a_request_decodes_alike_alone_and_in_a_batch_of_others(tiny, batch_size):
    together = run(tiny, mixed_items(), batch_size)  # batch 2: later rows are merged in
    for item in mixed_items():
        alone = run(tiny, [item], 1)
        assert alone[item.index] == together[item.index], item.index
    # and the controls act: each controlled row differs from the same row without them
    for item in mixed_items():
        if item.params.controls_repetition:
            bare = Item(item.index, item.ids, item.params.replace(
                repetition_penalty=1.0, no_repeat_ngram_size=0, frequency_penalty=0.0),
                item.seed)
            assert run(tiny, [bare], 1)[item.index].text != together[item.index].text


def test_prefix_reuse_with_the_controls_on_gives_the_whole_prompts_tokens(tiny):
    from mmsynth.llm.prefix import PrefixCaches, shared_length

    head = [(i * 13) % 90 + 1 for i in range(36)]

    def requests(prefixed: bool) -> list[Item]:
        out = []
        for i, (ids, p) in enumerate(zip(prompts(), MIXED, strict=True)):
            ids = head + ids
            cut = shared_length(ids, head, minimum=8) if prefixed else 0
            out.append(Item(i, ids, p, None if p.greedy else 1000 + i, cut))
        return out

    whole = Decoder(tiny, 3).run(requests(False))
    store = PrefixCaches()
    assert Decoder(tiny, 3, prefixes=store).run(requests(True)) == whole
    assert store.reused_tokens == 6 * 36


def test_the_request_seed_still_decides_a_sampled_row(tiny):
    first, again, other = (run(tiny, mixed_items(offset), 3) for offset in (0, 0, 7))
    assert first == again
    sampled = [i for i, p in enumerate(MIXED) if not p.greedy]
    assert all(first[i].text != other[i].text for i in sampled)
    assert all(first[i] == other[i] for i, p in enumerate(MIXED) if p.greedy)


def test_defaults_create_no_control_and_decode_as_explicit_off_values(tiny):
    defaults = GenerationParams(max_new_tokens=20, temperature=0.9, top_p=0.9, seed=4)
    assert not defaults.controls_repetition and defaults.repetition_controls() == {}
    explicit = defaults.replace(repetition_penalty=1, no_repeat_ngram_size=0,
                                frequency_penalty=0)
    assert explicit == defaults
    items = [Item(i, ids, defaults, 7 + i) for i, ids in enumerate(prompts())]
    decoder = Decoder(tiny, 6)
    batch = decoder._prefill(items)
    assert all(row.repetition is None for row in batch.rows)


# -- parameters, meta, cache keys ---------------------------------------------------------------


def test_default_params_keep_the_meta_and_the_cache_key_they_had():
    params = GenerationParams(max_new_tokens=64, temperature=0.6, top_p=0.9, seed=5,
                              stop=("\n\n",))
    before = {"max_new_tokens": 64, "temperature": 0.6, "top_p": 0.9, "seed": 5,
              "stop": ["\n\n"]}  # GenerationParams.to_dict before repetition control existed
    assert params.to_dict() == before
    messages = [{"role": "user", "content": "Describe the picture."}]
    blob = json.dumps({"backend": "transformers", "model": "m", "messages": messages,
                       "params": before}, sort_keys=True, ensure_ascii=False)
    assert cache_key("transformers", "m", messages, params) == hashlib.sha256(
        blob.encode()).hexdigest()
    keys = {cache_key("transformers", "m", messages, params.replace(**change)) for change in
            ({}, {"repetition_penalty": 1.1}, {"repetition_penalty": 1.2},
             {"no_repeat_ngram_size": 4}, {"frequency_penalty": 0.5})}
    assert len(keys) == 5  # a changed control never hits an old reply


def test_the_controls_that_are_on_are_in_the_meta():
    params = GenerationParams(repetition_penalty=1.15, no_repeat_ngram_size=6)
    assert params.to_dict()["repetition_penalty"] == 1.15
    assert params.to_dict()["no_repeat_ngram_size"] == 6
    assert "frequency_penalty" not in params.to_dict()


def test_the_options_reach_the_params():
    config = {"llm_repetition_penalty": 1.1, "llm_no_repeat_ngram_size": 5,
              "llm_frequency_penalty": 0.25}
    params = params_from_config(config, seed=3)
    assert (params.repetition_penalty, params.no_repeat_ngram_size,
            params.frequency_penalty) == (1.1, 5, 0.25)
    assert not params_from_config({"llm_repetition_penalty": 1}, seed=3).controls_repetition
    # auto (the default): the measured 1.1 for the model run here, nothing for a server
    assert params_from_config({}, seed=3).repetition_controls() == {"repetition_penalty": 1.1}
    assert not params_from_config({"llm_backend": "openai"}, seed=3).controls_repetition


@pytest.mark.parametrize("change", [{"repetition_penalty": 0}, {"repetition_penalty": -1.0},
                                    {"no_repeat_ngram_size": -1},
                                    {"no_repeat_ngram_size": 2.5},
                                    {"frequency_penalty": 2.5}, {"frequency_penalty": True}])
def test_bad_values_are_clear_errors(change):
    name = next(iter(change))
    with pytest.raises(UsageError, match=name):
        GenerationParams(**change)


def coco_config(**flags):
    from mmsynth.config import resolve
    from mmsynth.sources import source_options

    return resolve({"source": "coco", "num_samples": 1, "types": "detail", "clip_mode": "off",
                    "llm_cache": "off", **flags}, source_options)


def test_coco_requests_carry_the_options_into_their_params_and_meta():
    from mmsynth.sources import SOURCES
    from mmsynth.sources.coco_stages import RequestsStage

    source = SOURCES.get("coco")(coco_config(llm_repetition_penalty=1.1,
                                             llm_no_repeat_ngram_size=6), "test")
    params = RequestsStage(source).params("detail", 0, None)
    assert (params.repetition_penalty, params.no_repeat_ngram_size,
            params.frequency_penalty) == (1.1, 6, 0.0)
    recorded = source.sample(0, "detail", [], params).meta["llm"]["params"]
    assert (recorded["repetition_penalty"], recorded["no_repeat_ngram_size"]) == (1.1, 6)
    assert "frequency_penalty" not in recorded  # off: absent, as in every older sample
    plain = SOURCES.get("coco")(coco_config(llm_repetition_penalty=1), "test")
    assert not RequestsStage(plain).params("detail", 0, None).controls_repetition
    default = SOURCES.get("coco")(coco_config(), "test")
    params = RequestsStage(default).params("detail", 0, None)
    assert params.repetition_controls() == {"repetition_penalty": 1.1}
    assert default.sample(0, "detail", [], params).meta["llm"]["params"][
        "repetition_penalty"] == 1.1


@pytest.mark.parametrize("flag, value", [("llm_repetition_penalty", 0),
                                         ("llm_no_repeat_ngram_size", -2),
                                         ("llm_frequency_penalty", 2.5)])
def test_bad_option_values_are_refused_by_name(flag, value):
    with pytest.raises(UsageError, match=flag):
        coco_config(**{flag: value})


def test_the_options_are_in_the_help():
    from tests.conftest import cli

    shown = cli("--source", "coco", "--help").stdout
    for flag in ("--llm_repetition_penalty", "--llm_no_repeat_ngram_size",
                 "--llm_frequency_penalty"):
        assert flag in shown
