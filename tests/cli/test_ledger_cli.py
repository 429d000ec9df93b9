"""``codor init``, ``codor check`` recording, ``codor ledger verify|prove|checkpoint|tail``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.test_cli import run


def test_init_check_verify_prove(tmp_path: Path) -> None:
    init = run("init", cwd=tmp_path)
    assert init.returncode == 0 and "created log key" in init.stdout
    assert (tmp_path / ".codor" / "keys" / "log.key").stat().st_mode & 0o077 == 0
    again = run("init", cwd=tmp_path)
    assert "already holds" in again.stdout

    lines = '{"kind": "file.read", "path": "a"}\n{"kind": "command.exec", "command": "ls"}\n'
    assert run("check", "-", stdin=lines, cwd=tmp_path).returncode == 0
    tail = run("ledger", "tail", "-n", "5", cwd=tmp_path)
    kinds = [json.loads(line)["record"]["type"] for line in tail.stdout.splitlines()]
    assert kinds == ["session.start", "decision", "decision"]

    verify = run("ledger", "verify", "--json", cwd=tmp_path)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True
    proof = run("ledger", "prove", "1", cwd=tmp_path)
    assert proof.returncode == 0
    assert proof.stdout.startswith("c2sp.org/tlog-proof@v1\nindex 1\n")
    assert "\n— " in proof.stdout  # the signed checkpoint travels with the proof


def test_no_record_leaves_the_ledger_alone(tmp_path: Path) -> None:
    run("init", cwd=tmp_path)
    run("check", "--no-record", '{"kind": "file.read", "path": "a"}', cwd=tmp_path)
    tail = run("ledger", "tail", cwd=tmp_path)
    assert tail.stdout == ""


def test_verify_names_the_first_bad_index(tmp_path: Path) -> None:
    run("init", cwd=tmp_path)
    for i in range(3):
        run("check", f'{{"kind": "file.read", "path": "f{i}"}}', cwd=tmp_path)
    run("ledger", "checkpoint", cwd=tmp_path)
    conn = sqlite3.connect(tmp_path / ".codor" / "ledger.db")
    for (name,) in list(conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE bodies SET leaf = CAST('{}' AS BLOB) WHERE idx = 3")
    conn.commit()
    conn.close()
    result = run("ledger", "verify", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED at index 3:")


def test_ledger_commands_without_init_fail_clearly(tmp_path: Path) -> None:
    result = run("ledger", "verify", cwd=tmp_path)
    assert result.returncode == 2
    assert "run `codor init`" in result.stderr and "[E_WORKSPACE]" in result.stderr


def test_configured_sinks_receive_every_recorded_entry(tmp_path: Path) -> None:
    run("init", cwd=tmp_path)
    copy = tmp_path / "copy.jsonl"
    (tmp_path / ".codor" / "sinks.yaml").write_text(
        f"sinks:\n  - {{type: jsonl, path: {copy}}}\n", encoding="utf-8")
    lines = '{"kind": "file.read", "path": "a"}\n{"kind": "file.list", "path": "."}\n'
    assert run("check", "-", stdin=lines, cwd=tmp_path).returncode == 0
    got = [json.loads(line) for line in copy.read_text().splitlines()]
    assert [g["index"] for g in got] == [0, 1, 2]
    assert [g["record"]["type"] for g in got] == ["session.start", "decision", "decision"]


def test_bad_sinks_file_is_a_clear_error(tmp_path: Path) -> None:
    run("init", cwd=tmp_path)
    (tmp_path / ".codor" / "sinks.yaml").write_text("sinks:\n  - {type: carrier-pigeon}\n",
                                                     encoding="utf-8")
    result = run("check", '{"kind": "file.read", "path": "a"}', cwd=tmp_path)
    assert result.returncode == 2
    assert "(sink 1)" in result.stderr and "[E_SINK_CONFIG]" in result.stderr


def test_verify_from_a_saved_checkpoint(tmp_path: Path) -> None:
    run("init", cwd=tmp_path)
    run("check", '{"kind": "file.read", "path": "a"}', cwd=tmp_path)
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(run("ledger", "checkpoint", cwd=tmp_path).stdout)
    run("check", '{"kind": "file.read", "path": "b"}', cwd=tmp_path)
    ok = run("ledger", "verify", "--from-checkpoint", str(saved), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a checkpoint of another log (same key, different history) is refused
    other = tmp_path / "other"
    other.mkdir()
    run("init", cwd=other)
    for i in range(3):
        run("check", f'{{"kind": "file.read", "path": "x{i}"}}', cwd=other)
    foreign = tmp_path / "foreign.checkpoint"
    foreign.write_text(run("ledger", "checkpoint", cwd=other).stdout)
    bad = run("ledger", "verify", "--from-checkpoint", str(foreign), cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.startswith("FAILED at checkpoint:")
