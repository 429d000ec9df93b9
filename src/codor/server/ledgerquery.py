"""Reading the daemon's ledger for the API: decoded entries, filtered scans that let the
database find a session's leaves (``leaves_containing``), and the lock that serialises the
in-memory Merkle tree (which :meth:`Ledger.sync` extends) between request threads."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from codor.evidence.leaves import leaf_record, session_needle
from codor.ledger.merkle import leaf_hash as merkle_leaf_hash

if TYPE_CHECKING:
    from codor.ledger import Ledger
    from codor.ledger.store import LedgerStore

__all__ = ["MAX_LIMIT", "RECORD_TYPES", "entry_json", "scan", "session_needle", "tree_lock"]

#: the most entries one page may hold
MAX_LIMIT: Final = 1000
RECORD_TYPES: Final = ("session.start", "decision", "outcome", "event", "approval")
_CHUNK: Final = 8192

_locks: weakref.WeakKeyDictionary[Ledger, threading.Lock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def tree_lock(ledger: Ledger) -> threading.Lock:
    """The lock to hold around :meth:`Ledger.sync`, proofs and checkpoints of ``ledger``."""
    with _locks_guard:
        lock = _locks.get(ledger)
        if lock is None:
            lock = _locks[ledger] = threading.Lock()
        return lock


def entry_json(index: int, leaf: bytes | None, leaf_hash: bytes, ts: float | None = None,
               record: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entry as the API shows it: index, leaf hash, whether the stored body still hashes
    to it, the decoded record (``null`` once pruned)."""
    out: dict[str, Any] = {"index": index, "leaf_hash": leaf_hash.hex(),
                           "pruned": leaf is None,
                           "hash_ok": None if leaf is None else
                           merkle_leaf_hash(leaf) == leaf_hash,
                           "record": record if record is not None else leaf_record(leaf)}
    if ts is not None:
        out["ts"] = ts
    return out


def scan(store: LedgerStore, start: int, end: int, needle: bytes,
         keep: Callable[[dict[str, Any]], bool], limit: int
         ) -> tuple[list[tuple[int, bytes, bytes, dict[str, Any]]], int | None]:
    """Up to ``limit`` entries of ``[start, end)`` whose body contains ``needle`` (found by
    the database) and whose decoded record ``keep`` accepts, in index order; and where the
    next page starts (``None``: nothing more below ``end``)."""
    found: list[tuple[int, bytes, bytes, dict[str, Any]]] = []
    pos = start
    while pos < end:
        stop = min(end, pos + _CHUNK)
        for index, leaf, lh in store.leaves_containing(pos, stop, needle):
            record = leaf_record(leaf)
            if record is None or not keep(record):
                continue
            if len(found) == limit:
                return found, index
            found.append((index, leaf, lh, record))
        pos = stop
    return found, None
