"""A unit of a report made ready for the phrase rules of :mod:`codor.claims.extract`:
:func:`normalise` (emphasis dropped, checkmarks mapped to ``✓``/``✗``, links reduced to their
text, URLs and struck-out text removed, code spans kept), :func:`lower` (offsets kept),
:func:`presence` (which guard keys of :data:`codor.claims.phrases.GUARDS` each unit holds) and
:class:`Sentence`, the views the rules match on; :class:`Candidate` is what a rule finds.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress
from typing import Final

from codor.claims import phrases as P
from codor.claims.claim import ClaimKind, Scope
from codor.claims.filerefs import PathRef, find_paths

__all__ = ["Candidate", "Sentence", "classify", "lower", "normalise", "presence"]

_CODE = re.compile(r"``\s*([^\n]+?)\s*``|`([^`\n]+)`")
_STRIKE = re.compile(r"~~[^~\n]+~~")
_LINK = re.compile(r"\[([^\[\]\n]*)\]\([^()\s]*\)")
_URL = re.compile(r"\b(?:https?|ftp|file)://\S+|\bwww\.\S+")
_HTML = re.compile(r"</?[a-zA-Z][^<>\n]{0,200}>")
_MAP: Final = (("✅", "✓"), ("✔", "✓"), ("☑", "✓"), ("🟢", "✓"), ("❌", "✗"), ("✘", "✗"),
               ("❎", "✗"), ("🔴", "✗"), ("\ufe0f", ""), ("*", ""), ("’", "'"), ("‘", "'"),
               ("“", '"'), ("”", '"'))
_SPAN = re.compile(r"`([^`\n]+)`")
#: Guard keys by ``id`` of their pattern (hashing a compiled pattern hashes its program).
_GUARD: Final[dict[int, frozenset[str]]] = {
    id(pattern): frozenset(keys) for pattern, keys in P.GUARDS.items()}
_KEYS: Final = tuple(sorted({k for keys in P.GUARDS.values() for k in keys}))
_NONE: Final[tuple[re.Match[str], ...]] = ()
_DOT_WORD = re.compile(r"\.[A-Za-z]")


def classify(command: str) -> tuple[str, str] | None:
    """(category, label) of a command: test (with the runner), lint, typecheck or build."""
    m = P.COMMAND.search(command.lower())
    return None if m is None or m.lastgroup is None else P.COMMAND_LABELS[m.lastgroup]


def _prose(part: str) -> str:
    if "~~" in part:
        part = _STRIKE.sub(" ", part)
    if "://" in part or "www." in part:
        part = _URL.sub(" ", part)
    if "<" in part:
        part = _HTML.sub(" ", part)
    return _translate(part)


def normalise(raw: str) -> str:
    if "](" in raw:
        raw = _LINK.sub(r"\1", raw)
    if "`" not in raw:
        return " ".join(_prose(raw).split())
    parts: list[str] = []
    last = 0
    for m in _CODE.finditer(raw):
        parts.append(_prose(raw[last:m.start()]))
        parts.append(" `" + (m.group(1) or m.group(2)).replace("`", "'") + "` ")
        last = m.end()
    parts.append(_prose(raw[last:]))
    return " ".join("".join(parts).split())


def _translate(text: str) -> str:
    for a, b in _MAP:
        if a in text:
            text = text.replace(a, b)
    return text


def _blank(pattern: re.Pattern[str], text: str, present: frozenset[str]) -> str:
    keys = _GUARD.get(id(pattern))
    if keys is not None and present.isdisjoint(keys):
        return text
    return pattern.sub(lambda m: " " * len(m.group()), text)


def lower(norm: str) -> str:
    """``norm`` lower-cased character by character (the offsets stay those of ``norm``)."""
    low = norm.lower()
    if len(low) != len(norm):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in norm)
    return low


def presence(lows: list[str]) -> list[frozenset[str]]:
    """The guard keys each text contains: one search per key across all the texts, jumping to
    the next text after each hit (cheaper than testing every key on every text)."""
    joined = "\x00".join(lows)
    starts: list[int] = []
    pos = 0
    for low in lows:
        starts.append(pos)
        pos += len(low) + 1
    found: list[set[str]] = [set() for _ in lows]
    for key in _KEYS:
        i = joined.find(key)
        while i != -1:
            j = bisect_right(starts, i) - 1
            found[j].add(key)
            i = joined.find(key, starts[j] + len(lows[j]) + 1)
    return [frozenset(keys) for keys in found]


class Sentence:
    """One unit, normalised: ``low`` lower-cased, ``cond`` without conditional clauses, ``live``
    also without hedged ones; all four strings share offsets."""

    def __init__(self, norm: str, low: str, present: frozenset[str] | None = None,
                 context: tuple[str, str] | None = None) -> None:
        self.context = context
        self.norm, self.low = norm, low
        #: The guard keys this unit contains.
        self.present = (frozenset(compress(_KEYS, map(low.__contains__, _KEYS)))
                        if present is None else present)
        self.cond = _blank(P.COND, low, self.present)
        self.live = _blank(P.MODAL, self.cond, self.present)
        self._bounds: tuple[list[int], list[int]] | None = None
        self.spans = ([(m.start(), m.end(), m.group(1)) for m in _SPAN.finditer(norm)]
                      if "`" in norm else [])
        self._paths: list[PathRef] | None = None
        self._runner: tuple[str | None, str | None] | None = None

    def scan(self, pattern: re.Pattern[str], text: str) -> Iterable[re.Match[str]]:
        """``pattern.finditer(text)``, skipped when the unit lacks every guard of the pattern."""
        keys = _GUARD.get(id(pattern))
        if keys is not None and self.present.isdisjoint(keys):
            return _NONE
        return pattern.finditer(text)

    def bounds(self) -> tuple[list[int], list[int]]:
        """Starts and ends of the clause boundaries."""
        if self._bounds is None:
            marks = [m.span() for m in P.CLAUSE.finditer(self.low)]
            self._bounds = [a for a, _ in marks], [b for _, b in marks]
        return self._bounds

    def window(self, pos: int) -> int:
        """Where the clause holding ``pos`` starts (at most 120 characters back)."""
        ends = self.bounds()[1]
        i = bisect_right(ends, pos) - 1
        return max(ends[i] if i >= 0 else 0, pos - 120)

    def clause_end(self, pos: int) -> int:
        starts = self.bounds()[0]
        i = bisect_left(starts, pos)
        return starts[i] if i < len(starts) else len(self.low)

    def negated(self, start: int, end: int) -> bool:
        return P.NEG.search(self.cond, self.window(start), end) is not None

    def in_span(self, pos: int) -> bool:
        return any(a < pos < b for a, b, _ in self.spans)

    def paths(self) -> list[PathRef]:
        if self._paths is None:
            quick = ("/" in self.norm or "file" in self.low or "CODEOWNERS" in self.norm or
                     _DOT_WORD.search(self.norm) is not None)
            self._paths = find_paths(self.norm, self.spans) if quick else []
        return self._paths

    def runner(self) -> tuple[str | None, str | None]:
        """The first test runner the unit names: (label, command when in a code span); else
        the test command of the command block just before the unit, if any."""
        if self._runner is None:
            best: tuple[int, str | None, str | None] = (len(self.low) + 1, None, None)
            for a, _, content in self.spans:
                found = classify(content)
                if found is not None and found[0] == "test":
                    best = (a, found[1], content)
                    break
            for m in P.PROSE_TOOL.finditer(self.low, 0, best[0]):
                label = classify(m.group())
                if label is not None and label[0] == "test" and not self.in_span(m.start()):
                    best = (m.start(), label[1], None)
                    break
            self._runner = best[1], best[2]
            if best[1] is None and self.context is not None:
                self._runner = self.context
        return self._runner


@dataclass(slots=True)
class Candidate:
    pos: int
    kind: ClaimKind
    paths: tuple[str, ...] = ()
    command: str | None = None
    count: int | None = None
    scope: Scope | None = None
    runner: str | None = None
    commit: str | None = None
