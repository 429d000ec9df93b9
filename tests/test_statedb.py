"""The state database: one SQL dialect over SQLite and PostgreSQL, transactions, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from codor.statedb import StateDB, StateError


def test_sqlite_roundtrip_and_idempotent_migration(tmp_path: Path) -> None:
    db = StateDB.open(tmp_path / "sub" / "state.db")
    schema = ("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, n INTEGER, b BLOB)",)
    db.migrate(schema)
    db.migrate(schema)
    assert db.execute("INSERT INTO t VALUES (?, ?, ?)", ("a", 1, b"\x00")) == 1
    assert db.query("SELECT id, n, b FROM t WHERE id = ?", ("a",)) == [("a", 1, b"\x00")]
    db.close()


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = StateDB.open(tmp_path / "state.db")
    db.migrate(("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY)",))
    with pytest.raises(StateError), db.transaction():
        db.execute("INSERT INTO t VALUES (?)", ("a",))
        db.execute("INSERT INTO t VALUES (?)", ("a",))  # duplicate key
    assert db.query("SELECT id FROM t") == []
    with db.transaction(), db.transaction():  # nested: joins the outer one
        db.execute("INSERT INTO t VALUES (?)", ("b",))
    assert db.query("SELECT id FROM t") == [("b",)]


def test_two_handles_on_one_file_see_each_other(tmp_path: Path) -> None:
    a, b = StateDB.open(tmp_path / "s.db"), StateDB.open(tmp_path / "s.db")
    a.migrate(("CREATE TABLE IF NOT EXISTS t (n INTEGER)",))
    done = threading.Event()

    def writer() -> None:
        for i in range(50):
            with b.transaction():
                b.execute("INSERT INTO t VALUES (?)", (i,))
        done.set()

    threading.Thread(target=writer).start()
    for i in range(50):
        a.execute("INSERT INTO t VALUES (?)", (100 + i,))
    done.wait(10)
    assert a.query("SELECT COUNT(*) FROM t") == [(100,)]


def test_errors_are_one_line_state_errors_without_passwords(tmp_path: Path) -> None:
    db = StateDB.open(tmp_path / "s.db")
    with pytest.raises(StateError, match="no such table") as err:
        db.query("SELECT * FROM missing")
    assert err.value.code == "E_STATE"
    with pytest.raises(StateError) as err:
        StateDB.open("postgresql://user:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(err.value) and "***" in str(err.value)


def test_postgres_dialect() -> None:
    from tests.ledger import pgserver  # the suite's throwaway PostgreSQL server

    with pgserver.running() as server:
        dsn = server.dsn
        db = StateDB.open(dsn)
        db.migrate(("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, n INTEGER, b BLOB, "
                    "r REAL)",))
        db.execute("INSERT INTO t VALUES (?, ?, ?, ?)", ("a", 2**40, b"x", 1.5))
        assert db.query("SELECT id, n, b, r FROM t") == [("a", 2**40, b"x", 1.5)]
        other = StateDB.open(dsn)
        assert other.query("SELECT COUNT(*) FROM t") == [(1,)]
        other.close()
        db.close()
