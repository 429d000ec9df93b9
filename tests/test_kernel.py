"""The kernel records every decision; an unrecordable decision is a deny."""

from __future__ import annotations

import json
from pathlib import Path

from codor.evidence.records import DecisionRecord, SessionStart, check_binding, record_from_bytes
from codor.kernel import Kernel, evidence_form
from codor.workspace import Workspace
from tests.conftest import EngineFactory, act


def kernel_at(tmp_path: Path, make_engine: EngineFactory) -> tuple[Kernel, Workspace]:
    ws = Workspace(tmp_path, tmp_path / ".codor")
    ws.init(key_name="test")
    engine = make_engine("codor:default", workspace=str(tmp_path))
    return Kernel(engine, ws.open_ledger()), ws


def records(ws: Workspace) -> list[object]:
    ledger = ws.open_ledger(signing=False)
    try:
        size = ledger.sync()
        return [record_from_bytes(e.leaf) for e in ledger.store.entries(0, size)
                if e.leaf is not None]
    finally:
        ledger.close()


def test_every_decision_is_recorded_after_a_session_start(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    kernel, ws = kernel_at(tmp_path, make_engine)
    kernel.decide(act("file.read", path="src/a.py", session="s1", agent="bot"))
    kernel.decide(act("command.exec", command="curl x | sh", session="s1", agent="bot"))
    kernel.close()
    found = records(ws)
    assert isinstance(found[0], SessionStart) and found[0].session == "s1"
    decisions = [r for r in found if isinstance(r, DecisionRecord)]
    assert [d.decision.decision for d in decisions] == ["allow", "deny"]
    for d in decisions:
        check_binding(found[0], d)  # same session, same challenge, not before it
    assert ws.open_ledger(signing=False).verify().ok


def test_secrets_and_content_are_not_stored(tmp_path: Path, make_engine: EngineFactory) -> None:
    kernel, ws = kernel_at(tmp_path, make_engine)
    secret = "AKIAABCDEFGHIJKLMNOP"
    kernel.decide(act("file.write", path="a.txt", content=f"key={secret}"))
    kernel.decide(act("command.exec", command=f"echo {secret}"))
    kernel.close()
    raw = ws.ledger_path.read_bytes()
    assert secret.encode() not in raw
    stored = [r for r in records(ws) if isinstance(r, DecisionRecord)]
    assert stored[0].action.content is None and stored[0].action.content_sha256 is not None


def test_tokens_are_not_stored() -> None:
    action = act("file.read", path="a", token="codor-cap.v1.secret.sig")
    assert evidence_form(action).token is None


def test_unwritable_ledger_turns_every_decision_into_a_deny(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    kernel, _ws = kernel_at(tmp_path, make_engine)
    assert kernel.ledger is not None
    kernel.ledger.store.close()  # the store is gone: nothing can be recorded
    decision = kernel.decide(act("file.read", path="src/a.py"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "ledger.unavailable"
    assert json.dumps(decision.to_json())  # still a normal decision


def test_without_a_ledger_nothing_is_recorded(make_engine: EngineFactory) -> None:
    kernel = Kernel(make_engine("codor:default"))
    assert kernel.decide(act("file.read", path="/workspace/a")).decision == "allow"


def test_disk_full_fails_closed_and_keeps_what_was_recorded(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    kernel, ws = kernel_at(tmp_path, make_engine)
    assert kernel.decide(act("file.read", path="src/a.py")).decision == "allow"
    assert kernel.ledger is not None
    kernel.ledger.store.flush()
    store = kernel.ledger.store
    conn = store._conn  # type: ignore[attr-defined]  # a real SQLITE_FULL, not a mock
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    big = "x" * 200_000
    decision = kernel.decide(act("command.exec", command=f"echo {big} | wc -c"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "ledger.unavailable"
    assert "full" in decision.reasons[0].message
    kernel.close()
    assert ws.open_ledger(signing=False).verify().ok


def committed_entries(ws: Workspace) -> int:
    """Entries another connection sees: committed ones only."""
    import sqlite3

    conn = sqlite3.connect(ws.ledger_path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        conn.close()


def test_an_allow_is_committed_before_it_is_returned(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    kernel, ws = kernel_at(tmp_path, make_engine)
    try:
        assert kernel.decide(act("file.read", path="src/a.py")).decision == "allow"
        assert committed_entries(ws) == 2  # the session start and the allow, both on disk
    finally:
        kernel.close()


def test_group_allows_leaves_allows_to_the_group_commit(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    ws = Workspace(tmp_path, tmp_path / ".codor")
    ws.init(key_name="test")
    kernel = Kernel(make_engine("codor:default", workspace=str(tmp_path)), ws.open_ledger(),
                    group_allows=True)
    try:
        assert kernel.decide(act("file.read", path="src/a.py")).decision == "allow"
        assert committed_entries(ws) == 1  # the session start; the allow waits for its batch
        assert kernel.decide(act("file.read", path="~/.ssh/id_rsa")).decision == "deny"
        assert committed_entries(ws) == 3  # a deny commits at once, the allow with it
    finally:
        kernel.close()


def test_a_session_start_in_a_git_work_tree_records_its_head(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    import subprocess

    from codor.evidence.events import EventRecord

    env = {"GIT_AUTHOR_NAME": "d", "GIT_AUTHOR_EMAIL": "d@x", "GIT_COMMITTER_NAME": "d",
           "GIT_COMMITTER_EMAIL": "d@x", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "base"]):
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()
    ws = Workspace(tmp_path, tmp_path / ".codor")
    ws.init(key_name="test")
    kernel = Kernel(make_engine("codor:default", workspace=str(tmp_path)), ws.open_ledger(),
                    workspace=str(tmp_path))
    kernel.decide(act("file.read", path="a", session="s1"))
    kernel.close()
    start, event, decision = records(ws)
    assert isinstance(start, SessionStart) and isinstance(decision, DecisionRecord)
    assert isinstance(event, EventRecord) and event.event == "workspace.head"
    assert event.data == {"git_head": head}
    check_binding(start, event)
    # outside a work tree (no workspace given) nothing more is recorded
    kernel, ws2 = kernel_at(tmp_path / "plain", make_engine)
    kernel.decide(act("file.read", path="a", session="s1"))
    kernel.close()
    assert [type(r).__name__ for r in records(ws2)] == ["SessionStart", "DecisionRecord"]
