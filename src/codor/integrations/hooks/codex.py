"""OpenAI Codex CLI's hook protocol: its event names and how CODOR's answers are written for it.

Input: Claude Code's field names plus a required ``model`` and ``turn_id`` (schemas:
openai/codex ``codex-rs/hooks/schema/generated/*.command.input.schema.json``). Tool names are
Codex's own: ``Bash`` for shell-like tools (``tool_input`` ``{"command": ...}``),
``apply_patch`` (``{"command": <patch>}``), MCP tools as ``mcp__<server>__<tool>``.

Output (``*.command.output.schema.json`` and ``codex-rs/hooks/src/engine/output_parser.rs``):
PreToolUse ``hookSpecificOutput.permissionDecision`` ``deny`` with a non-empty
``permissionDecisionReason`` blocks. Codex rejects ``allow`` without ``updatedInput`` and
rejects ``ask`` altogether as "unsupported" — and a rejected output lets the tool run — so an
allow is written as no output (Codex's own approval rules then apply) and an ask as a deny
whose reason says a person must approve. UserPromptSubmit and Stop: ``{"decision": "block",
"reason": ...}``. Exit 2 blocks only with a reason on stderr; any other failure exit lets the
call proceed, so every failure exits 2 with a reason.
"""

from __future__ import annotations

from typing import Final

from codor.integrations.hooks.events import Adapter, EventKind, HookAnswer, HookEvent, hook_output

__all__ = ["ADAPTER", "ASK_PREFIX", "EVENTS", "render"]

EVENTS: Final[dict[str, EventKind]] = {
    "PreToolUse": "pre_tool",
    "PostToolUse": "post_tool",
    "UserPromptSubmit": "prompt",
    "Stop": "stop",
    "SubagentStop": "stop",
    "SessionStart": "session_start",
    "SessionEnd": "session_end",
}

ASK_PREFIX: Final = "CODOR needs a person to approve this, and Codex hooks cannot ask; refused"


def render(event: HookEvent, answer: HookAnswer) -> bytes:
    """The stdout for ``answer`` (empty for no opinion and for an allow)."""
    permission: dict[str, str] = {}
    if event.kind == "pre_tool" and answer.decision in ("deny", "ask"):
        reason = answer.reason or "refused by CODOR policy"
        if answer.decision == "ask":
            reason = f"{ASK_PREFIX}: {reason}"
        permission = {"permissionDecision": "deny", "permissionDecisionReason": reason}
    return hook_output(event, answer, permission)


ADAPTER: Final = Adapter("codex", "codex-harness", EVENTS, render)
