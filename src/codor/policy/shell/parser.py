"""The parser's entry points (:func:`parse_command`, :func:`parse_argv`, :func:`programs_of`) and
what a simple command runs: unwrapped programs, ``cd``, ``find -exec``, awk ``system()``,
embedded Python, and scripts reaching an interpreter on standard input."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from codor.policy.shell.fast import quick_parts, split_simple
from codor.policy.shell.grammar import _MAX_NEST, _Grammar
from codor.policy.shell.interpreters import (
    _AWKS,
    SHELLS,
    interp_commands,
    interpreter,
    python_commands,
)
from codor.policy.shell.model import (
    MAX_DEPTH,
    Interp,
    ParseResult,
    _Draft,
    _RedirDraft,
    _State,
    program_name,
)
from codor.policy.shell.words import _ASSIGN_RE
from codor.policy.shell.wrappers import _UNWRAPS, _unwrap

__all__ = ["parse_argv", "parse_command", "programs_of"]


class _Parser(_Grammar):
    """Recursive descent over one string; parts go into the shared :class:`_State`."""

    # -- bookkeeping ----------------------------------------------------------------------
    def dynamic(self, message: str) -> None:
        if message not in self.st.dynamic and len(self.st.dynamic) < 32:
            self.st.dynamic.append(message)

    # -- the fast path ----------------------------------------------------------------------
    def run(self) -> list[int]:
        if self.i == 0 and not self.pending:
            pipelines = split_simple(self.s)
            if pipelines is not None:
                return self.run_simple(pipelines)
        return super().run()

    def run_simple(self, pipelines: list[list[list[str]]]) -> list[int]:
        """What :meth:`run` does for the pipelines of :func:`split_simple`: the same calls
        of :meth:`finish`, the same pipe connections and ``cd`` scoping, without the lexer."""
        st = self.st
        st.nest += 1  # as parse_list does
        try:
            if st.nest > _MAX_NEST:
                self.error("commands nested too deeply")
                self.i = self.n
                return []
            ids: list[int] = []
            parts = st.parts
            wrappers, origin = self.wrappers, self.origin
            for pipeline in pipelines:
                saved = self.cwd
                first = pipeline[0]
                cur = self.finish(first, [False] * len(first), [], [], [], wrappers, origin)
                ids += cur
                if self.i >= self.n:  # too many commands: the parser stops (see add)
                    return ids
                if len(pipeline) == 1:
                    continue
                for argv in pipeline[1:]:
                    self.cwd = saved
                    nxt = self.finish(argv, [False] * len(argv), [], [], [], wrappers, origin)
                    for k in nxt:
                        d = parts[k]
                        d.stdin_from = tuple(dict.fromkeys((*d.stdin_from, *cur)))
                    cur = nxt
                    ids += nxt
                    if self.i >= self.n:
                        return ids
                self.cwd = saved
            return ids
        finally:
            st.nest -= 1

    # -- commands -------------------------------------------------------------------------
    def finish(self, argv: list[str], dyn: list[bool], assigns: list[str],
               reds: list[_RedirDraft], inputs: list[int], wrappers: tuple[str, ...],
               origin: str) -> list[int]:
        info: Interp | None = None
        known = False  # info is interpreter(argv)
        # _unwrap returns an argv as it is unless its program is one of _UNWRAPS, and a shell
        # without -c as it is too (its interpreter() is then kept for below)
        wrapped = bool(argv) and not dyn[0] and program_name(argv[0]) in _UNWRAPS
        if wrapped and program_name(argv[0]) in SHELLS:
            info, known = interpreter(argv), True
            wrapped = info is None or info.code is not None
        if wrapped:
            known = False
            u = _unwrap(argv, dyn)
            wraps = wrappers + tuple(u.wrappers) if u.wrappers else wrappers
            if u.script is not None:
                if u.script_dyn:
                    self.dynamic(f"{u.script_via} runs a command string computed at run time")
                if reds:
                    self.add([], [], assigns + u.assigns, reds, inputs, wraps, origin)
                return self.sub_parse(u.script, "string", wraps)
            argv, dyn = u.argv, u.expanded
            if u.assigns:
                assigns = assigns + u.assigns
        else:  # nothing to unwrap
            wraps = wrappers
        idx = self.add(argv, dyn, assigns, reds, inputs, wraps, origin)
        if idx < 0 or not argv:
            return [idx] if idx >= 0 else []
        if dyn[0]:
            self.dynamic(f"the command name {_short(argv[0])} is computed at run time")
            return [idx]
        prog = program_name(argv[0])
        if prog in ("cd", "pushd"):
            if prog == "pushd":
                self.dirs.append(self.cwd)
            self.change_dir(argv, dyn)
        elif prog == "popd":
            self.cwd = self.dirs.pop() if self.dirs else None
        elif prog in ("export", "declare", "typeset", "local", "readonly"):
            for a, d in zip(argv[1:], dyn[1:], strict=False):
                m = _ASSIGN_RE.match(a)
                if m and not d and not a[: m.end()].endswith("+="):
                    self.st.vars[a[: m.end() - 1]] = a[m.end() :]
        elif prog == "find":
            self.find_exec(argv, dyn, (*wraps, "find"))
        elif prog in _AWKS:
            self.awk_system(argv, dyn, (*wraps, prog))
        if not known:
            info = interpreter(argv)
        if info is not None:
            draft = self.st.parts[idx]
            draft.sink = info.kind if info.sink else None
            inner = (*wraps, prog)
            code_dyn = info.code_index is not None and dyn[info.code_index]
            if info.code is not None and info.kind == "python":
                self.run_python(info.code, code_dyn, inner, 0)
            elif info.code is not None and info.kind == "interp":
                if code_dyn:
                    self.dynamic(f"{prog} runs code computed at run time")
                for text in interp_commands(info.code):
                    self.sub_parse(text, "string", inner)
        return [idx]

    def change_dir(self, argv: list[str], dyn: list[bool]) -> None:
        k = 1
        while k < len(argv) and argv[k].startswith("-") and argv[k] != "-":
            k += 1
        if k >= len(argv):
            self.cwd = "~"
            return
        target, d = argv[k], dyn[k]
        home = target.startswith(("$HOME", "${HOME}"))
        rest = target[7:] if target.startswith("${HOME}") else target[5:]
        if target == "-" or (d and not (home and "$" not in rest)):
            self.cwd = None
        elif target.startswith(("/", "~")) or home:
            self.cwd = target
        elif self.cwd is None:
            self.cwd = None
        else:
            self.cwd = f"{self.cwd}/{target}" if self.cwd else target

    def find_exec(self, argv: list[str], dyn: list[bool], wraps: tuple[str, ...]) -> None:
        k = 1
        roots: list[str] = []
        while k < len(argv) and not argv[k].startswith(("-", "(", "!")):
            roots.append(argv[k])
            k += 1
        root = (roots[0] if roots else ".").rstrip("/") or "/"
        placeholder = "/{}" if root == "/" else f"{root}/{{}}"
        while k < len(argv):
            if argv[k] in ("-exec", "-execdir", "-ok", "-okdir"):
                j = k + 1
                while j < len(argv) and argv[j] not in (";", "+"):
                    j += 1
                cmd = [placeholder if a == "{}" else a for a in argv[k + 1 : j]]
                if cmd:
                    self.finish(cmd, dyn[k + 1 : j], [], [], [], wraps, "find-exec")
                k = j
            k += 1

    def awk_system(self, argv: list[str], dyn: list[bool], wraps: tuple[str, ...]) -> None:
        """``awk 'BEGIN { system("...") }'``: literal commands of the awk program."""
        k = 1
        while k < len(argv) and argv[k].startswith("-") and argv[k] != "--":
            if argv[k] in ("-f", "--file"):
                return
            k += 2 if argv[k] in ("-F", "-v") else 1
        if k < len(argv) and argv[k] == "--":
            k += 1
        if k >= len(argv):
            return
        if dyn[k]:
            self.dynamic(f"{wraps[-1]} runs a program computed at run time")
        for text in interp_commands(argv[k]):
            self.sub_parse(text, "string", wraps)
        if re.search(r'\|\s*"|\|&\s*"|"[^"]*"\s*\|&?\s*getline', argv[k]):
            for text in re.findall(r'"((?:\\.|[^"\\])*)"\s*\|&?\s*getline|'
                                   r'\|&?\s*"((?:\\.|[^"\\])*)"', argv[k]):
                for piece in text:
                    if piece:
                        self.sub_parse(piece, "string", wraps)

    def run_python(self, code: str, code_dyn: bool, wraps: tuple[str, ...], level: int) -> None:
        if code_dyn:
            self.dynamic("python runs code computed at run time")
        if level > MAX_DEPTH:
            self.error("python code nested too deeply")
            return
        cmds, dynamic = python_commands(code)
        for msg in dynamic:
            self.dynamic(msg)
        for kind, value in cmds:
            if kind == "shell":
                self.sub_parse(value, "python", wraps)
            elif kind == "argv":
                self.finish(list(value), [False] * len(value), [], [], [], wraps, "python")
            else:
                self.run_python(value, False, wraps, level + 1)


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --------------------------------------------------------------------------------------------
# Scripts reaching an interpreter on standard input
# --------------------------------------------------------------------------------------------
def _literal_output(d: _Draft) -> tuple[str, bool] | None:
    """What a part writes to its stdout, when that is fixed text (echo, printf, cat <<EOF)."""
    if not d.argv:
        return None
    prog = program_name(d.argv[0])
    args, dyn = d.argv[1:], d.expanded[1:]
    if prog == "echo":
        k = 0
        while k < len(args) and re.fullmatch(r"-[neE]+", args[k]):
            k += 1
        return " ".join(args[k:]) + "\n", any(dyn[k:])
    if prog == "printf" and args:
        fmt = args[0].replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
        for a in args[1:]:
            fmt = fmt.replace("%s", a, 1)
        return fmt, any(dyn)
    if prog == "cat" and not args:
        for r in d.redirects:
            if r.op in ("<<", "<<-", "<<<") and r.fd in (None, 0) and r.body is not None:
                return r.body, False
    return None


def _finalize(st: _State) -> None:
    k = 0
    while k < len(st.parts):
        d = st.parts[k]
        k += 1
        if d.sink not in ("shell", "python") or d.fed:
            continue
        d.fed = True
        texts: list[tuple[str, bool]] = []
        for r in d.redirects:
            if r.op in ("<<", "<<-", "<<<") and r.fd in (None, 0) and r.body is not None:
                texts.append((r.body, False))
        for j in d.stdin_from:
            got = _literal_output(st.parts[j])
            if got is not None:
                texts.append(got)
        if not texts:
            continue
        prog = program_name(d.argv[0])
        p = _Parser("", st, d.depth, "stdin", (*d.wrappers, prog), d.cwd, d.function)
        for text, dyn in texts:
            if dyn:
                p.dynamic(f"{prog} reads a script computed at run time")
            if d.sink == "shell":
                p.sub_parse(text, "stdin", p.wrappers)
            else:
                p.run_python(text, False, p.wrappers, d.depth)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------
def _result(st: _State) -> ParseResult:
    _finalize(st)
    return ParseResult(
        tuple([d.freeze() for d in st.parts]),
        bool(st.errors),
        st.errors[0] if st.errors else None,
        tuple(st.dynamic),
        tuple(st.functions),
    )


def _failed(exc: BaseException) -> ParseResult:
    if isinstance(exc, RecursionError):
        return ParseResult((), True, "command nested too deeply")
    return ParseResult((), True, f"command could not be analysed ({type(exc).__name__})")


@lru_cache(maxsize=4096)
def parse_command(command: str) -> ParseResult:
    """Every part the shell command string would run (never raises)."""
    try:
        pipelines = split_simple(command)
        if pipelines is not None:
            quick = quick_parts(pipelines)
            if quick is not None:
                return quick
        st = _State()
        p = _Parser(command, st, 0, "command", (), "", None)
        if pipelines is None:
            _Grammar.run(p)  # the lexer (what p.run() does when split_simple refuses)
        else:
            p.run_simple(pipelines)
        return _result(st)
    except Exception as exc:  # fail closed: the guard turns this into a deny
        return _failed(exc)


class _LexingParser(_Parser):
    """The parser without its fast path: every string goes through the lexer (tests check
    that both read every command alike)."""

    def run(self) -> list[int]:
        return _Grammar.run(self)


def _parse_full(command: str, parser: type[_Parser] = _Parser) -> ParseResult:
    """:func:`parse_command` without :func:`quick_parts`, uncached (for tests: with
    :class:`_LexingParser`, without any shortcut)."""
    try:
        st = _State()
        parser(command, st, 0, "command", (), "", None).run()
        return _result(st)
    except Exception as exc:  # fail closed: the guard turns this into a deny
        return _failed(exc)


@lru_cache(maxsize=1024)
def parse_argv(argv: tuple[str, ...]) -> ParseResult:
    """Every part an already-split argv would run: not shell-parsed, but unwrapped."""
    if argv:
        try:
            quick = quick_parts([[list(argv)]])  # one command, whatever its words hold
        except Exception as exc:
            return _failed(exc)
        if quick is not None:
            return quick
    return _parse_argv_full(argv)


def _parse_argv_full(argv: tuple[str, ...]) -> ParseResult:
    """:func:`parse_argv` without :func:`quick_parts`, uncached (for tests)."""
    try:
        st = _State()
        if argv:
            p = _Parser("", st, 0, "command", (), "", None)
            p.finish(list(argv), [False] * len(argv), [], [], [], (), "command")
        return _result(st)
    except Exception as exc:
        return _failed(exc)


def _results(command: str | None, argv: Sequence[str] | None) -> list[ParseResult]:
    out = []
    if command is not None:
        out.append(parse_command(command))
    if argv is not None:
        out.append(parse_argv(tuple(argv)))
    return out


def programs_of(command: str | None, argv: Sequence[str] | None = None) -> tuple[str, ...]:
    """Basenames of every program (and wrapper) the command or argv would run, in order."""
    names: dict[str, None] = {}
    for result in _results(command, argv):
        for p in result.parts:
            for w in p.wrappers:
                names[w] = None
            if p.argv and not p.expanded[0]:
                names[p.program] = None
    return tuple(names)
