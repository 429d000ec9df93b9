"""``POST /v1/claims/stop``: claims verification of a stopping agent's final report, answered the
way the Stop hook acts on it (permission ``claims.verify``).

An agent hook that talks to the daemon (``CODOR_URL``, :mod:`codor.integrations.remote`) holds
no evidence; the daemon does. This route runs the very check the in-process Stop hook runs
(:func:`codor.integrations.hooks.handler.verify_stop`) on the daemon's kernel: the report is
verified against the session's evidence and the workspace, the verification is recorded
(``claims.verification``; ``claims.escalation`` after ``claims.stop.max_blocks`` blocks), and
the answer says what the hook does: ``{"stop": "none" | "block" | "escalate", "reason",
"message"}``.

Body: ``{"session", "report", "workspace"?, "agent"?, "stop_hook_active"?}``. ``workspace``
is used only when it is the daemon's workspace or inside it (else the daemon's workspace is
read): an API key does not choose which directories the daemon reads.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from codor.errors import InputError
from codor.server.http import daemon_of, json_object, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

router = APIRouter(prefix="/v1", tags=["claims"])


@router.post("/claims/stop", summary="Verify a stopping agent's final report (Stop hook)",
             responses={200: {"description": "what the Stop hook does: none, block, escalate"},
                        400: {"description": "the body is invalid"}})
async def stop(request: Request, key: Annotated[ApiKey, Depends(require("claims.verify"))]
               ) -> dict[str, Any]:
    body = await request.body()
    return await run_in_threadpool(_stop, request, body)


def _stop(request: Request, body: bytes) -> dict[str, Any]:
    from codor.integrations.hooks.events import HookEvent
    from codor.integrations.hooks.handler import verify_stop

    daemon = daemon_of(request)
    data = json_object(body)
    session, report = data.get("session"), data.get("report")
    if not isinstance(session, str) or not session or len(session) > 1024:
        raise InputError("must name the session", location="session")
    if not isinstance(report, str):
        raise InputError("must be the agent's final message", location="report")
    agent = data.get("agent")
    active = data.get("stop_hook_active", False)
    if type(active) is not bool:
        raise InputError("must be true or false", location="stop_hook_active")
    event = HookEvent(agent=agent if isinstance(agent, str) and agent else "unknown",
                      kind="stop", vendor_event="Stop", session_id=session,
                      cwd=_workspace(str(daemon.settings.workspace), data.get("workspace")),
                      stop_hook_active=active, last_assistant_message=report)
    answer = verify_stop(event, daemon.kernel, report)
    if answer is None:
        return {"stop": "none", "reason": None, "message": None}
    return {"stop": "block" if answer.decision == "block" else "escalate",
            "reason": answer.reason, "message": answer.message}


def _workspace(root: str, asked: object) -> str:
    """``asked`` when it is ``root`` or a directory inside it, else ``root``."""
    base = os.path.realpath(root)
    if isinstance(asked, str) and asked.startswith("/"):
        real = os.path.realpath(asked)
        if (real == base or real.startswith(base + os.sep)) and os.path.isdir(real):
            return real
    return base
