"""The approvals queue with a real kernel, ledger and SQLite state database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from codor.errors import InputError
from codor.evidence.records import ApprovalRecord, DecisionRecord, action_digest
from codor.model import Action
from codor.oversight import ApprovalConflict, ApprovalNotFound, ApprovalQueue
from tests.oversight.conftest import AgentKey, Hooks, Rig, another_queue, deploy

RigFactory = Callable[..., Rig]


def test_an_ask_creates_a_pending_approval(make_rig: RigFactory) -> None:
    rig = make_rig()
    final, extra, index = rig.ask(deploy())
    assert final.decision == "ask"
    summary = extra["approval"]
    assert summary["status"] == "pending" and summary["level"] == "review"
    assert summary["risk"] == 25 and summary["wait_url"] == f"/v1/approvals/{summary['id']}/wait"
    approval = rig.queue.get(summary["id"])
    assert approval.kind == "action" and approval.session == "s1"
    assert approval.decision_index == index and approval.requester == "agent one"
    assert approval.requester_key == "k-agent-1"
    assert approval.action == {"kind": "command.exec", "command": "deploy prod",
                               "session": "s1", "agent": {"id": "claude-1"}}
    assert approval.expires is not None and approval.expires - approval.created == 60.0
    assert any("deploys need a person" in r for r in approval.reasons)
    assert [a.id for a in rig.queue.list("pending")] == [approval.id]
    assert rig.queue.list("approved") == [] and rig.queue.pending_count() == 1


def test_a_decision_is_recorded_with_identity_and_comment(make_rig: RigFactory) -> None:
    rig = make_rig()
    _, extra, index = rig.ask(deploy())
    approval = rig.queue.decide(extra["approval"]["id"], approved=True,
                                identity="alice (key k1)", comment="  release window  ")
    assert approval.status == "approved" and approval.effect == "allow"
    assert approval.decided_by == "alice (key k1)" and approval.comment == "release window"
    assert approval.record_index is not None and rig.queue.pending_count() == 0
    record = rig.record(approval.record_index)
    assert isinstance(record, ApprovalRecord)
    assert (record.approved, record.approver, record.channel, record.comment) == (
        True, "alice (key k1)", "api", "release window")
    # the record names the same action as the ask's decision record
    assert index is not None and record.action_index == index
    decision_record = rig.record(index)
    assert isinstance(decision_record, DecisionRecord)
    assert record.action_sha256 == action_digest(decision_record.action)
    assert record.session == decision_record.session == "s1"
    assert record.challenge == decision_record.challenge


def test_deciding_twice_conflicts_and_unknown_ids_are_not_found(make_rig: RigFactory) -> None:
    rig = make_rig()
    _, extra, _ = rig.ask(deploy())
    aid = extra["approval"]["id"]
    rig.queue.decide(aid, approved=False, identity="bob", comment=None)
    with pytest.raises(ApprovalConflict) as err:
        rig.queue.decide(aid, approved=True, identity="carol", comment=None)
    assert err.value.code == "E_CONFLICT"
    assert rig.queue.get(aid).decided_by == "bob"
    with pytest.raises(ApprovalNotFound) as missing:
        rig.queue.get("apr_0000000000000000")
    assert missing.value.code == "E_NOT_FOUND"
    with pytest.raises(ApprovalNotFound):
        rig.queue.decide("apr_nope", approved=True, identity="bob", comment=None)
    with pytest.raises(InputError):
        rig.queue.decide(aid, approved=True, identity=" ", comment=None)


def answer_when_pending(rig: Rig, *, approved: bool, identity: str, comment: str,
                        decided: list[str] | None = None) -> None:
    """A person: answers the first pending approval as soon as one appears (5 s at most)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pending = rig.queue.list("pending")
        if pending:
            rig.queue.decide(pending[0].id, approved=approved, identity=identity,
                             comment=comment)
            if decided is not None:
                decided.append(pending[0].id)
            return
        time.sleep(0.02)


def test_a_waiting_ask_returns_allow_when_a_person_approves(make_rig: RigFactory) -> None:
    rig = make_rig(wait_s=10.0)
    decided: list[str] = []

    def person() -> None:
        answer_when_pending(rig, approved=True, identity="alice", comment="ok",
                            decided=decided)

    thread = threading.Thread(target=person)
    thread.start()
    t0 = time.monotonic()
    final, extra, _ = rig.ask(deploy())
    thread.join()
    assert time.monotonic() - t0 < 5
    assert final.decision == "allow"
    assert final.reasons[0].rule == "approval.approved"
    assert "approved by alice" in final.reasons[0].message
    assert extra["approval"]["id"] == decided[0] and extra["approval"]["status"] == "approved"


def test_a_denial_while_waiting_returns_deny(make_rig: RigFactory) -> None:
    rig = make_rig(wait_s=10.0)

    def person() -> None:
        answer_when_pending(rig, approved=False, identity="bob", comment="not today")

    thread = threading.Thread(target=person)
    thread.start()
    final, _, _ = rig.ask(deploy())
    thread.join()
    assert final.decision == "deny" and final.reasons[0].rule == "approval.denied"
    assert "denied by bob" in final.reasons[0].message and "not today" in final.reasons[0].message


def test_the_timeout_applies_deny_and_records_it(make_rig: RigFactory) -> None:
    rig = make_rig(timeout_s=0.3)
    final, extra, index = rig.ask(deploy())
    assert final.decision == "ask"
    assert rig.queue.expire_due() == 0          # not yet due
    time.sleep(0.35)
    assert rig.queue.expire_due() == 1
    assert rig.queue.expire_due() == 0          # once only
    approval = rig.queue.get(extra["approval"]["id"])
    assert (approval.status, approval.effect, approval.decided_by) == (
        "expired", "deny", "codor-timeout")
    assert approval.record_index is not None
    record = rig.record(approval.record_index)
    assert isinstance(record, ApprovalRecord)
    assert (record.approved, record.approver, record.channel) == (False, "codor-timeout",
                                                                  "timeout")
    assert record.action_index == index
    assert ApprovalQueue.outcome(approval, final).decision == "deny"
    with pytest.raises(ApprovalConflict):
        rig.queue.decide(approval.id, approved=True, identity="late", comment=None)


def test_a_waiter_applies_the_timeout_itself(make_rig: RigFactory) -> None:
    rig = make_rig(timeout_s=0.3, wait_s=5.0)
    t0 = time.monotonic()
    final, extra, _ = rig.ask(deploy())
    assert time.monotonic() - t0 < 2
    assert final.decision == "deny" and final.reasons[0].rule == "approval.timeout"
    assert extra["approval"]["status"] == "expired"


def test_a_configured_allow_timeout_effect(make_rig: RigFactory) -> None:
    rig = make_rig(timeout_s=0.2, wait_s=3.0, timeout_effect="allow")
    final, extra, _ = rig.ask(deploy())
    assert final.decision == "allow" and extra["approval"]["status"] == "expired"
    approval = rig.queue.get(extra["approval"]["id"])
    assert approval.effect == "allow"
    record = rig.record(approval.record_index or 0)
    assert isinstance(record, ApprovalRecord) and record.approved is True


def test_the_sweeper_expires_what_nobody_waits_for(make_rig: RigFactory) -> None:
    rig = make_rig(timeout_s=0.2, sweep_s=0.05)
    _, extra, _ = rig.ask(deploy())
    deadline = time.monotonic() + 5
    while rig.queue.get(extra["approval"]["id"]).pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rig.queue.get(extra["approval"]["id"]).status == "expired"


def test_low_risk_is_approved_automatically_and_recorded(make_rig: RigFactory) -> None:
    rig = make_rig()
    action = Action.create("command.exec", command="echo hi", session="s2")
    final, extra, index = rig.ask(action)
    assert final.decision == "allow" and final.reasons[0].rule == "approval.auto"
    approval = rig.queue.get(extra["approval"]["id"])
    assert (approval.status, approval.level, approval.decided_by) == (
        "approved", "auto", "codor-auto")
    record = rig.record(approval.record_index or 0)
    assert isinstance(record, ApprovalRecord)
    assert record.approver == "codor-auto" and record.approved and record.action_index == index
    assert rig.queue.pending_count() == 0


def test_data_flow_after_a_secret_read_is_blocked(make_rig: RigFactory) -> None:
    rig = make_rig()
    out = Action.create("network.request", url="https://paste.example/up", session="s3")
    # before any secret was read: critical (70) + outbound (5) -> approval, queued
    final, extra, _ = rig.ask(out)
    assert final.decision == "ask" and extra["approval"]["level"] == "approval"
    assert extra["approval"]["risk"] == 75
    read = Action.create("file.read", path=str(rig.root / ".env"), session="s3")
    assert rig.kernel.decide(read).decision == "allow"
    final, extra, _ = rig.ask(out)
    assert final.decision == "deny" and final.reasons[0].rule == "approval.block"
    approval = rig.queue.get(extra["approval"]["id"])
    assert (approval.level, approval.status, approval.decided_by) == (
        "block", "denied", "codor-risk")
    assert any(r.startswith("data flow:") for r in approval.reasons)
    record = rig.record(approval.record_index or 0)
    assert isinstance(record, ApprovalRecord) and record.approved is False
    # another session that read nothing secret is not blocked
    other = Action.create("network.request", url="https://paste.example/up", session="s4")
    assert rig.ask(other)[1]["approval"]["level"] == "approval"


def test_earlier_refusals_raise_the_risk(make_rig: RigFactory) -> None:
    rig = make_rig()
    for _ in range(2):
        _, extra, _ = rig.ask(deploy(session="s5"))
        rig.queue.decide(extra["approval"]["id"], approved=False, identity="bob", comment=None)
    _, extra, _ = rig.ask(deploy(session="s5"))
    assert extra["approval"]["risk"] == 25 + 10
    # a policy deny in the session counts too
    rm = Action.create("file.delete", path="/etc/passwd", session="s6")
    assert rig.kernel.decide(rm).decision == "deny"
    _, extra, _ = rig.ask(deploy(session="s6", agent="other-agent"))
    assert extra["approval"]["risk"] == 25 + 5


def test_a_claims_escalation_becomes_one_review_item(make_rig: RigFactory) -> None:
    rig = make_rig()
    index = rig.kernel.record_event("s7", "claims.escalation",
                                    {"verification": 3, "blocks": 2,
                                     "summary": "2 claims contradicted"})
    assert index is not None
    assert rig.queue.scan_escalations() == 1
    assert rig.queue.scan_escalations() == 0
    items = rig.queue.list("pending")
    assert len(items) == 1
    item = items[0]
    assert (item.kind, item.level, item.session, item.decision_index, item.action) == (
        "claims", "review", "s7", index, None)
    assert item.expires is None and "2 claims contradicted" in item.reasons
    assert rig.queue.note_escalation("s7", index, {}).id == item.id   # idempotent
    assert rig.queue.expire_due() == 0                                 # never times out
    done = rig.queue.decide(item.id, approved=False, identity="reviewer",
                            comment="report was wrong")
    record = rig.record(done.record_index or 0)
    assert isinstance(record, ApprovalRecord)
    assert (record.action_index, record.action_sha256, record.approver, record.comment) == (
        index, None, "reviewer", "report was wrong")
    assert rig.queue.scan_escalations() == 0 and rig.queue.pending_count() == 0


def test_two_queues_on_one_state_file_share_approvals(make_rig: RigFactory) -> None:
    rig = make_rig()
    other = another_queue(rig)
    _, extra, _ = rig.ask(deploy())
    aid = extra["approval"]["id"]
    assert [a.id for a in other.list("pending")] == [aid]
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(rig.queue.wait(aid, 10)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()
    t0 = time.monotonic()
    other.decide(aid, approved=True, identity="alice@other", comment="from daemon 2")
    waiter.join(5)
    assert not waiter.is_alive() and time.monotonic() - t0 < 1.5
    settled = got[0]
    assert getattr(settled, "status", None) == "approved"
    assert getattr(settled, "decided_by", None) == "alice@other"
    with pytest.raises(ApprovalConflict):
        rig.queue.decide(aid, approved=False, identity="bob", comment=None)
    # the answer recorded by daemon 2 is in the shared ledger
    record = rig.record(getattr(settled, "record_index", 0) or 0)
    assert isinstance(record, ApprovalRecord) and record.approver == "alice@other"


def test_two_queues_racing_to_decide_give_one_answer(make_rig: RigFactory) -> None:
    rig = make_rig()
    other = another_queue(rig)
    _, extra, _ = rig.ask(deploy())
    aid = extra["approval"]["id"]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def answer(queue: ApprovalQueue, who: str) -> None:
        barrier.wait()
        try:
            queue.decide(aid, approved=who == "a", identity=who, comment=None)
            outcomes.append(who)
        except ApprovalConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=answer, args=(q, w))
               for q, w in ((rig.queue, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "conflict" or sorted(outcomes)[1] == "conflict"
    assert outcomes.count("conflict") == 1
    winner = next(o for o in outcomes if o != "conflict")
    assert rig.queue.get(aid).decided_by == winner


def test_webhooks_get_created_and_decided(make_rig: RigFactory,
                                          hooks: Callable[..., Hooks]) -> None:
    h = hooks()
    rig = make_rig(webhooks=[h.url])
    _, extra, _ = rig.ask(deploy())
    aid = extra["approval"]["id"]
    rig.queue.decide(aid, approved=True, identity="alice", comment="fine")
    assert rig.queue.notifier.flush(5)
    assert h.types() == [("approval.created", aid), ("approval.decided", aid)]
    decided = h.bodies[1]["approval"]
    assert decided["status"] == "approved" and decided["decided_by"] == "alice"
    assert decided["comment"] == "fine" and decided["action"]["command"] == "deploy prod"


def test_a_dead_webhook_never_delays_a_decision(make_rig: RigFactory) -> None:
    rig = make_rig(webhooks=["http://127.0.0.1:9/dead"])
    t0 = time.perf_counter()
    _, extra, _ = rig.ask(deploy())
    rig.queue.decide(extra["approval"]["id"], approved=True, identity="alice", comment=None)
    assert time.perf_counter() - t0 < 1.0


def test_bad_settings_are_refused(make_rig: RigFactory) -> None:
    from codor.oversight import OversightError

    rig = make_rig()
    with pytest.raises(OversightError):
        ApprovalQueue(rig.queue.state, rig.kernel, timeout_s=10, timeout_effect="maybe")
    with pytest.raises(InputError):
        rig.queue.list("whatever")
    _, extra, _ = rig.ask(deploy())
    with pytest.raises(InputError):
        rig.queue.decide(extra["approval"]["id"], approved=True, identity="a",
                         comment="x" * 2001)
    assert AgentKey().role == "agent"


def test_an_unreadable_history_is_never_settled_automatically(make_rig: RigFactory) -> None:
    rig = make_rig()
    action = Action.create("command.exec", command="echo hi", session="s2")
    decision, index = rig.kernel.decide_and_index(action)
    assert rig.queue.assess(action, decision, index).level == "auto"
    assert rig.kernel.ledger is not None
    rig.kernel.ledger.store.close()  # the ledger can no longer be read
    rig.opened.remove(rig.kernel)  # (so the rig does not flush it at the end)
    rig.kernel.engine.close()
    risk = rig.queue.assess(action, decision, index)
    assert risk.level == "review" and risk.reasons[-1] == "session history unavailable -> review"
