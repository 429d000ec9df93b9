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

from typing import Final

from codor.integrations.hooks.events import Adapter, EventKind, HookAnswer, HookEvent, hook_output

__all__ = ["ADAPTER", "EVENTS", "render"]

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


def render(event: HookEvent, answer: HookAnswer) -> bytes:
    """The stdout for ``answer`` (empty for no opinion)."""
    permission: dict[str, str] = {}
    if event.kind == "pre_tool" and answer.decision in ("allow", "deny", "ask"):
        permission = {"permissionDecision": answer.decision,
                      "permissionDecisionReason": answer.reason or "CODOR policy"}
    return hook_output(event, answer, permission)


ADAPTER: Final = Adapter("claude-code", "claude-code-harness", EVENTS, render)
