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
from codor.server.http import ApiError, daemon_of, error_response, json_object, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

if TYPE_CHECKING:
    from codor.model import Action, Decision
    from codor.server.daemon import Daemon

router = APIRouter(prefix="/v1", tags=["decisions"])

_JSONL: Final = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
#: events only the daemon itself writes; no integration may report them
_RESERVED_EVENTS: Final = ("claims.", "workspace.", "approval.", "session.", "policy.",
                           "apikey.", "workflow.", "task.", "token.", "process.")
#: the session of the daemon's administration (API keys, the agent registry)
_ADMIN_SESSION: Final = "codor-admin"
_REPORTERS: Final = frozenset({"claude-code-harness", "codex-harness", "gemini-harness",
                               "mcp-gateway", "agent-claim"})

_ACTION_EXAMPLE: Final = {"kind": "command.exec", "command": "pytest -q", "session": "s-1",
                          "agent": {"id": "claude-code"}}


def _action(data: Any, where: str) -> Action:
    from codor.model import Action

    return Action.from_json(data, location=where)


def _decide(daemon: Daemon, action: Action, key: ApiKey, *, wait: bool = True
            ) -> tuple[Decision, int | None, dict[str, Any]]:
    t0 = time.perf_counter()
    decision, index = daemon.kernel.decide_and_index(action)
    decision, extra = _on_ask(daemon, action, decision, index, key, wait=wait)
    _count(daemon, decision, t0)
    return decision, index, extra


def _on_ask(daemon: Daemon, action: Action, decision: Decision, index: int | None,
            key: ApiKey, *, wait: bool = True) -> tuple[Decision, dict[str, Any]]:
    """An ``ask`` goes to the oversight queue when it runs (which may wait for a person;
    not in a batch, where one ask must not hold up the other lines)."""
    extra: dict[str, Any] = {}
    if decision.decision == "ask":
        ask = daemon.extras.get("approvals")
        if ask is not None:
            decision, extra = ask.on_ask(action, decision, index, key, wait=wait)
    return decision, extra


def _count(daemon: Daemon, decision: Decision, t0: float) -> None:
    daemon.metrics.check_seconds.observe(time.perf_counter() - t0)
    daemon.metrics.decisions.labels(decision.decision).inc()


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
    daemon = daemon_of(request)
    if _content_type(request) in _JSONL or not daemon.local_ledger:
        return await run_in_threadpool(_check, request, body, key)  # may wait on the network
    # One action on a local (SQLite) ledger: decided on the event loop. The work is CPU
    # (the GIL is held either way) plus a sub-millisecond local commit, and a hop to the
    # thread pool would cost more than it; only an ask that goes to a person waits off-loop.
    action = _single(body)
    t0 = time.perf_counter()
    decision, index = daemon.kernel.decide_and_index(action)
    extra: dict[str, Any] = {}
    if decision.decision == "ask" and daemon.extras.get("approvals") is not None:
        decision, extra = await run_in_threadpool(_on_ask, daemon, action, decision, index,
                                                  key)
    _count(daemon, decision, t0)
    return Response(orjson.dumps(_answer(decision, index, extra)),
                    media_type="application/json")


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "application/json").split(";")[0].strip()


def _single(body: bytes) -> Action:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", location="body") from None
    return _action(data, "body")


def _check(request: Request, body: bytes, key: ApiKey) -> Response:
    daemon = daemon_of(request)
    if _content_type(request) in _JSONL:
        return _batch(daemon, body, key)
    decision, index, extra = _decide(daemon, _single(body), key)
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
        decision, index, extra = _decide(daemon, action, key, wait=False)
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
    data = json_object(body)
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
        if session == _ADMIN_SESSION:
            raise InputError(f"{session!r} holds the daemon's own administration records",
                             location="session")
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


# -- the fast path ----------------------------------------------------------------------------
class FastCheck:
    """ASGI wrapper that answers the hot request — ``POST /v1/check`` with one JSON action,
    a bearer token and a Content-Length within ``max_body_bytes`` — without the framework's
    middleware stack, routing and dependency solving, which cost about as much CPU as the
    decision itself. It runs the very same code as the route (:func:`require` ``("check")``,
    then :func:`check`) and turns errors into the same responses as the app's exception
    handlers; every other request (batches, cookies, other paths, a daemon still starting)
    goes to the full app unchanged. ``codor serve`` installs it around the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._require = require("check")

    def _fast(self, scope: dict[str, Any]) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or \
                scope["path"] != "/v1/check" or scope.get("root_path"):
            return False
        state = self.app.state
        if state.daemon is None:
            return False
        bearer = length = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                bearer = value[:7].lower() == b"bearer "
            elif name == b"content-length":
                length = value.isdigit() and int(value) <= state.settings.max_body_bytes
            elif name == b"content-type":
                if value.split(b";")[0].strip().decode("latin-1") in _JSONL:
                    return False
            elif name == b"transfer-encoding":
                return False
        return bearer and length

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self._fast(scope):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        request = Request(scope, receive)
        response: Response
        try:
            key = await self._require(request)
            response = await check(request, key)
        except Exception as exc:
            response = error_response(request, exc)
        await response(scope, receive, send)
