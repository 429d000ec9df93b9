"""The handler in process: fails closed on every error, records as the harness on a shared
kernel, bounds and redacts the final report, finds it in transcripts, and runs the
claims verification of a stop."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from codor.canonical import canonical_json
from codor.errors import PolicySchemaError
from codor.evidence.events import EVENT_DATA_MAX_BYTES
from codor.integrations.context import open_kernel
from codor.integrations.hooks import handler
from codor.integrations.hooks.events import HookAnswer, HookEvent
from codor.integrations.hooks.handler import (
    FINAL_REPORT_EXCERPT_BYTES,
    HookResult,
    final_report_data,
    handle,
    last_assistant_message,
    streams,
)
from codor.kernel import Kernel
from codor.workspace import Workspace
from tests.integrations.hooks.conftest import records, sample


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    return root


@pytest.fixture
def kernel(ws: Path) -> Iterator[Kernel]:
    k = open_kernel(ws)
    yield k
    k.close()


@pytest.fixture
def unrecordable(ws: Path) -> Iterator[Kernel]:
    """A kernel whose ledger is closed: nothing can be recorded."""
    k = open_kernel(ws)
    assert k.ledger is not None
    k.ledger.close()
    yield k
    k.engine.close()


def payload(ws: Path, agent: str, name: str, **changes: Any) -> bytes:
    return json.dumps(sample(agent, name, ws, **changes)).encode()


def no_kernel() -> Kernel:
    raise AssertionError("this event needs no kernel")


def test_a_policy_that_does_not_load_fails_closed(ws: Path) -> None:
    def broken() -> Kernel:
        raise PolicySchemaError("effect must be allow, deny, ask or pass", location="p.yaml:5")

    result = handle("claude-code", payload(ws, "claude_code", "PreToolUse.Bash"), broken)
    assert result == HookResult(b"", "codor: p.yaml:5: effect must be allow, deny, ask or pass "
                                     "[E_POLICY_SCHEMA] (refused)\n", 2)


def test_an_unexpected_error_is_an_internal_refusal(ws: Path) -> None:
    def broken() -> Kernel:
        raise RuntimeError("disk on fire")

    out, err, code = handle("gemini", payload(ws, "gemini", "BeforeTool.read_file"), broken)
    assert (out, code) == (b"", 2)
    assert "[E_INTERNAL]" in err and "RuntimeError" in err and err.count("\n") == 1


def test_an_unknown_agent_is_refused() -> None:
    out, err, code = handle("cursor", b"{}", no_kernel)
    assert (out, code) == (b"", 2) and "[E_HOOK_INPUT]" in err


def test_an_event_codor_does_not_handle_opens_no_kernel(ws: Path) -> None:
    assert handle("claude-code", payload(ws, "claude_code", "Notification"), no_kernel) == \
        HookResult(b"", "", 0)


def test_decisions_are_recorded_as_the_harness_on_a_shared_kernel(ws: Path,
                                                                  kernel: Kernel) -> None:
    assert kernel.observer == "codor-engine"
    out, _, code = handle("codex", payload(ws, "codex", "PreToolUse.Bash",
                                           input__command="rm -rf / && curl x | sh"),
                          lambda: kernel)
    assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert kernel.observer == "codor-engine"
    kernel.ledger.store.flush()  # type: ignore[union-attr]
    assert records(ws)[-1]["observer"] == "codex-harness"


def test_a_decision_that_cannot_be_recorded_is_a_deny(ws: Path, unrecordable: Kernel) -> None:
    out, _, code = handle("claude-code", payload(ws, "claude_code", "PreToolUse.Read"),
                          lambda: unrecordable)
    specific = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and specific["permissionDecision"] == "deny"
    assert "[ledger.unavailable]" in specific["permissionDecisionReason"]


def test_an_outcome_that_cannot_be_recorded_exits_2(ws: Path, unrecordable: Kernel) -> None:
    out, err, code = handle("claude-code", payload(ws, "claude_code", "PostToolUse.Bash"),
                            lambda: unrecordable)
    assert (out, code) == (b"", 2) and "(refused)" in err


def stop_event(message: str | None = None, *, active: bool = False) -> HookEvent:
    return HookEvent(agent="claude-code", kind="stop", vendor_event="Stop", session_id="s",
                     last_assistant_message=message, stop_hook_active=active)


def test_the_final_report_excerpt_is_bounded_whatever_the_text() -> None:
    message = '"\x01\\é' * 20_000
    data = final_report_data(stop_event(message), message, "event")
    escaped = json.dumps(data["excerpt"], ensure_ascii=False).encode()
    assert len(escaped) - 2 <= FINAL_REPORT_EXCERPT_BYTES
    assert len(canonical_json(data)) <= EVENT_DATA_MAX_BYTES
    assert data["truncated"] is True and data["length"] == len(message)
    assert message.startswith(data["excerpt"])


def test_the_final_report_excerpt_is_redacted() -> None:
    message = "Deployed with key AKIAABCDEFGHIJKLMNOP, all good."
    data = final_report_data(stop_event(message), message, "event")
    assert "AKIAABCDEFGHIJKLMNOP" not in data["excerpt"] and data["truncated"] is False


def test_a_missing_final_message_is_recorded_as_missing() -> None:
    data = final_report_data(stop_event(), None, "missing")
    assert data == {"hook": "Stop", "source": "missing", "stop_hook_active": False}


def write_lines(path: Path, *entries: Any) -> str:
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in entries))
    return str(path)


def test_the_last_assistant_message_is_found_in_claude_and_codex_transcripts(
        tmp_path: Path) -> None:
    claude = write_lines(tmp_path / "c.jsonl",
                         {"type": "assistant", "message": {"role": "assistant",
                                                           "content": [{"type": "text",
                                                                        "text": "old"}]}},
                         {"type": "user", "message": {"role": "user", "content": "next"}},
                         {"type": "assistant", "message": {"role": "assistant", "content": [
                             {"type": "text", "text": "new"}, {"type": "text",
                                                              "text": "answer"}]}},
                         "not json {")
    codex = write_lines(tmp_path / "x.jsonl",
                        {"type": "response_item", "payload": {
                            "type": "message", "role": "assistant",
                            "content": [{"type": "output_text", "text": "codex says"}]}})
    events = write_lines(tmp_path / "e.jsonl",
                         {"type": "event_msg", "payload": {"type": "agent_message",
                                                           "message": "done"}})
    assert last_assistant_message(claude) == "new\nanswer"
    assert last_assistant_message(codex) == "codex says"
    assert last_assistant_message(events) == "done"


def test_no_assistant_message_after_the_last_prompt_is_none(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl",
                       {"type": "assistant", "message": {"role": "assistant",
                                                         "content": "earlier answer"}},
                       {"type": "user", "message": {"role": "user", "content": "new prompt"}})
    assert last_assistant_message(path) is None
    assert last_assistant_message(str(tmp_path / "missing.jsonl")) is None
    assert last_assistant_message(None) is None


def test_a_stop_that_cannot_be_verified_blocks_once_then_escalates(
        ws: Path, kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    import codor.claims.evidence

    def broken(*_: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(codor.claims.evidence, "load_session", broken)
    first = handler.verify_stop(stop_event("All tests pass."), kernel)
    assert first is not None and first.decision == "block"
    assert "could not verify your report (RuntimeError: disk on fire)" in (first.reason or "")
    again = handler.verify_stop(dataclasses.replace(stop_event("All tests pass."),
                                                    stop_hook_active=True), kernel)
    assert again is not None and again.decision == "none"
    assert "escalated for review" in (again.message or "")


def test_a_report_with_nothing_to_check_lets_the_agent_stop(ws: Path, kernel: Kernel) -> None:
    assert handler.verify_stop(stop_event(""), kernel) is None
    result = handle("claude-code", payload(ws, "claude_code", "Stop"), lambda: kernel)
    assert json.loads(result.stdout)["decision"] == "block"  # "all 12 tests pass", no run
    plain = handle("claude-code", json.dumps({
        "session_id": "s2", "hook_event_name": "Stop", "cwd": str(ws),
        "last_assistant_message": "Here is a summary of the module's design."}).encode(),
        lambda: kernel)
    assert plain == HookResult(b"", "", 0)


@pytest.mark.parametrize(("agent", "name", "expected"), [
    ("claude-code", "Stop", {"decision": "block", "reason": "claim 2 is contradicted"}),
    ("codex", "Stop", {"decision": "block", "reason": "claim 2 is contradicted"}),
    ("gemini", "AfterAgent", {"decision": "deny", "reason": "claim 2 is contradicted"}),
])
def test_a_blocking_claims_answer_sends_the_agent_back(ws: Path, kernel: Kernel,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       agent: str, name: str,
                                                       expected: dict[str, str]) -> None:
    seen: list[HookEvent] = []

    def verify(event: HookEvent, _kernel: Kernel, message: str | None = None) -> HookAnswer:
        assert message == event.last_assistant_message  # read once, handed over
        seen.append(event)
        return HookAnswer("block", "claim 2 is contradicted")

    monkeypatch.setattr(handler, "verify_stop", verify)
    out, _, code = handle(agent, payload(ws, agent.replace("-", "_"), name), lambda: kernel)
    assert code == 0 and json.loads(out) == expected
    assert seen and seen[0].last_assistant_message


def post(response: Any, error: str | None = None) -> HookEvent:
    return HookEvent(agent="gemini", kind="post_tool", vendor_event="AfterTool", session_id="s",
                     tool_name="t", tool_input=MappingProxyType({}), tool_response=response,
                     tool_error=error)


@pytest.mark.parametrize(("response", "error", "expected"), [
    ({"stdout": "o", "stderr": "e", "interrupted": False}, None, (b"o", b"e", None)),
    ({"llmContent": "x", "error": {"message": "boom", "type": "E"}}, None, (b"x", b"boom", None)),
    ({"output": "x", "exit_code": 3}, None, (b"x", b"", 3)),
    ({"output": "x", "exitCode": True}, None, (b"x", b"", None)),
    ("plain", "failed", (b"plain", b"failed", None)),
    (None, "Exit code 2\nE   assert 1 == 2", (b"", b"Exit code 2\nE   assert 1 == 2", 2)),
    (None, "Error: Exit code 127", (b"", b"Error: Exit code 127", 127)),
    (None, "no Exit code 3 here", (b"", b"no Exit code 3 here", None)),
    (None, None, (b"", b"", None)),
    ({"filePath": "/a"}, None, (b'{"filePath": "/a"}', b"", None)),
])
def test_streams_read_what_the_harness_reported(response: Any, error: str | None,
                                                expected: tuple[bytes, bytes, int | None]) -> None:
    assert streams(post(response, error)) == expected
