"""Workflow modes: what an agent may do at each step of its work, and the evidence it needs to
take the next step — the agent-kernel seed's strict / explore / debug state machine.

This module is pure (no I/O, no state): the modes, their phases and the transition table, what
each phase allows (:func:`allows`, over an action's facts from
:mod:`codor.runtime.workflowactions`) and the transition paths the gate may take
(:func:`plan_paths`, :func:`check_path`). Its parts, all re-exported here: the guards
(:mod:`codor.runtime.workflowguards`) over an :class:`Evidence` view of a session's ledger
entries (:mod:`codor.runtime.workflowevidence`), the TDD exemptions
(:mod:`codor.runtime.exemptions`), path kinds (:mod:`codor.runtime.workflowpaths`) and the
errors (:mod:`codor.runtime.workflowerrors`).
Persistence is :mod:`codor.runtime.workflowstore`, enforcement :mod:`codor.runtime.gate`,
coverage reports :mod:`codor.runtime.coverage`.

**Modes and phases** (the first phase is where a session of that mode starts)::

    strict   planning → test_writing → code_writing → validating → reviewing → committing
             → planning (the next task)
             back-edges: code_writing → test_writing (more tests), validating → code_writing,
                         reviewing → code_writing (changes requested)
    explore  exploring → retro_testing → validating → reviewing → committing → exploring
             back-edges: validating → exploring, reviewing → exploring (changes requested)
    debug    debugging (one phase; entered from any phase of strict or explore, see below)

A session with no mode (or mode ``off``) is unrestricted: the gate leaves its decisions alone.

**What each phase allows.** Reads, listings and searches are allowed in every phase; network
requests, tool calls and content checks are left to the policy. "Writes" are ``file.write``,
``patch.apply`` and ``file.delete``, and a command that writes a test or code file (a
redirection, ``tee``, ``cp``, ``sed -i``...: :func:`codor.policy.shell.write_targets`) is
judged like a write of that file. A write matching an active TDD exemption is allowed in every
phase. Nothing here ever allows what the policy refused.

    phase          writes allowed to          commands
    planning       exempted paths only        all but git commit / git push
    test_writing   tests                      all but git commit / git push
    code_writing   tests and code             all but git commit / git push
    validating     none                       all but git commit / git push
    reviewing      none                       all but git commit / git push
    committing     none                       git commit (push left to the policy)
    exploring      anywhere                   git commit with a warning (an *unverified*
                                              commit), no git push
    retro_testing  tests                      all but git commit / git push
    debugging      tests and code             all but git commit / git push

Test paths are :func:`codor.claims.pathkinds.is_test_path` and any file under a ``tests/``,
``test/``, ``__tests__/`` or ``testdata/`` directory (fixtures); code is
:func:`~codor.claims.pathkinds.is_code_path` (sources, build files, configuration, manifests).
Anything else (documentation, images) is written in ``exploring`` or through an exemption.
In a session with a mode, a command that runs ``codor mode set`` or ``codor mode approve`` is
refused (rule ``workflow.self-approval``): a person changes the mode and approves, not the
agent under it.

**Guards** are evaluated from the session's ledger evidence (what CODOR and the agent's
harness observed: decisions and outcomes), never from what the agent says. "Since entering"
means after the ledger index of the ``workflow.phase`` event that entered the phase. A *test
run* is a command whose invocations (:func:`codor.claims.runners.invocations`) include a
test runner and that has a recorded outcome; its output is read with
:func:`codor.claims.runners.parse_output`. It *fails* when the summary reports a failed test,
or errors together with a nonzero exit status (a collection error — the test imports code that
does not exist yet — counts, as it does in TDD; a run that collected nothing does not). It
*passes* when the summary says success (at least one test passed, none failed, no error) and
the exit status is 0 (or not reported, as Claude Code's hooks do for a command that succeeded).

    transition                        guard
    planning → test_writing           none
    test_writing → code_writing       failing_test: since entering test_writing a test file
                                      was written, and a test run after the last such write
                                      shows a failing test
    code_writing → test_writing       none
    code_writing → validating         passing_after_change: since entering code_writing, the
                                      last test run after the last test/code write passed
    validating → code_writing         none
    validating → reviewing            validated: the last whole-suite test run (no -k, no file
                                      or test selection) since entering validating passed,
                                      and the coverage budget is not locked
    reviewing → code_writing          none
    reviewing → committing            review_approved: a person or a reviewer agent other than
                                      the session's own agent approved since entering
    committing → planning/exploring   committed: a git commit ran with exit status 0 since
                                      entering committing
    exploring → retro_testing         none
    retro_testing → validating        retro_tested: a test file was written in the session and
                                      the last test run after the last test/code write passed
    validating/reviewing → exploring  coverage_unlocked: the coverage budget is not locked
    (any strict/explore) → debugging  repeated_failures: the last N test runs (N = 3 by
                                      default) all failed — and a person approved the request

Transitions happen on request (:meth:`~codor.runtime.workflowstore.WorkflowStore.advance`;
without a target the forward phase) and automatically: when the current phase refuses an action
and a phase one or two steps away allows it and every guard on the way holds, the gate moves the
session there (recorded) and lets the action through. A refusal names the missing guard and the
evidence that would satisfy it.

**Debug** is an ``ask``: :meth:`~codor.runtime.workflowstore.WorkflowStore.request_debug`
records a pending request (refused unless ``repeated_failures`` holds); a person answers it
(``approve_debug`` / ``deny_debug``, recorded). Leaving debug (``advance`` or ``leave_debug``)
returns to the mode it came from: to ``code_writing`` (strict) or ``exploring`` (explore) when
the fix is in — a passing test run after the last write in debugging — else to the phase it
came from.

**Explore** commits are allowed with a warning and recorded as *unverified*
(``workflow.commit.unverified``, with the decision's ledger index); when a later
validating → reviewing guard holds, every earlier unverified commit of the session is recorded
as verified (``workflow.commit.verified``).

**TDD exemptions** (:func:`check_exemption`, see :mod:`codor.runtime.exemptions`) cover one
category of paths that need no test first: ``config``, ``docs``, ``assets`` or ``type-only``,
each with default patterns (:data:`DEFAULT_PATTERNS`) and requested patterns kept within the
category.

**Coverage budget** (read by the store, see :mod:`codor.runtime.coverage`): a drop of 2
percentage points below the baseline adds a warning to every allowed write and commit; 5 points
locks explore (``set_mode(explore)`` is refused, an exploring session is moved to
``retro_testing``) and fails the ``validated`` guard, until coverage recovers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, Literal, get_args

from codor.runtime.exemptions import (
    DEFAULT_PATTERNS,
    EXEMPTION_CATEGORIES,
    Exemption,
    ExemptionError,
    ExemptionSet,
    check_exemption,
)
from codor.runtime.workflowactions import ActionFacts, Target, classify
from codor.runtime.workflowerrors import GuardError, WorkflowError, WorkflowTransitionError
from codor.runtime.workflowevidence import Evidence, RunFact, WriteFact, evidence_from
from codor.runtime.workflowguards import (
    _GUARD_FUNCS,
    DEBUG_GUARD,
    GuardContext,
    GuardResult,
    evaluate_guard,
    fix_is_in,
)
from codor.runtime.workflowpaths import relative_path

if TYPE_CHECKING:
    from codor.model import Action

__all__ = [
    "DEBUG_GUARD",
    "DEFAULT_PATTERNS",
    "EXEMPTION_CATEGORIES",
    "FIRST_PHASE",
    "GUARDS",
    "MODES",
    "PHASES",
    "PHASE_NAMES",
    "TRANSITIONS",
    "ActionFacts",
    "Evidence",
    "Exemption",
    "ExemptionError",
    "ExemptionSet",
    "GuardContext",
    "GuardError",
    "GuardResult",
    "Mode",
    "Phase",
    "RunFact",
    "Target",
    "Verdict",
    "WorkflowError",
    "WorkflowTransitionError",
    "WriteFact",
    "allows",
    "allows_facts",
    "check_exemption",
    "check_mode",
    "check_path",
    "classify",
    "describe_phase",
    "evaluate_guard",
    "evidence_from",
    "fix_is_in",
    "guard_for",
    "next_phase",
    "next_text",
    "plan_paths",
    "relative_path",
]

Mode = Literal["strict", "explore", "debug"]
MODES: Final[tuple[str, ...]] = get_args(Mode)
Phase = Literal["planning", "test_writing", "code_writing", "validating", "reviewing",
                "committing", "exploring", "retro_testing", "debugging"]
PHASE_NAMES: Final[tuple[str, ...]] = get_args(Phase)

#: each mode's phases, the first one where a session of that mode starts
PHASES: Final[Mapping[str, tuple[str, ...]]] = {
    "strict": ("planning", "test_writing", "code_writing", "validating", "reviewing",
               "committing"),
    "explore": ("exploring", "retro_testing", "validating", "reviewing", "committing"),
    "debug": ("debugging",),
}
FIRST_PHASE: Final[Mapping[str, str]] = {mode: phases[0] for mode, phases in PHASES.items()}

#: (mode, phase) -> the phases it may move to, the forward one first
TRANSITIONS: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    ("strict", "planning"): ("test_writing",),
    ("strict", "test_writing"): ("code_writing",),
    ("strict", "code_writing"): ("validating", "test_writing"),
    ("strict", "validating"): ("reviewing", "code_writing"),
    ("strict", "reviewing"): ("committing", "code_writing"),
    ("strict", "committing"): ("planning",),
    ("explore", "exploring"): ("retro_testing",),
    ("explore", "retro_testing"): ("validating",),
    ("explore", "validating"): ("reviewing", "exploring"),
    ("explore", "reviewing"): ("committing", "exploring"),
    ("explore", "committing"): ("exploring",),
    ("debug", "debugging"): (),
}

#: (mode, from, to) -> the guard that must hold (``none``: always)
GUARDS: Final[Mapping[tuple[str, str, str], str]] = {
    ("strict", "planning", "test_writing"): "none",
    ("strict", "test_writing", "code_writing"): "failing_test",
    ("strict", "code_writing", "validating"): "passing_after_change",
    ("strict", "code_writing", "test_writing"): "none",
    ("strict", "validating", "reviewing"): "validated",
    ("strict", "validating", "code_writing"): "none",
    ("strict", "reviewing", "committing"): "review_approved",
    ("strict", "reviewing", "code_writing"): "none",
    ("strict", "committing", "planning"): "committed",
    ("explore", "exploring", "retro_testing"): "none",
    ("explore", "retro_testing", "validating"): "retro_tested",
    ("explore", "validating", "reviewing"): "validated",
    ("explore", "validating", "exploring"): "coverage_unlocked",
    ("explore", "reviewing", "committing"): "review_approved",
    ("explore", "reviewing", "exploring"): "coverage_unlocked",
    ("explore", "committing", "exploring"): "committed",
}
assert {(m, a, b) for (m, a), tos in TRANSITIONS.items() for b in tos} == set(GUARDS)
assert all(p in PHASES[m] for (m, p) in TRANSITIONS)
assert set(GUARDS.values()) | {DEBUG_GUARD} == set(_GUARD_FUNCS)


_WRITES: Final[Mapping[str, frozenset[str]]] = {
    "planning": frozenset(),
    "test_writing": frozenset({"test"}),
    "code_writing": frozenset({"test", "code"}),
    "validating": frozenset(),
    "reviewing": frozenset(),
    "committing": frozenset(),
    "exploring": frozenset({"test", "code", "other"}),
    "retro_testing": frozenset({"test"}),
    "debugging": frozenset({"test", "code"}),
}
_WRITES_TEXT: Final[Mapping[str, str]] = {
    "planning": "writes nothing but exempted paths",
    "test_writing": "writes tests (and exempted paths) only",
    "code_writing": "writes tests and code (and exempted paths) only",
    "validating": "writes nothing (write code again to go back to code_writing)",
    "reviewing": "writes nothing (a change goes back to code_writing)",
    "committing": "writes nothing: commit the reviewed work",
    "exploring": "writes anywhere the policy allows",
    "retro_testing": "writes tests (and exempted paths) only",
    "debugging": "writes tests and code (and exempted paths) only",
}
_NEXT_TEXT: Final[Mapping[str, str]] = {
    "planning": "plan the task, then write a test (the session moves to test_writing)",
    "test_writing": "write a test, run it and see it fail; code comes after",
    "code_writing": "write the code the failing test asks for, then run the tests",
    "validating": "run the whole test suite; it must pass",
    "reviewing": "wait for the review approval (`codor mode approve --session {session} "
                 "review`, by a person or a reviewer agent)",
    "committing": "commit the reviewed work (git commit)",
    "exploring": "explore; write tests for it in retro_testing",
    "retro_testing": "write tests for the code you explored and run them until they pass",
    "debugging": "fix the failure; leave debug with `codor mode advance --session {session}`",
}
_COMMANDS_TEXT: Final[Mapping[str, str]] = {
    "committing": "git commit (push is left to the policy); other commands too",
    "exploring": "all; git commit is recorded as unverified; no git push",
}
_COMMIT_PHASES: Final = frozenset({"committing", "exploring"})
_PUSH_PHASES: Final = frozenset({"committing"})


# =========================================================================== the transition table


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise WorkflowError(f"unknown mode {mode!r} (one of {', '.join(MODES)}, or off)",
                            location="mode")
    return mode


def next_phase(mode: str, phase: str) -> str | None:
    """The forward phase from ``phase`` (``None`` in debug, which is left, not advanced)."""
    tos = TRANSITIONS.get((mode, phase))
    return tos[0] if tos else None


def guard_for(mode: str, phase: str, to: str) -> str:
    """The guard of ``phase → to`` in ``mode``; a move the table does not have raises
    :class:`WorkflowTransitionError`."""
    guard = GUARDS.get((mode, phase, to))
    if guard is None:
        allowed = ", ".join(TRANSITIONS.get((mode, phase), ())) or "nothing (leave debug)"
        raise WorkflowTransitionError(
            f"{mode} mode cannot go from {phase} to {to} (from {phase}: {allowed})")
    return guard


# ============================================================================ what phases allow


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the phase says about an action. ``rule`` names why it refused
    (``workflow.phase``, ``workflow.self-approval``); ``warnings`` go on an allowed decision;
    ``refused`` is the first target or verb the phase refused."""

    allowed: bool
    rule: str = ""
    message: str = ""
    warnings: tuple[str, ...] = ()
    refused: str = ""


_ALLOWED: Final = Verdict(True)


def _label(mode: str, phase: str) -> str:
    return f"{mode} mode, phase {phase}"


def allows_facts(mode: str | None, phase: str | None, facts: ActionFacts) -> Verdict:
    """What ``phase`` of ``mode`` says about an action already classified."""
    if mode not in MODES or phase is None or facts.family in ("read", "other"):
        return _ALLOWED
    label = _label(mode, phase)
    warnings: list[str] = []
    if facts.family == "command":
        if facts.mode_change:
            return Verdict(False, "workflow.self-approval",
                           f"{label}: {facts.what} is refused — an agent does not change its "
                           "own workflow mode or approve its own review or debug request; a "
                           "person does (codor mode ..., or the API)", refused="mode")
        if facts.commit and phase not in _COMMIT_PHASES:
            return Verdict(False, "workflow.phase", f"{label}: {facts.what} — git commit is "
                           f"allowed only in the committing phase", refused="commit")
        if facts.push and phase not in _PUSH_PHASES:
            return Verdict(False, "workflow.phase", f"{label}: {facts.what} — git push is "
                           f"allowed only in the committing phase", refused="push")
        if facts.commit and phase == "exploring":
            warnings.append("explore mode: this commit is unverified until a later validating "
                            "phase passes (recorded as workflow.commit.unverified)")
    allowed = _WRITES[phase]
    for target in facts.targets:
        if not target.inside or target.exemption is not None or target.kind in allowed:
            continue
        what = facts.what if facts.family == "write" else \
            f"{facts.what} (it writes {target.path})"
        return Verdict(False, "workflow.phase",
                       f"{label}: {what} — this phase {_WRITES_TEXT[phase]}",
                       refused=target.kind)
    return Verdict(True, warnings=tuple(warnings)) if warnings else _ALLOWED


def allows(mode: str | None, phase: str | None, action: Action,
           exemptions: ExemptionSet | Sequence[Exemption] = (), *,
           workspace: str | None = None) -> Verdict:
    """What ``phase`` of ``mode`` says about ``action`` (see the module doc). ``mode`` ``None``
    or ``off``: always allowed."""
    if mode not in MODES or phase is None:
        return _ALLOWED
    return allows_facts(mode, phase, classify(action, exemptions, workspace))


def plan_paths(mode: str, phase: str, facts: ActionFacts, depth: int = 2
               ) -> list[tuple[str, ...]]:
    """The paths of at most ``depth`` transitions from ``phase`` to a phase that allows the
    action, shortest first (forward edges before back-edges). Each path excludes ``phase``."""
    out: list[tuple[str, ...]] = []
    frontier: list[tuple[str, ...]] = [()]
    seen = {phase}
    for _ in range(depth):
        nxt: list[tuple[str, ...]] = []
        for path in frontier:
            here = path[-1] if path else phase
            for to in TRANSITIONS.get((mode, here), ()):
                if to in seen:
                    continue
                step = (*path, to)
                if allows_facts(mode, to, facts).allowed:
                    out.append(step)
                nxt.append(step)
        for path in nxt:
            seen.add(path[-1])
        frontier = nxt
    return out


# ================================================================ the guards along a path


def check_path(mode: str, phase: str, path: Sequence[str], ctx: GuardContext
               ) -> tuple[GuardResult, ...]:
    """Evaluate the guards along ``phase → path[0] → path[1] ...``; stops at the first that
    fails (the last result is then the failure). Steps after the first are evaluated as if
    just entered: only what holds without new evidence passes."""
    out: list[GuardResult] = []
    here = phase
    for step, to in enumerate(path):
        step_ctx = ctx if step == 0 else replace(ctx, since=ctx.evidence.size, review=None)
        result = evaluate_guard(guard_for(mode, here, to), step_ctx)
        out.append(result)
        if not result.ok:
            break
        here = to
    return tuple(out)


def describe_phase(phase: str, session: str = "") -> dict[str, str]:
    """What ``phase`` allows and what to do in it, for people and agents to read."""
    return {"writes": _WRITES_TEXT.get(phase, "anything the policy allows"),
            "commands": _COMMANDS_TEXT.get(phase, "all but git commit / git push"),
            "next": next_text(phase, session)}


def next_text(phase: str, session: str) -> str:
    """What to do in ``phase`` (for ``codor mode show`` and refusals)."""
    return _NEXT_TEXT.get(phase, "").replace("{session}", session or "S")
