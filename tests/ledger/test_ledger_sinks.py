"""A ledger's sinks see committed entries only — once each, in ledger order — and their
statistics are added up in ``.codor/sinks-stats.json`` for ``codor ledger sinks``.

Real parts only: SQLite files, a JSON Lines sink, a webhook sink pointed at a loopback port
where nothing listens, the ``codor`` command."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from codor.ledger.log import Ledger
from codor.ledger.sinks import JsonlSink, SinkFanout, WebhookSink
from codor.ledger.sinks.base import STATS_FORMAT, read_stats
from codor.ledger.sqlite import SQLiteStore
from codor.ledger.store import LedgerStoreError
from tests.cli.test_cli import run

ORIGIN = "codor.test/sinks"


def record(n: int, extra: str = "") -> bytes:
    return json.dumps({"type": "note", "n": n, "extra": extra}, sort_keys=True).encode()


def sent(path: Path) -> list[tuple[int, int]]:
    """``(ledger index, record n)`` of every line a JSON Lines sink wrote."""
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(line["index"], line["record"]["n"]) for line in lines]


def sql(path: Path, statement: str) -> None:
    """A statement from another connection (what an administrator or a full disk does)."""
    conn = sqlite3.connect(path, timeout=5)
    try:
        conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def ledger_with_sink(tmp_path: Path, **store_options: float) -> tuple[Ledger, Path, Path]:
    db, out = tmp_path / "ledger.db", tmp_path / "sink.jsonl"
    store = SQLiteStore(db, **store_options)  # type: ignore[arg-type]
    ledger = Ledger(store, origin=ORIGIN, key=None, verifiers=[],
                    sinks=SinkFanout([JsonlSink(out)]))
    return ledger, db, out


def test_rolled_back_entries_are_never_sent_and_committed_ones_once_in_order(
        tmp_path: Path) -> None:
    ledger, db, out = ledger_with_sink(tmp_path, flush_interval=60)
    try:
        assert ledger.append(record(0), durable=True) == 0
        assert sent(out) == [(0, 0)]
        ledger.append(record(1))
        ledger.append(record(2))
        assert sent(out) == [(0, 0)]  # appended, not yet committed: not sent
        ledger.store.flush()
        assert sent(out) == [(0, 0), (1, 1), (2, 2)]
        # the database now refuses one body: the batch holding it is rolled back as a whole
        sql(db, "CREATE TRIGGER refuse BEFORE INSERT ON bodies WHEN instr(NEW.leaf, 'refused')"
                " > 0 BEGIN SELECT RAISE(ABORT, 'refused by the database'); END")
        ledger.append(record(3))                   # index 3: rolled back with the batch
        ledger.append(record(4, extra="refused"))  # index 4: the row the database refuses
        with pytest.raises(LedgerStoreError, match=r"refused by the database.*entries 3\.\.4 "
                                                   r"were rolled back"):
            ledger.store.flush()
        assert sent(out) == [(0, 0), (1, 1), (2, 2)]  # neither of them was sent
        sql(db, "DROP TRIGGER refuse")
        assert ledger.append(record(5), durable=True) == 3  # the log goes on at index 3
        ledger.append(record(6))
    finally:
        ledger.close()  # commits entry 4 (record 6), sends it, then closes the sink
    assert sent(out) == [(0, 0), (1, 1), (2, 2), (3, 5), (4, 6)]
    store = SQLiteStore(db)
    try:  # what was sent is exactly what the ledger holds
        assert [(e.index, json.loads(e.leaf or b"")["n"]) for e in store.entries(0, 5)] == \
            sent(out)
    finally:
        store.close()


def test_a_failed_durable_append_is_not_sent(tmp_path: Path) -> None:
    ledger, db, out = ledger_with_sink(tmp_path, flush_interval=60)
    try:
        sql(db, "CREATE TRIGGER refuse BEFORE INSERT ON bodies WHEN instr(NEW.leaf, 'refused')"
                " > 0 BEGIN SELECT RAISE(ABORT, 'refused by the database'); END")
        with pytest.raises(LedgerStoreError, match="refused by the database"):
            ledger.append(record(0, extra="refused"), durable=True)
        assert ledger.sink_stats()["fanout"]["emitted"] == 0
    finally:
        ledger.close()
    assert sent(out) == []


def test_the_background_flusher_commit_is_sent(tmp_path: Path) -> None:
    ledger, _db, out = ledger_with_sink(tmp_path, flush_interval=0.05)
    try:
        ledger.append(record(0))
        ledger.append(record(1))
        deadline = time.monotonic() + 5
        while len(sent(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sent(out) == [(0, 0), (1, 1)]  # committed by the flusher thread, then sent
    finally:
        ledger.close()
    assert sent(out) == [(0, 0), (1, 1)]  # and never again at close


def test_close_sends_the_last_batch_before_closing_the_sinks(tmp_path: Path) -> None:
    ledger, _db, out = ledger_with_sink(tmp_path, flush_interval=60)
    ledger.append_many([record(n) for n in range(5)])
    assert sent(out) == []
    ledger.close()
    assert sent(out) == [(n, n) for n in range(5)]
    sink_stats = ledger.sink_stats()
    assert sink_stats[f"jsonl:{out}"]["sent"] == 5 and sink_stats[f"jsonl:{out}"]["dropped"] == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def test_statistics_add_up_across_runs_and_losses_are_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stats = tmp_path / "sinks-stats.json"
    port = closed_port()
    url = f"http://127.0.0.1:{port}/hook"

    def one_run(count: int) -> None:
        fanout = SinkFanout([JsonlSink(tmp_path / "out.jsonl"),
                             WebhookSink(url, max_retries=0, flush_interval=0.0, timeout=1.0)],
                            stats_path=stats)
        for n in range(count):
            fanout.emit(n, record(n))
        fanout.close(timeout=2.0)
        fanout.close()  # idempotent: counted once

    with caplog.at_level(logging.WARNING, logger="codor.ledger.sinks"):
        one_run(3)
    hook = f"webhook:{url}"
    assert any(hook in r.getMessage() and "3 failed in this run" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    first = read_stats(stats)
    assert first is not None and first["format"] == STATS_FORMAT and first["runs"] == 1
    assert first["sinks"][f"jsonl:{tmp_path / 'out.jsonl'}"]["sent"] == 3
    assert first["sinks"][hook]["failed"] == 3 and first["sinks"][hook]["sent"] == 0
    one_run(2)
    second = read_stats(stats)
    assert second is not None and second["runs"] == 2
    assert second["sinks"][f"jsonl:{tmp_path / 'out.jsonl'}"]["sent"] == 5
    assert second["sinks"][hook]["failed"] == 5
    assert second["sinks"]["fanout"]["emitted"] == 5
    assert second["last_run"]["sinks"][hook]["failed"] == 2
    assert second["since"] == first["since"]
    assert stats.stat().st_mode & 0o077 == 0


def test_codor_check_sends_each_entry_once_and_adds_up_statistics(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    (tmp_path / ".codor" / "sinks.yaml").write_text(
        f"sinks:\n  - {{type: jsonl, path: {tmp_path / 'evidence.jsonl'}}}\n", encoding="utf-8")
    lines = '{"kind": "file.read", "path": "a"}\n{"kind": "command.exec", "command": "ls"}\n'
    for _ in range(2):
        result = run("check", "-", stdin=lines, cwd=tmp_path)
        assert result.returncode == 0 and result.stderr == "", result.stderr
    # two runs, each a session start and two decisions, all sent once, in ledger order
    lines_sent = (tmp_path / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["index"] for line in lines_sent] == list(range(6))
    stats = read_stats(tmp_path / ".codor" / "sinks-stats.json")
    assert stats is not None and stats["runs"] == 2
    name = f"jsonl:{tmp_path / 'evidence.jsonl'}"
    assert stats["sinks"][name] == {"sent": 6, "failed": 0, "dropped": 0, "rotations": 0,
                                    "queued": 0, "emit_errors": 0}


def test_codor_ledger_sinks_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from codor.cli.ledger import run_ledger

    def show(as_json: bool = False) -> str:
        args = argparse.Namespace(command="ledger", ledger_command="sinks",
                                  workspace=str(tmp_path), json=as_json)
        assert run_ledger(args) == 0
        return capsys.readouterr().out

    assert run("init", cwd=tmp_path).returncode == 0
    assert "no sinks configured" in show() and "no sink statistics yet" in show()
    (tmp_path / ".codor" / "sinks.yaml").write_text(
        f"sinks:\n  - {{type: jsonl, path: {tmp_path / 'evidence.jsonl'}}}\n", encoding="utf-8")
    assert run("check", '{"kind": "file.read", "path": "a"}', cwd=tmp_path).returncode == 0
    text = show()
    assert "sink statistics of 1 run(s)" in text
    row = next(line.split() for line in text.splitlines() if "evidence.jsonl" in line)
    assert row[1:] == ["2", "0", "0", "0"]  # sent failed dropped queued
    assert "nothing dropped or failed" in text
    data = json.loads(show(as_json=True))
    assert data["configured"] is True
    assert data["stats"]["sinks"][f"jsonl:{tmp_path / 'evidence.jsonl'}"]["sent"] == 2


class StoreWithoutListeners(SQLiteStore):
    """A store that cannot report its commits (as a third-party LedgerStore may not)."""

    add_commit_listener = None  # type: ignore[assignment]


def test_without_commit_listeners_the_ledger_commits_before_it_sends(tmp_path: Path) -> None:
    out = tmp_path / "sink.jsonl"
    store = StoreWithoutListeners(tmp_path / "ledger.db", flush_interval=60)
    ledger = Ledger(store, origin=ORIGIN, key=None, verifiers=[],
                    sinks=SinkFanout([JsonlSink(out)]))
    try:
        assert ledger.append(record(0)) == 0
        assert sent(out) == [(0, 0)]
        other = SQLiteStore(tmp_path / "ledger.db")
        try:
            assert other.size() == 1  # what was sent is committed
        finally:
            other.close()
        assert ledger.append_many([record(1), record(2)]) == [1, 2]
    finally:
        ledger.close()
    assert sent(out) == [(0, 0), (1, 1), (2, 2)]
