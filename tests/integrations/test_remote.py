"""Integrations against a real daemon (``CODOR_URL``): the real ``codor hook claude-code``
executable and the Python SDK decide through ``codor serve`` (a child process), the records land
in the daemon's ledger, and an unreachable daemon or a bad key is a deny — never an allow."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import run
from tests.integrations.daemon_process import DaemonProcess
from tests.integrations.hooks.conftest import records, sample


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    result = run("init", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def daemon(workspace: Path) -> Iterator[DaemonProcess]:
    started = DaemonProcess(workspace, env={"CODOR_SERVE_APPROVAL_WAIT_S": "0"})
    yield started
    started.stop()


def hook(daemon: DaemonProcess, event: dict[str, Any], *, token: str | None = None,
         url: str | None = None) -> subprocess.CompletedProcess[str]:
    result = run("hook", "claude-code", stdin=json.dumps(event), cwd=daemon.workspace,
                 env={"CODOR_URL": url or daemon.url,
                      "CODOR_TOKEN": daemon.token if token is None else token,
                      "CODOR_TIMEOUT": "3", "CODOR_APPROVAL_WAIT": "1"})
    assert "Traceback" not in result.stderr
    return result


def permission(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)["hookSpecificOutput"]
    return out["permissionDecision"], out["permissionDecisionReason"]


def ledger(workspace: Path, want: int = 1) -> list[dict[str, Any]]:
    """The daemon's ledger records (its allows are group-committed: wait a moment for them)."""
    for _ in range(50):
        found = records(workspace, 200)
        if len(found) >= want:
            return found
        time.sleep(0.1)
    return records(workspace, 200)


def test_the_hook_decides_through_the_daemon_and_it_records(daemon: DaemonProcess,
                                                            workspace: Path) -> None:
    (workspace / "app.py").write_text("print('hi')\n")
    read = sample("claude_code", "PreToolUse.Read", workspace, session_id="s-remote",
                  input__file_path=str(workspace / "app.py"))
    decision, reason = permission(hook(daemon, read))
    assert decision == "allow", reason
    rm = sample("claude_code", "PreToolUse.Bash", workspace, session_id="s-remote",
                input__command="rm -rf /")
    decision, reason = permission(hook(daemon, rm))
    assert decision == "deny" and "commands.rm_outside_workspace" in reason
    post = sample("claude_code", "PostToolUse.Bash", workspace, session_id="s-remote",
                  input__command="echo hi",
                  tool_response={"stdout": "hi\n", "stderr": "", "interrupted": False})
    done = hook(daemon, post)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    found = ledger(workspace, 4)
    mine = [r for r in found if r.get("session") == "s-remote"]
    kinds = [(r["type"], r.get("decision", {}).get("decision")) for r in mine]
    assert ("decision", "allow") in kinds and ("decision", "deny") in kinds
    outcome = next(r for r in mine if r["type"] == "outcome")
    assert outcome["observer"] == "claude-code-harness"


def test_a_stopped_daemon_means_deny(daemon: DaemonProcess, workspace: Path) -> None:
    url = daemon.url
    daemon.stop()
    read = sample("claude_code", "PreToolUse.Read", workspace, session_id="s-down",
                  input__file_path=str(workspace / "app.py"))
    started = time.monotonic()
    decision, reason = permission(hook(daemon, read, url=url))
    assert decision == "deny" and "daemon.unreachable" in reason
    assert time.monotonic() - started < 10
    # an outcome that cannot be reported: one line on stderr, the hook does not fail
    post = sample("claude_code", "PostToolUse.Bash", workspace, session_id="s-down")
    done = hook(daemon, post, url=url)
    assert done.returncode == 0
    assert done.stderr.count("\n") == 1 and "daemon.unreachable" in done.stderr


def test_nothing_listens_there(workspace: Path, tmp_path: Path) -> None:
    event = sample("claude_code", "PreToolUse.Write", workspace, session_id="s-none",
                   input__file_path=str(workspace / "x.py"), input__content="x = 1\n")
    result = run("hook", "claude-code", stdin=json.dumps(event), cwd=workspace,
                 env={"CODOR_URL": "http://127.0.0.1:9", "CODOR_TOKEN": "codor_x"})
    decision, reason = permission(result)
    assert decision == "deny" and "daemon.unreachable" in reason
    result = run("hook", "claude-code", stdin=json.dumps(event), cwd=workspace,
                 env={"CODOR_URL": "not a url", "CODOR_TOKEN": "codor_x"})
    assert permission(result)[0] == "deny"


def test_a_bad_key_is_denied(daemon: DaemonProcess, workspace: Path) -> None:
    event = sample("claude_code", "PreToolUse.Read", workspace, session_id="s-key",
                   input__file_path=str(workspace / "app.py"))
    decision, reason = permission(hook(daemon, event, token="codor_nope_nope"))
    assert decision == "deny" and "daemon.unauthorized" in reason
    decision, reason = permission(hook(daemon, event, token=""))
    assert decision == "deny" and "daemon.unauthorized" in reason and "CODOR_TOKEN" in reason


def test_the_token_file_must_be_private(daemon: DaemonProcess, workspace: Path) -> None:
    token = workspace / ".codor" / "token"
    token.write_text(daemon.token + "\n")
    token.chmod(0o600)
    event = sample("claude_code", "PreToolUse.Read", workspace, session_id="s-file",
                   input__file_path=str(workspace / "app.py"))
    assert permission(hook(daemon, event, token=""))[0] == "allow"
    token.chmod(0o644)
    result = hook(daemon, event, token="")
    assert permission(result)[0] == "deny" and "readable by others" in result.stderr


def test_the_stop_hook_is_verified_by_the_daemon(daemon: DaemonProcess,
                                                 workspace: Path) -> None:
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (workspace / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider"
    pre = sample("claude_code", "PreToolUse.Bash", workspace, session_id="s-stop",
                 tool_use_id="toolu_1", input__command=command)
    assert permission(hook(daemon, pre))[0] == "allow"
    done = subprocess.run(command.split(), cwd=workspace, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1
    post = sample("claude_code", "PostToolUseFailure.Bash", workspace, session_id="s-stop",
                  tool_use_id="toolu_1", input__command=command,
                  error=f"Exit code 1\n{done.stdout}{done.stderr}")
    assert hook(daemon, post).returncode == 0
    stop = sample("claude_code", "Stop", workspace, session_id="s-stop",
                  last_assistant_message="Fixed calc.py; all tests pass.")
    result = hook(daemon, stop)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["decision"] == "block" and "contradicted" in answer["reason"]
    events = [r for r in ledger(daemon.workspace, 5) if r["type"] == "event"
              and r.get("session") == "s-stop"]
    names = [r["event"] for r in events]
    assert "agent.final_report" in names and "claims.verification" in names
    verification = next(r for r in events if r["event"] == "claims.verification")
    assert verification["data"]["stop"] == "block" and verification["observer"] == "codor-engine"


def test_the_sdk_decides_through_the_daemon(daemon: DaemonProcess, workspace: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from codor.integrations.remote import RemoteKernel
    from codor.integrations.sdk import Guard

    monkeypatch.setenv("CODOR_URL", daemon.url)
    monkeypatch.setenv("CODOR_TOKEN", daemon.token)
    (workspace / "notes.txt").write_text("hello\n")
    with Guard(workspace=workspace, session="s-sdk", agent="sdk-agent") as guard:
        assert isinstance(guard.kernel, RemoteKernel)
        read = guard.decide("file.read", path=str(workspace / "notes.txt"))
        assert read.allowed and read.index is not None
        assert guard.execute(read, (workspace / "notes.txt").read_text) == "hello\n"
        secret = guard.decide("file.read", path="~/.ssh/id_rsa")
        assert secret.decision.decision == "deny"
        assert guard.kernel.engine.policy.sha256 == read.decision.policy
        from codor.integrations.sdk import EnforcedAgent

        agent = EnforcedAgent(guard)  # its report is verified by the daemon, which holds it
        failed = agent.validate_claims("Created `docs/api.md`.")
        assert failed.status == "failed" and "contradicted" in failed.reason
        honest = agent.validate_claims("I read notes.txt; nothing else was changed.")
        assert honest.status == "passed"
    mine = [r for r in ledger(workspace, 4) if r.get("session") == "s-sdk"]
    assert [r.get("decision", {}).get("decision") for r in mine if r["type"] == "decision"] \
        == ["allow", "deny"]
    outcome = next(r for r in mine if r["type"] == "outcome")
    assert outcome["observer"] == "agent-claim" and outcome["action_index"] == read.index


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://h:abc", "http://a..b:80",
                                 "ftp://127.0.0.1/"])
def test_a_bad_codor_url_is_a_deny_not_a_traceback(url: str, workspace: Path) -> None:
    from codor.integrations.remote import RemoteKernel
    from codor.model import Action

    kernel = RemoteKernel(url, "codor_x", workspace=str(workspace))
    decision, index = kernel.decide_and_index(Action.create("file.read", path="a"))
    assert (decision.decision, decision.reasons[0].rule, index) == (
        "deny", "daemon.unreachable", None)


def test_an_unreadable_token_file_is_not_used(workspace: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from codor.integrations.remote import read_token

    monkeypatch.delenv("CODOR_TOKEN", raising=False)
    token = workspace / ".codor" / "token"
    token.write_bytes(b"\xff\xfe not utf-8\n")
    token.chmod(0o600)
    monkeypatch.setenv("CODOR_TOKEN_FILE", str(token))
    assert read_token(str(workspace)) is None
    token.write_text("codor_abc\n")
    assert read_token(str(workspace)) == "codor_abc"
