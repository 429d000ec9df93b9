"""The workflow tables of the state database and their rows: the schema, the SQL the store runs
on it, a session's stored state (:class:`SessionState`) and a debug request
(:class:`DebugRequest`), the checks of what a caller passes in, and the store's errors. No I/O
here: the store (:mod:`codor.runtime.workflowstore`) runs the SQL.

**Tables** (created with :meth:`StateDB.migrate <codor.statedb.StateDB.migrate>`):
``workflow_sessions`` (one row per session with a mode: mode, phase, since when and since
which ledger index, the session's agent, the review approval of the current reviewing phase,
where a debug session came from, its coverage baseline, and a ``version``),
``workflow_settings`` (the workspace default mode, the coverage baseline and the last coverage
seen), ``workflow_exemptions``, ``workflow_requests`` (debug requests) and
``workflow_commits`` (explore-mode commits, unverified until validated).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from codor.runtime.workflow import MODES, Exemption, WorkflowError

__all__ = [
    "ADMIN_SESSION",
    "WORKFLOW_AGENT",
    "DebugRequest",
    "SessionState",
    "WorkflowConflictError",
    "WorkflowNotFoundError",
]

#: the ledger session workspace-wide workflow changes are recorded in (as the registry's)
ADMIN_SESSION: Final = "codor-admin"
#: the agent the store's events name when the session's own agent is not known
WORKFLOW_AGENT: Final = "codor-workflow"

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS workflow_sessions (session TEXT PRIMARY KEY, mode TEXT NOT "
    "NULL, phase TEXT, since REAL NOT NULL, since_index INTEGER NOT NULL, version INTEGER NOT "
    "NULL, agent TEXT, review_by TEXT, origin_mode TEXT, origin_phase TEXT, baseline REAL, "
    "created REAL NOT NULL, updated REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS workflow_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, "
    "updated REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS workflow_exemptions (id TEXT PRIMARY KEY, session TEXT, "
    "category TEXT NOT NULL, patterns TEXT NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL, "
    "created REAL NOT NULL, revoked REAL)",
    "CREATE TABLE IF NOT EXISTS workflow_requests (id TEXT PRIMARY KEY, session TEXT NOT NULL, "
    "kind TEXT NOT NULL, status TEXT NOT NULL, requested_by TEXT NOT NULL, reason TEXT NOT "
    "NULL, from_mode TEXT, from_phase TEXT, evidence TEXT NOT NULL, created REAL NOT NULL, "
    "answered_by TEXT, answered REAL, comment TEXT)",
    "CREATE TABLE IF NOT EXISTS workflow_commits (session TEXT NOT NULL, decision INTEGER NOT "
    "NULL, command TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, verified REAL, "
    "PRIMARY KEY (session, decision))",
    "CREATE INDEX IF NOT EXISTS workflow_exemptions_session ON workflow_exemptions (session)",
    "CREATE INDEX IF NOT EXISTS workflow_requests_session ON workflow_requests (session)",
)
_SELECT_SESSION: Final = ("SELECT session, mode, phase, since, since_index, version, agent, "
                          "review_by, origin_mode, origin_phase, baseline, created, updated "
                          "FROM workflow_sessions WHERE session = ?")
_INSERT_SESSION: Final = ("INSERT INTO workflow_sessions (session, mode, phase, since, "
                          "since_index, version, agent, review_by, origin_mode, origin_phase, "
                          "baseline, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                          "?, ?)")
_SELECT_EXEMPTIONS: Final = ("SELECT id, session, category, patterns, reason, by, created FROM "
                             "workflow_exemptions WHERE revoked IS NULL")
_INSERT_EXEMPTION: Final = ("INSERT INTO workflow_exemptions (id, session, category, patterns, "
                            "reason, by, created, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)")
_SELECT_REQUESTS: Final = ("SELECT id, session, kind, status, requested_by, reason, from_mode, "
                           "from_phase, evidence, created, answered_by, answered, comment FROM "
                           "workflow_requests")
_INSERT_REQUEST: Final = ("INSERT INTO workflow_requests (id, session, kind, status, "
                          "requested_by, reason, from_mode, from_phase, evidence, created, "
                          "answered_by, answered, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                          "?, ?, ?)")
_SESSION_ID: Final = re.compile(r"[^\x00-\x1f\x7f]{1,1000}")
_MAX_TEXT: Final = 1000


class WorkflowConflictError(WorkflowError):
    """A change based on a stale version of the session's workflow state."""

    code = "E_CONFLICT"


class WorkflowNotFoundError(WorkflowError):
    """No such session state, debug request or exemption."""

    code = "E_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session's workflow state as stored. ``mode`` ``off``: unrestricted."""

    session: str
    mode: str
    phase: str | None
    since: float
    since_index: int
    version: int = 1
    agent: str | None = None
    review_by: str | None = None
    origin_mode: str | None = None
    origin_phase: str | None = None
    baseline: float | None = None
    created: float = 0.0
    updated: float = 0.0

    @property
    def active(self) -> bool:
        return self.mode in MODES and self.phase is not None

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session, "mode": self.mode, "phase": self.phase,
                "since": self.since, "since_index": self.since_index, "version": self.version,
                "agent": self.agent, "review_by": self.review_by,
                "origin_mode": self.origin_mode, "origin_phase": self.origin_phase,
                "baseline": self.baseline, "created": self.created, "updated": self.updated}


@dataclass(frozen=True, slots=True)
class DebugRequest:
    """A request to enter debug mode: ``pending`` until a person approves or denies it."""

    id: str
    session: str
    status: str               # pending | approved | denied
    requested_by: str
    reason: str
    from_mode: str | None
    from_phase: str | None
    evidence: tuple[int, ...]
    created: float
    answered_by: str | None = None
    answered: float | None = None
    comment: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "session": self.session, "status": self.status,
                "requested_by": self.requested_by, "reason": self.reason,
                "from_mode": self.from_mode, "from_phase": self.from_phase,
                "evidence": list(self.evidence), "created": self.created,
                "answered_by": self.answered_by, "answered": self.answered,
                "comment": self.comment}


def _session_row(row: Sequence[Any]) -> SessionState:
    (session, mode, phase, since, since_index, version, agent, review_by, origin_mode,
     origin_phase, baseline, created, updated) = row
    return SessionState(str(session), str(mode), phase, float(since), int(since_index),
                        int(version), agent, review_by, origin_mode, origin_phase,
                        None if baseline is None else float(baseline), float(created),
                        float(updated))


def _exemption_row(row: Sequence[Any]) -> Exemption:
    ex_id, session, category, patterns, reason, by, created = row
    return Exemption(str(ex_id), str(category), tuple(json.loads(patterns)), str(reason),
                     str(by), session, float(created))


def _request_row(row: Sequence[Any]) -> DebugRequest:
    (req_id, session, _kind, status, requested_by, reason, from_mode, from_phase, evidence,
     created, answered_by, answered, comment) = row
    return DebugRequest(str(req_id), str(session), str(status), str(requested_by),
                        str(reason), from_mode, from_phase, tuple(json.loads(evidence)),
                        float(created), answered_by,
                        None if answered is None else float(answered), comment)


def _check_session(session: object) -> str:
    if not isinstance(session, str) or not _SESSION_ID.fullmatch(session):
        raise WorkflowError("a session id is 1 to 1000 printable characters",
                            location="session")
    if session == ADMIN_SESSION:
        raise WorkflowError(f"{ADMIN_SESSION!r} is the administration session, not an "
                            "agent's", location="session")
    return session


def _text(value: object, name: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or \
            len(value) > _MAX_TEXT:
        raise WorkflowError(f"{name} is 1 to {_MAX_TEXT} characters", location=name)
    return value.strip()
