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
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

__all__ = ["Category", "Invocation", "invocations", "prints_only"]

Category = Literal["test", "build", "lint", "typecheck"]


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


# ==================================================================================== lexing

_MAX_DEPTH: Final = 24          # nesting of groups, substitutions and `bash -c` levels
_PLAIN = re.compile(r"[^\s'\"\\$`;&|()<>]+")
_DIGITS = re.compile(r"\d+")
_OPS: Final = ("&&", "||", ";;&", ";;", ";&", "|&", "&>>", "&>", ">>", ">|", ">&", "<&",
               "<<<", "<<-", "<<", "<>", ">", "<", "|", "&", ";", "(", ")")
_REDIRS: Final = frozenset({">", "<", ">>", ">|", ">&", "<&", "&>", "&>>", "<>", "<<<", "<<",
                            "<<-"})
_ANSI_C: Final = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a",
                  "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "v": "\v", "0": "\0"}


class _Tok:
    """A word (``kind`` "w"), a control operator ("o") or a redirection operator ("r")."""

    __slots__ = ("body", "kind", "quoted", "subs", "text")

    def __init__(self, kind: str, text: str, quoted: bool = False,
                 subs: list[str] | None = None) -> None:
        self.kind = kind
        self.text = text
        self.quoted = quoted
        self.subs = subs
        self.body: str | None = None   # a heredoc's text, on its "<<" token


def _close(src: str, i: int, opener: str, closer: str) -> int:
    """Index just past the ``closer`` matching an already-open ``opener`` (quotes respected);
    ``len(src)`` when unbalanced."""
    depth = 1
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = src.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == '"':
            i += 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _dollar(src: str, i: int, buf: list[str], subs: list[str]) -> int:
    """Reads the ``$`` expression at ``src[i]`` into ``buf`` (command substitutions into
    ``subs``); returns the index after it."""
    nxt = src[i + 1:i + 2]
    if nxt == "(":
        if src[i + 2:i + 3] == "(":                      # $(( arithmetic ))
            j = _close(src, i + 2, "(", ")")
            buf.append(src[i:j])
            return j
        j = _close(src, i + 2, "(", ")")
        subs.append(src[i + 2:j - 1] if src[j - 1:j] == ")" else src[i + 2:j])
        buf.append(src[i:j])
        return j
    if nxt == "{":
        j = _close(src, i + 2, "{", "}")
        buf.append(src[i:j])
        return j
    buf.append("$")
    return i + 1


def _backtick(src: str, i: int, buf: list[str], subs: list[str]) -> int:
    j = i + 1
    n = len(src)
    while j < n and src[j] != "`":
        j += 2 if src[j] == "\\" else 1
    subs.append(src[i + 1:j].replace("\\`", "`"))
    buf.append(src[i:j + 1])
    return j + 1


_SPECIAL = re.compile(r"[\n'\"\\$`#()<>]")
_SIMPLE_TOKENS = re.compile(r"&&|\|\||;;|\|&|[;&|]|[^\s;&|]+")


def _lex(src: str) -> list[_Tok]:
    if _SPECIAL.search(src) is None:       # words and ; & && || | only: no quoting to undo
        return [_Tok("o" if t[0] in ";&|" else "w", t) for t in _SIMPLE_TOKENS.findall(src)]
    toks: list[_Tok] = []
    n = len(src)
    i = 0
    buf: list[str] = []
    subs: list[str] = []
    inword = quoted = False
    heredocs: list[tuple[_Tok, str, bool]] = []
    want_delim: _Tok | None = None

    def end() -> None:
        nonlocal inword, quoted, buf, subs, want_delim
        if inword:
            tok = _Tok("w", "".join(buf), quoted, subs or None)
            toks.append(tok)
            if want_delim is not None:
                heredocs.append((want_delim, tok.text, want_delim.text == "<<-"))
                want_delim = None
            buf = []
            subs = []
        inword = quoted = False

    while i < n:
        c = src[i]
        if c == "#" and not inword:
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        m = _PLAIN.match(src, i)
        if m is not None:
            buf.append(m.group())
            inword = True
            i = m.end()
            continue
        if c == "\n":
            end()
            toks.append(_Tok("o", "\n"))
            i += 1
            if heredocs:
                for tok, delim, strip in heredocs:
                    lines: list[str] = []
                    while i < n:
                        j = src.find("\n", i)
                        line = src[i:] if j < 0 else src[i:j]
                        i = n if j < 0 else j + 1
                        if (line.lstrip("\t") if strip else line).rstrip("\r") == delim:
                            break
                        lines.append(line)
                    tok.body = "\n".join(lines)
                heredocs = []
            continue
        if c in " \t\r\f\v":
            end()
            i += 1
            continue
        if c == "'":
            j = src.find("'", i + 1)
            buf.append(src[i + 1:] if j < 0 else src[i + 1:j])
            inword = quoted = True
            i = n if j < 0 else j + 1
            continue
        if c == '"':
            inword = quoted = True
            i += 1
            while i < n:
                c = src[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and src[i + 1] in '"\\$`\n':
                    if src[i + 1] != "\n":
                        buf.append(src[i + 1])
                    i += 2
                elif c == "$":
                    i = _dollar(src, i, buf, subs)
                elif c == "`":
                    i = _backtick(src, i, buf, subs)
                else:
                    buf.append(c)
                    i += 1
            continue
        if c == "\\":
            if i + 1 < n and src[i + 1] == "\n":
                i += 2
                continue
            buf.append(src[i + 1:i + 2])
            inword = quoted = True
            i += 2
            continue
        if c == "$":
            inword = True
            if src[i + 1:i + 2] == "'":                 # $'ANSI-C'
                quoted = True
                i += 2
                while i < n and src[i] != "'":
                    if src[i] == "\\" and i + 1 < n:
                        buf.append(_ANSI_C.get(src[i + 1], src[i + 1]))
                        i += 2
                    else:
                        buf.append(src[i])
                        i += 1
                i += 1
                continue
            if src[i + 1:i + 2] == '"':                 # $"locale" is a plain "string"
                i += 1
                continue
            i = _dollar(src, i, buf, subs)
            continue
        if c == "`":
            inword = True
            i = _backtick(src, i, buf, subs)
            continue
        # operators: < > may start a process substitution or carry an fd number
        if c in "<>" and src[i + 1:i + 2] == "(":
            end()
            j = _close(src, i + 2, "(", ")")
            subs.append(src[i + 2:j - 1])
            buf.append(src[i:j])
            inword = True
            i = j
            continue
        fd = ""
        if c in "<>" and inword and not quoted and _DIGITS.fullmatch("".join(buf)):
            fd = "".join(buf)
            buf = []
            inword = False
        end()
        for op in _OPS:
            if src.startswith(op, i):
                break
        else:  # pragma: no cover - every operator character starts some operator
            op = c
        i += len(op)
        if op in _REDIRS:
            tok = _Tok("r", fd + op)
            toks.append(tok)
            if op in ("<<", "<<-"):
                want_delim = tok
        else:
            toks.append(_Tok("o", op))
    end()
    if heredocs:        # unterminated: the heredoc has no body in this text
        for tok, _delim, _strip in heredocs:
            tok.body = ""
    return toks


# =================================================================================== parsing

class _Simple:
    __slots__ = ("bodies", "subs", "words")

    def __init__(self, words: list[str], subs: list[str], bodies: list[str]) -> None:
        self.words = words
        self.subs = subs          # command / process substitution bodies
        self.bodies = bodies      # heredoc and here-string texts fed to stdin


class _Group:
    __slots__ = ("parts", "subshell")

    def __init__(self, parts: list[_Seq], subshell: bool) -> None:
        self.parts = parts
        self.subshell = subshell


_Cmd: TypeAlias = "_Simple | _Group"
_Pipe: TypeAlias = "list[_Cmd]"
_AndOr: TypeAlias = "list[tuple[str | None, _Pipe]]"
_Seq: TypeAlias = "list[_AndOr]"

_NO_STOPS: Final = frozenset[str]()
_CASE_ENDS: Final = frozenset({";;", ";&", ";;&"})


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _skip_newlines(self) -> None:
        while self.i < len(self.toks) and self.toks[self.i].text == "\n" and \
                self.toks[self.i].kind == "o":
            self.i += 1

    def seq(self, stops: frozenset[str], in_paren: bool, case: bool = False) -> _Seq:
        items: _Seq = []
        toks = self.toks
        while self.i < len(toks):
            tok = toks[self.i]
            if tok.kind == "o":
                if case and tok.text in _CASE_ENDS:
                    return items
                if tok.text == ")" and in_paren:
                    return items
                if tok.text != "(":
                    self.i += 1         # separators and stray operators
                    continue
            elif tok.kind == "w" and not tok.quoted and tok.text in stops:
                return items
            start = self.i
            andor = self.andor(stops)
            if andor:
                items.append(andor)
            if self.i == start:
                self.i += 1
        return items

    def andor(self, stops: frozenset[str]) -> _AndOr:
        out: _AndOr = []
        op: str | None = None
        while True:
            pipe = self.pipeline(stops)
            if pipe:
                out.append((op, pipe))
            tok = self._peek()
            if tok is not None and tok.kind == "o" and tok.text in ("&&", "||"):
                op = tok.text
                self.i += 1
                self._skip_newlines()
                continue
            return out

    def pipeline(self, stops: frozenset[str]) -> _Pipe:
        cmds: _Pipe = []
        while True:
            cmd = self.command(stops)
            if cmd is not None:
                cmds.append(cmd)
            tok = self._peek()
            if tok is not None and tok.kind == "o" and tok.text in ("|", "|&"):
                self.i += 1
                self._skip_newlines()
                continue
            return cmds

    def _redirs(self, subs: list[str], bodies: list[str]) -> None:
        """Consumes the redirections after a group."""
        while (tok := self._peek()) is not None and tok.kind == "r":
            self._redirect(tok, subs, bodies)

    def _redirect(self, tok: _Tok, subs: list[str], bodies: list[str]) -> None:
        self.i += 1
        target = self._peek()
        if tok.body is not None:
            bodies.append(tok.body)
        if target is not None and target.kind == "w":
            self.i += 1
            if target.subs:
                subs.extend(target.subs)
            if tok.text.endswith("<<<"):
                bodies.append(target.text)

    def _compound(self, mids: frozenset[str], final: str, subshell: bool) -> _Group:
        parts: list[_Seq] = []
        stops = mids | {final}
        self.depth += 1
        while self.i < len(self.toks):
            parts.append(self.seq(stops, False))
            tok = self._peek()
            if tok is None:
                break
            self.i += 1
            if tok.text == final:
                break
        self.depth -= 1
        return _Group(parts, subshell)

    def command(self, stops: frozenset[str]) -> _Cmd | None:
        tok = self._peek()
        if tok is None:
            return None
        if tok.kind == "o":
            if tok.text != "(":
                return None
            self.i += 1
            if self.depth >= _MAX_DEPTH:
                return None         # too deep: the contents are read as if ungrouped
            self.depth += 1
            body = self.seq(_NO_STOPS, True)
            self.depth -= 1
            if (end := self._peek()) is not None and end.text == ")" and end.kind == "o":
                self.i += 1
            group = _Group([body], True)
            self._redirs([], [])
            return group
        while tok.kind == "w" and not tok.quoted and tok.text in ("!", "time"):
            self.i += 1
            if tok.text == "time" and (nxt := self._peek()) is not None and nxt.text == "-p":
                self.i += 1
            if (nxt := self._peek()) is None:
                return None
            tok = nxt
        if tok.kind == "o":
            return self.command(stops) if tok.text == "(" else None
        if tok.kind == "w" and not tok.quoted and self.depth < _MAX_DEPTH:
            word = tok.text
            if word in stops:
                return None
            if word == "{":
                self.i += 1
                group = self._compound(_NO_STOPS, "}", False)
            elif word == "if":
                self.i += 1
                group = self._compound(frozenset({"then", "elif", "else"}), "fi", False)
            elif word in ("while", "until"):
                self.i += 1
                group = self._compound(frozenset({"do"}), "done", False)
            elif word in ("for", "select"):
                while (nxt := self._peek()) is not None and not (
                        nxt.kind == "w" and nxt.text == "do" and not nxt.quoted):
                    self.i += 1
                self.i += 1
                group = self._compound(_NO_STOPS, "done", False)
            elif word == "case":
                group = self._case()
            else:
                return self._simple()
            self._redirs([], [])
            return group
        return self._simple()

    def _case(self) -> _Group:
        toks = self.toks
        while self.i < len(toks) and not (toks[self.i].kind == "w" and toks[self.i].text == "in"):
            self.i += 1
        self.i += 1
        parts: list[_Seq] = []
        self.depth += 1
        while self.i < len(toks):
            tok = toks[self.i]
            if tok.kind == "w" and tok.text == "esac" and not tok.quoted:
                self.i += 1
                break
            if tok.kind == "o" and tok.text in _CASE_ENDS | {"\n"}:
                self.i += 1
                continue
            # the pattern, up to its ")"
            while self.i < len(toks) and not (toks[self.i].kind == "o" and
                                              toks[self.i].text == ")"):
                self.i += 1
            self.i += 1
            parts.append(self.seq(frozenset({"esac"}), False, case=True))
        self.depth -= 1
        return _Group(parts, False)

    def _simple(self) -> _Simple:
        words: list[str] = []
        subs: list[str] = []
        bodies: list[str] = []
        toks = self.toks
        while self.i < len(toks):
            tok = toks[self.i]
            if tok.kind == "w":
                words.append(tok.text)
                if tok.subs:
                    subs.extend(tok.subs)
                self.i += 1
            elif tok.kind == "r":
                self._redirect(tok, subs, bodies)
            else:
                break
        return _Simple(words, subs, bodies)


def _parse(src: str) -> _Seq:
    return _Parser(_lex(src)).seq(_NO_STOPS, False)


# ============================================================================ the commands

_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_PYTHON = re.compile(r"(?:python|pypy)(?:\d+(?:\.\d+)*)?(?:-dbg)?|py")
_VERSION_AT = re.compile(r"(?<=.)@[^/@]*$")
_Found: TypeAlias = "list[tuple[Category, str, str | None]]"


def _name(word: str) -> str:
    """A command word as a tool name: ``./node_modules/.bin/jest`` → ``jest``,
    ``vitest@1.2`` → ``vitest``, ``PYTEST.EXE`` stays case-sensitive but loses ``.exe``."""
    base = word.rsplit("/", 1)[-1]
    if base.endswith(".exe"):
        base = base[:-4]
    if "@" in base:
        base = _VERSION_AT.sub("", base)
    return base


def _q(value: str) -> str:
    return shlex.quote(value) if value else "''"


def _opts(args: Sequence[str], takes: frozenset[str], optional: frozenset[str] = frozenset(),
          attached: bool = True) -> list[tuple[str | None, str]]:
    """Splits command arguments into ``(option, value)`` pairs and ``(None, positional)``.

    ``takes`` are the options that take a value (``-k EXPR``, ``-k=EXPR``, ``-kEXPR`` when
    ``attached``); ``optional`` those whose value is optional (taken when it does not look
    like an option). Everything after ``--`` is positional."""
    out: list[tuple[str | None, str]] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a == "--":
            out.extend((None, rest) for rest in args[i:])
            break
        if len(a) > 1 and a[0] == "-" and a != "-":
            if "=" in a and a.startswith("--"):
                k, _, v = a.partition("=")
                out.append((k, v))
            elif a in takes:
                out.append((a, args[i] if i < n else ""))
                i += 1
            elif a in optional:
                if i < n and not args[i].startswith("-"):
                    out.append((a, args[i]))
                    i += 1
                else:
                    out.append((a, ""))
            elif attached and a[:2] in takes and not a.startswith("--"):
                out.append((a[:2], a[2:].lstrip("=")))
            elif "=" in a and a.split("=", 1)[0] in takes:
                k, _, v = a.partition("=")
                out.append((k, v))
            else:
                out.append((a, ""))
        else:
            out.append((None, a))
    return out


def _reasons(reasons: list[str]) -> str | None:
    return ", ".join(reasons) if reasons else None


_SRC_EXT = re.compile(r"\.(?:py|pyi|[cm]?[jt]sx?|go|rs|vue|svelte)$")
_JS_EXT = re.compile(r"\.(?:[cm]?[jt]sx?|vue|svelte)$")


def _is_dir(arg: str) -> bool:
    return arg in (".", "./", "..") or arg.endswith("/") or arg.endswith("/.")


# ---- pytest / unittest / django ----------------------------------------------------------

_PYTEST_TAKES: Final = frozenset({
    "-k", "-m", "-p", "-c", "-o", "-W", "-n", "-r", "--tb", "--deselect", "--ignore",
    "--ignore-glob", "--rootdir", "--confcutdir", "--basetemp", "--junitxml", "--junit-xml",
    "--maxfail", "--durations", "--durations-min", "--timeout", "--log-level",
    "--log-cli-level", "--log-file", "--log-format", "--log-file-level", "--capture", "--color",
    "--import-mode", "--override-ini", "--cov-report", "--cov-config", "--cov-fail-under",
    "--html", "--reruns", "--reruns-delay", "--dist", "--numprocesses", "--maxprocesses",
    "--tx", "--randomly-seed", "--ds", "--doctest-glob", "--lfnf", "--last-failed-no-failures",
    "--junit-prefix", "--config-file", "--inifile", "--code-highlight", "--tb-style",
    "--benchmark-sort", "--benchmark-json",
})
_PYTEST_SUBSET_FLAGS: Final = {
    "--lf": "--lf", "--last-failed": "--lf", "--sw": "--sw", "--stepwise": "--sw",
    "--co": "no tests run (--collect-only)", "--collect-only": "no tests run (--collect-only)",
    "--setup-only": "no tests run (--setup-only)", "--setup-plan": "no tests run (--setup-plan)",
    "--fixtures": "no tests run (--fixtures)", "--markers": "no tests run (--markers)",
}


def _pytest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _PYTEST_TAKES, frozenset({"--cov"})):
        if opt is None:
            if "::" in val:
                reasons.append(f"test {val}")
            elif val.endswith(".py"):
                reasons.append(f"file {val}")
            elif "$(" in val or "`" in val:
                reasons.append(f"files from {val}")
        elif opt in ("-k", "-m"):
            reasons.append(f"{opt} {_q(val)}")
        elif opt in ("--deselect", "--ignore", "--ignore-glob"):
            reasons.append(f"{opt} {val}")
        elif (flag := _PYTEST_SUBSET_FLAGS.get(opt)) is not None:
            reasons.append(flag)
    return _reasons(reasons)


def _unittest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    pairs = _opts(args, frozenset({"-k", "-p", "-s", "-t", "--durations"}))
    discover = bool(pairs) and pairs[0] == (None, "discover")
    for opt, val in pairs[1 if discover else 0:]:
        if opt == "-k":
            reasons.append(f"-k {_q(val)}")
        elif opt is None and not discover:
            reasons.append(f"test {val}")
    return _reasons(reasons)


def _django(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    takes = frozenset({"--settings", "--pythonpath", "-k", "--tag", "--exclude-tag",
                       "--testrunner", "-v", "--verbosity", "-p", "--pattern", "-t",
                       "--top-level-directory"})
    for opt, val in _opts(args, takes, frozenset({"--parallel"})):
        if opt is None:
            reasons.append(f"test {val}")
        elif opt in ("-k", "--tag", "--exclude-tag"):
            reasons.append(f"{opt} {_q(val)}")
    return _reasons(reasons)


# ---- jest / vitest / mocha / node --test --------------------------------------------------

_JEST_TAKES: Final = frozenset({
    "-c", "--config", "-t", "--testNamePattern", "-w", "--maxWorkers", "--testTimeout",
    "--reporters", "--coverageReporters", "--rootDir", "--roots", "--outputFile", "--shard",
    "--seed", "--testEnvironment", "--env", "--coverageDirectory", "--testRunner",
    "--testPathPattern", "--testPathPatterns", "--testPathIgnorePatterns", "--selectProjects",
    "--projects", "--changedSince", "--testMatch", "--setupFiles", "--collectCoverageFrom",
    "--coverageThreshold", "--globalSetup", "--globalTeardown", "--maxConcurrency",
    "--testSequencer", "--workerIdleMemoryLimit", "--cacheDirectory", "--filter",
    "--testRegex", "--moduleDirectories", "--modulePaths", "--preset", "--resolver",
    "--setupFilesAfterEnv", "--snapshotSerializers", "--testLocationInResults",
})
_JEST_SUBSET: Final = {
    "-t": "-t", "--testNamePattern": "-t", "--testPathPattern": "--testPathPattern",
    "--testPathPatterns": "--testPathPattern", "--shard": "--shard",
    "--selectProjects": "--selectProjects", "--changedSince": "--changedSince",
    "--filter": "--filter",
}
_JEST_SUBSET_FLAGS: Final = {
    "-o": "--onlyChanged", "--onlyChanged": "--onlyChanged", "--lastCommit": "--lastCommit",
    "-f": "--onlyFailures", "--onlyFailures": "--onlyFailures",
    "--findRelatedTests": "--findRelatedTests", "--listTests": "no tests run (--listTests)",
    "--showConfig": "no tests run (--showConfig)", "--init": "no tests run (--init)",
}


def _pattern_arg(val: str) -> str | None:
    """A jest/vitest positional filter: a file, a path pattern, or (a directory) nothing."""
    if _is_dir(val):
        return None
    if _JS_EXT.search(val) or "." in val.rsplit("/", 1)[-1]:
        return f"file {val}"
    if "/" in val:
        return None     # a directory path: every test under it
    return f"pattern {val}"


def _jest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _JEST_TAKES):
        if opt is None:
            if (why := _pattern_arg(val)) is not None:
                reasons.append(why)
        elif (label := _JEST_SUBSET.get(opt)) is not None:
            reasons.append(f"{label} {_q(val)}")
        elif (flag := _JEST_SUBSET_FLAGS.get(opt)) is not None:
            reasons.append(flag)
    return _reasons(reasons)


_VITEST_TAKES: Final = frozenset({
    "-t", "--testNamePattern", "-c", "--config", "-r", "--root", "--dir", "--reporter",
    "--outputFile", "--project", "--shard", "--pool", "--environment", "--testTimeout",
    "--hookTimeout", "--mode", "--retry", "--maxWorkers", "--minWorkers", "--changed",
    "--exclude", "--bail", "--browser", "--inspect", "--api", "--silent", "--maxConcurrency",
    "--testNamePatterns", "--sequence.seed",
})


def _vitest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    pairs = _opts(args, _VITEST_TAKES, frozenset({"--changed"}))
    if pairs and pairs[0][0] is None and pairs[0][1] in ("run", "watch", "dev", "related",
                                                          "list", "bench", "typecheck"):
        sub = pairs.pop(0)[1]
        if sub == "related":
            reasons.append("related")
        elif sub == "list":
            reasons.append("no tests run (list)")
    for opt, val in pairs:
        if opt is None:
            if (why := _pattern_arg(val)) is not None:
                reasons.append(why)
        elif opt in ("-t", "--testNamePattern", "--testNamePatterns", "--project", "--shard"):
            reasons.append(f"{'-t' if opt.startswith('--testName') else opt} {_q(val)}")
        elif opt == "--changed":
            reasons.append("--changed")
    return _reasons(reasons)


_MOCHA_TAKES: Final = frozenset({
    "-R", "--reporter", "-O", "--reporter-option", "--reporter-options", "-t", "--timeout",
    "--timeouts", "-s", "--slow", "-r", "--require", "-u", "--ui", "--config", "--package",
    "--extension", "--file", "--ignore", "--exclude", "-j", "--jobs", "--retries", "--spec",
    "-g", "--grep", "-f", "--fgrep", "-n", "--node-option", "--import", "--loader",
})


def _mocha(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _MOCHA_TAKES):
        if opt in ("-g", "--grep", "-f", "--fgrep"):
            reasons.append(f"{'--grep' if opt in ('-g', '--grep') else '--fgrep'} {_q(val)}")
        elif opt is None or opt == "--spec":
            if _JS_EXT.search(val) and not any(c in val for c in "*?[{"):
                reasons.append(f"file {val}")
        elif opt == "--list-files":
            reasons.append("no tests run (--list-files)")
    return _reasons(reasons)


def _node_test(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    takes = frozenset({"--test-name-pattern", "--test-skip-pattern", "--test-reporter",
                       "--test-reporter-destination", "--test-concurrency", "--test-shard",
                       "--test-timeout", "-r", "--require", "--import"})
    for opt, val in _opts(args, takes):
        if opt in ("--test-name-pattern", "--test-skip-pattern", "--test-shard"):
            reasons.append(f"{opt} {_q(val)}")
        elif opt == "--test-only":
            reasons.append("--test-only")
        elif opt is None and _JS_EXT.search(val) and not any(c in val for c in "*?[{"):
            reasons.append(f"file {val}")
    return _reasons(reasons)


def _forwarded(args: Sequence[str]) -> str | None:
    """A subset from arguments passed through a package-manager script (``npm test -- -t x``)
    to a runner we cannot see: the name filters and file arguments common to the runners."""
    reasons: list[str] = []
    takes = frozenset({"-t", "--testNamePattern", "-g", "--grep", "-k", "-m", "--testPathPattern",
                       "--testPathPatterns", "-run", "--run", "--project", "--shard", "--filter",
                       "--reporter", "--reporters", "-c", "--config", "--maxWorkers", "-w",
                       "--timeout", "--testTimeout", "--coverageReporters", "--outputFile"})
    labels = {"-t": "-t", "--testNamePattern": "-t", "-g": "--grep", "--grep": "--grep",
              "-k": "-k", "-m": "-m", "--testPathPattern": "--testPathPattern",
              "--testPathPatterns": "--testPathPattern", "-run": "-run", "--run": "-run",
              "--shard": "--shard", "--filter": "--filter"}
    for opt, val in _opts(args, takes, attached=False):
        if opt is None:
            if "::" in val:
                reasons.append(f"test {val}")
            elif val.endswith(".py") or _JS_EXT.search(val):
                reasons.append(f"file {val}")
            elif not _is_dir(val) and "/" not in val and not val.startswith("-") and \
                    "=" not in val:
                reasons.append(f"pattern {val}")
        elif (label := labels.get(opt)) is not None:
            reasons.append(f"{label} {_q(val)}")
        elif opt in ("--lf", "--last-failed", "-o", "--onlyChanged", "--changed",
                     "--onlyFailures", "--findRelatedTests"):
            reasons.append(opt)
    return _reasons(reasons)


# ---- go / cargo --------------------------------------------------------------------------

_GO_TAKES: Final = frozenset({
    "run", "skip", "bench", "benchtime", "count", "timeout", "tags", "coverprofile", "covermode",
    "coverpkg", "cpu", "parallel", "p", "o", "exec", "ldflags", "gcflags", "asmflags", "mod",
    "modfile", "shuffle", "fuzz", "fuzztime", "fuzzminimizetime", "blockprofile",
    "blockprofilerate", "cpuprofile", "memprofile", "memprofilerate", "mutexprofile",
    "mutexprofilefraction", "outputdir", "trace", "vet", "C", "overlay", "pkgdir", "toolexec",
    "buildvcs", "pgo", "list", "compiler", "installsuffix", "buildmode", "json", "failfast",
})
_GO_BOOL: Final = frozenset({"json", "failfast", "v", "short", "race", "msan", "asan", "cover",
                             "a", "n", "x", "work", "trimpath", "linkshared", "benchmem"})


def _go_test(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a in ("-args", "--args"):
            break
        if a.startswith("-") and len(a) > 1:
            key, eq, val = a.lstrip("-").partition("=")
            if not eq and key in _GO_TAKES and key not in _GO_BOOL:
                val = args[i] if i < n else ""
                i += 1
            if key in ("run", "skip") and val:
                reasons.append(f"-{key} {_q(val)}")
            elif key == "list":
                reasons.append("no tests run (-list)")
            elif key == "fuzz" and val:
                reasons.append(f"-fuzz {_q(val)}")
        elif a not in ("./...", "...", "all", "."):
            reasons.append(f"package {a}")
    return _reasons(reasons)


_CARGO_TAKES: Final = frozenset({
    "-p", "--package", "--test", "--bench", "--bin", "--example", "--features", "-F",
    "--target", "--target-dir", "--manifest-path", "-j", "--jobs", "--profile", "--color",
    "--message-format", "-Z", "--config", "--exclude", "--lockfile-path",
})
_CARGO_BIN_TAKES: Final = frozenset({"--test-threads", "--skip", "--logfile", "--format", "-Z",
                                     "--color", "--shuffle-seed", "--report-time"})


def _cargo_test(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    if "--" in args:
        cut = list(args).index("--")
        own, binargs = args[:cut], args[cut + 1:]
    else:
        own, binargs = args, []
    for opt, val in _opts(own, _CARGO_TAKES, attached=False):
        if opt is None:
            if not val.startswith("+"):
                reasons.append(f"test name {val}")
        elif opt in ("-p", "--package"):
            reasons.append(f"package {val}")
        elif opt in ("--test", "--bench", "--bin", "--example", "--exclude"):
            reasons.append(f"{opt} {val}")
        elif opt in ("--lib", "--doc", "--bins", "--examples", "--benches"):
            reasons.append(opt)
        elif opt == "--no-run":
            reasons.append("no tests run (--no-run)")
    for opt, val in _opts(binargs, _CARGO_BIN_TAKES, attached=False):
        if opt is None:
            reasons.append(f"test name {val}")
        elif opt == "--skip":
            reasons.append(f"--skip {val}")
        elif opt in ("--ignored", "--exact"):
            reasons.append(opt)
        elif opt == "--list":
            reasons.append("no tests run (--list)")
    return _reasons(reasons)


def _nextest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _CARGO_TAKES | {"-E", "--filter-expr", "--filterset",
                                                "--partition", "--profile", "-P"}):
        if opt is None:
            reasons.append(f"test name {val}")
        elif opt in ("-E", "--filter-expr", "--filterset", "--partition", "-p", "--package"):
            reasons.append(f"{opt} {_q(val)}")
    return _reasons(reasons)


# ---- scripts of package managers and task runners -----------------------------------------

def _script_category(name: str) -> Category | None:
    """``npm run <name>`` (and make / just / hatch targets): what a script name says it runs."""
    low = name.lower()
    flat = low.replace("-", "").replace(":", "").replace("_", "").replace(".", "")
    if "typecheck" in flat or "checktypes" in flat or "typescheck" in flat or \
            flat in ("tsc", "types", "mypy", "pyright") or low.startswith(("tsc:", "types:")):
        return "typecheck"
    if low.startswith("test") or low in ("check", "jest", "vitest", "mocha", "unit", "e2e",
                                         "spec", "pytest", "unittest", "integration",
                                         "coverage", "cov") or \
            low.startswith(("e2e:", "unit:", "spec:", "coverage:", "integration:")) or \
            low.endswith(("-test", "_test", ":test", "-tests", "_tests", ":tests")):
        return "test"
    if low.startswith("lint") or low in ("eslint", "stylelint", "flake8", "ruff", "pylint",
                                         "style", "format:check", "fmt:check", "format-check",
                                         "fmt-check", "check-format", "prettier:check",
                                         "check:format", "check:lint", "check-lint") or \
            low.endswith((":lint", "-lint")):
        return "lint"
    if low.startswith("build") or low in ("compile", "all", "bundle", "dist", "package") or \
            low.endswith((":build", "-build")):
        return "build"
    return None


_NPM_TAKES: Final = frozenset({"--prefix", "-C", "--workspace", "-w", "--loglevel", "--cache",
                               "--userconfig", "--registry", "--script-shell", "--filter", "-F",
                               "--dir", "--cwd", "--node-options"})
_NPM_WRAP_SUBS: Final = frozenset({"exec", "x", "dlx"})
_NPM_TEST_ALIASES: Final = frozenset({"test", "t", "tst"})
_NPM_RUN_ALIASES: Final = frozenset({"run", "run-script", "rum", "urn", "run-s"})
_PM_BUILTINS: Final = frozenset({
    "install", "i", "ci", "add", "remove", "rm", "uninstall", "un", "update", "up", "upgrade",
    "outdated", "why", "info", "view", "init", "create", "publish", "pack", "link", "unlink",
    "cache", "config", "audit", "list", "ls", "prune", "dedupe", "login", "logout", "whoami",
    "version", "help", "start", "stop", "restart", "set", "get", "import", "patch", "store",
    "setup", "env", "bin", "root", "global", "node", "plugin", "search", "doctor", "fund",
    "explain", "licenses", "dlx", "workspaces", "approve-builds", "rebuild", "self-update",
})


def _package_manager(pm: str, words: Sequence[str], i: int, depth: int,
                     nested: list[_Nested]) -> _Found:
    """``npm``/``yarn``/``pnpm``/``bun`` at ``words[i]``."""
    args = list(words[i + 1:])
    scope: list[str] = []
    j = 0
    while j < len(args) and args[j].startswith("-") and args[j] != "--":
        opt = args[j].split("=", 1)[0]
        if opt in _NPM_TAKES:
            if "=" not in args[j] and j + 1 < len(args):
                val = args[j + 1]
                j += 1
            else:
                val = args[j].partition("=")[2]
            if opt in ("--workspace", "-w", "--filter", "-F"):
                scope.append(f"{'workspace' if opt.startswith(('-w', '--w')) else 'filter'} "
                             f"{val}")
        j += 1
    rest = args[j:]
    if not rest:
        return []
    sub = rest[0]
    if pm == "yarn" and sub == "workspace" and len(rest) >= 3:
        scope.append(f"workspace {rest[1]}")
        rest = rest[2:]
        sub = rest[0]
    if sub in _NPM_WRAP_SUBS or (pm == "bun" and sub == "x"):
        return _classify(_skip_npx(rest, 1), depth + 1, nested)
    if sub in _NPM_TEST_ALIASES:
        script, extra = "test", rest[1:]
        if pm == "bun":     # bun's own runner
            own = _forwarded(extra)
            return [("test", "bun", _reasons([*scope, own] if own else scope))]
    elif sub in _NPM_RUN_ALIASES:
        k = 1
        while k < len(rest) and rest[k].startswith("-"):
            k += 1
        if k >= len(rest):
            return []
        script, extra = rest[k], rest[k + 1:]
    elif pm == "npm" or sub in _PM_BUILTINS:
        return []
    else:
        # yarn / pnpm / bun run a script or a package binary named directly
        if _name(sub) in _TOOLS:
            return _classify(rest, depth + 1, nested)
        script, extra = sub, rest[1:]
    category = _script_category(script)
    if category is None:
        return []
    if category == "test":
        forwarded = _forwarded([a for a in extra if a != "--" and not
                                a.startswith(("--if-present", "--silent", "--workspaces",
                                              "--ws", "--recursive", "-r"))])
        return [("test", pm, _reasons(scope + ([forwarded] if forwarded else [])))]
    return [(category, pm, None)]


def _skip_npx(args: Sequence[str], i: int) -> list[str]:
    """The command an ``npx``-style wrapper runs (from ``args[i]``)."""
    takes = {"-p", "--package", "--call", "-c", "--node-options", "--workspace", "-w",
             "--shell", "--cache", "--registry"}
    n = len(args)
    while i < n:
        a = args[i]
        if a == "--":
            i += 1
            break
        if a.startswith("-"):
            if a in ("-c", "--call"):
                return ["bash", "-c", args[i + 1]] if i + 1 < n else []
            i += 2 if a in takes else 1
            continue
        break
    return list(args[i:])


_MAKE_TAKES: Final = frozenset({"-C", "-f", "--file", "--makefile", "--directory", "-I",
                                "--include-dir", "-l", "--load-average", "-o", "--old-file",
                                "-W", "--what-if", "--assume-new", "--eval", "-O",
                                "--justfile", "--working-directory", "-d", "--dir",
                                "-t", "--taskfile"})


def _make(tool: str, args: Sequence[str]) -> _Found:
    targets: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a in ("-n", "--dry-run", "--just-print", "--recon", "-q", "--question", "--list",
                 "-l", "--help", "-h", "--version", "-v", "--summary", "--dump"):
            if tool == "make" and a in ("-l",):
                i += 1
                continue
            return []
        if a in ("-j", "--jobs"):
            if i < n and args[i].isdigit():
                i += 1
            continue
        if a in _MAKE_TAKES:
            i += 1
            continue
        if a.startswith("-") or _ASSIGN.match(a):
            continue
        targets.append(a)
    if not targets:
        return [("build", tool, None)] if tool == "make" else []
    out: _Found = []
    for target in targets:
        category = "build" if target == "default" else _script_category(target)
        if category is not None:
            out.append((category, tool, None))
    return out


# ---- checkers ------------------------------------------------------------------------------

def _files(args: Sequence[str], takes: frozenset[str] = frozenset()) -> str | None:
    files = [v for o, v in _opts(args, takes) if o is None and _SRC_EXT.search(v)]
    return f"file {files[0]}" if len(files) == 1 else (
        f"files {', '.join(files)}" if files else None)


def _flags(args: Sequence[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("-")}


_HELP: Final = frozenset({"--version", "-V", "--help", "-h"})


def _tool(name: str, args: list[str]) -> _Found:
    """A known tool (not a wrapper, not python/node/npm) with its arguments."""
    flags = _flags(args)
    first = next((a for a in args if not a.startswith("-")), "")
    if flags & _HELP and name not in ("tsc",):
        return []
    if name in ("pytest", "py.test", "pytest-3", "py.test-3"):
        return [("test", "pytest", _pytest(args))]
    if name in ("jest",):
        return [("test", "jest", _jest(args))]
    if name in ("vitest",):
        return [("test", "vitest", _vitest(args))]
    if name in ("mocha", "_mocha"):
        return [("test", "mocha", _mocha(args))]
    if name in ("nose2", "nosetests", "trial", "green", "ward", "behave", "ava", "tap",
                "jasmine", "rspec", "phpunit", "pest", "ctest", "karma", "tape", "uvu"):
        return [("test", name, None)]
    if name == "go":
        if first == "test":
            return [("test", "go", _go_test(args[args.index("test") + 1:]))]
        if first == "vet":
            return [("lint", "go", None)]
        if first in ("build", "install"):
            return [("build", "go", None)]
        return []
    if name == "cargo":
        sub = next((a for a in args if not a.startswith(("-", "+"))), "")
        rest = args[args.index(sub) + 1:] if sub else []
        if sub in ("test", "t"):
            return [("test", "cargo", _cargo_test(rest))]
        if sub == "nextest" and rest[:1] == ["run"]:
            return [("test", "cargo", _nextest(rest[1:]))]
        if sub in ("build", "b", "check", "c"):
            return [("build", "cargo", None)]
        if sub == "clippy" or (sub == "fmt" and "--check" in rest):
            return [("lint", "cargo", None)]
        return []
    if name in ("make", "gmake", "just", "task"):
        return _make(name, args)
    if name in ("tox", "nox"):
        return _tox(name, args)
    if name == "hatch":
        if first == "test":
            return [("test", "hatch", _pytest(args[args.index("test") + 1:]))]
        if first == "build":
            return [("build", "hatch", None)]
        return []
    if name in ("mypy", "dmypy", "pyright", "basedpyright", "pytype", "pyre", "vue-tsc",
                "svelte-check", "flow", "ty", "pyrefly"):
        tool = "mypy" if name == "dmypy" else name
        if name in ("ty", "pyrefly") and first != "check":
            return []
        return [("typecheck", tool, _files(args, frozenset({"--config-file", "-p", "-m",
                                                            "--python-version"})))]
    if name == "tsc":
        if flags & (_HELP | {"-v", "--init", "--showConfig", "--listFilesOnly"}):
            return []
        if flags & {"-b", "--build"}:
            return [("build", "tsc", None)]
        return [("typecheck", "tsc", _files(args, frozenset({"-p", "--project", "--target",
                                                             "--module", "--outDir"})))]
    if name == "ruff":
        if first == "check":
            return [("lint", "ruff", _files(args[args.index("check") + 1:]))]
        if first == "format":
            return [("lint", "ruff", None)] if flags & {"--check", "--diff"} else []
        if first in ("rule", "config", "linter", "clean", "server", "version", "analyze",
                     "help"):
            return []
        return [("lint", "ruff", _files(args))]      # `ruff .`: the old spelling of check
    if name == "poe" and first:
        category = _script_category(first)
        return [(category, "poe", None)] if category else []
    if name in ("flake8", "pylint", "pycodestyle", "pydocstyle", "bandit", "eslint",
                "stylelint", "shellcheck", "hadolint", "rubocop", "staticcheck", "yamllint",
                "markdownlint", "markdownlint-cli2", "oxlint", "xo", "standard", "vulture",
                "codespell", "actionlint"):
        return [("lint", name, _files(args, frozenset({"-c", "--config", "--rcfile",
                                                        "--format", "-f", "--ext"})))]
    if name in ("black", "isort", "prettier", "gofmt", "rustfmt", "autopep8", "yapf"):
        if flags & {"--check", "--check-only", "-c", "--diff", "-l", "--list-different", "-d"}:
            return [("lint", name, None)]
        return []
    if name == "biome" and first in ("check", "lint", "ci"):
        return [("lint", "biome", None)]
    if name == "golangci-lint" and first == "run":
        return [("lint", "golangci-lint", None)]
    if name == "pre-commit" and first in ("run", ""):
        all_files = flags & {"--all-files", "-a"}
        return [("lint", "pre-commit", None if all_files else "staged files only")]
    if name in ("gradle", "gradlew", "mvn", "mvnw", "dotnet", "bazel", "bazelisk", "swift",
                "mix", "deno", "sbt", "lein", "stack", "cabal", "dune", "zig"):
        tool = {"gradlew": "gradle", "mvnw": "mvn", "bazelisk": "bazel"}.get(name, name)
        goals = [a.rsplit(":", 1)[-1] for a in args if not a.startswith("-")]
        if any(g in ("test", "check", "verify", "integrationTest") for g in goals):
            return [("test", tool, None)]
        if any(g in ("build", "compile", "package", "assemble", "install") for g in goals):
            return [("build", tool, None)]
        if name in ("deno",) and first in ("lint",):
            return [("lint", tool, None)]
        if name in ("deno",) and first in ("check",):
            return [("typecheck", tool, None)]
        return []
    if name in ("playwright", "cypress") and first in ("test", "run"):
        return [("test", name, None)]
    if name in ("vite", "next", "nuxt", "astro", "parcel", "ng", "vue-cli-service",
                "react-scripts", "docker", "podman", "cmake", "meson", "poetry", "uv", "pdm",
                "rye", "flit", "maturin") and first == "build":
        return [("build", name, None)]
    if name == "ng" and first == "test":
        return [("test", "ng", None)]
    if name == "react-scripts" and first == "test":
        return [("test", "react-scripts", _jest(args[1:]))]
    if name in ("cmake",) and "--build" in flags:
        return [("build", "cmake", None)]
    if name in ("webpack", "rollup", "esbuild", "tsup", "ninja", "msbuild", "scons"):
        return [("build", name, None)]
    return []


def _tox(name: str, args: list[str]) -> _Found:
    posargs: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, posargs = args[:cut], args[cut + 1:]
    first = next((a for a in args if not a.startswith("-")), "")
    if first in ("list", "l", "config", "c", "devenv", "d", "depends", "de", "quickstart",
                 "q", "legacy", "le") or _flags(args) & {"-l", "--listenvs", "-a",
                                                          "--listenvs-all", "--list",
                                                          "--version", "--help", "-h"}:
        return []
    envs: list[str] = []
    for opt, val in _opts(args, frozenset({"-e", "--env", "-s", "--session", "--sessions",
                                           "-k", "-f", "-c", "--conf", "-p", "--parallel",
                                           "-t", "--tags"})):
        if opt in ("-e", "--env", "-s", "--session", "--sessions"):
            envs.extend(e for e in val.split(",") if e)
    kinds = {_env_category(e) for e in envs}
    if envs and len(kinds) == 1 and (only := kinds.pop()) != "test":
        return [(only, name, None)]
    return [("test", name, _pytest(posargs) if posargs else None)]


def _env_category(env: str) -> Category:
    low = env.lower()
    if any(k in low for k in ("mypy", "type", "pyright")):
        return "typecheck"
    if any(k in low for k in ("lint", "flake8", "ruff", "pylint", "style", "pre-commit")):
        return "lint"
    if low in ("build", "docs-build", "pkg", "package"):
        return "build"
    return "test"


# ---- python / node / coverage -------------------------------------------------------------

_PY_TAKES: Final = frozenset({"-W", "-X", "--check-hash-based-pycs"})
_TEST_SCRIPT = re.compile(r"(?:test_[^/]*|[^/]*_test|tests|runtests|run_tests|test)\.py")


def _python(words: Sequence[str], i: int, depth: int, nested: list[_Nested]) -> _Found:
    args = words[i + 1:]
    j = 0
    n = len(args)
    while j < n:
        a = args[j]
        if a.startswith("-m"):
            module = a[2:] or (args[j + 1] if j + 1 < n else "")
            rest = list(args[j + (1 if a[2:] else 2):])
            return _module(module, rest, depth, nested)
        if a.startswith("-c") or a == "-":
            return []
        if a in _PY_TAKES:
            j += 2
            continue
        if a.startswith("-"):
            j += 1
            continue
        break
    if j >= n:
        return []
    script = args[j]
    rest = list(args[j + 1:])
    base = _name(script)
    if base == "manage.py" and rest[:1] == ["test"]:
        return [("test", "django", _django(rest[1:]))]
    if base == "setup.py" and "test" in rest:
        return [("test", "setuptools", None)]
    if base == "runtests.py":
        return [("test", "python", _forwarded(rest) if rest else None)]
    if _TEST_SCRIPT.fullmatch(base):
        return [("test", "python", None)]
    return []


def _module(module: str, rest: list[str], depth: int, nested: list[_Nested]) -> _Found:
    if module == "unittest":
        return [("test", "unittest", _unittest(rest))]
    if module == "django":
        return [("test", "django", _django(rest[1:]))] if rest[:1] == ["test"] else []
    if module == "doctest":
        return [("test", "doctest", None)]
    if module == "coverage":
        return _coverage(rest, depth, nested)
    if module == "build":
        return [("build", "build", None)]
    if module == "twisted.trial":
        return [("test", "trial", None)]
    tool = _PY_MODULES.get(module.split(".", 1)[0])
    return _tool(tool, rest) if tool is not None else []


def _coverage(args: list[str], depth: int, nested: list[_Nested]) -> _Found:
    if not args or args[0] != "run" or depth > _MAX_DEPTH:
        return []
    takes = {"--source", "--omit", "--include", "--rcfile", "--data-file", "--concurrency",
             "--context", "--debug"}
    j = 1
    while j < len(args):
        a = args[j]
        if a == "-m":
            return _module(args[j + 1] if j + 1 < len(args) else "", args[j + 2:], depth + 1,
                           nested)
        if a.startswith("-"):
            j += 2 if a in takes else 1
            continue
        return _python(["python", *args[j:]], 0, depth + 1, nested)
    return []


_PY_MODULES: Final = {m.replace("-", "_"): m for m in (
    "pytest", "mypy", "ruff", "flake8", "pylint", "pyright", "basedpyright", "black", "isort",
    "tox", "nox", "hatch", "nose2", "pycodestyle", "pydocstyle", "bandit", "vulture",
    "codespell", "pytype", "yapf", "autopep8", "pre-commit", "behave", "green", "ward", "ty",
    "pyrefly",
)}
_NODE_TAKES: Final = frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader",
                                "--env-file", "--conditions", "-C", "--title", "--input-type"})


def _node(words: Sequence[str], i: int) -> _Found:
    args = list(words[i + 1:])
    j = 0
    test_mode = False
    while j < len(args):
        a = args[j]
        if a in ("-e", "--eval", "-p", "--print"):
            return []
        if a == "--test":
            test_mode = True
        if a.startswith("--test"):
            j += 1
            continue
        if a in _NODE_TAKES:
            j += 2
            continue
        if a.startswith("-"):
            j += 1
            continue
        break
    if test_mode:
        return [("test", "node", _node_test(args))]
    if j >= len(args):
        return []
    script = _name(args[j])
    for ext in (".js", ".mjs", ".cjs"):
        if script.endswith(ext):
            script = script[:-len(ext)]
    if script in ("jest", "jest-cli", "vitest", "mocha", "_mocha", "tsc", "eslint"):
        return _tool(script, args[j + 1:])
    return []


# ---- wrappers ------------------------------------------------------------------------------

# wrapper name -> (subcommand it needs or None, options that take a value, positionals to skip)
_WRAPPERS: Final[dict[str, tuple[str | None, frozenset[str], int]]] = {
    "env": (None, frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}), 0),
    "timeout": (None, frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "gtimeout": (None, frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "nice": (None, frozenset({"-n", "--adjustment"}), 0),
    "ionice": (None, frozenset({"-c", "-n", "-p", "--class", "--classdata"}), 0),
    "nohup": (None, frozenset(), 0),
    "time": (None, frozenset({"-f", "--format", "-o", "--output"}), 0),
    "command": (None, frozenset(), 0),
    "builtin": (None, frozenset(), 0),
    "exec": (None, frozenset({"-a"}), 0),
    "stdbuf": (None, frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "sudo": (None, frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T",
                              "--user", "--group", "--chdir"}), 0),
    "doas": (None, frozenset({"-u", "-C"}), 0),
    "chronic": (None, frozenset(), 0),
    "unbuffer": (None, frozenset(), 0),
    "xvfb-run": (None, frozenset({"-s", "--server-args", "-n", "--server-num", "-e",
                                  "--error-file", "-f", "--auth-file", "-p"}), 0),
    "xargs": (None, frozenset({"-n", "-I", "-P", "-L", "-d", "-E", "-s", "-a", "--max-args",
                               "--max-procs", "--replace", "--delimiter", "--arg-file",
                               "--max-lines", "--max-chars", "--eof"}), 0),
    "watch": (None, frozenset({"-n", "--interval", "-d", "--differences", "-q"}), 0),
    "uvx": (None, frozenset({"--with", "--from", "--python", "-p", "--with-requirements",
                             "--with-editable", "--index", "--index-url", "--extra-index-url",
                             "--default-index", "--cache-dir", "--directory", "--project"}), 0),
    "pipx": ("run", frozenset({"--spec", "--python", "--pip-args", "--index-url"}), 0),
    "poetry": ("run", frozenset({"-C", "--directory", "-P", "--project"}), 0),
    "pipenv": ("run", frozenset(), 0),
    "rye": ("run", frozenset({"--pyproject"}), 0),
    "pyenv": ("exec", frozenset(), 0),
    "asdf": ("exec", frozenset(), 0),
    "mise": ("exec", frozenset({"-C", "--cd", "-j", "--jobs"}), 0),
    "rtx": ("exec", frozenset(), 0),
    "direnv": ("exec", frozenset(), 1),
    "conda": ("run", frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}), 0),
    "mamba": ("run", frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}), 0),
    "micromamba": ("run", frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}), 0),
    "dotenv": (None, frozenset({"-f", "--file", "-e", "-c", "-v"}), 0),
    "nyc": (None, frozenset({"--reporter", "-r", "--include", "-n", "--exclude", "-x",
                             "--temp-dir", "--report-dir", "--extension", "-e"}), 0),
    "c8": (None, frozenset({"--reporter", "-r", "--include", "-n", "--exclude", "-x",
                            "--temp-directory", "--reports-dir", "-o", "--extension"}), 0),
    "corepack": (None, frozenset(), 0),
    "npx": (None, frozenset(), 0),
    "pnpx": (None, frozenset(), 0),
    "bunx": (None, frozenset(), 0),
}
_UV_TAKES: Final = frozenset({
    "--with", "--with-requirements", "--with-editable", "--python", "-p", "--package",
    "--extra", "--group", "--only-group", "--no-group", "--env-file", "--directory",
    "--project", "--index", "--index-url", "--default-index", "--extra-index-url", "--from",
    "--config-file", "--cache-dir", "-w", "--script", "--isolated-env",
})
_SCRIPT_RUNNERS: Final = frozenset({"hatch", "pdm", "pixi"})    # `X run <script>`
_SHELLS: Final = frozenset({"bash", "sh", "zsh", "dash", "ksh", "ash", "mksh", "busybox"})


class _Nested:
    """A script run by a command: ``bash -c SCRIPT``, ``eval``, a shell fed a heredoc."""

    __slots__ = ("errexit", "fresh", "pipefail", "script")

    def __init__(self, script: str, fresh: bool, pipefail: bool = False,
                 errexit: bool = False) -> None:
        self.script = script
        self.fresh = fresh
        self.pipefail = pipefail
        self.errexit = errexit


def _shell(words: Sequence[str], i: int, bodies: list[str], nested: list[_Nested]) -> None:
    args = words[i + 1:]
    pipefail = errexit = has_c = False
    j = 0
    n = len(args)
    if _name(words[i]) == "busybox":
        if not args or args[0] not in ("sh", "ash", "bash"):
            return
        j = 1
    while j < n:
        a = args[j]
        j += 1
        if a in ("-o", "+o"):
            if j < n and args[j] == "pipefail":
                pipefail = a == "-o"
            elif j < n and args[j] == "errexit":
                errexit = a == "-o"
            j += 1
        elif a.startswith("--"):
            continue
        elif len(a) > 1 and a[0] in "-+":
            letters = a[1:]
            if "e" in letters:
                errexit = a[0] == "-"
            if "c" in letters:
                has_c = True
            if "o" in letters and j < n:
                pipefail = pipefail or (args[j] == "pipefail" and a[0] == "-")
                j += 1
        else:
            if has_c:
                nested.append(_Nested(a, True, pipefail, errexit))
            return      # a script file: its contents are not in the command line
    for body in bodies:
        nested.append(_Nested(body, True, pipefail, errexit))


_TOOLS: Final = frozenset({
    "pytest", "py.test", "pytest-3", "py.test-3", "jest", "vitest", "mocha", "_mocha", "nose2",
    "nosetests", "trial", "green", "ward", "behave", "ava", "tap", "jasmine", "rspec", "phpunit",
    "pest", "ctest", "karma", "tape", "uvu", "go", "cargo", "make", "gmake", "just", "task",
    "tox", "nox", "hatch", "mypy", "dmypy", "pyright", "basedpyright", "pytype", "pyre",
    "vue-tsc", "svelte-check", "flow", "ty", "pyrefly", "tsc", "ruff", "flake8", "pylint",
    "pycodestyle", "pydocstyle", "bandit", "eslint", "stylelint", "shellcheck", "hadolint",
    "rubocop", "staticcheck", "yamllint", "markdownlint", "markdownlint-cli2", "oxlint", "xo",
    "standard", "vulture", "codespell", "actionlint", "black", "isort", "prettier", "gofmt",
    "rustfmt", "autopep8", "yapf", "biome", "golangci-lint", "pre-commit", "gradle", "gradlew",
    "mvn", "mvnw", "dotnet", "bazel", "bazelisk", "swift", "mix", "deno", "sbt", "lein", "stack",
    "cabal", "dune", "zig", "playwright", "cypress", "vite", "next", "nuxt", "astro", "parcel",
    "ng", "vue-cli-service", "react-scripts", "docker", "podman", "cmake", "meson", "poetry",
    "uv", "pdm", "rye", "flit", "maturin", "webpack", "rollup", "esbuild", "tsup", "ninja",
    "msbuild", "scons", "npm", "yarn", "pnpm", "bun", "node", "nodejs", "coverage", "poe",
})
# words that lead to a check without being a tool name: `pdm run` / `pixi run` scripts
_EXTRA_TRIGGERS: Final = frozenset({"pdm", "pixi", "pytest-3", "jest-cli"})


def _classify(words: Sequence[str], depth: int, nested: list[_Nested],
              bodies: list[str] | None = None) -> _Found:
    """The checks the simple command ``words`` runs; scripts it runs go to ``nested``."""
    if depth > _MAX_DEPTH:
        return []
    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        if _ASSIGN.match(w):
            i += 1
            continue
        name = _name(w)
        if name == "uv":
            sub = words[i + 1] if i + 1 < n else ""
            if sub == "run":
                i += 2
            elif sub == "tool" and words[i + 2:i + 3] == ["run"]:
                i += 3
            else:
                return _tool("uv", list(words[i + 1:]))
            while i < n and words[i].startswith("-") and words[i] != "--":
                i += 2 if words[i] in _UV_TAKES else 1
            if i < n and words[i] == "--":
                i += 1
            continue
        if name in _SCRIPT_RUNNERS and words[i + 1:i + 2] == ["run"]:
            i += 2
            while i < n and words[i].startswith("-"):
                i += 2 if words[i] in ("-e", "--environment", "--env", "-p", "--project",
                                       "--manifest-path") else 1
            if i < n and _name(words[i].split(":")[-1]) not in _TOOLS and \
                    not _PYTHON.fullmatch(_name(words[i])):
                category = _script_category(words[i].split(":")[-1])
                return [(category, name, None)] if category else []
            continue
        spec = _WRAPPERS.get(name)
        if spec is not None:
            need, takes, positionals = spec
            i += 1
            if need is not None:
                if i >= n or words[i] != need:
                    return _tool(name, list(words[i:])) if name in _TOOLS else []
                i += 1
            if name in ("npx", "pnpx", "bunx"):
                return _classify(_skip_npx(words, i), depth + 1, nested, bodies)
            if name == "command" and i < n and words[i] in ("-v", "-V"):
                return []
            while i < n:
                a = words[i]
                if a == "--":
                    i += 1
                    break
                if name == "env" and a in ("-S", "--split-string") and i + 1 < n:
                    nested.append(_Nested(words[i + 1], False))
                    return []
                if a.startswith("-") and len(a) > 1:
                    i += 2 if a in takes else 1
                    continue
                if (name == "env" and _ASSIGN.match(a)) or (name == "dotenv" and a == "run"):
                    i += 1
                    continue
                break
            i += positionals
            continue
        if name in _SHELLS:
            _shell(words, i, bodies or [], nested)
            return []
        if name == "eval":
            nested.append(_Nested(" ".join(words[i + 1:]), False))
            return []
        if _PYTHON.fullmatch(name):
            return _python(words, i, depth, nested)
        if name in ("node", "nodejs"):
            return _node(words, i)
        if name in ("npm", "yarn", "pnpm", "bun"):
            return _package_manager(name, words, i, depth, nested)
        if name == "coverage":
            return _coverage(list(words[i + 1:]), depth, nested)
        if name in _TOOLS:
            return _tool(name, list(words[i + 1:]))
        return []
    return []


# ============================================================================= the walk

_MASKERS_OR: Final = frozenset({"true", ":", "echo", "printf", "/bin/true", "/usr/bin/true"})
_MASKERS_SEQ: Final = frozenset({"true", ":", "/bin/true", "/usr/bin/true"})
_WORDISH = re.compile(r"[A-Za-z0-9_.-]+")
_STRIP_QUOTES = str.maketrans("", "", "'\"\\")


def _may_run(text: str) -> bool:
    """A cheap test that ``text`` names some tool a check could be run with (every tool name,
    wrapped or nested, appears as a word of the raw text)."""
    for word in _WORDISH.findall(text.translate(_STRIP_QUOTES)):
        if word in _TOOLS or word.startswith(("python", "pypy")) or word == "py" or \
                word in _EXTRA_TRIGGERS or word.split(".", 1)[0] in _TOOLS:
            return True
    return False


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


# =============================================================================== printing

_PRINTERS: Final = frozenset({
    "echo", "printf", "cat", "tac", "head", "tail", "less", "more", "type", "yes", "tee",
    "bat", "batcat", "nl", "column", "fold", "rev", "grep", "egrep", "fgrep", "sed", "awk",
    "gawk", "mawk", "cut", "sort", "uniq", "wc", "tr", "paste", "expand", "unexpand", "fmt",
    "pr", "jq", "zcat", "strings", "print", "cowsay", "figlet", "look",
})
_NEUTRAL: Final = frozenset({
    "cd", "pushd", "popd", "true", ":", "export", "set", "unset", "shopt", "sleep", "read",
    "wait", "clear", "pwd", "local", "declare", "typeset", "alias", "test", "[", "[[", "exit",
    "return", "let", "shift", "mkdir", "touch", "}", "fi", "done", "esac", "then", "else", "do",
})
_PRINT_WRAPPERS: Final = frozenset({"env", "timeout", "gtimeout", "nice", "nohup", "time",
                                    "command", "builtin", "exec", "stdbuf", "sudo", "doas",
                                    "unbuffer", "xargs", "chronic"})


def _unwrap(words: Sequence[str]) -> int:
    """Index of the command in ``words`` after assignments and plain wrappers
    (``env A=1``, ``timeout 5``, ``nice -n 5``...)."""
    i = 0
    n = len(words)
    while i < n:
        if _ASSIGN.match(words[i]):
            i += 1
            continue
        name = _name(words[i])
        if name not in _PRINT_WRAPPERS:
            return i
        _need, takes, positionals = _WRAPPERS[name]
        i += 1
        while i < n and words[i].startswith("-") and len(words[i]) > 1:
            if words[i] == "--":
                i += 1
                break
            i += 2 if words[i] in takes else 1
        while name == "env" and i < n and _ASSIGN.match(words[i]):
            i += 1
        i += positionals
    return i


def _prints_python(code: str) -> bool:
    """``code`` only prints (``print(...)``, ``sys.stdout.write(...)``): no other calls."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    if not tree.body:
        return False
    printed = False
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if isinstance(stmt, ast.ImportFrom) or any(a.name != "sys" for a in stmt.names):
                return False
            continue
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            return False
        func = stmt.value.func
        if not _print_call(func):
            return False
        for arg in [*stmt.value.args, *(k.value for k in stmt.value.keywords)]:
            if any(isinstance(node, ast.Call | ast.Lambda | ast.Await | ast.NamedExpr |
                              ast.Subscript | ast.Attribute | ast.ListComp |
                              ast.GeneratorExp)
                   and not _is_join(node) for node in ast.walk(arg)):
                return False
        printed = True
    return printed


def _print_call(func: ast.expr) -> bool:
    """``print`` or ``sys.stdout.write`` / ``sys.stderr.write``."""
    if isinstance(func, ast.Name):
        return func.id == "print"
    return isinstance(func, ast.Attribute) and func.attr == "write" and \
        isinstance(func.value, ast.Attribute) and func.value.attr in ("stdout", "stderr") and \
        isinstance(func.value.value, ast.Name) and func.value.value.id == "sys"


def _is_join(node: ast.AST) -> bool:
    """``"sep".join(...)`` and the attribute it calls: pure string building."""
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr in ("join", "format") and \
        isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


class _Prints:
    """Whether a parsed command line only prints: ``ok`` stays true while every command seen
    prints or is neutral; ``printed`` records that something printed."""

    def __init__(self) -> None:
        self.ok = True
        self.printed = False

    def seq(self, seq: _Seq, depth: int) -> None:
        for andor in seq:
            for _op, pipe in andor:
                for cmd in pipe:
                    if not self.ok:
                        return
                    if isinstance(cmd, _Group):
                        for part in cmd.parts:
                            self.seq(part, depth + 1)
                    else:
                        self.simple(cmd, depth)

    def simple(self, cmd: _Simple, depth: int) -> None:
        words = cmd.words
        i = _unwrap(words)
        if depth > _MAX_DEPTH:
            self.ok = False
            return
        for body in cmd.subs:
            self.seq(_parse(body), depth + 1)
        if i >= len(words):
            return
        name = _name(words[i])
        args = words[i + 1:]
        if name in _PRINTERS:
            if name in ("awk", "gawk", "mawk") and any("system" in a or "|" in a for a in args):
                self.ok = False
                return
            if name == "sed" and any(a.endswith("e") and a.startswith("s") for a in args):
                self.ok = False
                return
            self.printed = True
        elif name in _NEUTRAL:
            pass
        elif _PYTHON.fullmatch(name):
            code = None
            if args[:1] == ["-c"] and len(args) >= 2:
                code = args[1]
            elif (not args or args == ["-"]) and cmd.bodies:
                code = "\n".join(cmd.bodies)
            if code is not None and _prints_python(code):
                self.printed = True
            else:
                self.ok = False
        elif name in _SHELLS or name == "eval":
            nested: list[_Nested] = []
            if name == "eval":
                nested.append(_Nested(" ".join(args), False))
            else:
                _shell(words, i, cmd.bodies, nested)
            if not nested:
                self.ok = False
            for script in nested:
                self.seq(_parse(script.script), depth + 1)
        else:
            self.ok = False


def _may_print(text: str) -> bool:
    for word in _WORDISH.findall(text):
        if word in _PRINTERS or word in _SHELLS or word == "eval" or \
                word.startswith(("python", "pypy")) or word == "py":
            return True
    return False


def prints_only(command: str | None, argv: Sequence[str] | None = None) -> bool:
    """Whether ``command`` (or ``argv``) only prints or replays text (``echo``, ``printf``,
    ``cat``, ``head``/``tail``, ``tee``, heredocs, ``python -c "print(...)"``) and runs no other
    program. Runner-like output from such a command was written, not produced."""
    walk = _Prints()
    if command is not None:
        if not _may_print(command):
            return False
        walk.seq(_parse(command), 0)
    elif argv:
        walk.simple(_Simple([a for a in argv if isinstance(a, str)], [], []), 0)
    return walk.ok and walk.printed


