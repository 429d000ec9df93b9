"""Tests for codor.ledger.merkle: published vectors, RFC 6962 reference cross-checks, properties."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    compact_range,
    consistency_proof,
    extend_compact_range,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_compact_range,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# --------------------------------------------------------------------------------------------
# Test vectors (data, not code) from github.com/transparency-dev/merkle:
#   testonly/constants.go  -- LeafInputs, NodeHashes, RootHashes, CompactTrees, EmptyRootHash
#   proof/verify_test.go   -- inclusionProofs, consistencyProofs (leaf numbers there are 1-based;
#                             they are converted to 0-based indices below)
# --------------------------------------------------------------------------------------------
LEAF_INPUTS = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]]  # fmt: skip

NODE_HASHES = [[bytes.fromhex(h) for h in level] for level in [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]]  # fmt: skip

EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOT_HASHES = [bytes.fromhex(h) for h in [  # indexed by tree size 0..8
    EMPTY_ROOT_HEX,
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]  # fmt: skip

# CompactTrees(): (level, index) into NODE_HASHES for each tree size 0..8.
COMPACT_TREES = [
    [], [(0, 0)], [(1, 0)], [(1, 0), (0, 2)], [(2, 0)], [(2, 0), (0, 4)], [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)], [(3, 0)],
]  # fmt: skip

# inclusionProofs: (0-based leaf index, tree size, proof).  The source's {0, 0, nil} entry is
# an invalid path (leaf number 0) and is exercised in test_inclusion_rejects_degenerate_sizes.
INCLUSION_PROOFS = [(leaf - 1, size, [bytes.fromhex(h) for h in proof]) for leaf, size, proof in [
    (1, 1, []),
    (1, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (6, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
]]  # fmt: skip

# consistencyProofs: (size1, size2, proof).
CONSISTENCY_PROOFS = [(m, n, [bytes.fromhex(h) for h in proof]) for m, n, proof in [
    (1, 1, []),
    (1, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (6, 8, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 5, [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
    (6, 7, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
]]  # fmt: skip

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
VECTOR_TREE = MerkleTree(leaf_hash(d) for d in LEAF_INPUTS)


def _flip(h: bytes, bit: int = 3) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# ---------------------------------------------------------------------------- published vectors


def test_hashes_match_vectors() -> None:
    assert EMPTY_ROOT.hex() == EMPTY_ROOT_HEX == hashlib.sha256(b"").hexdigest()
    assert [leaf_hash(d) for d in LEAF_INPUTS] == NODE_HASHES[0]
    assert node_hash(NODE_HASHES[0][0], NODE_HASHES[0][1]) == NODE_HASHES[1][0]
    assert [list(level) for level in VECTOR_TREE.levels] == NODE_HASHES


@pytest.mark.parametrize("size", range(9))
def test_roots_and_compact_ranges_match_vectors(size: int) -> None:
    assert root_of(NODE_HASHES[0][:size]) == ROOT_HASHES[size]
    assert VECTOR_TREE.root(size) == ROOT_HASHES[size]
    assert MerkleTree(NODE_HASHES[0][:size]).root() == ROOT_HASHES[size]
    expected = [NODE_HASHES[lv][i] for lv, i in COMPACT_TREES[size]]
    assert VECTOR_TREE.compact_range(size) == expected
    assert compact_range(size, VECTOR_TREE.get) == expected
    assert root_from_compact_range(expected) == ROOT_HASHES[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_PROOFS)
def test_inclusion_vectors(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(index, size, VECTOR_TREE.get) == proof
    leaf, root = NODE_HASHES[0][index], ROOT_HASHES[size]
    assert verify_inclusion(index, size, leaf, proof, root)
    # The corruptions of verify_test.go's corruptInclusionProof.
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root),
        (index, size, leaf, [root, *proof], root),
    ]
    probes += [(index, size, leaf, [*proof[:i], _flip(p), *proof[i + 1 :]], root)
               for i, p in enumerate(proof)]  # fmt: skip
    if proof:
        probes.append((index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root))
    for probe in probes:
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_PROOFS)
def test_consistency_vectors(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, new, VECTOR_TREE.get) == proof
    r1, r2 = ROOT_HASHES[old], ROOT_HASHES[new]
    assert verify_consistency(old, new, r1, r2, proof)
    if not proof:
        return
    # The corruptions of verify_test.go's corruptConsistencyProof.
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    probes += [(old, new, r1, r2, [*proof[:i], _flip(p, 4), *proof[i + 1 :]])
               for i, p in enumerate(proof)]  # fmt: skip
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_inclusion_single_entry() -> None:  # TestVerifyInclusionSingleEntry
    h = leaf_hash(b"data")
    assert verify_inclusion(0, 1, h, [], h)
    assert not verify_inclusion(0, 1, b"", [], h)
    assert not verify_inclusion(0, 1, h, [], b"")
    assert not verify_inclusion(0, 1, b"", [], b"")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1), (-1, 0)])
def test_inclusion_rejects_degenerate_sizes(index: int, size: int) -> None:  # TestVerifyInclusion
    assert not verify_inclusion(index, size, SOME_HASH, [], b"")
    assert not verify_inclusion(index, size, b"", [], EMPTY_ROOT)
    assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
    if not 0 <= index < size:
        with pytest.raises(ValueError):
            inclusion_proof(index, size, VECTOR_TREE.get)


# TestVerifyConsistency's edge table.  Deviations (RFC 9162 leaves these sizes undefined): roots
# must be 32-byte hashes here, and a size-0 tree must have the root SHA-256(""), so the Go
# "don't care" roots become real hashes and (0, 1, <not the empty root>, ...) is rejected.
R1, R2 = SOME_HASH, _flip(SOME_HASH)
CONSISTENCY_EDGES = [
    (0, 0, EMPTY_ROOT, R2, [], False),
    (1, 1, R1, R2, [], False),
    (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
    (0, 1, EMPTY_ROOT, R2, [], True),
    (0, 1, R1, R2, [], False),
    (1, 1, R2, R2, [], True),
    (1, 0, R1, R2, [], False),
    (2, 1, R1, R2, [], False),
    (1, 2, R1, R2, [], False),
    (0, 0, R1, R1, [], False),
    (1, 1, EMPTY_ROOT, R2, [], False),
    (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
]


@pytest.mark.parametrize(("old", "new", "r1", "r2", "proof", "ok"), CONSISTENCY_EDGES)
def test_consistency_edges(
    old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes], ok: bool
) -> None:
    assert verify_consistency(old, new, r1, r2, proof) is ok


def test_size_is_bound_only_through_the_root() -> None:
    """As in RFC 9162, a proof may also verify for another size whose path has the same shape.

    Index 0 in sizes 5 and 7 both have three right-hand siblings, so a size-5 proof checked
    against the size-5 root "verifies" at size 7 too.  Signed checkpoints bind (size, root).
    """
    proof = inclusion_proof(0, 5, VECTOR_TREE.get)
    assert verify_inclusion(0, 7, NODE_HASHES[0][0], proof, ROOT_HASHES[5])
    cproof = consistency_proof(4, 5, VECTOR_TREE.get)
    assert verify_consistency(4, 7, ROOT_HASHES[4], ROOT_HASHES[5], cproof)


_JUNK = st.one_of(st.none(), st.integers(), st.booleans(), st.text(), st.binary(), st.floats(),
                  st.lists(st.binary()), st.lists(st.integers()))  # fmt: skip


@given(_JUNK, _JUNK, _JUNK, _JUNK, _JUNK)
def test_verifiers_never_raise(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
    assert verify_inclusion(a, b, c, d, e) in (True, False)
    assert verify_consistency(a, b, c, d, e) in (True, False)


# ------------------------------------------------------- RFC 6962 reference (recursive, §2.1)

N_MAX = 300
LEAVES = [leaf_hash(b"leaf %d" % i) for i in range(N_MAX)]
TREE = MerkleTree(LEAVES)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def _mth(lo: int, hi: int) -> bytes:
    if hi - lo == 0:
        return hashlib.sha256(b"").digest()
    if hi - lo == 1:
        return LEAVES[lo]
    k = _split(hi - lo)
    return node_hash(_mth(lo, lo + k), _mth(lo + k, hi))


def _path(m: int, lo: int, hi: int) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = _split(hi - lo)
    if m < k:
        return [*_path(m, lo, lo + k), _mth(lo + k, hi)]
    return [*_path(m - k, lo + k, hi), _mth(lo, lo + k)]


def _subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
    if m == hi - lo:
        return [] if whole else [_mth(lo, hi)]
    k = _split(hi - lo)
    if m <= k:
        return [*_subproof(m, lo, lo + k, whole), _mth(lo + k, hi)]
    return [*_subproof(m - k, lo + k, hi, False), _mth(lo, lo + k)]


# Symbolic shapes: the expression a verifier rebuilds from proof slots 0..count-1 ("L" is the
# leaf, "O" the old root).  Proofs over distinct subtrees verify for another (index, size) only
# if that pair has the same shape, since SHA-256 gives no other way to reach the same root.
def _incl_shape(m: int, n: int) -> tuple[Any, int]:
    if n == 1:
        return "L", 0
    k = _split(n)
    if m < k:
        e, c = _incl_shape(m, k)
        return (e, c), c + 1
    e, c = _incl_shape(m - k, n - k)
    return (c, e), c + 1


def _cons_shape(m: int, n: int, whole: bool = True) -> tuple[Any, Any, int]:
    if m == n:
        return ("O", "O", 0) if whole else (0, 0, 1)
    k = _split(n)
    if m <= k:
        o, e, c = _cons_shape(m, k, whole)
        return o, (e, c), c + 1
    o, e, c = _cons_shape(m - k, n - k, False)
    return (c, o), (c, e), c + 1


def _subst(expr: Any, old: Any) -> Any:
    if expr == "O":
        return old
    if isinstance(expr, tuple):
        return tuple(_subst(x, old) for x in expr)
    return expr


sizes = st.integers(1, N_MAX)
bits = st.integers(0, 9)  # sizes stay below 2**9, so bit 9 always leaves the range


@given(sizes, st.data())
def test_inclusion_property(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    calls: list[tuple[int, int]] = []

    def get(level: int, idx: int) -> bytes:
        calls.append((level, idx))
        return TREE.get(level, idx)

    proof = inclusion_proof(index, size, get)
    assert proof == _path(index, 0, size) == TREE.inclusion_proof(index, size)
    assert len(calls) <= 2 * size.bit_length()
    root, leaf = TREE.root(size), LEAVES[index]
    assert verify_inclusion(index, size, leaf, proof, root)
    assert verify_inclusion(index, size, leaf, tuple(proof), root)
    bit = data.draw(bits)
    for i in range(len(proof)):
        assert not verify_inclusion(index, size, leaf, [*proof[:i], _flip(proof[i], bit % 8),
                                                         *proof[i + 1 :]], root)  # fmt: skip
    assert not verify_inclusion(index, size, leaf, proof, _flip(root, bit % 8))
    assert not verify_inclusion(index, size, _flip(leaf, bit % 8), proof, root)
    assert not verify_inclusion(index ^ (1 << bit), size, leaf, proof, root)
    other = size ^ (1 << bit)
    same_shape = index < other and _incl_shape(index, other) == _incl_shape(index, size)
    assert verify_inclusion(index, other, leaf, proof, root) is same_shape


@given(sizes, st.data())
def test_consistency_property(new: int, data: st.DataObject) -> None:
    old = data.draw(st.integers(0, new))
    calls: list[tuple[int, int]] = []

    def get(level: int, idx: int) -> bytes:
        calls.append((level, idx))
        return TREE.get(level, idx)

    proof = consistency_proof(old, new, get)
    expected = _subproof(old, 0, new, True) if 0 < old < new else []
    assert proof == expected == TREE.consistency_proof(old, new)
    assert len(calls) <= 2 * new.bit_length()
    r1, r2 = TREE.root(old), TREE.root(new)
    assert verify_consistency(old, new, r1, r2, proof)
    if not 0 < old < new:
        return
    bit = data.draw(bits)
    for i in range(len(proof)):
        bad = [*proof[:i], _flip(proof[i], bit % 8), *proof[i + 1 :]]
        assert not verify_consistency(old, new, r1, r2, bad)
    assert not verify_consistency(old, new, _flip(r1, bit % 8), r2, proof)
    assert not verify_consistency(old, new, r1, _flip(r2, bit % 8), proof)
    o_expr, n_expr, count = _cons_shape(old, new)
    for m, n in ((old ^ (1 << bit), new), (old, new ^ (1 << bit))):
        same = False
        if 0 < m < n:
            mo, mn, mc = _cons_shape(m, n)
            same = (_subst(mo, o_expr), _subst(mn, o_expr), mc) == (o_expr, n_expr, count)
        assert verify_consistency(m, n, r1, r2, proof) is same, (m, n)


@given(st.integers(0, N_MAX))
def test_roots_agree(size: int) -> None:
    expected = _mth(0, size)
    assert root_of(LEAVES[:size]) == expected == TREE.root(size)
    assert MerkleTree(LEAVES[:size]).root() == expected
    assert root_from_compact_range(TREE.compact_range(size)) == expected


@settings(max_examples=50)
@given(st.integers(0, N_MAX), st.data())
def test_levels_round_trip(size: int, data: st.DataObject) -> None:
    tree = MerkleTree(LEAVES[:size])
    assert len(tree) == tree.size == size
    assert [len(level) for level in tree.levels] == [size >> k for k in
                                                     range(max(1, size.bit_length()))]  # fmt: skip
    copy = MerkleTree.from_levels(tree.levels, check=True)
    assert copy.root() == tree.root() and copy.levels == tree.levels
    old = data.draw(st.integers(0, size))
    # Persisting the prefix's levels plus nodes_between rebuilds the same arrays.
    rows = {(k, i): h for k, level in enumerate(MerkleTree(LEAVES[:old]).levels)
            for i, h in enumerate(level)}  # fmt: skip
    rows.update({(k, i): h for k, i, h in tree.nodes_between(old)})
    rebuilt = [[rows[k, i] for i in range(size >> k)] for k in range(max(1, size.bit_length()))]
    assert MerkleTree.from_levels(rebuilt, check=True).levels == tree.levels
    copy.extend(LEAVES[size : size + 3])
    assert copy.root() == _mth(0, min(size + 3, N_MAX))


def test_from_levels_rejects_bad_input() -> None:
    levels = [list(level) for level in MerkleTree(LEAVES[:6]).levels]
    with pytest.raises(ValueError, match="levels"):
        MerkleTree.from_levels([*levels, []])
    with pytest.raises(ValueError, match="level 1"):
        MerkleTree.from_levels([levels[0], levels[1][:-1], levels[2]])
    with pytest.raises(ValueError, match="32-byte"):
        MerkleTree.from_levels([[*levels[0][:-1], b"x"], levels[1], levels[2]])
    tampered = [levels[0], [levels[1][0], _flip(levels[1][1]), levels[1][2]], levels[2]]
    MerkleTree.from_levels(tampered)  # shape is fine ...
    with pytest.raises(ValueError, match=r"node \(1, 1\)"):
        MerkleTree.from_levels(tampered, check=True)  # ... but the hashes are not
    assert MerkleTree.from_levels([]).root() == EMPTY_ROOT


def test_tree_argument_errors() -> None:
    tree = MerkleTree(LEAVES[:5])
    with pytest.raises(ValueError):
        tree.append(b"short")
    with pytest.raises(ValueError):
        tree.root(6)
    with pytest.raises(ValueError):
        tree.inclusion_proof(0, 6)
    with pytest.raises(ValueError):
        tree.consistency_proof(4, 6)
    with pytest.raises(ValueError):
        consistency_proof(5, 4, tree.get)
    with pytest.raises(ValueError):
        list(tree.nodes_between(6))
    with pytest.raises(ValueError):
        compact_range(-1, tree.get)
    for level, idx in ((-1, 0), (0, -1), (3, 0), (0, 5)):
        with pytest.raises(IndexError):
            tree.get(level, idx)
    assert tree.append(LEAVES[5]) == 5


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.lists(st.integers(min_value=1, max_value=40),
                                                         max_size=8))
def test_extending_a_compact_range_in_any_chunks_gives_the_trees_root(
        n: int, cuts: list[int]) -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(n)]
    stack: list[bytes] = []
    size, start = 0, 0
    for cut in [*cuts, n]:
        chunk = leaves[start:start + cut] if cut != n else leaves[start:]
        size = extend_compact_range(stack, size, chunk)
        start += len(chunk)
    assert size == n
    assert root_from_compact_range(stack) == root_of(leaves)
