"""Mutable state beside the ledger — approvals, API keys, agents — on SQLite or PostgreSQL.

The ledger is append-only; what changes (an approval's status, a revoked key) lives here, and
every change that matters is *also* recorded in the ledger as evidence. A workspace keeps
``.codor/state.db`` (SQLite, WAL); daemons that share a PostgreSQL ledger share this state in
the same database (schema ``codor_state``), so two daemons see the same approvals and keys.

SQL is written once with ``?`` placeholders; for PostgreSQL they become ``%s``. Each
component creates its own tables with :meth:`StateDB.migrate` (``CREATE ... IF NOT EXISTS``).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from codor.errors import CodorError

__all__ = ["StateDB", "StateError"]

_PG_SCHEMA: Final = "codor_state"
_PLACEHOLDER: Final = re.compile(r"\?")


class StateError(CodorError):
    """The state database could not be opened, read or written."""

    code = "E_STATE"


def _scrub(text: str) -> str:
    """An error message without a password from a connection string."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


class StateDB:
    """One connection to the state database, shared by threads under a lock (statements are
    short; a daemon's hot path reads keys from memory, not from here)."""

    def __init__(self, conn: Any, dialect: str, where: str) -> None:
        self._conn = conn
        self.dialect = dialect  # "sqlite" | "postgresql"
        self.where = where
        self._lock = threading.RLock()
        self._depth = 0

    @classmethod
    def open(cls, target: str | Path) -> StateDB:
        """A ``postgresql://`` URL, or the path of a SQLite file (created when missing)."""
        text = str(target)
        if text.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError:
                raise StateError("a PostgreSQL state database needs psycopg: "
                                 "pip install 'codor[postgres]'") from None
            try:
                conn = psycopg.connect(text, autocommit=True, connect_timeout=10)
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_PG_SCHEMA}")
                conn.execute(f"SET search_path TO {_PG_SCHEMA}")
            except psycopg.Error as exc:
                raise StateError(f"state database {_scrub(text)}: {_scrub(str(exc))}") from None
            return cls(conn, "postgresql", _scrub(text))
        path = Path(text)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lite = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
            lite.execute("PRAGMA journal_mode=WAL")
            lite.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StateError(f"state database {path}: {exc}") from None
        return cls(lite, "sqlite", str(path))

    def _sql(self, sql: str) -> str:
        return _PLACEHOLDER.sub("%s", sql) if self.dialect == "postgresql" else sql

    def _errors(self) -> tuple[type[BaseException], ...]:
        if self.dialect == "postgresql":
            import psycopg

            return (psycopg.Error,)
        return (sqlite3.Error,)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with self._lock:
            try:
                cur = self._conn.execute(self._sql(sql), tuple(params))
                return int(cur.rowcount or 0)
            except self._errors() as exc:
                raise StateError(f"state database {self.where}: {_scrub(str(exc))}") from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query; returns its rows."""
        with self._lock:
            try:
                return [tuple(r) for r in self._conn.execute(self._sql(sql),
                                                             tuple(params)).fetchall()]
            except self._errors() as exc:
                raise StateError(f"state database {self.where}: {_scrub(str(exc))}") from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StateDB]:
        """Statements inside run atomically (nested calls join the outer transaction). On
        SQLite the write lock is taken at the start (``BEGIN IMMEDIATE``), so a read-then-write
        cannot race another process."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    with contextlib.suppress(StateError):
                        self.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.execute("COMMIT")

    def migrate(self, statements: Sequence[str]) -> None:
        """Create a component's tables and indexes (idempotent statements only). On
        PostgreSQL, ``BLOB`` becomes ``BYTEA`` and ``REAL`` becomes ``DOUBLE PRECISION``;
        ``INTEGER`` columns are 64-bit there (``BIGINT``)."""
        with self._lock:
            if self.dialect == "postgresql":
                # concurrent daemons may migrate at once: serialise on an advisory lock
                self.execute("SELECT pg_advisory_lock(hashtext('codor_state_migrate'))")
            try:
                for statement in statements:
                    sql = statement
                    if self.dialect == "postgresql":
                        sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
                        sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
                        sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
                    self.execute(sql)
            finally:
                if self.dialect == "postgresql":
                    self.execute("SELECT pg_advisory_unlock(hashtext('codor_state_migrate'))")

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._conn.close()
