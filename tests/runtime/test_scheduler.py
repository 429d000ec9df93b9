"""The task scheduler, deterministic on an injected clock: the lifecycle table (every allowed
move observed, the others refused), submission checks (unknown dependency, id taken, cycles
in a batch), global and per-agent limits, priority order, preemption by pausing and by
stopping, aging, retries with backoff, cascading cancellation, restore."""

from __future__ import annotations

import math
from typing import Any

import pytest

from codor.runtime.scheduler import (
    FINAL,
    STATES,
    TRANSITIONS,
    Command,
    CycleError,
    Scheduler,
    TaskConflictError,
    TaskError,
    TaskNotFoundError,
    TaskSpec,
    TaskTransitionError,
    TransitionRecord,
    check_batch,
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(**settings: Any) -> tuple[Scheduler, list[TransitionRecord], Clock]:
    records: list[TransitionRecord] = []
    clock = settings.pop("clock", None) or Clock()
    defaults: dict[str, Any] = {"global_limit": 2, "agent_limit": 1, "aging_interval": math.inf,
                                "preemption": "off", "backoff_base": 2.0, "backoff_max": 5.0}
    sched = Scheduler(**{**defaults, **settings}, clock=clock, on_transition=records.append)
    return sched, records, clock


def ops(commands: list[Command]) -> list[tuple[str, str]]:
    return [(c.op, c.task_id) for c in commands]


def T(task_id: str, **fields: Any) -> TaskSpec:
    if "deps" in fields:
        fields["deps"] = tuple(fields["deps"])
    return TaskSpec(task_id, **fields)


# -- the task spec ---------------------------------------------------------------------------

def test_spec_round_trips_through_json_and_names_bad_fields() -> None:
    spec = T("build-1", name="build", priority=7, deps=["a", "b"], agent="claude-1",
             max_retries=2, argv=("make", "-j4"), cwd="/src", session="s-1",
             preemptible=False)
    assert TaskSpec.from_json(spec.to_json()) == spec
    assert TaskSpec.from_json({"id": "x", "deps": ["a", "a", "b"]}).deps == ("a", "b")
    bad = {"id": "a b", "priority": -1, "priority_": 2}
    with pytest.raises(TaskError) as err:
        TaskSpec.from_json(bad)
    assert err.value.location == "task" and "priority_" in err.value.message
    cases = [({"id": "a b"}, "task.id"), ({"id": "a", "priority": 1001}, "task.priority"),
             ({"id": "a", "priority": True}, "task.priority"),
             ({"id": "a", "deps": ["ok", "not ok"]}, "task.deps[1]"),
             ({"id": "a", "deps": "b"}, "task.deps"), ({"id": "a", "agent": ""}, "task.agent"),
             ({"id": "a", "max_retries": 101}, "task.max_retries"),
             ({"id": "a", "argv": ["x\0y"]}, "task.argv[0]"), ({"id": "a", "cwd": ""}, "task.cwd"),
             ({"id": "a", "name": "x\ny"}, "task.name"),
             ({"id": "a", "session": "codor-admin"}, "task.session"),
             ({"id": "a", "preemptible": "yes"}, "task.preemptible"), ({"name": "x"}, "task")]
    for data, location in cases:
        with pytest.raises(TaskError) as err:
            TaskSpec.from_json(data)
        assert (err.value.code, err.value.location) == ("E_TASK", location), data
    with pytest.raises(TaskError):
        TaskSpec("ok", deps=("a", "a"))  # made directly: a dependency twice is refused
    assert T("x", argv=("pytest", "-q")).label == "pytest -q"


# -- the lifecycle table ---------------------------------------------------------------------

def test_the_table_is_closed_and_final_states_are_final() -> None:
    assert set(TRANSITIONS) == set(STATES)
    assert {"succeeded", "failed", "cancelled"} == FINAL
    for state in FINAL:
        assert TRANSITIONS[state] == frozenset()


def _every_move() -> set[tuple[str | None, str]]:
    """Drive scenarios that together take every move of the table; the moves recorded."""
    seen: set[tuple[str | None, str]] = set()

    def note(records: list[TransitionRecord]) -> None:
        seen.update((r.old, r.new) for r in records)

    # submit ready/pending; pending -> ready; ready -> running -> succeeded
    sched, records, _ = make()
    sched.submit_many([T("a"), T("b", deps=["a"])])
    sched.dispatch()
    sched.finished("a", True)
    # pending -> cancelled (cascade); running -> failed
    sched.dispatch()
    sched.submit(T("c", deps=["b"]))
    sched.finished("b", False)
    # ready -> cancelled; retry_wait -> cancelled; running -> retry_wait -> ready
    sched.submit_many([T("r", max_retries=2), T("q")])
    sched.dispatch()
    sched.submit(T("z"))
    sched.cancel("z")
    sched.finished("r", False)
    sched.finished("q", False)
    sched.cancel("r")
    sched.submit(T("r2", max_retries=1))
    sched.dispatch()
    sched.finished("r2", False)
    sched.dispatch(now=10**6)
    note(records)
    # running -> paused -> running; running -> ready (stop); running -> cancelled
    for mode in ("pause", "stop"):
        sched, records, _ = make(global_limit=1, preemption=mode)
        sched.submit(T("slow", priority=500))
        sched.dispatch()
        sched.submit(T("urgent", priority=1))
        sched.dispatch()
        sched.finished("urgent", True)
        sched.dispatch()
        sched.cancel("slow")
        note(records)
    # paused -> succeeded / failed / retry_wait / cancelled / ready (restored)
    for end in ("succeeded", "failed", "retry_wait", "cancelled", "ready"):
        sched, records, _ = make(global_limit=1, preemption="pause")
        sched.submit(T("low", priority=500, max_retries=1 if end == "retry_wait" else 0))
        sched.dispatch()
        sched.submit(T("high", priority=1))
        sched.dispatch()
        assert sched.get("low").state == "paused"
        if end == "cancelled":
            assert ops(sched.cancel("low")) == [("stop", "low")]
        elif end == "ready":
            restored, again, _ = make()
            restored.restore(sched.get("low").spec, "paused")
            records = again
        else:
            sched.finished("low", end == "succeeded")
        note(records)
    return seen


def test_every_move_of_the_table_is_taken() -> None:
    allowed = {(old, new) for old, nexts in TRANSITIONS.items() for new in nexts}
    allowed |= {(None, "pending"), (None, "ready")}
    assert _every_move() == allowed


def test_moves_outside_the_table_are_refused() -> None:
    sched, records, _ = make()
    sched.submit_many([T("a"), T("b", deps=["a"])])
    for task_id in ("a", "b"):  # ready, pending: not running
        with pytest.raises(TaskTransitionError) as err:
            sched.finished(task_id, True)
        assert err.value.code == "E_TASK_TRANSITION"
    sched.dispatch()
    sched.finished("a", True)
    with pytest.raises(TaskTransitionError):
        sched.cancel("a")  # already ended
    with pytest.raises(TaskTransitionError):
        sched.finished("a", True)
    with pytest.raises(TaskNotFoundError) as missing:
        sched.get("nobody")
    assert missing.value.code == "E_NOT_FOUND"
    before = len(records)
    with pytest.raises(TaskNotFoundError):
        sched.cancel("nobody")
    assert len(records) == before


# -- submission ------------------------------------------------------------------------------

def test_cycle_is_rejected_at_submit() -> None:
    sched, records, _ = make()
    with pytest.raises(CycleError) as err:
        sched.submit_many([T("a", deps=["b"]), T("b", deps=["a"])])
    assert err.value.code == "E_TASK_CYCLE"
    assert err.value.cycle in (("a", "b", "a"), ("b", "a", "b"))
    assert "a → b → a" in str(err.value) or "b → a → b" in str(err.value)
    with pytest.raises(CycleError) as self_loop:
        sched.submit(T("s", deps=["s"]))
    assert self_loop.value.cycle == ("s", "s")
    assert len(sched) == 0 and records == []  # all or nothing


def test_a_cycle_inside_a_larger_batch_is_named_exactly() -> None:
    sched, _, _ = make()
    sched.submit(T("old"))
    batch = [T("x", deps=["old"]), T("p", deps=["x", "r"]), T("q", deps=["p"]),
             T("r", deps=["q"]), T("y", deps=["x"])]
    with pytest.raises(CycleError) as err:
        sched.submit_many(batch)
    cycle = err.value.cycle
    assert cycle[0] == cycle[-1] and set(cycle) == {"p", "q", "r"} and len(cycle) == 4
    assert len(sched) == 1


def test_unknown_dependency_and_taken_id_are_refused() -> None:
    sched, _, _ = make()
    sched.submit(T("a"))
    with pytest.raises(TaskError) as unknown:
        sched.submit_many([T("b"), T("c", deps=["b", "nope"])])
    assert (unknown.value.code, unknown.value.location) == ("E_TASK", "tasks[1].deps")
    with pytest.raises(TaskConflictError) as taken:
        sched.submit(T("a"))
    assert taken.value.code == "E_CONFLICT"
    with pytest.raises(TaskError) as twice:
        sched.submit_many([T("d"), T("d")])
    assert twice.value.location == "tasks[1].id"
    assert [t.id for t in sched.tasks()] == ["a"]


def test_check_batch_orders_dependencies_first() -> None:
    ordered = check_batch([T("c", deps=["b"]), T("b", deps=["a"]), T("a", deps=["old"])],
                          {"old"})
    assert [s.id for s in ordered] == ["a", "b", "c"]


def test_dependencies_on_earlier_tasks_in_any_state() -> None:
    sched, records, _ = make(global_limit=4, agent_limit=4)
    sched.submit_many([T("done"), T("runs"), T("fails")])
    sched.dispatch()
    sched.finished("done", True)
    sched.finished("fails", False)
    made = sched.submit_many([T("after-done", deps=["done"]), T("after-runs", deps=["runs"]),
                              T("after-fails", deps=["fails"]),
                              T("after-that", deps=["after-fails"])])
    assert [t.state for t in made] == ["ready", "pending", "cancelled", "cancelled"]
    assert sched.get("after-fails").reason == "dependency fails failed"
    assert sched.get("after-that").reason == "dependency after-fails cancelled"
    moves = [(r.task_id, r.old, r.new) for r in records if r.task_id == "after-fails"]
    assert moves == [("after-fails", None, "pending"), ("after-fails", "pending", "cancelled")]


# -- slots -----------------------------------------------------------------------------------

def test_global_and_agent_limits_are_respected() -> None:
    sched, _, _ = make(global_limit=3, agent_limit=2)
    sched.submit_many([T(f"a{i}", agent="A") for i in range(4)]
                      + [T(f"n{i}") for i in range(3)])
    first = sched.dispatch()
    assert ops(first) == [("start", "a0"), ("start", "a1"), ("start", "n0")]
    assert sched.running() == 3 and sched.running("A") == 2
    assert sched.dispatch() == []
    sched.finished("a0", True)
    assert ops(sched.dispatch()) == [("start", "a2")]
    sched.finished("n0", True)
    assert ops(sched.dispatch()) == [("start", "n1")]  # A is full: a3 waits


def test_per_agent_limits_with_a_default() -> None:
    sched, _, _ = make(global_limit=10, agent_limit={"*": 1, "big": 3, "off": 0})
    sched.submit_many([T(f"{agent}{i}", agent=agent) for agent in ("big", "small", "off")
                       for i in range(4)])
    started = ops(sched.dispatch())
    assert sorted(started) == [("start", "big0"), ("start", "big1"), ("start", "big2"),
                               ("start", "small0")]
    assert sched.limit_of("big") == 3 and sched.limit_of("other") == 1
    assert sched.limit_of(None) == 10 and sched.next_wakeup() is None
    no_default, _, _ = make(global_limit=5, agent_limit={"x": 1})
    assert no_default.limit_of("y") == 5


def test_more_urgent_first_and_submission_order_on_ties() -> None:
    sched, _, _ = make(global_limit=1)
    sched.submit_many([T("late", priority=100), T("urgent", priority=1),
                       T("tie-1", priority=50), T("tie-2", priority=50)])
    order = []
    for _ in range(4):
        (command,) = sched.dispatch()
        order.append(command.task_id)
        sched.finished(command.task_id, True)
    assert order == ["urgent", "tie-1", "tie-2", "late"]


def test_dependents_wait_for_success() -> None:
    sched, _, _ = make(global_limit=5, agent_limit=5)
    sched.submit_many([T("a"), T("b"), T("c", deps=["a", "b"])])
    assert ops(sched.dispatch()) == [("start", "a"), ("start", "b")]
    sched.finished("a", True)
    assert sched.dispatch() == [] and sched.get("c").blocked == 1
    sched.finished("b", True)
    assert sched.get("c").state == "ready"
    assert ops(sched.dispatch()) == [("start", "c")]


# -- preemption ------------------------------------------------------------------------------

def test_preemption_by_pausing_hands_the_slot_on_and_resumes_later() -> None:
    sched, _, clock = make(global_limit=1, preemption="pause")
    sched.submit(T("low", priority=500))
    (start,) = sched.dispatch()
    sched.submit(T("high", priority=10))
    commands = sched.dispatch()
    assert ops(commands) == [("pause", "low"), ("start", "high")]
    assert commands[0].run == start.run and "high is more urgent" in str(commands[0].reason)
    assert sched.get("low").state == "paused" and sched.running() == 1
    assert sched.dispatch() == []  # the paused task cannot take the slot back
    clock.now += 5
    sched.finished("high", True)
    (resume,) = sched.dispatch()
    assert (resume.op, resume.task_id, resume.run) == ("resume", "low", start.run)
    low = sched.get("low")
    assert (low.state, low.run, low.attempt, low.started) == ("running", 1, 1, 1000.0)


def test_preemption_by_stopping_requeues_without_a_retry() -> None:
    sched, _, _ = make(global_limit=1, preemption="stop")
    sched.submit(T("low", priority=500))
    sched.dispatch()
    sched.submit(T("high", priority=10))
    assert ops(sched.dispatch()) == [("stop", "low"), ("start", "high")]
    low = sched.get("low")
    assert (low.state, low.failures, low.attempt) == ("ready", 0, 1)
    sched.finished("high", True)
    (again,) = sched.dispatch()
    assert (again.op, again.run) == ("start", 2)
    assert sched.finished("low", True, run=1) is None  # the stopped run's report: ignored
    assert sched.get("low").state == "running"
    assert sched.get("low").attempt == 1


def test_preemption_frees_the_limit_that_blocks() -> None:
    sched, _, _ = make(global_limit=3, agent_limit=1, preemption="pause")
    sched.submit_many([T("x-low", agent="X", priority=900), T("y-lower", agent="Y",
                                                              priority=999)])
    sched.dispatch()
    sched.submit(T("x-high", agent="X", priority=1))
    # a global slot is free but X is full: the victim is X's own task, not Y's worse one
    assert ops(sched.dispatch()) == [("pause", "x-low"), ("start", "x-high")]
    sched.submit_many([T("n1", priority=500), T("n2", priority=2)])
    # n1 takes the free global slot; n2 then preempts the worst running task anywhere
    assert ops(sched.dispatch()) == [("start", "n2"), ("pause", "y-lower"), ("start", "n1")]


def test_no_preemption_below_the_margin_nor_of_unpreemptible_tasks() -> None:
    sched, _, _ = make(global_limit=1, preemption="pause", preempt_margin=5)
    sched.submit(T("busy", priority=100))
    sched.dispatch()
    sched.submit(T("close", priority=96))
    assert sched.dispatch() == []
    sched.submit(T("far", priority=95))
    assert ops(sched.dispatch()) == [("pause", "busy"), ("start", "far")]
    fixed, _, _ = make(global_limit=1, preemption="stop")
    fixed.submit(T("keep", priority=900, preemptible=False))
    fixed.dispatch()
    fixed.submit(T("urgent", priority=0))
    assert fixed.dispatch() == [] and fixed.next_wakeup() is None
    off, _, _ = make(global_limit=1, preemption="off")
    off.submit(T("low", priority=900))
    off.dispatch()
    off.submit(T("urgent", priority=0))
    assert off.dispatch() == []


# -- aging -----------------------------------------------------------------------------------

def test_aging_lets_a_waiting_task_overtake() -> None:
    sched, _, clock = make(global_limit=1, aging_interval=10.0)
    sched.submit(T("running"))
    sched.dispatch()
    sched.submit(T("old-low", priority=50))
    clock.now += 200  # 20 steps: effective 30
    sched.submit(T("new-high", priority=40))
    assert sched.effective_priority("old-low") == pytest.approx(30.0)
    assert sched.effective_priority("new-high") == pytest.approx(40.0)
    sched.finished("running", True)
    assert ops(sched.dispatch()) == [("start", "old-low")]
    assert sched.effective_priority("old-low") == pytest.approx(30.0)  # frozen while running


def test_without_aging_the_order_never_changes() -> None:
    sched, _, clock = make(global_limit=1, aging_interval=math.inf)
    sched.submit(T("running"))
    sched.dispatch()
    sched.submit(T("old-low", priority=50))
    clock.now += 10**6
    sched.submit(T("new-high", priority=40))
    sched.finished("running", True)
    assert ops(sched.dispatch()) == [("start", "new-high")]


def test_aging_preempts_at_the_time_next_wakeup_names() -> None:
    sched, _, _ = make(global_limit=1, aging_interval=10.0, preemption="pause")
    sched.submit(T("busy", priority=100))
    sched.dispatch()
    sched.submit(T("patient", priority=130))
    # effective 130 - t/10 must reach 100 - 1 (the margin): after 310 s
    assert sched.next_wakeup() == pytest.approx(1000.0 + 310.0)
    assert sched.dispatch(now=1000.0 + 309.0) == []
    assert ops(sched.dispatch(now=1000.0 + 310.0)) == [("pause", "busy"), ("start", "patient")]
    # the preempted task restarts aging from its base priority and cannot preempt back
    assert sched.effective_priority("patient") == pytest.approx(99.0)
    assert sched.dispatch(now=1310.0) == []
    assert sched.next_wakeup() == pytest.approx(1310.0 + 10.0 * (100 - 99 + 1))


# -- retries ---------------------------------------------------------------------------------

def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    sched, records, clock = make(global_limit=1, backoff_base=2.0, backoff_max=5.0)
    sched.submit(T("flaky", max_retries=3))
    dues = []
    for attempt in (1, 2, 3):
        (start,) = sched.dispatch()
        assert start.run == attempt and sched.get("flaky").attempt == attempt
        state = sched.finished("flaky", False)
        assert state is not None and state.state == "retry_wait"
        assert state.due is not None
        dues.append(state.due - clock.now)
        assert sched.next_wakeup() == state.due
        assert sched.dispatch(now=state.due - 0.01) == []
        clock.now = state.due
    assert dues == [2.0, 4.0, 5.0]
    sched.dispatch()
    final = sched.finished("flaky", False)
    assert final is not None
    assert (final.state, final.attempt, final.failures) == ("failed", 4, 4)
    waits = [r for r in records if r.new == "retry_wait"]
    assert [r.attempt for r in waits] == [1, 2, 3]
    assert [r.due for r in waits] == [1002.0, 1006.0, 1011.0]


def test_a_retry_that_succeeds_releases_dependents() -> None:
    sched, _, clock = make(global_limit=1)
    sched.submit_many([T("flaky", max_retries=1), T("next", deps=["flaky"])])
    sched.dispatch()
    sched.finished("flaky", False)
    clock.now += 2
    assert ops(sched.dispatch()) == [("start", "flaky")]
    sched.finished("flaky", True)
    assert ops(sched.dispatch()) == [("start", "next")]


# -- cancellation ----------------------------------------------------------------------------

def test_failure_cascades_to_every_dependent() -> None:
    sched, _, _ = make(global_limit=1)
    sched.submit_many([T("a"), T("b", deps=["a"]), T("c", deps=["b"]), T("d", deps=["a"]),
                       T("free")])
    sched.dispatch()
    sched.finished("a", False, reason="exit 1")
    assert sched.get("a").reason == "exit 1"
    assert {t.id: t.reason for t in sched.tasks("cancelled")} == {
        "b": "dependency a failed", "c": "dependency b cancelled", "d": "dependency a failed"}
    assert ops(sched.dispatch()) == [("start", "free")]


def test_a_long_chain_cascades_without_recursion() -> None:
    sched, _, _ = make()
    sched.submit_many([T("t0")] + [T(f"t{i}", deps=[f"t{i - 1}"]) for i in range(1, 5000)])
    sched.cancel("t0")
    assert sched.counts()["cancelled"] == 5000


def test_cancelling_a_running_task_stops_it_and_frees_its_slot() -> None:
    sched, _, _ = make(global_limit=1)
    sched.submit_many([T("a"), T("b")])
    (start,) = sched.dispatch()
    stop = sched.cancel("a", "not needed")
    assert [(c.op, c.task_id, c.run, c.reason) for c in stop] == [
        ("stop", "a", start.run, "not needed")]
    assert sched.finished("a", False, run=start.run) is None  # the killed run's exit
    assert ops(sched.dispatch()) == [("start", "b")]
    assert sched.cancel("b") and sched.running() == 0
    with pytest.raises(TaskTransitionError):
        sched.finished("a", True)


def test_every_transition_is_reported_and_counted() -> None:
    sched, records, _ = make(global_limit=1)
    sched.submit_many([T("a"), T("b", deps=["a"])])
    sched.dispatch()
    sched.finished("a", True)
    sched.dispatch()
    sched.finished("b", True)
    assert [(r.task_id, r.old, r.new, r.attempt) for r in records] == [
        ("a", None, "ready", 0), ("b", None, "pending", 0), ("a", "ready", "running", 1),
        ("a", "running", "succeeded", 1), ("b", "pending", "ready", 0),
        ("b", "ready", "running", 1), ("b", "running", "succeeded", 1)]
    assert sched.counts()["succeeded"] == 2 and sched.get("b").transitions == 4
    assert records[3].to_json()["to"] == "succeeded"


# -- restore and settings -------------------------------------------------------------------

def test_restore_requeues_lost_runs_and_releases_ready_tasks() -> None:
    sched, records, _ = make(global_limit=5, agent_limit=5)
    sched.restore(T("done"), "succeeded")
    sched.restore(T("lost", deps=["done"]), "running", attempt=2, failures=1)
    sched.restore(T("waiting", deps=["done"]), "pending")
    sched.restore(T("later", deps=["lost"]), "pending")
    sched.restore(T("wait", max_retries=3), "retry_wait", failures=1, due=2000.0)
    assert [(r.task_id, r.old, r.new) for r in records] == [
        ("lost", "running", "ready"), ("waiting", "pending", "ready")]
    assert sched.get("lost").failures == 1 and sched.get("later").state == "pending"
    assert ops(sched.dispatch()) == [("start", "lost"), ("start", "waiting")]
    assert sched.next_wakeup() == 2000.0
    with pytest.raises(TaskError):
        sched.restore(T("orphan", deps=["unknown"]), "pending")
    with pytest.raises(TaskConflictError):
        sched.restore(T("done"), "succeeded")
    sched.restore(T("gone", deps=["unknown"]), "cancelled")  # final: kept only as a dependency


@pytest.mark.parametrize("settings", [
    {"global_limit": 0}, {"agent_limit": -1}, {"agent_limit": {"a": 1.5}},
    {"aging_interval": 0}, {"preemption": "kill"}, {"preempt_margin": 0},
    {"backoff_base": 10.0, "backoff_max": 1.0}])
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(TaskError):
        Scheduler(**settings)
