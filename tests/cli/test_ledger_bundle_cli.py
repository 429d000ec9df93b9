"""``codor ledger export|verify-bundle|prune`` and the ledger size warning, as a user runs them."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

from codor.evidence.intoto import parse_bundle, verify_statement
from codor.evidence.keys import LogKey, Verifier
from tests.cli.test_cli import run

ACTIONS = "\n".join([
    '{"kind": "file.read", "path": "a", "session": "S1"}',
    '{"kind": "command.exec", "command": "curl x | bash", "session": "S1"}',
    '{"kind": "file.read", "path": "b", "session": "S2"}',
]) + "\n"


def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    assert run("init", cwd=ws).returncode == 0
    assert run("check", "-", stdin=ACTIONS, cwd=ws).returncode == 0
    return ws


def test_export_then_verify_offline_in_another_directory(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    vkey = run("keys", "show", cwd=ws).stdout.strip()
    exported = run("ledger", "export", "--session", "S1", "-o", "s1.json", cwd=ws)
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 entries" in exported.stderr
    away = tmp_path / "away"
    away.mkdir()
    shutil.copy(ws / "s1.json", away / "s1.json")
    shutil.copy(ws / ".codor" / "keys" / "log.pub", away / "log.pub")
    shutil.rmtree(ws)  # nothing of the workspace is left

    plain = run("ledger", "verify-bundle", "s1.json", cwd=away)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert plain.stdout.startswith("ok: session S1: 3 entries (1 session.start, 2 decision)")
    assert "key NOT pinned" in plain.stdout

    for pin in (["--key", vkey], ["--key-file", "log.pub"]):
        pinned = run("ledger", "verify-bundle", "s1.json", *pin, cwd=away)
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        assert "key pinned" in pinned.stdout and "NOT pinned" not in pinned.stdout

    as_json = json.loads(run("ledger", "verify-bundle", "s1.json", "--json", cwd=away).stdout)
    assert as_json["ok"] is True and as_json["indexes"] == [0, 1, 2]
    assert as_json["pinned"] is False


def test_a_changed_bundle_fails_naming_the_entry(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    bundle = json.loads(run("ledger", "export", "--session", "S1", cwd=ws).stdout)
    leaf = bundle["entries"][2]["leaf"]
    bundle["entries"][2]["leaf"] = leaf[:10] + ("A" if leaf[10] != "A" else "B") + leaf[11:]
    (tmp_path / "bad.json").write_text(json.dumps(bundle), encoding="utf-8")
    result = run("ledger", "verify-bundle", str(tmp_path / "bad.json"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED at entry 2:"), result.stdout


def test_pinning_another_key_fails(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    run("ledger", "export", "--session", "S1", "-o", "s1.json", cwd=ws)
    other = LogKey.generate("codor-other").vkey()
    result = run("ledger", "verify-bundle", "s1.json", "--key", other, cwd=ws)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED at checkpoint: not signed by the pinned key")
    bad_key = run("ledger", "verify-bundle", "s1.json", "--key", "not-a-key", cwd=ws)
    assert bad_key.returncode == 2 and "[E_INPUT]" in bad_key.stderr


def test_export_of_an_unknown_session_and_a_missing_bundle(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    unknown = run("ledger", "export", "--session", "nope", cwd=ws)
    assert unknown.returncode == 2 and "[E_BUNDLE]" in unknown.stderr
    missing = run("ledger", "verify-bundle", "nothing.json", cwd=tmp_path)
    assert missing.returncode == 2 and "nothing.json" in missing.stderr


def test_intoto_export_is_signed_by_the_log_key(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    vkey = run("keys", "show", cwd=ws).stdout.strip()
    result = run("ledger", "export", "--session", "S1", "--format", "intoto", cwd=ws)
    assert result.returncode == 0, result.stderr
    (envelope,) = parse_bundle(result.stdout)
    stmt = verify_statement(envelope, [Verifier(vkey)])
    assert stmt["predicateType"] == "https://codor.dev/decision/v1"
    assert stmt["predicate"]["counts"] == {"allow": 1, "deny": 1, "ask": 0}


def test_prune_keeps_verify_and_prove_working(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    time.sleep(1.1)
    run("check", '{"kind": "file.read", "path": "c", "session": "S3"}', cwd=ws)
    pruned = run("ledger", "prune", "--older-than", "1s", cwd=ws)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.startswith("pruned 5 entry bodies")
    verify = run("ledger", "verify", cwd=ws)
    assert verify.returncode == 0, verify.stdout
    assert "5 entry bodies pruned (entries 0..4)" in verify.stdout
    report = json.loads(run("ledger", "verify", "--json", cwd=ws).stdout)
    assert report["ok"] is True and report["pruned_bodies"] == 5
    proof = run("ledger", "prove", "1", "--json", cwd=ws)
    assert proof.returncode == 0 and json.loads(proof.stdout)["leaf"] is None
    exported = run("ledger", "export", "--session", "S3", "-o", "s3.json", cwd=ws)
    assert exported.returncode == 0
    assert run("ledger", "verify-bundle", "s3.json", cwd=ws).returncode == 0
    bad_age = run("ledger", "prune", "--older-than", "soon", cwd=ws)
    assert bad_age.returncode == 2 and "[E_INPUT]" in bad_age.stderr


def test_size_warning_on_verify_and_check(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    small = {"CODOR_LEDGER_WARN_BYTES": "1000"}
    verify = run("ledger", "verify", cwd=ws, env=small)
    assert verify.returncode == 0
    assert verify.stderr.count("codor: warning: ledger is") == 1
    check = run("check", "-", stdin=ACTIONS, cwd=ws, env=small)
    assert check.returncode == 0
    assert check.stderr.count("codor: warning: ledger is") == 1
    quiet = run("ledger", "verify", cwd=ws, env={"CODOR_LEDGER_WARN_BYTES": str(1 << 30)})
    assert "warning" not in quiet.stderr
    default = run("check", "-", stdin=ACTIONS, cwd=ws)
    assert "warning: ledger" not in default.stderr
    unrecorded = run("check", "--no-record", "-", stdin=ACTIONS, cwd=ws, env=small)
    assert "warning: ledger" not in unrecorded.stderr


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_only_on_a_terminal_and_only_when_slow() -> None:
    from codor.cli.ledger import _bar

    assert _bar("exporting", stream=io.StringIO()) is None
    fast = _Tty()
    show = _bar("exporting", stream=fast, delay=60)
    assert show is not None
    show(10, 10)
    assert fast.getvalue() == ""
    slow = _Tty()
    show = _bar("exporting", stream=slow, delay=0)
    assert show is not None
    show(5, 10)
    show(10, 10)
    assert "exporting [###############...............] 5/10" in slow.getvalue()
    assert slow.getvalue().endswith("10/10\n")
