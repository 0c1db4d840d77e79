"""Attribute claims in a sentence, and what an image's captions and boxes say about them.

A *claim* is something a sentence asserts that the annotations can confirm or contradict:

* ``colour``: a colour word attached to a noun — before it ("a red and white bus", "the red
  double decker bus") or as its predicate ("the bus is red"). The noun is a COCO object (found
  with :func:`mmsynth.filters.mentions.mentions`, so synonyms and kinds count: "puppy" is a
  dog), one of the listed part and clothing nouns ("green eyes", "a pink tail"), another noun
  ("a white rocket"), or the photo itself ("a colorful photo").
* ``gender``: a word for a woman or a man (nouns, pronouns, possessives), with how many
  ("two men") and where ("a man under the umbrella") when the sentence says so.
* ``number``: a number in front of a noun ("four towers", "three boats").
* ``relation``: "A is to the left of / above / under B" between two objects.
* ``time``: a part of the day the photo is taken at ("at midday", "at dusk").
* ``property``: a size, height, material, open/closed or empty/full said of an object.
* ``weather``: the weather the photo shows ("a grey, overcast day", "on a sunny afternoon").

:class:`Document` holds what the image's annotations say (colours per noun, genders and numbers
used by the captions, the boxes) and :meth:`Document.judge` gives each claim a verdict:
``supported``, ``contradicted`` or ``unknown``. The rules lean to ``unknown`` — a check that
rejects correct answers teaches the generator nothing and costs data:

* a colour is contradicted only when captions give the same noun a colour and never this one
  (nor a close one: "tan"/"brown"); a person's colour (clothing, skin) is not checked. The
  noun may be any word the captions give a colour to ("a white rocket"), and paint is its
  owner's ("its blue and silver paint": the one object "its" can stand for, looked for in the
  sentence, the answer's earlier sentences, then the question). In a photo the captions call
  black and white, any colour but black, white, gray and silver is contradicted, and so is
  "a colorful photo";
* a gender is contradicted only when captions use the other gender's words and never this
  one's; pronouns and "male"/"female" in a sentence that names an animal are not claims. Two
  sharper rules use captions that decide: a count of one gender ("the two men", "the two
  surfers are young women") is contradicted when a caption counts every person box by gender
  ("a man and a woman wait…" for two boxes) with fewer of them; a person put at an object
  ("a man is sitting under the umbrella") when the captions put only the other gender there
  and the object has one box;
* a number is contradicted when captions count the same noun and never with this number; a
  count of an object annotated without crowd boxes is the grounding check's, not this one's;
* a relation is judged on box centres, decided only beyond ``margin`` of the image size along
  the phrase's axis; it is "A <phrase> B" between two objects ("the cup is to the left of the
  plate"), with B a pronoun resolved in the sentence ("the microwave above it", "the forks
  lie on its right side"), or a position in the picture ("the sheep are on the left side of
  the field", "a clock hangs in the upper left": A's centres against the image's middle, so
  "on the left" is contradicted only in the right 40%; "in the middle" is no claim). The
  object it places is the nearest mention before the phrase, with only links, listed verbs
  ("graze", "crouches") and one place ("on the saucer") in between. A group ("the forks") or
  a word with several boxes ("the car", "the umpire") is contradicted only when every box is,
  a quantified one ("both cars") when one box is; a crowd box leaves it unknown;
* a time of day is contradicted when the captions name one and never it nor a close one
  ("midday" against "dusk"; "late afternoon" and "sunset" are close); a time word after a
  modal, a condition or a habit in its sentence ("the lights would be needed at night") is
  no claim; the weather likewise ("overcast" against "sunny"; "overcast" and "rainy" are
  close; "if it were raining" is no claim).

The word lists are data (``configs/grounding/claims.yaml``, read once by
:func:`load_claim_words`); the rules are here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.filters.mentions import Mention, mentions
from mmsynth.filters.vocabulary import (
    COCO_CATEGORIES,
    NUMBER_WORDS,
    SUPERCATEGORY_OF,
    load_rules,
    load_vocabulary,
    plural_forms,
)
from mmsynth.resources import config_path

CLAIMS_FILE = ("grounding", "claims.yaml")
KINDS = ("colour", "gender", "number", "relation", "time", "property", "weather")
VERDICTS = ("supported", "contradicted", "unknown")
DEFAULT_MARGIN = 0.10


# ---------------------------------------------------------------------------------------------
# The word lists.

@dataclass(frozen=True)
class ClaimWords:
    """The content of ``claims.yaml`` as lookups (see the file's comments for each part)."""

    colours: Mapping[str, str]                 # word → colour name
    similar: Mapping[str, frozenset[str]]      # colour name → the names that support it
    bare_tones: Mapping[str, str]              # "dark" → "dark": a tone before its noun
    suffixed_tones: Mapping[str, str]          # "light" → "light" before "-coloured"
    tone_suffixes: frozenset[str]
    joiners: frozenset[str]
    predicates: frozenset[str]
    predicate_fillers: frozenset[str]
    coatings: frozenset[str]
    coverings: frozenset[str]
    colour_unchecked: frozenset[str]
    colour_nouns: Mapping[str, str]            # noun form (plural too) → singular
    owner_nouns: frozenset[str]
    mono_scenes: frozenset[str]
    achromatic: frozenset[str]                 # colour names
    mono_words: frozenset[str]
    chromatic: frozenset[str]
    female: frozenset[str]
    male: frozenset[str]
    animal_ambiguous: frozenset[str]
    not_people: frozenset[str]                 # gender words that name no person of their own
    role_prepositions: frozenset[str]
    irregular_plurals: Mapping[str, str]
    not_counts: frozenset[str]
    number_not_after: frozenset[str]
    relations: Mapping[tuple[str, ...], tuple[str, int]]  # phrase tokens → (axis, sign)
    links: frozenset[str]                      # the links and the verbs
    fillers: frozenset[str]
    places: frozenset[str] = frozenset()
    every: frozenset[str] = frozenset()
    pronouns: Mapping[str, str] = field(default_factory=dict)  # word → singular | plural
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # "flock" → categories
    sizes: Mapping[str, int] = field(default_factory=dict)  # "baby" → -1 (small), "big" → 1
    position_prepositions: frozenset[str] = frozenset()
    sides: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    neutral_sides: frozenset[str] = frozenset()
    position_modifiers: frozenset[str] = frozenset()
    position_parts: frozenset[str] = frozenset()
    scenes: frozenset[str] = frozenset()
    heights: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # "low" → ("y", 1)
    pictures: frozenset[str] = frozenset()     # "frame", "picture", …
    times: Mapping[str, str] = field(default_factory=dict)  # word → part of the day
    time_similar: Mapping[str, frozenset[str]] = field(default_factory=dict)
    time_hedges: frozenset[str] = frozenset()
    weathers: Mapping[str, str] = field(default_factory=dict)  # word → the weather it names
    weather_similar: Mapping[str, frozenset[str]] = field(default_factory=dict)
    weather_hedges: frozenset[str] = frozenset()
    # word → (property, value): "wooden" → ("material", "wooden").
    properties: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    path: str = ""

    @property
    def longest_relation(self) -> int:
        return max(len(k) for k in self.relations)


@lru_cache(maxsize=4)
def load_claim_words(path: str | None = None) -> ClaimWords:
    """The word lists in ``path`` (default: the shipped file), read once; UsageError names the
    file and key of anything malformed."""
    from mmsynth.config import load_yaml

    path = path or str(config_path(*CLAIMS_FILE))
    return _Reader(path, load_yaml(path)).claim_words()


_PATTERN_PART = re.compile(r"\[([^\]]*)\]|\(([^)]*)\)|<([a-z]+)>|([^\s\[\](<]+)")


def expand_pattern(pattern: str, slots: Mapping[str, Sequence[str]]) -> list[str]:
    """Every phrase a word-list pattern stands for: ``[a|b]`` optional (none, a or b), ``(a|b)``
    one of them, ``<name>`` each word of ``slots[name]``, anything else itself; in order, each
    once. ``"(closer|nearer) to the left [edge] of the <picture>"`` → "closer to the left of the
    frame", "closer to the left edge of the frame", … Raises KeyError for an unknown slot."""
    phrases = [""]
    for optional, choice, slot, word in _PATTERN_PART.findall(pattern):
        if word:
            options = [word]
        elif slot:
            options = list(slots[slot])
        else:
            options = [phrase for o in (optional or choice).split("|")
                       for phrase in expand_pattern(o.strip(), slots)]
            if optional:
                options = ["", *options]
        phrases = [" ".join(filter(None, (p, o))) for p in phrases for o in options]
    return list(dict.fromkeys(phrases))


class _Reader:
    def __init__(self, path: str, data: Any):
        self.path = path
        self.data = data

    def bad(self, key: str, why: str) -> UsageError:
        return UsageError(f"claim word lists {self.path}: {key}: {why}")

    def section(self, data: Any, key: str, names: Sequence[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.bad(key or "(top)", f"must be a mapping, got {type(data).__name__}")
        for name in names:
            if name not in data:
                raise self.bad(f"{key}.{name}".lstrip("."), "missing")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise self.bad(f"{key}.{unknown[0]}".lstrip("."),
                           f"unknown; valid: {', '.join(names)}")
        return data

    def word(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value or value != " ".join(value.lower().split()):
            raise self.bad(key, f"{value!r} is not a word in lower case (YAML reads a bare "
                                f"no/on/off/yes as a boolean; quote it)")
        return value

    def word_set(self, value: Any, key: str) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            raise self.bad(key, "must be a non-empty list of words")
        return frozenset(self.word(w, key) for w in value)

    def mapping(self, value: Any, key: str) -> dict[str, str]:
        if not isinstance(value, dict) or not value:
            raise self.bad(key, "must be a non-empty mapping of word → word")
        return {self.word(k, key): self.word(v, f"{key}.{k}") for k, v in value.items()}

    def claim_words(self) -> ClaimWords:
        top = self.section(self.data, "", ("colours", "gender", "numbers", "relations",
                                           "times", "properties", "weather"))
        c = self.section(top["colours"], "colours", (
            "names", "tones", "similar", "joiners", "predicates", "predicate_fillers",
            "coatings", "coverings", "owner_nouns", "monochrome", "unchecked_categories",
            "nouns"))
        mono = self.section(c["monochrome"], "colours.monochrome",
                            ("scenes", "achromatic", "words", "chromatic"))
        colours = self.mapping(c["names"], "colours.names")
        tones = self.section(c["tones"], "colours.tones", ("bare", "suffixed", "suffixes"))
        bare_tones = self.mapping(tones["bare"], "colours.tones.bare")
        suffixed_tones = self.mapping(tones["suffixed"], "colours.tones.suffixed")
        similar = self.similar(c["similar"], set(colours.values()) | set(bare_tones.values())
                               | set(suffixed_tones.values()), "colours.similar", "colour")
        t = self.section(top["times"], "times", ("names", "similar", "hedges"))
        times = self.mapping(t["names"], "times.names")
        time_similar = self.similar(t["similar"], set(times.values()), "times.similar",
                                    "part of the day")
        w = self.section(top["weather"], "weather", ("names", "similar", "hedges"))
        weathers = self.mapping(w["names"], "weather.names")
        weather_similar = self.similar(w["similar"], set(weathers.values()), "weather.similar",
                                       "weather")
        unchecked = self.word_set(c["unchecked_categories"], "colours.unchecked_categories")
        nouns: dict[str, str] = {}
        for noun in self.word_set(c["nouns"], "colours.nouns"):
            nouns[noun] = noun
            for form in plural_forms(noun):
                nouns.setdefault(form, noun)
        g = self.section(top["gender"], "gender", ("female", "male", "animal_ambiguous",
                                                   "not_people", "role_prepositions"))
        female, male = self.word_set(g["female"], "gender.female"), self.word_set(g["male"],
                                                                              "gender.male")
        if female & male:
            raise self.bad("gender", f"{sorted(female & male)[0]!r} is both female and male")
        ambiguous = self.word_set(g["animal_ambiguous"], "gender.animal_ambiguous")
        if ambiguous - female - male:
            raise self.bad("gender.animal_ambiguous",
                           f"not a gender word: {sorted(ambiguous - female - male)[0]!r}")
        not_people = self.word_set(g["not_people"], "gender.not_people")
        if not_people - female - male:
            raise self.bad("gender.not_people",
                           f"not a gender word: {sorted(not_people - female - male)[0]!r}")
        n = self.section(top["numbers"], "numbers", ("irregular_plurals", "not_counts",
                                                     "not_after"))
        r = self.section(top["relations"], "relations", (
            "phrases", "comparatives", "links", "fillers", "verbs", "places", "every",
            "pronouns", "positions", "groups", "sizes"))
        sizes = self.mapping(r["sizes"], "relations.sizes")
        for word, size in sizes.items():
            if size not in ("small", "large"):
                raise self.bad(f"relations.sizes.{word}", f"must be small or large, got {size!r}")
        groups = {}
        if not isinstance(r["groups"], dict) or not r["groups"]:
            raise self.bad("relations.groups", "must be a mapping of word → categories")
        for word, cats in r["groups"].items():
            cats = self.word_set(cats, f"relations.groups.{word}")
            unknown = sorted(cats - set(COCO_CATEGORIES))
            if unknown:
                raise self.bad(f"relations.groups.{word}", f"not a COCO category: {unknown[0]!r}")
            groups[self.word(word, "relations.groups")] = tuple(sorted(cats))
        relations = {tuple(phrase.split()): spec
                     for phrase, spec in self.axes(r["phrases"], "relations.phrases").items()}
        relations.update(self.comparatives(r["comparatives"], "relations.comparatives"))
        pronouns = self.mapping(r["pronouns"], "relations.pronouns")
        for word, number in pronouns.items():
            if number not in ("singular", "plural"):
                raise self.bad(f"relations.pronouns.{word}",
                               f"must be singular or plural, got {number!r}")
        pos = self.section(r["positions"], "relations.positions", (
            "prepositions", "sides", "neutral", "modifiers", "parts", "scenes", "heights"))
        return ClaimWords(
            colours=colours, similar=similar, bare_tones=bare_tones,
            suffixed_tones=suffixed_tones,
            tone_suffixes=self.word_set(tones["suffixes"], "colours.tones.suffixes"),
            joiners=self.word_set(c["joiners"], "colours.joiners"),
            predicates=self.word_set(c["predicates"], "colours.predicates"),
            predicate_fillers=self.word_set(c["predicate_fillers"], "colours.predicate_fillers"),
            coatings=self.word_set(c["coatings"], "colours.coatings"),
            coverings=self.word_set(c["coverings"], "colours.coverings"),
            colour_unchecked=unchecked, colour_nouns=nouns,
            owner_nouns=self.word_set(c["owner_nouns"], "colours.owner_nouns"),
            mono_scenes=self.word_set(mono["scenes"], "colours.monochrome.scenes"),
            achromatic=self.colour_names(mono["achromatic"],
                                         {**colours, **bare_tones, **suffixed_tones},
                                         "colours.monochrome.achromatic"),
            mono_words=self.word_set(mono["words"], "colours.monochrome.words"),
            chromatic=self.word_set(mono["chromatic"], "colours.monochrome.chromatic"),
            female=female, male=male,
            animal_ambiguous=ambiguous, not_people=not_people,
            role_prepositions=self.word_set(g["role_prepositions"], "gender.role_prepositions"),
            irregular_plurals=self.mapping(n["irregular_plurals"], "numbers.irregular_plurals"),
            not_counts=self.word_set(n["not_counts"], "numbers.not_counts"),
            number_not_after=self.word_set(n["not_after"], "numbers.not_after"),
            relations=relations,
            links=self.word_set(r["links"], "relations.links")
            | self.word_set(r["verbs"], "relations.verbs"),
            fillers=self.word_set(r["fillers"], "relations.fillers"),
            places=self.word_set(r["places"], "relations.places"),
            every=self.word_set(r["every"], "relations.every"), pronouns=pronouns,
            sizes={w: -1 if v == "small" else 1 for w, v in sizes.items()},
            groups=groups,
            position_prepositions=self.word_set(pos["prepositions"],
                                                "relations.positions.prepositions"),
            sides=self.axes(pos["sides"], "relations.positions.sides"),
            neutral_sides=self.word_set(pos["neutral"], "relations.positions.neutral"),
            position_modifiers=self.word_set(pos["modifiers"], "relations.positions.modifiers"),
            position_parts=self.word_set(pos["parts"], "relations.positions.parts"),
            scenes=self.word_set(pos["scenes"], "relations.positions.scenes"),
            heights=self.axes(pos["heights"], "relations.positions.heights"),
            pictures=self.word_set(r["comparatives"]["pictures"],
                                   "relations.comparatives.pictures"),
            times=times, time_similar=time_similar,
            time_hedges=self.word_set(t["hedges"], "times.hedges"),
            weathers=weathers, weather_similar=weather_similar,
            weather_hedges=self.word_set(w["hedges"], "weather.hedges"),
            properties=self.properties(top["properties"], "properties"), path=self.path)

    def properties(self, value: Any, key: str) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        if not isinstance(value, Mapping) or not value:
            raise self.bad(key, "must map each property to its values")
        for prop, values in value.items():
            if not isinstance(values, Mapping) or len(values) < 2:
                raise self.bad(f"{key}.{prop}", "must map two or more values to their words")
            for name, ws in values.items():
                for w in self.word_set(ws, f"{key}.{prop}.{name}"):
                    if w in out:
                        raise self.bad(f"{key}.{prop}.{name}", f"{w!r} is listed twice")
                    out[w] = (self.word(prop, key), self.word(name, f"{key}.{prop}"))
        return out

    def colour_names(self, value: Any, colours: Mapping[str, str], key: str) -> frozenset[str]:
        names = self.word_set(value, key)
        if names - set(colours.values()):
            raise self.bad(key, f"not a colour name: {sorted(names - set(colours.values()))[0]!r}")
        return names

    def similar(self, value: Any, names: set[str], key: str, what: str
                ) -> dict[str, frozenset[str]]:
        """Pairs of close names → each name with the names that support it (itself too)."""
        similar: dict[str, set[str]] = {n: {n} for n in names}
        if not isinstance(value, list):
            raise self.bad(key, f"must be a list of lists of {what} names")
        for k, group in enumerate(value):
            group = self.word_set(group, f"{key}[{k}]")
            if group - names:
                raise self.bad(f"{key}[{k}]", f"not a {what} name: {sorted(group - names)[0]!r}")
            for n in group:
                similar[n] |= group
        return {k: frozenset(v) for k, v in similar.items()}

    def comparatives(self, value: Any, key: str) -> dict[tuple[str, ...], tuple[str, int]]:
        """The comparative phrases, each pattern expanded (see claims.yaml) into token tuples."""
        c = self.section(value, key, ("pictures", "phrases"))
        pictures = sorted(self.word_set(c["pictures"], f"{key}.pictures"))
        if not isinstance(c["phrases"], dict) or not c["phrases"]:
            raise self.bad(f"{key}.phrases", "must be a non-empty mapping")
        out: dict[tuple[str, ...], tuple[str, int]] = {}
        for pattern, spec in c["phrases"].items():
            where = f"{key}.phrases.{pattern}"
            axis = self.axes({"phrase": spec}, where)["phrase"]
            for phrase in expand_pattern(str(pattern), {"picture": pictures}):
                self.word(phrase, where)
                out[tuple(phrase.split())] = axis
        return out

    def axes(self, value: Any, key: str) -> dict[str, tuple[str, int]]:
        """A mapping of words → ``[x|y, -1|1]`` as (axis, sign)."""
        if not isinstance(value, dict) or not value:
            raise self.bad(key, "must be a non-empty mapping")
        out = {}
        for phrase, spec in value.items():
            where = f"{key}.{phrase}"
            phrase = self.word(phrase, where)
            if (not isinstance(spec, list) or len(spec) != 2 or spec[0] not in ("x", "y")
                    or spec[1] not in (-1, 1)):
                raise self.bad(where, f"must be [x|y, -1|1], got {spec!r}")
            out[phrase] = (spec[0], spec[1])
        return out


# ---------------------------------------------------------------------------------------------
# Finding claims.

_TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|-|[.,;:!?()\[\]\"]")
_STOPWORDS = load_vocabulary().words["stopwords"]
_NEGATIONS = load_vocabulary().words["negations"]
# Number words that are no count a caption could state differently ("both sides", "a dozen").
_NOT_NUMBERS = frozenset({"one", "both", "dozen"})


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int

    @property
    def punct(self) -> bool:
        return not self.text[0].isalnum() and self.text != "-"


def tokens(text: str) -> list[Token]:
    """Lower-case word tokens with their character spans; a possessive 's is cut ("cat's" →
    "cat"), a hyphen is a token of its own ("yellow-green" → yellow, -, green)."""
    out = []
    for m in _TOKEN_RE.finditer(text):
        word = m.group().lower().replace("’", "'")
        if word.endswith("'s") and word not in ("it's", "he's", "she's", "that's", "there's"):
            word = word[:-2]
        out.append(Token(word, m.start(), m.end()))
    return out


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a sentence. ``subject`` are the keys it is about (the
    categories that would ground a mention, or ``noun:<word>`` for another noun; for a
    relation the two categories, or one for a position in the picture; ``("time",)`` for a
    time of day); ``value`` is a frozenset of colour names, ``"female"`` / ``"male"``, a
    count, a relation's ``(axis, sign)`` or a frozenset of parts of the day; ``words`` the
    words that make it."""

    kind: str
    subject: tuple[str, ...]
    value: Any
    words: str
    mentions: tuple[Mention, ...] = field(default=(), compare=False)
    # Relations: per mention, whether a quantifier makes it about every instance ("both cars").
    every: tuple[bool, ...] = ()
    # Relations: how a pronoun object was read ("'it' read as the oven"), for the verdict.
    note: str = field(default="", compare=False)
    # Relations: per mention, -1 / 1 when a size word picks its smallest / largest box ("the
    # baby elephant"), 0 otherwise.
    sizes: tuple[int, ...] = ()
    # Gender: at least this many people of the gender ("two men": 2; 0 when no count) and the
    # words that say so; the places the gender's people are put, as (role preposition,
    # category, words) ("a man is sitting under the umbrella").
    at_least: tuple[int, str] = (0, "")
    places: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class _Parsed:
    """A text's tokens and mentions, with each mention's first and last token."""

    text: str
    toks: list[Token]
    mentions: list[tuple[Mention, int, int]]

    @classmethod
    def of(cls, text: str) -> _Parsed:
        toks = tokens(text)
        found = []
        for m in mentions(text):
            inside = [k for k, t in enumerate(toks) if t.start < m.span[1] and t.end > m.span[0]]
            if inside:
                found.append((m, inside[0], inside[-1]))
        return cls(text, toks, found)

    @property
    def mention_tokens(self) -> set[int]:
        return {k for _, a, b in self.mentions for k in range(a, b + 1)}

    def words(self, a: int, b: int) -> str:
        return self.text[self.toks[a].start:self.toks[b].end]

    @property
    def names_animal(self) -> bool:
        return any(SUPERCATEGORY_OF.get(c) == "animal"
                   for m, _, _ in self.mentions if not m.negated for c in m.grounding)


def _colour_nouns(p: _Parsed, words: ClaimWords) -> list[tuple[tuple[str, ...], int, int]]:
    """The nouns colours can attach to: (subject keys, first token, last token)."""
    nouns = [(m.grounding, a, b) for m, a, b in p.mentions
             if not m.negated and not set(m.grounding) & words.colour_unchecked]
    taken = p.mention_tokens
    for k, t in enumerate(p.toks):
        if k not in taken and t.text in words.colour_nouns:
            nouns.append(((f"noun:{words.colour_nouns[t.text]}",), k, k))
    return sorted(nouns, key=lambda n: n[1])


def _colours_before(p: _Parsed, first: int, words: ClaimWords, stop: set[int]
                    ) -> tuple[frozenset[str], int]:
    """Colours right before token ``first`` ("a red and white", "a red double decker"): at
    most two other words between them and the noun. Returns the colours and the first token."""
    found: set[str] = set()
    others = 0
    start = first
    j = first - 1
    while j >= 0:
        t = p.toks[j]
        tone = _tone_at(p, j, words) if not found and j not in stop else None
        if t.text in words.colours and j not in stop:
            found.add(words.colours[t.text])
            start = j
        elif tone is not None:
            found.add(tone)  # "a dark overcoat", "a light-coloured jacket"
            start = j
        elif t.text in words.joiners:
            nxt = p.toks[j + 1].text
            if t.text == "and" and others and (nxt in _DETERMINERS or _number(nxt) is not None):
                # "a green pasture and four sheep": "and" opens another noun phrase; "an orange
                # launch and entry suit" is one noun.
                break
        elif (found or t.punct or j in stop or t.text in _STOPWORDS
              or t.text in words.colour_nouns):
            break
        else:
            others += 1
            if others > 2:
                break
        j -= 1
    return frozenset(found), start


def _tone_at(p: _Parsed, j: int, words: ClaimWords) -> str | None:
    """The tone token ``j`` names when no hue follows it (claims.yaml ``tones``): a bare tone
    ("dark") or a suffixed one before "-coloured"/"-toned" ("light-coloured"); else None."""
    word = p.toks[j].text
    nxt = [t.text for t in p.toks[j + 1:j + 3]]
    if word in words.suffixed_tones and len(nxt) == 2 and nxt[0] == "-" \
            and nxt[1] in words.tone_suffixes:
        return words.suffixed_tones[word]
    if word in words.bare_tones and nxt and nxt[0] not in words.colours \
            and nxt[0] not in words.joiners:
        return words.bare_tones[word]
    return None


def _colours_after(p: _Parsed, last: int, words: ClaimWords) -> tuple[frozenset[str], int]:
    """A predicate colour after token ``last`` ("the bus is red and white"), maybe after a
    participle phrase of up to five words ("the car waiting at the barrier is blue")."""
    k = _past_participle_phrase(p, last + 1, words)
    if k >= len(p.toks) or p.toks[k].text not in words.predicates:
        return frozenset(), last
    k += 1
    while k < len(p.toks) and p.toks[k].text in words.predicate_fillers:
        k += 1
    if k < len(p.toks) and p.toks[k].text in words.coatings:
        # "the cake is covered in dark brown frosting": the coating's colour is the cake's.
        k += 1
        if k < len(p.toks) and p.toks[k].text in ("in", "with"):
            k += 1
        while k < len(p.toks) and p.toks[k].text in words.predicate_fillers:
            k += 1
        coated = True
    else:
        coated = False
    found: set[str] = set()
    end = last
    while k < len(p.toks):
        t = p.toks[k].text
        if t in words.colours:
            found.add(words.colours[t])
            end = k
        elif t not in words.joiners:
            break
        k += 1
    if coated and k < len(p.toks) and p.toks[k].text in words.coverings:
        return frozenset(), last  # "the bed is covered with a white sheet": the sheet's colour
    return frozenset(found), end


def _appositive_colours(p: _Parsed, last: int, words: ClaimWords) -> tuple[frozenset[str], int]:
    """The colours of an appositive right after token ``last`` that renames the noun with a
    colour: ", a shiny green variety," / ", a bright red double-decker," — an indefinite
    article, fillers and colours, one noun, then a comma or the end."""
    toks = p.toks
    k = last + 1
    if k + 3 >= len(toks) or toks[k].text != "," or toks[k + 1].text not in ("a", "an"):
        return frozenset(), last
    k += 2
    found: set[str] = set()
    while k < len(toks) and (toks[k].text in words.colours or toks[k].text in words.joiners
                             or toks[k].text in words.predicate_fillers):
        if toks[k].text in words.colours:
            found.add(words.colours[toks[k].text])
        k += 1
    if not found or k >= len(toks) or toks[k].punct or k in p.mention_tokens:
        return frozenset(), last
    if k + 1 < len(toks) and not toks[k + 1].punct:
        return frozenset(), last
    return frozenset(found), k


def _past_participle_phrase(p: _Parsed, k: int, words: ClaimWords) -> int:
    """Where a predicate may start after a noun whose next token is ``k``: past a participle
    phrase of up to five words with no punctuation or object in it ("waiting at the barrier",
    "parked by the curb"), if one starts there and a predicate word ends it; else ``k``."""
    toks = p.toks
    if k >= len(toks) or not toks[k].text.endswith(("ing", "ed")) or len(toks[k].text) <= 4:
        return k
    for j in range(k + 1, min(k + 6, len(toks))):
        if toks[j].punct or j in p.mention_tokens:
            return k
        if toks[j].text in words.predicates:
            return j
    return k


def _open_word(p: _Parsed, k: int, words: ClaimWords, taken: set[int]) -> bool:
    """Whether token ``k`` may be an unlisted noun a colour is about: a word that is no
    stopword, colour, joiner, number, object mention or listed noun."""
    t = p.toks[k].text
    return not (k in taken or p.toks[k].punct or t == "-" or t in _STOPWORDS
                or t in words.owner_nouns
                or t in words.colours or t in words.joiners or t in words.colour_nouns
                or t in words.predicates or t in words.predicate_fillers or t.isdigit()
                or t in NUMBER_WORDS)


def _open_colour_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """Colours of nouns that are neither objects nor listed ("a white rocket", "the rocket is
    black"), keyed ``noun:<singular>``: any noun the captions give a colour to can be judged,
    and one they give none stays unknown. Stricter than for the listed nouns, since any word
    may be one: the colours right before the word (only joiners between) with no noun after
    it ("a white city bus" says nothing of a city), or a predicate colour after "<determiner>
    <word> is"; none after a negation ("no black rocket")."""
    taken = p.mention_tokens
    toks = p.toks
    claims = []
    for k in range(len(toks)):
        if not _open_word(p, k, words, taken):
            continue
        nxt = k + 1 < len(toks) and (k + 1 in taken or toks[k + 1].text in words.colour_nouns
                                     or toks[k + 1].text in words.colours)
        key = (f"noun:{_singular(toks[k].text, words) or toks[k].text}",)
        j = k - 1
        found: set[str] = set()
        while j >= 0 and (toks[j].text in words.colours or toks[j].text in words.joiners):
            if toks[j].text in words.colours:
                found.add(words.colours[toks[j].text])
            j -= 1
        negated = j >= 0 and toks[j].text in _NEGATIONS  # "no black rocket"
        if found and not nxt and not negated and not _compared(p, j + 1):
            start = next(i for i in range(j + 1, k) if toks[i].text in words.colours)
            claims.append(Claim("colour", key, frozenset(found), p.words(start, k)))
        if k > 0 and toks[k - 1].text in _DETERMINERS:
            after, end = _colours_after(p, k, words)
            if after:
                claims.append(Claim("colour", key, after, p.words(k, end)))
    return claims


def _singular_objects(p: _Parsed, words: ClaimWords, plural: bool, before: int
                      ) -> list[Mention] | None:
    """The claimed object mentions before token ``before`` of the pronoun's number, people
    left out; None when a listed noun (a wall, a sign: things with paint too) comes among
    them, so that a pronoun might be its."""
    found = [m for m, a, b in p.mentions if b < before and not m.negated and not m.hedge
             and m.category not in words.colour_unchecked
             and (m.plural or (m.count or 1) > 1) == plural]
    taken = p.mention_tokens
    if any(k not in taken and p.toks[k].text in words.colour_nouns
           for k in range(min(before, len(p.toks)))):
        return None
    return found


def _owner_colour_claims(p: _Parsed, words: ClaimWords,
                         context: Sequence[str]) -> list[Claim]:
    """Colours of an owner noun ("its blue and silver paint", "the train's red paint") as
    claims about its owner: the object right before the colours, or the one object of the
    pronoun's number that "its" / "their" stands for — in the sentence before it, else in
    ``context`` (the answer's earlier sentences, then the question), the first of those with
    any candidate deciding: one candidate there is the owner, several leave no claim."""
    taken = p.mention_tokens
    last = {b: m for m, a, b in p.mentions if not m.negated and not m.hedge}
    claims = []
    for k, t in enumerate(p.toks):
        if t.text not in words.owner_nouns or k in taken:
            continue
        j = k - 1
        found: set[str] = set()
        while j >= 0 and (p.toks[j].text in words.colours or p.toks[j].text in words.joiners):
            if p.toks[j].text in words.colours:
                found.add(words.colours[p.toks[j].text])
            j -= 1
        if not found or j < 0:
            continue
        owner = last.get(j)
        if owner is None and p.toks[j].text in ("its", "their"):
            plural = p.toks[j].text == "their"
            for candidates in (_singular_objects(p, words, plural, j),
                               *(_singular_objects(_Parsed.of(c), words, plural, len(c))
                                 for c in context)):
                if candidates is None:
                    break
                if candidates:
                    owner = candidates[0] if len(candidates) == 1 else None
                    break
        if owner is None or owner.category in words.colour_unchecked:
            continue
        claims.append(Claim("colour", owner.grounding, frozenset(found), p.words(j, k)))
    return claims


def monochrome(p: _Parsed, words: ClaimWords) -> bool:
    """Whether a caption calls the photo black and white: achromatic colours (at least two, or
    one of the monochrome words) right before a scene word ("a black and white photo", "a
    grayscale image"), or "in black and white"."""
    toks = p.toks
    for k, t in enumerate(toks):
        if t.text in words.mono_words and k + 1 < len(toks) \
                and toks[k + 1].text in words.mono_scenes:
            return True
        if t.text not in words.mono_scenes and t.text != "in":
            continue
        step = -1 if t.text != "in" else 1
        j = k + step
        found: set[str] = set()
        while 0 <= j < len(toks) and (toks[j].text in words.colours or toks[j].text == "and"):
            if toks[j].text in words.colours:
                found.add(words.colours[toks[j].text])
            j += step
        if len(found) >= 2 and found <= words.achromatic and (
                step < 0 or j >= len(toks) or toks[j].punct or toks[j].text in _STOPWORDS):
            return True
    return False


def photo_colour_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """"A colorful photo", "a color picture", "it is in color": the photo is in colour, a
    claim with subject ``("photo",)`` judged only against a black-and-white one; none after a
    negation."""
    claims = []
    toks = p.toks
    for k, t in enumerate(toks):
        if t.text not in words.chromatic:
            continue
        j = k - 1
        while j >= 0 and toks[j].text in _DETERMINERS:
            j -= 1
        if j >= 0 and (toks[j].text in _NEGATIONS or toks[j].text.endswith("n't")):
            continue  # "it is not a colorful photo"
        scene = k + 1 < len(toks) and toks[k + 1].text in words.mono_scenes
        inside = k > 0 and toks[k - 1].text == "in" and (
            k + 1 >= len(toks) or toks[k + 1].punct or toks[k + 1].text in _STOPWORDS)
        if scene or inside:
            end = k + 1 if scene else k
            claims.append(Claim("colour", ("photo",), frozenset({"chromatic"}),
                                p.words(k - (not scene), end)))
    return claims


# Phrases (the grounding rules' comparisons and examples) that make what follows a thing
# compared with or given as an example, not one in the photo: "unlike the white suits used for
# spacewalks" says nothing of the colour of a suit in the picture.
_COMPARED = tuple(load_rules().examples)


def _compared(p: _Parsed, k: int) -> bool:
    """Whether the noun phrase starting at token ``k`` follows a comparison or example phrase
    (at most two words between, no punctuation)."""
    for j in range(k - 1, max(k - 4, -1), -1):
        if p.toks[j].punct:
            return False
        if any(tuple(t.text for t in p.toks[j - len(phrase) + 1:j + 1]) == phrase
               for phrase in _COMPARED if j - len(phrase) + 1 >= 0):
            return True
    return False


def colour_claims(p: _Parsed, words: ClaimWords, context: Sequence[str] = ()) -> list[Claim]:
    """Colours before or after an object or a listed noun, then those of unlisted nouns
    (:func:`_open_colour_claims`) and of owner nouns (:func:`_owner_colour_claims`, with
    ``context`` the texts a pronoun may refer back to). None of a noun phrase after a comparison
    or example phrase (:func:`_compared`: "unlike the white suits")."""
    stop = p.mention_tokens
    claims = []
    for subject, a, b in _colour_nouns(p, words):
        before, start = _colours_before(p, a, words, stop)
        after, end = _colours_after(p, b, words)
        if before and _compared(p, start):
            continue
        if not after:
            after, end = _appositive_colours(p, b, words)
        if before:
            claims.append(Claim("colour", subject, before, p.words(start, b)))
        if after:
            claims.append(Claim("colour", subject, after, p.words(a, end)))
    return (claims + _open_colour_claims(p, words) + _owner_colour_claims(p, words, context)
            + photo_colour_claims(p, words))


def gender_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """One claim per gender the sentence uses (a negated word, "no woman", is none), with the
    largest count of that gender's people (:func:`gender_counts`) and the places they are put
    (:func:`_roles`)."""
    animal = p.names_animal
    found: dict[str, list[str]] = {}
    for k, t in enumerate(p.toks):
        gender = "female" if t.text in words.female else "male" if t.text in words.male else None
        if gender is None or (animal and t.text in words.animal_ambiguous):
            continue
        if k > 0 and (p.toks[k - 1].text in _NEGATIONS or p.toks[k - 1].text.endswith("n't")):
            continue
        found.setdefault(gender, []).append(t.text)
    counts: dict[str, tuple[int, str]] = {}
    for gender, n, said in gender_counts(p, words):
        counts[gender] = max(counts.get(gender, (0, "")), (n, said))
    places: dict[str, list[tuple[str, str, str]]] = {}
    for k, prep, category, genders, end in _roles(p, words, conjoined=False):
        for gender in genders:
            places.setdefault(gender, []).append((prep, category, p.words(k, end)))
    return [Claim("gender", ("people",), g, ", ".join(ws), at_least=counts.get(g, (0, "")),
                  places=tuple(places.get(g, ())))
            for g, ws in found.items()]


def _gender_of(word: str, words: ClaimWords) -> str | None:
    return "female" if word in words.female else "male" if word in words.male else None


def _person_nouns(p: _Parsed, words: ClaimWords) -> list[tuple[int, str, Mention | None]]:
    """The gender words of a sentence that name people ("woman", "two men", not "she" or "a
    female surfer"): (token, gender, its mention), negated ones left out."""
    at = {k: m for m, a, b in p.mentions for k in range(a, b + 1)}
    out = []
    for k, t in enumerate(p.toks):
        gender = _gender_of(t.text, words)
        if gender is None or t.text in words.not_people or (k in at and at[k].negated):
            continue
        out.append((k, gender, at.get(k)))
    return out


def _is_plural_noun(word: str, words: ClaimWords) -> bool:
    single = _singular(word, words)
    return single is not None and _gender_of(single, words) is not None


def gender_counts(p: _Parsed, words: ClaimWords) -> list[tuple[str, int, str]]:
    """Counted people of one gender: "two men", "both women", "the women", or a plural
    predicate of a counted subject ("the two surfers are young women"): (gender, n, words),
    at least ``n`` people of that gender (2 without a number). At most two adjectives may stand
    between the count and the noun ("two young men"); a hedged or bare plural ("young men and
    women often surf") is no count."""
    claims = []
    subjects = {b: m for m, a, b in p.mentions if not m.negated}
    for k, gender, m in _person_nouns(p, words):
        if (m is not None and m.hedge) or not _is_plural_noun(p.toks[k].text, words):
            continue
        j = k - 1
        while j >= 0 and k - j <= 2 and not p.toks[j].punct and p.toks[j].text not in _STOPWORDS \
                and _number(p.toks[j].text) is None and p.toks[j].text not in words.predicates:
            j -= 1
        if j < 0:
            continue
        before = p.toks[j].text
        n = _number(before)
        if n is None and before in ("both", "the", "these", "those"):
            n = 2
        if n is None and before in ("are", "were") and j - 1 in subjects:
            subject = subjects[j - 1]
            if subject.plural and not subject.hedge:
                n = subject.count or 2
        if n is not None and n >= 2:
            claims.append((gender, n, p.words(j, k)))
    return claims


def _conjoined_genders(p: _Parsed, k: int, words: ClaimWords) -> set[str]:
    """The genders of the people in the subject that ends at the person noun at ``k``: "a man
    and a woman sit on a bench" is both, "a young woman" one (determiners, numbers, "and", one
    adjective after a determiner, and other person nouns may stand in it)."""
    found = {_gender_of(p.toks[k].text, words)}
    j = k - 1
    while j >= 0:
        t = p.toks[j].text
        gender = _gender_of(t, words)
        if gender is not None and t not in words.not_people:
            found.add(gender)
        elif not (t in _DETERMINERS or t in ("and", ",") or _number(t) is not None
                  or (j > 0 and p.toks[j - 1].text in _DETERMINERS and not p.toks[j].punct
                      and t not in _STOPWORDS)):
            break
        j -= 1
    return {g for g in found if g}


def _roles(p: _Parsed, words: ClaimWords, conjoined: bool
           ) -> list[tuple[int, str, str, set[str], int]]:
    """Person nouns placed by a role preposition at an object: "a woman sits under a yellow
    umbrella" → (noun token, "under", "umbrella", genders, last token). Only links and verbs
    ("sits", "is sitting") between the noun and the preposition, only fillers ("a yellow")
    between it and the object. ``conjoined``: the genders of the whole subject ("a man and a
    woman sit …", for captions), else the noun's own."""
    at = {a: m for m, a, _ in p.mentions if not m.negated and not m.hedge}
    out = []
    for k, gender, m in _person_nouns(p, words):
        if m is not None and m.hedge:
            continue
        j = k + 1
        while j < len(p.toks) and p.toks[j].text in words.links:
            j += 1
        if j >= len(p.toks) or p.toks[j].text not in words.role_prepositions:
            continue
        prep = p.toks[j].text
        j += 1
        start = j
        while j < len(p.toks) and j - start < 3 and p.toks[j].text in words.fillers:
            j += 1
        obj = at.get(j)
        if obj is None or obj.category in words.colour_unchecked:
            continue
        genders = _conjoined_genders(p, k, words) if conjoined else {gender}
        out.append((k, prep, obj.category, genders, j))
    return out


def _census(p: _Parsed, words: ClaimWords) -> dict[str, int] | None:
    """How many people of each gender a caption counts, when it counts every person it
    names ("a woman sits … while two men walk …" → 1 woman, 2 men): every person noun after
    "a"/"an"/"one" or a number, and no other person mention ("surfers", "a child"). None
    otherwise ("the man", "her son", "women")."""
    nouns = _person_nouns(p, words)
    if not nouns:
        return None
    person_nouns = {k for k, _, _ in nouns}
    for m, a, b in p.mentions:
        if not m.negated and m.category == "person" and not set(range(a, b + 1)) & person_nouns:
            return None
    census = {"female": 0, "male": 0}
    for k, gender, m in nouns:
        if m is None or m.hedge:
            return None
        before = p.toks[k - 1].text if k > 0 else ""
        n = 1 if before in ("a", "an") else _number(before) if before != "both" else 2
        if before == "one":
            n = 1
        if n is None:
            return None
        census[gender] += n
    return census


def _singular(word: str, words: ClaimWords) -> str | None:
    """The singular of a plural-looking noun, or None if ``word`` does not look plural."""
    if word in words.irregular_plurals:
        return words.irregular_plurals[word]
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return None
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    return word[:-1]


def _number(word: str) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if value < 1000 else None
    return None if word in _NOT_NUMBERS else NUMBER_WORDS.get(word)


def number_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """Counts of objects (a mention's own count) and of other plural nouns ("four towers")."""
    claims = [Claim("number", m.grounding, m.count, m.word, (m,))
              for m, _, _ in p.mentions if m.count is not None and not m.negated]
    taken = p.mention_tokens
    toks = p.toks
    for j, t in enumerate(toks):
        value = _number(t.text)
        if value is None or value < 2:
            continue
        before = toks[j - 1].text if j > 0 else ""
        if before in words.number_not_after or before in _NEGATIONS or _number(before):
            continue
        for k in range(j + 1, min(j + 4, len(toks))):
            nxt = toks[k]
            if (nxt.punct or nxt.text == "-" or nxt.text in _STOPWORDS or k in taken
                    or nxt.text in words.not_counts or _number(nxt.text) is not None):
                break
            noun = _singular(nxt.text, words)
            if noun:
                claims.append(Claim("number", (f"noun:{noun}",), value, p.words(j, k)))
                break
    return claims


def _relation_at(toks: list[Token], k: int, words: ClaimWords
                 ) -> tuple[int, tuple[str, int]] | None:
    for n in range(min(words.longest_relation, len(toks) - k), 0, -1):
        spec = words.relations.get(tuple(t.text for t in toks[k:k + n]))
        if spec is not None:
            return n, spec
    return None


_DETERMINERS = frozenset({"the", "a", "an", "its", "their", "his", "her", "this", "that"})


def _position_at(p: _Parsed, k: int, words: ClaimWords
                 ) -> tuple[int, list[tuple[str, int]]] | None:
    """A position in the picture starting at token ``k``: "<preposition> the [modifier] <side
    words> [part] [of the <scene>]" ("on the far left", "in the upper left corner", "on the
    right side of the field"). Returns its length and its (axis, sign) pairs — none for a
    neutral one ("in the lower middle" says only "lower") — or None when there is none: no
    side word, two sides on one axis, "of" something that is not the picture's ("the right
    side of the bus" is a relation), or a noun right after ("on the left bench")."""
    toks = p.toks
    height = _height_at(toks, k, words)
    if height is not None:
        return height
    if (k + 2 >= len(toks) or toks[k].text not in words.position_prepositions
            or toks[k + 1].text != "the"):
        return None
    j = k + 2
    while j < len(toks) and toks[j].text in words.position_modifiers:
        j += 1
    specs: dict[str, int] = {}
    sides = 0
    while j < len(toks) and (toks[j].text in words.sides or toks[j].text in words.neutral_sides):
        sides += 1
        if toks[j].text in words.sides:
            axis, sign = words.sides[toks[j].text]
            if specs.get(axis, sign) != sign:
                return None
            specs[axis] = sign
        j += 1
    if not sides:
        return None
    while j < len(toks) and toks[j].text in words.position_parts:
        j += 1
    of_scene = False
    if j < len(toks) and toks[j].text == "of":
        if (j + 2 < len(toks) and toks[j + 1].text == "the"
                and toks[j + 2].text in words.scenes):
            j += 3
            of_scene = True
        else:
            return None
    # A noun right after makes the side words its modifiers ("on the left bench"); a verb
    # after a whole position opens an inversion ("on the right of the picture stands a bus").
    if j < len(toks) and not toks[j].punct and toks[j].text not in _STOPWORDS \
            and not (of_scene and toks[j].text in words.links):
        return None
    return j - k, sorted(specs.items())


_HEIGHT_FILLERS = frozenset({"up", "down"})


def _height_at(toks: list[Token], k: int, words: ClaimWords
               ) -> tuple[int, list[tuple[str, int]]] | None:
    """A height in the picture starting at token ``k``: "low in the frame", "high up in the
    picture" (the positions' ``heights`` before "in the" and one of the comparatives'
    ``pictures``). "High in the sky" is no position in the picture."""
    if k >= len(toks) or toks[k].text not in words.heights:
        return None
    j = k + 1
    if j < len(toks) and toks[j].text in _HEIGHT_FILLERS:
        j += 1
    if [t.text for t in toks[j:j + 2]] != ["in", "the"] or j + 2 >= len(toks) \
            or toks[j + 2].text not in words.pictures:
        return None
    return j + 3 - k, [words.heights[toks[k].text]]


def _owner_side_at(toks: list[Token], k: int, words: ClaimWords
                   ) -> tuple[int, tuple[str, int], int] | None:
    """"on its right (side)", "to their left": a side of the object a possessive pronoun
    stands for. Returns the length, the (axis, sign) and the pronoun's token."""
    if (k + 2 >= len(toks) or toks[k].text not in ("on", "to")
            or toks[k + 1].text not in words.pronouns or toks[k + 2].text not in words.sides):
        return None
    j = _side_end(toks, k + 3, words)
    if j is None:
        return None
    return j - k, words.sides[toks[k + 2].text], k + 1


def _side_end(toks: list[Token], j: int, words: ClaimWords) -> int | None:
    """Where a side phrase ends that continues at ``j`` ("… left side", "… right-hand part"):
    past its position words, at punctuation, a stopword or the end; None when another word
    follows."""
    while j < len(toks) and toks[j].text in words.position_parts:
        j += 1
    if j < len(toks) and not toks[j].punct and toks[j].text not in _STOPWORDS:
        return None
    return j


def _possessive_side_at(p: _Parsed, k: int, words: ClaimWords,
                        first_at: Mapping[int, tuple[Mention, int, int]]
                        ) -> tuple[int, tuple[str, int], tuple[Mention, int, int]] | None:
    """"to the bus's left", "on the couch's right side": a side of the object named in the
    possessive. Returns the phrase's length, the (axis, sign) and that object's mention."""
    toks = p.toks
    if k + 3 >= len(toks) or toks[k].text not in ("on", "to") or toks[k + 1].text != "the":
        return None
    j = k + 2
    while j < len(toks) and j not in first_at and toks[j].text in words.fillers and j < k + 4:
        j += 1
    found = first_at.get(j)
    if found is None:
        return None
    last = found[2]
    raw = p.text[toks[last].start:toks[last].end].lower().replace("’", "'")
    if not raw.endswith(("'s", "s'")) or last + 1 >= len(toks) \
            or toks[last + 1].text not in words.sides:
        return None
    end = _side_end(toks, last + 2, words)
    if end is None:
        return None
    return end - k, words.sides[toks[last + 1].text], found


def _subject_before(p: _Parsed, k: int, words: ClaimWords, ms: list[tuple[Mention, int, int]]
                    ) -> tuple[Mention, int, int] | None:
    """The object a phrase starting at token ``k`` places: the nearest claimed mention before
    it, when only links and verbs ("is", "graze", "crouches"), at most one place ("on the
    saucer", "at the platform") and no punctuation, negation or other object stand between."""
    before = [(m, a, b) for m, a, b in ms if b < k]
    if not before:
        return None
    m, a, b = before[-1]
    gap = p.toks[b + 1:k]
    taken = p.mention_tokens
    if any(j in taken for j in range(b + 1, k)):
        return None
    # A comma may only set off links, and some must follow the last one ("the plant,
    # meanwhile, has been placed", "it hangs high up, well to the left of"; not "a laptop is
    # next to the cat, on its right", where the phrase after the comma is the laptop's), unless
    # links or a place come before it ("it is positioned low, underneath the car", "the gull
    # glides low over the sand, below the surfers"): any other punctuation ends the subject's
    # reach.
    if any(t.punct and t.text != "," for t in gap):
        return None
    if gap and gap[-1].text == "," and len(gap) == 1:
        return None  # "it is positioned low, underneath the car" keeps its subject
    gap = [t for t in gap if t.text != ","]
    j = 0
    while j < len(gap) and gap[j].text in words.links:
        j += 1
    if j < len(gap) and gap[j].text in words.places:
        place = 1
        while (j + place < len(gap) and place <= 3 and gap[j + place].text not in words.links
               and (gap[j + place].text in _DETERMINERS or gap[j + place].text not in _STOPWORDS)):
            place += 1
        if (j + place + 2 < len(gap) and gap[j + place].text == "of"
                and gap[j + place + 1].text in _DETERMINERS
                and gap[j + place + 2].text not in _STOPWORDS):
            place += 3  # "at the far end of the pasture"
        j += place
    while j < len(gap) and gap[j].text in words.links:
        j += 1
    if j != len(gap) or sum(t.text in words.links for t in gap) > 5:
        return None
    return m, a, b


def _parenthetical_subject(p: _Parsed, k: int, other: tuple[Mention, int, int],
                           words: ClaimWords, ms: list[tuple[Mention, int, int]]
                           ) -> tuple[Mention, int, int] | None:
    """The subject of a spatial phrase set off by commas right after it: "the tv, to the right
    of the couch, sits on a low stand" places the tv. Only a claimed mention right before the
    first comma, with a comma right after the phrase's object."""
    toks = p.toks
    if k < 2 or toks[k - 1].text != "," or other[2] + 1 >= len(toks) \
            or toks[other[2] + 1].text != ",":
        return None
    before = [(m, a, b) for m, a, b in ms if b == k - 2]
    return before[0] if before else None


def _inverted_subject(p: _Parsed, k: int, other: tuple[Mention, int, int], words: ClaimWords,
                      first_at: Mapping[int, tuple[Mention, int, int]]
                      ) -> tuple[tuple[Mention, int, int] | None, int]:
    """The subject of a sentence opened by the spatial phrase, after its verb: "To the left of
    the truck sits the airplane", "Above the oven hangs the microwave" place the airplane and
    the microwave (see :func:`_fronted_subject`)."""
    return _fronted_subject(p, k, other[2] + 1, words, first_at)


def _fronted_subject(p: _Parsed, k: int, after: int, words: ClaimWords,
                     first_at: Mapping[int, tuple[Mention, int, int]]
                     ) -> tuple[tuple[Mention, int, int] | None, int]:
    """The subject a phrase at tokens ``k``..``after - 1`` places when it opens the sentence (or
    follows a comma): after a comma ("To the left of the bus, two cars wait"; "On the left, a
    red bus waits") or after one to three links or verbs ("Above the oven hangs the
    microwave"; "On the right side of the picture stands a giraffe"), past at most three
    modifiers ("the fuel truck"), a claimed mention. Returns it (or None) and its last token."""
    toks = p.toks
    if k > 0 and not toks[k - 1].punct:
        return None, k
    j = after
    verbs = 0
    if j < len(toks) and toks[j].text == ",":
        j += 1
    else:
        while j < len(toks) and toks[j].text in words.links and verbs < 3:
            j += 1
            verbs += 1
        if not verbs:
            return None, k
    fillers = 0
    while (j < len(toks) and j not in first_at and not toks[j].punct
           and toks[j].text not in words.links and fillers < 3):
        j += 1
        fillers += 1
    if j not in first_at:
        return None, k
    subject = first_at[j]
    return subject, subject[2]


def _looks_plural(word: str) -> bool:
    return len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is"))


def _referent(p: _Parsed, pronoun: int, subject: Mention, words: ClaimWords,
              ms: list[tuple[Mention, int, int]]) -> tuple[Mention, int, int] | None:
    """The object a pronoun at token ``pronoun`` ("it", "its", "them") stands for: the one
    claimed mention before it in the sentence, other than the subject, of the pronoun's number
    ("the oven and the microwave above it" → the oven). None when there are several, or when a
    noun that is no object and of that number comes between them ("the bench near the tree,
    and a bird above it": the tree may be meant)."""
    plural = words.pronouns[p.toks[pronoun].text] == "plural"
    found = [(m, a, b) for m, a, b in ms
             if b < pronoun and m is not subject and (m.plural or (m.count or 1) > 1) == plural]
    if len(found) != 1:
        return None
    m, a, b = found[0]
    taken = p.mention_tokens
    for j in range(b + 1, pronoun):
        t = p.toks[j]
        if (j in taken or t.punct or t.text in _STOPWORDS or t.text in words.links
                or t.text in words.fillers or t.text in words.sides
                or t.text in words.neutral_sides or t.text in words.position_parts
                or t.text in words.scenes or t.text in words.position_modifiers):
            continue
        if p.toks[j - 1].text in _DETERMINERS and _looks_plural(t.text) == plural:
            return None
    return m, a, b


def _every(p: _Parsed, first: int, words: ClaimWords) -> bool:
    """Whether a mention starting at token ``first`` is quantified over every instance ("both
    cars", "all the cups", "each of the planes"): one of the ``every`` words at most three
    tokens before it, with no punctuation in between."""
    for j in range(first - 1, max(first - 4, -1), -1):
        if p.toks[j].punct:
            return False
        if p.toks[j].text in words.every:
            return True
    return False


def relation_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """Spatial claims of a sentence, at each spatial phrase (:func:`_subject_before` finds the
    object it places):

    * "A <phrase> <fillers> B" between two objects ("the cup sits to the left of the plate");
    * the same with a pronoun for B ("the microwave above it", "the forks on its right side",
      :func:`_referent`);
    * "A <position>", where A is in the picture ("the sheep are on the left side of the
      field", "a clock hangs in the upper left"): one claim per axis, with only A's mention;
      none along the axis of a relation A is the object of (see below).

    A claim's ``every`` says, per mention, whether a quantifier makes it about every instance
    (:func:`_every`)."""
    claims = []
    ms = sorted([(m, a, b) for m, a, b in p.mentions if not m.negated and not m.hedge]
                + _group_mentions(p, words), key=lambda found: found[1])
    first_at = {a: (m, a, b) for m, a, b in ms}
    # The axis of the relation each object mention is the object of ("above the parked cars").
    object_axis: dict[int, str] = {}
    toks = p.toks
    k = 0
    while k < len(toks):
        found = _relation_at(toks, k, words)
        # "on the right side of the room" is a position, not a relation to an object.
        if found is not None and _position_at(p, k, words) is None:
            n, spec = found
            j = k + n
            while (j < len(toks) and j - (k + n) < 3
                   and (toks[j].text in words.fillers or toks[j].text in words.every
                        or toks[j].text in words.sizes)):
                j += 1
            subject = _subject_before(p, k, words, ms)
            other, note = None, ""
            if j < len(toks) and j in first_at:
                other = first_at[j]
            elif (j < len(toks) and j == k + n and toks[j].text in words.pronouns
                  and toks[j].text in ("it", "them") and subject is not None):
                other = _referent(p, j, subject[0], words, ms)
                note = f"{toks[j].text!r} read as the {other[0].word}" if other else ""
            end = other[2] if other is not None and not note else j
            if subject is None and other is not None and not note:
                subject = _parenthetical_subject(p, k, other, words, ms)
                if subject is None:
                    subject, end = _inverted_subject(p, k, other, words, first_at)
            if subject is not None and other is not None:
                start = k if subject[1] > k else None  # inverted: the phrase comes first
                claims.append(_relation_claim(p, subject, other, spec, end, words, note, start))
            if other is not None and not note:
                object_axis[other[1]] = spec[0]
            k += n
            continue
        side = _possessive_side_at(p, k, words, first_at)
        if side is not None:
            n, spec, other = side
            subject = _subject_before(p, k, words, ms)
            if subject is not None and subject is not other:
                claims.append(_relation_claim(p, subject, other, spec, k + n - 1, words, ""))
            k += n
            continue
        owner = _owner_side_at(toks, k, words)
        if owner is not None:
            n, spec, pronoun = owner
            subject = _subject_before(p, k, words, ms)
            other = subject and _referent(p, pronoun, subject[0], words, ms)
            if subject is not None and other is not None:
                note = f"{toks[pronoun].text!r} read as the {other[0].word}"
                claims.append(_relation_claim(p, subject, other, spec, k + n - 1, words, note))
            k += n
            continue
        position = _position_at(p, k, words)
        if position is not None:
            n, specs = position
            subject = _subject_before(p, k, words, ms)
            start, end = None, k + n - 1
            if subject is None:
                subject, last = _fronted_subject(p, k, k + n, words, first_at)
                start, end = k, last  # "On the left, a red bus waits"
            if subject is not None:
                m, a, _ = subject
                # "a traffic light hangs above the cars near the top of the picture": a
                # position along the axis of the relation its mention is the object of may be
                # the relation's subject's; along the other axis ("sits under the umbrella on
                # the left") the two share it.
                for spec in specs:
                    if object_axis.get(a) == spec[0]:
                        continue
                    claims.append(Claim("relation", (m.category,), spec,
                                        p.words(a if start is None else start, end), (m,),
                                        every=(_every(p, a, words),),
                                        sizes=(_size_of(p, a, words),)))
            k += n
            continue
        k += 1
    return claims


def _group_mentions(p: _Parsed, words: ClaimWords) -> list[tuple[Mention, int, int]]:
    """Group nouns after a definite determiner ("the flock", "the herd"; relations' ``groups``)
    as mentions of the animals they stand for, for relations only: a plural mention whose
    alternatives are the group's categories (the judge uses the one with boxes). Not before
    "of": "the flock of sheep" names the sheep."""
    found = []
    taken = p.mention_tokens
    for k, t in enumerate(p.toks):
        cats = words.groups.get(t.text)
        if (cats is None or k == 0 or k in taken or p.toks[k - 1].text not in _DEFINITE_WORDS
                or (k + 1 < len(p.toks) and p.toks[k + 1].text == "of")):
            continue
        found.append((Mention(category=cats[0], count=None, negated=False,
                              span=(t.start, t.end), word=p.text[t.start:t.end],
                              alternatives=cats, exact=False, plural=True, definite=True), k, k))
    return found


# Determiners before a group noun that refer to the group in the photo.
_DEFINITE_WORDS = frozenset({"the", "this", "that", "its", "their", "his", "her"})


def _relation_claim(p: _Parsed, subject: tuple[Mention, int, int],
                    other: tuple[Mention, int, int], spec: tuple[str, int], end: int,
                    words: ClaimWords, note: str, start: int | None = None) -> Claim:
    (ma, a, _), (mb, b, _) = subject, other
    return Claim("relation", (ma.category, mb.category), spec,
                 p.words(a if start is None else start, end), (ma, mb),
                 every=(_every(p, a, words), _every(p, b, words)), note=note,
                 sizes=(_size_of(p, a, words), _size_of(p, b, words)))


def _size_of(p: _Parsed, first: int, words: ClaimWords) -> int:
    """-1 / 1 when a size word ("the baby elephant", "the large white bus") stands up to two
    words before the mention starting at token ``first``, else 0."""
    for j in range(first - 1, max(first - 3, -1), -1):
        t = p.toks[j]
        if t.punct:
            return 0
        if t.text in words.sizes:
            return words.sizes[t.text]
    return 0


def time_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """The parts of the day a sentence says the photo is taken at ("at midday", "at dusk"):
    one claim per time word, none after a hedge in the sentence ("the lights would be needed
    at night", "before sunset", "not at night")."""
    claims = []
    for k, t in enumerate(p.toks):
        if t.text not in words.times:
            continue
        if any(p.toks[j].text in words.time_hedges or p.toks[j].text.endswith("n't")
               for j in range(k)):
            continue
        claims.append(Claim("time", ("time",), frozenset({words.times[t.text]}), t.text))
    return claims


def weather_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """The weather a sentence says the photo shows ("a grey, overcast day", "on a sunny
    afternoon"): one claim per weather word, none after a hedge in the sentence ("if it were
    raining", "unlike a sunny day", "not sunny")."""
    claims = []
    for k, t in enumerate(p.toks):
        if t.text not in words.weathers:
            continue
        if any(p.toks[j].text in words.weather_hedges or p.toks[j].text.endswith("n't")
               for j in range(k)):
            continue
        claims.append(Claim("weather", ("weather",), frozenset({words.weathers[t.text]}),
                            t.text))
    return claims


def find_claims(text: str, words: ClaimWords | None = None,
                kinds: Sequence[str] = KINDS, context: Sequence[str] = ()) -> list[Claim]:
    """The claims of ``kinds`` that ``text`` (one sentence) makes, in kind order. ``context``:
    the texts a possessive pronoun may refer back to, nearest first (the answer's earlier
    sentences, the question)."""
    words = words or load_claim_words()
    text = _resolve_clause_pronouns(resolve_subject_pronoun(text, context))
    p = _Parsed.of(text)
    person = _person_pronoun(text)
    placed = _Parsed.of(person) if person != text else p
    finders = {"colour": lambda p, words: colour_claims(p, words, context),
               "gender": gender_claims, "number": number_claims,
               "relation": lambda p, words: relation_claims(placed, words),
               "time": time_claims, "property": property_claims, "weather": weather_claims}
    return [c for kind in kinds for c in finders[kind](p, words)]


_PERSON_PRONOUN = re.compile(r"^(\s*)(he|she)(['’]s)?\b", re.IGNORECASE)


def _person_pronoun(text: str) -> str:
    """``text`` with a leading "he"/"she" read as "the man"/"the woman", for relations only, so
    that "He's standing on the pier above the white boat" places a person. (Gender is checked
    on the pronoun itself; a "he" for an animal would make a person here, so only relations,
    whose person mention then needs a person box, use it.)"""
    found = _PERSON_PRONOUN.match(text)
    if not found:
        return text
    noun = "the man" if found.group(2).lower() == "he" else "the woman"
    return f"{found.group(1)}{noun}{' is' if found.group(3) else ''}{text[found.end():]}"


def property_claims(p: _Parsed, words: ClaimWords) -> list[Claim]:
    """Properties said of objects (claims.yaml ``properties``): a property word before a
    claimed mention, with at most two other words between that are neither stop words nor
    punctuation ("a large round clock", "small fishing boats"), or after the mention as a
    predicate ("the laptop is closed", "the benches are mostly empty"), of the object before a
    place phrase ("the laptop next to the cat is closed": the laptop). ``value`` is
    ``(property, value)``."""
    claims = []
    taken = p.mention_tokens
    for n, (m, a, b) in enumerate(p.mentions):
        if m.negated or m.hedge:
            continue
        seen: set[str] = set()
        for k in range(a - 1, max(a - 4, -1), -1):
            t = p.toks[k]
            if t.punct or k in taken or t.text in _STOPWORDS:
                break
            found = words.properties.get(t.text)
            if found is not None and found[0] not in seen:
                seen.add(found[0])
                claims.append(Claim("property", (m.category,), found, p.words(k, b), (m,)))
        k = b + 1
        if k < len(p.toks) and p.toks[k].text in words.predicates:
            k += 1
            while k < len(p.toks) and p.toks[k].text in words.predicate_fillers:
                k += 1
            found = words.properties.get(p.toks[k].text) if k < len(p.toks) else None
            owner = _owner_of_place(p, n) if found is not None else None
            if found is not None and owner is not None and (k + 1 >= len(p.toks)
                                                            or k + 1 not in taken):
                om, oa, _ = owner
                if om is m and found[0] in seen:
                    continue
                claims.append(Claim("property", (om.category,), found, p.words(oa, k), (om,)))
    return claims


# Prepositions that make a mention a place, not the subject of what follows ("the laptop next to
# the cat is closed").
_PLACE_PREPOSITIONS = frozenset({"to", "on", "in", "at", "near", "beside", "behind", "under",
                                 "with", "of", "by", "over", "above", "below", "between"})


def _owner_of_place(p: _Parsed, n: int) -> tuple[Mention, int, int] | None:
    """The subject a predicate after the ``n``-th mention is about: that mention, or, when it is
    the object of a preposition ("next to the cat"), the claimed mention right before the
    prepositional phrase (no punctuation or other words between); None when there is none."""
    m, a, b = p.mentions[n]
    k = a - 1
    while k >= 0 and p.toks[k].text in _DETERMINERS:
        k -= 1
    if k < 0 or p.toks[k].text not in _PLACE_PREPOSITIONS:
        return m, a, b
    while k >= 0 and (p.toks[k].text in _PLACE_PREPOSITIONS or p.toks[k].text == "next"):
        k -= 1
    if n == 0 or k < 0:
        return None
    before = p.mentions[n - 1]
    if before[2] != k or before[0].negated or before[0].hedge:
        return None
    return before


# "It is white.", "Yes, they are to the left of the laptop.": a sentence whose subject is "it" or
# "they", after an optional "yes"/"no".
_SUBJECT_PRONOUN = re.compile(r"^(\s*(?:(?:yes|no)\s*,\s*)?)(it|they)\b", re.IGNORECASE)


# A clause after a colon or semicolon that opens with a subject pronoun: "the blue car seems to
# keep its distance: it sits to the left of the hydrant".
_CLAUSE_PRONOUN = re.compile(r"[:;]\s+(?=(?:it|they)\b)", re.IGNORECASE)


def _resolve_clause_pronouns(text: str) -> str:
    """``text`` with the subject pronoun of each clause after a colon or semicolon resolved
    against the sentence before it, as :func:`resolve_subject_pronoun` does for a sentence."""
    parts = []
    start = 0
    for found in _CLAUSE_PRONOUN.finditer(text):
        parts.append(text[start:found.end()])
        start = found.end()
    if not parts:
        return text
    rest = text[start:]
    out = parts[0]
    for k in range(1, len(parts) + 1):
        clause = parts[k] if k < len(parts) else rest
        out += resolve_subject_pronoun(clause, (out,))
    return out


def resolve_subject_pronoun(text: str, context: Sequence[str] = ()) -> str:
    """``text`` with a leading subject pronoun replaced by the object it stands for, so that its
    claims have a subject: "It is white." after "What color is the bus?" is "the bus is white".
    The object is the one claimed object (one category, of the pronoun's number: "it" one
    instance, "they" several) of the nearest text before it (``context``: the answer's earlier
    text, whose last sentence is used, then the question); ``text`` unchanged when there is no
    such single object ("What is between the cat and the laptop?" "It is ..." says nothing)."""
    found = _SUBJECT_PRONOUN.match(text)
    if not found:
        return text
    plural = found.group(2).lower() == "they"
    for before in context:
        if not before.strip():
            continue
        last = before.strip()
        sentences = re.split(r"(?<=[.!?;])\s+", last)
        candidates = [m for m in mentions(sentences[-1]) if not m.negated and not m.hedge
                      and (m.plural or (m.count or 1) > 1) == plural]
        if len({m.category for m in candidates}) != 1:
            return text
        m = candidates[-1]
        return f"{found.group(1)}the {m.word}{text[found.end():]}"
    return text


# ---------------------------------------------------------------------------------------------
# What the annotations say, and the verdicts.

# How much smaller (larger) than every other box the box a size word picks must be.
SIZE_RATIO = 1.5


def _sized(boxes: tuple[tuple[float, float, float, float], ...], size: int
           ) -> tuple[tuple[float, float, float, float], ...]:
    """The one box a size word picks (-1: the smallest, 1: the largest by area) when it is
    :data:`SIZE_RATIO` apart from every other; else all of ``boxes``."""
    if len(boxes) < 2:
        return boxes
    ranked = sorted(boxes, key=lambda b: b[2] * b[3], reverse=size > 0)
    pick, rest = ranked[0], ranked[1:]
    area = pick[2] * pick[3]
    apart = all((area >= SIZE_RATIO * b[2] * b[3]) if size > 0 else
                (SIZE_RATIO * area <= b[2] * b[3]) for b in rest)
    return (pick,) if apart else boxes


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict (one of :data:`VERDICTS`) and why, in words."""

    claim: Claim
    verdict: str
    why: str = ""


@dataclass(frozen=True)
class Document:
    """An image's evidence: the colours, genders and counts its captions use, the categories
    they mention, and its boxes (``[x, y, w, h]`` pixels by category, crowd ones apart)."""

    colours: Mapping[str, frozenset[str]]
    genders: frozenset[str]
    counts: Mapping[str, frozenset[int]]
    captioned: frozenset[str]
    boxes: Mapping[str, tuple[tuple[float, float, float, float], ...]]
    crowd: frozenset[str]
    width: float
    height: float
    margin: float = DEFAULT_MARGIN
    words: ClaimWords = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    # People per gender, from the captions that count every person box (see _census); empty
    # when none does.
    census: Mapping[str, int] = field(default_factory=dict)
    # (role preposition, category) → the genders captions place there ("a woman sits under a
    # yellow umbrella": ("under", "umbrella") → female).
    roles: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # The parts of the day the captions name ("at dusk", "a deep blue evening sky").
    times: frozenset[str] = frozenset()
    # Whether a caption calls the photo black and white and none gives a colour of its own.
    monochrome: bool = False
    # (category, property) → the values the captions give it ("wooden" for the benches).
    properties: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # The weather the captions name ("a sunny beach").
    weathers: frozenset[str] = frozenset()

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, Any] | None, *,
                         margin: float = DEFAULT_MARGIN,
                         words: ClaimWords | None = None) -> Document:
        annotations = annotations or {}
        words = words or load_claim_words()
        colours: dict[str, set[str]] = {}
        counts: dict[str, set[int]] = {}
        genders: set[str] = set()
        captioned: set[str] = set()
        censuses: list[dict[str, int]] = []
        roles: dict[tuple[str, str], set[str]] = {}
        times: set[str] = set()
        weathers: set[str] = set()
        properties: dict[tuple[str, str], set[str]] = {}
        mono = False
        for caption in annotations.get("captions") or ():
            p = _Parsed.of(caption)
            for claim in property_claims(p, words):
                properties.setdefault((claim.subject[0], claim.value[0]), set()).add(
                    claim.value[1])
            census = _census(p, words)
            if census is not None:
                censuses.append(census)
            for _, prep, category, found, _ in _roles(p, words, conjoined=True):
                roles.setdefault((prep, category), set()).update(found)
            captioned.update(c for m, _, _ in p.mentions if not m.negated for c in m.grounding)
            for claim in colour_claims(p, words):
                for key in claim.subject:
                    colours.setdefault(key, set()).update(claim.value)
            for claim in number_claims(p, words):
                for key in claim.subject:
                    counts.setdefault(key, set()).add(claim.value)
            genders.update(c.value for c in gender_claims(p, words))
            times.update(v for c in time_claims(p, words) for v in c.value)
            weathers.update(v for c in weather_claims(p, words) for v in c.value)
            mono = mono or monochrome(p, words)
        boxes: dict[str, list[tuple[float, float, float, float]]] = {}
        crowd = set()
        for obj in annotations.get("objects") or ():
            if obj.get("iscrowd"):
                crowd.add(obj["category"])
            else:
                boxes.setdefault(obj["category"], []).append(tuple(obj["bbox"]))
        # A census counts when it accounts for every person box (none of them a crowd): then
        # it says how many of the image's people are women and men.
        people = len(boxes.get("person", ())) if "person" not in crowd else -1
        whole = [c for c in censuses if sum(c.values()) == people]
        census = {g: max(c[g] for c in whole) for g in ("female", "male")} if whole else {}
        return cls({k: frozenset(v) for k, v in colours.items()}, frozenset(genders),
                   {k: frozenset(v) for k, v in counts.items()}, frozenset(captioned),
                   {k: tuple(v) for k, v in boxes.items()}, frozenset(crowd),
                   float(annotations.get("width") or 0), float(annotations.get("height") or 0),
                   margin, words, census, {k: frozenset(v) for k, v in roles.items()},
                   frozenset(times),
                   mono and all(cs <= words.achromatic for cs in colours.values()),
                   {k: frozenset(v) for k, v in properties.items()}, frozenset(weathers))

    def judge(self, claim: Claim) -> Verdict:
        return getattr(self, f"_judge_{claim.kind}")(claim)

    def _judge_property(self, claim: Claim) -> Verdict:
        """A property against the values the captions give the same object's property: for an
        object with several boxes only a plural claim (its instances may differ)."""
        (category,), (prop, value) = claim.subject, claim.value
        given = self.properties.get((category, prop), frozenset())
        if not given:
            return Verdict(claim, "unknown", f"no caption gives it a {prop}")
        m = claim.mentions[0] if claim.mentions else None
        several = len(self.boxes.get(category, ())) > 1
        if several and m is not None and not (m.plural or (m.count or 1) > 1):
            return Verdict(claim, "unknown", f"several {category} boxes: which one is meant")
        if value in given:
            return Verdict(claim, "supported")
        return Verdict(claim, "contradicted",
                       f"{claim.words!r}: captions call it {', '.join(sorted(given))}, never "
                       f"{value}")

    def _judge_colour(self, claim: Claim) -> Verdict:
        """A colour against the colours the captions give the same noun; in a black-and-white
        photo (:attr:`monochrome`) any colour but the achromatic ones is contradicted, and a
        colour photo is."""
        if self.monochrome and (claim.subject == ("photo",)
                                or claim.value - self.words.achromatic):
            return Verdict(claim, "contradicted",
                           f"{claim.words!r}: the captions say the photo is black and white")
        if claim.subject == ("photo",):
            return Verdict(claim, "unknown", "no caption says the photo is black and white")
        described = frozenset().union(*(self.colours.get(k, ()) for k in claim.subject))
        if not described:
            return Verdict(claim, "unknown", "no caption gives it a colour")
        missing = sorted(c for c in claim.value if not self.words.similar[c] & described)
        if missing:
            return Verdict(claim, "contradicted",
                           f"{claim.words!r}: captions call it {', '.join(sorted(described))}, "
                           f"never {', '.join(missing)}")
        return Verdict(claim, "supported")

    def _judge_gender(self, claim: Claim) -> Verdict:
        """A gender against the genders the captions use; a count of one gender ("two men")
        against the captions' census (:func:`_census`): contradicted when it claims more of
        them than the captions count among all the people; a role ("a man under the umbrella")
        against the genders the captions place there, decided only for an object with one box
        (one such place) and contradicted when they place only the other gender there."""
        for place in claim.places:
            verdict = self._judge_role(claim, *place)
            if verdict is not None:
                return verdict
        if claim.at_least[0]:
            verdict = self._judge_gender_count(claim)
            if verdict is not None:
                return verdict
        if claim.value in self.genders:
            return Verdict(claim, "supported")
        other = "male" if claim.value == "female" else "female"
        if other in self.genders:
            return Verdict(claim, "contradicted",
                           f"{claim.words!r} ({claim.value}): the captions' people are all "
                           f"{other}")
        return Verdict(claim, "unknown", "no caption gives a gender")

    def _judge_gender_count(self, claim: Claim) -> Verdict | None:
        """A contradiction when the claim counts more people of its gender than the census
        has; None otherwise (no census, or not more)."""
        n, said = claim.at_least
        if not self.census or n <= self.census[claim.value]:
            return None
        have = self.census[claim.value]
        total = sum(self.census.values())
        noun = {"female": ("woman", "women"), "male": ("man", "men")}[claim.value][have != 1]
        return Verdict(claim, "contradicted",
                       f"{said!r}: the captions count {have} {noun} among the {total} people")

    def _judge_role(self, claim: Claim, prep: str, category: str, said: str) -> Verdict | None:
        """A contradiction when the captions place only the other gender ``prep`` the one
        box of ``category``; None otherwise."""
        placed = self.roles.get((prep, category), frozenset())
        if (len(self.boxes.get(category, ())) != 1 or category in self.crowd or not placed
                or claim.value in placed):
            return None
        return Verdict(claim, "contradicted",
                       f"{said!r} ({claim.value}): the captions put only "
                       f"{' and '.join(sorted(placed))} people {prep} the {category}")

    def _judge_time(self, claim: Claim) -> Verdict:
        """A part of the day against those the captions name: contradicted when they name some
        and none of them is this one or close to it ("midday" against "dusk", "twilight")."""
        if not self.times:
            return Verdict(claim, "unknown", "no caption names the time of day")
        missing = sorted(t for t in claim.value if not self.words.time_similar[t] & self.times)
        if missing:
            return Verdict(claim, "contradicted",
                           f"{claim.words!r} ({', '.join(missing)}): the captions say "
                           f"{', '.join(sorted(self.times))}")
        return Verdict(claim, "supported")

    def _judge_weather(self, claim: Claim) -> Verdict:
        """A weather against the weather the captions name: contradicted when they name some
        and none is this one or close to it ("overcast" against "sunny")."""
        if not self.weathers:
            return Verdict(claim, "unknown", "no caption names the weather")
        missing = sorted(w for w in claim.value
                         if not self.words.weather_similar[w] & self.weathers)
        if missing:
            return Verdict(claim, "contradicted",
                           f"{claim.words!r} ({', '.join(missing)}): the captions say "
                           f"{', '.join(sorted(self.weathers))}")
        return Verdict(claim, "supported")

    def _judge_number(self, claim: Claim) -> Verdict:
        if claim.mentions and self._grounding_counts(claim.mentions[0]):
            return Verdict(claim, "unknown", "counted against the boxes by the grounding check")
        stated = frozenset().union(*(self.counts.get(k, ()) for k in claim.subject))
        if not stated:
            return Verdict(claim, "unknown", "no caption counts it")
        if claim.value in stated:
            return Verdict(claim, "supported")
        return Verdict(claim, "contradicted",
                       f"{claim.words!r}: captions say {', '.join(map(str, sorted(stated)))}")

    def _grounding_counts(self, m: Mention) -> bool:
        """Whether the grounding check counts ``m`` against the boxes (every category that
        grounds it is annotated, none with a crowd box)."""
        known = [c for c in m.grounding if c in self.boxes or c in self.crowd
                 or c in self.captioned]
        return bool(known) and all(c in self.boxes and c not in self.crowd for c in known)

    def single_box(self, m: Mention) -> tuple[str, tuple[float, float, float, float]] | None:
        """The one box ``m`` refers to: one of its categories annotated, with exactly one box
        and no crowd box; otherwise None."""
        present = [c for c in m.grounding if c in self.boxes or c in self.crowd]
        if len(present) != 1 or present[0] in self.crowd or len(self.boxes[present[0]]) != 1:
            return None
        return present[0], self.boxes[present[0]][0]

    def instance_boxes(self, m: Mention
                       ) -> tuple[str, tuple[tuple[float, float, float, float], ...]] | None:
        """Every box ``m`` may refer to: one of its categories annotated, with no crowd box
        (a crowd hides where its members are); otherwise None."""
        present = [c for c in m.grounding if c in self.boxes or c in self.crowd]
        if len(present) != 1 or present[0] in self.crowd:
            return None
        return present[0], self.boxes[present[0]]

    def _judge_relation(self, claim: Claim) -> Verdict:
        """A relation on box centres: the offset of each (A box, B box) pair along the axis, or
        of each A box from the image's middle for a position. A pair (a box) is clearly against
        the claim when its offset exceeds ``margin`` of the image size the wrong way. The claim
        is contradicted when every pair is — a group ("the forks"), or one word with several
        boxes ("the car", "the umpire"), may mean any of them — or, for a side quantified over
        every instance ("both cars"), when one of its boxes is against every box of the other
        side; supported when every pair agrees by more than the margin; unknown otherwise."""
        axis, sign = claim.value
        size = self.width if axis == "x" else self.height
        found = [self.instance_boxes(m) for m in claim.mentions]
        for i, picked in enumerate(claim.sizes):
            if picked and found[i] is not None:
                found[i] = (found[i][0], _sized(found[i][1], picked))
        if any(f is None for f in found) or (len(found) == 2 and found[0][0] == found[1][0]
                                             and (len(found[0][1]) != 1
                                                  or found[0][1] == found[1][1])):
            return Verdict(claim, "unknown", "not objects with boxes of their own (none, a "
                                             "crowd, or one category for both)")
        if size <= 0:
            return Verdict(claim, "unknown", "no image size")
        k = 0 if axis == "x" else 1

        def centres(boxes: Sequence[tuple[float, float, float, float]]) -> list[float]:
            return [(b[k] + b[k + 2] / 2) / size for b in boxes]

        a = centres(found[0][1])
        b = centres(found[1][1]) if len(found) == 2 else [0.5]
        every = (*claim.every, False, False)[:2]
        # offsets[i][j] > 0: A's box i is where the phrase says relative to B's box j.
        offsets = [[sign * (x - y) for y in b] for x in a]
        against = [[o < -self.margin for o in row] for row in offsets]
        if every[0] and every[1]:
            contradicted = any(any(row) for row in against)
        elif every[0]:
            contradicted = any(all(row) for row in against)
        elif every[1]:
            contradicted = any(all(col) for col in zip(*against, strict=True))
        else:
            contradicted = all(all(row) for row in against)
        if contradicted:
            return Verdict(claim, "contradicted", self._against_why(claim, found, offsets))
        if all(o > self.margin for row in offsets for o in row):
            return Verdict(claim, "supported")
        return Verdict(claim, "unknown", f"centres not all beyond {self.margin:.0%} of the image "
                                         f"size either way")

    def _against_why(self, claim: Claim, found: Sequence[tuple[str, Sequence[Any]]],
                     offsets: list[list[float]]) -> str:
        """The reason of a contradicted relation, in words: "'the sheep are on the left': every
        sheep box is in the right 40% of the image"."""
        axis, sign = claim.value
        what = f"{claim.words!r}" + (f" ({claim.note})" if claim.note else "")
        dimension = "width" if axis == "x" else "height"
        cat_a, n_a = found[0][0], len(found[0][1])
        quantifier = "the" if n_a == 1 else "every"
        if claim.every[:1] == (True,) and n_a > 1:
            n = sum(any(o < -self.margin for o in row) for row in offsets)
            quantifier = f"{n} of the {n_a}"
        if len(found) == 1:
            side = {("x", -1): "right", ("x", 1): "left", ("y", -1): "bottom",
                    ("y", 1): "top"}[(axis, sign)]
            noun = "boxes are" if quantifier[0].isdigit() else "box is"
            return (f"{what}: {quantifier} {cat_a} {noun} in the {side} "
                    f"{0.5 - self.margin:.0%} of the image")
        cat_b, n_b = found[1][0], len(found[1][1])
        if n_a == 1 and n_b == 1:
            return (f"{what}: the boxes' centres say the opposite ({abs(offsets[0][0]):.0%} of "
                    f"the image {dimension} apart)")
        direction = {("x", -1): "right", ("x", 1): "left", ("y", -1): "below",
                     ("y", 1): "above"}[(axis, sign)]
        of = " of" if axis == "x" else ""
        other = "the" if n_b == 1 else "every"
        if claim.every[1:] == (True,) and n_b > 1 and claim.every[:1] != (True,):
            other = "one"
        noun = "box is" if quantifier in ("the", "every") else "boxes are"
        return (f"{what}: {quantifier} {cat_a} {noun} {direction}{of} {other} {cat_b} box "
                f"(centres beyond {self.margin:.0%} of the image {dimension})")
