"""Sessions seen in the ledger (the ``read`` permission): the list, from an index kept up to
date incrementally (:mod:`codor.server.sessionindex`), and one session's timeline — its
records in ledger order, found by the database (``leaves_containing``) between the session's
first index and the end of the log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations
from codor.server.ledgerquery import MAX_LIMIT, entry_json, scan, session_needle
from codor.server.routes.ledger import MAX_INDEX
from codor.server.sessionindex import index_of

router = APIRouter(prefix="/v1", tags=["sessions"])

Reader = Annotated[ApiKey, Depends(require("read"))]


def _list(request: Request, offset: int, limit: int) -> dict[str, Any]:
    daemon = daemon_of(request)
    index = index_of(daemon.extras)
    size = index.update(daemon.ledger.store)
    found = index.sessions()
    page = found[offset:offset + limit]
    return {"ledger_size": size, "total": len(found), "offset": offset, "limit": limit,
            "sessions": [s.to_json() for s in page]}


@router.get("/sessions", summary="Sessions in the ledger, most recently active first")
async def sessions(
    request: Request, key: Reader,
    offset: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_INDEX,
                                description=f"at most {MAX_LIMIT}")] = 100,
) -> dict[str, Any]:
    return await run_in_threadpool(_list, request, offset, min(limit, MAX_LIMIT))


def _timeline(request: Request, session: str, start: int, limit: int) -> dict[str, Any]:
    daemon = daemon_of(request)
    index = index_of(daemon.extras)
    size = index.update(daemon.ledger.store)
    summary = index.get(session)
    if summary is None:
        raise ApiError(404, "E_NOT_FOUND", f"no session {session!r} in the ledger")
    rows, nxt = scan(daemon.ledger.store, max(start, summary.first_index), size,
                     session_needle(session), lambda rec: rec.get("session") == session,
                     limit)
    return {"session": summary.to_json(), "ledger_size": size, "limit": limit,
            "records": [entry_json(i, leaf, lh, record=rec) for i, leaf, lh, rec in rows],
            "next": nxt}


@router.get("/sessions/{session_id:path}",
            summary="One session's timeline: every record of it, in ledger order (paged)",
            responses={404: {"description": "no such session"}})
async def session(
    request: Request, key: Reader,
    session_id: Annotated[str, Path(min_length=1, max_length=1000)],
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, description="first ledger index")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_INDEX,
                                description=f"records per page (at most {MAX_LIMIT})")] = 500,
) -> dict[str, Any]:
    return await run_in_threadpool(_timeline, request, session_id, start,
                                   min(limit, MAX_LIMIT))
