"""The daemon's HTTP routes, one module per resource; :func:`ROUTERS` lists them in the order
they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["ROUTERS"]


def ROUTERS() -> list[APIRouter]:
    import codor.server.routes.agents as agents_api  # the agent registry
    import codor.server.routes.claims as claims_api  # the read/admin API: ledger ... keys
    import codor.server.routes.keys as keys_api
    import codor.server.routes.ledger as ledger_api
    import codor.server.routes.policy as policy_api
    import codor.server.routes.sessions as sessions_api
    import codor.server.routes.tasks as tasks_api  # scheduled tasks
    import codor.server.routes.tokens as tokens_api  # capability tokens
    import codor.server.routes.workflow as workflow_api  # workflow modes (before sessions)
    from codor.server.routes import approvals, check, health, stop, stream  # stop: remote hooks

    return [health.router, check.router, stream.router, stop.router, approvals.router,
            ledger_api.router, workflow_api.router, sessions_api.router, claims_api.router,
            policy_api.router,
            keys_api.router, agents_api.router, tokens_api.router,
            tasks_api.router]
