"""The grounding vocabulary, as data: ``configs/grounding/vocabulary.yaml``.

:func:`load_vocabulary` reads and checks the file once. This module's constants (COCO's
categories, their synonyms and kinds, the word sets the mention parser's rules use) come from
it, and :func:`vocabulary` is its phrase table: every phrase, with its plural forms, → the
:class:`Term` it means (:mod:`mmsynth.filters.mentions` matches texts against it).

Plurals are the hand-written rule of :meth:`Plurals.forms`, not the ``inflect`` library: inflect
gives other forms for 5 of the 523 phrases (gentlemans, flamingoes, book shelves, train trackss,
table tenniss), so using it would take exceptions that restate this rule, and a dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from mmsynth.errors import UsageError
from mmsynth.resources import config_path

VOCABULARY_FILE = ("grounding", "vocabulary.yaml")

# The sets of the file's ``words`` section that the code reads.
WORD_SETS = ("modals", "verb_leads", "noun_followers", "colours", "negations", "clause_breaks",
             "figurative_before", "depictions", "determiners", "count_qualifiers",
             "count_breaks", "exact_one_before", "stopwords")
_SECTIONS = ("categories", "uncounted", "synonyms", "kinds", "alternatives", "excluded",
             "plurals", "words", "not_after", "not_before", "noun_head_only", "numbers")
_PLURAL_KEYS = ("mass_nouns", "plural_only", "irregular")


@dataclass(frozen=True)
class Term:
    """What a vocabulary phrase means. ``category`` None: an excluded phrase (not an object)."""

    category: str | None
    alternatives: tuple[str, ...] = ()  # categories any of which grounds it; category first
    exact: bool = True                  # names the whole category (count must be equal)
    countable: bool = True
    plural: bool = False


@dataclass(frozen=True)
class Plurals:
    """How a phrase's last word inflects: no plural for mass nouns and plural-only words, the
    listed forms for irregular ones, the English suffix rules otherwise."""

    mass_nouns: frozenset[str]
    plural_only: frozenset[str]
    irregular: Mapping[str, tuple[str, ...]]

    def forms(self, word: str) -> tuple[str, ...]:
        """English plurals of a (possibly multi-word) noun: the last word is inflected."""
        if " of " in word:  # "glass of wine" → "glasses of wine"
            noun, _, rest = word.partition(" of ")
            return tuple(f"{p} of {rest}" for p in self.forms(noun))
        head, _, last = word.rpartition(" ")
        prefix = f"{head} " if head else ""
        if last in self.plural_only or last in self.mass_nouns:
            return ()
        if last in self.irregular:
            return tuple(prefix + p for p in self.irregular[last])
        if last.endswith("man") and last not in ("human", "german", "shaman"):
            return (prefix + last[:-3] + "men",)
        if last.endswith(("s", "x", "z", "ch", "sh")):
            return (prefix + last + "es",)
        if last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
            return (prefix + last[:-1] + "ies",)
        return (prefix + last + "s",)


@dataclass(frozen=True)
class Vocabulary:
    """The file's content as Python structures (see the comments in the file for each part),
    and the phrase table built from it."""

    supercategories: Mapping[str, tuple[str, ...]]
    uncounted: frozenset[str]
    synonyms: Mapping[str, tuple[str, ...]]
    kinds: Mapping[str, tuple[str, ...]]
    alternatives: Mapping[str, tuple[str, ...]]
    excluded: tuple[str, ...]
    plurals: Plurals
    words: Mapping[str, frozenset[str]]
    not_after: Mapping[str, frozenset[str]]
    not_before: Mapping[str, frozenset[str]]
    noun_head_only: frozenset[str]
    numbers: Mapping[str, int]
    phrases: Mapping[tuple[str, ...], Term]
    path: str

    @property
    def categories(self) -> tuple[str, ...]:
        """COCO's categories in id order."""
        return tuple(c for group in self.supercategories.values() for c in group)

    @property
    def longest_phrase(self) -> int:
        """The most tokens in a phrase (how far a match looks ahead)."""
        return max(len(k) for k in self.phrases)


@lru_cache(maxsize=4)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """The vocabulary in ``path`` (default: the shipped one), read once; UsageError names the
    file and the key of anything malformed (a non-string word, an unknown category or word set,
    a phrase that means two things)."""
    from mmsynth.config import load_yaml

    path = path or str(config_path(*VOCABULARY_FILE))
    return _Reader(path, load_yaml(path)).vocabulary()


class _Reader:
    """Checks one file's raw data while turning it into a :class:`Vocabulary`."""

    def __init__(self, path: str, data: dict[str, Any]):
        self.path = path
        self.data = data
        self._sets: dict[str, frozenset[str]] = {}

    def bad(self, key: str, why: str) -> UsageError:
        return UsageError(f"grounding vocabulary {self.path}: {key}: {why}")

    def vocabulary(self) -> Vocabulary:
        data = self.data
        unknown = sorted(set(data) - set(_SECTIONS))
        if unknown:
            raise self.bad(unknown[0], f"unknown section; valid: {', '.join(_SECTIONS)}")
        missing = [s for s in _SECTIONS if s not in data]
        if missing:
            raise self.bad(missing[0], "missing")
        supercategories = self.phrase_lists("categories", data["categories"])
        categories = {c for group in supercategories.values() for c in group}
        synonyms = self.phrase_lists("synonyms", data["synonyms"], keys=categories)
        kinds = self.phrase_lists("kinds", data["kinds"], keys=categories)
        alternatives = self.phrase_lists("alternatives", data["alternatives"], values=categories)
        plurals = self.mapping("plurals", data["plurals"])
        unknown = sorted(set(plurals) - set(_PLURAL_KEYS))
        if unknown:
            raise self.bad(f"plurals.{unknown[0]}", f"unknown; valid: {', '.join(_PLURAL_KEYS)}")
        for key in _PLURAL_KEYS:
            if key not in plurals:
                raise self.bad(f"plurals.{key}", "missing")
        words_section = self.mapping("words", data["words"])
        for name in WORD_SETS:
            if name not in words_section:
                raise self.bad(f"words.{name}", "missing")
        words = {name: self.named_set(name) for name in words_section}
        numbers = self.mapping("numbers", data["numbers"])
        for word, value in numbers.items():
            self.phrase(word, f"numbers.{word}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise self.bad(f"numbers.{word}", f"must be a positive whole number, "
                                                  f"got {value!r}")
        uncounted = frozenset(self.phrases(data["uncounted"], "uncounted"))
        if uncounted - categories:
            raise self.bad("uncounted", f"not a category: {sorted(uncounted - categories)[0]!r}")
        v = Vocabulary(
            supercategories=supercategories,
            uncounted=uncounted,
            synonyms=synonyms,
            kinds=kinds,
            alternatives=alternatives,
            excluded=tuple(self.phrases(data["excluded"], "excluded")),
            plurals=Plurals(
                frozenset(self.phrases(plurals["mass_nouns"], "plurals.mass_nouns")),
                frozenset(self.phrases(plurals["plural_only"], "plurals.plural_only")),
                self.phrase_lists("plurals.irregular", plurals["irregular"])),
            words=words,
            not_after=self.word_sets("not_after"),
            not_before=self.word_sets("not_before"),
            noun_head_only=frozenset(self.phrases(data["noun_head_only"], "noun_head_only")),
            numbers=dict(numbers),
            phrases={},
            path=self.path,
        )
        return replace(v, phrases=self.phrase_table(v))

    def mapping(self, key: str, value: Any) -> dict[Any, Any]:
        if not isinstance(value, dict) or not value:
            raise self.bad(key, f"must be a non-empty mapping, got {type(value).__name__}")
        return value

    def phrase(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.bad(key, f"{value!r} is not a word: every word is a string (YAML reads "
                                f"a bare no/on/off/yes as a boolean; quote it)")
        if not value or value != " ".join(value.lower().split()):
            raise self.bad(key, f"{value!r}: words are lower case, single-spaced, not empty")
        return value

    def phrases(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list):
            raise self.bad(key, f"must be a list of words, got {type(value).__name__}")
        return [self.phrase(w, key) for w in value]

    def phrase_lists(self, key: str, value: Any, *, keys: set[str] | None = None,
                     values: set[str] | None = None) -> dict[str, tuple[str, ...]]:
        """A mapping of phrase → list of phrases; ``keys``/``values``: the categories they
        must be."""
        out = {}
        for k, v in self.mapping(key, value).items():
            self.phrase(k, key)
            if keys is not None and k not in keys:
                raise self.bad(f"{key}.{k}", "not a category of 'categories'")
            out[k] = tuple(self.phrases(v, f"{key}.{k}"))
            if values is not None and set(out[k]) - values:
                raise self.bad(f"{key}.{k}",
                               f"not a category: {sorted(set(out[k]) - values)[0]!r}")
        return out

    def named_set(self, name: str, resolving: tuple[str, ...] = ()) -> frozenset[str]:
        """The set ``name`` of the ``words`` section, its includes resolved."""
        if name not in self._sets:
            if name in resolving:
                raise self.bad(f"words.{name}",
                               f"includes itself ({' → '.join((*resolving, name))})")
            self._sets[name] = self.word_set(f"words.{name}", self.data["words"][name],
                                             (*resolving, name))
        return self._sets[name]

    def word_set(self, key: str, spec: Any, resolving: tuple[str, ...] = ()) -> frozenset[str]:
        """A list of words, or ``{include: [sets of 'words'], words: [...]}``: their union."""
        if isinstance(spec, list):
            return frozenset(self.phrases(spec, key))
        if not isinstance(spec, dict):
            raise self.bad(key, "must be a list of words or {include: [...], words: [...]}")
        unknown = sorted(set(spec) - {"include", "words"})
        if unknown:
            raise self.bad(f"{key}.{unknown[0]}", "a word set has only include and words")
        result = frozenset(self.phrases(spec.get("words") or [], f"{key}.words"))
        for other in self.phrases(spec.get("include") or [], f"{key}.include"):
            if other not in self.data["words"]:
                raise self.bad(f"{key}.include", f"{other!r} is not a set of 'words'")
            result |= self.named_set(other, resolving)
        return result

    def word_sets(self, key: str) -> dict[str, frozenset[str]]:
        """A mapping of word → word set (``not_after``, ``not_before``)."""
        return {self.phrase(w, key): self.word_set(f"{key}.{w}", spec)
                for w, spec in self.mapping(key, self.data[key]).items()}

    def phrase_table(self, v: Vocabulary) -> dict[tuple[str, ...], Term]:
        """Phrase (as a tuple of lowercase tokens) → Term, singular and plural forms."""
        vocab: dict[tuple[str, ...], Term] = {}
        mass, plural_only = v.plurals.mass_nouns, v.plurals.plural_only

        def add(phrase: str, term: Term) -> None:
            last = phrase.rpartition(" ")[2]
            countable = term.countable and last not in mass
            forms = [(phrase, last in plural_only)]
            forms += [(p, True) for p in v.plurals.forms(phrase) if p != phrase]  # "sheep"
            for text, is_plural in forms:
                t = Term(term.category, term.alternatives, term.exact, countable, is_plural)
                key = tuple(text.split())
                if key in vocab and vocab[key] != t:
                    raise self.bad(text, f"a phrase defined twice ({vocab[key].category}, "
                                         f"{t.category})")
                vocab[key] = t
                if len(key) > 1 and "-" not in text:
                    vocab.setdefault(("-".join(key),), t)  # "hot-dog", "teddy-bear"

        for category, words in v.synonyms.items():
            for w in words:
                add(w, Term(category, exact=True, countable=category not in v.uncounted))
        for category, words in v.kinds.items():
            for w in words:
                add(w, Term(category, exact=False, countable=category not in v.uncounted))
        for w, cats in v.alternatives.items():
            add(w, Term(cats[0], alternatives=cats, exact=False))
        for phrase in v.excluded:
            for text in (phrase, *v.plurals.forms(phrase)):
                vocab[tuple(text.split())] = Term(None, countable=False)
        return vocab


_VOCABULARY = load_vocabulary()

# COCO 2017's 80 categories in id order, with their supercategories.
SUPERCATEGORIES: Mapping[str, tuple[str, ...]] = _VOCABULARY.supercategories
COCO_CATEGORIES: tuple[str, ...] = _VOCABULARY.categories
SUPERCATEGORY_OF: dict[str, str] = {c: s for s, group in SUPERCATEGORIES.items() for c in group}
UNCOUNTED_CATEGORIES: frozenset[str] = _VOCABULARY.uncounted
SYNONYMS: Mapping[str, tuple[str, ...]] = _VOCABULARY.synonyms
KINDS: Mapping[str, tuple[str, ...]] = _VOCABULARY.kinds
ALTERNATIVES: Mapping[str, tuple[str, ...]] = _VOCABULARY.alternatives
EXCLUDED: tuple[str, ...] = _VOCABULARY.excluded
MASS_NOUNS: frozenset[str] = _VOCABULARY.plurals.mass_nouns
PLURAL_ONLY: frozenset[str] = _VOCABULARY.plurals.plural_only
MODALS: frozenset[str] = _VOCABULARY.words["modals"]
VERB_LEADS: frozenset[str] = _VOCABULARY.words["verb_leads"]
NUMBER_WORDS: Mapping[str, int] = _VOCABULARY.numbers


def vocabulary() -> Mapping[tuple[str, ...], Term]:
    """Phrase (as a tuple of lowercase tokens) → Term, singular and plural forms."""
    return _VOCABULARY.phrases


def plural_forms(word: str) -> tuple[str, ...]:
    """English plurals of a (possibly multi-word) noun: the last word is inflected."""
    return _VOCABULARY.plurals.forms(word)


def plural(word: str) -> str:
    """The usual plural of ``word`` (itself for plural-only and mass nouns)."""
    forms = plural_forms(word)
    return forms[0] if forms else word


# ---------------------------------------------------------------------------------------------
# The claim rules: ``configs/grounding/rules.yaml``.

RULES_FILE = ("grounding", "rules.yaml")
HEDGE_SETS = ("conditionals", "modals", "adverbs", "generic_determiners", "examples",
              "perception", "perception_fillers", "subject_fillers", "subject_prepositions",
              "relative_starts", "noun_modal_before", "inferences", "habitual_adverbs",
              "habitual_verbs", "generic_quantifiers", "kind_predicates", "purpose_before",
              "intended_for_before", "object_pronouns", "scope_continuers", "clause_subjects",
              "subject_comparisons", "agents", "agent_aspects", "frame_prepositions",
              "subordinators", "comparisons", "like_verbs", "subject_verbs", "person_heads",
              "generic_object_prepositions", "kind_verbs", "counterfactuals", "imperatives",
              "imperative_openers", "addressee", "kind_examples", "kind_frames",
              "inverted_conditionals", "advice_frames")
_RULE_SECTIONS = ("hedges", "roles", "relational", "presence", "photo_roles",
                  "photo_role_phrases", "attributive_before", "other_senses", "compound_heads",
                  "partial_before", "partial_counts", "partial_regions", "picture_nouns",
                  "speculative_types", "aboard")
REGIONS = ("left", "right", "top", "bottom")
PRESENCE_SETS = ("shown_by", "existential", "verbs", "places", "placed", "picture_places",
                 "not_participles")


@dataclass(frozen=True)
class ClaimRules:
    """The rules file's content (see the comments in the file for each part).

    ``roles`` maps each form of a role word (singular and plurals, as token tuples) to the
    categories that imply it; ``relational`` and ``photo_roles`` are the forms of their words
    (token tuples); ``examples`` (with the ``comparisons``), ``photo_role_phrases`` and
    ``partial_counts`` are phrases as token tuples; ``partial_regions`` maps phrases (token
    tuples) to one of :data:`REGIONS`.
    """

    hedges: Mapping[str, frozenset[str]]
    examples: tuple[tuple[str, ...], ...]
    roles: Mapping[tuple[str, ...], tuple[str, ...]]
    relational: frozenset[tuple[str, ...]]
    # What places a relational person or an agent in the photo (the file's ``presence``: word
    # sets; ``picture_places`` as token tuples).
    presence: Mapping[str, frozenset]
    photo_roles: frozenset[tuple[str, ...]]
    photo_role_phrases: tuple[tuple[str, ...], ...]
    attributive_before: Mapping[str, frozenset[str]]
    other_senses: Mapping[str, frozenset[str]]
    compound_heads: frozenset[str]
    partial_before: frozenset[str]
    partial_counts: tuple[tuple[str, ...], ...]
    partial_regions: Mapping[tuple[str, ...], str]
    picture_nouns: frozenset[str]
    speculative_types: frozenset[str]
    path: str
    # Phrases (token tuples) after a person word that make them the passengers of a vehicle.
    aboard: tuple[tuple[str, ...], ...] = ()


@lru_cache(maxsize=4)
def load_rules(path: str | None = None, vocabulary_path: str | None = None) -> ClaimRules:
    """The claim rules in ``path`` (default: the shipped file), read once and checked against
    the vocabulary: role and attributive words must be its phrases, role categories COCO's.
    UsageError names the file and the key of anything malformed."""
    from mmsynth.config import load_yaml

    path = path or str(config_path(*RULES_FILE))
    return _RulesReader(path, load_yaml(path), load_vocabulary(vocabulary_path)).rules()


class _RulesReader(_Reader):
    """Checks the rules file's raw data while turning it into :class:`ClaimRules`."""

    def __init__(self, path: str, data: dict[str, Any], vocab: Vocabulary):
        super().__init__(path, data)
        self.vocab = vocab

    def bad(self, key: str, why: str) -> UsageError:
        return UsageError(f"grounding rules {self.path}: {key}: {why}")

    def person_words(self, key: str, value: Any) -> frozenset[tuple[str, ...]]:
        """Each form (singular and plurals, as token tuples) of a list of vocabulary phrases
        that name people."""
        forms = set()
        for word in self.phrases(value, key):
            term = self.vocab.phrases.get(tuple(word.split()))
            if term is None or term.category != "person":
                raise self.bad(f"{key}.{word}", "not a person phrase of the grounding vocabulary")
            forms.update(tuple(f.split()) for f in (word, *self.vocab.plurals.forms(word)))
        return frozenset(forms)

    def rules(self) -> ClaimRules:
        data = self.data
        if not isinstance(data, dict):
            raise self.bad("(top)", "must be a mapping of sections")
        unknown = sorted(set(data) - set(_RULE_SECTIONS))
        if unknown:
            raise self.bad(unknown[0], f"unknown section; valid: {', '.join(_RULE_SECTIONS)}")
        missing = [s for s in _RULE_SECTIONS if s not in data]
        if missing:
            raise self.bad(missing[0], "missing")
        hedges_section = self.mapping("hedges", data["hedges"])
        unknown = sorted(set(hedges_section) - set(HEDGE_SETS))
        if unknown:
            raise self.bad(f"hedges.{unknown[0]}", f"unknown; valid: {', '.join(HEDGE_SETS)}")
        hedges = {}
        for name in HEDGE_SETS:
            if name not in hedges_section:
                raise self.bad(f"hedges.{name}", "missing")
            hedges[name] = frozenset(self.phrases(hedges_section[name], f"hedges.{name}"))
        categories = set(self.vocab.categories)
        roles: dict[tuple[str, ...], tuple[str, ...]] = {}
        for word, cats in self.phrase_lists("roles", data["roles"], values=categories).items():
            term = self.vocab.phrases.get(tuple(word.split()))
            if term is None or term.category is None:
                raise self.bad(f"roles.{word}", "not a phrase of the grounding vocabulary (a "
                                                "role word must already name an object)")
            for form in (word, *self.vocab.plurals.forms(word)):
                roles[tuple(form.split())] = cats
        relational = self.person_words("relational", data["relational"])
        photo_roles = self.person_words("photo_roles", data["photo_roles"])
        presence_section = self.mapping("presence", data["presence"])
        presence = {}
        for name in PRESENCE_SETS:
            if name not in presence_section:
                raise self.bad(f"presence.{name}", "missing")
            words = self.phrases(presence_section[name], f"presence.{name}")
            presence[name] = frozenset(tuple(w.split()) for w in words) \
                if name == "picture_places" else frozenset(words)
        unknown = sorted(set(presence_section) - set(PRESENCE_SETS))
        if unknown:
            raise self.bad(f"presence.{unknown[0]}",
                           f"unknown; valid: {', '.join(PRESENCE_SETS)}")
        attributive = {}
        for word, followers in self.mapping("attributive_before",
                                            data["attributive_before"]).items():
            key = f"attributive_before.{self.phrase(word, 'attributive_before')}"
            if " " in word or self.vocab.phrases.get((word,), Term(None)).category is None:
                raise self.bad(key, "not a one-word phrase of the grounding vocabulary")
            attributive[word] = frozenset(self.phrases(followers, key))
        senses = {}
        for word, before in self.mapping("other_senses", data["other_senses"]).items():
            key = f"other_senses.{self.phrase(word, 'other_senses')}"
            if " " in word or self.vocab.phrases.get((word,), Term(None)).category is None:
                raise self.bad(key, "not a one-word phrase of the grounding vocabulary")
            senses[word] = frozenset(self.phrases(before, key))
        regions = {}
        for phrase, region in self.mapping("partial_regions", data["partial_regions"]).items():
            key = f"partial_regions.{self.phrase(phrase, 'partial_regions')}"
            if region not in REGIONS:
                raise self.bad(key, f"must be one of {', '.join(REGIONS)}, got {region!r}")
            regions[tuple(phrase.split())] = region
        from mmsynth.prompts.llava import PROMPT_TYPES

        types = frozenset(self.phrases(data["speculative_types"], "speculative_types"))
        if types - set(PROMPT_TYPES):
            raise self.bad("speculative_types", f"not an answer type: "
                                                f"{sorted(types - set(PROMPT_TYPES))[0]!r}; "
                                                f"valid: {', '.join(PROMPT_TYPES)}")
        return ClaimRules(
            hedges=hedges,
            # Comparisons hedge as examples do: a phrase before the noun phrase.
            examples=tuple(tuple(p.split())
                           for p in sorted(hedges["examples"] | hedges["comparisons"])),
            roles=roles,
            relational=relational,
            presence=presence,
            photo_roles=photo_roles,
            photo_role_phrases=tuple(tuple(p.split()) for p in self.phrases(
                data["photo_role_phrases"], "photo_role_phrases")),
            attributive_before=attributive,
            other_senses=senses,
            compound_heads=frozenset(self.phrases(data["compound_heads"], "compound_heads")),
            partial_before=frozenset(self.phrases(data["partial_before"], "partial_before")),
            partial_counts=tuple(tuple(p.split())
                                 for p in self.phrases(data["partial_counts"], "partial_counts")),
            partial_regions=regions,
            picture_nouns=frozenset(self.phrases(data["picture_nouns"], "picture_nouns")),
            speculative_types=types,
            path=self.path,
            aboard=tuple(tuple(p.split()) for p in self.phrases(data["aboard"], "aboard")),
        )
