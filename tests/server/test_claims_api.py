"""Claims verification over HTTP: a report backed by an observed test run passes, one without
it fails (still a 200: the verdict is data), the verification is recorded in the ledger and
listed, structured claims JSON is accepted, bad input is a 4xx."""

from __future__ import annotations

from codor.evidence.records import EventRecord, record_from_bytes
from tests.server.conftest import Server

PYTEST = {"kind": "command.exec", "command": "python -m pytest -q", "agent": {"id": "claude"}}


def run_tests(server: Server, session: str, stdout: str, status: int) -> None:
    """An agent's harness runs pytest in ``session`` and reports what it printed."""
    action = {**PYTEST, "session": session}
    decided = server.post("/v1/check", "agent", json=action).json()
    assert decided["decision"] == "allow"
    r = server.post("/v1/events", "agent", json={
        "type": "outcome", "action": action, "action_index": decided["index"],
        "exit_status": status, "stdout": stdout, "observer": "claude-code-harness"})
    assert r.status_code == 200, r.text


def test_a_report_backed_by_a_passing_run_is_verified_and_recorded(server: Server) -> None:
    run_tests(server, "s-ok", "...\n3 passed in 0.05s\n", 0)
    r = server.post("/v1/claims/verify", "agent",
                    json={"session": "s-ok", "report": "Ran the suite: all 3 tests pass."})
    body = r.json()
    assert r.status_code == 200, body
    assert body["passed"] is True and body["verdicts"]["verified"] == 1
    assert [c["verdict"] for c in body["claims"]] == ["verified"]
    assert body["session"] == "s-ok" and body["recorded_at"] is not None
    server.daemon.ledger.store.flush()
    leaf = server.daemon.ledger.store.entry(body["recorded_at"]).leaf
    assert leaf is not None
    record = record_from_bytes(leaf)
    assert isinstance(record, EventRecord) and record.event == "claims.verification"
    assert record.session == "s-ok" and record.data["passed"] is True
    assert record.data["via"] == "api"


def test_a_failing_report_is_a_200_with_its_failures(server: Server) -> None:
    run_tests(server, "s-bad", "F..\n1 failed, 2 passed in 0.05s\n", 1)
    r = server.post("/v1/claims/verify", "operator",
                    json={"session": "s-bad", "report": "All tests pass."})
    body = r.json()
    assert r.status_code == 200
    assert body["passed"] is False and body["verdicts"]["contradicted"] == 1
    assert any("contradicted" in line for line in body["failures"])
    assert any(f["pattern"] == "claim.tests_failed" for f in body["findings"])


def test_record_false_leaves_the_ledger_alone(server: Server) -> None:
    run_tests(server, "s-quiet", "1 passed\n", 0)
    size = server.daemon.ledger.store.size()
    body = server.post("/v1/claims/verify", json={"session": "s-quiet", "record": False,
                                                  "report": "All tests pass."}).json()
    assert body["recorded_at"] is None
    server.daemon.ledger.store.flush()
    assert server.daemon.ledger.store.size() == size


def test_structured_claims_json_is_accepted(server: Server) -> None:
    run_tests(server, "s-json", "2 passed in 0.01s\n", 0)
    claims = {"claims": [{"kind": "tests.pass", "text": "the tests pass"}]}
    r = server.post("/v1/claims/verify", json={"session": "s-json", "report": claims})
    body = r.json()
    assert r.status_code == 200, body
    assert [(c["claim"]["kind"], c["verdict"]) for c in body["claims"]] == [
        ("tests.pass", "verified")]


def test_recorded_verifications_are_listed_per_session(server: Server) -> None:
    run_tests(server, "s-1", "1 passed\n", 0)
    run_tests(server, "s-2", "1 failed\n", 1)
    for session in ("s-1", "s-2", "s-1"):
        r = server.post("/v1/claims/verify", json={"session": session,
                                                   "report": "All tests pass."})
        assert r.status_code == 200
    everything = server.get("/v1/claims/reports", "auditor").json()["reports"]
    assert [(x["session"], x["passed"]) for x in everything] == [
        ("s-1", True), ("s-2", False), ("s-1", True)]
    one = server.get("/v1/claims/reports", params={"session": "s-1"}).json()["reports"]
    assert [x["session"] for x in one] == ["s-1", "s-1"]
    assert all(x["verdicts"]["verified"] == 1 for x in one)
    page = server.get("/v1/claims/reports", params={"limit": 1}).json()
    assert len(page["reports"]) == 1 and page["next"] == everything[1]["index"]
    # the session list shows each session's last verdict
    sessions = {s["id"]: s for s in server.get("/v1/sessions").json()["sessions"]}
    assert sessions["s-2"]["claims"]["passed"] is False
    assert sessions["s-1"]["claims"]["index"] == everything[2]["index"]


def test_bad_requests_are_4xx_not_500(server: Server) -> None:
    run_tests(server, "s-x", "1 passed\n", 0)
    r = server.post("/v1/claims/verify", json={"session": "nope", "report": "All tests pass."})
    assert r.status_code == 404 and r.json()["error"]["location"] == "session"
    assert server.post("/v1/claims/verify", json={"report": "x"}).status_code == 422
    assert server.post("/v1/claims/verify", json={"session": "s-x", "extra": 1}
                       ).status_code == 422
    r = server.post("/v1/claims/verify", json={"session": "s-x", "report": {"claims": 5}})
    assert r.status_code == 400 and r.json()["error"]["code"].startswith("E_")
    # no report given and none recorded for the session
    r = server.post("/v1/claims/verify", json={"session": "s-x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_CLAIMS"
    assert server.post("/v1/claims/verify", "auditor",
                       json={"session": "s-x"}).status_code == 403
