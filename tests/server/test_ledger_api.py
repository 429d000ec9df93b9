"""The ledger over HTTP against a real daemon: head, paged and filtered entries, inclusion
proofs that verify with the public key only, checkpoints, consistency proofs (checked with
the RFC 9162 verifier), and full verification — at once and streamed — that notices
tampering."""

from __future__ import annotations

import base64
import json
import sqlite3

from codor.ledger.checkpoint import open_checkpoint
from codor.ledger.merkle import verify_consistency, verify_inclusion
from codor.ledger.store import LedgerStoreError
from tests.server.conftest import Server

RM = {"kind": "command.exec", "command": "rm -rf /", "agent": {"id": "claude-code"}}
READ = {"kind": "file.read", "path": "README.md"}


def fill(server: Server, sessions: dict[str, int]) -> list[int]:
    """Decide ``n`` actions in each session (alternating allow and deny); their indexes."""
    indexes = []
    for session, n in sessions.items():
        for i in range(n):
            action = {**(READ if i % 2 == 0 else RM), "session": session}
            r = server.post("/v1/check", "agent", json=action)
            assert r.status_code == 200
            indexes.append(r.json()["index"])
    server.daemon.ledger.store.flush()
    return indexes


def test_head_names_size_origin_keys_and_checkpoint(server: Server) -> None:
    fill(server, {"s1": 3})
    r = server.get("/v1/ledger", "auditor")
    body = r.json()
    assert r.status_code == 200
    assert body["size"] == server.daemon.ledger.store.size() >= 4  # start + 3 decisions
    assert body["origin"] == server.daemon.ledger.origin
    assert body["keys"] == [v.vkey for v in server.daemon.ledger.verifiers]
    assert body["checkpoint"] is None
    assert server.get("/v1/ledger/checkpoint").status_code == 404
    note = server.daemon.ledger.checkpoint()
    body = server.get("/v1/ledger").json()
    assert body["checkpoint"]["note"] == note and body["checkpoint"]["valid"] is True
    assert body["checkpoint"]["size"] == body["size"]
    r = server.get("/v1/ledger/checkpoint")
    assert r.status_code == 200 and r.text == note
    assert r.headers["content-type"].startswith("text/plain")
    assert int(r.headers["x-codor-tree-size"]) == body["size"]


def test_entries_are_decoded_and_paged_with_a_capped_limit(server: Server) -> None:
    fill(server, {"s1": 5})
    size = server.daemon.ledger.store.size()
    r = server.get("/v1/ledger/entries", params={"start": 0, "limit": 2})
    page = r.json()
    assert r.status_code == 200 and [e["index"] for e in page["entries"]] == [0, 1]
    assert page["next"] == 2 and page["size"] == size
    assert page["entries"][0]["record"]["type"] == "session.start"
    assert page["entries"][0]["hash_ok"] is True and page["entries"][0]["pruned"] is False
    seen = []
    start: int | None = 0
    while start is not None:
        page = server.get("/v1/ledger/entries", params={"start": start, "limit": 2}).json()
        seen += [e["index"] for e in page["entries"]]
        start = page["next"]
    assert seen == list(range(size))
    big = server.get("/v1/ledger/entries", params={"limit": 10**9}).json()
    assert big["limit"] == 1000 and len(big["entries"]) == size and big["next"] is None
    assert server.get("/v1/ledger/entries", params={"start": size + 5}).json()["entries"] == []


def test_entries_filter_by_session_type_and_event(server: Server) -> None:
    fill(server, {"alpha": 4, "beta": 3, "alpha-2": 2})
    server.post("/v1/events", "agent", json={"type": "event", "event": "agent.note",
                                             "session": "beta", "data": {"n": 1}})
    alpha = server.get("/v1/ledger/entries", params={"session": "alpha"}).json()["entries"]
    assert alpha and all(e["record"]["session"] == "alpha" for e in alpha)  # not alpha-2
    assert [e["record"]["type"] for e in alpha] == ["session.start"] + ["decision"] * 4
    decisions = server.get("/v1/ledger/entries", params={"type": "decision"}).json()
    assert len(decisions["entries"]) == 9
    both = server.get("/v1/ledger/entries",
                      params={"session": "beta", "type": "decision", "limit": 2}).json()
    assert [e["record"]["action"]["kind"] for e in both["entries"]] == ["file.read",
                                                                         "command.exec"]
    rest = server.get("/v1/ledger/entries", params={"session": "beta", "type": "decision",
                                                    "start": both["next"]}).json()
    assert len(rest["entries"]) == 1 and rest["next"] is None
    notes = server.get("/v1/ledger/entries", params={"event": "agent.note"}).json()["entries"]
    assert [e["record"]["data"] for e in notes] == [{"n": 1}]


def test_bad_query_parameters_are_4xx_json(server: Server) -> None:
    for params in ({"start": -1}, {"limit": 0}, {"start": "x"}, {"type": "nope"},
                   {"start": 10**30}, {"session": ""}):
        r = server.get("/v1/ledger/entries", params=params)
        assert r.status_code in (400, 422), params
        assert r.headers["content-type"] == "application/json"
    assert server.get("/v1/ledger/entries/-1").status_code == 422
    assert server.get("/v1/ledger/entries/abc").status_code == 422
    assert server.get("/v1/ledger/consistency").status_code == 422  # from is required


def test_an_entry_comes_with_a_proof_that_verifies_with_the_public_key(server: Server
                                                                      ) -> None:
    indexes = fill(server, {"s1": 6})
    target = indexes[3]
    r = server.get(f"/v1/ledger/entries/{target}", "auditor")
    body = r.json()
    assert r.status_code == 200 and body["entry"]["index"] == target
    assert body["entry"]["record"]["type"] == "decision"
    proof = body["proof"]
    cp, _ = open_checkpoint(proof["checkpoint"], server.daemon.ledger.verifiers)
    assert cp.size == proof["size"] > target  # a checkpoint was signed to cover it
    leaf = base64.b64decode(proof["leaf"])
    assert json.loads(leaf)["session"] == "s1"
    assert verify_inclusion(target, cp.size, bytes.fromhex(proof["leaf_hash"]),
                            [bytes.fromhex(h) for h in proof["proof"]], cp.root)
    # the same text `codor ledger prove` prints
    text = server.get(f"/v1/ledger/entries/{target}", params={"format": "text"})
    assert text.status_code == 200 and text.text == body["proof_text"]
    assert text.text.startswith(f"c2sp.org/tlog-proof@v1\nindex {target}\n")
    assert text.text.endswith(proof["checkpoint"])
    size = server.daemon.ledger.store.size()
    r = server.get(f"/v1/ledger/entries/{size}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "E_NOT_FOUND"


def test_consistency_proofs_verify_between_any_two_sizes(server: Server) -> None:
    fill(server, {"s1": 3})
    first = server.daemon.ledger.checkpoint()
    fill(server, {"s2": 5})
    size = server.daemon.ledger.store.size()
    old_cp, _ = open_checkpoint(first, server.daemon.ledger.verifiers)
    for old, new in ((old_cp.size, None), (1, size), (3, 7), (size, size), (0, size)):
        params = {"from": old} if new is None else {"from": old, "to": new}
        r = server.get("/v1/ledger/consistency", "auditor", params=params)
        body = r.json()
        assert r.status_code == 200, body
        assert body["to"] == (size if new is None else new)
        assert verify_consistency(body["from"], body["to"], bytes.fromhex(body["from_root"]),
                                  bytes.fromhex(body["to_root"]),
                                  [bytes.fromhex(h) for h in body["proof"]])
    body = server.get("/v1/ledger/consistency", params={"from": old_cp.size}).json()
    assert body["from_checkpoint"] == first and body["from_root"] == old_cp.root.hex()
    r = server.get("/v1/ledger/consistency", params={"from": 5, "to": 3})
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_INPUT"
    assert server.get("/v1/ledger/consistency",
                      params={"from": 0, "to": size + 1}).status_code == 400


def test_verify_reports_ok_then_the_first_tampered_entry(server: Server) -> None:
    fill(server, {"s1": 4})
    r = server.post("/v1/ledger/verify", "auditor")
    body = r.json()
    assert r.status_code == 200 and body["ok"] is True
    assert body["size"] == server.daemon.ledger.store.size() and body["pruned_bodies"] == 0
    # someone edits a body behind the ledger's back (the triggers forbid UPDATE of bodies,
    # so they drop the trigger first)
    path = server.daemon.ledger.store.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER bodies_no_update")
        conn.execute("UPDATE bodies SET leaf = CAST(replace(CAST(leaf AS TEXT), 'README',"
                     " 'READYOU') AS BLOB) WHERE idx = 1")
    body = server.post("/v1/ledger/verify").json()
    assert body["ok"] is False and body["first_bad_index"] == 1
    assert "leaf hash" in body["problem"]
    entry = server.get("/v1/ledger/entries", params={"start": 1, "limit": 1}).json()
    assert entry["entries"][0]["hash_ok"] is False


def events_of(text: str) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_verify_stream_sends_progress_then_the_result(server: Server) -> None:
    fill(server, {"s1": 3})
    size = server.daemon.ledger.store.size()
    with server.client.stream("GET", "/v1/ledger/verify/stream",
                              headers=server.headers("auditor")) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = events_of(text)
    assert events[0] == ("progress", {"checked": 0, "total": size})
    assert events[-2] == ("progress", {"checked": size, "total": size})
    name, result = events[-1]
    assert name == "result" and result["ok"] is True and result["size"] == size


def test_a_proof_is_refused_rather_than_wrong_when_the_store_fails(server: Server) -> None:
    fill(server, {"s1": 1})
    server.daemon.ledger.store.close()
    r = server.get("/v1/ledger/entries/0")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == LedgerStoreError.code
