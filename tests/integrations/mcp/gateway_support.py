"""Helpers for the MCP gateway's tests: real npm servers, real workspaces, the real ``codor``.

Plain functions rather than fixtures, so these tests share nothing with the other tests of
this directory. Nothing is mocked: the gateway runs as ``.venv/bin/codor mcp gateway``, the
upstreams are the npm servers of ``tests/npm`` (``make npm-deps``) or ``upstream_app.py``
(written with the official SDK), and the client is the SDK's :class:`mcp.Client`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from codor.workspace import Workspace

ROOT = Path(__file__).resolve().parents[3]
NPM_BIN = ROOT / "tests" / "npm" / "node_modules" / ".bin"
CODOR = str(Path(sys.executable).with_name("codor"))
UPSTREAM_APP = Path(__file__).with_name("upstream_app.py")
MODES = ("legacy", "2026-07-28")  # what the client speaks: 2025-11-25 handshake, 2026-07-28

# Fake credentials in realistic formats (they grant nothing; the scanner must still find them)
FAKE_AWS_KEY_ID = "AKIA4QWERTYUIOPASDFG"
FAKE_AWS_SECRET = "Zx8bQ2mT4vN9pL1kR7sW3yH6jD0fG5cA8eU2iO4q"
FAKE_GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"


def npm_server(name: str) -> str:
    """The path of an npm MCP server's executable; fails the test with what to run when the
    servers are not installed."""
    path = NPM_BIN / name
    if not path.exists() or shutil.which("node") is None:
        pytest.fail(f"{path} (or node) is missing: the gateway tests need the real MCP servers "
                    f"from npm; run `make npm-deps` (cd tests/npm && npm ci)", pytrace=False)
    return str(path)


def make_workspace(root: Path, policy: str | None = None) -> Path:
    """A workspace with a ledger (``codor init``) and, when given, this policy (dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    home = root / ".codor"
    if policy is not None:
        home.mkdir(mode=0o700, exist_ok=True)
        (home / "policy.yaml").write_text(textwrap.dedent(policy), encoding="utf-8")
    Workspace(root, home).init(key_name="test")
    return root


def gateway_args(workspace: Path, *, upstream: str | None = None, url: str | None = None,
                 extra: Sequence[str] = ()) -> list[str]:
    args = ["mcp", "gateway", "--workspace", str(workspace)]
    args += ["--upstream", upstream] if upstream is not None else ["--upstream-url", str(url)]
    return [*args, *extra]


def stdio_gateway(workspace: Path, *, upstream: str | None = None, url: str | None = None,
                  env: dict[str, str] | None = None, extra: Sequence[str] = ()) -> Any:
    """``StdioServerParameters`` that start ``codor mcp gateway`` (the real executable)."""
    from mcp import StdioServerParameters

    return StdioServerParameters(command=CODOR, args=gateway_args(
        workspace, upstream=upstream, url=url, extra=extra), env=env or {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
    return proc.returncode


@contextlib.contextmanager
def http_gateway(workspace: Path, *, upstream: str | None = None, url: str | None = None,
                 env: dict[str, str] | None = None, listen: str = "127.0.0.1:0") -> Iterator[str]:
    """``codor mcp gateway --listen 127.0.0.1:0`` (or ``listen``); yields its URL (read from
    its stderr) and checks that SIGTERM ends it with status 0."""
    args = [CODOR, *gateway_args(workspace, upstream=upstream, url=url,
                                 extra=("--listen", listen))]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"listening on (http://\S+)", line)
        if found is None:
            pytest.fail("the gateway did not start: " + "".join(lines))
        yield found.group(1)
    finally:
        status = _stop(proc)
        rest = proc.stderr.read()
        proc.stderr.close()
    assert status == 0, "".join(lines) + rest


@contextlib.contextmanager
def everything_http(env: dict[str, str] | None = None) -> Iterator[str]:
    """``mcp-server-everything streamableHttp`` on a free loopback port (with ``env`` added to
    its environment); yields its URL."""
    exe = npm_server("mcp-server-everything")
    port = free_port()
    proc = subprocess.Popen([exe, "streamableHttp"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, **(env or {}), "PORT": str(port)})
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mcp-server-everything did not start in streamableHttp mode")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        _stop(proc)


def ledger_text(workspace: Path) -> str:
    """The workspace's ledger as ``codor ledger tail`` prints it (JSON Lines)."""
    out = subprocess.run([CODOR, "ledger", "tail", "-n", "100000", "--workspace",
                          str(workspace)], capture_output=True, text=True, timeout=60,
                         check=True)
    return out.stdout


def ledger(workspace: Path) -> list[dict[str, Any]]:
    """Every record of the workspace's ledger, oldest first, each with its ledger index
    added as ``_index``."""
    out = []
    for line in ledger_text(workspace).splitlines():
        if line.strip():
            entry = json.loads(line)
            out.append({**entry["record"], "_index": entry["index"]})
    return out


def decisions(records: list[dict[str, Any]], kind: str = "tool.call") -> list[dict[str, Any]]:
    return [r for r in records if r.get("type") == "decision" and r["action"]["kind"] == kind]


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("type") == "event" and r["event"] == name]


def outcomes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("type") == "outcome"]


def text_of(result: Any) -> str:
    """All text blocks of a ``CallToolResult``, one per line."""
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")
