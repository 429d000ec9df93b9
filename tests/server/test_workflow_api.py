"""Workflow modes over HTTP: show, set, advance, approve, exemptions; guards read from the
evidence agents report through ``/v1/check`` and ``/v1/events``; errors with their statuses and
codes; every change in the ledger with the key that made it; ``codor mode`` and the daemon see
one state."""

from __future__ import annotations

from typing import Any

from codor.runtime.workflowstore import WorkflowStore
from tests.server.conftest import Server

FAILED = "F\n1 failed in 0.02s\n"
PASSED = "..\n2 passed in 0.03s\n"


def _events(server: Server) -> list[Any]:
    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes

    store = server.daemon.ledger.store
    store.flush()
    return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                        if e.leaf is not None) if isinstance(r, EventRecord)
            and r.event.startswith("workflow.")]


def _report(server: Server, action: dict[str, Any], **outcome: Any) -> None:
    """What an agent's hook does: ask for the decision, then report the outcome."""
    action = {**action, "session": "s1", "agent": {"id": "claude"}}
    r = server.post("/v1/check", "agent", json=action)
    assert r.status_code == 200, r.text
    r = server.post("/v1/events", "agent", json={
        "type": "outcome", "action": action, "action_index": r.json()["index"],
        "observer": "claude-code-harness", **outcome})
    assert r.status_code == 200, r.text


def _run(server: Server, output: str, status: int, command: str = "pytest -q") -> None:
    _report(server, {"kind": "command.exec", "command": command, "cwd": "/ws"},
            stdout=output, exit_status=status)


def _write(server: Server, path: str) -> None:
    root = server.settings.workspace
    _report(server, {"kind": "file.write", "path": f"{root}/{path}", "content": "x"})


def test_show_set_advance_and_approve(server: Server) -> None:
    r = server.get("/v1/sessions/s1/mode", "auditor")
    assert r.status_code == 200 and (r.json()["mode"], r.json()["started"]) == ("off", False)
    r = server.client.put("/v1/sessions/s1/mode", headers=server.headers("operator"),
                          json={"mode": "strict", "reason": "tdd"})
    assert r.status_code == 200, r.text
    assert (r.json()["mode"], r.json()["phase"], r.json()["version"]) == (
        "strict", "planning", 1)
    r = server.post("/v1/sessions/s1/mode/advance")
    assert r.status_code == 200 and r.json()["phase"] == "test_writing"

    refused = server.post("/v1/sessions/s1/mode/advance", json={})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "E_WORKFLOW_GUARD"
    assert "needs a failing test run first" in error["message"]
    bad = server.post("/v1/sessions/s1/mode/advance", json={"to": "committing"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (409, "E_WORKFLOW_TRANSITION")
    stale = server.client.put("/v1/sessions/s1/mode", headers=server.headers(),
                              json={"mode": "explore", "version": 9})
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "E_CONFLICT")

    _write(server, "tests/test_a.py")
    _run(server, FAILED, 1)
    assert server.post("/v1/sessions/s1/mode/advance").json()["phase"] == "code_writing"
    _write(server, "src/a.py")
    _run(server, PASSED, 0)
    assert server.post("/v1/sessions/s1/mode/advance").json()["phase"] == "validating"
    _run(server, PASSED, 0)
    shown = server.get("/v1/sessions/s1/mode").json()
    assert (shown["next"]["phase"], shown["next"]["ok"]) == ("reviewing", True)
    assert server.post("/v1/sessions/s1/mode/advance").json()["phase"] == "reviewing"
    r = server.post("/v1/sessions/s1/mode/approve", "operator",
                    json={"what": "review", "approve": False})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "E_WORKFLOW")
    r = server.post("/v1/sessions/s1/mode/approve", "operator",
                    json={"what": "review", "comment": "looks right"})
    assert r.status_code == 200 and r.json()["review_by"].startswith("test operator (key ")
    assert server.post("/v1/sessions/s1/mode/advance").json()["phase"] == "committing"

    recorded = _events(server)
    assert [e.event for e in recorded] == ["workflow.mode"] + ["workflow.phase"] * 4 + [
        "workflow.review.approved", "workflow.phase"]
    assert recorded[0].data["by"].startswith("test operator (key ")
    assert recorded[0].data["reason"] == "tdd"


def test_debug_over_the_api(server: Server) -> None:
    server.client.put("/v1/sessions/s1/mode", headers=server.headers(),
                      json={"mode": "explore"})
    r = server.client.put("/v1/sessions/s1/mode", headers=server.headers(),
                          json={"mode": "debug", "reason": "stuck"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "E_WORKFLOW_GUARD")
    for _ in range(3):
        _run(server, FAILED, 1)
    r = server.client.put("/v1/sessions/s1/mode", headers=server.headers(),
                          json={"mode": "debug", "reason": "stuck"})
    assert r.status_code == 202 and r.json()["request"]["status"] == "pending"
    shown = server.get("/v1/sessions/s1/mode").json()
    assert shown["mode"] == "explore" and shown["debug_request"]["reason"] == "stuck"
    r = server.post("/v1/sessions/s1/mode/approve", "operator", json={"what": "debug"})
    assert r.status_code == 200 and (r.json()["mode"], r.json()["phase"]) == (
        "debug", "debugging")
    r = server.post("/v1/sessions/s1/mode/approve", json={"what": "debug"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "E_NOT_FOUND")
    r = server.post("/v1/sessions/s1/mode/approve", json={"what": "review"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "E_WORKFLOW")
    left = server.post("/v1/sessions/s1/mode/advance")
    assert (left.json()["mode"], left.json()["phase"]) == ("explore", "exploring")
    names = [e.event for e in _events(server)]
    assert names == ["workflow.mode", "workflow.debug.requested", "workflow.debug.approved",
                     "workflow.mode", "workflow.mode"]


def test_exemptions(server: Server) -> None:
    r = server.post("/v1/workflow/exemptions", "operator",
                    json={"category": "docs", "paths": ["*.md"], "reason": "docs"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["scope"], made["patterns"], made["by"][:13]) == (
        "workspace", ["*.md"], "test operator")
    r = server.post("/v1/workflow/exemptions",
                    json={"category": "type-only", "paths": ["src/**/*.py"], "reason": "r",
                          "session": "s1"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "E_WORKFLOW_EXEMPTION")
    assert r.json()["error"]["location"] == "src/**/*.py"
    r = server.post("/v1/workflow/exemptions", json={"category": "code", "reason": "r"})
    assert r.status_code == 422
    r = server.post("/v1/workflow/exemptions",
                    json={"category": "config", "reason": "deps", "session": "s1"})
    assert r.status_code == 201 and r.json()["patterns"][0] == "*.toml"
    listed = server.get("/v1/workflow/exemptions", "auditor").json()["exemptions"]
    assert [e["category"] for e in listed] == ["docs", "config"]
    only = server.get("/v1/workflow/exemptions", params={"session": "s2"}).json()
    assert [e["category"] for e in only["exemptions"]] == ["docs"]
    sessions = {e.session for e in _events(server)}
    assert sessions == {"codor-admin", "s1"}


def test_errors_and_one_shared_store(server: Server) -> None:
    r = server.post("/v1/sessions/nobody/mode/advance")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "E_NOT_FOUND")
    r = server.client.put("/v1/sessions/codor-admin/mode", headers=server.headers(),
                          json={"mode": "strict"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "E_WORKFLOW")
    r = server.client.put("/v1/sessions/s1/mode", headers=server.headers(),
                          json={"mode": "lax"})
    assert r.status_code == 422
    r = server.client.put("/v1/sessions/s1/mode", headers=server.headers("agent"),
                          json={"mode": "off"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "E_FORBIDDEN")
    server.client.put("/v1/sessions/s1/mode", headers=server.headers(), json={"mode": "strict"})
    store = server.daemon.extras["workflow"]
    assert isinstance(store, WorkflowStore)
    other = WorkflowStore(server.daemon.state)  # `codor mode` on the same state database
    assert other.get("s1").mode == "strict"  # type: ignore[union-attr]
    other.set_mode("s1", "off", by="cli")
    assert server.get("/v1/sessions/s1/mode").json()["mode"] == "off"
    # the sessions timeline route still answers (the mode routes are mounted before it)
    assert server.get("/v1/sessions/s1").status_code == 200


def test_the_daemon_gates_check_by_the_sessions_mode(server: Server) -> None:
    write: dict[str, Any] = {"kind": "file.write", "path": "src/app.py", "content": "x",
                             "session": "s-daemon", "agent": {"id": "c1"}}
    assert server.post("/v1/check", "agent", json=write).json()["decision"] == "allow"
    r = server.client.put("/v1/sessions/s-daemon/mode", json={"mode": "strict"},
                          headers=server.headers())
    assert r.status_code == 200, r.text
    refused = server.post("/v1/check", "agent", json=write).json()
    assert refused["decision"] == "deny"
    assert refused["reasons"][0]["rule"] == "workflow.phase"
    assert server.daemon.extras["workflow"] is server.daemon.kernel.gate.store  # type: ignore[union-attr]
