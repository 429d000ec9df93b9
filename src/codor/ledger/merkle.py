"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and verification (pure, no I/O).

Hashing (RFC 6962 §2.1): ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) =
SHA-256(0x01 || l || r)``, the empty tree's root is :data:`EMPTY_ROOT` = SHA-256(""), and a tree
of n > 1 leaves splits at the largest power of two smaller than n (:func:`root_of`).

Node addressing: ``get(level, idx)`` returns the hash of the *perfect* subtree at ``level``
covering leaves ``[idx * 2**level, (idx + 1) * 2**level)``; level 0 holds the leaf hashes. Only
perfect subtrees are ever stored; any imperfect (right-edge) subtree is folded from at most
log2(n) perfect ones, so every proof costs O(log n) calls of ``get`` plus O(log n) hashing.

* :func:`inclusion_proof` / :func:`verify_inclusion` — audit paths (RFC 9162 §2.1.3).
* :func:`consistency_proof` / :func:`verify_consistency` — prefix proofs (RFC 9162 §2.1.4).
  The verifiers follow the RFC algorithms step by step and never raise: malformed input
  (wrong types, negative sizes, hashes that are not 32 bytes) simply yields ``False``.
  As in the RFC, a proof authenticates a size only through its root; bind (size, root)
  together with a signed checkpoint.  Outside the RFC's ``0 < first < second`` range,
  ``verify_consistency`` accepts only an empty proof, with ``old_root == new_root`` when the
  sizes are equal and ``old_root == EMPTY_ROOT`` when ``old == 0``.
* :func:`compact_range` / :func:`root_from_compact_range` — the right-edge perfect subtree
  roots of a tree size (largest first) and the root they fold to.
* :class:`MerkleTree` — in-memory append-only tree keeping every perfect subtree hash per level
  (``levels[k][i]``); ``append`` is O(1) amortised hashing, ``root(size)`` of any prefix is
  O(log n), and ``from_levels`` / ``levels`` / ``nodes_between`` let a store persist and
  reload the level arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "NodeGetter",
    "compact_range",
    "consistency_proof",
    "extend_compact_range",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_compact_range",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], bytes]
"""``get(level, idx)``: hash of the perfect subtree over ``[idx << level, (idx + 1) << level)``."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 6962 §2.1) of a list of leaf hashes, in O(n).

    Pairing level by level and carrying an odd last node upwards is equivalent to the
    recursive split at the largest power of two smaller than n.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _perfect_nodes(begin: int, end: int) -> Iterator[tuple[int, int]]:
    """(level, idx) of the perfect subtrees tiling ``[begin, end)``, largest first.

    ``begin`` must be a multiple of the largest power of two not above ``end - begin``, which
    holds for every subtree of an RFC 6962 tree.
    """
    size = end - begin
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            yield level, begin >> level
            begin += 1 << level


def root_from_compact_range(hashes: Sequence[bytes]) -> bytes:
    """Fold right-edge perfect subtree roots (largest first) into the subtree's root."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def extend_compact_range(stack: list[bytes], size: int, leaf_hashes: Iterable[bytes]) -> int:
    """Append leaves to the compact range ``stack`` of a tree of ``size`` leaves (perfect
    subtree roots, largest first), merging equal subtrees; returns the new size."""
    for lh in leaf_hashes:
        stack.append(lh)
        k = size
        while k & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            k >>= 1
        size += 1
    return size


def _range_hash(get: NodeGetter, begin: int, end: int) -> bytes:
    """Hash of the (possibly imperfect) subtree ``[begin, end)`` from perfect ones."""
    return root_from_compact_range([get(lv, i) for lv, i in _perfect_nodes(begin, end)])


def compact_range(size: int, get: NodeGetter) -> list[bytes]:
    """Roots of the perfect subtrees that tile ``[0, size)``, largest (leftmost) first."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return [get(lv, i) for lv, i in _perfect_nodes(0, size)]


def _perfect(get: NodeGetter, begin: int, width: int) -> bytes:
    level = width.bit_length() - 1
    return get(level, begin >> level)


def inclusion_proof(index: int, size: int, get: NodeGetter) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of ``size`` leaves (RFC 6962 PATH), bottom-up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    top_down: list[bytes] = []
    lo, n = 0, size  # the current subtree is [lo, lo + n)
    while n > 1:
        k = _split(n)
        if index - lo < k:  # descend left; the right sibling may be imperfect
            top_down.append(_range_hash(get, lo + k, lo + n))
            n = k
        else:  # descend right; the left sibling is always perfect
            top_down.append(_perfect(get, lo, k))
            lo, n = lo + k, n - k
    top_down.reverse()
    return top_down


def consistency_proof(old: int, new: int, get: NodeGetter) -> list[bytes]:
    """Proof that the tree of ``old`` leaves is a prefix of the one of ``new`` (RFC 6962 PROOF)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    top_down: list[bytes] = []
    lo, m, n, whole_old_tree = 0, old, new, True
    while m != n:
        k = _split(n)
        if m <= k:
            top_down.append(_range_hash(get, lo + k, lo + n))
            n = k
        else:
            top_down.append(_perfect(get, lo, k))
            lo, m, n, whole_old_tree = lo + k, m - k, n - k, False
    if not whole_old_tree:  # the verifier cannot rebuild this subtree from the old root
        top_down.append(_range_hash(get, lo, lo + m))
    top_down.reverse()
    return top_down


def _is_size(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_hash(x: object) -> bool:
    return isinstance(x, bytes) and len(x) == HASH_SIZE


def _is_path(x: object) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (bytes, str)) and all(map(_is_hash, x))


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show ``leaf_hash`` at ``index`` under ``root``?"""
    if not (_is_size(index) and _is_size(size) and _is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not _is_path(proof) or index >= size:  # step 1
        return False
    fn, sn = index, size - 1  # step 2
    r = leaf_hash  # step 3
    for p in proof:  # step 4
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root  # step 5


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the ``old`` tree is a prefix of the ``new`` one?"""
    if not (_is_size(old) and _is_size(new) and _is_hash(old_root) and _is_hash(new_root)):
        return False
    if not _is_path(proof) or old > new:
        return False
    if old == new:
        return len(proof) == 0 and old_root == new_root and (old > 0 or old_root == EMPTY_ROOT)
    if old == 0:
        return len(proof) == 0 and old_root == EMPTY_ROOT
    path = list(proof)
    if not path:  # step 1
        return False
    if old & (old - 1) == 0:  # step 2: old is an exact power of two
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0  # step 7


class MerkleTree:
    """In-memory append-only Merkle tree storing every perfect subtree hash.

    ``levels[k][i]`` is the hash of leaves ``[i << k, (i + 1) << k)``; ``len(levels[k]) ==
    size >> k`` and there are ``max(1, size.bit_length())`` levels.  ``get`` is a
    :data:`NodeGetter` for :func:`inclusion_proof` / :func:`consistency_proof`.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @classmethod
    def from_levels(cls, levels: Sequence[Sequence[bytes]], *, check: bool = False) -> MerkleTree:
        """Rebuild a tree from persisted level arrays (as returned by :attr:`levels`).

        The shape is always validated; with ``check=True`` every interior hash is recomputed
        from its children too (O(n) hashing).  Raises ``ValueError`` on any mismatch.
        """
        copied = [list(level) for level in levels] or [[]]
        size = len(copied[0])
        if len(copied) != max(1, size.bit_length()):
            raise ValueError(f"a tree of size {size} has {max(1, size.bit_length())} levels")
        for k, level in enumerate(copied):
            if len(level) != size >> k:
                raise ValueError(f"level {k} holds {len(level)} hashes, expected {size >> k}")
            if not all(map(_is_hash, level)):
                raise ValueError(f"level {k} holds a value that is not a {HASH_SIZE}-byte hash")
            if check and k > 0:
                below = copied[k - 1]
                for i, h in enumerate(level):
                    if node_hash(below[2 * i], below[2 * i + 1]) != h:
                        raise ValueError(f"node ({k}, {i}) does not match its children")
        tree = cls()
        tree._levels = copied
        return tree

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def levels(self) -> Sequence[Sequence[bytes]]:
        """The live level arrays (do not mutate); persist them for :meth:`from_levels`."""
        return self._levels

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; returns its index.  Completes at most log2(n) parents."""
        if not _is_hash(leaf_hash):
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        levels = self._levels
        index = i = len(levels[0])
        levels[0].append(leaf_hash)
        k = 0
        while i & 1:  # node i has a left sibling: their parent is now complete
            parent = node_hash(levels[k][i - 1], levels[k][i])
            k, i = k + 1, i >> 1
            if k == len(levels):
                levels.append([])
            levels[k].append(parent)
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def get(self, level: int, idx: int) -> bytes:
        """Hash of the perfect subtree at (level, idx); ``IndexError`` if it does not exist."""
        if level < 0 or idx < 0 or level >= len(self._levels):
            raise IndexError(f"no perfect subtree at ({level}, {idx})")
        return self._levels[level][idx]

    def _check_size(self, size: int | None) -> int:
        n = self.size if size is None else size
        if not 0 <= n <= self.size:
            raise ValueError(f"size {n} is outside [0, {self.size}]")
        return n

    def root(self, size: int | None = None) -> bytes:
        """Root of the prefix of ``size`` leaves (default: the whole tree), in O(log n)."""
        return root_from_compact_range(self.compact_range(size))

    def compact_range(self, size: int | None = None) -> list[bytes]:
        """Right-edge perfect subtree roots of the prefix of ``size`` leaves, largest first."""
        return compact_range(self._check_size(size), self.get)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._check_size(size), self.get)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return consistency_proof(old, self._check_size(new), self.get)

    def nodes_between(
        self, old_size: int, new_size: int | None = None
    ) -> Iterator[tuple[int, int, bytes]]:
        """(level, idx, hash) of every node completed while growing ``old_size -> new_size``.

        A store that persisted the levels at ``old_size`` saves exactly these rows to catch up.
        """
        new = self._check_size(new_size)
        if not 0 <= old_size <= new:
            raise ValueError(f"old size {old_size} is outside [0, {new}]")
        for k, level in enumerate(self._levels):
            for i in range(old_size >> k, new >> k):
                yield k, i, level[i]
