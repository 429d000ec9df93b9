"""Oversight: people answer what the policy asks about — approvals, risk-based escalation,
webhook notifications, and every answer recorded in the ledger.

Usage: ``queue = ApprovalQueue(state_db, kernel, timeout_s=300, wait_s=30,
webhooks=["https://hooks.example/codor"])``; hand each ``ask`` to
``queue.on_ask(action, decision, decision_index, api_key)``. The action's risk (0-100, from
the reasons' severities, the guard, the session's data flow and the agent's earlier refusals;
table in :mod:`codor.oversight.risk`) picks the level: ``auto`` allows and ``block`` denies at
once, ``review`` / ``approval`` queue the action and wait up to ``wait_s`` for
``queue.decide(id, approved=..., identity=..., comment=...)`` (from any daemon sharing the
state database). Unanswered items get the timeout effect (``deny`` unless configured) after
``timeout_s``. Every answer — a person's, ``codor-auto``, ``codor-risk``, ``codor-timeout`` —
is an ``approval`` record in the ledger. A ``claims.escalation`` event (the Stop hook gave up
blocking an agent whose report failed verification) becomes a ``review`` item once
(``note_escalation`` / ``scan_escalations``). Nothing here imports the HTTP server; the
daemon exposes the queue at ``/v1/approvals``.
"""

from __future__ import annotations

from codor.oversight.approval import (
    Approval,
    ApprovalConflict,
    ApprovalNotFound,
    Level,
    OversightError,
    Status,
)
from codor.oversight.notify import WebhookNotifier
from codor.oversight.queue import ApprovalQueue, Requester
from codor.oversight.risk import History, Risk, assess, level_for

__all__ = [
    "Approval", "ApprovalConflict", "ApprovalNotFound", "ApprovalQueue", "History", "Level",
    "OversightError", "Requester", "Risk", "Status", "WebhookNotifier", "assess", "level_for",
]
