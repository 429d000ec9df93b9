"""The contract every :class:`~codor.ledger.store.LedgerStore` backend must pass.

Use it by subclassing :class:`LedgerStoreContract` in a test module and defining two fixtures::

    class TestPostgresStore(LedgerStoreContract):
        @pytest.fixture
        def factory(self, pg_dsn) -> StoreFactory:       # a fresh, empty log per test
            return functools.partial(PostgresStore, pg_dsn)

        @pytest.fixture
        def raw_sql(self, pg_dsn) -> RawSQL:             # runs SQL beside the store
            ...

``factory`` is a callable opening a new handle on the *same* log each time (called with no
arguments, or with the backend's keyword arguments: ``flush_interval`` and :attr:`WAIT_ARG`); it
must be picklable, because the multi-process and crash tests call it in child processes
(``python -c``, with the repository root on ``PYTHONPATH``). ``raw_sql`` runs one statement
in its own connection and commits it, raising when the database refuses it; the tamper tests
use the table and column names of the SQLite schema (override :attr:`TAMPER_STATEMENTS` for
another layout) and expect the refusal to say ``codor ledger`` (:attr:`REFUSAL`). The
failed-write tests make the database itself refuse a body containing ``poison``, with the
backend's own trigger (:attr:`POISON` and :attr:`CURE`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codor.ledger.merkle import leaf_hash
from codor.ledger.store import (
    GENESIS_CHAIN,
    LedgerStore,
    LedgerStoreError,
    StoredEntry,
    chain_hash,
    verify_chain,
)

StoreFactory = Callable[..., LedgerStore]
RawSQL = Callable[[str], None]

ROOT = Path(__file__).resolve().parents[2]

#: Child process: open the store from the pickled factory in argv[1] and run a workload.
CHILD = r"""
import base64, pickle, random, sys, time
store = pickle.loads(base64.b64decode(sys.argv[1]))()
mode, tag = sys.argv[2], sys.argv[3]
if mode == "concurrent":
    n = int(sys.argv[4])
    rng = random.Random(tag)
    print("ready", flush=True)
    sys.stdin.readline()
    k = 0
    while k < n:
        m = min(n - k, rng.randint(1, 5))
        idxs = store.append([f"{tag}:{k + j}".encode() for j in range(m)],
                            durable=rng.random() < 0.3)
        for j, i in enumerate(idxs):
            print(i, k + j)
        k += m
        time.sleep(rng.random() * 0.002)  # let the other writers in
    store.close()
    print("done", flush=True)
elif mode == "crash":
    k = 0
    while True:
        [i] = store.append([f"{tag}:{k}".encode()], durable=True)
        print(i, k, flush=True)  # acknowledged: committed before this line is written
        k += 1
"""


def child(factory: StoreFactory, mode: str, *args: str,
          stdin: int | None = None) -> subprocess.Popen[bytes]:
    """Start a child process running :data:`CHILD` against the factory's log."""
    blob = base64.b64encode(pickle.dumps(factory)).decode()
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-c", CHILD, blob, mode, *args], cwd=ROOT,
                            env=env, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def finish(p: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Read a child's remaining output (through the same buffered pipes a ``readline`` may
    have read ahead into, unlike ``communicate``) and wait for it to end."""
    assert p.stdout is not None and p.stderr is not None
    with p:  # closes the pipes and waits
        out, err = p.stdout.read(), p.stderr.read()
    return out, err


def acked(output: bytes) -> list[tuple[int, int]]:
    """The complete ``index counter`` lines of a child's output (a partial last line and the
    ``ready``/``done`` markers are skipped)."""
    lines = output.decode().split("\n")[:-1]
    try:
        return [(int(a), int(b)) for a, b in (line.split() for line in lines if " " in line)]
    except ValueError:
        raise AssertionError(f"bad child output: {output!r}") from None


def snapshot(store: LedgerStore) -> tuple[list[StoredEntry], tuple[int, str] | None]:
    return store.entries(0, store.size()), store.latest_checkpoint()


class LedgerStoreContract:
    """Backend-independent tests; see the module docstring for the two fixtures to define."""

    CONCURRENT_PROCESSES = 3
    CONCURRENT_ENTRIES = 300  # per process
    CRASH_ROUNDS = 50
    #: What a refusal by the database says (triggers raise "codor ledger: ...").
    REFUSAL = "codor ledger"
    TAMPER_STATEMENTS = (
        "UPDATE entries SET ts = 0",
        "UPDATE entries SET leaf_hash = chain_hash WHERE idx = 1",
        "DELETE FROM entries WHERE idx = 2",
        "DELETE FROM entries",
        "INSERT INTO entries (idx, leaf_hash, chain_hash, ts) "
        "SELECT idx, leaf_hash, chain_hash, ts FROM entries WHERE idx = 0",
        "INSERT INTO entries (idx, leaf_hash, chain_hash, ts) "
        "SELECT idx + 10, leaf_hash, chain_hash, ts FROM entries WHERE idx = 0",
        "UPDATE bodies SET idx = idx + 1000",
        "INSERT INTO bodies (idx, leaf) SELECT idx, leaf FROM bodies WHERE idx = 0",
        "UPDATE checkpoints SET note = 'forged'",
        "DELETE FROM checkpoints",
        "INSERT INTO checkpoints (size, note, ts) SELECT size, 'forged', ts FROM checkpoints",
        "UPDATE nodes SET hash = hash WHERE level = 0",
        "DELETE FROM nodes",
    )

    #: Statements (run by ``raw_sql``) after which the database refuses to store a body that
    #: contains the bytes ``poison`` — a real write failure, as a full disk would give.
    POISON: tuple[str, ...] = (
        "CREATE TRIGGER poison BEFORE INSERT ON bodies WHEN instr(NEW.leaf, 'poison') > 0 "
        "BEGIN SELECT RAISE(ABORT, 'poisoned body refused'); END",
    )
    #: Statements that undo :attr:`POISON`.
    CURE: tuple[str, ...] = ("DROP TRIGGER poison",)
    #: The factory's keyword argument bounding how long a handle waits for another writer's
    #: lock (seconds), and what the error says when that runs out.
    WAIT_ARG = "busy_timeout"
    BUSY = "locked"

    @pytest.fixture
    def factory(self) -> StoreFactory:
        pytest.fail("a LedgerStoreContract subclass must define the 'factory' fixture")

    @pytest.fixture
    def raw_sql(self) -> RawSQL:
        pytest.fail("a LedgerStoreContract subclass must define the 'raw_sql' fixture")

    @pytest.fixture
    def store(self, factory: StoreFactory) -> Iterator[LedgerStore]:
        store = factory()
        yield store
        store.close()

    # -- basics -----------------------------------------------------------------------------
    def test_empty(self, store: LedgerStore) -> None:
        assert store.size() == 0
        assert store.entries(0, 0) == [] and store.leaf_hashes(0, 0) == []
        assert store.latest_checkpoint() is None and store.checkpoint(0) is None
        assert store.node(0, 0) is None
        with pytest.raises(LedgerStoreError):
            store.entry(0)

    def test_append_and_read(self, store: LedgerStore) -> None:
        assert store.append([b"a", b"b", b""]) == [0, 1, 2]
        assert store.append([]) == []
        assert store.append([b"c"], durable=True) == [3]
        assert store.size() == 4
        entries = store.entries(0, 4)
        assert [e.index for e in entries] == [0, 1, 2, 3]
        assert [e.leaf for e in entries] == [b"a", b"b", b"", b"c"]
        assert [e.leaf_hash for e in entries] == [leaf_hash(x) for x in (b"a", b"b", b"", b"c")]
        assert store.leaf_hashes(1, 3) == [leaf_hash(b"b"), leaf_hash(b"")]
        assert store.entry(3) == entries[3]
        assert all(isinstance(e.ts, float) and e.ts > 1e9 for e in entries)

    def test_leaves_containing_searches_bodies_in_the_database(self, store: LedgerStore
                                                                ) -> None:
        store.append([b'{"session":"s1"}', b'{"session":"s2"}', b"\x00\xffs1", b"s1"])
        found = store.leaves_containing(0, 4, b"s1")
        assert found == [(e.index, e.leaf, e.leaf_hash) for e in map(store.entry, (0, 2, 3))]
        assert [i for i, _, _ in store.leaves_containing(1, 3, b"s1")] == [2]
        assert store.leaves_containing(0, 0, b"s1") == []
        store.append([b"s1-pending"])  # not yet committed: searched too
        assert [i for i, _, _ in store.leaves_containing(0, 5, b"s1")] == [0, 2, 3, 4]
        with pytest.raises(LedgerStoreError):
            store.leaves_containing(0, 6, b"s1")
        with pytest.raises(ValueError):
            store.leaves_containing(0, 1, b"")

    def test_chain_is_sha256_of_prev_and_leaf_hash(self, store: LedgerStore) -> None:
        store.append([b"x", b"y"])
        e0, e1 = store.entries(0, 2)
        assert e0.chain_hash == hashlib.sha256(GENESIS_CHAIN + leaf_hash(b"x")).digest()
        assert e1.chain_hash == chain_hash(e0.chain_hash, leaf_hash(b"y"))
        assert verify_chain(store.entries(0, 2)) == e1.chain_hash

    def test_bad_input_and_ranges(self, store: LedgerStore) -> None:
        store.append([b"a"])
        with pytest.raises(TypeError):
            store.append(["text"])  # type: ignore[list-item]
        for start, end in ((0, 2), (-1, 1), (1, 0)):
            with pytest.raises(LedgerStoreError):
                store.entries(start, end)
            with pytest.raises(LedgerStoreError):
                store.leaf_hashes(start, end)
        for index in (-1, 1):
            with pytest.raises(LedgerStoreError):
                store.entry(index)

    def test_flush_makes_appends_visible_to_another_handle(self, factory: StoreFactory,
                                                           store: LedgerStore) -> None:
        store.append([b"a", b"b"])
        store.flush()
        other = factory()
        try:
            assert other.size() == 2
            store.append([b"c"], durable=True)
            assert other.size() == 3
            assert other.append([b"d"], durable=True) == [3]  # continues the shared chain
            assert store.size() == 4
            verify_chain(store.entries(0, 4))
        finally:
            other.close()

    def test_close_commits_and_reopen_keeps_everything(self, factory: StoreFactory) -> None:
        store = factory()
        store.append([b"one", b"two", b"three"])
        store.put_nodes([(0, 0, leaf_hash(b"one")), (1, 0, bytes(range(32)))])
        store.add_checkpoint(3, "origin\n3\nroot\n\n— key sig\n")
        store.append([b"four"])  # not durable: close() must commit it
        before = snapshot(store)
        store.close()
        store.close()  # idempotent
        with pytest.raises(LedgerStoreError):
            store.size()
        again = factory()
        try:
            assert snapshot(again) == before
            assert again.node(1, 0) == bytes(range(32))
            assert again.checkpoint(3) == "origin\n3\nroot\n\n— key sig\n"
            assert again.append([b"five"], durable=True) == [4]
            verify_chain(again.entries(0, 5))
        finally:
            again.close()

    def test_busy_writer_gives_a_clear_error(self, factory: StoreFactory) -> None:
        holder = factory(flush_interval=60)
        waiter = factory(**{self.WAIT_ARG: 0.05})
        try:
            holder.append([b"held"])  # holds the write lock until it commits
            with pytest.raises(LedgerStoreError, match=self.BUSY):
                waiter.append([b"blocked"], durable=True)
            holder.flush()
            assert waiter.append([b"next"], durable=True) == [1]
            verify_chain(waiter.entries(0, 2))
        finally:
            holder.close()
            waiter.close()

    # -- group commit: pending entries, failed writes, commit listeners ---------------------
    def test_pending_entries_are_counted_and_readable(self, factory: StoreFactory,
                                                      store: LedgerStore) -> None:
        store.append([b"a"], durable=True)
        assert store.append([b"b", b"c"]) == [1, 2]
        assert store.append([b"d"]) == [3]  # not committed yet (batch and interval not reached)
        assert store.size() == 4
        assert [e.leaf for e in store.entries(1, 4)] == [b"b", b"c", b"d"]
        assert store.leaf_hashes(3, 4) == [leaf_hash(b"d")]
        assert store.entry(2).leaf == b"c"
        assert store.append([b"e"]) == [4]  # appending goes on after the read
        verify_chain(store.entries(0, 5))
        store.flush()
        other = factory()
        try:
            assert [e.leaf for e in other.entries(0, 5)] == [b"a", b"b", b"c", b"d", b"e"]
        finally:
            other.close()

    def test_a_failed_batch_write_commits_nothing(self, factory: StoreFactory,
                                                  raw_sql: RawSQL) -> None:
        store = factory()
        try:
            store.append([b"kept"], durable=True)
            for statement in self.POISON:
                raw_sql(statement)
            assert store.append([b"fine"]) == [1]
            assert store.append([b"poison", b"after"]) == [2, 3]
            with pytest.raises(LedgerStoreError, match=r"poisoned body refused.*uncommitted "
                                                       r"entries 1\.\.3 were rolled back"):
                store.flush()  # the batch is written only now, and refused as a whole
            assert store.size() == 1
            other = factory()
            try:
                assert other.size() == 1  # not one row of the batch was committed
            finally:
                other.close()
            for statement in self.CURE:
                raw_sql(statement)
            assert store.append([b"again"], durable=True) == [1]
            assert [e.leaf for e in store.entries(0, 2)] == [b"kept", b"again"]
            verify_chain(store.entries(0, 2))
        finally:
            store.close()

    def test_a_durable_append_that_fails_names_earlier_entries_lost(
            self, factory: StoreFactory, raw_sql: RawSQL) -> None:
        store = factory()
        try:
            for statement in self.POISON:
                raw_sql(statement)
            store.append([b"one", b"two"])
            with pytest.raises(LedgerStoreError, match=r"entries 0\.\.1 were rolled back"):
                store.append([b"poison"], durable=True)  # its own entry: the exception
            assert store.size() == 0
        finally:
            store.close()

    def test_commit_listeners_get_committed_entries_once_in_order(
            self, factory: StoreFactory, raw_sql: RawSQL) -> None:
        store = factory()
        seen: list[tuple[int, bytes]] = []
        listen = getattr(store, "add_commit_listener", None)
        assert callable(listen), "the store has no add_commit_listener"
        listen(seen.extend)
        try:
            store.append([b"a", b"b"], durable=True)
            assert seen == [(0, b"a"), (1, b"b")]
            store.append([b"c"])
            assert seen == [(0, b"a"), (1, b"b")]  # pending: not committed, not told
            store.flush()
            for statement in self.POISON:
                raw_sql(statement)
            store.append([b"lost"])
            store.append([b"poison"])
            with pytest.raises(LedgerStoreError):
                store.flush()
            for statement in self.CURE:
                raw_sql(statement)
            store.append([b"d"])
            store.append([b"e"], durable=True)
            store.append([b"f"])
        finally:
            store.close()  # commits "f" and tells the listener
        assert seen == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d"), (4, b"e"), (5, b"f")]

    # -- immutability -----------------------------------------------------------------------
    def test_update_and_delete_refused(self, store: LedgerStore, raw_sql: RawSQL) -> None:
        store.append([b"a", b"b", b"c"])
        store.put_nodes([(0, 0, leaf_hash(b"a"))])
        store.add_checkpoint(3, "note")
        before = snapshot(store)
        for statement in self.TAMPER_STATEMENTS:
            with pytest.raises(Exception, match=self.REFUSAL):
                raw_sql(statement)
        assert snapshot(store) == before
        assert store.node(0, 0) == leaf_hash(b"a")
        verify_chain(before[0])

    def test_prune_keeps_hashes(self, store: LedgerStore) -> None:
        store.append([b"old-1", b"old-2"], durable=True)
        time.sleep(0.02)
        cutoff = time.time()
        time.sleep(0.02)
        store.append([b"new"], durable=True)
        hashes = [(e.leaf_hash, e.chain_hash) for e in store.entries(0, 3)]
        assert store.prune_bodies(cutoff) == 2
        assert store.prune_bodies(cutoff) == 0
        entries = store.entries(0, 3)
        assert [e.leaf for e in entries] == [None, None, b"new"]
        assert store.leaves_containing(0, 3, b"old") == []  # pruned bodies never match
        assert [i for i, _, _ in store.leaves_containing(0, 3, b"ew")] == [2]
        assert [(e.leaf_hash, e.chain_hash) for e in entries] == hashes
        verify_chain(entries)
        assert store.append([b"after"], durable=True) == [3]
        verify_chain(store.entries(0, 4))

    def test_merkle_nodes(self, store: LedgerStore) -> None:
        a, b = bytes(32), bytes(range(32))
        store.put_nodes([(0, 0, a), (0, 1, b), (1, 0, b)])
        store.put_nodes([(0, 0, a)])  # identical again: no-op
        assert (store.node(0, 0), store.node(0, 1), store.node(1, 0)) == (a, b, b)
        assert store.node(2, 0) is None
        with pytest.raises(LedgerStoreError):
            store.put_nodes([(0, 0, b)])
        assert store.node(0, 0) == a
        with pytest.raises(ValueError):
            store.put_nodes([(0, 2, b"short")])

    def test_checkpoints(self, store: LedgerStore) -> None:
        store.append([b"a", b"b", b"c"])
        store.add_checkpoint(0, "zero")
        store.add_checkpoint(2, "two")
        store.add_checkpoint(2, "two")  # identical again: no-op
        with pytest.raises(LedgerStoreError):
            store.add_checkpoint(2, "another two")
        with pytest.raises(LedgerStoreError):
            store.add_checkpoint(4, "beyond the log")
        assert store.latest_checkpoint() == (2, "two")
        store.add_checkpoint(3, "three")
        assert store.latest_checkpoint() == (3, "three")
        assert store.checkpoint(2) == "two" and store.checkpoint(1) is None
        assert store.checkpoint_sizes() == [0, 2, 3]

    # -- several processes ------------------------------------------------------------------
    def test_concurrent_processes_gap_free(self, factory: StoreFactory) -> None:
        factory().close()  # create the log before the race
        procs = [child(factory, "concurrent", f"p{n}", str(self.CONCURRENT_ENTRIES),
                       stdin=subprocess.PIPE)
                 for n in range(self.CONCURRENT_PROCESSES)]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == b"ready\n", p
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            p.stdin.flush()
        outputs = [finish(p) for p in procs]
        expected: dict[int, bytes] = {}
        for n, (p, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
            assert p.returncode == 0 and out.endswith(b"done\n"), err.decode()
            pairs = acked(out)
            assert [k for _, k in pairs] == list(range(self.CONCURRENT_ENTRIES))
            indexes = [i for i, _ in pairs]
            assert indexes == sorted(indexes)
            for i, k in pairs:
                assert i not in expected, f"index {i} handed out twice"
                expected[i] = f"p{n}:{k}".encode()
        total = self.CONCURRENT_PROCESSES * self.CONCURRENT_ENTRIES
        assert sorted(expected) == list(range(total))
        store = factory()
        try:
            assert store.size() == total
            entries = store.entries(0, total)
            assert [e.leaf for e in entries] == [expected[i] for i in range(total)]
            verify_chain(entries)
        finally:
            store.close()
        owners = [expected[i].split(b":")[0] for i in range(total)]
        switches = sum(a != b for a, b in itertools.pairwise(owners))
        assert switches >= self.CONCURRENT_PROCESSES - 1
        print(f"\nconcurrent: {self.CONCURRENT_PROCESSES} processes, {total} entries, "
              f"{switches} hand-overs between writers")

    @pytest.mark.slow
    def test_sigkill_never_loses_acknowledged_entries(self, factory: StoreFactory) -> None:
        factory().close()
        rng = random.Random(6962)
        expected: dict[int, bytes] = {}
        verified, prev = 0, GENESIS_CHAIN
        started = time.monotonic()
        for r in range(self.CRASH_ROUNDS):
            p = child(factory, "crash", f"r{r}")
            assert p.stdout is not None
            first = p.stdout.readline()  # appending has begun
            if not first:
                pytest.fail(f"child died: {finish(p)[1].decode()}")
            time.sleep(rng.uniform(0, 0.03))
            p.send_signal(signal.SIGKILL)
            rest, _ = finish(p)
            assert p.returncode == -signal.SIGKILL
            for i, k in acked(first + rest):
                assert i not in expected
                expected[i] = f"r{r}:{k}".encode()
            store = factory()
            try:
                size = store.size()
                assert max(expected) < size
                assert verified == 0 or store.entry(verified - 1).chain_hash == prev
                fresh = store.entries(verified, size)
                prev = verify_chain(fresh, prev, verified)
                for e in fresh:
                    if e.index in expected:
                        assert e.leaf == expected[e.index], e.index
                verified = size
            finally:
                store.close()
        store = factory()
        try:
            entries = store.entries(0, store.size())
            verify_chain(entries)
            assert all(entries[i].leaf == leaf for i, leaf in expected.items())
        finally:
            store.close()
        print(f"\ncrash test: {self.CRASH_ROUNDS} SIGKILLs, {len(expected)} acknowledged "
              f"appends, {verified} entries, {time.monotonic() - started:.1f} s")
