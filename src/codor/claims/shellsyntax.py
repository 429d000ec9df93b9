"""The shell syntax of a command line: a lexer and a parser for the part of bash agents write.
:func:`_parse` reads a command line the way bash would split it (quotes, escapes, ``$'...'``,
``;``, ``&&``, ``||``, pipes, subshells, ``{ }`` groups, ``if``/``while``/``for``/``case``,
heredocs, here-strings, command and process substitutions) into a sequence of and-or lists of
pipelines whose commands are a :class:`_Simple` command (its words, the bodies of its
substitutions, the texts fed to its stdin) or a :class:`_Group`; it reads any text without
raising, malformed input (unbalanced quotes, stray operators) as far as it goes, and stops
grouping past ``_MAX_DEPTH`` levels of nesting.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

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
