"""The grounding check and annotation-derived QA, on hand-written answers and annotations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mmsynth.errors import UsageError
from mmsynth.filters.annotation_qa import (
    CONFUSABLE,
    absent_categories,
    annotation_qa,
    append_qa,
    count_phrase,
    counting_qa,
    negative_qa,
    positive_qa,
    reliable_counts,
)
from mmsynth.filters.grounding import (
    COCO_CATEGORIES,
    Evidence,
    GroundingCheck,
    mentions,
    plural,
    stats_from_samples,
    summarize,
)
from mmsynth.filters.vocabulary import (
    VOCABULARY_FILE,
    load_vocabulary,
    plural_forms,
    vocabulary,
)
from mmsynth.resources import config_path
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample, check_llava_shape

BEFORE = Path(__file__).parent / "data" / "grounding_vocabulary_before.json"


def annotations(*objects: str | tuple[str, int], captions: tuple[str, ...] = ()) -> dict:
    """``"giraffe"`` is one instance, ``("giraffe", 4)`` four, ``("person", -1)`` a crowd box."""
    objs = []
    for o in objects:
        name, n = (o, 1) if isinstance(o, str) else o
        if n < 0:
            objs.append({"category": name, "bbox": [0, 0, 50, 50], "iscrowd": 1})
        for k in range(max(n, 0)):
            objs.append({"category": name, "bbox": [10 * k, 0, 40, 40], "iscrowd": 0})
    return {"objects": objs, "captions": list(captions), "width": 640, "height": 480}


def sample(answers: list[str] | list[tuple[str, str]], ann: dict | None, index: int = 7
           ) -> Sample:
    pairs = [(f"Question {i}?", a) if isinstance(a, str) else a for i, a in enumerate(answers)]
    turns = []
    for i, (q, a) in enumerate(pairs):
        turns.append({"from": "human", "value": f"{IMAGE_TOKEN}\n{q}" if i == 0 else q})
        turns.append({"from": "gpt", "value": a})
    return Sample(id=f"coco-0-{index:09d}", image=b"", image_ext="jpg", conversations=turns,
                  annotations=ann, meta={"index": index})


def cats(text: str, negated: bool = False) -> list[str]:
    return [m.category for m in mentions(text) if m.negated == negated]


def one(text: str):
    found = mentions(text)
    assert len(found) == 1, found
    return found[0]


# ---- vocabulary ------------------------------------------------------------------------------

def test_every_coco_category_is_found_by_its_name_and_plural():
    assert len(COCO_CATEGORIES) == 80 == len(set(COCO_CATEGORIES))
    for c in COCO_CATEGORIES:
        assert cats(f"I see the {c} here.") == [c], c
        assert cats(f"Look at those {plural(c)}.") == [c], plural(c)


@pytest.mark.parametrize("text, category", [
    ("two men talking", "person"), ("a woman smiling", "person"), ("the kids run", "person"),
    ("a little girl", "person"), ("many people", "person"), ("a tennis player", "person"),
    ("a surfer", "person"), ("the children", "person"), ("a bike", "bicycle"),
    ("a motorbike", "motorcycle"), ("a plane", "airplane"), ("an aeroplane", "airplane"),
    ("the jet", "airplane"), ("a sofa", "couch"), ("the TV", "tv"), ("a television", "tv"),
    ("her cellphone", "cell phone"), ("a smartphone", "cell phone"), ("his phone", "cell phone"),
    ("two hot dogs", "hot dog"), ("teddy bears", "teddy bear"), ("a hot-dog", "hot dog"),
    ("puppies", "dog"), ("a kitten", "cat"), ("knives", "knife"), ("mice", "mouse"),
    ("the fridge", "refrigerator"), ("doughnuts", "donut"), ("a purse", "handbag"),
    ("a stove", "oven"), ("a mug", "cup"), ("a wine glass", "wine glass"),
    ("the laptops", "laptop"), ("a stop sign", "stop sign"), ("a hydrant", "fire hydrant"),
    ("buses", "bus"), ("sheep", "sheep"), ("geese", "bird"), ("the dog's collar", "dog"),
    ("a pair of skis", "skis"), ("a frisbee", "frisbee"), ("a racket", "tennis racket"),
    ("a hair dryer", "hair drier"), ("remote controls", "remote"), ("a burger", "sandwich"),
])
def test_synonyms_kinds_and_plurals_map_to_their_category(text, category):
    assert one(text).category == category


def test_longest_phrase_wins():
    assert cats("a hot dog on a plate") == ["hot dog"]
    assert cats("a teddy bear on a bed") == ["teddy bear", "bed"]
    assert cats("a fire hydrant and a traffic light") == ["fire hydrant", "traffic light"]
    assert cats("a man at the bus stop") == ["person"]
    assert cats("a roll of toilet paper") == []
    assert cats("a train station") == []
    assert cats("a baseball bat and a baseball glove") == ["baseball bat", "baseball glove"]


@pytest.mark.parametrize("text, expected", [
    # colour, company, adjective: only a noun head is the fruit / the remote
    ("an orange cat on the sofa", ["cat", "couch"]),
    ("she peels an orange.", ["orange"]),
    ("an orange and a banana", ["orange", "banana"]),
    ("an orange and white cat", ["cat"]),
    ("a bowl of oranges", ["bowl", "orange"]),
    ("apple pie with a fork", ["fork"]),
    ("a red apple on the table", ["apple", "dining table"]),
    ("a remote village", []),
    ("he holds the remote in his hand", ["remote"]),
    # glass: the material, windows or eyeglasses are not objects; a drink glass is cup/wine glass
    ("a glass window", []),
    ("a man wearing glasses", ["person"]),
    ("a glass of wine", ["cup"]),
    # verbs and idioms
    ("a boy learning to tie a knot", ["person"]),
    ("a man wearing a tie", ["person", "tie"]),
    ("the batter is at bat", ["person"]),
    ("a baseball player swings a bat", ["person", "baseball bat"]),
    ("the boat begins to sink", ["boat"]),
    ("dishes in the sink", ["sink"]),
    ("people who train dogs", ["person", "dog"]),
    ("a bed of lettuce", []),
    ("a flower bed", []),
    ("a truck bed", ["truck"]),
    ("a toilet bowl", ["toilet"]),
    ("the Super Bowl", []),
    ("playing a piano keyboard", []),
    ("a keyboard and a mouse", ["keyboard", "mouse"]),
    ("a potted plant", ["potted plant"]),
    ("plants and trees", []),
    ("a desk", []),
    ("a ski slope", []),
    ("a plastic bag", []),
    # figures of speech and depictions
    ("a cloud shaped like a bear", []),
    ("a toy car", []),
    ("a painting of a horse", []),
])
def test_ambiguous_words_follow_the_documented_decisions(text, expected):
    assert cats(text) == expected


def test_alternatives_ground_ambiguous_words():
    assert one("a bike").alternatives == ("bicycle", "motorcycle")
    assert set(one("a computer").alternatives) == {"laptop", "tv", "keyboard"}
    assert one("a glass of water").alternatives == ("cup", "wine glass")


@pytest.mark.parametrize("text, negated, kept", [
    ("There is no dog in the image.", ["dog"], []),
    ("There are no dogs here.", ["dog"], []),
    ("There aren't any cars on the road.", ["car"], []),
    ("There isn't a cat.", ["cat"], []),
    ("A man without an umbrella.", ["umbrella"], ["person"]),
    ("The man is not holding an umbrella.", ["umbrella"], ["person"]),
    ("I don't see any people.", ["person"], []),
    ("None of the dogs are brown.", ["dog"], []),
    # a negated mention does not carry its negation past the verb: the bike is there
    ("None of the people wear a tie.", ["person"], ["tie"]),
    ("There are no people, cars or bikes.", ["person", "car", "bicycle"], []),
    ("There is no dog, but a cat sits on the sofa.", ["dog"], ["cat", "couch"]),
    ("No, there is no dog and the cat sleeps.", ["dog"], ["cat"]),
    ("No man is riding the bike.", ["person"], ["bicycle"]),
    ("Nobody is sitting on the bench.", ["bench"], []),
])
def test_negation_scope(text, negated, kept):
    assert cats(text, negated=True) == negated
    assert cats(text) == kept


@pytest.mark.parametrize("text, count", [
    ("three giraffes", 3), ("Three tall giraffes", 3), ("4 zebras", 4), ("a pair of dogs", 2),
    ("both dogs", 2), ("only one cat", 1), ("a single cat", 1), ("There is one cat.", 1),
    ("There's one bus.", 1), ("a dozen donuts", 12), ("twelve donuts", 12),
    ("one cat sleeps", None), ("two of the dogs", None), ("at least three cows", None),
    ("about five people", None), ("the number 5 bus", None), ("another two dogs", None),
    ("several dogs", None), ("dogs", None), ("a couple of dogs", None),
    ("two skis", None), ("three broccoli florets", None),
])
def test_stated_counts(text, count):
    assert one(text).count == count


# ---- the check -------------------------------------------------------------------------------

def test_true_mentions_are_kept_and_invented_objects_rejected():
    ann = annotations(("giraffe", 2), "person",
                      captions=("Two giraffes and a man near a tree.",))
    good = sample(["Two giraffes are eating leaves while a man watches."], ann)
    bad = sample(["A giraffe stands next to a dog."], ann, index=8)
    kept, rejected = GroundingCheck()([good, bad])
    assert kept == [good]
    assert [(r.index, r.reason) for r in rejected] == [(8, "hallucinated_object:dog")]
    assert isinstance(rejected[0], Rejection) and "dog" in rejected[0].detail


def test_objects_named_in_captions_are_allowed():
    ann = annotations("person", captions=("A man walks his dog past a bench.",))
    kept, rejected = GroundingCheck()([sample(["The dog walks beside a bench."], ann)])
    assert kept and not rejected


def test_synonyms_ground_against_the_category():
    ann = annotations("couch", "tv", "bicycle")
    kept, _ = GroundingCheck()([sample(["A sofa faces the television; a bike leans on it."],
                                       ann)])
    assert kept


def test_wrong_counts_are_rejected():
    ann = annotations(("giraffe", 4))
    _, rejected = GroundingCheck()([sample(["There are three giraffes."], ann)])
    assert [r.reason for r in rejected] == ["wrong_count:giraffe"]
    kept, _ = GroundingCheck()([sample(["There are four giraffes."], ann)])
    assert kept


def test_count_rules():
    check = GroundingCheck()
    crowd = annotations(("person", 3), ("person", -1))
    assert check([sample(["Two people walk by."], crowd)])[0], "crowd box: no count check"
    people = annotations(("person", 3))
    assert check([sample(["Two men and a woman."], people)])[0], "kinds may be subsets"
    assert check([sample(["Two people are here."], people)])[1][0].reason == "wrong_count:person"
    assert check([sample(["Four men are here."], people)])[1][0].reason == "wrong_count:person"
    captioned = annotations(("zebra", 4), captions=("Three zebras graze.",))
    assert check([sample(["Three zebras are grazing."], captioned)])[0], "a caption's count"
    assert check([sample(["Two of the zebras drink."], captioned)])[0], "not a total"
    assert GroundingCheck(check_counts=False)([sample(["Two people."], people)])[0]


def test_negated_mentions_are_not_checked():
    ann = annotations("cat")
    kept, _ = GroundingCheck()([sample(["There is no dog in the image, only a cat."], ann)])
    assert kept


def test_questions_that_presuppose_absent_objects_are_rejected_but_existence_questions_pass():
    ann = annotations("cat")
    presupposes = sample([("What colour is the dog's collar?", "It is red.")], ann)
    existence = sample([("Is there a dog in the image?", "No, there is no dog.")], ann)
    kept, rejected = GroundingCheck()([presupposes, existence])
    assert kept == [existence]
    assert rejected[0].reason == "hallucinated_object:dog"
    assert GroundingCheck(check_questions=False)([presupposes])[0]
    # "does this scene" inside a wh-question does not make it an existence question (the
    # embedded model copies the reasoning few-shot's question onto photos without a dog)
    copied = sample([("What does this scene suggest about the cat and the dog?",
                      "The cat is resting.")], ann)
    asks = sample([("Does the photo show a dog?", "No, only a cat.")], ann)
    kept, rejected = GroundingCheck()([copied, asks])
    assert kept == [asks] and rejected[0].reason == "hallucinated_object:dog"


def test_drop_turn_mode_removes_only_the_offending_pair():
    ann = annotations("cat", "couch")
    s = sample(["A dog sleeps here.", "The cat lies on the sofa.", "A laptop is nearby."], ann)
    kept, rejected = GroundingCheck(mode="drop_turn")([s])
    assert not rejected and len(kept) == 1
    turns = kept[0].conversations
    assert [t["value"] for t in turns] == [f"{IMAGE_TOKEN}\nQuestion 1?",
                                         "The cat lies on the sofa."]
    assert check_llava_shape(kept[0].to_json()) == []
    assert kept[0].meta["grounding"] == {"mentions": 4, "hallucinated": 2, "wrong_count": 0,
                                         "dropped_turns": 2}


def test_drop_turn_mode_rejects_when_nothing_is_left():
    s = sample(["A dog sleeps here."], annotations("cat"))
    kept, rejected = GroundingCheck(mode="drop_turn")([s])
    assert not kept and rejected[0].reason == "hallucinated_object:dog"
    with pytest.raises(ValueError, match="mode"):
        GroundingCheck(mode="warn")


def test_samples_without_annotations_pass_and_stats_summarise():
    check = GroundingCheck()
    plain = sample(["A dog."], None)
    ann = annotations("cat")
    batch = [plain, sample(["A cat."], ann), sample(["A cat and a dog."], ann, 9),
             sample(["Two cats."], ann, 10)]
    kept, rejected = check(batch)
    assert [s.meta["index"] for s in kept] == [7, 7]
    assert sorted(r.reason for r in rejected) == ["hallucinated_object:dog", "wrong_count:cat"]
    summary = summarize(check.last_stats)
    assert summary["samples_checked"] == 3
    assert summary["mentions_checked"] == 4
    assert summary["hallucinated_mentions"] == 1
    assert summary["hallucination_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["mention_hallucination_rate"] == 0.25
    assert summary["wrong_count_rate"] == pytest.approx(1 / 3, abs=1e-4)
    rebuilt = stats_from_samples([s.to_json() for s in kept],
                                 {"hallucinated_object:dog": 1, "wrong_count:cat": 1,
                                  "truncated:detail": 5})
    assert rebuilt["samples_checked"] == 3 and rebuilt["samples_with_hallucination"] == 1
    assert summarize([check.last_stats, check.last_stats])["samples_checked"] == 6


def test_the_summary_gives_the_rates_before_and_after_the_check():
    ann = annotations("cat")
    batch = [sample(["A cat."], ann, 1), sample(["A cat and a dog."], ann, 2),
             sample(["A cat sleeps.", "A dog barks."], ann, 3), sample(["Two cats."], ann, 4)]
    reject = GroundingCheck()
    reject(batch)
    (line,) = GroundingCheck.summary_lines(reject.counters)
    assert line == ("  grounding: 4 samples checked; before the check 50.0% named an absent "
                    "object (CHAIR_s; 33.3% of 6 object mentions, CHAIR_i) and 25.0% had a "
                    "wrong count; after it 0.0% of the 1 kept (0 with a hallucinated object, "
                    "0 with a wrong count)")
    drop = GroundingCheck(mode="drop_turn")
    kept, _ = drop([sample(["A cat sleeps.", "A dog barks."], ann, 3)])
    assert kept[0].conversations[1]["value"] == "A cat sleeps."
    s = summarize(drop.counters)
    assert (s["hallucination_rate"], s["kept_hallucination_rate"]) == (1.0, 0.0)
    assert s["kept_with_hallucination"] == 0 and s["samples_checked"] - s["rejected"] == 1
    assert GroundingCheck.summary_lines({}) == []


def test_evidence_collects_annotations_crowds_and_captions():
    ev = Evidence.from_annotations(annotations(("dog", 2), ("person", -1),
                                               captions=("Two dogs and no cats.",)))
    assert ev.annotated == {"dog": 2, "person": 0}
    assert ev.crowd == {"person"}
    assert ev.captioned == {"dog"}
    assert ev.allowed == {"dog", "person"}


# ---- annotation-derived QA -------------------------------------------------------------------

def test_reliable_counts():
    ann = annotations(("giraffe", 3), ("person", 2), ("person", -1), ("book", 11), "skis",
                      ("zebra", 10))
    assert reliable_counts(ann) == {"giraffe": 3, "zebra": 10}
    assert reliable_counts(ann, max_count=5) == {"giraffe": 3}


def test_counting_answers():
    rng = np.random.default_rng(0)
    item = counting_qa("giraffe", 3, rng)
    assert item["answer"] == "There are three giraffes." and item["value"] == 3
    assert item["type"] == "object_count" and "giraffes" in item["question"]
    assert counting_qa("giraffe", 1, rng)["answer"] == "There is one giraffe."
    assert count_phrase(2, "person") == "There are two people."
    assert count_phrase(4, "tv") == "There are four TVs."


SCENES = [
    annotations(("giraffe", 3), "bird", captions=("Giraffes by a tree.",)),
    annotations(("person", 2), "bicycle", "car", captions=("Two men ride bikes past a car.",)),
    annotations("cup", "dining table", "pizza", ("person", -1),
                captions=("A crowd eating pizza.",)),
    annotations(("sheep", 6), "dog", captions=("A dog herds sheep on a hill.",)),
    annotations(captions=("An empty street at night.",)),
]


@pytest.mark.parametrize("scene", range(len(SCENES)))
def test_annotation_qa_is_exact_grounded_and_never_asks_about_present_objects(scene):
    ann = SCENES[scene]
    present = Evidence.from_annotations(ann).allowed
    counts = reliable_counts(ann)
    check = GroundingCheck()
    for seed in range(60):
        items = annotation_qa(ann, np.random.default_rng([seed, scene]), counting_rate=1,
                              negative_rate=1, positive_rate=0.5)
        again = annotation_qa(ann, np.random.default_rng([seed, scene]), counting_rate=1,
                              negative_rate=1, positive_rate=0.5)
        assert items == again, "deterministic in the rng"
        for item in items:
            assert set(item) >= {"question", "answer", "type", "value"}
            if item["type"] == "object_count":
                assert item["value"] == counts[item["category"]]
            elif item["type"] == "object_absent":
                assert item["category"] not in present
                assert not any(item["category"] in g and g & present for g in CONFUSABLE)
                assert item["answer"].startswith("No, ")
            else:
                assert item["category"] in present and item["answer"].startswith("Yes, ")
        if items:
            s = Sample(id="x", image=b"", conversations=append_qa([], items), annotations=ann,
                       meta={"index": seed})
            assert check_llava_shape(s.to_json()) == []
            kept, rejected = check([s])
            assert kept, [r.detail for r in rejected]


def test_annotation_qa_rates_and_counting_needs_a_reliable_count():
    ann = annotations(("person", -1), ("book", 20))
    rng = np.random.default_rng(1)
    assert annotation_qa(ann, rng, counting_rate=0, negative_rate=0) == []
    items = annotation_qa(ann, rng, counting_rate=1, negative_rate=0)
    assert items == [], "crowd and >10: nothing reliable to count"
    negatives = [annotation_qa(ann, np.random.default_rng(s), negative_rate=1)[0]["category"]
                 for s in range(50)]
    assert "person" not in negatives and "book" not in negatives
    assert len(set(negatives)) > 5
    with pytest.raises(ValueError, match="negative_rate"):
        annotation_qa(ann, rng, negative_rate=1.5)


def test_negatives_prefer_the_supercategories_of_present_objects():
    ann = annotations(("zebra", 2))
    picks = [annotation_qa(ann, np.random.default_rng(s), counting_rate=0,
                           negative_rate=1)[0]["category"] for s in range(90)]
    animals = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "giraffe"}
    assert 0.5 < sum(p in animals for p in picks) / len(picks) < 0.9
    assert "zebra" not in picks


def test_absent_categories_exclude_confusables():
    absent = absent_categories(annotations("cup", "car"))
    assert "cup" not in absent and "wine glass" not in absent and "truck" not in absent
    assert "dog" in absent


@pytest.mark.parametrize("category", COCO_CATEGORIES)
def test_generated_questions_name_their_category(category):
    rng = np.random.default_rng(3)
    for item in (counting_qa(category, 2, rng), negative_qa(category, rng),
                 positive_qa(category, rng)):
        found = mentions(item["question"])
        assert found and category in found[0].grounding, item
        answer = mentions(item["answer"])
        assert answer and category in answer[0].grounding, item
        assert answer[0].negated == (item["type"] == "object_absent"), item


def test_append_qa_keeps_one_image_token():
    convo = [{"from": "human", "value": f"{IMAGE_TOKEN}\nWhat is this?"},
             {"from": "gpt", "value": "A cat."}]
    items = [negative_qa("dog", np.random.default_rng(0))]
    turns = append_qa(convo, items)
    assert len(turns) == 4 and turns[2]["value"] == items[0]["question"]
    assert check_llava_shape({"id": "x", "image": "x.jpg", "conversations": turns}) == []


def test_rambling_answers_that_share_nothing_with_the_captions_are_off_topic():
    ann = annotations(("zebra", 3), captions=("Three zebras grazing in a grassy field.",
                                              "A group of zebras eating grass."))
    on_topic = sample(["Three zebras stand in a wide grassy field with their heads down, "
                       "eating the short green grass together under a pale sky."], ann)
    rambling = sample(["This moment brings out your imagination so much more than any "
                       "description can convey, and my story continues forever because we "
                       "have endless stories here under a golden sunset."], ann, index=9)
    check = GroundingCheck()
    kept, rejected = check([on_topic, rambling])
    assert kept == [on_topic]
    assert [(r.index, r.reason) for r in rejected] == [(9, "off_topic")]
    assert summarize(check.last_stats)["off_topic"] == 1
    assert GroundingCheck(min_overlap=0)([rambling])[0], "0 turns the check off"
    short = sample(["It is sunny and warm today."], ann)
    assert check([short])[0], "short answers have too few words to judge"


# ---------------------------------------------------------------------------------------------
# The vocabulary as data: the file must give exactly the structures the Python literals gave.

def _decode(value):
    """The fixture's typed JSON: {"frozenset": [...]}, {"tuple": [...]}, {"dict": [[k, v]]}."""
    if isinstance(value, dict):
        ((kind, items),) = value.items()
        if kind == "frozenset":
            return frozenset(items)
        if kind == "tuple":
            return tuple(_decode(v) for v in items)
        return {k: _decode(v) for k, v in items}
    return value


def _new_word_sets() -> dict:
    """Each old module-level name → what stands for it now."""
    import mmsynth.filters.vocabulary as v

    vocab = load_vocabulary()
    sets = {name: getattr(v, name) for name in (
        "SUPERCATEGORIES", "COCO_CATEGORIES", "SUPERCATEGORY_OF", "UNCOUNTED_CATEGORIES",
        "SYNONYMS", "KINDS", "ALTERNATIVES", "EXCLUDED", "MASS_NOUNS", "PLURAL_ONLY", "MODALS",
        "VERB_LEADS", "NUMBER_WORDS")}
    sets.update(_IRREGULAR_PLURALS=vocab.plurals.irregular, _NOT_AFTER=vocab.not_after,
                _NOT_BEFORE=vocab.not_before, _NOUN_HEAD_ONLY=vocab.noun_head_only)
    for name in ("_NOUN_FOLLOWERS", "_COLOURS", "_NEGATIONS", "_CLAUSE_BREAKS",
                 "_FIGURATIVE_BEFORE", "_DEPICTIONS", "_DETERMINERS", "_COUNT_QUALIFIERS",
                 "_COUNT_BREAKS", "_EXACT_ONE_BEFORE", "_STOPWORDS"):
        sets[name] = vocab.words[name.strip("_").lower()]
    return sets


def test_the_vocabulary_file_gives_the_structures_the_python_literals_gave():
    before = json.loads(BEFORE.read_text())
    new = _new_word_sets()
    assert sorted(new) == sorted(before["word_sets"])
    for name, encoded in before["word_sets"].items():
        old = _decode(encoded)
        assert type(new[name]) is type(old) or isinstance(old, dict), name
        assert new[name] == old, name
        if isinstance(old, dict):
            assert list(new[name]) == list(old), f"{name}: keys in the same order"
            assert all(type(new[name][k]) is type(old[k]) for k in old), name
    table = [[list(k), [t.category, list(t.alternatives), t.exact, t.countable, t.plural]]
             for k, t in vocabulary().items()]
    assert table == before["vocabulary"], "the phrase table, entry by entry and in order"
    assert {w: list(plural_forms(w)) for w in before["plural_forms"]} == before["plural_forms"]


def test_the_vocabulary_is_loaded_once_from_configs():
    vocab = load_vocabulary()
    assert load_vocabulary() is vocab and vocabulary() is vocab.phrases
    assert Path(vocab.path) == config_path(*VOCABULARY_FILE)
    assert Path(vocab.path).is_file()


def _shipped() -> dict:
    return yaml.safe_load(config_path(*VOCABULARY_FILE).read_text(encoding="utf-8"))


def _edited(tmp_path: Path, edit) -> str:
    data = _shipped()
    edit(data)
    path = tmp_path / "vocabulary.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("edit, key, why", [
    (lambda d: d["kinds"].__setitem__("girafe", ["calf giraffe"]), "kinds.girafe",
     "not a category"),
    (lambda d: d["alternatives"].__setitem__("pet", ["dog", "kitty"]), "alternatives.pet",
     "not a category: 'kitty'"),
    (lambda d: d["words"]["negations"].append(False), "words.negations", "quote it"),
    (lambda d: d["synonyms"]["dog"].append("Hound"), "synonyms.dog", "lower case"),
    (lambda d: d["words"]["verb_leads"]["include"].append("modal"), "words.verb_leads.include",
     "'modal' is not a set of 'words'"),
    (lambda d: d["words"].__setitem__("modals", {"include": ["verb_leads"]}), "words.modals",
     "includes itself"),
    (lambda d: d["kinds"]["cat"].append("puppy"), "puppy", "defined twice (cat, dog)"),
    (lambda d: d.pop("excluded"), "excluded", "missing"),
    (lambda d: d.__setitem__("colors", ["red"]), "colors", "unknown section"),
    (lambda d: d["words"].pop("stopwords"), "words.stopwords", "missing"),
    (lambda d: d["numbers"].__setitem__("zero", 0), "numbers.zero", "positive whole number"),
    (lambda d: d["uncounted"].append("sky"), "uncounted", "not a category: 'sky'"),
    (lambda d: d["plurals"].pop("irregular"), "plurals.irregular", "missing"),
    (lambda d: d["not_after"].__setitem__("bat", {"include": ["modals"], "except": ["to"]}),
     "not_after.bat.except", "only include and words"),
])
def test_a_malformed_vocabulary_file_is_a_usage_error_naming_the_key(tmp_path, edit, key, why):
    path = _edited(tmp_path, edit)
    with pytest.raises(UsageError) as e:
        load_vocabulary(path)
    assert str(e.value).startswith(f"grounding vocabulary {path}: {key}: "), str(e.value)
    assert why in str(e.value)


def test_a_bare_yaml_boolean_in_a_word_list_is_refused(tmp_path):
    text = config_path(*VOCABULARY_FILE).read_text(encoding="utf-8")
    assert 'negations: ["no", not,' in text, "the shipped file quotes what YAML reads as a bool"
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text.replace('negations: ["no", not,', "negations: [no, not,"), "utf-8")
    with pytest.raises(UsageError, match=r"words\.negations: False is not a word.*quote it"):
        load_vocabulary(str(path))


def test_the_shipped_vocabulary_reloads_unchanged_from_a_copy(tmp_path):
    copy = _edited(tmp_path, lambda d: None)
    assert load_vocabulary(copy).phrases == vocabulary()
