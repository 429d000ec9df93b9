"""NATS JetStream: each committed ledger entry published as ``{"index": i, "record": {...}}``
to ``<subject>.<record type>`` (``codor.ledger.decision``, ``codor.ledger.outcome``, ...), so
any number of consumers — SIEM bridges, other dashboards, a warm standby — can follow the log
at their own pace from a durable stream.

``emit`` only appends to a bounded queue (full: the entry is dropped and counted); one
background thread runs the `nats-py <https://github.com/nats-io/nats.py>`_ client on its own
event loop, publishes what is queued (up to ``batch_size`` publishes in flight) and waits for
each JetStream acknowledgement. A publish that fails (no server, no ack in ``timeout``) is
retried with capped exponential backoff up to ``max_retries`` times, then counted as failed.
Each message carries a ``Nats-Msg-Id`` of the entry's index and record digest, so the
stream's duplicate window drops a retried publish the server already stored, and daemons
sharing one PostgreSQL log publish an entry once per window even when each sends it.

With ``create_stream`` (the default) the stream ``stream`` is created on first connect when
it does not exist, capturing ``<subject>.>``; otherwise it must exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from codor.ledger.sinks.base import log

__all__ = ["NatsSink"]

_TOKEN: Final = re.compile(r"[^A-Za-z0-9_-]")


class NatsSink:
    """Publishes entries to a NATS JetStream stream (see the module doc)."""

    def __init__(self, url: str, *, subject: str = "codor.ledger", stream: str = "CODOR_LEDGER",
                 create_stream: bool = True, max_queue: int = 100_000, batch_size: int = 256,
                 timeout: float = 5.0, max_retries: int = 5, backoff: float = 0.2,
                 max_backoff: float = 5.0) -> None:
        if not url.startswith(("nats://", "tls://")):
            raise ValueError(f"nats sink: url must be nats:// or tls://, not {url!r}")
        if not subject or any(c in subject for c in " *>") or subject.endswith("."):
            raise ValueError(f"nats sink: {subject!r} is not a subject prefix")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", stream):
            raise ValueError(f"nats sink: {stream!r} is not a stream name")
        if max_queue < 1 or batch_size < 1 or timeout <= 0 or max_retries < 0 or backoff < 0:
            raise ValueError("nats sink: need max_queue, batch_size >= 1, timeout > 0, "
                             "max_retries, backoff >= 0")
        try:
            import nats  # noqa: F401
        except ImportError:
            raise ValueError("the nats sink needs nats-py: pip install 'codor[nats]'") from None
        self.url, self.subject, self.stream = url, subject, stream
        self.name = f"nats:{url}/{subject}"
        self.create_stream = create_stream
        self.max_queue, self.batch_size = max_queue, batch_size
        self.timeout, self.max_retries = timeout, max_retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self._queue: deque[tuple[int, Mapping[str, Any]]] = deque()
        self._cond = threading.Condition()
        self._counts = dict.fromkeys(("sent", "failed", "dropped", "retries"), 0)
        self._inflight = 0
        self._closing = False
        self._closed = False
        self._dropping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"codor-sink-{self.name}",
                                        daemon=True)
        self._thread.start()

    # -- the Sink protocol --------------------------------------------------------------------
    def emit(self, index: int, record: Mapping[str, Any]) -> None:
        with self._cond:
            if self._closed or self._closing or len(self._queue) >= self.max_queue:
                self._counts["dropped"] += 1
                first, self._dropping = not self._dropping, True
            else:
                self._queue.append((index, record))
                first = False
                self._dropping = False
        if first:
            log.warning("sink %s: queue full or closed; dropping entries (counted)", self.name)
        self._poke()

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._poke()
        with self._cond:
            while self._queue or self._inflight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 1.0)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        with self._cond:
            if self._closed:
                return
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._counts["dropped"] += len(self._queue)  # not delivered in time
            self._queue.clear()
            self._cond.notify_all()
        self._poke()
        self._thread.join(timeout=None if timeout is None else max(1.0, timeout))
        with self._cond:
            self._closed = True

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {**self._counts, "queued": len(self._queue) + self._inflight}

    # -- delivery -------------------------------------------------------------------------------
    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has stopped
                loop.call_soon_threadsafe(wake.set)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # never takes the process down; counted via queued/dropped
            log.warning("sink %s stopped: %s: %s", self.name, type(exc).__name__, exc)
            with self._cond:
                self._counts["dropped"] += len(self._queue) + self._inflight
                self._queue.clear()
                self._inflight = 0
                self._cond.notify_all()

    async def _main(self) -> None:
        import nats

        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        nc = None
        try:
            while not self._stopping():
                if nc is None or nc.is_closed:
                    nc = await self._connect(nats)
                    if nc is None:
                        continue
                batch = self._take()
                if not batch:
                    self._wake.clear()
                    if self._stopping():
                        break
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.5)
                    continue
                await self._publish(nc, batch)
        finally:
            if nc is not None and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.drain(), self.timeout)

    def _stopping(self) -> bool:
        with self._cond:
            return self._closing and not self._queue and not self._inflight

    async def _connect(self, nats: Any) -> Any:
        delay = self.backoff
        while not self._stopping():
            try:
                nc = await nats.connect(servers=[self.url], connect_timeout=self.timeout,
                                        allow_reconnect=True, max_reconnect_attempts=-1,
                                        reconnect_time_wait=min(2.0, self.max_backoff),
                                        error_cb=self._client_error)
                if self.create_stream:
                    await self._ensure_stream(nc)
                return nc
            except Exception as exc:
                log.warning("sink %s: cannot connect: %s", self.name, exc)
                with self._cond:
                    if self._closing:  # nothing will connect in time: give up what is left
                        self._counts["failed"] += len(self._queue)
                        self._queue.clear()
                        self._cond.notify_all()
                        return None
                await asyncio.sleep(delay)
                delay = min(self.max_backoff, max(0.05, delay * 2))
        return None

    async def _client_error(self, exc: Exception) -> None:
        # the client's own reports (a lost connection it is re-establishing); what matters
        # — an entry not published — is counted and logged by _one
        log.debug("sink %s: client: %s: %s", self.name, type(exc).__name__, exc)

    async def _ensure_stream(self, nc: Any) -> None:
        from nats.js.errors import NotFoundError

        js = nc.jetstream(timeout=self.timeout)
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(name=self.stream, subjects=[f"{self.subject}.>"])

    def _take(self) -> list[tuple[int, Mapping[str, Any]]]:
        with self._cond:
            n = min(self.batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self._inflight += n
        return batch

    async def _publish(self, nc: Any, batch: list[tuple[int, Mapping[str, Any]]]) -> None:
        js = nc.jetstream(timeout=self.timeout)
        results = await asyncio.gather(*(self._one(js, index, record)
                                         for index, record in batch))
        with self._cond:
            self._counts["sent"] += sum(1 for ok in results if ok)
            self._counts["failed"] += sum(1 for ok in results if not ok)
            self._inflight -= len(batch)
            self._cond.notify_all()

    async def _one(self, js: Any, index: int, record: Mapping[str, Any]) -> bool:
        kind = _TOKEN.sub("_", str(record.get("type") or "entry")) or "entry"
        payload = json.dumps({"index": index, "record": record}, separators=(",", ":"),
                             sort_keys=True).encode()
        msg_id = f"{index}-{hashlib.sha256(payload).hexdigest()[:32]}"
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                await js.publish(f"{self.subject}.{kind}", payload, timeout=self.timeout,
                                 headers={"Nats-Msg-Id": msg_id})
                return True
            except Exception as exc:
                if attempt == self.max_retries:
                    log.warning("sink %s: entry %d not published: %s", self.name, index, exc)
                    return False
                with self._cond:
                    self._counts["retries"] += 1
                await asyncio.sleep(delay)
                delay = min(self.max_backoff, max(0.05, delay * 2))
        return False
