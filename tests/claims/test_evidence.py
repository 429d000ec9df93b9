"""Reading one session's evidence from the ledger: runs joined with their outcomes, writes with
their digests, only records bound to the session, and tampered leaves refused."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from codor.claims.evidence import ClaimsError, load_session
from codor.evidence.records import StreamSummary, now_us
from codor.model import Action
from tests.claims.conftest import Session


def test_runs_are_joined_with_their_outcomes_by_index_and_by_digest(session: Session) -> None:
    first = session.run("echo one")
    # as the hooks do: the outcome names its action only by digest
    action = Action.create("command.exec", command="echo two", session=session.id,
                           agent=session.agent, cwd=str(session.root))
    _, second = session.kernel.decide_and_index(action)
    t = now_us()
    outcome = session.kernel.record_outcome(action, None, started=t, ended=t, exit_status=3,
                                            stdout=StreamSummary.of(b"two\n"))
    assert session.kernel.ledger is not None
    ev = load_session(session.kernel.ledger, session.id)
    assert [(r.index, r.command, r.exit_status, r.output) for r in ev.runs] == [
        (first, "echo one", 0, "one\n"), (second, "echo two", 3, "two\n")]
    assert ev.runs[1].outcome == outcome and ev.runs[1].evidence == (second, outcome)


def test_writes_keep_the_digest_of_what_was_written(session: Session) -> None:
    index = session.write("docs/api.md", "# API\n")
    assert session.kernel.ledger is not None
    ev = load_session(session.kernel.ledger, session.id)
    (write,) = ev.writes
    assert write.index == index and write.path == str(session.root / "docs/api.md")
    assert write.sha256 == hashlib.sha256(b"# API\n").hexdigest() and write.outcome == index + 1
    assert write.product_sha256 == write.sha256


def test_other_sessions_and_agent_claims_are_not_evidence(session: Session) -> None:
    session.run("echo mine")
    other = Action.create("command.exec", command="echo theirs", session="s-other")
    session.kernel.decide(other)
    session.kernel.record_event(session.id, "agent.note", {"said": "all tests pass"},
                                observer="agent-claim")
    assert session.kernel.ledger is not None
    ev = load_session(session.kernel.ledger, session.id)
    assert [r.command for r in ev.runs] == ["echo mine"]
    assert all(name != "agent.note" for _, name, _, _ in ev.events)


def test_an_unknown_session_is_an_error(session: Session) -> None:
    assert session.kernel.ledger is not None
    with pytest.raises(ClaimsError, match="no session 'nope' in the ledger"):
        load_session(session.kernel.ledger, "nope")


def test_a_leaf_edited_in_the_database_is_refused(session: Session) -> None:
    index = session.run("echo 1 passed")
    assert session.kernel.ledger is not None
    session.kernel.ledger.store.flush()
    db = sqlite3.connect(session.root / ".codor" / "ledger.db")
    try:
        db.execute("drop trigger bodies_no_update")  # as someone with the file could
        (leaf,) = db.execute("select leaf from bodies where idx = ?", (index + 1,)).fetchone()
        db.execute("update bodies set leaf = ? where idx = ?",
                   (bytes(leaf).replace(b"1 passed", b"9 passed"), index + 1))
        db.commit()
    finally:
        db.close()
    with pytest.raises(ClaimsError, match=f"entry {index + 1} does not match its leaf hash"):
        load_session(session.kernel.ledger, session.id)


def test_the_action_digest_read_off_the_leaf_equals_the_canonical_one(session: Session) -> None:
    import json

    from codor.canonical import canonical_sha256
    from codor.claims.evidence import _action_digest

    tricky = Action.create("tool.call", tool="t", session=session.id, arguments={
        "challenge": "x", "nested": {"decision": {}, "text": '},"challenge":"'}})
    session.kernel.decide(tricky)
    session.run("echo ok")
    assert session.kernel.ledger is not None
    store = session.kernel.ledger.store
    store.flush()
    checked = 0
    for entry in store.entries(0, store.size()):
        assert entry.leaf is not None
        rec = json.loads(entry.leaf)
        if rec["type"] == "decision":
            assert _action_digest(entry.leaf, rec["challenge"]) == canonical_sha256(rec["action"])
            checked += 1
    assert checked == 2
