"""Personas (issue 18, item 6): the shipped list, the draw from (seed, index), the request line
and a real coco run whose conversation samples carry their persona in meta."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import cli, read_records

from mmsynth.personas import (
    PERSONAS_FILE,
    load_personas,
    persona_for,
    persona_lines,
)
from mmsynth.prompts.llava import build_messages


def test_the_shipped_list_is_long_varied_and_numbered():
    personas = load_personas(PERSONAS_FILE)
    assert len(personas) >= 200
    assert [p.id for p in personas] == [f"p{k:03d}" for k in range(1, len(personas) + 1)]
    texts = [p.text for p in personas]
    assert len(set(texts)) == len(texts)
    assert all(5 <= len(t) <= 120 and not t.endswith(".") for t in texts)
    # varied: many different first words and ages (children to the retired)
    assert len({t.split()[1] for t in texts}) >= 120
    assert any("child" in t or "year-old" in t or "pupil" in t for t in texts)
    assert any("retired" in t or "grand" in t for t in texts)


def test_the_draw_is_from_seed_index_and_type_and_spreads_over_the_list():
    personas = load_personas(PERSONAS_FILE)
    drawn = [persona_for(0, i, "conversation", personas).id for i in range(2000)]
    assert drawn == [persona_for(0, i, "conversation", personas).id for i in range(2000)]
    assert len(set(drawn)) >= 0.9 * len(personas)
    assert max(Counter(drawn).values()) < 30
    assert drawn != [persona_for(1, i, "conversation", personas).id for i in range(2000)]


def test_the_persona_line_follows_the_captions_and_changes_nothing_else():
    context = "Captions:\n- A dog runs on a beach.\n- A brown dog chasing a ball by the sea."
    plain = build_messages("conversation", context)
    line = persona_lines()[1]["conversation"].replace("{persona}", "a lifeguard")
    with_persona = build_messages("conversation", context, note=line)
    assert with_persona[:-1] == plain[:-1]  # the system message and the examples: shared
    assert line in with_persona[-1]["content"] and line not in plain[-1]["content"]
    assert with_persona[-1]["content"].replace(f"\n\n{line}", "") == plain[-1]["content"]
    caption_end = with_persona[-1]["content"].index("by the sea.")
    assert caption_end < with_persona[-1]["content"].index(line)


def test_personas_are_in_the_fingerprint_only_when_on(tmp_path):
    from mmsynth.config import resolve
    from mmsynth.pipeline import fingerprint_of
    from mmsynth.sources import source_options

    base = {"source": "coco", "clip_mode": "off"}
    off = fingerprint_of(resolve(base, source_options))
    assert fingerprint_of(resolve({**base, "personas": "off"}, source_options)) == off
    on = fingerprint_of(resolve({**base, "personas": "on"}, source_options))
    mine = tmp_path / "mine.txt"
    mine.write_text("a sailor\na baker\n")
    assert len({off, on, fingerprint_of(resolve({**base, "personas": str(mine)},
                                                source_options))}) == 3


def test_a_missing_list_is_one_clear_line(tmp_path):
    proc = cli("--source", "coco", "--personas", str(tmp_path / "nope.txt"), "--out",
               str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "one persona per line" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_coco_run_writes_each_conversation_s_persona_and_evolves_with_it(tmp_path):
    cli("--source", "coco", "--types", "conversation", "--personas", "on", "--evolve_rounds",
        "1", "--clip_mode", "off", "--out", str(tmp_path), "--noprogress", timeout=900)
    records = read_records(tmp_path)
    personas = load_personas(PERSONAS_FILE)
    by_id = {r["id"]: r for r in records}
    conversations = [r for r in records if r["meta"]["type"] == "conversation"]
    evolved = [r for r in records if r["meta"]["type"] == "evolved"]
    assert conversations and evolved
    for record in conversations:
        expected = persona_for(0, record["meta"]["index"], "conversation", personas)
        assert record["meta"]["persona"] == {"id": expected.id, "text": expected.text,
                                             "prompt_version": persona_lines()[0]}
    for record in evolved:  # an evolution is asked by its origin's persona
        origin = by_id[record["meta"]["evolved"]["from"]]
        assert record["meta"]["persona"] == origin["meta"]["persona"]
    for record in records:
        if record["meta"]["type"] not in ("conversation", "evolved"):
            assert "persona" not in record["meta"]  # only the types with a persona line
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["diversity"]["questions"] == sum(len(r["conversations"]) // 2 for r in records)
    assert stats["stages"]["persona"]["samples"] >= len(conversations)


def test_a_sample_that_names_what_only_its_persona_has_is_rejected():
    from mmsynth.personas import PersonaEchoCheck, echoed_words
    from mmsynth.sample import Sample

    plumber = "a plumber who notices sinks, taps and pipes"
    photo = {"captions": ["An espresso cup on a saucer next to a spoon."],
             "objects": [{"category": "cup"}, {"category": "spoon"}]}

    def sample(i, answer, persona=plumber):
        return Sample(id=f"coco-0-{i:09d}-conversation", image=b"",
                      conversations=[{"from": "human", "value": "<image>\nWhat is there?"},
                                     {"from": "gpt", "value": answer}],
                      annotations=photo,
                      meta={"index": i, "persona": {"id": "p042", "text": persona}})

    assert echoed_words(plumber, "A plumber is fixing the pipes.", "a cup") == ["pipe", "plumber"]
    assert echoed_words(plumber, "A cup and a spoon.", "a cup") == []
    # the persona's word is fine where the photo has it
    assert echoed_words("a keen amateur astronomer who notices the sky", "The sky is blue.",
                        "A cup under a clear sky.") == []
    kept, rejected = PersonaEchoCheck()([sample(0, "An espresso cup on a saucer."),
                                         sample(1, "A plumber fixes a pipe by the cup.")])
    assert [s.meta["index"] for s in kept] == [0]
    assert [r.reason for r in rejected] == ["persona_echo:pipe"]
    assert "plumber" in rejected[0].detail and rejected[0].sample is not None
