"""The ``mmsynth`` command: one console script, a subcommand per tool, and the flag parsing they
share.

``mmsynth generate|preview|export|verify|dedup ...`` runs ``main(argv) -> int`` of the module
named in :data:`SUBCOMMANDS`; ``python -m mmsynth.generate`` (and ``.preview``, ``.export``,
``.dedup``) call the same functions directly. Flags keep the syntax the tool always had (it used
to be parsed by ``fire``): ``--X value``, ``--X=value``, ``--X`` / ``--noX`` for booleans,
``--num-samples`` for ``--num_samples``, and values read by :func:`parse_value`.

One module (~520 lines) on purpose: the shared flag parsing is most of it, and the dispatch at
the bottom is the only other part (some 60 lines), too small to stand apart.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import importlib.util
import inspect
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from mmsynth.errors import UsageError

# name → ("module:function" of a ``main(argv) -> int``, one line for ``mmsynth --help``).
# A module that is not installed is left out of the help and of the commands.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("mmsynth.generate:main", "make samples into WebDataset shards (resumable)"),
    "preview": ("mmsynth.preview:main", "write one self-contained HTML page showing a run"),
    "export": ("mmsynth.export:main", "shards -> LLaVA JSON, JSON lines, TRL messages, "
                                      "LLaMA-Factory, HF dataset, DPO pairs"),
    "verify": ("mmsynth.verify:main", "check a run's shards and stats"),
    "dedup": ("mmsynth.dedup.command:main", "remove duplicates and benchmark overlap from a run "
                                            "(dedup.json; --rewrite OUT)"),
}

# Option tables that several sources splice into theirs: --help shows them once, under this
# title, instead of once per source.
SHARED_OPTION_TABLES: dict[str, str] = {
    "CLIP alignment filter": "mmsynth.filters.clip:CLIP_OPTIONS",
    "LLM": "mmsynth.llm:LLM_OPTIONS",
}

_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


# -- values ----------------------------------------------------------------------------------

def parse_value(text: str) -> Any:
    """A flag's text as a value, the way ``fire`` read it (users' commands rely on it):

    1. a Python literal: ``20``, ``1e3``, ``-0.5``, ``True``, ``'quoted'``, ``[1, 2]``;
    2. a list or mapping with bare words: ``[triangle, circle]``, ``{triangle: 2, circle: 1}``
       (Python syntax with unquoted names, else YAML flow syntax such as ``[hexagon-star]``);
    3. anything else is the text itself: ``off``, ``cuda:0``, ``data/out``.

    Whether the value fits the option is decided later, by the option's own check.
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if text.lstrip()[:1] in ("[", "{"):
        for parse in (_bare_word_literal, _yaml_flow):
            value = parse(text)
            if isinstance(value, (list, dict)):
                return value
    return text


def parse_text(text: str) -> Any:
    """For options whose default is text or unset (paths, names, URLs): the text itself, so
    ``--out 2024`` is the folder "2024"; only a ``[list]`` or ``{mapping}`` is parsed
    (:func:`parse_value`), as some text options also take one (``--families [a, b]``)."""
    return parse_value(text) if text.lstrip()[:1] in ("[", "{") else text


def _bare_word_literal(text: str) -> Any:
    """``[triangle, 2]`` → ["triangle", 2]: a Python literal whose bare names are strings."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None

    class Names(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            return ast.copy_location(ast.Constant(node.id), node)

    try:
        return ast.literal_eval(Names().visit(tree))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _yaml_flow(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


# -- argparse, fire-compatible ---------------------------------------------------------------

class _HelpShown(Exception):
    """argparse printed --help (or --version): the command is done, exit 0."""


class BoolFlag(argparse.Action):
    """``--X`` sets true, ``--noX`` false; ``--X=false`` and ``--X false`` are rewritten to
    those two before argparse sees them (:meth:`ArgParser._fire_style`)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, option_string != f"--no{self.dest}")


class _Formatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description on its own; a paragraph with indented lines (a
    list, an example) is kept as written."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=34, width=_width())

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.split("\n\n"):
            if any(line.startswith(" ") for line in para.splitlines()):
                paragraphs.append("\n".join(indent + line for line in para.splitlines()))
            else:
                paragraphs.append(textwrap.fill(" ".join(para.split()), width,
                                                initial_indent=indent, subsequent_indent=indent,
                                                break_on_hyphens=False))
        return "\n\n".join(paragraphs)


def _width() -> int:
    import shutil

    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 120)) - 2


def _is_flag(token: str) -> bool:
    return token.startswith("--") or re.match(r"-[A-Za-z]", token) is not None


class ArgParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, reads flags the way the tool always
    did, and names close matches of an unknown flag."""

    stray_hint = ""  # said after an argument nobody expected

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)  # --num would silently mean --num_samples
        super().__init__(*args, **kwargs)

    def add_bool(self, container: Any, name: str, help: str) -> None:
        """``--name`` / ``--noname`` into ``container`` (this parser or one of its groups)."""
        container.add_argument(f"--{name}", f"--no{name}", action=BoolFlag, dest=name,
                               default=argparse.SUPPRESS, help=help)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError((message or "").strip() or f"{self.prog}: exit {status}")
        if message:
            print(message, file=sys.stderr, end="")
        raise _HelpShown

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None) -> Any:
        args = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(self._fire_style(args), namespace)

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        """Parse, or raise UsageError naming every unknown flag and its close matches."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            owner = self  # the subcommand given, if any, names its own flags
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction):
                    owner = action.choices.get(getattr(namespace, action.dest, None), owner)
            raise UsageError(owner._unknown(extras))
        return namespace

    def _flags(self) -> tuple[set[str], set[str]]:
        """(names of boolean flags, option strings that take a value) of this parser."""
        bools, valued = set(), set()
        for action in self._actions:
            if isinstance(action, BoolFlag):
                bools.add(action.dest)
            elif action.nargs != 0 and action.option_strings:
                valued.update(action.option_strings)
        return bools, valued

    def _fire_style(self, args: list[str]) -> list[str]:
        """Rewrite the old flag syntax into what argparse reads: ``--num-samples`` →
        ``--num_samples``; ``--overwrite=false`` / ``--overwrite no`` → ``--nooverwrite``;
        ``--X value`` → ``--X=value``, so a value such as ``-1e-3`` is never taken for a flag
        (a token is a flag when it starts with ``--`` or ``-`` and a letter). Flags this parser
        does not know are left alone (a subcommand's parser reads them)."""
        bools, valued = self._flags()
        out: list[str] = []
        i = 0
        while i < len(args):
            token = args[i]
            following = args[i + 1] if i + 1 < len(args) else None
            i += 1
            if token == "--":
                out.extend(args[i - 1:])
                break
            if not token.startswith("--"):
                out.append(token)
                continue
            key, eq, value = token[2:].partition("=")
            key = key.replace("-", "_")
            if key.startswith("no") and key[2:] in bools and eq:
                raise UsageError(f"--{key} takes no value (--{key[2:]}={value} sets it)")
            if key in bools:
                if not eq and following is not None and following.lower() in _BOOL_WORDS:
                    value, eq = following, "="
                    i += 1
                if eq:
                    if value.lower() not in _BOOL_WORDS:
                        raise UsageError(f"--{key} expects true or false, got {value!r}")
                    key = key if _BOOL_WORDS[value.lower()] else f"no{key}"
                out.append(f"--{key}")
            elif f"--{key}" in valued and not eq and following is not None \
                    and not _is_flag(following):
                out.append(f"--{key}={following}")
                i += 1
            else:
                out.append(f"--{key}{eq}{value}")
        return out

    def _all_flags(self) -> list[str]:
        """Every long flag name, of the subcommands too (the --noX forms left out)."""
        names: list[str] = []
        for action in self._actions:
            if action.help is argparse.SUPPRESS:
                continue
            if isinstance(action, BoolFlag):
                names.append(action.dest)
                continue
            names += [s.lstrip("-") for s in action.option_strings if s.startswith("--")]
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    if isinstance(sub, ArgParser):
                        names += sub._all_flags()
        return list(dict.fromkeys(names))

    def _unknown(self, extras: list[str]) -> str:
        known = self._all_flags()
        problems = []
        skip_value = False
        for token in extras:
            if _is_flag(token):
                name = token.lstrip("-").partition("=")[0]
                if len(name) == 1:  # a short flag: suggest the long ones it could stand for
                    close = [k for k in known if k.startswith(name)][:4]
                else:
                    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
                hint = f"; did you mean {' or '.join('--' + c for c in close)}?" if close else ""
                problems.append(f"unknown option {name} ({token.partition('=')[0]}){hint}")
                skip_value = "=" not in token
            elif skip_value:
                skip_value = False  # the value of the unknown flag before it
            else:
                problems.append(f"unexpected argument {token!r}{self.stray_hint}")
        return f"{'; '.join(problems)} (see {self.prog} --help)"


def parse(parser: ArgParser, argv: Sequence[str]) -> argparse.Namespace | None:
    """``parser.parse_args(argv)``, or None when it printed --help."""
    try:
        return parser.parse_args(argv)
    except _HelpShown:
        return None


def positional(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    """A positional argument that may also be given as ``--name VALUE``, as fire allowed; the
    flag form is accepted but not listed. argparse sees it as optional: check the required
    ones with :func:`require`."""
    parser.add_argument(name, nargs="?", default=argparse.SUPPRESS, type=parse_text,
                        metavar=name.upper(), help=help)
    parser.add_argument(f"--{name}", dest=name, default=argparse.SUPPRESS, type=parse_text,
                        help=argparse.SUPPRESS)


def require(parser: ArgParser, namespace: argparse.Namespace, *names: str) -> None:
    """UsageError naming the :func:`positional` arguments among ``names`` not given."""
    missing = [n.upper() for n in names if not hasattr(namespace, n)]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")


def show_default(value: Any) -> str:
    """How a default reads in --help ("" when the option is unset by default)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return " (default: on)" if value else " (default: off)"
    if isinstance(value, str):
        return f" (default: {value})" if value else ' (default: "")'
    return f" (default: {value!r})"


# -- generate --------------------------------------------------------------------------------

def _doc_paragraphs(doc: str | None) -> list[str]:
    """A docstring's paragraphs, each on one line."""
    return [" ".join(p.split()) for p in inspect.cleandoc(doc or "").split("\n\n") if p.strip()]


def _first_paragraph(doc: str | None) -> str:
    paragraphs = _doc_paragraphs(doc)
    return paragraphs[0] if paragraphs else ""


def _metavar(default: Any) -> str:
    if isinstance(default, int) and not isinstance(default, bool):
        return "N"
    return "X" if isinstance(default, float) else "VALUE"


def _add_option(parser: ArgParser, container: Any, name: str, opt: Any) -> None:
    help_text = (opt.help + show_default(opt.default)).replace("%", "%%")
    if isinstance(opt.default, bool):
        parser.add_bool(container, name, help_text)
        return
    text = opt.default is None or isinstance(opt.default, str)
    container.add_argument(f"--{name}", dest=name, default=argparse.SUPPRESS,
                           type=parse_text if text else parse_value,
                           metavar=_metavar(opt.default), help=help_text)


def _shared_tables() -> list[tuple[str, Mapping[str, Any]]]:
    tables = []
    for title, ref in SHARED_OPTION_TABLES.items():
        module, _, attr = ref.partition(":")
        try:
            tables.append((title, getattr(importlib.import_module(module), attr)))
        except (ImportError, AttributeError):
            continue  # its sources are unavailable too, and say so in the list of sources
    return tables


def generate_parser(prog: str = "mmsynth generate", source: str | None = None) -> ArgParser:
    """The parser of ``generate``, built from the option tables (mmsynth.config.RUN_OPTIONS and
    each source's ``options``): run options, then each source's own, then the options several
    sources share, once each. With ``source``, only that source's options are listed (for
    ``--source coco --help``). Every flag's default is argparse.SUPPRESS, so the parse holds only
    the flags given and a --config file keeps its say over the rest."""
    from mmsynth.config import RUN_OPTIONS
    from mmsynth.generate import generate
    from mmsynth.sources import SOURCES

    tables: dict[str, Mapping[str, Any]] = {}
    lines = []
    for name in SOURCES.names():
        try:
            cls = SOURCES.get(name)
        except ImportError as e:  # an optional dependency missing: say so, keep the rest
            lines.append(f"  {name}: unavailable ({e})")
            continue
        tables[name] = cls.options
        lines.append(textwrap.fill(f"{name}: {_first_paragraph(cls.__doc__)}", _width() - 2,
                                   initial_indent="  ", subsequent_indent="      ",
                                   break_on_hyphens=False))
    shown = [source] if source in tables else list(tables)

    paragraphs = _doc_paragraphs(generate.__doc__)[:2]
    description = "\n\n".join([
        *paragraphs,
        "sources (pick one with --source; its options are flags too; --source NAME --help lists "
        "only NAME's):\n" + "\n".join(lines)])
    parser = ArgParser(prog=prog, description=description, epilog=_GENERATE_EPILOG,
                       usage=f"{prog} --source NAME [--OPTION VALUE ...] [--config FILE.yaml]")
    parser.stray_hint = " (generate takes only --OPTION VALUE flags, e.g. --source geometry)"

    run_group = parser.add_argument_group("run options")
    for name, opt in RUN_OPTIONS.items():
        _add_option(parser, run_group, name, opt)

    # Which sources use each option object: one used by several is shown once, in a group of
    # its own (a table several sources splice in, or simply the options they share).
    users: dict[int, list[str]] = {}
    objects: dict[int, tuple[str, Any]] = {}
    for src in shown:
        for name, opt in tables[src].items():
            if name not in RUN_OPTIONS:
                users.setdefault(id(opt), []).append(src)
                objects.setdefault(id(opt), (name, opt))
    titled = {id(opt): title for title, table in _shared_tables() for opt in table.values()}

    groups: dict[str, list[tuple[str, Any]]] = {}
    for key, (name, opt) in objects.items():
        sources = users[key]
        if key in titled:
            title = f"{titled[key]} options ({', '.join(sources)})"
        elif len(sources) > 1:
            title = f"options of {' and '.join(sources)}"
        else:
            title = f"{sources[0]} options"
        groups.setdefault(title, []).append((name, opt))
    own = [t for t in groups if t.endswith(" options") and t[:-8] in shown]
    order = sorted(own, key=lambda t: shown.index(t[:-8])) + [t for t in groups if t not in own]
    registered: set[str] = set(RUN_OPTIONS)
    for title in order:
        group = parser.add_argument_group(title)
        for name, opt in groups[title]:
            if name in registered:  # the same name, another object, in another source
                group.description = ((group.description or "") + f"--{name}: {opt.help}"
                                     f"{show_default(opt.default)} ").replace("%", "%%")
                continue
            registered.add(name)
            _add_option(parser, group, name, opt)
    return parser


_GENERATE_EPILOG = """\
values: --X value or --X=value; numbers as 20, 1e3, 0.5; lists and mappings with bare words,
  e.g. --families "[triangle, circle]" or --families "{triangle: 2, circle: 1}"; text options
  (paths, names) take the text as it is (--out 2024 is the folder 2024).
booleans: --overwrite turns one on, --nooverwrite off (also --overwrite=false).
precedence: option defaults < the --config YAML file < the flags given.
example: mmsynth generate --source geometry --num_samples 1000 --out out/ --workers 2"""


def parse_generate_args(argv: Sequence[str], prog: str = "mmsynth generate"
                        ) -> dict[str, Any] | None:
    """The flags given, as keyword arguments of :func:`mmsynth.generate.generate`, or None when
    --help was printed. UsageError for an unknown flag (naming close matches) or a stray word."""
    argv = list(argv)
    if "--help" in argv or "-h" in argv:
        # --help anywhere wins, as before; --source NAME narrows it to that source.
        source = None
        for i, token in enumerate(argv):
            if token.startswith("--source="):
                source = token.partition("=")[2]
            elif token == "--source" and i + 1 < len(argv):
                source = argv[i + 1]
        generate_parser(prog, source).print_help()
        return None
    namespace = parse(generate_parser(prog), argv)
    return None if namespace is None else vars(namespace)


# -- the mmsynth command ---------------------------------------------------------------------

def available() -> dict[str, tuple[str, str]]:
    """The subcommands whose module is installed."""
    found = {}
    for name, (ref, summary) in SUBCOMMANDS.items():
        try:
            present = importlib.util.find_spec(ref.partition(":")[0]) is not None
        except (ImportError, ValueError):
            present = False
        if present:
            found[name] = (ref, summary)
    return found


def top_help() -> str:
    from mmsynth import __version__

    commands = available()
    width = max(map(len, commands)) + 2
    rows = "\n".join(f"  {name:<{width}}{summary}" for name, (_, summary) in commands.items())
    return (f"usage: mmsynth COMMAND [ARGS...]   (mmsynth {__version__})\n\n"
            "Manufacture vision-language instruction data (LLaVA-style) as WebDataset shards.\n\n"
            f"commands:\n{rows}\n\n"
            "options:\n  -h, --help  show this help and exit\n"
            "  --version   print the version and exit\n\n"
            "mmsynth COMMAND --help shows a command's options. Flags without a command run\n"
            "generate (mmsynth --source geometry ... = mmsynth generate --source geometry ...).\n"
            "python -m mmsynth is the same as mmsynth; python -m mmsynth.generate, "
            "mmsynth.preview\nand mmsynth.export run one command each.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmsynth`` console script and ``python -m mmsynth``."""
    from mmsynth import __version__

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(top_help(), file=sys.stderr)
        return 2
    first, rest = argv[0], argv[1:]
    if first in ("-h", "--help"):
        print(top_help())
        return 0
    if first == "--version":
        print(f"mmsynth {__version__}")
        return 0
    commands = available()
    if first.startswith("-"):  # the console script used to be generate alone: keep its flags
        first, rest = "generate", argv
    if first not in commands:
        close = difflib.get_close_matches(first, list(commands), n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        print(f"error: unknown command {first!r}{hint} (commands: {', '.join(commands)}; "
              "see mmsynth --help)", file=sys.stderr)
        return 2
    module, _, function = commands[first][0].partition(":")
    return int(getattr(importlib.import_module(module), function)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
