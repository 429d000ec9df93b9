"""The ledger, read over HTTP (the ``read`` permission): its head, entries (paged, filtered
by session, record type or event name), one entry with its inclusion proof, the latest
signed checkpoint, consistency proofs between two sizes (RFC 6962 / RFC 9162 §2.1.4), and a
full verification — at once, or streamed as server-sent events with its progress.

Proofs are what ``codor ledger prove`` prints: against the latest signed checkpoint (a new
one is signed when the latest does not cover the entry), or, on a ledger opened without its
log key, against the current tree head (``checkpoint`` null).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from codor.canonical import canonical_json
from codor.errors import CodorError
from codor.evidence.leaves import event_needle
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations
from codor.server.ledgerquery import (
    MAX_LIMIT,
    RECORD_TYPES,
    entry_json,
    scan,
    session_needle,
    tree_lock,
)

if TYPE_CHECKING:
    from codor.ledger import Ledger
    from codor.server.daemon import Daemon

router = APIRouter(prefix="/v1", tags=["ledger"])
log = logging.getLogger("codor.server")

#: indexes and sizes stay integers every JSON reader and SQLite take exactly
MAX_INDEX: Final = 2**53 - 1

Reader = Annotated[ApiKey, Depends(require("read"))]
RecordType = Literal["session.start", "decision", "outcome", "event", "approval"]
assert set(RecordType.__args__) == set(RECORD_TYPES)  # type: ignore[attr-defined]


def _not_found(what: str) -> ApiError:
    return ApiError(404, "E_NOT_FOUND", what)


def _checkpoint_json(ledger: Ledger, size: int, note: str) -> dict[str, Any]:
    from codor.ledger.checkpoint import open_checkpoint

    try:
        cp, signers = open_checkpoint(note, ledger.verifiers)
    except Exception:  # a stored note no current key verifies: shown, flagged
        return {"size": size, "root": None, "signers": [], "valid": False, "note": note}
    return {"size": cp.size, "root": cp.root.hex(), "signers": signers,
            "valid": cp.origin == ledger.origin and cp.size == size, "note": note}


@router.get("/ledger", summary="The ledger's size, origin, keys and latest checkpoint")
def ledger_head(request: Request, key: Reader) -> dict[str, Any]:
    ledger = daemon_of(request).ledger
    ledger.store.flush()
    latest = ledger.store.latest_checkpoint()
    return {"size": ledger.store.size(), "origin": ledger.origin,
            "keys": [v.vkey for v in ledger.verifiers], "signing": ledger.key is not None,
            "checkpoint": None if latest is None else _checkpoint_json(ledger, *latest)}


@router.get("/ledger/entries", summary="Entries, decoded, in index order (paged)",
            responses={200: {"description": "``entries`` and ``next`` (the ``start`` of the "
                                            "next page, null at the end)"}})
def entries(
    request: Request, key: Reader,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, description="first index")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_INDEX,
                                description=f"entries per page (at most {MAX_LIMIT})")] = 100,
    session: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    rtype: Annotated[RecordType | None, Query(alias="type", description="record type")] = None,
    event: Annotated[str | None, Query(min_length=1, max_length=100,
                                       description="event name (event records)")] = None,
) -> dict[str, Any]:
    store = daemon_of(request).ledger.store
    store.flush()
    size = store.size()
    limit = min(limit, MAX_LIMIT)
    out: dict[str, Any] = {"size": size, "start": start, "limit": limit}
    if session is None and rtype is None and event is None:
        end = min(size, start + limit)
        found = store.entries(start, end) if start < end else []
        out["entries"] = [entry_json(e.index, e.leaf, e.leaf_hash, e.ts) for e in found]
        out["next"] = end if end < size else None
        return out
    if session is not None:
        needle = session_needle(session)
    elif event is not None:
        needle = event_needle(event)
    else:
        needle = b'"type":' + canonical_json(rtype)

    def keep(rec: dict[str, Any]) -> bool:
        return (session is None or rec.get("session") == session) and \
            (rtype is None or rec.get("type") == rtype) and \
            (event is None or (rec.get("type") == "event" and rec.get("event") == event))

    rows, nxt = scan(store, min(start, size), size, needle, keep, limit)
    out["entries"] = [entry_json(i, leaf, lh, record=rec) for i, leaf, lh, rec in rows]
    out["next"] = nxt
    return out


def _prove(daemon: Daemon, index: int) -> dict[str, Any]:
    from codor.ledger.merkle import verify_inclusion

    ledger = daemon.ledger
    with tree_lock(ledger):
        size = ledger.sync()
        if index >= size:
            raise _not_found(f"no entry {index} (the ledger has {size})")
        latest = ledger.store.latest_checkpoint()
        entry = ledger.store.entry(index)
        if ledger.key is not None or (latest is not None and latest[0] > index):
            proof = ledger.prove(index)
            if not ledger.check_proof(proof):  # never hand out a proof that does not verify
                raise ApiError(503, "E_LEDGER", f"the proof of entry {index} does not "
                               "verify; run `codor ledger verify`")
            body = proof.to_json()
            return {"entry": entry_json(index, entry.leaf, entry.leaf_hash, entry.ts),
                    "proof": body, "proof_text": proof.text(),
                    "checkpoint": _checkpoint_json(ledger, proof.size, proof.checkpoint)}
        tree = ledger._loaded()  # no log key: against the current (unsigned) tree head
        hashes = tree.inclusion_proof(index, size)
        root = tree.root(size)
    if not verify_inclusion(index, size, entry.leaf_hash, hashes, root):
        raise ApiError(503, "E_LEDGER", f"the proof of entry {index} does not verify")
    return {"entry": entry_json(index, entry.leaf, entry.leaf_hash, entry.ts),
            "proof": {"index": index, "size": size, "leaf_hash": entry.leaf_hash.hex(),
                      "proof": [h.hex() for h in hashes], "checkpoint": None,
                      "root": root.hex()},
            "proof_text": None, "checkpoint": None}


@router.get("/ledger/entries/{index}",
            summary="One entry with its inclusion proof (as `codor ledger prove` prints it)",
            responses={200: {"description": "JSON; with format=text the C2SP tlog-proof text",
                             "content": {"text/plain": {}}},
                       404: {"description": "no such entry"}})
async def entry(
    request: Request, key: Reader,
    index: Annotated[int, Path(ge=0, le=MAX_INDEX)],
    fmt: Annotated[Literal["json", "text"], Query(alias="format")] = "json",
) -> Response:
    body = await run_in_threadpool(_prove, daemon_of(request), index)
    if fmt == "text":
        if body["proof_text"] is None:
            raise ApiError(409, "E_CONFLICT", "this ledger has no signed checkpoint covering "
                           "the entry and no log key to sign one; ask for format=json")
        return PlainTextResponse(body["proof_text"])
    return Response(json.dumps(body), media_type="application/json")


@router.get("/ledger/checkpoint", summary="The latest signed checkpoint (C2SP signed note)",
            response_class=PlainTextResponse,
            responses={404: {"description": "no checkpoint has been signed yet"}})
def checkpoint(request: Request, key: Reader) -> PlainTextResponse:
    latest = daemon_of(request).ledger.store.latest_checkpoint()
    if latest is None:
        raise _not_found("no checkpoint has been signed yet")
    return PlainTextResponse(latest[1], headers={"X-Codor-Tree-Size": str(latest[0])})


def _consistency(daemon: Daemon, old: int, new: int | None) -> dict[str, Any]:
    from codor.ledger.merkle import verify_consistency

    ledger = daemon.ledger
    with tree_lock(ledger):
        size = ledger.sync()
        new = size if new is None else new
        if old > new or new > size:
            raise ApiError(400, "E_INPUT", f"need 0 <= from <= to <= {size} (the ledger's "
                           f"size); got from={old}, to={new}", location="from")
        tree = ledger._loaded()
        proof = tree.consistency_proof(old, new)
        old_root, new_root = tree.root(old), tree.root(new)
    if not verify_consistency(old, new, old_root, new_root, proof):
        raise ApiError(503, "E_LEDGER", "the consistency proof does not verify")
    store = ledger.store
    return {"from": old, "to": new, "from_root": old_root.hex(), "to_root": new_root.hex(),
            "proof": [h.hex() for h in proof],
            "from_checkpoint": store.checkpoint(old) if old else None,
            "to_checkpoint": store.checkpoint(new) if new else None}


@router.get("/ledger/consistency",
            summary="A consistency proof: the tree of size `from` is a prefix of size `to`",
            responses={400: {"description": "sizes out of range"}})
async def consistency(
    request: Request, key: Reader,
    old: Annotated[int, Query(alias="from", ge=0, le=MAX_INDEX)],
    new: Annotated[int | None, Query(alias="to", ge=0, le=MAX_INDEX,
                                     description="default: the current size")] = None,
) -> dict[str, Any]:
    return await run_in_threadpool(_consistency, daemon_of(request), old, new)


def _verify(daemon: Daemon) -> dict[str, Any]:
    from codor.ledger.retention import pruned_bodies

    report = daemon.ledger.verify()
    return {**report.to_json(), "pruned_bodies": pruned_bodies(daemon.ledger).count}


@router.post("/ledger/verify", summary="Verify the whole ledger now (entries, chain, tree, "
             "checkpoints); the report, also when it fails")
async def verify(request: Request, key: Reader) -> dict[str, Any]:
    return await run_in_threadpool(_verify, daemon_of(request))


class _Stopped(Exception):
    """The client went away: stop verifying."""


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


@router.get("/ledger/verify/stream",
            summary="Verify the whole ledger, streaming progress (server-sent events)",
            response_class=StreamingResponse,
            responses={200: {"description": "`progress` events {checked, total}, then one "
                                            "`result` event: the report ({ok, ...})",
                             "content": {"text/event-stream": {}}}})
async def verify_stream(request: Request, key: Reader) -> StreamingResponse:
    daemon = daemon_of(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    stop = threading.Event()

    def put(name: str, data: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone (client left)
            loop.call_soon_threadsafe(queue.put_nowait, (name, data))

    def progress(done: int, total: int) -> None:
        if stop.is_set():
            raise _Stopped
        put("progress", {"checked": done, "total": total})

    def work() -> None:
        try:
            report: dict[str, Any] = daemon.ledger.verify(progress=progress).to_json()
        except _Stopped:
            return
        except CodorError as exc:
            report = {"ok": False, "error": exc.to_json()}
        except Exception:
            log.exception("ledger verification failed")
            report = {"ok": False, "error": {"code": "E_INTERNAL", "message":
                                             "internal error (logged by the daemon)",
                                             "location": None}}
        put("result", report)

    daemon.ledger.store.flush()
    total = daemon.ledger.store.size()

    async def events() -> AsyncIterator[bytes]:
        yield _sse("progress", {"checked": 0, "total": total})
        job = loop.run_in_executor(None, work)
        try:
            while True:
                name, data = await queue.get()
                yield _sse(name, data)
                if name == "result":
                    break
            await job
        finally:
            stop.set()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
