"""The policy over HTTP: read it, validate YAML text (200 with the problems, never 500),
replace it with a signed bundle (verified, recorded in the ledger, then used), reload it;
and a daemon started on a bundle verifies it first."""

from __future__ import annotations

from pathlib import Path

import pytest

from codor.errors import CodorError
from codor.evidence.keys import LogKey
from codor.evidence.records import EventRecord, record_from_bytes
from codor.policy.bundle import sign_bundle
from tests.server.conftest import Server, ServerFactory

RM_TMP = {"kind": "command.exec", "command": "ls /tmp", "session": "s1"}
#: a policy that denies every command (the default ruleset allows `ls`)
STRICT = """version: 1
name: no-commands
extends: [codor:default]
rules:
  - id: no-commands
    on: [command.exec]
    effect: deny
    reason: no commands today
"""


def trust(server: Server, key: LogKey) -> None:
    keys = server.settings.home / "policy-keys"
    keys.mkdir(exist_ok=True)
    (keys / f"{key.name}.pub").write_text(f"# {key.name}\n{key.vkey()}\n")


def decision(server: Server) -> str:
    r = server.post("/v1/check", "agent", json=RM_TMP)
    assert r.status_code == 200
    return str(r.json()["decision"])


def test_get_policy_shows_ref_sha_and_the_merged_policy(server: Server) -> None:
    r = server.get("/v1/policy", "auditor")
    body = r.json()
    assert r.status_code == 200
    assert body["sha256"] == server.daemon.engine.policy.sha256
    assert body["ref"] == "codor:default" and body["bundle"] is None
    assert body["policy"]["version"] == 1 and body["policy"]["rules"]
    assert isinstance(body["warnings"], list)


def test_validate_lists_errors_and_warnings_with_200(server: Server) -> None:
    ok = server.post("/v1/policy/validate", content=STRICT,
                     headers={"Content-Type": "application/yaml"}).json()
    assert ok["ok"] is True and ok["errors"] == 0 and len(ok["sha256"]) == 64
    bad = server.post("/v1/policy/validate", content="version: 1\nrules: [\n").json()
    assert bad["ok"] is False and bad["errors"] == 1 and bad["sha256"] is None
    problem = bad["problems"][0]
    assert problem["code"] == "E_POLICY_YAML" and problem["location"].startswith("<body>:")
    warned = server.post("/v1/policy/validate", content=STRICT + """  - id: nothing
    on: [file.read]
    match: {path: []}
    effect: deny
""").json()
    assert warned["ok"] is True and warned["warnings"] >= 1
    assert any(p["code"] == "W_EMPTY_PATTERNS" for p in warned["problems"])
    for body in (b"\xff\xfe", b"", b"version: 2\n", b"[1, 2]", b"\x00"):
        r = server.post("/v1/policy/validate", content=body)
        assert r.status_code == 200 and r.json()["ok"] is False, body
    missing = server.post("/v1/policy/validate",
                          content="version: 1\nextends: [./nope.yaml]\n").json()
    assert missing["ok"] is False and missing["problems"][0]["code"] == "E_POLICY_EXTENDS"
    # nothing is left behind in .codor/
    assert not list(server.settings.home.glob(".policy-validate-*"))
    assert server.post("/v1/policy/validate", "operator", content=STRICT).status_code == 403


def test_put_a_signed_bundle_records_the_change_then_uses_it(server: Server) -> None:
    admin = LogKey.generate("policy-admin")
    trust(server, admin)
    before = server.daemon.engine.policy.sha256
    assert decision(server) == "allow"
    bundle = sign_bundle(STRICT, admin)
    r = server.client.put("/v1/policy", content=bundle, headers=server.headers())
    body = r.json()
    assert r.status_code == 200, body
    assert body["changed"] is True and body["previous"] == before
    assert body["sha256"] == server.daemon.engine.policy.sha256 != before
    assert body["bundle"]["keyid"] == admin.key_id_hex
    assert decision(server) == "deny"
    server.daemon.ledger.store.flush()
    leaf = server.daemon.ledger.store.entry(body["index"]).leaf
    assert leaf is not None
    event = record_from_bytes(leaf)
    assert isinstance(event, EventRecord) and event.event == "policy.changed"
    assert event.data["sha256"] == body["sha256"] and event.data["previous"] == before
    assert event.data["signer"] == f"policy-admin+{admin.key_id_hex}"
    got = server.get("/v1/policy").json()
    assert got["sha256"] == body["sha256"] and got["bundle"]["keyid"] == admin.key_id_hex
    assert got["policy"]["name"] == "no-commands"
    assert (server.settings.home / "policy.bundle.json").read_bytes() == bundle


@pytest.mark.parametrize("case", ["untrusted", "tampered", "not-json", "extends-a-file",
                                  "bad-policy"])
def test_a_bad_bundle_is_refused_and_changes_nothing(server: Server, tmp_path: Path,
                                                     case: str) -> None:
    admin = LogKey.generate("policy-admin")
    trust(server, admin)
    (tmp_path / "local.yaml").write_text("version: 1\n")
    body = {
        "untrusted": sign_bundle(STRICT, LogKey.generate("mallory")),
        "tampered": sign_bundle(STRICT, admin).replace(b'"payload": "',
                                                       b'"payload": "AAAA'),
        "not-json": b"\x00\x01",
        "extends-a-file": sign_bundle(f"version: 1\nextends: [{tmp_path}/local.yaml]\n",
                                      admin),
        "bad-policy": sign_bundle("version: 1\nrules: 5\n", admin),
    }[case]
    size = server.daemon.ledger.store.size()
    before = server.daemon.engine.policy.sha256
    r = server.client.put("/v1/policy", content=body, headers=server.headers())
    assert r.status_code == 400, r.text
    code = r.json()["error"]["code"]
    assert code == ("E_POLICY_SCHEMA" if case == "bad-policy" else "E_BUNDLE")
    assert server.daemon.engine.policy.sha256 == before and decision(server) == "allow"
    assert not (server.settings.home / "policy.bundle.json").exists()
    server.daemon.ledger.store.flush()
    records = [record_from_bytes(e.leaf) for e in server.daemon.ledger.store.entries(
        size, server.daemon.ledger.store.size()) if e.leaf is not None]
    assert not any(isinstance(x, EventRecord) and x.event == "policy.changed"
                   for x in records)


def test_reload_rereads_the_workspace_policy(make_server: ServerFactory) -> None:
    server = make_server(policy=None)  # the workspace's .codor/policy.yaml
    policy_file = server.settings.home / "policy.yaml"
    assert server.daemon.policy_ref == str(policy_file)
    r = server.post("/v1/policy/reload")
    assert r.status_code == 200 and r.json()["changed"] is False
    policy_file.write_text(STRICT)
    body = server.post("/v1/policy/reload").json()
    assert body["changed"] is True and body["sha256"] == server.daemon.engine.policy.sha256
    assert decision(server) == "deny"
    policy_file.write_text("version: 1\nrules: [\n")
    r = server.post("/v1/policy/reload")
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_POLICY_YAML"
    assert decision(server) == "deny"  # the policy in use stays
    assert server.post("/v1/policy/reload", "operator").status_code == 403


def test_a_daemon_started_on_a_bundle_verifies_it(make_server: ServerFactory, tmp_path: Path
                                                  ) -> None:
    admin = LogKey.generate("ops")
    ws = tmp_path / "bundled"
    (ws / ".codor" / "policy-keys").mkdir(parents=True)
    (ws / ".codor" / "policy-keys" / "ops.pub").write_text(admin.vkey() + "\n")
    (ws / "team.bundle.json").write_bytes(sign_bundle(STRICT, admin))
    server = make_server(workspace=ws, policy="team.bundle.json")
    assert decision(server) == "deny"
    body = server.get("/v1/policy").json()
    assert body["bundle"] == {"file": "team.bundle.json", "keyid": admin.key_id_hex,
                              "signer": f"ops+{admin.key_id_hex}"}
    # reload verifies the bundle again
    assert server.post("/v1/policy/reload").json()["changed"] is False
    (ws / "team.bundle.json").write_bytes(sign_bundle(STRICT, LogKey.generate("ops")))
    r = server.post("/v1/policy/reload")
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_BUNDLE"
    # and a daemon refuses to start on a bundle it cannot trust
    with pytest.raises(CodorError) as info:
        make_server(workspace=ws, policy="team.bundle.json")
    assert info.value.code == "E_BUNDLE"
