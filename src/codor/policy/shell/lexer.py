"""The lexer: blanks, comments, newlines, heredocs, redirections and words (quotes, expansions,
substitutions); the grammar that drives it is in :mod:`codor.policy.shell.grammar`."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

from codor.policy.shell.model import MAX_DEPTH, _RedirDraft, _State
from codor.policy.shell.words import _ASSIGN_RE, _NAME_RE, _Word

_BLANKS = " \t\r"
_META = frozenset(" \t\r\n;&|()<>")
_REDIR_RE = re.compile(r"(\d+|\{[A-Za-z_][A-Za-z0-9_]*\})?(&>>|&>|<<<|<<-|<<|<>|<&|>>|>&|>\||<|>)")
_ANSI = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b",
         "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_SPLIT_WS = re.compile(r"[ \t\n]+")
_PLAIN_RE = re.compile(r"[^ \t\r\n;&|()<>\\'\"$`]+")
_DQ_PLAIN_RE = re.compile(r"[^\"\\$`]+")


class _Lexer(ABC):
    """Reading one string: position, shared :class:`_State`, and the word-level syntax."""

    def __init__(self, text: str, st: _State, depth: int, origin: str,
                 wrappers: tuple[str, ...], cwd: str | None, function: str | None) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.st = st
        self.depth = depth
        self.origin = origin
        self.wrappers = wrappers
        self.cwd = cwd
        self.function = function
        self.pending: list[_RedirDraft] = []
        self.dirs: list[str | None] = []  # pushd stack

    # -- bookkeeping ----------------------------------------------------------------------
    def error(self, message: str) -> None:
        if len(self.st.errors) < 8:
            self.st.errors.append(message)

    def run(self) -> list[int]:
        ids: list[int] = []
        while True:
            ids += self.parse_list(frozenset())
            if self.i >= self.n:
                break
            self.error(f"unexpected {self.s[self.i]!r}")
            self.i += 1
        if self.pending:
            for r in self.pending:
                r.body = r.body or ""
            self.pending.clear()
        return ids

    def sub_parse(self, text: str, origin: str, wrappers: tuple[str, ...]) -> list[int]:
        if self.depth + 1 > MAX_DEPTH:
            self.error("commands nested too deeply")
            return []
        p = type(self)(text, self.st, self.depth + 1, origin, wrappers, self.cwd, self.function)
        return p.run()

    def scan_text(self, text: str) -> list[int]:
        """Parts run by the ``$(...)`` and backticks of a double-quote-like text."""
        if self.depth + 1 > MAX_DEPTH:
            self.error("commands nested too deeply")
            return []
        before = len(self.st.parts)
        p = type(self)(text, self.st, self.depth + 1, "substitution", self.wrappers, self.cwd,
                       self.function)
        w = _Word()
        i = 0
        while i < p.n:
            c = text[i]
            if c == "\\":
                i += 2
            elif c == "$":
                i = p.read_dollar(i, w, True)
            elif c == "`":
                i = p.read_backtick(i, w)
            else:
                i += 1
        return list(range(before, len(self.st.parts)))

    @abstractmethod
    def parse_list(self, stops: frozenset[str]) -> list[int]:
        """Commands up to one of ``stops`` (the grammar: :class:`_Grammar`)."""

    # -- lexing ---------------------------------------------------------------------------
    def skip_blanks(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n:
            c = s[i]
            if c in _BLANKS:
                i += 1
            elif c == "\\" and i + 1 < n and s[i + 1] == "\n":
                i += 2
            elif c == "#":
                j = s.find("\n", i)
                i = n if j < 0 else j
            else:
                break
        self.i = i

    def skip_ws(self) -> None:
        while True:
            self.skip_blanks()
            if self.i < self.n and self.s[self.i] == "\n":
                self.newline()
            else:
                return

    def newline(self) -> None:
        self.i += 1
        if self.pending:
            self.read_heredocs()

    def read_heredocs(self) -> None:
        s, n = self.s, self.n
        pending, self.pending = self.pending, []
        for r in pending:
            lines: list[str] = []
            while self.i < n:
                j = s.find("\n", self.i)
                end = n if j < 0 else j
                line = s[self.i : end]
                self.i = n if j < 0 else j + 1
                if r.strip:
                    line = line.lstrip("\t")
                if line == r.target or line.rstrip("\r") == r.target:
                    break
                lines.append(line)
            body = "\n".join(lines) + ("\n" if lines else "")
            r.body = body
            if not r.quoted and ("$(" in body or "`" in body or "${" in body):
                ids = self.scan_text(body)
                if 0 <= r.owner < len(self.st.parts):
                    self.st.parts[r.owner].inputs.extend(ids)

    def arith_end(self, i: int) -> int | None:
        """End (exclusive) of ``((...))`` starting at ``i``, or ``None`` if it is not one."""
        s, n = self.s, self.n
        depth, j = 0, i
        while j < n:
            c = s[j]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 1:
                    return j + 2 if s.startswith(")", j + 1) else None
            j += 1
        return None

    def read_redirect(self, reds: list[_RedirDraft], inputs: list[int]) -> bool:
        m = _REDIR_RE.match(self.s, self.i)
        if not m:
            return False
        fd_text, op = m.group(1), m.group(2)
        if fd_text is None and op in ("<", ">") and self.s.startswith("(", m.end()):
            return False
        self.i = m.end()
        fd = int(fd_text) if fd_text and fd_text.isdigit() and len(fd_text) < 6 else None
        self.skip_blanks()
        w = self.read_word()
        if w is None:
            self.error(f"missing target after {op!r}")
            return True
        target = " ".join(w.texts(""))
        if op in ("<<", "<<-"):
            r = _RedirDraft(op, target, fd, quoted=w.quoted)
            self.pending.append(r)
        else:
            r = _RedirDraft(op, target, fd)
            inputs.extend(w.inputs)
        reds.append(r)
        return True

    # -- words ----------------------------------------------------------------------------
    def read_word(self) -> _Word | None:
        s, n = self.s, self.n
        start = i = self.i
        w = _Word()
        while i < n:
            c = s[i]
            if c in "<>" and i == start and s.startswith("(", i + 1):
                i = self.read_procsub(i, w)
                continue
            if c in _META:
                if c == "(" and w.chars:
                    text = w.text()
                    if text and (text[-1] in "@!+*?" or _ASSIGN_RE.fullmatch(text)):
                        i = self.read_parens(i, w)
                        continue
                break
            if c == "\\":
                if i + 1 < n:
                    if s[i + 1] == "\n":
                        i += 2
                        continue
                    w.mark()
                    w.quoted = True
                    w.chars.append(s[i + 1])
                    i += 2
                else:
                    w.chars.append("\\")
                    i += 1
            elif c == "'":
                w.mark()
                w.quoted = True
                j = s.find("'", i + 1)
                if j < 0:
                    self.error("unclosed single quote")
                    w.chars.append(s[i + 1 :])
                    i = n
                else:
                    w.chars.append(s[i + 1 : j])
                    i = j + 1
            elif c == '"':
                i = self.read_dquote(i + 1, w)
            elif c == "$":
                i = self.read_dollar(i, w, False)
            elif c == "`":
                i = self.read_backtick(i, w)
            else:
                m = _PLAIN_RE.match(s, i)
                end = m.end() if m else i + 1
                w.chars.append(s[i:end])
                i = end
        self.i = i
        if i == start:
            return None
        return w

    def read_parens(self, i: int, w: _Word) -> int:
        """Extglob ``@(...)`` or an array assignment ``a=(...)``: kept verbatim."""
        s, n = self.s, self.n
        depth, j = 0, i
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= n:
            self.error("unclosed '('")
            j = n - 1
        inner = s[i + 1 : j]
        w.mark()
        w.chars.append(s[i : j + 1])
        if "$(" in inner or "`" in inner:
            w.inputs.extend(self.scan_text(inner))
            w.dyn = True
        return j + 1

    def read_dquote(self, i: int, w: _Word) -> int:
        s, n = self.s, self.n
        w.mark()
        w.quoted = True
        while i < n:
            c = s[i]
            if c == '"':
                return i + 1
            if c == "\\" and i + 1 < n:
                d = s[i + 1]
                if d == "\n":
                    i += 2
                elif d in '$`"\\':
                    w.chars.append(d)
                    i += 2
                else:
                    w.chars.append("\\")
                    i += 1
            elif c == "$":
                i = self.read_dollar(i, w, True)
            elif c == "`":
                i = self.read_backtick(i, w)
            else:
                m = _DQ_PLAIN_RE.match(s, i)
                end = m.end() if m else i + 1
                w.chars.append(s[i:end])
                i = end
        self.error("unclosed double quote")
        return n

    def read_dollar(self, i: int, w: _Word, in_dquote: bool) -> int:
        s, n = self.s, self.n
        nxt = s[i + 1] if i + 1 < n else ""
        if nxt == "(":
            if s.startswith("$((", i):
                end = self.arith_end(i + 1)
                if end is not None:
                    inner = s[i + 3 : end - 2]
                    w.mark()
                    w.dyn = True
                    w.chars.append(s[i:end])
                    if "$(" in inner or "`" in inner:
                        w.inputs.extend(self.scan_text(inner))
                    return end
            return self.read_subst(i, 2, w, "substitution", ")")
        if nxt == "{":
            return self.read_param(i, w, in_dquote)
        if nxt == "'" and not in_dquote:
            return self.read_ansi(i + 2, w)
        if nxt == '"' and not in_dquote:
            return self.read_dquote(i + 2, w)
        m = _NAME_RE.match(s, i + 1)
        if m:
            self.expand_name(m.group(0), s[i : m.end()], w, in_dquote)
            return m.end()
        if nxt and nxt in "0123456789@*#?$!-":
            w.mark()
            w.dyn = True
            w.chars.append(s[i : i + 2])
            return i + 2
        w.chars.append("$")
        return i + 1

    def expand_name(self, name: str, source: str, w: _Word, in_dquote: bool) -> None:
        w.mark()
        custom_ifs = "IFS" in self.st.vars
        if name == "IFS" and not in_dquote and not custom_ifs:
            w.splits.append(len(w.text()))
            return
        value = self.st.vars.get(name)
        if value is None or (custom_ifs and not in_dquote):  # splitting is unknown
            w.dyn = True
            w.chars.append(source)
            return
        if in_dquote:
            w.chars.append(value)
            return
        for k, piece in enumerate(_SPLIT_WS.split(value)):
            if k:
                w.splits.append(len(w.text()))
            w.chars.append(piece)

    def read_param(self, i: int, w: _Word, in_dquote: bool) -> int:
        s, n = self.s, self.n
        depth, j = 1, i + 2
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
                continue
            if c == "'" and not in_dquote:
                k = s.find("'", j + 1)
                j = n if k < 0 else k + 1
                continue
            if c == "{" and s[j - 1] == "$":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= n:
            self.error("unclosed '${'")
            j = n - 1
        inner = s[i + 2 : j]
        if _NAME_RE.fullmatch(inner):
            self.expand_name(inner, s[i : j + 1], w, in_dquote)
            return j + 1
        w.mark()
        w.dyn = True
        w.chars.append(s[i : j + 1])
        if "$(" in inner or "`" in inner:
            w.inputs.extend(self.scan_text(inner))
        return j + 1

    def read_ansi(self, i: int, w: _Word) -> int:
        s, n = self.s, self.n
        w.mark()
        w.quoted = True
        while i < n and s[i] != "'":
            c = s[i]
            if c != "\\" or i + 1 >= n:
                w.chars.append(c)
                i += 1
                continue
            d = s[i + 1]
            i += 2
            if d in _ANSI:
                w.chars.append(_ANSI[d])
            elif d in "xuU01234567":
                if d == "x":
                    m = re.compile(r"[0-9A-Fa-f]{1,2}").match(s, i)
                    base = 16
                elif d == "u":
                    m = re.compile(r"[0-9A-Fa-f]{1,4}").match(s, i)
                    base = 16
                elif d == "U":
                    m = re.compile(r"[0-9A-Fa-f]{1,8}").match(s, i)
                    base = 16
                else:
                    m = re.compile(r"[0-7]{0,2}").match(s, i)
                    base = 8
                digits = (d if base == 8 else "") + (m.group(0) if m else "")
                if m:
                    i = m.end()
                code = int(digits, base) if digits else 0
                w.chars.append(chr(code) if 0 < code <= 0x10FFFF else "")
            elif d == "c" and i < n:
                w.chars.append(chr(ord(s[i]) & 0x1F))
                i += 1
            else:
                w.chars.append("\\" + d)
        if i >= n:
            self.error("unclosed $'...' quote")
            return n
        return i + 1

    def read_backtick(self, i: int, w: _Word) -> int:
        s, n = self.s, self.n
        j = i + 1
        raw: list[str] = []
        while j < n and s[j] != "`":
            if s[j] == "\\" and j + 1 < n:
                raw.append(s[j + 1] if s[j + 1] in "`$\\" else s[j : j + 2])
                j += 2
                continue
            raw.append(s[j])
            j += 1
        if j >= n:
            self.error("unclosed backquote")
            j = n - 1
        before = len(self.st.parts)
        self.sub_parse("".join(raw), "substitution", self.wrappers)
        w.mark()
        w.dyn = True
        w.chars.append(s[i : j + 1])
        w.inputs.extend(range(before, len(self.st.parts)))
        return j + 1

    def read_procsub(self, i: int, w: _Word) -> int:
        return self.read_subst(i, 2, w, "process-substitution", ")")

    def read_subst(self, i: int, skip: int, w: _Word, origin: str, close: str) -> int:
        before = len(self.st.parts)
        saved_cwd, saved_origin = self.cwd, self.origin
        self.origin = origin
        self.i = i + skip
        self.parse_list(frozenset({close}))
        self.skip_ws()
        if self.i < self.n and self.s[self.i] == close:
            self.i += 1
        else:
            self.error(f"unclosed {self.s[i : i + skip]!r}")
        self.cwd, self.origin = saved_cwd, saved_origin
        w.mark()
        w.dyn = True
        w.chars.append(self.s[i : self.i])
        w.inputs.extend(range(before, len(self.st.parts)))
        return self.i
