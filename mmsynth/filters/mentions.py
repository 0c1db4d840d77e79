"""Object mentions in a text, found with the grounding vocabulary (:mod:`.vocabulary`).

An answer's object *mentions* are found with a vocabulary of COCO's 80 categories, their
synonyms, kinds and plurals ("men" → person, "bike" → bicycle or motorcycle, "sofa" → couch),
matched longest-first so that "hot dog" is not a dog and "teddy bear" is not a bear. A mention
inside a negation ("there is no dog", "without an umbrella", "there aren't any cars") or a
figure of speech ("shaped like a bear", "a toy car", "a painting of a horse") is not a claim
that the object is there. A number in front of a mention ("three giraffes", "a pair of dogs",
"only one cat") is a count claim. A mention also records whether it is only a hypothetical or
generic reference (``hedge``: "there might be a dog", "other vehicles", "people often visit";
see :func:`_hedge`), the categories that imply it as a role (``implied_by``: "the driver" of a
car) and whether its count covers only a part of the instances (``partial``: "two other cows",
"two cows in the foreground"). What a mention must match in the image, and which hedges an
answer type may use, is :mod:`mmsynth.filters.grounding`'s business.

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
_HEDGE_ADVERBS = _HEDGES["adverbs"]
_GENERIC_DETERMINERS = _HEDGES["generic_determiners"]
_PERCEPTION = _HEDGES["perception"]
_PERCEPTION_FILLERS = _HEDGES["perception_fillers"]
_SUBJECT_FILLERS = _HEDGES["subject_fillers"]
_SUBJECT_PREPOSITIONS = _HEDGES["subject_prepositions"]
_RELATIVE_STARTS = _HEDGES["relative_starts"]
_NOUN_MODAL_BEFORE = _HEDGES["noun_modal_before"]
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
    # The count covers a part of the instances ("two cows in the foreground"): at most, not equal.
    partial: bool = False
    # The count is of the instances in one part of the picture ("the two cows on the left"):
    # ``left``/``right``/``top``/``bottom``, or "" (see :func:`_region`).
    region: str = ""
    plural: bool = False

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
    bounds: list[tuple[int, int]] = []  # per mention: its first and last token
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
        if term.category is None or not _literal_use(toks, i, n):
            i += n
            continue
        following = _match(toks, i + n, vocab, longest)
        if following is not None and following[1].category is not None:
            i += n  # a modifier of the next object: "baby elephant", "bus driver"
            continue
        count = _stated_count(toks, i) if term.countable else None
        hedge, source = _hedge_of(text, toks, i, n, starts)
        mention = Mention(
            category=term.category,
            count=count,
            negated=_negated(toks, i, starts),
            span=(toks[i].start, toks[i + n - 1].end),
            word=text[toks[i].start:toks[i + n - 1].end],
            alternatives=term.alternatives,
            exact=term.exact,
            hedge=hedge,
            implied_by=_RULES.roles.get(tuple(t.text for t in toks[i:i + n]), ()),
            partial=count is not None and _partial(toks, i),
            region=_region(toks, i + n) if count is not None else "",
            plural=term.plural,
        )
        found.append(mention)
        hedged_by.append(source)
        bounds.append((i, i + n - 1))
        starts[i + n - 1] = (i, mention)
        i += n
    return _coordinated_subjects(toks, found, hedged_by, bounds)


def _coordinated_subjects(toks: list[_Tok], found: list[Mention], hedged_by: list[str],
                          bounds: list[tuple[int, int]]) -> list[Mention]:
    """A subject's hedge covers the indefinite subjects listed before it: "pedestrians and
    cyclists should be careful" hedges both."""
    for k in range(len(found) - 2, -1, -1):
        a, b = found[k], found[k + 1]
        if hedged_by[k] != "indefinite" or hedged_by[k + 1] != "after":
            continue
        between = toks[bounds[k][1] + 1:bounds[k + 1][0]]
        if between and all(t.text in ("and", "or", ",") or t.text in _DETERMINERS
                           for t in between) and any(t.text in ("and", "or") for t in between):
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


def _number(word: str) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if 0 < value < 1000 else None
    return NUMBER_WORDS.get(word)


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
        if word == "of" and j >= 2 and toks[j - 1].text == "pair" and toks[j - 2].text == "a":
            return 2
        if word in _COUNT_BREAKS or word in _NEGATIONS:
            return None
        if word == "single":
            return 1
        j -= 1
        skipped += 1
    return None


def _qualified(toks: list[_Tok], j: int, value: int) -> int | None:
    """``value`` at token ``j`` as a total claim, unless a qualifier makes it a bound or a part."""
    before = toks[j - 1].text if j > 0 and not toks[j - 1].punct else ""
    if before in _COUNT_QUALIFIERS:
        return None
    if toks[j].text == "dozen" and before != "a":
        return None  # "dozens", "half a dozen"
    if value == 1:
        two_before = toks[j - 2].text if j > 1 else ""
        if before in _EXACT_ONE_BEFORE or (before in ("is", "'s") and two_before == "there"):
            return 1
        if before == "there's":
            return 1
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Claims and references: which mentions say the object is there (the claim rules'
# ``configs/grounding/rules.yaml`` holds the words).

def _possessive(text: str, tok: _Tok) -> bool:
    raw = text[tok.start:tok.end].lower().replace("’", "'")
    return raw.endswith(("'s", "s'"))


def _reference(text: str, toks: list[_Tok], i: int) -> str:
    """How the noun phrase ending in the mention at token ``i`` refers: ``"definite"`` ("the
    dog", "his bike", "the man's hat", "the other cars"), a generic determiner ("other", "any",
    "such": "other vehicles"), or ``"indefinite"`` ("a dog", "two dogs", "people", "someone").
    Looks back over up to three modifiers."""
    j = i - 1
    skipped = 0
    while j >= 0 and skipped <= 3:
        tok = toks[j]
        if tok.punct:
            break
        word = tok.text
        if word in _DEFINITE or _possessive(text, tok):
            return "definite"
        if _example_ending(toks, j):
            break  # "such as birds": the example phrase is the hedge
        if word in _GENERIC_DETERMINERS or word in _DETERMINERS or _number(word) is not None:
            prev = toks[j - 1] if j > 0 and not toks[j - 1].punct else None
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


def _hedge(text: str, toks: list[_Tok], i: int, n: int,
           mentions_ending: Mapping[int, tuple[int, Mention]]) -> str:
    """The word that makes the mention at ``toks[i:i + n]`` a hypothetical or generic reference,
    or "" for a claim.

    Only an indefinite mention can be hedged (a definite one is presupposed: "the dog might be
    hungry" says there is a dog). It is hedged by a generic determiner ("other vehicles"); by a
    conditional, modal or hedging adverb earlier in its clause ("if a dog were here", "there
    might be a dog", "there is probably a cat"), unless the modal is about seeing ("you can see
    a dog"); by an example phrase ("such as birds"); by a hedged mention it is listed with
    ("such as birds and squirrels"); or, as the subject, by a modal or adverb right after it
    ("people might visit", "someone must have left it", "birds often come"), unless that is in
    a relative clause ("a dog that might bite")."""
    return _hedge_of(text, toks, i, n, mentions_ending)[0]


def _hedge_of(text: str, toks: list[_Tok], i: int, n: int,
              mentions_ending: Mapping[int, tuple[int, Mention]]) -> tuple[str, str]:
    """:func:`_hedge`'s word and where it came from: ``"definite"`` (none can apply),
    ``"generic"``, ``"before"``, ``"after"`` (as the subject), or ``"indefinite"`` (none
    found)."""
    reference = _reference(text, toks, i)
    if reference == "definite":
        return "", "definite"
    if reference != "indefinite":
        return reference, "generic"
    before = _hedge_before(toks, i, mentions_ending)
    if before:
        return before, "before"
    after = _hedge_after(toks, i + n)
    return (after, "after") if after else ("", "indefinite")


def _hedge_before(toks: list[_Tok], i: int,
                  mentions_ending: Mapping[int, tuple[int, Mention]]) -> str:
    j = i - 1
    steps = 0
    while j >= 0 and steps < 10:
        tok = toks[j]
        example = _example_ending(toks, j - 1) if tok.text == "," else ""
        if example:
            return example  # "for example, a cat"
        listed = _listed_after(toks, j, mentions_ending)
        if listed is not None:
            return listed
        if tok.punct and tok.text != '"':
            return ""
        word = tok.text
        if word in _CLAUSE_BREAKS or _is_negation(word):
            return ""
        if word in _CONDITIONALS or word in _HEDGE_ADVERBS:
            return word
        if word in _HEDGE_MODALS and _verb_use(toks, j):
            return "" if _perceives(toks, j) else word
        example = _example_ending(toks, j)
        if example:
            return example
        j -= 1
        steps += 1
    return ""


def _listed_after(toks: list[_Tok], j: int,
                  mentions_ending: Mapping[int, tuple[int, Mention]]) -> str | None:
    """The hedge a mention inherits from the one it is listed after, the list joined at token
    ``j``; None when ``j`` joins no list. "there might be a cat or a dog" joins with and/or;
    a comma ("such as birds, squirrels, and deer") passes on only a generic or example hedge,
    since "there might be a cat, and a dog sleeps here" is a new clause."""
    word = toks[j].text
    if word in ("and", "or") and j - 1 in mentions_ending:
        return mentions_ending[j - 1][1].hedge
    comma = j - 1 if word in ("and", "or") and j > 0 and toks[j - 1].text == "," else j
    if toks[comma].text == "," and comma - 1 in mentions_ending:
        hedge = mentions_ending[comma - 1][1].hedge
        return hedge if hedge in _GENERIC_DETERMINERS or hedge in _EXAMPLES else ""
    return None


def _example_ending(toks: list[_Tok], j: int) -> str:
    """The example phrase ("such as", "for example") whose last word is token ``j``, or ""."""
    for phrase in _RULES.examples:
        start = j - len(phrase) + 1
        if start >= 0 and tuple(t.text for t in toks[start:j + 1]) == phrase:
            return " ".join(phrase)
    return ""


def _verb_use(toks: list[_Tok], j: int) -> bool:
    """Whether the modal word at token ``j`` is a verb, not a noun ("a can of soda", "the
    trash can")."""
    before = toks[j - 1].text if j > 0 else ""
    after = toks[j + 1].text if j + 1 < len(toks) else ""
    return before not in _DETERMINERS and before not in _NOUN_MODAL_BEFORE and after != "of"


def _perceives(toks: list[_Tok], j: int) -> bool:
    """Whether the modal at token ``j`` is about seeing: "can see", "could be seen"."""
    k = j + 1
    while k < len(toks) and toks[k].text in _PERCEPTION_FILLERS:
        k += 1
    return k < len(toks) and toks[k].text in _PERCEPTION


def _hedge_after(toks: list[_Tok], k: int) -> str:
    """A modal or hedging adverb the mention ending before token ``k`` is the subject of."""
    if k < len(toks) and (toks[k].text in _SUBJECT_PREPOSITIONS
                          or (toks[k].text.endswith("ing") and len(toks[k].text) > 4)):
        # One short prepositional or participle phrase: "people in the area might", "drivers
        # approaching the light should".
        for m in range(k + 1, min(k + 5, len(toks))):
            word = toks[m].text
            if toks[m].punct or word in _RELATIVE_STARTS or word in _CLAUSE_BREAKS:
                return ""
            if word in _HEDGE_MODALS or word in _HEDGE_ADVERBS:
                k = m
                break
        else:
            return ""
    while k < len(toks) and not toks[k].punct:
        word = toks[k].text
        if word in _HEDGE_MODALS:
            return "" if _perceives(toks, k) else word  # "a cat can be seen"
        if word in _HEDGE_ADVERBS:
            return word
        if word not in _SUBJECT_FILLERS:
            return ""
        k += 1
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
