"""The gateway's wire by hand: stdio (JSON-RPC lines, the 2025-11-25 handshake) over pipes and
from a plain file, a SIGTERM ending it cleanly with every record in the ledger; and the Host
header check of its streamable HTTP transport."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.mcp.gateway_support import (
    CODOR,
    UPSTREAM_APP,
    decisions,
    gateway_args,
    http_gateway,
    ledger,
    make_workspace,
    outcomes,
)

pytestmark = pytest.mark.slow

UPSTREAM = f"{sys.executable} {UPSTREAM_APP}"
HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "by-hand", "version": "0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]
CALL = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "greet", "arguments": {"name": "Ada"}}}


def _lines(*messages: dict[str, Any]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


def _answers(text: str) -> dict[int, dict[str, Any]]:
    out = {}
    for line in text.splitlines():
        message = json.loads(line)  # every stdout line is one JSON-RPC message
        if "id" in message:
            out[message["id"]] = message
    return out


def test_sigterm_ends_a_serving_gateway_cleanly(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    proc = subprocess.Popen([CODOR, *gateway_args(workspace, upstream=UPSTREAM)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(_lines(*HANDSHAKE, CALL))
        proc.stdin.flush()
        answers: dict[int, dict[str, Any]] = {}
        while 2 not in answers:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            answers.update(_answers(line))
        proc.send_signal(signal.SIGTERM)  # stdin stays open: only the signal ends it
        status = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    assert status == 0, err
    assert answers[1]["result"]["protocolVersion"] == "2025-11-25"
    assert answers[2]["result"]["content"][0]["text"] == "Hello, Ada!"
    records = ledger(workspace)
    (call,) = decisions(records)
    assert call["decision"]["decision"] == "allow"
    assert [o["action_index"] for o in outcomes(records)] == [call["_index"]]


def test_messages_from_a_plain_file(tmp_path: Path) -> None:
    """Standard streams that are files, not pipes: the SDK's own stdio transport serves them
    (the end of the file ends the session, so only the handshake is sure to be answered)."""
    workspace = make_workspace(tmp_path / "ws")
    requests = tmp_path / "in.jsonl"
    requests.write_text(_lines(*HANDSHAKE), encoding="utf-8")
    with requests.open("rb") as stdin, (tmp_path / "out.jsonl").open("wb") as stdout:
        status = subprocess.run([CODOR, *gateway_args(workspace, upstream=UPSTREAM)],
                                stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    answers = _answers((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert answers[1]["result"]["serverInfo"]["name"] == "codor-gateway-pin-test"


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "127.0.0.2:0"])
def test_http_refuses_a_foreign_host_header(tmp_path: Path, listen: str) -> None:
    """DNS-rebinding protection on any loopback address: a request naming another host is
    refused, one naming the gateway's own address is served."""
    import httpx

    workspace = make_workspace(tmp_path / "ws")
    headers = {"Content-Type": "application/json", "Accept": "application/json, "
               "text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    with http_gateway(workspace, upstream=UPSTREAM, listen=listen) as url:
        assert url.startswith(f"http://{listen.partition(':')[0]}:")
        foreign = httpx.post(url, headers={**headers, "Host": "evil.example:80"},
                             content=json.dumps(HANDSHAKE[0]), timeout=10)
        own = httpx.post(url, headers=headers, content=json.dumps(HANDSHAKE[0]), timeout=10)
    assert foreign.status_code == 421
    assert own.status_code == 200
