"""``POST /v1/check`` (an action in, its decision out; JSON Lines in, JSON Lines out for a
batch) and ``POST /v1/events`` (integrations report what happened after an allow).

A decision is recorded before it is returned; an ``ask`` waits for a person up to the
configured time (long-poll) when the oversight queue is running, and otherwise answers
``ask`` with the approval to poll. Bad input in a single request is a 400 with its location;
in a batch, the bad line gets a deny with the error and the other lines are still decided.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Final

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from codor.errors import CodorError, InputError
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

if TYPE_CHECKING:
    from codor.model import Action, Decision
    from codor.server.daemon import Daemon

router = APIRouter(prefix="/v1", tags=["decisions"])

_JSONL: Final = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
#: events only the daemon itself writes; no integration may report them
_RESERVED_EVENTS: Final = ("claims.", "workspace.", "approval.", "session.", "policy.")
_REPORTERS: Final = frozenset({"claude-code-harness", "codex-harness", "gemini-harness",
                               "mcp-gateway", "agent-claim"})

_ACTION_EXAMPLE: Final = {"kind": "command.exec", "command": "pytest -q", "session": "s-1",
                          "agent": {"id": "claude-code"}}


def _action(data: Any, where: str) -> Action:
    from codor.model import Action

    return Action.from_json(data, location=where)


def _decide(daemon: Daemon, action: Action, key: ApiKey) -> tuple[Decision, int | None,
                                                                   dict[str, Any]]:
    t0 = time.perf_counter()
    decision, index = daemon.kernel.decide_and_index(action)
    extra: dict[str, Any] = {}
    if decision.decision == "ask":
        ask = daemon.extras.get("approvals")
        if ask is not None:
            decision, extra = ask.on_ask(action, decision, index, key)
    daemon.metrics.check_seconds.observe(time.perf_counter() - t0)
    daemon.metrics.decisions.labels(decision.decision).inc()
    return decision, index, extra


def _answer(decision: Decision, index: int | None, extra: dict[str, Any]) -> dict[str, Any]:
    return {**decision.to_json(), "index": index, **extra}


@router.post(
    "/check", summary="Decide one action (JSON) or many (JSON Lines)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["kind"],
                                        "additionalProperties": True},
                             "example": _ACTION_EXAMPLE},
        "application/x-ndjson": {"schema": {"type": "string"}}}}},
    responses={200: {"description": "the decision (with its ledger index), or one JSON line "
                                    "per action", "content": {"application/x-ndjson": {}}},
               400: {"description": "the action is invalid"}},
)
async def check(request: Request, key: Annotated[ApiKey, Depends(require("check"))]
                ) -> Response:
    body = await request.body()
    return await run_in_threadpool(_check, request, body, key)  # recording may wait on disk


def _check(request: Request, body: bytes, key: ApiKey) -> Response:
    daemon = daemon_of(request)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype in _JSONL:
        return _batch(daemon, body, key)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", location="body") from None
    action = _action(data, "body")
    decision, index, extra = _decide(daemon, action, key)
    return Response(orjson.dumps(_answer(decision, index, extra)),
                    media_type="application/json")


def _batch(daemon: Daemon, body: bytes, key: ApiKey) -> Response:
    from codor.model import Decision, Reason

    lines = [(n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()]
    limit = daemon.settings.max_batch
    if len(lines) > limit:
        raise ApiError(413, "E_BATCH_TOO_LARGE", f"{len(lines)} actions in one batch; "
                       f"at most {limit}")
    out = []
    for number, line in lines:
        where = f"body:{number}"
        try:
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"not valid JSON: {exc}", location=where) from None
            action = _action(data, where)
        except CodorError as exc:
            bad = Decision("deny", (Reason(f"input.{exc.code}", None, "high", exc.one_line()),),
                           policy=daemon.engine.policy.sha256)
            daemon.metrics.decisions.labels("deny").inc()
            out.append(orjson.dumps({**bad.to_json(), "index": None,
                                     "error": exc.to_json()}))
            continue
        decision, index, extra = _decide(daemon, action, key)
        out.append(orjson.dumps(_answer(decision, index, extra)))
    return Response(b"\n".join(out) + (b"\n" if out else b""),
                    media_type="application/x-ndjson")


def _wall_mono(data: dict[str, Any], name: str) -> tuple[int, int]:
    from codor.evidence.records import now_us

    value = data.get(name)
    if value is None:
        return now_us()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value, now_us()[1]
    raise InputError(f"{name} must be microseconds since the epoch", location=name)


@router.post(
    "/events", summary="Report an outcome or an event of a session",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "required": ["type"], "properties": {
            "type": {"enum": ["outcome", "event"]},
            "action": {"type": "object"}, "action_index": {"type": ["integer", "null"]},
            "started_wall_us": {"type": "integer"}, "ended_wall_us": {"type": "integer"},
            "exit_status": {"type": ["integer", "null"]}, "stdout": {"type": "string"},
            "stderr": {"type": "string"}, "products": {"type": "object"},
            "observer": {"type": "string"}, "session": {"type": "string"},
            "event": {"type": "string"}, "data": {"type": "object"}}}}}}},
    responses={200: {"description": "the ledger index of the record"}},
)
async def events(request: Request, key: Annotated[ApiKey, Depends(require("events.write"))]
                 ) -> dict[str, Any]:
    body = await request.body()
    return await run_in_threadpool(_event, request, body)


def _event(request: Request, body: bytes) -> dict[str, Any]:
    from codor.evidence.records import StreamSummary

    daemon = daemon_of(request)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", location="body") from None
    if not isinstance(data, dict):
        raise InputError("must be a JSON object", location="body")
    observer = data.get("observer", "agent-claim")
    if observer not in _REPORTERS:
        raise InputError(f"observer must be one of {', '.join(sorted(_REPORTERS))} (the "
                         "daemon's own observers are not reported)", location="observer")
    kind = data.get("type")
    if kind == "outcome":
        action = _action(data.get("action"), "action")
        index = data.get("action_index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise InputError("must be an integer", location="action_index")
        status = data.get("exit_status")
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
            raise InputError("must be an integer or null", location="exit_status")
        streams = {}
        for name in ("stdout", "stderr"):
            text = data.get(name)
            if text is not None and not isinstance(text, str):
                raise InputError("must be a string", location=name)
            streams[name] = StreamSummary.of(text.encode()) if text else None
        products = data.get("products") or {}
        if not isinstance(products, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in products.items()):
            raise InputError("must map paths to sha256 digests", location="products")
        try:
            recorded = daemon.kernel.record_outcome(
                action, index, started=_wall_mono(data, "started_wall_us"),
                ended=_wall_mono(data, "ended_wall_us"), exit_status=status,
                stdout=streams["stdout"], stderr=streams["stderr"], products=products or None,
                observer=observer)
        except ValueError as exc:
            raise InputError(str(exc), location="body") from None
        daemon.metrics.ledger_appends.labels("outcome").inc()
        return {"index": recorded}
    if kind == "event":
        event_name, session = data.get("event"), data.get("session")
        payload = data.get("data", {})
        if not isinstance(event_name, str) or not event_name or len(event_name) > 100:
            raise InputError("must be a name of 1 to 100 characters", location="event")
        if event_name.startswith(_RESERVED_EVENTS):
            raise InputError(f"{event_name!r} is reserved for the daemon's own records",
                             location="event")
        if not isinstance(session, str) or not session:
            raise InputError("must name the session", location="session")
        if not isinstance(payload, dict):
            raise InputError("must be a JSON object", location="data")
        try:
            recorded = daemon.kernel.record_event(session, event_name, payload,
                                                  observer=observer)
        except ValueError as exc:
            raise InputError(str(exc), location="body") from None
        daemon.metrics.ledger_appends.labels("event").inc()
        return {"index": recorded}
    raise InputError("must be 'outcome' or 'event'", location="type")
