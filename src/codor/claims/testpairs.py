"""What the test-weakening detectors share: pairing a file's tests before and after the
session (same name, moved, renamed), the lines one version has beyond the other, and the
finding they report."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Final, Protocol, TypeVar

from codor.claims.finding import Finding
from codor.claims.patterns import pattern

__all__ = ["RENAME_RATIO", "finding", "new_lines", "pair"]

#: how alike two tests' source must be to count as one test renamed
RENAME_RATIO: Final = 0.7
_RENAME_PAIRS_MAX: Final = 400


class _Test(Protocol):
    @property
    def source(self) -> str: ...


T = TypeVar("T", bound=_Test)


def pair(before: list[T], after: list[T], keys: Sequence[Callable[[T], object]]
         ) -> Iterator[tuple[T | None, T | None]]:
    """Pairs (before, after): matched by each key in turn (same file and name, then moved,
    then renamed...), then by similar source; ``None`` for a test with no partner."""
    left, right = dict(enumerate(before)), dict(enumerate(after))
    for key in keys:
        index: dict[object, list[int]] = {}
        for j, a in right.items():
            index.setdefault(key(a), []).append(j)
        for i, b in list(left.items()):
            found = index.get(key(b))
            if found:
                j = found.pop(0)
                del left[i]
                yield b, right.pop(j)
    rest_b, rest_a = list(left.values()), list(right.values())
    used_b: set[int] = set()
    used_a: set[int] = set()
    if len(rest_b) * len(rest_a) <= _RENAME_PAIRS_MAX:
        scored = []
        for i, b in enumerate(rest_b):
            for j, a in enumerate(rest_a):
                matcher = difflib.SequenceMatcher(None, b.source, a.source, autojunk=False)
                if matcher.quick_ratio() >= RENAME_RATIO:
                    scored.append((matcher.ratio(), i, j))
        for ratio, i, j in sorted(scored, reverse=True):
            if ratio >= RENAME_RATIO and i not in used_b and j not in used_a:
                used_b.add(i)
                used_a.add(j)
                yield rest_b[i], rest_a[j]
    yield from ((b, None) for i, b in enumerate(rest_b) if i not in used_b)
    yield from ((None, a) for j, a in enumerate(rest_a) if j not in used_a)


def new_lines(after: list[tuple[int, str]],
              before: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Entries of ``after`` beyond those of ``before`` (matched by text, then by count)."""
    if len(after) <= len(before):
        return []
    seen = Counter(text for _, text in before)
    fresh = []
    for line, text in after:
        if seen[text] > 0:
            seen[text] -= 1
        else:
            fresh.append((line, text))
    return fresh[:len(after) - len(before)]


def finding(pattern_id: str, message: str, path: str, line: int | None) -> Finding:
    """A finding of ``pattern_id`` at its default severity."""
    return Finding(pattern_id, pattern(pattern_id).severity, message, path=path, line=line)
