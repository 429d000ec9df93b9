"""The task worker with real processes: dependencies in order, a policy deny fails a run
without starting it, retries, a memory limit, preemption by pausing, a cancellation from
elsewhere, and every run's decision, outcome and process events in the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from codor.integrations.context import open_kernel
from codor.kernel import Kernel
from codor.runtime.scheduler import TaskSpec
from codor.runtime.supervisor import Limits
from codor.runtime.taskstore import TaskStore
from codor.runtime.taskworker import TaskWorker
from codor.statedb import StateDB
from codor.workspace import Workspace

PY = sys.executable
CODOR = str(Path(sys.executable).with_name("codor"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    return root


@pytest.fixture
def parts(workspace: Path) -> Iterator[tuple[TaskStore, Kernel]]:
    kernel = open_kernel(workspace, remote=False)
    db = StateDB.open(workspace / ".codor" / "state.db")
    try:
        yield TaskStore(db, kernel), kernel
    finally:
        kernel.close()
        db.close()


def _worker(parts: tuple[TaskStore, Kernel], workspace: Path, **kw: Any) -> TaskWorker:
    store, kernel = parts
    settings: dict[str, Any] = {"global_limit": 4, "agent_limit": 1, "backoff_base": 0.05,
                                "poll_interval": 0.02}
    settings.update(kw)
    return TaskWorker(store, kernel, workspace=workspace, home=workspace / ".codor", **settings)


def _records(workspace: Path) -> list[dict[str, Any]]:
    ledger = Workspace.at(workspace).open_ledger(signing=False)
    try:
        return [json.loads(e.leaf) for e in ledger.store.entries(0, ledger.store.size())
                if e.leaf]
    finally:
        ledger.close()


def test_tasks_run_in_dependency_order_under_the_policy_and_are_recorded(
        parts: tuple[TaskStore, Kernel], workspace: Path) -> None:
    store, _ = parts
    marker = workspace / "order.txt"
    step = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    store.submit([
        TaskSpec("first", argv=(PY, "-c", step, str(marker), "first"), priority=500),
        TaskSpec("second", argv=(PY, "-c", step, str(marker), "second"), deps=("first",),
                 priority=0),
        TaskSpec("flaky", argv=(PY, "-c", "raise SystemExit(3)"), max_retries=1),
        TaskSpec("nuke", argv=("rm", "-rf", "/")),
    ])
    with _worker(parts, workspace) as worker:
        counts = worker.run(until_idle=True, timeout=60)
    assert marker.read_text().split() == ["first", "second"]
    states = {t.id: (t.state, t.reason) for t in store.list()}
    assert states["first"][0] == states["second"][0] == "succeeded"
    assert states["flaky"] == ("failed", "exit code 3")
    assert states["nuke"][0] == "failed" and "denied by policy" in str(states["nuke"][1])
    assert (counts.started, counts.succeeded, counts.failed, counts.refused) == (4, 2, 2, 1)
    assert store.get("flaky").attempt == 2

    records = [r for r in _records(workspace) if r.get("session") == "codor-tasks"]
    decided = {tuple(r["action"]["argv"])[:2]: r["decision"]["decision"] for r in records
               if r["type"] == "decision"}
    assert decided[("rm", "-rf")] == "deny"
    outcomes = sorted(r["exit_status"] for r in records if r["type"] == "outcome")
    assert outcomes == [0, 0, 3, 3]  # the denied command never ran
    events = [r["event"] for r in records if r["type"] == "event"]
    assert events.count("process.started") == 4 and "task.retry_wait" in events
    assert (workspace / ".codor" / "tasks" / "first.1.out").is_file()


def test_a_run_over_its_memory_limit_is_killed_and_its_task_fails(
        parts: tuple[TaskStore, Kernel], workspace: Path) -> None:
    store, _ = parts
    hog = "import time\nb = []\nfor _ in range(60):\n    b.append(bytearray(8 << 20)); " \
          "time.sleep(0.02)\ntime.sleep(5)"
    store.submit(TaskSpec("hog", argv=(PY, "-c", hog)))
    with _worker(parts, workspace, limits=Limits(memory_bytes=64 << 20)) as worker:
        worker.run(until_idle=True, timeout=60)
    task = store.get("hog")
    assert task.state == "failed" and "over limit 64 MiB" in str(task.reason)
    events = [r["event"] for r in _records(workspace) if r.get("type") == "event"]
    assert "process.limit_exceeded" in events and "process.killed" in events


def test_an_urgent_task_pauses_a_running_one_which_then_resumes(
        parts: tuple[TaskStore, Kernel], workspace: Path) -> None:
    store, _ = parts
    slow = workspace / "slow.done"
    store.submit(TaskSpec("slow", priority=500, argv=(
        PY, "-c", f"import time; time.sleep(1.5); open({str(slow)!r}, 'w').close()")))
    with _worker(parts, workspace, global_limit=1, preemption="pause") as worker:
        deadline = time.monotonic() + 20
        while store.get("slow").state != "running" and time.monotonic() < deadline:
            worker.step()
            time.sleep(0.02)
        pid = worker.executor.status(next(iter(worker._runs))).pid
        assert pid is not None
        store.submit(TaskSpec("urgent", priority=0, argv=(PY, "-c", "import time; "
                                                           "time.sleep(0.5)")))
        seen_stopped = False
        while store.get("urgent").state != "succeeded" and time.monotonic() < deadline:
            worker.step()
            if store.get("slow").state == "paused":
                seen_stopped = seen_stopped or psutil.Process(pid).status() == "stopped"
            time.sleep(0.02)
        worker.run(until_idle=True, timeout=20)
    assert seen_stopped
    assert store.get("urgent").state == "succeeded" and store.get("slow").state == "succeeded"
    assert slow.exists()


def test_a_task_cancelled_elsewhere_is_stopped(parts: tuple[TaskStore, Kernel],
                                               workspace: Path) -> None:
    store, _ = parts
    store.submit(TaskSpec("long", argv=(PY, "-c", "import time; time.sleep(30)")))
    other_db = StateDB.open(workspace / ".codor" / "state.db")
    other = TaskStore(other_db)  # as `codor task cancel` would, from another process

    def cancel_when_running() -> None:
        deadline = time.monotonic() + 20
        while other.get("long").state != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        other.cancel("long", by="test", reason="not needed")

    thread = threading.Thread(target=cancel_when_running)
    thread.start()
    started = time.monotonic()
    with _worker(parts, workspace) as worker:
        worker.run(until_idle=True, timeout=30)
    thread.join()
    other_db.close()
    assert time.monotonic() - started < 15
    assert store.get("long").state == "cancelled"
    assert worker.counters.stopped == 1


def test_codor_task_run_until_idle(workspace: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODOR_HOME"}

    def codor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CODOR, *args], cwd=workspace, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    assert codor("task", "submit", "--id", "hello", "--", PY, "-c", "print('hi')").returncode == 0
    done = codor("task", "run", "--until-idle", "--memory-mb", "200", "--wall-seconds", "30")
    assert done.returncode == 0, done.stderr
    assert "started hello (run 1)" in done.stdout and "finished hello (run 1)" in done.stdout
    assert "1 succeeded" in done.stderr
    assert (workspace / ".codor" / "tasks" / "hello.1.out").read_text() == "hi\n"
    shown = json.loads(codor("task", "show", "hello", "--json").stdout)
    assert shown["state"] == "succeeded"


def test_a_relative_cwd_is_the_workspaces_for_the_decision_and_the_run(
        parts: tuple[TaskStore, Kernel], workspace: Path) -> None:
    store, _ = parts
    victim = workspace / ".codor" / "keys" / "victim.key"
    victim.parent.mkdir(exist_ok=True)
    victim.write_text("secret")
    store.submit(TaskSpec("rel", argv=("rm", "-f", "keys/victim.key"), cwd=".codor"))
    with _worker(parts, workspace) as worker:
        worker.run(until_idle=True, timeout=30)
    task = store.get("rel")
    assert task.state == "failed" and "denied by policy" in str(task.reason)
    assert victim.exists()


def test_stopping_the_worker_reports_no_result_and_the_next_worker_runs_the_task_again(
        parts: tuple[TaskStore, Kernel], workspace: Path) -> None:
    store, _ = parts
    marker = workspace / "runs.txt"
    body = (f"import signal, sys, time\nopen({str(marker)!r}, 'a').write('run\\n')\n"
            "print('attempt', flush=True)\n"
            "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\ntime.sleep(30)")
    store.submit([TaskSpec("slow", argv=(PY, "-c", body)),
                  TaskSpec("after", argv=(PY, "-c", "pass"), deps=("slow",))])
    worker = _worker(parts, workspace)
    worker.run(timeout=1.0)
    worker.close(grace=2)  # the command exits 0 on SIGTERM: still not a success
    assert store.get("slow").state == "running" and store.get("after").state == "pending"
    assert worker.counters.succeeded == 0

    again = _worker(parts, workspace, limits=Limits(wall_seconds=0.5))
    with again:
        again.run(until_idle=True, timeout=30)
    assert marker.read_text() == "run\nrun\n"
    # run numbers restart with the new worker: its output replaced the first worker's
    assert (workspace / ".codor" / "tasks" / "slow.1.out").read_text() == "attempt\n"


def test_a_task_cancelled_elsewhere_as_it_ends_does_not_disturb_the_other_runs(
        parts: tuple[TaskStore, Kernel], workspace: Path) -> None:
    store, _ = parts
    store.submit([TaskSpec("quick", argv=(PY, "-c", "pass")),
                  TaskSpec("long", argv=(PY, "-c", "import time; time.sleep(1)"))])
    other_db = StateDB.open(workspace / ".codor" / "state.db")
    other = TaskStore(other_db)
    worker = _worker(parts, workspace, agent_limit=2)
    real = worker.executor.finished
    cancelled: list[str] = []

    def finished() -> list[tuple[str, Any]]:
        ended = real()
        if ended and not cancelled:  # quick has ended: someone cancels it right now
            other.cancel("quick", by="test", reason="raced")
            cancelled.append("quick")
        return ended

    worker.executor.finished = finished  # type: ignore[method-assign]
    try:
        with worker:
            worker.run(until_idle=True, timeout=30)
    finally:
        other_db.close()
    assert cancelled == ["quick"]
    assert store.get("quick").state == "cancelled"
    assert store.get("long").state == "succeeded" and store.get("long").attempt == 1
    assert worker.counters.started == 2  # nothing was stopped and run again
