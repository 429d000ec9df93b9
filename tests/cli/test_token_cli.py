"""``codor token issue|delegate|revoke``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from codor.cli.main import main
from codor.model import Action
from codor.policy.guards.base import EvalContext
from codor.policy.tokens import TokenVerifier, read_claims
from codor.policy.tokenstore import StateRevocationList, trusted_issuers
from codor.statedb import StateDB

CODOR = str(Path(sys.executable).with_name("codor"))


@pytest.fixture(autouse=True)
def _no_codor_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODOR_HOME", raising=False)


def codor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_issue_makes_the_issuer_key_and_a_verifiable_token(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = codor(capsys, "token", "issue", "-w", str(tmp_path), "--sub", "a1",
                           "--kinds", "file.read,file.write", "--paths", "src/**",
                           "--ttl", "3600", "--uses", "100", "--sandbox", "sb1")
    assert code == 0, err
    token = out.strip()
    claims = read_claims(token)
    assert (claims.sub, claims.kinds, claims.paths, claims.uses, claims.sandbox) == \
        ("a1", ("file.read", "file.write"), ("src/**",), 100, "sb1")
    assert claims.id in err
    key = tmp_path / ".codor" / "keys" / "token.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    verifier = TokenVerifier(trusted_issuers(tmp_path / ".codor"), workspace=str(tmp_path))
    action = Action.create("file.read", path=str(tmp_path / "src" / "a.py"), agent="a1",
                           meta={"sandbox": "sb1"})
    assert verifier.check(token, action, EvalContext(claims.nbf + 1, str(tmp_path), "/")).valid
    # a second issue reuses the key
    code, out, _ = codor(capsys, "token", "issue", "-w", str(tmp_path), "--sub", "a2",
                         "--kinds", "file.read", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["claims"]["iss"] == claims.iss and shown["claims"]["uses"] == 1


def test_delegate_attenuates_and_refuses_to_widen(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = codor(capsys, "token", "issue", "-w", str(tmp_path), "--sub", "a1",
                      "--kinds", "file.read,file.write", "--paths", "src/**", "--uses", "10")
    parent = out.strip()
    code, out, err = codor(capsys, "token", "delegate", parent, "-w", str(tmp_path),
                           "--kinds", "file.read", "--paths", "src/lib/**", "--ttl", "60",
                           "--uses", "3", "--json")
    assert code == 0, err
    child = json.loads(out)
    assert child["claims"]["parent"] == read_claims(parent).id
    assert "proof" not in child["claims"]
    assert read_claims(child["token"]).proof == parent
    code, _, err = codor(capsys, "token", "delegate", parent, "-w", str(tmp_path),
                         "--kinds", "command.exec")
    assert code == 2 and "exceeds the parent's kinds" in err and "[E_TOKEN]" in err
    code, _, err = codor(capsys, "token", "delegate", parent, "-w", str(tmp_path),
                         "--uses", "11")
    assert code == 2 and "more uses" in err


def test_revoke_by_token_or_id_goes_to_the_state_db(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = codor(capsys, "token", "issue", "-w", str(tmp_path), "--sub", "a1",
                      "--kinds", "file.read")
    token = out.strip()
    code, out, _ = codor(capsys, "token", "revoke", token, "-w", str(tmp_path),
                         "--reason", "leaked")
    assert code == 0 and read_claims(token).id in out
    code, _, _ = codor(capsys, "token", "revoke", "abc123", "-w", str(tmp_path))
    assert code == 0
    db = StateDB.open(tmp_path / ".codor" / "state.db")
    try:
        revoked = {r[0]: r[2] for r in StateRevocationList(db).revoked()}
    finally:
        db.close()
    assert revoked == {read_claims(token).id: "leaked", "abc123": ""}
    code, _, err = codor(capsys, "token", "revoke", "not an id", "-w", str(tmp_path))
    assert code == 2 and "E_USAGE" in err


def test_the_executable_issues_and_delegates_from_stdin(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODOR_HOME"}
    issued = subprocess.run([CODOR, "token", "issue", "--sub", "a1", "--kinds", "file.*"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert issued.returncode == 0, issued.stderr
    child = subprocess.run([CODOR, "token", "delegate", "-", "--kinds", "file.read"],
                           input=issued.stdout, cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    assert read_claims(child.stdout.strip()).kinds == ("file.read",)
    missing = subprocess.run([CODOR, "token", "issue", "--kinds", "file.read"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2


def _check(tmp_path: Path, env: dict[str, str], action: dict[str, object],
           *extra: str) -> dict[str, object]:
    done = subprocess.run([CODOR, "check", *extra, json.dumps(action)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_hooks_and_check_honour_workspace_tokens_with_uses_counted_across_processes(
        tmp_path: Path) -> None:
    """Each ``codor check`` is its own process, as each hook call is: the token's uses are
    counted in .codor/state.db, a dry run (--no-record) spends none, a revocation holds, and
    the issue and revocation are in the ledger."""
    env = {k: v for k, v in os.environ.items() if k != "CODOR_HOME"}
    assert subprocess.run([CODOR, "init"], cwd=tmp_path, env=env, capture_output=True,
                          timeout=60, check=False).returncode == 0
    (tmp_path / ".codor" / "policy.yaml").write_text("version: 1\nname: nothing\nrules: []\n")
    write = {"kind": "file.write", "path": "src/a.py", "content": "x", "session": "s1",
             "agent": {"id": "a1"}}
    assert _check(tmp_path, env, write)["decision"] == "deny"
    issued = subprocess.run([CODOR, "token", "issue", "--sub", "a1", "--kinds", "file.write",
                             "--paths", "src/**", "--uses", "2"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert issued.returncode == 0, issued.stderr
    with_token = {**write, "token": issued.stdout.strip()}
    assert _check(tmp_path, env, with_token, "--no-record")["decision"] == "allow"
    decided = [_check(tmp_path, env, with_token)["decision"] for _ in range(3)]
    assert decided == ["allow", "allow", "deny"]

    second = subprocess.run([CODOR, "token", "issue", "--sub", "a1", "--kinds", "file.write",
                             "--uses", "9"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60, check=False).stdout.strip()
    assert _check(tmp_path, env, {**write, "token": second})["decision"] == "allow"
    assert subprocess.run([CODOR, "token", "revoke", second, "--reason", "done"], cwd=tmp_path,
                          env=env, capture_output=True, timeout=60,
                          check=False).returncode == 0
    refused = _check(tmp_path, env, {**write, "token": second})
    assert refused["decision"] == "deny"
    assert any("revoked" in str(w) for w in refused["warnings"])  # type: ignore[attr-defined]

    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes
    from codor.workspace import Workspace

    ledger = Workspace.at(tmp_path).open_ledger(signing=False)
    try:
        events = [r for r in (record_from_bytes(e.leaf) for e in
                              ledger.store.entries(0, ledger.store.size()) if e.leaf)
                  if isinstance(r, EventRecord) and r.event.startswith("token.")]
    finally:
        ledger.close()
    assert [e.event for e in events] == ["token.issued", "token.issued", "token.revoked"]
    assert events[2].data["reason"] == "done"
    assert all(e.session == "codor-admin" for e in events)


def test_a_broken_issuer_key_fails_closed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODOR_HOME"}
    (tmp_path / ".codor" / "keys").mkdir(parents=True)
    (tmp_path / ".codor" / "keys" / "token.pub").write_text("not a key")
    done = subprocess.run([CODOR, "check", json.dumps({"kind": "file.read", "path": "a"})],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0 and done.stdout == ""
    assert "token.pub is not a PEM public key" in done.stderr and "E_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
