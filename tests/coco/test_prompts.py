"""Prompt sets, chat messages and the reply parser, on many hand-written messy replies."""

from __future__ import annotations

import numpy as np
import pytest

from mmsynth.errors import UsageError
from mmsynth.filters.grounding import GroundingCheck
from mmsynth.prompts import (
    PROMPT_TYPES,
    REASONS,
    Context,
    ParseError,
    build_messages,
    format_box,
    load_prompt_set,
    parse,
    parse_types,
)
from mmsynth.prompts.llava import BOX_LINE, cut_loop, parse_box_line, repetition_ratio
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample, check_llava_shape

CONTEXT = Context(
    captions=("A cat sleeps on a red sofa.", "A sleepy cat curled up on a couch."),
    objects=(("cat", (0.25, 0.3, 0.6, 0.7)), ("couch", (0.0, 0.2, 1.0, 1.0))),
)


def shape_ok(turns: list[dict[str, str]]) -> bool:
    return check_llava_shape({"id": "x", "image": "x.jpg", "conversations": turns}) == []


def pairs(turns: list[dict[str, str]]) -> list[tuple[str, str]]:
    values = [t["value"].replace(f"{IMAGE_TOKEN}\n", "") for t in turns]
    return list(zip(values[::2], values[1::2], strict=True))


# ---- prompt sets -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", PROMPT_TYPES)
def test_prompt_sets_load_with_version_and_valid_few_shots(kind):
    ps = load_prompt_set(kind)
    assert ps.type == kind and ps.prompt_version.startswith(kind)
    assert ps.provenance() == {"prompt_type": kind, "prompt_version": ps.prompt_version,
                               "prompt_fingerprint": ps.fingerprint}
    assert len(ps.few_shot) >= 2 and len(ps.fingerprint) == 16
    for shot in ps.few_shot:
        for category, box in shot.context.objects:
            assert BOX_LINE.match(format_box(category, box))
    assert load_prompt_set(ps.path) is ps, "a path loads the same (cached) set"


@pytest.mark.parametrize("kind", PROMPT_TYPES)
def test_few_shot_responses_parse_and_are_grounded_in_their_own_context(kind):
    ps = load_prompt_set(kind)
    for i, shot in enumerate(ps.few_shot):
        turns = parse(kind, shot.response)
        assert shape_ok(turns)
        objects = [{"category": c, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "iscrowd": 0}
                   for c, b in shot.context.objects]
        s = Sample(id=f"shot-{i}", image=b"", conversations=turns,
                   annotations={"objects": objects, "captions": list(shot.context.captions)})
        kept, rejected = GroundingCheck()([s])
        assert kept, [r.detail for r in rejected]


@pytest.mark.parametrize("kind", PROMPT_TYPES)
def test_build_messages_puts_few_shots_between_system_and_query(kind):
    ps = load_prompt_set(kind)
    messages = build_messages(kind, CONTEXT)
    roles = [m["role"] for m in messages]
    assert roles == ["system"] + ["user", "assistant"] * len(ps.few_shot) + ["user"]
    assert messages[0]["content"] == ps.system
    assert messages[2]["content"] == ps.few_shot[0].response
    query = messages[-1]["content"]
    assert "A cat sleeps on a red sofa." in query
    assert ("cat: [0.250, 0.300, 0.600, 0.700]" in query) == ps.uses_objects
    assert ("Objects:" in messages[1]["content"]) == ps.uses_objects
    assert len(build_messages(kind, CONTEXT, shots=1)) == 4
    # Short enough for a small model's context with room to answer (~4 characters a token).
    assert sum(len(m["content"]) for m in messages) < 6000


@pytest.mark.parametrize("kind", PROMPT_TYPES)
def test_stop_strings_never_cut_a_good_reply(kind):
    ps = load_prompt_set(kind)
    assert ps.stop and ps.max_new_tokens > 0
    for shot in ps.few_shot:
        # Some backends match stop strings across the end of the prompt ("…assistant\n").
        reply = "\n" + shot.response
        assert not any(stop in reply for stop in ps.stop), (kind, shot.response[:40])


def test_detail_and_reasoning_are_told_to_name_only_listed_objects():
    for kind in ("detail", "reasoning"):
        ps = load_prompt_set(kind)
        assert "Mention only objects" in ps.system and "Mention only the objects" in ps.template


def test_context_from_coco_annotations():
    ann = {"objects": [{"category": "dog", "bbox": [64, 48, 320, 240], "iscrowd": 0},
                       {"category": "frisbee", "bbox": [600, 0, 100, 10], "iscrowd": 0}],
           "captions": ["  A dog   catches a frisbee. "], "width": 640, "height": 480}
    ctx = Context.from_annotations(ann)
    assert ctx.captions == ("A dog catches a frisbee.",)
    assert ctx.render().splitlines() == [
        "Captions:", "A dog catches a frisbee.", "Objects:",
        "dog: [0.100, 0.100, 0.600, 0.600]", "frisbee: [0.938, 0.000, 1.000, 0.021]"]
    assert "Objects:" not in ctx.render(with_objects=False)
    assert [c for c, _ in Context.from_annotations(ann, max_objects=1).objects] == ["dog"]
    with pytest.raises(ValueError, match="width and height"):
        Context.from_annotations({"objects": ann["objects"], "captions": []})


@pytest.mark.parametrize("kind", PROMPT_TYPES)
def test_a_text_context_is_rendered_like_the_few_shots(kind):
    # The COCO source's text: captions, then box lines, no headers.
    text = "\n".join([*CONTEXT.captions, *(format_box(c, b) for c, b in CONTEXT.objects)])
    assert Context.from_text(text) == CONTEXT == Context.from_text(CONTEXT.render())
    assert build_messages(kind, text) == build_messages(kind, CONTEXT)


def test_box_lines_round_trip_and_reject_other_formats():
    line = format_box("dining table", (0, 0.5, 1, 0.9999))
    assert line == "dining table: [0.000, 0.500, 1.000, 1.000]"
    assert parse_box_line(line) == ("dining table", (0.0, 0.5, 1.0, 1.0))
    for bad in ("dog: [0.1, 0.2, 0.3, 0.4]", "dog [0.100, 0.200, 0.300, 0.400]",
                "dog: [0.500, 0.200, 0.300, 0.400]"):
        with pytest.raises(ValueError):
            parse_box_line(bad)


def test_parse_types():
    assert parse_types("all") == PROMPT_TYPES == parse_types("")
    assert parse_types("detail, conversation,detail") == ("detail", "conversation")
    assert parse_types(["reasoning"]) == ("reasoning",)
    with pytest.raises(UsageError, match=r"unknown prompt type 'captions'.*conversation"):
        parse_types("conversation,captions")


GOOD_SET = """\
type: mine
prompt_version: mine-1
format: qa
system: Ask.
template: "{context}\\nAsk."
few_shot:
  - captions: [A cat.]
    objects: ["cat: [0.100, 0.100, 0.500, 0.500]"]
    response: "Question: What animal is it?\\nAnswer: It is a cat."
"""


@pytest.mark.parametrize("edit, where", [
    (lambda s: s.replace("prompt_version: mine-1\n", ""), "prompt_version: missing"),
    (lambda s: s + "colour: red\n", "colour: unknown key"),
    (lambda s: s.replace("format: qa", "format: poem"), "format"),
    (lambda s: s.replace('"{context}\\nAsk."', "Ask."), "template"),
    (lambda s: s.replace("0.100, 0.100", "0.1, 0.1"), "few_shot[0].objects"),
    (lambda s: s.replace("Question: What animal is it?\\nAnswer: ", ""), "few_shot[0].response"),
    (lambda s: s.replace("format: qa", "format: prose"), "requests"),
    # a template that asks a question needs each example's question, and only then
    (lambda s: s.replace('"{context}\\nAsk."', '"{context}\\nQ: {question}"'),
     "few_shot[0].question"),
    (lambda s: s.replace("    response:", "    question: Why?\n    response:"),
     "few_shot[0].question"),
])
def test_malformed_prompt_sets_name_the_key(tmp_path, edit, where):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_SET)
    assert load_prompt_set(good).prompt_version == "mine-1"
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit(GOOD_SET))
    with pytest.raises(UsageError) as e:
        load_prompt_set(bad)
    assert "bad.yaml" in str(e.value) and where in str(e.value)


def test_the_answer_prompt_asks_the_question_it_is_given():
    from mmsynth.prompts.llava import ANSWER_PROMPT, build_messages

    ps = load_prompt_set(ANSWER_PROMPT)
    assert ps.asks_question and ps.format == "prose"
    assert all(shot.question for shot in ps.few_shot)
    context = Context(("A dog on a red sofa.",), (("dog", (0.1, 0.2, 0.5, 0.6)),))
    messages = build_messages(ANSWER_PROMPT, context, question="What is\n the dog doing?")
    assert len(messages) == 2 + 2 * len(ps.few_shot)
    assert messages[-1]["content"].endswith("Question: What is the dog doing?\n"
                                            "Answer the question about this photo.")
    assert "dog: [0.100, 0.200, 0.500, 0.600]" in messages[-1]["content"]
    assert f"Question: {ps.few_shot[0].question}" in messages[1]["content"]
    with pytest.raises(ValueError, match="asks a question"):
        ps.request(context)
    # the data types' sets ask none
    assert not load_prompt_set("detail").asks_question


# ---- parsing: formats ------------------------------------------------------------------------

THREE = [("What is the cat doing?", "It is sleeping."),
         ("Where is the cat?", "It is on a red sofa."),
         ("What colour is the sofa?", "The sofa is red.")]

MESSY = {
    "question_answer": """Question: What is the cat doing?
Answer: It is sleeping.

Question: Where is the cat?
Answer: It is on a red sofa.

Question: What colour is the sofa?
Answer: The sofa is red.""",
    "numbered_labels_with_stop_string": """Question 1: What is the cat doing?
Answer 1: It is sleeping.
Question 2: Where is the cat?
Answer 2: It is on a red sofa.
Question 3: What colour is the sofa?
Answer 3: The sofa is red.
Question 4""",
    "q_a": "Q: What is the cat doing?\nA: It is sleeping.\nQ: Where is the cat?\n"
           "A: It is on a red sofa.\nQ: What colour is the sofa?\nA: The sofa is red.",
    "inline": "Q1: What is the cat doing? A1: It is sleeping. Q2: Where is the cat? "
              "A2: It is on a red sofa. Q3: What colour is the sofa? A3: The sofa is red.",
    "user_assistant": "User: What is the cat doing?\nAssistant: It is sleeping.\n"
                      "User: Where is the cat?\nAssistant: It is on a red sofa.\n"
                      "User: What colour is the sofa?\nAssistant: The sofa is red.",
    "human_gpt": "Human: What is the cat doing?\nGPT: It is sleeping.\n\nHuman: Where is the "
                 "cat?\nGPT: It is on a red sofa.\n\nHuman: What colour is the sofa?\n"
                 "GPT: The sofa is red.",
    "numbered_list": """1. Q: What is the cat doing?
   A: It is sleeping.
2. Q: Where is the cat?
   A: It is on a red sofa.
3) Q: What colour is the sofa?
   A: The sofa is red.""",
    "markdown": """Sure! Here are three questions about the image:

### Question 1
What is the cat doing?
### Answer
It is sleeping.

**Question 2:** Where is the cat?
**Answer:** It is on a red sofa.

- *Question:* What colour is the sofa?
- *Answer:* The sofa is red.

###
""",
    "bullets_and_whitespace": "\n\n   - Question: What is the cat doing?  \n   - Answer: It is "
                              "sleeping.   \n\n* Question: Where is the cat?\n* Answer: It is "
                              "on a red sofa.\n• Question: What colour is the sofa?\n"
                              "• Answer: The sofa is red.\n\n\n",
    "unlabelled_numbered": """1. What is the cat doing?
It is sleeping.
2. Where is the cat?
It is on a red sofa.
3. What colour is the sofa?
The sofa is red.""",
    "special_tokens": "<|im_start|>assistant\nQuestion: What is the cat doing?\nAnswer: It is "
                      "sleeping.\nQuestion: Where is the cat?\nAnswer: It is on a red sofa."
                      "<image>\nQuestion: What colour is the sofa?\nAnswer: The sofa is red."
                      "<|im_end|>",
    "code_fence_and_new_example": "```\nQuestion: What is the cat doing?\nAnswer: It is "
                                  "sleeping.\nQuestion: Where is the cat?\nAnswer: It is on a "
                                  "red sofa.\nQuestion: What colour is the sofa?\nAnswer: The "
                                  "sofa is red.\n```\n\nCaptions:\nA dog runs.\n",
}


@pytest.mark.parametrize("name", MESSY)
def test_conversation_formats(name):
    turns = parse("conversation", MESSY[name])
    assert pairs(turns) == THREE, name
    assert shape_ok(turns)
    assert turns[0]["value"].startswith(f"{IMAGE_TOKEN}\n")


def test_answers_spanning_several_lines():
    text = """Question: What is the cat doing?
Answer: It is curled up
on the sofa, fast asleep.
Its reasons:
- it is warm
- it is soft

Question: Is the cat awake?
Answer: No, it is asleep."""
    first, second = pairs(parse("conversation", text))
    assert first[1] == ("It is curled up on the sofa, fast asleep. Its reasons:\n- it is warm\n"
                        "- it is soft")
    assert second == ("Is the cat awake?", "No, it is asleep.")


def test_reasoning_parses_one_pair_and_cuts_extra_pairs():
    answer = ("The cat is asleep on the sofa, which suggests it feels safe and warm in this "
              "home. Cats sleep where they are comfortable.")
    other = ("Its eyes are closed and its body is curled up, which is how a cat rests when "
             "nothing around it seems dangerous.")
    text = (f"Question: Why is the cat relaxed?\nAnswer: {answer}\nQuestion: How can you tell?"
            f"\nAnswer: {other}\nQuestion: What next?\nAnswer: It will wake up and stretch "
            "its legs before it walks to its food bowl in the kitchen.")
    turns = parse("reasoning", text)
    assert len(turns) == 4 and turns[1]["value"] == answer and turns[3]["value"] == other
    with pytest.raises(ParseError) as e:
        parse("reasoning", "Question: Why is the cat relaxed?\nAnswer: It is warm.")
    assert e.value.reason == "unparseable" and e.value.key == "unparseable:reasoning"


def test_a_question_missing_its_mark_gets_one_and_two_pairs_are_enough():
    turns = parse("conversation", "Question: What is on the sofa\nAnswer: A cat.\n"
                                  "Question: Describe the cat\nAnswer: It is grey.")
    assert [q for q, _ in pairs(turns)] == ["What is on the sofa?", "Describe the cat."]


# ---- parsing: rejections ---------------------------------------------------------------------

REJECTED = [
    ("empty", "conversation", "", False),
    ("empty", "conversation", "   \n\n  ", False),
    ("empty", "detail", "<|im_end|>", False),
    ("empty", "conversation", "###\n**  **\n---", False),
    ("truncated", "conversation",
     "Question: What is the cat doing?\nAnswer: It is sleeping.\n"
     "Question: Where is the cat?\nAnswer: It is lying on the", True),
    ("truncated", "conversation",
     "Question: What is the cat doing?\nAnswer: It is sleeping.\nQuestion: Where is the cat?",
     True),
    ("truncated", "detail", "A grey cat sleeps on a red sofa in a living room and looks "
                            "very", True),
    ("truncated", "reasoning", "Question: Why is the cat on the sofa?\nAnswer: The sofa is "
                               "soft and warm, so the cat likes to sleep there because (it",
     False),
    ("repetitive", "conversation",
     "Question: What is the cat doing?\nAnswer: It is sleeping.\n" * 6, True),
    ("repetitive", "conversation",
     "Question: What is the cat doing?\nAnswer: It is sleeping.\n"
     "Question: What's the cat doing?\nAnswer: It is resting.", False),
    ("repetitive", "conversation",
     "Question: What is the cat doing?\nAnswer: What is the cat doing?\n"
     "Question: Is the cat asleep?\nAnswer: Is the cat asleep?", False),
    ("repetitive", "detail", "The cat is on the sofa. " * 20, True),
    ("repetitive", "detail", "A cat sleeps on a sofa and the sofa is red and the cat sleeps "
                             "on a sofa and the sofa is red and the cat sleeps on a sofa and "
                             "the sofa is red and the cat sleeps on a sofa and the sofa is "
                             "red and the cat sleeps.", False),
    ("unparseable", "conversation", "The cat is sleeping on a red sofa. It looks happy.",
     False),
    ("unparseable", "detail", "A cat on a sofa.", False),
    ("unparseable", "detail", "Question: What is it?\nAnswer: A cat.\nQuestion: Where?\n"
                              "Answer: On a sofa.", False),
    ("no_question", "conversation", "Question: The cat.\nAnswer: It sleeps.\n"
                                    "Question: A red sofa.\nAnswer: It is red.", False),
    ("no_question", "conversation", "Answer: It sleeps.\nAnswer: It is red.", False),
    ("echo", "conversation", "Captions:\nA cat sleeps on a red sofa.\nQuestion: What?", False),
    ("echo", "conversation",
     "Question: Where is the cat?\nAnswer: At [0.250, 0.300, 0.600, 0.700].\n"
     "Question: What does the caption say?\nAnswer: That the cat sleeps.", False),
    ("echo", "detail", "According to the captions, a grey cat sleeps on a red sofa in a warm "
                       "living room while the afternoon sun falls through the tall window "
                       "beside it.", False),
]


@pytest.mark.parametrize("reason, kind, text, hit_limit", REJECTED,
                         ids=[f"{r[0]}-{r[1]}-{i}" for i, r in enumerate(REJECTED)])
def test_rejection_reasons(reason, kind, text, hit_limit):
    with pytest.raises(ParseError) as e:
        parse(kind, text, hit_limit=hit_limit)
    assert e.value.reason == reason, str(e.value)
    assert e.value.key == f"{reason}:{kind}"
    assert reason in REASONS


def test_every_reason_is_exercised():
    assert {r[0] for r in REJECTED} == set(REASONS)


def test_parse_error_becomes_a_counted_rejection():
    with pytest.raises(ParseError) as e:
        parse("detail", "", hit_limit=False)
    rejection = e.value.rejection(42, text="")
    assert rejection == Rejection(42, "empty:detail", "no words in the reply")


def test_a_cut_last_pair_is_dropped_when_enough_pairs_remain():
    text = ("Question: What is the cat doing?\nAnswer: It is sleeping.\n"
            "Question: Where is the cat?\nAnswer: On a red sofa.\n"
            "Question: What colour is the sofa?\nAnswer: The sofa is")
    assert len(parse("conversation", text, hit_limit=True)) == 4
    # without the limit, a short answer with no full stop is complete
    assert len(parse("conversation", text.replace("The sofa is", "Red"))) == 6


def test_commentary_after_the_last_answer_is_dropped():
    # SmolLM2-135M, sampled: a blank line, then an essay about a film.
    text = ("Question 1: What is the man doing?\nAnswer 1: He's riding a wave.\n\n"
            "Question 2: Where is he likely to be?\nAnswer 2: He seems to be at sea.\n\n"
            "This is a classic illustration of a 1948 film about a sailor.")
    assert pairs(parse("conversation", text))[-1][1] == "He seems to be at sea."
    described = parse("detail", f"### Description\n\n{DESCRIPTION}\n\nI hope this helps!")
    assert described[1]["value"] == DESCRIPTION


def test_pairs_before_a_loop_are_kept():
    text = ("Question 1: What is the cat doing?\nAnswer 1: It is sleeping.\n"
            "Question 2: Where is the cat?\nAnswer 2: It is on a red sofa.\n"
            + "Question 3: What is the cat doing?\nAnswer 3: It is sleeping.\n" * 8)
    assert pairs(parse("conversation", text, hit_limit=True)) == THREE[:2]


# ---- parsing: detail -------------------------------------------------------------------------

DESCRIPTION = ("A grey cat is curled up asleep in the middle of a large red sofa. The sofa "
               "fills most of the picture, from the left edge to the right. Soft light falls "
               "across the cushions, and the cat looks warm and relaxed.")


def test_detail_gets_a_request_from_the_seed_and_the_cleaned_prose():
    ps = load_prompt_set("detail")
    text = f"Sure! Here is a detailed description:\n\n**Description:** {DESCRIPTION}\n###"
    turns = parse("detail", text, rng=np.random.default_rng(3))
    assert shape_ok(turns) and len(turns) == 2
    assert turns[1]["value"] == DESCRIPTION
    request = turns[0]["value"].removeprefix(f"{IMAGE_TOKEN}\n")
    assert request in ps.requests
    assert parse("detail", text, rng=np.random.default_rng(3)) == turns
    assert parse("detail", text, rng=3) == parse("detail", text, rng=3)
    assert parse("detail", text)[0]["value"] == f"{IMAGE_TOKEN}\n{ps.requests[0]}"
    seen = {parse("detail", DESCRIPTION, rng=s)[0]["value"] for s in range(40)}
    assert len(seen) >= 5


def test_detail_joins_lines_and_bullets_into_one_paragraph():
    text = "- A grey cat is curled up asleep\n  in the middle of a large red sofa.\n" \
           "- The sofa fills most of the picture, from the left edge to the right.\n" \
           "- Soft light falls across the cushions, and the cat looks warm and relaxed."
    assert parse("detail", text)[1]["value"] == DESCRIPTION


def test_detail_cut_at_the_limit_keeps_its_complete_sentences():
    text = DESCRIPTION + " Behind the sofa, a tall"
    assert parse("detail", text, hit_limit=True)[1]["value"] == DESCRIPTION
    looping = DESCRIPTION + " The cat is asleep on the sofa." * 5
    assert parse("detail", looping, hit_limit=True)[1]["value"] == \
        DESCRIPTION + " The cat is asleep on the sofa."


def test_a_tautological_loop_leaves_too_short_an_answer():
    # SmolLM2-135M, sampled, on three grazing zebras.
    text = ("Question: What is the purpose of the three zebras?\nAnswer: The three zebras are "
            "grazing, so they are eating grass. The three are eating grass, so they are eating "
            "grass. The three are eating grass, so they are eating grass.")
    with pytest.raises(ParseError) as e:
        parse("reasoning", text)
    assert e.value.reason == "repetitive"


def test_repetition_helpers():
    assert repetition_ratio("a b c d e f g h i j k l") == 0
    assert repetition_ratio("the cat sat down " * 10) > 0.6
    assert cut_loop("One two three. Four five six. One two three. Seven.") == \
        ("One two three. Four five six.", True)
    assert cut_loop("No loop here at all.") == ("No loop here at all.", False)
    assert cut_loop("A man rides a red bike. A woman rides a blue bike.")[1] is False


# ---------------------------------------------------------------------------------------------
# The split: prompt sets (llava) apart from the reply parser (replies).

# What other modules and tests import from mmsynth.prompts.llava.
LLAVA_NAMES = ("BOX_LINE", "PROMPT_SETS", "PROMPT_TYPES", "REASONS", "Context", "ParseError",
               "PromptSet", "build_messages", "cut_loop", "format_box", "load_prompt_set",
               "parse", "parse_box_line", "parse_types", "parse_with", "repetition_ratio")
PARSER_NAMES = ("REASONS", "ParseError", "ParseRules", "clean", "cut_loop", "parse_with",
                "repetition_ratio")


def test_llava_still_offers_every_name_its_callers_import():
    import mmsynth.prompts as package
    from mmsynth.prompts import llava, replies

    for name in LLAVA_NAMES:
        assert hasattr(llava, name), name
        assert name in llava.__all__, name
    for name in PARSER_NAMES:
        assert getattr(llava, name) is getattr(replies, name), f"{name}: one definition"
    for name in package.__all__:
        assert getattr(package, name) is getattr(llava, name), name


def test_prompt_sets_are_found_through_the_one_config_helper():
    from mmsynth.prompts.llava import PROMPT_DIR, PROMPT_SETS
    from mmsynth.resources import config_path

    assert config_path("prompts") == PROMPT_DIR
    for kind in PROMPT_TYPES:
        assert PROMPT_SETS.get(kind) == config_path("prompts", f"{kind}.yaml")
        assert load_prompt_set(kind).path == str(config_path("prompts", f"{kind}.yaml").resolve())


def test_the_reply_parser_needs_only_what_a_prompt_set_says():
    from mmsynth.prompts.llava import PromptSet
    from mmsynth.prompts.replies import ParseRules, parse_with

    ps = PromptSet(type="custom", prompt_version="custom-1", format="qa", uses_objects=False,
                   system="", template="{context}", few_shot=(),
                   parse=ParseRules(min_pairs=2))
    two = "Q: What animal is it?\nA: A cat.\nQ: Where is it?\nA: On a sofa."
    assert [t["value"] for t in parse_with(ps, two)] == [
        f"{IMAGE_TOKEN}\nWhat animal is it?", "A cat.", "Where is it?", "On a sofa."]
    with pytest.raises(ParseError) as e:
        parse_with(ps, "Q: What animal is it?\nA: A cat.")
    assert e.value.key == "unparseable:custom", "the set's own type names the rejection"
