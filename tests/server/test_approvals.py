"""/v1/approvals and the ask path of /v1/check, through the real app, ledger and state DB."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.evidence.records import (
    ApprovalRecord,
    DecisionRecord,
    action_digest,
    record_from_bytes,
)
from tests.oversight.conftest import Hooks
from tests.server.conftest import ASKING_POLICY, Server, ServerFactory

POLICY = ASKING_POLICY
DEPLOY = {"kind": "command.exec", "command": "deploy prod", "session": "s1",
          "agent": {"id": "claude-code"}}


def asking(make_server: ServerFactory, tmp_path: Path, **settings: Any) -> Server:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "asking.yaml"
    path.write_text(textwrap.dedent(POLICY), encoding="utf-8")
    settings.setdefault("approval_wait_s", 0)
    return make_server(policy=str(path), **settings)


@pytest.fixture
def receiver() -> Iterator[Hooks]:
    """A loopback HTTP server recording the webhooks it gets."""
    h = Hooks()
    yield h
    h.close()


def entry(server: Server, index: int) -> object:
    server.daemon.ledger.store.flush()
    leaf = server.daemon.ledger.store.entry(index).leaf
    assert leaf is not None
    return record_from_bytes(leaf)


def ask(server: Server, role: str = "agent", **kwargs: Any) -> dict[str, Any]:
    r = server.post("/v1/check", role, json=DEPLOY, **kwargs)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_an_ask_creates_a_pending_approval(make_server: ServerFactory, tmp_path: Path) -> None:
    server = asking(make_server, tmp_path)
    body = ask(server)
    assert body["decision"] == "ask"
    approval = body["approval"]
    assert approval["status"] == "pending" and approval["level"] == "review"
    assert approval["wait_url"] == f"/v1/approvals/{approval['id']}/wait"
    listed = server.get("/v1/approvals?status=pending", "auditor").json()
    assert [a["id"] for a in listed["approvals"]] == [approval["id"]]
    assert listed["pending"] == 1
    one = server.get(f"/v1/approvals/{approval['id']}", "operator").json()
    assert one["decision_index"] == body["index"] and one["requester"] == "test agent"
    assert one["action"]["command"] == "deploy prod" and one["risk"] == 25
    assert b"codor_approvals_pending 1.0" in server.daemon.metrics.render()


def test_a_batch_queues_its_asks_without_waiting(make_server: ServerFactory,
                                                tmp_path: Path) -> None:
    server = asking(make_server, tmp_path, approval_wait_s=30)
    read = {"kind": "file.read", "path": "README.md", "session": "s1"}
    lines = "\n".join(json.dumps(a) for a in (DEPLOY, read, DEPLOY)) + "\n"
    started = time.monotonic()
    r = server.post("/v1/check", "agent", content=lines,
                    headers={"Content-Type": "application/x-ndjson"})
    assert time.monotonic() - started < 30  # no line held the batch for a person
    out = [json.loads(line) for line in r.text.splitlines()]
    assert [o["decision"] for o in out] == ["ask", "allow", "ask"]
    assert out[0]["approval"]["status"] == out[2]["approval"]["status"] == "pending"
    assert server.get("/v1/approvals?status=pending", "auditor").json()["pending"] == 2


def test_approving_while_check_long_polls_returns_allow(make_server: ServerFactory,
                                                        tmp_path: Path) -> None:
    server = asking(make_server, tmp_path, approval_wait_s=10)
    answers: list[Any] = []

    def operator() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pending = server.get("/v1/approvals?status=pending", "operator").json()
            if pending["approvals"]:
                aid = pending["approvals"][0]["id"]
                answers.append(server.post(f"/v1/approvals/{aid}/approve", "operator",
                                           json={"comment": "go ahead"}))
                return
            time.sleep(0.05)

    thread = threading.Thread(target=operator)
    thread.start()
    t0 = time.monotonic()
    body = ask(server)
    thread.join()
    assert time.monotonic() - t0 < 5
    assert answers and answers[0].status_code == 200
    assert body["decision"] == "allow" and body["approval"]["status"] == "approved"
    reason = body["reasons"][0]
    assert reason["rule"] == "approval.approved" and "test operator" in reason["message"]
    assert "go ahead" in reason["message"]


def test_the_ledger_holds_the_answer_with_identity_and_comment(make_server: ServerFactory,
                                                               tmp_path: Path) -> None:
    server = asking(make_server, tmp_path)
    body = ask(server)
    aid = body["approval"]["id"]
    r = server.post(f"/v1/approvals/{aid}/deny", "operator", json={"comment": "not now"})
    assert r.status_code == 200
    answered = r.json()
    assert answered["status"] == "denied" and answered["effect"] == "deny"
    key = next(k for k in server.daemon.keys.list() if k.name == "test operator")
    assert answered["decided_by"] == f"test operator (key {key.id})"
    record = entry(server, answered["record_index"])
    assert isinstance(record, ApprovalRecord)
    assert (record.approved, record.approver, record.channel, record.comment) == (
        False, f"test operator (key {key.id})", "api", "not now")
    decision = entry(server, body["index"])
    assert isinstance(decision, DecisionRecord) and decision.decision.decision == "ask"
    assert record.action_index == body["index"]
    assert record.action_sha256 == action_digest(decision.action)


def test_the_timeout_applies_deny_and_records_it(make_server: ServerFactory,
                                                 tmp_path: Path) -> None:
    server = asking(make_server, tmp_path, approval_timeout_s=0.4, approval_wait_s=5)
    t0 = time.monotonic()
    body = ask(server)
    assert time.monotonic() - t0 < 3
    assert body["decision"] == "deny" and body["reasons"][0]["rule"] == "approval.timeout"
    approval = server.get(f"/v1/approvals/{body['approval']['id']}").json()
    assert approval["status"] == "expired" and approval["decided_by"] == "codor-timeout"
    record = entry(server, approval["record_index"])
    assert isinstance(record, ApprovalRecord)
    assert (record.approved, record.channel) == (False, "timeout")


def test_double_decide_is_409_and_unknown_ids_are_404(make_server: ServerFactory,
                                                      tmp_path: Path) -> None:
    server = asking(make_server, tmp_path)
    aid = ask(server)["approval"]["id"]
    assert server.post(f"/v1/approvals/{aid}/approve", "operator").status_code == 200
    again = server.post(f"/v1/approvals/{aid}/deny", "admin", json={"comment": "late"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "E_CONFLICT"
    for r in (server.get("/v1/approvals/apr_doesnotexist"),
              server.post("/v1/approvals/apr_doesnotexist/approve")):
        assert r.status_code == 404 and r.json()["error"]["code"] == "E_NOT_FOUND"
    bad = server.post(f"/v1/approvals/{aid}/approve", "operator", json={"note": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "E_INPUT"
    bad = server.get("/v1/approvals?status=maybe")
    assert bad.status_code == 400


def test_permissions(make_server: ServerFactory, tmp_path: Path) -> None:
    server = asking(make_server, tmp_path)
    aid = ask(server)["approval"]["id"]
    # an auditor reads but cannot answer; an agent cannot list or answer
    assert server.get("/v1/approvals", "auditor").status_code == 200
    r = server.post(f"/v1/approvals/{aid}/approve", "auditor", json={"comment": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "E_FORBIDDEN"
    assert server.get("/v1/approvals", "agent").status_code == 403
    assert server.get(f"/v1/approvals/{aid}", "agent").status_code == 403
    assert server.post(f"/v1/approvals/{aid}/deny", "agent").status_code == 403
    assert server.client.get("/v1/approvals").status_code == 401
    assert server.client.get(f"/v1/approvals/{aid}/wait").status_code == 401
    # the agent that asked may wait on its approval; another agent may not
    mine = server.get(f"/v1/approvals/{aid}/wait?timeout=0", "agent")
    assert mine.status_code == 200 and mine.json()["status"] == "pending"
    _, token = server.daemon.keys.create("other agent", "agent")
    theirs = server.client.get(f"/v1/approvals/{aid}/wait?timeout=0",
                               headers={"Authorization": f"Bearer {token}"})
    assert theirs.status_code == 403
    unknown = server.get("/v1/approvals/apr_unknown/wait?timeout=0", "agent")
    assert unknown.status_code == 403
    assert server.get(f"/v1/approvals/{aid}", "auditor").json()["status"] == "pending"


def test_wait_returns_the_answer_and_is_capped(make_server: ServerFactory,
                                               tmp_path: Path) -> None:
    server = asking(make_server, tmp_path)
    aid = ask(server)["approval"]["id"]
    # approval_wait_s is 0 here: a long timeout asked for is capped at it
    t0 = time.monotonic()
    r = server.get(f"/v1/approvals/{aid}/wait?timeout=30", "agent")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert time.monotonic() - t0 < 2
    # with a longer cap: /v1/check and /wait long-poll together; one answer releases both
    server2 = asking(make_server, tmp_path / "two", approval_wait_s=10)
    checked: list[dict[str, Any]] = []
    checker = threading.Thread(target=lambda: checked.append(ask(server2)))
    checker.start()
    aid2 = None
    deadline = time.monotonic() + 5
    while aid2 is None and time.monotonic() < deadline:
        pending = server2.get("/v1/approvals?status=pending", "auditor").json()["approvals"]
        aid2 = pending[0]["id"] if pending else None
        time.sleep(0.02)
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(
        server2.get(f"/v1/approvals/{aid2}/wait?timeout=8", "agent")))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and checker.is_alive()
    t0 = time.monotonic()
    assert server2.post(f"/v1/approvals/{aid2}/approve", "admin").status_code == 200
    waiter.join(5)
    checker.join(5)
    assert not waiter.is_alive() and not checker.is_alive()
    assert time.monotonic() - t0 < 2
    assert got[0].json()["status"] == "approved"
    assert checked[0]["decision"] == "allow" and checked[0]["approval"]["id"] == aid2


def test_webhooks_receive_created_and_decided(make_server: ServerFactory, tmp_path: Path,
                                              receiver: Hooks) -> None:
    h = receiver
    server = asking(make_server, tmp_path, webhooks=[h.url])
    aid = ask(server)["approval"]["id"]
    server.post(f"/v1/approvals/{aid}/approve", "operator", json={"comment": "ok"})
    assert server.daemon.extras["approvals"].notifier.flush(5)
    assert h.types() == [("approval.created", aid), ("approval.decided", aid)]
    assert h.bodies[1]["approval"]["comment"] == "ok"


def test_a_claims_escalation_is_listed_once_for_review(make_server: ServerFactory,
                                                       tmp_path: Path) -> None:
    server = asking(make_server, tmp_path)
    kernel = server.daemon.kernel
    index = kernel.record_event("s9", "claims.escalation", {"blocks": 2, "summary": "bad"})
    queue = server.daemon.extras["approvals"]
    assert queue.scan_escalations() == 1
    assert queue.scan_escalations() == 0
    items = server.get("/v1/approvals?status=pending", "operator").json()["approvals"]
    claims = [a for a in items if a["kind"] == "claims"]
    assert len(claims) == 1 and claims[0]["decision_index"] == index
    assert claims[0]["level"] == "review"
    r = server.post(f"/v1/approvals/{claims[0]['id']}/approve", "operator",
                    json={"comment": "looked at it"})
    assert r.status_code == 200
    record = entry(server, r.json()["record_index"])
    assert isinstance(record, ApprovalRecord) and record.action_index == index
