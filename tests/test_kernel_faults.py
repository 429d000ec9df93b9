"""A store that cannot be written fails closed: ``codor check`` answers a deny naming the ledger
failure (rule ``ledger.unavailable``, code ``E_LEDGER_STORE``, one line), exits 0 as for any
deny, prints nothing on stderr, and what was recorded before still verifies.

Real faults, no mocks: the tests run as root, so file permissions would not stop a write.
A full disk is a ``codor check`` process whose file size limit (``RLIMIT_FSIZE``, with
``SIGXFSZ`` ignored) makes SQLite's write-ahead log writes fail with ``EFBIG`` past 36 KiB;
a read-only store is a read-only bind mount of ``.codor/`` in a private mount namespace
(``unshare -m``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CODOR = str(Path(sys.executable).with_name("codor"))
#: Above the 32 KiB the -shm file needs (so the ledger opens and small transactions commit),
#: far below the write-ahead log of an 80 KB record.
FSIZE_LIMIT = 36 * 1024


def codor(*args: str, cwd: Path, stdin: str = "", limit: int | None = None,
          prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if k not in ("CODOR_HOME", "CODOR_DEBUG")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([*prefix, CODOR, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60, check=False, preexec_fn=limited)


def entries(workspace: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(workspace / ".codor" / "ledger.db")
    try:
        rows = conn.execute("SELECT b.leaf FROM entries e JOIN bodies b ON b.idx = e.idx "
                            "ORDER BY e.idx").fetchall()
    finally:
        conn.close()
    return [json.loads(leaf) for (leaf,) in rows]


def verified(workspace: Path, *, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    result = codor("ledger", "verify", "--json", cwd=workspace, prefix=prefix)
    assert result.returncode == 0, (result.stdout, result.stderr)
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["ok"] is True and report["first_bad_index"] is None
    return report


def assert_fails_closed(result: subprocess.CompletedProcess[str], failure: str) -> None:
    """One deny on stdout, led by the ledger failure; exit 0 (a deny is a success); no
    traceback, nothing at all on stderr."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    decision = json.loads(line)
    assert decision["decision"] == "deny"
    first = decision["reasons"][0]
    assert first["rule"] == "ledger.unavailable" and first["severity"] == "critical"
    message = first["message"]
    assert "\n" not in message
    assert message.startswith("the decision could not be recorded [E_LEDGER_STORE]: ")
    assert failure in message and message.endswith("; denied"), message
    # without the fault the policy allows it: the deny comes from the ledger alone
    assert [r["rule"] for r in decision["reasons"][1:]] == ["commands.allow"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    assert codor("init", cwd=tmp_path).returncode == 0
    first = codor("check", '{"kind": "command.exec", "command": "ls", "session": "before"}',
                  cwd=tmp_path)
    assert first.returncode == 0 and json.loads(first.stdout)["decision"] == "allow"
    return tmp_path


def test_disk_full_turns_an_allow_into_a_deny_and_keeps_the_ledger(workspace: Path) -> None:
    before = entries(workspace)
    assert [e["type"] for e in before] == ["session.start", "decision"]
    small = '{"kind": "command.exec", "command": "ls -l", "session": "full"}'
    result = codor("check", small, cwd=workspace, limit=FSIZE_LIMIT)
    assert json.loads(result.stdout)["decision"] == "allow"  # small records still fit
    big = json.dumps({"kind": "command.exec", "command": "echo " + "x" * 80_000,
                      "session": "full"})
    result = codor("check", big, cwd=workspace, limit=FSIZE_LIMIT)
    assert_fails_closed(result, "disk I/O error")
    after = entries(workspace)
    assert after[:2] == before
    # the big decision left no trace; everything acknowledged before it is there and verifies
    assert [(e["type"], e["session"]) for e in after[2:]] == [
        ("session.start", "full"), ("decision", "full"), ("session.start", "full")]
    assert "x" * 1000 not in json.dumps(after)
    assert verified(workspace)["size"] == 5
    again = codor("check", big, cwd=workspace)  # room again: recorded and allowed
    assert json.loads(again.stdout)["decision"] == "allow"
    assert verified(workspace)["size"] == 7


def read_only_mount(workspace: Path) -> tuple[str, ...]:
    """A command prefix running the rest in a mount namespace where ``.codor`` is read-only."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "true"], capture_output=True,
                                         check=False).returncode != 0:
        pytest.fail("this test needs `unshare -m` (util-linux, run as root)")
    home = str(workspace / ".codor")
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    return (unshare, "-m", "sh", "-c", script, "sh", home)


def test_read_only_store_turns_an_allow_into_a_deny_and_still_verifies(
        workspace: Path) -> None:
    ro = read_only_mount(workspace)
    probe = subprocess.run([*ro, "touch", str(workspace / ".codor" / "probe")],
                           capture_output=True, text=True, check=False)
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr  # root cannot
    before = entries(workspace)
    result = codor("check", '{"kind": "command.exec", "command": "ls", "session": "ro"}',
                   cwd=workspace, prefix=ro)
    assert_fails_closed(result, "is read-only (Read-only file system): nothing can be recorded")
    lines = "".join(f'{{"kind": "command.exec", "command": "ls {i}"}}\n' for i in range(3))
    several = codor("check", "-", stdin=lines, cwd=workspace, prefix=ro)
    assert several.returncode == 0 and several.stderr == ""
    assert [json.loads(line)["decision"] for line in several.stdout.splitlines()] == ["deny"] * 3
    # the read-only ledger can still be read and verified there, and nothing changed
    assert verified(workspace, prefix=ro)["size"] == len(before)
    assert entries(workspace) == before
    assert verified(workspace)["size"] == len(before)
