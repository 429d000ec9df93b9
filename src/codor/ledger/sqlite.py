"""The embedded ledger store: one SQLite file in WAL mode (``synchronous=NORMAL``).

Tables (:data:`_SCHEMA`): ``entries``, ``bodies``, ``nodes``, ``checkpoints``, ``meta``.
Triggers make immutability a property of the file, whoever writes it: ``UPDATE``/``DELETE`` of
entries, checkpoints and nodes, ``UPDATE`` of bodies, an entry index other than
``MAX(idx) + 1`` (gaps, rewrites, ``INSERT OR REPLACE``), a second checkpoint for a size, a
node with another hash, a body for an index without an entry or below the newest body — all
``RAISE(ABORT)``. Only *bodies* may go: ``DELETE FROM bodies`` is how
:meth:`SQLiteStore.prune_bodies` drops leaf bytes. The guarantee is about hashes: a committed
leaf hash, chain hash or checkpoint never changes, and a body, when present, is checked
against its leaf hash (:func:`codor.ledger.store.verify_chain`).

Group commit: :meth:`SQLiteStore.append` opens a write transaction (``BEGIN IMMEDIATE``) and
keeps it open across calls until ``batch_size`` entries are pending or ``flush_interval``
seconds have passed since it opened; a **background flusher thread** (one per store, started
with the first held-open transaction) commits at that deadline, so an idle process never sits
on the write lock. The pending entries wait in memory and are written with two
``executemany`` calls right before the commit (:mod:`codor.ledger.storebase`).
``append(..., durable=True)`` and :meth:`SQLiteStore.flush` commit before returning: durable
against a crash of the process (WAL, ``synchronous=NORMAL``); pass ``synchronous="FULL"`` to
survive power loss too. Uncommitted appends are lost if the process dies (a later commit
always includes all earlier appends, in order); :meth:`SQLiteStore.close`, interpreter exit
and garbage collection of an unclosed store commit them.

Several processes may append to one file: indexes are assigned inside ``BEGIN IMMEDIATE``
after reading the last index and chain hash, so they stay gap-free and the chain consistent;
others wait (up to ``busy_timeout``) for a held group commit. Open a store per process.

A ledger that cannot be written — a read-only file system or mount, a file or directory
without write permission — opens **read-only** (:attr:`SQLiteStore.read_only` says why): it
can be read and verified, and every write raises a :class:`LedgerStoreError` naming the
reason, so a decision that must be recorded fails closed instead of the ledger failing to
open. Without a ``-wal`` file beside it (a cleanly closed ledger) it is opened ``immutable``,
as SQLite needs for a WAL database it cannot create the ``-shm`` file of.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import weakref
from typing import Any, Final, Literal
from urllib.parse import quote

from codor.ledger.store import LedgerStoreError
from codor.ledger.storebase import Batch, GroupCommitStore

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION: Final = "1"

_IMMUTABLE: Final = "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} BEGIN "
    f"SELECT RAISE(ABORT, 'codor ledger: {table} are immutable (no {op})'); END;\n"
    for table in ("entries", "checkpoints", "nodes") for op in ("UPDATE", "DELETE"))

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema', '1');  -- SCHEMA_VERSION
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    chain_hash BLOB NOT NULL CHECK (length(chain_hash) = 32), ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS bodies (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL,
    ts REAL NOT NULL);
CREATE TRIGGER IF NOT EXISTS entries_gap_free BEFORE INSERT ON entries
WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx), -1) + 1 FROM entries)
BEGIN SELECT RAISE(ABORT, 'codor ledger: entries are appended at the next index only'); END;
CREATE TRIGGER IF NOT EXISTS bodies_insert BEFORE INSERT ON bodies
WHEN NEW.idx <= COALESCE((SELECT MAX(idx) FROM bodies), -1)
  OR NOT EXISTS (SELECT 1 FROM entries WHERE idx = NEW.idx)
BEGIN SELECT RAISE(ABORT, 'codor ledger: a body is stored only with its new entry'); END;
CREATE TRIGGER IF NOT EXISTS bodies_no_update BEFORE UPDATE ON bodies
BEGIN SELECT RAISE(ABORT, 'codor ledger: bodies cannot change (only be pruned)'); END;
CREATE TRIGGER IF NOT EXISTS nodes_same BEFORE INSERT ON nodes WHEN EXISTS (SELECT 1
    FROM nodes WHERE level = NEW.level AND idx = NEW.idx AND hash = NEW.hash)
BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER IF NOT EXISTS nodes_differ BEFORE INSERT ON nodes WHEN EXISTS (SELECT 1
    FROM nodes WHERE level = NEW.level AND idx = NEW.idx AND hash IS NOT NEW.hash)
BEGIN SELECT RAISE(ABORT, 'codor ledger: a stored Merkle node cannot change'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_once BEFORE INSERT ON checkpoints
WHEN EXISTS (SELECT 1 FROM checkpoints WHERE size = NEW.size)
BEGIN SELECT RAISE(ABORT, 'codor ledger: a checkpoint for this size exists'); END;
"""

_QUERIES: Final = {
    "size": "SELECT COALESCE(MAX(idx), -1) + 1 FROM entries",
    "entries": "SELECT e.idx, b.leaf, e.leaf_hash, e.chain_hash, e.ts FROM entries e "
               "LEFT JOIN bodies b ON b.idx = e.idx WHERE e.idx >= ? AND e.idx < ? "
               "ORDER BY e.idx",
    "containing": "SELECT e.idx, b.leaf, e.leaf_hash FROM entries e "
                  "JOIN bodies b ON b.idx = e.idx WHERE e.idx >= ? AND e.idx < ? "
                  "AND instr(b.leaf, ?) > 0 ORDER BY e.idx",
    "raw_hashes": "SELECT idx, NULL, leaf_hash, chain_hash FROM entries "
                  "WHERE idx >= ? AND idx < ? ORDER BY idx",
    "leaf_hashes": "SELECT leaf_hash FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
    "node": "SELECT hash FROM nodes WHERE level = ? AND idx = ?",
    "latest_checkpoint": "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
    "checkpoint": "SELECT note FROM checkpoints WHERE size = ?",
    "checkpoint_sizes": "SELECT size FROM checkpoints ORDER BY size",
}


def _write_batch(cur: sqlite3.Cursor, entries: list[tuple[int, bytes, bytes, float]],
                 bodies: list[tuple[int, bytes]]) -> None:
    if len(entries) == 1:  # execute() is cheaper than executemany() for one row
        cur.execute("INSERT INTO entries VALUES (?, ?, ?, ?)", entries[0])
        cur.execute("INSERT INTO bodies VALUES (?, ?)", bodies[0])
    else:
        cur.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", entries)
        cur.executemany("INSERT INTO bodies VALUES (?, ?)", bodies)


def _finalize(conn: sqlite3.Connection, cond: threading.Condition, pid: int,
              state: dict[str, bool], batch: Batch) -> None:
    """Write what is pending, commit and close (on close(), garbage collection or
    interpreter exit)."""
    with cond:
        if state["closed"]:
            return
        state["closed"] = True
        cond.notify_all()
        if os.getpid() == pid:  # never touch an inherited copy after fork()
            with contextlib.closing(conn):
                if conn.in_transaction:
                    try:
                        entries, bodies = batch.unwritten()
                        if entries:
                            _write_batch(conn.cursor(), entries, bodies)
                        conn.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                        raise
                    finally:
                        batch.reset()


def _read_only(path: str) -> str | None:
    """Why an existing ledger file cannot be written, or ``None`` when it can."""
    if not os.path.isfile(path):
        return None
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return exc.strerror or errno.errorcode.get(exc.errno or 0, "not writable")
        return None  # another problem: opening for real will report it
    directory = os.path.dirname(os.path.abspath(path))
    if not os.access(directory, os.W_OK | os.X_OK):  # no room for the -wal and -shm files
        return f"directory {directory} is not writable"
    return None


class SQLiteStore(GroupCommitStore):
    """A :class:`~codor.ledger.store.LedgerStore` in one SQLite file (see the module doc).

    ``batch_size`` entries or ``flush_interval`` seconds per group commit (``batch_size=1``
    or ``flush_interval=0`` commit on every append); ``busy_timeout`` is how long to wait for
    another process's write lock before failing.
    """

    _kind = "SQLiteStore"
    _db_error = sqlite3.Error
    _refusal = sqlite3.IntegrityError

    def __init__(self, path: str | os.PathLike[str], *, batch_size: int = 100,
                 flush_interval: float = 0.5, busy_timeout: float = 30.0,
                 synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        if batch_size < 1 or flush_interval < 0 or busy_timeout < 0 or \
                synchronous not in ("NORMAL", "FULL"):
            raise ValueError("need batch_size >= 1, flush_interval >= 0, busy_timeout >= 0 "
                             "and synchronous NORMAL or FULL")
        self.path = os.fspath(path)
        self._init_group(batch_size, flush_interval)
        self._state = {"closed": False}
        self._txn = False
        #: Why this ledger cannot be written (it was opened read-only), or ``None``.
        self.read_only = _read_only(self.path)
        #: The URI another read-only connection to this ledger should open.
        self.read_uri = f"file:{quote(os.path.abspath(self.path))}?mode=ro"
        if self.read_only is not None and not os.path.exists(self.path + "-wal"):
            self.read_uri += "&immutable=1"
        try:
            if self.read_only is None:
                self._conn = sqlite3.connect(self.path, timeout=busy_timeout,
                                             isolation_level=None, check_same_thread=False)
            else:
                self._conn = sqlite3.connect(self.read_uri, uri=True, timeout=busy_timeout,
                                             isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise LedgerStoreError(f"cannot open ledger {self.path!r}: {exc}") from exc
        self._cur = self._conn.cursor()
        self._finalizer = weakref.finalize(self, _finalize, self._conn, self._cond,
                                           self._pid, self._state, self._batch)
        try:
            if self.read_only is None:
                self._setup(synchronous)
            else:
                self._check_version()
        except BaseException:
            self._finalizer()
            raise

    def _setup(self, synchronous: str) -> None:
        conn = self._conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode not in ("wal", "memory"):
                raise LedgerStoreError(f"ledger {self.path!r}: cannot use WAL (got {mode})")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            found = self._version()
            if found is None:  # a new file: create the schema, in one transaction
                try:
                    conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}{_IMMUTABLE}COMMIT;")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                found = self._version()
        except sqlite3.Error as exc:
            raise LedgerStoreError(f"cannot open ledger {self.path!r}: {exc}") from exc
        self._compatible(found)

    def _check_version(self) -> None:
        """The schema check of a ledger opened read-only (nothing can be created)."""
        try:
            found = self._version()
        except sqlite3.Error as exc:
            raise LedgerStoreError(f"cannot open ledger {self.path!r} (read-only: "
                                   f"{self.read_only}): {exc}") from exc
        self._compatible(found)

    def _compatible(self, found: str | None) -> None:
        if found != SCHEMA_VERSION:
            raise LedgerStoreError(f"ledger {self.path!r} has schema version {found}; this "
                                   f"CODOR reads version {SCHEMA_VERSION}")

    def _version(self) -> str | None:
        """The schema version, or ``None`` before the schema exists (read without locking)."""
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            return None if row is None else str(row[0])
        return None

    # -- GroupCommitStore ------------------------------------------------------------------
    def _label(self) -> str:
        return repr(self.path)

    def _flusher_tag(self) -> str:
        return os.path.basename(self.path)

    def _sql(self, name: str) -> str:
        return _QUERIES[name]

    def _scrub(self, exc: BaseException) -> str:
        """The message with SQLite's error name (``disk I/O error (SQLITE_IOERR_WRITE)``)."""
        name = getattr(exc, "sqlite_errorname", None)
        return f"{exc} ({name})" if isinstance(name, str) and name not in str(exc) else str(exc)

    def _begin(self) -> None:
        if self.read_only is not None:
            raise LedgerStoreError(f"ledger {self.path!r} is read-only ({self.read_only}): "
                                   "nothing can be recorded")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute(
                "SELECT idx, chain_hash FROM entries ORDER BY idx DESC LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            self._rollback()
            raise LedgerStoreError(f"ledger {self.path!r}: cannot write: {exc}") from exc
        self._opened(row)

    def _end(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        self._txn = False
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            self._conn.execute("ROLLBACK")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise LedgerStoreError(f"ledger {self.path!r}: read failed: {exc}") from exc

    def _insert(self, entries: list[tuple[int, bytes, bytes, float]],
                bodies: list[tuple[int, bytes]]) -> None:
        _write_batch(self._cur, entries, bodies)

    def _execute(self, sql: str, args: Any, own: bool) -> int:
        # a trigger's RAISE(ABORT) undoes its statement only: no savepoint needed
        return int(self._conn.executemany(sql, args).rowcount)

    def _insert_nodes(self, rows: list[tuple[int, int, bytes]]) -> None:
        self._write("put_nodes", "INSERT INTO nodes VALUES (?, ?, ?)", rows)

    def _insert_checkpoint(self, size: int, note: str, ts: float) -> None:
        self._write("add_checkpoint", "INSERT INTO checkpoints VALUES (?, ?, ?)",
                    [(size, note, ts)])

    def _delete_bodies(self, before_ts: float) -> int:
        return self._write("prune_bodies", "DELETE FROM bodies WHERE idx IN "
                           "(SELECT idx FROM entries WHERE ts < ?)", [(before_ts,)])

    # -- beyond LedgerStore ----------------------------------------------------------------
    def raw_entries(self, start: int, end: int) -> list[tuple[int, bytes | None, bytes, bytes]]:
        """Entries ``[start, end)`` as ``(index, leaf, leaf_hash, chain_hash)`` tuples: the
        fast path for full verification (no per-entry objects)."""
        return [(i, leaf, lh, ch)
                for i, leaf, lh, ch, _ts in self._span(_QUERIES["entries"], start, end)]

    def raw_hashes(self, start: int, end: int) -> list[tuple[int, None, bytes, bytes]]:
        """``(index, None, leaf_hash, chain_hash)`` for ``[start, end)``, without the bodies:
        the chain-and-tree half of a parallel verification."""
        return self._span(_QUERIES["raw_hashes"], start, end)
