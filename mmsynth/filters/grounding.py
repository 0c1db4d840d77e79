"""Grounding check (CHAIR-style): every object an answer names must be in the image.

The objects a text names are its *mentions* (:func:`mmsynth.filters.mentions.mentions`, with
the vocabulary of :mod:`mmsynth.filters.vocabulary`: COCO's categories, synonyms, kinds,
plurals, negations and count claims). This module holds what they are checked against (the
:class:`Evidence` of an image), the check and its stage (:class:`GroundingCheck`), and the
stage's summaries (:func:`summarize`, :func:`stats_from_samples`).

A sample's ``annotations`` have this shape (the COCO source writes it)::

    {"objects": [{"category": "giraffe",        # a COCO category name
                  "bbox": [x, y, w, h],          # COCO pixel box (unused here)
                  "iscrowd": 0}, ...],           # 1/True: one box over a crowd of instances
     "captions": ["Two giraffes ...", ...],      # the human captions of the image
     "width": 640, "height": 480}                # image size (unused here)

*Allowed* categories are the annotated ones plus every category a caption mentions (not
negated). A mention of anything else is rejected as ``hallucinated_object:<category>``. A count
claim is checked only for a category that is annotated and has no crowd box: a category-level
word ("giraffes", "people", "sofas") must equal the annotated count, a word for a kind of it
("men", "puppies") may be a subset (≤), and a count any caption states for that category is
accepted too, as is a caption's count in other words, from one list ("a man and a woman": two
people; not "the catcher … as the batter swings", which may name one person twice). A kind word
counts every box when a caption counts that word with the annotated number ("five pigeons" and
five bird boxes: "three pigeons" is wrong). A caption's ambiguous word stands for the annotated
one among its alternatives ("a computer" over a tv box allows the tv, not a laptop). A count of
a part ("two other cows", "two cows in the foreground", "two cows while a third grazes") may be
smaller than the annotated one; a count of a part of the picture ("the two cows on the left")
is checked against the boxes whose centres lie there (with a margin of
:data:`REGION_MARGIN` around the middle); "… in front of the barn", "… to the left of the bus"
relate the objects to another one and are no part. "Two of the cows", "at least two", "a few",
"several", "both of the" are no count claims. Otherwise it is ``wrong_count:<category>``.

Claims, not only mentions. A mention is checked when it says the object is there. Negated ones
never are. A *hedged* one — an indefinite mention under a conditional, modal or hedging adverb
in its clause ("if a dog were here", "there might be a dog", "people might visit", "someone
must have left it"), after a generic determiner ("other vehicles", "any car") or an example
phrase ("animals such as birds") — is a hypothetical or generic reference (the rules are
:func:`mmsynth.filters.mentions._hedge`'s, their words ``configs/grounding/rules.yaml``). A
definite mention ("the dog might be hungry") is presupposed and always a claim, and so is a
modal about seeing ("you can see a dog"). A role word is grounded by what implies it: "the
driver" by an annotated car, bus, truck, train, boat or motorcycle, "passengers" and
"travelers" by a bus, train, airplane or boat, "rider"/"cyclist" by a bicycle, motorcycle or
horse, "a farmer" by cows, sheep or a horse (the rules' ``roles``); then its count is not
checked, as people inside vehicles have no boxes. Every photo implies its photographer ("the
photographer", "the person holding the camera": the rules' ``photo_roles``).

Implied people and generic objects are hedged by grammatical cues, not by their words (a man
standing next to the cows in a photo with none is still a hallucination). Those that state a
habit or a kind, not the photo: a relative clause with a habitual verb ("the people who live
in the houses nearby", "the person who works here"); a generic plural subject with a habitual
verb or a kind predicate ("many tourists visit the pagoda", "birds near runways are a known
danger"); a sentence opening with a bare plural place ("at busy airports, buses ..."); a
definite object in a habitual statement about a generic subject ("a clock like this often
hangs above the sink"). Those that say what could be or is inferred: an inference verb ("which
suggests someone moves them"), a purpose infinitive ("a good spot to sit and read a book"), an
intended-for phrase ("set for three people"), an unspecified agent of a perfect or prospective
verb ("someone has just made a coffee", "someone is about to eat"), a relational person word
under a hedge even when definite ("the family likely sits here"). A hedge's clause scope runs
over verb phrases coordinated with its own (", or read a book"), noun phrases joined by "and",
"anything, from baking a cake", and the mentions after an earlier mention it hedges. Each rule
is a function of :mod:`mmsynth.filters.mentions` (see its ``_hedge``) with its words in the
rules file, and the same construction stated as a fact ("the man who is standing", "two
tourists visit", "at the airport, a bus", "someone is sitting on the bench") is still a claim.

Also hedged: a subject whose modal comes after long modifiers or coordinated noun phrases ("a
small vase of flowers next to the cake, or a second cake on another stand, would"; not once a
verb comes first), a subject with a copula and a hedging adverb ("its family is probably out"),
people in a clause opened by "until"/"before" under a main clause's modal, people in a habitual
where-clause ("pigeons gather where people feed them") or after "for many", objects after a
comparison ("unlike a small car", "instead of forks") or in a list of examples opened by "like"
after a plural, and, in a speculative answer to a hypothetical question ("What should
beachgoers bring?", "How would you cut the cake?"), the answer's indefinite objects. An object
word before a compound head ("a bike lane", "a horse trailer") is no mention at all.

Strictness per answer type (``sample.meta["type"]``, the rules' ``speculative_types``):
``conversation`` and ``reasoning`` answers may speculate, so their hedged mentions are not
checked (nor counted among the checked mentions). ``detail`` descriptions state facts: a hedge
excuses nothing there ("there might be a dog" in a detail description names a dog that is not
in the image), and neither does it in a sample with no type. Roles, counts of parts and
negations are the same for every type. Questions follow their sample's type.

A sample whose answers, taken together, share too few content words with the captions and
category names is ``off_topic`` (a small model that rambles about sunsets names no object, so
nothing else would catch it); a reasoning answer needs a smaller share than the others, as it
speculates about what no caption says.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmsynth.boxes import strip_citations
from mmsynth.filters.citations import citation_problems
from mmsynth.filters.mentions import Mention, mentions
from mmsynth.filters.vocabulary import (
    COCO_CATEGORIES,
    NUMBER_WORDS,
    SUPERCATEGORIES,
    SUPERCATEGORY_OF,
    UNCOUNTED_CATEGORIES,
    load_rules,
    load_vocabulary,
    plural,
)
from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample, without_image_token
from mmsynth.stages import Stage

# Public names; the vocabulary and mention names among them are re-exported for the callers that
# import them from here (as before the split).
__all__ = [
    "COCO_CATEGORIES", "SUPERCATEGORIES", "SUPERCATEGORY_OF", "UNCOUNTED_CATEGORIES", "Evidence",
    "GroundingCheck", "Mention", "Problem", "check_text", "context_overlap", "mentions", "plural",
    "speculative", "stats_from_samples", "summarize",
]

# ---------------------------------------------------------------------------------------------
# The check.

@dataclass(frozen=True)
class Evidence:
    """What an image is known to contain: annotated categories (non-crowd counts), categories
    with crowd boxes, and categories (with any counts) its captions mention."""

    annotated: Mapping[str, int]
    crowd: frozenset[str]
    captioned: frozenset[str]
    caption_counts: Mapping[str, frozenset[int]]
    # Box centres of the non-crowd boxes per category, as fractions of the image's width and
    # height (empty when the image size is unknown): for counts limited to a part of the picture.
    centres: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    # The counts captions give per word (lower case): "five pigeons" → {"pigeons": {5}}.
    word_counts: Mapping[str, frozenset[int]] = field(default_factory=dict)
    # The captions' content words (crudely stemmed, see _content_words).
    caption_words: frozenset[str] = frozenset()

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, Any] | None) -> Evidence:
        annotations = annotations or {}
        counts: Counter[str] = Counter()
        crowd = set()
        width = float(annotations.get("width") or 0)
        height = float(annotations.get("height") or 0)
        centres: dict[str, list[tuple[float, float]]] = {}
        for obj in annotations.get("objects") or ():
            category = obj["category"]
            if obj.get("iscrowd"):
                crowd.add(category)
                counts[category] += 0
                continue
            counts[category] += 1
            box = obj.get("bbox")
            if width > 0 and height > 0 and box is not None and len(box) == 4:
                x, y, w, h = (float(v) for v in box)
                centres.setdefault(category, []).append(((x + w / 2) / width,
                                                         (y + h / 2) / height))
        captioned: set[str] = set()
        caption_counts: dict[str, set[int]] = {}
        word_counts: dict[str, set[int]] = {}
        for caption in annotations.get("captions") or ():
            stated = [m for m in mentions(caption) if not m.negated]
            for m in stated:
                captioned.update(_caption_grounds(m, counts))
                if m.count is not None:
                    caption_counts.setdefault(m.category, set()).add(m.count)
                    word_counts.setdefault(m.word.lower(), set()).add(m.count)
            for category, total in _caption_totals(caption, stated).items():
                caption_counts.setdefault(category, set()).add(total)
        return cls(dict(counts), frozenset(crowd), frozenset(captioned),
                   {k: frozenset(v) for k, v in caption_counts.items()},
                   {k: tuple(v) for k, v in centres.items()},
                   {k: frozenset(v) for k, v in word_counts.items()},
                   frozenset(_content_words(" ".join(annotations.get("captions") or ()))))

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self.annotated) | self.captioned

    def count_problem(self, m: Mention) -> str | None:
        """Why the count ``m`` states contradicts the annotations, or None."""
        if m.count is None:
            return None
        cats = m.grounding
        if any(c in self.crowd or c not in self.annotated for c in cats if c in self.allowed):
            return None  # a crowd box, or known only from captions: no reliable count
        annotated = sum(self.annotated.get(c, 0) for c in cats)
        if annotated == 0 or m.count in self.caption_counts.get(m.category, ()):
            return None
        if m.region and all(c in self.centres for c in cats if c in self.annotated):
            return self._region_count_problem(m, cats)
        # A word for a kind ("pigeons" of bird) may count a subset, unless a caption counts that
        # word with the annotated number: then every box is of that kind ("five pigeons").
        every_box = annotated in self.word_counts.get(m.word.lower(), ())
        subset = (not m.exact and not every_box) or m.partial or len(cats) > 1
        if (m.count > annotated) if subset else (m.count != annotated):
            return f"says {m.count} ({m.word!r}) but {annotated} annotated"
        return None

    def _region_count_problem(self, m: Mention, cats: Sequence[str]) -> str | None:
        """A count limited to a part of the picture ("the two cows on the left") against the
        boxes there: at least the boxes clearly in that part (centre beyond
        :data:`REGION_MARGIN` past the middle), at most those not clearly outside it."""
        axis = 0 if m.region in ("left", "right") else 1
        low_side = m.region in ("left", "top")
        positions = [c[axis] if low_side else 1 - c[axis]
                     for cat in cats for c in self.centres.get(cat, ())]
        inside = sum(p < 0.5 - REGION_MARGIN for p in positions)
        possible = sum(p < 0.5 + REGION_MARGIN for p in positions)
        if inside <= m.count <= possible:
            return None
        where = f"{inside}" if inside == possible else f"{inside} to {possible}"
        return (f"says {m.count} ({m.word!r}) on the {m.region} but {where} of the "
                f"{len(positions)} boxes lie there")


# How far past the middle of the picture a box centre must lie to be clearly in one half (a
# fraction of the image size), for counts limited to a part of the picture.
REGION_MARGIN = 0.10


def _caption_grounds(m: Mention, annotated: Mapping[str, int]) -> tuple[str, ...]:
    """The categories a caption's mention makes allowed: an ambiguous word ("a computer": laptop,
    tv or keyboard) stands for the annotated ones among its alternatives when there are any (the
    caption describes the boxed object), else for all of them."""
    boxed = tuple(c for c in m.grounding if c in annotated)
    return boxed if m.alternatives and boxed else m.grounding


# What may stand between two listed mentions of a caption ("a man and a woman", "a batter, a
# catcher and an umpire", "two men and a young boy"): a list word, a determiner or a number, and
# at most two other words (modifiers of the next noun).
_LIST_WORDS = frozenset({"and", ","})
_LIST_FILLERS = frozenset({"a", "an", "the", "another", "some", "several", *NUMBER_WORDS})


def _listed(caption: str, a: Mention, b: Mention) -> bool:
    """Whether mention ``b`` follows ``a`` in one list of the caption."""
    between = re.findall(r"[\w'-]+|,", caption[a.span[1]:b.span[0]].lower())
    others = [w for w in between if w not in _LIST_WORDS and w not in _LIST_FILLERS]
    return bool(_LIST_WORDS & set(between)) and len(others) <= 2


def _caption_totals(caption: str, stated: Sequence[Mention]) -> dict[str, int]:
    """A caption's count per category in other words: "a man and a woman" are two people, "two
    men and a boy" three. Only where the caption's mentions of the category are one list of
    counted or singular mentions: "the catcher … as the batter swings" may name one person
    twice, and "a batter swings while the catcher and umpire crouch" has three, not two."""
    runs: dict[str, list[list[Mention]]] = {}
    previous: Mention | None = None
    for m in stated:
        mine = runs.setdefault(m.category, [])
        # A list continues only from the mention right before this one, of the same category.
        if mine and mine[-1][-1] is previous and _listed(caption, previous, m):
            mine[-1].append(m)
        else:
            mine.append([m])
        previous = m
    return {category: sum(r.count or 1 for r in found[0])
            for category, found in runs.items()
            if len(found) == 1 and len(found[0]) > 1
            and all(r.count is not None or not r.plural for r in found[0])}


@dataclass(frozen=True)
class Problem:
    """One ungrounded mention: ``kind`` is ``hallucinated_object`` or ``wrong_count``."""

    kind: str
    category: str
    turn: int
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.kind}:{self.category}"


_EXISTENCE_QUESTION = re.compile(
    r"^\s*(is|are) (there|any)\b|\b(do|can|could) you (see|spot|find|notice)\b"
    # "Does the photo show a dog?" asks; "What does this scene suggest about the dog?" claims
    r"|^\s*(does|do) (the|this) (image|picture|photo|scene)\b|\bvisible\b|\bpresent\b",
    re.IGNORECASE,
)


_RULES = load_rules()
# Sample types whose answers come from the annotations, not an LLM.
EXACT_TYPES = frozenset({"annotation_qa", "region_qa"})


def speculative(kind: str | None) -> bool:
    """Whether answers of type ``kind`` (``sample.meta["type"]``) may speculate, so that their
    hedged and generic references are not claims (the rules' ``speculative_types``)."""
    return kind in _RULES.speculative_types


# A question that asks what one should, would or could do, or what would happen if, makes its
# answer's indefinite objects hypothetical ("What should beachgoers bring?" → "a bottle of
# water"; "How would you cut the cake?" → "with a long knife"; "Would a bicycle be a sensible
# way to get around here?" → "a bicycle has to wait"; "What could make this setup more
# comfortable?"; "Would the cat wake up if a dog wandered in?" → "a dog's claws"), unless the
# answer places them in the photo ("there is a dog on the couch", see Mention.placed). A modal
# before a definite subject or "be"/"have" asks about the photo: "What could the man be
# holding?", "What might be happening here?".
_QUESTION_MODALS = frozenset({"should", "would", "could", "might"})
_QUESTION_CONDITIONALS = frozenset({"if", "imagine", "suppose", "supposing", "unless"})
# Words after a modal that ask about the photo: a subject in it ("could the man be holding"),
# or an inference about what is there ("what might be happening", "who could have left it").
_PHOTO_SUBJECTS = frozenset({"the", "this", "that", "these", "those", "his", "her", "its",
                             "their", "my", "our", "your", "it", "he", "she", "be", "have",
                             "been"})
_WORD_RE = re.compile(r"[a-z']+")


def question_hedge(question: str) -> str:
    """The word that makes ``question`` hypothetical (see above): a modal not followed by a
    subject in the photo, or a conditional; "" when there is none."""
    words = _WORD_RE.findall((question or "").lower())
    for k, word in enumerate(words):
        if word in _QUESTION_CONDITIONALS:
            return word
        if word in _QUESTION_MODALS and (k + 1 == len(words)
                                         or words[k + 1] not in _PHOTO_SUBJECTS):
            return word
    return ""


# A general question asks about a kind of thing, not about this photo: "How much grass does a
# cow eat in a day?", "Why do surfers wax their boards?", "What does an umpire do?", "Why are
# pigeons so common in city parks?". Its answer's indefinite objects are examples of the kind
# ("a horse grazing the same pasture eats a quarter of that"), not things in the photo, unless it
# points at them (Mention.shown: "there is a horse in the background"). The question opens with a
# wh-word (and up to three words: "how much grass"), then one of _GENERAL_AUXILIARIES and a
# subject that is no definite phrase and no pronoun but "you" or "one"; and it has none of the
# words that point at the photo (_PHOTO_DEIXIS). "Why are the cows lying down?", "Why is a dog on
# the couch?" and "What do you see here?" are about the photo.
_WH_WORDS = frozenset({"what", "why", "how", "when", "where", "which", "who"})
_GENERAL_AUXILIARIES = frozenset({"do", "does", "can", "are"})
_PHOTO_DEIXIS = frozenset({"this", "these", "those", "here", "there", "picture", "photo",
                           "photograph", "image", "scene", "shown", "visible", "see", "seen",
                           "he", "she", "him", "her", "his", "it", "its", "they", "them", "now",
                           "currently", "today"})
_NOT_GENERAL_SUBJECTS = frozenset({"the", "that", "my", "our", "your", "i", "we", "there",
                                   "their"}) | _PHOTO_DEIXIS


def general_question(question: str) -> bool:
    """Whether ``question`` asks about a kind of thing rather than this photo (see above)."""
    words = _WORD_RE.findall((question or "").lower())
    if not words or words[0] not in _WH_WORDS or _PHOTO_DEIXIS & set(words):
        return False
    k = 1
    while k < len(words) and k <= 3 and words[k] not in _GENERAL_AUXILIARIES:
        k += 1
    if k + 1 >= len(words) or words[k] not in _GENERAL_AUXILIARIES:
        return False
    subject = words[k + 1]
    if subject in _NOT_GENERAL_SUBJECTS or words[1] == "many":
        return False  # "how many cows does the farmer have" counts these
    if subject in NUMBER_WORDS or subject.isdigit():
        return False  # "what do two dogs ...": these two
    if subject in _STOPWORDS and subject not in ("a", "an", "you", "one"):
        return False  # "what animals are in the field": the wh-phrase is the subject
    if words[k] == "are":
        # "Why are pigeons so common?" is about pigeons; "which cars are parked", "why are
        # dogs lying on the couch?" and "what are some people doing?" about these ones.
        return k == 1 and subject not in ("a", "an") and not any(
            w.endswith(("ing", "ed")) for w in words[k + 1:])
    return True


# Content words an answer and its question must share with the captions to be about the image
# when they name none of its objects (see _about_this_image).
ABOUT_MIN_SHARED_WORDS = 2


def _about_this_image(text: str, question: str, evidence: Evidence) -> bool:
    """Whether an answer and its question are about this image: they name, as a claim, an
    object it has, or share :data:`ABOUT_MIN_SHARED_WORDS` content words with its captions. This
    is what lets a hypothetical question excuse the answer's other objects: "Moving the cups
    away from the laptop would be wise, since a spilled drink ruins keyboards" is about this
    table; the same words beside a photo with no cup or laptop are about another one."""
    allowed = evidence.allowed
    if any(m.claim and any(c in allowed for c in m.grounding)
           for m in (*mentions(text), *mentions(question))):
        return True
    shared = _content_words(f"{text} {question}") & evidence.caption_words
    return len(shared) >= ABOUT_MIN_SHARED_WORDS


def _about_these_objects(text: str, question: str, evidence: Evidence) -> bool:
    """Whether a general question or its answer is about a kind of object the image has: the
    question names one (hedged or not: "Why do surfers wax their boards?" beside surfers), or
    the answer claims one other than people (they are in most photos: "Why do cats like
    sleeping on couches?" → "close to its people" is not about a fruit stall's vendor). Shared
    caption words do not count: "What do elephants eat?" → "grass" is not about a farm's
    grass."""
    allowed = evidence.allowed
    return any(not m.negated and any(c in allowed for c in m.grounding)
               for m in mentions(question)) or any(
        m.claim and any(c in allowed - {"person"} for c in m.grounding) for m in mentions(text))


# A yes/no question (it opens with an auxiliary) asks whether its indefinite objects are there:
# "Was someone just cooking?", "Is the man holding a frisbee?" claim no one and no frisbee (the
# definite man is presupposed all the same).
_YES_NO_QUESTION = re.compile(
    r"^\W*(is|are|was|were|do|does|did|has|have|had|can|could|would|should|will|might|may)\b",
    re.IGNORECASE)


def check_text(text: str, evidence: Evidence, *, turn: int = 0, counts: bool = True,
               kind: str | None = None, question: str = "",
               yes_no: bool = False) -> tuple[list[Problem], int]:
    """Problems with one answer's (or question's) claims, and how many mentions were checked.

    ``kind`` is the answer type: in a speculative one (see :func:`speculative`) hedged mentions
    are not checked, nor, after a hypothetical ``question`` (:func:`question_hedge`), its
    indefinite ones that it does not place in the photo, when the answer or question names an
    object the image has (:func:`_about_this_image`); in any other every non-negated mention
    is. With ``yes_no`` the text is a yes/no question, whose indefinite mentions ask rather
    than claim. A role word is also grounded by
    a category that implies it, and then its count is not checked."""
    problems = []
    checked = 0
    allowed = evidence.allowed
    excuse_hedges = speculative(kind)
    found = mentions(text)
    asked = question_hedge(question) if excuse_hedges else ""
    if asked and not _about_this_image(text, question, evidence):
        asked = ""  # a generic answer to a hypothetical question about no object of the image
    general = excuse_hedges and general_question(question) \
        and _about_these_objects(text, question, evidence)
    for m in found:
        if m.negated or (m.hedge and excuse_hedges) or (asked and not m.definite
                                                           and not m.placed) \
                or (general and not m.definite and not m.shown) \
                or (yes_no and not m.definite):
            continue
        checked += 1
        implied = m.photo_role or any(c in allowed for c in m.implied_by)
        if not implied and not any(c in allowed for c in m.grounding):
            hedged = (f"; hedged by {m.hedge!r}, which a {kind or 'untyped'} answer states as "
                      f"a fact" if m.hedge else "")
            problems.append(Problem("hallucinated_object", m.category, turn,
                                    f"turn {turn} names {m.word!r} ({m.category}), which is "
                                    f"neither annotated nor in a caption{hedged}"))
            continue
        if implied:
            continue  # people in a vehicle, on a horse or behind the camera have no boxes
        why = evidence.count_problem(m) if counts else None
        if why:
            problems.append(Problem("wrong_count", m.category, turn, f"turn {turn} {why}"))
    return problems, checked


_STOPWORDS = load_vocabulary().words["stopwords"]


def _content_words(text: str) -> set[str]:
    words = set()
    for w in re.findall(r"[a-z]+", text.lower()):
        if len(w) < 3 or w in _STOPWORDS:
            continue
        for suffix in ("ing", "ed", "es", "s"):  # a crude stem: "sleeps"/"sleeping" → "sleep"
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[:-len(suffix)]
                if suffix in ("ing", "ed") and len(w) > 3 and w[-1] == w[-2] \
                        and w[-1] not in "lsz":
                    w = w[:-1]  # "bedding" → "bed", "running" → "run"
                break
        words.add(w)
    return words


def context_overlap(text: str, annotations: Mapping[str, Any] | None,
                    questions: Sequence[str] = ()) -> tuple[float, int]:
    """The share of ``text``'s distinct content words found in the captions and category names,
    and how many content words ``text`` has. Each of ``questions`` that shares a content word
    with them is context too: an answer may use the words of an on-topic question ("Is pizza a
    good choice for eating in front of a laptop?" → "unlike a bowl of soup, a slice can be eaten
    with one hand"); a rambling question about sunsets adds nothing."""
    annotations = annotations or {}
    context = _content_words(" ".join([*(annotations.get("captions") or ()),
                                       *(o["category"] for o in annotations.get("objects") or ())]))
    words = _content_words(text)
    if not words:
        return 1.0, 0
    # The answer's own words for the annotated objects are on topic too: "the aircraft" of an
    # airplane, "the fridge" of a refrigerator.
    # Hedged ones too ("boats pull in and out of harbours like this" is about the boats), but
    # not person words: "drivers", "pedestrians" would be on topic beside any photo of people.
    categories = {o["category"] for o in annotations.get("objects") or ()} - {"person"}
    context |= _content_words(" ".join(m.word for m in mentions(text)
                                       if not m.negated and categories & set(m.grounding)))
    asked = set()
    for question in questions:
        found = _content_words(question)
        if found & context:
            asked |= found
    return len(words & (context | asked)) / len(words), len(words)


@dataclass
class GroundingCheck(Stage):
    """A stage: keep samples whose turns name only objects the image has.

    ``mode="reject"`` rejects a sample with any problem (reason of its first problem);
    ``mode="drop_turn"`` removes each offending human/gpt pair and rejects only when none is left
    (``<image>`` moves to the first remaining question). Answers are checked for objects and
    counts; with ``check_questions`` questions are checked for objects too (a question that
    presupposes an absent object is as wrong as an answer), except existence questions ("Is
    there a dog…?"). A sample whose answers have at least ``min_content_words`` content words
    of which less than ``min_overlap`` (``reasoning_min_overlap`` for a reasoning answer) occur
    in the captions and category names is rejected as ``off_topic`` in either mode (a
    ``min_overlap`` of 0 turns this off). Samples without ``annotations`` pass
    unchanged.

    ``counters`` hold the last call's counters (for a shard's stats file); :func:`summarize`
    turns them, or the run's totals, into rates.
    Kept samples get ``meta["grounding"] = {"mentions", "hallucinated", "wrong_count",
    "dropped_turns"}`` unless ``annotate_meta`` is False.
    """

    mode: str = "reject"
    check_counts: bool = True
    check_questions: bool = True
    min_overlap: float = 0.15
    # Reasoning answers speculate about what no caption says (why, what next, what could be):
    # correct ones in the dev set share as little as 9% of their content words with the captions,
    # so they need only this share. A rambling answer about sunsets shares none.
    reasoning_min_overlap: float = 0.05
    min_content_words: int = 12
    annotate_meta: bool = True
    name: str = "grounding"

    MODES = ("reject", "drop_turn")

    def __post_init__(self) -> None:
        if self.mode not in self.MODES:
            raise ValueError(f"grounding mode must be one of {self.MODES}, got {self.mode!r}")

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        for sample in samples:
            result = self.check_sample(sample, self.counters)
            if isinstance(result, Rejection):
                rejected.append(result)
            else:
                kept.append(result)
        return kept, rejected

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals:
            return []
        s = summarize(Counter(totals))
        kept = s["samples_checked"] - s["rejected"]
        after = (f"{100 * s['kept_hallucination_rate']:.1f}% of the {kept} kept "
                 f"({s['kept_with_hallucination']} with a hallucinated object, "
                 f"{s['kept_with_wrong_count']} with a wrong count)")
        cited = ""
        if totals.get("citations"):
            cited = (f"; {totals['citations']} cited boxes checked, "
                     f"{totals.get('wrong_box', 0)} wrong")
        return [f"  grounding: {s['samples_checked']} samples checked; before the check "
                f"{100 * s['hallucination_rate']:.1f}% named an absent object (CHAIR_s; "
                f"{100 * s['mention_hallucination_rate']:.1f}% of {s['mentions_checked']} object "
                f"mentions, CHAIR_i) and {100 * s['wrong_count_rate']:.1f}% had a wrong count; "
                f"after it {after}{cited}"]

    def problems(self, sample: Sample, stats: Counter | None = None
                 ) -> tuple[list[list[Problem]], int]:
        """Problems per human/gpt pair of ``sample``, and the number of mentions checked. In a
        sample with a ``meta.box_format``, the boxes its LLM answers cite are checked
        (:mod:`mmsynth.filters.citations`; counted in ``stats``) and every text's words are
        checked without them."""
        evidence = Evidence.from_annotations(sample.annotations)
        kind = sample.meta.get("type")
        turns = sample.conversations
        boxes = sample.meta.get("box_format")
        # Region QA writes its boxes from the annotations themselves (re-derived by its tests).
        cites = boxes is not None and kind not in EXACT_TYPES
        per_pair: list[list[Problem]] = []
        checked = 0
        for p in range(0, len(turns), 2):
            pair_problems: list[Problem] = []
            question = without_image_token(turns[p].get("value", ""))
            if boxes is not None:
                question = strip_citations(question)
            if self.check_questions and not _EXISTENCE_QUESTION.search(question):
                # A yes/no question asks whether its indefinite objects are there, a general
                # one about such objects anywhere: neither claims them.
                asks = bool(_YES_NO_QUESTION.match(question)) or general_question(question)
                found, n = check_text(question, evidence, turn=p, counts=False, kind=kind,
                                      yes_no=asks)
                pair_problems += found
                checked += n
            if p + 1 < len(turns):
                answer = turns[p + 1].get("value", "")
                if cites:
                    found, n = citation_problems(answer, sample.annotations, boxes, p + 1)
                    pair_problems += found
                    if stats is not None:
                        stats["citations"] += n
                        stats["wrong_box"] += len(found)
                if boxes is not None:
                    answer = strip_citations(answer)
                found, n = check_text(answer, evidence, turn=p + 1,
                                      counts=self.check_counts, kind=kind, question=question)
                pair_problems += found
                checked += n
            per_pair.append(pair_problems)
        return per_pair, checked

    def check_sample(self, sample: Sample, stats: Counter | None = None) -> Sample | Rejection:
        """The sample (possibly with turns dropped) or its Rejection."""
        stats = stats if stats is not None else Counter()
        if sample.annotations is None:
            stats["unchecked"] += 1
            return sample
        per_pair, checked = self.problems(sample, stats)
        flat = [p for pair in per_pair for p in pair]
        hallucinated = sum(p.kind == "hallucinated_object" for p in flat)
        wrong = sum(p.kind == "wrong_count" for p in flat)
        stats["samples"] += 1
        stats["mentions"] += checked
        stats["hallucinated"] += hallucinated
        stats["wrong_count"] += wrong
        stats["samples_with_hallucination"] += hallucinated > 0
        stats["samples_with_problem"] += bool(flat)
        index = sample.meta.get("index", -1)
        detail = f"{sample.id}: " + "; ".join(p.detail for p in flat)
        keep = [i for i, pair in enumerate(per_pair) if not pair]
        if flat and (self.mode == "reject" or not keep):
            stats["rejected"] += 1
            return Rejection(index, flat[0].reason, detail, sample=sample)
        turns = sample.conversations
        answers = " ".join(turns[2 * i + 1]["value"] for i in keep if 2 * i + 1 < len(turns))
        if sample.meta.get("box_format") is not None:
            answers = strip_citations(answers)
        questions = [without_image_token(turns[2 * i]["value"]) for i in keep]
        overlap, words = context_overlap(answers, sample.annotations, questions)
        # Answers to a question about the image may explain what no caption says ("Can people
        # watch launches like this?" → "many spaceports have public viewing areas"), as a
        # reasoning answer does: they need only its share.
        explains = sample.meta.get("type") == "reasoning" or any(
            context_overlap(q, sample.annotations)[0] > 0 for q in questions)
        need = min(self.min_overlap, self.reasoning_min_overlap) if explains else self.min_overlap
        if self.min_overlap and words >= self.min_content_words and overlap < need:
            stats["off_topic"] += 1
            stats["rejected"] += 1
            return Rejection(index, "off_topic",
                             f"{sample.id}: {overlap:.0%} of {words} content words in the "
                             f"answers occur in the captions (need {need:.0%}): "
                             f"{answers[:200]!r}", sample=sample)
        if not flat:
            self._annotate(sample, checked, 0, 0, 0)
            return sample
        # Only drop_turn keeps a sample with problems, after dropping their turns; what is left
        # is checked again, so that the "after" rate is measured, not assumed.
        new_turns: list[dict[str, str]] = []
        for i in keep:
            new_turns += [dict(t) for t in turns[2 * i:2 * i + 2]]
        for t in new_turns:
            t["value"] = without_image_token(t["value"])
        new_turns[0]["value"] = f"{IMAGE_TOKEN}\n{new_turns[0]['value']}"
        dropped = len(per_pair) - len(keep)
        stats["dropped_turns"] += dropped
        sample.conversations = new_turns
        left, _ = self.problems(sample)
        left_flat = [p for pair in left for p in pair]
        stats["kept_with_hallucination"] += any(p.kind == "hallucinated_object" for p in left_flat)
        stats["kept_with_wrong_count"] += any(p.kind == "wrong_count" for p in left_flat)
        self._annotate(sample, checked, hallucinated, wrong, dropped)
        return sample

    def _annotate(self, sample: Sample, mentions_: int, hallucinated: int, wrong: int,
                  dropped: int) -> None:
        if self.annotate_meta:
            sample.meta["grounding"] = {"mentions": mentions_, "hallucinated": hallucinated,
                                        "wrong_count": wrong, "dropped_turns": dropped}


def stage_for(source: Any) -> GroundingCheck | None:
    """The chain's ``grounding`` stage for a source, unless its ``--grounding`` is off."""
    mode = source.config.get("grounding", "reject")
    return None if mode == "off" else GroundingCheck(mode=mode)


def summarize(stats: Mapping[str, int] | Sequence[Mapping[str, int]]) -> dict[str, Any]:
    """Totals and rates for a run summary from one or several stats counters.

    ``hallucination_rate`` is the share of checked samples with at least one hallucinated
    object (CHAIR_s); ``mention_hallucination_rate`` the share of checked mentions that were
    hallucinated (CHAIR_i); ``wrong_count_rate`` the share of samples with a wrong count: all
    three before the check acts. ``kept_hallucination_rate`` is the share of the samples it kept
    that still name an absent object or state a wrong count when checked again (after
    ``drop_turn`` removed turns; none under ``reject``).
    """
    total: Counter[str] = Counter()
    for s in [stats] if isinstance(stats, Mapping) else stats:
        total.update(s)
    samples, mentions_ = total["samples"], total["mentions"]
    return {
        "samples_checked": samples,
        "mentions_checked": mentions_,
        "hallucinated_mentions": total["hallucinated"],
        "wrong_counts": total["wrong_count"],
        "samples_with_hallucination": total["samples_with_hallucination"],
        "rejected": total["rejected"],
        "dropped_turns": total["dropped_turns"],
        "off_topic": total["off_topic"],
        "hallucination_rate": round(total["samples_with_hallucination"] / samples, 4)
        if samples else 0.0,
        "mention_hallucination_rate": round(total["hallucinated"] / mentions_, 4)
        if mentions_ else 0.0,
        "wrong_count_rate": round(total["wrong_count"] / samples, 4) if samples else 0.0,
        "kept_with_hallucination": total["kept_with_hallucination"],
        "kept_with_wrong_count": total["kept_with_wrong_count"],
        "kept_hallucination_rate": round(
            (total["kept_with_hallucination"] + total["kept_with_wrong_count"]) / kept, 4)
        if (kept := samples - total["rejected"]) > 0 else 0.0,
    }


def stats_from_samples(samples: Iterable[Sample | Mapping[str, Any]],
                       rejections: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The same summary rebuilt from written samples' ``meta["grounding"]`` plus a shard's or
    run's rejection counts by reason (for readers of finished shards)."""
    total: Counter[str] = Counter()
    for s in samples:
        meta = s.meta if isinstance(s, Sample) else s.get("meta", {})
        g = meta.get("grounding")
        if not g:
            continue
        total["samples"] += 1
        total["mentions"] += g["mentions"]
        total["hallucinated"] += g["hallucinated"]
        total["wrong_count"] += g["wrong_count"]
        total["samples_with_hallucination"] += g["hallucinated"] > 0
        total["dropped_turns"] += g["dropped_turns"]
    for reason, n in (rejections or {}).items():
        kind = reason.partition(":")[0]
        if kind == "off_topic":
            total["samples"] += n
            total["rejected"] += n
            total["off_topic"] += n
        elif kind in ("hallucinated_object", "wrong_count"):
            total["samples"] += n
            total["rejected"] += n
            if kind == "hallucinated_object":
                total["samples_with_hallucination"] += n
                total["hallucinated"] += n  # at least one each
            else:
                total["wrong_count"] += n
    return summarize(total)
