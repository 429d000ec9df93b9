"""Workflow modes over HTTP (:mod:`codor.runtime.workflow`): a session's mode and phase, its
transitions, review and debug approvals, TDD exemptions.

- ``GET /v1/sessions/{id}/mode`` (``read``): mode, phase, what it allows, the next phase's
  guard and whether it holds now, exemptions, the coverage budget, a pending debug request.
- ``PUT /v1/sessions/{id}/mode`` (``workflow.admin``), ``{"mode": "strict" | "explore" |
  "off" | "debug", "reason": ..., "version": N}``: set the mode (first phase). ``debug`` records
  a pending request instead (202, answered with ``.../mode/approve``).
- ``POST /v1/sessions/{id}/mode/advance`` (``workflow.admin``), ``{"to": PHASE}`` (optional):
  the next phase when its guard holds; in debug, leave debug.
- ``POST /v1/sessions/{id}/mode/approve`` (``workflow.admin``), ``{"what": "review" |
  "debug", "approve": true, "comment": ...}``: a person's answer, recorded with the key's
  name and id.
- ``GET /v1/workflow/exemptions?session=S`` (``read``) and ``POST /v1/workflow/exemptions``
  (``workflow.admin``), ``{"category", "paths": [...], "reason", "session": S | null}``.

``workflow.admin`` is held by admin and operator keys: approvals need a person. Agent keys
hold none of these; an agent advances its own session and requests exemptions with the
``codor mode`` command through its hooks (the gate refuses ``codor mode set`` and ``codor mode
approve`` from a session with a mode). A guard that does not hold is a 409
``E_WORKFLOW_GUARD`` whose message names the missing evidence; a move the table does not have
a 409 ``E_WORKFLOW_TRANSITION``; a stale ``version`` a 409 ``E_CONFLICT``; a session without a
mode a 404 ``E_NOT_FOUND``.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from codor.runtime.workflow import GuardError, WorkflowTransitionError
from codor.runtime.workflowstore import WorkflowStore
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

__all__ = ["router", "workflow_of"]

router = APIRouter(prefix="/v1", tags=["workflow"])

Admin = Annotated[ApiKey, Depends(require("workflow.admin"))]
Reader = Annotated[ApiKey, Depends(require("read"))]
SessionId = Annotated[str, Path(min_length=1, max_length=1000)]

_LOCK = threading.Lock()
_PHASES = Literal["planning", "test_writing", "code_writing", "validating", "reviewing",
                  "committing", "exploring", "retro_testing", "debugging"]


class ModeChange(BaseModel):
    """The mode to set."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["strict", "explore", "debug", "off"]
    reason: str | None = Field(default=None, max_length=1000)
    version: int | None = Field(default=None, ge=1, description="refuse unless the session's "
                                                                "state is still at this version")


class Advance(BaseModel):
    """Where to go (default: the next phase)."""

    model_config = ConfigDict(extra="forbid")

    to: _PHASES | None = None
    reason: str | None = Field(default=None, max_length=1000)
    version: int | None = Field(default=None, ge=1)


class Approval(BaseModel):
    """A person's answer to a review or a debug request."""

    model_config = ConfigDict(extra="forbid")

    what: Literal["review", "debug"]
    approve: bool = True
    comment: str | None = Field(default=None, max_length=1000)


class NewExemption(BaseModel):
    """A TDD exemption to record."""

    model_config = ConfigDict(extra="forbid")

    category: Literal["config", "docs", "assets", "type-only"]
    paths: list[str] = Field(default_factory=list, max_length=64,
                             description="patterns within the category (default: its own)")
    reason: str = Field(min_length=1, max_length=1000)
    session: str | None = Field(default=None, min_length=1, max_length=1000,
                                description="the session (default: the whole workspace)")


def workflow_of(request: Request) -> WorkflowStore:
    """The daemon's workflow store, made on first use (its tables created then). A daemon that
    gates decisions puts its gate's store in ``extras["workflow"]``, so both share one."""
    daemon = daemon_of(request)
    with _LOCK:
        found = daemon.extras.get("workflow")
        if not isinstance(found, WorkflowStore):
            found = daemon.extras["workflow"] = WorkflowStore(
                daemon.state, daemon.kernel, workspace=str(daemon.settings.workspace))
    return found


def _by(key: ApiKey) -> str:
    return f"{key.name} (key {key.id})"


def _refusal(exc: GuardError | WorkflowTransitionError) -> ApiError:
    return ApiError(409, exc.code, exc.message, location=exc.location)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "the session has no workflow mode"},
    409: {"description": "a guard that does not hold, a move the table does not have, or a "
                         "stale version"}}


@router.get("/sessions/{session_id}/mode", summary="A session's workflow mode and phase")
async def show_mode(request: Request, key: Reader, session_id: SessionId) -> dict[str, Any]:
    return await run_in_threadpool(lambda: workflow_of(request).status(session_id))


@router.put("/sessions/{session_id}/mode", summary="Set a session's workflow mode "
                                                   "(debug: a request for a person)",
            responses={202: {"description": "a debug request, pending"}, **_RESPONSES})
async def set_mode(request: Request, body: ModeChange, key: Admin,
                   session_id: SessionId) -> JSONResponse:
    def run() -> JSONResponse:
        store = workflow_of(request)
        try:
            if body.mode == "debug":
                made = store.request_debug(session_id, by=_by(key), reason=body.reason or
                                           "requested over the API")
                return JSONResponse({"request": made.to_json()}, status_code=202)
            store.set_mode(session_id, body.mode, by=_by(key), reason=body.reason,
                           expected_version=body.version)
        except GuardError as exc:
            raise _refusal(exc) from None
        return JSONResponse(store.status(session_id))

    return await run_in_threadpool(run)


@router.post("/sessions/{session_id}/mode/advance",
             summary="Move to the next phase (or 'to') when its guard holds",
             responses=_RESPONSES)
async def advance(request: Request, key: Admin, session_id: SessionId,
                  body: Advance | None = None) -> dict[str, Any]:
    change = body or Advance()

    def run() -> dict[str, Any]:
        store = workflow_of(request)
        try:
            store.advance(session_id, change.to, by=_by(key), reason=change.reason,
                          expected_version=change.version)
        except (GuardError, WorkflowTransitionError) as exc:
            raise _refusal(exc) from None
        return store.status(session_id)

    return await run_in_threadpool(run)


@router.post("/sessions/{session_id}/mode/approve",
             summary="A person approves a review, or answers a debug request",
             responses=_RESPONSES)
async def approve(request: Request, body: Approval, key: Admin,
                  session_id: SessionId) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        store = workflow_of(request)
        by = _by(key)
        if body.what == "review":
            if not body.approve:
                raise ApiError(400, "E_WORKFLOW", "a review is not denied: move the session "
                               "back to code_writing with .../mode/advance")
            store.approve_review(session_id, by, comment=body.comment)
        else:
            pending = store.pending_debug(session_id)
            if pending is None:
                raise ApiError(404, "E_NOT_FOUND",
                               f"session {session_id!r} has no pending debug request")
            if body.approve:
                store.approve_debug(pending.id, by, comment=body.comment)
            else:
                store.deny_debug(pending.id, by, comment=body.comment)
        return store.status(session_id)

    return await run_in_threadpool(run)


@router.get("/workflow/exemptions", summary="Active TDD exemptions (workspace and sessions)")
async def list_exemptions(request: Request, key: Reader,
                          session: Annotated[str | None, Query(min_length=1, max_length=1000)]
                          = None) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        store = workflow_of(request)
        found = store.all_exemptions() if session is None else store.exemptions(session)
        return {"exemptions": [e.to_json() for e in found]}

    return await run_in_threadpool(run)


@router.post("/workflow/exemptions", status_code=201, summary="Record a TDD exemption",
             responses={201: {"description": "the exemption"}})
async def add_exemption(request: Request, body: NewExemption, key: Admin) -> JSONResponse:
    made = await run_in_threadpool(
        lambda: workflow_of(request).request_exemption(body.session, body.category, body.paths,
                                                       body.reason, _by(key)))
    return JSONResponse(made.to_json(), status_code=201)
