"""What is asked of the store and answered: TDD exemptions (recorded, listed and revoked; their
patterns checked by :func:`codor.runtime.exemptions.check_exemption`) and debug requests (asked
for when the ``repeated_failures`` guard holds, approved or denied by a person, and leaving
debug mode). :class:`WorkflowRequests` is a part of
:class:`codor.runtime.workflowstore.WorkflowStore`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable

from codor.runtime.workflow import (
    DEBUG_GUARD,
    FIRST_PHASE,
    PHASES,
    Evidence,
    Exemption,
    GuardError,
    WorkflowError,
    check_exemption,
    evaluate_guard,
    fix_is_in,
)
from codor.runtime.workflowschema import (
    _INSERT_EXEMPTION,
    _INSERT_REQUEST,
    _SELECT_EXEMPTIONS,
    _SELECT_REQUESTS,
    ADMIN_SESSION,
    DebugRequest,
    SessionState,
    WorkflowConflictError,
    WorkflowNotFoundError,
    _check_session,
    _exemption_row,
    _request_row,
    _text,
)
from codor.runtime.workflowsessions import WorkflowSessions

__all__ = ["WorkflowRequests"]


class WorkflowRequests(WorkflowSessions):
    """TDD exemptions and debug requests of the workflow store."""

    # -- exemptions ------------------------------------------------------------------------

    def exemptions(self, session: str | None = None, *, workspace: bool = True
                   ) -> list[Exemption]:
        """Active exemptions: the session's (when given) and, with ``workspace``, the
        workspace's, oldest first."""
        order = " ORDER BY created, id"
        if session is not None and workspace:
            rows = self._db.query(_SELECT_EXEMPTIONS + " AND (session = ? OR session IS NULL)"
                                  + order, (session,))
        elif session is not None:
            rows = self._db.query(_SELECT_EXEMPTIONS + " AND session = ?" + order, (session,))
        elif workspace:
            rows = self._db.query(_SELECT_EXEMPTIONS + " AND session IS NULL" + order)
        else:
            return []
        return [_exemption_row(r) for r in rows]

    def all_exemptions(self) -> list[Exemption]:
        """Every active exemption of every scope, oldest first."""
        rows = self._db.query(_SELECT_EXEMPTIONS + " ORDER BY created, id")
        return [_exemption_row(r) for r in rows]

    def request_exemption(self, session: str | None, category: str,
                          patterns: Iterable[str] | None, reason: str, by: str) -> Exemption:
        """Record a TDD exemption (``session`` ``None``: the whole workspace); its patterns are
        checked to stay within the category (:func:`~codor.runtime.workflow.check_exemption`;
        none: the category's defaults)."""
        if session is not None:
            _check_session(session)
        reason, by = _text(reason, "reason"), _text(by, "by")
        checked = check_exemption(category, patterns)
        exemption = Exemption(f"ex-{os.urandom(6).hex()}", category, checked, reason, by,
                              session, time.time())
        with self._db.transaction():
            self._db.execute(
                _INSERT_EXEMPTION,
                (exemption.id, session, category, json.dumps(list(checked)), reason, by,
                 exemption.created))
            state = self.get(session) if session is not None else None
            self._record(session or ADMIN_SESSION, "workflow.exemption",
                         exemption.to_json(), state.agent if state else None)
        self._changed()
        return exemption

    def revoke_exemption(self, exemption_id: str, *, by: str) -> None:
        by = _text(by, "by")
        with self._db.transaction():
            rows = self._db.query("SELECT session FROM workflow_exemptions WHERE id = ? AND "
                                  "revoked IS NULL", (exemption_id,))
            if not rows:
                raise WorkflowNotFoundError(f"no active exemption {exemption_id!r}")
            self._db.execute("UPDATE workflow_exemptions SET revoked = ? WHERE id = ?",
                             (time.time(), exemption_id))
            self._record(rows[0][0] or ADMIN_SESSION, "workflow.exemption.revoked",
                         {"id": exemption_id, "by": by}, None)
        self._changed()

    # -- debug requests --------------------------------------------------------------------

    def requests(self, session: str, *, status: str | None = None) -> list[DebugRequest]:
        rows = self._db.query(_SELECT_REQUESTS + " WHERE session = ? ORDER BY created, id",
                              (session,))
        return [r for r in map(_request_row, rows) if status is None or r.status == status]

    def pending_debug(self, session: str) -> DebugRequest | None:
        pending = self.requests(session, status="pending")
        return pending[-1] if pending else None

    def request(self, request_id: str) -> DebugRequest:
        rows = self._db.query(_SELECT_REQUESTS + " WHERE id = ?", (request_id,))
        if not rows:
            raise WorkflowNotFoundError(f"no debug request {request_id!r}")
        return _request_row(rows[0])

    def request_debug(self, session: str, *, by: str, reason: str,
                      evidence: Evidence | None = None) -> DebugRequest:
        """Ask to enter debug mode: refused (:class:`GuardError`) unless the session's last
        ``debug_failures`` test runs all failed; otherwise a pending request is recorded for a
        person to answer (:meth:`approve_debug`, :meth:`deny_debug`)."""
        by, reason = _text(by, "by"), _text(reason, "reason")
        state = self._require(session)
        if state.mode not in ("strict", "explore"):
            raise WorkflowError(f"debug is entered from strict or explore mode; session "
                                f"{session!r} is in {state.mode}", location=session)
        ev = evidence if evidence is not None else self.evidence(session)
        result = evaluate_guard(DEBUG_GUARD, self.context(state, ev))
        if not result.ok:
            raise GuardError(f"debug mode needs {result.message()}", location=session)
        request = DebugRequest(f"dbg-{os.urandom(6).hex()}", session, "pending", by, reason,
                               state.mode, state.phase, result.evidence, time.time())
        with self._db.transaction():
            if self.pending_debug(session) is not None:
                raise WorkflowConflictError(f"session {session!r} already has a pending debug "
                                            "request")
            self._db.execute(
                _INSERT_REQUEST,
                (request.id, session, "debug", "pending", by, reason, state.mode, state.phase,
                 json.dumps(list(request.evidence)), request.created, None, None, None))
            self._record(session, "workflow.debug.requested",
                         {"request": request.id, "by": by, "reason": reason,
                          "from_mode": state.mode, "from_phase": state.phase,
                          "evidence": list(request.evidence)}, state.agent)
        self._changed()
        return request

    def approve_debug(self, request_id: str, approver: str, *, comment: str | None = None
                      ) -> SessionState:
        """A person approves a pending debug request: the session enters debug mode (recorded:
        ``workflow.debug.approved`` and ``workflow.mode``), remembering where it came from."""
        approver = _text(approver, "approver")
        with self._db.transaction():
            request = self._answer(request_id, "approved", approver, comment)
            state = self._require(request.session)
            if approver in self.session_agents(request.session):
                raise WorkflowError("a session's own agent cannot approve its debug request",
                                    location="approver")
            self._record(request.session, "workflow.debug.approved",
                         {"request": request.id, "by": approver, "comment": comment},
                         state.agent)
            moved = self._set(state, "debug", "debugging", by=approver,
                              reason=f"debug request {request.id}: {request.reason}",
                              origin=(state.mode, state.phase))
        self._changed()
        return moved

    def deny_debug(self, request_id: str, approver: str, *, comment: str | None = None
                   ) -> DebugRequest:
        """A person denies a pending debug request (recorded)."""
        approver = _text(approver, "approver")
        with self._db.transaction():
            request = self._answer(request_id, "denied", approver, comment)
            state = self.get(request.session)
            self._record(request.session, "workflow.debug.denied",
                         {"request": request.id, "by": approver, "comment": comment},
                         state.agent if state else None)
        self._changed()
        return self.request(request_id)

    def leave_debug(self, session: str, *, by: str, reason: str | None = None,
                    expected_version: int | None = None, evidence: Evidence | None = None
                    ) -> SessionState:
        """Leave debug mode: back to the mode it came from, at ``code_writing`` (strict) or
        ``exploring`` (explore) when the fix is in — a test run after the last change in
        debug passed — else at the phase it came from."""
        by = _text(by, "by")
        state = self._require(session)
        if state.mode != "debug":
            raise WorkflowError(f"session {session!r} is not in debug mode", location=session)
        mode = state.origin_mode if state.origin_mode in ("strict", "explore") else "strict"
        ev = evidence if evidence is not None else self.evidence(session)
        fixed = fix_is_in(ev, state.since_index)
        if fixed:
            phase = "code_writing" if mode == "strict" else "exploring"
        else:
            phase = state.origin_phase if state.origin_phase in PHASES[mode] \
                else FIRST_PHASE[mode]
        with self._db.transaction():
            current = self._require(session)
            self._expect(session, current, expected_version if expected_version is not None
                         else state.version)
            moved = self._set(current, mode, phase, by=by,
                              reason=reason or ("the fix is in (a passing test run after the "
                                                "last change)" if fixed else "left debug"),
                              origin=(None, None))
        self._changed()
        return moved

    def _answer(self, request_id: str, status: str, approver: str,
                comment: str | None) -> DebugRequest:
        request = self.request(request_id)
        if request.status != "pending":
            raise WorkflowConflictError(f"debug request {request_id!r} is already "
                                        f"{request.status}")
        if comment is not None:
            comment = _text(comment, "comment", required=False) or None
        self._db.execute("UPDATE workflow_requests SET status = ?, answered_by = ?, "
                         "answered = ?, comment = ? WHERE id = ? AND status = 'pending'",
                         (status, approver, time.time(), comment, request_id))
        return request
