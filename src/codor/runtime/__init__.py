"""CODOR runs tools itself: the tool router and its built-in tools (decide → execute → record).

``ToolRouter(kernel, workspace, sandbox_runner=..., http_client=...).call(name, arguments)``
answers a :class:`ToolResult`. ``fs.*``, ``search.*`` and ``patch.apply`` run in-process on
the safe file layer (:mod:`codor.runtime.files`); ``shell.exec``/``test.run`` go through an
injected :class:`SandboxRunner`, ``http.fetch`` through an injected :class:`HttpClient`.
"""

from __future__ import annotations

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
