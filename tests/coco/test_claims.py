"""The claim support stage: colour, gender, number and relation claims of answer sentences
against hand-written captions and boxes, each mode's effect, and the LLM judge with a stub
backend."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmsynth.errors import UsageError
from mmsynth.filters.attributes import Document, find_claims, load_claim_words
from mmsynth.filters.claims import (
    CLAIM_OPTIONS,
    ClaimCheck,
    fingerprint_extra,
    load_judge_prompt,
    parse_verdict,
    split_sentences,
    stage_for,
)
from mmsynth.llm.base import Generation
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample
from mmsynth.stages import STAGES
from tests.conftest import cli


def ann(*objects: tuple[str, tuple[float, float, float, float]] | tuple[str, None],
        captions: tuple[str, ...] = (), width: int = 640, height: int = 480) -> dict:
    """Objects as (category, [x, y, w, h]); a None box is a crowd box."""
    objs = [{"category": c, "bbox": list(b) if b else [0, 0, 50, 50], "iscrowd": int(b is None)}
            for c, b in objects]
    return {"objects": objs, "captions": list(captions), "width": width, "height": height}


BUS_CAPTIONS = ("A white bus parked on a city street.", "A large white bus waits at a stop.",
                "A man stands beside a bus.")


def sample(answers: list[str], annotations: dict | None, kind: str = "detail",
           index: int = 3) -> Sample:
    turns = []
    for i, answer in enumerate(answers):
        question = f"{IMAGE_TOKEN}\nQuestion {i}?" if i == 0 else f"Question {i}?"
        turns += [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
    return Sample(id=f"coco-0-{index:09d}-{kind}", image=b"", image_ext="jpg",
                  conversations=turns, annotations=annotations,
                  meta={"index": index, "type": kind})


def verdicts(sentence: str, annotations: dict, margin: float = 0.10) -> list[tuple[str, str]]:
    doc = Document.from_annotations(annotations, margin=margin)
    return [(c.kind, doc.judge(c).verdict) for c in find_claims(sentence)]


# -- colours ------------------------------------------------------------------------------------

def test_a_colour_the_captions_never_give_the_object_is_contradicted():
    a = ann(("bus", (0, 0, 300, 200)), captions=BUS_CAPTIONS)
    assert verdicts("A red bus is parked on the street.", a) == [("colour", "contradicted")]
    assert verdicts("The bus is red and white.", a) == [("colour", "contradicted")]
    assert verdicts("A white bus is parked on the street.", a) == [("colour", "supported")]
    assert verdicts("A large white double decker bus waits.", a) == [("colour", "supported"),
                                                                     ("property", "supported")]


def test_a_colour_is_unknown_when_no_caption_colours_the_object():
    a = ann(("bus", (0, 0, 300, 200)), captions=("A bus parked on a street.",))
    assert verdicts("A red bus is parked on the street.", a) == [("colour", "unknown")]


def test_colours_match_through_synonyms_kinds_and_close_shades():
    a = ann(("dog", (0, 0, 100, 100)), captions=("A brown puppy sleeps on a rug.",))
    assert verdicts("The tan dog is asleep.", a) == [("colour", "supported")]
    assert verdicts("A black dog is asleep.", a) == [("colour", "contradicted")]


def test_shades_and_solid_are_no_colour_of_their_own():
    cows = ann(("cow", (0, 0, 100, 100)), captions=("Black and white cows graze.",))
    assert verdicts("The cows are a solid reddish brown.", cows) == [("colour", "contradicted")]
    assert verdicts("The cows are a solid black and white.", cows) == [("colour", "supported")]
    # "reddish" only tints the brown: no red claim against a caption's "brown".
    brown = ann(("horse", (0, 0, 100, 100)), captions=("A brown horse in a field.",))
    assert verdicts("A reddish brown horse grazes.", brown) == [("colour", "supported")]
    assert verdicts("The horse is a uniform reddish brown.", brown) == [("colour", "supported")]
    assert verdicts("The horse looks reddish.", brown) == []


def test_any_noun_the_captions_colour_can_be_judged():
    a = ann(captions=("A white rocket waits for launch.", "A rocket on its pad at dusk."))
    assert verdicts("The rocket is black.", a) == [("colour", "contradicted")]
    assert verdicts("A black rocket stands ready.", a) == [("colour", "contradicted")]
    assert verdicts("The rockets are white.", a) == [("colour", "supported")]
    assert verdicts("A white rocket stands ready.", a) == [("colour", "supported")]
    # Must not reject: a noun the captions give no colour, a modifier of another noun ("city"
    # in "a white city bus"), a negated colour, a colour with no determiner before the noun.
    assert verdicts("The launch tower is red.", a) == [("colour", "unknown")]
    city = ann(("bus", (0, 0, 300, 200)), captions=("A white city bus stops.",))
    assert verdicts("The city is gray.", city) == [("colour", "unknown")]
    assert verdicts("There is no black rocket here.", a) == []
    assert verdicts("The rocket is not black.", a) == []


TRAIN = ann(("train", (0, 100, 330, 330)), ("bench", (430, 330, 170, 80)),
            captions=("A red and yellow train waits at an empty platform.",
                      "A red train at the station."))


def owner_verdicts(sentence: str, annotations: dict, *context: str) -> list[tuple[str, str]]:
    doc = Document.from_annotations(annotations)
    return [(c.kind, doc.judge(c).verdict)
            for c in find_claims(sentence, kinds=("colour",), context=context)]


def test_the_colour_of_paint_is_its_owners():
    assert owner_verdicts("The train's blue paint shines.", TRAIN) == [("colour", "contradicted")]
    assert owner_verdicts("The train has its red and yellow paint.", TRAIN) == [
        ("colour", "supported")]
    # "its" found in the answer's earlier sentences, else in the question.
    assert owner_verdicts("Its blue and silver paint is typical.", TRAIN,
                          "It is a commuter train.", "What is it?") == [("colour", "contradicted")]
    assert owner_verdicts("Its blue and silver paint is typical.", TRAIN,
                          "It looks like a commuter train.", "What kind of train is it?") == [
        ("colour", "contradicted")]
    stage = ClaimCheck("reject")
    s = sample(["It looks like a commuter train. Its blue and silver paint is typical."],
               copy.deepcopy(TRAIN))
    s.conversations[0]["value"] = f"{IMAGE_TOKEN}\nWhat kind of train is it?"
    kept, rejected = stage([s])
    assert kept == []
    assert [r.reason for r in rejected] == ["unsupported_claim:colour"]
    assert "'Its blue and silver paint': captions call it red, yellow" in rejected[0].detail
    # Must not reject: two candidates at the nearest level, a listed noun that may own the
    # paint, no candidate anywhere, a person's paint (face paint), "its" for a plural.
    assert owner_verdicts("Its blue paint is typical.", TRAIN,
                          "A train stops by a bench.") == []
    assert owner_verdicts("Its blue paint is new.", TRAIN, "The train passes a wall.") == []
    assert owner_verdicts("Its blue paint is new.", TRAIN, "It is a station.") == []
    person = ann(("person", (0, 0, 100, 300)), captions=("A man with red face paint.",))
    assert owner_verdicts("The man's blue paint is smeared.", person) == []
    assert owner_verdicts("Their blue paint is new.", TRAIN, "The train is here.") == []


def test_a_black_and_white_photo_shows_no_colour():
    bw = ann(("person", (0, 63, 332, 449)), captions=(
        "Black and white photo of a man filming on a grassy field.",
        "A man in a dark overcoat looks through a camera."))
    assert verdicts("It is a colorful photo of a green field.", bw) == [
        ("colour", "contradicted"), ("colour", "contradicted")]
    assert verdicts("The photo is in color.", bw) == [("colour", "contradicted")]
    assert verdicts("The sky is blue.", bw) == [("colour", "contradicted")]
    assert "the captions say the photo is black and white" in Document.from_annotations(
        bw).judge(find_claims("A red sign.")[0]).why
    for caption in ("A grayscale image of a street.", "A street scene shot in black and white."):
        assert verdicts("A red car passes.", ann(captions=(caption,))) == [
            ("colour", "contradicted")], caption
    # Must not reject: achromatic colours in it, a black and white object (not the photo),
    # a photo in black and white but for a colour a caption gives, a colour photo otherwise.
    assert verdicts("The field looks gray and the sky is white.", bw) == [("colour", "unknown")] * 2
    cat = ann(captions=("A photo of a black and white cat on a green rug.",))
    assert verdicts("A colorful photo of a cat on a green rug.", cat) == [
        ("colour", "supported"), ("colour", "unknown")]
    selective = ann(captions=("A black and white photo of a red umbrella on a street.",))
    assert verdicts("A red umbrella stands out.", selective) == [("colour", "supported")]
    assert verdicts("It is a colorful photo.", ann(captions=("A man on a field.",))) == [
        ("colour", "unknown")]
    assert verdicts("It is not a colorful photo.", bw) == []


def test_part_nouns_and_persons_colours():
    a = ann(("cat", (0, 0, 100, 100)), ("person", (200, 0, 100, 300)),
            captions=("A tabby cat with green eyes.", "A woman in a red coat holds a cat."))
    assert verdicts("The cat's blue eyes stare at the camera.", a) == [("colour", "contradicted")]
    assert verdicts("Its green eyes stare at the camera.", a) == [("colour", "supported")]
    # A person's colour (clothing, skin) is not checked.
    assert [k for k, _ in verdicts("A blonde woman smiles.", a)] == ["gender"]


# -- gender -------------------------------------------------------------------------------------

def test_a_gender_word_the_captions_never_use_is_contradicted():
    a = ann(("person", (0, 0, 100, 300)),
            captions=("A man in a dark coat films a field.", "A cameraman with his tripod."))
    assert verdicts("The woman is filming the park.", a) == [("gender", "contradicted")]
    assert verdicts("She looks through the camera.", a) == [("gender", "contradicted")]
    assert verdicts("The man is filming the park.", a) == [("gender", "supported")]


def test_gender_is_unknown_without_gendered_captions_and_supported_with_both():
    neutral = ann(("person", (0, 0, 100, 300)), captions=("A person on a bench.",))
    assert verdicts("A woman sits on the bench.", neutral) == [("gender", "unknown")]
    both = ann(("person", (0, 0, 100, 300)), captions=("A man and a woman on a bench.",))
    assert verdicts("A woman sits on the bench.", both) == [("gender", "supported")]


PEOPLE = (("person", (100, 180, 50, 160)), ("person", (200, 190, 50, 150)))


def genders(sentence: str, annotations: dict) -> list[tuple[str, str]]:
    """The verdicts of a sentence's gender claims only."""
    doc = Document.from_annotations(annotations)
    return [(c.kind, doc.judge(c).verdict) for c in find_claims(sentence, kinds=("gender",))]


def gender_why(sentence: str, annotations: dict) -> str:
    """The reason of a sentence's one gender claim."""
    [claim] = find_claims(sentence, kinds=("gender",))
    return Document.from_annotations(annotations).judge(claim).why


def test_a_count_of_one_gender_against_captions_that_count_every_person():
    street = ann(*PEOPLE, captions=("A man and a woman wait on opposite sidewalks.",
                                    "A white bus at a light."))
    assert genders("The two men are waiting to cross.", street) == [("gender", "contradicted")]
    assert genders("Both women wait at the light.", street) == [("gender", "contradicted")]
    assert genders("A man and a woman wait to cross.", street) == [("gender", "supported")] * 2
    beach = ann(*PEOPLE, ("person", (480, 300, 60, 100)), captions=(
        "A woman sits under a yellow umbrella while two men walk to the water.",))
    assert genders("The two surfers are young women.", beach) == [("gender", "contradicted")]
    assert genders("The two surfers are young men.", beach) == [("gender", "supported")]
    assert genders("The two men head out to surf.", beach) == [("gender", "supported")]
    assert "count 1 woman among the 3 people" in gender_why("The women carry boards.", beach)
    # Must not reject: a caption that misses a person box, a crowd, a caption that does not
    # count ("men", "the man") or names other people ("a child"), a bare plural.
    three = ann(*PEOPLE, ("person", (480, 300, 60, 100)),
                captions=("A man and a woman wait on opposite sidewalks.",))
    assert genders("The two men are waiting.", three) == [("gender", "supported")]
    crowd = ann(*PEOPLE, ("person", None), captions=("A man and a woman wait.",))
    assert genders("The two men are waiting.", crowd) == [("gender", "supported")]
    for caption in ("Men and a woman at a bus stop.", "The man and a woman wait.",
                    "A woman and a child wait at the light."):
        loose = ann(*PEOPLE, captions=(caption, "A man waits."))
        assert genders("The two women are waiting.", loose) == [("gender", "supported")]
    assert genders("Young men and women often surf here.", street) == [("gender", "supported")] * 2


def test_a_gender_placed_where_the_captions_place_the_other():
    umbrella = ("umbrella", (440, 200, 150, 110))
    beach = ann(*PEOPLE, umbrella, captions=(
        "A woman sits under a yellow umbrella while two men walk to the water.",
        "Two men carry surfboards past a beach umbrella."))
    assert genders("A man is sitting under the umbrella.", beach) == [("gender", "contradicted")]
    assert "put only female people under the umbrella" in gender_why(
        "A man is sitting under the umbrella.", beach)
    assert genders("A woman is sitting under the umbrella.", beach) == [("gender", "supported")]
    # Must not reject: both genders in the caption's subject, two such objects (two places), a
    # place the captions give no gender, a pronoun (which may be anyone's).
    bench = ann(*PEOPLE, ("bench", (300, 300, 200, 80)),
                captions=("A man and a woman sit on a bench.",))
    assert genders("A woman sits on the bench.", bench) == [("gender", "supported")]
    assert genders("A man sits on the bench.", bench) == [("gender", "supported")]
    two = ann(*PEOPLE, umbrella, ("umbrella", (0, 0, 100, 100)), captions=beach["captions"])
    assert genders("A man is sitting under the umbrella.", two) == [("gender", "supported")]
    assert genders("A man stands behind the umbrella.", beach) == [("gender", "supported")]
    assert genders("He sits under the umbrella.", beach) == [("gender", "supported")]


def test_pronouns_in_a_sentence_about_an_animal_are_no_gender_claim():
    a = ann(("person", (0, 0, 100, 300)), ("dog", (200, 0, 100, 100)),
            captions=("A man walks a dog.",))
    assert verdicts("The dog wags her tail.", a) == []
    assert verdicts("There is no woman in the picture.", a) == []


# -- time of day --------------------------------------------------------------------------------

DUSK = ann(captions=("A rocket stands on its launch pad at dusk.",
                     "A launch complex at twilight under a deep blue evening sky."))


def test_a_time_of_day_the_captions_never_name_is_contradicted():
    assert verdicts("The photo was taken at midday, under a bright noon sun.", DUSK) == [
        ("time", "contradicted"), ("time", "contradicted")]
    assert verdicts("It was taken in the morning.", DUSK) == [("time", "contradicted")]
    assert verdicts("The rocket waits at sunset.", DUSK) == [("time", "supported")]
    assert verdicts("Night is falling over the pad.", DUSK) == [("time", "supported")]
    doc = Document.from_annotations(DUSK)
    [claim] = find_claims("It is noon.", kinds=("time",))
    assert doc.judge(claim).why == "'noon' (day): the captions say evening"
    # Must not reject: close parts of the day, captions that name no time, a hedge before it.
    afternoon = ann(captions=("A beach in the late afternoon.",))
    assert verdicts("The photo was taken at sunset.", afternoon) == [("time", "supported")]
    assert verdicts("It was taken at midday.", ann(captions=("A rocket on a pad.",))) == [
        ("time", "unknown")]
    for hedged in ("The floodlights would be needed at night.", "It will launch before noon.",
                   "The pad is busy every morning.", "It was not taken at midday.",
                   "It isn't noon."):
        assert verdicts(hedged, DUSK) == [], hedged


def test_a_time_claim_rejects_with_its_kind_and_is_counted():
    stage = ClaimCheck("reject")
    kept, rejected = stage([sample(["The photo was taken at midday."], copy.deepcopy(DUSK))])
    assert kept == [] and [r.reason for r in rejected] == ["unsupported_claim:time"]
    assert "'midday' (day): the captions say evening" in rejected[0].detail
    assert stage.counters["unsupported_claim:time"] == 1 and stage.counters["claims:time"] == 1
    (line,) = ClaimCheck.summary_lines(dict(stage.counters))
    assert ("1 unsupported (100.0%: colour 0, gender 0, number 0, relation 0, time 1, "
            "property 0, weather 0)") in line


# -- numbers ------------------------------------------------------------------------------------

def test_a_number_of_an_unannotated_noun_against_the_captions():
    a = ann(captions=("A rocket flanked by four metal towers.",))
    assert verdicts("Three towers stand around the rocket.", a) == [("number", "contradicted")]
    assert verdicts("Four tall towers stand around the rocket.", a) == [("number", "supported")]
    assert verdicts("It stands between two towers at 9 pm.", a) == [("number", "contradicted")]
    unknown = ann(captions=("A rocket between metal towers.",))
    assert verdicts("Three towers stand around the rocket.", unknown) == [("number", "unknown")]


def test_counts_of_annotated_objects_are_left_to_the_grounding_check():
    a = ann(("cat", (0, 0, 50, 50)), ("cat", (100, 0, 50, 50)), captions=("Two cats.",))
    assert verdicts("Three cats sleep.", a) == [("number", "unknown")]
    # A category only the captions know (no boxes) is counted against the captions.
    only_captions = ann(captions=("Two boats on a lake.", "A lake with two small boats."))
    assert verdicts("Five boats float on the lake.", only_captions) == [
        ("number", "contradicted")]
    assert verdicts("Two boats float on the lake.", only_captions) == [("number", "supported")]


# -- relations ----------------------------------------------------------------------------------

def test_relations_against_box_centres_with_a_margin():
    # cat centre x = 100, dog centre x = 400 of 640: 47% apart.
    a = ann(("cat", (50, 100, 100, 100)), ("dog", (350, 100, 100, 100)))
    assert verdicts("The cat sits to the left of the dog.", a) == [("relation", "supported")]
    assert verdicts("The cat is to the right of the dog.", a) == [("relation", "contradicted")]
    assert verdicts("The dog lies just left of the cat.", a) == [("relation", "contradicted")]
    # Centres 40 px apart: 6.25% of the width, within the 10% margin.
    close = ann(("cat", (260, 100, 100, 100)), ("dog", (300, 100, 100, 100)))
    assert verdicts("The cat is to the right of the dog.", close) == [("relation", "unknown")]
    assert verdicts("The cat is to the right of the dog.", close, margin=0.05) == [
        ("relation", "contradicted")]


def test_vertical_relations_use_the_height():
    # kite centre y = 50, car centre y = 400 of 480 (y grows downwards).
    a = ann(("kite", (300, 25, 50, 50)), ("car", (280, 350, 100, 100)))
    assert verdicts("A kite is flying above the car.", a) == [("relation", "supported")]
    assert verdicts("The kite is under the car.", a) == [("relation", "contradicted")]
    assert verdicts("The car is parked below the kite.", a) == [("relation", "supported")]


def test_relations_are_unknown_with_several_instances_crowds_or_an_unclear_subject():
    several = ann(("cat", (50, 100, 100, 100)), ("cat", (500, 100, 100, 100)),
                  ("dog", (350, 100, 100, 100)))
    assert verdicts("The cat is to the right of the dog.", several) == [("relation", "unknown")]
    crowd = ann(("person", None), ("dog", (350, 100, 100, 100)))
    assert verdicts("A person is to the right of the dog.", crowd) == [("relation", "unknown")]
    a = ann(("cat", (50, 100, 100, 100)), ("dog", (350, 100, 100, 100)))
    # A verb that is no link: the subject of "to the right of" is unclear.
    assert verdicts("The cat watches something to the right of the dog.", a) == []


def relations(sentence: str, annotations: dict) -> list[tuple[str, str]]:
    """The verdicts of a sentence's relation claims only."""
    return [(k, v) for k, v in verdicts(sentence, annotations) if k == "relation"]


def why(sentence: str, annotations: dict) -> list[str]:
    """The reasons of a sentence's contradicted relation claims."""
    doc = Document.from_annotations(annotations)
    return [v.why for c in find_claims(sentence, kinds=("relation",))
            if (v := doc.judge(c)).verdict == "contradicted"]


# A farm like the dev set's: cows in the left third, sheep in the right third (640 x 427).
FARM = ann(("cow", (20, 200, 120, 90)), ("cow", (150, 210, 115, 85)), ("sheep", (400, 230, 60, 45)),
           ("sheep", (470, 235, 55, 45)), ("sheep", (530, 240, 60, 42)), width=640, height=427)


def test_positions_in_the_picture_against_the_image_middle():
    a = ann(("refrigerator", (10, 40, 160, 420)), ("sink", (470, 250, 130, 60)))
    assert relations("The refrigerator stands on the right side of the room.", a) == [
        ("relation", "contradicted")]
    assert why("The refrigerator is on the right.", a) == [
        "'refrigerator is on the right': the refrigerator box is in the left 40% of the image"]
    assert relations("The refrigerator is on the far left of the picture.", a) == [
        ("relation", "supported")]
    assert relations("A sink sits at the bottom of the frame.", a) == [("relation", "unknown")]
    # Within the margin of the middle (centre at 55% of the width): undecided.
    middle = ann(("tv", (290, 100, 120, 100)))
    assert relations("The TV is on the left.", middle) == [("relation", "unknown")]
    assert relations("The TV is on the left.", {**middle, "width": 0}) == [("relation", "unknown")]


def test_a_corner_is_one_claim_per_axis_and_middle_claims_nothing():
    a = ann(("clock", (450, 30, 70, 70)))  # centre (485, 65): upper right
    assert relations("A large round clock hangs in the upper left.", a) == [
        ("relation", "contradicted"), ("relation", "supported")]
    assert relations("The clock is in the top right corner of the picture.", a) == [
        ("relation", "supported"), ("relation", "supported")]
    assert relations("The clock hangs in the middle.", a) == []
    assert relations("The clock hangs in the lower middle.", a) == [("relation", "contradicted")]


def test_a_height_in_the_picture_is_a_position_on_the_vertical_axis():
    a = ann(("traffic light", (400, 40, 40, 100)), ("person", (40, 300, 90, 240)),
            width=480, height=640)  # the light's centre is at 14% of the height
    assert relations("The traffic light sits low in the frame.", a) == [
        ("relation", "contradicted")]
    assert relations("The traffic light hangs high up in the picture.", a) == [
        ("relation", "supported")]
    # High in the sky, low on the wall: no position in the picture.
    assert relations("The traffic light hangs high in the sky.", a) == []
    assert relations("The traffic light is low on its pole.", a) == []


def test_what_is_no_position_in_the_picture():
    a = ann(("bird", (600, 300, 30, 25)), ("bench", (360, 125, 200, 90)), ("cup", (50, 50, 40, 40)))
    # A side of an object is a relation to it; a side of something else is no claim.
    assert relations("The bird is on the left side of the bench.", a) == [
        ("relation", "contradicted")]
    assert relations("The cup is at the right end of the row.", a) == []
    # "left" as an adjective, a verb, a direction; "on top" without "the".
    assert relations("The bird sits on the left bench.", a) == []
    assert relations("Someone left the cup on the table.", a) == []
    assert relations("The bird looks to the left.", a) == []
    assert relations("The cup has crema on top.", a) == []
    # A negation, or a verb not listed, between the object and the phrase: no claim.
    assert relations("The bird is not on the left.", a) == []
    assert relations("The bird watches something on the left.", a) == []


def test_verbs_and_one_place_may_stand_between_the_object_and_the_phrase():
    assert relations("The cows graze on the right side of the field.", FARM) == [
        ("relation", "contradicted")]
    a = ann(("cup", (173, 18, 235, 289)), ("spoon", (325, 66, 99, 259)), width=600, height=400)
    assert relations("The teaspoon rests on the saucer to the left of the cup.", a) == [
        ("relation", "contradicted")]
    assert relations("A teaspoon rests on the saucer to the right of the cup.", a) == [
        ("relation", "supported")]
    tv = ann(("tv", (30, 110, 200, 130)))
    assert relations("A flat screen TV stands on a low stand on the right side.", tv) == [
        ("relation", "contradicted")]
    # A place that names an object makes that object the subject.
    assert [c.subject for c in find_claims("A dog sleeps on the couch on the left.")] == [
        ("couch",)]


def test_groups_are_contradicted_only_when_every_box_is():
    assert why("The sheep are on the left side of the field.", FARM) == [
        "'sheep are on the left side of the field': every sheep box is in the right 40% of the "
        "image"]
    assert relations("The two cows lie to the right of the sheep.", FARM) == [
        ("relation", "contradicted")]
    # The phrase after the comma is the cows' too (a place before a comma keeps the subject).
    assert relations("The cows are on the left, to the left of the sheep.", FARM) == [
        ("relation", "supported"), ("relation", "supported")]
    # An ambiguous group: one car on each side of the bus.
    street = ann(("bus", (190, 140, 270, 230)), ("car", (20, 290, 150, 100)),
                 ("car", (480, 300, 140, 95)))
    assert relations("The cars are on the left side of the bus.", street) == [
        ("relation", "unknown")]
    assert relations("A car is passing on the left side of the bus.", street) == [
        ("relation", "unknown")]
    # A crowd box hides where the group is.
    assert relations("The sheep are on the left.", ann(("sheep", (500, 50, 50, 50)),
                                                      ("sheep", None))) == [("relation", "unknown")]


def test_both_and_all_make_one_box_on_the_other_side_enough():
    street = ann(("bus", (190, 140, 270, 230)), ("car", (20, 290, 150, 100)),
                 ("car", (480, 300, 140, 95)))
    assert why("Both cars are on the left side of the bus.", street) == [
        "'cars are on the left side of the bus': 1 of the 2 car boxes are right of the bus box "
        "(centres beyond 10% of the image width)"]
    airport = ann(("airplane", (20, 80, 300, 150)), ("airplane", (340, 90, 280, 140)),
                  ("truck", (250, 280, 140, 90)), width=640, height=427)
    assert relations("The truck is to the left of both planes.", airport) == [
        ("relation", "contradicted")]
    assert relations("The truck is to the left of the planes.", airport) == [
        ("relation", "unknown")]
    assert relations("The truck is below both planes.", airport) == [("relation", "supported")]


def test_a_role_word_with_several_boxes_is_contradicted_only_if_no_box_fits():
    # batter (255, 245), catcher (380, 310), umpire (475, 270): which one is the umpire?
    game = ann(("person", (200, 120, 110, 250)), ("person", (330, 250, 100, 120)),
               ("person", (420, 160, 110, 220)), ("sports ball", (80, 150, 12, 12)))
    assert relations("The umpire crouches on the left.", game) == [("relation", "unknown")]
    assert relations("The catcher is on the far right of the picture.", game) == [
        ("relation", "unknown")]
    assert relations("The umpire is to the left of the ball.", game) == [
        ("relation", "contradicted")]
    assert relations("The ball is on the right side of the picture.", game) == [
        ("relation", "contradicted")]


def test_pronoun_objects_resolve_to_the_one_earlier_object_of_their_number():
    kitchen = ann(("oven", (260, 260, 150, 200)), ("microwave", (270, 90, 130, 80)))
    assert relations("The oven is in the middle, with the microwave mounted above it.",
                    kitchen) == [("relation", "supported")]
    assert why("The oven and the microwave below it are new.", kitchen) == [
        "'microwave below it' ('it' read as the oven): the boxes' centres say the opposite "
        "(48% of the image height apart)"]
    dining = ann(("pizza", (200, 160, 240, 200)), ("fork", (120, 180, 20, 120)),
                 ("fork", (150, 300, 20, 110)), ("cup", (480, 120, 60, 70)),
                 ("cup", (540, 220, 60, 70)))
    assert relations("The cups stand by the pizza, and two forks lie on its right side.",
                    dining) == [("relation", "contradicted")]
    assert relations("The cups stand by the pizza, and two forks lie on its left side.",
                    dining) == [("relation", "supported")]
    park = ann(("bench", (80, 120, 200, 90)), ("bench", (360, 125, 200, 90)),
               ("bird", (100, 320, 30, 25)), ("bird", (450, 340, 30, 25)), height=427)
    assert relations("Two benches stand there, and pigeons walk on the ground above them.",
                    park) == [("relation", "contradicted")]


def test_unclear_pronouns_make_no_claim():
    a = ann(("oven", (260, 260, 150, 200)), ("microwave", (270, 90, 130, 80)),
            ("sink", (470, 250, 130, 60)))
    # Two candidates of the pronoun's number.
    assert relations("The oven and the sink have the microwave above it.", a) == []
    # A noun that is no object may be meant ("the window").
    assert relations("The oven stands near the window, and the microwave hangs below it.",
                    a) == []
    # No earlier object at all: "it" is in another sentence.
    assert relations("The microwave is mounted above it.", a) == []
    # "them" needs a plural object.
    assert relations("The oven and the microwave above them.", a) == []


def test_a_position_after_the_object_of_a_relation_on_the_same_axis_is_no_claim():
    street = ann(("traffic light", (300, 20, 30, 80)), ("car", (10, 300, 150, 90)),
                 ("car", (340, 305, 150, 90)))
    # "near the top" may be the traffic light's: the cars are at the bottom.
    assert relations("A traffic light hangs above the parked cars near the top of the picture.",
                    street) == [("relation", "supported")]
    # Along the other axis the two share it: under the umbrella on the left.
    beach = ann(("person", (480, 300, 60, 100)), ("umbrella", (440, 200, 150, 110)))
    assert relations("A woman sits under a yellow umbrella on the left.", beach) == [
        ("relation", "supported"), ("relation", "contradicted")]


# -- sentences and verdict parsing ----------------------------------------------------------------

def test_split_sentences():
    text = "A man, Mr. Smith, stands here. He holds 3.5 kg! Is it?\nNext line"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "A man, Mr. Smith, stands here.", "He holds 3.5 kg!", "Is it?", "Next line"]
    assert split_sentences("   ") == []


@pytest.mark.parametrize("reply, verdict", [
    ("CONTRADICTED", "CONTRADICTED"),
    ("Verdict: **Supported** - the captions agree.", "SUPPORTED"),
    ("supported.", "SUPPORTED"),
    ("The sentence is not supported by the document.", "UNKNOWN"),
    ("It is not contradicted, it is supported.", "SUPPORTED"),
    ("SUPPORTED / CONTRADICTED / UNKNOWN\nUNKNOWN", "UNKNOWN"),
    ("SUPPORTED / CONTRADICTED / UNKNOWN", None),
    ("I cannot tell.", None),
])
def test_parse_verdict_reads_through_chatter(reply, verdict):
    assert parse_verdict(reply) == verdict


# -- the stage's modes --------------------------------------------------------------------------

BUS = ann(("bus", (0, 0, 300, 200)), ("person", (400, 100, 50, 200)), captions=BUS_CAPTIONS)
ANSWER = ("A large bus is parked on a city street. The red bus waits at the stop. "
          "A man stands on the pavement next to it, looking at the road ahead.")


def test_reject_mode_rejects_with_the_kind_of_the_first_unsupported_claim():
    stage = ClaimCheck("reject")
    s = sample([ANSWER], copy.deepcopy(BUS))
    kept, rejected = stage([s])
    assert kept == []
    assert [r.reason for r in rejected] == ["unsupported_claim:colour"]
    assert "red bus" in rejected[0].detail and rejected[0].sample is s
    assert stage.counters["unsupported_claim:colour"] == 1
    assert stage.counters["rejected"] == 1 and stage.counters["samples"] == 1


def test_drop_sentence_removes_the_sentence_and_records_it():
    stage = ClaimCheck("drop_sentence")
    kept, rejected = stage([sample([ANSWER], copy.deepcopy(BUS))])
    assert rejected == []
    value = kept[0].conversations[1]["value"]
    assert value == ("A large bus is parked on a city street. A man stands on the pavement "
                     "next to it, looking at the road ahead.")
    meta = kept[0].meta["claims"]
    assert meta["sentences"] == 3 and meta["unsupported"] == 1 and meta["dropped_sentences"] == 1
    assert meta["problems"][0]["sentence"] == "The red bus waits at the stop."
    assert meta["problems"][0]["kind"] == "colour" and meta["problems"][0]["turn"] == 1
    assert stage.counters["dropped_sentences"] == 1
    assert kept[0].conversations[0]["value"].startswith(IMAGE_TOKEN)


def test_drop_sentence_rejects_when_the_rest_does_not_stand():
    stage = ClaimCheck("drop_sentence")
    short = "The red bus is parked on the street by the big stop. It waits."
    kept, rejected = stage([sample([short], copy.deepcopy(BUS))])
    assert kept == [] and [r.reason for r in rejected] == ["unsupported_claim:colour"]
    assert "too little left" in rejected[0].detail


def test_flag_mode_keeps_the_text_and_lists_the_problems():
    stage = ClaimCheck("flag")
    s = sample([ANSWER, "She is waiting for the bus."], copy.deepcopy(BUS), kind="conversation")
    before = copy.deepcopy(s.conversations)
    kept, rejected = stage([s])
    assert rejected == [] and kept[0].conversations == before
    meta = kept[0].meta["claims"]
    assert meta["unsupported"] == 2 and meta["dropped_sentences"] == 0
    assert sorted(p["kind"] for p in meta["problems"]) == ["colour", "gender"]
    assert [p["turn"] for p in meta["problems"]] == [1, 3]
    assert stage.counters["flagged"] == 1


def test_a_supported_sample_is_kept_with_its_counts():
    stage = ClaimCheck("reject")
    text = "A white bus is parked on a city street. A man stands near it."
    kept, rejected = stage([sample([text], copy.deepcopy(BUS))])
    assert rejected == []
    assert kept[0].meta["claims"] == {"sentences": 2, "checked": 2, "unsupported": 0,
                                      "dropped_sentences": 0, "problems": []}
    assert stage.counters["supported"] == 2 and stage.counters["claims:colour"] == 1


def test_samples_without_annotations_and_annotation_qa_pass_unchanged():
    stage = ClaimCheck("reject")
    plain = sample(["The red bus is a woman."], None)
    qa = sample(["The red bus."], copy.deepcopy(BUS), kind="annotation_qa")
    kept, rejected = stage([plain, qa])
    assert kept == [plain, qa] and rejected == []
    assert "claims" not in plain.meta and "claims" not in qa.meta
    assert stage.counters["unchecked"] == 2 and stage.counters["samples"] == 0


def test_counters_reset_per_call_and_summary_reports_the_share_by_kind():
    stage = ClaimCheck("flag")
    stage([sample([ANSWER], copy.deepcopy(BUS))])
    stage([sample(["A white bus is parked here. She is waiting."], copy.deepcopy(BUS))])
    assert stage.counters["samples"] == 1 and stage.counters["unsupported_claim:colour"] == 0
    totals = {"samples": 4, "sentences": 10, "claims": 8, "unsupported_claim:colour": 1,
              "unsupported_claim:relation": 1, "unknown": 3, "rejected": 2}
    (line,) = ClaimCheck.summary_lines(totals)
    assert "4 samples, 10 sentences, 8 claims checked, 2 unsupported (25.0%" in line
    assert "colour 1, gender 0, number 0, relation 1, time 0, property 0, weather 0)" in line
    assert "llm" not in line
    assert "3 undecided; 2 samples rejected" in line
    assert ClaimCheck.summary_lines({}) == []
    before_after = {**totals, "samples_with_unsupported": 2, "rejected": 1, "flagged": 1}
    (line,) = ClaimCheck.summary_lines(before_after)
    assert line.endswith("1 samples rejected, 1 samples flagged; 50.0% of samples had an "
                         "unsupported claim before the check, 33.3% of the 3 kept after it")


def test_stage_for_and_the_option():
    assert stage_for(SimpleNamespace(config={"claim_check": "off"})) is None
    stage = stage_for(SimpleNamespace(config={"claim_check": "drop_sentence"}))
    assert isinstance(stage, ClaimCheck) and stage.mode == "drop_sentence"
    assert CLAIM_OPTIONS["claim_check"].default == "reject"
    assert CLAIM_OPTIONS["claim_check"].check("sometimes")
    assert CLAIM_OPTIONS["claim_check"].check("llm") is None
    assert STAGES.get("claims") is stage_for
    from mmsynth.sources.coco import CocoSource

    chain = CocoSource.chain
    assert chain.index("claims") == chain.index("grounding") + 1
    assert "claim_check" in CocoSource.options
    with pytest.raises(UsageError, match="claim_check"):
        ClaimCheck("sometimes")
    assert fingerprint_extra({"claim_check": "reject"}) == {}
    assert fingerprint_extra({"claim_check": "llm"}) == {
        "claim_judge": load_judge_prompt().fingerprint}


def test_a_bad_claim_check_value_is_a_usage_error(tmp_path):
    proc = cli("--source", "coco", "--claim_check", "sometimes", "--out", str(tmp_path / "o"),
               "--noprogress", check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "claim_check" in proc.stderr and "drop_sentence" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_malformed_word_lists_and_judge_prompt_are_usage_errors(tmp_path):
    bad = tmp_path / "claims.yaml"
    text = Path(load_claim_words().path).read_text()
    bad.write_text(text.replace('"no", route', "no, route"))
    with pytest.raises(UsageError, match=r"numbers\.not_after: False"):
        load_claim_words(str(bad))
    prompt = tmp_path / "judge.yaml"
    prompt.write_text(Path(load_judge_prompt().path).read_text().replace("{sentence}", "{text}"))
    with pytest.raises(UsageError, match=r"template: must contain \{sentence\}"):
        load_judge_prompt(prompt)


def test_the_relation_word_lists_are_checked(tmp_path):
    text = Path(load_claim_words().path).read_text()
    bad = tmp_path / "claims.yaml"
    bad.write_text(text.replace("    them: plural", "    them: many"))
    with pytest.raises(UsageError, match=r"relations\.pronouns\.them: must be singular or plural"):
        load_claim_words(str(bad))
    bad.write_text(text.replace("      upper: [y, -1]", "      upper: [z, -1]"))
    with pytest.raises(UsageError, match=r"relations\.positions\.sides\.upper: must be"):
        load_claim_words(str(bad))
    words = load_claim_words()
    assert "graze" in words.links and "on" in words.places and words.sides["lower"] == ("y", 1)


def test_the_gender_and_time_word_lists_are_checked(tmp_path):
    text = Path(load_claim_words().path).read_text()
    bad = tmp_path / "claims.yaml"
    bad.write_text(text.replace("  not_people: [she,", "  not_people: [dog, she,"))
    with pytest.raises(UsageError, match=r"gender\.not_people: not a gender word: 'dog'"):
        load_claim_words(str(bad))
    bad.write_text(text.replace("    - [dawn, morning]", "    - [dawn, brunch]"))
    with pytest.raises(UsageError, match=r"times\.similar\[0\]: not a part of the day name"):
        load_claim_words(str(bad))
    words = load_claim_words()
    assert words.times["dusk"] == "evening" and "would" in words.time_hedges
    assert words.time_similar["evening"] == {"afternoon", "evening", "night"}
    assert "under" in words.role_prepositions and "his" in words.not_people
    bad.write_text(text.replace("    achromatic: [black, white, gray, silver, light, dark]",
                                "    achromatic: [black, white, grey]"))
    with pytest.raises(UsageError, match=r"colours\.monochrome\.achromatic: not a colour name"):
        load_claim_words(str(bad))
    assert words.achromatic == {"black", "white", "gray", "silver", "light", "dark"} \
        and "paint" in words.owner_nouns


# -- the LLM judge ------------------------------------------------------------------------------

class StubBackend:
    """Answers CONTRADICTED (with chatter) for sentences containing 'wooden', fails those
    containing 'broken', and says SUPPORTED otherwise; records what it was sent."""

    def __init__(self):
        self.calls = []

    def generate(self, requests, params):
        self.calls.append((requests, params))
        out = []
        for messages in requests:
            sentence = messages[-1]["content"].split("Sentence: ")[1].split("\n")[0]
            if "broken" in sentence:
                out.append(Generation.failed("timeout: no reply"))
            elif "wooden" in sentence:
                out.append(Generation("Verdict: Contradicted. The captions say metal."))
            elif "mumble" in sentence:
                out.append(Generation("Hmm, hard to say."))
            else:
                out.append(Generation("SUPPORTED"))
        return out


def llm_stage(backend: StubBackend, seed: int = 5) -> ClaimCheck:
    source = SimpleNamespace(config={"claim_check": "llm", "seed": seed, "llm_max_new_tokens": 0,
                                     "llm_temperature": 0.6, "llm_top_p": 0.9},
                             backend=backend)
    stage = stage_for(source)
    assert stage.mode == "llm" and stage.work > 0
    return stage


def test_the_judge_never_takes_the_writers_repetition_control():
    backend = StubBackend()
    stage = llm_stage(backend)
    stage.source.config.update(llm_repetition_penalty=1.3, llm_no_repeat_ngram_size=4,
                               llm_frequency_penalty=0.5)
    stage([sample(["A white bus is parked."], copy.deepcopy(BUS), index=1)])
    [(_, params)] = backend.calls
    assert params and not any(p.controls_repetition for p in params)


def test_llm_mode_judges_every_sentence_through_the_backend():
    backend = StubBackend()
    stage = llm_stage(backend)
    good = sample(["A white bus is parked. A man stands near it."], copy.deepcopy(BUS), index=1)
    bad = sample(["A bus is parked. The wooden bus shelter is empty."], copy.deepcopy(BUS),
                 index=2)
    kept, rejected = stage([good, bad])
    assert len(backend.calls) == 1  # one batch for the shard
    requests, params = backend.calls[0]
    assert len(requests) == 4
    user = requests[0][-1]["content"]
    assert "A white bus parked on a city street." in user and "bus: [0.000, 0.000" in user
    assert user.endswith("Sentence: A white bus is parked.\nVerdict:")
    assert requests[0][0]["role"] == "system" and requests[0][2]["content"] == "CONTRADICTED"
    assert all(p.temperature == 0 and p.max_new_tokens == 8 for p in params)
    seeds = [p.seed for p in params]
    assert len(set(seeds)) == 4
    assert [r.reason for r in rejected] == ["unsupported_claim:llm"]
    assert "The captions say metal" in rejected[0].detail
    assert kept == [good]
    assert kept[0].meta["claims"]["checked"] == 4  # two rule claims + two judged sentences
    assert kept[0].meta["claims"]["judge"]["prompt_version"] == "claim-judge-1"
    assert stage.counters["judge_requests"] == 4 and stage.counters["claims:llm"] == 4
    # The same seed and samples give the same requests (so the response cache answers them).
    again = StubBackend()
    llm_stage(again)([copy.deepcopy(good), copy.deepcopy(bad)])
    assert [p.seed for p in again.calls[0][1]] == seeds
    other = StubBackend()
    llm_stage(other, seed=6)([copy.deepcopy(good)])
    assert [p.seed for p in other.calls[0][1]] != seeds[:2]


def test_llm_mode_failed_and_unreadable_replies_are_counted_not_rejected():
    backend = StubBackend()
    stage = llm_stage(backend)
    s = sample(["A broken sign stands here. People mumble nearby."], copy.deepcopy(BUS))
    kept, rejected = stage([s])
    assert rejected == [] and kept == [s]
    assert stage.counters["judge_error:timeout"] == 1
    assert stage.counters["judge_unparsed"] == 1


def test_llm_mode_also_applies_the_rules():
    stage = llm_stage(StubBackend())
    _, rejected = stage([sample(["The red bus waits."], copy.deepcopy(BUS))])
    assert [r.reason for r in rejected] == ["unsupported_claim:colour"]


def test_a_rejection_is_a_rejection_object():
    _, rejected = ClaimCheck()([sample(["The red bus waits."], copy.deepcopy(BUS))])
    assert isinstance(rejected[0], Rejection) and rejected[0].index == 3


def test_llm_mode_end_to_end_through_a_server_and_the_cache(tmp_path):
    from tests.llm.fault_server import CANNED, FaultServer

    out = tmp_path / "out"
    # No retries: the canned writer's reply is the same for every seed.
    args = ("--source", "coco", "--types", "detail", "--progress", "false", "--num_samples",
            "2", "--llm_backend", "openai", "--llm_retries", "0", "--llm_model", "canned-model",
            "--grounding", "off", "--claim_check", "llm", "--clip_mode", "off", "--out", str(out))
    # One reply for the writer and the judge: a paragraph that opens with a verdict.
    with FaultServer(reply=f"Contradicted. {CANNED}") as server:
        first = cli(*args, "--llm_base_url", server.url)
        sent = len(server.chat_requests)
        again = cli(*args, "--llm_base_url", server.url, "--overwrite")
        assert len(server.chat_requests) == sent  # the judge's requests came from the cache
    judged = [r for r in server.chat_requests
              if "You check one sentence" in r["body"]["messages"][0]["content"]]
    assert len(judged) == sent - 2 > 0
    assert all(r["body"]["max_tokens"] == 8 and r["body"]["temperature"] == 0 for r in judged)
    for proc in (first, again):
        # Two sentences per answer ("Contradicted." and the rest), every one contradicted.
        assert ("claims: 2 samples, 4 sentences, 4 claims checked, 4 unsupported (100.0%: "
                "colour 0, gender 0, number 0, relation 0, time 0, property 0, weather 0, "
                "llm 4), "
                "0 undecided; 2 samples rejected") in proc.stdout, proc.stdout
        assert "2  unsupported_claim:llm" in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["claims"]["unsupported_claim:llm"] == 4
    assert stats["stages"]["claims"]["judge_requests"] == len(judged)


# -- second round (stop 5): subject pronouns, coatings ----------------------------------------

def test_a_leading_it_or_they_stands_for_the_one_object_before_it():
    a = ann(("bus", (0, 0, 300, 200)), captions=BUS_CAPTIONS)
    doc = Document.from_annotations(a)

    def judged(sentence: str, *context: str) -> list[str]:
        return [doc.judge(c).verdict for c in find_claims(sentence, context=context)]

    assert judged("It is red.", "", "What color is the bus?") == ["contradicted"]
    assert judged("Yes, it is white.", "", "Is the bus white?") == ["supported"]
    # The answer's own earlier sentence comes first; "they" needs several.
    assert judged("It is red.", "A bus waits here.", "What is this?") == ["contradicted"]
    assert judged("They are red.", "", "What color is the bus?") == []
    # Two objects before it, or none: no subject, no claim.
    assert judged("It is red.", "", "Is the bus next to the car?") == []
    assert judged("It is red.") == []


def test_a_pronoun_subject_is_judged_in_the_stage_from_the_question():
    a = ann(("bus", (0, 0, 300, 200)), captions=BUS_CAPTIONS)
    s = sample(["It is red."], a, kind="conversation")
    s.conversations[0]["value"] = f"{IMAGE_TOKEN}\nWhat color is the bus?"
    kept, rejected = ClaimCheck()([s])
    assert not kept and rejected[0].reason == "unsupported_claim:colour"


def test_a_coatings_colour_is_its_objects_but_not_a_coverings():
    a = ann(("cake", (0, 0, 300, 200)), ("bed", (300, 0, 300, 200)),
            captions=("A white frosted cake on a stand.", "A bed with a brown frame."))
    assert verdicts("The cake is covered in dark brown chocolate frosting.", a)[0] == \
        ("colour", "contradicted")
    assert verdicts("The cake is frosted in white icing.", a)[0] == ("colour", "supported")
    assert [v for v in verdicts("The bed is covered with a white sheet.", a)
            if v[1] == "contradicted"] == []


def test_a_finish_word_before_the_colour_is_a_filler():
    a = ann(("oven", (0, 0, 300, 200)), captions=("A white oven in a kitchen.",))
    assert verdicts("The oven is a shiny black model.", a)[0] == ("colour", "contradicted")


# -- properties --------------------------------------------------------------------------------

def test_a_property_the_captions_give_the_object_otherwise_is_contradicted():
    a = ann(("clock", (400, 20, 80, 80)), ("laptop", (300, 200, 100, 60)),
            ("bench", (0, 300, 100, 50)),
            captions=("A large round clock over a platform.", "An open laptop on a bed.",
                      "A wooden bench."))
    assert verdicts("A small clock hangs over the platform.", a) == [
        ("property", "contradicted")]
    # Size and shape, both as the captions say.
    assert verdicts("A large round clock hangs there.", a) == [("property", "supported")] * 2
    assert verdicts("The laptop next to the clock is closed.", a)[-1] == \
        ("property", "contradicted")
    assert verdicts("The bench is metal.", a) == [("property", "contradicted")]
    # A property no caption gives the object is unknown.
    assert verdicts("The bench is empty.", a) == [("property", "unknown")]


def test_a_property_of_one_of_several_instances_is_judged_only_as_a_group():
    a = ann(("elephant", (0, 0, 300, 300)), ("elephant", (350, 100, 100, 100)),
            captions=("A large elephant walks with a small one.", "Two large elephants."))
    assert verdicts("The small elephant follows.", a) == [("property", "unknown")]
    assert verdicts("Two small elephants walk.", a)[-1] == ("property", "contradicted")


def test_a_hedged_or_negated_object_has_no_property_claim():
    a = ann(("boat", (0, 0, 100, 100)), captions=("A small boat.",))
    assert verdicts("A large boat would sink here.", a) == []
    assert verdicts("There is no large boat.", a) == []


def test_the_property_word_lists_are_checked(tmp_path):
    text = Path(load_claim_words().path).read_text()
    bad = tmp_path / "claims.yaml"
    bad.write_text(text.replace("    small: [small, little,", "    small: [large, small, little,"))
    with pytest.raises(UsageError, match=r"properties\.size\.small: 'large' is listed twice"):
        load_claim_words(str(bad))
    bad.write_text(text.replace("    tall: [tall]\n    short: [short]\n", "    tall: [tall]\n"))
    with pytest.raises(UsageError, match=r"properties\.height: must map two or more values"):
        load_claim_words(str(bad))
    assert load_claim_words().properties["wooden"] == ("material", "wooden")


def test_and_after_another_word_joins_nouns_not_colours():
    a = ann(("sheep", (0, 0, 100, 100)), captions=("White sheep in a green pasture.",))
    assert verdicts("Cows graze in a green pasture and four sheep stand by.", a)[0] == \
        ("colour", "supported")
    assert verdicts("A green and white sheep.", a)[0] == ("colour", "contradicted")
    # "launch and entry suit" is one noun: the colour is the suit's.
    suit = ann(("person", (0, 0, 100, 300)), captions=("A woman in a blue suit.",))
    assert ("colour", "contradicted") in verdicts("She wears an orange launch and entry suit.",
                                                  suit)


# -- stop 6: weather, appositives, participles, comparisons, groups, commas, clause pronouns ---

SUNNY = ann(("person", (100, 100, 80, 200)), ("surfboard", (200, 200, 150, 40)),
            captions=("Surfers on a sunny beach.", "A man carries a white surfboard."))


def test_a_weather_the_captions_never_name_is_contradicted_and_a_close_one_is_not():
    assert verdicts("It's a grey, overcast day over the water.", SUNNY) == [
        ("weather", "contradicted")]
    assert verdicts("On this sunny afternoon a man carries his board.", SUNNY)[-1] == \
        ("weather", "supported")
    assert verdicts("If it were raining, the beach would be empty.", SUNNY) == []
    rainy = ann(captions=("People walk through the rain on a rainy street.",))
    assert verdicts("It is an overcast day.", rainy) == [("weather", "supported")]
    assert verdicts("It is an overcast day.", ann(captions=("A man on a beach.",))) == [
        ("weather", "unknown")]


def test_an_appositive_colour_is_the_nouns_and_a_list_is_no_appositive():
    apples = ann(("apple", (0, 0, 50, 50)), captions=("Three red apples on a counter.",))
    assert ("colour", "contradicted") in verdicts(
        "Three apples, a shiny green variety, are piled up.", apples)
    assert verdicts("The apples, a red car and a bowl.", apples)[0] == ("colour", "unknown")


def test_a_predicate_colour_after_a_participle_phrase_and_after_showing():
    cars = ann(("car", (0, 0, 50, 50)), captions=("A red car waits at a railway crossing.",))
    assert verdicts("The car waiting at the barrier is blue.", cars)[0] == \
        ("colour", "contradicted")
    assert verdicts("The car parked by the curb is red.", cars)[0] == ("colour", "supported")
    light = ann(("traffic light", (0, 0, 20, 50)), captions=("A red traffic light at night.",))
    assert verdicts("The traffic light is showing green.", light) == [("colour", "contradicted")]


def test_no_colour_claim_after_a_comparison_phrase():
    suit = ann(("person", (0, 0, 50, 50)), captions=("A woman in an orange suit.",))
    assert verdicts("Unlike the white suits used for spacewalks, it is for launches.", suit) \
        == []
    assert verdicts("The white suit is for launches.", suit) == [("colour", "contradicted")]


def test_a_group_noun_stands_for_the_one_category_with_boxes_in_a_relation():
    farm = ann(("person", (500, 100, 60, 200)), ("sheep", (50, 300, 60, 40)),
               ("sheep", (150, 300, 60, 40)), ("dog", (300, 350, 40, 30)))
    assert verdicts("The man stands to the right of the flock.", farm)[-1] == \
        ("relation", "supported")
    assert verdicts("The man stands to the left of the flock.", farm)[-1] == \
        ("relation", "contradicted")
    # "A flock of sheep" names the sheep; both birds and sheep boxed: no claim from the group.
    both = ann(("person", (500, 100, 60, 200)), ("sheep", (50, 300, 60, 40)),
               ("bird", (50, 20, 20, 20)))
    assert [v for v in verdicts("The man stands to the left of the flock.", both)
            if v[0] == "relation"] == [("relation", "unknown")]


def test_commas_that_set_off_links_keep_the_subject_and_a_bare_phrase_after_one_does_not():
    desk = ann(("laptop", (300, 100, 200, 150)), ("potted plant", (20, 100, 60, 90)),
               ("cat", (100, 200, 100, 80)))
    assert verdicts("The potted plant, meanwhile, has been placed to the right of the laptop.",
                    desk) == [("relation", "contradicted")]
    # A phrase right after a comma has no subject to reach back to ("on its right" is the
    # laptop's place, not the cat's): no claim rather than the cat on the laptop's right.
    assert verdicts("A laptop is next to the cat, on its right.", desk) == []


def test_a_pronoun_after_a_colon_is_resolved_in_the_sentence_before_it():
    street = ann(("car", (400, 300, 150, 80)), ("fire hydrant", (100, 320, 30, 60)))
    assert verdicts("The car keeps its distance: it sits to the left of the hydrant.",
                    street) == [("relation", "contradicted")]


def test_right_hand_side_phrases_are_relations():
    room = ann(("remote", (50, 300, 30, 10)), ("couch", (100, 200, 400, 200)))
    assert verdicts("The remote is lying on the right-hand side of the couch.", room) == [
        ("relation", "contradicted")]
    assert verdicts("The remote is lying on the left-hand side of the couch.", room) == [
        ("relation", "supported")]


def test_comparisons_of_place_are_relations():
    station = ann(("clock", (450, 30, 70, 70)), ("bench", (430, 330, 170, 80)),
                  ("train", (0, 100, 330, 330)))
    assert relations("The bench sits lower in the frame than the clock.", station) == [
        ("relation", "supported")]
    assert relations("The clock hangs lower in the picture than the bench.", station) == [
        ("relation", "contradicted")]
    assert relations("The train is farther left than the bench.", station) == [
        ("relation", "supported")]
    assert relations("The bench stands closer to the left edge of the photo than the train.",
                     station) == [("relation", "contradicted")]
    # "Higher than" alone may say taller: no claim.
    assert relations("The train is higher than the bench.", station) == []


def test_expand_pattern_spells_out_optional_words_choices_and_slots():
    from mmsynth.filters.attributes import expand_pattern
    assert expand_pattern("(closer|nearer) to the top [edge] [of the <p>] than", {"p": ["frame"]}) \
        == ["closer to the top than", "closer to the top of the frame than",
            "closer to the top edge than", "closer to the top edge of the frame than",
            "nearer to the top than", "nearer to the top of the frame than",
            "nearer to the top edge than", "nearer to the top edge of the frame than"]


def test_a_sentence_opened_by_the_phrase_places_the_subject_after_its_verb():
    kitchen = ann(("microwave", (270, 90, 130, 80)), ("oven", (260, 260, 150, 200)))
    assert relations("Above the oven hangs the microwave.", kitchen) == [
        ("relation", "supported")]
    assert relations("Above the microwave sits the oven, built into the cabinets.", kitchen) == [
        ("relation", "contradicted")]
    street = ann(("truck", (250, 280, 140, 90)), ("airplane", (20, 80, 300, 150)),
                 ("airplane", (340, 90, 280, 140)))
    assert relations("Above both airplanes drives the fuel truck.", street) == [
        ("relation", "contradicted")]
    # No verb after the object: not an inversion ("above the oven, the cabinets ...").
    assert relations("Above the oven the microwave.", kitchen) == []


def test_a_phrase_set_off_by_commas_places_the_noun_before_it():
    room = ann(("tv", (30, 110, 200, 130)), ("couch", (300, 220, 320, 200)))
    assert relations("The tv, to the right of the couch, sits on a low stand.", room) == [
        ("relation", "contradicted")]
    assert relations("The tv, to the left of the couch, sits on a low stand.", room) == [
        ("relation", "supported")]


def test_a_group_phrase_before_the_object_is_a_filler():
    park = ann(("bench", (80, 120, 200, 90)), ("bird", (100, 320, 30, 25)),
               ("bird", (170, 330, 30, 25)))
    assert relations("The benches stand above the group of pigeons.", park) == [
        ("relation", "supported")]
    assert relations("The bench stands below the line of pigeons.", park) == [
        ("relation", "contradicted")]


def test_a_fronted_position_or_relation_places_the_subject_after_the_comma():
    street = ann(("bus", (300, 100, 200, 200)), ("car", (20, 300, 100, 60)))
    assert relations("On the left, a small car waits.", street) == [("relation", "supported")]
    assert relations("On the right, the car waits.", street) == [("relation", "contradicted")]
    assert relations("To the right of the bus, a car waits.", street) == [
        ("relation", "contradicted")]
    assert relations("On the left side of the frame sits the bus.", street) == [
        ("relation", "contradicted")]
    # Side words before a noun are its modifiers: no position.
    assert relations("On the left bench sits a car.", street) == []


def test_a_side_of_a_possessive_object_is_a_relation():
    street = ann(("bus", (300, 100, 200, 200)), ("car", (20, 300, 100, 60)))
    assert relations("The car is parked to the bus's left.", street) == [
        ("relation", "supported")]
    assert relations("The car sits on the bus's right side.", street) == [
        ("relation", "contradicted")]


def test_a_size_word_picks_the_smaller_or_larger_box():
    # An adult on the left, a calf (a quarter of its area) on the right.
    plain = ann(("elephant", (20, 80, 300, 280)), ("elephant", (430, 220, 130, 130)))
    assert relations("The baby elephant is on the left.", plain) == [("relation", "contradicted")]
    assert relations("The large elephant walks on the left side of the picture.", plain) == [
        ("relation", "supported")]
    assert relations("The smaller elephant stands to the left of the bigger elephant.",
                     plain) == [("relation", "contradicted")]
    # Without a size word either box may be meant: no contradiction.
    assert relations("The elephant is on the left.", plain) != [("relation", "contradicted")]
    # Boxes of about one size: the word picks none.
    twins = ann(("elephant", (100, 80, 200, 200)), ("elephant", (400, 80, 190, 190)))
    assert relations("The baby elephant is on the left.", twins) != [
        ("relation", "contradicted")]


def test_shape_is_a_property():
    wall = ann(("clock", (200, 100, 200, 200)), captions=("A round clock on a grey wall.",))
    assert [v for v in verdicts("A square clock hangs on the wall.", wall)
            if v[0] == "property"] == [("property", "contradicted")]
    assert [v for v in verdicts("A circular clock hangs on the wall.", wall)
            if v[0] == "property"] == [("property", "supported")]


def test_tones_light_and_dark_are_colours_without_a_hue():
    man = ann(("person", (200, 100, 100, 300)), captions=("A man in a dark overcoat.",))
    assert [v for v in verdicts("He wears a light-coloured overcoat.", man)
            if v[0] == "colour"] == [("colour", "contradicted")]
    assert [v for v in verdicts("He wears a black overcoat.", man)
            if v[0] == "colour"] == [("colour", "supported")]
    # "a light jacket" is about weight, "a dark blue coat" is blue.
    assert [c.value for c in find_claims("a man in a light jacket", kinds=("colour",))] == []
    assert [c.value for c in find_claims("a dark blue coat", kinds=("colour",))] == [
        frozenset({"blue"})]


def test_a_leading_he_or_she_is_a_person_in_a_relation():
    harbour = ann(("person", (300, 350, 60, 120)), ("boat", (250, 100, 200, 100)))
    assert relations("He's standing on the pier above the white boat.", harbour) == [
        ("relation", "contradicted")]
    assert relations("He is standing below the boat.", harbour) == [("relation", "supported")]


def test_a_place_before_a_comma_keeps_the_subject_of_the_phrase_after_it():
    beach = ann(("bird", (290, 40, 60, 30)), ("person", (100, 200, 70, 200)),
                ("person", (420, 210, 65, 190)))
    assert relations("The gull seems to be gliding low over the sand, below the two surfers.",
                     beach) == [("relation", "contradicted")]
    kitchen = ann(("refrigerator", (10, 40, 160, 420)), ("oven", (260, 260, 150, 200)))
    assert relations("The refrigerator is on the right side of the kitchen.", kitchen) == [
        ("relation", "contradicted")]
