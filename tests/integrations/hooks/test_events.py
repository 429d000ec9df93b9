"""Parsing hook events: every documented sample parses to its normalised kind; anything else
is a HookInputError (E_HOOK_INPUT), never another exception."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.integrations.hooks.events import HookEvent, HookInputError
from codor.integrations.hooks.handler import adapter_for
from tests.integrations.hooks.conftest import FIXTURES

AGENTS = {"claude_code": "claude-code", "codex": "codex", "gemini": "gemini"}
KINDS = {
    "PreToolUse": "pre_tool", "BeforeTool": "pre_tool", "PostToolUse": "post_tool",
    "PostToolUseFailure": "post_tool", "AfterTool": "post_tool", "UserPromptSubmit": "prompt",
    "BeforeAgent": "prompt", "Stop": "stop", "AfterAgent": "stop",
    "SessionStart": "session_start", "SessionEnd": "session_end", "Notification": "other",
}


def samples() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for stem, agent in AGENTS.items():
        events = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
        out += [(agent, name, ev) for name, ev in events.items() if not name.startswith("_")]
    return out


def parse(agent: str, payload: Any) -> HookEvent:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return adapter_for(agent).parse(raw)


@pytest.mark.parametrize(("agent", "name", "payload"), samples(),
                         ids=[f"{a}:{n}" for a, n, _ in samples()])
def test_every_documented_sample_parses_to_its_kind(agent: str, name: str,
                                                    payload: dict[str, Any]) -> None:
    event = parse(agent, payload)
    assert event.agent == agent
    assert event.kind == KINDS[payload["hook_event_name"]]
    assert event.vendor_event == payload["hook_event_name"]
    assert event.session_id == payload["session_id"]
    assert event.cwd == payload["cwd"]
    assert dict(event.raw) == payload
    if event.kind in ("pre_tool", "post_tool"):
        assert event.tool_name == payload["tool_name"]
        assert dict(event.tool_input or {}) == payload["tool_input"]


def test_a_stop_event_carries_the_final_message_of_each_vendor() -> None:
    by_name = {(a, n): p for a, n, p in samples()}
    claude = parse("claude-code", by_name[("claude-code", "Stop")])
    gemini = parse("gemini", by_name[("gemini", "AfterAgent")])
    assert claude.last_assistant_message == by_name[("claude-code", "Stop")][
        "last_assistant_message"]
    assert gemini.last_assistant_message == "Fixed tests/test_app.py; 12 passed."
    assert parse("claude-code", by_name[("claude-code", "Stop.transcript")]).stop_hook_active


BASE = {"session_id": "s", "cwd": "/w", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "ls"}}


@pytest.mark.parametrize(("payload", "message"), [
    (b"\xff\xfe", "not UTF-8"),
    (b"", "not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"session_id": NaN}', "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ({**BASE, "hook_event_name": 3}, "hook_event_name"),
    ({k: v for k, v in BASE.items() if k != "session_id"}, "missing field 'session_id'"),
    ({**BASE, "session_id": ""}, "must not be empty"),
    ({**BASE, "session_id": "a\x00b"}, "NUL"),
    ({**BASE, "cwd": "w"}, "absolute"),
    ({**BASE, "tool_input": ["ls"]}, "tool_input must be a JSON object"),
    ({k: v for k, v in BASE.items() if k != "tool_name"}, "missing field 'tool_name'"),
    ({**BASE, "stop_hook_active": "yes"}, "stop_hook_active"),
    ({**BASE, "hook_event_name": "UserPromptSubmit", "prompt": None}, "prompt"),
    ({**BASE, "hook_event_name": "AfterTool"}, "not a claude-code hook event"),
])
def test_malformed_input_is_a_hook_input_error(payload: Any, message: str) -> None:
    with pytest.raises(HookInputError) as caught:
        parse("claude-code", payload)
    assert caught.value.code == "E_HOOK_INPUT"
    assert message in str(caught.value)


def test_informational_fields_of_another_type_are_ignored() -> None:
    event = parse("claude-code", {**BASE, "model": {"id": "x"}, "transcript_path": 3})
    assert (event.model, event.transcript_path) == (None, None)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)
KEYS = st.sampled_from(["session_id", "cwd", "hook_event_name", "tool_name", "tool_input",
                        "tool_response", "tool_use_id", "prompt", "stop_hook_active",
                        "last_assistant_message", "prompt_response", "error", "model",
                        "transcript_path", "mcp_context", "agent_id"])
NAMES = st.sampled_from([*KINDS, "PermissionRequest", "BeforeModel", ""])
EVENTS = st.fixed_dictionaries({"hook_event_name": NAMES | JSON}, optional={
    "session_id": st.text() | JSON, "cwd": st.sampled_from(["/w", "w", ""]) | JSON,
    "tool_name": st.text() | JSON, "tool_input": st.dictionaries(st.text(), JSON) | JSON,
}).flatmap(lambda base: st.dictionaries(KEYS, JSON, max_size=4).map(
    lambda extra: {**extra, **base}))


@settings(max_examples=300, deadline=None)
@given(agent=st.sampled_from(sorted(AGENTS.values())), payload=EVENTS | JSON)
def test_arbitrary_json_never_crashes_the_parser(agent: str, payload: Any) -> None:
    try:
        event = parse(agent, payload)
    except HookInputError as exc:
        assert exc.code == "E_HOOK_INPUT"
    else:
        assert isinstance(event, HookEvent) and event.session_id


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes) -> None:
    with contextlib.suppress(HookInputError):
        parse("gemini", raw)


def test_fixture_files_cite_their_sources() -> None:
    for stem in AGENTS:
        sources = json.loads((FIXTURES / f"{stem}.json").read_text())["_sources"]
        assert sources and all(isinstance(s, str) and s for s in sources)
    readme = (Path(FIXTURES) / "README.md").read_text()
    for source in ("code.claude.com/docs/en/hooks", "anthropics/claude-agent-sdk-python",
                   "openai/codex", "google-gemini/gemini-cli"):
        assert source in readme
