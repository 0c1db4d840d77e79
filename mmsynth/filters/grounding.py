"""Grounding check (CHAIR-style): every object an answer names must be in the image.

An answer's object *mentions* are found with a vocabulary of COCO's 80 categories, their
synonyms, kinds and plurals ("men" → person, "bike" → bicycle or motorcycle, "sofa" → couch),
matched longest-first so that "hot dog" is not a dog and "teddy bear" is not a bear. A mention
inside a negation ("there is no dog", "without an umbrella", "there aren't any cars") or a
figure of speech ("shaped like a bear", "a toy car", "a painting of a horse") is not a claim
that the object is there. A number in front of a mention ("three giraffes", "a pair of dogs",
"only one cat") is a count claim.

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
accepted too. Otherwise it is ``wrong_count:<category>``. A sample whose answers, taken
together, share too few content words with the captions and category names is ``off_topic``
(a small model that rambles about sunsets names no object, so nothing else would catch it).

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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mmsynth.sample import IMAGE_TOKEN, Rejection, Sample
from mmsynth.stages import Stage

# COCO 2017's 80 categories in id order, with their supercategories.
SUPERCATEGORIES: dict[str, tuple[str, ...]] = {
    "person": ("person",),
    "vehicle": ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"),
    "outdoor": ("traffic light", "fire hydrant", "stop sign", "parking meter", "bench"),
    "animal": ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
               "giraffe"),
    "accessory": ("backpack", "umbrella", "handbag", "tie", "suitcase"),
    "sports": ("frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
               "baseball glove", "skateboard", "surfboard", "tennis racket"),
    "kitchen": ("bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl"),
    "food": ("banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
             "donut", "cake"),
    "furniture": ("chair", "couch", "potted plant", "bed", "dining table", "toilet"),
    "electronic": ("tv", "laptop", "mouse", "remote", "keyboard", "cell phone"),
    "appliance": ("microwave", "oven", "toaster", "sink", "refrigerator"),
    "indoor": ("book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"),
}
COCO_CATEGORIES: tuple[str, ...] = tuple(c for group in SUPERCATEGORIES.values() for c in group)
SUPERCATEGORY_OF: dict[str, str] = {c: s for s, group in SUPERCATEGORIES.items() for c in group}

# Categories whose instances can't be counted from the words: one box holds a pair (skis,
# scissors) or a bunch (broccoli).
UNCOUNTED_CATEGORIES = frozenset({"skis", "scissors", "broccoli"})

# The whole category: a stated count must equal the annotated count.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": ("person", "individual", "human"),
    "bicycle": ("bicycle",),
    "car": ("car", "automobile"),
    "motorcycle": ("motorcycle", "motorbike", "motor bike", "motor cycle"),
    "airplane": ("airplane", "aeroplane", "plane"),
    "bus": ("bus",),
    "train": ("train",),
    "truck": ("truck", "lorry"),
    "boat": ("boat",),
    "traffic light": ("traffic light", "traffic signal", "stop light", "stoplight"),
    "fire hydrant": ("fire hydrant", "hydrant"),
    "stop sign": ("stop sign",),
    "parking meter": ("parking meter",),
    "bench": ("bench",),
    "bird": ("bird",),
    "cat": ("cat",),
    "dog": ("dog",),
    "horse": ("horse",),
    "sheep": ("sheep",),
    "cow": ("cow",),
    "elephant": ("elephant",),
    "bear": ("bear",),
    "zebra": ("zebra",),
    "giraffe": ("giraffe",),
    "backpack": ("backpack", "back pack", "knapsack", "rucksack"),
    "umbrella": ("umbrella",),
    "handbag": ("handbag", "hand bag", "purse"),
    "tie": ("tie", "necktie", "neck tie"),
    "suitcase": ("suitcase",),
    "frisbee": ("frisbee", "flying disc"),
    "skis": ("skis",),
    "snowboard": ("snowboard",),
    "sports ball": ("sports ball",),
    "kite": ("kite",),
    "baseball bat": ("baseball bat", "bat"),
    "baseball glove": ("baseball glove", "baseball mitt", "mitt"),
    "skateboard": ("skateboard", "skate board"),
    "surfboard": ("surfboard", "surf board"),
    "tennis racket": ("tennis racket", "tennis racquet", "racket", "racquet"),
    "bottle": ("bottle",),
    "wine glass": ("wine glass", "wineglass"),
    "cup": ("cup",),
    "fork": ("fork",),
    "knife": ("knife",),
    "spoon": ("spoon",),
    "bowl": ("bowl",),
    "banana": ("banana",),
    "apple": ("apple",),
    "sandwich": ("sandwich",),
    "orange": ("orange",),
    "broccoli": ("broccoli",),
    "carrot": ("carrot",),
    "hot dog": ("hot dog", "hotdog"),
    "pizza": ("pizza",),
    "donut": ("donut", "doughnut"),
    "cake": ("cake",),
    "chair": ("chair",),
    "couch": ("couch", "sofa"),
    "potted plant": ("potted plant", "pot plant", "houseplant", "house plant"),
    "bed": ("bed",),
    "dining table": ("dining table", "table"),
    "toilet": ("toilet",),
    "tv": ("tv", "television", "tv set", "television set"),
    "laptop": ("laptop", "laptop computer", "notebook computer"),
    "mouse": ("mouse", "computer mouse"),
    "remote": ("remote", "remote control"),
    "keyboard": ("keyboard", "computer keyboard"),
    "cell phone": ("cell phone", "cellphone", "cellular phone", "mobile phone", "smartphone",
                   "smart phone", "phone"),
    "microwave": ("microwave", "microwave oven"),
    "oven": ("oven",),
    "toaster": ("toaster",),
    "sink": ("sink",),
    "refrigerator": ("refrigerator", "fridge"),
    "book": ("book",),
    "clock": ("clock",),
    "vase": ("vase",),
    "scissors": ("scissors",),
    "teddy bear": ("teddy bear", "teddy", "teddybear"),
    "hair drier": ("hair drier", "hair dryer", "hairdryer", "blow dryer", "blow drier",
                   "blowdryer"),
    "toothbrush": ("toothbrush", "tooth brush"),
}

# Kinds of a category: a stated count may cover only some of its instances ("two men" among
# five people).
KINDS: dict[str, tuple[str, ...]] = {
    "person": (
        "man", "woman", "boy", "girl", "child", "kid", "toddler", "infant", "teenager",
        "teen", "guy", "lady", "gentleman", "player", "skier", "surfer", "snowboarder",
        "skateboarder", "skater", "rider", "cyclist", "biker", "motorcyclist", "pedestrian",
        "driver", "passenger", "tourist", "traveler", "traveller", "worker", "chef", "officer",
        "police officer", "policeman", "policewoman", "cop", "soldier", "catcher", "batter",
        "umpire", "referee", "athlete", "grandmother", "grandfather", "grandma", "grandpa",
        "husband", "wife", "bride", "groom",
        "student", "teacher", "doctor", "nurse", "farmer", "cowboy", "spectator", "customer",
        "vendor", "shopper", "jockey", "fireman", "firefighter", "businessman", "businesswoman",
        "youngster", "friend", "someone", "somebody", "crowd", "family",
        "tennis player", "baseball player", "soccer player", "frisbee player", "astronaut",
        "cameraman", "photographer", "sailor", "climber", "hiker", "swimmer", "dancer",
        "musician", "waiter", "waitress", "baker", "clerk", "security guard", "performer",
    ),
    "bicycle": ("mountain bike", "road bike"),
    "car": ("sedan", "suv", "taxi", "race car", "police car", "sports car"),
    "motorcycle": ("scooter", "moped", "dirt bike"),
    "airplane": ("jet", "airliner", "jetliner", "aircraft", "jet plane", "passenger jet",
                 "fighter jet", "biplane", "seaplane"),
    "bus": ("school bus", "city bus", "tour bus", "shuttle bus", "double decker",
            "double-decker", "double decker bus", "double-decker bus"),
    "train": ("locomotive", "tram", "streetcar", "trolley", "subway train", "passenger train",
              "freight train", "steam engine", "train car", "railcar", "rail car"),
    "truck": ("pickup truck", "pickup", "fire truck", "firetruck", "semi truck", "dump truck",
              "tow truck", "food truck", "delivery truck", "truck bed"),
    "boat": ("ship", "sailboat", "canoe", "kayak", "yacht", "ferry", "rowboat", "speedboat",
             "motorboat", "fishing boat", "tugboat", "barge"),
    "bench": ("park bench",),
    "bird": ("pigeon", "seagull", "gull", "duck", "duckling", "goose", "swan", "parrot", "hen",
             "rooster", "owl", "eagle", "hawk", "crow", "sparrow", "pelican", "flamingo",
             "penguin", "heron", "finch", "robin", "seabird", "songbird"),
    "cat": ("kitten", "kitty"),
    "dog": ("puppy", "pup"),
    "horse": ("pony", "foal", "stallion", "mare"),
    "sheep": ("lamb",),
    "cow": ("bull", "ox", "heifer", "cattle"),
    "bear": ("polar bear", "grizzly", "grizzly bear", "brown bear", "black bear", "bear cub"),
    "umbrella": ("parasol",),
    "tie": ("bow tie", "bowtie"),
    "suitcase": ("luggage",),
    "sports ball": ("ball", "soccer ball", "tennis ball", "beach ball"),
    "baseball bat": ("softball bat",),
    "baseball glove": ("catcher mitt", "catchers mitt"),
    "surfboard": ("boogie board", "bodyboard"),
    "bottle": ("water bottle", "wine bottle", "beer bottle"),
    "wine glass": ("champagne glass",),
    "cup": ("mug", "coffee cup", "coffee mug", "teacup", "tea cup", "paper cup"),
    "knife": ("butter knife",),
    "spoon": ("teaspoon", "tablespoon"),
    "apple": ("apple slice",),
    "sandwich": ("burger", "hamburger", "cheeseburger", "sub sandwich"),
    "orange": ("tangerine", "orange slice", "orange wedge"),
    "cake": ("cupcake", "cup cake", "birthday cake", "wedding cake", "carrot cake", "cheesecake"),
    "chair": ("armchair", "high chair", "highchair", "lawn chair", "office chair",
              "folding chair"),
    "couch": ("loveseat", "love seat"),
    "potted plant": ("flower pot", "flowerpot", "planter", "plant pot"),
    "dining table": ("kitchen table", "dinner table", "coffee table", "picnic table"),
    "toilet": ("urinal", "toilet bowl", "toilet seat"),
    "tv": ("flat screen", "flatscreen", "flat-screen tv", "flat screen tv"),
    "remote": ("tv remote", "controller", "game controller", "wii remote", "wii controller",
               "wiimote"),
    "cell phone": ("iphone", "telephone"),
    "oven": ("stove", "stovetop", "stove top", "pizza oven"),
    "sink": ("kitchen sink", "bathroom sink"),
    "clock": ("clock tower", "wall clock", "alarm clock"),
    "book": ("textbook",),
    "teddy bear": ("stuffed bear", "stuffed animal", "stuffed toy"),
}

# Words that name one of several categories: any of them in the image grounds the word. Counts
# are checked as subsets of their sum.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "bike": ("bicycle", "motorcycle"),
    "computer": ("laptop", "tv", "keyboard"),
    "desktop computer": ("tv", "keyboard", "laptop"),
    "monitor": ("tv", "laptop"),
    "computer monitor": ("tv", "laptop"),
    "computer screen": ("tv", "laptop"),
    "vehicle": ("car", "truck", "bus", "motorcycle"),
    "van": ("car", "truck"),
    "jeep": ("car", "truck"),
    "calf": ("cow", "elephant", "giraffe"),
    "toaster oven": ("toaster", "oven", "microwave"),
    **{f"glass of {drink}": ("cup", "wine glass")
       for drink in ("wine", "water", "milk", "juice", "beer", "soda", "champagne")},
}

# Phrases that contain a category word but name something else; matched like terms, so the
# longest-first rule swallows the word ("bus stop" is not a bus).
EXCLUDED: tuple[str, ...] = (
    "bus stop", "bus station", "bus shelter", "bus lane", "bus terminal", "bus route",
    "train station", "train track", "train tracks", "train platform", "truck stop",
    "cable car", "car park", "jet ski", "dog bed", "cat bed", "pet bed", "dog food", "cat food",
    "dog park", "dog house", "bird feeder", "bird house", "bird bath", "hot dog stand",
    "pizza box", "pizza cutter", "pizza place", "pizza shop", "pizza restaurant", "pizza parlor",
    "cake stand", "cake batter", "toilet paper", "toilet roll", "toilet brush", "table tennis",
    "flower bed", "river bed", "sea bed", "world cup", "super bowl", "cup holder", "chair lift",
    "mouse pad", "piano keyboard", "musical keyboard", "electronic keyboard", "phone booth",
    "phone call", "tv stand", "tv show", "oven mitt", "ball cap", "ball game", "ball field",
    "ball park", "book shelf", "book store", "bookstore", "apple logo", "apple pie",
    "apple juice", "orange juice", "orange peel", "banana bread", "horse racing",
    "dvd player", "cd player", "record player", "music player", "mp3 player", "media player",
    "zebra crossing", "zebra print", "giraffe print", "cow print", "bird eye", "bird's eye",
    "horse shoe", "bike rack", "bike lane", "bike path", "sandwich shop", "donut shop",
    "sandwich board",
)

MASS_NOUNS = frozenset({"broccoli", "luggage", "cattle", "crowd", "aircraft", "family"})
PLURAL_ONLY = frozenset({"skis", "scissors", "people", "cattle"})
_IRREGULAR_PLURALS: dict[str, tuple[str, ...]] = {
    "person": ("people", "persons"), "child": ("children",), "knife": ("knives",),
    "mouse": ("mice",), "sheep": ("sheep",), "goose": ("geese",), "calf": ("calves",),
    "bus": ("buses", "busses"), "ox": ("oxen",), "wife": ("wives",), "human": ("humans",),
}

# Guards for words that are objects in one use and not in another (see the module docstring).
MODALS = frozenset({"to", "will", "would", "can", "could", "may", "might", "should", "must",
                    "shall", "ll", "cannot"})
# Before a verb: "to tie", "they train", "who sink".
VERB_LEADS = MODALS | frozenset({"i", "you", "we", "they", "he", "she", "who", "cannot", "don't",
                                 "doesn't", "didn't", "won't"})
_NOT_AFTER: dict[str, frozenset[str]] = {
    "bat": frozenset({"at", "to"}),
    "tie": VERB_LEADS,
    "sink": VERB_LEADS,
    "train": VERB_LEADS,
    "book": VERB_LEADS,
}
_NOT_BEFORE: dict[str, frozenset[str]] = {
    "tie": frozenset({"up", "down", "together", "back", "his", "her", "their", "the", "a", "an",
                      "it", "them", "shoes", "shoe", "laces", "knots", "knot", "off"}),
    "sink": frozenset({"into", "down", "beneath", "below", "under", "deeper", "to"}),
    "bed": frozenset({"of"}),
    "family": frozenset({"of"}),
    "crowd": frozenset({"of"}),
}
_NOUN_HEAD_ONLY = frozenset({"orange", "apple", "remote"})
# After a noun-head word: the noun phrase ended.
_NOUN_FOLLOWERS = frozenset({
    "is", "are", "was", "were", "be", "on", "in", "at", "with", "of", "and", "or", "next",
    "beside", "near", "by", "to", "from", "for", "that", "which", "sits", "sitting", "lies",
    "lying", "rests", "resting", "has", "have", "had", "placed", "while", "but", "as", "into",
    "onto", "under", "behind", "above", "below", "inside", "there", "here", "nearby", "who",
})
_COLOURS = frozenset({"white", "black", "red", "blue", "green", "yellow", "brown", "gray",
                      "grey", "pink", "purple", "orange", "gold", "silver", "tan", "beige"})

_NEGATIONS = frozenset({"no", "not", "without", "none", "never", "neither", "nor", "nobody",
                        "nothing", "cannot", "lacks", "lack", "lacking", "absent", "absence"})
# Words that end a negation's (and a count's) reach: a new clause starts.
_CLAUSE_BREAKS = frozenset({"but", "although", "though", "while", "whereas", "however", "and",
                            "because", "since", "so", "yet", "which", "who", "where", "when",
                            "except"})
_FIGURATIVE_BEFORE = frozenset({"like", "resembles", "resemble", "resembling", "toy", "fake",
                                "stuffed", "cartoon", "plush", "inflatable"})
_DEPICTIONS = frozenset({"painting", "paintings", "drawing", "drawings", "poster", "posters",
                         "statue", "statues", "sculpture", "sculptures", "figurine",
                         "figurines", "logo", "logos", "mural", "murals", "cartoon"})
_DETERMINERS = frozenset({"a", "an", "the", "some", "any", "this", "that", "these", "those",
                          "his", "her", "their", "its", "my", "our", "your"})

NUMBER_WORDS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "both": 2, "dozen": 12,
}
# Before a number: the number is not a total ("at least three", "another two", "number 5").
_COUNT_QUALIFIERS = frozenset({"least", "most", "than", "over", "under", "about", "around",
                               "approximately", "roughly", "nearly", "almost", "some",
                               "another", "other", "additional", "extra", "more", "few",
                               "remaining", "first", "last", "next", "number", "no", "to",
                               "maybe", "perhaps", "possibly", "of", "every", "each"})
# Words that may not stand between a number and its noun (the number belongs elsewhere).
_COUNT_BREAKS = _CLAUSE_BREAKS | _DETERMINERS | MODALS | frozenset({
    "of", "or", "with", "on", "in", "at", "by", "for", "from", "is", "are", "was", "were",
    "has", "have", "had", "and", "near", "next", "behind", "than", "times", "o'clock",
})
_EXACT_ONE_BEFORE = frozenset({"only", "just", "exactly", "single"})


def plural_forms(word: str) -> tuple[str, ...]:
    """English plurals of a (possibly multi-word) noun: the last word is inflected."""
    if " of " in word:  # "glass of wine" → "glasses of wine"
        noun, _, rest = word.partition(" of ")
        return tuple(f"{p} of {rest}" for p in plural_forms(noun))
    head, _, last = word.rpartition(" ")
    prefix = f"{head} " if head else ""
    if last in PLURAL_ONLY or last in MASS_NOUNS:
        return ()
    if last in _IRREGULAR_PLURALS:
        return tuple(prefix + p for p in _IRREGULAR_PLURALS[last])
    if last.endswith("man") and last not in ("human", "german", "shaman"):
        return (prefix + last[:-3] + "men",)
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return (prefix + last + "es",)
    if last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        return (prefix + last[:-1] + "ies",)
    return (prefix + last + "s",)


def plural(word: str) -> str:
    """The usual plural of ``word`` (itself for plural-only and mass nouns)."""
    forms = plural_forms(word)
    return forms[0] if forms else word


@dataclass(frozen=True)
class Term:
    """What a vocabulary phrase means. ``category`` None: an excluded phrase (not an object)."""

    category: str | None
    alternatives: tuple[str, ...] = ()  # categories any of which grounds it; category first
    exact: bool = True                  # names the whole category (count must be equal)
    countable: bool = True
    plural: bool = False


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

    @property
    def grounding(self) -> tuple[str, ...]:
        return self.alternatives or (self.category,)


@lru_cache(maxsize=1)
def vocabulary() -> dict[tuple[str, ...], Term]:
    """Phrase (as a tuple of lowercase tokens) → Term, singular and plural forms."""
    vocab: dict[tuple[str, ...], Term] = {}

    def add(phrase: str, term: Term) -> None:
        last = phrase.rpartition(" ")[2]
        countable = term.countable and last not in MASS_NOUNS
        forms = [(phrase, last in PLURAL_ONLY)]
        forms += [(p, True) for p in plural_forms(phrase) if p != phrase]  # "sheep"
        for text, is_plural in forms:
            t = Term(term.category, term.alternatives, term.exact, countable, is_plural)
            key = tuple(text.split())
            if key in vocab and vocab[key] != t:
                raise ValueError(f"vocabulary phrase {text!r} is defined twice")
            vocab[key] = t
            if len(key) > 1 and "-" not in text:
                vocab.setdefault(("-".join(key),), t)  # "hot-dog", "teddy-bear"

    for category, words in SYNONYMS.items():
        for w in words:
            add(w, Term(category, exact=True, countable=category not in UNCOUNTED_CATEGORIES))
    for category, words in KINDS.items():
        for w in words:
            add(w, Term(category, exact=False,
                        countable=category not in UNCOUNTED_CATEGORIES))
    for w, cats in ALTERNATIVES.items():
        add(w, Term(cats[0], alternatives=cats, exact=False))
    for phrase in EXCLUDED:
        for text in (phrase, *plural_forms(phrase)):
            vocab[tuple(text.split())] = Term(None, countable=False)
    return vocab


@lru_cache(maxsize=1)
def _max_phrase_len() -> int:
    return max(len(k) for k in vocabulary())


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
    """Every object mention in ``text``, in order, negated ones included (``negated=True``);
    figurative uses ("like a bear", "a toy car") are left out."""
    toks = _tokens(text)
    vocab = vocabulary()
    longest = _max_phrase_len()
    found: list[Mention] = []
    starts: dict[int, tuple[int, Mention]] = {}  # mention's last token index → (first, mention)
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
        mention = Mention(
            category=term.category,
            count=_stated_count(toks, i) if term.countable else None,
            negated=_negated(toks, i, starts),
            span=(toks[i].start, toks[i + n - 1].end),
            word=text[toks[i].start:toks[i + n - 1].end],
            alternatives=term.alternatives,
            exact=term.exact,
        )
        found.append(mention)
        starts[i + n - 1] = (i, mention)
        i += n
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
# The check.

@dataclass(frozen=True)
class Evidence:
    """What an image is known to contain: annotated categories (non-crowd counts), categories
    with crowd boxes, and categories (with any counts) its captions mention."""

    annotated: Mapping[str, int]
    crowd: frozenset[str]
    captioned: frozenset[str]
    caption_counts: Mapping[str, frozenset[int]]

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, Any] | None) -> Evidence:
        annotations = annotations or {}
        counts: Counter[str] = Counter()
        crowd = set()
        for obj in annotations.get("objects") or ():
            category = obj["category"]
            if obj.get("iscrowd"):
                crowd.add(category)
                counts[category] += 0
            else:
                counts[category] += 1
        captioned: set[str] = set()
        caption_counts: dict[str, set[int]] = {}
        for caption in annotations.get("captions") or ():
            for m in mentions(caption):
                if m.negated:
                    continue
                captioned.update(m.grounding)
                if m.count is not None:
                    caption_counts.setdefault(m.category, set()).add(m.count)
        return cls(dict(counts), frozenset(crowd), frozenset(captioned),
                   {k: frozenset(v) for k, v in caption_counts.items()})

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
        subset = not m.exact or len(cats) > 1
        if (m.count > annotated) if subset else (m.count != annotated):
            return f"says {m.count} ({m.word!r}) but {annotated} annotated"
        return None


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
    r"|\b(does|do) (the|this) (image|picture|photo|scene)\b|\bvisible\b|\bpresent\b",
    re.IGNORECASE,
)


def check_text(text: str, evidence: Evidence, *, turn: int = 0,
               counts: bool = True) -> tuple[list[Problem], int]:
    """Problems with one answer's mentions, and how many (non-negated) mentions were checked."""
    problems = []
    checked = 0
    allowed = evidence.allowed
    for m in mentions(text):
        if m.negated:
            continue
        checked += 1
        if not any(c in allowed for c in m.grounding):
            problems.append(Problem("hallucinated_object", m.category, turn,
                                    f"turn {turn} names {m.word!r} ({m.category}), which is "
                                    f"neither annotated nor in a caption"))
            continue
        why = evidence.count_problem(m) if counts else None
        if why:
            problems.append(Problem("wrong_count", m.category, turn, f"turn {turn} {why}"))
    return problems, checked


_STOPWORD_TEXT = """
a an the and or nor of to in on at with for from by is are was were be been being it its this
that these those there here they them their he she his her him you your we our i me my as so
but not no do does did has have had can could would should will may might very also just than
then into onto over under up down out about what which who whom whose why how where when while
if because some any all each both more most other such only own same too image picture photo
scene appears seems looks visible shows"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _content_words(text: str) -> set[str]:
    words = set()
    for w in re.findall(r"[a-z]+", text.lower()):
        if len(w) < 3 or w in _STOPWORDS:
            continue
        for suffix in ("ing", "ed", "es", "s"):  # a crude stem: "sleeps"/"sleeping" → "sleep"
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[:-len(suffix)]
                break
        words.add(w)
    return words


def context_overlap(text: str, annotations: Mapping[str, Any] | None) -> tuple[float, int]:
    """The share of ``text``'s distinct content words found in the captions and category names,
    and how many content words ``text`` has."""
    annotations = annotations or {}
    context = " ".join([*(annotations.get("captions") or ()),
                        *(o["category"] for o in annotations.get("objects") or ())])
    words = _content_words(text)
    if not words:
        return 1.0, 0
    return len(words & _content_words(context)) / len(words), len(words)


@dataclass
class GroundingCheck(Stage):
    """A stage: keep samples whose turns name only objects the image has.

    ``mode="reject"`` rejects a sample with any problem (reason of its first problem);
    ``mode="drop_turn"`` removes each offending human/gpt pair and rejects only when none is left
    (``<image>`` moves to the first remaining question). Answers are checked for objects and
    counts; with ``check_questions`` questions are checked for objects too (a question that
    presupposes an absent object is as wrong as an answer), except existence questions ("Is
    there a dog…?"). A sample whose answers have at least ``min_content_words`` content words
    of which less than ``min_overlap`` occur in the captions and category names is rejected
    as ``off_topic`` in either mode (0 turns this off). Samples without ``annotations`` pass
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
        return [f"  grounding: {s['samples_checked']} samples checked, "
                f"hallucination rate {100 * s['hallucination_rate']:.1f}% of samples "
                f"(CHAIR_s), {100 * s['mention_hallucination_rate']:.1f}% of "
                f"{s['mentions_checked']} object mentions (CHAIR_i), wrong counts "
                f"{100 * s['wrong_count_rate']:.1f}%"]

    def problems(self, sample: Sample) -> tuple[list[list[Problem]], int]:
        """Problems per human/gpt pair of ``sample``, and the number of mentions checked."""
        evidence = Evidence.from_annotations(sample.annotations)
        turns = sample.conversations
        per_pair: list[list[Problem]] = []
        checked = 0
        for p in range(0, len(turns), 2):
            pair_problems: list[Problem] = []
            question = _strip_image_token(turns[p].get("value", ""))
            if self.check_questions and not _EXISTENCE_QUESTION.search(question):
                found, n = check_text(question, evidence, turn=p, counts=False)
                pair_problems += found
                checked += n
            if p + 1 < len(turns):
                found, n = check_text(turns[p + 1].get("value", ""), evidence, turn=p + 1,
                                      counts=self.check_counts)
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
        per_pair, checked = self.problems(sample)
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
        overlap, words = context_overlap(answers, sample.annotations)
        if self.min_overlap and words >= self.min_content_words and overlap < self.min_overlap:
            stats["off_topic"] += 1
            stats["rejected"] += 1
            return Rejection(index, "off_topic",
                             f"{sample.id}: {overlap:.0%} of {words} content words in the "
                             f"answers occur in the captions (need {self.min_overlap:.0%}): "
                             f"{answers[:200]!r}", sample=sample)
        if not flat:
            self._annotate(sample, checked, 0, 0, 0)
            return sample
        new_turns: list[dict[str, str]] = []
        for i in keep:
            new_turns += [dict(t) for t in turns[2 * i:2 * i + 2]]
        for t in new_turns:
            t["value"] = _strip_image_token(t["value"])
        new_turns[0]["value"] = f"{IMAGE_TOKEN}\n{new_turns[0]['value']}"
        dropped = len(per_pair) - len(keep)
        stats["dropped_turns"] += dropped
        sample.conversations = new_turns
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


def _strip_image_token(value: str) -> str:
    return value.replace(f"{IMAGE_TOKEN}\n", "").replace(IMAGE_TOKEN, "").strip()


def summarize(stats: Mapping[str, int] | Sequence[Mapping[str, int]]) -> dict[str, Any]:
    """Totals and rates for a run summary from one or several stats counters.

    ``hallucination_rate`` is the share of checked samples with at least one hallucinated
    object (CHAIR_s); ``mention_hallucination_rate`` the share of checked mentions that were
    hallucinated (CHAIR_i); ``wrong_count_rate`` the share of samples with a wrong count.
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
