"""A shared ledger store in PostgreSQL (psycopg 3): one log per schema, many writers.

Install with ``pip install 'codor[postgres]'``. ``PostgresStore(dsn, schema="codor_ledger")``
creates the schema on first use (one transaction, under an advisory lock, so concurrent first
opens are safe). Tables (:data:`_SCHEMA`): ``meta``, ``head``, ``entries``, ``bodies``,
``nodes``, ``checkpoints`` — the layout of :mod:`codor.ledger.sqlite`, plus ``head``: one row
that every write transaction locks (``SELECT ... FOR UPDATE``) before it reads the last index
and chain hash, so writers in any number of processes or hosts take turns and the index
sequence stays gap-free and the chain consistent (an ``INSERT`` into ``entries`` takes that
lock too, whoever runs it).

Triggers (PL/pgSQL, ``RAISE ... 'codor ledger: ...'`` with SQLSTATE 23000) make immutability
a property of the database, whoever connects: ``UPDATE``/``DELETE``/``TRUNCATE`` of
``entries``, ``checkpoints``, ``nodes`` and ``head``; ``UPDATE``/``TRUNCATE`` of ``bodies``; an
entry at an index other than ``MAX(idx) + 1`` or whose chain hash is not
``SHA-256(previous chain hash || leaf hash)``; a body that is not for an existing entry above
the newest body, or whose ``SHA-256(0x00 || leaf)`` is not the entry's leaf hash; a second
checkpoint for a size, or one beyond the log; a node with another hash (the same node again is
skipped). Only bodies may go: ``DELETE FROM bodies`` is :meth:`PostgresStore.prune_bodies`.
The owner of the schema can still drop a trigger; the chain shows what changed after that
(:func:`codor.ledger.store.verify_chain`).

Group commit, as in :class:`codor.ledger.sqlite.SQLiteStore`: :meth:`PostgresStore.append`
opens a write transaction (which holds the ``head`` lock) and keeps it open across calls until
``batch_size`` entries are pending or ``flush_interval`` seconds have passed; a background
flusher thread commits at that deadline. The indexes are final once the lock is held, so the
entries wait in memory and are sent in one go right before the ``COMMIT``
(:mod:`codor.ledger.storebase`): a few round trips per batch, none per append. Batches of 8
entries or more are sent with binary ``COPY``, smaller ones as pipelined ``INSERT``
statements. ``append(..., durable=True)``, :meth:`flush`, :meth:`add_checkpoint` and
:meth:`prune_bodies` commit before returning: durable against a crash of this process, and
against a crash of the server as far as its ``synchronous_commit`` says (``on``, the
default: yes). Uncommitted appends are lost if the process dies; :meth:`close`, interpreter
exit and garbage collection commit them. Other writers wait for the ``head`` lock up to
``lock_timeout`` seconds. A store serialises its own calls (threads may share one); open one
per process.

Errors are :class:`~codor.ledger.store.LedgerStoreError`; their messages name the server as
``host:port/dbname`` and the schema, never the password.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import weakref
from typing import Any, Final

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict
except ImportError as _exc:  # pragma: no cover - depends on the installation
    raise ImportError("the PostgreSQL ledger store needs psycopg 3: "
                      "pip install 'codor[postgres]'") from _exc

from codor.ledger.store import LedgerStoreError
from codor.ledger.storebase import Batch, GroupCommitStore

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

SCHEMA_VERSION: Final = "1"

#: Key of the advisory lock that serialises schema creation (``pg_advisory_xact_lock(k,
#: hashtext(schema))``): "codo" in ASCII.
_SETUP_LOCK: Final = 0x636F646F

#: Batches of this many entries or more go by ``COPY``; smaller ones by pipelined ``INSERT``s.
_COPY_FROM: Final = 8

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# {s} is the quoted schema name (validated by _SCHEMA_NAME); there are no other braces.
_SCHEMA: Final = r"""
CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO {s}.meta VALUES ('schema', '1');  -- SCHEMA_VERSION
CREATE TABLE {s}.head (id INTEGER PRIMARY KEY CHECK (id = 1));
INSERT INTO {s}.head VALUES (1);
CREATE TABLE {s}.entries (idx BIGINT PRIMARY KEY,
    leaf_hash BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
    chain_hash BYTEA NOT NULL CHECK (length(chain_hash) = 32),
    ts DOUBLE PRECISION NOT NULL);
CREATE TABLE {s}.bodies (idx BIGINT PRIMARY KEY, leaf BYTEA NOT NULL);
ALTER TABLE {s}.bodies ALTER COLUMN leaf SET STORAGE EXTERNAL;  -- leaves: no compression
CREATE TABLE {s}.nodes (level INTEGER NOT NULL CHECK (level >= 0),
    idx BIGINT NOT NULL CHECK (idx >= 0),
    hash BYTEA NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (level, idx));
CREATE TABLE {s}.checkpoints (size BIGINT PRIMARY KEY CHECK (size >= 0),
    note TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL);

CREATE FUNCTION {s}.refuse() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'codor ledger: ' || TG_ARGV[0],
        ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE FUNCTION {s}.lock_head() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM id FROM {s}.head FOR UPDATE;  -- writers take turns, PostgresStore or not
    RETURN NULL;
END $$;

CREATE FUNCTION {s}.entries_insert() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last_idx BIGINT;
    prev BYTEA;
BEGIN
    SELECT idx, chain_hash INTO last_idx, prev FROM {s}.entries ORDER BY idx DESC LIMIT 1;
    IF NOT FOUND THEN
        last_idx := -1;
        prev := decode(repeat('00', 32), 'hex');
    END IF;
    IF NEW.idx IS DISTINCT FROM last_idx + 1 THEN
        RAISE EXCEPTION 'codor ledger: entries are appended at the next index only'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.chain_hash IS DISTINCT FROM sha256(prev || NEW.leaf_hash) THEN
        RAISE EXCEPTION 'codor ledger: the chain hash of entry % does not extend the chain',
            NEW.idx USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION {s}.bodies_insert() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    lh BYTEA;
BEGIN
    SELECT leaf_hash INTO lh FROM {s}.entries WHERE idx = NEW.idx;
    IF lh IS NULL OR NEW.idx <= (SELECT COALESCE(MAX(idx), -1) FROM {s}.bodies) THEN
        RAISE EXCEPTION 'codor ledger: a body is stored only with its new entry'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF sha256('\x00'::bytea || NEW.leaf) IS DISTINCT FROM lh THEN
        RAISE EXCEPTION 'codor ledger: the body of entry % does not match its leaf hash',
            NEW.idx USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION {s}.nodes_insert() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stored BYTEA;
BEGIN
    SELECT hash INTO stored FROM {s}.nodes WHERE level = NEW.level AND idx = NEW.idx;
    IF NOT FOUND THEN
        RETURN NEW;
    ELSIF stored = NEW.hash THEN
        RETURN NULL;  -- the same node again: skip it
    END IF;
    RAISE EXCEPTION 'codor ledger: a stored Merkle node cannot change'
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE FUNCTION {s}.checkpoints_insert() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM {s}.checkpoints WHERE size = NEW.size) THEN
        RAISE EXCEPTION 'codor ledger: a checkpoint for this size exists'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.size > (SELECT COALESCE(MAX(idx), -1) + 1 FROM {s}.entries) THEN
        RAISE EXCEPTION 'codor ledger: a checkpoint cannot be beyond the log'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER entries_lock BEFORE INSERT ON {s}.entries
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.lock_head();
CREATE TRIGGER entries_insert BEFORE INSERT ON {s}.entries
    FOR EACH ROW EXECUTE FUNCTION {s}.entries_insert();
CREATE TRIGGER bodies_insert BEFORE INSERT ON {s}.bodies
    FOR EACH ROW EXECUTE FUNCTION {s}.bodies_insert();
CREATE TRIGGER nodes_insert BEFORE INSERT ON {s}.nodes
    FOR EACH ROW EXECUTE FUNCTION {s}.nodes_insert();
CREATE TRIGGER checkpoints_insert BEFORE INSERT ON {s}.checkpoints
    FOR EACH ROW EXECUTE FUNCTION {s}.checkpoints_insert();
CREATE TRIGGER bodies_no_update BEFORE UPDATE OR TRUNCATE ON {s}.bodies
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse('bodies cannot change (only be pruned)');
"""

_IMMUTABLE: Final = "".join(
    f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON {{s}}.{table} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {{s}}.refuse("
    f"'{table} are immutable (no UPDATE, DELETE or TRUNCATE)');\n"
    for table in ("entries", "checkpoints", "nodes", "head"))

_QUERIES: Final = {
    "version": "SELECT value FROM {s}.meta WHERE key = 'schema'",
    "lock": "SELECT id FROM {s}.head FOR UPDATE",
    "last": "SELECT idx, chain_hash FROM {s}.entries ORDER BY idx DESC LIMIT 1",
    "size": "SELECT COALESCE(MAX(idx), -1) + 1 FROM {s}.entries",
    "copy_entries": "COPY {s}.entries (idx, leaf_hash, chain_hash, ts) FROM STDIN "
                    "(FORMAT BINARY)",
    "copy_bodies": "COPY {s}.bodies (idx, leaf) FROM STDIN (FORMAT BINARY)",
    "insert_entry": "INSERT INTO {s}.entries (idx, leaf_hash, chain_hash, ts) "
                    "VALUES (%s, %s, %s, %s)",
    "insert_body": "INSERT INTO {s}.bodies (idx, leaf) VALUES (%s, %s)",
    "entries": "SELECT e.idx, b.leaf, e.leaf_hash, e.chain_hash, e.ts FROM {s}.entries e "
               "LEFT JOIN {s}.bodies b ON b.idx = e.idx "
               "WHERE e.idx >= %s AND e.idx < %s ORDER BY e.idx",
    "containing": "SELECT e.idx, b.leaf, e.leaf_hash FROM {s}.entries e "
                  "JOIN {s}.bodies b ON b.idx = e.idx WHERE e.idx >= %s AND e.idx < %s "
                  "AND position(%s::bytea in b.leaf) > 0 ORDER BY e.idx",
    "leaf_hashes": "SELECT leaf_hash FROM {s}.entries WHERE idx >= %s AND idx < %s "
                   "ORDER BY idx",
    "put_nodes": "INSERT INTO {s}.nodes (level, idx, hash) "
                 "SELECT l, i, h FROM unnest(%s::int4[], %s::int8[], %s::bytea[]) "
                 "AS u(l, i, h)",
    "node": "SELECT hash FROM {s}.nodes WHERE level = %s AND idx = %s",
    "add_checkpoint": "INSERT INTO {s}.checkpoints (size, note, ts) VALUES (%s, %s, %s)",
    "latest_checkpoint": "SELECT size, note FROM {s}.checkpoints ORDER BY size DESC LIMIT 1",
    "checkpoint": "SELECT note FROM {s}.checkpoints WHERE size = %s",
    "checkpoint_sizes": "SELECT size FROM {s}.checkpoints ORDER BY size",
    "prune_bodies": "DELETE FROM {s}.bodies b USING {s}.entries e "
                    "WHERE b.idx = e.idx AND e.ts < %s",
}


def _where(params: dict[str, Any]) -> str:
    """``host:port/dbname`` from connection parameters (never the password)."""
    host = str(params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST")
               or "local socket")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    db = str(params.get("dbname") or os.environ.get("PGDATABASE")
             or params.get("user") or os.environ.get("PGUSER") or "")
    return f"{host}:{port}/{db}"


def _write_batch(conn: psycopg.Connection[Any], q: dict[str, str],
                 entries: list[tuple[int, bytes, bytes, float]],
                 bodies: list[tuple[int, bytes]]) -> None:
    """Insert a batch's rows: pipelined ``INSERT``s (one round trip) for a few, binary
    ``COPY`` (several times faster per row) for more."""
    cur = conn.cursor()
    if len(entries) < _COPY_FROM:
        with conn.pipeline():
            cur.executemany(q["insert_entry"], entries)
            cur.executemany(q["insert_body"], bodies)
        return
    with cur.copy(q["copy_entries"]) as copy:
        copy.set_types(["int8", "bytea", "bytea", "float8"])
        for row in entries:
            copy.write_row(row)
    with cur.copy(q["copy_bodies"]) as copy:
        copy.set_types(["int8", "bytea"])
        for body in bodies:
            copy.write_row(body)


def _finalize(cond: threading.Condition, pid: int, state: dict[str, Any], q: dict[str, str],
              batch: Batch) -> None:
    """Write what is pending, commit and close (on close(), garbage collection or
    interpreter exit)."""
    with cond:
        if state["closed"]:
            return
        state["closed"] = True
        cond.notify_all()
        conn: psycopg.Connection[Any] | None = state["conn"]
        if conn is None or os.getpid() != pid:  # never touch an inherited copy after fork()
            return
        with contextlib.suppress(psycopg.Error):
            if state["txn"] and not conn.closed:
                try:
                    entries, bodies = batch.unwritten()
                    if entries:
                        _write_batch(conn, q, entries, bodies)
                    conn.execute("COMMIT")
                except psycopg.Error:
                    if not conn.closed:
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    batch.reset()
        with contextlib.suppress(psycopg.Error):
            conn.close()


class PostgresStore(GroupCommitStore):
    """A :class:`~codor.ledger.store.LedgerStore` in a PostgreSQL schema (see the module doc).

    ``dsn`` is a libpq connection string or URI. ``batch_size`` entries or
    ``flush_interval`` seconds per group commit (``batch_size=1`` or ``flush_interval=0``
    commit on every append); ``lock_timeout`` is how long to wait for another writer;
    ``connect_timeout`` applies when the DSN sets none. A lost connection is reopened by the
    next call (what was not committed is reported lost by the call that found it lost).
    """

    _kind = "PostgresStore"
    _db_error = psycopg.Error
    _refusal = pg_errors.IntegrityError
    _hide_cause = True

    def __init__(self, dsn: str, *, schema: str = "codor_ledger", batch_size: int = 100,
                 flush_interval: float = 0.5, lock_timeout: float = 30.0,
                 connect_timeout: float = 10.0) -> None:
        if batch_size < 1 or flush_interval < 0 or lock_timeout < 0 or connect_timeout <= 0:
            raise ValueError("need batch_size >= 1, flush_interval >= 0, lock_timeout >= 0 "
                             "and connect_timeout > 0")
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must be a lower-case SQL identifier, got {schema!r}")
        try:
            params = conninfo_to_dict(dsn)
        except (psycopg.Error, TypeError):
            # the parser's message may quote the DSN, password included: do not repeat it
            raise LedgerStoreError("cannot parse the PostgreSQL DSN (not shown: it may "
                                   "contain a password)") from None
        self._dsn = dsn
        self._password = str(params.get("password") or "")
        self._connect_args: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            self._connect_args["connect_timeout"] = max(1, round(connect_timeout))
        if "application_name" not in params:
            self._connect_args["application_name"] = "codor-ledger"
        self.schema = schema
        self.where = f"{_where(params)} (schema {schema})"
        quoted = f'"{schema}"'
        self._q = {name: q.replace("{s}", quoted) for name, q in _QUERIES.items()}
        self._init_group(batch_size, flush_interval)
        self._lock_timeout = lock_timeout
        self._state = {"closed": False, "conn": None, "txn": False}
        self._finalizer = weakref.finalize(self, _finalize, self._cond, self._pid, self._state,
                                           self._q, self._batch)
        try:
            self._connect()
            self._setup()
        except BaseException:
            self._finalizer()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.where})"

    # -- connection ------------------------------------------------------------------------
    @property
    def _txn(self) -> bool:
        return bool(self._state["txn"])

    @_txn.setter
    def _txn(self, value: bool) -> None:
        self._state["txn"] = value

    @property
    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = self._state["conn"]
        if conn is None:
            raise LedgerStoreError(f"ledger {self.where}: not connected")
        return conn

    def _scrub(self, exc: BaseException) -> str:
        """The error's message on one line, without the password (libpq does not print it;
        this makes sure)."""
        diag = getattr(exc, "diag", None)
        primary = diag.message_primary if isinstance(exc, psycopg.Error) and diag else None
        text = " ".join((primary or str(exc)).split())
        if self._password:
            text = text.replace(self._password, "***")
        return text

    def _connect(self) -> None:
        try:
            conn = psycopg.connect(self._dsn, **self._connect_args)
        except psycopg.Error as exc:
            raise LedgerStoreError(f"cannot connect to the ledger database {self.where}: "
                                   f"{self._scrub(exc)}") from None
        try:
            if conn.info.host and conn.info.port:
                self.where = (f"{conn.info.host}:{conn.info.port}/{conn.info.dbname} "
                              f"(schema {self.schema})")
            conn.execute(f"SET lock_timeout = {round(self._lock_timeout * 1000)}")
        except psycopg.Error as exc:
            conn.close()
            raise LedgerStoreError(f"ledger {self.where}: {self._scrub(exc)}") from None
        self._state["conn"] = conn

    def _setup(self) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                         (_SETUP_LOCK, self.schema))
            found = self._version()
            if found is None:  # a new log: create the schema, in this transaction
                quoted = f'"{self.schema}"'
                if conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s",
                                (self.schema,)).fetchone() is None:  # else: made by a DBA
                    conn.execute(f"CREATE SCHEMA {quoted}")
                conn.execute((_SCHEMA + _IMMUTABLE).replace("{s}", quoted))
                found = self._version()
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            raise LedgerStoreError(f"cannot open ledger {self.where}: "
                                   f"{self._scrub(exc)}") from None
        if found != SCHEMA_VERSION:
            raise LedgerStoreError(f"ledger {self.where} has schema version {found}; this "
                                   f"CODOR reads version {SCHEMA_VERSION}")

    def _version(self) -> str | None:
        """The schema version, or ``None`` before the schema exists."""
        row = self._conn.execute(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = 'meta'",
            (self.schema,)).fetchone()
        if row is None:
            return None
        row = self._conn.execute(self._q["version"]).fetchone()
        return None if row is None else str(row[0])

    # -- transaction machinery (callers hold self._lock) -----------------------------------
    def _label(self) -> str:
        return self.where

    def _flusher_tag(self) -> str:
        return self.schema

    def _sql(self, name: str) -> str:
        return self._q[name]

    def _connected(self) -> bool:
        return self._state["conn"] is not None

    def _check(self) -> None:
        super()._check()
        conn: psycopg.Connection[Any] | None = self._state["conn"]
        if conn is None or conn.closed:  # lost (server restart, network): pending is gone
            lost = self._lost() if self._txn else ""
            self._txn = False
            self._batch.reset()
            self._state["conn"] = None
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            self._connect()
            if lost:
                raise LedgerStoreError(f"ledger {self.where}: the connection was lost{lost}")

    def _begin(self) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            if conn.execute(self._q["lock"]).fetchone() is None:
                raise LedgerStoreError(f"ledger {self.where}: the head row is missing")
            row = conn.execute(self._q["last"]).fetchone()
        except LedgerStoreError:
            self._rollback()
            raise
        except psycopg.Error as exc:
            self._rollback()
            if isinstance(exc, pg_errors.LockNotAvailable):
                raise LedgerStoreError(
                    f"ledger {self.where}: cannot write: the log is locked by another writer "
                    f"for longer than lock_timeout ({self._lock_timeout:g} s)") from None
            raise LedgerStoreError(f"ledger {self.where}: cannot write: "
                                   f"{self._scrub(exc)}") from exc
        self._opened(row)

    def _rollback(self) -> None:
        self._txn = False
        with contextlib.suppress(psycopg.Error, LedgerStoreError):
            if not self._conn.closed:
                self._conn.execute("ROLLBACK")

    def _end(self) -> None:
        self._conn.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args, binary=True).fetchall()
        except psycopg.Error as exc:
            if self._txn and self._conn.info.transaction_status != \
                    psycopg.pq.TransactionStatus.INTRANS:
                raise self._failed("read", exc) from None
            raise LedgerStoreError(f"ledger {self.where}: read failed: "
                                   f"{self._scrub(exc)}") from None

    def _insert(self, entries: list[tuple[int, bytes, bytes, float]],
                bodies: list[tuple[int, bytes]]) -> None:
        _write_batch(self._conn, self._q, entries, bodies)

    def _read_range(self, sql: str, start: int, end: int) -> list[Any]:
        return self._read(sql, (start, end)) if end > start else []

    def _execute(self, sql: str, args: Any, own: bool) -> int:
        conn = self._conn
        if own:
            return int(conn.execute(sql, args, binary=True).rowcount)
        conn.execute("SAVEPOINT codor_write")  # a refusal must not abort the pending appends
        try:
            count = conn.execute(sql, args, binary=True).rowcount
        except pg_errors.IntegrityError:
            conn.execute("ROLLBACK TO SAVEPOINT codor_write")
            raise
        conn.execute("RELEASE SAVEPOINT codor_write")
        return int(count)

    def _insert_nodes(self, rows: list[tuple[int, int, bytes]]) -> None:
        levels, idxs, hashes = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        self._write("put_nodes", self._q["put_nodes"], (levels, idxs, hashes))

    def _insert_checkpoint(self, size: int, note: str, ts: float) -> None:
        self._write("add_checkpoint", self._q["add_checkpoint"], (size, note, ts))

    def _delete_bodies(self, before_ts: float) -> int:
        return self._write("prune_bodies", self._q["prune_bodies"], (before_ts,))
