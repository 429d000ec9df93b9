"""Capability tokens over HTTP (:mod:`codor.policy.tokens`): issue one (``tokens.admin``),
delegate a narrower child of a valid one (``tokens.delegate``: admins, operators and agents —
an agent hands a subagent less than it holds), revoke one and every token delegated from it
(``tokens.admin``), and list the revocations (``read``).

Tokens are signed with the workspace's issuer key (``.codor/keys/token.key``, made on the
first issue), as ``codor token`` does. A parent presented for delegation must verify against
the daemon's trusted issuers and not be revoked; a child that would exceed its parent is a 400
``E_TOKEN``. Issues, delegations and revocations are recorded in the ledger (session
``codor-admin``) with the key that made them — the token's id and claims, never the token
itself. Revocations go to the state database, where the daemon's own verifier (and every
verifier on the same database) sees them at once (other daemons within seconds).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from codor.errors import TokenError
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

router = APIRouter(prefix="/v1", tags=["tokens"])

Admin = Annotated[ApiKey, Depends(require("tokens.admin"))]
Delegator = Annotated[ApiKey, Depends(require("tokens.delegate"))]
Reader = Annotated[ApiKey, Depends(require("read"))]

_TOKEN_MAX = 64 * 1024
_Globs = Annotated[list[Annotated[str, Field(min_length=1, max_length=1024)]],
                   Field(max_length=256)]


class Scope(BaseModel):
    """What every token request may narrow (for a delegation, ``None`` keeps the parent's)."""

    model_config = ConfigDict(extra="forbid")

    paths: _Globs | None = None
    ttl: float | None = Field(default=None, gt=0, le=366 * 86400,
                              description="seconds of validity")
    uses: int | None = Field(default=None, ge=1, le=2**31)
    sandbox: str | None = Field(default=None, min_length=1, max_length=200)


class NewToken(Scope):
    """A token to issue."""

    sub: str = Field(min_length=1, max_length=128, description="the agent it is for")
    kinds: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=64, description="action kinds (file.read, file.*...)")


class Delegation(Scope):
    """A narrower child of ``token``."""

    token: str = Field(min_length=1, max_length=_TOKEN_MAX)
    kinds: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=64)
    sub: str | None = Field(default=None, min_length=1, max_length=128)


class Revocation(BaseModel):
    """A token (or its id) to revoke."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=_TOKEN_MAX, description="the token or its id")
    reason: str = Field(default="", max_length=1000)


def _by(key: ApiKey) -> str:
    return f"{key.name} (key {key.id})"


def _record(request: Request, event: str, data: dict[str, Any]) -> None:
    from codor.model import Agent
    from codor.runtime.registry import ADMIN_SESSION

    daemon_of(request).kernel.record_event(ADMIN_SESSION, event, data,
                                           agent=Agent(ADMIN_SESSION))


def _answer(token: str) -> dict[str, Any]:
    from codor.policy.tokens import read_claims

    claims = read_claims(token).to_json()
    claims.pop("proof", None)
    return {"token": token, "claims": claims}


def _issue(request: Request, body: NewToken, key: ApiKey) -> dict[str, Any]:
    from codor.policy.tokens import issue_token
    from codor.policy.tokenstore import load_issuer_key

    daemon = daemon_of(request)
    signer = load_issuer_key(daemon.settings.home, create=True)
    token = issue_token(signer, agent=body.sub, kinds=body.kinds, now=time.time(),
                        ttl=3600.0 if body.ttl is None else body.ttl,
                        uses=1 if body.uses is None else body.uses, paths=body.paths or [],
                        sandbox=body.sandbox)
    if daemon.engine.tokens is None:  # the first issuer key: the daemon trusts it from now on
        _trust_workspace_issuer(request)
    answer = _answer(token)
    _record(request, "token.issued", {"by": _by(key), **answer["claims"]})
    return answer


def _trust_workspace_issuer(request: Request) -> None:
    from codor.policy.tokenstore import workspace_verifier

    daemon = daemon_of(request)
    daemon.engine.tokens = workspace_verifier(daemon.settings.home,
                                              workspace=daemon.settings.workspace,
                                              state=daemon.state)


def _delegate(request: Request, body: Delegation, key: ApiKey) -> dict[str, Any]:
    from codor.policy.tokens import delegate
    from codor.policy.tokenstore import load_issuer_key

    daemon = daemon_of(request)
    verifier = daemon.engine.tokens
    if verifier is None:
        raise ApiError(400, TokenError.code, "no token issuer is configured")
    verifier.verify(body.token)  # trusted signatures along the chain, nothing revoked
    now = time.time()
    child = delegate(body.token, load_issuer_key(daemon.settings.home), kinds=body.kinds,
                     paths=body.paths, exp=None if body.ttl is None else now + body.ttl,
                     uses=body.uses, sub=body.sub, sandbox=body.sandbox, now=now)
    answer = _answer(child)
    _record(request, "token.delegated", {"by": _by(key), **answer["claims"]})
    return answer


def _revoke(request: Request, body: Revocation, key: ApiKey) -> dict[str, Any]:
    from codor.policy.tokens import PREFIX, read_claims
    from codor.policy.tokenstore import StateRevocationList

    daemon = daemon_of(request)
    text = body.token.strip()
    token_id = read_claims(text).id if text.startswith(PREFIX) else text
    if not token_id or len(token_id) > 128 or any(c.isspace() for c in token_id):
        raise ApiError(400, TokenError.code, "not a token or token id")
    verifier = daemon.engine.tokens
    revocations = verifier.revocations if verifier is not None else None
    if isinstance(revocations, StateRevocationList):
        revocations.revoke(token_id, body.reason)
    else:
        StateRevocationList(daemon.state).revoke(token_id, body.reason)
    _record(request, "token.revoked", {"by": _by(key), "id": token_id, "reason": body.reason})
    return {"revoked": token_id}


@router.post("/tokens", status_code=201, summary="Issue a capability token",
             responses={400: {"description": "an invalid scope"}})
async def issue(request: Request, body: NewToken, key: Admin) -> dict[str, Any]:
    return await run_in_threadpool(_issue, request, body, key)


@router.post("/tokens/delegate", status_code=201,
             summary="Derive a narrower child of a valid token",
             responses={400: {"description": "the parent is invalid, or the child exceeds it"}})
async def delegate_token(request: Request, body: Delegation, key: Delegator) -> dict[str, Any]:
    return await run_in_threadpool(_delegate, request, body, key)


@router.post("/tokens/revoke", summary="Revoke a token and every token delegated from it")
async def revoke(request: Request, body: Revocation, key: Admin) -> dict[str, Any]:
    return await run_in_threadpool(_revoke, request, body, key)


@router.get("/tokens/revocations", summary="Every revocation, oldest first")
async def revocations(request: Request, key: Reader) -> dict[str, Any]:
    from codor.policy.tokenstore import StateRevocationList

    rows = await run_in_threadpool(lambda: StateRevocationList(daemon_of(request).state)
                                   .revoked())
    return {"revocations": [{"id": i, "revoked_at": at, "reason": why} for i, at, why in rows]}
