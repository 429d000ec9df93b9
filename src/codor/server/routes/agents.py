"""The agent registry over HTTP (:mod:`codor.runtime.registry`): list and show agents
(``read``), register one and pause, resume or stop it (``agents.admin``, admins only).

Every change is recorded in the ledger (session ``codor-admin``) with the key that made it.
A change may name the ``version`` it was based on: a stale one is a 409 ``E_CONFLICT``; a
move the lifecycle does not allow is a 409 ``E_REGISTRY_TRANSITION``; an unknown id a 404
``E_NOT_FOUND``; an id already registered a 409 ``E_CONFLICT``. The registry is the same
table ``codor agent`` changes, so both see each other's changes at once.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from codor.runtime.registry import Registry, TransitionError
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

router = APIRouter(prefix="/v1", tags=["agents"])

Admin = Annotated[ApiKey, Depends(require("agents.admin"))]
Reader = Annotated[ApiKey, Depends(require("read"))]
AgentId = Annotated[str, Path(min_length=1, max_length=128)]

_LOCK = threading.Lock()
_ROLES = Literal["coder", "reviewer", "tester", "orchestrator", "tool", "custom"]


class NewAgent(BaseModel):
    """The agent to register."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    role: _ROLES
    owner: str | None = Field(default=None, min_length=1, max_length=200,
                              description="who answers for it (default: the key's name)")
    capabilities: list[str] = Field(default_factory=list, max_length=256)


class Change(BaseModel):
    """An optional precondition and reason for a pause, resume or stop."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1,
                                description="refuse unless the agent is still at this version")
    reason: str | None = Field(default=None, max_length=1000)


def registry_of(request: Request) -> Registry:
    """The daemon's registry, made on first use (its table created then)."""
    daemon = daemon_of(request)
    with _LOCK:
        found = daemon.extras.get("agents")
        if not isinstance(found, Registry):
            found = daemon.extras["agents"] = Registry(daemon.state, daemon.kernel)
    return found


def _by(key: ApiKey) -> str:
    return f"{key.name} (key {key.id})"


def _list(request: Request, status: str | None, role: str | None) -> dict[str, Any]:
    return {"agents": [a.to_json() for a in registry_of(request).list(status=status,
                                                                        role=role)]}


@router.get("/agents", summary="Every registered agent (optionally of one status or role)")
async def list_agents(request: Request, key: Reader,
                      status: Annotated[str | None, Query(max_length=32)] = None,
                      role: Annotated[str | None, Query(max_length=32)] = None
                      ) -> dict[str, Any]:
    return await run_in_threadpool(_list, request, status, role)


@router.get("/agents/{agent_id}", summary="One agent",
            responses={404: {"description": "no such agent"}})
async def show_agent(request: Request, key: Reader, agent_id: AgentId) -> dict[str, Any]:
    agent = await run_in_threadpool(lambda: registry_of(request).get(agent_id))
    return agent.to_json()


@router.post("/agents", status_code=201, summary="Register an agent (status: registered)",
             responses={201: {"description": "the agent"},
                        409: {"description": "the id is already registered"}})
async def register_agent(request: Request, body: NewAgent, key: Admin) -> JSONResponse:
    agent = await run_in_threadpool(
        lambda: registry_of(request).register(body.id, body.role, body.owner or key.name,
                                              body.capabilities, by=_by(key)))
    return JSONResponse(agent.to_json(), status_code=201)


def _change(request: Request, verb: str, agent_id: str, body: Change | None,
            key: ApiKey) -> dict[str, Any]:
    registry = registry_of(request)
    change = body or Change()
    try:
        agent = getattr(registry, verb)(agent_id, expected_version=change.version, by=_by(key),
                                        reason=change.reason)
    except TransitionError as exc:
        raise ApiError(409, exc.code, exc.message) from None
    return agent.to_json()  # type: ignore[no-any-return]


_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such agent"},
    409: {"description": "a stale version, or a move the lifecycle does not allow"}}


def _change_route(verb: str, summary: str) -> None:
    """``POST /v1/agents/{id}/<verb>``: the registry's ``verb`` (pause, resume, stop)."""
    async def change(request: Request, key: Admin, agent_id: AgentId,
                     body: Change | None = None) -> dict[str, Any]:
        return await run_in_threadpool(_change, request, verb, agent_id, body, key)

    change.__name__ = f"{verb}_agent"  # the OpenAPI operation id, as a named function's
    router.post(f"/agents/{{agent_id}}/{verb}", summary=summary,
                responses=_CHANGE_RESPONSES)(change)


for _verb, _summary in (("pause", "ready or running -> paused"),
                        ("resume", "paused -> the status it was paused from"),
                        ("stop", "-> stopping -> stopped")):
    _change_route(_verb, _summary)
