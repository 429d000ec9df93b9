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

from codor.errors import PolicyPatternError

__all__ = ["GlobSet", "compile_regex", "expand_glob", "glob_to_regex"]


def expand_glob(pattern: str, *, workspace: str = "", home: str = "") -> str:
    """A glob in its absolute form: ``~`` expanded, bare names as ``**/name``, relative
    patterns anchored at the workspace, doubled and trailing slashes removed."""
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
    return pat


def glob_to_regex(pattern: str, *, workspace: str = "", home: str = "") -> str:
    """Translate one glob into a regex source (to be used with ``fullmatch`` and
    ``re.DOTALL``: a file name may contain any character but ``/``)."""
    return _translate(expand_glob(pattern, workspace=workspace, home=home), pattern)


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
            cls = f"[^/{body}]" if negate else f"[{body}]"
            try:  # the only construct that can still be invalid (a reversed range: z-a)
                re.compile(cls)
            except re.error as exc:
                raise PolicyPatternError(f"bad glob {original!r}: {exc}") from None
            out.append(cls)
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
    return "".join(out)


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


class _Compiled:
    """One glob's regex, compiled on first use (most globs are answered by lookups)."""

    __slots__ = ("_regex", "flags", "pattern", "source")

    def __init__(self, pattern: str, source: str, flags: int) -> None:
        self.pattern, self.source, self.flags = pattern, source, flags
        self._regex: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            self._regex = re.compile(self.source, self.flags)
        return self._regex


_NONE = 1 << 62  # rank of "no match yet"
_WILD = frozenset("*?[]{}\\")


def _literal(text: str) -> bool:
    return bool(text) and not (_WILD & set(text))


class GlobSet:
    """Several globs, compiled for speed; :meth:`first` names the glob that matched.

    Most globs in real policies have a literal shape and are answered without a regex:
    an exact path (``/etc/shadow``) and a file name (``.env``) by dictionary lookups, a tree
    (``/etc/**``, ``${WORKSPACE}/**``) by a prefix test, a directory anywhere
    (``**/.ssh/**``) by a lookup of every segment, ``**/a/b/**`` and ``**/a/b`` by substring
    tests. File-name globs (``*.p12``) share one regex over the last segment; only the rest
    share one regex over the whole path.
    """

    __slots__ = ("_ci", "_combined", "_dirs", "_exact", "_infix", "_items", "_name_re",
                 "_names", "_order", "_prefixes", "_suffix", "patterns")

    def __init__(
        self,
        patterns: Sequence[str],
        *,
        workspace: str = "",
        home: str = "",
        case_insensitive: bool = False,
        locations: Sequence[str | None] = (),
    ) -> None:
        flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
        self.patterns = tuple(patterns)
        self._ci = case_insensitive
        fold = str.lower if case_insensitive else str
        self._order = {p: i for i, p in reversed(list(enumerate(self.patterns)))}
        self._exact: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._dirs: dict[str, str] = {}
        prefixes: list[tuple[str, str]] = []
        infix: list[tuple[str, str]] = []
        suffix: list[tuple[str, str]] = []
        name_globs: list[_Compiled] = []
        rest: list[_Compiled] = []
        items: list[_Compiled] = []
        for i, p in enumerate(patterns):
            try:
                full = expand_glob(p, workspace=workspace, home=home)
                item = _Compiled(p, _translate(full, p), flags)
            except PolicyPatternError as exc:
                loc = locations[i] if i < len(locations) else None
                raise PolicyPatternError(exc.message, location=loc) from None
            items.append(item)
            key = fold(full)
            if key.startswith("/") and _literal(key):
                self._exact.setdefault(key, p)
            elif key.startswith("/") and key.endswith("/**") and _literal(key[:-3] or "/"):
                prefixes.append((key[:-3], p))
            elif key == "/**":
                prefixes.append(("", p))
            elif key.startswith("**/"):
                body = key[3:]
                mid = body[:-3] if body.endswith("/**") else None
                if mid is not None and _literal(mid):
                    if "/" in mid:
                        infix.append((f"/{mid}/", p))
                    else:
                        self._dirs.setdefault(mid, p)
                elif mid is None and _literal(body):
                    if "/" in body:
                        suffix.append((f"/{body}", p))
                    else:
                        self._names.setdefault(body, p)
                elif mid is None and "/" not in body and "**" not in body:
                    name_globs.append(_Compiled(p, _translate(full[3:], p), flags))
                else:
                    rest.append(item)
            else:
                rest.append(item)
        self._items = tuple(items)
        self._prefixes: dict[str, str] = {}
        for prefix, pattern in prefixes:
            self._prefixes.setdefault(prefix, pattern)
        self._infix = tuple(infix)
        self._suffix = tuple(suffix)
        self._name_re = (re.compile("|".join(f"(?:{c.source})" for c in name_globs), flags),
                         tuple(name_globs)) if name_globs else None
        self._combined = (re.compile("|".join(f"(?:{c.source})" for c in rest), flags),
                          tuple(rest)) if rest else None

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def matches(self, path: str) -> bool:
        """Whether any glob matches ``path`` — :meth:`first` without the policy-order
        bookkeeping: the first hit answers."""
        key = path.lower() if self._ci else path
        if key in self._exact:
            return True
        prefixes = self._prefixes
        if prefixes:
            ancestor = key
            while True:  # the path itself, then each parent, then "" (for "/**")
                if ancestor in prefixes:
                    return True
                cut = ancestor.rfind("/")
                if cut < 0:
                    break
                ancestor = ancestor[:cut]
        if self._names or self._dirs:
            segments = key.split("/")
            if segments[-1] in self._names:
                return True
            dirs = self._dirs
            if dirs and any(segment in dirs for segment in segments):
                return True
        if self._infix:
            padded = key + "/"
            if any(needle in padded for needle, _ in self._infix):
                return True
        if self._suffix and any(key.endswith(needle) for needle, _ in self._suffix):
            return True
        if self._name_re is not None and self._name_re[0].fullmatch(path.rpartition("/")[2]):
            return True
        return self._combined is not None and self._combined[0].fullmatch(path) is not None

    def first(self, path: str) -> str | None:
        """The first glob (in policy order) that matches ``path``, or ``None``."""
        key = path.lower() if self._ci else path
        order = self._order
        best: str | None = self._exact.get(key)
        rank = order[best] if best is not None else _NONE
        prefixes = self._prefixes
        if prefixes:
            ancestor = key
            while True:  # the path itself, then each parent, then "" (for "/**")
                hit = prefixes.get(ancestor)
                if hit is not None and order[hit] < rank:
                    best, rank = hit, order[hit]
                cut = ancestor.rfind("/")
                if cut < 0:
                    break
                ancestor = ancestor[:cut]
        if self._names or self._dirs:
            segments = key.split("/")
            hit = self._names.get(segments[-1])
            if hit is not None and order[hit] < rank:
                best, rank = hit, order[hit]
            dirs = self._dirs
            if dirs:
                for segment in segments:
                    hit = dirs.get(segment)
                    if hit is not None and order[hit] < rank:
                        best, rank = hit, order[hit]
        if self._infix:
            padded = key + "/"
            for needle, hit in self._infix:
                if needle in padded and order[hit] < rank:
                    best, rank = hit, order[hit]
        for needle, hit in self._suffix:
            if key.endswith(needle) and order[hit] < rank:
                best, rank = hit, order[hit]
        if self._name_re is not None:
            base = path.rpartition("/")[2]
            if self._name_re[0].fullmatch(base):
                for c in self._name_re[1]:
                    if order[c.pattern] < rank and c.regex.fullmatch(base):
                        best, rank = c.pattern, order[c.pattern]
        if self._combined is not None and self._combined[0].fullmatch(path):
            for c in self._combined[1]:
                if order[c.pattern] < rank and c.regex.fullmatch(path):
                    best, rank = c.pattern, order[c.pattern]
        return best


def compile_regex(
    pattern: str, *, location: str | None = None, flags: int = 0
) -> re.Pattern[str]:
    """Compile a user regex, turning ``re.error`` into a located :class:`PolicyPatternError`."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise PolicyPatternError(f"bad regular expression {pattern!r}: {exc}",
                                 location=location) from None
