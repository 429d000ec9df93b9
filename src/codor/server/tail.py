"""``LedgerTail``: new ledger entries, as they are committed, for live watchers (the
dashboard's event stream, ``GET /v1/stream``).

A background thread polls the ledger store's size every ``interval`` seconds and publishes
each new entry as ``(index, record)`` — the decoded evidence record (``None`` when its body
was pruned or does not decode) — to every subscriber. Because it polls the *store*, daemons
sharing one PostgreSQL log all see every daemon's entries.

Each subscriber has a bounded asyncio queue on its own event loop, fed with
``loop.call_soon_threadsafe``; a slow watcher loses entries (counted on the subscription and
in the daemon's ``codor_queue_size{queue="stream_dropped"}``) instead of slowing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Final

from codor.evidence.leaves import leaf_record

if TYPE_CHECKING:
    from codor.ledger.log import Ledger
    from codor.server.metrics import Metrics

__all__ = ["Entry", "LedgerTail", "Subscription", "action_target", "describe"]

log = logging.getLogger("codor.server.tail")

Entry = tuple[int, dict[str, Any] | None]
_BATCH: Final = 500


def action_target(action: dict[str, Any]) -> str:
    for name in ("command", "path", "url", "host", "tool", "text"):
        value = action.get(name)
        if isinstance(value, str) and value:
            return value if len(value) <= 120 else value[:117] + "..."
    argv = action.get("argv")
    if isinstance(argv, list):
        return " ".join(str(a) for a in argv)[:120]
    return ""


def describe(index: int, record: dict[str, Any] | None) -> dict[str, Any]:
    """One line about an entry for people: ``{index, type, session, title, detail, outcome,
    wall_us}`` (``outcome``: allow / deny / ask for decisions, approved / denied for
    approvals, passed / failed for claims verifications, else ``None``)."""
    if record is None:
        return {"index": index, "type": "pruned", "session": None, "title": "(body pruned)",
                "detail": "", "outcome": None, "wall_us": None}
    rtype = str(record.get("type", "?"))
    session = record.get("session")
    wall = record.get("wall_us", record.get("started_wall_us"))
    title, detail, outcome = rtype, "", None
    if rtype == "decision":
        action = record.get("action") or {}
        decision = record.get("decision") or {}
        outcome = decision.get("decision")
        title = str(action.get("kind", "action"))
        detail = action_target(action)
        reasons = decision.get("reasons") or []
        if reasons and outcome != "allow":
            message = reasons[0].get("message") if isinstance(reasons[0], dict) else None
            if message:
                detail = f"{detail} — {message}" if detail else str(message)
    elif rtype == "event":
        title = str(record.get("event", "event"))
        data = record.get("data") or {}
        if title == "claims.verification":
            outcome = "passed" if data.get("passed") else "failed"
            counts = data.get("verdicts") or {}
            detail = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    elif rtype == "approval":
        outcome = "approved" if record.get("approved") else "denied"
        title = "approval"
        detail = f"by {record.get('approver', '?')} (entry {record.get('action_index')})"
    elif rtype == "outcome":
        status = record.get("exit_status")
        title = "outcome"
        detail = f"exit {status} (entry {record.get('action_index')})"
    elif rtype == "session.start":
        agent = record.get("agent") or {}
        title = "session start"
        detail = str(agent.get("id", "")) if isinstance(agent, dict) else ""
    return {"index": index, "type": rtype, "session": session, "title": title,
            "detail": detail, "outcome": outcome, "wall_us": wall}


class Subscription:
    """One watcher's queue of entries (read it on the loop that subscribed)."""

    def __init__(self, tail: LedgerTail, loop: asyncio.AbstractEventLoop, maxsize: int,
                 start: int) -> None:
        self.tail = tail
        self.loop = loop
        self.queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize)
        #: the first index this subscription receives (entries before it are history)
        self.start = start
        self.dropped = 0

    def _put(self, entry: Entry) -> None:  # on self.loop
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1
            self.tail._dropped(1)

    async def get(self, timeout: float | None = None) -> Entry | None:
        """The next entry, or ``None`` after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.tail.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LedgerTail:
    """Polls ``ledger``'s store and publishes every new entry (see the module doc)."""

    def __init__(self, ledger: Ledger, metrics: Metrics | None = None, *,
                 interval: float = 0.2, queue_size: int = 1000) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.interval = interval
        self.queue_size = queue_size
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._position = -1  # the next index to publish; -1 until started
        self._drops = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start polling from the current end of the log."""
        if self._thread is not None:
            return
        self._position = self._size()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="codor-ledger-tail",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            self._subs.clear()
        self._gauge()

    @property
    def position(self) -> int:
        """The index of the next entry to be published."""
        return self._position

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- subscribers ------------------------------------------------------------------------
    def subscribe(self, loop: asyncio.AbstractEventLoop | None = None,
                  maxsize: int | None = None) -> Subscription:
        """A new subscription on ``loop`` (default: the running loop); it receives every
        entry from :attr:`Subscription.start` on."""
        loop = loop or asyncio.get_running_loop()
        with self._lock:  # under the lock: no entry is published between start and add
            if not self._subs:  # nobody watched: the poller has not followed the log
                self._position = self._size()
            sub = Subscription(self, loop, maxsize or self.queue_size, self._position)
            self._subs.append(sub)
        self._gauge()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subs.remove(sub)
        self._gauge()

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    @property
    def drops(self) -> int:
        return self._drops

    # -- polling ----------------------------------------------------------------------------
    def _size(self) -> int:
        store = self.ledger.store
        store.flush()  # watchers see committed entries only
        return store.size()

    def poll(self) -> int:
        """Publish what was appended since the last poll; returns how many entries (the
        thread calls this; tests may too)."""
        with self._lock:
            if not self._subs:  # nobody watches: no flush, no read (the first subscriber
                return 0        # starts from the end of the log then)
        size = self._size()
        published = 0
        while self._position < size:
            end = min(size, self._position + _BATCH)
            entries = self.ledger.store.entries(self._position, end)
            items: list[Entry] = [(e.index, leaf_record(e.leaf)) for e in entries]  # unlocked
            with self._lock:
                subs = list(self._subs)
                for item in items:
                    for sub in subs:
                        try:
                            sub.loop.call_soon_threadsafe(sub._put, item)
                        except RuntimeError:  # its loop is closed: the watcher is gone
                            with contextlib.suppress(ValueError):
                                self._subs.remove(sub)
                self._position = end
            published += len(entries)
        if published:
            self._gauge()
        return published

    def _run(self) -> None:
        backoff = self.interval
        while not self._stop.wait(backoff):
            try:
                self.poll()
                backoff = self.interval
            except Exception as exc:  # the store is unavailable: retry, slower
                log.warning("ledger tail: %s", exc)
                backoff = min(5.0, backoff * 2)

    # -- metrics ----------------------------------------------------------------------------
    def _dropped(self, n: int) -> None:
        with self._lock:
            self._drops += n
        if self.metrics is not None:
            self.metrics.queue_size.labels("stream_dropped").set(self._drops)

    def _gauge(self) -> None:
        if self.metrics is None:
            return
        with self._lock:
            waiting = sum(s.queue.qsize() for s in self._subs)
        self.metrics.queue_size.labels("stream").set(waiting)
