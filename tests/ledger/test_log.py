"""The ledger as a whole: verification catches every kind of tampering; proofs verify offline."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codor.evidence.keys import KeyStore, LogKey
from codor.ledger.log import Ledger
from codor.ledger.sqlite import SQLiteStore

ORIGIN = "codor.test/ledger"


def open_ledger(path: Path, keys: KeyStore) -> Ledger:
    return Ledger(SQLiteStore(path, batch_size=1), origin=ORIGIN, key=keys.load(),
                  verifiers=keys.verifiers())


@pytest.fixture
def made(tmp_path: Path) -> Iterator[Callable[[int, list[int]], tuple[Path, KeyStore]]]:
    """Factory: a ledger file with ``n`` entries and signed checkpoints at the given sizes."""

    def factory(n: int, checkpoints: list[int]) -> tuple[Path, KeyStore]:
        keys = KeyStore(tmp_path / "keys")
        if not keys.key_path.exists():
            keys.init("test-log")
        path = tmp_path / "ledger.db"
        ledger = open_ledger(path, keys)
        for i in range(n):
            ledger.append(f'{{"entry":{i}}}'.encode(), durable=True)
            if i + 1 in checkpoints:
                ledger.checkpoint()
        ledger.close()
        return path, keys

    yield factory


def tamper(path: Path, *statements: str) -> None:
    """What an attacker with write access to the file can do: drop the triggers, edit."""
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for name in names:
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def verify(path: Path, keys: KeyStore) -> tuple[bool, int | None, str | None]:
    ledger = Ledger(SQLiteStore(path), origin=ORIGIN, key=None, verifiers=keys.verifiers())
    try:
        report = ledger.verify()
    finally:
        ledger.close()
    return report.ok, report.first_bad, report.problem


def test_untouched_ledger_verifies(made: Callable[..., tuple[Path, KeyStore]]) -> None:
    path, keys = made(20, [5, 20])
    assert verify(path, keys) == (True, None, None)


def test_edited_entry_bytes_are_caught_at_their_index(made: Callable[..., tuple[Path, KeyStore]]
                                                      ) -> None:
    path, keys = made(20, [20])
    tamper(path, "UPDATE bodies SET leaf = CAST('{\"entry\":999}' AS BLOB) WHERE idx = 7")
    ok, bad, problem = verify(path, keys)
    assert not ok and bad == 7 and problem is not None and "leaf hash" in problem


def test_rewritten_chain_is_caught_by_the_signed_checkpoint(
    made: Callable[..., tuple[Path, KeyStore]], tmp_path: Path
) -> None:
    path, keys = made(10, [10])
    # the attacker rebuilds a consistent chain with a different entry 4, but cannot re-sign
    from codor.ledger.merkle import leaf_hash
    from codor.ledger.store import GENESIS_CHAIN, chain_hash

    conn = sqlite3.connect(path)
    leaves = [bytes(r[0]) for r in conn.execute("SELECT leaf FROM bodies ORDER BY idx")]
    conn.close()
    leaves[4] = b'{"entry":"forged"}'
    prev = GENESIS_CHAIN
    statements = []
    for i, leaf in enumerate(leaves):
        lh = leaf_hash(leaf)
        prev = chain_hash(prev, lh)
        statements.append(f"UPDATE entries SET leaf_hash = x'{lh.hex()}', "
                          f"chain_hash = x'{prev.hex()}' WHERE idx = {i}")
    statements.append(f"UPDATE bodies SET leaf = x'{leaves[4].hex()}' WHERE idx = 4")
    tamper(path, *statements)
    ok, bad, problem = verify(path, keys)
    assert not ok and bad == 10 and problem is not None and "does not match" in problem


def test_truncated_tail_is_caught(made: Callable[..., tuple[Path, KeyStore]]) -> None:
    path, keys = made(12, [12])
    tamper(path, "DELETE FROM entries WHERE idx >= 9", "DELETE FROM bodies WHERE idx >= 9")
    ok, bad, problem = verify(path, keys)
    assert not ok and bad == 12 and problem is not None and "truncated" in problem


def test_deleted_middle_entry_is_caught(made: Callable[..., tuple[Path, KeyStore]]) -> None:
    path, keys = made(12, [12])
    tamper(path, "DELETE FROM entries WHERE idx = 5", "DELETE FROM bodies WHERE idx = 5")
    ok, bad, _problem = verify(path, keys)
    assert not ok and bad == 5


def test_reordered_entries_are_caught(made: Callable[..., tuple[Path, KeyStore]]) -> None:
    path, keys = made(8, [8])
    tamper(path,
           "UPDATE entries SET idx = -1 WHERE idx = 2", "UPDATE entries SET idx = 2 WHERE idx = 3",
           "UPDATE entries SET idx = 3 WHERE idx = -1",
           "UPDATE bodies SET idx = -1 WHERE idx = 2", "UPDATE bodies SET idx = 2 WHERE idx = 3",
           "UPDATE bodies SET idx = 3 WHERE idx = -1")
    ok, bad, _problem = verify(path, keys)
    assert not ok and bad == 2


def test_forged_checkpoint_is_caught(made: Callable[..., tuple[Path, KeyStore]]) -> None:
    from codor.ledger.checkpoint import Checkpoint, sign_note

    path, keys = made(6, [6])
    impostor = LogKey.generate("test-log")  # same name, different key
    conn = sqlite3.connect(path)
    root = Ledger(SQLiteStore(path), origin=ORIGIN, key=None, verifiers=keys.verifiers())
    root.sync()
    note = sign_note(Checkpoint(ORIGIN, 6, root._tree.root(6)).body(), [impostor])
    root.close()
    conn.close()
    tamper(path, f"UPDATE checkpoints SET note = '{note}' WHERE size = 6")
    ok, bad, problem = verify(path, keys)
    assert not ok and bad == 6 and problem is not None and "does not verify" in problem


def test_inclusion_proof_verifies_with_public_keys_only(
    made: Callable[..., tuple[Path, KeyStore]]
) -> None:
    path, keys = made(33, [])
    ledger = open_ledger(path, keys)
    proof = ledger.prove(17)
    ledger.close()
    checker = Ledger(SQLiteStore(path), origin=ORIGIN, key=None, verifiers=keys.verifiers())
    assert checker.check_proof(proof)
    import dataclasses

    bad = dataclasses.replace(proof, hashes=(bytes(32), *proof.hashes[1:]))
    assert not checker.check_proof(bad)
    assert not checker.check_proof(dataclasses.replace(proof, index=16))
    checker.close()


def test_old_checkpoints_verify_after_key_rotation(
    made: Callable[..., tuple[Path, KeyStore]]
) -> None:
    path, keys = made(5, [5])
    keys.rotate()
    ledger = open_ledger(path, keys)
    ledger.append(b'{"after":"rotation"}', durable=True)
    ledger.checkpoint()
    ledger.close()
    assert verify(path, keys)[0]


def test_checkpoints_are_append_only_consistent(made: Callable[..., tuple[Path, KeyStore]]
                                                ) -> None:
    path, keys = made(9, [4, 9])
    ledger = open_ledger(path, keys)
    old, new = ledger.store.checkpoint(4), ledger.store.checkpoint(9)
    assert old is not None and new is not None
    proof = ledger.consistency_proof(4, 9)
    assert Ledger.consistent(old, new, proof, keys.verifiers())
    assert not Ledger.consistent(old, new, [bytes(32), *proof[1:]], keys.verifiers())
    ledger.close()


MUTATIONS = st.one_of(
    st.tuples(st.just("body"), st.integers(0, 15), st.integers(0, 7)),
    st.tuples(st.just("leaf_hash"), st.integers(0, 15), st.integers(0, 255)),
    st.tuples(st.just("chain_hash"), st.integers(0, 15), st.integers(0, 255)),
    st.tuples(st.just("note"), st.integers(0, 1), st.integers(0, 400)),
    st.tuples(st.just("delete"), st.integers(0, 15), st.just(0)),
)


@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MUTATIONS)
def test_random_mutations_are_always_detected(
    made: Callable[..., tuple[Path, KeyStore]], tmp_path: Path, mutation: tuple[str, int, int]
) -> None:
    template = tmp_path / "ledger.db"
    if not template.exists():
        made(16, [8, 16])
    path = tmp_path / "mutated.db"
    shutil.copy(template, path)
    keys = KeyStore(tmp_path / "keys")
    what, index, position = mutation
    conn = sqlite3.connect(path)
    if what == "body":
        leaf = bytes(conn.execute("SELECT leaf FROM bodies WHERE idx=?", (index,)).fetchone()[0])
        pos = position % len(leaf)
        changed = leaf[:pos] + bytes([leaf[pos] ^ 0x01]) + leaf[pos + 1:]
        statement = f"UPDATE bodies SET leaf = x'{changed.hex()}' WHERE idx = {index}"
    elif what in ("leaf_hash", "chain_hash"):
        value = bytes(conn.execute(f"SELECT {what} FROM entries WHERE idx=?",
                                   (index,)).fetchone()[0])
        pos = position % 32
        changed = value[:pos] + bytes([value[pos] ^ 0x80]) + value[pos + 1:]
        statement = f"UPDATE entries SET {what} = x'{changed.hex()}' WHERE idx = {index}"
    elif what == "note":
        size = (8, 16)[index]
        note = conn.execute("SELECT note FROM checkpoints WHERE size=?", (size,)).fetchone()[0]
        pos = position % len(note)
        char = "A" if note[pos] != "A" else "B"
        changed_note = (note[:pos] + char + note[pos + 1:]).replace("'", "''")
        statement = f"UPDATE checkpoints SET note = '{changed_note}' WHERE size = {size}"
    else:
        statement = f"DELETE FROM entries WHERE idx = {index}"
    conn.close()
    tamper(path, statement)
    ok, _bad, _problem = verify(path, keys)
    assert not ok, mutation


def test_parallel_verification_finds_the_first_bad_body(tmp_path: Path) -> None:
    from codor.ledger import log as log_module

    keys = KeyStore(tmp_path / "keys")
    keys.init("test-log")
    path = tmp_path / "big.db"
    ledger = open_ledger(path, keys)
    ledger.store.close()
    ledger = Ledger(SQLiteStore(path), origin=ORIGIN, key=keys.load(), verifiers=keys.verifiers())
    ledger.append_many([f'{{"n":{i}}}'.encode() for i in range(600)])
    ledger.checkpoint()
    ledger.close()
    assert verify(path, keys)[0]
    tamper(path, "UPDATE bodies SET leaf = CAST('{\"n\":\"x\"}' AS BLOB) WHERE idx = 417",
           "UPDATE entries SET chain_hash = zeroblob(32) WHERE idx = 500")
    original = log_module._PARALLEL_FROM
    log_module._PARALLEL_FROM = 100  # take the two-process path on a small log
    try:
        ok, bad, problem = verify(path, keys)
    finally:
        log_module._PARALLEL_FROM = original
    assert not ok and bad == 417 and problem is not None and "leaf hash" in problem
