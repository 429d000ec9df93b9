"""Helpers for the tests of ``codor mcp serve``: a real workspace (``codor init`` and a strict
policy), the real executable on stdio or streamable HTTP, the official MCP client, and the
ledger read back with ``codor ledger tail``. Plain functions rather than fixtures, so these
tests share nothing with the other tests of this directory."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult, Implementation, TextContent

from codor.integrations.mcp.server import META_KEY

CODOR = str(Path(sys.executable).with_name("codor"))
#: (the client's mode, the protocol revision it must end up speaking)
ERAS = [pytest.param("legacy", "2025-11-25", id="2025-11-25"),
        pytest.param("2026-07-28", "2026-07-28", id="2026-07-28")]

#: Reads and writes inside the workspace only; "secret" names denied; a person approves
#: writes under approve-me/; a few programs run; loopback HTTP is allowed, nothing else.
POLICY = """\
version: 1
guards:
  paths:
    deny: ["**/secret*"]
    read: {allow: ["${WORKSPACE}/**"]}
    write:
      allow: ["${WORKSPACE}/**"]
      ask: ["**/approve-me/**"]
  commands:
    allow: [echo, sh, "true", cat, ls, printf]
    default: deny
  egress:
    allow_cidrs: ["127.0.0.1/32"]
    default: deny
"""


@dataclass
class Workspace:
    root: Path
    outside: Path

    @classmethod
    def create(cls, tmp_path: Path) -> Workspace:
        """``tmp_path/ws`` after ``codor init``, with :data:`POLICY`; ``tmp_path/outside``
        next to it."""
        root, outside = tmp_path / "ws", tmp_path / "outside"
        root.mkdir()
        outside.mkdir()
        subprocess.run([CODOR, "init", "--workspace", str(root), "--key-name", "test"],
                       capture_output=True, check=True, timeout=60)
        (root / ".codor" / "policy.yaml").write_text(POLICY, encoding="utf-8")
        return cls(root, outside)

    def serve_argv(self, *extra: str) -> list[str]:
        return [CODOR, "mcp", "serve", "--workspace", str(self.root), *extra]

    def ledger(self, n: int = 1000) -> dict[int, dict[str, Any]]:
        """Every entry ``codor ledger tail`` prints, by index."""
        out = subprocess.run([CODOR, "ledger", "tail", "-n", str(n), "-w", str(self.root)],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {e["index"]: e["record"] for e in entries}

    def session(self, session: str) -> list[dict[str, Any]]:
        return [r for r in self.ledger().values() if r.get("session") == session]



def run_stdio(ws: Workspace, mode: str, body: Callable[[Client], Awaitable[None]], *,
              name: str, extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> str:
    """Start ``codor mcp serve`` on stdio, run ``body`` with a connected client, return the
    server's stderr."""
    argv = ws.serve_argv(*extra)
    params = StdioServerParameters(command=argv[0], args=argv[1:], cwd=str(ws.root), env=env)
    errlog = ws.root.parent / f"stderr-{name}.txt"

    async def main() -> None:
        with errlog.open("w") as err:
            async with Client(stdio_client(params, errlog=err), mode=mode,
                              client_info=Implementation(name=name, version="1.0")) as client:
                await body(client)

    anyio.run(main)
    return errlog.read_text()


@dataclass
class HttpServer:
    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)


@contextlib.contextmanager
def serve_http(ws: Workspace, *extra: str, listen: str = "127.0.0.1:0") -> Iterator[HttpServer]:
    """``codor mcp serve --listen 127.0.0.1:0`` (or ``listen``); the URL comes from its stderr.
    Stopped with SIGTERM afterwards (unless the test did), which must exit 0."""
    proc = subprocess.Popen(ws.serve_argv("--listen", listen, *extra),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stderr or ():
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=30)
            except queue.Empty:
                raise AssertionError(f"no URL on stderr: {seen}") from None
            seen.append(line)
            found = re.search(r"http://[0-9.]+:\d+/mcp", line)
            if found:
                break
        yield HttpServer(proc, found.group(0), seen)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def meta_of(result: CallToolResult) -> dict[str, Any]:
    assert result.meta is not None
    meta = result.meta[META_KEY]
    assert isinstance(meta, dict)
    return meta


async def call_ok(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


def assert_recorded(ws: Workspace, session: str, agent: str,
                    calls: list[tuple[str, CallToolResult]]) -> None:
    """Every call is in the ledger where its ``_meta`` says: the decision of its tool, in the
    session, as the agent; an executed call's outcome names that decision."""
    ledger = ws.ledger()
    for tool, result in calls:
        meta = meta_of(result)
        assert meta["session"] == session
        decision = ledger[meta["decision_index"]]
        assert decision["type"] == "decision", decision
        assert decision["session"] == session
        assert decision["action"]["meta"]["tool"] == tool
        assert decision["action"]["agent"] == {"id": agent}
        assert decision["action"]["origin"] == "codor-runtime"
        if meta["status"] == "ok":
            outcome = ledger[meta["outcome_index"]]
            assert outcome["type"] == "outcome"
            assert outcome["action_index"] == meta["decision_index"]
        else:
            assert "outcome_index" not in meta
            assert not any(r.get("type") == "outcome" and
                           r.get("action_index") == meta["decision_index"]
                           for r in ledger.values())
