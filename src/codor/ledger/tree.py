"""The Merkle tree of a stored log, opened in O(log n) instead of rebuilt from every leaf.

A store persists the hashes of perfect subtrees (``put_nodes``: ``(level, idx, hash)``, level
0 being the leaf hashes it keeps anyway). :class:`StoredTree` starts at a *base* size ``S``
from the compact range of ``S`` — the at most log2(S) perfect subtree roots tiling ``[0, S)``
— and appends the leaf hashes from ``S`` on in memory, as :class:`~codor.ledger.merkle.MerkleTree`
does. Nodes it computed are kept until :meth:`StoredTree.unsaved` hands them to the store;
nodes below the base are read from the store when a proof needs them (and, should one be
missing, recomputed from its children), so proofs of any entry still cost O(log n) reads.

:class:`~codor.ledger.log.Ledger` opens the tree at its latest signed checkpoint, after
checking that the stored compact range folds to the root that checkpoint signed; with nodes
missing or not matching, it starts from 0 and hashes every leaf as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from codor.ledger.merkle import (
    compact_range,
    consistency_proof,
    inclusion_proof,
    root_from_compact_range,
)
from codor.ledger.store import LedgerStore

__all__ = ["StoredTree", "compact_nodes"]

_CACHE_LIMIT = 100_000  # store reads remembered for proofs (about 6 MB)


def compact_nodes(size: int) -> list[tuple[int, int]]:
    """``(level, idx)`` of the perfect subtrees tiling ``[0, size)``, largest first."""
    out = []
    begin = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, begin >> level))
            begin += 1 << level
    return out


class StoredTree:
    """An append-only Merkle tree over ``store`` whose nodes below ``base`` stay in the store.

    ``edge`` is the compact range of ``base`` (hashes in :func:`compact_nodes` order); the
    caller vouches for it (:class:`~codor.ledger.log.Ledger` checks it against a signed root).
    """

    __slots__ = ("_base", "_cache", "_levels", "_offsets", "_saved", "_size", "_store")

    def __init__(self, store: LedgerStore, base: int = 0, edge: Sequence[bytes] = ()) -> None:
        spots = compact_nodes(base)
        if len(edge) != len(spots):
            raise ValueError(f"the compact range of size {base} has {len(spots)} hashes")
        self._store = store
        self._base = self._size = self._saved = base
        # level k holds the hashes of nodes offsets[k], offsets[k] + 1, ... (offsets even):
        # the edge node of level k, if base has bit k, then every node completed from base on
        self._levels: list[list[bytes]] = []
        self._offsets: list[int] = []
        for level in range(max(1, base.bit_length())):
            self._levels.append([])
            self._offsets.append((base >> level) & ~1)
        for (level, _idx), digest in zip(spots, edge, strict=True):
            self._levels[level].append(digest)
        self._cache: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return self._size

    @property
    def base(self) -> int:
        """The size below which nodes are read from the store."""
        return self._base

    def in_memory(self) -> int:
        """How many node hashes this tree holds (a measure of what opening it cost)."""
        return sum(len(level) for level in self._levels)

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaf hashes (the next indexes), completing their parents."""
        sha256 = hashlib.sha256
        levels, offsets = self._levels, self._offsets
        i = self._size
        for lh in leaf_hashes:
            if not isinstance(lh, bytes) or len(lh) != 32:
                raise ValueError("a leaf hash must be 32 bytes")
            levels[0].append(lh)
            k, j = 0, i
            while j & 1:  # node j has a left sibling: their parent is now complete
                row = levels[k]
                parent = sha256(b"\x01" + row[-2] + row[-1]).digest()
                k, j = k + 1, j >> 1
                if k == len(levels):
                    levels.append([])
                    offsets.append((self._base >> k) & ~1)
                levels[k].append(parent)
            i += 1
        self._size = i

    def get(self, level: int, idx: int) -> bytes:
        """The hash of the perfect subtree ``(level, idx)`` (a :data:`NodeGetter`)."""
        if level < len(self._levels):
            j = idx - self._offsets[level]
            row = self._levels[level]
            if 0 <= j < len(row):
                return row[j]
        if (idx + 1) << level > self._size or level < 0 or idx < 0:
            raise IndexError(f"no perfect subtree ({level}, {idx}) in a tree of {self._size}")
        return self._stored(level, idx)

    def _stored(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        found = self._cache.get(key)
        if found is not None:
            return found
        if level == 0:
            found = self._store.leaf_hashes(idx, idx + 1)[0]
        else:
            found = self._store.node(level, idx)
            if found is None:  # never persisted: recompute from the children
                found = hashlib.sha256(b"\x01" + self._stored(level - 1, 2 * idx) +
                                       self._stored(level - 1, 2 * idx + 1)).digest()
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _check(self, size: int | None) -> int:
        n = self._size if size is None else size
        if not 0 <= n <= self._size:
            raise ValueError(f"size {n} is outside [0, {self._size}]")
        return n

    def compact_range(self, size: int | None = None) -> list[bytes]:
        return compact_range(self._check(size), self.get)

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (default: all), in O(log n)."""
        return root_from_compact_range(self.compact_range(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._check(size), self.get)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return consistency_proof(old, self._check(new), self.get)

    def unsaved(self) -> Iterator[tuple[int, int, bytes]]:
        """``(level, idx, hash)`` of the nodes (level >= 1) completed since the last
        :meth:`saved`: what the store should persist."""
        for level in range(1, len(self._levels)):
            row, offset = self._levels[level], self._offsets[level]
            for idx in range(self._saved >> level, self._size >> level):
                yield level, idx, row[idx - offset]

    def saved(self, size: int) -> None:
        """The store now holds every node of the first ``size`` leaves."""
        self._saved = max(self._saved, min(size, self._size))
