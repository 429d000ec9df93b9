"""Gemini CLI's hook protocol: its event names and how CODOR's answers are written for it.

Input (google-gemini/gemini-cli ``docs/hooks/reference.md`` and
``packages/core/src/hooks/types.ts``): every event has ``session_id``, ``transcript_path``,
``cwd``, ``hook_event_name``, ``timestamp``; BeforeTool/AfterTool add ``tool_name``,
``tool_input`` (and ``mcp_context`` for MCP tools), AfterTool ``tool_response``
(``llmContent``, ``returnDisplay``, ``error``); BeforeAgent ``prompt``; AfterAgent ``prompt``,
``prompt_response`` (the final answer) and ``stop_hook_active``.

Output: top-level ``decision`` and ``reason``. BeforeTool ``deny`` blocks the tool with the
reason sent to the agent, ``ask`` forces Gemini's confirmation prompt, ``allow`` leaves the call
to Gemini's own policy; BeforeAgent ``deny`` drops the prompt; AfterAgent ``deny`` makes the
agent retry with the reason. ``hookSpecificOutput.additionalContext`` adds context. No opinion
is ``{}``. Exit 2 blocks; any other failure exit is only a warning, so every failure exits 2.
"""

from __future__ import annotations

from typing import Any, Final

from codor.integrations.hooks.events import Adapter, EventKind, HookAnswer, HookEvent, to_stdout

__all__ = ["ADAPTER", "EVENTS", "render"]

EVENTS: Final[dict[str, EventKind]] = {
    "BeforeTool": "pre_tool",
    "AfterTool": "post_tool",
    "BeforeAgent": "prompt",
    "AfterAgent": "stop",
    "SessionStart": "session_start",
    "SessionEnd": "session_end",
}


def render(event: HookEvent, answer: HookAnswer) -> bytes:
    """The stdout for ``answer`` (``{}`` for no opinion)."""
    out: dict[str, Any] = {}
    if event.kind == "pre_tool" and answer.decision in ("allow", "deny", "ask"):
        out["decision"] = answer.decision
        if answer.decision != "allow":
            out["reason"] = answer.reason or "refused by CODOR policy"
        if answer.decision == "ask":  # read by Gemini only on the ask path
            out["systemMessage"] = answer.message or out["reason"]
    elif answer.decision in ("block", "deny") and event.kind in ("prompt", "post_tool", "stop"):
        out = {"decision": "deny", "reason": answer.reason or "refused by CODOR policy"}
    if answer.context and event.kind in ("post_tool", "prompt", "session_start"):
        out["hookSpecificOutput"] = {"hookEventName": event.vendor_event,
                                     "additionalContext": answer.context}
    if answer.message and "systemMessage" not in out:
        out["systemMessage"] = answer.message
    return to_stdout(out)


ADAPTER: Final = Adapter("gemini", "gemini-harness", EVENTS, render,
                         final_keys=("prompt_response", "last_assistant_message"))
