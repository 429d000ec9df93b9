"""API keys over HTTP and with ``codor apikey``: a created token works at once with its role,
is never listed, a revoked one stops working, the last admin key is kept, and the CLI works
on the same state database as the daemon."""

from __future__ import annotations

import pytest

from codor.cli.main import main
from tests.server.conftest import Server


def test_create_list_use_and_revoke(server: Server) -> None:
    r = server.post("/v1/keys", json={"name": "ci runner", "role": "agent"})
    made = r.json()
    assert r.status_code == 201 and made["role"] == "agent" and made["revoked"] is None
    assert r.headers["cache-control"] == "no-store"
    token = made["token"]
    assert token.startswith(f"codor_{made['id']}_")
    auth = {"Authorization": f"Bearer {token}"}
    check = {"kind": "file.read", "path": "README.md", "session": "s1"}
    assert server.client.post("/v1/check", json=check, headers=auth).status_code == 200
    assert server.client.get("/v1/ledger", headers=auth).status_code == 403  # agent role
    listed = server.get("/v1/keys").json()["keys"]
    assert made["id"] in {k["id"] for k in listed}
    assert all("token" not in k and "hash" not in k for k in listed)
    assert token not in server.get("/v1/keys").text
    r = server.client.delete(f"/v1/keys/{made['id']}", headers=server.headers())
    assert r.status_code == 200 and r.json()["revoked"] is not None
    server.daemon.keys._cache.clear()  # the 5 s cache: a second daemon would see it then
    assert server.client.post("/v1/check", json=check, headers=auth).status_code == 401
    again = server.client.delete(f"/v1/keys/{made['id']}", headers=server.headers())
    assert again.status_code == 200  # revoking twice is harmless


def test_bad_requests(server: Server) -> None:
    assert server.post("/v1/keys", json={"name": "x", "role": "root"}).status_code == 422
    assert server.post("/v1/keys", json={"name": "", "role": "agent"}).status_code == 422
    assert server.post("/v1/keys", json={"role": "agent"}).status_code == 422
    r = server.client.delete("/v1/keys/0123456789abcdef", headers=server.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "E_NOT_FOUND"
    for role in ("operator", "auditor", "agent"):
        assert server.get("/v1/keys", role).status_code == 403


def test_the_last_admin_key_is_not_revoked_over_http(server: Server) -> None:
    mine = next(k for k in server.daemon.keys.list() if k.role == "admin")
    r = server.client.delete(f"/v1/keys/{mine.id}", headers=server.headers())
    assert r.status_code == 409 and r.json()["error"]["code"] == "E_CONFLICT"
    other = server.post("/v1/keys", json={"name": "second admin", "role": "admin"}).json()
    assert server.client.delete(f"/v1/keys/{mine.id}", headers=server.headers()
                                ).status_code == 200
    auth = {"Authorization": f"Bearer {other['token']}"}
    assert server.client.get("/v1/keys", headers=auth).status_code == 200


def test_cli_apikey_works_on_the_daemons_state_database(server: Server,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    ws = str(server.settings.workspace)
    assert main(["apikey", "create", "--role", "admin", "--name", "recovery", "-w", ws]) == 0
    token = capsys.readouterr().out.strip()
    auth = {"Authorization": f"Bearer {token}"}
    assert server.client.get("/v1/keys", headers=auth).status_code == 200
    assert main(["apikey", "list", "-w", ws]) == 0
    out = capsys.readouterr().out
    assert "recovery" in out and token not in out
    key_id = token.split("_")[1]
    assert main(["apikey", "revoke", key_id, "-w", ws]) == 0
    server.daemon.keys._cache.clear()
    assert server.client.get("/v1/keys", headers=auth).status_code == 401
    assert main(["apikey", "revoke", "ffffffffffffffff", "-w", ws]) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["apikey", "create", "--role", "root", "--name", "x", "-w", ws])
    assert exit_.value.code == 2


def test_key_changes_are_recorded_in_the_ledger(server: Server) -> None:
    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes

    made = server.post("/v1/keys", json={"name": "ci bot", "role": "agent"}).json()
    assert server.client.delete(f"/v1/keys/{made['id']}",
                                headers=server.headers()).status_code == 200
    store = server.daemon.ledger.store
    store.flush()
    events = [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                          if e.leaf is not None) if isinstance(r, EventRecord)]
    assert [(e.session, e.event, e.data["key"], e.data["role"]) for e in events] == [
        ("codor-admin", "apikey.created", made["id"], "agent"),
        ("codor-admin", "apikey.revoked", made["id"], "agent")]
    assert events[0].data["by"].startswith("test admin (key ")
    r = server.post("/v1/events", "agent", json={"type": "event", "session": "s1",
                                                 "event": "apikey.created", "data": {}})
    assert r.status_code == 400  # integrations cannot forge them
    r = server.post("/v1/events", "agent", json={"type": "event", "session": "codor-admin",
                                                 "event": "agent.stopped", "data": {}})
    assert r.status_code == 400 and r.json()["error"]["location"] == "session"
