"""Retention: prune old entry bodies (hashes stay, so proofs and checkpoints stay valid) and
warn when the ledger grows past a size.

:func:`prune` signs a checkpoint of the whole log first — every entry whose body goes is then
committed to by a signature — and drops the leaf bytes of entries appended before the cutoff
(:meth:`~codor.ledger.store.LedgerStore.prune_bodies`). Leaf hashes, the hash chain, Merkle
nodes and checkpoints are untouched: ``codor ledger verify`` still recomputes the chain and
every checkpoint root, and reports the bodies that are gone as pruned (a pruned body and a
deleted one look the same: what is proven is the hash, not the bytes). :func:`compact`
then gives the space back to the file system (``VACUUM``).

Size warning: ``CODOR_LEDGER_WARN_BYTES`` (bytes, or with a ``KiB``/``MiB``/``GiB``/``TiB``
suffix; default 1 GiB; ``0`` turns it off). :func:`warn_if_large` prints
``codor: warning: ledger is N MiB, over ...`` on stderr, once per ledger per process; the
size counted is the database file plus its write-ahead log.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from codor.errors import InputError

if TYPE_CHECKING:
    from codor.ledger.log import Ledger

__all__ = [
    "DEFAULT_WARN_BYTES", "WARN_ENV", "PruneReport", "PrunedBodies", "compact", "ledger_bytes",
    "mib", "parse_age", "prune", "pruned_bodies", "size_warning", "warn_if_large", "warn_threshold",
]

DEFAULT_WARN_BYTES: Final = 1 << 30
WARN_ENV: Final = "CODOR_LEDGER_WARN_BYTES"
_MiB: Final = 1 << 20
_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*")
_AGE_UNITS: Final = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"\s*(\d+)\s*(B|KiB|MiB|GiB|TiB)?\s*", re.IGNORECASE)
_SIZE_UNITS: Final = {"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_warned: set[str] = set()


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as seconds; :class:`InputError` otherwise."""
    match = _AGE.fullmatch(text)
    if match is None:
        raise InputError(f"bad age {text!r}: expected a number and a unit (s, m, h, d, w), "
                         "e.g. 30d", location="--older-than")
    return float(match[1]) * _AGE_UNITS[match[2]]


# -- pruning ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PruneReport:
    """``pruned`` bodies dropped, of entries appended before ``cutoff`` (Unix seconds); the
    log of ``size`` entries was covered by a signed checkpoint before any body went."""

    pruned: int
    cutoff: float
    size: int


def prune(ledger: Ledger, older_than: float, *, now: float | None = None) -> PruneReport:
    """Sign a checkpoint of the whole log, then drop the bodies of entries appended more than
    ``older_than`` seconds before ``now`` (default: the current time)."""
    if not math.isfinite(older_than) or older_than < 0:
        raise InputError("the age to prune must be a finite number of seconds >= 0")
    cutoff = (time.time() if now is None else now) - older_than
    ledger.checkpoint()  # needs the log key: commit to every hash before bodies go
    latest = ledger.store.latest_checkpoint()
    size = latest[0] if latest is not None else 0
    return PruneReport(ledger.store.prune_bodies(cutoff), cutoff, size)


@dataclass(frozen=True, slots=True)
class PrunedBodies:
    """How many entries have no body, and the first and last such index."""

    count: int
    first: int | None = None
    last: int | None = None

    def describe(self) -> str:
        if not self.count:
            return "no entry body is pruned"
        span = self.last is not None and self.first is not None and \
            self.last - self.first + 1 == self.count
        where = "entries" if span else "among entries"
        return (f"{self.count} entry bodies pruned ({where} {self.first}..{self.last}); "
                "their leaf hashes are verified")


def pruned_bodies(ledger: Ledger) -> PrunedBodies:
    """Count the entries whose body is gone (one query on a SQLite store)."""
    store = ledger.store
    store.flush()
    path = getattr(store, "path", None)
    if isinstance(path, str) and Path(path).is_file():
        uri = getattr(store, "read_uri", None) or Path(path).absolute().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            count, first, last = conn.execute(
                "SELECT COUNT(*), MIN(e.idx), MAX(e.idx) FROM entries e "
                "LEFT JOIN bodies b ON b.idx = e.idx WHERE b.idx IS NULL").fetchone()
        return PrunedBodies(int(count), first, last)
    size, found = store.size(), []
    for start in range(0, size, 4096):
        found += [e.index for e in store.entries(start, min(size, start + 4096))
                  if e.leaf is None]
    return PrunedBodies(len(found), found[0] if found else None, found[-1] if found else None)


def compact(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``VACUUM`` the ledger file (give pruned space back) and truncate its write-ahead log;
    returns the size before and after. Immutability triggers are kept by ``VACUUM``."""
    before = ledger_bytes(path)
    with contextlib.closing(sqlite3.connect(os.fspath(path), timeout=30,
                                            isolation_level=None)) as conn:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return before, ledger_bytes(path)


# -- size warning -------------------------------------------------------------------------------
def ledger_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes on disk of the ledger file and its write-ahead log."""
    total = 0
    for name in (os.fspath(path), os.fspath(path) + "-wal"):
        with contextlib.suppress(OSError):
            total += os.stat(name).st_size
    return total


def warn_threshold(env: dict[str, str] | None = None) -> tuple[int, str | None]:
    """The warning size in bytes from ``CODOR_LEDGER_WARN_BYTES`` (``0``: never warn), and a
    problem with the variable's value, if any (the default is then used)."""
    text = (os.environ if env is None else env).get(WARN_ENV)
    if text is None or not text.strip():
        return DEFAULT_WARN_BYTES, None
    match = _SIZE.fullmatch(text)
    if match is None:
        return DEFAULT_WARN_BYTES, (f"codor: warning: {WARN_ENV}={text!r} is not a size in "
                                    "bytes (e.g. 1073741824 or 512MiB); using 1 GiB")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()], None


def mib(n: int) -> str:
    """``n`` bytes in MiB, with enough digits that a small file is not ``0.0``."""
    return f"{n / _MiB:.1f}" if n >= _MiB // 10 or n == 0 else f"{n / _MiB:.4f}".rstrip("0")


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def size_warning(path: str | os.PathLike[str], env: dict[str, str] | None = None
                 ) -> list[str]:
    """The warning lines for the ledger at ``path`` (none when it is within the limit)."""
    limit, problem = warn_threshold(env)
    lines = [problem] if problem else []
    size = ledger_bytes(path)
    if limit and size > limit:
        lines.append(f"codor: warning: ledger is {mib(size)} MiB, over the {_human(limit)} "
                     f"set by {WARN_ENV} ({os.fspath(path)}); drop old entry bodies with "
                     "`codor ledger prune --older-than 30d`")
    return lines


def warn_if_large(target: Ledger | str | os.PathLike[str] | None, *,
                  stream: TextIO | None = None, env: dict[str, str] | None = None) -> list[str]:
    """Print :func:`size_warning` for a ledger (or its path) on ``stream`` (stderr), at most
    once per ledger file in this process; returns what was printed. ``None``: nothing."""
    if target is None:
        return []
    path = target if isinstance(target, str | os.PathLike) else getattr(target.store, "path",
                                                                         None)
    if not isinstance(path, str | os.PathLike):
        return []
    key = os.path.abspath(path)
    if key in _warned:
        return []
    lines = size_warning(path, env)
    if lines:
        _warned.add(key)
        out = sys.stderr if stream is None else stream
        for line in lines:
            out.write(line + "\n")
        out.flush()
    return lines
