"""Personas (issue 18, item 6; the Persona Hub's diversity lever): who asks the questions.

With ``--personas on`` (the shipped list, ``assets/personas/personas.txt``) or ``--personas
FILE`` (one persona per line), each coco sample of a type that ``configs/prompts/persona.yaml``
has a line for gets a persona drawn from (run seed, image index, type) alone, and its request
says who is asking. The persona's id (``p001`` = the first line) goes in ``meta.persona``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mmsynth.errors import UsageError
from mmsynth.resources import config_path, data_path
from mmsynth.sample import Rejection, Sample
from mmsynth.stages import Stage, by_count

PERSONAS_FILE = data_path("assets", "personas", "personas.txt")
PERSONA_PROMPT = config_path("prompts", "persona.yaml")


@dataclass(frozen=True)
class Persona:
    id: str
    text: str


def check_personas(value: Any) -> str | None:
    if value in ("off", "on"):
        return None
    if isinstance(value, str) and Path(value).is_file():
        return None
    return "expects off, on (the shipped list) or a text file with one persona per line"


def personas_path(value: str) -> Path | None:
    """The persona list ``--personas`` names (None: off)."""
    if value == "off":
        return None
    return PERSONAS_FILE if value == "on" else Path(value)


@functools.lru_cache(maxsize=4)
def load_personas(path: Path) -> tuple[Persona, ...]:
    """The personas of ``path``: one per line; blank lines and ``#`` comments skipped, ids by
    position among the personas."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--personas {path}: cannot read it ({e})") from None
    texts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not texts:
        raise UsageError(f"--personas {path}: no personas in it")
    return tuple(Persona(f"p{k:03d}", text) for k, text in enumerate(texts, 1))


@functools.lru_cache(maxsize=1)
def persona_lines() -> tuple[str, dict[str, str]]:
    """(prompt_version, {type: line with "{persona}"}) from ``configs/prompts/persona.yaml``."""
    data = yaml.safe_load(PERSONA_PROMPT.read_text(encoding="utf-8"))
    return data["prompt_version"], dict(data["lines"])


def persona_for(run_seed: int, index: int, kind: str, personas: tuple[Persona, ...]) -> Persona:
    """The persona of image ``index``'s request of type ``kind``: from (seed, index, type)."""
    key = f"{run_seed}/{index}/{kind}/persona"
    k = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % len(personas)
    return personas[k]


def fingerprint_extra(value: str) -> dict[str, Any]:
    """What decides the personas beyond the option: the list's content and the persona line."""
    path = personas_path(value)
    if path is None:
        return {}
    digest = hashlib.sha256("\n".join(f"{p.id} {p.text}" for p in load_personas(path))
                            .encode()).hexdigest()[:16]
    version, lines = persona_lines()
    return {"personas": digest, "persona_prompt": version,
            "persona_lines": hashlib.sha256(repr(sorted(lines.items())).encode()).hexdigest()[:16]}


# Words of a persona that say who, not what they would see: never a sign of an echo.
_GENERIC = frozenset("""a an the who whom whose which that this these those and or but with
without about from into onto over under for of on in at to by as is are be been being has have
had do does did can could will would should may might must not no very much many more most
every each some any all other others another own same such than then too also just only even
still often always never first new old young keen retired little small big large good
person people someone somebody anyone everyone child children kid kids man men woman women
boy girl adult adults family parent parents friend friends fan fans lover lovers student
students learner learners owner owners worker workers visitor visitors
asks asking ask wants want wanting needs need needing likes like liking loves love loving
looks look looking notices notice noticing checks check checking thinks think thinking knows
know knowing cares care caring enjoys enjoy watches watch watching counts count counting
judges judge judging worries worry spots spot collects collect names name learns learn
learning turns turn plans plan planning goes go going comes come coming gets get getting
makes make making takes take taking sees see seeing tells tell finds find choosing chooses
things thing everything something what where when whether while because exactly clear plain
simple short words word first-year nine-year-old""".split())  # noqa: SIM905 (a word list)


def _stem(word: str) -> str:
    """A plural's singular, roughly ("pipes" → "pipe", "berries" → "berry"), for matching."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _words(text: str) -> set[str]:
    import re

    return {_stem(w) for w in re.findall(r"[a-z][a-z'-]+", text.lower())}


def echoed_words(persona: str, sample_text: str, photo_text: str) -> list[str]:
    """The persona's own words (its trade, its interests) that ``sample_text`` uses and the
    photo's captions and object names do not: the question took the asker for the scene."""
    own = {w for w in _words(persona) if len(w) >= 4 and w not in _GENERIC}
    return sorted((own & _words(sample_text)) - _words(photo_text))


def turns_echo(persona: str, turns: list[dict[str, str]], annotations: dict[str, Any] | None
               ) -> list[str]:
    """:func:`echoed_words` of conversation ``turns`` about a photo with ``annotations``
    (its captions and object names are what the photo has)."""
    annotations = annotations or {}
    photo = " ".join([*annotations.get("captions", []),
                      *(o["category"] for o in annotations.get("objects", []))])
    return echoed_words(persona, " ".join(t["value"] for t in turns), photo)


class PersonaEchoCheck(Stage):
    """The chain's ``persona`` stage (with ``--personas``): a sample whose text names what only
    its persona has (a plumber's pipes, in a photo of a coffee cup) is rejected as
    ``persona_echo:<word>``: the model wrote about the asker, not the photo. Inside best-of-N,
    so a rejected reply is retried like any other that fails a check. Counters: ``samples``
    (candidates with a persona, every round), ``persona:<id>`` (how often each was drawn),
    ``echo:<word>``."""

    name = "persona"

    def process(self, samples: list[Sample], progress) -> tuple[list[Sample], list[Rejection]]:
        c = self.counters
        c["samples"] += 0
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        for sample in samples:
            persona = sample.meta.get("persona")
            if not persona:
                kept.append(sample)
                continue
            c["samples"] += 1
            c[f"persona:{persona['id']}"] += 1
            echoed = turns_echo(persona["text"], sample.conversations, sample.annotations)
            if echoed:
                c[f"echo:{echoed[0]}"] += 1
                rejected.append(Rejection(
                    sample.meta["index"], f"persona_echo:{echoed[0]}",
                    f"{sample.id} uses {', '.join(echoed)} from its persona "
                    f"({persona['text']!r}), which the photo's captions and objects do not",
                    sample=sample))
            else:
                kept.append(sample)
        return kept, rejected

    @classmethod
    def summary_lines(cls, totals: Mapping[str, int]) -> list[str]:
        if not totals.get("samples"):
            return []
        drawn = sum(1 for k, n in totals.items() if k.startswith("persona:") and n)
        echoes = sum(n for k, n in totals.items() if k.startswith("echo:"))
        words = by_count(totals, "echo:")
        return [f"  personas: {totals['samples']} candidates checked, asked by {drawn} distinct "
                f"personas; "
                f"{echoes} rejected for naming what only their persona has"
                + (f" ({words})" if words else "")]


def stage_for(source: Any) -> PersonaEchoCheck | None:
    """The chain's ``persona`` stage, unless ``--personas`` is off."""
    return PersonaEchoCheck() if source.config.get("personas", "off") != "off" else None
