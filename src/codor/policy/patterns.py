"""Path globs and regular expressions, compiled once at policy load.

Glob language (documented in the README):

* ``*`` any run of characters within one path segment, ``?`` one character, ``[abc]`` /
  ``[!abc]`` a class, ``{a,b}`` alternatives (may nest);
* ``**`` as a whole segment: zero or more segments; ``dir/**`` also matches ``dir`` itself;
* a pattern without ``/`` matches the last segment anywhere (``*.pem`` = ``**/*.pem``);
* a pattern with ``/`` that is not absolute and does not start with ``**`` is anchored at the
  workspace (``src/**`` = ``${WORKSPACE}/src/**``); ``~/`` is the home directory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from codor.errors import PolicyPatternError

__all__ = ["GlobSet", "compile_regex", "glob_to_regex"]


def glob_to_regex(pattern: str, *, workspace: str = "", home: str = "") -> str:
    """Translate one glob into a regex source (to be used with ``fullmatch``)."""
    if not pattern:
        raise PolicyPatternError("empty glob pattern")
    if "\x00" in pattern:
        raise PolicyPatternError("glob pattern contains a NUL character")
    pat = pattern
    if pat == "~" or pat.startswith("~/"):
        pat = home.rstrip("/") + pat[1:]
    if "/" not in pat:
        pat = "**/" + pat
    elif not pat.startswith("/") and not pat.startswith("**"):
        pat = workspace.rstrip("/") + "/" + pat.removeprefix("./")
    while "//" in pat:
        pat = pat.replace("//", "/")
    if len(pat) > 1:
        pat = pat.rstrip("/") or "/"
    return _translate(pat, pattern)


def _translate(pat: str, original: str) -> str:
    out: list[str] = []
    i, n = 0, len(pat)
    depth = 0  # inside {...}
    while i < n:
        c = pat[i]
        if c == "*":
            if pat.startswith("**", i):
                at_start = i == 0 or pat[i - 1] == "/"
                at_end = i + 2 == n or pat[i + 2] == "/"
                if not (at_start and at_end):
                    raise PolicyPatternError(
                        f"bad glob {original!r}: '**' must be a whole path segment"
                    )
                if i + 2 == n:
                    # 'dir/**' matches dir itself and everything below it
                    if out and out[-1] == "/":
                        out.pop()
                        out.append("(?:/.*)?")
                    else:
                        out.append(".*")
                    i += 2
                else:
                    out.append("(?:[^/]*/)*" if i == 0 or pat[i - 1] == "/" else ".*/")
                    i += 3
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and pat[j] in "!^":
                j += 1
            if j < n and pat[j] == "]":
                j += 1
            while j < n and pat[j] != "]":
                j += 1
            if j >= n:
                raise PolicyPatternError(f"bad glob {original!r}: unclosed '['")
            body = pat[i + 1 : j]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = _class_body(body)
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = j
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pat[i]))
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise PolicyPatternError(f"bad glob {original!r}: unclosed '{{'")
    source = "".join(out)
    try:
        re.compile(source)
    except re.error as exc:
        raise PolicyPatternError(f"bad glob {original!r}: {exc}") from None
    return source


def _class_body(body: str) -> str:
    """Escape a glob character class for ``re``: only ``-`` ranges keep their meaning (and a
    doubled ``--``, a set operation in future Python, is escaped too)."""
    out: list[str] = []
    for i, c in enumerate(body):
        if c == "-" and 0 < i < len(body) - 1 and body[i - 1] != "-":
            out.append("-")
        else:
            out.append(re.escape(c))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Compiled:
    pattern: str
    regex: re.Pattern[str]


class GlobSet:
    """Several globs compiled into one regex; :meth:`first` names the glob that matched."""

    __slots__ = ("_combined", "_items", "patterns")

    def __init__(
        self,
        patterns: Sequence[str],
        *,
        workspace: str = "",
        home: str = "",
        case_insensitive: bool = False,
        locations: Sequence[str | None] = (),
    ) -> None:
        flags = re.IGNORECASE if case_insensitive else 0
        self.patterns = tuple(patterns)
        items: list[_Compiled] = []
        for i, p in enumerate(patterns):
            try:
                src = glob_to_regex(p, workspace=workspace, home=home)
            except PolicyPatternError as exc:
                loc = locations[i] if i < len(locations) else None
                raise PolicyPatternError(exc.message, location=loc) from None
            items.append(_Compiled(p, re.compile(src, flags)))
        self._items = tuple(items)
        self._combined = (
            re.compile("|".join(f"(?:{c.regex.pattern})" for c in items), flags) if items else None
        )

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def matches(self, path: str) -> bool:
        return self._combined is not None and self._combined.fullmatch(path) is not None

    def first(self, path: str) -> str | None:
        """The first glob (in policy order) that matches ``path``, or ``None``."""
        if self._combined is None or self._combined.fullmatch(path) is None:
            return None
        for item in self._items:
            if item.regex.fullmatch(path):
                return item.pattern
        return None  # pragma: no cover - combined and parts agree


def compile_regex(
    pattern: str, *, location: str | None = None, flags: int = 0
) -> re.Pattern[str]:
    """Compile a user regex, turning ``re.error`` into a located :class:`PolicyPatternError`."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise PolicyPatternError(f"bad regular expression {pattern!r}: {exc}",
                                 location=location) from None
