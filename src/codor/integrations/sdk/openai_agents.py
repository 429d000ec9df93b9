"""OpenAI Agents SDK adapter (extra ``codor[openai-agents]``): function tools whose every call
is decided, run and recorded by a :class:`~codor.integrations.sdk.guard.Guard`.

- :func:`guard_function_tool` returns a copy of a ``FunctionTool`` whose ``on_invoke_tool``
  decides the call first (``tool.call`` with the tool's name and the model's JSON arguments,
  or what ``action(name, arguments)`` returns). Allowed: the original invoker runs and the
  outcome is recorded (``codor-runtime``; status 1 when the tool raised, or when the SDK's
  default error handler turned a failure into the model-visible error text). Refused: the
  tool does not run and, by default (``on_deny="message"``), the model gets the refusal as the
  tool's output — the SDK's convention for errors the run survives; ``on_deny="raise"``
  raises :class:`~codor.integrations.sdk.errors.ActionDenied` instead, which ends the run.
- :func:`codor_tool_input_guardrail` is the same decision as one of the SDK's *tool input
  guardrails*, for tools you attach it to (``tool_input_guardrails=[...]``): allowed →
  ``allow``, refused → ``reject_content`` with the reasons (or ``raise_exception``). A
  guardrail sees the call before it runs but never its result, so it records the decision
  only; :func:`guard_function_tool` also records the outcome. Use one or the other on a tool,
  not both (each would decide and record the call).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any, Literal

from codor.integrations.sdk.errors import MissingExtraError

try:
    from agents import (
        FunctionTool,
        ToolGuardrailFunctionOutput,
        ToolInputGuardrail,
        ToolInputGuardrailData,
    )
    from agents.tool_context import ToolContext
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(__name__, "openai-agents", "openai-agents") from exc

from codor.integrations.sdk.decorator import ToolActionMapper, decide_call, tool_call_action
from codor.integrations.sdk.guard import Guard
from codor.integrations.sdk.results import Checked

__all__ = ["ToolActionMapper", "codor_tool_input_guardrail", "guard_function_tool",
           "guard_function_tools"]

OnDeny = Literal["message", "raise"]
#: Where the SDK marks a failure its default error handler turned into text (best effort:
#: a private attribute; without it such calls are recorded with status 0 and that text).
_SDK_HANDLED_FAILURE = "_function_tool_default_failure_handled"
#: The SDK's mark of an invoker around a sync function (it refuses timeouts for those).
_SDK_SYNC_MARKER = "__agents_sync_function_tool__"


def guard_function_tool(tool: FunctionTool, guard: Guard | None = None, *,
                        action: ToolActionMapper | None = None, server: str | None = None,
                        on_deny: OnDeny = "message") -> FunctionTool:
    """A copy of ``tool`` guarded by ``guard`` (``None``: :meth:`Guard.current` at call
    time); see the module doc. The original ``tool`` is left as it was."""
    original = tool.on_invoke_tool
    name = tool.name

    async def on_invoke_tool(ctx: ToolContext[Any], arguments: str) -> Any:
        g = guard if guard is not None else Guard.current()
        checked = _decide(g, name, arguments, action, server)
        if not checked.allowed:
            if on_deny == "raise":
                checked.raise_unless_allowed()
            return _refusal_text(checked)

        async def invoke() -> Any:
            output = await original(ctx, arguments)
            if getattr(ctx, _SDK_HANDLED_FAILURE, False):
                raise HandledToolError(output)
            return output

        try:
            return await g.aexecute(checked, invoke)
        except HandledToolError as handled:  # recorded as failed; the model gets the SDK's text
            return handled.output

    if getattr(original, _SDK_SYNC_MARKER, False):  # keep what the SDK knows of the tool
        setattr(on_invoke_tool, _SDK_SYNC_MARKER, True)
    guarded_tool = copy.copy(tool)
    guarded_tool.on_invoke_tool = on_invoke_tool
    return guarded_tool


def guard_function_tools(tools: Iterable[FunctionTool], guard: Guard | None = None, *,
                         server: str | None = None,
                         on_deny: OnDeny = "message") -> list[FunctionTool]:
    """:func:`guard_function_tool` for each tool."""
    return [guard_function_tool(t, guard, server=server, on_deny=on_deny) for t in tools]


def codor_tool_input_guardrail(guard: Guard | None = None, *,
                               action: ToolActionMapper | None = None,
                               server: str | None = None,
                               on_deny: Literal["reject", "raise"] = "reject",
                               ) -> ToolInputGuardrail[Any]:
    """A tool input guardrail deciding each call with ``guard`` (see the module doc). Its
    ``output_info`` is the decision as JSON, with ``decision_index`` in the ledger."""

    def codor_policy(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        ctx = data.context
        g = guard if guard is not None else Guard.current()
        checked = _decide(g, ctx.tool_name, ctx.tool_arguments, action, server)
        info = {**checked.decision.to_json(), "decision_index": checked.index}
        if checked.allowed:
            return ToolGuardrailFunctionOutput.allow(output_info=info)
        if on_deny == "raise":
            return ToolGuardrailFunctionOutput.raise_exception(output_info=info)
        return ToolGuardrailFunctionOutput.reject_content(_refusal_text(checked),
                                                          output_info=info)

    return ToolInputGuardrail(guardrail_function=codor_policy, name="codor_policy")


class HandledToolError(Exception):
    def __init__(self, output: Any) -> None:
        super().__init__(str(output)[:2000])
        self.output = output


def _decide(guard: Guard, name: str, raw: str, action: ToolActionMapper | None,
            server: str | None) -> Checked:
    return decide_call(guard, lambda: tool_call_action(name, _arguments(raw), action=action,
                                                       server=server))


def _arguments(raw: str) -> dict[str, Any]:
    """The model's arguments as an object; anything else is decided as ``{"_raw": text}`` so
    the decision still sees what the tool would get."""
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def _refusal_text(checked: Checked) -> str:
    reasons = "; ".join(r.message for r in checked.decision.reasons) or checked.decision.decision
    if checked.decision.decision == "ask":
        return (f"CODOR: this tool call needs a person's approval, which is not available "
                f"here, so it did not run: {reasons}")
    return f"CODOR denied this tool call, so it did not run: {reasons}"
