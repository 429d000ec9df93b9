"""A JSON Lines file: one ``{"index": i, "record": {...}}`` object per line."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codor.ledger.sinks.base import log

__all__ = ["JsonlSink"]


class JsonlSink:
    """Appends each entry as one line to ``path`` (created ``0600``).

    Each line is written with a single ``write(2)`` on an ``O_APPEND`` descriptor — no user
    space buffer, so a crash of this process loses nothing the OS accepted — and
    :meth:`flush` ``fsync``\\s it. Counters: ``sent`` lines are fsynced, ``queued`` lines are
    written but not yet fsynced, ``failed`` lines could not be written.

    With ``max_bytes``, a line that would take the file past it first rotates the file:
    ``path`` → ``path.1`` → … → ``path.<keep>`` (the oldest is deleted), fsyncing first, like
    :class:`logging.handlers.RotatingFileHandler`. A line longer than ``max_bytes`` gets a
    file of its own. :meth:`reopen` reopens ``path`` after an outside tool moved it.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int | None = None,
                 keep: int = 5) -> None:
        if max_bytes is not None and (max_bytes < 1 or keep < 1):
            raise ValueError("jsonl sink: max_bytes and keep must be ≥ 1")
        self.path = Path(path)
        self.name = f"jsonl:{self.path}"
        self.max_bytes, self.keep = max_bytes, keep
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("sent", "failed", "dropped", "rotations"), 0)
        self._unsynced = 0
        self._failing = False
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._size = 0
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o600)
        self._size = os.fstat(self._fd).st_size

    def _close_fd(self) -> bool:
        """Fsync and close the current file; true when the fsync worked."""
        ok = self._sync()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        return ok

    def _sync(self) -> bool:
        if self._fd < 0:
            return self._unsynced == 0
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._trouble(f"fsync failed: {exc}")
            return False
        self._counts["sent"] += self._unsynced
        self._unsynced = 0
        return True

    def _trouble(self, message: str) -> None:
        if not self._failing:
            self._failing = True
            log.warning("sink %s: %s (logged once until it recovers)", self.name, message)

    def _rotate(self) -> None:
        self._close_fd()
        base = str(self.path)
        for i in range(self.keep - 1, 0, -1):
            if os.path.exists(f"{base}.{i}"):
                os.replace(f"{base}.{i}", f"{base}.{i + 1}")
        os.replace(base, f"{base}.1")
        self._counts["rotations"] += 1
        self._open()
        try:
            dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # pragma: no cover - platforms without O_DIRECTORY semantics
            return
        try:
            os.fsync(dir_fd)  # make the renames durable too
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(dir_fd)

    def emit(self, index: int, record: Mapping[str, Any]) -> None:
        try:
            line = (json.dumps({"index": index, "record": record}, ensure_ascii=False,
                               separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:  # incl. lone surrogates
            with self._lock:
                self._counts["failed"] += 1
                self._trouble(f"entry {index} cannot be encoded: {exc!r}")
            return
        with self._lock:
            if self._closed:
                self._counts["dropped"] += 1
                return
            try:
                if self._fd < 0:
                    self._open()
                if self.max_bytes is not None and self._size and \
                        self._size + len(line) > self.max_bytes:
                    self._rotate()
                self._write(line)
            except OSError as exc:
                self._counts["failed"] += 1
                self._trouble(f"cannot write {self.path}: {exc}")
                return
            self._unsynced += 1
            self._size += len(line)
            if self._failing:
                self._failing = False
                log.warning("sink %s: writing again", self.name)

    def _write(self, line: bytes) -> None:
        view, written = memoryview(line), 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError:
            if written:  # end the partial line so the next one parses
                self._size += written
                with contextlib.suppress(OSError):
                    self._size += os.write(self._fd, b"\n")
            raise

    def flush(self, timeout: float | None = None) -> bool:
        """Fsync what was written (``timeout`` is not enforceable on ``fsync``)."""
        with self._lock:
            return self._sync()

    def reopen(self) -> None:
        """Close and reopen ``path`` (after an outside rotation moved it)."""
        with self._lock:
            if not self._closed:
                self._close_fd()
                self._open()

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_fd()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "queued": self._unsynced}

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
