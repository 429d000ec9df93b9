"""POST /v1/check and /v1/events against the real app: decisions recorded before they are
returned, batches, bad input, auth, limits."""

from __future__ import annotations

import json

from codor.evidence.records import DecisionRecord, EventRecord, OutcomeRecord, record_from_bytes
from tests.server.conftest import Server, ServerFactory

RM = {"kind": "command.exec", "command": "rm -rf /", "session": "s1",
      "agent": {"id": "claude-code"}}
READ = {"kind": "file.read", "path": "README.md", "session": "s1"}


def entry(server: Server, index: int) -> object:
    server.daemon.ledger.store.flush()
    leaf = server.daemon.ledger.store.entry(index).leaf
    assert leaf is not None
    return record_from_bytes(leaf)


def test_a_decision_is_recorded_before_it_is_returned(server: Server) -> None:
    r = server.post("/v1/check", "agent", json=RM)
    assert r.status_code == 200
    body = r.json()
    assert body["decision"] == "deny" and body["reasons"][0]["severity"] == "critical"
    record = entry(server, body["index"])
    assert isinstance(record, DecisionRecord)
    assert record.action.command == "rm -rf /" and record.decision.decision == "deny"


def test_a_batch_is_decided_line_by_line_and_a_bad_line_is_a_deny(server: Server) -> None:
    lines = "\n".join([json.dumps(READ), "{not json", json.dumps({"kind": "nope"}),
                       json.dumps(RM)]) + "\n"
    r = server.post("/v1/check", "agent", content=lines,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    out = [json.loads(line) for line in r.text.splitlines()]
    assert [o["decision"] for o in out] == ["allow", "deny", "deny", "deny"]
    assert out[1]["error"]["location"] == "body:2" and out[1]["index"] is None
    assert out[2]["error"]["code"] == "E_ACTION_KIND"
    assert isinstance(entry(server, out[3]["index"]), DecisionRecord)


def test_bad_input_is_a_400_with_code_and_location(server: Server) -> None:
    r = server.post("/v1/check", "agent", content=b"{", headers={"Content-Type":
                                                                  "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_INPUT"
    r = server.post("/v1/check", "agent", json={"kind": "file.read"})
    err = r.json()["error"]
    assert r.status_code == 400 and err["code"].startswith("E_") and err["location"] == "body"


def test_every_route_but_health_needs_a_key(server: Server) -> None:
    assert server.client.get("/health").status_code == 200
    assert server.client.get("/ready").json()["status"] == "ready"
    r = server.client.post("/v1/check", json=READ)
    assert r.status_code == 401 and r.json()["error"]["code"] == "E_UNAUTHENTICATED"
    r = server.client.post("/v1/check", json=READ,
                           headers={"Authorization": "Bearer codor_0000000000000000_" + "x" * 43})
    assert r.status_code == 401
    assert server.post("/v1/check", "auditor", json=READ).status_code == 403


def test_a_revoked_key_stops_working(server: Server) -> None:
    key, token = server.daemon.keys.create("temp", "agent")
    ok = server.client.post("/v1/check", json=READ, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    server.daemon.keys.revoke(key.id)
    r = server.client.post("/v1/check", json=READ, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_outcomes_and_events_are_recorded_in_the_session(server: Server) -> None:
    ls = {"kind": "command.exec", "command": "ls", "session": "s1"}
    decided = server.post("/v1/check", "agent", json=ls).json()
    r = server.post("/v1/events", "agent", json={
        "type": "outcome", "action": ls,
        "action_index": decided["index"], "exit_status": 0, "stdout": "README.md\n",
        "observer": "claude-code-harness"})
    assert r.status_code == 200, r.text
    outcome = entry(server, r.json()["index"])
    assert isinstance(outcome, OutcomeRecord) and outcome.exit_status == 0
    assert outcome.observer == "claude-code-harness"
    r = server.post("/v1/events", "agent", json={"type": "event", "session": "s1",
                                                 "event": "agent.note", "data": {"k": 1}})
    assert isinstance(entry(server, r.json()["index"]), EventRecord)


def test_integrations_cannot_report_as_the_daemon_or_write_reserved_events(
        server: Server) -> None:
    for forged in ("claims.escalation", "workflow.phase", "workflow.review.approved",
                   "task.succeeded", "token.revoked", "process.exited"):
        r = server.post("/v1/events", "agent", json={"type": "event", "session": "s1",
                                                     "event": forged, "data": {}})
        assert r.status_code == 400 and r.json()["error"]["location"] == "event", forged
    r = server.post("/v1/events", "agent", json={"type": "event", "session": "s1",
                                                 "event": "x", "observer": "codor-engine"})
    assert r.status_code == 400 and r.json()["error"]["location"] == "observer"


def test_oversized_bodies_and_batches_are_refused(make_server: ServerFactory) -> None:
    server = make_server(max_body_bytes=2048, max_batch=2)
    r = server.post("/v1/check", "agent", content=b"x" * 4096)
    assert r.status_code == 413 and r.json()["error"]["code"] == "E_BODY_TOO_LARGE"
    lines = (json.dumps(READ) + "\n") * 3
    r = server.post("/v1/check", "agent", content=lines,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "E_BATCH_TOO_LARGE"


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(make_server: ServerFactory) -> None:
    server = make_server(rate_limit=1.0, rate_burst=3)
    codes = [server.post("/v1/check", "agent", json=READ).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = server.post("/v1/check", "agent", json=READ)
    assert r.headers["retry-after"] == "1"
    assert server.post("/v1/check", "admin", json=READ).status_code == 200  # per key


def test_metrics_count_decisions(server: Server) -> None:
    server.post("/v1/check", "agent", json=RM)
    server.post("/v1/check", "agent", json=READ)
    text = server.get("/metrics", "auditor").text
    assert 'codor_decisions_total{decision="deny"} 1.0' in text
    assert 'codor_decisions_total{decision="allow"} 1.0' in text
    assert "codor_check_seconds_bucket" in text
    assert server.get("/metrics", "agent").status_code == 403
