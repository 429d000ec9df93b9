"""The sink protocol and the fan-out a ledger calls for every committed entry.

Statistics: a fan-out given a ``stats_path`` (a workspace's ``.codor/sinks-stats.json``, set up
by :func:`codor.ledger.sinks.config.load_sinks`) adds its counters to that file when it
closes — running totals per sink over every process that used the sinks, and the counters
of the last run — and logs one warning line per sink that dropped or failed entries in the
run. :func:`read_stats` reads the file back.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = ["STATS_FORMAT", "Sink", "SinkFanout", "log", "read_stats"]

#: The ``format`` of a sink statistics file.
STATS_FORMAT = "codor.sink-stats/v1"

log = logging.getLogger("codor.ledger.sinks")


class Sink(Protocol):
    """Forwards appended evidence entries somewhere else.

    ``emit`` never blocks on I/O to a remote party and never raises for a delivery problem; it
    counts it. The sink keeps a reference to ``record`` until it is delivered: callers must
    not mutate it afterwards (:class:`SinkFanout` hands every sink a freshly decoded dict).
    """

    name: str

    def emit(self, index: int, record: Mapping[str, Any]) -> None:
        """Accept the entry at ledger ``index`` for delivery (or count it as dropped)."""

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver what was accepted so far; true when nothing is left pending in time."""

    def close(self, timeout: float | None = 5.0) -> None:
        """Flush (bounded by ``timeout``), then stop; later entries are counted as dropped."""

    def stats(self) -> dict[str, int]:
        """Counters: at least ``sent``, ``failed``, ``dropped`` and ``queued``."""


class SinkFanout:
    """Sends each appended entry to every sink, and never raises into its caller.

    A ledger or kernel calls :meth:`emit` with the entry's index and its record — a mapping,
    or the leaf bytes/str (decoded once here, for all sinks). A record that does not decode,
    or a sink that raises, is counted (``invalid``, and ``emit_errors`` per sink) and logged
    once per sink until it works again; the decision that caused the append is unaffected.
    """

    def __init__(self, sinks: Iterable[Sink] = (), *,
                 stats_path: str | os.PathLike[str] | None = None) -> None:
        self.stats_path = None if stats_path is None else Path(stats_path)
        self._closed = False
        self._lock = threading.Lock()
        self._sinks: dict[str, Sink] = {}
        self._errors: dict[str, int] = {}
        self._failing: set[str] = set()
        self._emitted = 0
        self._invalid = 0
        for sink in sinks:
            self.add(sink)

    def add(self, sink: Sink) -> str:
        """Add a sink; returns the name it is known by in :meth:`stats` (made unique)."""
        with self._lock:
            name, n = sink.name, 2
            while name in self._sinks or name == "fanout":
                name, n = f"{sink.name}#{n}", n + 1
            self._sinks = {**self._sinks, name: sink}  # copy-on-write: emit reads lock-free
            self._errors[name] = 0
        return name

    @property
    def sinks(self) -> dict[str, Sink]:
        return dict(self._sinks)

    def __len__(self) -> int:
        return len(self._sinks)

    def emit(self, index: int, record: Mapping[str, Any] | bytes | str) -> None:
        """Hand one appended entry to every sink. Never raises (an ``Exception``)."""
        sinks = self._sinks
        if not sinks:
            return
        try:
            data = record if isinstance(record, Mapping) else json.loads(record)
            if not isinstance(data, Mapping) or type(index) is not int:
                raise ValueError("a record must be a JSON object and its index an int")
        except Exception as exc:  # ValueError, TypeError, RecursionError…
            with self._lock:
                self._invalid += 1
            log.warning("sink fan-out: entry %r is not a JSON object record (%s); not sent",
                        index, type(exc).__name__)
            return
        with self._lock:
            self._emitted += 1
        for name, sink in sinks.items():
            try:
                sink.emit(index, data)
            except Exception as exc:
                self._sink_error(name, "emit", exc)
            else:
                if name in self._failing:  # a cheap read; recheck under the lock
                    with self._lock:
                        recovered = name in self._failing
                        self._failing.discard(name)
                    if recovered:
                        log.warning("sink %s: emit works again", name)

    def _sink_error(self, name: str, what: str, exc: Exception) -> None:
        with self._lock:
            self._errors[name] = self._errors.get(name, 0) + 1
            first = name not in self._failing
            self._failing.add(name)
        if first:
            log.warning("sink %s: %s raised %s: %s (counted; logged once until it recovers)",
                        name, what, type(exc).__name__, str(exc)[:200])

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Flush every sink within one overall ``timeout``; true when all of them drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for name, sink in self._sinks.items():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ok = bool(sink.flush(left)) and ok
            except Exception as exc:
                self._sink_error(name, "flush", exc)
                ok = False
        return ok

    def close(self, timeout: float | None = 5.0) -> None:
        """Close every sink within one overall ``timeout`` (each gets what is left), then
        record the statistics (see the module doc). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = None if timeout is None else time.monotonic() + timeout
        for name, sink in self._sinks.items():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                sink.close(left)
            except Exception as exc:
                self._sink_error(name, "close", exc)
        if not self._sinks:
            return
        run = self.stats()
        for name, counters in run.items():
            lost = {k: counters.get(k, 0) for k in ("dropped", "failed") if counters.get(k)}
            if lost:
                log.warning("sink %s: %s in this run%s", name,
                            ", ".join(f"{n} {k}" for k, n in lost.items()),
                            f" (totals in {self.stats_path})" if self.stats_path else "")
        if self.stats_path is not None:
            try:
                _add_stats(self.stats_path, run)
            except (OSError, ValueError) as exc:
                log.warning("sink statistics: cannot update %s: %s", self.stats_path, exc)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per sink: its own counters plus ``emit_errors``; ``fanout``: ``emitted``, ``invalid``."""
        out: dict[str, dict[str, int]] = {}
        for name, sink in self._sinks.items():
            try:
                counters = dict(sink.stats())
            except Exception as exc:
                self._sink_error(name, "stats", exc)
                counters = {}
            counters["emit_errors"] = self._errors.get(name, 0)
            out[name] = counters
        with self._lock:
            out["fanout"] = {"emitted": self._emitted, "invalid": self._invalid}
        return out

    def __enter__(self) -> SinkFanout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_stats(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The statistics file at ``path``, or ``None`` when there is none (or it is not one)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != STATS_FORMAT or \
            not isinstance(data.get("sinks"), dict):
        return None
    return data


def _add_stats(path: Path, run: dict[str, dict[str, int]]) -> None:
    """Add one run's counters to the totals in ``path`` (``queued`` is a level, not a count:
    the last run's value is kept). Several processes may close at once: a lock file
    serialises them, and the file is replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                      0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        old = read_stats(path) or {}
        totals: dict[str, dict[str, int]] = {
            name: {k: v for k, v in counters.items() if isinstance(v, int)}
            for name, counters in old.get("sinks", {}).items() if isinstance(counters, dict)}
        for name, counters in run.items():
            total = totals.setdefault(name, {})
            for key, value in counters.items():
                total[key] = value if key == "queued" else total.get(key, 0) + value
        now = _now()
        data = {"format": STATS_FORMAT, "since": old.get("since", now), "updated": now,
                "runs": int(old.get("runs", 0)) + 1, "sinks": totals,
                "last_run": {"ended": now, "pid": os.getpid(), "sinks": run}}
        from codor.atomicfile import write_atomic

        write_atomic(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(),
                     durable=False)
    finally:
        os.close(lock_fd)  # releases the lock
