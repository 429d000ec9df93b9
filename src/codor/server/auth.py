"""Who may do what: four roles and one permission matrix, checked on every route.

``admin`` does everything; ``operator`` reads and answers approvals (workflow review and debug
approvals too); ``auditor`` only reads;
``agent`` asks for decisions and reports outcomes. Every route but ``/health`` and ``/ready``
names one permission; the tests walk the whole matrix route by route.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from codor.server.keys import ROLES, Role

__all__ = ["MATRIX", "PERMISSIONS", "Permission", "allowed"]

Permission = Literal[
    "check",             # POST /v1/check
    "events.write",      # POST /v1/events
    "read",              # sessions, ledger, approvals, claims reports, policy (GET)
    "claims.verify",     # POST /v1/claims/verify
    "approvals.decide",  # approve / deny
    "policy.write",      # PUT /v1/policy, reload
    "keys.admin",        # create, list, revoke API keys
    "agents.admin",      # register, pause, resume, stop agents (the registry)
    "tokens.admin",      # issue and revoke capability tokens
    "tokens.delegate",   # derive a narrower child from a valid capability token
    "tasks.admin",       # submit and cancel scheduled tasks
    "workflow.admin",    # set workflow modes, advance phases, approve reviews/debug, exempt
    "metrics",           # GET /metrics
]
PERMISSIONS: Final[tuple[str, ...]] = get_args(Permission)

MATRIX: Final[dict[Role, frozenset[str]]] = {
    "admin": frozenset(PERMISSIONS),
    "operator": frozenset({"read", "claims.verify", "approvals.decide", "metrics",
                           "tokens.delegate", "tasks.admin", "workflow.admin"}),
    "auditor": frozenset({"read", "metrics"}),
    "agent": frozenset({"check", "events.write", "claims.verify", "tokens.delegate"}),
}
assert set(MATRIX) == set(ROLES)


def allowed(role: Role, permission: Permission) -> bool:
    return permission in MATRIX[role]
