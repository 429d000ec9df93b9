"""PostgresStore: the ledger store contract against a real, throwaway PostgreSQL server,
plus group commit, triggers, several writers and connection errors.

The server (``tests/ledger/pgserver.py``) is started once per session and always stopped;
each test gets a log of its own (a fresh schema). `make test` installs PostgreSQL and
psycopg; without them these tests fail (never skip).
"""

from __future__ import annotations

import functools
import gc
import itertools
import os
import re
import threading
import time
from collections.abc import Iterator

import psycopg  # installed by `make test` (extra .[postgres]); missing => the run fails
import pytest

from codor.ledger.merkle import leaf_hash
from codor.ledger.postgres import PostgresStore
from codor.ledger.store import (
    GENESIS_CHAIN,
    LedgerStore,
    LedgerStoreError,
    chain_hash,
    verify_chain,
)
from tests.ledger import pgserver
from tests.ledger.contract import LedgerStoreContract, RawSQL, StoreFactory

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PgServer]:
    server = pgserver.start()  # `make test` installs PostgreSQL; no server => the run fails
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dsn(pg_server: pgserver.PgServer) -> str:
    return pg_server.dsn


@pytest.fixture
def schema() -> str:
    """A fresh log per test: its own schema."""
    return f"ledger_{os.getpid()}_{next(_names)}"


def run_sql(dsn: str, schema: str, statement: str) -> None:
    """One statement in its own connection (search_path = the log's schema), committed."""
    with psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}") as conn:
        conn.execute(statement)


def committed(dsn: str, schema: str) -> int:
    """Entries another connection sees (committed ones only)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f'SELECT COUNT(*) FROM "{schema}".entries').fetchone()
    assert row is not None
    return int(row[0])


class TestPostgresStoreContract(LedgerStoreContract):
    """The backend-independent contract (3 concurrent writer processes; SIGKILLs of a
    durable-appending child), against one schema per test."""

    @pytest.fixture
    def factory(self, dsn: str, schema: str) -> StoreFactory:
        return functools.partial(PostgresStore, dsn, schema=schema)

    POISON = (
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF position('poison'::bytea IN NEW.leaf) > 0 THEN "
        "RAISE EXCEPTION 'poisoned body refused'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER poison BEFORE INSERT ON bodies FOR EACH ROW EXECUTE FUNCTION poison()",
    )
    CURE = ("DROP TRIGGER poison ON bodies", "DROP FUNCTION poison()")
    WAIT_ARG = "lock_timeout"
    BUSY = "locked by another writer"

    @pytest.fixture
    def raw_sql(self, dsn: str, schema: str) -> RawSQL:
        return functools.partial(run_sql, dsn, schema)


@pytest.fixture
def store(dsn: str, schema: str) -> Iterator[PostgresStore]:
    s = PostgresStore(dsn, schema=schema, flush_interval=0.2)
    yield s
    s.close()


def test_is_a_ledger_store(store: PostgresStore) -> None:
    assert isinstance(store, LedgerStore)


def test_schema_and_triggers(store: PostgresStore, dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT value FROM \"{schema}\".meta WHERE key = 'schema'")
        assert row.fetchone() == ("1",)
        triggers = {r[0] for r in conn.execute(
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND NOT t.tgisinternal", (schema,))}
    assert triggers == {"entries_lock", "entries_insert", "bodies_insert", "nodes_insert",
                        "checkpoints_insert", "bodies_no_update", "entries_immutable",
                        "checkpoints_immutable", "nodes_immutable", "head_immutable"}


def test_more_tampering_refused(store: PostgresStore, dsn: str, schema: str) -> None:
    store.append([b"a", b"b"], durable=True)
    lh = leaf_hash(b"c").hex()
    prev = store.entry(1).chain_hash
    good_chain = chain_hash(prev, leaf_hash(b"c")).hex()
    for statement, refusal in [
        ("TRUNCATE entries", "entries are immutable"),
        ("TRUNCATE bodies", "bodies cannot change"),
        ("DELETE FROM head", "head are immutable"),
        (f"INSERT INTO entries VALUES (2, '\\x{lh}', '\\x{lh}', 0)",
         "does not extend the chain"),
        (f"INSERT INTO entries VALUES (2, '\\x{lh}', '\\x{bytes(32).hex()}', 0) "
         "ON CONFLICT (idx) DO NOTHING", "does not extend"),
        (f"INSERT INTO entries VALUES (5, '\\x{lh}', '\\x{good_chain}', 0)",
         "next index only"),
        ("INSERT INTO checkpoints VALUES (9, 'beyond', 0)", "beyond the log"),
    ]:
        with pytest.raises(psycopg.errors.IntegrityError, match=refusal):
            run_sql(dsn, schema, statement)
    # the database computes the same chain: a correct raw insert is accepted
    run_sql(dsn, schema, f"INSERT INTO entries VALUES (2, '\\x{lh}', '\\x{good_chain}', 1)")
    assert store.size() == 3
    assert verify_chain(store.entries(0, 3)) == bytes.fromhex(good_chain)


def test_group_commit_by_interval(store: PostgresStore, dsn: str, schema: str) -> None:
    store.append([b"a"])
    assert store.size() == 1 and committed(dsn, schema) == 0  # in the open transaction
    deadline = time.monotonic() + 5
    while committed(dsn, schema) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert committed(dsn, schema) == 1  # the background flusher committed it


def test_group_commit_by_batch_size(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, batch_size=10, flush_interval=60) as store:
        store.append([b"x"] * 9)
        assert committed(dsn, schema) == 0
        store.append([b"y"])
        assert committed(dsn, schema) == 10
        store.append([b"z"])
        assert committed(dsn, schema) == 10
        store.append([b"w"], durable=True)
        assert committed(dsn, schema) == 12


def test_flush_and_durable(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, flush_interval=60) as store:
        store.append([b"a", b"b"])
        assert committed(dsn, schema) == 0
        store.flush()
        assert committed(dsn, schema) == 2
        store.append([], durable=True)
        store.append([b"c"], durable=True)
        assert committed(dsn, schema) == 3


def test_batch_size_one_commits_every_append(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, batch_size=1) as store:
        store.append([b"a"])
        assert committed(dsn, schema) == 1


def test_refusal_inside_a_group_commit_keeps_pending_entries(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, flush_interval=60) as store:
        store.put_nodes([(0, 0, bytes(32))])
        store.append([b"pending"])
        with pytest.raises(LedgerStoreError, match="refused: codor ledger: a stored Merkle"):
            store.put_nodes([(0, 0, bytes(range(32)))])
        assert store.size() == 1 and committed(dsn, schema) == 0
        store.flush()
        assert committed(dsn, schema) == 1
        assert store.node(0, 0) == bytes(32)


@pytest.mark.parametrize("count", [1, 20])  # a batch of 2: pipelined INSERTs; of 21: COPY
def test_refused_append_rolls_back_the_whole_transaction(dsn: str, schema: str,
                                                         count: int) -> None:
    with PostgresStore(dsn, schema=schema, flush_interval=60) as store:
        store.append([b"kept"], durable=True)
        store.append([b"pending"])
        store._prev = bytes(32)  # desynchronise this handle: the database must refuse
        # the rows wait in memory (their indexes are final: the head lock is held) and are
        # written when the batch commits: that is where the database refuses them
        assert store.append([b"x"] * count) == list(range(2, 2 + count))
        with pytest.raises(LedgerStoreError, match=r"does not extend the chain.*entries "
                                                   rf"1\.\.{1 + count} were rolled back"):
            store.flush()
        assert store.size() == 1 and committed(dsn, schema) == 1
        assert store.append([b"y"] * count, durable=True) == list(range(1, 1 + count))
        verify_chain(store.entries(0, 1 + count))


def test_raw_inserts_take_the_head_lock_too(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, flush_interval=60) as store:
        store.append([b"held"])  # holds the head lock until it commits
        with pytest.raises(psycopg.errors.LockNotAvailable):
            run_sql(dsn, schema, "SET lock_timeout = 100; INSERT INTO entries "
                                 "SELECT * FROM entries WHERE false")


def test_writer_threads_share_one_chain(dsn: str, schema: str) -> None:
    """Several stores in one process (one connection each), group-committing."""
    PostgresStore(dsn, schema=schema).close()
    errors: list[BaseException] = []
    got: dict[int, bytes] = {}
    lock = threading.Lock()

    def writer(n: int) -> None:
        try:
            with PostgresStore(dsn, schema=schema, batch_size=7, flush_interval=0.01) as s:
                for k in range(60):
                    leaves = [f"t{n}:{k}:{j}".encode() for j in range(k % 3 + 1)]
                    idxs = s.append(leaves, durable=k % 10 == 0)
                    with lock:
                        got.update(zip(idxs, leaves, strict=True))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with PostgresStore(dsn, schema=schema) as s:
        size = s.size()
        assert sorted(got) == list(range(size))
        entries = s.entries(0, size)
        assert [e.leaf for e in entries] == [got[i] for i in range(size)]
        verify_chain(entries)


def test_concurrent_first_open_creates_the_schema_once(dsn: str, schema: str) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        barrier.wait()
        try:
            stores.append(PostgresStore(dsn, schema=schema))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors and len(stores) == 4
        for n, s in enumerate(stores):
            assert s.append([b"%d" % n], durable=True) == [n]
    finally:
        for s in stores:
            s.close()


def test_logs_in_separate_schemas_are_independent(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema + "_a") as a, \
            PostgresStore(dsn, schema=schema + "_b") as b:
        a.append([b"a0", b"a1"], durable=True)
        assert b.append([b"b0"], durable=True) == [0]
        assert (a.size(), b.size()) == (2, 1)


def test_garbage_collected_store_commits(dsn: str, schema: str) -> None:
    store = PostgresStore(dsn, schema=schema, flush_interval=60)
    store.append([b"pending"])
    del store
    gc.collect()
    assert committed(dsn, schema) == 1


def test_prune_is_a_delete_of_bodies_only(store: PostgresStore, dsn: str,
                                          schema: str) -> None:
    store.append([b"a", b"b"], durable=True)
    run_sql(dsn, schema, "DELETE FROM bodies WHERE idx = 0")  # pruning is expressible in SQL
    entries = store.entries(0, 2)
    assert entries[0].leaf is None and entries[1].leaf == b"b"
    verify_chain(entries)


def test_forged_body_is_refused(store: PostgresStore, dsn: str, schema: str) -> None:
    store.append([b"a"], durable=True)
    assert store.prune_bodies(time.time() + 1) == 1
    with pytest.raises(psycopg.errors.IntegrityError, match="does not match its leaf hash"):
        run_sql(dsn, schema, "INSERT INTO bodies VALUES (0, '\\x666f72676564')")
    run_sql(dsn, schema, "INSERT INTO bodies VALUES (0, '\\x61')")  # the true body may return
    assert store.entry(0).leaf == b"a"


def test_tampered_hash_is_detected_when_triggers_are_dropped(store: PostgresStore, dsn: str,
                                                             schema: str) -> None:
    store.append([b"a", b"b"], durable=True)
    run_sql(dsn, schema, "DROP TRIGGER entries_immutable ON entries")  # the owner can...
    run_sql(dsn, schema, f"UPDATE entries SET leaf_hash = '\\x{'00' * 32}' WHERE idx = 1")
    with pytest.raises(LedgerStoreError, match="entry 1"):  # ...but the chain shows it
        verify_chain(store.entries(0, 2))


def test_uncommitted_entries_are_not_seen_by_others(store: PostgresStore, dsn: str,
                                                    schema: str) -> None:
    store.append([b"a"], durable=True)
    store.append([b"b"])
    with PostgresStore(dsn, schema=schema) as other:
        assert other.size() == 1
        assert store.size() == 2
        assert other.leaf_hashes(0, 1) == [leaf_hash(b"a")]


def test_lost_connection_is_reported_then_reopened(dsn: str, schema: str) -> None:
    with PostgresStore(dsn, schema=schema, flush_interval=60) as store:
        store.append([b"kept"], durable=True)
        store.append([b"lost"])
        pid = store._conn.info.backend_pid
        run_sql(dsn, schema, f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(LedgerStoreError, match=r"entries 1\.\.1 were rolled back"):
            store.append([b"next"], durable=True)
        assert store.append([b"again"], durable=True) == [1]  # reconnected
        entries = store.entries(0, 2)
        assert [e.leaf for e in entries] == [b"kept", b"again"]
        assert verify_chain(entries) == chain_hash(
            chain_hash(GENESIS_CHAIN, leaf_hash(b"kept")), leaf_hash(b"again"))


def test_schema_version_mismatch(dsn: str, schema: str) -> None:
    PostgresStore(dsn, schema=schema).close()
    run_sql(dsn, schema, "UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(LedgerStoreError, match="schema version 99"):
        PostgresStore(dsn, schema=schema)


def test_connection_errors_name_the_server_but_never_the_password(
        pg_server: pgserver.PgServer, schema: str) -> None:
    secret = pg_server.password
    closed_port = pgserver._free_port()
    cases = [
        (f"postgresql://codor:{secret}@127.0.0.1:{closed_port}/codor",
         f"127.0.0.1:{closed_port}/codor"),
        (f"postgresql://codor:wrong-{secret}@127.0.0.1:{pg_server.port}/codor",
         f"127.0.0.1:{pg_server.port}/codor"),
        (f"host=127.0.0.1 port={pg_server.port} dbname=nope user=codor password={secret}",
         f"127.0.0.1:{pg_server.port}/nope"),
    ]
    for bad, where in cases:
        with pytest.raises(LedgerStoreError, match="cannot connect") as info:
            PostgresStore(bad, schema=schema, connect_timeout=2)
        assert where in str(info.value) and secret not in str(info.value), info.value
        assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(LedgerStoreError, match="cannot parse") as info:
        PostgresStore(f"host=127.0.0.1 password={secret} 'unterminated", schema=schema)
    assert secret not in str(info.value)


def test_bad_arguments(dsn: str, schema: str) -> None:
    for kwargs in ({"batch_size": 0}, {"flush_interval": -1}, {"schema": "Bad-Name"},
                   {"schema": "x; DROP TABLE y"}):
        with pytest.raises(ValueError):
            PostgresStore(dsn, **{"schema": schema, **kwargs})  # type: ignore[arg-type]
    with PostgresStore(dsn, schema=schema) as store:
        assert re.fullmatch(r"PostgresStore\(127\.0\.0\.1:\d+/codor \(schema \w+\)\)",
                            repr(store))
        with pytest.raises(ValueError):
            store.add_checkpoint(-1, "x")
        with pytest.raises(ValueError):
            store.put_nodes([(-1, 0, bytes(32))])
