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


_WILD = frozenset("*?[]{}\\")


def _literal(text: str) -> bool:
    return bool(text) and not (_WILD & set(text))


class GlobSet:
    """Several globs, compiled for speed; :meth:`first` names the glob that matched.

    The common shapes of credential deny lists are answered without a regex: a literal file
    name (``.env``) by a dictionary lookup on the last segment, ``**/NAME/**`` by a lookup of
    every segment; other file-name globs (``*.p12``) by one regex over the last segment; the
    rest by one combined regex over the whole path.
    """

    __slots__ = ("_ci", "_combined", "_dirs", "_items", "_name_re", "_names", "_order",
                 "patterns")

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
        self._ci = case_insensitive
        fold = str.lower if case_insensitive else str
        self._order = {p: i for i, p in reversed(list(enumerate(self.patterns)))}
        self._names: dict[str, str] = {}
        self._dirs: dict[str, str] = {}
        name_globs: list[_Compiled] = []
        rest: list[_Compiled] = []
        for item in items:
            p = item.pattern
            if "/" not in p and _literal(p):
                self._names.setdefault(fold(p), p)
            elif p.startswith("**/") and p.endswith("/**") and _literal(p[3:-3]) \
                    and "/" not in p[3:-3]:
                self._dirs.setdefault(fold(p[3:-3]), p)
            elif "/" not in p and not p.startswith("~"):
                name_globs.append(_Compiled(p, re.compile(_translate(p, p), flags)))
            else:
                rest.append(item)
        self._name_re = (re.compile("|".join(f"(?:{c.regex.pattern})" for c in name_globs),
                                    flags), tuple(name_globs)) if name_globs else None
        self._combined = (re.compile("|".join(f"(?:{c.regex.pattern})" for c in rest), flags),
                          tuple(rest)) if rest else None

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def matches(self, path: str) -> bool:
        return self.first(path) is not None

    def first(self, path: str) -> str | None:
        """The first glob (in policy order) that matches ``path``, or ``None``."""
        hits: list[str] = []
        if self._names or self._dirs or self._name_re is not None:
            key = path.lower() if self._ci else path
            segments = key.split("/")
            name = segments[-1]
            hit = self._names.get(name)
            if hit is not None:
                hits.append(hit)
            if self._dirs:
                hits.extend(self._dirs[s] for s in segments if s in self._dirs)
            if self._name_re is not None and self._name_re[0].fullmatch(path.rpartition("/")[2]):
                base = path.rpartition("/")[2]
                hits.extend(c.pattern for c in self._name_re[1] if c.regex.fullmatch(base))
        if self._combined is not None and self._combined[0].fullmatch(path):
            hits.extend(c.pattern for c in self._combined[1] if c.regex.fullmatch(path))
        if not hits:
            return None
        return hits[0] if len(hits) == 1 else min(hits, key=self._order.__getitem__)


def compile_regex(
    pattern: str, *, location: str | None = None, flags: int = 0
) -> re.Pattern[str]:
    """Compile a user regex, turning ``re.error`` into a located :class:`PolicyPatternError`."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise PolicyPatternError(f"bad regular expression {pattern!r}: {exc}",
                                 location=location) from None
