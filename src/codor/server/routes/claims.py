"""Claims verification over HTTP: ``POST /v1/claims/verify`` checks an agent's report (its
final message, or structured claims JSON) against the session's evidence and the
workspace's git state, and records the verification in the ledger (``claims.verification``)
unless told not to; ``GET /v1/claims/reports`` lists the recorded verifications.

A report that fails is still a 200: the verdict is data (``passed``, ``verdicts``,
``findings``, ``failures``). An unknown session is a 404, a malformed claims document a 400.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from codor.evidence.leaves import event_needle
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations
from codor.server.ledgerquery import MAX_LIMIT, scan, session_needle
from codor.server.routes.ledger import MAX_INDEX
from codor.server.sessionindex import index_of

router = APIRouter(prefix="/v1", tags=["claims"])

_EVENT = "claims.verification"


class VerifyRequest(BaseModel):
    """What to verify."""

    model_config = ConfigDict(extra="forbid")

    session: str = Field(min_length=1, max_length=1000)
    #: the agent's report as text, or structured claims (a JSON object or list; see
    #: ``codor claims schema``); null: the session's last recorded final report
    report: str | dict[str, Any] | list[Any] | None = None
    record: bool = True


def _verify(request: Request, body: VerifyRequest, key: ApiKey) -> dict[str, Any]:
    from codor.claims.verification import record, verify

    daemon = daemon_of(request)
    index = index_of(daemon.extras)
    index.update(daemon.ledger.store)
    if index.get(body.session) is None:
        raise ApiError(404, "E_NOT_FOUND", f"no session {body.session!r} in the ledger",
                       location="session")
    report = body.report
    text = report if isinstance(report, str) or report is None else \
        json.dumps(report, ensure_ascii=False)
    result = verify(daemon.ledger, body.session, text, workspace=daemon.settings.workspace,
                    settings=daemon.engine.policy.claims)
    if body.record:
        result = record(daemon.kernel, result, via="api", api_key=key.id)
    return result.to_json()


@router.post("/claims/verify",
             summary="Verify an agent's report against its session's evidence",
             responses={200: {"description": "the report: passed, verdicts, claims, findings, "
                                             "failures (200 also when it fails)"},
                        400: {"description": "malformed claims, or no report to verify"},
                        404: {"description": "no such session"}})
async def verify_claims(request: Request, body: VerifyRequest,
                        key: Annotated[ApiKey, Depends(require("claims.verify"))]
                        ) -> dict[str, Any]:
    return await run_in_threadpool(_verify, request, body, key)


def _reports(request: Request, session: str | None, start: int, limit: int
             ) -> dict[str, Any]:
    store = daemon_of(request).ledger.store
    store.flush()
    size = store.size()
    needle = session_needle(session) if session is not None else \
        event_needle(_EVENT)

    def keep(rec: dict[str, Any]) -> bool:
        return rec.get("type") == "event" and rec.get("event") == _EVENT and \
            (session is None or rec.get("session") == session)

    rows, nxt = scan(store, min(start, size), size, needle, keep, limit)
    out = []
    for index, _, _, rec in rows:
        data = rec.get("data")
        out.append({**(data if isinstance(data, dict) else {}), "index": index,
                    "session": rec.get("session"), "wall_us": rec.get("wall_us"),
                    "observer": rec.get("observer")})
    return {"ledger_size": size, "limit": limit, "reports": out, "next": nxt}


@router.get("/claims/reports", summary="Recorded claims verifications, in ledger order")
async def reports(
    request: Request, key: Annotated[ApiKey, Depends(require("read"))],
    session: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, description="first ledger index")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_INDEX,
                                description=f"at most {MAX_LIMIT}")] = 100,
) -> dict[str, Any]:
    return await run_in_threadpool(_reports, request, session, start, min(limit, MAX_LIMIT))
