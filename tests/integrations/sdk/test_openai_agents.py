"""The OpenAI Agents SDK adapter with the real ``openai-agents`` package, no network: wrapped
function tools invoked through their real ``on_invoke_tool``, and whole ``Runner.run`` loops
driven by the SDK's own scripted ``Model`` (``agents.testing.ScriptedModel``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext

from codor.integrations.sdk import ActionDenied, Guard
from codor.integrations.sdk.openai_agents import (
    codor_tool_input_guardrail,
    guard_function_tool,
    guard_function_tools,
)
from codor.model import Action
from tests.integrations.sdk import conftest
from tests.integrations.sdk.conftest import Space

write_note = function_tool(conftest.write_note)
shell_exec = function_tool(conftest.shell_exec)
git_push = function_tool(conftest.git_push)


@function_tool
def broken(x: int) -> str:
    """Always fails."""
    raise RuntimeError(f"broken {x}")


def _invoke(tool: FunctionTool, arguments: dict[str, Any] | str, call_id: str = "call-1") -> Any:
    """Invoke a tool the way the SDK does, with a real ToolContext."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    ctx = ToolContext(context=None, tool_name=tool.name, tool_call_id=call_id, tool_arguments=raw)
    return asyncio.run(tool.on_invoke_tool(ctx, raw))


def _run(agent: Agent[Any], prompt: str) -> Any:
    return asyncio.run(Runner.run(agent, prompt, run_config=RunConfig(tracing_disabled=True)))


def test_an_allowed_call_runs_and_is_recorded(space: Space) -> None:
    with Guard(session="s-oa") as guard:
        tool = guard_function_tool(write_note, guard)
        assert _invoke(tool, {"name": "a.txt", "text": "hi"}) == "wrote a.txt"
    assert (space.root / "a.txt").read_text() == "hi"
    [decision] = space.decisions("s-oa")
    assert decision.action.tool == "write_note"
    assert dict(decision.action.arguments or {}) == {"name": "a.txt", "text": "hi"}
    [outcome] = space.outcomes("s-oa")
    assert outcome.exit_status == 0 and outcome.stdout.excerpt == "wrote a.txt"
    assert outcome.action_index is not None and outcome.observer == "codor-runtime"


def test_a_denied_call_does_not_run_and_the_model_gets_the_reason(space: Space) -> None:
    with Guard(session="s-oa-deny") as guard:
        output = _invoke(guard_function_tool(shell_exec, guard), {"command": "id"})
        asked = _invoke(guard_function_tool(git_push, guard), {"remote": "origin"})
    assert not (space.root / "pwned").exists() and not (space.root / "pushed").exists()
    assert output.startswith("CODOR denied this tool call, so it did not run")
    assert "matches deny pattern 'shell_exec'" in output
    assert "needs a person's approval" in asked
    assert [d.decision.decision for d in space.decisions("s-oa-deny")] == ["deny", "ask"]
    assert space.outcomes("s-oa-deny") == []


def test_on_deny_raise_raises_action_denied(space: Space) -> None:
    with Guard() as guard, pytest.raises(ActionDenied, match="shell_exec"):
        _invoke(guard_function_tool(shell_exec, guard, on_deny="raise"), {"command": "id"})
    assert not (space.root / "pwned").exists()


def test_a_failing_tool_is_recorded_as_failed(space: Space) -> None:
    with Guard(session="s-oa-fail") as guard:
        output = _invoke(guard_function_tool(broken, guard), {"x": 3})
    assert "error" in output.lower()  # the SDK's default text for the model
    [outcome] = space.outcomes("s-oa-fail")
    assert outcome.exit_status == 1
    assert outcome.stderr.excerpt.startswith("HandledToolError: ")


def test_arguments_that_are_not_an_object_are_still_decided(space: Space) -> None:
    with Guard(session="s-oa-raw") as guard:
        _invoke(guard_function_tool(write_note, guard), "not json")
    [decision] = space.decisions("s-oa-raw")
    assert dict(decision.action.arguments or {}) == {"_raw": "not json"}


def test_the_original_tool_is_left_unguarded_and_the_copy_looks_the_same(space: Space) -> None:
    with Guard() as guard:
        [copy] = guard_function_tools([write_note], guard)
    assert copy is not write_note and copy.on_invoke_tool is not write_note.on_invoke_tool
    assert copy.name == write_note.name
    assert copy.params_json_schema == write_note.params_json_schema
    marker = "__agents_sync_function_tool__"  # the SDK's mark of a sync function tool
    assert getattr(copy.on_invoke_tool, marker, False) == getattr(write_note.on_invoke_tool,
                                                                  marker, False)


def test_an_action_mapper_decides_a_file_tool_by_its_path(space: Space) -> None:
    def as_write(name: str, arguments: Any) -> Action:
        return Action.create("file.write", path=arguments["name"], content=arguments["text"])

    with Guard(session="s-oa-map") as guard:
        tool = guard_function_tool(write_note, guard, action=as_write)
        output = _invoke(tool, {"name": ".env", "text": "TOKEN=1"})
    assert "denied" in output and not (space.root / ".env").exists()
    assert space.decisions("s-oa-map")[0].action.kind == "file.write"


def test_a_runner_loop_never_runs_a_denied_tool(space: Space) -> None:
    model = ScriptedModel([
        {"output": [function_call("shell_exec", {"command": "cat /etc/shadow"}, call_id="c1"),
                    function_call("write_note", {"name": "log.txt", "text": "done"},
                                  call_id="c2")]},
        {"output": [assistant_message("finished")]},
    ])
    with Guard(session="s-oa-run") as guard:
        agent = Agent(name="worker", instructions="Do the task.", model=model,
                      tools=guard_function_tools([shell_exec, write_note], guard))
        result = _run(agent, "go")
    assert result.final_output == "finished"
    model.assert_complete()
    assert not (space.root / "pwned").exists()
    assert (space.root / "log.txt").read_text() == "done"
    outputs = {item["call_id"]: item["output"] for item in model.calls[1].input
               if isinstance(item, dict) and item.get("type") == "function_call_output"}
    assert outputs["c1"].startswith("CODOR denied this tool call")
    assert outputs["c2"] == "wrote log.txt"
    assert sorted((d.action.tool, d.decision.decision) for d in space.decisions("s-oa-run")) == [
        ("shell_exec", "deny"), ("write_note", "allow")]  # the SDK may run calls concurrently
    assert len(space.outcomes("s-oa-run")) == 1


def test_the_tool_input_guardrail_rejects_a_denied_call_in_a_runner_loop(space: Space) -> None:
    ran: list[str] = []
    with Guard(session="s-oa-guardrail") as guard:
        guardrail = codor_tool_input_guardrail(guard)

        def make(name: str) -> FunctionTool:
            def body(command: str) -> str:
                ran.append(name)
                return f"{name} ran"

            body.__name__ = name
            return function_tool(body, tool_input_guardrails=[guardrail])

        model = ScriptedModel([
            {"output": [function_call("shell_exec", {"command": "id"}, call_id="g1"),
                        function_call("list_files", {"command": "ls"}, call_id="g2")]},
            {"output": [assistant_message("ok")]},
        ])
        agent = Agent(name="worker", instructions="x", model=model,
                      tools=[make("shell_exec"), make("list_files")])
        result = _run(agent, "go")
    assert ran == ["list_files"]
    outputs = {item["call_id"]: item["output"] for item in model.calls[1].input
               if isinstance(item, dict) and item.get("type") == "function_call_output"}
    assert outputs["g1"].startswith("CODOR denied this tool call")
    assert outputs["g2"] == "list_files ran"
    infos = {r.guardrail.get_name(): r.output.behavior["type"]
             for r in result.tool_input_guardrail_results}
    assert set(infos) == {"codor_policy"}
    assert sorted((d.action.tool, d.decision.decision)
                  for d in space.decisions("s-oa-guardrail")) == [
        ("list_files", "allow"), ("shell_exec", "deny")]


def test_a_mapper_that_returns_no_action_denies_the_call(space: Space) -> None:
    # a kind string is not an Action: it must not be decided as some other action (here a
    # workflow event, which the policy allows) while the tool runs
    def not_an_action(name: str, arguments: Any) -> Any:
        return "workflow.task.finish"

    with Guard(session="s-oa-badmap") as guard:
        output = _invoke(guard_function_tool(shell_exec, guard, action=not_an_action),
                         {"command": "id"})
    assert output.startswith("CODOR denied this tool call") and "not an Action" in output
    assert not (space.root / "pwned").exists()
    assert space.decisions("s-oa-badmap") == []


def test_arguments_too_deep_to_parse_are_a_deny(space: Space) -> None:
    with Guard(session="s-oa-deep") as guard:
        output = _invoke(guard_function_tool(write_note, guard), "[" * 100_000)
    assert output.startswith("CODOR denied this tool call")
    assert "RecursionError" in output
    assert [e.data["rule"] for e in space.events("s-oa-deep")] == ["sdk.action"]
