"""The grammar: recursive descent over lists, pipelines, compound commands (``if``, ``for``,
``case``, functions, ``[[ ]]``, ``(( ))``) and simple commands."""

from __future__ import annotations

import re
from abc import abstractmethod

from codor.policy.shell.lexer import _META, _Lexer
from codor.policy.shell.model import _Draft, _RedirDraft

_MAX_NEST = 40  # nested syntax ($( ( { ...) across all levels
_MAX_PARTS = 4000
_RESERVED_RE = re.compile(
    r"(if|then|elif|else|fi|do|done|case|esac|while|until|for|select|function|coproc|time"
    r"|\{|\}|!|\[\[)(?=[ \t\r\n;&|()<>]|\Z)"
)
_TERMINATORS = frozenset({"then", "elif", "else", "fi", "do", "done", "esac", "}"})
_FUNC_PARENS_RE = re.compile(r"\(\s*\)")


class _Grammar(_Lexer):
    """Commands of one string; what each simple command runs is :meth:`finish`."""

    # -- bookkeeping ----------------------------------------------------------------------
    def add(self, argv: list[str], expanded: list[bool], assigns: list[str],
            reds: list[_RedirDraft], inputs: list[int], wrappers: tuple[str, ...],
            origin: str) -> int:
        parts = self.st.parts
        if len(parts) >= _MAX_PARTS:
            self.error("too many commands")
            self.i = self.n
            return -1
        d = _Draft(argv, expanded, assigns, reds, inputs, wrappers, origin, self.cwd,
                   self.function, self.depth)
        idx = len(parts)
        for r in reds:
            r.owner = idx
        parts.append(d)
        return idx

    @abstractmethod
    def finish(self, argv: list[str], dyn: list[bool], assigns: list[str],
               reds: list[_RedirDraft], inputs: list[int], wrappers: tuple[str, ...],
               origin: str) -> list[int]:
        """Record a simple command (unwrapped) and what it runs: :class:`_Parser`."""

    def peek_reserved(self) -> str | None:
        m = _RESERVED_RE.match(self.s, self.i)
        return m.group(1) if m else None

    def at_word(self, word: str) -> bool:
        s, i = self.s, self.i
        if not s.startswith(word, i):
            return False
        j = i + len(word)
        return j >= self.n or s[j] in _META

    def at_stop(self, stops: frozenset[str]) -> bool:
        s, i = self.s, self.i
        if ")" in stops and s[i] == ")":
            return True
        if ";;" in stops and (s.startswith(";;", i) or s.startswith(";&", i)):
            return True
        r = self.peek_reserved()
        return r is not None and r in stops

    def expect_word(self, word: str) -> bool:
        self.skip_ws()
        if self.i < self.n and self.peek_reserved() == word:
            self.i += len(word)
            return True
        self.error(f"missing {word!r}")
        return False

    # -- grammar --------------------------------------------------------------------------
    def parse_list(self, stops: frozenset[str]) -> list[int]:
        st = self.st
        st.nest += 1
        try:
            if st.nest > _MAX_NEST:
                self.error("commands nested too deeply")
                self.i = self.n
                return []
            ids: list[int] = []
            while True:
                self.skip_ws()
                if self.i >= self.n or self.at_stop(stops):
                    return ids
                ids += self.parse_and_or()
                self.skip_blanks()
                if self.i >= self.n:
                    return ids
                c = self.s[self.i]
                if c == "\n":
                    self.newline()
                elif (c == ";" and not self.s.startswith((";;", ";&"), self.i)) or (
                        c == "&" and not self.s.startswith(("&&", "&>"), self.i)):
                    self.i += 1
                else:
                    return ids
        finally:
            st.nest -= 1

    def parse_and_or(self) -> list[int]:
        ids = self.parse_pipeline()
        while True:
            self.skip_blanks()
            if self.s.startswith(("&&", "||"), self.i):
                op = self.s[self.i : self.i + 2]
                self.i += 2
                self.skip_ws()
                if self.i >= self.n:
                    self.error(f"expected a command after {op!r}")
                    return ids
                ids += self.parse_pipeline()
            else:
                return ids

    def parse_pipeline(self) -> list[int]:
        while True:
            self.skip_blanks()
            r = self.peek_reserved()
            if r == "!":
                self.i += 1
            elif r == "time":
                self.i += 4
                self.skip_blanks()
                if self.at_word("-p"):
                    self.i += 2
            else:
                break
        saved = self.cwd
        cur = self.parse_command()
        ids = list(cur)
        piped = False
        parts = self.st.parts
        while True:
            self.skip_blanks()
            s, i = self.s, self.i
            if i >= self.n or s[i] != "|" or s.startswith("||", i):
                break
            self.i += 2 if s.startswith("|&", i) else 1
            self.skip_ws()
            self.cwd = saved
            piped = True
            nxt = self.parse_command()
            for k in nxt:
                d = parts[k]
                d.stdin_from = tuple(dict.fromkeys((*d.stdin_from, *cur)))
            cur = nxt
            ids += nxt
        if piped:
            self.cwd = saved
        return ids

    def parse_command(self) -> list[int]:
        self.skip_blanks()
        s, i = self.s, self.i
        if i >= self.n:
            self.error("expected a command")
            return []
        c = s[i]
        if c in ";&|)\n":
            self.error(f"unexpected {c!r}")
            return []
        ids: list[int] = []
        r = self.peek_reserved()
        if r is not None and r in _TERMINATORS:
            self.error(f"unexpected {r!r}")
            self.i += len(r)
            return []
        if r in ("!", "time", "coproc"):
            self.i += len(r)
            return self.parse_command()
        if r == "{":
            self.i += 1
            ids = self.parse_list(frozenset({"}"}))
            self.expect_word("}")
        elif r == "if":
            ids = self.parse_if()
        elif r in ("while", "until"):
            self.i += len(r)
            ids = self.parse_list(frozenset({"do"}))
            if self.expect_word("do"):
                ids += self.parse_list(frozenset({"done"}))
                self.expect_word("done")
        elif r in ("for", "select"):
            ids = self.parse_for(r)
        elif r == "case":
            ids = self.parse_case()
        elif r == "function":
            self.i += len(r)
            self.skip_blanks()
            w = self.read_word()
            self.skip_blanks()
            m = _FUNC_PARENS_RE.match(s, self.i)
            if m:
                self.i = m.end()
            self.parse_function(w.text() if w else "")
            return []
        elif r == "[[":
            self.i += 2
            self.parse_cond()
        elif s.startswith("((", i):
            self.skip_arith()
        elif c == "(":
            self.i += 1
            saved = self.cwd
            ids = self.parse_list(frozenset({")"}))
            self.skip_ws()
            if self.i < self.n and self.s[self.i] == ")":
                self.i += 1
            else:
                self.error("missing ')'")
            self.cwd = saved
        else:
            return self.parse_simple()
        self.trailing_redirects()
        return ids

    def parse_if(self) -> list[int]:
        self.i += 2
        ids = self.parse_list(frozenset({"then"}))
        if not self.expect_word("then"):
            return ids
        ids += self.parse_list(frozenset({"elif", "else", "fi"}))
        while True:
            self.skip_ws()
            r = self.peek_reserved() if self.i < self.n else None
            if r == "elif":
                self.i += 4
                ids += self.parse_list(frozenset({"then"}))
                if not self.expect_word("then"):
                    return ids
                ids += self.parse_list(frozenset({"elif", "else", "fi"}))
            elif r == "else":
                self.i += 4
                ids += self.parse_list(frozenset({"fi"}))
                self.expect_word("fi")
                return ids
            elif r == "fi":
                self.i += 2
                return ids
            else:
                self.error("missing 'fi'")
                return ids

    def parse_for(self, word: str) -> list[int]:
        self.i += len(word)
        self.skip_blanks()
        ids: list[int] = []
        if self.s.startswith("((", self.i):
            self.skip_arith()
        else:
            if self.read_word() is None:
                self.error(f"missing variable after {word!r}")
                return ids
            self.skip_ws()
            if self.at_word("in"):
                self.i += 2
                while True:
                    self.skip_blanks()
                    if self.i >= self.n or self.s[self.i] in ";\n":
                        break
                    w = self.read_word()
                    if w is None:
                        self.error(f"unexpected {self.s[self.i]!r} in {word!r} list")
                        self.i += 1
                        break
        self.skip_blanks()
        if self.i < self.n and self.s[self.i] == ";":
            self.i += 1
        self.skip_ws()
        r = self.peek_reserved() if self.i < self.n else None
        if r == "{":
            self.i += 1
            ids += self.parse_list(frozenset({"}"}))
            self.expect_word("}")
        elif self.expect_word("do"):
            ids += self.parse_list(frozenset({"done"}))
            self.expect_word("done")
        return ids

    def parse_case(self) -> list[int]:
        self.i += 4
        self.skip_blanks()
        ids: list[int] = []
        if self.read_word() is None:
            self.error("missing word after 'case'")
            return ids
        self.skip_ws()
        if not self.at_word("in"):
            self.error("missing 'in' after 'case'")
            return ids
        self.i += 2
        s = self.s
        while True:
            self.skip_ws()
            if self.i >= self.n:
                self.error("missing 'esac'")
                return ids
            if self.peek_reserved() == "esac":
                self.i += 4
                return ids
            if s[self.i] == "(":
                self.i += 1
            while True:
                self.skip_blanks()
                if self.i >= self.n:
                    self.error("missing ')' in case pattern")
                    return ids
                c = s[self.i]
                if c == ")":
                    self.i += 1
                    break
                if c == "|":
                    self.i += 1
                    continue
                if self.read_word() is None:
                    self.error(f"unexpected {c!r} in case pattern")
                    self.i += 1
            ids += self.parse_list(frozenset({"esac", ";;"}))
            self.skip_ws()
            if s.startswith(";;&", self.i):
                self.i += 3
            elif s.startswith((";;", ";&"), self.i):
                self.i += 2
            elif self.i < self.n and self.peek_reserved() == "esac":
                self.i += 4
                return ids
            else:
                self.error("missing ';;' or 'esac'")
                return ids

    def parse_function(self, name: str) -> None:
        self.skip_ws()
        saved = self.function
        self.function = name
        if name and name not in self.st.functions:
            self.st.functions.append(name)
        try:
            if self.i >= self.n:
                self.error("missing function body")
                return
            self.parse_command()
        finally:
            self.function = saved

    def parse_cond(self) -> None:
        """``[[ ... ]]``: only the substitutions inside run."""
        s = self.s
        while True:
            self.skip_ws()
            if self.i >= self.n:
                self.error("missing ']]'")
                return
            if self.at_word("]]"):
                self.i += 2
                return
            if s[self.i] in "<>&|()!;":
                self.i += 1
                continue
            if self.read_word() is None:
                self.i += 1

    def skip_arith(self) -> None:
        end = self.arith_end(self.i)
        if end is None:
            self.error("unclosed '(('")
            self.i = self.n
            return
        inner = self.s[self.i + 2 : end - 2]
        self.i = end
        if "$(" in inner or "`" in inner:
            self.scan_text(inner)

    def trailing_redirects(self) -> None:
        reds: list[_RedirDraft] = []
        inputs: list[int] = []
        while True:
            self.skip_blanks()
            if not self.read_redirect(reds, inputs):
                break
        if reds:
            self.add([], [], [], reds, inputs, self.wrappers, self.origin)

    def parse_simple(self) -> list[int]:
        s = self.s
        argv: list[str] = []
        dyn: list[bool] = []
        assigns: list[str] = []
        reds: list[_RedirDraft] = []
        inputs: list[int] = []
        while True:
            self.skip_blanks()
            i = self.i
            if i >= self.n:
                break
            c = s[i]
            if c in "\n;|)":
                break
            if c == "&" and not s.startswith("&>", i):
                break
            if c == "(":
                m = _FUNC_PARENS_RE.match(s, i)
                if m and len(argv) == 1 and not assigns and not reds:
                    self.i = m.end()
                    self.parse_function(argv[0])
                    return []
                self.error("unexpected '('")
                break
            if not (c in "<>" and s.startswith("(", i + 1)) and self.read_redirect(reds, inputs):
                continue
            w = self.read_word()
            if w is None:
                self.error(f"unexpected {c!r}")
                self.i += 1
                continue
            inputs.extend(w.inputs)
            if not argv and w.is_assignment():
                assigns.append(w.text())
                name = w.text().split("=", 1)[0]
                if w.dyn or "[" in name or name.endswith("+"):
                    self.st.vars.pop(name.rstrip("+").split("[")[0], None)
                else:
                    self.st.vars[name] = w.text().split("=", 1)[1]
                continue
            texts = w.texts(s[i : self.i])
            argv.extend(texts)
            dyn.extend([w.dyn] * len(texts))
        if not argv and not assigns and not reds:
            self.error("expected a command")
            return []
        return self.finish(argv, dyn, assigns, reds, inputs, self.wrappers, self.origin)
