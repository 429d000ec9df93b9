"""The canonical model: immutable, JSON round-trip, clear errors for bad actions."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codor.errors import ActionError, InputError, UnknownKindError
from codor.model import ACTION_KINDS, Action, Decision, Reason

SAMPLES: list[dict[str, Any]] = [
    {"kind": "file.read", "path": "src/app.py", "session": "s-1",
     "agent": {"id": "claude-1", "role": "coder"}, "cwd": "/repo", "origin": "claude-code"},
    {"kind": "file.write", "path": "a.txt", "content": "x", "meta": {"k": [1, {"z": None}]}},
    {"kind": "file.write", "path": "a.txt", "content_sha256": "ab" * 32},
    {"kind": "patch.apply", "patch": "--- a/x\n+++ b/x\n"},
    {"kind": "command.exec", "argv": ["git", "status"], "env": {"A": "1"}},
    {"kind": "network.request", "url": "https://x.example/", "port": 443, "method": "GET"},
    {"kind": "tool.call", "tool": "read_file", "server": "fs", "arguments": {"path": "/a"}},
    {"kind": "content.inbound", "text": "hi", "source": "web"},
    {"kind": "content.outbound", "text": "bye", "destination": "slack"},
    {"kind": "workflow.mode.change", "mode": "explore"},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_json_round_trip(data: dict[str, Any]) -> None:
    action = Action.from_json(data)
    assert action.to_json() == data
    assert Action.from_json(json.loads(json.dumps(action.to_json()))) == action


def test_actions_are_immutable() -> None:
    action = Action.from_json(SAMPLES[1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        action.path = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        action.meta["k"] = 2  # type: ignore[index]


@pytest.mark.parametrize(("data", "fragment"), [
    ({"kind": "file.read"}, "needs 'path'"),
    ({"kind": "file.write", "path": "a"}, "needs 'content'"),
    ({"kind": "command.exec"}, "needs 'command' or 'argv'"),
    ({"kind": "command.exec", "argv": []}, "argv must be a non-empty list"),
    ({"kind": "network.request", "host": "x", "port": 70000}, "port must be"),
    ({"kind": "network.request", "host": "x", "port": True}, "port must be"),
    ({"kind": "tool.call", "tool": "t", "arguments": [1]}, "arguments must be an object"),
    ({"kind": "content.inbound", "text": "x", "source": "email"}, "source must be"),
    ({"kind": "file.read", "path": 3}, "path must be a string"),
    ({"kind": "file.read", "path": "a\x00b"}, "NUL"),
    ({"kind": "file.read", "path": "a", "pth": "b"}, "unknown field(s) 'pth'"),
    ({"kind": "file.write", "path": "a", "content_sha256": "xyz"}, "64 hex digits"),
    ({"kind": "file.read", "path": "a", "agent": {"name": "x"}}, "agent must be"),
    ({"path": "a"}, "no 'kind'"),
])
def test_malformed_actions_raise_action_error(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ActionError) as info:
        Action.from_json(data, location="<stdin>:4")
    assert fragment in info.value.message
    assert info.value.location == "<stdin>:4"
    assert info.value.one_line().startswith("<stdin>:4: ")


def test_unknown_kind_has_its_own_code() -> None:
    with pytest.raises(UnknownKindError) as info:
        Action.from_json({"kind": "file.execute", "path": "x"})
    assert info.value.code == "E_ACTION_KIND"


def test_non_json_text_is_an_input_error() -> None:
    with pytest.raises(InputError) as info:
        Action.from_json_text("{not json", location="<stdin>:1")
    assert info.value.code == "E_INPUT"


def test_decision_round_trip() -> None:
    decision = Decision("ask", (Reason("r", "paths", "medium", "m"),), ("w",), "ab" * 32)
    assert Decision.from_json(decision.to_json()) == decision
    assert decision.severity == "medium"


@given(st.sampled_from(sorted(ACTION_KINDS)), st.text(max_size=40), st.text(max_size=40))
def test_from_json_never_raises_anything_but_action_errors(kind: str, a: str, b: str) -> None:
    for data in ({"kind": kind, "path": a, "command": b, "text": a},
                 {"kind": kind, "url": a, "tool": b, "patch": a, "content": b},
                 {"kind": a}):
        try:
            action = Action.from_json(data)
        except ActionError:
            continue
        assert Action.from_json(action.to_json()) == action
