"""The code the SQL ledger stores share: group commit, argument checks and the read path.

Group commit buffers: :meth:`GroupCommitStore.append` opens the write transaction (taking the
database's write lock, reading the last index and chain hash: from then on the indexes it
hands out are final), hashes the leaves and keeps the rows in memory (:class:`Batch`). They
are written to the database in one go (``executemany`` for SQLite, ``COPY`` for PostgreSQL)
right before the transaction commits — after ``batch_size`` entries or ``flush_interval``
seconds, on ``durable=True``, :meth:`~GroupCommitStore.flush` or close — or before anything
reads entries or writes another table inside the transaction. A write that fails rolls the
whole transaction back (nothing of it is committed) and names the entries lost.

Commit listeners (:meth:`GroupCommitStore.add_commit_listener`) are told, in index order and
once each, about the entries of every transaction this handle committed: what a ledger's
sinks forward. Entries committed only by garbage collection or interpreter exit of a store
that was never closed are not reported.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Self

from codor.ledger.store import GENESIS_CHAIN, LedgerStoreError, StoredEntry

__all__ = ["Batch", "CommitListener", "GroupCommitStore"]

#: Told about committed entries: ``(index, leaf)`` pairs, in index order.
CommitListener = Callable[[Sequence[tuple[int, bytes]]], None]

log = logging.getLogger("codor.ledger")


class Batch:
    """The entries of the open write transaction: ``entries`` rows ``(idx, leaf_hash,
    chain_hash, ts)`` and ``bodies`` rows ``(idx, leaf)``, of which the first ``written`` are
    in the database already (the rest only here)."""

    __slots__ = ("bodies", "entries", "written")

    def __init__(self) -> None:
        self.entries: list[tuple[int, bytes, bytes, float]] = []
        self.bodies: list[tuple[int, bytes]] = []
        self.written = 0

    def unwritten(self) -> tuple[list[tuple[int, bytes, bytes, float]],
                                 list[tuple[int, bytes]]]:
        """The rows not yet in the database."""
        if not self.written:
            return self.entries, self.bodies
        return self.entries[self.written:], self.bodies[self.written:]

    def reset(self) -> list[tuple[int, bytes]]:
        """Forget every row (committed or rolled back); returns the bodies rows."""
        bodies = self.bodies
        self.entries, self.bodies, self.written = [], [], 0
        return bodies


def _flusher(ref: weakref.ReferenceType[GroupCommitStore], cond: threading.Condition) -> None:
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


class GroupCommitStore(ABC):
    """A :class:`~codor.ledger.store.LedgerStore` over a SQL database with group commit.

    A subclass opens the database, supplies its queries (:meth:`_sql`), its reads
    (:meth:`_read`), its writes (:meth:`_insert` of a batch's rows, :meth:`_insert_nodes`,
    :meth:`_insert_checkpoint`, :meth:`_delete_bodies`) and the statements that begin
    (:meth:`_begin`, ending in :meth:`_opened`), commit (:meth:`_end`) and roll back
    (:meth:`_rollback`) a write transaction, and how one write statement runs
    (:meth:`_execute`). Callers of the ``_`` methods hold ``self._lock``.
    """

    #: The class name in the error raised after ``fork()``.
    _kind: ClassVar[str]
    #: The driver's error class: a failure of the database, not of the caller.
    _db_error: ClassVar[type[Exception]]
    #: The driver's error for a statement the database refused (a trigger, a constraint).
    _refusal: ClassVar[type[Exception]]
    #: Whether errors hide the driver's exception (``from None``: it may quote secrets).
    _hide_cause: ClassVar[bool] = False

    _state: dict[str, Any]
    _txn: bool
    _finalizer: Callable[[], object]

    def _init_group(self, batch_size: int, flush_interval: float) -> None:
        """Set up the group-commit bookkeeping (before ``_state`` and ``_txn``)."""
        self._batch_size, self._flush_interval = batch_size, flush_interval
        self._group = batch_size > 1 and flush_interval > 0
        self._lock = threading.RLock()  # `with self._lock` is cheaper on the RLock itself
        self._cond = threading.Condition(self._lock)
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._bg_error: LedgerStoreError | None = None
        self._first, self._next, self._prev = 0, 0, GENESIS_CHAIN
        self._deadline = 0.0  # when the open write transaction is due
        self._batch = Batch()  # the open transaction's entries (the finalizer writes them too)
        self._listeners: list[CommitListener] = []

    # -- what a subclass supplies ----------------------------------------------------------
    @abstractmethod
    def _label(self) -> str:
        """The ledger as error messages name it."""

    @abstractmethod
    def _flusher_tag(self) -> str:
        """What names the flusher thread after ``codor-ledger-flusher:``."""

    @abstractmethod
    def _sql(self, name: str) -> str:
        """The query called ``name``."""

    @abstractmethod
    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Run a read statement and return its rows."""

    @abstractmethod
    def _begin(self) -> None:
        """Open a write transaction, read the last entry and call :meth:`_opened`."""

    @abstractmethod
    def _end(self) -> None:
        """Send ``COMMIT`` (raising the driver's error)."""

    @abstractmethod
    def _rollback(self) -> None:
        """Roll the write transaction back, quietly."""

    @abstractmethod
    def _insert(self, entries: list[tuple[int, bytes, bytes, float]],
                bodies: list[tuple[int, bytes]]) -> None:
        """Insert ``(idx, leaf_hash, chain_hash, ts)`` entries and their ``(idx, leaf)``
        bodies (a batch's rows, in index order)."""

    @abstractmethod
    def _execute(self, sql: str, args: Any, own: bool) -> int:
        """Run one write statement and return its row count, for :meth:`_write`; ``own``:
        in a transaction of its own, else inside the open one, where a refusal (the driver's
        integrity error) must undo the statement only."""

    @abstractmethod
    def _insert_nodes(self, rows: list[tuple[int, int, bytes]]) -> None:
        """Insert checked ``(level, idx, hash)`` Merkle nodes (with :meth:`_write`)."""

    @abstractmethod
    def _insert_checkpoint(self, size: int, note: str, ts: float) -> None:
        """Insert a checkpoint row (with :meth:`_write`)."""

    @abstractmethod
    def _delete_bodies(self, before_ts: float) -> int:
        """Delete the bodies of entries appended before ``before_ts``; count them (with
        :meth:`_write`)."""

    def _connected(self) -> bool:
        """Whether :meth:`close` can commit (there is a connection to commit on)."""
        return True

    def _scrub(self, exc: BaseException) -> str:
        """The driver error's message, as error messages show it."""
        return str(exc)

    # -- transaction machinery (callers hold self._lock) -----------------------------------
    def _cause(self, exc: BaseException) -> BaseException | None:
        return None if self._hide_cause else exc

    def _check(self) -> None:
        if self._state["closed"]:
            raise LedgerStoreError(f"ledger {self._label()} is closed")
        if os.getpid() != self._pid:
            raise LedgerStoreError(f"a {self._kind} cannot cross fork(): open one per process")
        if self._bg_error is not None:
            error, self._bg_error = self._bg_error, None
            raise error

    def _opened(self, row: Any) -> None:
        """The write transaction is open; ``row`` is the last ``(idx, chain_hash)`` or
        ``None``: start counting from it, and the flusher if needed."""
        self._first = self._next = 0 if row is None else int(row[0]) + 1
        self._prev = GENESIS_CHAIN if row is None else bytes(row[1])
        self._batch.reset()
        self._txn = True
        self._deadline = time.monotonic() + self._flush_interval
        if self._group:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_flusher, args=(weakref.ref(self), self._cond),
                    name=f"codor-ledger-flusher:{self._flusher_tag()}", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _drain(self, acked: int | None = None) -> None:
        """Write the batch's rows into the open transaction (all or none: a failure rolls
        the transaction back). ``acked``: see :meth:`_failed`."""
        batch = self._batch
        if batch.written == len(batch.entries):
            return
        entries, bodies = batch.unwritten()
        try:
            self._insert(entries, bodies)
        except BaseException as exc:  # half a batch must never commit: roll it all back
            failure = self._failed("append", exc, acked)
            if isinstance(exc, self._db_error):
                raise failure from self._cause(exc)
            raise
        batch.written = len(batch.entries)

    def _commit(self, acked: int | None = None) -> None:
        """Write the batch and commit; then tell the listeners."""
        if not self._txn:
            return
        self._drain(acked)
        try:
            self._end()
        except self._db_error as exc:
            raise self._failed("commit", exc, acked) from self._cause(exc)
        self._txn = False
        committed = self._batch.reset()
        if committed:
            for listener in self._listeners:
                try:
                    listener(committed)
                except Exception:  # a listener never breaks a commit
                    log.exception("ledger %s: a commit listener raised", self._label())

    def _failed(self, what: str, exc: BaseException, acked: int | None = None
                ) -> LedgerStoreError:
        """A statement failed inside the write transaction: roll it all back. The message
        names the entries lost below ``acked`` (default: all of them): those appended by
        earlier calls, which had returned their indexes."""
        lost = self._lost(acked)
        self._rollback()
        self._batch.reset()
        return LedgerStoreError(f"ledger {self._label()}: {what} failed: "
                                f"{self._scrub(exc)}{lost}")

    def _lost(self, acked: int | None = None) -> str:
        """What a rollback of the open transaction loses, for an error message: the entries
        below ``acked`` (default: all of them), or nothing."""
        end = self._next if acked is None else acked
        return f"; uncommitted entries {self._first}..{end - 1} were rolled back" \
            if end > self._first else ""

    def _write(self, what: str, sql: str, args: Any) -> int:
        """Run one write statement (:meth:`_execute`): inside the open transaction, or in a
        transaction of its own, committed. A refusal undoes the statement and raises; any
        other failure rolls the whole transaction back (:meth:`_failed`)."""
        own = not self._txn
        if own:
            self._begin()
        try:
            count = self._execute(sql, args, own)
        except self._refusal as exc:
            if own:
                self._rollback()
            raise LedgerStoreError(f"ledger {self._label()}: {what} refused: "
                                   f"{self._scrub(exc)}") from self._cause(exc)
        except self._db_error as exc:
            raise self._failed(what, exc) from self._cause(exc)
        if own:
            self._commit()
        return count

    def _range(self, start: int, end: int) -> None:
        size = self.size()
        if not (type(start) is int and type(end) is int and 0 <= start <= end <= size):
            raise LedgerStoreError(f"range [{start}, {end}) is outside the ledger "
                                   f"(size {size})")

    def _complete(self, rows: list[Any], start: int, end: int) -> None:
        if len(rows) != end - start:
            raise LedgerStoreError(f"ledger {self._label()}: entries missing in "
                                   f"[{start}, {end})")

    def _read_range(self, sql: str, start: int, end: int) -> list[Any]:
        """The rows of a query over ``[start, end)`` (a checked range)."""
        return self._read(sql, (start, end))

    def _span(self, sql: str, start: int, end: int) -> list[Any]:
        """The rows of a query over ``[start, end)``: the range checked, every row there."""
        with self._lock:
            self._check()
            self._range(start, end)
            if self._txn:
                self._drain()  # entries of the open transaction are read from the database
            rows = self._read_range(sql, start, end)
        self._complete(rows, start, end)
        return rows

    # -- LedgerStore -----------------------------------------------------------------------
    def append(self, leaves: Sequence[bytes], *, durable: bool = False) -> list[int]:
        """Append leaves at consecutive indexes and return them (see the module doc for
        when they are written and committed)."""
        data = []
        for leaf in leaves:
            if not isinstance(leaf, (bytes, bytearray, memoryview)):  # a tuple: faster than a union
                raise TypeError(f"a ledger leaf must be bytes, got {type(leaf).__name__}")
            data.append(bytes(leaf))
        with self._lock:
            self._check()
            if not data:
                if durable:
                    self._commit()
                return []
            if not self._txn:
                self._begin()  # holds the write lock: the indexes below are final
            ts = time.time()
            sha256 = hashlib.sha256
            first = idx = self._next
            prev = self._prev
            rows, bodies = [], []
            for leaf in data:
                lh = sha256(b"\x00" + leaf).digest()  # inlined codor.ledger.merkle.leaf_hash
                prev = sha256(prev + lh).digest()
                rows.append((idx, lh, prev, ts))
                bodies.append((idx, leaf))
                idx += 1
            batch = self._batch  # the rows join the batch whole, or not at all
            batch.entries += rows
            batch.bodies += bodies
            self._next, self._prev = idx, prev
            if durable or not self._group or idx - self._first >= self._batch_size:
                self._commit(acked=first)
            return list(range(first, idx))

    def flush(self) -> None:
        """Commit everything appended so far."""
        with self._lock:
            self._check()
            self._commit()

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener`` with the ``(index, leaf)`` pairs of every transaction this
        handle commits from now on, in index order, right after the commit (under the
        store's lock, possibly from the background flusher thread). Entries that are rolled
        back are never reported; an exception from the listener is logged, not raised."""
        with self._lock:
            self._listeners.append(listener)

    def size(self) -> int:
        """Entries in the log, this store's uncommitted appends included."""
        with self._lock:
            self._check()
            if self._txn:
                return self._next
            return int(self._read(self._sql("size"))[0][0])

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
        return [StoredEntry(int(i), None if leaf is None else bytes(leaf), bytes(lh),
                            bytes(ch), float(ts))
                for i, leaf, lh, ch, ts in self._span(self._sql("entries"), start, end)]

    def leaves_containing(self, start: int, end: int, needle: bytes
                          ) -> list[tuple[int, bytes, bytes]]:
        """``(index, leaf, leaf hash)`` of the entries of ``[start, end)`` whose body contains
        ``needle`` (searched by the database; pruned bodies never match)."""
        if not isinstance(needle, bytes) or not needle:
            raise ValueError("leaves_containing needs a non-empty bytes needle")
        with self._lock:
            self._check()
            self._range(start, end)
            if self._txn:
                self._drain()
            rows = self._read(self._sql("containing"), (start, end, needle)) \
                if end > start else []
        return [(i, leaf, lh) if type(leaf) is bytes and type(lh) is bytes  # sqlite: as is
                else (int(i), bytes(leaf), bytes(lh)) for i, leaf, lh in rows]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes ``[start, end)``."""
        return [bytes(r[0]) for r in self._span(self._sql("leaf_hashes"), start, end)]

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
                self._insert_nodes(rows)

    def node(self, level: int, idx: int) -> bytes | None:
        """A stored Merkle node, or ``None``."""
        with self._lock:
            self._check()
            rows = self._read(self._sql("node"), (level, idx))
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
                    self._drain()  # the entries it covers are in the database first
                    self._insert_checkpoint(size, note, time.time())
                elif existing != note:
                    raise LedgerStoreError(f"another checkpoint for size {size} is stored")
            finally:
                self._commit()

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """The checkpoint with the largest size, or ``None``."""
        with self._lock:
            self._check()
            rows = self._read(self._sql("latest_checkpoint"))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def checkpoint(self, size: int) -> str | None:
        """The checkpoint note for ``size``, or ``None``."""
        with self._lock:
            self._check()
            rows = self._read(self._sql("checkpoint"), (size,))
        return str(rows[0][0]) if rows else None

    def checkpoint_sizes(self) -> list[int]:
        """The sizes of every stored checkpoint, ascending."""
        with self._lock:
            self._check()
            return [int(r[0]) for r in self._read(self._sql("checkpoint_sizes"))]

    def prune_bodies(self, before_ts: float) -> int:
        """Delete the bodies of entries appended before ``before_ts``; commit; count them."""
        with self._lock:
            self._check()
            if self._txn:
                self._drain()
            count = self._delete_bodies(float(before_ts))
            self._commit()
            return count

    def close(self) -> None:
        """Commit what is pending, stop the flusher and close the database. Idempotent."""
        with self._lock:
            if self._state["closed"]:
                return
            error, self._bg_error = self._bg_error, None
            try:
                if os.getpid() == self._pid and self._connected():
                    self._commit()
            finally:
                self._finalizer()
        if self._thread is not None:  # it only ever commits, so never calls close()
            self._thread.join(timeout=5)
        if error is not None:
            raise error

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
