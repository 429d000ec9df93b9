"""TDD exemptions: the paths that need no test first, the check of a requested exemption
(:func:`check_exemption`) and the matcher of the active ones (:class:`ExemptionSet`). Pure (no
I/O, no state): the store (:mod:`codor.runtime.workflowstore`) records exemptions, and every
phase (:mod:`codor.runtime.workflow`) allows a write an active exemption covers.

**TDD exemptions** (:func:`check_exemption`) cover one category of paths that need no test
first: ``config``, ``docs``, ``assets`` or ``type-only``, each with default patterns
(:data:`DEFAULT_PATTERNS`). Requested patterns must stay within the category: the literal
extension of the last segment must be one of the category's (``*.pyi`` for type-only), or the
last segment a name of the category (``Makefile``), or a wildcard under one of the category's
directories (``docs/**``); ``src/**/*.py`` is refused for every category. Patterns are the
policy's globs (:class:`codor.policy.patterns.GlobSet`), relative to the workspace. At match
time a path must also fit its category: no exemption covers a test file, and a docs or assets
exemption never covers code (``docs/conf.py``, ``requirements.txt``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from codor.errors import PolicyPatternError
from codor.runtime.workflowerrors import WorkflowError
from codor.runtime.workflowpaths import _is_test

if TYPE_CHECKING:
    from codor.policy.patterns import GlobSet

__all__ = [
    "DEFAULT_PATTERNS",
    "EXEMPTION_CATEGORIES",
    "Exemption",
    "ExemptionError",
    "ExemptionSet",
    "check_exemption",
]


class ExemptionError(WorkflowError):
    """A TDD exemption request that is not valid: unknown category, or a pattern outside it."""

    code = "E_WORKFLOW_EXEMPTION"


EXEMPTION_CATEGORIES: Final[tuple[str, ...]] = ("config", "docs", "assets", "type-only")

DEFAULT_PATTERNS: Final[Mapping[str, tuple[str, ...]]] = {
    "config": ("*.toml", "*.ini", "*.cfg", "*.yaml", "*.yml", "*.json", ".github/**",
               "Makefile", "Dockerfile", ".editorconfig", ".gitignore", ".gitattributes",
               ".dockerignore"),
    "docs": ("*.md", "*.rst", "*.txt", "*.adoc", "docs/**"),
    "assets": ("*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.ico", "*.webp", "*.bmp",
               "*.woff", "*.woff2", "*.ttf", "*.otf", "*.eot", "*.mp3", "*.mp4", "*.wav",
               "*.webm", "*.css"),
    "type-only": ("*.pyi", "*.d.ts", "*.d.mts", "*.d.cts"),
}
_SUFFIXES: Final[Mapping[str, tuple[str, ...]]] = {
    "config": (".toml", ".ini", ".cfg", ".yaml", ".yml", ".json", ".jsonc", ".json5",
               ".conf", ".properties"),
    "docs": (".md", ".markdown", ".rst", ".txt", ".adoc", ".org"),
    "assets": (".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".bmp", ".tiff",
               ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4", ".wav", ".webm",
               ".ogg", ".css"),
    "type-only": (".pyi", ".d.ts", ".d.mts", ".d.cts"),
}
_NAMES: Final[Mapping[str, frozenset[str]]] = {
    "config": frozenset({"makefile", "gnumakefile", "dockerfile", ".editorconfig",
                         ".gitignore", ".gitattributes", ".dockerignore"}),
    "docs": frozenset({"license", "licence", "copying", "authors", "notice", "changelog",
                       "readme", "contributing"}),
    "assets": frozenset(),
    "type-only": frozenset(),
}
_DIRS: Final[Mapping[str, frozenset[str]]] = {
    "config": frozenset({".github", ".gitlab", ".circleci", ".devcontainer"}),
    "docs": frozenset({"docs", "doc", "documentation"}),
    "assets": frozenset({"images", "img", "fonts", "media", "icons"}),
    "type-only": frozenset(),
}
_WILDCARDS: Final = frozenset("*?[]")
_MAX_PATTERNS: Final = 64
_MAX_PATTERN_LEN: Final = 300


def _expand_braces(pattern: str, budget: list[int]) -> list[str]:
    """``a{b,c}d`` as ``abd``, ``acd`` (nested braces too; at most :data:`_MAX_PATTERNS`)."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        c = pattern[end]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                break
    else:
        return [pattern]  # unclosed: the glob compiler reports it
    body = pattern[start + 1:end]
    options: list[str] = []
    depth, last = 0, 0
    for i, c in enumerate(body):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            options.append(body[last:i])
            last = i + 1
    options.append(body[last:])
    out: list[str] = []
    for option in options:
        for rest in _expand_braces(pattern[:start] + option + pattern[end + 1:], budget):
            budget[0] -= 1
            if budget[0] < 0:
                raise ExemptionError(f"pattern {pattern!r} expands to more than "
                                     f"{_MAX_PATTERNS} alternatives", location=pattern)
            out.append(rest)
    return out


def _fits(category: str, pattern: str) -> bool:
    """Whether one brace-free pattern stays within ``category`` (see the module doc)."""
    segments = [s for s in pattern.split("/") if s not in ("", ".")]
    if not segments:
        return False
    last, dirs = segments[-1], segments[:-1]
    cut = max((i for i, c in enumerate(last) if c in _WILDCARDS), default=-1)
    tail = last[cut + 1:].lower()
    if "." in tail.lstrip(".") or (tail.startswith(".") and cut >= 0):
        return any(tail.endswith(s) for s in _SUFFIXES[category]) or \
            (cut < 0 and tail in _NAMES[category])
    if cut < 0:
        return tail in _NAMES[category]
    lead = [d for d in dirs if d != "**"][:1]
    first_real = next((i for i, d in enumerate(dirs) if d != "**"), None)
    if not lead or first_real is None or any(c in _WILDCARDS for c in lead[0]):
        return False
    return first_real <= 1 and lead[0].lower() in _DIRS[category]


def _path_fits(category: str, rel: str) -> bool:
    """Whether a concrete path is one the category may cover (no tests; no code for docs and
    assets; type stubs only for type-only)."""
    from codor.claims.pathkinds import is_code_path

    if _is_test(rel):
        return False
    low = rel.lower()
    if category == "type-only":
        return low.endswith(_SUFFIXES["type-only"])
    if category == "assets":
        return low.endswith(_SUFFIXES["assets"])
    if category == "docs":
        return not is_code_path(rel)
    return True  # config: configuration is code, and that is what it exempts


def check_exemption(category: str, patterns: Iterable[str] | None = None) -> tuple[str, ...]:
    """The patterns of a valid exemption of ``category`` (its defaults when ``patterns`` is
    empty); raises :class:`ExemptionError` naming the first pattern that is not."""
    from codor.policy.patterns import GlobSet

    if category not in EXEMPTION_CATEGORIES:
        raise ExemptionError(f"unknown exemption category {category!r} (one of "
                             f"{', '.join(EXEMPTION_CATEGORIES)})", location="category")
    items = list(patterns or ())
    if any(not isinstance(p, str) for p in items):
        raise ExemptionError("patterns must be strings", location="patterns")
    given = [p.strip() for p in items]
    if not given:
        return DEFAULT_PATTERNS[category]
    if len(given) > _MAX_PATTERNS:
        raise ExemptionError(f"at most {_MAX_PATTERNS} patterns", location="patterns")
    out: list[str] = []
    for pattern in given:
        if not pattern or len(pattern) > _MAX_PATTERN_LEN or "\x00" in pattern or \
                any(ord(c) < 32 for c in pattern):
            raise ExemptionError(f"a pattern is 1 to {_MAX_PATTERN_LEN} printable characters",
                                 location=pattern[:60] or "patterns")
        if pattern.startswith(("/", "~")) or ".." in pattern.split("/"):
            raise ExemptionError(f"pattern {pattern!r} must be relative to the workspace (no "
                                 "leading / or ~, no ..)", location=pattern)
        try:
            GlobSet([pattern])
        except PolicyPatternError as exc:
            raise ExemptionError(exc.message, location=pattern) from None
        for alternative in _expand_braces(pattern, [_MAX_PATTERNS]):
            if not _fits(category, alternative):
                allowed = ", ".join(f"*{s}" for s in _SUFFIXES[category])
                dirs = ", ".join(f"{d}/**" for d in sorted(_DIRS[category]))
                raise ExemptionError(
                    f"a {category} exemption cannot cover {alternative!r}: its patterns must "
                    f"name {allowed}{' or ' + dirs if dirs else ''} (ask for the right "
                    "category, or write a test first)", location=pattern)
        if pattern not in out:
            out.append(pattern)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Exemption:
    """One recorded exemption: ``session`` ``None`` means the whole workspace."""

    id: str
    category: str
    patterns: tuple[str, ...]
    reason: str
    by: str
    session: str | None = None
    created: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "category": self.category, "patterns": list(self.patterns),
                "reason": self.reason, "by": self.by, "session": self.session,
                "scope": "workspace" if self.session is None else "session",
                "created": self.created}


class ExemptionSet:
    """Active exemptions compiled into one :class:`~codor.policy.patterns.GlobSet` (the
    policy's glob matcher) over ``/``-prefixed workspace-relative paths."""

    __slots__ = ("_by_pattern", "_globs", "exemptions")

    def __init__(self, exemptions: Sequence[Exemption] = ()) -> None:
        from codor.policy.patterns import GlobSet

        self.exemptions = tuple(exemptions)
        self._by_pattern: dict[str, list[Exemption]] = {}
        for ex in self.exemptions:
            for p in ex.patterns:
                self._by_pattern.setdefault(p, []).append(ex)
        self._globs: GlobSet | None = GlobSet(list(self._by_pattern)) \
            if self._by_pattern else None

    def __bool__(self) -> bool:
        return bool(self.exemptions)

    def match(self, rel: str) -> Exemption | None:
        """The exemption covering workspace-relative ``rel``, or ``None``."""
        if self._globs is None:
            return None
        key = "/" + rel.lstrip("/")
        if self._globs.first(key) is None:  # one lookup answers the usual case: no match
            return None
        for ex in self.exemptions:  # patterns overlap across categories: the first that fits
            if _path_fits(ex.category, rel) and any(_glob_one(p).matches(key)
                                                    for p in ex.patterns):
                return ex
        return None


@functools.lru_cache(maxsize=1024)
def _glob_one(pattern: str) -> GlobSet:
    from codor.policy.patterns import GlobSet

    return GlobSet([pattern])


_EMPTY_EXEMPTIONS: Final = ExemptionSet()
