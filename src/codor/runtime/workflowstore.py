"""Workflow state in the state database — each session's mode and phase, the workspace's
default mode, TDD exemptions, debug requests, explore-mode commits and the coverage baseline —
with every change recorded in the ledger.

The rules (modes, phases, guards, exemption categories) are :mod:`codor.runtime.workflow`;
this module keeps the state and applies them to real evidence: :meth:`WorkflowStore.evidence`
reads a session's entries from the ledger (:func:`codor.claims.evidence.load_session`) and
:meth:`WorkflowStore.coverage` the coverage reports a recorded test run produced
(:mod:`codor.runtime.coverage`).

Its parts: the tables and rows (:mod:`codor.runtime.workflowschema`), the foundation — a
session's row, its versioned changes and their ledger records
(:mod:`codor.runtime.workflowsessions`) —, exemptions and debug requests
(:mod:`codor.runtime.workflowrequests`) and the coverage budget and baseline
(:mod:`codor.runtime.workflowcoverage`); this module puts them together
(:class:`WorkflowStore`) with the session state changes: modes, transitions, reviews and
explore-mode commits. Everything is re-exported here.

**Ledger.** With a :class:`~codor.kernel.Kernel`, every change is appended as an event inside
the state transaction (if the ledger refuses it the change is rolled back): to the session
itself for what concerns one session — ``workflow.mode`` (a mode set, a session started in
the workspace default, debug entered or left), ``workflow.phase`` (a transition, with its
guard, the ledger indexes of the evidence that satisfied it, and whether the gate made it
automatically), ``workflow.review.approved``, ``workflow.debug.requested`` /
``.approved`` / ``.denied``, ``workflow.exemption`` (session scope),
``workflow.commit.unverified`` (with the commit decision's index) and
``workflow.commit.verified`` — and to the administration session ``codor-admin`` for the
workspace: ``workflow.default``, ``workflow.exemption`` (workspace scope),
``workflow.exemption.revoked`` and ``workflow.baseline``. The ledger index of the event that
entered a phase is the phase's ``since_index``: the guards count only evidence after it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from codor.runtime.coverage import Budget
from codor.runtime.workflow import (
    FIRST_PHASE,
    MODES,
    TRANSITIONS,
    Evidence,
    GuardError,
    GuardResult,
    WorkflowError,
    WorkflowTransitionError,
    check_mode,
    describe_phase,
    evaluate_guard,
    fix_is_in,
    guard_for,
    next_phase,
)
from codor.runtime.workflowcoverage import WorkflowCoverage
from codor.runtime.workflowrequests import WorkflowRequests
from codor.runtime.workflowschema import (
    _INSERT_SESSION,
    _MAX_TEXT,
    ADMIN_SESSION,
    WORKFLOW_AGENT,
    DebugRequest,
    SessionState,
    WorkflowConflictError,
    WorkflowNotFoundError,
    _check_session,
    _text,
)
from codor.runtime.workflowsessions import EvidenceLoader, WorkflowConfig, load_evidence

__all__ = [
    "ADMIN_SESSION",
    "WORKFLOW_AGENT",
    "DebugRequest",
    "EvidenceLoader",
    "SessionState",
    "WorkflowConfig",
    "WorkflowConflictError",
    "WorkflowNotFoundError",
    "WorkflowStore",
    "load_evidence",
    "needs_coverage",
]


def needs_coverage(phase: str, guard: str) -> bool:
    """Whether evaluating ``guard`` (or leaving ``phase``) needs the coverage budget: the
    guards that read it, and leaving committing (which sets the workspace baseline)."""
    return guard in ("validated", "coverage_unlocked") or phase == "committing"


class WorkflowStore(WorkflowRequests, WorkflowCoverage):
    """Workflow state in ``db``; with ``kernel``, every change recorded in its ledger.
    ``ledger`` (default: the kernel's) is where session evidence is read; ``workspace`` is
    where paths are relative to and coverage reports are found."""

    # -- reading ---------------------------------------------------------------------------

    def default_mode(self) -> str | None:
        """The mode new sessions start in (``None``: unrestricted)."""
        value = self._setting("default_mode")
        return value if isinstance(value, str) and value in MODES else None

    def commits(self, session: str) -> list[dict[str, Any]]:
        """Explore-mode commit decisions of the session: ``decision`` (ledger index),
        ``command``, ``status`` (unverified | verified)."""
        rows = self._db.query("SELECT decision, command, status, created, verified FROM "
                              "workflow_commits WHERE session = ? ORDER BY decision",
                              (session,))
        return [{"decision": int(d), "command": c, "status": s, "created": float(cr),
                 "verified": None if v is None else float(v)} for d, c, s, cr, v in rows]

    def status(self, session: str | None = None, *, evidence: Evidence | None = None
               ) -> dict[str, Any]:
        """Everything ``codor mode show`` and the API tell about a session (or, without one,
        the workspace): mode, phase, since, what the phase allows, the next phase's guard and
        whether it holds now, exemptions, the coverage budget, a pending debug request and
        explore-mode commits."""
        default = self.default_mode()
        if session is None:
            base = self.baseline()
            return {"session": None, "default_mode": default or "off",
                    "exemptions": [e.to_json() for e in self.exemptions()],
                    "baseline": base, "last_coverage": self.last_coverage()}
        state = self.get(session)
        out: dict[str, Any] = {"session": session, "default_mode": default or "off"}
        if state is None or not state.active:
            mode = default if state is None else None
            out.update(mode=mode or "off", phase=FIRST_PHASE.get(mode or "", None),
                       started=False, state=None if state is None else state.to_json())
            if mode is None:
                return out
            out["allowed"] = describe_phase(FIRST_PHASE[mode], session)
            out["exemptions"] = [e.to_json() for e in self.exemptions(session)]
            return out
        phase = state.phase or FIRST_PHASE[state.mode]
        ev = evidence if evidence is not None else self.evidence(session)
        cov = self.coverage(session, ev)
        ctx = self.context(state, ev, cov)
        out.update(mode=state.mode, phase=phase, started=True, since=state.since,
                   since_index=state.since_index, version=state.version, agent=state.agent,
                   review_by=state.review_by, origin_mode=state.origin_mode,
                   origin_phase=state.origin_phase, allowed=describe_phase(phase, session))
        nxt = next_phase(state.mode, phase)
        if nxt is not None:
            result = evaluate_guard(guard_for(state.mode, phase, nxt), ctx)
            out["next"] = {"phase": nxt, **result.to_json()}
        elif state.mode == "debug":
            fixed = fix_is_in(ev, state.since_index)
            back = state.origin_mode or "strict"
            out["next"] = {"phase": ("code_writing" if back == "strict" else "exploring")
                           if fixed else state.origin_phase, "mode": back, "guard": "none",
                           "ok": True, "need": "", "hint": "leave debug with advance",
                           "evidence": []}
        out["exemptions"] = [e.to_json() for e in self.exemptions(session)]
        out["coverage"] = cov.to_json() if cov is not None else None
        pending = self.pending_debug(session)
        out["debug_request"] = pending.to_json() if pending is not None else None
        out["commits"] = self.commits(session)
        return out

    # -- changing --------------------------------------------------------------------------

    def start(self, session: str, agent: str | None = None) -> SessionState | None:
        """The session's state; a session without a row starts in the workspace default mode
        (recorded), or stays without a mode (``None``)."""
        state = self.get(session)
        if state is not None:
            if agent and state.agent is None:
                self._db.execute("UPDATE workflow_sessions SET agent = ? WHERE session = ? "
                                 "AND agent IS NULL", (agent, session))
                state = replace(state, agent=agent)
            return state
        mode = self.default_mode()
        if mode is None:
            return None
        _check_session(session)
        with self._db.transaction():
            state = self.get(session)
            if state is not None:  # another handle started it meanwhile
                return state
            state = self._insert(session, mode, agent, by="workspace default",
                                 reason="the workspace's default mode")
        self._changed()
        return state

    def set_mode(self, session: str, mode: str, *, by: str, reason: str | None = None,
                 expected_version: int | None = None, agent: str | None = None
                 ) -> SessionState:
        """Put ``session`` in ``mode`` (``strict``, ``explore`` or ``off``) at the mode's first
        phase. Debug is requested (:meth:`request_debug`), not set. Explore is refused while
        the coverage budget is locked."""
        _check_session(session)
        by = _text(by, "by")
        if mode == "debug":
            raise WorkflowError("debug mode is requested and approved by a person: use "
                                "request_debug (codor mode set debug --session S)",
                                location="mode")
        if mode != "off":
            check_mode(mode)
        if mode == "explore":
            self._check_unlocked(session)
        with self._db.transaction():
            current = self.get(session)
            self._expect(session, current, expected_version)
            if current is None:
                state = self._insert(session, mode, agent, by=by, reason=reason)
            else:
                state = self._set(current, mode, FIRST_PHASE.get(mode), by=by, reason=reason,
                                  origin=(None, None))
        self._changed()
        return state

    def set_default(self, mode: str | None, *, by: str, reason: str | None = None
                    ) -> str | None:
        """The workspace's default mode for new sessions (``None`` or ``off``: none)."""
        by = _text(by, "by")
        value = None if mode in (None, "off") else mode
        if value == "debug":
            raise WorkflowError("debug cannot be a workspace default: it is entered per "
                                "session, with a person's approval", location="mode")
        if value is not None:
            check_mode(value)
        if value == "explore":
            last = self.last_coverage()
            if last is not None and last.get("locked"):
                raise GuardError(f"explore is locked by the tech-debt budget: the last coverage "
                                 f"seen is {last.get('delta'):+.1f} points against the baseline "
                                 f"(lock at {self.config.coverage_lock:+g}); add tests first",
                                 location="mode")
        with self._db.transaction():
            old = self.default_mode()
            self._set_setting("default_mode", value)
            self._record(ADMIN_SESSION, "workflow.default",
                         {"mode": value, "from": old, "by": by, "reason": reason}, None)
        self._changed()
        return value

    def advance(self, session: str, to: str | None = None, *, by: str,
                reason: str | None = None, expected_version: int | None = None,
                evidence: Evidence | None = None, auto: bool = False) -> SessionState:
        """Move ``session`` to phase ``to`` (default: the forward phase) if the transition
        table has the move and its guard holds on the session's evidence; in debug, leave
        debug (:meth:`leave_debug`). A guard that does not hold raises :class:`GuardError`
        whose message says what evidence is missing."""
        by = _text(by, "by")
        state = self._require(session)
        if state.mode == "debug":
            if to is not None:
                raise WorkflowTransitionError("debug mode is left with advance without a "
                                              "target phase (it returns where it came from)")
            return self.leave_debug(session, by=by, reason=reason,
                                    expected_version=expected_version, evidence=evidence)
        phase = state.phase or FIRST_PHASE[state.mode]
        target = to or next_phase(state.mode, phase)
        if target is None:
            raise WorkflowTransitionError(f"{state.mode} mode has no phase after {phase}")
        guard = guard_for(state.mode, phase, target)
        ev = evidence if evidence is not None else self.evidence(session)
        cov = self.coverage(session, ev) if needs_coverage(phase, guard) else None
        result = evaluate_guard(guard, self.context(state, ev, cov))
        if not result.ok:
            raise GuardError(f"{state.mode} mode, phase {phase}: moving to {target} needs "
                             f"{result.message()}", location=session)
        return self.move(state, target, result, by=by, reason=reason, auto=auto,
                         expected_version=expected_version, coverage=cov)

    def move(self, state: SessionState, to: str, result: GuardResult, *, by: str,
             reason: str | None = None, auto: bool = False,
             expected_version: int | None = None, coverage: Budget | None = None
             ) -> SessionState:
        """Record ``state.phase → to`` whose guard ``result`` was evaluated by the caller (the
        gate). The stored version must still be ``state.version`` (or ``expected_version``)."""
        phase = state.phase or ""
        if to not in TRANSITIONS.get((state.mode, phase), ()):
            raise WorkflowTransitionError(f"{state.mode} mode cannot go from {phase} to {to}")
        if not result.ok:
            raise GuardError(result.message(), location=state.session)
        with self._db.transaction():
            current = self._require(state.session)
            want = state.version if expected_version is None else expected_version
            self._expect(state.session, current, want)
            moved = self._update(current, phase=to, review_by=None)
            data: dict[str, Any] = {"mode": current.mode, "from": phase, "to": to,
                                    "guard": result.guard, "evidence": list(result.evidence),
                                    "auto": auto, "by": by, "version": moved.version}
            if reason:
                data["reason"] = reason
            index = self._record(state.session, "workflow.phase", data, current.agent)
            moved = self._entered(moved, index)
            if phase == "validating" and to == "reviewing":
                self._verify_commits(state.session, current.agent)
            if phase == "committing" and coverage is not None and coverage.current is not None:
                self._store_baseline(coverage.current, session=state.session, by=by,
                                     report=coverage.report.path if coverage.report else None)
        self._changed()
        return moved

    def approve_review(self, session: str, reviewer: str, *, comment: str | None = None,
                       expected_version: int | None = None) -> SessionState:
        """Record a review approval of the session's current reviewing phase (by a person or
        a reviewer agent, never the session's own agent)."""
        reviewer = _text(reviewer, "reviewer")
        with self._db.transaction():
            state = self._require(session)
            self._expect(session, state, expected_version)
            if state.phase != "reviewing":
                raise WorkflowError(f"session {session!r} is in phase {state.phase}, not "
                                    "reviewing", location=session)
            if reviewer in self.session_agents(session):
                raise WorkflowError("an agent cannot approve its own session's review",
                                    location="reviewer")
            moved = self._update(state, review_by=reviewer)
            self._record(session, "workflow.review.approved",
                         {"by": reviewer, "comment": comment, "version": moved.version},
                         state.agent)
        self._changed()
        return moved

    def record_commit(self, session: str, decision: int, command: str) -> None:
        """Record an explore-mode commit decision as unverified
        (``workflow.commit.unverified``, bound to the decision's ledger index)."""
        with self._db.transaction():
            state = self.get(session)
            done = self._db.execute(
                "INSERT INTO workflow_commits (session, decision, command, status, created, "
                "verified) VALUES (?, ?, ?, 'unverified', ?, NULL) ON CONFLICT DO NOTHING",
                (session, decision, command[:_MAX_TEXT], time.time()))
            if done:
                self._record(session, "workflow.commit.unverified",
                             {"decision": decision, "command": command[:_MAX_TEXT]},
                             state.agent if state else None, action_index=decision)
        self._changed()

    # -- internals -------------------------------------------------------------------------

    def _insert(self, session: str, mode: str, agent: str | None, *, by: str,
                reason: str | None) -> SessionState:
        now = time.time()
        phase = FIRST_PHASE.get(mode)
        state = SessionState(session, mode, phase, now, -1, 1, agent, None, None, None, None,
                             now, now)
        self._db.execute(_INSERT_SESSION,
                         (session, mode, phase, now, -1, 1, agent, None, None, None, None, now,
                          now))
        index = self._record(session, "workflow.mode",
                             {"mode": mode, "phase": phase, "from_mode": None,
                              "from_phase": None, "by": by, "reason": reason, "version": 1},
                             agent)
        return self._entered(state, index)

    def _verify_commits(self, session: str, agent: str | None) -> list[int]:
        rows = self._db.query("SELECT decision FROM workflow_commits WHERE session = ? AND "
                              "status = 'unverified' ORDER BY decision", (session,))
        decisions = [int(r[0]) for r in rows]
        if decisions:
            self._db.execute("UPDATE workflow_commits SET status = 'verified', verified = ? "
                             "WHERE session = ? AND status = 'unverified'",
                             (time.time(), session))
            self._record(session, "workflow.commit.verified", {"decisions": decisions}, agent)
        return decisions
