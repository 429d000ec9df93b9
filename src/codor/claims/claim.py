"""What an agent says it did: :class:`Claim`, each with the span of the report it came from.

Claims are extracted from a final report (:mod:`codor.claims.extract`) or given as structured
JSON (:func:`Claim.from_json`, the schema in the README). A claim is never evidence; verifiers
check it against what the session's ledger shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

__all__ = ["CLAIM_KINDS", "SCOPES", "Claim", "ClaimKind", "Scope", "Span"]

#: Kinds of claim, and what each asserts:
#:
#: - ``tests.pass``: tests pass (``count`` = claimed number passing; ``scope`` ``all`` when the
#:   whole suite is claimed, ``subset`` for "the parser tests pass"; ``runner`` when named).
#: - ``tests.fail``: an honest report that tests fail (``count`` = claimed failures).
#: - ``tests.not_run``: the agent says it did not (or could not) run the tests.
#: - ``tests.added``: tests were added or written (``count``, ``paths`` when named).
#: - ``file.created`` / ``file.modified`` / ``file.deleted``: ``paths`` as written in the report.
#: - ``command.ran``: ``command`` was run.
#: - ``git.commit``: ``commit`` (a hex prefix) was committed.
#: - ``build.pass`` / ``lint.pass`` / ``typecheck.pass``: the build, the linter, the type
#:   checker succeeded (``command`` when named).
#: - ``browser.verified``: checked by hand or in a browser.
#: - ``vague``: evidence words with nothing checkable ("thoroughly tested", "works end to end").
#: - ``attribution``: work attributed to someone else ("the team finished the modal").
ClaimKind = Literal[
    "tests.pass", "tests.fail", "tests.not_run", "tests.added",
    "file.created", "file.modified", "file.deleted",
    "command.ran", "git.commit",
    "build.pass", "lint.pass", "typecheck.pass",
    "browser.verified", "vague", "attribution",
]
CLAIM_KINDS: Final[tuple[str, ...]] = get_args(ClaimKind)
Scope = Literal["all", "subset"]
SCOPES: Final[tuple[str, ...]] = get_args(Scope)


@dataclass(frozen=True, slots=True)
class Span:
    """Character offsets ``[start, end)`` into the report text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if type(self.start) is not int or type(self.end) is not int or \
                not 0 <= self.start <= self.end:
            raise ValueError("span must be integers 0 <= start <= end")

    def to_json(self) -> list[int]:
        return [self.start, self.end]


@dataclass(frozen=True, slots=True)
class Claim:
    """One checkable (or explicitly uncheckable) statement of an agent's report.

    ``text`` is the statement as written (the report's text at ``span``, or the JSON claim's
    ``text``). Only the fields the kind uses are set.
    """

    kind: ClaimKind
    text: str
    span: Span | None = None
    paths: tuple[str, ...] = ()
    command: str | None = None
    count: int | None = None
    scope: Scope | None = None
    runner: str | None = None
    commit: str | None = None
    source: Literal["text", "json"] = "text"
    extra: tuple[tuple[str, str], ...] = field(default=())  # free-form detail, sorted

    def __post_init__(self) -> None:
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"unknown claim kind {self.kind!r}; known: {', '.join(CLAIM_KINDS)}")
        if not isinstance(self.text, str):
            raise ValueError("claim text must be a string")
        if self.scope is not None and self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        if self.count is not None and (type(self.count) is not int or self.count < 0):
            raise ValueError("count must be a non-negative integer")
        if not isinstance(self.paths, tuple) or not all(isinstance(p, str) and p
                                                         for p in self.paths):
            raise ValueError("paths must be a tuple of non-empty strings")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text, "source": self.source}
        if self.span is not None:
            out["span"] = self.span.to_json()
        if self.paths:
            out["paths"] = list(self.paths)
        for name in ("command", "count", "scope", "runner", "commit"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.extra:
            out["extra"] = dict(self.extra)
        return out
