"""Tasks in the state database: what was submitted, where each task is in its lifecycle, and
a :class:`~codor.runtime.scheduler.Scheduler` rebuilt from it — every change recorded in
the ledger.

**Persistence.** Tasks live in the ``tasks`` table of a :class:`~codor.statedb.StateDB`
(the workspace's ``.codor/state.db``, or schema ``codor_state`` of the PostgreSQL ledger's
database), their spec as JSON, their dependencies also in ``task_deps`` (so cancelling one
finds its dependents). :meth:`TaskStore.submit` checks a batch against the stored tasks with
the scheduler's own :func:`~codor.runtime.scheduler.check_batch` (an id taken, an unknown
dependency, a cycle) and writes all of it or nothing. Each row has a ``version`` that every
change increments: a change based on another version is refused with
:class:`~codor.runtime.scheduler.TaskConflictError` (``E_CONFLICT``), and a transition whose
``old`` state is not the stored one likewise, so a cancellation made with ``codor task
cancel`` is never overwritten unseen by a worker. A transition to the state already stored
is accepted and changes nothing (a worker's scheduler cancelling what the store already
cancelled). Each change also takes a ``stamp`` from one counter for the whole table, so a
worker can ask for the tasks changed since it last looked (:meth:`TaskStore.changes`,
:meth:`TaskStore.sync`); writers are serialised (SQLite's write lock; a transaction-scoped
advisory lock on PostgreSQL), so stamps commit in order.

**Scheduling.** :meth:`TaskStore.load_scheduler` builds a scheduler from the tasks that
have not ended (and the ended ones they depend on), wired to record each of its transitions
here: a task stored ``running`` or ``paused`` lost its run with the worker that had it and
goes back to ``ready``. :meth:`TaskStore.sync` brings an existing scheduler up to date with
the tasks submitted or cancelled since a stamp.

**Ledger.** With a :class:`~codor.kernel.Kernel` given, every submission, cancellation and
transition is appended as an event ``task.<new state>`` (``task.pending``, ``task.running``,
``task.cancelled``...) with the task's id, name, agent, priority, attempt, the old and new
state, the new version, who did it and why (a submission also with its command, working
directory, dependencies and retries) to the task's ``session``, ``codor-tasks`` when it
names none. The event is appended inside the state transaction: if the ledger refuses it
the change is rolled back, so no transition goes unrecorded.
"""

from __future__ import annotations

import builtins
import json
import time
from collections import deque
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from codor.runtime.scheduler import (
    FINAL,
    STATES,
    TRANSITIONS,
    Command,
    Scheduler,
    State,
    TaskConflictError,
    TaskNotFoundError,
    TaskSpec,
    TaskTransitionError,
    TransitionRecord,
    check_batch,
    entry_state,
)
from codor.statedb import StateDB

if TYPE_CHECKING:
    from codor.kernel import Kernel

__all__ = ["TASK_SESSION", "StoredTask", "TaskStore", "new_task_id"]

#: the ledger session of a task that names none
TASK_SESSION: Final = "codor-tasks"

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
    "spec TEXT NOT NULL, agent TEXT, state TEXT NOT NULL, attempt INTEGER NOT NULL, "
    "failures INTEGER NOT NULL, reason TEXT, since REAL, due REAL, started REAL, ended REAL, "
    "version INTEGER NOT NULL, stamp INTEGER NOT NULL, created REAL NOT NULL, "
    "updated REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state)",
    "CREATE INDEX IF NOT EXISTS tasks_stamp ON tasks (stamp)",
    "CREATE TABLE IF NOT EXISTS task_deps (task TEXT NOT NULL, dep TEXT NOT NULL, "
    "PRIMARY KEY (task, dep))",
    "CREATE INDEX IF NOT EXISTS task_deps_dep ON task_deps (dep)",
)
_SELECT: Final = ("SELECT id, seq, spec, state, attempt, failures, reason, since, due, "
                  "started, ended, version, stamp, created, updated FROM tasks")
_INSERT: Final = ("INSERT INTO tasks (id, seq, spec, state, attempt, failures, reason, since, "
                  "due, started, ended, version, stamp, created, updated, agent) VALUES "
                  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_LIVE: Final = " WHERE state NOT IN ('succeeded', 'failed', 'cancelled')"
#: the tasks that have not ended and wait for one task
_WAITING_FOR: Final = (" JOIN task_deps ON task_deps.task = tasks.id WHERE task_deps.dep = ? "
                       "AND tasks.state NOT IN ('succeeded', 'failed', 'cancelled') "
                       "ORDER BY tasks.seq")
_STATES_OF: Final = "SELECT id, state FROM tasks WHERE id IN "
_NEXT: Final = {"stamp": "SELECT MAX(stamp) FROM tasks", "seq": "SELECT MAX(seq) FROM tasks"}
_CHUNK: Final = 500  # ids per IN (...) query


@dataclass(frozen=True, slots=True)
class StoredTask:
    """One task as stored (``version`` increments with every change, ``stamp`` is the
    table-wide counter value of its last change)."""

    spec: TaskSpec
    state: State
    attempt: int = 0
    failures: int = 0
    reason: str | None = None
    ready_since: float | None = None
    due: float | None = None
    started: float | None = None
    ended: float | None = None
    version: int = 1
    stamp: int = 0
    seq: int = 0
    created: float = 0.0
    updated: float = 0.0

    @property
    def id(self) -> str:
        return self.spec.id

    def to_json(self) -> dict[str, Any]:
        return {**self.spec.to_json(), "state": self.state, "attempt": self.attempt,
                "failures": self.failures, "reason": self.reason,
                "ready_since": self.ready_since, "due": self.due, "started": self.started,
                "ended": self.ended, "version": self.version, "created": self.created,
                "updated": self.updated}


def _row(row: Sequence[Any]) -> StoredTask:
    (task_id, seq, spec, state, attempt, failures, reason, since, due, started, ended,
     version, stamp, created, updated) = row
    parsed = TaskSpec.from_json(json.loads(spec), location=f"task {task_id}")
    return StoredTask(parsed, state, int(attempt), int(failures), reason,
                      None if since is None else float(since),
                      None if due is None else float(due),
                      None if started is None else float(started),
                      None if ended is None else float(ended), int(version), int(stamp),
                      int(seq), float(created), float(updated))


def new_task_id() -> str:
    """A fresh task id, ``t-`` and 12 random hex digits."""
    import secrets

    return f"t-{secrets.token_hex(6)}"


class _Either:
    """Ids in any of several containers."""

    def __init__(self, *parts: Container[str]) -> None:
        self._parts = parts

    def __contains__(self, item: object) -> bool:
        return any(item in part for part in self._parts)


def _marks(n: int) -> str:
    """``(?, ?, ...)``: ``n`` placeholders."""
    return "(" + ", ".join("?" * n) + ")"


class TaskStore:
    """Tasks in a state database; with ``kernel``, every change recorded in its ledger."""

    def __init__(self, db: StateDB, kernel: Kernel | None = None) -> None:
        self._db = db
        self._kernel = kernel
        db.migrate(_SCHEMA)

    # -- reading ---------------------------------------------------------------------------

    def find(self, task_id: str) -> StoredTask | None:
        rows = self._db.query(_SELECT + " WHERE id = ?", (task_id,))
        return _row(rows[0]) if rows else None

    def get(self, task_id: str) -> StoredTask:
        task = self.find(task_id)
        if task is None:
            raise TaskNotFoundError(f"no task {task_id!r}")
        return task

    def list(self, *, state: str | None = None, agent: str | None = None
             ) -> builtins.list[StoredTask]:
        """Every task (optionally of one state and/or agent), in submission order."""
        where, params = [], []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if agent is not None:
            where.append("agent = ?")
            params.append(agent)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return [_row(r) for r in self._db.query(sql, params)]

    def stamp(self) -> int:
        """The stamp of the latest change (0: none yet)."""
        rows = self._db.query("SELECT MAX(stamp) FROM tasks")
        return int(rows[0][0] or 0)

    def changes(self, since: int = 0) -> tuple[int, builtins.list[StoredTask]]:
        """The tasks changed after stamp ``since``, in submission order, and the stamp to
        ask from next time."""
        tasks = [_row(r) for r in self._db.query(_SELECT + " WHERE stamp > ? ORDER BY seq",
                                                 (since,))]
        return max([since, *(t.stamp for t in tasks)]), tasks

    # -- changing --------------------------------------------------------------------------

    def submit(self, specs: TaskSpec | Iterable[TaskSpec], *, by: str | None = None
               ) -> builtins.list[StoredTask]:
        """Store a batch of new tasks, all or none, checked against the stored ones: each is
        ``ready`` when its dependencies have all succeeded, ``pending`` otherwise, and
        cancelled at once when one of them failed or was cancelled. Returns them in the order
        given."""
        batch = [specs] if isinstance(specs, TaskSpec) else builtins.list(specs)
        if not batch:
            return []
        now = time.time()
        made: dict[str, StoredTask] = {}
        with self._db.transaction():
            self._lock()
            wanted = {s.id for s in batch} | {d for s in batch for d in s.deps}
            states = self._states(wanted)
            ordered = check_batch(batch, states)
            stamp, first = self._next("stamp"), self._next("seq")
            seqs = {spec.id: first + i for i, spec in enumerate(batch)}  # as given
            for spec in ordered:  # dependencies first
                entered, doom = entry_state((d, states[d]) for d in spec.deps)
                task = StoredTask(spec, "ready" if entered == "ready" else "pending",
                                  ready_since=now if entered == "ready" else None,
                                  stamp=stamp, seq=seqs[spec.id], created=now, updated=now)
                self._insert(task)
                self._record(task, None, by, None, submitted=True)
                if doom is not None:
                    task = self._move(task, "cancelled", now, doom, by, stamp)
                states[spec.id] = task.state
                made[spec.id] = task
        return [made[s.id] for s in batch]

    def cancel(self, task_id: str, *, by: str | None = None, reason: str | None = None,
               expected_version: int | None = None) -> builtins.list[StoredTask]:
        """Cancel a task that has not ended and every task waiting for it (a worker running
        it stops it when it syncs). Returns the task, then the dependents cancelled with it.
        A final task is a :class:`TaskTransitionError`; a stale ``expected_version`` a
        :class:`TaskConflictError`."""
        now = time.time()
        with self._db.transaction():
            self._lock()
            task = self.get(task_id)
            if expected_version is not None and task.version != expected_version:
                raise TaskConflictError(f"task {task_id!r} changed meanwhile (version "
                                        f"{task.version}, expected {expected_version}); "
                                        "read it again")
            if task.state in FINAL:
                raise TaskTransitionError(f"task {task_id!r} already ended ({task.state})")
            stamp = self._next("stamp")
            done = [self._move(task, "cancelled", now, reason or "cancelled", by, stamp)]
            todo = deque([done[0]])
            while todo:  # the tasks waiting for it, and for them...
                root = todo.popleft()
                rows = self._db.query(_SELECT + _WAITING_FOR, (root.id,))
                for row in rows:
                    dependent = self._move(_row(row), "cancelled", now,
                                           f"dependency {root.id} {root.state}", by, stamp)
                    done.append(dependent)
                    todo.append(dependent)
        return done

    def record_transition(self, record: TransitionRecord, *, by: str | None = None
                          ) -> StoredTask:
        """Persist a scheduler's transition (its ``on_transition``). A move to the state
        already stored changes nothing; a move from another state than the stored one is a
        :class:`TaskConflictError`."""
        with self._db.transaction():
            self._lock()
            task = self.get(record.task_id)
            if task.state == record.new:
                return task
            if record.old is None or task.state != record.old:
                raise TaskConflictError(
                    f"task {record.task_id!r} is {task.state} in the store, not "
                    f"{record.old or 'new'}; sync the scheduler with the store")
            return self._move(task, record.new, record.at, record.reason, by,
                              self._next("stamp"), attempt=record.attempt, due=record.due)

    # -- scheduling ------------------------------------------------------------------------

    def load_scheduler(self, *, by: str | None = None, record: bool = True,
                       **settings: Any) -> Scheduler:
        """A :class:`Scheduler` (``settings``: its keyword arguments) holding the stored
        tasks that have not ended, and the ended ones they depend on. With ``record``, each
        of its transitions is recorded here (then handed to the ``on_transition`` given in
        ``settings``, if any); tasks stored running or paused go back to ready."""
        then: Callable[[TransitionRecord], None] | None = settings.pop("on_transition", None)
        if record:
            def on_transition(rec: TransitionRecord) -> None:
                self.record_transition(rec, by=by)
                if then is not None:
                    then(rec)

            settings["on_transition"] = on_transition
        elif then is not None:
            settings["on_transition"] = then
        scheduler = Scheduler(**settings)
        live = [_row(r) for r in self._db.query(_SELECT + _LIVE + " ORDER BY seq")]
        self._restore(scheduler, live)
        return scheduler

    def sync(self, scheduler: Scheduler, since: int) -> tuple[int, builtins.list[Command]]:
        """Bring ``scheduler`` up to date with the tasks changed after stamp ``since``: new
        ones are added (with the ended tasks they depend on), ones cancelled here are
        cancelled there. Returns the stamp to sync from next time and the commands the
        cancellations need (``stop`` for a run)."""
        stamp, changed = self.changes(since)
        self._restore(scheduler, [t for t in changed if t.id not in scheduler
                                  and t.state not in FINAL])
        commands: builtins.list[Command] = []
        for task in changed:
            if task.state == "cancelled" and task.id in scheduler and \
                    scheduler.get(task.id).state not in FINAL:
                commands += scheduler.cancel(task.id, task.reason)
        return stamp, commands

    # -- internals -------------------------------------------------------------------------

    def _restore(self, scheduler: Scheduler, tasks: builtins.list[StoredTask]) -> None:
        """Add ``tasks`` (in submission order) to ``scheduler``, after the tasks they depend
        on that it does not hold."""
        if not tasks:
            return
        have = {t.id for t in tasks}
        missing = {d for t in tasks for d in t.spec.deps if d not in have and d not in scheduler}
        extra = self._fetch(missing)
        while True:  # a missing dependency that has not ended needs its own dependencies
            more = {d for t in extra.values() if t.state not in FINAL for d in t.spec.deps
                    if d not in have and d not in extra and d not in scheduler}
            if not more:
                break
            extra.update(self._fetch(more))
        todo = sorted((t for t in [*extra.values(), *tasks] if t.id not in scheduler),
                      key=lambda t: t.seq)
        stored = {t.id: t for t in todo}
        ended = [t.spec for t in todo if t.state in FINAL]  # needed only as dependencies
        live = check_batch([t.spec for t in todo if t.state not in FINAL],
                           _Either(scheduler, {s.id for s in ended}))
        for spec in [*ended, *live]:  # the live ones after their dependencies
            task = stored[spec.id]
            scheduler.restore(spec, task.state, attempt=task.attempt, failures=task.failures,
                              ready_since=task.ready_since, due=task.due, reason=task.reason)

    def _fetch(self, ids: Iterable[str]) -> dict[str, StoredTask]:
        wanted = sorted(ids)
        found: dict[str, StoredTask] = {}
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i:i + _CHUNK]
            for row in self._db.query(_SELECT + " WHERE id IN " + _marks(len(part)), part):
                task = _row(row)
                found[task.id] = task
        return found

    def _states(self, ids: Iterable[str]) -> dict[str, str]:
        """The stored state of each of ``ids`` that is stored."""
        wanted = sorted(ids)
        states: dict[str, str] = {}
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i:i + _CHUNK]
            states.update((str(r[0]), str(r[1]))
                          for r in self._db.query(_STATES_OF + _marks(len(part)), part))
        return states

    def _lock(self) -> None:
        """Serialise the writers of this table for the transaction (SQLite: its write lock,
        taken by ``BEGIN IMMEDIATE``)."""
        if self._db.dialect == "postgresql":
            self._db.query("SELECT pg_advisory_xact_lock(hashtext('codor_tasks'))")

    def _next(self, column: str) -> int:
        rows = self._db.query(_NEXT[column])
        return int(rows[0][0] or 0) + 1

    def _insert(self, task: StoredTask) -> None:
        spec = task.spec
        self._db.execute(_INSERT, (spec.id, task.seq, json.dumps(spec.to_json()), task.state,
                                   task.attempt, task.failures, task.reason, task.ready_since,
                                   task.due, task.started, task.ended, task.version,
                                   task.stamp, task.created, task.updated, spec.agent))
        for dep in spec.deps:
            self._db.execute("INSERT INTO task_deps (task, dep) VALUES (?, ?)", (spec.id, dep))

    def _move(self, task: StoredTask, to: State, at: float, reason: str | None,
              by: str | None, stamp: int, *, attempt: int | None = None,
              due: float | None = None) -> StoredTask:
        if to not in STATES or to not in TRANSITIONS[task.state]:
            allowed = ", ".join(sorted(TRANSITIONS[task.state])) or "nothing"
            raise TaskTransitionError(f"task {task.id!r} cannot go from {task.state} to {to} "
                                      f"(from {task.state}: {allowed})")
        attempt = task.attempt if attempt is None else attempt
        failures = attempt if task.state in ("running", "paused") and \
            to in ("retry_wait", "failed") else task.failures
        moved = StoredTask(
            task.spec, to, attempt, failures, reason,
            at if to in ("ready", "paused") else None, due if to == "retry_wait" else None,
            at if to == "running" and task.state == "ready" else task.started,
            at if to in FINAL else None, task.version + 1, stamp, task.seq, task.created,
            time.time())
        changed = self._db.execute(
            "UPDATE tasks SET state = ?, attempt = ?, failures = ?, reason = ?, since = ?, "
            "due = ?, started = ?, ended = ?, version = ?, stamp = ?, updated = ? "
            "WHERE id = ? AND version = ?",
            (moved.state, moved.attempt, moved.failures, moved.reason, moved.ready_since,
             moved.due, moved.started, moved.ended, moved.version, moved.stamp, moved.updated,
             task.id, task.version))
        if changed != 1:
            raise TaskConflictError(f"task {task.id!r} changed meanwhile; read it again")
        self._record(moved, task.state, by, reason)
        return moved

    def _record(self, task: StoredTask, old: str | None, by: str | None, reason: str | None,
                *, submitted: bool = False) -> None:
        if self._kernel is None:
            return
        spec = task.spec
        data: dict[str, Any] = {"task": spec.id, "name": spec.label, "agent": spec.agent,
                                "priority": spec.priority, "from": old, "to": task.state,
                                "attempt": task.attempt, "version": task.version}
        if submitted:
            data.update(argv=list(spec.argv), cwd=spec.cwd, deps=list(spec.deps),
                        max_retries=spec.max_retries, preemptible=spec.preemptible)
        if task.due is not None:
            data["due"] = task.due
        if by is not None:
            data["by"] = by
        if reason is not None:
            data["reason"] = reason
        from codor.model import Agent as Principal

        session = spec.session or TASK_SESSION
        self._kernel.record_event(session, f"task.{task.state}", data,
                                  agent=Principal(session))

