"""Which checks a shell command line runs: tests, builds, linters, type checkers.

:func:`invocations` reads a command line the way bash would split it (quotes, ``;``, ``&&``,
``||``, pipes, subshells, ``{ }`` groups, ``if``/``while``/``for``/``case``, heredocs, command
substitutions, ``bash -c '...'``) and looks through the wrappers agents put in front of runners
(``cd dir &&``, ``env A=1``, ``VAR=1``, ``timeout 60``, ``uv run``, ``poetry run``, ``npx``,
``python -m``, ``node_modules/.bin/``...). For each check it finds it says whether the run was
narrowed to a subset of the suite, whether its exit status was masked (``|| true``, ``; exit 0``,
``set +e``) and whether the status was lost in a pipe (``| tail`` without ``pipefail``).

:func:`prints_only` tells a command that merely prints or replays text (``echo``, ``printf``,
``cat``, a heredoc, ``python -c "print(...)"``) from one that runs a program: runner-like output
from such a command was written by the agent, not produced by a runner.

Both read any text without raising: malformed input (unbalanced quotes, stray operators) is
analysed as far as it goes.

This module walks a parsed command line, tracking what masks or loses each exit status; the
parts live in their own modules: :mod:`codor.claims.shellsyntax` (lexer and parser),
:mod:`codor.claims.runnerargs` (test-runner arguments and the subsets they select),
:mod:`codor.claims.toolcalls` (what a known tool runs), :mod:`codor.claims.wrappers` (the
wrappers, interpreters, package managers and nested shells in front of a tool) and
:mod:`codor.claims.printing` (:func:`prints_only`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from codor.claims.printing import prints_only
from codor.claims.runnerargs import _ASSIGN
from codor.claims.shellsyntax import (
    _MAX_DEPTH,
    _AndOr,
    _Cmd,
    _Group,
    _parse,
    _Pipe,
    _Seq,
    _Simple,
)
from codor.claims.toolcalls import Category
from codor.claims.wrappers import _classify, _may_run, _Nested

__all__ = ["Category", "Invocation", "invocations", "prints_only"]


@dataclass(frozen=True, slots=True)
class Invocation:
    """One check a command line runs.

    ``words`` are the words of the simple command that runs it (wrappers included, redirections
    left out). ``subset`` is ``None`` when the whole suite or check runs, else why the run is
    narrowed (``"-k parser"``, ``"file tests/test_a.py"``). ``masked`` names the explicit
    masking of the exit status that applies to it (``"|| true"``, ``"; exit 0"``,
    ``"set +e"``); ``piped`` the pipe consumer that loses its status (``"| tail -5"``).
    """

    category: Category
    tool: str
    words: tuple[str, ...]
    subset: str | None = None
    masked: str | None = None
    piped: str | None = None


# ============================================================================= the walk

_MASKERS_OR: Final = frozenset({"true", ":", "echo", "printf", "/bin/true", "/usr/bin/true"})
_MASKERS_SEQ: Final = frozenset({"true", ":", "/bin/true", "/usr/bin/true"})


class _State:
    __slots__ = ("errexit", "pipefail", "pipestatus", "plus_e")

    def __init__(self, pipestatus: bool, pipefail: bool = False, errexit: bool = False) -> None:
        self.pipestatus = pipestatus
        self.pipefail = pipefail
        self.errexit = errexit
        self.plus_e = False

    def copy(self) -> _State:
        st = _State(self.pipestatus, self.pipefail, self.errexit)
        st.plus_e = self.plus_e
        return st


def _set_builtin(words: list[str], st: _State) -> None:
    j = 1
    n = len(words)
    while j < n:
        a = words[j]
        j += 1
        if len(a) < 2 or a[0] not in "-+":
            continue
        on = a[0] == "-"
        letters = a[1:]
        if "e" in letters:
            st.errexit = on
            st.plus_e = not on
        if "o" in letters and j < n:
            opt = words[j]
            j += 1
            if opt == "pipefail":
                st.pipefail = on
            elif opt == "errexit":
                st.errexit = on
                st.plus_e = not on


def _brief(cmd: _Cmd) -> str:
    if isinstance(cmd, _Group):
        return "( … )" if cmd.subshell else "{ … }"
    text = " ".join(cmd.words)
    return text if len(text) <= 40 else text[:39] + "…"


def _masker(pipe: _Pipe, allowed: frozenset[str]) -> str | None:
    """The text of a pipeline that only masks a failure (``true``, ``exit 0``, ``echo …`` when
    ``allowed``), else ``None``."""
    if len(pipe) != 1:
        return None
    cmd = pipe[0]
    if isinstance(cmd, _Group):
        last = None
        for part in cmd.parts:
            for andor in part:
                last = andor[-1][1] if andor else last
        return _brief(cmd) if last is not None and _masker(last, allowed) else None
    words = [w for w in cmd.words if not _ASSIGN.match(w)]
    if not words:
        return None
    if words[0] in allowed:
        return _brief(_Simple(words, [], []))
    if words[0] in ("exit", "return") and words[1:2] == ["0"]:
        return f"{words[0]} 0"
    return None


class _Walk:
    def __init__(self, out: list[Invocation]) -> None:
        self.out = out

    def seq(self, seq: _Seq, st: _State, mask: str | None, piped: str | None,
            depth: int) -> None:
        later: list[str | None] = [None] * len(seq)
        found: str | None = None
        for k in range(len(seq) - 1, -1, -1):
            later[k] = found
            andor = seq[k]
            if len(andor) == 1 and (m := _masker(andor[0][1], _MASKERS_SEQ)) is not None:
                found = f"; {m}"
        for k, andor in enumerate(seq):
            self.andor(andor, st, mask, piped, later[k], depth)

    def andor(self, andor: _AndOr, st: _State, mask: str | None, piped: str | None,
              seq_mask: str | None, depth: int) -> None:
        n = len(andor)
        or_mask: list[str | None] = [None] * n
        found: str | None = None
        for k in range(n - 1, -1, -1):
            or_mask[k] = found
            op, pipe = andor[k]
            if op == "||" and (m := _masker(pipe, _MASKERS_OR)) is not None:
                found = f"|| {m}"
        for k, (_op, pipe) in enumerate(andor):
            last = k == n - 1
            own = or_mask[k]
            if own is None and seq_mask is not None and not (st.errexit and last):
                own = seq_mask
            self.pipeline(pipe, st, own or mask, piped, depth)

    def pipeline(self, pipe: _Pipe, st: _State, mask: str | None, piped: str | None,
                 depth: int) -> None:
        n = len(pipe)
        for k, cmd in enumerate(pipe):
            lost = piped
            if k < n - 1 and not st.pipefail and not st.pipestatus:
                lost = "| " + " | ".join(_brief(c) for c in pipe[k + 1:k + 4]) + \
                    (" | …" if n - k > 4 else "")
            if isinstance(cmd, _Group):
                inner = st.copy() if cmd.subshell else st
                for part in cmd.parts:
                    self.seq(part, inner, mask, lost, depth + 1)
            else:
                self.simple(cmd, st, mask, lost, depth)

    def simple(self, cmd: _Simple, st: _State, mask: str | None, piped: str | None,
               depth: int) -> None:
        words = cmd.words
        if not words:
            return
        if words[0] == "set":
            _set_builtin(words, st)
            return
        nested: list[_Nested] = []
        found = _classify(words, depth, nested, cmd.bodies)
        if st.plus_e and mask is None:
            mask = "set +e"
        for category, tool, subset in found:
            self.out.append(Invocation(category, tool, tuple(words), subset, mask, piped))
        if depth >= _MAX_DEPTH:
            return
        for body in cmd.subs:
            if _may_run(body):
                self.seq(_parse(body), st.copy(), mask, piped, depth + 1)
        for script in nested:
            if not _may_run(script.script):
                continue
            if script.fresh:
                inner = _State("PIPESTATUS" in script.script or "pipestatus" in script.script,
                               script.pipefail, script.errexit)
            else:
                inner = st
            self.seq(_parse(script.script), inner, mask, piped, depth + 1)


def invocations(command: str | None, argv: Sequence[str] | None = None) -> list[Invocation]:
    """Every test run, build, lint and type check that ``command`` (a shell command line) or,
    when ``command`` is ``None``, ``argv`` (an argument vector) runs, in order."""
    out: list[Invocation] = []
    if command is not None:
        if not _may_run(command):
            return out
        seq = _parse(command)
        st = _State("PIPESTATUS" in command or "pipestatus" in command)
        _Walk(out).seq(seq, st, None, None, 0)
    elif argv:
        words = [a for a in argv if isinstance(a, str)]
        _Walk(out).simple(_Simple(words, [], []), _State(False), None, None, 0)
    return out
