"""Scheduled tasks over HTTP (:mod:`codor.runtime.taskstore`): list and show tasks
(``read``), submit one or a batch and cancel one (``tasks.admin``: admins and operators).

A submission is checked against the stored tasks and written all or nothing: an unknown
dependency or an invalid field is a 400 ``E_TASK``, a dependency cycle a 400
``E_TASK_CYCLE`` naming it, an id already taken a 409 ``E_CONFLICT``. Cancelling cancels the
tasks waiting for it too; cancelling a task that already ended is a 409
``E_TASK_TRANSITION``, a stale ``version`` a 409 ``E_CONFLICT``, an unknown id a 404
``E_NOT_FOUND``. Every change is recorded in the ledger (in the task's session,
``codor-tasks`` by default) with the key that made it. The tasks are the same table
``codor task`` changes, so both see each other's changes at once.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from codor.runtime.scheduler import TaskSpec, TaskTransitionError
from codor.runtime.taskstore import TaskStore, new_task_id
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

router = APIRouter(prefix="/v1", tags=["tasks"])

Admin = Annotated[ApiKey, Depends(require("tasks.admin"))]
Reader = Annotated[ApiKey, Depends(require("read"))]
TaskId = Annotated[str, Path(min_length=1, max_length=128)]

_LOCK = threading.Lock()
_STATES = Literal["pending", "ready", "running", "paused", "retry_wait", "succeeded", "failed",
                  "cancelled"]
_MAX_BATCH = 10_000


class NewTask(BaseModel):
    """A task to submit (see ``codor task submit``)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=128,
                           description="its id (default: a new t-... id)")
    name: str = Field(default="", max_length=200)
    priority: int = Field(default=100, ge=0, le=1000, description="0 is the most urgent")
    deps: list[str] = Field(default_factory=list, max_length=1000,
                            description="tasks that must succeed first")
    agent: str | None = Field(default=None, min_length=1, max_length=128,
                              description="the agent that runs it (default: any)")
    max_retries: int = Field(default=0, ge=0, le=100)
    argv: list[str] = Field(default_factory=list, max_length=4096,
                            description="the command it runs")
    cwd: str | None = Field(default=None, min_length=1, max_length=4096)
    session: str | None = Field(default=None, min_length=1, max_length=128,
                                description="the ledger session of its transitions "
                                            "(default codor-tasks)")
    preemptible: bool = True


class NewBatch(BaseModel):
    """Tasks submitted together (dependencies may point inside the batch)."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[NewTask] = Field(min_length=1, max_length=_MAX_BATCH)


class Cancel(BaseModel):
    """An optional precondition and reason for a cancellation."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1,
                                description="refuse unless the task is still at this version")
    reason: str | None = Field(default=None, max_length=1000)


def store_of(request: Request) -> TaskStore:
    """The daemon's task store, made on first use (its tables created then)."""
    daemon = daemon_of(request)
    with _LOCK:
        found = daemon.extras.get("tasks")
        if not isinstance(found, TaskStore):
            found = daemon.extras["tasks"] = TaskStore(daemon.state, daemon.kernel)
    return found


def _by(key: ApiKey) -> str:
    return f"{key.name} (key {key.id})"


def _spec(task: NewTask, location: str) -> TaskSpec:
    data = task.model_dump()
    data["id"] = data["id"] or new_task_id()
    return TaskSpec.from_json(data, location=location)


def _list(request: Request, state: str | None, agent: str | None) -> dict[str, Any]:
    return {"tasks": [t.to_json() for t in store_of(request).list(state=state, agent=agent)]}


@router.get("/tasks", summary="Every task (optionally of one state or agent), oldest first")
async def list_tasks(request: Request, key: Reader,
                     state: Annotated[_STATES | None, Query()] = None,
                     agent: Annotated[str | None, Query(max_length=128)] = None
                     ) -> dict[str, Any]:
    return await run_in_threadpool(_list, request, state, agent)


@router.get("/tasks/{task_id}", summary="One task",
            responses={404: {"description": "no such task"}})
async def show_task(request: Request, key: Reader, task_id: TaskId) -> dict[str, Any]:
    task = await run_in_threadpool(lambda: store_of(request).get(task_id))
    return task.to_json()


def _submit(request: Request, body: NewTask | NewBatch, key: ApiKey) -> JSONResponse:
    if isinstance(body, NewBatch):
        specs = [_spec(t, f"tasks[{i}]") for i, t in enumerate(body.tasks)]
    else:
        specs = [_spec(body, "task")]
    stored = store_of(request).submit(specs, by=_by(key))
    shown = [t.to_json() for t in stored]
    return JSONResponse({"tasks": shown} if isinstance(body, NewBatch) else shown[0],
                        status_code=201)


@router.post("/tasks", status_code=201,
             summary="Submit a task, or a batch ({\"tasks\": [...]}) all or nothing",
             responses={201: {"description": "the task (a batch: {\"tasks\": [...]})"},
                        400: {"description": "an invalid task, an unknown dependency or a "
                                             "dependency cycle"},
                        409: {"description": "an id already taken"}})
async def submit_tasks(request: Request, body: NewTask | NewBatch, key: Admin) -> JSONResponse:
    return await run_in_threadpool(_submit, request, body, key)


def _cancel(request: Request, task_id: str, body: Cancel | None, key: ApiKey
            ) -> dict[str, Any]:
    change = body or Cancel()
    try:
        done = store_of(request).cancel(task_id, by=_by(key), reason=change.reason,
                                        expected_version=change.version)
    except TaskTransitionError as exc:
        raise ApiError(409, exc.code, exc.message) from None
    return {"task": done[0].to_json(), "dependents": [t.to_json() for t in done[1:]]}


@router.post("/tasks/{task_id}/cancel",
             summary="Cancel a task that has not ended, and every task waiting for it",
             responses={404: {"description": "no such task"},
                        409: {"description": "a stale version, or a task that already "
                                             "ended"}})
async def cancel_task(request: Request, key: Admin, task_id: TaskId,
                      body: Cancel | None = None) -> dict[str, Any]:
    return await run_in_threadpool(_cancel, request, task_id, body, key)
