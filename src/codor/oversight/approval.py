"""One approval: a pending question to a person (an ``ask`` decision, or a claims escalation
to review) and, once answered, the answer — as one frozen value with a stable JSON form.

The JSON form (:meth:`Approval.to_json`) is the contract the HTTP API, the dashboard and the
webhooks share. ``status`` is ``pending``, ``approved``, ``denied`` or ``expired``; ``effect``
is what the approval finally means for the action (``allow`` / ``deny``; ``None`` while
pending — an expired approval has the queue's timeout effect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from codor.errors import CodorError

__all__ = [
    "KINDS", "LEVELS", "STATUSES", "Approval", "ApprovalConflict", "ApprovalKind",
    "ApprovalNotFound", "Level", "OversightError", "Status",
]

ApprovalKind = Literal["action", "claims"]
Status = Literal["pending", "approved", "denied", "expired"]
Level = Literal["auto", "review", "approval", "block"]
KINDS: Final[tuple[str, ...]] = get_args(ApprovalKind)
STATUSES: Final[tuple[str, ...]] = get_args(Status)
LEVELS: Final[tuple[str, ...]] = get_args(Level)


class OversightError(CodorError):
    """An approvals request that cannot be done."""

    code = "E_OVERSIGHT"


class ApprovalNotFound(OversightError):
    """No approval has that id."""

    code = "E_NOT_FOUND"


class ApprovalConflict(OversightError):
    """The approval is no longer pending (already decided, or expired)."""

    code = "E_CONFLICT"


@dataclass(frozen=True, slots=True)
class Approval:
    """An approval's state. ``action`` is the action's evidence form (secrets redacted,
    written content only as its sha256) — exactly what the decision record in the ledger
    holds; ``None`` for a claims review. ``decision_index`` is the ledger index of the ``ask``
    decision (of the ``claims.escalation`` event for a claims review); ``record_index`` that
    of the recorded answer. Times are seconds since the epoch; ``expires`` is ``None`` when
    the item never times out (claims reviews)."""

    id: str
    kind: ApprovalKind
    session: str | None
    action: dict[str, Any] | None
    decision_index: int | None
    status: Status
    level: Level
    risk: int
    reasons: tuple[str, ...]
    requester: str
    created: float
    expires: float | None
    decided_by: str | None = None
    decided_at: float | None = None
    comment: str | None = None
    record_index: int | None = None
    #: what the approval means for the action once settled: ``allow`` or ``deny``
    effect: str | None = None
    #: the id of the API key that asked (who may wait on it); ``None`` for daemon-made items
    requester_key: str | None = field(default=None, repr=False)

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def wait_url(self) -> str:
        return f"/v1/approvals/{self.id}/wait"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "session": self.session,
            "action": self.action, "decision_index": self.decision_index,
            "status": self.status, "level": self.level, "risk": self.risk,
            "reasons": list(self.reasons), "requester": self.requester,
            "created": self.created, "expires": self.expires,
            "decided_by": self.decided_by, "decided_at": self.decided_at,
            "comment": self.comment, "record_index": self.record_index,
            "effect": self.effect, "wait_url": self.wait_url,
        }
