"""``codor mcp serve`` end to end: the real executable, driven by the official MCP Python client
over stdio and streamable HTTP, in both protocol eras (the 2025-11-25 ``initialize`` handshake
and 2026-07-28 per-request envelopes). Commands really run in bubblewrap and every call is read
back from the ledger with ``codor ledger tail``. (``http.fetch``: test_server_fetch.py.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Implementation

from codor.integrations.mcp.server import META_KEY, ListenAddressError, parse_listen
from codor.integrations.mcp.toolspecs import TOOL_SPECS
from codor.runtime import TOOLS
from tests.integrations.mcp.server_support import (
    ERAS,
    Workspace,
    assert_recorded,
    call_ok,
    meta_of,
    run_stdio,
    serve_http,
    text_of,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path)


# -- the tool list -------------------------------------------------------------------------------
def test_every_runtime_tool_has_a_spec_matching_its_arguments() -> None:
    assert list(TOOL_SPECS) == list(TOOLS)
    for name, (_, allowed) in TOOLS.items():
        schema = TOOL_SPECS[name].input_schema()
        assert set(schema["properties"]) == set(allowed), name
        assert schema["additionalProperties"] is False
        assert set(schema.get("required", ())) <= set(allowed)
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", name)  # SEP-986 tool names


@pytest.mark.parametrize(("mode", "revision"), ERAS)
def test_tools_list_over_stdio(ws: Workspace, mode: str, revision: str) -> None:
    async def body(client: Client) -> None:
        assert client.protocol_version == revision
        listed = await client.list_tools()
        if mode == "legacy":
            assert client.server_info is not None and client.server_info.name == "codor"
        else:  # no handshake: each result names the server
            assert listed.meta is not None
            assert listed.meta["io.modelcontextprotocol/serverInfo"]["name"] == "codor"
        tools = {t.name: t for t in listed.tools}
        assert list(tools) == list(TOOLS)
        for name, tool in tools.items():
            assert tool.input_schema == TOOL_SPECS[name].input_schema()
            assert tool.description and "policy" in tool.description
        hints = {n: t.annotations for n, t in tools.items() if t.annotations is not None}
        assert list(hints) == list(TOOLS)
        assert all(hints[n].read_only_hint for n in ("fs.read", "fs.list", "fs.exists",
                                                     "search.grep", "search.glob"))
        for name in ("fs.write", "fs.delete", "patch.apply", "shell.exec", "test.run",
                     "http.fetch"):
            assert hints[name].read_only_hint is False
            assert hints[name].destructive_hint is True
        assert hints["http.fetch"].open_world_hint is True
        assert hints["fs.read"].open_world_hint is False
        assert "required" not in tools["shell.exec"].input_schema  # one of command, argv

    run_stdio(ws, mode, body, name="lister")


# -- calls over stdio ----------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "revision"), ERAS)
def test_calls_over_stdio_are_enforced_and_recorded(ws: Workspace, mode: str,
                                                     revision: str) -> None:
    (ws.root / "keep.txt").write_text("keep me\n")
    escape = ws.outside / "escape.txt"
    policy_before = (ws.root / ".codor" / "policy.yaml").read_bytes()
    calls: list[tuple[str, CallToolResult]] = []
    agent = f"agent-{revision}"

    async def body(client: Client) -> None:
        async def call(name: str, arguments: dict[str, Any]) -> CallToolResult:
            result = await client.call_tool(name, arguments)
            calls.append((name, result))
            return result

        assert client.protocol_version == revision
        # a write and a read back, inside the workspace
        wrote = await call("fs.write", {"path": "notes/a.txt", "content": "héllo mcp\n"})
        assert not wrote.is_error, text_of(wrote)
        assert wrote.structured_content == {
            "path": "notes/a.txt", "size": 11, "created": True,
            "sha256": wrote.structured_content["sha256"]}
        read = await call("fs.read", {"path": "notes/a.txt"})
        assert read.structured_content["content"] == "héllo mcp\n"
        assert json.loads(text_of(read))["content"] == "héllo mcp\n"
        # a write outside the workspace, and onto CODOR's own policy: denied
        outside = await call("fs.write", {"path": str(escape), "content": "x"})
        assert outside.is_error
        assert text_of(outside).startswith("CODOR denied fs.write:")
        assert meta_of(outside)["status"] == "denied"
        assert outside.structured_content["status"] == "denied"
        protected = await call("fs.write", {"path": ".codor/policy.yaml", "content": "x"})
        assert protected.is_error and meta_of(protected)["status"] == "denied"
        # a write a person must approve: not run, said so
        ask = await call("fs.write", {"path": "approve-me/x.txt", "content": "x"})
        assert ask.is_error and meta_of(ask)["status"] == "approval_needed"
        assert "approval" in text_of(ask)
        # a command in the sandbox, and a command the policy refuses
        echo = await call("shell.exec", {"command": "echo sandboxed; cat keep.txt"})
        assert not echo.is_error, text_of(echo)
        out = echo.structured_content
        assert out["exit_status"] == 0
        assert out["stdout"] == "sandboxed\nkeep me\n"
        assert out["sandbox"] == "bubblewrap"
        argv = await call("shell.exec", {"argv": ["printf", "%s", "x y"]})
        assert argv.structured_content["stdout"] == "x y"
        rm = await call("shell.exec", {"command": "rm keep.txt"})
        assert rm.is_error and meta_of(rm)["status"] == "denied"
        assert "[commands.default]" in text_of(rm)
        # search
        grep = await call("search.grep", {"pattern": "h.+llo m", "path": "notes"})
        assert not grep.is_error, text_of(grep)
        assert grep.structured_content["matches"] == [
            {"path": "notes/a.txt", "line": 1, "text": "héllo mcp"}]
        glob = await call("search.glob", {"pattern": "**/*.txt"})
        assert glob.structured_content["paths"] == ["keep.txt", "notes/a.txt"]

    stderr = run_stdio(ws, mode, body, name=agent, extra=("--session", "s-stdio"))
    assert "session s-stdio" in stderr and "recorded in the ledger" in stderr
    assert "Traceback" not in stderr
    # the disk agrees with the answers
    assert (ws.root / "notes" / "a.txt").read_text() == "héllo mcp\n"
    assert not escape.exists()
    assert (ws.root / ".codor" / "policy.yaml").read_bytes() == policy_before
    assert not (ws.root / "approve-me").exists()
    assert (ws.root / "keep.txt").read_text() == "keep me\n"
    assert_recorded(ws, "s-stdio", agent, calls)
    [start] = [r for r in ws.session("s-stdio") if r["type"] == "session.start"]
    assert start["agent"] == {"id": agent}


@pytest.mark.parametrize(("mode", "revision"), ERAS)
def test_bad_calls_are_errors_never_tracebacks_and_still_recorded(
        ws: Workspace, mode: str, revision: str) -> None:
    async def body(client: Client) -> None:
        bad = await client.call_tool("fs.read", {"path": "a", "bogus": 1})
        assert bad.is_error
        assert text_of(bad) == ("fs.read failed: fs.read: unknown argument(s) bogus; expected "
                                "max_bytes, path [E_TOOL_ARGS]")
        assert bad.structured_content["error"]["code"] == "E_TOOL_ARGS"
        both = await client.call_tool("shell.exec", {"command": "true", "argv": ["true"]})
        assert both.is_error and "exactly one of command and argv" in text_of(both)
        missing = await client.call_tool("fs.read", {"path": "nothing-here"})
        assert missing.is_error and "[E_TOOL_IO]" in text_of(missing)
        assert "Traceback" not in text_of(missing)
        with pytest.raises(MCPError, match=r"unknown tool 'fs\.nope'"):
            await client.call_tool("fs.nope", {})

    run_stdio(ws, mode, body, name="clumsy", extra=("--session", "s-bad"))
    records = ws.session("s-bad")
    rejected = [(r["data"]["tool"], r["data"]["code"]) for r in records
                if r["type"] == "event" and r["event"] == "mcp.call_rejected"]
    assert rejected == [("fs.read", "E_TOOL_ARGS"), ("shell.exec", "E_TOOL_ARGS"),
                        ("fs.nope", "E_TOOL_ARGS")]
    # the missing file was decided (allowed), executed, failed: the outcome says so
    [outcome] = [r for r in records if r["type"] == "outcome"]
    assert outcome["stderr"]["excerpt"].endswith("[E_TOOL_IO]")


def test_no_record_leaves_the_ledger_alone(ws: Workspace) -> None:
    before = ws.ledger()

    async def body(client: Client) -> None:
        await call_ok(client, "fs.write", {"path": "unrecorded.txt", "content": "x"})
        result = await client.call_tool("fs.list", {})
        assert "index" not in json.dumps(meta_of(result))

    stderr = run_stdio(ws, "legacy", body, name="quiet", extra=("--no-record",))
    assert "NOT recorded" in stderr
    assert (ws.root / "unrecorded.txt").read_text() == "x"
    assert ws.ledger() == before


def test_stdio_shutdown_stops_the_sandbox_proxies(ws: Workspace, tmp_path: Path) -> None:
    """The end of stdin ends the server, which stops the egress proxies it started (their
    private directories go) and exits 0; so does SIGTERM."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    argv = ws.serve_argv()
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)

    async def main() -> None:
        async with Client(stdio_client(params, errlog=sys.stderr), mode="legacy") as client:
            await call_ok(client, "shell.exec", {"command": "true"})
            assert [p.name for p in tmp.iterdir() if p.name.startswith("codor-egress-")]

    anyio.run(main)
    assert not [p.name for p in tmp.iterdir() if p.name.startswith("codor-")]

    # SIGTERM while the client still holds stdin open, after a sandboxed call (raw JSON-RPC)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        assert "codor mcp serve: stdio" in proc.stderr.readline()
        for message in (
                {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "raw", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                 "params": {"name": "shell.exec", "arguments": {"command": "echo raw"}}}):
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        answers = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert answers[1]["id"] == 2
        assert answers[1]["result"]["structuredContent"]["stdout"] == "raw\n"
        assert [p.name for p in tmp.iterdir() if p.name.startswith("codor-egress-")]
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 4  # nothing in flight: no grace period waited
    finally:
        proc.kill()
        proc.communicate()
    assert not [p.name for p in tmp.iterdir() if p.name.startswith("codor-")]
    index = answers[1]["result"]["_meta"][META_KEY]["outcome_index"]
    assert ws.ledger()[index]["stdout"]["excerpt"] == "raw\n"


# -- streamable HTTP -----------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "revision"), ERAS)
def test_calls_over_streamable_http(ws: Workspace, mode: str, revision: str) -> None:
    calls: list[tuple[str, CallToolResult]] = []
    agent = f"http-{revision}"

    async def main(url: str) -> None:
        async with Client(url, mode=mode,
                          client_info=Implementation(name=agent, version="1")) as client:
            assert client.protocol_version == revision
            assert [t.name for t in (await client.list_tools()).tools] == list(TOOLS)
            for name, arguments in (("fs.write", {"path": "h.txt", "content": "over http\n"}),
                                    ("fs.read", {"path": "h.txt"}),
                                    ("fs.write", {"path": str(ws.outside / "h.txt"),
                                                  "content": "x"}),
                                    ("shell.exec", {"argv": ["echo", "in", "bwrap"]}),
                                    ("shell.exec", {"command": "rm h.txt"}),
                                    ("search.grep", {"pattern": "over", "fixed": True})):
                calls.append((name, await client.call_tool(name, arguments)))

    with serve_http(ws, "--session", "s-http") as server:
        assert "listening on http://127.0.0.1:" in server.lines[-1]
        anyio.run(main, server.url)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
    statuses = [meta_of(r)["status"] for _, r in calls]
    assert statuses == ["ok", "ok", "denied", "ok", "denied", "ok"]
    assert calls[1][1].structured_content["content"] == "over http\n"
    assert calls[3][1].structured_content["stdout"] == "in bwrap\n"
    assert calls[3][1].structured_content["sandbox"] == "bubblewrap"
    assert calls[5][1].structured_content["matches"][0]["path"] == "h.txt"
    assert (ws.root / "h.txt").exists() and not (ws.outside / "h.txt").exists()
    assert_recorded(ws, "s-http", agent, calls)


def test_http_refuses_a_foreign_host_header(ws: Workspace) -> None:
    import httpx

    with serve_http(ws) as server:
        response = httpx.post(server.url, headers={"Host": "evil.example:80",
                                                   "Content-Type": "application/json"},
                              content=b"{}", timeout=10)
    assert response.status_code == 421  # DNS rebinding protection


# -- --listen ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "host", "port"), [
    ("8765", "127.0.0.1", 8765),
    (":0", "127.0.0.1", 0),
    ("localhost:80", "127.0.0.1", 80),
    ("127.0.0.2:1", "127.0.0.2", 1),
    ("[::1]:9", "::1", 9),
])
def test_parse_listen(text: str, host: str, port: int) -> None:
    address = parse_listen(text)
    assert (address.host, address.port) == (host, port)


@pytest.mark.parametrize("text", ["example.com:80", "x", "127.0.0.1:99999", "[::1]9", "",
                                  "0.0.0.0:8765", "192.168.1.5:1", "[::]:80",
                                  "127.0.0.1:\u00b2", "\u0663"])  # non-ASCII digits
def test_parse_listen_refuses(text: str) -> None:
    with pytest.raises(ListenAddressError) as info:
        parse_listen(text)
    assert info.value.code == "E_MCP_LISTEN"


def test_http_on_another_loopback_address(ws: Workspace) -> None:
    """On 127.0.0.2 the server answers requests naming its own address, and still refuses a
    foreign Host header."""
    import httpx

    async def main(url: str) -> None:
        async with Client(url, mode="legacy") as client:
            assert [t.name for t in (await client.list_tools()).tools] == list(TOOLS)

    with serve_http(ws, listen="127.0.0.2:0") as server:
        assert server.url.startswith("http://127.0.0.2:")
        anyio.run(main, server.url)
        response = httpx.post(server.url, headers={"Host": "evil.example:80",
                                                   "Content-Type": "application/json"},
                              content=b"{}", timeout=10)
    assert response.status_code == 421


def test_cli_refuses_a_host_name_to_listen_on(ws: Workspace) -> None:
    proc = subprocess.run(ws.serve_argv("--listen", "example.com:8765"), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 2
    assert "[E_MCP_LISTEN]" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_reports_a_port_in_use(ws: Workspace) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(ws.serve_argv("--listen", f"127.0.0.1:{port}"),
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "[E_MCP_LISTEN]" in proc.stderr and "Traceback" not in proc.stderr


def test_importing_the_server_loads_neither_the_sdk_nor_a_kernel() -> None:
    code = ("import sys, codor.integrations.mcp.server, codor.integrations.mcp.toolhost, "
            "codor.integrations.mcp.toolspecs, codor.integrations.mcp.egress; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('mcp', 'mcp_types', 'uvicorn', 'starlette', 'anyio') "
            "or m in ('codor.kernel', 'codor.sandbox.proxy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"
