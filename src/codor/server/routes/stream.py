"""``GET /v1/stream``: new ledger entries as Server-Sent Events (permission ``read``).

Each event is ``event: entry``, ``id: <ledger index>`` and ``data:`` one JSON object
``{"index", "summary", "record"}`` (``summary``: see :func:`codor.server.tail.describe`;
``record``: the decoded evidence record, ``null`` when its body was pruned). A reconnecting
``EventSource`` sends ``Last-Event-ID`` and gets what it missed first (at most ``backlog``
entries); ``?since=N`` does the same from index ``N``; ``?limit=N`` ends the stream after
``N`` entries. When a slow watcher lost entries, an ``event: dropped`` says how many. A
comment line every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, Final

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from codor.evidence.leaves import leaf_record
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations
from codor.server.tail import describe

if TYPE_CHECKING:
    from codor.server.tail import LedgerTail

router = APIRouter(prefix="/v1", tags=["stream"])

_KEEPALIVE_S: Final = 15.0
_BACKLOG_MAX: Final = 10_000


def tail_of(request: Request) -> LedgerTail:
    tail = getattr(request.app.state, "ledger_tail", None)
    if tail is None or not tail.running:
        raise ApiError(503, "E_NOT_READY", "the live event stream is not running")
    return tail  # type: ignore[no-any-return]


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event (``data`` as one line of JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def entry_event(index: int, record: dict[str, Any] | None) -> bytes:
    return sse("entry", {"index": index, "summary": describe(index, record),
                         "record": record}, index)


def _from(request: Request, since: int | None) -> int | None:
    if since is not None:
        return since
    last = request.headers.get("last-event-id")
    if last is not None and last.strip().isdigit():
        return int(last) + 1
    return None


@router.get(
    "/stream", summary="New ledger entries, live (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"description": "an endless text/event-stream of `entry` events",
                     "content": {"text/event-stream": {}}},
               503: {"description": "the stream is not running"}},
)
async def stream(
    request: Request, key: Annotated[ApiKey, Depends(require("read"))],
    since: Annotated[int | None, Query(ge=0, description="replay from this index")] = None,
    limit: Annotated[int | None, Query(ge=1, description="end after this many")] = None,
    backlog: Annotated[int, Query(ge=0, le=_BACKLOG_MAX)] = 1000,
) -> StreamingResponse:
    tail = tail_of(request)
    daemon = daemon_of(request)
    sub = tail.subscribe()
    start = _from(request, since)

    async def events() -> AsyncIterator[bytes]:
        sent = 0
        reported = 0
        try:
            yield b": codor ledger stream\nretry: 2000\n\n"
            if start is not None and start < sub.start:
                first = max(start, sub.start - backlog)
                for lo in range(first, sub.start, 500):
                    hi = min(sub.start, lo + 500)
                    rows = await run_in_threadpool(daemon.ledger.store.entries, lo, hi)
                    for row in rows:
                        yield entry_event(row.index, leaf_record(row.leaf))
                        sent += 1
                        if limit is not None and sent >= limit:
                            return
            while True:
                item = await sub.get(_KEEPALIVE_S)
                if sub.dropped > reported:
                    yield sse("dropped", {"dropped": sub.dropped - reported})
                    reported = sub.dropped
                if item is None:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                index, record = item
                if start is not None and index < start:
                    continue
                yield entry_event(index, record)
                sent += 1
                if limit is not None and sent >= limit:
                    return
        finally:
            sub.close()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


__all__ = ["entry_event", "router", "sse", "tail_of"]
