"""The results of shell analysis (:class:`Part`, :class:`Redirect`, :class:`ParseResult`,
:class:`Interp`) and the mutable drafts the parser builds them from."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MAX_DEPTH", "Interp", "ParseResult", "Part", "Redirect", "program_name"]

#: How many strings deep the parser follows ``bash -c``, ``eval``, heredoc scripts and code.
MAX_DEPTH = 6


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Redirect:
    """One redirection. ``target`` is the file word (or the heredoc delimiter); ``body`` is the
    heredoc or here-string text; ``quoted`` says the heredoc delimiter was quoted."""

    op: str
    target: str
    fd: int | None = None
    body: str | None = None
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Part:
    """One simple command that would run.

    ``stdin_from`` and ``inputs`` are indices into :attr:`ParseResult.parts`. ``expanded[i]``
    is true when ``argv[i]`` holds a run-time expansion (``$VAR``, ``$(...)``), kept verbatim.
    ``cwd`` is the directory changed to by earlier ``cd`` in the same command, as written
    (``""``: unchanged, ``None``: unknown). ``sink`` is ``shell``, ``python`` or ``interp``
    when the part is an interpreter reading its program from standard input.
    """

    argv: tuple[str, ...]
    assigns: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    stdin_from: tuple[int, ...] = ()
    inputs: tuple[int, ...] = ()
    wrappers: tuple[str, ...] = ()
    origin: str = "command"
    expanded: tuple[bool, ...] = ()
    cwd: str | None = ""
    function: str | None = None
    sink: str | None = None
    #: The basename of ``argv[0]`` (``""`` when there is no argv).
    program: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "program", program_name(self.argv[0]) if self.argv else "")
        if len(self.expanded) != len(self.argv):
            object.__setattr__(self, "expanded", (False,) * len(self.argv))


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Every part a command would run; ``dynamic`` lists code the parser could not see."""

    parts: tuple[Part, ...]
    unparseable: bool = False
    error: str | None = None
    dynamic: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Interp:
    """How an interpreter command gets its program: inline ``code``, a ``script`` file, or
    standard input (``sink``)."""

    kind: str  # shell | python | interp
    sink: bool
    script: str | None
    script_index: int | None
    code: str | None
    code_index: int | None


def program_name(word: str) -> str:
    """The basename of a command word: ``/usr/bin/env`` -> ``env``."""
    if "/" not in word:  # the usual case: the word itself
        return word
    stripped = word.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else word


# --------------------------------------------------------------------------------------------
# Drafts
# --------------------------------------------------------------------------------------------
class _RedirDraft:
    __slots__ = ("body", "fd", "op", "owner", "quoted", "strip", "target")

    def __init__(self, op: str, target: str, fd: int | None, quoted: bool = False) -> None:
        self.op, self.target, self.fd, self.quoted = op, target, fd, quoted
        self.body: str | None = target if op == "<<<" else None
        self.strip = op == "<<-"
        self.owner = -1

    def freeze(self) -> Redirect:
        return Redirect(self.op, self.target, self.fd, self.body, self.quoted)


class _Draft:
    __slots__ = ("argv", "assigns", "cwd", "depth", "expanded", "fed", "function", "inputs",
                 "origin", "redirects", "sink", "stdin_from", "wrappers")

    def __init__(self, argv: list[str], expanded: list[bool], assigns: list[str],
                 redirects: list[_RedirDraft], inputs: list[int], wrappers: tuple[str, ...],
                 origin: str, cwd: str | None, function: str | None, depth: int) -> None:
        self.argv, self.expanded, self.assigns = argv, expanded, assigns
        self.redirects, self.inputs, self.wrappers = redirects, inputs, wrappers
        self.origin, self.cwd, self.function, self.depth = origin, cwd, function, depth
        self.stdin_from: tuple[int, ...] = ()
        self.sink: str | None = None
        self.fed = False

    def freeze(self) -> Part:
        reds, inputs = self.redirects, self.inputs
        return Part(tuple(self.argv), tuple(self.assigns),
                    tuple([r.freeze() for r in reds]) if reds else (), self.stdin_from,
                    tuple(sorted(set(inputs))) if inputs else (), self.wrappers, self.origin,
                    tuple(self.expanded), self.cwd, self.function, self.sink)


class _State:
    __slots__ = ("dynamic", "errors", "functions", "nest", "parts", "vars")

    def __init__(self) -> None:
        self.parts: list[_Draft] = []
        self.errors: list[str] = []
        self.dynamic: list[str] = []
        self.functions: list[str] = []
        self.vars: dict[str, str] = {}
        self.nest = 0
