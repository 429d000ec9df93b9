"""CODOR runs things itself: the tool router and its built-in tools, the agent registry, the
task scheduler and its worker, the adaptive process executor, and the workflow modes.

``ToolRouter(kernel, workspace, sandbox_runner=..., http_client=...).call(name, arguments)``
answers a :class:`ToolResult` (decide → execute → record); :mod:`~codor.runtime.registry`,
:mod:`~codor.runtime.scheduler`/:mod:`~codor.runtime.taskstore`/:mod:`~codor.runtime.taskworker`,
:mod:`~codor.runtime.supervisor` and :mod:`~codor.runtime.workflow`/:mod:`~codor.runtime.gate`
are the orchestration parts. Exports load on first use (hooks import only what they touch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codor.lazy import lazy_exports

if TYPE_CHECKING:
    from codor.runtime.commands import RunReport, RunRequest, SandboxRunner, Snapshot
    from codor.runtime.fetch import FetchReport, FetchRequest, HttpClient
    from codor.runtime.outcome import Observation, Status, ToolResult
    from codor.runtime.router import ORIGIN, ToolRouter
    from codor.runtime.tools import TOOLS

__all__ = [
    "ORIGIN",
    "TOOLS",
    "FetchReport",
    "FetchRequest",
    "HttpClient",
    "Observation",
    "RunReport",
    "RunRequest",
    "SandboxRunner",
    "Snapshot",
    "Status",
    "ToolResult",
    "ToolRouter",
]

__getattr__ = lazy_exports(__name__, {
    "RunReport": "codor.runtime.commands", "RunRequest": "codor.runtime.commands",
    "SandboxRunner": "codor.runtime.commands", "Snapshot": "codor.runtime.commands",
    "FetchReport": "codor.runtime.fetch", "FetchRequest": "codor.runtime.fetch",
    "HttpClient": "codor.runtime.fetch", "Observation": "codor.runtime.outcome",
    "Status": "codor.runtime.outcome", "ToolResult": "codor.runtime.outcome",
    "ORIGIN": "codor.runtime.router", "ToolRouter": "codor.runtime.router",
    "TOOLS": "codor.runtime.tools",
})
