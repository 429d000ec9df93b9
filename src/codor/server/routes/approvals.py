"""``/v1/approvals``: what waits for a person, and the person's answer.

- ``GET /v1/approvals?status=pending&limit=100`` (``read``): newest first, with the number
  pending.
- ``GET /v1/approvals/{id}`` (``read``): one approval.
- ``GET /v1/approvals/{id}/wait?timeout=S`` (long-poll): the approval once answered (or
  expired), else as it stands after ``S`` seconds (at most, and by default,
  ``approval_wait_s``). Needs ``read`` — or an ``agent`` key waiting on an approval *it*
  asked for (the one exception to the permission matrix: an agent told ``ask`` must be able
  to learn the answer; another agent's approval, or an unknown id, is a 403 for it).
- ``POST /v1/approvals/{id}/approve`` and ``/deny`` (``approvals.decide``), JSON body
  ``{"comment": "..."}`` (optional): the answer, recorded in the ledger with the key's name
  and id as the approver's identity, on channel ``api`` (bearer key) or ``dashboard``
  (session cookie). Answering an approval that is no longer pending is a 409 ``E_CONFLICT``;
  an unknown id a 404 ``E_NOT_FOUND``.

Waiting and recording run in the threadpool, never on the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from codor.errors import InputError
from codor.server.http import ApiError, daemon_of, json_object, principal, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

if TYPE_CHECKING:
    from codor.oversight import Approval, ApprovalQueue

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["approvals"])

_read = require("read")
_check = require("check")


async def _reader_or_asker(request: Request) -> ApiKey:
    """``read``, or an ``agent`` key (``check``) limited to its own approvals: the route
    checks the ownership (``request.state.own_only``)."""
    from codor.server.auth import allowed

    key = await run_in_threadpool(principal, request)  # 401 here without a valid key
    request.state.own_only = False
    if not allowed(key.role, "read") and allowed(key.role, "check"):
        key = await _check(request)
        request.state.own_only = True
        return key
    return await _read(request)


_reader_or_asker.permission = "read"  # type: ignore[attr-defined]  # (agent: own approvals)


def _queue(request: Request) -> ApprovalQueue:
    queue = daemon_of(request).extras.get("approvals")
    if queue is None:
        raise ApiError(503, "E_NOT_READY", "the approvals queue is not running")
    return queue  # type: ignore[no-any-return]


def _gauge(request: Request, queue: ApprovalQueue) -> int:
    pending = queue.pending_count()
    daemon_of(request).metrics.approvals_pending.set(pending)
    return pending


@router.get("/approvals", summary="List approvals (newest first)")
async def list_approvals(
    request: Request, key: Annotated[ApiKey, Depends(_read)],
    status: Annotated[str | None, Query(description="pending, approved, denied or expired")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    queue = _queue(request)

    def run() -> dict[str, Any]:
        items = queue.list(status, limit)
        return {"approvals": [a.to_json() for a in items], "pending": _gauge(request, queue)}

    return await run_in_threadpool(run)


@router.get("/approvals/{approval_id}", summary="One approval")
async def get_approval(request: Request, approval_id: str,
                       key: Annotated[ApiKey, Depends(_read)]) -> dict[str, Any]:
    queue = _queue(request)
    approval = await run_in_threadpool(queue.get, approval_id)
    return approval.to_json()


@router.get("/approvals/{approval_id}/wait",
            summary="Wait for the answer to an approval (long-poll)")
async def wait_approval(
    request: Request, approval_id: str, key: Annotated[ApiKey, Depends(_reader_or_asker)],
    timeout: Annotated[float | None, Query(ge=0, description="seconds; at most the "
                                                             "daemon's approval_wait_s")]
    = None,
) -> dict[str, Any]:
    queue = _queue(request)
    cap = daemon_of(request).settings.approval_wait_s
    seconds = cap if timeout is None else min(timeout, cap)
    if request.state.own_only:
        from codor.oversight import ApprovalNotFound

        try:
            owned = await run_in_threadpool(queue.get, approval_id)
        except ApprovalNotFound:
            owned = None
        if owned is None or owned.requester_key != key.id:
            daemon_of(request).metrics.rejected.labels("forbidden").inc()
            raise ApiError(403, "E_FORBIDDEN", "the agent role may wait only on approvals "
                           "it asked for")
    approval = await run_in_threadpool(queue.wait, approval_id, seconds)
    return approval.to_json()


async def _answer(request: Request, approval_id: str, key: ApiKey, approved: bool) -> Approval:
    body = await request.body()
    comment: Any = None
    if body.strip():
        data = json_object(body)
        unknown = sorted(set(data) - {"comment"})
        if unknown:
            raise InputError(f"unknown field {unknown[0]!r}", location="body")
        comment = data.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise InputError("must be a string", location="comment")
    queue = _queue(request)
    channel = "api" if request.headers.get("authorization") else "dashboard"
    identity = f"{key.name} (key {key.id})"

    def run() -> Approval:
        approval = queue.decide(approval_id, approved=approved, identity=identity,
                                comment=comment, channel=channel)
        _gauge(request, queue)
        return approval

    return await run_in_threadpool(run)


_ANSWER_BODY: dict[str, Any] = {"requestBody": {"required": False, "content": {
    "application/json": {"schema": {"type": "object", "additionalProperties": False,
                                    "properties": {"comment": {"type": "string",
                                                               "maxLength": 2000}}},
                         "example": {"comment": "checked the diff"}}}}}


def _answer_route(verb: str, approved: bool) -> None:
    """``POST /v1/approvals/{id}/approve`` or ``/deny``."""
    async def answer(request: Request, approval_id: str,
                     key: Annotated[ApiKey, Depends(require("approvals.decide"))]
                     ) -> dict[str, Any]:
        return (await _answer(request, approval_id, key, approved)).to_json()

    answer.__name__ = verb  # the OpenAPI operation id, as a named function's
    router.post(f"/approvals/{{approval_id}}/{verb}",
                summary=f"{verb.capitalize()} (recorded in the ledger)",
                openapi_extra=_ANSWER_BODY,
                responses={404: {"description": "no such approval"},
                           409: {"description": "no longer pending"}})(answer)


_answer_route("approve", True)
_answer_route("deny", False)
