"""The Python SDK: decide, run and record an agent's actions in-process under CODOR's policy.

- :class:`Guard` — decisions (``check``, ``require``, ``check_file_read`` ...), running a
  decided action with its outcome recorded (``execute``), the session's counts.
- :func:`guarded` — a decorator for tool functions (sync and async).
- :class:`EnforcedAgent` — a task runner with pre-checks, guarded tools and a run record.
- :class:`ActionDenied` / :class:`ApprovalRequired` — what a refused call raises.

Adapters for agent frameworks are submodules with their own extras:
:mod:`codor.integrations.sdk.langchain` (``codor[langchain]``) and
:mod:`codor.integrations.sdk.openai_agents` (``codor[openai-agents]``).
Names load on first use: importing the package loads no part of CODOR's engine, ledger or
policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codor.lazy import lazy_exports

if TYPE_CHECKING:
    from codor.integrations.sdk.agent import (
        ClaimsCheck,
        EnforcedAgent,
        RunRecord,
        Task,
        TaskResult,
        Tools,
    )
    from codor.integrations.sdk.decorator import guarded
    from codor.integrations.sdk.errors import ActionDenied, ApprovalRequired, MissingExtraError
    from codor.integrations.sdk.guard import Guard
    from codor.integrations.sdk.results import CallLog, Checked

__all__ = [
    "ActionDenied",
    "ApprovalRequired",
    "CallLog",
    "Checked",
    "ClaimsCheck",
    "EnforcedAgent",
    "Guard",
    "MissingExtraError",
    "RunRecord",
    "Task",
    "TaskResult",
    "Tools",
    "guarded",
]

_EXPORTS = {
    "ActionDenied": "codor.integrations.sdk.errors",
    "ApprovalRequired": "codor.integrations.sdk.errors",
    "MissingExtraError": "codor.integrations.sdk.errors",
    "CallLog": "codor.integrations.sdk.results",
    "Checked": "codor.integrations.sdk.results",
    "Guard": "codor.integrations.sdk.guard",
    "guarded": "codor.integrations.sdk.decorator",
    **{name: "codor.integrations.sdk.agent"
       for name in ("ClaimsCheck", "EnforcedAgent", "RunRecord", "Task", "TaskResult", "Tools")},
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
