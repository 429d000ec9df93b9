"""SQLiteStore: the ledger store contract, plus group commit, triggers and file handling."""

from __future__ import annotations

import functools
import gc
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codor.ledger.merkle import leaf_hash
from codor.ledger.sqlite import SQLiteStore
from codor.ledger.store import LedgerStore, LedgerStoreError, verify_chain
from tests.ledger.contract import LedgerStoreContract, RawSQL, StoreFactory


def committed(path: Path) -> int:
    """Entries another connection sees (committed ones only)."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        conn.close()


def run_sql(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path, timeout=5)
    try:
        conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


class TestSQLiteStoreContract(LedgerStoreContract):
    """The backend-independent contract, against one SQLite file per test."""

    @pytest.fixture
    def db_path(self, tmp_path: Path) -> Path:
        return tmp_path / "ledger.db"

    @pytest.fixture
    def factory(self, db_path: Path) -> StoreFactory:
        return functools.partial(SQLiteStore, str(db_path))

    @pytest.fixture
    def raw_sql(self, db_path: Path) -> RawSQL:
        return functools.partial(run_sql, db_path)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(path, flush_interval=0.2)
    yield s
    s.close()


def test_is_a_ledger_store(store: SQLiteStore) -> None:
    assert isinstance(store, LedgerStore)


def test_wal_and_schema(store: SQLiteStore, path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == "1"
    finally:
        conn.close()


def test_group_commit_by_interval(store: SQLiteStore, path: Path) -> None:
    store.append([b"a"])
    assert store.size() == 1 and committed(path) == 0  # buffered in the open transaction
    deadline = time.monotonic() + 5
    while committed(path) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert committed(path) == 1  # the background flusher committed it


def test_group_commit_by_batch_size(path: Path) -> None:
    with SQLiteStore(path, batch_size=10, flush_interval=60) as store:
        store.append([b"x"] * 9)
        assert committed(path) == 0
        store.append([b"y"])
        assert committed(path) == 10
        store.append([b"z"])
        assert committed(path) == 10
        store.append([b"w"], durable=True)
        assert committed(path) == 12


def test_flush_and_durable(path: Path) -> None:
    with SQLiteStore(path, flush_interval=60) as store:
        store.append([b"a", b"b"])
        assert committed(path) == 0
        store.flush()
        assert committed(path) == 2
        store.append([], durable=True)
        store.append([b"c"], durable=True)
        assert committed(path) == 3


def test_batch_size_one_commits_every_append(path: Path) -> None:
    with SQLiteStore(path, batch_size=1) as store:
        store.append([b"a"])
        assert committed(path) == 1


def test_garbage_collected_store_commits(path: Path) -> None:
    store = SQLiteStore(path, flush_interval=60)
    store.append([b"pending"])
    del store
    gc.collect()
    assert committed(path) == 1


def test_prune_is_a_delete_of_bodies_only(store: SQLiteStore, path: Path) -> None:
    store.append([b"a", b"b"], durable=True)
    run_sql(path, "DELETE FROM bodies WHERE idx = 0")  # pruning is expressible in SQL
    entries = store.entries(0, 2)
    assert entries[0].leaf is None and entries[1].leaf == b"b"
    verify_chain(entries)


def test_forged_body_is_detected(store: SQLiteStore, path: Path) -> None:
    store.append([b"a"], durable=True)
    assert store.prune_bodies(time.time() + 1) == 1
    run_sql(path, "INSERT INTO bodies VALUES (0, x'666f72676564')")  # no newer body exists
    assert store.entry(0).leaf == b"forged"
    with pytest.raises(LedgerStoreError, match="does not match its leaf hash"):
        verify_chain(store.entries(0, 1))


def test_tampered_hash_is_detected_when_triggers_are_dropped(store: SQLiteStore,
                                                             path: Path) -> None:
    store.append([b"a", b"b"], durable=True)
    run_sql(path, "DROP TRIGGER entries_no_update")  # whoever owns the file can do this...
    run_sql(path, "UPDATE entries SET leaf_hash = zeroblob(32) WHERE idx = 1")
    with pytest.raises(LedgerStoreError, match="entry 1"):  # ...but the chain shows it
        verify_chain(store.entries(0, 2))


def test_uncommitted_entries_are_not_seen_by_others(store: SQLiteStore, path: Path) -> None:
    store.append([b"a"], durable=True)
    store.append([b"b"])
    other = SQLiteStore(path, busy_timeout=5)
    try:
        assert other.size() == 1
        assert store.size() == 2
        assert other.leaf_hashes(0, 1) == [leaf_hash(b"a")]
    finally:
        other.close()


def test_schema_version_mismatch(path: Path) -> None:
    SQLiteStore(path).close()
    run_sql(path, "UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(LedgerStoreError, match="schema version 99"):
        SQLiteStore(path)


def test_not_a_database(path: Path) -> None:
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerStoreError, match="cannot open ledger"):
        SQLiteStore(path)


def test_bad_arguments(path: Path) -> None:
    with pytest.raises(ValueError):
        SQLiteStore(path, batch_size=0)
    with pytest.raises(ValueError):
        SQLiteStore(path, synchronous="OFF")  # type: ignore[arg-type]
    with SQLiteStore(path) as store:
        with pytest.raises(ValueError):
            store.add_checkpoint(-1, "x")
        with pytest.raises(ValueError):
            store.put_nodes([(-1, 0, bytes(32))])


READ_ONLY_CHILD = r"""
import sys
from codor.ledger.sqlite import SQLiteStore
from codor.ledger.store import LedgerStoreError, verify_chain
store = SQLiteStore(sys.argv[1])
print("reason:", store.read_only)
print("entries:", [e.leaf.decode() for e in store.entries(0, store.size())])
verify_chain(store.entries(0, store.size()))
for name, call in [("append", lambda: store.append([b"c"], durable=True)),
                   ("append-later", lambda: store.append([b"d"])),
                   ("checkpoint", lambda: store.add_checkpoint(2, "note")),
                   ("nodes", lambda: store.put_nodes([(1, 0, bytes(32))])),
                   ("prune", lambda: store.prune_bodies(1e12))]:
    try:
        call()
    except LedgerStoreError as exc:
        print(name, "refused:", exc)
    else:
        print(name, "WORKED")
print("size:", store.size())
store.close()
"""


def test_a_read_only_ledger_opens_for_reading_and_refuses_every_write(path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    with SQLiteStore(path) as store:
        store.append([b"a", b"b"], durable=True)
    unshare = shutil.which("unshare")
    assert unshare is not None, "this test needs `unshare -m` (util-linux, run as root)"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [unshare, "-m", "sh", "-c", 'mount --bind -o ro "$1" "$1" && shift && exec "$@"', "sh",
         str(path.parent), sys.executable, "-c", READ_ONLY_CHILD, str(path)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(root / "src")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "reason: Read-only file system"
    assert lines[1] == "entries: ['a', 'b']"
    for name, line in zip(("append", "append-later", "checkpoint", "nodes", "prune"),
                          lines[2:7], strict=True):
        assert line.startswith(f"{name} refused: ledger '{path}' is read-only (Read-only file "
                               "system): nothing can be recorded"), line
    assert lines[7] == "size: 2"
    with SQLiteStore(path) as store:  # writable again outside the read-only mount
        assert [e.leaf for e in store.entries(0, store.size())] == [b"a", b"b"]
