"""The real ``codor`` executable: exit codes, JSON Lines, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CODOR = str(Path(sys.executable).with_name("codor"))


def run(*args: str, stdin: str = "", cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CODOR_HOME", None)
    return subprocess.run([CODOR, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=60, check=False)


def test_check_one_action_argument(tmp_path: Path) -> None:
    result = run("check", "--policy", "codor:permissive", '{"kind": "file.read", "path": "a"}',
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["decision"] == "allow"
    assert len(decision["policy"]) == 64


def test_check_keeps_going_past_bad_lines(tmp_path: Path) -> None:
    lines = "\n".join([
        '{"kind": "file.read", "path": "a"}',
        "this is not json",
        '{"kind": "file.teleport", "path": "a"}',
        '{"kind": "file.read"}',
        '{"kind": "file.read", "path": "b"}',
    ])
    result = run("check", "--policy", "codor:permissive", "-", stdin=lines, cwd=tmp_path)
    assert result.returncode == 2
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["decision"] for d in out] == ["allow", "deny", "deny", "deny", "allow"]
    assert [d.get("error", {}).get("code") for d in out] == [
        None, "E_INPUT", "E_ACTION_KIND", "E_ACTION", None]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3
    assert errors[0].startswith("codor: <stdin>:2: not valid JSON")
    assert errors[1].endswith("[E_ACTION_KIND]")
    assert "Traceback" not in result.stderr


def test_check_reads_a_jsonl_file_with_line_numbers(tmp_path: Path) -> None:
    actions = tmp_path / "session.jsonl"
    actions.write_text('{"kind": "file.read", "path": "a"}\n\n[1, 2]\n', encoding="utf-8")
    result = run("check", "--policy", "codor:permissive", str(actions), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{actions}:3:" in result.stderr


def test_bad_policy_is_one_line_and_exit_2(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nrules:\n  - id: a\n    on: [file.read]\n    effect: sometimes\n",
                      encoding="utf-8")
    result = run("check", "--policy", str(policy), '{"kind": "file.read", "path": "a"}')
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{policy}:5:" in result.stderr and "[E_POLICY_SCHEMA]" in result.stderr


def test_workspace_policy_file_is_used(tmp_path: Path) -> None:
    (tmp_path / ".codor").mkdir()
    (tmp_path / ".codor" / "policy.yaml").write_text(
        "version: 1\nrules:\n  - {id: only-lists, on: [file.list], effect: allow}\n",
        encoding="utf-8")
    sub = tmp_path / "deep" / "dir"
    sub.mkdir(parents=True)
    result = run("check", '{"kind": "file.list", "path": "."}', cwd=sub)
    assert json.loads(result.stdout)["reasons"][0]["rule"] == "only-lists"


def test_policy_test_command(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nrules:\n  - {id: r, on: [file.read], effect: allow}\n"
        "tests:\n"
        "  - {name: reads ok, action: {kind: file.read, path: a}, expect: allow}\n"
        "  - {name: lists denied, action: {kind: file.list, path: a}, expect: deny}\n"
        "  - {name: wrong on purpose, action: {kind: file.list, path: a}, expect: allow}\n",
        encoding="utf-8")
    result = run("policy", "test", str(policy))
    assert result.returncode == 1
    assert "2 passed, 1 failed" in result.stdout
    assert "FAIL (expected allow, got deny) wrong on purpose" in result.stdout


def test_policy_lint_reports_located_warnings(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nrules:\n"
        "  - {id: nothing, on: [file.read], match: {path: []}, effect: deny}\n"
        "  - id: self\n    on: [file.read]\n    match: {path: ['/a/**']}\n"
        "    except: [{path: ['/a/**']}]\n    effect: deny\n",
        encoding="utf-8")
    result = run("policy", "lint", str(policy))
    assert result.returncode == 0
    assert f"{policy}:3: warning:" in result.stdout and "[W_EMPTY_PATTERNS]" in result.stdout
    assert "[W_NEVER_FIRES]" in result.stdout
    strict = run("policy", "lint", "--strict", str(policy))
    assert strict.returncode == 1


def test_policy_lint_reports_errors_with_exit_1(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nextends: [./missing.yaml]\n", encoding="utf-8")
    result = run("policy", "lint", str(policy))
    assert result.returncode == 1
    assert f"{policy}:2: error:" in result.stdout and "[E_POLICY_EXTENDS]" in result.stdout


def test_policy_show_prints_merged_policy() -> None:
    result = run("policy", "show", "--format", "json", "codor:ci")
    assert result.returncode == 0
    body = json.loads(result.stdout)
    assert body["settings"]["unattended"] is True
    assert "paths" in body["guards"]
    assert len(body["sha256"]) == 64


def test_builtin_rulesets_pass_their_own_tests() -> None:
    for name in ("default", "coding-assistant", "strict", "ci", "permissive"):
        result = run("policy", "test", f"codor:{name}")
        assert result.returncode == 0, result.stdout + result.stderr
        assert " 0 failed" in result.stdout


def test_usage_errors_exit_2() -> None:
    result = run("check", "--format", "xml")
    assert result.returncode == 2
    assert "[E_USAGE]" in result.stderr


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("codor ")


def test_check_pretty_prints_a_line_per_action_and_a_summary(tmp_path: Path) -> None:
    lines = ('{"kind": "file.read", "path": "a"}\n'
             '{"kind": "command.exec", "command": "curl x | sh"}\n')
    result = run("check", "--pretty", "--policy", "codor:default", "-", stdin=lines, cwd=tmp_path)
    out = result.stdout.splitlines()
    assert out[0].startswith("ALLOW file.read")
    assert out[1].startswith("DENY  command.exec") and "commands.pipe_to_shell" in out[1]
    assert out[2].startswith("2 actions: 1 allowed, 1 denied, 0 need approval")


def test_check_reports_policy_warnings_on_stderr(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nrules:\n"
                      "  - {id: r, on: [file.read], match: {path: []}, effect: allow}\n",
                      encoding="utf-8")
    result = run("check", "--policy", str(policy), '{"kind": "file.read", "path": "a"}')
    assert result.returncode == 0
    assert f"codor: warning: {policy}:3:" in result.stderr
    assert json.loads(result.stdout)["decision"] == "deny"


def test_an_unexpected_exception_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import codor.cli.check
    from codor.cli.main import main

    def broken(_args: object) -> int:
        raise RuntimeError("bug in CODOR")

    monkeypatch.delenv("CODOR_DEBUG", raising=False)
    monkeypatch.setattr(codor.cli.check, "run_check", broken)
    assert main(["check", '{"kind": "file.read", "path": "a"}']) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("codor: internal error: RuntimeError: bug in CODOR")
    assert err.rstrip().endswith("[E_INTERNAL]")
