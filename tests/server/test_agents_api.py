"""The agent registry over HTTP: register, list, show, pause, resume, stop; who may; errors
with their statuses and codes; every change in the ledger; ``codor agent`` and the daemon
see one registry."""

from __future__ import annotations

from typing import Any

from codor.runtime.registry import Registry
from tests.server.conftest import Server, ServerFactory


def _events(server: Server) -> list[Any]:
    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes

    store = server.daemon.ledger.store
    store.flush()
    return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                        if e.leaf is not None) if isinstance(r, EventRecord)
            and r.event.startswith("agent.")]


def _to_running(server: Server, agent_id: str) -> None:
    registry = Registry(server.daemon.state)  # the executor's part, not over HTTP
    for step in ("provisioning", "ready", "running"):
        registry.transition(agent_id, step)


def test_register_list_show_and_lifecycle(server: Server) -> None:
    r = server.post("/v1/agents", json={"id": "claude-1", "role": "coder",
                                        "capabilities": ["fs.read", "fs.write"]})
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["status"], made["version"], made["owner"]) == ("registered", 1, "test admin")
    assert server.get("/v1/agents", "auditor").json()["agents"] == [made]
    assert server.get("/v1/agents/claude-1", "operator").json() == made
    assert server.get("/v1/agents", params={"status": "running"}).json()["agents"] == []
    assert server.get("/v1/agents", params={"role": "coder"}).json()["agents"] == [made]

    _to_running(server, "claude-1")
    paused = server.post("/v1/agents/claude-1/pause", json={"version": 4, "reason": "look"})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["status"], paused.json()["version"]) == ("paused", 5)
    resumed = server.post("/v1/agents/claude-1/resume")  # no body at all
    assert resumed.json()["status"] == "running"
    stopped = server.post("/v1/agents/claude-1/stop", json={})
    assert (stopped.json()["status"], stopped.json()["version"]) == ("stopped", 8)

    recorded = _events(server)
    assert [(e.session, e.event) for e in recorded] == [
        ("codor-admin", "agent.registered"), ("codor-admin", "agent.paused"),
        ("codor-admin", "agent.running"), ("codor-admin", "agent.stopping"),
        ("codor-admin", "agent.stopped")]
    assert recorded[1].data["reason"] == "look"
    assert recorded[0].data["by"].startswith("test admin (key ")


def test_errors(server: Server) -> None:
    assert server.post("/v1/agents", json={"id": "a", "role": "tester"}).status_code == 201
    again = server.post("/v1/agents", json={"id": "a", "role": "tester"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "E_CONFLICT")
    bad = server.post("/v1/agents/a/pause")
    assert (bad.status_code, bad.json()["error"]["code"]) == (409, "E_REGISTRY_TRANSITION")
    stale = server.post("/v1/agents/a/stop", json={"version": 7})
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "E_CONFLICT")
    missing = server.get("/v1/agents/nobody")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "E_NOT_FOUND")
    assert server.post("/v1/agents/nobody/stop").status_code == 404
    for body in ({"id": "b", "role": "king"}, {"id": "b"}, {"id": "b", "role": "coder",
                                                             "extra": 1},
                 {"id": "b c", "role": "coder"}, {"id": "b", "role": "coder",
                                                  "capabilities": ["a b"]}):
        r = server.post("/v1/agents", json=body)
        assert r.status_code in (400, 422), (body, r.status_code)
    assert server.get("/v1/agents/b").status_code == 404
    assert server.get("/v1/agents/a").json()["status"] == "registered"


def test_only_admins_change_the_registry(server: Server) -> None:
    for role in ("operator", "auditor", "agent"):
        r = server.post("/v1/agents", role, json={"id": "x", "role": "coder"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "E_FORBIDDEN")
    assert server.get("/v1/agents", "agent").status_code == 403
    assert server.get("/v1/agents", "auditor").status_code == 200


def test_the_cli_and_the_daemon_share_one_registry(make_server: ServerFactory,
                                                   capsys: Any) -> None:
    from codor.cli.main import main

    server = make_server()
    ws = str(server.settings.workspace)
    assert main(["agent", "register", "from-cli", "--role", "tool", "-w", ws]) == 0
    assert server.get("/v1/agents/from-cli").json()["status"] == "registered"
    assert server.post("/v1/agents", json={"id": "from-api", "role": "coder"}).status_code \
        == 201
    capsys.readouterr()
    assert main(["agent", "stop", "from-api", "-w", ws]) == 0
    assert server.get("/v1/agents/from-api").json()["status"] == "stopped"
