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
on the write lock. ``append(..., durable=True)`` and :meth:`SQLiteStore.flush` commit before
returning: durable against a crash of the process (WAL, ``synchronous=NORMAL``); pass
``synchronous="FULL"`` to survive power loss too. Uncommitted appends are lost if the process
dies (a later commit always includes all earlier appends, in order); :meth:`SQLiteStore.close`,
interpreter exit and garbage collection of an unclosed store commit them.

Several processes may append to one file: indexes are assigned inside ``BEGIN IMMEDIATE``
after reading the last index and chain hash, so they stay gap-free and the chain consistent;
others wait (up to ``busy_timeout``) for a held group commit. Open a store per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

from codor.ledger.store import GENESIS_CHAIN, LedgerStoreError, StoredEntry

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

_SELECT_ENTRIES: Final = (
    "SELECT e.idx, b.leaf, e.leaf_hash, e.chain_hash, e.ts FROM entries e "
    "LEFT JOIN bodies b ON b.idx = e.idx WHERE e.idx >= ? AND e.idx < ? ORDER BY e.idx")


def _finalize(conn: sqlite3.Connection, cond: threading.Condition, pid: int,
              state: dict[str, bool]) -> None:
    """Commit and close (on close(), garbage collection or interpreter exit)."""
    with cond:
        if state["closed"]:
            return
        state["closed"] = True
        cond.notify_all()
        if os.getpid() == pid:  # never touch an inherited copy after fork()
            with contextlib.closing(conn):
                if conn.in_transaction:
                    conn.execute("COMMIT")


def _flusher(ref: weakref.ReferenceType[SQLiteStore], cond: threading.Condition) -> None:
    """Background thread: commit each held-open transaction at its deadline."""
    while True:
        with cond:
            store = ref()
            if store is None or store._state["closed"]:
                return
            wait = store._deadline - time.monotonic() if store._txn else None
            if wait is not None and wait <= 0:
                try:
                    store._commit()
                except LedgerStoreError as exc:
                    store._bg_error = exc  # raised by the next call on this store
                continue
            del store
            cond.wait(wait)


class SQLiteStore:
    """A :class:`~codor.ledger.store.LedgerStore` in one SQLite file (see the module doc).

    ``batch_size`` entries or ``flush_interval`` seconds per group commit (``batch_size=1``
    or ``flush_interval=0`` commit on every append); ``busy_timeout`` is how long to wait for
    another process's write lock before failing.
    """

    def __init__(self, path: str | os.PathLike[str], *, batch_size: int = 100,
                 flush_interval: float = 0.5, busy_timeout: float = 30.0,
                 synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        if batch_size < 1 or flush_interval < 0 or busy_timeout < 0 or \
                synchronous not in ("NORMAL", "FULL"):
            raise ValueError("need batch_size >= 1, flush_interval >= 0, busy_timeout >= 0 "
                             "and synchronous NORMAL or FULL")
        self.path = os.fspath(path)
        self._batch_size, self._flush_interval = batch_size, flush_interval
        self._group = batch_size > 1 and flush_interval > 0
        self._lock = self._cond = threading.Condition(threading.RLock())
        self._pid = os.getpid()
        self._state = {"closed": False}
        self._thread: threading.Thread | None = None
        self._bg_error: LedgerStoreError | None = None
        self._txn, self._first, self._next, self._prev = False, 0, 0, GENESIS_CHAIN
        self._deadline = 0.0  # when the open write transaction is due
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout,
                                         isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise LedgerStoreError(f"cannot open ledger {self.path!r}: {exc}") from exc
        self._cur = self._conn.cursor()
        self._finalizer = weakref.finalize(self, _finalize, self._conn, self._cond,
                                           self._pid, self._state)
        try:
            self._setup(synchronous)
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
        if found != SCHEMA_VERSION:
            raise LedgerStoreError(f"ledger {self.path!r} has schema version {found}; this "
                                   f"CODOR reads version {SCHEMA_VERSION}")

    def _version(self) -> str | None:
        """The schema version, or ``None`` before the schema exists (read without locking)."""
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            return None if row is None else str(row[0])
        return None

    # -- transaction machinery (callers hold self._lock) -----------------------------------
    def _check(self) -> None:
        if self._state["closed"]:
            raise LedgerStoreError(f"ledger {self.path!r} is closed")
        if os.getpid() != self._pid:
            raise LedgerStoreError("a SQLiteStore cannot cross fork(): open one per process")
        if self._bg_error is not None:
            error, self._bg_error = self._bg_error, None
            raise error

    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute(
                "SELECT idx, chain_hash FROM entries ORDER BY idx DESC LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            self._rollback()
            raise LedgerStoreError(f"ledger {self.path!r}: cannot write: {exc}") from exc
        self._first = self._next = 0 if row is None else row[0] + 1
        self._prev = GENESIS_CHAIN if row is None else bytes(row[1])
        self._txn = True
        self._deadline = time.monotonic() + self._flush_interval
        if self._group:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_flusher, args=(weakref.ref(self), self._cond),
                    name=f"codor-ledger-flusher:{os.path.basename(self.path)}", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _rollback(self) -> None:
        self._txn = False
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            self._conn.execute("ROLLBACK")

    def _commit(self) -> None:
        if not self._txn:
            return
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed("commit", exc) from exc
        self._txn = False

    def _failed(self, what: str, exc: BaseException) -> LedgerStoreError:
        """A statement failed inside the write transaction: roll it all back."""
        lost = f"; uncommitted entries {self._first}..{self._next - 1} were rolled back" \
            if self._next > self._first else ""
        self._rollback()
        return LedgerStoreError(f"ledger {self.path!r}: {what} failed: {exc}{lost}")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise LedgerStoreError(f"ledger {self.path!r}: read failed: {exc}") from exc

    # -- LedgerStore -----------------------------------------------------------------------
    def append(self, leaves: Sequence[bytes], *, durable: bool = False) -> list[int]:
        """Append leaves at consecutive indexes and return them (see the module doc for
        when they are committed)."""
        data = []
        for leaf in leaves:
            if not isinstance(leaf, bytes | bytearray | memoryview):
                raise TypeError(f"a ledger leaf must be bytes, got {type(leaf).__name__}")
            data.append(bytes(leaf))
        with self._lock:
            self._check()
            if not data:
                if durable:
                    self._commit()
                return []
            if not self._txn:
                self._begin()
            ts = time.time()
            sha256 = hashlib.sha256
            first = idx = self._next
            prev = self._prev
            rows, bodies = [], []
            for leaf in data:  # leaf hash inlined: codor.ledger.merkle.leaf_hash
                lh = sha256(b"\x00" + leaf).digest()
                prev = sha256(prev + lh).digest()
                rows.append((idx, lh, prev, ts))
                bodies.append((idx, leaf))
                idx += 1
            try:
                if len(rows) == 1:  # execute() is cheaper than executemany() for one row
                    self._cur.execute("INSERT INTO entries VALUES (?, ?, ?, ?)", rows[0])
                    self._cur.execute("INSERT INTO bodies VALUES (?, ?)", bodies[0])
                else:
                    self._cur.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", rows)
                    self._cur.executemany("INSERT INTO bodies VALUES (?, ?)", bodies)
            except BaseException as exc:  # half an append must never commit: roll back
                failure = self._failed("append", exc)
                if isinstance(exc, sqlite3.Error):
                    raise failure from exc
                raise
            self._next, self._prev = idx, prev
            if durable or not self._group or idx - self._first >= self._batch_size:
                self._commit()
            return list(range(first, idx))

    def flush(self) -> None:
        """Commit everything appended so far."""
        with self._lock:
            self._check()
            self._commit()

    def size(self) -> int:
        """Entries in the log, this store's uncommitted appends included."""
        with self._lock:
            self._check()
            if self._txn:
                return self._next
            return int(self._read("SELECT COALESCE(MAX(idx), -1) + 1 FROM entries")[0][0])

    def _range(self, start: int, end: int) -> None:
        size = self.size()
        if not (type(start) is int and type(end) is int and 0 <= start <= end <= size):
            raise LedgerStoreError(f"range [{start}, {end}) is outside the ledger "
                                   f"(size {size})")

    def _complete(self, rows: list[Any], start: int, end: int) -> None:
        if len(rows) != end - start:
            raise LedgerStoreError(f"ledger {self.path!r}: entries missing in [{start}, {end})")

    def entry(self, index: int) -> StoredEntry:
        """The entry at ``index``."""
        with self._lock:
            self._check()
            size = self.size()
            if type(index) is not int or not 0 <= index < size:
                raise LedgerStoreError(f"no entry {index} in the ledger (size {size})")
            return self.entries(index, index + 1)[0]

    def entries(self, start: int, end: int) -> list[StoredEntry]:
        """Entries ``[start, end)``."""
        with self._lock:
            self._check()
            self._range(start, end)
            rows = self._read(_SELECT_ENTRIES, (start, end))
        self._complete(rows, start, end)
        return [StoredEntry(i, None if leaf is None else bytes(leaf), bytes(lh), bytes(ch), ts)
                for i, leaf, lh, ch, ts in rows]

    def raw_entries(self, start: int, end: int) -> list[tuple[int, bytes | None, bytes, bytes]]:
        """Entries ``[start, end)`` as ``(index, leaf, leaf_hash, chain_hash)`` tuples: the
        fast path for full verification (no per-entry objects)."""
        with self._lock:
            self._check()
            self._range(start, end)
            rows = self._read(_SELECT_ENTRIES, (start, end))
        self._complete(rows, start, end)
        return [(i, leaf, lh, ch) for i, leaf, lh, ch, _ts in rows]

    def raw_hashes(self, start: int, end: int) -> list[tuple[int, None, bytes, bytes]]:
        """``(index, None, leaf_hash, chain_hash)`` for ``[start, end)``, without the bodies:
        the chain-and-tree half of a parallel verification."""
        with self._lock:
            self._check()
            self._range(start, end)
            rows = self._read("SELECT idx, NULL, leaf_hash, chain_hash FROM entries "
                              "WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end))
        self._complete(rows, start, end)
        return rows

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes ``[start, end)``."""
        with self._lock:
            self._check()
            self._range(start, end)
            rows = self._read("SELECT leaf_hash FROM entries WHERE idx >= ? AND idx < ? "
                              "ORDER BY idx", (start, end))
        self._complete(rows, start, end)
        return [bytes(r[0]) for r in rows]

    def _write(self, what: str, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
        """Run one write statement: inside the open transaction, or in its own one."""
        own = not self._txn
        if own:
            self._begin()
        try:
            count = self._conn.executemany(sql, rows).rowcount
        except sqlite3.IntegrityError as exc:  # a trigger refused it: the statement undone
            if own:
                self._rollback()
            raise LedgerStoreError(f"ledger {self.path!r}: {what} refused: {exc}") from exc
        except sqlite3.Error as exc:
            raise self._failed(what, exc) from exc
        if own:
            self._commit()
        return count

    def put_nodes(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        """Store Merkle nodes (joins the open group commit, if any)."""
        rows = []  # Merkle perfect-subtree hashes, as codor.ledger.merkle stores them
        for level, idx, digest in nodes:
            if type(level) is not int or type(idx) is not int or level < 0 or idx < 0 or \
                    not isinstance(digest, bytes) or len(digest) != 32:
                raise ValueError(f"bad Merkle node ({level!r}, {idx!r}, {digest!r})")
            rows.append((level, idx, digest))
        with self._lock:
            self._check()
            if rows:
                self._write("put_nodes", "INSERT INTO nodes VALUES (?, ?, ?)", rows)

    def node(self, level: int, idx: int) -> bytes | None:
        """A stored Merkle node, or ``None``."""
        with self._lock:
            self._check()
            rows = self._read("SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, idx))
        return bytes(rows[0][0]) if rows else None

    def add_checkpoint(self, size: int, note: str) -> None:
        """Store a checkpoint note for ``size`` and commit (with all pending entries)."""
        if type(size) is not int or size < 0 or not isinstance(note, str) or not note:
            raise ValueError("a checkpoint needs a size >= 0 and a non-empty note")
        with self._lock:
            self._check()
            if not self._txn:
                self._begin()  # hold the write lock: check and insert atomically
            try:
                if size > self._next:
                    raise LedgerStoreError(f"checkpoint for size {size} beyond the ledger "
                                           f"(size {self._next})")
                existing = self.checkpoint(size)
                if existing is None:
                    self._write("add_checkpoint", "INSERT INTO checkpoints VALUES (?, ?, ?)",
                                [(size, note, time.time())])
                elif existing != note:
                    raise LedgerStoreError(f"another checkpoint for size {size} is stored")
            finally:
                self._commit()

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """The checkpoint with the largest size, or ``None``."""
        with self._lock:
            self._check()
            rows = self._read("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def checkpoint(self, size: int) -> str | None:
        """The checkpoint note for ``size``, or ``None``."""
        with self._lock:
            self._check()
            rows = self._read("SELECT note FROM checkpoints WHERE size = ?", (size,))
        return str(rows[0][0]) if rows else None

    def checkpoint_sizes(self) -> list[int]:
        """The sizes of every stored checkpoint, ascending."""
        with self._lock:
            self._check()
            return [int(r[0]) for r in self._read("SELECT size FROM checkpoints ORDER BY size")]

    def prune_bodies(self, before_ts: float) -> int:
        """Delete the bodies of entries appended before ``before_ts``; commit; count them."""
        with self._lock:
            self._check()
            count = self._write("prune_bodies", "DELETE FROM bodies WHERE idx IN "
                                "(SELECT idx FROM entries WHERE ts < ?)", [(float(before_ts),)])
            self._commit()
            return count

    def close(self) -> None:
        """Commit what is pending, stop the flusher and close the file. Idempotent."""
        with self._lock:
            if self._state["closed"]:
                return
            error, self._bg_error = self._bg_error, None
            try:
                if os.getpid() == self._pid:
                    self._commit()
            finally:
                self._finalizer()
        if self._thread is not None:  # it only ever commits, so never calls close()
            self._thread.join(timeout=5)
        if error is not None:
            raise error

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
