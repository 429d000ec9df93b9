"""The task worker: runs the scheduled tasks of a workspace — the scheduler decides what runs,
the policy decides whether it may, the adaptive executor runs it, the ledger records all of it.

:class:`TaskWorker` loads the :class:`~codor.runtime.taskstore.TaskStore`'s unfinished tasks
into a :class:`~codor.runtime.scheduler.Scheduler` and loops: pick up tasks submitted or
cancelled elsewhere (``codor task``, the daemon), :meth:`~Scheduler.dispatch`, carry each
command out on an :class:`~codor.runtime.supervisor.AdaptiveExecutor`, and report every run
that ended back to the scheduler (exit 0 is success; anything else a failure, retried as the
task allows). Every transition is stored and recorded by the store.

**Policy.** Before a run starts, its command is decided as a ``command.exec`` action of the
task's agent in the task's session (``codor-tasks`` unless the task names one): a deny — or an
``ask``, since nobody is there to answer it — fails the run without starting anything, with the
decision's reason. A started run's end is recorded as the outcome of that decision (exit
status, times, output excerpts), and the executor's ``process.*`` events (limits exceeded,
throttling, kills) go to the same session, so claims verification sees task runs like any
other command.

**Confinement.** With ``sandbox`` settings (the policy's ``sandbox:`` section) every run
starts inside bubblewrap with the network cut off (the egress proxy is not started for task
runs); ``limits`` (CPU, memory, wall time) apply to each run's whole process tree.

Output of each run goes to ``<home>/tasks/<task>.<run>.out`` (stdout) and ``.err`` (a new
run of that number replaces them). A task's relative ``cwd`` is relative to the workspace.
Stopping the worker stops its runs without reporting them: their tasks stay ``running`` in the
store and the next worker starts them again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from codor.errors import CodorError
from codor.runtime.scheduler import Command, Scheduler, TaskConflictError

if TYPE_CHECKING:
    from codor.kernel import Kernel
    from codor.policy.sandbox_section import SandboxSettings
    from codor.runtime.supervisor import AdaptiveExecutor, Limits, ProcessStatus
    from codor.runtime.taskstore import TaskStore

__all__ = ["RunRecord", "TaskWorker"]

log = logging.getLogger(__name__)

#: the session of tasks that name none (the store's too)
_DEFAULT_SESSION: Final = "codor-tasks"
_EXCERPT: Final = 64 * 1024


@dataclass(slots=True)
class RunRecord:
    """One started run: its task, run number, executor handle and ledger bookkeeping."""

    task_id: str
    run: int
    handle: str
    action: Any  # the command.exec Action decided for it
    decision_index: int | None
    started: tuple[int, int]
    out: Path
    err: Path
    stopping: bool = False  # the worker stopped it (preemption, cancellation, shutdown)


@dataclass
class _Counters:
    started: int = 0
    refused: int = 0
    succeeded: int = 0
    failed: int = 0
    stopped: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class TaskWorker:
    """Runs a store's tasks (see the module doc). Not thread-safe: one loop drives it;
    :meth:`stop` may be called from another thread (or a signal handler)."""

    def __init__(self, store: TaskStore, kernel: Kernel, *, workspace: str | os.PathLike[str],
                 home: str | os.PathLike[str], executor: AdaptiveExecutor | None = None,
                 limits: Limits | None = None, sandbox: SandboxSettings | None = None,
                 poll_interval: float = 0.05, by: str | None = None,
                 on_progress: Callable[[str], None] | None = None,
                 **scheduler_settings: Any) -> None:
        from codor.runtime.supervisor import AdaptiveExecutor, Limits

        self.store = store
        self.kernel = kernel
        self.workspace = Path(workspace)
        self.outputs = Path(home) / "tasks"
        self.limits = limits or Limits()
        self.sandbox = replace(sandbox, network="none") if sandbox is not None else None
        self.poll_interval = poll_interval
        self.by = by
        self.on_progress = on_progress
        self._settings = scheduler_settings
        self._own_executor = executor is None
        self.executor = executor or AdaptiveExecutor(on_event=self._process_event)
        self._runs: dict[str, RunRecord] = {}  # handle -> run
        self._by_task: dict[tuple[str, int], str] = {}  # (task, run) -> handle
        self._stop = threading.Event()
        self.counters = _Counters()
        self._since = store.stamp()
        self.scheduler = self._load()

    # -- the loop ---------------------------------------------------------------------------

    def run(self, *, until_idle: bool = False, timeout: float | None = None) -> _Counters:
        """Loop until :meth:`stop` (or, with ``until_idle``, until no task is waiting or
        running; or ``timeout`` seconds). Returns the counts of what happened."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            self.step()
            if until_idle and self.idle():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            wake = self.scheduler.next_wakeup()
            pause = self.poll_interval if wake is None else \
                min(self.poll_interval, max(0.0, wake - time.time()))
            self._stop.wait(pause)
        return self.counters

    def step(self) -> None:
        """One round: sync with the store, report ended runs, dispatch, carry out."""
        try:
            self._since, commands = self.store.sync(self.scheduler, self._since)
            self._carry_out(commands)
            stale = False
            for handle, status in self.executor.finished():
                try:
                    self._ended(handle, status)
                except TaskConflictError as exc:  # e.g. cancelled elsewhere as it ended
                    log.info("task worker: %s; the store's state stands", exc.message)
                    stale = True
            if stale:  # learn what changed before dispatching anything
                self._since, commands = self.store.sync(self.scheduler, self._since)
                self._carry_out(commands)
            self._carry_out(self.scheduler.dispatch())
        except TaskConflictError as exc:  # changed elsewhere meanwhile: start over from the store
            log.warning("task worker: %s; reloading the tasks", exc.message)
            self._reload()

    def idle(self) -> bool:
        """No run in progress and nothing that could start now or later."""
        if self._runs:
            return False
        counts = self.scheduler.counts()
        return not any(counts.get(s, 0) for s in ("pending", "ready", "running", "paused",
                                                  "retry_wait"))

    def stop(self) -> None:
        self._stop.set()

    def close(self, grace: float | None = None) -> None:
        """Stop every run (gracefully, then killed) and the executor when it is ours. A run
        stopped here is not a result: its outcome is recorded, and its task stays ``running``
        in the store, so the next worker starts it again."""
        for run in self._runs.values():
            run.stopping = True
        for handle in list(self._runs):
            with contextlib.suppress(CodorError):
                self.executor.stop(handle, grace=grace)
        for handle, status in self.executor.finished():
            self._ended(handle, status)
        if self._own_executor:
            self.executor.close()

    def __enter__(self) -> TaskWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ---------------------------------------------------------------------------

    def _carry_out(self, commands: list[Command]) -> None:
        for command in commands:
            handle = self._by_task.get((command.task_id, command.run))
            if command.op == "start":
                self._start(command)
            elif handle is None:
                continue  # a run that already ended (or never started)
            elif command.op == "pause":
                self.executor.pause(handle)
            elif command.op == "resume":
                self.executor.resume(handle)
            else:  # stop: a preemption or a cancellation; the scheduler moved the task
                self.counters.stopped += 1
                self._runs[handle].stopping = True
                self.executor.stop(handle, wait=False)

    def _start(self, command: Command) -> None:
        from codor.evidence.records import now_us
        from codor.model import Action
        from codor.runtime.supervisor import ProcessSpec

        spec = command.spec
        session = spec.session or _DEFAULT_SESSION
        # a relative cwd is the workspace's: decided and run in the same directory
        cwd = os.path.normpath(os.path.join(self.workspace, spec.cwd)) if spec.cwd \
            else str(self.workspace)
        if not spec.argv:
            self.counters.refused += 1
            self._finish(spec.id, False, command.run, "the task has no command to run")
            return
        try:
            action = Action.create("command.exec", argv=list(spec.argv), cwd=cwd,
                                   session=session, agent=spec.agent or "codor-tasks",
                                   origin="codor-task",
                                   meta={"task": spec.id, "run": command.run})
        except CodorError as exc:
            self.counters.refused += 1
            self._finish(spec.id, False, command.run, f"not a valid action: {exc.message}")
            return
        decision, index = self.kernel.decide_and_index(action)
        if decision.decision != "allow":
            why = "; ".join(r.message for r in decision.reasons) or decision.decision
            self.counters.refused += 1
            self._finish(spec.id, False, command.run,
                         f"{'denied' if decision.decision == 'deny' else 'needs approval'}"
                         f" by policy: {why}")
            return
        self.outputs.mkdir(parents=True, exist_ok=True, mode=0o700)
        out = self.outputs / f"{spec.id}.{command.run}.out"
        err = self.outputs / f"{spec.id}.{command.run}.err"
        for stale in (out, err):  # run numbers restart with each worker: never mix attempts
            stale.unlink(missing_ok=True)
        sandbox = None
        try:
            if self.sandbox is not None:
                from codor.sandbox.spec import build_spec

                sandbox = build_spec(self.sandbox, list(spec.argv), workspace=self.workspace,
                                     cwd=cwd, codor_home=self.outputs.parent)
            process = ProcessSpec(spec.id, tuple(spec.argv), cwd=None if sandbox else cwd,
                                  limits=self.limits, sandbox=sandbox, stdout=out, stderr=err)
            started = now_us()
            handle = self.executor.start(process)
        except CodorError as exc:
            self.counters.refused += 1
            self._finish(spec.id, False, command.run, f"cannot start: {exc.message}")
            return
        self.counters.started += 1
        self._runs[handle] = RunRecord(spec.id, command.run, handle, action, index, started,
                                       out, err)
        self._by_task[(spec.id, command.run)] = handle
        self._say(f"started {spec.id} (run {command.run}): {' '.join(spec.argv)}")

    def _ended(self, handle: str, status: ProcessStatus) -> None:
        run = self._runs.pop(handle, None)
        if run is None:
            return
        self._by_task.pop((run.task_id, run.run), None)
        with contextlib.suppress(CodorError):
            self.executor.discard(handle)
        self._record_outcome(run, status)
        if run.stopping:  # the scheduler already knows (or, at shutdown, must not learn)
            self._say(f"stopped {run.task_id} (run {run.run}): {status.reason or status.state}")
            return
        ok = status.state == "exited" and status.exit_code == 0
        if ok:
            self.counters.succeeded += 1
        else:
            self.counters.failed += 1
        self._finish(run.task_id, ok, run.run, None if ok else status.reason)
        self._say(f"{'finished' if ok else 'failed'} {run.task_id} (run {run.run}): "
                  f"{status.reason or status.state}")

    def _finish(self, task_id: str, ok: bool, run: int, reason: str | None) -> None:
        self.scheduler.finished(task_id, ok, reason=reason, run=run)

    def _record_outcome(self, run: RunRecord, status: ProcessStatus) -> None:
        from codor.evidence.records import StreamSummary, now_us

        def summary(path: Path) -> StreamSummary:
            try:
                with path.open("rb") as handle:
                    data = handle.read(_EXCERPT)
            except OSError:
                data = b""
            return StreamSummary.of(data)

        try:
            self.kernel.record_outcome(run.action, run.decision_index, started=run.started,
                                       ended=now_us(), exit_status=status.exit_code,
                                       stdout=summary(run.out), stderr=summary(run.err),
                                       sandbox="bubblewrap" if self.sandbox else None,
                                       observer="codor-runtime")
        except Exception as exc:  # the run happened: report, do not lose the task's state
            log.error("task worker: recording the outcome of %s failed: %s", run.task_id, exc)

    def _process_event(self, kind: str, data: Mapping[str, Any]) -> None:
        run = self._runs.get(str(data.get("id", "")))
        task = run.task_id if run is not None else str(data.get("name", ""))
        session = run.action.session if run is not None else _DEFAULT_SESSION
        self.kernel.record_event(session, kind, {**data, "task": task})

    # -- loading ----------------------------------------------------------------------------

    def _load(self) -> Scheduler:
        return self.store.load_scheduler(by=self.by, **self._settings)

    def _reload(self) -> None:
        """Start over from the store: runs in progress are stopped (their tasks go back to
        ready in the store and start again)."""
        for handle in list(self._runs):
            with contextlib.suppress(CodorError):
                self.executor.stop(handle)
        for handle, status in self.executor.finished():
            run = self._runs.pop(handle, None)
            if run is not None:
                self._record_outcome(run, status)
        self._runs.clear()
        self._by_task.clear()
        self._since = self.store.stamp()
        self.scheduler = self._load()

    def _say(self, text: str) -> None:
        if self.on_progress is not None:
            self.on_progress(text)
