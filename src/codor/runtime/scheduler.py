"""The task scheduler: which task runs next, on which agent, and which running task gives its
slot up — a pure, in-memory core (no I/O, no threads) that an executor drives.

A :class:`TaskSpec` names a command (``argv``), the agent that runs it (or none), a priority
(0 to 1000, *lower is more urgent*), the tasks it waits for (``deps``: a DAG — a cycle is
refused at submit with :class:`CycleError`, code ``E_TASK_CYCLE``), how often a failure is
retried and whether it may be preempted. Each task moves only along this table (anything
else raises :class:`TaskTransitionError`, code ``E_TASK_TRANSITION``)::

    from         allowed next states
    (submit)     pending, ready
    pending      ready, cancelled
    ready        running, cancelled
    running      succeeded, failed, retry_wait, paused, ready, cancelled
    paused       running, ready, succeeded, failed, retry_wait, cancelled
    retry_wait   ready, cancelled
    succeeded    -
    failed       -
    cancelled    -

``pending`` waits for its dependencies, ``ready`` for a slot; ``running → paused`` is a
preemption by pausing (the task keeps its process and is resumed later), ``running → ready``
a preemption by stopping (the task is started again from scratch, which is not a retry);
``running → retry_wait`` is a failure with retries left, back to ``ready`` after a backoff of
``min(backoff_max, backoff_base * 2 ** (attempt - 1))`` seconds. A task whose dependency ends
``failed`` or ``cancelled`` is cancelled with the reason ``dependency <id> <state>``, and so
on down the graph. ``paused → ready`` is a paused task whose process is gone (a restarted
worker); a paused task may also end (its process exited while paused).

**Slots.** At most ``global_limit`` tasks run at once, and at most the agent's limit of one
agent's tasks (a task without an agent counts only against the global limit). A paused task
holds no slot; resuming it takes one. :meth:`Scheduler.dispatch` fills free slots with the
waiting tasks (``ready`` and ``paused``) in order of *effective priority*, best first.

**Aging.** A waiting task gains one priority step per ``aging_interval`` seconds waited:
``effective = priority - (now - ready_since) / aging_interval``, so nothing starves. Every
waiting task ages at the same rate, so the order by ``priority + ready_since /
aging_interval`` is the same at every moment: each agent's waiting tasks sit in one heap on
that static key (plus a heap for tasks without an agent), and a heap of those heaps' heads
finds the best startable task without looking at agents that are full. A running task does
not age: it keeps the effective priority it started with.

**Preemption** (``"pause"``, ``"stop"`` or ``"off"``). When a waiting task cannot start
because a limit is reached — the global one, or its agent's — and its effective priority is
at least ``preempt_margin`` steps better than the worst running preemptible task whose slot
would let it start (any running task for the global limit, one of the same agent's for the
agent limit), that task is paused or stopped and the slot handed on. Because running tasks
keep the priority they started with, a preempted task cannot preempt its preemptor back.

**Commands.** The scheduler decides; the executor acts: :meth:`Scheduler.dispatch` returns
:class:`Command` s (``start``, ``pause``, ``resume``, ``stop``) to carry out in order, and
the executor reports the end of each run with :meth:`Scheduler.finished` (naming the
command's ``run`` makes a report about an older run harmless). Time is passed in (``now=``)
or read from the injected ``clock``. Every transition is handed to ``on_transition`` as a
:class:`TransitionRecord` — :class:`codor.runtime.taskstore.TaskStore` persists them and
records them in the ledger — right after the change, in the middle of the call that made
it: the callback must not fail. If it raises (a store or ledger fault), the exception
propagates and this scheduler's state can no longer be trusted: drop it and rebuild one from
the store (:meth:`~codor.runtime.taskstore.TaskStore.load_scheduler`), which holds exactly
the transitions that were recorded. A scheduler is not thread-safe: one thread (the
worker's loop) drives it.

The task types, the lifecycle table, the errors and :func:`check_batch` live in
:mod:`codor.runtime.taskspec`, the queues, slots and preemption heaps in
:mod:`codor.runtime.runqueue`; every name is importable from here too.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import get_args

from codor.runtime.runqueue import (
    _WAITING,
    Preemption,
    RunQueue,
    _Entry,
    _Head,
    _Task,
    _Victim,
)
from codor.runtime.taskspec import (
    DEFAULT_PRIORITY,
    FINAL,
    INITIAL,
    MAX_PRIORITY,
    MAX_RETRIES,
    STATES,
    TRANSITIONS,
    Command,
    CycleError,
    Op,
    State,
    TaskConflictError,
    TaskError,
    TaskNotFoundError,
    TaskSpec,
    TaskState,
    TaskTransitionError,
    TransitionRecord,
    _is_int,
    check_batch,
    entry_state,
)

__all__ = [
    "DEFAULT_PRIORITY",
    "FINAL",
    "INITIAL",
    "MAX_PRIORITY",
    "MAX_RETRIES",
    "STATES",
    "TRANSITIONS",
    "Command",
    "CycleError",
    "Op",
    "Preemption",
    "Scheduler",
    "State",
    "TaskConflictError",
    "TaskError",
    "TaskNotFoundError",
    "TaskSpec",
    "TaskState",
    "TaskTransitionError",
    "TransitionRecord",
    "check_batch",
    "entry_state",
]


class Scheduler(RunQueue):
    """Tasks, their dependencies and the slots they run in (see the module doc).

    ``agent_limit``: one limit for every agent, or a mapping of agent id to limit where the
    key ``"*"`` gives the limit of agents not named (without it they have only the global
    limit). ``aging_interval``: seconds per priority step gained while waiting
    (``math.inf``: no aging). ``preempt_margin``: how many steps better than a running task a
    waiting one must be to preempt it (> 0)."""

    def __init__(self, *, global_limit: int = 8, agent_limit: int | Mapping[str, int] = 1,
                 aging_interval: float = 60.0, preemption: Preemption = "pause",
                 preempt_margin: float = 1.0, backoff_base: float = 1.0,
                 backoff_max: float = 300.0, clock: Callable[[], float] = time.time,
                 on_transition: Callable[[TransitionRecord], None] | None = None) -> None:
        if not _is_int(global_limit) or global_limit < 1:
            raise TaskError("must be a positive integer", location="global_limit")
        limits: dict[str, int] = {"*": agent_limit} if isinstance(agent_limit, int) \
            else dict(agent_limit)
        for name, limit in limits.items():
            if not _is_int(limit) or limit < 0:
                raise TaskError("an agent's limit is an integer ≥ 0",
                                location=f"agent_limit[{name!r}]")
        if not isinstance(aging_interval, (int, float)) or not aging_interval > 0:
            raise TaskError("must be a positive number of seconds (inf: no aging)",
                            location="aging_interval")
        if preemption not in get_args(Preemption):
            raise TaskError(f"one of {', '.join(get_args(Preemption))}", location="preemption")
        if not isinstance(preempt_margin, (int, float)) or not 0 < preempt_margin < math.inf:
            raise TaskError("must be a positive number of priority steps",
                            location="preempt_margin")
        if not 0 <= backoff_base <= backoff_max < math.inf:
            raise TaskError("need 0 ≤ backoff_base ≤ backoff_max (seconds)",
                            location="backoff_base")
        self._global = global_limit
        self._default_limit: int | None = limits.pop("*", None)
        self._limits: dict[str, int] = limits
        self._aging = float(aging_interval)
        self._ages = math.isfinite(self._aging)
        self._preemption: Preemption = preemption
        self._margin = float(preempt_margin)
        self._backoff_base = float(backoff_base)
        self._backoff_max = float(backoff_max)
        self._clock = clock
        self._on_transition = on_transition
        self._tasks: dict[str, _Task] = {}
        self._dependents: dict[str, list[str]] = {}
        self._counts: dict[str, int] = dict.fromkeys(STATES, 0)
        self._queues: dict[str, list[_Entry]] = {}
        self._heads: list[_Head] = []
        self._running: dict[str, int] = {}
        self._total = 0
        self._full: dict[str, None] = {}  # agents at their limit with a task running
        self._victims: dict[str, list[_Victim]] = {}
        self._all_victims: list[_Victim] = []
        self._retries: list[_Entry] = []
        self._seq = itertools.count()
        # preemption within full agents: when each one's best waiting task may preempt its
        # worst running one, (time, seq, agent) — recomputed only for agents that changed
        self._pair_times: list[tuple[float, int, str]] = []
        self._pair_seq: dict[str, int] = {}
        self._dirty: dict[str, None] = {}

    # -- reading ---------------------------------------------------------------------------

    @property
    def global_limit(self) -> int:
        return self._global

    def limit_of(self, agent: str | None) -> int:
        """How many of ``agent``'s tasks may run at once (``None``: tasks without an agent,
        limited only by the global limit)."""
        if not agent:
            return self._global
        limit = self._limits.get(agent, self._default_limit)
        return self._global if limit is None else limit

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def get(self, task_id: str) -> TaskState:
        return self._task(task_id).view()

    def tasks(self, state: str | None = None) -> Iterator[TaskState]:
        """Every task (optionally of one state), in submission order."""
        for task in self._tasks.values():
            if state is None or task.state == state:
                yield task.view()

    def counts(self) -> dict[str, int]:
        """How many tasks are in each state."""
        return dict(self._counts)

    def running(self, agent: str | None = None) -> int:
        """How many tasks run now (of ``agent``, when given)."""
        return self._total if agent is None else self._running.get(agent, 0)

    def effective_priority(self, task_id: str, now: float | None = None) -> float:
        """The priority the task competes with now: aged while it waits, frozen while it
        runs, its own otherwise."""
        task = self._task(task_id)
        if task.state in _WAITING:
            now = self._clock() if now is None else now
            return task.key - now / self._aging if self._ages else task.key
        if task.state == "running":
            return task.run_priority
        return float(task.spec.priority)

    def next_wakeup(self) -> float | None:
        """The earliest time at which :meth:`dispatch` would act without any other event —
        a retry falling due, a waiting task aged enough to preempt one — or ``None`` (a time
        already past means: dispatch now)."""
        best = math.inf
        while self._retries:
            due, seq, task_id = self._retries[0]
            task = self._tasks[task_id]
            if task.state == "retry_wait" and task.seq == seq:
                best = due
                break
            heapq.heappop(self._retries)
        if self._total < self._global and self._best_head() is not None:
            return -math.inf
        if self._preemption != "off":
            pair = self._first_pair()
            if pair is not None:
                best = min(best, pair[0])
        return None if best == math.inf else best

    # -- changing --------------------------------------------------------------------------

    def submit(self, spec: TaskSpec, *, now: float | None = None) -> TaskState:
        """Add one task (see :meth:`submit_many`)."""
        return self.submit_many([spec], now=now)[0]

    def submit_many(self, specs: Iterable[TaskSpec], *,
                    now: float | None = None) -> list[TaskState]:
        """Add a batch of tasks, all or none (checked first by :func:`check_batch`). Each is
        ``ready`` when its dependencies have all succeeded, ``pending`` otherwise, and
        cancelled at once when one of them failed or was cancelled. Returns the tasks in the
        order given."""
        batch = list(specs)
        ordered = check_batch(batch, self._tasks)
        now = self._clock() if now is None else now
        for spec in ordered:
            self._insert(spec, None, now)
        return [self._tasks[spec.id].view() for spec in batch]

    def restore(self, spec: TaskSpec, state: str, *, attempt: int = 0, failures: int = 0,
                run: int = 0, ready_since: float | None = None, due: float | None = None,
                reason: str | None = None, now: float | None = None) -> TaskState:
        """Add a task as it was left by an earlier scheduler (its store), without recording
        a submission. Its dependencies must be known (restore them first) unless the task is
        final. A ``running`` or ``paused`` task has no process any more: it goes back to
        ``ready`` (recorded); a ``pending`` task whose dependencies have all succeeded
        becomes ``ready`` and one with a failed or cancelled dependency is cancelled
        (recorded)."""
        if state not in STATES:
            raise TaskError(f"unknown state {state!r}", location="state")
        if spec.id in self._tasks:
            raise TaskConflictError(f"task {spec.id!r} already exists", location="id")
        if state not in FINAL:
            for dep in spec.deps:
                if dep not in self._tasks:
                    raise TaskError(f"unknown dependency {dep!r}", location="deps")
        now = self._clock() if now is None else now
        task = self._insert(spec, state, now, attempt=attempt, failures=failures, run=run,
                            since=ready_since, due=due, reason=reason)
        return task.view()

    def dispatch(self, now: float | None = None) -> list[Command]:
        """What the executor must do now, in order: retries that fell due become ``ready``,
        free slots are filled best first, then waiting tasks preempt running ones where the
        rules allow (each ``pause``/``stop`` followed by the ``start``/``resume`` that takes
        the slot)."""
        now = self._clock() if now is None else now
        out: list[Command] = []
        retries = self._retries
        while retries and retries[0][0] <= now:
            due, seq, task_id = heapq.heappop(retries)
            task = self._tasks[task_id]
            if task.state == "retry_wait" and task.seq == seq:
                task.due = None
                self._move(task, "ready", now, f"attempt {task.failures + 1} of "
                           f"{task.spec.max_retries + 1}")
                self._enqueue(task, due)  # waiting (and aging) since it fell due
        self._fill(now, out)
        if self._preemption != "off":
            while (pair := self._first_pair()) is not None and now >= pair[0]:
                _, candidate, victim = pair
                self._evict(victim, now, out, f"preempted: {candidate[2]} is more urgent")
                self._fill(now, out)
        return out

    def finished(self, task_id: str, ok: bool, *, now: float | None = None,
                 reason: str | None = None, run: int | None = None) -> TaskState | None:
        """The executor's report that a run ended (``ok``: it succeeded). Success releases
        the tasks waiting for it; a failure is retried after a backoff while retries are
        left, otherwise the task fails and its dependents are cancelled. With ``run`` (the
        number of the :class:`Command` that started it), a report about another run — one
        stopped by a preemption or a cancellation — is ignored and ``None`` returned."""
        task = self._task(task_id)
        if run is not None and (run != task.run or task.state not in ("running", "paused")):
            return None
        if task.state not in ("running", "paused"):
            raise TaskTransitionError(f"task {task_id!r} is {task.state}, not running")
        now = self._clock() if now is None else now
        was_running = task.state == "running"
        if ok:
            self._move(task, "succeeded", now, reason)
            task.ended = now
            self._release_slot(task, was_running)
            for dep_id in self._dependents.pop(task_id, ()):
                dependent = self._tasks[dep_id]
                if dependent.state == "pending":
                    dependent.blocked -= 1
                    if dependent.blocked == 0:
                        self._move(dependent, "ready", now, None)
                        self._enqueue(dependent, now)
            return task.view()
        attempt = task.failures + 1
        if attempt <= task.spec.max_retries:
            delay = min(self._backoff_max, self._backoff_base * 2.0 ** (attempt - 1))
            task.due = now + delay
            self._move(task, "retry_wait", now, reason or f"attempt {attempt} failed; "
                       f"retry in {delay:g}s")
            task.failures = attempt
            task.seq = next(self._seq)
            heapq.heappush(self._retries, (task.due, task.seq, task_id))
            self._release_slot(task, was_running)
        else:
            self._move(task, "failed", now, reason or f"attempt {attempt} failed")
            task.failures = attempt
            task.ended = now
            self._release_slot(task, was_running)
            self._cascade(task, now)
        return task.view()

    def cancel(self, task_id: str, reason: str | None = None, *,
               now: float | None = None) -> list[Command]:
        """Cancel a task that has not ended, and every task waiting for it. Returns the
        ``stop`` command for its run when it was running or paused (the executor kills it);
        a final task is a :class:`TaskTransitionError`."""
        task = self._task(task_id)
        if task.state in FINAL:
            raise TaskTransitionError(f"task {task_id!r} already ended ({task.state})")
        now = self._clock() if now is None else now
        out: list[Command] = []
        self._cancel_one(task, now, reason or "cancelled", out)
        self._cascade(task, now)
        return out

    # -- internals -------------------------------------------------------------------------

    def _task(self, task_id: str) -> _Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise TaskNotFoundError(f"no task {task_id!r}")
        return task

    def _record(self, task: _Task, old: State | None, at: float) -> None:
        if self._on_transition is not None:
            self._on_transition(TransitionRecord(task.spec.id, old, task.state, at,
                                                 task.reason, task.attempt, task.due))

    def _move(self, task: _Task, new: State, at: float, reason: str | None) -> None:
        old = task.state
        if new not in TRANSITIONS[old]:
            allowed = ", ".join(sorted(TRANSITIONS[old])) or "nothing"
            raise TaskTransitionError(f"task {task.spec.id!r} cannot go from {old} to {new} "
                                      f"(from {old}: {allowed})")
        counts = self._counts
        counts[old] -= 1
        counts[new] += 1
        task.state = new
        task.reason = reason
        task.transitions += 1
        self._dirty[task.agent] = None
        self._record(task, old, at)

    def _insert(self, spec: TaskSpec, state: str | None, now: float, *, attempt: int = 0,
                failures: int = 0, run: int = 0, since: float | None = None,
                due: float | None = None, reason: str | None = None) -> _Task:
        """A new task (``state`` None: a submission) with its dependencies linked."""
        task = _Task(spec)
        task.attempt, task.failures, task.run, task.reason = attempt, failures, run, reason
        self._tasks[spec.id] = task
        if state in FINAL:  # restored only to be depended on
            task.state = state  # type: ignore[assignment]
            self._counts[state] += 1
            return task
        tasks = self._tasks
        entered, doomed = entry_state((dep, tasks[dep].state) for dep in spec.deps)
        if doomed is None:
            for dep in spec.deps:
                if tasks[dep].state != "succeeded":
                    task.blocked += 1
                    self._dependents.setdefault(dep, []).append(spec.id)
        if state is None:  # submitted: recorded
            task.state = "ready" if entered == "ready" else "pending"
            self._counts[task.state] += 1
            task.transitions = 1
            self._record(task, None, now)
            if task.state == "ready":
                self._enqueue(task, now)
        elif state in ("running", "paused"):  # its process is gone: requeue
            task.state = state  # type: ignore[assignment]
            self._counts[state] += 1
            self._move(task, "ready", now, f"requeued: the run of the {state} task was lost")
            self._enqueue(task, now)
        elif state == "retry_wait":
            task.state = "retry_wait"
            self._counts[state] += 1
            task.due = now if due is None else due
            task.seq = next(self._seq)
            heapq.heappush(self._retries, (task.due, task.seq, spec.id))
        else:  # pending or ready
            task.state = "ready" if state == "ready" and not task.blocked else "pending"
            self._counts[task.state] += 1
            if task.state == "ready":
                self._enqueue(task, now if since is None else since)
            elif not task.blocked and doomed is None:
                self._move(task, "ready", now, None)
                self._enqueue(task, now)
        if doomed is not None:
            self._cancel_one(task, now, doomed, [])
            self._cascade(task, now)
        return task

    def _cancel_one(self, task: _Task, now: float, reason: str, out: list[Command]) -> None:
        was = task.state
        task.due = None
        self._move(task, "cancelled", now, reason)
        task.ended = now
        if was in ("running", "paused"):
            out.append(Command("stop", task.spec.id, task.run, task.spec, reason))
            self._release_slot(task, was == "running")

    def _cascade(self, root: _Task, now: float) -> None:
        """Cancel everything that waits, directly or not, for ``root`` (failed or
        cancelled). Iterative: chains may be long."""
        stack = [root]
        while stack:
            task = stack.pop()
            for dep_id in self._dependents.pop(task.spec.id, ()):
                dependent = self._tasks[dep_id]
                if dependent.state not in FINAL:
                    self._cancel_one(dependent, now, f"dependency {task.spec.id} "
                                     f"{task.state}", [])
                    stack.append(dependent)
