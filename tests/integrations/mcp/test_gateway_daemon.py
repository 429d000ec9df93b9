"""The MCP gateway with ``CODOR_URL``: the daemon decides every call and holds the evidence
(decision, outcome, the gateway's own findings); the gateway's workspace records nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.integrations.daemon_process import DaemonProcess
from tests.integrations.mcp.gateway_support import (
    decisions,
    ledger,
    make_workspace,
    npm_server,
    outcomes,
    stdio_gateway,
    text_of,
)

pytestmark = pytest.mark.slow


def test_calls_through_the_gateway_are_decided_and_recorded_by_the_daemon(
        tmp_path: Path) -> None:
    served = make_workspace(tmp_path / "daemon")
    local = make_workspace(tmp_path / "gateway")
    daemon = DaemonProcess(served)
    try:
        agent = daemon.api("POST", "/v1/keys", {"name": "gateway", "role": "agent"})["token"]
        env = {"CODOR_URL": daemon.url, "CODOR_TOKEN": agent}
        seen: dict[str, Any] = {}

        async def session() -> None:
            params = stdio_gateway(local, upstream=npm_server("mcp-server-everything"), env=env)
            async with Client(params) as client:
                seen["echo"] = await client.call_tool("echo", {"message": "through the daemon"})
                seen["unknown"] = await client.call_tool("no-such-tool", {})

        anyio.run(session)
    finally:
        daemon.stop()
    assert not seen["echo"].is_error and "through the daemon" in text_of(seen["echo"])
    assert seen["unknown"].is_error
    records = ledger(served)
    calls = {d["action"]["tool"]: d for d in decisions(records)
             if d["action"]["arguments"]}  # not the per-tool decisions of the tool listing
    assert calls["echo"]["decision"]["decision"] == "allow"
    assert any(o["action_index"] == calls["echo"]["_index"] and o["observer"] == "mcp-gateway"
               for o in outcomes(records))
    findings = [r for r in records if r.get("event") == "mcp.finding"]
    assert [f["data"]["rule"] for f in findings] == ["mcp.unknown_tool"]
    assert findings[0]["data"]["decision"] == "deny"
    assert decisions(ledger(local)) == []  # nothing decided or recorded in-process
