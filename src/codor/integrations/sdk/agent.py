"""``EnforcedAgent``: run an agent's task with CODOR before, during and after (the seed's
``EnforcedAIAgent``).

- **Before** — the task's start is decided and recorded (``workflow.task.start``), then every
  action the task declares up front; if any is not allowed nothing runs and the refusal is
  raised (:class:`~codor.integrations.sdk.errors.ActionDenied`).
- **During** — the runner gets the agent's tools, each wrapped by ``@guarded``: every call is
  decided, run and recorded; a refused call raises in the runner, which may handle it.
- **After** — ``workflow.task.finish`` is recorded with the status and the counts, and the
  result carries the run's record (:class:`RunRecord`: decisions allowed / denied / asked,
  calls ok / failed, ledger indexes) and, when the runner returns report text, its claims
  verification (:meth:`EnforcedAgent.validate_claims`, :mod:`codor.claims`).

::

    with Guard(agent="coder-1") as guard:
        agent = EnforcedAgent(guard, tools={"search": search, "save": save})
        result = agent.run(Task("fix-42", actions=[...]), lambda tools: tools.save(...))
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

from codor.integrations.sdk.decorator import guarded, is_guarded
from codor.integrations.sdk.guard import Guard
from codor.integrations.sdk.results import CallEntry, CallLog
from codor.model import Action

if TYPE_CHECKING:
    from codor.claims import Report

__all__ = ["ClaimsCheck", "EnforcedAgent", "RunRecord", "Task", "TaskResult", "Tools"]

R = TypeVar("R")
_NOT_CHECKED: Final = "the report was not checked"


@dataclass(frozen=True)
class Task:
    """A unit of work: an id (recorded as the task), a description, and the actions it
    declares it will take — decided before anything runs."""

    id: str
    description: str = ""
    actions: Sequence[Action] = ()


@dataclass(frozen=True)
class RunRecord:
    """What CODOR saw during one run, from the guard's own decisions and executions.

    ``counts``: ``allowed``, ``denied``, ``asked`` decisions (the task's start, its declared
    actions and every tool call), ``ok`` / ``failed`` executions, ``unrecorded`` outcomes;
    ``entries``: each decision in order, with ledger indexes when the guard records."""

    session: str
    task: str
    status: Literal["completed", "failed", "refused"]
    counts: Mapping[str, int]
    entries: tuple[CallEntry, ...]

    @property
    def denied(self) -> int:
        return self.counts.get("denied", 0) + self.counts.get("asked", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)


@dataclass(frozen=True)
class ClaimsCheck:
    """The claims verification of a run's report: ``passed`` or ``failed`` (``result`` holds
    the full :class:`~codor.claims.Report`), or ``unverified`` when nothing could be checked
    (no report text, no ledger) — the SDK never pretends to have checked anything."""

    status: Literal["passed", "failed", "unverified"]
    reason: str
    report: str | None = None
    result: Report | None = None


@dataclass(frozen=True)
class TaskResult(Generic[R]):
    """The runner's return value, the run's record and the claims check of its report."""

    task: Task
    value: R
    record: RunRecord
    claims: ClaimsCheck = field(default_factory=lambda: ClaimsCheck("unverified",
                                                                    _NOT_CHECKED))


class Tools(Mapping[str, Callable[..., Any]]):
    """The guarded tools handed to a runner: ``tools["save"](...)`` or ``tools.save(...)``."""

    def __init__(self, tools: Mapping[str, Callable[..., Any]]) -> None:
        self._tools = dict(tools)

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):  # copy/pickle probes, and _tools before __init__ set it
            raise AttributeError(name)
        try:
            return self._tools[name]
        except KeyError:
            raise AttributeError(f"no tool {name!r}; the agent has "
                                 f"{', '.join(self._tools) or 'none'}") from None


class EnforcedAgent:
    """Runs tasks under ``guard`` with ``tools`` (name → function, sync or async).

    Each tool is wrapped with ``@guarded(kind="tool.call", tool=name, guard=guard)``; a
    function already ``@guarded`` is kept as it is (its own mapping and guard apply). Runs on
    one agent may overlap: each run's record counts what its own context decided (see
    :meth:`Guard.tracking` for threads).
    """

    def __init__(self, guard: Guard, tools: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.guard = guard
        self.tools = Tools({
            name: fn if is_guarded(fn) else guarded(kind="tool.call", tool=name, guard=guard)(fn)
            for name, fn in (tools or {}).items()})

    def run(self, task: Task | str, runner: Callable[[Tools], R]) -> TaskResult[R]:
        """Run ``runner(tools)`` for ``task`` (see the module doc). Raises what the runner
        raises, and :class:`~codor.integrations.sdk.errors.ActionDenied` when the task's start
        or a declared action is refused (the runner is then not called)."""
        if inspect.iscoroutinefunction(runner):
            raise TypeError("runner is a coroutine function: use `await agent.arun(...)`")
        task = Task(task) if isinstance(task, str) else task
        with self.guard.tracking() as log:
            self._before(task, log)
            try:
                value = runner(self.tools)
            except BaseException:
                self._finish(task, "failed", log)
                raise
            record = self._finish(task, "completed", log)
        return TaskResult(task, value, record, self.validate_claims(_report(value), record))

    async def arun(self, task: Task | str,
                   runner: Callable[[Tools], Awaitable[R]]) -> TaskResult[R]:
        """:meth:`run` for an ``async`` runner."""
        task = Task(task) if isinstance(task, str) else task
        with self.guard.tracking() as log:
            self._before(task, log)
            try:
                value = await runner(self.tools)
            except BaseException:
                self._finish(task, "failed", log)
                raise
            record = self._finish(task, "completed", log)
        return TaskResult(task, value, record, self.validate_claims(_report(value), record))

    def validate_claims(self, report: str | None, record: RunRecord | None = None) -> ClaimsCheck:
        """Check what the agent *says* it did (``report``: free text or claims JSON) against
        what CODOR recorded for the session and the workspace holds, under the policy's
        ``claims:`` section; the verification is recorded in the ledger."""
        del record
        if report is None or not report.strip():
            return ClaimsCheck("unverified", "the run returned no report text to verify",
                               report)
        kernel = self.guard.kernel
        if getattr(kernel, "remote", False):
            return self._validate_remotely(report)
        if kernel.ledger is None:
            return ClaimsCheck("unverified", "no ledger records this session (run `codor "
                               "init`): there is no evidence to check the report against",
                               report)
        from codor.claims import ClaimsError, verify
        from codor.claims import record as record_verification
        from codor.claims.render import summary_line

        try:
            result = verify(kernel.ledger, self.guard.session, report,
                            workspace=kernel.engine.policy.workspace,
                            settings=kernel.engine.policy.claims)
        except ClaimsError as exc:
            return ClaimsCheck("unverified", exc.one_line(), report)
        result = record_verification(kernel, result)
        return ClaimsCheck("passed" if result.passed else "failed", summary_line(result),
                           report, result)

    def _validate_remotely(self, report: str) -> ClaimsCheck:
        """The daemon holds the evidence (``CODOR_URL``): it verifies and records; ``result``
        stays ``None`` (the report is the daemon's, as JSON, in the reason's summary)."""
        from codor.integrations.remote import RemoteKernel, RemoteUnavailable

        kernel = self.guard.kernel
        assert isinstance(kernel, RemoteKernel)
        try:
            data = kernel.verify_claims(self.guard.session, report)
        except RemoteUnavailable as exc:
            return ClaimsCheck("unverified", f"{exc.message} [{exc.rule}]", report)
        verdicts = data.get("verdicts")
        counts: dict[str, Any] = verdicts if isinstance(verdicts, dict) else {}
        summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()) if n)
        return ClaimsCheck("passed" if data["passed"] else "failed",
                           f"the daemon's verification: {summary or 'no claims'}", report)

    # -- internals ----------------------------------------------------------------------------
    def _before(self, task: Task, log: CallLog) -> None:
        self.guard.require("workflow.task.start", task=task.id,
                           meta={"description": task.description[:500]}
                           if task.description else None)
        refused = None
        for action in task.actions:
            checked = self.guard.decide(action)
            if refused is None and not checked.allowed:
                refused = checked
        if refused is not None:
            self._finish(task, "refused", log)
            refused.raise_unless_allowed()

    def _finish(self, task: Task, status: Literal["completed", "failed", "refused"],
                log: CallLog) -> RunRecord:
        counts, entries = log.counts(), log.entries()
        self.guard.decide("workflow.task.finish", task=task.id,
                          meta={"status": status, "counts": counts})
        return RunRecord(self.guard.session, task.id, status, counts, entries)


def _report(value: object) -> str | None:
    return value if isinstance(value, str) else None
