"""Capability tokens through the daemon: issued, delegated and revoked over HTTP; the daemon's
engine honours them on /v1/check (uses counted in its state database, revocations at once);
who may do what; every change in the ledger without the token itself."""

from __future__ import annotations

from typing import Any

from codor.evidence.events import EventRecord
from codor.evidence.records import record_from_bytes
from tests.server.conftest import Server, ServerFactory

#: every user rule abstains: without a token, everything is denied by default
NOTHING = "version: 1\nname: nothing\nrules: []\n"


def _write(path: str, token: str | None, agent: str = "coder-1") -> dict[str, Any]:
    return {"kind": "file.write", "path": path, "content": "x", "session": "s-tok",
            "agent": {"id": agent}, "token": token}


def _decide(server: Server, action: dict[str, Any]) -> dict[str, Any]:
    r = server.post("/v1/check", "agent", json=action)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _token_events(server: Server) -> list[EventRecord]:
    store = server.daemon.ledger.store
    store.flush()
    return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                        if e.leaf is not None)
            if isinstance(r, EventRecord) and r.event.startswith("token.")]


def _issue(server: Server, **body: Any) -> dict[str, Any]:
    r = server.post("/v1/tokens", json={"sub": "coder-1", "kinds": ["file.write"],
                                        "paths": ["src/**"], "uses": 2, **body})
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_an_issued_token_skips_the_user_rules_within_its_scope_and_uses(
        make_server: ServerFactory, tmp_path: Any) -> None:
    server = make_server(policy=None, workspace=tmp_path / "ws")
    (tmp_path / "ws" / ".codor" / "policy.yaml").write_text(NOTHING)
    server.post("/v1/policy/reload")
    assert _decide(server, _write("src/a.py", None))["decision"] == "deny"
    issued = _issue(server)
    token = issued["token"]
    assert issued["claims"]["sub"] == "coder-1" and issued["claims"]["uses"] == 2
    first = _decide(server, _write("src/a.py", token))
    assert first["decision"] == "allow"
    assert [r["rule"] for r in first["reasons"]] == ["token.valid"]
    # outside the token's paths, for another agent, or past its uses: full evaluation
    assert _decide(server, _write("docs/a.md", token))["decision"] == "deny"
    assert _decide(server, _write("src/b.py", token, agent="other"))["decision"] == "deny"
    assert _decide(server, _write("src/b.py", token))["decision"] == "allow"
    spent = _decide(server, _write("src/c.py", token))
    assert spent["decision"] == "deny"
    assert any("uses exhausted" in w for w in spent["warnings"])
    # a token never passes the built-in protections
    wide = _issue(server, paths=None, uses=5)["token"]
    assert _decide(server, _write(".codor/policy.yaml", wide))["decision"] == "deny"
    # the counts are in the daemon's state database
    used = server.daemon.state.query("SELECT used FROM token_uses WHERE id = ?",
                                     (issued["claims"]["id"],))
    assert used == [(2,)]


def test_delegation_only_narrows_and_revoking_a_parent_ends_its_children(
        make_server: ServerFactory, tmp_path: Any) -> None:
    server = make_server(policy=None, workspace=tmp_path / "ws")
    (tmp_path / "ws" / ".codor" / "policy.yaml").write_text(NOTHING)
    server.post("/v1/policy/reload")
    parent = _issue(server, uses=10)
    child = server.post("/v1/tokens/delegate", "agent",
                        json={"token": parent["token"], "paths": ["src/lib/**"], "uses": 3})
    assert child.status_code == 201, child.text
    assert child.json()["claims"]["parent"] == parent["claims"]["id"]
    assert "proof" not in child.json()["claims"]
    kid = child.json()["token"]
    assert _decide(server, _write("src/lib/x.py", kid))["decision"] == "allow"
    assert _decide(server, _write("src/app.py", kid))["decision"] == "deny"

    wider = server.post("/v1/tokens/delegate", "agent",
                        json={"token": kid, "paths": ["**"]})
    assert (wider.status_code, wider.json()["error"]["code"]) == (400, "E_TOKEN")
    forged = server.post("/v1/tokens/delegate", "agent",
                         json={"token": parent["token"][:-8] + "AAAAAAAA"})
    assert (forged.status_code, forged.json()["error"]["code"]) == (400, "E_TOKEN")

    r = server.post("/v1/tokens/revoke", json={"token": parent["token"], "reason": "leaked"})
    assert r.json() == {"revoked": parent["claims"]["id"]}
    assert _decide(server, _write("src/lib/y.py", kid))["decision"] == "deny"
    listed = server.get("/v1/tokens/revocations", "auditor").json()["revocations"]
    assert [(x["id"], x["reason"]) for x in listed] == [(parent["claims"]["id"], "leaked")]
    refused = server.post("/v1/tokens/delegate", "agent", json={"token": parent["token"]})
    assert refused.status_code == 400 and "revoked" in refused.json()["error"]["message"]

    events = _token_events(server)
    assert [e.event for e in events] == ["token.issued", "token.delegated", "token.revoked"]
    assert {e.session for e in events} == {"codor-admin"}
    assert all("token" not in e.data and "proof" not in e.data for e in events)
    assert events[2].data["reason"] == "leaked"
    assert events[0].data["by"].startswith("test admin (key ")


def test_who_may_issue_delegate_and_revoke(server: Server) -> None:
    body = {"sub": "a", "kinds": ["file.read"]}
    assert server.post("/v1/tokens", "agent", json=body).status_code == 403
    assert server.post("/v1/tokens", "operator", json=body).status_code == 403
    token = server.post("/v1/tokens", json=body).json()["token"]
    assert server.post("/v1/tokens/delegate", "auditor",
                       json={"token": token}).status_code == 403
    assert server.post("/v1/tokens/delegate", "operator",
                       json={"token": token}).status_code == 201
    for role in ("agent", "operator", "auditor"):
        assert server.post("/v1/tokens/revoke", role, json={"token": token}).status_code == 403
    assert server.get("/v1/tokens/revocations", "agent").status_code == 403


def test_bad_requests_are_refused_with_a_code(server: Server) -> None:
    for body in ({"sub": "a", "kinds": []}, {"sub": "a"}, {"kinds": ["file.read"]},
                 {"sub": "a", "kinds": ["file.read"], "uses": 0},
                 {"sub": "a", "kinds": ["file.read"], "ttl": -1},
                 {"sub": "a", "kinds": ["file.read"], "extra": True}):
        assert server.post("/v1/tokens", json=body).status_code == 422, body
    r = server.post("/v1/tokens/revoke", json={"token": "two words"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "E_TOKEN")
    r = server.post("/v1/tokens/delegate", "agent", json={"token": "codor-cap.v1.x.y"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "E_TOKEN")


def test_a_policy_reload_keeps_the_verifier_and_its_revocations(
        make_server: ServerFactory, tmp_path: Any) -> None:
    server = make_server(policy=None, workspace=tmp_path / "ws")
    (tmp_path / "ws" / ".codor" / "policy.yaml").write_text(NOTHING)
    server.post("/v1/policy/reload")
    token = _issue(server, uses=5)
    verifier = server.daemon.engine.tokens
    server.post("/v1/tokens/revoke", json={"token": token["claims"]["id"]})
    assert server.post("/v1/policy/reload").status_code == 200
    assert server.daemon.engine.tokens is verifier
    assert _decide(server, _write("src/a.py", token["token"]))["decision"] == "deny"
