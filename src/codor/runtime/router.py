"""The tool router: one call of a built-in tool → decide (recorded) → execute → record.

Every call becomes a canonical :class:`~codor.model.Action` (see :mod:`codor.runtime.tools`
for the mapping) with the workspace as its ``cwd``, ``origin`` ``codor-runtime`` and
``meta.tool`` naming the tool; :meth:`Kernel.decide_and_index` decides and records it. A deny
returns ``denied`` and an ask ``approval_needed`` (the approvals queue comes later): nothing
runs. Before deciding, the router works out where execution will go — each path's resolved
form (:func:`codor.runtime.files.locate`). When that differs from the normalised path (a
symlink on the way), the policy must also allow an action naming the resolved path itself
(decided and recorded too, ``meta.resolved_from`` naming the path asked for), so what
execution opens has been decided as such; the file functions then reach it without following
any symlink, and a tree changed meanwhile fails closed (``E_PATH_UNSAFE``).

After execution an :class:`~codor.evidence.records.OutcomeRecord` (observer
``codor-runtime``) is recorded naming the decision by ledger index and action digest — also
when execution failed (then ``stderr`` holds the error line). If the outcome cannot be
recorded the action has already happened: the result says so in ``warnings``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from codor.errors import CodorError, InternalError, ToolArgumentError, ToolError
from codor.evidence.records import now_us
from codor.model import Action, Agent, Decision
from codor.policy.paths import normalize_path, resolve_path
from codor.runtime.arguments import Arguments
from codor.runtime.commands import SandboxRunner
from codor.runtime.fetch import HttpClient
from codor.runtime.outcome import Observation, ToolResult, stream
from codor.runtime.tools import TOOLS, Plan, ToolContext

if TYPE_CHECKING:
    from codor.kernel import Kernel

__all__ = ["ORIGIN", "ToolRouter"]

ORIGIN: Final = "codor-runtime"
#: Called after every decision allowed a call, right before it executes (instrumentation and
#: deterministic race tests).
AllowedHook = Callable[[Action], None]


class ToolRouter:
    """Runs the built-in tools for one workspace under ``kernel``'s policy.

    ``sandbox_runner`` runs ``shell.exec``/``test.run`` and ``http_client`` performs
    ``http.fetch``; without them those tools answer ``error`` (``E_TOOL``) before deciding.
    ``max_read_bytes`` bounds ``fs.read`` by default; ``hardlinks_ok`` lets reads (never
    writes) open files with several hard links. Thread-safe as the kernel is.
    """

    def __init__(self, kernel: Kernel, workspace: str | Path, *,
                 sandbox_runner: SandboxRunner | None = None,
                 http_client: HttpClient | None = None, max_read_bytes: int = 1 << 20,
                 hardlinks_ok: bool = False, on_allowed: AllowedHook | None = None) -> None:
        self.kernel = kernel
        home = kernel.engine.policy.home
        self.workspace = normalize_path(str(Path(workspace).absolute()), "/", home)
        self.workspace_real = resolve_path(self.workspace, "/", home)
        self.home = home
        self.runner = sandbox_runner
        self.client = http_client
        self.max_read_bytes = max_read_bytes
        self.hardlinks_ok = hardlinks_ok
        self.on_allowed = on_allowed

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(TOOLS)

    # -- the call -----------------------------------------------------------------------------
    def call(self, name: str, arguments: Mapping[str, Any] | None = None, *,
             session: str | None = None, agent: Agent | str | None = None) -> ToolResult:
        """Run tool ``name``; never raises for a tool's own failure (see :class:`ToolResult`)."""
        who = Agent(agent) if isinstance(agent, str) else agent
        entry = TOOLS.get(name)
        if entry is None:
            return _error(name, ToolArgumentError(
                f"unknown tool {name!r}; the built-in tools are {', '.join(TOOLS)}"))
        planner, allowed = entry
        ctx = self._context(session, who)
        try:
            plan = planner(ctx, Arguments(name, arguments or {}, allowed))
            missing = {"runner": self.runner, "client": self.client}.get(plan.needs or "", 1)
            if missing is None:
                what = "sandbox runner" if plan.needs == "runner" else "HTTP client"
                raise ToolError(f"{name}: no {what} is configured for this router")
            action = self._action(name, plan, plan.fields, session, who)
        except CodorError as exc:
            return _error(name, exc)
        except Exception as exc:  # a bug: an error result, never an exception to the agent
            return _error(name, InternalError(f"{name}: {type(exc).__name__}: {exc}"))
        decision, index = self.kernel.decide_and_index(action)
        refused = _refusal(name, action, decision, index)
        if refused is not None:
            return refused
        for target in plan.targets:
            if not target.resolved:
                continue
            extra = self._action(name, plan, {**plan.fields, "path": target.path}, session, who,
                                 resolved_from=target.norm)
            second, second_index = self.kernel.decide_and_index(extra)
            refused = _refusal(name, extra, second, second_index)
            if refused is not None:
                return refused
        return self._execute(name, plan, action, decision, index)

    def _execute(self, name: str, plan: Plan, action: Action, decision: Decision,
                 index: int | None) -> ToolResult:
        if self.on_allowed is not None:
            self.on_allowed(action)
        started = now_us()
        error: CodorError | None = None
        output: dict[str, Any] = {}
        try:
            output, observation = plan.execute(started)
        except CodorError as exc:
            error = exc
        except Exception as exc:  # a bug: report it as one, still record the attempt
            error = InternalError(f"{name}: {type(exc).__name__}: {exc}")
        if error is not None:
            observation = Observation(started, stderr=stream(error.one_line().encode()))
        warnings = decision.warnings
        try:
            outcome = self.kernel.record_outcome(
                action, index, started=observation.started, ended=observation.ended,
                exit_status=observation.exit_status, stdout=observation.stdout,
                stderr=observation.stderr, products=observation.products,
                materials=observation.materials, sandbox=observation.sandbox)
        except Exception as exc:
            outcome = None
            warnings = (*warnings, f"the outcome could not be recorded "
                                   f"({type(exc).__name__}: {str(exc)[:200]})")
        if error is not None:
            return ToolResult(name, "error", decision, {}, error.code, error.message, action,
                              index, outcome, warnings)
        return ToolResult(name, "ok", decision, output, None, None, action, index, outcome,
                          warnings)

    # -- helpers ------------------------------------------------------------------------------
    def _action(self, name: str, plan: Plan, fields: Mapping[str, Any], session: str | None,
                agent: Agent | None, resolved_from: str | None = None) -> Action:
        meta: dict[str, Any] = {"tool": name}
        if resolved_from is not None:
            meta["resolved_from"] = resolved_from
        return Action.create(plan.kind, **fields, session=session,
                             agent=None if agent is None else agent.to_json(),
                             cwd=plan.cwd or self.workspace, origin=ORIGIN, meta=meta)

    def _context(self, session: str | None, agent: Agent | None) -> ToolContext:
        engine = self.kernel.engine
        kernel = self.kernel
        agent_json = None if agent is None else agent.to_json()

        def entry_action(kind: str, path: str) -> Action:
            return Action.create(kind, path=path, session=session, agent=agent_json,
                                 cwd=self.workspace, origin=ORIGIN,
                                 meta={"tool": "search.grep"})

        def gate(kind: str, path: str) -> bool:
            return engine.decide(entry_action(kind, path)).allowed

        def record_read(path: str) -> None:
            if kernel.ledger is None:
                return
            action = entry_action("file.read", path)
            decision = engine.decide(action)
            try:
                kernel.record(action, decision)
            except Exception as exc:
                raise ToolError(f"the read of {path} could not be recorded "
                                f"({type(exc).__name__}); no content is returned") from None
            if not decision.allowed:
                raise ToolError(f"the read of {path} is no longer allowed; no content is "
                                f"returned")

        return ToolContext(self.workspace, self.workspace_real, self.home, gate, record_read,
                           self.max_read_bytes, self.hardlinks_ok, self.runner, self.client)


def _refusal(name: str, action: Action, decision: Decision,
             index: int | None) -> ToolResult | None:
    if decision.decision == "allow":
        return None
    messages = "; ".join(r.message for r in decision.reasons) or decision.decision
    if decision.decision == "ask":
        return ToolResult(name, "approval_needed", decision, {}, None,
                          f"a person must approve this call: {messages}", action, index,
                          warnings=decision.warnings)
    return ToolResult(name, "denied", decision, {}, None, f"denied: {messages}", action,
                      index, warnings=decision.warnings)


def _error(name: str, exc: CodorError) -> ToolResult:
    return ToolResult(name, "error", None, {}, exc.code, exc.message)

