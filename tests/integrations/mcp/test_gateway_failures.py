"""The gateway fails closed: an internal error while deciding refuses the call (and is recorded),
bad options and broken state stop it before it serves, with a one-line error and a code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.integrations.mcp.gateway_support import (
    CODOR,
    UPSTREAM_APP,
    decisions,
    events,
    ledger,
    make_workspace,
    stdio_gateway,
    text_of,
)

pytestmark = pytest.mark.slow

UPSTREAM = f"{sys.executable} {UPSTREAM_APP}"


def test_internal_error_while_deciding_refuses_and_is_recorded(tmp_path: Path) -> None:
    """The pin file turns unreadable while the gateway runs; a call that needs the upstream's
    listing checked again (a tool it has not seen) hits that error: refused, recorded, and the
    client sees one sentence, no traceback."""
    workspace = make_workspace(tmp_path / "ws")
    pins = workspace / ".codor" / "mcp-pins.json"
    seen: dict[str, Any] = {}

    async def session() -> None:
        async with Client(stdio_gateway(workspace, upstream=UPSTREAM)) as client:
            seen["ok"] = await client.call_tool("greet", {"name": "Ada"})
            pins.write_text("{not json", encoding="utf-8")
            seen["broken"] = await client.call_tool("no_such_tool", {})
            seen["after"] = await client.call_tool("greet", {"name": "Bob"})

    anyio.run(session)
    assert text_of(seen["ok"]) == "Hello, Ada!"
    broken = text_of(seen["broken"])
    assert seen["broken"].is_error
    assert broken.startswith("CODOR refused this call: internal error in the gateway")
    assert "Traceback" not in broken and "PinFileError" in broken
    assert text_of(seen["after"]) == "Hello, Bob!"  # a known tool needs no new listing
    records = ledger(workspace)
    (error,) = events(records, "mcp.internal_error")
    assert error["data"]["method"] == "tools/call" and error["data"]["tool"] == "no_such_tool"
    assert "E_MCP_PINS" in error["data"]["error"]
    assert [d["action"]["tool"] for d in decisions(records)] == ["greet", "greet"]


def test_unknown_tool_is_denied_and_recorded(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    seen: dict[str, Any] = {}

    async def session() -> None:
        async with Client(stdio_gateway(workspace, upstream=UPSTREAM)) as client:
            seen["r"] = await client.call_tool("no_such_tool", {})

    anyio.run(session)
    assert seen["r"].is_error and "lists no tool named 'no_such_tool'" in text_of(seen["r"])
    (call,) = decisions(ledger(workspace))
    assert call["decision"]["decision"] == "deny"
    assert call["decision"]["reasons"][0]["rule"] == "mcp.unknown_tool"


def _gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CODOR, "mcp", "gateway", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, cwd=cwd, check=False)


def test_broken_pin_file_stops_the_gateway(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    (workspace / ".codor" / "mcp-pins.json").write_text("[]", encoding="utf-8")
    out = _gateway("--workspace", str(workspace), "--upstream", UPSTREAM, cwd=tmp_path)
    assert out.returncode == 2
    assert "[E_MCP_PINS]" in out.stderr and "Traceback" not in out.stderr


def test_upstream_that_cannot_start(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    out = _gateway("--workspace", str(workspace), "--upstream",
                   str(tmp_path / "no-such-server"), cwd=tmp_path)
    assert out.returncode == 2
    assert "[E_MCP_UPSTREAM]" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(("args", "code"), [
    (("--upstream", "x", "--listen", "0.0.0.0:8080"), "E_MCP_CONFIG"),
    (("--upstream", "x", "--listen", "localhost:http"), "E_MCP_CONFIG"),
    (("--upstream", "x", "--listen", "127.0.0.1:\u00b2"), "E_MCP_CONFIG"),
    (("--upstream-url", "http://[::1/mcp"), "E_MCP_CONFIG"),
    (("--upstream-url", "http://127.0.0.1:99999/mcp"), "E_MCP_CONFIG"),
    (("--upstream", "'unclosed"), "E_MCP_CONFIG"),
    (("--upstream", "  "), "E_MCP_CONFIG"),
    (("--upstream-url", "ftp://example.com/mcp"), "E_MCP_CONFIG"),
])
def test_bad_options(tmp_path: Path, args: tuple[str, ...], code: str) -> None:
    out = _gateway("--workspace", str(tmp_path), *args, cwd=tmp_path)
    assert out.returncode == 2
    assert f"[{code}]" in out.stderr and out.stderr.count("\n") == 1
