"""The gateway in front of the real filesystem server (npm), driven by the official client over
stdio in both protocol revisions: reads pass, denied writes never reach the upstream, the
listing is filtered, approvals are refused, and every call is in the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.integrations.mcp.gateway_support import (
    MODES,
    decisions,
    events,
    ledger,
    make_workspace,
    npm_server,
    outcomes,
    stdio_gateway,
    text_of,
)

pytestmark = pytest.mark.slow


def _policy(workspace: Path) -> str:
    return f"""
        version: 1
        extends: ["codor:coding-assistant"]
        guards:
          tools:
            deny: [move_file]
            ask: [create_directory]
            constraints:
              - tool: write_file
                pointer: /path
                allow: ["{workspace}/**"]
        """


def _setup(tmp_path: Path) -> tuple[Path, str]:
    """A workspace inside the filesystem server's root: the upstream itself would accept
    writes anywhere under ``tmp_path``; only the gateway's policy keeps them in the workspace."""
    workspace = make_workspace(tmp_path / "ws", _policy(tmp_path / "ws"))
    (workspace / "notes.txt").write_text("the notes\n", encoding="utf-8")
    upstream = f"{npm_server('mcp-server-filesystem')} {tmp_path}"
    return workspace, upstream


@pytest.mark.parametrize("mode", MODES)
def test_reads_pass_and_denied_writes_never_reach_the_upstream(tmp_path: Path,
                                                                mode: str) -> None:
    workspace, upstream = _setup(tmp_path)
    outside = tmp_path / "outside.txt"
    inside = workspace / "made.txt"
    seen: dict[str, Any] = {}

    async def session() -> None:
        async with Client(stdio_gateway(workspace, upstream=upstream), mode=mode) as client:
            seen["version"] = client.protocol_version
            seen["read"] = await client.call_tool("read_text_file",
                                                  {"path": str(workspace / "notes.txt")})
            seen["denied"] = await client.call_tool("write_file", {"path": str(outside),
                                                                   "content": "escaped"})
            seen["written"] = await client.call_tool("write_file", {"path": str(inside),
                                                                    "content": "kept"})

    anyio.run(session)
    assert seen["version"] == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert not seen["read"].is_error and "the notes" in text_of(seen["read"])
    assert seen["denied"].is_error
    assert text_of(seen["denied"]).startswith(
        "CODOR denied this call of secure-filesystem-server/write_file: ")
    assert "matches none of the allowed values" in text_of(seen["denied"])
    assert not outside.exists()  # the upstream never got the call
    assert not seen["written"].is_error and inside.read_text(encoding="utf-8") == "kept"

    records = ledger(workspace)
    calls = decisions(records)
    assert [(d["action"]["tool"], d["decision"]["decision"]) for d in calls] == [
        ("read_text_file", "allow"), ("write_file", "deny"), ("write_file", "allow")]
    assert all(d["observer"] == "mcp-gateway" and d["action"]["origin"] == "mcp-gateway" and
               d["action"]["server"] == "secure-filesystem-server" for d in calls)
    assert calls[1]["decision"]["reasons"][0]["rule"] == "tools.constraint.0"
    # outcomes only for the two forwarded calls, each naming its decision's ledger index
    done = outcomes(records)
    assert [o["action_index"] for o in done] == [calls[0]["_index"], calls[2]["_index"]]
    assert all(o["observer"] == "mcp-gateway" and o["exit_status"] == 0 for o in done)
    # each forwarded result's text was judged by the injection guard
    assert len(decisions(records, "content.inbound")) == 2


@pytest.mark.parametrize("mode", MODES)
def test_listing_is_filtered_and_ask_is_refused(tmp_path: Path, mode: str) -> None:
    workspace, upstream = _setup(tmp_path)
    seen: dict[str, Any] = {}

    async def session() -> None:
        async with Client(stdio_gateway(workspace, upstream=upstream), mode=mode) as client:
            seen["tools"] = [t.name for t in (await client.list_tools()).tools]
            seen["ask"] = await client.call_tool("create_directory",
                                                 {"path": str(workspace / "newdir")})
            seen["hidden"] = await client.call_tool("move_file", {
                "source": str(workspace / "notes.txt"), "destination": str(workspace / "x")})

    anyio.run(session)
    tools = seen["tools"]
    assert "move_file" not in tools  # denied by name: hidden
    assert {"read_text_file", "write_file", "create_directory"} <= set(tools)  # ask: listed
    assert len(tools) == 13  # the server's 14, less move_file
    assert seen["ask"].is_error
    message = text_of(seen["ask"])
    assert "needs" in message and "approval" in message and "approvals queue" in message
    assert not (workspace / "newdir").exists()
    assert seen["hidden"].is_error and "CODOR denied" in text_of(seen["hidden"])
    assert (workspace / "notes.txt").exists()

    records = ledger(workspace)
    assert [(d["action"]["tool"], d["decision"]["decision"]) for d in decisions(records)] == [
        ("create_directory", "ask"), ("move_file", "deny")]
    assert outcomes(records) == []  # nothing was forwarded
    hidden = events(records, "mcp.tools_hidden")
    assert len(hidden) == 1 and hidden[0]["data"]["tools"] == ["move_file"]


def test_codors_own_state_cannot_be_written_through_an_upstream_tool(tmp_path: Path) -> None:
    """The policy allows writes anywhere in the workspace, yet `.codor/` (policy, ledger,
    keys) stays out of reach: the built-in protections read the tool's path arguments."""
    workspace, upstream = _setup(tmp_path)
    policy = workspace / ".codor" / "policy.yaml"
    before = policy.read_bytes()
    seen: dict[str, Any] = {}

    async def session() -> None:
        async with Client(stdio_gateway(workspace, upstream=upstream)) as client:
            seen["policy"] = await client.call_tool("write_file", {
                "path": str(policy), "content": "version: 1\nname: mine\n"})
            seen["edit"] = await client.call_tool("edit_file", {
                "path": str(workspace / ".codor" / "ledger.db"),
                "edits": [{"oldText": "a", "newText": "b"}]})

    anyio.run(session)
    for name in ("policy", "edit"):
        assert seen[name].is_error, name
        assert "CODOR's own state" in text_of(seen[name])
    assert policy.read_bytes() == before
    rules = [d["decision"]["reasons"][0]["rule"] for d in decisions(ledger(workspace))[-2:]]
    assert rules == ["builtin.protected_write"] * 2
