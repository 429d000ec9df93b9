"""Bounded memo tables for the pure parts of evaluation (glob verdicts, secret scans).

Guards may memoise only what is a pure function of its key: the I/O part of a decision
(symlink resolution) is always done again and becomes part of the key. When a table is full it
is emptied (cheaper than LRU bookkeeping on the hot path; a miss only costs a recomputation).
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Memo"]

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A dictionary with a size bound. Thread-safe enough under the GIL: a lost insert or a
    concurrent clear only costs a recomputation, never a wrong answer."""

    __slots__ = ("_data", "_max")

    def __init__(self, maxsize: int = 4096) -> None:
        self._data: dict[K, V] = {}
        self._max = maxsize

    def get(self, key: K) -> V | None:
        return self._data.get(key)

    def put(self, key: K, value: V) -> V:
        data = self._data
        if len(data) >= self._max:
            data.clear()
        data[key] = value
        return value

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
