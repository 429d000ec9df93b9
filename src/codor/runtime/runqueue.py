"""The run queue under the scheduler (:mod:`codor.runtime.scheduler`): the waiting tasks of
each agent in a heap keyed for aging, the heap of those heaps' heads that finds the best
startable task without looking at full agents, the count of running tasks per agent and in
all (the slots), and the heaps of running preemptible tasks from which a preemption takes its
victim. :class:`RunQueue` is a base of :class:`~codor.runtime.scheduler.Scheduler`, which
owns its state (set up in ``Scheduler.__init__``) and its lifecycle; ``_Task`` is the
scheduler's mutable record of one task. No I/O, no threads.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING, Final, Literal

from codor.runtime.taskspec import Command, State, TaskSpec, TaskState

__all__ = ["Preemption", "RunQueue"]

Preemption = Literal["pause", "stop", "off"]

_WAITING: Final = frozenset({"ready", "paused"})
_NO_AGENT: Final = ""  # the queue of tasks without an agent (never a valid agent id)


class _Task:
    """The scheduler's mutable record of one task."""

    __slots__ = ("agent", "attempt", "blocked", "due", "ended", "failures", "key",
                 "ready_since", "reason", "run", "run_priority", "run_seq", "seq", "spec",
                 "started", "state", "transitions")

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.agent = spec.agent or _NO_AGENT
        self.state: State = "pending"
        self.blocked = 0
        self.seq = -1  # of its current queue (or retry) entry; entries with another are stale
        self.key = 0.0  # its queue key: priority + ready_since / aging_interval
        self.ready_since: float | None = None
        self.run = 0
        self.attempt = 0
        self.failures = 0
        self.run_seq = -1  # of its current entry in the preemption heaps
        self.run_priority = 0.0  # the effective priority it started (or resumed) with
        self.started: float | None = None
        self.ended: float | None = None
        self.due: float | None = None
        self.reason: str | None = None
        self.transitions = 0

    def view(self) -> TaskState:
        return TaskState(self.spec, self.state, self.attempt, self.failures, self.run,
                         self.ready_since, self.started, self.ended, self.due, self.reason,
                         self.transitions, self.blocked)


_Entry = tuple[float, int, str]  # (key, seq, task id) in a queue; (due, seq, id) for retries
_Head = tuple[float, int, str]  # (key, seq, agent) in the heap of queue heads
_Victim = tuple[float, int, str]  # (-run priority, -run seq, task id): the worst on top


class RunQueue:
    """The queues, slots and preemption heaps of a :class:`~codor.runtime.scheduler.Scheduler`
    (its base: the attributes below are set by ``Scheduler.__init__``)."""

    _tasks: dict[str, _Task]
    _global: int
    _aging: float
    _ages: bool
    _preemption: Preemption
    _margin: float
    _seq: itertools.count[int]
    _queues: dict[str, list[_Entry]]
    _heads: list[_Head]
    _running: dict[str, int]
    _total: int
    _full: dict[str, None]
    _victims: dict[str, list[_Victim]]
    _all_victims: list[_Victim]
    _pair_times: list[tuple[float, int, str]]
    _pair_seq: dict[str, int]
    _dirty: dict[str, None]

    if TYPE_CHECKING:  # provided by the Scheduler
        def limit_of(self, agent: str | None) -> int: ...

        def _move(self, task: _Task, new: State, at: float, reason: str | None) -> None: ...

    def _enqueue(self, task: _Task, since: float) -> None:
        """Into its agent's queue, waiting since ``since``."""
        task.ready_since = since
        task.key = task.spec.priority + since / self._aging if self._ages \
            else float(task.spec.priority)
        task.seq = seq = next(self._seq)
        agent = task.agent
        self._dirty[agent] = None
        head = self._head_of(agent)
        entry = (task.key, seq, task.spec.id)
        heapq.heappush(self._queues.setdefault(agent, []), entry)
        if (head is None or entry < head) and agent not in self._full:
            heapq.heappush(self._heads, (task.key, seq, agent))  # its agent's new head

    def _head_of(self, agent: str) -> _Entry | None:
        """The agent's best waiting task (stale entries dropped)."""
        queue = self._queues.get(agent)
        if not queue:
            return None
        tasks = self._tasks
        while queue:
            entry = queue[0]
            task = tasks[entry[2]]
            if task.seq == entry[1] and task.state in _WAITING:
                return entry
            heapq.heappop(queue)
        return None

    def _is_full(self, agent: str) -> bool:
        return agent != _NO_AGENT and self._running.get(agent, 0) >= self.limit_of(agent)

    def _best_head(self) -> tuple[str, _Entry] | None:
        """The best waiting task of an agent with a free slot, as (agent, queue entry); the
        heap of heads keeps, for every such agent, an entry no worse than its head."""
        heads = self._heads
        while heads:
            _, seq, agent = heads[0]
            if self._is_full(agent):
                heapq.heappop(heads)  # pushed again when a slot frees
                continue
            head = self._head_of(agent)
            if head is None:
                heapq.heappop(heads)
            elif head[1] != seq:
                heapq.heapreplace(heads, (head[0], head[1], agent))
            else:
                return agent, head
        return None

    def _fill(self, now: float, out: list[Command]) -> None:
        while self._total < self._global:
            best = self._best_head()
            if best is None:
                return
            self._start(best[0], best[1], now, out)

    def _start(self, agent: str, entry: _Entry, now: float, out: list[Command]) -> None:
        """Run the best startable task (``entry``, the head of ``agent``'s queue and of the
        heap of heads)."""
        task = self._tasks[entry[2]]
        resumed = task.state == "paused"
        if not resumed:
            task.attempt = task.failures + 1
        self._move(task, "running", now, None)
        heapq.heappop(self._heads)
        heapq.heappop(self._queues[agent])
        if not resumed:
            task.run += 1
            task.started = now
        task.run_priority = entry[0] - now / self._aging if self._ages else entry[0]
        task.ready_since = None
        self._total += 1
        count = self._running[agent] = self._running.get(agent, 0) + 1
        if agent != _NO_AGENT and count >= self.limit_of(agent):
            self._full[agent] = None
        if task.spec.preemptible:
            task.run_seq = next(self._seq)
            victim = (-task.run_priority, -task.run_seq, task.spec.id)
            heapq.heappush(self._all_victims, victim)
            heapq.heappush(self._victims.setdefault(agent, []), victim)
        out.append(Command("resume" if resumed else "start", task.spec.id, task.run,
                           task.spec))
        if agent not in self._full:
            head = self._head_of(agent)
            if head is not None:
                heapq.heappush(self._heads, (head[0], head[1], agent))

    def _release_slot(self, task: _Task, was_running: bool) -> None:
        """After ``task`` stopped running: its slot is free (and its agent's head a
        candidate again)."""
        if not was_running:
            return
        agent = task.agent
        self._total -= 1
        self._running[agent] -= 1
        if agent in self._full and self._running[agent] < self.limit_of(agent):
            del self._full[agent]
            head = self._head_of(agent)
            if head is not None:
                heapq.heappush(self._heads, (head[0], head[1], agent))

    def _worst(self, heap: list[_Victim] | None) -> _Task | None:
        """The running preemptible task with the worst priority (latest started on ties)."""
        if not heap:
            return None
        tasks = self._tasks
        while heap:
            _, neg_seq, task_id = heap[0]
            task = tasks[task_id]
            if task.state == "running" and task.run_seq == -neg_seq:
                return task
            heapq.heappop(heap)
        return None

    def _agent_pair(self, agent: str) -> tuple[_Entry, _Task] | None:
        """A full agent's best waiting task and its worst running preemptible one."""
        if agent not in self._full:
            return None
        head = self._head_of(agent)
        if head is None:
            return None
        victim = self._worst(self._victims.get(agent))
        return None if victim is None else (head, victim)

    def _first_pair(self) -> tuple[float, _Entry, _Task] | None:
        """Of the (waiting candidate, running victim) pairs where only a preemption can start
        the candidate — for each full agent, its best waiting task against its worst running
        one; when every slot is taken, the best startable task against the worst running one
        anywhere — the one that becomes eligible first, with that time."""
        heap, seqs = self._pair_times, self._pair_seq
        for agent in self._dirty:
            pair = self._agent_pair(agent)
            at = math.inf if pair is None else self._eligible_at(pair[0][0],
                                                                 pair[1].run_priority)
            if at == math.inf:
                seqs.pop(agent, None)
            else:
                seqs[agent] = seq = next(self._seq)
                heapq.heappush(heap, (at, seq, agent))
        self._dirty.clear()
        first: tuple[float, _Entry, _Task] | None = None
        while heap:
            at, seq, agent = heap[0]
            pair = self._agent_pair(agent) if seqs.get(agent) == seq else None
            if pair is None:
                heapq.heappop(heap)
                continue
            first = (at, *pair)
            break
        if self._total >= self._global:
            best = self._best_head()
            victim = None if best is None else self._worst(self._all_victims)
            if best is not None and victim is not None:
                at = self._eligible_at(best[1][0], victim.run_priority)
                if first is None or at < first[0]:
                    first = (at, best[1], victim)
        return first

    def _eligible_at(self, key: float, victim_priority: float) -> float:
        """When a waiting task with queue ``key`` has aged to ``preempt_margin`` steps
        better than ``victim_priority``."""
        if not self._ages:
            return -math.inf if key <= victim_priority - self._margin else math.inf
        return self._aging * (key - victim_priority + self._margin)

    def _evict(self, victim: _Task, now: float, out: list[Command], reason: str) -> None:
        if self._preemption == "pause":
            self._move(victim, "paused", now, reason)
            out.append(Command("pause", victim.spec.id, victim.run, victim.spec, reason))
        else:
            self._move(victim, "ready", now, reason)
            out.append(Command("stop", victim.spec.id, victim.run, victim.spec, reason))
        self._release_slot(victim, True)
        self._enqueue(victim, now)
