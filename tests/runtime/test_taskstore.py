"""Tasks in the state database: submission checked against the stored tasks (all or
nothing), cancellation cascading, transitions persisted with optimistic concurrency, a
scheduler rebuilt from the store (lost runs requeued) and kept in sync, and every change in
the ledger — rolled back when the ledger refuses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codor.kernel import Kernel
from codor.runtime.scheduler import (
    CycleError,
    TaskConflictError,
    TaskError,
    TaskNotFoundError,
    TaskSpec,
    TaskTransitionError,
    TransitionRecord,
)
from codor.runtime.taskstore import TASK_SESSION, TaskStore, new_task_id
from codor.statedb import StateDB
from tests.runtime.test_registry import events


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def T(task_id: str, *deps: str, **fields: Any) -> TaskSpec:
    return TaskSpec(task_id, deps=deps, **fields)


def test_submit_persists_the_batch(tmp_path: Path) -> None:
    one = StateDB.open(tmp_path / "s.db")
    try:
        stored = TaskStore(one).submit([T("test", "build"), T("build", argv=("make",)),
                                        T("deploy", "test", agent="ops", priority=3)],
                                       by="alice")
        assert [(t.id, t.state, t.version) for t in stored] == [
            ("test", "pending", 1), ("build", "ready", 1), ("deploy", "pending", 1)]
        assert stored[1].ready_since is not None and stored[0].ready_since is None
    finally:
        one.close()
    two = StateDB.open(tmp_path / "s.db")
    try:
        store = TaskStore(two)
        assert [t.id for t in store.list()] == ["test", "build", "deploy"]  # as submitted
        assert store.get("build").spec.argv == ("make",)
        assert [t.id for t in store.list(state="pending", agent="ops")] == ["deploy"]
        assert store.list(agent="nobody") == []
        assert store.find("nope") is None
        with pytest.raises(TaskNotFoundError):
            store.get("nope")
    finally:
        two.close()


def test_submit_is_checked_against_the_stored_tasks(db: StateDB) -> None:
    store = TaskStore(db)
    store.submit(T("a"))
    with pytest.raises(TaskConflictError):
        store.submit([T("b"), T("a")])
    with pytest.raises(TaskError) as unknown:
        store.submit([T("c", "a", "ghost")])
    assert unknown.value.code == "E_TASK" and "ghost" in unknown.value.message
    with pytest.raises(CycleError) as cycle:
        store.submit([T("x", "a", "z"), T("y", "x"), T("z", "y")])
    assert set(cycle.value.cycle) == {"x", "y", "z"}
    assert [t.id for t in store.list()] == ["a"]  # nothing of a refused batch
    assert store.submit([]) == []
    assert new_task_id() != new_task_id() and new_task_id().startswith("t-")


def test_a_task_after_a_failed_one_is_cancelled_at_submit(db: StateDB) -> None:
    store = TaskStore(db)
    store.submit(T("a"))
    store.cancel("a", reason="no")
    (late,) = store.submit(T("late", "a"))
    assert (late.state, late.reason, late.version) == ("cancelled", "dependency a cancelled", 2)


def test_cancel_cascades_and_refuses_ended_or_stale(db: StateDB) -> None:
    store = TaskStore(db)
    store.submit([T("a"), T("b", "a"), T("c", "b"), T("d", "a"), T("free")])
    done = store.cancel("a", by="bob", reason="wrong branch")
    assert [(t.id, t.reason) for t in done] == [
        ("a", "wrong branch"), ("b", "dependency a cancelled"), ("d", "dependency a cancelled"),
        ("c", "dependency b cancelled")]
    assert all(t.ended is not None for t in done)
    assert store.get("free").state == "ready"
    with pytest.raises(TaskTransitionError) as ended:
        store.cancel("b")
    assert ended.value.code == "E_TASK_TRANSITION"
    with pytest.raises(TaskConflictError):
        store.cancel("free", expected_version=7)
    with pytest.raises(TaskNotFoundError):
        store.cancel("ghost")
    assert store.cancel("free", expected_version=1)[0].version == 2


def test_transitions_are_persisted_and_checked(db: StateDB) -> None:
    store = TaskStore(db)
    store.submit(T("a", max_retries=1))
    running = store.record_transition(TransitionRecord("a", "ready", "running", 10.0, None, 1))
    assert (running.state, running.started, running.attempt, running.version) == (
        "running", 10.0, 1, 2)
    waiting = store.record_transition(
        TransitionRecord("a", "running", "retry_wait", 12.0, "exit 1", 1, due=14.0))
    assert (waiting.state, waiting.failures, waiting.due, waiting.reason) == (
        "retry_wait", 1, 14.0, "exit 1")
    with pytest.raises(TaskConflictError):  # the store says retry_wait, not running
        store.record_transition(TransitionRecord("a", "running", "succeeded", 13.0, None, 1))
    same = store.record_transition(TransitionRecord("a", "running", "retry_wait", 12.0, None,
                                                    1))
    assert same == waiting  # already there: nothing changes
    with pytest.raises(TaskTransitionError):
        store.record_transition(TransitionRecord("a", "retry_wait", "succeeded", 15.0, None,
                                                 1))
    with pytest.raises(TaskConflictError):
        store.record_transition(TransitionRecord("a", None, "ready", 15.0, None, 0))


def test_two_handles_never_overwrite_each_other(tmp_path: Path) -> None:
    one, two = StateDB.open(tmp_path / "s.db"), StateDB.open(tmp_path / "s.db")
    try:
        first, second = TaskStore(one), TaskStore(two)
        first.submit(T("a"))
        worker = second.load_scheduler(global_limit=1, clock=Clock(100.0))
        assert [c.op for c in worker.dispatch()] == ["start"]
        seen = first.get("a")
        assert (seen.state, seen.version) == ("running", 2)
        first.cancel("a", reason="stop it")  # meanwhile, from the CLI
        with pytest.raises(TaskConflictError):
            worker.finished("a", True)  # the worker's record meets the cancellation
        assert second.get("a").state == "cancelled"
    finally:
        one.close()
        two.close()


def test_load_scheduler_requeues_lost_runs_and_keeps_waiting_times(db: StateDB) -> None:
    store = TaskStore(db)
    store.submit([T("done"), T("lost", "done"), T("next", "lost"), T("flaky", max_retries=2),
                  T("old")])
    first = store.load_scheduler(global_limit=3, agent_limit=3, clock=Clock(100.0))
    first.dispatch()  # done, flaky and old start; lost waits for done
    first.finished("done", True, now=101.0)
    first.dispatch(now=101.0)  # lost starts
    first.finished("flaky", False, now=102.0)  # retry_wait, due 103
    assert {t.id: t.state for t in store.list()} == {
        "done": "succeeded", "lost": "running", "next": "pending", "flaky": "retry_wait",
        "old": "running"}
    # the worker dies; a new one rebuilds from the store
    seen: list[TransitionRecord] = []
    second = store.load_scheduler(global_limit=3, agent_limit=3, clock=Clock(200.0),
                                  on_transition=seen.append, by="worker-2")
    assert sorted((r.task_id, r.old, r.new) for r in seen) == [
        ("lost", "running", "ready"), ("old", "running", "ready")]
    assert store.get("lost").state == "ready" and "lost" in str(store.get("lost").reason)
    assert second.get("done").state == "succeeded"  # kept as a dependency
    assert second.get("flaky").due == 103.0 and second.get("flaky").failures == 1
    assert second.next_wakeup() == -float("inf")  # ready tasks and free slots: dispatch now
    assert sorted(c.task_id for c in second.dispatch()) == ["flaky", "lost", "old"]
    assert store.get("flaky").attempt == 2
    second.finished("lost", True)
    assert store.get("next").state == "ready"


def test_sync_brings_a_scheduler_up_to_date(db: StateDB) -> None:
    store = TaskStore(db)
    store.submit([T("base")])
    since = store.stamp()
    worker = store.load_scheduler(global_limit=2, agent_limit=2, clock=Clock(50.0))
    worker.dispatch()
    worker.finished("base", True)
    store.submit([T("x", "base"), T("y", "x")])
    store.submit(T("z"))
    since, commands = store.sync(worker, since)
    assert commands == [] and since == store.stamp()
    assert [worker.get(t).state for t in ("x", "y", "z")] == ["ready", "pending", "ready"]
    started = worker.dispatch()
    assert sorted(c.task_id for c in started) == ["x", "z"]
    store.cancel("x", reason="changed my mind")
    since, commands = store.sync(worker, since)
    assert [(c.op, c.task_id, c.reason) for c in commands] == [("stop", "x", "changed my mind")]
    assert worker.get("y").state == "cancelled"
    assert store.sync(worker, since) == (since, [])
    # a worker that never saw a task's dependency gets it from the store
    fresh = store.load_scheduler(global_limit=1)
    store.submit(T("after-base", "base"))
    _, nothing = store.sync(fresh, since)
    assert nothing == [] and fresh.get("base").state == "succeeded"
    assert fresh.get("after-base").state == "ready"


def test_every_change_is_in_the_ledger(db: StateDB, kernel: Kernel) -> None:
    store = TaskStore(db, kernel)
    store.submit([T("a", argv=("make", "all")), T("b", "a", session="s-build")], by="alice")
    store.load_scheduler(global_limit=1, clock=Clock(10.0), by="worker").dispatch()
    store.cancel("a", by="bob", reason="enough")
    recorded = [(e.session, e.event, e.data["task"]) for e in events(kernel)
                if e.event.startswith("task.")]
    assert recorded == [
        (TASK_SESSION, "task.ready", "a"), ("s-build", "task.pending", "b"),
        (TASK_SESSION, "task.running", "a"), (TASK_SESSION, "task.cancelled", "a"),
        ("s-build", "task.cancelled", "b")]
    by_event = {(e.event, e.data["task"]): e.data for e in events(kernel)
                if e.event.startswith("task.")}
    submitted = by_event[("task.ready", "a")]
    assert (list(submitted["argv"]), submitted["by"], submitted["from"], submitted["version"]) == (
        ["make", "all"], "alice", None, 1)
    assert by_event[("task.running", "a")]["by"] == "worker"
    cancelled = by_event[("task.cancelled", "b")]
    assert (cancelled["from"], cancelled["reason"], cancelled["by"]) == (
        "pending", "dependency a cancelled", "bob")


def test_a_ledger_refusal_rolls_the_change_back(db: StateDB) -> None:
    class Refusing:
        def record_event(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("ledger down")

    store = TaskStore(db, Refusing())  # type: ignore[arg-type]
    with pytest.raises(OSError):
        store.submit([T("a"), T("b")])
    assert TaskStore(db).list() == []
    TaskStore(db).submit(T("a"))
    with pytest.raises(OSError):
        store.cancel("a")
    assert TaskStore(db).get("a").state == "ready"
