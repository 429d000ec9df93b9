"""CODOR: decide, confine, record and verify what AI agents do."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `codor hook` starts fast
if TYPE_CHECKING:
    from codor.integrations.sdk.agent import EnforcedAgent
    from codor.integrations.sdk.decorator import guarded
    from codor.integrations.sdk.errors import ActionDenied, ApprovalRequired
    from codor.integrations.sdk.guard import Guard

__all__ = ["ActionDenied", "ApprovalRequired", "EnforcedAgent", "Guard", "__version__",
           "guarded"]

__version__ = "0.1.0"

# The Python SDK, loaded on first use: `import codor` imports nothing else.
_EXPORTS = {"Guard": "codor.integrations.sdk.guard",
            "guarded": "codor.integrations.sdk.decorator",
            "EnforcedAgent": "codor.integrations.sdk.agent",
            "ActionDenied": "codor.integrations.sdk.errors",
            "ApprovalRequired": "codor.integrations.sdk.errors"}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'codor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
