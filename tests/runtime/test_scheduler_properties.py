"""Scheduler properties under random workloads (hypothesis), each driven by a simulated
executor on a simulated clock: random DAGs arriving over time, priorities, agents and limits,
runs that fail or succeed, cancellations, every preemption mode. At every moment the limits
hold; no task starts before all its dependencies succeeded; every transition reported is in
the table; every task ends; and a low-priority task is never starved by a stream of urgent
ones — it starts within a bound derived from ``aging_interval``."""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codor.runtime.scheduler import (
    FINAL,
    TRANSITIONS,
    Command,
    Scheduler,
    TaskSpec,
    TransitionRecord,
)

AGENTS = (None, "a", "b", "c")


@dataclass
class Workload:
    specs: list[TaskSpec]
    arrival: dict[str, float]  # submission time of each task (a batch shares one time)
    durations: dict[str, float]
    outcomes: dict[str, list[bool]]  # per task: the result of each run, in order
    cancels: list[tuple[float, str]]
    settings: dict[str, Any]


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    n = draw(st.integers(1, 40))
    specs: list[TaskSpec] = []
    arrival: dict[str, float] = {}
    durations: dict[str, float] = {}
    outcomes: dict[str, list[bool]] = {}
    t = 0.0
    for i in range(n):
        if i == 0 or draw(st.booleans()):
            t += draw(st.sampled_from([0.0, 0.5, 3.0, 20.0]))  # a new batch
        task_id = f"t{i}"
        deps = draw(st.sets(st.sampled_from([f"t{j}" for j in range(i)]), max_size=3)
                    if i else st.just(set[str]()))
        retries = draw(st.integers(0, 2))
        specs.append(TaskSpec(task_id, priority=draw(st.integers(0, 1000)),
                              deps=tuple(sorted(deps)), agent=draw(st.sampled_from(AGENTS)),
                              max_retries=retries, preemptible=draw(st.booleans())))
        arrival[task_id] = t
        durations[task_id] = draw(st.floats(0.5, 30.0))
        outcomes[task_id] = draw(st.lists(st.booleans(), min_size=retries + 1,
                                          max_size=retries + 1))
    cancels = draw(st.lists(st.tuples(st.floats(0.0, 200.0),
                                      st.sampled_from([s.id for s in specs])), max_size=3))
    agent_limit = draw(st.one_of(st.integers(1, 3), st.fixed_dictionaries(
        {"*": st.integers(1, 2), "a": st.integers(1, 4)})))
    config = {"global_limit": draw(st.integers(1, 5)), "agent_limit": agent_limit,
              "aging_interval": draw(st.sampled_from([0.5, 5.0, 60.0, math.inf])),
              "preemption": draw(st.sampled_from(["pause", "stop", "off"])),
              "preempt_margin": draw(st.sampled_from([1.0, 10.0])),
              "backoff_base": draw(st.sampled_from([0.0, 1.0, 4.0])), "backoff_max": 10.0}
    return Workload(specs, arrival, durations, outcomes, cancels, config)


@dataclass
class Executor:
    """The simulated executor: applies commands, knows what runs, checks every moment."""

    sched: Scheduler
    limit: dict[str | None, int]
    durations: dict[str, float]
    outcomes: dict[str, list[bool]]
    now: float = 0.0
    live: dict[str, tuple[int, float]] = field(default_factory=dict)  # task -> (run, end)
    left: dict[str, float] = field(default_factory=dict)  # paused task -> time still needed
    ends: list[tuple[float, int, str]] = field(default_factory=list)
    first_start: dict[str, float] = field(default_factory=dict)

    def apply(self, commands: list[Command]) -> None:
        for c in commands:
            state = self.sched.get(c.task_id)
            if c.op == "start":
                assert c.task_id not in self.live and c.task_id not in self.left
                for dep in state.spec.deps:  # a start only after every dependency succeeded
                    assert self.sched.get(dep).state == "succeeded", (c.task_id, dep)
                self.first_start.setdefault(c.task_id, self.now)
                self._run(c, self.durations[c.task_id])
            elif c.op == "resume":
                self._run(c, self.left.pop(c.task_id))
            elif c.op == "pause":
                run, end = self.live.pop(c.task_id)
                assert run == c.run and state.state == "paused"
                self.left[c.task_id] = end - self.now
            else:  # stop: preempted (ready again) or cancelled
                assert state.state in ("ready", "cancelled")
                self.live.pop(c.task_id, None)
                self.left.pop(c.task_id, None)
            self.check_limits()  # at every moment, not only after the whole list
        assert self.sched.running() == len(self.live)

    def _run(self, c: Command, needs: float) -> None:
        assert self.sched.get(c.task_id).state == "running"
        self.live[c.task_id] = (c.run, self.now + needs)
        heapq.heappush(self.ends, (self.now + needs, c.run, c.task_id))

    def check_limits(self) -> None:
        per_agent: dict[str | None, int] = defaultdict(int)
        for task_id in self.live:
            per_agent[self.sched.get(task_id).spec.agent] += 1
        assert len(self.live) <= self.sched.global_limit
        for agent, count in per_agent.items():
            if agent is not None:
                assert count <= self.sched.limit_of(agent), (agent, count)

    def next_end(self) -> float:
        while self.ends and self.live.get(self.ends[0][2]) != (self.ends[0][1],
                                                               self.ends[0][0]):
            heapq.heappop(self.ends)
        return self.ends[0][0] if self.ends else math.inf

    def finish_due(self) -> None:
        while self.next_end() <= self.now:
            _, run, task_id = heapq.heappop(self.ends)
            del self.live[task_id]
            attempt = self.sched.get(task_id).attempt  # a stopped run's restart: the same
            outcomes = self.outcomes[task_id]
            ok = outcomes[attempt - 1] if attempt <= len(outcomes) else True
            assert self.sched.finished(task_id, ok, now=self.now, run=run) is not None


class Legality:
    """An ``on_transition`` that checks each record against the table and the last state."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.records: list[TransitionRecord] = []

    def __call__(self, record: TransitionRecord) -> None:
        self.records.append(record)
        if record.old is None:
            assert record.task_id not in self.state and record.new in ("pending", "ready")
        else:
            assert self.state[record.task_id] == record.old, record
            assert record.new in TRANSITIONS[record.old], record
        self.state[record.task_id] = record.new


def simulate(work: Workload) -> tuple[Scheduler, Executor, Legality]:
    legality = Legality()
    sched = Scheduler(**work.settings, clock=lambda: 0.0, on_transition=legality)
    ex = Executor(sched, {}, work.durations, work.outcomes)
    batches: dict[float, list[TaskSpec]] = defaultdict(list)
    for spec in work.specs:
        batches[work.arrival[spec.id]].append(spec)
    arrivals = sorted(batches)
    cancels = sorted(work.cancels)
    for _ in range(100_000):
        while arrivals and arrivals[0] <= ex.now:
            sched.submit_many(batches[arrivals.pop(0)], now=ex.now)
        ex.finish_due()
        while cancels and cancels[0][0] <= ex.now:
            _, task_id = cancels.pop(0)
            if task_id in sched and sched.get(task_id).state not in FINAL:
                ex.apply(sched.cancel(task_id, "test", now=ex.now))
        ex.apply(sched.dispatch(ex.now))
        wake = sched.next_wakeup()
        assert wake is None or wake > ex.now  # what is due now, dispatch did
        nxt = min(ex.next_end(), arrivals[0] if arrivals else math.inf,
                  cancels[0][0] if cancels else math.inf,
                  math.inf if wake is None else wake)
        if nxt == math.inf:
            break
        assert nxt > ex.now
        ex.now = nxt
    else:
        raise AssertionError("the simulation did not end")
    return sched, ex, legality


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(work=workloads())
def test_limits_dependencies_legality_and_completion(work: Workload) -> None:
    sched, ex, legality = simulate(work)
    # every task ended, and the scheduler's view agrees with the records
    assert sched.counts()["succeeded"] + sched.counts()["failed"] + \
        sched.counts()["cancelled"] == len(work.specs)
    for spec in work.specs:
        state = sched.get(spec.id)
        assert state.state in FINAL and legality.state[spec.id] == state.state
        if state.state == "succeeded":
            assert all(sched.get(d).state == "succeeded" for d in spec.deps)
        elif state.state == "failed":
            assert state.failures == spec.max_retries + 1
        elif state.reason != "test":  # cancelled by a dependency that did not succeed
            assert state.reason is not None and state.reason.startswith("dependency ")
            dep = state.reason.split()[1]
            assert dep in spec.deps and sched.get(dep).state in ("failed", "cancelled")
    assert not ex.live and not ex.left


@dataclass
class Stream:
    """One low-priority task among a continuous stream of more urgent ones."""

    limit: int
    aging: float
    urgent: int  # the stream's priority
    gap: int  # the low task is this many steps worse
    every: float  # an urgent task arrives this often
    duration: float  # every run takes this long
    backlog: int  # urgent tasks waiting when the low one arrives
    preemption: str


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    limit = draw(st.integers(1, 3))
    duration = draw(st.sampled_from([2.0, 5.0, 10.0]))
    # overloaded: urgent work arrives faster than it can run, so without aging the low
    # task would wait for ever
    every = duration / limit / draw(st.sampled_from([1.5, 2.0, 4.0]))
    return Stream(limit, draw(st.sampled_from([0.5, 1.0, 3.0])), draw(st.integers(0, 100)),
                  draw(st.integers(1, 60)), every, duration, draw(st.integers(0, 10)),
                  draw(st.sampled_from(["pause", "stop", "off"])))


def run_stream(s: Stream, horizon: float) -> tuple[float | None, list[float]]:
    """The low task's first start (None: not within ``horizon``) and the urgent arrivals."""
    sched = Scheduler(global_limit=s.limit, agent_limit=1, aging_interval=s.aging,
                      preemption=s.preemption, clock=lambda: 0.0)  # type: ignore[arg-type]
    durations: defaultdict[str, float] = defaultdict(lambda: s.duration)
    ex = Executor(sched, {}, durations, defaultdict(lambda: [True]))
    arrivals: list[float] = []
    count = 0

    def urgent() -> None:
        nonlocal count
        sched.submit(TaskSpec(f"u{count}", priority=s.urgent), now=ex.now)
        arrivals.append(ex.now)
        count += 1

    for _ in range(s.limit + s.backlog):
        urgent()
    ex.apply(sched.dispatch(ex.now))
    sched.submit(TaskSpec("low", priority=s.urgent + s.gap), now=ex.now)
    next_arrival = s.every
    while ex.now <= horizon and "low" not in ex.first_start:
        while next_arrival <= ex.now:
            urgent()
            next_arrival += s.every
        ex.finish_due()
        ex.apply(sched.dispatch(ex.now))
        wake = sched.next_wakeup()
        ex.now = max(ex.now, min(ex.next_end(), next_arrival,
                                 math.inf if wake is None else wake))
    return ex.first_start.get("low"), arrivals


@settings(max_examples=200, deadline=None)
@given(s=streams())
def test_no_starvation_within_the_aging_bound(s: Stream) -> None:
    # The low task L arrives at t0 = 0 with key gap steps worse than the stream's. Waiting
    # tasks are ordered by priority + ready_since / aging, so an urgent task that arrives (or
    # is requeued by a preemption) after T = t0 + aging * gap queues behind L: only the
    # urgent tasks that arrived by T can ever be ahead of it. Every run ends (or is preempted,
    # which also starts a waiting task) within one duration, so each of the `limit` slots
    # takes at least one task from the head of the queue per duration: L starts by
    # T + (ceil(ahead / limit) + 1) * duration.
    t_aged = s.aging * s.gap
    ahead = 1 + s.limit + s.backlog + int(t_aged / s.every) + 1
    bound = t_aged + (math.ceil(ahead / s.limit) + 1) * s.duration
    started, _ = run_stream(s, horizon=bound + 10 * s.duration)
    assert started is not None and started <= bound + 1e-6, (started, bound)


def test_without_aging_the_same_stream_starves_the_low_task() -> None:
    stream = Stream(limit=1, aging=math.inf, urgent=10, gap=1, every=1.0, duration=2.0,
                    backlog=0, preemption="pause")
    started, arrivals = run_stream(stream, horizon=5000.0)
    assert started is None and len(arrivals) > 4000
