"""API keys over HTTP (``keys.admin``): list them (never their secrets), create one (its
token is in the answer, once, and stored only as a hash), revoke one. The last active admin
key cannot be revoked over HTTP — that would lock every admin out; ``codor apikey`` on the
daemon's host can still do it, and make a new key when the admin token is lost."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

router = APIRouter(prefix="/v1", tags=["keys"])

Admin = Annotated[ApiKey, Depends(require("keys.admin"))]


class NewKey(BaseModel):
    """The key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "operator", "auditor", "agent"]


@router.get("/keys", summary="Every API key (id, name, role, created, revoked)")
async def list_keys(request: Request, key: Admin) -> dict[str, Any]:
    keys = await run_in_threadpool(daemon_of(request).keys.list)
    return {"keys": [k.to_json() for k in keys]}


@router.post("/keys", status_code=201, summary="Create an API key; its token is shown once",
             responses={201: {"description": "the key and its token"}})
async def create_key(request: Request, body: NewKey, key: Admin) -> JSONResponse:
    made, token = await run_in_threadpool(_create, request, body, key)
    return JSONResponse({**made.to_json(), "token": token}, status_code=201,
                        headers={"Cache-Control": "no-store"})


#: the ledger session of the daemon's own administration (key changes)
ADMIN_SESSION = "codor-admin"


def _audit(request: Request, event: str, subject: ApiKey, by: ApiKey) -> None:
    """Key changes are evidence too: an event in the ``codor-admin`` session. If it cannot
    be recorded the change stands (it is done) and the error reaches the caller."""
    daemon_of(request).kernel.record_event(
        ADMIN_SESSION, event, {"key": subject.id, "name": subject.name, "role": subject.role,
                               "by": f"{by.name} (key {by.id})"})


def _create(request: Request, body: NewKey, by: ApiKey) -> tuple[ApiKey, str]:
    keys = daemon_of(request).keys
    made, token = keys.create(body.name, body.role)
    try:
        _audit(request, "apikey.created", made, by)
    except BaseException:  # an unrecorded key must not work: withdraw it, then fail
        keys.revoke(made.id)
        raise
    return made, token


_revoking = threading.Lock()  # the last-admin check and the revocation, as one step


def _revoke(request: Request, key_id: str, by: ApiKey) -> dict[str, Any]:
    keys = daemon_of(request).keys
    with _revoking:
        every = keys.list()
        found = [k for k in every if k.id == key_id]
        if not found:
            raise ApiError(404, "E_NOT_FOUND", f"no API key {key_id!r}")
        target = found[0]
        if target.revoked is not None:
            return target.to_json()
        if target.role == "admin" and not any(k.role == "admin" and k.revoked is None
                                              and k.id != key_id for k in every):
            raise ApiError(409, "E_CONFLICT", "this is the last active admin key; create "
                           "another admin key first (or use `codor apikey revoke` on the "
                           "daemon's host)")
        revoked = keys.revoke(key_id)
    _audit(request, "apikey.revoked", revoked, by)
    return revoked.to_json()


@router.delete("/keys/{key_id}", summary="Revoke an API key (within seconds on every daemon)",
               responses={404: {"description": "no such key"},
                          409: {"description": "the last active admin key"}})
async def revoke_key(request: Request, key: Admin,
                     key_id: Annotated[str, Path(min_length=1, max_length=64)]
                     ) -> dict[str, Any]:
    return await run_in_threadpool(_revoke, request, key_id, key)
