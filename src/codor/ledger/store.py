"""The ledger's storage contract: an append-only sequence of leaves with a hash chain.

A :class:`LedgerStore` keeps, for every index ``0, 1, 2, ...`` (gap-free):

- the leaf bytes (``None`` once pruned by :meth:`LedgerStore.prune_bodies`),
- the RFC 6962 leaf hash ``SHA-256(0x00 || leaf)`` (:func:`codor.ledger.merkle.leaf_hash`),
- the chain hash ``SHA-256(prev_chain || leaf_hash)``, where ``prev_chain`` of index 0 is
  :data:`GENESIS_CHAIN` (32 zero bytes),
- the time it was appended (Unix seconds, float).

Hashes are immutable: once committed, an index's leaf hash and chain hash never change, and
neither does a checkpoint. Only leaf *bodies* may be dropped (pruning), and the hashes keep
proving what they were. Beside the entries a store persists Merkle tree nodes — the hashes of
perfect subtrees, ``(level, idx)`` as in :mod:`codor.ledger.merkle`, themselves immutable — and
checkpoint notes (signed-note text, one per tree size).

:func:`verify_chain` recomputes the chain over stored entries; every backend must pass the
contract suite in ``tests/ledger/contract.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from codor.errors import CodorError
from codor.ledger.merkle import leaf_hash

__all__ = [
    "GENESIS_CHAIN",
    "LedgerStore",
    "LedgerStoreError",
    "StoredEntry",
    "chain_hash",
    "verify_chain",
]

#: The chain value "before" index 0.
GENESIS_CHAIN: Final = bytes(32)


class LedgerStoreError(CodorError):
    """The ledger store failed: I/O or database error, a refused write (append-only
    violation), an index outside the log, or a chain that does not verify."""

    code = "E_LEDGER_STORE"


def chain_hash(prev_chain: bytes, leaf_hash_: bytes) -> bytes:
    """The chain hash of an entry: ``SHA-256(prev_chain || leaf_hash)``."""
    return hashlib.sha256(prev_chain + leaf_hash_).digest()


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One stored entry. ``leaf`` is ``None`` when its body has been pruned."""

    index: int
    leaf: bytes | None
    leaf_hash: bytes
    chain_hash: bytes
    ts: float


@runtime_checkable
class LedgerStore(Protocol):
    """Append-only storage of ledger entries, Merkle nodes and checkpoints.

    Ranges are half-open, ``[start, end)``, and must lie within ``[0, size()]``; a bad index
    or range raises :class:`LedgerStoreError`, as does every backend failure.
    """

    def append(self, leaves: Sequence[bytes], *, durable: bool = False) -> list[int]:
        """Append leaves at consecutive indexes; return them. Stores each leaf, its leaf hash
        and its chain hash. ``durable=True`` returns only after everything appended so far
        is committed; otherwise the store may group-commit later (see the backend)."""
        ...

    def flush(self) -> None:
        """Commit everything appended so far before returning."""
        ...

    def size(self) -> int:
        """Number of entries (this handle's own uncommitted appends included)."""
        ...

    def entry(self, index: int) -> StoredEntry:
        """The entry at ``index``."""
        ...

    def entries(self, start: int, end: int) -> list[StoredEntry]:
        """Entries ``[start, end)``, in index order."""
        ...

    def leaves_containing(self, start: int, end: int, needle: bytes
                          ) -> list[tuple[int, bytes, bytes]]:
        """``(index, leaf, leaf hash)`` of the entries of ``[start, end)`` whose stored body
        contains the bytes ``needle``, in index order (searched by the database, so a reader
        of one session does not parse the whole log; pruned bodies never match)."""
        ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes ``[start, end)``, in index order."""
        ...

    def put_nodes(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        """Persist Merkle nodes ``(level, idx, hash)``. Re-putting an identical node is a
        no-op; a different hash for a stored node raises."""
        ...

    def node(self, level: int, idx: int) -> bytes | None:
        """A stored Merkle node, or ``None``."""
        ...

    def add_checkpoint(self, size: int, note: str) -> None:
        """Store the checkpoint note for tree size ``size`` (committed before returning).
        Re-adding the identical note is a no-op; another note for the same size raises."""
        ...

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """The checkpoint with the largest size, as ``(size, note)``, or ``None``."""
        ...

    def checkpoint(self, size: int) -> str | None:
        """The checkpoint note for ``size``, or ``None``."""
        ...

    def checkpoint_sizes(self) -> list[int]:
        """The sizes of every stored checkpoint, ascending."""
        ...

    def prune_bodies(self, before_ts: float) -> int:
        """Drop the leaf bytes of entries appended before ``before_ts`` (hashes stay);
        return how many bodies were dropped."""
        ...

    def close(self) -> None:
        """Commit what is pending and release the store. Idempotent."""
        ...


def verify_chain(entries: Iterable[StoredEntry], prev_chain: bytes = GENESIS_CHAIN,
                 start: int = 0) -> bytes:
    """Check consecutive entries beginning at index ``start`` whose predecessor's chain hash
    is ``prev_chain``: indexes gap-free, each body (when present) matching its leaf hash,
    each chain hash correct. Return the last chain hash; raise :class:`LedgerStoreError`
    at the first mismatch."""
    expected = start
    for e in entries:
        if e.index != expected:
            raise LedgerStoreError(f"chain: expected index {expected}, found {e.index}")
        if e.leaf is not None and leaf_hash(e.leaf) != e.leaf_hash:
            raise LedgerStoreError(f"chain: body of entry {e.index} does not match its "
                                   "leaf hash")
        if chain_hash(prev_chain, e.leaf_hash) != e.chain_hash:
            raise LedgerStoreError(f"chain: chain hash of entry {e.index} is wrong")
        prev_chain = e.chain_hash
        expected += 1
    return prev_chain
