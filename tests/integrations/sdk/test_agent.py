"""EnforcedAgent: pre-checks of declared actions, guarded tools during the run, the run's record
and the claims verification of its report afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from codor.integrations.sdk import ActionDenied, EnforcedAgent, Guard, Task, Tools, guarded
from codor.model import Action
from tests.integrations.sdk.conftest import Space, shell_exec, write_note


def explode() -> None:
    raise RuntimeError("tool broke")


TOOLS: dict[str, Callable[..., Any]] = {"write_note": write_note, "shell_exec": shell_exec,
                                        "explode": explode}


def test_a_run_records_its_start_its_calls_and_its_finish(space: Space) -> None:
    def runner(tools: Tools) -> str:
        tools.write_note("report.md", "done")
        with contextlib.suppress(ActionDenied):  # an agent that adapts to a refusal
            tools["shell_exec"]("rm -rf /")
        with contextlib.suppress(RuntimeError):
            tools.explode()
        return "I wrote report.md"

    with Guard(session="s-agent", agent="coder") as guard:
        agent = EnforcedAgent(guard, tools=TOOLS)
        result = agent.run(Task("task-1", "write the report"), runner)
    assert result.value == "I wrote report.md"
    assert (space.root / "report.md").read_text() == "done"
    assert not (space.root / "pwned").exists()
    record = result.record
    assert record.status == "completed" and record.task == "task-1"
    assert record.session == "s-agent"
    assert {k: record.counts[k] for k in ("allowed", "denied", "ok", "failed")} == {
        "allowed": 3, "denied": 1, "ok": 1, "failed": 1}  # start, write_note, explode
    assert record.denied == 1 and record.failed == 1
    assert [(e.label, e.status) for e in record.entries] == [
        ("workflow.task.start task-1", None), ("tool.call write_note", "ok"),
        ("tool.call shell_exec", "denied"), ("tool.call explode", "failed")]
    # report.md came from a custom tool (no file write to observe) in a workspace without git
    assert result.claims.status == "passed" and result.claims.result is not None
    assert [r.verdict for r in result.claims.result.claims] == ["unsupported"]
    assert result.claims.report == "I wrote report.md"
    decisions = space.decisions("s-agent")
    assert [d.action.kind for d in decisions] == [
        "workflow.task.start", "tool.call", "tool.call", "tool.call", "workflow.task.finish"]
    finish = decisions[-1].action
    assert finish.task == "task-1" and finish.meta["status"] == "completed"
    assert finish.meta["counts"]["denied"] == 1
    assert decisions[0].action.meta["description"] == "write the report"
    assert len(space.outcomes("s-agent")) == 2


def test_a_refused_declared_action_stops_the_task_before_it_runs(space: Space) -> None:
    called: list[bool] = []
    task = Task("task-2", actions=[
        Action.create("file.write", path="ok.txt", content="x"),
        Action.create("file.write", path=".env", content="TOKEN=1"),
        Action.create("command.exec", argv=["ls"])])
    with Guard(session="s-refused") as guard:
        agent = EnforcedAgent(guard, tools=TOOLS)
        with pytest.raises(ActionDenied, match=r"\.env"):
            agent.run(task, lambda tools: called.append(True))
    assert called == []
    decisions = space.decisions("s-refused")
    assert [d.decision.decision for d in decisions] == ["allow", "allow", "deny", "allow",
                                                        "allow"]
    assert decisions[-1].action.kind == "workflow.task.finish"
    assert decisions[-1].action.meta["status"] == "refused"


def test_a_failing_runner_is_recorded_as_failed_and_re_raised(space: Space) -> None:
    def runner(tools: Tools) -> None:
        tools.write_note("partial.txt", "half")
        raise LookupError("gave up")

    with Guard(session="s-failed") as guard:
        agent = EnforcedAgent(guard, tools=TOOLS)
        with pytest.raises(LookupError):
            agent.run("task-3", runner)
    finish = space.decisions("s-failed")[-1].action
    assert finish.kind == "workflow.task.finish" and finish.meta["status"] == "failed"
    assert finish.meta["counts"]["ok"] == 1


def test_an_async_runner_with_async_tools(space: Space) -> None:
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return f"<{url}>"

    async def danger_wipe() -> None:
        (space.root / "wiped").write_text("x")

    async def runner(tools: Tools) -> list[str]:
        pages = await asyncio.gather(tools.fetch("a"), tools.fetch("b"))
        with pytest.raises(ActionDenied):
            await tools.danger_wipe()
        return list(pages)

    with Guard(session="s-async") as guard:
        agent = EnforcedAgent(guard, tools={"fetch": fetch, "danger_wipe": danger_wipe})
        result = asyncio.run(agent.arun(Task("task-4"), runner))
    assert result.value == ["<a>", "<b>"]
    assert not (space.root / "wiped").exists()
    assert result.record.counts["ok"] == 2 and result.record.counts["denied"] == 1
    assert result.claims.report is None


def test_run_refuses_a_coroutine_runner(space: Space) -> None:
    async def runner(tools: Tools) -> None:
        return None

    with Guard() as guard, pytest.raises(TypeError, match="arun"):
        EnforcedAgent(guard).run("t", runner)  # type: ignore[arg-type]


def test_a_pre_guarded_tool_keeps_its_own_mapping(space: Space) -> None:
    with Guard(session="s-mapped") as guard:

        @guarded(kind="file.write", guard=guard)
        def save(path: str, content: str) -> None:
            (space.root / path).write_text(content)

        agent = EnforcedAgent(guard, tools={"save": save})
        assert agent.tools["save"] is save
        with pytest.raises(ActionDenied):
            agent.run("task-5", lambda tools: tools.save(".env", "x"))
    assert [d.action.kind for d in space.decisions("s-mapped")] == [
        "workflow.task.start", "file.write", "workflow.task.finish"]


def test_a_report_is_verified_against_the_session(space: Space) -> None:
    with Guard() as guard:
        agent = EnforcedAgent(guard)
        result = agent.run("task-claims", lambda tools: "All tests pass.")
        assert result.claims.status == "failed" and result.claims.result is not None
        assert [r.verdict for r in result.claims.result.claims] == ["unsupported"]
        assert "no test run was observed" in result.claims.result.claims[0].reason
        assert agent.validate_claims(None).status == "unverified"
        assert agent.validate_claims("  ").reason == "the run returned no report text to verify"


def test_an_unknown_tool_names_the_known_ones(space: Space) -> None:
    with Guard() as guard:
        agent = EnforcedAgent(guard, tools={"a": lambda: None})
        with pytest.raises(AttributeError, match="no tool 'b'; the agent has a"):
            _ = agent.tools.b
