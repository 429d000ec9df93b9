"""Shell words: assignment and name patterns, the word being read, and brace expansion."""

from __future__ import annotations

import re

_MAX_BRACE = 256
_ASSIGN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Word:
    __slots__ = ("chars", "dyn", "inputs", "lit", "quoted", "splits")

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.dyn = False
        self.quoted = False
        self.inputs: list[int] = []
        self.lit = -1  # length of chars when the first quote or expansion was seen
        self.splits: list[int] = []

    def mark(self) -> None:
        if self.lit < 0:
            self.lit = sum(len(c) for c in self.chars)

    def text(self) -> str:
        return "".join(self.chars)

    def is_assignment(self) -> bool:
        text = self.text()
        m = _ASSIGN_RE.match(text)
        return m is not None and (self.lit < 0 or m.end() <= self.lit)

    def texts(self, source: str) -> list[str]:
        text = self.text()
        if self.splits:
            pieces, last = [], 0
            for pos in [*self.splits, len(text)]:
                pieces.append(text[last:pos])
                last = pos
            words = [p for p in pieces if p]
        else:
            words = [text]
        if "{" in source and not any(c in source for c in "'\"\\$`"):
            out: list[str] = []
            for w in words:
                out.extend(_brace_expand(w))
            return out
        return words


class _TooBig(Exception):
    pass


def _brace_expand(word: str, budget: int = _MAX_BRACE) -> list[str]:
    """Bash brace expansion of a literal word (``{a,b}``, ``x{1..3}``); capped in size."""
    try:
        return _expand_braces(word, budget)
    except _TooBig:
        return [word]


def _expand_braces(word: str, budget: int) -> list[str]:
    depth, start = 0, -1
    for i, c in enumerate(word):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                alts = _brace_alternatives(word[start + 1 : i])
                if alts is None:
                    continue
                pre = word[:start]
                tails = _expand_braces(word[i + 1 :], budget)
                out: list[str] = []
                for alt in alts:
                    for head in _expand_braces(alt, budget):
                        for tail in tails:
                            out.append(pre + head + tail)
                            if len(out) > budget:
                                raise _TooBig
                return out
    return [word]


def _brace_alternatives(inner: str) -> list[str] | None:
    parts, depth, last = [], 0, 0
    for i, c in enumerate(inner):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(inner[last:i])
            last = i + 1
    if parts:
        parts.append(inner[last:])
        return parts
    m = re.fullmatch(r"(-?\d+)\.\.(-?\d+)", inner)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if abs(b - a) > _MAX_BRACE:
            return None
        step = 1 if b >= a else -1
        return [str(x) for x in range(a, b + step, step)]
    m = re.fullmatch(r"([A-Za-z])\.\.([A-Za-z])", inner)
    if m:
        a, b = ord(m.group(1)), ord(m.group(2))
        step = 1 if b >= a else -1
        return [chr(x) for x in range(a, b + step, step)]
    return None
