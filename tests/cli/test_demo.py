"""``codor demo`` end to end against a real daemon (``codor serve`` as a child process): the
scripted session completes, its decisions are in the daemon's ledger, the dangerous command
is denied, the fabricated final report is blocked by claims verification, and an ask nobody
answers resolves by the daemon's approval timeout."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import run
from tests.integrations.daemon_process import DaemonProcess
from tests.integrations.hooks.conftest import records


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    root = tmp_path / "demo"
    root.mkdir()
    assert run("init", cwd=root).returncode == 0
    started = DaemonProcess(root, env={"CODOR_SERVE_APPROVAL_TIMEOUT_S": "2",
                                       "CODOR_SERVE_APPROVAL_WAIT_S": "5"})
    yield started
    started.stop()


def test_the_demo_against_a_daemon(daemon: DaemonProcess) -> None:
    ws = daemon.workspace
    result = run("demo", "--url", daemon.url, "--token", daemon.token, "--workspace", str(ws),
                 "--approval-wait", "8", cwd=ws)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    session = re.search(r"session (demo-[0-9a-f]+)", out)
    assert session is not None
    lines = {line.split("] ", 1)[1].split("  ")[0]: line for line in out.splitlines()
             if line.startswith("[")}
    assert "DENY" in lines["Bash rm -rf /"] and "commands.rm_outside_workspace" in out
    assert "DENY" in lines["Read .env (a secret)"]
    assert "ALLOW" in lines["Read calc.py"]
    # nobody approved: the daemon's approval expired after 2 s and its timeout effect applies
    write = lines["Write .git/hooks/pre-commit"]
    assert "DENY" in write and "approval" in write, write
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()
    stop = next(line for line in out.splitlines() if "Stop:" in line)
    assert "BLOCK" in stop and "contradicted" in stop

    # the daemon commits events within its group-commit window (0.5 s): read until it has
    deadline = time.monotonic() + 10
    while True:
        mine = [r for r in records(ws, 200) if r.get("session") == session[1]]
        if any(r.get("event") == "claims.verification" for r in mine) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.2)
    decisions = [(r["action"]["kind"], r["decision"]["decision"]) for r in mine
                 if r["type"] == "decision"]
    assert ("command.exec", "deny") in decisions and ("file.read", "allow") in decisions
    assert any(kind == "file.write" and d == "ask" for kind, d in decisions)
    events = {r["event"]: r for r in mine if r["type"] == "event"}
    assert events["claims.verification"]["data"]["stop"] == "block"
    assert events["claims.verification"]["data"]["passed"] is False
    assert "agent.session_start" in events and "agent.final_report" in events
    assert sum(r["type"] == "outcome" for r in mine) >= 3


def test_the_demo_starts_its_own_daemon(tmp_path: Path) -> None:
    ws = tmp_path / "own"
    result = run("demo", "--serve", "--exit", "--workspace", str(ws), "--approval-wait", "2",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"dashboard http://127\.0\.0\.1:\d+/ +\(admin key: codor_", result.stdout)
    assert "BLOCK" in result.stdout and (ws / ".codor" / "ledger.db").is_file()


def test_the_demo_needs_a_daemon(tmp_path: Path) -> None:
    result = run("demo", "--workspace", str(tmp_path / "x"), cwd=tmp_path,
                 env={"CODOR_URL": "", "CODOR_TOKEN": ""})
    assert result.returncode == 2 and "--serve" in result.stderr


def test_a_failing_git_is_a_warning_not_a_traceback(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from codor.cli import demo
    from codor.workspace import Workspace

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\necho 'fatal: no space left' >&2\nexit 128\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")
    demo._project(tmp_path / "ws")
    err = capsys.readouterr().err
    assert "`git init` failed (fatal: no space left)" in err
    assert Workspace.at(tmp_path / "ws").has_ledger()  # the demo goes on


def test_a_daemon_that_never_announces_itself_is_waited_for_until_a_deadline() -> None:
    import subprocess

    from codor.cli import demo

    proc = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = demo._reader(proc.stdout)
        started = time.monotonic()
        assert demo._next_line(lines, started + 0.3) is None
        assert 0.25 <= time.monotonic() - started < 5
    finally:
        demo._end(proc)
    assert proc.returncode is not None
    while demo._next_line(lines, time.monotonic() + 5) is not None:  # to its end: closed
        pass
    assert proc.stdout.closed
