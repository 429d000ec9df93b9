"""The runtime behind ``codor mcp serve``: one kernel, one session, a tool router per agent.

:class:`ToolHost` opens the workspace's kernel (policy + ledger, :func:`open_kernel`) and
answers each MCP ``tools/call`` with :meth:`ToolRouter.call` — decide → execute → record — in
the server's session, as the calling agent (the MCP client's ``clientInfo.name``). Each
agent gets its own router and its own :class:`~codor.runtime.executor.SandboxExecutor`, so
the egress events of its commands are recorded under its name (at most :data:`MAX_AGENTS`;
later names share one executor without an agent). ``http.fetch`` goes through
:class:`~codor.integrations.mcp.egress.EgressHttpClient`.

A call the router refuses before deciding — unknown tool, bad arguments, no sandbox — makes
no action, so nothing else would record it: the host records it as an ``mcp.call_rejected``
event, so every call leaves evidence in the ledger. Nothing here imports the MCP SDK.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from codor.model import Agent

if TYPE_CHECKING:
    from codor.integrations.mcp.egress import EgressHttpClient
    from codor.kernel import Kernel
    from codor.runtime import ToolResult, ToolRouter
    from codor.runtime.executor import SandboxExecutor

__all__ = ["DEFAULT_AGENT", "MAX_AGENTS", "ToolHost", "agent_id", "new_session_id"]

#: The agent id when the client did not name itself.
DEFAULT_AGENT: Final = "mcp-client"
#: Distinct agents that get their own sandbox executor (and egress proxy).
MAX_AGENTS: Final = 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._@:/+-]+")


def new_session_id() -> str:
    return f"mcp-{os.urandom(6).hex()}"


def agent_id(name: object) -> str:
    """A recordable agent id from a client's self-chosen name: printable, at most 128
    characters, :data:`DEFAULT_AGENT` when empty or absent."""
    if not isinstance(name, str):
        return DEFAULT_AGENT
    clean = _UNSAFE.sub("-", name.strip()).strip("-")[:128]
    return clean or DEFAULT_AGENT


class ToolHost:
    """Tools for one workspace and one session (see the module doc). Thread-safe; call
    :meth:`close` once serving is over."""

    def __init__(self, kernel: Kernel, workspace: str | os.PathLike[str], session: str, *,
                 max_agents: int = MAX_AGENTS) -> None:
        self.kernel = kernel
        self.workspace = Path(workspace)
        self.session = session
        self.max_agents = max_agents
        self._lock = threading.Lock()
        self._closing = threading.Lock()  # held for the whole of close()
        self._routers: dict[str | None, ToolRouter] = {}
        self._executors: list[SandboxExecutor] = []
        self._client: EgressHttpClient | None = None
        self._closed = False
        self._in_flight = 0

    @classmethod
    def open(cls, workspace: str | os.PathLike[str] | None = None, *, policy: str | None = None,
             session: str | None = None, record: bool = True) -> ToolHost:
        """Open the workspace's kernel (see :func:`~codor.integrations.context.open_kernel`).
        Raises :class:`~codor.errors.CodorError` for a bad policy or an unusable ledger."""
        from codor.integrations.context import find_workspace, open_kernel

        root = find_workspace(workspace)
        kernel = open_kernel(root, policy=policy, observer="codor-runtime", record=record,
                             remote=False)
        return cls(kernel, root, session or new_session_id())

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return self._in_flight

    @property
    def tools(self) -> tuple[str, ...]:
        from codor.runtime import TOOLS

        return tuple(TOOLS)

    def router(self, agent: str | None) -> ToolRouter:
        """The router of ``agent`` (created on first use)."""
        with self._lock:
            if self._closed:
                from codor.errors import ToolError

                raise ToolError("the MCP server is shutting down")
            key = agent if agent in self._routers or len(self._routers) < self.max_agents \
                else None
            router = self._routers.get(key)
            if router is None:
                router = self._make_router(key)
                self._routers[key] = router
            return router

    def _make_router(self, agent: str | None) -> ToolRouter:
        from codor.integrations.mcp.egress import EgressHttpClient
        from codor.runtime import ToolRouter
        from codor.runtime.executor import SandboxExecutor

        executor = SandboxExecutor(self.kernel, self.workspace, session=self.session,
                                   agent=None if agent is None else Agent(agent))
        self._executors.append(executor)
        if self._client is None:
            self._client = EgressHttpClient(self.kernel, session=self.session)
        return ToolRouter(self.kernel, self.workspace, sandbox_runner=executor,
                          http_client=self._client)

    def call(self, name: str, arguments: Mapping[str, Any] | None, *,
             agent: str = DEFAULT_AGENT) -> ToolResult:
        """Run one tool call; never raises (a failure is an ``error`` result)."""
        from codor.errors import CodorError, InternalError
        from codor.runtime import ToolResult

        with self._lock:
            self._in_flight += 1
        try:
            result = self.router(agent).call(name, arguments, session=self.session, agent=agent)
        except CodorError as exc:
            result = ToolResult(name, "error", error_code=exc.code, error=exc.message)
        except Exception as exc:  # a bug: an error result, never a traceback to the client
            error = InternalError(f"{name}: {type(exc).__name__}: {exc}")
            result = ToolResult(name, "error", error_code=error.code, error=error.message)
        try:
            if result.decision is None:
                self._record_rejected(result, agent)
        finally:
            with self._lock:
                self._in_flight -= 1
        return result

    def _record_rejected(self, result: ToolResult, agent: str) -> None:
        if self.kernel.ledger is None:
            return
        data = {"tool": result.tool[:200], "code": result.error_code,
                "message": (result.error or "")[:1000]}
        with contextlib.suppress(Exception):  # the answer is an error either way
            self.kernel.record_event(self.session, "mcp.call_rejected", data,
                                     observer="codor-runtime", agent=Agent(agent))

    def close(self) -> None:
        """Stop every egress proxy and close the kernel (flushes the ledger). Idempotent; a
        second caller waits until the first is done."""
        with self._closing:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                executors, self._executors = self._executors, []
                client, self._client = self._client, None
            for executor in executors:
                with contextlib.suppress(Exception):
                    executor.close()
            if client is not None:
                client.close()
            self.kernel.close()
