"""Agent hooks for Claude Code, Codex and Gemini CLI: decide, record and answer every event.

One normalised event model (:mod:`.events`), the tool → action tables (:mod:`.tools`), three
thin adapters (:mod:`.claude_code`, :mod:`.codex`, :mod:`.gemini`) and the handler behind
``codor hook`` (:mod:`.handler`). Exports load on first use, so ``codor hook`` imports only
what the event needs.
"""

from __future__ import annotations

from codor.lazy import lazy_exports

__all__ = ["HookAnswer", "HookEvent", "HookInputError", "HookResult", "ToolCall", "adapter_for",
           "handle", "tool_call", "verify_stop"]

__getattr__ = lazy_exports(__name__, {
    "HookAnswer": "codor.integrations.hooks.events",
    "HookEvent": "codor.integrations.hooks.events",
    "HookInputError": "codor.integrations.hooks.events",
    "ToolCall": "codor.integrations.hooks.events",
    "HookResult": "codor.integrations.hooks.handler",
    "adapter_for": "codor.integrations.hooks.handler",
    "handle": "codor.integrations.hooks.handler",
    "verify_stop": "codor.integrations.hooks.handler",
    "tool_call": "codor.integrations.hooks.tools",
})
