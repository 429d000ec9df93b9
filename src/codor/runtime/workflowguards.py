"""The guards: functions over a session's :class:`~codor.runtime.workflowevidence.Evidence`
that say whether a transition may happen (:func:`evaluate_guard`, by name), what evidence is
missing when it may not, and which ledger entries satisfied it when it may
(:class:`GuardResult`); and whether a fix is in when debug mode is left (:func:`fix_is_in`).
Pure. Which guard each transition has, and what each guard asks for, is specified in
:mod:`codor.runtime.workflow` (:data:`~codor.runtime.workflow.GUARDS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from codor.runtime.workflowactions import _short
from codor.runtime.workflowerrors import WorkflowError
from codor.runtime.workflowevidence import Evidence, RunFact, WriteFact

__all__ = ["DEBUG_GUARD", "GuardContext", "GuardResult", "evaluate_guard", "fix_is_in"]

#: the guard on entering debug mode (with a person's approval)
DEBUG_GUARD: Final = "repeated_failures"


@dataclass(frozen=True, slots=True)
class GuardContext:
    """What a guard is evaluated against: the session's evidence, the ledger index of the event
    that entered the current phase (``since``), the review approval recorded since (who), and
    the coverage budget."""

    evidence: Evidence
    since: int = -1
    review: str | None = None
    coverage_locked: bool = False
    coverage_note: str = ""
    session: str = ""
    debug_failures: int = 3


@dataclass(frozen=True, slots=True)
class GuardResult:
    """A guard's answer: ``need`` is what it asks for, ``hint`` what is missing and how to get
    it (both for the agent to read); ``evidence`` the ledger indexes that satisfied it."""

    guard: str
    ok: bool
    need: str = ""
    hint: str = ""
    evidence: tuple[int, ...] = ()

    def message(self) -> str:
        return f"{self.need} — {self.hint}" if self.hint else self.need

    def to_json(self) -> dict[str, object]:
        return {"guard": self.guard, "ok": self.ok, "need": self.need, "hint": self.hint,
                "evidence": list(self.evidence)}


def _tests_after(ev: Evidence, floor: int) -> list[RunFact]:
    return [r for r in ev.runs if r.test and r.ran and r.index > floor and r.summary is not None]


def _g_none(ctx: GuardContext) -> GuardResult:
    return GuardResult("none", True)


def _g_failing_test(ctx: GuardContext) -> GuardResult:
    ev = ctx.evidence
    need = "a failing test run first"
    written = [w for w in ev.writes if w.test and w.index > ctx.since]
    if not written:
        return GuardResult("failing_test", False, need,
                           "write a test for the behaviour you are adding (no test file was "
                           "written in this phase), run it and see it fail")
    last = written[-1]
    after = _tests_after(ev, last.index)
    failing = [r for r in after if r.failing]
    if failing:
        return GuardResult("failing_test", True, need, "",
                           (last.index, failing[-1].index, *(
                               (failing[-1].outcome,) if failing[-1].outcome else ())))
    if not after:
        ran = [r for r in ev.runs if r.test and r.index > last.index]
        why = "none ran" if not ran else \
            "no test run with a recognised runner summary and an outcome was recorded"
        return GuardResult("failing_test", False, need,
                           f"run the tests you wrote ({why} since {last.path} was written)")
    return GuardResult("failing_test", False, need,
                       f"the {len(after)} test run(s) since {last.path} was written showed no "
                       "failing test — a new test must fail before the code it tests is "
                       "written")


def _last_change(ev: Evidence) -> WriteFact | None:
    changes = [w for w in ev.writes if w.test or w.code]
    return changes[-1] if changes else None


def _passed_after(ctx: GuardContext, guard: str, need: str, floor: int,
                  last: WriteFact | None) -> GuardResult:
    after = _tests_after(ctx.evidence, floor)
    since = f"since {last.path} was written" if last is not None and last.index >= ctx.since \
        else "in this phase"
    if not after:
        return GuardResult(guard, False, need, f"run the tests (none ran {since})")
    final = after[-1]
    if final.passing:
        return GuardResult(guard, True, need, "", tuple(
            i for i in (final.index, final.outcome) if i is not None))
    s = final.summary
    counts = f"{s.failed} failed, {s.errors} error(s)" if s is not None else "no summary"
    return GuardResult(guard, False, need,
                       f"the last test run {since} did not pass (`{_short(final.command, 40)}`: "
                       f"{counts}, exit status {final.exit_status}) — make it pass")


def _g_passing_after_change(ctx: GuardContext) -> GuardResult:
    last = _last_change(ctx.evidence)
    floor = max(ctx.since, last.index if last is not None else -1)
    return _passed_after(ctx, "passing_after_change",
                         "a passing test run after your last change", floor, last)


def _g_retro_tested(ctx: GuardContext) -> GuardResult:
    ev = ctx.evidence
    need = "tests for the explored code, passing"
    if not any(w.test for w in ev.writes):
        return GuardResult("retro_tested", False, need,
                           "write tests for the code you explored (no test file was written "
                           "in this session)")
    last = _last_change(ev)
    return _passed_after(ctx, "retro_tested", need, last.index if last else -1, last)


def _g_validated(ctx: GuardContext) -> GuardResult:
    need = "a passing run of the whole test suite in this phase"
    full = [r for r in _tests_after(ctx.evidence, ctx.since) if r.full]
    if not full:
        return GuardResult("validated", False, need,
                           "run the whole test suite (no whole-suite run — without -k, file "
                           "or test selection — since entering validating)")
    final = full[-1]
    if not final.passing:
        s = final.summary
        counts = f"{s.failed} failed, {s.errors} error(s)" if s is not None else "no summary"
        return GuardResult("validated", False, need,
                           f"the last whole-suite run did not pass ({counts}, exit status "
                           f"{final.exit_status}); go back to code_writing to fix it")
    if ctx.coverage_locked:
        return GuardResult("validated", False, "coverage within the tech-debt budget",
                           f"{ctx.coverage_note}; add tests until coverage recovers")
    return GuardResult("validated", True, need, "",
                       tuple(i for i in (final.index, final.outcome) if i is not None))


def _g_review(ctx: GuardContext) -> GuardResult:
    if ctx.review:
        return GuardResult("review_approved", True, "a review approval", "")
    return GuardResult("review_approved", False, "a review approval",
                       "a person or a reviewer agent (not this session's agent) approves with "
                       f"`codor mode approve --session {ctx.session or 'S'} review`")


def _g_committed(ctx: GuardContext) -> GuardResult:
    need = "a git commit that succeeded in this phase"
    done = [r for r in ctx.evidence.runs if r.index > ctx.since and r.committed]
    if done:
        return GuardResult("committed", True, need, "",
                           tuple(i for i in (done[-1].index, done[-1].outcome) if i is not None))
    tried = [r for r in ctx.evidence.runs if r.index > ctx.since and r.commit]
    hint = "run git commit" if not tried else \
        "the git commit did not succeed (or its outcome was not recorded); commit again"
    return GuardResult("committed", False, need, hint)


def _g_unlocked(ctx: GuardContext) -> GuardResult:
    if ctx.coverage_locked:
        return GuardResult("coverage_unlocked", False, "coverage within the tech-debt budget",
                           f"{ctx.coverage_note}; explore stays locked until tests bring it "
                           "back")
    return GuardResult("coverage_unlocked", True)


def _g_repeated_failures(ctx: GuardContext) -> GuardResult:
    runs = [r for r in ctx.evidence.runs if r.test and r.ran and r.summary is not None]
    streak: list[RunFact] = []
    for run in reversed(runs):
        if not run.failing:
            break
        streak.append(run)
    n = ctx.debug_failures
    need = f"{n} consecutive failing test runs"
    if len(streak) >= n:
        return GuardResult(DEBUG_GUARD, True, need, "",
                           tuple(r.index for r in reversed(streak[:n])))
    return GuardResult(DEBUG_GUARD, False, need,
                       f"only {len(streak)} consecutive failing test run(s) are recorded; "
                       "debug mode is for a failure that keeps coming back")


_GUARD_FUNCS: Final = {
    "none": _g_none,
    "failing_test": _g_failing_test,
    "passing_after_change": _g_passing_after_change,
    "validated": _g_validated,
    "review_approved": _g_review,
    "committed": _g_committed,
    "retro_tested": _g_retro_tested,
    "coverage_unlocked": _g_unlocked,
    DEBUG_GUARD: _g_repeated_failures,
}


def evaluate_guard(guard: str, ctx: GuardContext) -> GuardResult:
    """Evaluate one guard by name (see :data:`~codor.runtime.workflow.GUARDS`) against
    ``ctx``."""
    func = _GUARD_FUNCS.get(guard)
    if func is None:
        raise WorkflowError(f"unknown guard {guard!r}")
    return func(ctx)


def fix_is_in(ev: Evidence, since: int) -> bool:
    """Whether a test run after entering ``since`` and after the last change passed (leaving
    debug: the fix is in)."""
    last = _last_change(ev)
    floor = max(since, last.index if last is not None else -1)
    after = _tests_after(ev, floor)
    return bool(after) and after[-1].passing
