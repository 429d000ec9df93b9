"""Kernel.decide_and_index and Kernel.record_outcome: an outcome names its recorded decision
and is bound to the session's challenge."""

from __future__ import annotations

from pathlib import Path

import pytest

from codor.evidence.records import (
    DecisionRecord,
    OutcomeRecord,
    SessionStart,
    StreamSummary,
    action_digest,
    check_binding,
    now_us,
    record_from_bytes,
)
from codor.kernel import Kernel, evidence_form
from codor.ledger.store import LedgerStoreError
from codor.workspace import Workspace
from tests.conftest import EngineFactory, act
from tests.test_kernel import kernel_at

DIGEST = "ab" * 32


def leaf(ws: Workspace, index: int) -> object:
    ledger = ws.open_ledger(signing=False)
    try:
        size = ledger.sync()
        entries = {e.index: e.leaf for e in ledger.store.entries(0, size)}
    finally:
        ledger.close()
    data = entries[index]
    assert data is not None
    return record_from_bytes(data)


def test_decide_and_index_returns_where_the_decision_was_recorded(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    kernel, ws = kernel_at(tmp_path, make_engine)
    action = act("file.read", path=str(tmp_path / "a.py"), session="s1")
    decision, index = kernel.decide_and_index(action)
    assert decision.decision == "allow" and index is not None
    kernel.ledger.store.flush()  # type: ignore[union-attr]
    stored = leaf(ws, index)
    assert isinstance(stored, DecisionRecord) and stored.action == evidence_form(action)
    kernel.ledger.close()  # type: ignore[union-attr]


def test_record_outcome_is_bound_to_the_session_and_names_the_decision(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    kernel, ws = kernel_at(tmp_path, make_engine)
    action = act("file.write", path=str(tmp_path / "out.txt"), content="secret-free",
                 session="s9", agent="bot")
    _decision, index = kernel.decide_and_index(action)
    started = now_us()
    ended = now_us()
    out_index = kernel.record_outcome(
        action, index, started=started, ended=ended, exit_status=0,
        stdout=StreamSummary.of(b"done\n"), products={str(tmp_path / "out.txt"): DIGEST},
        sandbox="bwrap")
    assert out_index is not None and index is not None and out_index > index
    kernel.ledger.close()  # type: ignore[union-attr]
    start = leaf(ws, 0)
    outcome = leaf(ws, out_index)
    assert isinstance(start, SessionStart) and isinstance(outcome, OutcomeRecord)
    check_binding(start, outcome)
    assert outcome.action_index == index
    assert outcome.action_sha256 == action_digest(evidence_form(action))
    assert outcome.observer == "codor-runtime" and outcome.sandbox == "bwrap"
    assert outcome.exit_status == 0 and outcome.stdout.excerpt == "done\n"
    assert dict(outcome.products) == {str(tmp_path / "out.txt"): DIGEST}
    assert outcome.started_wall_us == started[0] and outcome.ended_mono_us == ended[1]
    assert outcome.stderr.size == 0 and not outcome.materials


def test_an_outcome_observed_by_the_sandbox(tmp_path: Path, make_engine: EngineFactory) -> None:
    kernel, ws = kernel_at(tmp_path, make_engine)
    action = act("command.exec", command="git status")
    _decision, index = kernel.decide_and_index(action)
    t = now_us()
    out_index = kernel.record_outcome(action, index, started=t, ended=t, exit_status=-9,
                                      observer="codor-sandbox")
    kernel.ledger.close()  # type: ignore[union-attr]
    assert out_index is not None
    outcome = leaf(ws, out_index)
    assert isinstance(outcome, OutcomeRecord) and outcome.observer == "codor-sandbox"
    assert outcome.exit_status == -9 and outcome.duration_us == 0


def test_without_a_ledger_nothing_is_indexed_or_recorded(make_engine: EngineFactory) -> None:
    kernel = Kernel(make_engine("codor:default"))
    action = act("file.read", path="/workspace/a")
    decision, index = kernel.decide_and_index(action)
    assert decision.decision == "allow" and index is None
    t = now_us()
    assert kernel.record_outcome(action, None, started=t, ended=t) is None


def test_a_broken_store_denies_and_refuses_the_outcome(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    kernel, _ws = kernel_at(tmp_path, make_engine)
    assert kernel.ledger is not None
    kernel.ledger.store.close()
    action = act("file.read", path=str(tmp_path / "a.py"))
    decision, index = kernel.decide_and_index(action)
    assert decision.decision == "deny" and index is None
    assert decision.reasons[0].rule == "ledger.unavailable"
    t = now_us()
    with pytest.raises(LedgerStoreError):
        kernel.record_outcome(action, None, started=t, ended=t)


def test_an_approval_names_the_decision_it_answers(tmp_path: Path,
                                                    make_engine: EngineFactory) -> None:
    from codor.evidence.events import ApprovalRecord

    kernel, ws = kernel_at(tmp_path, make_engine)
    action = act("command.exec", command="frobnicate --all", session="s1")
    decision, index = kernel.decide_and_index(action)
    assert decision.decision == "ask"
    at = kernel.record_approval(action, index, approved=False, approver="dev@host",
                                channel="tty", comment="not today")
    kernel.close()
    record = leaf(ws, at)  # type: ignore[arg-type]
    assert isinstance(record, ApprovalRecord)
    assert (record.action_index, record.approved, record.comment) == (index, False, "not today")
    assert record.action_sha256 == action_digest(evidence_form(action))
    start = leaf(ws, 0)
    assert isinstance(start, SessionStart)
    check_binding(start, record)


def test_event_data_is_redacted_before_it_is_recorded(tmp_path: Path,
                                                      make_engine: EngineFactory) -> None:
    from codor.evidence.events import EventRecord

    kernel, ws = kernel_at(tmp_path, make_engine)
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    at = kernel.record_event("s1", "egress.blocked",
                             {"target": f"https://evil.example/?t={secret}", "status": 403})
    kernel.close()
    record = leaf(ws, at)  # type: ignore[arg-type]
    assert isinstance(record, EventRecord) and record.event == "egress.blocked"
    assert secret not in record.to_bytes().decode() and record.data["status"] == 403
    assert record.observer == "codor-engine"
