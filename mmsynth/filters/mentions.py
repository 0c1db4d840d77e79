"""Object mentions in a text, found with the grounding vocabulary (:mod:`.vocabulary`).

An answer's object *mentions* are found with a vocabulary of COCO's 80 categories, their
synonyms, kinds and plurals ("men" → person, "bike" → bicycle or motorcycle, "sofa" → couch),
matched longest-first so that "hot dog" is not a dog and "teddy bear" is not a bear. A mention
inside a negation ("there is no dog", "without an umbrella", "there aren't any cars") or a
figure of speech ("shaped like a bear", "a toy car", "a painting of a horse") is not a claim
that the object is there. A number in front of a mention ("three giraffes", "a pair of dogs",
"only one cat") is a count claim. A mention also records whether it is only a hypothetical or
generic reference (``hedge``: "there might be a dog", "other vehicles", "people often visit",
"many tourists visit the pagoda", "the people who live nearby", "a good spot to read a book";
see :func:`_hedge` for every rule), the categories that imply it as a role (``implied_by``:
"the driver" of a car, "a farmer" of cows), whether it is the photographer every photo implies
(``photo_role``: "the person holding the camera") and whether its count covers only a part of
the instances (``partial``: "two other cows", "two cows in the foreground"). What a mention
must match in the image, and which hedges an answer type may use, is
:mod:`mmsynth.filters.grounding`'s business.

The words are data (``configs/grounding/vocabulary.yaml``, and ``configs/grounding/rules.yaml``
for the claim rules); the rules that use them are here.

Ambiguous words, decided one by one (the reason is the error we would rather make):

* ``glass``/``glasses`` alone: not a mention (window glass, eyeglasses, the material). "wine
  glass" → wine glass; "a glass of water/milk/juice/beer/wine" → cup *or* wine glass, since COCO
  labels drinking glasses either way.
* ``orange``, ``apple``, ``remote``: only as a noun head — followed by punctuation, the end or a
  function word ("an orange on the plate", "holding the remote."). "an orange cat", "apple pie",
  "a remote village" are not mentions. Plurals ("oranges") always are.
* ``mouse`` → the computer mouse (COCO has no animal mouse; either sense is unannotated).
* ``keyboard`` → the computer keyboard, except "piano/musical/electronic keyboard".
* ``bat`` → baseball bat, except "at bat" / "to bat". ``tie`` → necktie, except as a verb ("to
  tie", "tie up", "tie his shoes"). ``sink`` → the basin, except as a verb ("to sink", "sink
  into"). ``train`` → the vehicle, except "to train"; "train station/tracks/platform" are places,
  not trains. ``bed`` → bed, except "a bed of lettuce", "flower/river/sea bed"; "truck bed" is a
  truck. ``bowl``: "toilet bowl" is a toilet, "Super Bowl" nothing. ``cup``: "World Cup" and
  "cup holder" are nothing.
* ``bike`` → bicycle or motorcycle (either grounds it). ``computer`` → laptop, tv (monitor) or
  keyboard; ``monitor``/``computer screen`` → tv or laptop; ``vehicle`` → car, truck, bus or
  motorcycle; ``van``/``jeep`` → car or truck; ``calf`` → cow, elephant or giraffe;
  ``toaster oven`` → toaster, oven or microwave.
* ``table`` → dining table (as COCO labels any table); ``desk``, ``counter``: not mentions (often
  unlabelled). ``plant`` alone: not a mention (trees, bushes); "potted plant", "houseplant",
  "flower pot" are. ``ball`` → sports ball ("ball cap", "ball game" excepted); the names of
  sports ("baseball", "football", "basketball") are not mentions. ``ski`` alone is a modifier
  ("ski slope"): only "skis" counts. ``bag`` alone: not a mention (plastic bags); "handbag",
  "purse", "backpack", "suitcase", "luggage" are. ``pitcher`` and ``couple``: not mentions (a
  jug; "a couple of" is a vague quantity). ``chicken``/``turkey``: not mentions (food or bird).
  ``baby``, ``adult``, ``mother``, ``father``, ``son``, ``daughter``, ``parent``: not mentions of
  a person (COCO's animals have babies and mothers too: "an elephant and her baby").
* Place and part words are not the object: "bus stop", "pizza box", "toilet paper", "dog bed",
  "phone booth", "oven mitt", "mouse pad", "tv stand", "cable car", "jet ski", "chair lift",
  "DVD player", "zebra crossing", "bike rack". An object word right before another object word
  modifies it and is not a mention: "baby elephant" (no person), "bus driver" (a person),
  "apple laptop".
* Counts: "one X" is a claim only as "only/just/exactly one", "a single", "there is one"; "two
  of the dogs", "at least three", "about five", "the number 5 bus" are not claims; skis and
  scissors (one box per pair) and mass nouns (broccoli, luggage, cattle, crowd) are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from mmsynth.filters.vocabulary import NUMBER_WORDS, Term, load_rules, load_vocabulary, vocabulary

_VOCABULARY = load_vocabulary()
_RULES = load_rules()
_WORDS = _VOCABULARY.words
_LONGEST = _VOCABULARY.longest_phrase
# Guards for words that are objects in one use and not in another (see the module docstring).
_NOT_AFTER = _VOCABULARY.not_after
_NOT_BEFORE = _VOCABULARY.not_before
_NOUN_HEAD_ONLY = _VOCABULARY.noun_head_only
_NOUN_FOLLOWERS = _WORDS["noun_followers"]
_COLOURS = _WORDS["colours"]
_NEGATIONS = _WORDS["negations"]
_CLAUSE_BREAKS = _WORDS["clause_breaks"]
_FIGURATIVE_BEFORE = _WORDS["figurative_before"]
_DEPICTIONS = _WORDS["depictions"]
_DETERMINERS = _WORDS["determiners"]
_COUNT_QUALIFIERS = _WORDS["count_qualifiers"]
_COUNT_BREAKS = _WORDS["count_breaks"]
_EXACT_ONE_BEFORE = _WORDS["exact_one_before"]
_HEDGES = _RULES.hedges
_CONDITIONALS = _HEDGES["conditionals"]
_HEDGE_MODALS = _HEDGES["modals"]
_SUBORDINATORS = _HEDGES["subordinators"]
_HEDGE_ADVERBS = _HEDGES["adverbs"]
_GENERIC_DETERMINERS = _HEDGES["generic_determiners"]
_PERCEPTION = _HEDGES["perception"]
_PERCEPTION_FILLERS = _HEDGES["perception_fillers"]
_SUBJECT_FILLERS = _HEDGES["subject_fillers"]
_SUBJECT_PREPOSITIONS = _HEDGES["subject_prepositions"]
_RELATIVE_STARTS = _HEDGES["relative_starts"]
_NOUN_MODAL_BEFORE = _HEDGES["noun_modal_before"]
_INFERENCES = _HEDGES["inferences"]
_HABITUAL_ADVERBS = _HEDGES["habitual_adverbs"]
_HABITUAL_VERBS = _HEDGES["habitual_verbs"]
_GENERIC_QUANTIFIERS = _HEDGES["generic_quantifiers"]
_KIND_PREDICATES = _HEDGES["kind_predicates"]
_PURPOSE_BEFORE = _HEDGES["purpose_before"]
_INTENDED_FOR_BEFORE = _HEDGES["intended_for_before"]
_OBJECT_PRONOUNS = _HEDGES["object_pronouns"]
_SCOPE_CONTINUERS = _HEDGES["scope_continuers"]
_CLAUSE_SUBJECTS = _HEDGES["clause_subjects"]
_SUBJECT_COMPARISONS = _HEDGES["subject_comparisons"]
_AGENTS = _HEDGES["agents"]
_AGENT_ASPECTS = _HEDGES["agent_aspects"]
_FRAME_PREPOSITIONS = _HEDGES["frame_prepositions"]
_SUBJECT_VERBS = _HEDGES["subject_verbs"]
_LIKE_VERBS = _HEDGES["like_verbs"]
_PERSON_HEADS = _HEDGES["person_heads"]
_GENERIC_OBJECT_PREPOSITIONS = _HEDGES["generic_object_prepositions"]
_KIND_VERBS = _HEDGES["kind_verbs"]
_COUNTERFACTUALS = tuple(tuple(c.split()) for c in _HEDGES["counterfactuals"])
_IMPERATIVES = _HEDGES["imperatives"]
_IMPERATIVE_OPENERS = _HEDGES["imperative_openers"]
_ADDRESSEE = _HEDGES["addressee"]
_KIND_EXAMPLES = _HEDGES["kind_examples"]
_KIND_FRAMES = tuple(tuple(f.split()) for f in _HEDGES["kind_frames"])
_COMPARISONS = _HEDGES["comparisons"]
_COMPARISON_FRAMES = tuple(sorted((tuple(c.split()) for c in _HEDGES["comparisons"]),
                                  key=len, reverse=True))
_INVERTED_CONDITIONALS = _HEDGES["inverted_conditionals"]
_ADVICE_FRAMES = _HEDGES["advice_frames"]
# Words that open the relative clause of a kind frame.
_FRAME_RELATIVES = frozenset({"where", "that", "which", "when", "whose", "who"})
# Possessives that refer back to a person subject ("families bring their dogs").
_PERSON_POSSESSIVES = frozenset({"their", "his", "her"})
# A copula or auxiliary before a hedging adverb: "its family is probably out".
_AUXILIARIES = frozenset({"is", "are", "was", "were", "has", "have", "had"})
# Hedges whose scope is a clause (a conditional, modal, adverb, inference, habit or purpose): an
# indefinite mention later in the same clause is in it too. A generic determiner or an example
# phrase hedges only its own noun phrase ("other dogs chase a cat" still names a cat).
_SCOPE_WORDS = (_CONDITIONALS | _HEDGE_MODALS | _HEDGE_ADVERBS | _INFERENCES | _HABITUAL_VERBS)
_EXAMPLES = frozenset(" ".join(p) for p in _RULES.examples)
# Determiners that make a noun phrase definite: what it names is presupposed to be there.
_DEFINITE = frozenset({"the", "this", "that", "these", "those", "his", "her", "their", "its",
                       "my", "our", "your"})
_SENTENCE_ENDS = frozenset({".", "!", "?", ";"})


@dataclass(frozen=True)
class Mention:
    """One object named in a text. ``count`` is a stated number ("three giraffes") or None;
    ``negated`` marks "there is no dog"-style mentions; ``span`` are character offsets of the
    matched words in the text; ``alternatives`` are the categories that would ground it."""

    category: str
    count: int | None
    negated: bool
    span: tuple[int, int]
    word: str = ""
    alternatives: tuple[str, ...] = ()
    exact: bool = True
    # The word(s) that make it a hypothetical or generic reference rather than a claim ("might",
    # "if", "other", "such as"), or "" (see :func:`_hedge`).
    hedge: str = ""
    # Categories whose presence implies it: a role ("driver" of a car), from the claim rules.
    implied_by: tuple[str, ...] = ()
    # The person who took the photo ("the photographer", "the person holding the camera"):
    # every photo implies one (see :func:`_photo_role`).
    photo_role: bool = False
    # The count covers a part of the instances ("two cows in the foreground"): at most, not equal.
    partial: bool = False
    # The count is of the instances in one part of the picture ("the two cows on the left"):
    # ``left``/``right``/``top``/``bottom``, or "" (see :func:`_region`).
    region: str = ""
    plural: bool = False
    # Its noun phrase is definite ("the dog", "his bike"): presupposed, so no hedge of the
    # context (such as a question's "what should you bring?") makes it hypothetical.
    definite: bool = False
    # Its sentence places it in the photo ("there is a dog", "a dog is sleeping on the couch",
    # "you can see a dog"; see :func:`_present`): no hypothetical question excuses it either.
    placed: bool = False
    # Its sentence points at it in the photo: "there is a dog", "you can see a dog", "a dog in
    # the background" (the cues of :func:`_present` before the mention or a picture place after
    # it; not what it does). An answer to a general question ("How much grass does a cow eat?")
    # may describe what such things do ("a horse grazing the same pasture") without showing one.
    shown: bool = False

    @property
    def grounding(self) -> tuple[str, ...]:
        return self.alternatives or (self.category,)

    @property
    def claim(self) -> bool:
        """Whether it says the object is there: not negated, not hedged."""
        return not self.negated and not self.hedge


_TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:['’\-][A-Za-z0-9]+)*|[.,;:!?()\[\]\"]")


@dataclass
class _Tok:
    text: str
    start: int
    end: int
    punct: bool


def _tokens(text: str) -> list[_Tok]:
    toks = []
    for m in _TOKEN_RE.finditer(text):
        raw = m.group().lower().replace("’", "'")
        punct = not raw[0].isalnum()
        if not punct and raw.endswith("'s") and raw not in ("it's", "there's", "that's",
                                                            "here's", "what's", "he's",
                                                            "she's", "let's"):
            raw = raw[:-2]  # possessive: "the dog's collar"
        toks.append(_Tok(raw, m.start(), m.end(), punct))
    return toks


def _is_negation(word: str) -> bool:
    return word in _NEGATIONS or word.endswith("n't")


def mentions(text: str) -> list[Mention]:
    """Every object mention in ``text``, in order, negated and hedged ones included
    (``negated=True``, ``hedge`` set); figurative and attributive uses ("like a bear", "a toy
    car", "a human presence") are left out."""
    toks = _tokens(text)
    vocab = vocabulary()
    longest = _LONGEST
    found: list[Mention] = []
    starts: dict[int, tuple[int, Mention]] = {}  # mention's last token index → (first, mention)
    hedged_by: list[str] = []  # per mention: where its hedge came from (see _hedge_of)
    sources: dict[int, str] = {}  # mention's last token index → where its hedge came from
    bounds: list[tuple[int, int]] = []  # per mention: its first and last token
    figures: set[int] = set()  # last tokens of object words used figuratively ("like a bear")
    i = 0
    while i < len(toks):
        if toks[i].punct:
            i += 1
            continue
        match = _match(toks, i, vocab, longest)
        if match is None:
            i += 1
            continue
        n, term = match
        if term.category is not None and _listed_after_figure(toks, i, figures):
            figures.add(i + n - 1)  # "animals like zebras and giraffes": the list's figure
            i += n
            continue
        if term.category is None or not _literal_use(toks, i, n):
            if term.category is not None:
                figures.add(i + n - 1)
            i += n
            continue
        following = _match(toks, i + n, vocab, longest)
        if following is not None and following[1].category is not None:
            i += n  # a modifier of the next object: "baby elephant", "bus driver"
            continue
        count = _stated_count(toks, i) if term.countable else None
        hedge, source = _hedge_of(text, toks, i, n, starts, sources, term)
        words = tuple(t.text for t in toks[i:i + n])
        mention = Mention(
            category=term.category,
            count=count,
            negated=_negated(toks, i, starts) or _counterfactual(toks, i)
            or _said_absent(toks, i + n),
            span=(toks[i].start, toks[i + n - 1].end),
            word=text[toks[i].start:toks[i + n - 1].end],
            alternatives=term.alternatives,
            exact=term.exact,
            hedge=hedge,
            implied_by=_RULES.roles.get(words, ()) or _aboard(toks, i + n, term),
            photo_role=term.category == "person" and _photo_role(toks, i, n),
            partial=count is not None and _partial(toks, i),
            region=_region(toks, i + n) if count is not None else "",
            plural=term.plural,
            definite=source in ("definite", "generic definite", "relational")
            or (source == "implied" and _reference(text, toks, i, term.plural) == "definite"),
            placed=_present(toks, i, i + n, counts=False),
            shown=_present(toks, i, i + n, counts=False, after=False),
        )
        found.append(mention)
        hedged_by.append(source)
        bounds.append((i, i + n - 1))
        starts[i + n - 1] = (i, mention)
        sources[i + n - 1] = source
        i += n
    return _coordinated_subjects(toks, found, hedged_by, bounds)


def _coordinated_subjects(toks: list[_Tok], found: list[Mention], hedged_by: list[str],
                          bounds: list[tuple[int, int]]) -> list[Mention]:
    """A subject's hedge covers the indefinite subjects listed before it: "pedestrians and
    cyclists should be careful" hedges both."""
    for k in range(len(found) - 2, -1, -1):
        a, b = found[k], found[k + 1]
        if hedged_by[k] == "indefinite" and hedged_by[k + 1] == "generic":
            # "Seagulls and other birds may also try": the generic last subject's modal.
            after = _hedge_after(toks, bounds[k + 1][1] + 1)
            if not after:
                continue  # "seagulls and other birds sit": "other" is the second's alone
            b = replace(b, hedge=after)
        elif hedged_by[k] != "indefinite" or hedged_by[k + 1] != "after":
            continue
        between = toks[bounds[k][1] + 1:bounds[k + 1][0]]
        if not b.hedge:
            continue
        if between and all(t.text in ("and", "or", ",") or t.text in _DETERMINERS
                           or t.text in _GENERIC_DETERMINERS for t in between) \
                and any(t.text in ("and", "or") for t in between):
            found[k] = replace(a, hedge=b.hedge)
            hedged_by[k] = "after"
        elif all(t.text == "," for t in between) and between:
            found[k] = replace(a, hedge=b.hedge)  # "pedestrians, cyclists and drivers"
            hedged_by[k] = "after"
    return found


def _match(toks: list[_Tok], i: int, vocab: Mapping[tuple[str, ...], Term],
           longest: int) -> tuple[int, Term] | None:
    """The longest vocabulary phrase starting at token ``i``: (its length, its term)."""
    for n in range(min(longest, len(toks) - i), 0, -1):
        window = toks[i:i + n]
        if any(t.punct for t in window):
            continue
        term = vocab.get(tuple(t.text for t in window))
        if term is not None:
            return n, term
    return None


def _listed_after_figure(toks: list[_Tok], i: int, figures: set[int]) -> bool:
    """Whether the object word at token ``i`` is listed ("and", "or", a comma, then determiners)
    right after one used figuratively: "like zebras and giraffes", "like a bear or a lion"."""
    j = i - 1
    while j >= 0 and not toks[j].punct and toks[j].text in _DETERMINERS:
        j -= 1
    joined = False
    while j >= 0 and toks[j].text in ("and", "or", ","):
        joined = True
        j -= 1
    return joined and j in figures


def _literal_use(toks: list[_Tok], i: int, n: int) -> bool:
    """False when the matched words are not the object itself (a verb, a colour, a picture)."""
    word = toks[i + n - 1].text if n == 1 else ""
    before = toks[i - 1].text if i > 0 and not toks[i - 1].punct else ""
    after_tok = toks[i + n] if i + n < len(toks) else None
    after = after_tok.text if after_tok and not after_tok.punct else ""
    if word in _NOT_AFTER and before in _NOT_AFTER[word]:
        return False
    if word in _NOT_BEFORE and after in _NOT_BEFORE[word]:
        return False
    if word in _RULES.attributive_before and after in _RULES.attributive_before[word]:
        return False  # "a human presence", "the driver's seat"
    if word in _RULES.other_senses:
        k = i - 1
        if k >= 0 and toks[k].text in _DETERMINERS:
            k -= 1
        if k >= 0 and toks[k].text in _RULES.other_senses[word]:
            return False  # "mixing the batter"
    if after in _RULES.compound_heads:
        return False  # "a bike lane", "a zebra crossing": a modifier of another noun
    if word in _NOUN_HEAD_ONLY and after_tok is not None and not after_tok.punct:
        if after not in _NOUN_FOLLOWERS:
            return False
        nxt = toks[i + n + 1].text if i + n + 1 < len(toks) else ""
        if after in ("and", "or") and nxt in _COLOURS:
            return False  # "an orange and white cat"
    # "like a bear", "a toy car", "a stuffed dog"; "a painting of a horse".
    j = i - 1
    while j >= 0 and not toks[j].punct and toks[j].text in _DETERMINERS:
        j -= 1
    if j >= 0 and not toks[j].punct:
        if toks[j].text in _FIGURATIVE_BEFORE:
            return False
        if (j >= 2 and j == i - 1 and toks[j - 1].text in ("a", "an")
                and toks[j - 2].text == "like"):
            return False  # one modifier: "like a passing car" (an example, not a car there)
        if toks[j].text == "of" and j > 0 and toks[j - 1].text in _DEPICTIONS:
            return False
    return True


def _negated(toks: list[_Tok], i: int, mentions_ending: dict[int, tuple[int, Mention]]) -> bool:
    """Whether a negation cue governs the mention starting at token ``i``: looking back within
    the clause, across "or"/"nor" lists ("no dogs or cats"), up to eight words."""
    j = i - 1
    steps = 0
    while j >= 0 and steps < 8:
        tok = toks[j]
        if tok.text == "," and j - 1 in mentions_ending:
            return mentions_ending[j - 1][1].negated  # a list: "no people, cars or bikes"
        if tok.punct and tok.text != '"':
            return False
        if tok.text in _CLAUSE_BREAKS:
            return False
        if j in mentions_ending:
            _, previous = mentions_ending[j]
            between = {t.text for t in toks[j + 1:i]}
            return previous.negated and bool(between & {"or", "nor"})
        if _is_negation(tok.text):
            return True
        j -= 1
        steps += 1
    return False


def _aboard(toks: list[_Tok], end: int, term: Term) -> tuple[str, ...]:
    """The passenger categories when a person word is followed by an ``aboard`` phrase ("the
    people aboard"), else ()."""
    if term.category != "person":
        return ()
    words = tuple(t.text for t in toks[end:end + 2])
    if any(words[:len(p)] == p for p in _RULES.aboard):
        return _RULES.roles.get(("passenger",), ())
    return ()


_NEGATED_COPULAS = frozenset({"isn't", "aren't", "wasn't", "weren't"})


def _said_absent(toks: list[_Tok], end: int) -> bool:
    """Whether the subject ending before token ``end`` is said not to be in the photo: a
    negated copula and a place in the picture or a word of presence right after it ("that
    person isn't in the shot", "the owner is not visible"). "The dog isn't happy" presupposes
    the dog."""
    k = end
    if k < len(toks) and toks[k].text in _NEGATED_COPULAS:
        k += 1
    elif k + 1 < len(toks) and toks[k].text in _COPULAS and toks[k + 1].text in ("not", "never"):
        k += 2
    else:
        return False
    while k < len(toks) and toks[k].text in _PRESENCE_FILLERS:
        k += 1
    if k < len(toks) and toks[k].text in _PLACED:
        return True
    words = tuple(t.text for t in toks[k:k + 3])
    return any(words[:len(p)] == p for p in _PICTURE_PLACES) or words[:3] in (
        ("in", "the", "shot"), ("in", "this", "shot"), ("in", "the", "frame"))


def _counterfactual(toks: list[_Tok], i: int) -> bool:
    """Whether the mention at token ``i`` is in a clause opened by a counterfactual phrase
    ("as if", "as though": the rules' ``counterfactuals``), looking back up to ten words within
    the clause: what it names is not the case, so it is no claim in any answer type."""
    for j in range(i - 1, max(i - 11, -1), -1):
        if toks[j].punct:
            return False
        if any(j - len(c) + 1 >= 0 and tuple(t.text for t in toks[j - len(c) + 1:j + 1]) == c
               for c in _COUNTERFACTUALS):
            return True
    return False


def _number(word: str) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if 0 < value < 1000 else None
    return NUMBER_WORDS.get(word)


# Group nouns that state a number: "a pair of dogs", "a trio of horses".
_GROUP_SIZES = {"pair": 2, "trio": 3, "quartet": 4}


def _stated_count(toks: list[_Tok], i: int) -> int | None:
    """The total a number in front of the mention claims ("three tall giraffes"), or None."""
    j = i - 1
    skipped = 0
    while j >= 0 and skipped <= 3:
        tok = toks[j]
        if tok.punct:
            return None
        word = tok.text
        value = _number(word)
        if value is not None:
            return _qualified(toks, j, value)
        if word == "of" and j >= 2 and toks[j - 2].text in ("a", "the") \
                and toks[j - 1].text in _GROUP_SIZES:
            return _GROUP_SIZES[toks[j - 1].text]  # "a pair of dogs", "a trio of horses"
        if word in _COUNT_BREAKS or word in _NEGATIONS:
            return None
        if word == "single":
            return 1
        j -= 1
        skipped += 1
    return None


# Count qualifiers (the vocabulary's) that are prepositions before a total: "a group of four
# tourists", "out of three dogs", "sells to two shoppers". "To" between two numbers is a range
# ("three to four dogs"); "one of the dogs" has no number before its noun.
_TOTAL_AFTER = frozenset({"of", "to"})


def _qualified(toks: list[_Tok], j: int, value: int) -> int | None:
    """``value`` at token ``j`` as a total claim, unless a qualifier makes it a bound or a part."""
    before = toks[j - 1].text if j > 0 and not toks[j - 1].punct else ""
    two_before = toks[j - 2].text if j > 1 and not toks[j - 2].punct else ""
    if before in _TOTAL_AFTER and not (before == "to" and _number(two_before) is not None):
        return value  # "a group of four tourists", "sells to two shoppers" (not "three to four")
    if before in _COUNT_QUALIFIERS:
        return None
    if toks[j].text == "dozen":
        if before == "a" and two_before == "half":
            return 6
        return value if before == "a" else None  # "dozens"
    if value == 1:
        if before in _EXACT_ONE_BEFORE or (before in ("is", "'s") and two_before == "there"):
            return 1
        if before == "there's":
            return 1
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Claims and references: which mentions say the object is there (the claim rules'
# ``configs/grounding/rules.yaml`` holds the words).

# Contractions of "is"/"has"/"us" that look like possessives.
_CONTRACTIONS = frozenset({"that's", "it's", "there's", "here's", "what's", "who's", "he's",
                           "she's", "let's", "where's", "how's", "this's"})


def _possessive(text: str, tok: _Tok) -> bool:
    raw = text[tok.start:tok.end].lower().replace("’", "'")
    return raw.endswith(("'s", "s'")) and raw not in _CONTRACTIONS


def _reference(text: str, toks: list[_Tok], i: int, plural: bool = False) -> str:
    """How the noun phrase ending in the mention at token ``i`` refers: ``"definite"`` ("the
    dog", "his bike", "the man's hat", "the other cars"), a generic determiner ("other", "any",
    "such": "other vehicles"), or ``"indefinite"`` ("a dog", "two dogs", "people", "someone").
    Looks back over up to three modifiers. "That" before a ``plural`` mention or a number is
    the conjunction, not the determiner ("suggests that three people are expected": the
    determiner would be "those")."""
    j = i - 1
    skipped = 0
    while j >= 0 and skipped <= 3:
        tok = toks[j]
        if tok.punct:
            break
        word = tok.text
        if word == "that" and _conjunction_that(toks, j, plural):
            break
        if word in _ADDRESSEE:
            return word  # "keep your phone in a drawer": the addressee's, hypothetical
        if word in _DEFINITE or _possessive(text, tok):
            return "definite"
        if skipped == 0 and plural and _looks_like_plural_noun(word):
            break  # "the most common ways keyboards get ruined": "the" is the ways'.
        if _example_ending(toks, j):
            break  # "such as birds": the example phrase is the hedge
        if word in _GENERIC_DETERMINERS or word in _DETERMINERS or _number(word) is not None:
            prev = toks[j - 1] if j > 0 and not toks[j - 1].punct else None
            if prev is not None and prev.text == "that" and _conjunction_that(toks, j - 1,
                                                                             plural):
                prev = None  # "suggests that three people"
            if prev is not None and (prev.text in _DEFINITE or _possessive(text, prev)):
                return "definite"  # "the other dog", "the two dogs"
            generic = (word in _GENERIC_DETERMINERS
                       and not (prev is not None and _number(prev.text) is not None))
            return word if generic else "indefinite"  # "two other dogs" are there
        if word in _COUNT_BREAKS or _is_negation(word):
            break
        j -= 1
        skipped += 1
    return "indefinite"


# Words ending in -s that modify a plural noun rather than head their own ("the various dogs").
_S_MODIFIERS = frozenset({"various", "numerous", "famous", "previous", "serious", "nervous",
                          "curious", "its", "his", "this", "has", "was", "is", "us", "plus",
                          "sports", "glass", "less", "dangerous", "enormous", "gorgeous"})


def _looks_like_plural_noun(word: str) -> bool:
    """Whether ``word`` right before a plural mention looks like a plural noun heading its own
    phrase ("ways" in "the ways keyboards get ruined"), not a modifier of the mention."""
    return (len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is"))
            and word not in _S_MODIFIERS)


def _conjunction_that(toks: list[_Tok], j: int, plural: bool) -> bool:
    """Whether "that" at token ``j`` is the conjunction: before a plural noun phrase or a number
    other than one (a demonstrative there would be "those")."""
    nxt = toks[j + 1].text if j + 1 < len(toks) else ""
    value = _number(nxt)
    return plural or (value is not None and value != 1)


def _hedge(text: str, toks: list[_Tok], i: int, n: int,
           mentions_ending: Mapping[int, tuple[int, Mention]],
           sources: Mapping[int, str] | None = None, term: Term | None = None) -> str:
    """The word that makes the mention at ``toks[i:i + n]`` a hypothetical or generic reference,
    or "" for a claim.

    Only an indefinite mention can be hedged (a definite one is presupposed: "the dog might be
    hungry" says there is a dog), with three exceptions below. It is hedged by a generic
    determiner ("other vehicles"); by a clause's hedge earlier in its clause (see
    :func:`_hedge_before`: a conditional, modal, hedging adverb or inference verb, a purpose
    infinitive, an intended-for phrase, a generic frame, or a hedged mention before it in the
    clause); by an example phrase ("such as birds"); by a hedged mention it is listed with
    ("such as birds and squirrels"); or, as the subject, by what follows it (see
    :func:`_hedge_after`: "people might visit", "birds often come", "many tourists visit the
    pagoda", "someone has just made a coffee"), unless that is in a relative clause ("a dog
    that might bite").

    The exceptions for definite mentions: a person with a habitual relative clause ("the person
    who works here", :func:`_habitual_relative`); a relational person word under a hedge ("the
    family likely sits here", :func:`_relational`); and a definite object in a generic
    statement ("a clock like this often hangs above the sink", :func:`_generic_definite`).

    Last, an implied person — a relational word or an unspecified agent ("the vendor",
    "customers", "someone") — that no rule above hedges is hedged ``"no presence"`` unless the
    sentence places it in the photo (:func:`_present`): "the vendor has stacked the apples" is
    the scene's implied vendor, "a vendor is weighing the apples" one in the photo."""
    return _hedge_of(text, toks, i, n, mentions_ending, sources, term)[0]


def _hedge_of(text: str, toks: list[_Tok], i: int, n: int,
              mentions_ending: Mapping[int, tuple[int, Mention]],
              sources: Mapping[int, str] | None = None,
              term: Term | None = None) -> tuple[str, str]:
    """:func:`_hedge`'s word and where it came from: ``"definite"`` (none can apply),
    ``"generic"``, ``"before"``, ``"after"`` (as the subject), ``"relative"``,
    ``"relational"``, ``"generic definite"``, ``"implied"`` (an implied person the sentence does
    not place in the photo: hedge ``"no presence"``, see :func:`_present`) or ``"indefinite"``
    (none found)."""
    sources = sources or {}
    person = term is not None and term.category == "person"
    end = i + n
    if person and end < len(toks) and toks[end].text in _PERSON_HEADS:
        end += 1  # "a family member who likes to bake": the noun ends at its head
    if person:
        relative = _habitual_relative(toks, end)
        if relative:
            return relative, "relative"
    if person and term.plural:
        where = _habitual_where(toks, i, end)
        if where:
            return where, "relative"
    reference = _reference(text, toks, i, term is not None and term.plural)
    hedge, source = _reference_hedge(text, toks, i, n, end, reference, mentions_ending, sources,
                                     term)
    if not hedge and person and _implied_person(toks, i, n) and not _present(toks, i, end):
        return "no presence", "implied"
    return hedge, source


def _reference_hedge(text: str, toks: list[_Tok], i: int, n: int, end: int, reference: str,
                     mentions_ending: Mapping[int, tuple[int, Mention]],
                     sources: Mapping[int, str], term: Term | None) -> tuple[str, str]:
    """:func:`_hedge_of` for a mention whose noun phrase refers as ``reference`` says
    (:func:`_reference`), before the presence rule for implied people."""
    person = term is not None and term.category == "person"
    frame = _kind_frame(toks, i)
    if frame:
        return frame, "generic"  # "the kind of park where families walk their dogs"
    comparison = _comparison_frame(toks, i)
    if comparison:
        return comparison, "generic"  # "Unlike piers crowded with families and their dogs, …"
    if reference == "definite":
        owner = _generic_owner(toks, i, mentions_ending)
        if owner:
            return owner, "generic definite"  # "local residents often walk their dogs"
        if _relational(toks, i, n):
            hedge = (_hedge_before(toks, i, mentions_ending, sources)
                     or _hedge_after(toks, end))
            if hedge:
                return hedge, "relational"
        generic = _generic_definite(toks, i, mentions_ending, sources)
        return (generic, "generic definite") if generic else ("", "definite")
    if reference != "indefinite":
        return reference, "generic"
    generic_object = term is not None and term.plural and _generic_object(toks, i)
    if generic_object:
        return generic_object, "generic"
    kind = term is not None and term.plural and _phrase_at(toks, end, _KIND_EXAMPLES)
    if kind:
        return kind, "generic"  # "birds such as hawks"
    before = (_hedge_before(toks, i, mentions_ending, sources) or _stranded_for(toks, i)
              or _imperative(toks, i, end))
    if before:
        return before, "before"
    if _than_comparison(toks, i):
        return "than", "generic"  # "more distance to stop than a car does"
    plural = term is not None and term.plural and _generic_plural(toks, i)
    agent = person and n == 1 and toks[i].text in _AGENTS
    after = (_hedge_after(toks, end, generic=plural, agent=agent) or _listed_subject(toks, i, end)
             or (term is not None and term.plural and _most_generic(toks, i, end)))
    if not after and term is not None and not term.plural and i > 0 \
            and toks[i - 1].text in ("a", "an"):
        # "a bus needs more room to stop", "an oven reheats them far better than a microwave"
        after = _phrase_at(toks, end, _KIND_VERBS) or _comparative_kind(toks, i, end)
    return (after, "after") if after else ("", "indefinite")


# Comparatives that are not formed with -er.
_COMPARATIVES = frozenset({"more", "less", "better", "worse", "fewer", "further", "farther"})
# After the subject, these make a comparison about this one ("a dog is bigger than the cat").
_DESCRIPTIVE_VERBS = frozenset({"is", "are", "was", "were", "looks", "seems", "appears", "sits",
                                "stands", "lies", "has", "looked", "seemed"})


def _comparative_kind(toks: list[_Tok], i: int, end: int) -> str:
    """"than" when the indefinite singular subject at ``toks[i - 1:end]`` (opening its clause)
    does what its verb says better or worse than something else: "an oven reheats them far
    better than a microwave" compares kinds of things. Not after a copula or a verb of posture
    ("a dog is bigger than the cat", "a cup sits higher than the plate" are about this one)."""
    if i > 1 and not toks[i - 2].punct and toks[i - 2].text not in ("and", "but", "so"):
        return ""  # not the clause's subject
    if end >= len(toks) or toks[end].punct or toks[end].text in _DESCRIPTIVE_VERBS \
            or toks[end].text in _HEDGE_MODALS:
        return ""
    for k in range(end + 1, min(end + 8, len(toks) - 1)):
        if toks[k].punct:
            return ""
        if toks[k + 1].text == "than" and (toks[k].text in _COMPARATIVES
                                           or (toks[k].text.endswith("er")
                                               and len(toks[k].text) > 4)):
            return "than"
    return ""


def _listed_subject(toks: list[_Tok], i: int, end: int) -> str:
    """The modal of a list of indefinite subjects the mention at ``toks[i:end]`` opens, each
    with its own modifiers: "A dog bounding past, a cyclist on a path, or a kite drifting
    across the sky could spoil a take" hedges the dog. Each further item starts with "a"/"an"
    (after "or"/"and"; or, in a list opened by a bare plural, with a bare plural) within eight
    words, none holds a finite verb ("a dog sits on the couch,
    a cat might ..." states the dog), and the last is followed by the modal."""
    start = i - 1 if i > 0 and toks[i - 1].text in ("a", "an") else i
    if start > 0 and not toks[start - 1].punct:
        return ""
    # A list of bare plurals ("Dogs running loose, kids chasing a frisbee or a cyclist crossing
    # the frame can all spoil a take") may go on with bare plurals.
    bare = start == i and _looks_like_plural_noun(toks[i].text)
    if end >= len(toks):
        return ""
    first = toks[end].text
    # Right after the first noun: the list goes on, or a modifier starts (a participle or a
    # preposition); anything else is its verb ("a dog sleeps and a cat might play").
    if not (first in (",", "or", "and") or first.endswith(("ing", "ed"))
            or first in _SUBJECT_PREPOSITIONS):
        return ""
    k, items, length = end, 1, 0
    while k < len(toks) and length <= 8:
        word = toks[k].text
        if word == ",":
            nxt = k + 1
            if nxt < len(toks) and toks[nxt].text in ("or", "and"):
                nxt += 1
            if nxt < len(toks) and bare and _looks_like_plural_noun(toks[nxt].text):
                k, items, length = nxt + 1, items + 1, 0  # "dogs running loose, kids …"
                continue
            if nxt >= len(toks) or toks[nxt].text not in ("a", "an"):
                return ""
            k, items, length = nxt + 1, items + 1, 0
            continue
        if word in ("or", "and") and k + 1 < len(toks) and toks[k + 1].text in ("a", "an"):
            k, items, length = k + 2, items + 1, 0
            continue
        if word in _HEDGE_MODALS and _verb_use(toks, k):
            return word if items > 1 and not _perceives(toks, k) else ""
        if toks[k].punct or word in _CLAUSE_BREAKS or word in _COPULAS \
                or word in _PRESENCE_VERBS or word in _SUBJECT_VERBS or _is_negation(word):
            return ""
        k += 1
        length += 1
    return ""


# Between "most <plural>" and its verb: adverbs that leave the statement generic.
_MOST_FILLERS = frozenset({"simply", "just", "also", "still", "actually", "really", "even",
                           "never", "rarely", "only"})


def _most_generic(toks: list[_Tok], i: int, end: int) -> str:
    """``"most"`` when the plural mention at ``toks[i:end]`` is the subject of a generic
    statement opened by "most" and a verb in the simple present: "Instead of forks, most people
    simply eat pizza with their hands". Not "the most …", not before a copula, an auxiliary, a
    participle or a preposition ("most people in the crowd are wearing hats", "most cars here
    are red"), and not after a word that points at the photo (see _SUBJECT_FILLERS' "here")."""
    if i == 0 or toks[i - 1].text != "most" or (i > 1 and toks[i - 2].text in _DEFINITE):
        return ""
    k = end
    while k < len(toks) and toks[k].text in _MOST_FILLERS:
        k += 1
    if k >= len(toks) or toks[k].punct:
        return ""
    return "most" if _simple_present_verb(toks[k].text) else ""


def _kind_frame(toks: list[_Tok], i: int) -> str:
    """The kind frame ("kind of", the rules' ``kind_frames``) whose relative clause the mention
    at token ``i`` is in, or "": "the kind of park where a family brings a frisbee"."""
    j, steps = i - 1, 0
    while j > 0 and steps < 16 and toks[j].text not in _SENTENCE_ENDS:
        if toks[j].text in _FRAME_RELATIVES:
            for back in range(max(j - 5, 0), j):
                for frame in _KIND_FRAMES:
                    if tuple(t.text for t in toks[back:back + len(frame)]) == frame:
                        return " ".join(frame)
        j -= 1
        steps += 1
    return ""


def _generic_owner(toks: list[_Tok], i: int,
                   mentions_ending: Mapping[int, tuple[int, Mention]]) -> str:
    """The hedge of a hedged person subject that a possessive right before the mention at
    token ``i`` refers back to ("families bring their dogs here on weekends", "local residents
    often walk their dogs"), or "": their things are as generic as they are. Only within the
    clause, and only a person mention's hedge."""
    before = [t.text for t in toks[max(i - 3, 0):i] if not t.punct]
    if not _PERSON_POSSESSIVES & set(before):
        return ""
    frame = _generic_frame(toks, i)
    if frame:
        return frame  # "On weekends, families bring their dogs"
    j = i - 1
    while j > 0 and not toks[j - 1].punct and toks[j - 1].text not in _CLAUSE_BREAKS:
        found = mentions_ending.get(j)
        if found is not None and found[1].category == "person" and found[1].hedge \
                and found[1].hedge != "no presence":
            return found[1].hedge
        j -= 1
    # A bare plural subject with a habitual adverb: "local residents often walk their dogs".
    clause = [t.text for t in toks[j:i]]
    if clause and clause[0] not in _DEFINITE and clause[0] not in _DETERMINERS \
            and _number(clause[0]) is None:
        habit = next((w for w in clause if w in _HABITUAL_ADVERBS), "")
        if habit and any(_looks_like_plural_noun(w) for w in clause[:clause.index(habit)]):
            return habit
    return ""


def _imperative(toks: list[_Tok], i: int, end: int) -> str:
    """"imperative" when the mention at ``toks[i:end]`` is in an advice sentence (the rules'
    ``imperatives``: "Place a cup of water inside", "When nobody is home, lay a chair across the
    cushions") that does not place it in the photo (:func:`_present`), else "". The verb opens
    the sentence, after any ``imperative_openers``, or follows the sentence's first comma when
    what comes before it has no imperative verb ("After that, wrap the slices")."""
    start = i
    while start > 0 and toks[start - 1].text not in _SENTENCE_ENDS and toks[start - 1].text != ":":
        start -= 1
    candidates = [start]
    comma = next((k for k in range(start, i) if toks[k].text == ","), None)
    if comma is not None and comma - start <= 8:
        candidates.append(comma + 1)
    for k in candidates:
        while k < i and toks[k].text in _IMPERATIVE_OPENERS:
            k += 1
        if k < i and toks[k].text in _IMPERATIVES and not _noun_use(toks, k) \
                and not _present(toks, i, end, counts=False):
            return "imperative"
    return ""


def _noun_use(toks: list[_Tok], k: int) -> bool:
    """Whether an imperative verb at token ``k`` is rather a noun or a subject's modifier
    ("Place settings are …", "Use of the bench is free", "Wait times are long")."""
    after = [t.text for t in toks[k + 1:k + 3]]
    verbs = ("is", "are", "was", "were", "has", "have")
    if after and (after[0] in (*verbs, "of") or (len(after) > 1 and after[1] in verbs)):
        return True
    return k > 0 and not toks[k - 1].punct and toks[k - 1].text in _DEFINITE


def _than_comparison(toks: list[_Tok], i: int) -> bool:
    """Whether the mention at token ``i`` is what something is compared with after "than" and an
    indefinite article, maybe with one modifier ("than a car does", "than a small laptop"). "More
    than two dogs" is a count."""
    j = i - 1
    if j > 0 and toks[j].text not in ("a", "an") and not toks[j].punct:
        j -= 1  # one modifier
    return j > 0 and toks[j].text in ("a", "an") and toks[j - 1].text == "than"


def _generic_object(toks: list[_Tok], i: int) -> str:
    """The generic quantifier and its preposition before the plural mention at token ``i`` ("for
    many people", "to most travelers": the rules' ``generic_object_prepositions``), or "": people
    in general, not in the photo. "A beach with many people" is a claim."""
    if i < 2 or toks[i - 1].text not in _GENERIC_QUANTIFIERS:
        return ""
    before = toks[i - 2].text
    return f"{before} {toks[i - 1].text}" if before in _GENERIC_OBJECT_PREPOSITIONS else ""


def _phrase_at(toks: list[_Tok], k: int, phrases: frozenset[str]) -> str:
    """The longest of ``phrases`` (words joined by spaces) that starts at token ``k``, or ""."""
    best = ""
    for phrase in phrases:
        words = phrase.split()
        if (len(words) > len(best.split()) and k + len(words) <= len(toks)
                and all(toks[k + m].text == w for m, w in enumerate(words))):
            best = phrase
    return best


def _hedge_before(toks: list[_Tok], i: int,
                  mentions_ending: Mapping[int, tuple[int, Mention]],
                  sources: Mapping[int, str] | None = None) -> str:
    """The hedge of the clause before the mention at token ``i`` whose scope reaches it, or "".

    Looking back up to fourteen words within the clause: a conditional ("if"), a hedging adverb
    ("probably"), an inference verb ("which suggests someone moves them"), a modal that is not
    about seeing ("there might be a dog"), an example phrase ("for example, a cat"), a purpose
    infinitive ("a good spot to sit and read a book", :func:`_purpose`), an intended-for phrase
    right before the mention ("set for three people", :func:`_intended_for`), or an earlier
    mention of the clause hedged by a clause's hedge ("some people would also add a bowl of
    salad or a plate of broccoli": the broccoli is in the same "would"). A generic frame opening
    the sentence ("at busy airports, buses ...", :func:`_generic_frame`) hedges its first clause.
    The clause ends at punctuation, a clause break or a negation, except where the sentence goes
    on with the same phrase: a comma before a scope continuer ("anything, from baking a cake"),
    a verb phrase coordinated after ", and"/", or" ("you could sit on the couch, or read a
    book"), or "and" joining noun or verb phrases ("fruit like bananas and apples", "to sit and
    read a book"); see :func:`_continues`."""
    frame = _generic_frame(toks, i) or _inverted_conditional(toks, i) \
        or _quantified_statement(toks, i)
    if frame:
        return frame
    j = i - 1
    steps = 0
    while j >= 0 and steps < 14:
        tok = toks[j]
        example = (_example_ending(toks, j - 1) or _example_list(toks, j)) if tok.text == "," \
            else ""
        if example:
            return example  # "for example, a cat"
        listed = _listed_after(toks, j, mentions_ending, sources, i)
        if listed is not None:
            return listed
        if j in mentions_ending and mentions_ending[j][1].hedge in _SCOPE_WORDS | _PURPOSE_HEDGES:
            return mentions_ending[j][1].hedge  # the same clause's hedge
        word = tok.text
        if (tok.punct and tok.text != '"') or word in _CLAUSE_BREAKS or word in _SUBORDINATORS:
            inherited = _subordinate_hedge(toks, j)
            if inherited:
                return inherited
            if not _continues(toks, j, i):
                return ""
            j -= 1
            steps += 1
            continue
        if _is_negation(word):
            return ""
        if word in _CONDITIONALS or word in _HEDGE_ADVERBS or word in _INFERENCES \
                or _advice(toks, j):
            return word
        if word in _HEDGE_MODALS and _verb_use(toks, j):
            return "" if _perceives(toks, j) else word
        purpose = _purpose(toks, j) or _intended_for(toks, j, i)
        if purpose:
            return purpose
        example = _example_ending(toks, j)
        if example:
            return example
        j -= 1
        steps += 1
    return ""


def _subordinate_hedge(toks: list[_Tok], j: int) -> str:
    """The modal or conditional of the main clause that a subordinate clause starting at token
    ``j`` ("when", "until", "before": the rules' ``subordinators``) depends on: "a laptop stand
    would help on days when they work on a laptop" and "the staff may keep it in the window until
    the customer comes" are as hypothetical as their modals. Looks back up to twelve words, not
    past punctuation or another clause break; "" when none."""
    if toks[j].text not in _SUBORDINATORS:
        return ""
    for k in range(j - 1, max(-1, j - 13), -1):
        tok = toks[k]
        if tok.punct or tok.text in _CLAUSE_BREAKS or _is_negation(tok.text):
            return ""
        if tok.text in _CONDITIONALS or _advice(toks, k):
            return tok.text
        if tok.text in _HEDGE_MODALS and _verb_use(toks, k):
            return "" if _perceives(toks, k) else tok.text
    return ""


def _advice(toks: list[_Tok], j: int) -> bool:
    """Whether token ``j`` is an advice frame before a gerund ("it's worth checking that the
    room has a desk before unpacking a laptop"): what follows is what one could do."""
    return toks[j].text in _ADVICE_FRAMES and j + 1 < len(toks) \
        and toks[j + 1].text.endswith("ing") and len(toks[j + 1].text) > 4


def _sentence_start(toks: list[_Tok], i: int) -> int:
    s = i
    while s > 0 and toks[s - 1].text not in _SENTENCE_ENDS:
        s -= 1
    return s


def _first_clause_end(toks: list[_Tok], s: int, i: int) -> int | None:
    """The comma that ends a sentence's opening phrase or clause (from token ``s``) after the
    mention at ``i``, with no other punctuation from ``s`` to the mention; None when there is
    none before the sentence ends."""
    if any(t.punct for t in toks[s:i]):
        return None
    for k in range(i, len(toks)):
        if toks[k].text == ",":
            return k
        if toks[k].text in _SENTENCE_ENDS:
            return None
    return None


def _comparison_frame(toks: list[_Tok], i: int) -> str:
    """The comparison a sentence opens with, if the mention at token ``i`` is inside it, up to
    its comma: "Unlike summer piers crowded with families and their dogs, this one is quiet",
    "Instead of a car, he rode here" (the rules' ``comparisons``). What it compares with is not
    in the photo, definite words too. "" otherwise."""
    s = _sentence_start(toks, i)
    for frame in _COMPARISON_FRAMES:
        n = len(frame)
        if s + n <= i and tuple(t.text for t in toks[s:s + n]) == frame \
                and _first_clause_end(toks, s, i) is not None:
            return " ".join(frame)
    return ""


def _quantified_statement(toks: list[_Tok], i: int) -> str:
    """The quantifier of a generic statement the sentence opens with, if the mention at token
    ``i`` is an object in its first clause: "many" or "most", a plural subject of at most two
    words that names no object (a kind of place or people: "bakeries", "cafés", "owners"),
    maybe an adverb, and a verb in the simple present ("Many bakeries also put small price cards
    or a bowl of free samples at the front"). Not after an object ("many cows graze near a
    fence" may be the photo's cows), and not before a copula, an auxiliary, a
    modal, a participle, a preposition or a word that points at the photo ("many people here
    are holding umbrellas", "most cars in the lot have a dent"). "" otherwise."""
    s = _sentence_start(toks, i)
    if s + 2 >= i or toks[s].text not in ("many", "most"):
        return ""
    k = s + 1
    if not _looks_like_plural_noun(toks[k].text):
        k += 1  # one modifier: "many small bakeries"
        if k >= i or not _looks_like_plural_noun(toks[k].text):
            return ""
    if any(_match(toks, j, vocabulary(), _LONGEST) is not None for j in range(s + 1, k + 1)):
        return ""  # "many cows graze near the fence" may describe the photo's cows
    k += 1
    while k < i and toks[k].text in _MOST_FILLERS:
        k += 1
    if k >= i or not _simple_present_verb(toks[k].text):
        return ""
    if any(t.punct or t.text in _CLAUSE_BREAKS for t in toks[k + 1:i]):
        return ""
    return toks[s].text


def _simple_present_verb(word: str) -> bool:
    """Whether ``word``, right after a generic subject, can be its verb in the simple present
    (not a copula, auxiliary, modal, participle, preposition or photo pointer)."""
    return not (word in _AUXILIARIES or word in _COPULAS or word in _SUBJECT_VERBS
                or word in _SUBJECT_PREPOSITIONS or word in _SUBJECT_FILLERS
                or word in _HEDGE_MODALS or word.endswith(("ing", "ed")) or _is_negation(word)
                or word in _DETERMINERS)


def _inverted_conditional(toks: list[_Tok], i: int) -> str:
    """The inverted conditional a sentence opens with, if the mention at token ``i`` is in it:
    "Had she taken a city bus, she would …", "Were a dog to run onto the court, …", "Should it
    rain, …" (the rules' ``inverted_conditionals`` before a pronoun or a determiner, the clause
    ended by a comma, the sentence not a question). "" otherwise."""
    s = _sentence_start(toks, i)
    if s + 1 >= i or toks[s].text not in _INVERTED_CONDITIONALS:
        return ""
    subject = toks[s + 1].text
    if subject not in _CLAUSE_SUBJECTS and subject not in _DETERMINERS \
            and subject not in _DEFINITE:
        return ""
    comma = _first_clause_end(toks, s, i)
    if comma is None:
        return ""
    k = comma
    while k < len(toks) and toks[k].text not in _SENTENCE_ENDS:
        k += 1
    return "" if k < len(toks) and toks[k].text == "?" else toks[s].text


def _purpose(toks: list[_Tok], j: int) -> str:
    """The purpose infinitive whose "to" is token ``j`` ("a good spot to", "used to"), or "":
    what follows is what could be done there, not what is there."""
    if toks[j].text == "to" and j > 0 and toks[j - 1].text in _PURPOSE_BEFORE:
        return f"{toks[j - 1].text} to"
    if toks[j].text == "to" and j > 1 and toks[j - 1].text in ("is", "was"):
        # "a good idea (on a sunny day) is to bring a book"
        for k in range(j - 2, max(j - 8, -1), -1):
            if toks[k].punct:
                break
            if toks[k].text in _PURPOSE_BEFORE:
                return f"{toks[k].text} to"
    return ""


# Hedge words :func:`_purpose` and :func:`_intended_for` give: clause hedges, like a modal's.
_PURPOSE_HEDGES = frozenset({f"{w} to" for w in _PURPOSE_BEFORE})


def _intended_for(toks: list[_Tok], j: int, i: int) -> str:
    """The intended-for phrase whose "for" is token ``j``, right before the mention at ``i``
    ("set for three people", "prepared it for a customer"), or "": the people it is meant for
    need not be there."""
    if toks[j].text != "for" or i - j > 3 or j == 0:
        return ""
    k = j - 1
    if toks[k].text in _OBJECT_PRONOUNS and k > 0:
        k -= 1
    return f"{toks[k].text} for" if toks[k].text in _INTENDED_FOR_BEFORE else ""


def _stranded_for(toks: list[_Tok], i: int) -> str:
    """The intended-for phrase of a question whose "for" is left at its end, asking about the
    mention at token ``i``: "How many people is the table set for?" ("set for"), or ""."""
    if i < 2 or (toks[i - 2].text, toks[i - 1].text) != ("how", "many"):
        return ""
    k = i
    while k < len(toks) and toks[k].text not in _SENTENCE_ENDS:
        k += 1
    if k < len(toks) and toks[k].text == "?" and k >= 2 and toks[k - 1].text == "for" \
            and toks[k - 2].text in _INTENDED_FOR_BEFORE:
        return f"{toks[k - 2].text} for"
    return ""


def _continues(toks: list[_Tok], j: int, i: int) -> bool:
    """Whether the comma or clause break at token ``j`` (before the mention at ``i``) goes on
    with the phrase before it, so that a hedge before it still scopes over the mention: a comma
    before a scope continuer ("anything, from baking a cake"); ", and"/", or" before a bare
    verb (", or read a book"; not a new subject: ", and a dog sleeps", ", or it rains"); "and"
    with no comma before it and at most two words between it and the mention ("bananas and
    apples", "sit and read a book"; not "and they eat a cake")."""
    word = toks[j].text
    nxt = toks[j + 1] if j + 1 < i else None
    if word == ",":
        if nxt is None:
            return False
        if nxt.text in _SCOPE_CONTINUERS:
            return True
        if nxt.text.endswith("ing") and len(nxt.text) > 4:
            return True  # "they would browse leaves, sharing the land with zebras"
        if nxt.text in ("and", "or") and j + 2 < i:
            return _bare_verb(toks[j + 2])
        return False
    if word == "and" and j > 0 and toks[j - 1].text != ",":
        between = toks[j + 1:i]
        return len(between) <= 2 and all(not t.punct and t.text not in _CLAUSE_SUBJECTS
                                          and t.text not in _CLAUSE_BREAKS for t in between)
    return False


def _bare_verb(tok: _Tok) -> bool:
    """Whether the word after ", and"/", or" may be a bare verb continuing a verb phrase: not a
    determiner, a number, a subject pronoun or punctuation."""
    word = tok.text
    return not (tok.punct or word in _DETERMINERS or word in _CLAUSE_SUBJECTS
                or word in _CLAUSE_BREAKS or _number(word) is not None
                or word in _GENERIC_QUANTIFIERS)


def _generic_frame(toks: list[_Tok], i: int) -> str:
    """The generic frame the sentence of the mention at token ``i`` opens with, if the mention
    is in its first clause: a preposition, up to two modifiers and a bare plural ("at busy
    airports", "on busy beaches"), then an optional comma and the clause, with no other
    punctuation and no clause break but "and"/"or" before the mention. A clause after "and" or
    "but" may open with one too ("…, and on weekends families bring their dogs"). "" otherwise."""
    s = i
    while s > 0 and toks[s - 1].text not in _SENTENCE_ENDS:
        s -= 1
    starts = [k + 1 for k in range(i - 1, s - 1, -1) if toks[k].text in ("and", "but")] + [s]
    for start in starts:
        frame = _frame_at(toks, start, i)
        if frame:
            return frame
    return ""


def _frame_at(toks: list[_Tok], s: int, i: int) -> str:
    """:func:`_generic_frame` for a clause starting at token ``s``."""
    if s >= i or toks[s].text not in _FRAME_PREPOSITIONS:
        return ""
    for e in range(s + 1, min(s + 4, i)):
        word = toks[e].text
        if (toks[e].punct or word in _DETERMINERS or word in _DEFINITE
                or _number(word) is not None):
            return ""
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            break
    else:
        return ""
    rest = toks[e + 1:i]
    if rest and rest[0].text == ",":
        rest = rest[1:]
    if any(t.punct or (t.text in _CLAUSE_BREAKS and t.text not in ("and", "or"))
           or _is_negation(t.text) for t in rest):
        return ""
    return f"{toks[s].text} {toks[e].text}"


def _generic_plural(toks: list[_Tok], i: int) -> bool:
    """Whether the plural mention starting at token ``i`` is a generic plural: bare or after a
    generic quantifier ("tourists", "many tourists", "fewer people", "some people"), with at
    most one modifier; not after a number, a determiner or a definite word."""
    j = i - 1
    if j >= 0 and not toks[j].punct and toks[j].text not in _GENERIC_QUANTIFIERS \
            and toks[j].text not in _CLAUSE_BREAKS:
        if toks[j].text in _DETERMINERS or _number(toks[j].text) is not None:
            return False
        j -= 1  # one modifier: "many foreign tourists"
    if j < 0 or toks[j].punct or toks[j].text in _CLAUSE_BREAKS:
        return True
    if toks[j].text in _GENERIC_QUANTIFIERS:
        return not (j > 0 and toks[j - 1].text in _DEFINITE)  # not "the many tourists"
    return toks[j].text in _CONDITIONALS or toks[j].text in _INFERENCES


def _habitual_relative(toks: list[_Tok], k: int) -> str:
    """A relative clause about a person, right after the mention ending before token ``k``,
    whose verb states a habit: "the people who live in the houses nearby", "the person who
    works here", "spectators who come to watch launches" ("who live" etc.), or "". The person is
    described by what they do, not seen: "a man who is standing by the cows" is a claim."""
    if k >= len(toks) or toks[k].text not in ("who", "that"):
        return ""
    m = k + 1
    while m < len(toks) and (toks[m].text in _SUBJECT_FILLERS or toks[m].text in _HEDGE_ADVERBS):
        m += 1
    if m < len(toks) and toks[m].text in _HABITUAL_VERBS:
        return f"{toks[k].text} {toks[m].text}"
    return ""


def _habitual_where(toks: list[_Tok], i: int, end: int) -> str:
    """"where" when the plural person mention at ``toks[i:end]`` is the bare or possessed subject
    of a "where" clause in the simple present: "pigeons gather where people feed them", "dogs
    lie where their people sit" say where people habitually do something, not that they are in
    the photo. "Where two men sit" (a number), "where the men sit" (definite) and "where people
    are sitting" (what is happening) are claims."""
    j = i - 1
    if j >= 0 and toks[j].text in ("their", "his", "her", "its"):
        j -= 1
    if j < 0 or toks[j].text not in ("where", "wherever") or end >= len(toks):
        return ""
    verb = toks[end]
    if verb.punct or verb.text in _AUXILIARIES or verb.text.endswith("ing") \
            or verb.text in _HEDGE_MODALS or verb.text in _CLAUSE_BREAKS:
        return ""
    return toks[j].text


_PRESENCE = _RULES.presence
_SHOWN_BY = _PRESENCE["shown_by"]
_EXISTENTIAL = _PRESENCE["existential"]
_PRESENCE_VERBS = _PRESENCE["verbs"]
_PRESENCE_PLACES = _PRESENCE["places"]
_PLACED = _PRESENCE["placed"]
_PICTURE_PLACES = _PRESENCE["picture_places"]
_NOT_PARTICIPLES = _PRESENCE["not_participles"]
_COPULAS = frozenset({"is", "are", "was", "were"})
# Fillers between a person and the verb that places them: "a vendor also stands".
_PRESENCE_FILLERS = frozenset({"also", "still", "just", "clearly", "now", "currently", "even",
                               "both", "all", "here", "there", "nearby"})


def _implied_person(toks: list[_Tok], i: int, n: int) -> bool:
    """Whether the person mention at ``toks[i:i + n]`` names someone the scene implies rather
    than shows: a relational word ("the vendor", "customers") or an unspecified agent
    ("someone"). See :func:`_present` for when the sentence shows them after all."""
    return _relational(toks, i, n) or (n == 1 and toks[i].text in _AGENTS) or (
        n == 1 and toks[i].text in _GENERIC_PERSONS and i + n < len(toks)
        and toks[i + n].text in _RELATIVE_OPENERS)


# Plain person words that a relative clause makes someone the scene implies: "the person it was
# made for", "whoever … that person who ordered it". "A person who is standing" is placed by
# the presence rule all the same.
_GENERIC_PERSONS = frozenset({"person", "people"})
_RELATIVE_OPENERS = frozenset({"who", "whom", "that", "it", "they", "he", "she", "we", "you"})


def _present(toks: list[_Tok], i: int, end: int, counts: bool = True,
             after: bool = True) -> bool:
    """Whether the sentence places the person mentioned at ``toks[i:end]`` in the photo (the
    rules' ``presence``): a stated count; "there is" or a verb of showing or seeing before it
    in its clause ("the photo shows a vendor", "you can see a worker"); or right after it a
    progressive or participle ("a vendor is weighing apples", "customers waiting in line",
    maybe in a relative clause: "a family member who is standing by the oven"), a posture verb
    ("a waiter stands by the door"), a copula and a place ("the baker is behind the counter"),
    or a place in the picture ("a worker in the background"). Without ``counts`` a count is no
    such cue ("bring two bottles of water" answers what to bring); without ``after`` only the
    cues before it and a place in the picture count, not what it does."""
    if counts and _stated_count(toks, i) is not None:
        return True
    j, steps = i - 1, 0
    while j >= 0 and steps < 10:
        tok = toks[j]
        if tok.punct or tok.text in _CLAUSE_BREAKS or tok.text in _SUBORDINATORS:
            break
        if tok.text in _SHOWN_BY or (tok.text == "there" and j + 1 < i
                                     and toks[j + 1].text in _EXISTENTIAL):
            return True
        j -= 1
        steps += 1
    k = end
    if any(tuple(t.text for t in toks[k:k + len(p)]) == p for p in _PICTURE_PLACES):
        return True
    if not after:
        return False
    while k < len(toks) and toks[k].text in _PRESENCE_FILLERS:
        k += 1
    if k < len(toks) and toks[k].text in ("and", "or"):
        # Coordinated subjects share their verb: "a vendor and two customers are chatting".
        for m in range(k + 1, min(k + 6, len(toks))):
            if toks[m].punct:
                break
            if toks[m].text in _PRESENCE_VERBS or toks[m].text in _COPULAS:
                k = m
                break
    if k < len(toks) and toks[k].text in ("who", "that"):
        k += 1  # "a family member who is standing by the oven"
    if k >= len(toks) or toks[k].punct:
        return False
    word = toks[k].text
    if word in _PRESENCE_VERBS or _participle(word):
        return True
    if word in _COPULAS:
        k += 1
        while k < len(toks) and toks[k].text in _PRESENCE_FILLERS:
            k += 1
        if k >= len(toks):
            return False
        if toks[k].text in _PRESENCE_PLACES:
            # Before a noun phrase: "behind the counter", "next to a stall", "in front of".
            nxt = toks[k + 1].text if k + 1 < len(toks) else ""
            return nxt in _DEFINITE or nxt in ("a", "an", "to", "front", "of")
        return toks[k].text in _PLACED or _participle(toks[k].text)
    return False


def _participle(word: str) -> bool:
    """Whether ``word`` may be a present participle ("waiting", "selling")."""
    return word.endswith("ing") and len(word) > 4 and word not in _NOT_PARTICIPLES


def _relational(toks: list[_Tok], i: int, n: int) -> bool:
    """Whether the mention at ``toks[i:i + n]`` is a relational person word ("the family", "the
    customer", the rules' ``relational``): a definite one presupposes the
    relation, not that the person is in the photo, so a hedge can scope over it."""
    return tuple(t.text for t in toks[i:i + n]) in _RULES.relational


def _photo_role(toks: list[_Tok], i: int, n: int) -> bool:
    """Whether the person mention at ``toks[i:i + n]`` is the one who took the photo: a photo
    role word ("the photographer") or a person word followed by a photo role phrase ("the
    person holding the camera"). Every photo implies one."""
    if tuple(t.text for t in toks[i:i + n]) in _RULES.photo_roles:
        return True
    after = tuple(t.text for t in toks[i + n:i + n + 4])
    return any(after[:len(p)] == p for p in _RULES.photo_role_phrases)


def _generic_definite(toks: list[_Tok], i: int,
                      mentions_ending: Mapping[int, tuple[int, Mention]],
                      sources: Mapping[int, str]) -> str:
    """The habitual adverb of a generic statement the definite mention at token ``i`` is an
    object in, or "": its clause's subject, the nearest mention before it in the clause, is
    indefinite and followed by a habitual adverb, maybe after a comparison ("a wall clock like
    this often hangs in a kitchen above the sink": "the sink" of any such kitchen; the clock
    itself, "like this" one, is a claim). "The clock often hangs above the sink" (a definite
    subject) and "a cat probably sleeps near the sink" (not a habit) still say there is a
    sink."""
    j = i - 1
    steps = 0
    while j >= 0 and steps < 12:
        tok = toks[j]
        if j in mentions_ending:
            if sources.get(j) not in ("after", "indefinite"):
                return ""
            hedge = _hedge_after(toks, j + 1, compare=True)
            return hedge if hedge in _HABITUAL_ADVERBS else ""
        if tok.punct or tok.text in _CLAUSE_BREAKS or _is_negation(tok.text):
            return ""
        j -= 1
        steps += 1
    return ""


def _listed_after(toks: list[_Tok], j: int,
                  mentions_ending: Mapping[int, tuple[int, Mention]],
                  sources: Mapping[int, str] | None = None, i: int = -1) -> str | None:
    """The hedge a mention inherits from the one it is listed after, the list joined at token
    ``j``; None when ``j`` joins no list. "there might be a cat or a dog" joins with and/or;
    a comma ("such as birds, squirrels, and deer") passes on only a generic or example hedge,
    since "there might be a cat, and a dog sleeps here" is a new clause. A definite mention
    before "and"/"or" says nothing of the scope (it is never hedged), so the look back goes
    on: "you could sit on the couch and watch TV"."""
    word = toks[j].text
    if word in ("and", "or") and j - 1 in mentions_ending:
        if (sources or {}).get(j - 1) in ("definite", "generic definite", "implied"):
            return None  # an implied person's hedge is its own: "a vendor and three customers"
        return mentions_ending[j - 1][1].hedge
    comma = j - 1 if word in ("and", "or") and j > 0 and toks[j - 1].text == "," else j
    if comma == j == i - 1 and word == "," and comma - 1 in mentions_ending \
            and (sources or {}).get(comma - 1) not in ("definite", "generic definite",
                                                       "implied"):
        return mentions_ending[comma - 1][1].hedge  # "zebras, elephants and antelopes": a list
    if toks[comma].text == "," and comma - 1 in mentions_ending:
        after = comma + 1
        if after < len(toks) and toks[after].text in ("and", "or"):
            after += 1
        if (after < len(toks) and _bare_verb(toks[after])
                and _match(toks, after, vocabulary(), _LONGEST) is None):
            return None  # ", or read a book": a verb phrase, not a list (see _continues)
        hedge = mentions_ending[comma - 1][1].hedge
        if hedge in _COMPARISONS:
            return ""  # its phrase ends at the comma: "Unlike a cat, the woman holds a dog"
        return hedge if hedge in _GENERIC_DETERMINERS or hedge in _EXAMPLES else ""
    return None


def _example_ending(toks: list[_Tok], j: int) -> str:
    """The example or comparison phrase ("such as", "for example", "unlike", "instead of")
    whose last word is token ``j``, or "". "Like" after a plural is one too ("vehicles like
    buses"), not after a verb ("looks like a bus", the rules' ``like_verbs``)."""
    for phrase in _RULES.examples:
        start = j - len(phrase) + 1
        if start >= 0 and tuple(t.text for t in toks[start:j + 1]) == phrase:
            return " ".join(phrase)
    if toks[j].text == "like" and j > 0:
        before = toks[j - 2].text if toks[j - 1].text == "," and j > 1 else toks[j - 1].text
        if (len(before) > 3 and before.endswith("s") and not before.endswith("ss")
                and before not in _LIKE_VERBS):
            return "like"
    return ""


def _example_list(toks: list[_Tok], j: int) -> str:
    """The example phrase that opens the list whose comma is token ``j``: "service vehicles,
    like baggage carts, catering trucks and buses" (the trucks are examples although the first
    item is no mention). Walks back over items of up to four words separated by commas; ""
    when the list opens with none, or with a comparison ("unlike", "instead of"), whose phrase
    the comma ends."""
    k = j - 1
    words = 0
    while k >= 0 and words <= 4:
        tok = toks[k]
        if tok.text == ",":
            words = 0
        elif tok.punct or tok.text in _CLAUSE_BREAKS or _is_negation(tok.text):
            return ""
        else:
            example = _example_ending(toks, k)
            if example:
                # A comparison's phrase ends at its comma: "Unlike a cat, the woman holds a
                # dog" holds one.
                return "" if example in _COMPARISONS else example
            words += 1
        k -= 1
    return ""


def _verb_use(toks: list[_Tok], j: int) -> bool:
    """Whether the modal word at token ``j`` is a verb, not a noun ("a can of soda", "the
    trash can")."""
    before = toks[j - 1].text if j > 0 else ""
    after = toks[j + 1].text if j + 1 < len(toks) else ""
    if toks[j].text == "can" and before in _NOUN_MODAL_BEFORE:
        return False  # "the trash can"; "some soda would go with it" is a verb
    return before not in _DETERMINERS and after != "of"


def _perceives(toks: list[_Tok], j: int) -> bool:
    """Whether the modal at token ``j`` is about seeing: "can see", "could be seen"."""
    k = j + 1
    while k < len(toks) and toks[k].text in _PERCEPTION_FILLERS:
        k += 1
    if k < len(toks) and toks[k].text == "make":
        # "you can make out a dog" sees; "a vase would also make the window nicer" does not.
        return k + 1 < len(toks) and toks[k + 1].text == "out"
    return k < len(toks) and toks[k].text in _PERCEPTION


def _hedge_after(toks: list[_Tok], k: int, *, generic: bool = False,
                 agent: bool = False, compare: bool = False) -> str:
    """What hedges the mention ending before token ``k`` as a subject, or "": a modal (not about
    seeing) or hedging adverb after it ("people might visit", "birds often come"), after
    optional fillers or one short prepositional or participle phrase ("people in the area
    might"); with ``compare``, also after a comparison ("a wall clock like this often hangs":
    :func:`_generic_definite` asks, as "like this" points at one in the photo, which is then
    no hedged subject). A ``generic`` plural
    subject (:func:`_generic_plural`) is also hedged by a habitual verb ("many tourists visit
    the pagoda", "some people also like a clock nearby") or a kind predicate ("birds near
    runways are a known danger"); an unspecified ``agent`` ("someone") by a perfect or
    prospective verb ("someone has just made a fresh espresso", "someone is about to eat this
    pizza"; "someone is sitting on the bench" is a claim)."""
    if compare:
        k += len(_phrase_at(toks, k, _SUBJECT_COMPARISONS).split())
    if k < len(toks) and (toks[k].text in _SUBJECT_PREPOSITIONS or toks[k].text in ("and", "or")
                          or (toks[k].text.endswith("ing") and len(toks[k].text) > 4)):
        coordinated = toks[k].text in ("and", "or")
        if coordinated and not _noun_phrase_start(toks, k + 1, bare=True):
            return ""  # "a man rides a bike and could fall": a verb phrase, not a subject
        predicate = _predicate_start(toks, k, generic, agent)
        if predicate is None:
            return ""
        k = predicate
    while k < len(toks) and not toks[k].punct:
        word = toks[k].text
        if word in _HEDGE_MODALS:
            return "" if _perceives(toks, k) else word  # "a cat can be seen"
        hedge = _predicate_hedge(toks, k, generic, agent)
        if hedge:
            return hedge
        if word in _AUXILIARIES:
            adverb = k + 1
            while adverb < len(toks) and toks[adverb].text in _SUBJECT_FILLERS:
                adverb += 1
            if adverb < len(toks) and toks[adverb].text in _HEDGE_ADVERBS:
                return toks[adverb].text  # "its family is probably out"
            return ""
        if word not in _SUBJECT_FILLERS:
            return ""
        k += 1
    return ""


def _predicate_start(toks: list[_Tok], k: int, generic: bool, agent: bool) -> int | None:
    """Where the hedged predicate of a subject whose modifiers start at token ``k`` begins: its
    modal or hedge (see :func:`_predicate_hedge`) after up to sixteen words of prepositional or
    participle phrases ("people in the area might", "drivers approaching the light should", "a
    small vase of flowers next to the cake, or a second cake on another stand, would"), with
    noun phrases coordinated in them; None when a verb (the rules' ``subject_verbs``), a relative
    clause or a new clause comes first ("a man with a dog is walking and might …")."""
    for m in range(k + 1, min(k + 17, len(toks))):
        tok = toks[m]
        word = tok.text
        if (word in _HEDGE_MODALS and _verb_use(toks, m)) or _predicate_hedge(toks, m, generic,
                                                                               agent):
            return m
        if word in _SUBJECT_VERBS or word in _RELATIVE_STARTS:
            return None
        nxt = m + 1
        if word == ",":
            if nxt < len(toks) and toks[nxt].text in _HEDGE_MODALS:
                continue  # "…, or a second cake on another stand, would"
            if nxt < len(toks) and toks[nxt].text in ("and", "or"):
                nxt += 1
            else:
                return None
        elif tok.punct or (word not in ("and", "or") and word in _CLAUSE_BREAKS):
            return None
        if word in (",", "and", "or") and not _noun_phrase_start(toks, nxt, bare=word != ","):
            return None
    return None


def _noun_phrase_start(toks: list[_Tok], k: int, bare: bool = False) -> bool:
    """Whether token ``k`` opens a noun phrase: a determiner, a number or a quantifier; with
    ``bare`` (right after "and"/"or") also a bare noun ("large ships and storms would"), that is
    any word but a subject pronoun, a verb of the rules' ``subject_verbs`` or a clause break."""
    if k >= len(toks) or toks[k].punct:
        return False
    word = toks[k].text
    if word in _DETERMINERS or word in _GENERIC_QUANTIFIERS or _number(word) is not None:
        return True
    return bare and not (word in _CLAUSE_SUBJECTS or word in _SUBJECT_VERBS
                         or word in _CLAUSE_BREAKS or word in _HEDGE_MODALS)


def _predicate_hedge(toks: list[_Tok], k: int, generic: bool, agent: bool) -> str:
    """The hedge a subject's predicate starting at token ``k`` gives (see :func:`_hedge_after`),
    modals aside: a hedging adverb; for a generic plural a habitual verb or a kind predicate;
    for an agent a perfect or prospective verb."""
    word = toks[k].text
    if word in _HEDGE_ADVERBS:
        return word
    if generic:
        if word in _HABITUAL_VERBS:
            return word
        kind = _phrase_at(toks, k, _KIND_PREDICATES)
        if kind:
            return kind
    if agent:
        aspect = _phrase_at(toks, k, _AGENT_ASPECTS)
        if aspect:
            return aspect
    return ""


def _partial(toks: list[_Tok], i: int) -> bool:
    """Whether a counted mention starting at token ``i`` names a part of the instances: "two
    other cows", "two cows in the foreground", "two cows stand while a third grazes". A phrase
    followed by "of" is a relation to another object ("three pigeons in front of the benches"),
    not a part."""
    if any(t.text in _RULES.partial_before for t in toks[max(0, i - 3):i]):
        return True
    end = i
    while end < len(toks) and toks[end].text not in _SENTENCE_ENDS:
        end += 1
    words = tuple(t.text for t in toks[i:end])
    return any(words[s:s + len(p)] == p and not _relates(words[s + len(p):])
               for p in _RULES.partial_counts for s in range(len(words) - len(p) + 1))


def _relates(after: tuple[str, ...]) -> bool:
    """Whether the words after a position phrase make it a relation to an object: "… of the
    barn", "… side of the bus"; not "… of the picture" (the rules' ``picture_nouns``)."""
    if after[:1] == ("side",):
        after = after[1:]
    if after[:1] != ("of",):
        return False
    rest = after[1:]
    if rest[:1] in (("the",), ("this",), ("that",)):
        rest = rest[1:]
    return rest[:1] == () or rest[0] not in _RULES.picture_nouns


# A region phrase may follow its noun after one participle or "that are"-style link ("two cows
# grazing on the left", "the two cows standing on the right side").
_REGION_GAP = 2


def _region(toks: list[_Tok], k: int) -> str:
    """The part of the picture a counted mention ending before token ``k`` is limited to ("the
    two cows on the left" → ``"left"``; the rules' ``partial_regions``), or "". The phrase must
    start within :data:`_REGION_GAP` words of the noun and not be followed by "of" (a relation:
    "two cows to the left of the barn")."""
    regions = _RULES.partial_regions
    longest = max((len(p) for p in regions), default=0)
    for start in range(k, min(k + _REGION_GAP + 1, len(toks))):
        if toks[start].punct:
            return ""
        for n in range(min(longest, len(toks) - start), 0, -1):
            phrase = tuple(t.text for t in toks[start:start + n])
            if phrase in regions:
                after = tuple(t.text for t in toks[start + n:start + n + 4])
                return "" if _relates(after) else regions[phrase]
        if start > k and not toks[start - 1].text.endswith("ing") and toks[start - 1].text \
                not in ("are", "is", "that", "which", "who"):
            return ""
    return ""
