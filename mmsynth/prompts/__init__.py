"""Prompt sets for LLM-written data (texts in ``configs/prompts/``) and their reply parsers."""

from mmsynth.prompts.llava import (
    PROMPT_SETS,
    PROMPT_TYPES,
    REASONS,
    Context,
    ParseError,
    PromptSet,
    build_messages,
    format_box,
    load_prompt_set,
    parse,
    parse_types,
    parse_with,
)

__all__ = [
    "PROMPT_SETS",
    "PROMPT_TYPES",
    "REASONS",
    "Context",
    "ParseError",
    "PromptSet",
    "build_messages",
    "format_box",
    "load_prompt_set",
    "parse",
    "parse_types",
    "parse_with",
]
