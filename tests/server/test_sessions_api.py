"""Sessions over HTTP: the list (an index brought up to date incrementally as the ledger
grows) with counts per decision and the last claims verdict, and one session's timeline in
ledger order, paged."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from codor.server.sessionindex import SessionIndex
from tests.server.conftest import Server

READ = {"kind": "file.read", "path": "README.md"}
RM = {"kind": "command.exec", "command": "rm -rf /"}
PUSH = {"kind": "command.exec", "command": "git push --force origin main"}


def decide(server: Server, session: str, action: Mapping[str, object], agent: str = "bot"
           ) -> dict[str, object]:
    r = server.post("/v1/check", "agent", json={**action, "session": session,
                                                "agent": {"id": agent, "role": "coder"}})
    assert r.status_code == 200
    body: dict[str, object] = r.json()
    return body


def test_sessions_list_counts_decisions_and_follows_new_entries(server: Server) -> None:
    decide(server, "s-a", READ, "claude")
    decide(server, "s-a", RM, "claude")
    decide(server, "s-b", READ, "codex")
    r = server.get("/v1/sessions", "auditor")
    body = r.json()
    assert r.status_code == 200 and body["total"] == 2
    by_id = {s["id"]: s for s in body["sessions"]}
    a, b = by_id["s-a"], by_id["s-b"]
    assert a["agent"] == {"id": "claude", "role": "coder"} and b["agent"]["id"] == "codex"
    assert a["decisions"] == {"allow": 1, "deny": 1, "ask": 0}
    assert b["decisions"] == {"allow": 1, "deny": 0, "ask": 0}
    assert a["started_wall_us"] > 0 and a["first_index"] < a["last_index"]
    assert body["sessions"][0]["id"] == "s-b"  # most recently active first
    assert a["claims"] is None
    # later entries are picked up by the next request, without re-reading the old ones
    index = server.daemon.extras["session_index"]
    assert isinstance(index, SessionIndex)
    scanned = index.scanned
    last = decide(server, "s-a", READ, "claude")
    body = server.get("/v1/sessions").json()
    assert index.scanned > scanned
    a = next(s for s in body["sessions"] if s["id"] == "s-a")
    assert a["decisions"]["allow"] == 2 and a["last_index"] == last["index"]
    assert body["sessions"][0]["id"] == "s-a"
    page = server.get("/v1/sessions", params={"limit": 1, "offset": 1}).json()
    assert [s["id"] for s in page["sessions"]] == ["s-b"] and page["total"] == 2


def test_ask_decisions_are_counted(make_server: object) -> None:
    server = make_server(policy="codor:strict")  # type: ignore[operator]
    body = decide(server, "s-ask", PUSH)
    summary = server.get("/v1/sessions/s-ask").json()["session"]
    assert summary["decisions"][str(body["decision"])] == 1


def test_a_timeline_holds_every_record_of_the_session_in_order(server: Server) -> None:
    decide(server, "s-x", READ)
    for _ in range(3):
        decide(server, "s-y", RM)
    decide(server, "s-x", RM)
    r = server.post("/v1/events", "agent", json={"type": "event", "event": "agent.note",
                                                 "session": "s-x", "data": {"k": "v"}})
    assert r.status_code == 200
    body = server.get("/v1/sessions/s-x", "auditor").json()
    records = body["records"]
    assert [e["record"]["type"] for e in records] == ["session.start", "decision", "decision",
                                                      "event"]
    assert all(e["record"]["session"] == "s-x" for e in records)
    indexes = [e["index"] for e in records]
    assert indexes == sorted(indexes) and body["next"] is None
    assert body["session"]["entries"] == 4
    first = server.get("/v1/sessions/s-x", params={"limit": 2}).json()
    assert [e["index"] for e in first["records"]] == indexes[:2]
    rest = server.get("/v1/sessions/s-x", params={"start": first["next"]}).json()
    assert [e["index"] for e in rest["records"]] == indexes[2:]


def test_an_unknown_session_is_404(server: Server) -> None:
    decide(server, "s-1", READ)
    r = server.get("/v1/sessions/s-unknown")
    assert r.status_code == 404 and r.json()["error"]["code"] == "E_NOT_FOUND"
    assert server.get("/v1/sessions", params={"limit": 0}).status_code == 422


def test_session_ids_with_quotes_and_slashes_are_found_exactly(server: Server) -> None:
    odd = 'team/a "quoted"'
    decide(server, odd, READ)
    decide(server, "team", READ)
    r = server.get(f"/v1/sessions/{odd}")
    assert r.status_code == 200
    assert {e["record"]["session"] for e in r.json()["records"]} == {odd}


def test_the_index_is_consistent_under_concurrent_updates(server: Server) -> None:
    for n in range(30):
        decide(server, f"s-{n % 5}", READ if n % 3 else RM)
    index = SessionIndex()
    store = server.daemon.ledger.store
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                index.update(store)
                index.sessions()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    totals = {s.id: s for s in index.sessions()}
    assert sum(s.entries for s in totals.values()) == store.size()
    assert sum(sum(s.decisions.values()) for s in totals.values()) == 30
    assert index.scanned == store.size()
