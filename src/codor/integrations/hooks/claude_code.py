"""Claude Code's hook protocol: its event names and how CODOR's answers are written for it.

Input (every event): ``session_id``, ``transcript_path``, ``cwd``, ``permission_mode``,
``hook_event_name``; tool events add ``tool_name``, ``tool_input``, ``tool_use_id`` (and
``agent_id``/``agent_type`` inside a subagent), PostToolUse ``tool_response``,
PostToolUseFailure ``error``; UserPromptSubmit ``prompt``; Stop/SubagentStop
``stop_hook_active`` and ``last_assistant_message`` (sources: the Claude Code hooks reference,
https://code.claude.com/docs/en/hooks, and the Agent SDK's ``PreToolUseHookInput``,
``PostToolUseHookInput``, ``StopHookInput`` in anthropics/claude-agent-sdk-python
``src/claude_agent_sdk/types.py``).

Output: PreToolUse ``{"hookSpecificOutput": {"hookEventName": "PreToolUse",
"permissionDecision": "allow|deny|ask", "permissionDecisionReason": ...}}``; UserPromptSubmit,
PostToolUse and Stop ``{"decision": "block", "reason": ...}`` and
``hookSpecificOutput.additionalContext``; no opinion is an empty stdout with exit 0. Exit 2 is
the only failure code Claude Code treats as blocking, so every failure exits 2.
"""

from __future__ import annotations

from typing import Any, Final

from codor.integrations.hooks import tools
from codor.integrations.hooks.events import (
    Adapter,
    EventKind,
    HookAnswer,
    HookEvent,
    parse_event,
    to_stdout,
)

__all__ = ["ADAPTER", "EVENTS", "parse", "render"]

EVENTS: Final[dict[str, EventKind]] = {
    "PreToolUse": "pre_tool",
    "PostToolUse": "post_tool",
    "PostToolUseFailure": "post_tool",
    "UserPromptSubmit": "prompt",
    "Stop": "stop",
    "SubagentStop": "stop",
    "SessionStart": "session_start",
    "SessionEnd": "session_end",
}


def parse(data: bytes) -> HookEvent:
    return parse_event("claude-code", data, EVENTS)


def render(event: HookEvent, answer: HookAnswer) -> bytes:
    """The stdout for ``answer`` (empty for no opinion)."""
    out: dict[str, Any] = {}
    specific: dict[str, Any] = {}
    if event.kind == "pre_tool" and answer.decision in ("allow", "deny", "ask"):
        specific = {"permissionDecision": answer.decision,
                    "permissionDecisionReason": answer.reason or "CODOR policy"}
    elif answer.decision in ("block", "deny") and event.kind in ("prompt", "post_tool", "stop"):
        out = {"decision": "block", "reason": answer.reason or "refused by CODOR policy"}
    if answer.context and event.kind in ("pre_tool", "post_tool", "prompt", "session_start"):
        specific["additionalContext"] = answer.context
    if specific:
        out["hookSpecificOutput"] = {"hookEventName": event.vendor_event, **specific}
    if answer.message:
        out["systemMessage"] = answer.message
    return to_stdout(out) if out else b""


ADAPTER: Final = Adapter("claude-code", "claude-code-harness", EVENTS, parse, tools.tool_call,
                         render)
