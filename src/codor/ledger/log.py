"""The ledger as a transparency log: append evidence, sign checkpoints, prove and verify.

``Ledger`` ties a :class:`~codor.ledger.store.LedgerStore` (entries, chain hashes, checkpoints)
to an RFC 6962 Merkle tree (:class:`~codor.ledger.tree.StoredTree`) and a C2SP signed-note log
key. Verification needs only the store's bytes and the public key(s).

The tree is not rebuilt from every leaf when a ledger opens: signing a checkpoint also stores
the Merkle nodes completed since the last one, and the next :meth:`Ledger.sync` starts from
the compact range of the latest checkpoint (at most log2(n) stored nodes, checked to fold to
the root that checkpoint signed) and hashes only the leaves after it. :meth:`Ledger.verify`
and :meth:`Ledger.extends` never trust stored nodes: they recompute from the entries.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codor.evidence.keys import LogKey, Verifier
from codor.ledger.checkpoint import Checkpoint, open_checkpoint, sign_note
from codor.ledger.merkle import (
    extend_compact_range,
    leaf_hash,
    root_from_compact_range,
    verify_consistency,
    verify_inclusion,
)
from codor.ledger.store import GENESIS_CHAIN, LedgerStore, LedgerStoreError
from codor.ledger.tree import StoredTree, compact_nodes

if TYPE_CHECKING:
    from concurrent.futures import Future

    from codor.ledger.sinks.base import SinkFanout

__all__ = ["InclusionProof", "Ledger", "VerifyReport"]

Progress = Callable[[int, int], None]
_BATCH = 4096
_NODES_PER_WRITE = 50_000


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What verification found. ``first_bad`` is the first entry index that failed (or the
    size of a checkpoint that did not match), ``None`` when everything verified."""

    ok: bool
    size: int
    checkpoints: int
    first_bad: int | None = None
    problem: str | None = None
    root: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "size": self.size, "checkpoints": self.checkpoints,
                "first_bad_index": self.first_bad, "problem": self.problem, "root": self.root}


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An inclusion proof of one entry against a signed checkpoint (C2SP tlog-proof style)."""

    index: int
    size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    checkpoint: str
    leaf: bytes | None = field(default=None, repr=False)

    def text(self) -> str:
        """``c2sp.org/tlog-proof@v1`` style text: index, hashes, then the signed checkpoint."""
        lines = ["c2sp.org/tlog-proof@v1", f"index {self.index}"]
        lines += [base64.b64encode(h).decode("ascii") for h in self.hashes]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "size": self.size, "leaf_hash": self.leaf_hash.hex(),
                "proof": [h.hex() for h in self.hashes], "checkpoint": self.checkpoint,
                "leaf": None if self.leaf is None else base64.b64encode(self.leaf).decode()}


RowSource = Callable[[int, int], list[tuple[int, bytes | None, bytes, bytes]]]
_PARALLEL_FROM = 50_000  # entries; below this a second process costs more than it saves


def first_bad_leaf(path: str, size: int, uri: str | None = None) -> int | None:
    """The first entry (below ``size``) of the SQLite ledger at ``path`` (opened as ``uri``
    when given) whose body does not hash to its leaf hash (read-only; run in a helper process
    by :meth:`Ledger.verify`)."""
    import sqlite3
    from urllib.parse import quote

    conn = sqlite3.connect(uri or f"file:{quote(path)}?mode=ro", uri=True)
    try:
        sha256 = hashlib.sha256
        for start in range(0, size, 20_000):
            rows = conn.execute(
                "SELECT e.idx, b.leaf, e.leaf_hash FROM entries e JOIN bodies b ON b.idx = e.idx"
                " WHERE e.idx >= ? AND e.idx < ? ORDER BY e.idx",
                (start, min(size, start + 20_000))).fetchall()
            for index, leaf, expected in rows:
                if sha256(b"\x00" + leaf).digest() != expected:
                    return int(index)
    finally:
        conn.close()
    return None


class Ledger:
    """An append-only, verifiable log over a store. ``key`` signs checkpoints; ``verifiers``
    (the active public key and retired ones) check them."""

    def __init__(self, store: LedgerStore, *, origin: str, key: LogKey | None,
                 verifiers: Sequence[Verifier], sinks: SinkFanout | None = None) -> None:
        self.store = store
        self.sinks = sinks  # copies of every entry for watchers; never break an append
        self.origin = origin
        self.key = key
        self.verifiers = list(verifiers)
        self._tree: StoredTree | None = None  # opened by the first sync()
        # sinks see an entry once it is committed, never before (a rolled-back one never)
        self._emit_on_flush = False
        if sinks is not None:
            listen = getattr(store, "add_commit_listener", None)
            if callable(listen):
                listen(self._committed)
            else:  # a store without commit listeners: commit, then emit
                self._emit_on_flush = True

    # -- writing ----------------------------------------------------------------------------
    def append(self, leaf: bytes, *, durable: bool = False) -> int:
        """Append one evidence entry; ``durable`` commits before returning. The sinks get
        it once the store has committed it."""
        return self.append_many([leaf], durable=durable)[0]

    def append_many(self, leaves: Sequence[bytes], *, durable: bool = False) -> list[int]:
        """Append evidence entries at consecutive indexes (see :meth:`append`)."""
        if not self._emit_on_flush:
            return self.store.append(leaves, durable=durable)
        indexes = self.store.append(leaves, durable=True)
        self._committed(list(zip(indexes, leaves, strict=True)))
        return indexes

    def _committed(self, entries: Sequence[tuple[int, bytes]]) -> None:
        """The store committed these entries: hand them to the sinks (never raises)."""
        if self.sinks is not None:
            for index, leaf in entries:
                self.sinks.emit(index, leaf)

    def sink_stats(self) -> dict[str, dict[str, int]]:
        """The sinks' counters (see :meth:`SinkFanout.stats`); empty without sinks."""
        return {} if self.sinks is None else self.sinks.stats()

    def sync(self) -> int:
        """Bring the in-memory tree up to the store (other processes may have appended)."""
        self.store.flush()
        size = self.store.size()
        tree = self._loaded()
        have = tree.size
        while have < size:
            end = min(size, have + _BATCH)
            tree.extend(self.store.leaf_hashes(have, end))
            have = end
        return size

    def _loaded(self) -> StoredTree:
        if self._tree is None:
            self._tree = self._open_tree()
        return self._tree

    def _open_tree(self) -> StoredTree:
        """The tree from the latest checkpoint's stored compact range when it folds to the
        root that checkpoint signed, else an empty tree (every leaf gets hashed)."""
        latest = self.store.latest_checkpoint()
        if latest is None or latest[0] == 0:
            return StoredTree(self.store)
        size, note = latest
        cp = self._open(note)
        if isinstance(cp, str) or cp.size != size or size > self.store.size():
            return StoredTree(self.store)
        edge: list[bytes] = []
        for level, idx in compact_nodes(size):
            found = self.store.leaf_hashes(idx, idx + 1)[0] if level == 0 \
                else self.store.node(level, idx)
            if found is None:  # nodes never stored (an older CODOR signed it)
                return StoredTree(self.store)
            edge.append(found)
        if root_from_compact_range(edge) != cp.root:
            return StoredTree(self.store)
        return StoredTree(self.store, size, edge)

    def _save_nodes(self) -> None:
        """Persist the Merkle nodes completed since the last save (before a checkpoint)."""
        tree = self._loaded()
        batch: list[tuple[int, int, bytes]] = []
        for node in tree.unsaved():
            batch.append(node)
            if len(batch) >= _NODES_PER_WRITE:
                self.store.put_nodes(batch)
                batch = []
        if batch:
            self.store.put_nodes(batch)
        tree.saved(tree.size)

    def checkpoint(self) -> str:
        """Sign and store a checkpoint of the current tree; returns the signed note."""
        if self.key is None:
            raise ValueError("this ledger was opened without its log key; cannot sign")
        size = self.sync()
        latest = self.store.latest_checkpoint()
        if latest is not None and latest[0] == size:
            return latest[1]
        if latest is not None:  # never sign a checkpoint inconsistent with an earlier one
            problem = self.extends(latest[1], recompute=False)
            if problem is not None:
                raise LedgerStoreError(f"refusing to sign a new checkpoint: {problem}")
        tree = self._loaded()
        note = sign_note(Checkpoint(self.origin, size, tree.root(size)).body(), [self.key])
        self._save_nodes()  # first: a checkpoint's compact range is always stored
        self.store.add_checkpoint(size, note)
        return note

    # -- proving ----------------------------------------------------------------------------
    def prove(self, index: int) -> InclusionProof:
        """An inclusion proof of entry ``index`` against the latest checkpoint (a new one is
        signed when the latest does not cover the entry)."""
        latest = self.store.latest_checkpoint()
        if latest is None or latest[0] <= index:
            self.checkpoint()
            latest = self.store.latest_checkpoint()
        assert latest is not None
        size, note = latest
        if not 0 <= index < size:
            raise IndexError(f"no entry {index} (the log has {size})")
        self.sync()
        entry = self.store.entry(index)
        hashes = tuple(self._loaded().inclusion_proof(index, size))
        return InclusionProof(index, size, entry.leaf_hash, hashes, note, entry.leaf)

    def check_proof(self, proof: InclusionProof) -> bool:
        """Verify a proof with the public keys only."""
        cp = self._open(proof.checkpoint)
        if isinstance(cp, str) or cp.size != proof.size:
            return False
        if proof.leaf is not None and leaf_hash(proof.leaf) != proof.leaf_hash:
            return False
        return verify_inclusion(proof.index, proof.size, proof.leaf_hash, list(proof.hashes),
                                cp.root)

    # -- verifying --------------------------------------------------------------------------
    def verify(self, progress: Progress | None = None) -> VerifyReport:
        """Recompute every leaf hash, the hash chain and the Merkle root, and check every
        stored checkpoint's signature and root (so also their mutual consistency).

        On a large SQLite log the two halves run in parallel: a second process re-hashes the
        entry bodies while this one checks the chain, the tree and the checkpoints; the
        report names the first bad index either found."""
        self.store.flush()
        size = self.store.size()
        path = getattr(self.store, "path", None)
        if size < _PARALLEL_FROM or not isinstance(path, str) or \
                not callable(getattr(self.store, "raw_hashes", None)):
            return self._verify(size, self._rows, progress)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            leaves = pool.submit(first_bad_leaf, path, size,
                                 getattr(self.store, "read_uri", None))
            report = self._verify(size, self._hash_rows, progress)
            bad_leaf = leaves.result()
        if bad_leaf is not None and (report.first_bad is None or bad_leaf < report.first_bad):
            return VerifyReport(False, bad_leaf, report.checkpoints, first_bad=bad_leaf,
                                problem="entry bytes do not match their leaf hash")
        return report

    def _verify(self, size: int, rows: RowSource, progress: Progress | None) -> VerifyReport:
        checkpoints = self._checkpoint_notes()
        sha256 = hashlib.sha256
        stack: list[bytes] = []  # compact range: roots of the perfect subtrees so far
        count = 0
        prev = GENESIS_CHAIN
        seen = 0
        start = 0
        # the next batch is read by a helper thread while this one is hashed (SQLite releases
        # the GIL while it steps through rows)
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1)
        pending: Future[list[tuple[int, bytes | None, bytes, bytes]]] | None = (
            pool.submit(rows, 0, min(size, _BATCH)) if size else None)
        try:
            while start < size:
                end = min(size, start + _BATCH)
                try:
                    assert pending is not None
                    batch = pending.result()
                except LedgerStoreError:
                    missing = self._first_missing(start, end)
                    return self._bad(missing, f"entry {missing} is missing", seen, count)
                pending = pool.submit(rows, end, min(size, end + _BATCH)) if end < size \
                    else None
                for i, leaf, lh, chained in batch:
                    if i != count:
                        return self._bad(count, "entries are missing or out of order", seen, count)
                    if leaf is not None and sha256(b"\x00" + leaf).digest() != lh:
                        return self._bad(i, "entry bytes do not match their leaf hash", seen, count)
                    prev = sha256(prev + lh).digest()
                    if prev != chained:
                        return self._bad(i, "hash chain broken", seen, count)
                    stack.append(lh)  # merkle.extend_compact_range, inlined: the hot loop
                    k = count
                    while k & 1:
                        right = stack.pop()
                        stack[-1] = sha256(b"\x01" + stack[-1] + right).digest()
                        k >>= 1
                    count += 1
                    if count in checkpoints:
                        problem = self._check_checkpoint(checkpoints[count], count,
                                                         root_from_compact_range(stack))
                        if problem:
                            return self._bad(count, problem, seen, count)
                        seen += 1
                start = end
                if progress is not None:
                    progress(start, size)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if count != size:
            return self._bad(count, "the log is shorter than its size says", seen, count)
        for cp_size in checkpoints:
            if cp_size > size:
                return self._bad(cp_size, "a checkpoint covers entries that are gone "
                                          "(truncated log)", seen, count)
        root = root_from_compact_range(stack)
        return VerifyReport(True, size, seen, root=root.hex())

    def _rows(self, start: int, end: int) -> list[tuple[int, bytes | None, bytes, bytes]]:
        raw = getattr(self.store, "raw_entries", None)
        if callable(raw):
            rows: list[tuple[int, bytes | None, bytes, bytes]] = raw(start, end)
            return rows
        return [(e.index, e.leaf, e.leaf_hash, e.chain_hash)
                for e in self.store.entries(start, end)]

    def _hash_rows(self, start: int, end: int) -> list[tuple[int, bytes | None, bytes, bytes]]:
        source = getattr(self.store, "raw_hashes", None)
        assert callable(source)
        rows: list[tuple[int, bytes | None, bytes, bytes]] = source(start, end)
        return rows

    def _first_missing(self, start: int, end: int) -> int:
        for index in range(start, end):
            try:
                self.store.entry(index)
            except LedgerStoreError:
                return index
        return start

    def _checkpoint_notes(self) -> dict[int, str]:
        """Every stored checkpoint: size → note."""
        out: dict[int, str] = {}
        for size in self.store.checkpoint_sizes():
            note = self.store.checkpoint(size)
            if note is not None:
                out[size] = note
        return out

    def _open(self, note: str) -> Checkpoint | str:
        """The checkpoint of signed ``note`` when one of the verifiers signed it for this
        log, else what is wrong with it (to follow "the checkpoint")."""
        try:
            cp, _names = open_checkpoint(note, self.verifiers)
        except Exception as exc:
            return f"does not verify: {exc}"
        if cp.origin != self.origin:
            return f"is of another log ({cp.origin!r})"
        return cp

    def _check_checkpoint(self, note: str, size: int, root: bytes) -> str | None:
        cp = self._open(note)
        if isinstance(cp, str):
            return f"checkpoint at size {size} {cp}"
        if cp.size != size or cp.root != root:
            return f"checkpoint at size {size} does not match the entries"
        return None

    @staticmethod
    def _bad(index: int, problem: str, seen: int, verified: int) -> VerifyReport:
        return VerifyReport(False, verified, seen, first_bad=index, problem=problem)

    @staticmethod
    def consistent(old_note: str, new_note: str, proof: Sequence[bytes],
                   verifiers: Sequence[Verifier]) -> bool:
        """Is the log of ``new_note`` an append-only extension of the one of ``old_note``?"""
        try:
            old, _ = open_checkpoint(old_note, verifiers)
            new, _ = open_checkpoint(new_note, verifiers)
        except Exception:
            return False
        return old.origin == new.origin and verify_consistency(
            old.size, new.size, old.root, new.root, list(proof))

    def extends(self, note: str, *, recompute: bool = True) -> str | None:
        """``None`` when the log is an append-only extension of the signed checkpoint
        ``note`` (same origin, a prefix with the same root), else what is wrong. The root is
        recomputed from the entries' leaf hashes; ``recompute=False`` takes it from the
        tree (whose nodes below its base come from the store)."""
        cp = self._open(note)
        if isinstance(cp, str):
            return f"the checkpoint {cp}"
        size = self.sync()
        if cp.size > size:
            return f"the checkpoint covers {cp.size} entries but the log has {size} (truncated)"
        if cp.size:
            root = self._recomputed_root(cp.size) if recompute else self._loaded().root(cp.size)
            if root != cp.root:
                return (f"the log's first {cp.size} entries are not the ones the checkpoint "
                        "signed")
        return None

    def _recomputed_root(self, size: int) -> bytes:
        """The root of the first ``size`` entries, from their leaf hashes alone."""
        stack: list[bytes] = []
        for start in range(0, size, _BATCH):
            extend_compact_range(stack, start,
                                 self.store.leaf_hashes(start, min(size, start + _BATCH)))
        return root_from_compact_range(stack)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        size = self.sync()
        return self._loaded().consistency_proof(old, size if new is None else new)

    def close(self) -> None:
        """Commit and close the store, then the sinks (which get the last commit first)."""
        try:
            self.store.close()
        finally:
            if self.sinks is not None:
                self.sinks.close(timeout=5.0)
