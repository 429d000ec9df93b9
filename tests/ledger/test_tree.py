"""Opening a ledger loads the compact range of its latest checkpoint instead of re-hashing every
leaf; proofs, roots and checkpoints are the same as from a tree rebuilt from scratch."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from codor.evidence.keys import KeyStore
from codor.ledger.checkpoint import Checkpoint, sign_note
from codor.ledger.log import Ledger
from codor.ledger.merkle import (
    MerkleTree,
    compact_range,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from codor.ledger.sqlite import SQLiteStore
from codor.ledger.store import LedgerStoreError
from codor.ledger.tree import StoredTree, compact_nodes

ORIGIN = "codor.test/tree"


def leaves(n: int, start: int = 0) -> list[bytes]:
    return [f'{{"n":{i}}}'.encode() for i in range(start, start + n)]


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys")
    store.init("tree-test")
    return store


def open_ledger(path: Path, keys: KeyStore) -> Ledger:
    return Ledger(SQLiteStore(path), origin=ORIGIN, key=keys.load(),
                  verifiers=keys.verifiers())


def signed_ledger(path: Path, keys: KeyStore, n: int) -> str:
    """Write a ledger of ``n`` leaves with a checkpoint over them and close it; the note."""
    ledger = open_ledger(path, keys)
    try:
        ledger.append_many(leaves(n))
        return ledger.checkpoint()
    finally:
        ledger.close()


def test_compact_nodes_match_the_merkle_module() -> None:
    tree = MerkleTree(leaf_hash(x) for x in leaves(77))
    for size in range(78):
        assert [tree.get(lv, i) for lv, i in compact_nodes(size)] == compact_range(size,
                                                                                   tree.get)


@pytest.mark.parametrize("base", [0, 1, 2, 3, 5, 8, 13, 32, 33, 63])
def test_a_tree_opened_at_any_base_equals_a_rebuilt_one(tmp_path: Path, base: int) -> None:
    total = 80
    hashes = [leaf_hash(x) for x in leaves(total)]
    full = MerkleTree(hashes)
    store = SQLiteStore(tmp_path / "l.db", batch_size=1)
    try:
        store.append(leaves(total))
        store.put_nodes(n for n in full.nodes_between(0, base) if n[0] > 0)
        tree = StoredTree(store, base, [full.get(lv, i) for lv, i in compact_nodes(base)])
        tree.extend(hashes[base:])
        assert tree.size == total
        rng = random.Random(base)
        for size in range(total + 1):
            assert tree.root(size) == full.root(size), size
        for _ in range(60):
            size = rng.randint(1, total)
            index = rng.randrange(size)
            assert tree.inclusion_proof(index, size) == full.inclusion_proof(index, size)
            old = rng.randint(0, size)
            assert tree.consistency_proof(old, size) == full.consistency_proof(old, size)
        # what it would persist is exactly what the full tree completed after the base
        assert sorted(tree.unsaved()) == sorted(n for n in full.nodes_between(base, total)
                                                if n[0] > 0)
    finally:
        store.close()


def test_missing_stored_nodes_are_recomputed_from_the_leaves(tmp_path: Path) -> None:
    hashes = [leaf_hash(x) for x in leaves(40)]
    full = MerkleTree(hashes)
    store = SQLiteStore(tmp_path / "l.db", batch_size=1)
    try:
        store.append(leaves(40))  # no nodes stored at all
        tree = StoredTree(store, 37, [full.get(lv, i) for lv, i in compact_nodes(37)])
        tree.extend(hashes[37:])
        for index in (0, 13, 31, 36, 39):
            assert tree.inclusion_proof(index) == full.inclusion_proof(index)
    finally:
        store.close()


def test_reopening_loads_log_n_nodes_and_keeps_proofs_and_checkpoints_right(
        tmp_path: Path, keys: KeyStore) -> None:
    path = tmp_path / "ledger.db"
    first = open_ledger(path, keys)
    first.append_many(leaves(3000))
    first.checkpoint()
    first.append_many(leaves(1000, 3000))
    note_4000 = first.checkpoint()
    first.close()

    again = open_ledger(path, keys)
    try:
        assert again.sync() == 4000
        tree = again._tree
        assert tree is not None and tree.base == 4000
        assert tree.in_memory() <= (4000).bit_length()  # the compact range, not 4000 leaves
        again.append_many(leaves(123, 4000))
        note = again.checkpoint()
        assert tree.in_memory() < 123 * 2 + 13  # plus only what the new leaves completed
        proof = again.consistency_proof(4000, 4123)
        assert Ledger.consistent(note_4000, note, proof, keys.verifiers())
        rng = random.Random(7)
        for index in [0, 2047, 2999, 3999, 4000, 4122, *rng.sample(range(4123), 25)]:
            assert again.check_proof(again.prove(index)), index
        assert again.extends(note_4000) is None
        report = again.verify()  # never uses the stored nodes: recomputes everything
        assert report.ok and report.size == 4123 and report.checkpoints == 3
    finally:
        again.close()
    full = MerkleTree(leaf_hash(x) for x in leaves(4123))
    checker = open_ledger(path, keys)
    try:
        checker.sync()
        assert checker._tree is not None and checker._tree.root() == full.root()
    finally:
        checker.close()


def test_a_checkpoint_signed_without_stored_nodes_falls_back_to_hashing(
        tmp_path: Path, keys: KeyStore) -> None:
    """What an older CODOR left behind: entries and checkpoints, no nodes."""
    path = tmp_path / "ledger.db"
    store = SQLiteStore(path)
    store.append(leaves(100), durable=True)
    root = MerkleTree(leaf_hash(x) for x in leaves(100)).root()
    store.add_checkpoint(100, sign_note(Checkpoint(ORIGIN, 100, root).body(), [keys.load()]))
    store.close()
    ledger = open_ledger(path, keys)
    try:
        ledger.append_many(leaves(10, 100))
        ledger.checkpoint()
        assert ledger._tree is not None and ledger._tree.base == 0  # hashed every leaf
    finally:
        ledger.close()
    ledger = open_ledger(path, keys)
    try:
        ledger.sync()
        assert ledger._tree is not None and ledger._tree.base == 110  # nodes are stored now
        assert ledger.check_proof(ledger.prove(57))
        assert ledger.verify().ok
    finally:
        ledger.close()


def tamper_node(path: Path, level: int, idx: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER nodes_no_update")
    conn.execute("UPDATE nodes SET hash = ? WHERE level = ? AND idx = ?",
                 (hashlib.sha256(b"forged").digest(), level, idx))
    assert conn.total_changes == 1
    conn.commit()
    conn.close()


def test_stored_nodes_that_do_not_fold_to_the_signed_root_are_not_trusted(
        tmp_path: Path, keys: KeyStore) -> None:
    path = tmp_path / "ledger.db"
    note = signed_ledger(path, keys, 100)
    level, idx = compact_nodes(100)[0]  # (6, 0): the first 64 leaves
    tamper_node(path, level, idx)
    ledger = open_ledger(path, keys)
    try:
        ledger.sync()
        assert ledger._tree is not None and ledger._tree.base == 0  # rebuilt from the leaves
        proof = ledger.prove(10)
        assert ledger.check_proof(proof)
        assert ledger.extends(note) is None
        ledger.append(b'{"n":"next"}', durable=True)
        with pytest.raises(LedgerStoreError, match="put_nodes refused"):
            ledger.checkpoint()  # it will not sign over a store whose nodes were changed
    finally:
        ledger.close()


def test_a_tampered_inner_node_gives_a_proof_that_does_not_verify(
        tmp_path: Path, keys: KeyStore) -> None:
    path = tmp_path / "ledger.db"
    signed_ledger(path, keys, 100)
    tamper_node(path, 2, 1)  # leaves 4..7: inside the compact range's first subtree
    ledger = open_ledger(path, keys)
    try:
        proof = ledger.prove(0)  # its audit path takes node (2, 1) from the store
        assert not ledger.check_proof(proof)  # caught: the CLI never prints such a proof
        assert ledger.check_proof(ledger.prove(50))  # paths that avoid it are fine
        assert ledger.verify().ok  # the entries and checkpoints themselves are intact
    finally:
        ledger.close()


def test_root_and_proofs_verify_with_the_rfc_verifiers(tmp_path: Path, keys: KeyStore) -> None:
    path = tmp_path / "ledger.db"
    signed_ledger(path, keys, 21)
    ledger = open_ledger(path, keys)
    try:
        ledger.append_many(leaves(9, 21))
        ledger.sync()
        tree = ledger._tree
        assert tree is not None and tree.base == 21
        root = tree.root()
        for index in range(30):
            assert verify_inclusion(index, 30, leaf_hash(leaves(1, index)[0]),
                                    tree.inclusion_proof(index), root)
        assert verify_consistency(21, 30, tree.root(21), root, tree.consistency_proof(21))
    finally:
        ledger.close()
