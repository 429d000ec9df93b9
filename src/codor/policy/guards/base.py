"""What every guard is: a compiled, I/O-free function from an action to findings.

A guard module exposes ``compile_guard(section, cc) -> Guard``. Compilation validates the
guard's configuration (through :class:`~codor.policy.schema.Section`, so every error has
``file:line``) and precompiles patterns; ``check`` then runs on every matching action and must
not do I/O except through :meth:`EvalContext.forms` (symlink resolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from codor.model import Action, Effect, Severity
from codor.policy.paths import normalize_path, resolved_forms
from codor.policy.patterns import GlobSet

if TYPE_CHECKING:
    from codor.policy.schema import Section

__all__ = ["CompileContext", "EvalContext", "Finding", "Guard", "Observations", "still_true"]

#: What one evaluation saw of the filesystem: each normalised path and its forms.
Observations = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """One guard's or rule's opinion on an action. ``rule`` is stable: ``paths.read.deny``."""

    effect: Effect
    rule: str
    guard: str | None
    severity: Severity
    message: str


class Guard(Protocol):
    """A compiled guard. ``kinds`` says which action kinds it wants to see."""

    name: str
    kinds: frozenset[str]

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]: ...


@dataclass(slots=True)
class CompileContext:
    """What guard compilers may use. ``guards`` holds the guards compiled before this one
    (``paths`` and ``secrets`` are compiled first so others can delegate to them)."""

    workspace: str
    home: str
    case_insensitive: bool = False
    warnings: list[str] = field(default_factory=list)
    guards: dict[str, Guard] = field(default_factory=dict)

    def globs(self, section: Section, key: str, *, warn_empty: bool = True) -> GlobSet:
        """Compile ``section[key]`` (a list of globs) with per-item locations."""
        patterns = section.strings(key, warn_empty=warn_empty)
        return GlobSet(
            patterns,
            workspace=self.workspace,
            home=self.home,
            case_insensitive=self.case_insensitive,
            locations=[section.item_loc(key, i) for i in range(len(patterns))],
        )

    def glob_list(self, patterns: Sequence[str]) -> GlobSet:
        return GlobSet(patterns, workspace=self.workspace, home=self.home,
                       case_insensitive=self.case_insensitive)


class EvalContext:
    """Per-decision state: one time snapshot, the directories, and a cache of path forms."""

    __slots__ = ("_forms", "cwd", "home", "now", "workspace")

    def __init__(self, now: float, workspace: str, home: str, cwd: str | None = None) -> None:
        self.now = now
        self.workspace = workspace
        self.home = home
        self.cwd = cwd or workspace
        self._forms: dict[str, tuple[str, ...]] = {}  # by normalised path

    def forms(self, raw: str, cwd: str | None = None) -> tuple[str, ...]:
        """Normalised and symlink-resolved forms of ``raw`` (raises ``ValueError`` on NUL).
        Resolution depends only on the normalised path, so ``a.py`` and ``/ws/a.py`` share
        one look at the disk."""
        norm = normalize_path(raw, cwd or self.cwd, self.home)
        got = self._forms.get(norm)
        if got is None:
            got = resolved_forms(norm, self.home)
            self._forms[norm] = got
        return got

    def observations(self) -> Observations:
        """Every path this evaluation resolved, with what it resolved to: the only facts
        from outside the action a decision may depend on."""
        return tuple(self._forms.items())

    def still_true(self, observations: Observations) -> bool:
        """Do these paths still resolve as they did? (Re-does the I/O, compares.)"""
        return still_true(observations, self.home)


def still_true(observations: Observations, home: str) -> bool:
    """Do these paths still resolve as they did? (Re-does the I/O, compares.)"""
    for norm, forms in observations:  # noqa: SIM110 - faster than all(<generator>) here
        if resolved_forms(norm, home) != forms:
            return False
    return True
