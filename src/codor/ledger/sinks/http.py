"""Batched HTTP delivery — the machinery the webhook and OTLP sinks share — and the webhook.

:class:`HttpBatchSink` owns a bounded queue and one background thread. ``emit`` only appends
to the queue (O(1), under a lock); when the queue is full the entry is dropped and counted,
and the burst is logged once. The thread sends a batch when ``batch_size`` entries are
waiting, when the oldest has waited ``flush_interval`` seconds, or at once while someone
flushes or closes. A batch is retried on connection errors and on the statuses
:meth:`~HttpBatchSink.retryable` names, up to ``max_retries`` times, waiting
``backoff · 2**attempt`` seconds capped at ``max_backoff`` with jitter (half fixed, half
random) or what ``Retry-After`` asks for (capped the same way); any other status fails the
batch at once. Delivery is at least once: a receiver that processed a request but answered
an error sees it again, so receivers deduplicate on ``index``.

Only the standard library is used (``http.client``): no proxies from the environment, no
redirects, one kept-alive connection per sink, certificates verified for ``https``.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from codor import __version__
from codor.ledger.sinks.base import log

__all__ = ["HttpBatchSink", "WebhookSink"]

_RESPONSE_LIMIT: Final = 64 * 1024
_STALE: Final = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True, slots=True)
class Entry:
    """One accepted entry: ledger index, record, and when the sink accepted it."""

    index: int
    record: Mapping[str, Any]
    wall_ns: int
    mono: float


class _Result(NamedTuple):
    ok: bool
    retry: bool = False
    rejected: int = 0
    delay: float | None = None
    error: str = ""


class HttpBatchSink:
    """Batches entries and POSTs them from a background thread; subclasses say how a batch is
    encoded (:meth:`encode_entry`, :meth:`envelope`) and which statuses are worth retrying."""

    kind = "http"

    def __init__(self, url: str, *, batch_size: int = 100, flush_interval: float = 1.0,
                 max_queue: int = 10_000, max_retries: int = 5, backoff: float = 0.2,
                 max_backoff: float = 10.0, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{self.kind} sink: URL must be http(s)://host[:port]/path")
        if parts.username is not None or parts.password is not None:
            raise ValueError(f"{self.kind} sink: put credentials in headers, not in the URL")
        if batch_size < 1 or max_queue < 1 or max_retries < 0:
            raise ValueError("batch_size and max_queue must be ≥ 1 and max_retries ≥ 0")
        if not (0 < backoff <= max_backoff) or flush_interval < 0 or timeout <= 0:
            raise ValueError("need 0 < backoff ≤ max_backoff, flush_interval ≥ 0, timeout > 0")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{self._host}]" if ":" in self._host else self._host
        #: The URL without its query string (which may carry a token): safe to log.
        self.url = f"{parts.scheme}://{host}:{self._port}{parts.path or '/'}"
        self.name = f"{self.kind}:{self.url}"
        self.batch_size, self.flush_interval, self.max_queue = batch_size, flush_interval, max_queue
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.timeout = timeout
        self._headers = {"User-Agent": f"codor/{__version__}", **(headers or {}),
                         "Content-Type": "application/json"}
        self._ssl = ssl_context or (ssl.create_default_context() if self._https else None)
        self._conn: http.client.HTTPConnection | None = None

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)   # the worker waits here
        self._idle = threading.Condition(self._lock)   # flushers wait here
        self._queue: deque[Entry] = deque()
        self._inflight = 0
        self._flushers = 0
        self._closing = False
        self._abort = threading.Event()
        self._counts = dict.fromkeys(("sent", "failed", "dropped", "retries", "requests"), 0)
        self._burst = 0            # entries dropped in the current burst (0: not dropping)
        self._failing = False      # the last batch failed; logged once until one succeeds
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name=f"codor-sink-{self.kind}",
                                        daemon=True)
        self._thread.start()

    # -- what subclasses decide ------------------------------------------------------------
    def encode_entry(self, entry: Entry) -> str:
        """One entry as JSON text (an item of the batch). May raise to reject that entry."""
        raise NotImplementedError

    def envelope(self, items: Sequence[str]) -> bytes:
        """The request body around encoded items."""
        raise NotImplementedError

    def retryable(self, status: int) -> bool:
        """Whether a batch answered with ``status`` (not 2xx) is sent again."""
        return status == 429 or 500 <= status <= 599

    def rejected(self, body: bytes, count: int) -> tuple[int, str]:
        """How many of ``count`` entries a successful response says were not accepted."""
        return 0, ""

    # -- the caller's side -------------------------------------------------------------------
    def emit(self, index: int, record: Mapping[str, Any]) -> None:
        entry = Entry(index, record, time.time_ns(), time.monotonic())
        warn = ""
        with self._lock:
            if self._closing or len(self._queue) >= self.max_queue:
                self._counts["dropped"] += 1
                self._burst += 1
                if self._burst == 1:
                    why = "closed" if self._closing else f"queue full ({self.max_queue})"
                    warn = f"{why}; dropping entries from index {index} (logged once per burst)"
            else:
                if self._burst:
                    warn = f"accepting entries again after dropping {self._burst}"
                    self._burst = 0
                self._queue.append(entry)
                if len(self._queue) == 1 or len(self._queue) >= self.batch_size:
                    self._work.notify()
        if warn:
            log.warning("sink %s: %s", self.name, warn)

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushers += 1
            self._work.notify()
            try:
                while self._queue or self._inflight:
                    left = None if deadline is None else deadline - time.monotonic()
                    if (left is not None and left <= 0) or not self._thread.is_alive():
                        return False
                    self._idle.wait(left)
                return True
            finally:
                self._flushers -= 1

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop accepting, deliver what is queued within ``timeout``, then give up: entries
        still undelivered are counted as failed."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._work.notify()
        started = time.monotonic()
        if not self.flush(timeout):
            self._abort.set()
        left = 1.0 if timeout is None else max(0.1, timeout - (time.monotonic() - started))
        self._thread.join(left)
        with self._lock:
            abandoned = len(self._queue)
            self._queue.clear()
            self._counts["failed"] += abandoned
            self._idle.notify_all()
        if abandoned:
            log.warning("sink %s: closed with %d entries undelivered", self.name, abandoned)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "queued": len(self._queue) + self._inflight}

    def __enter__(self) -> HttpBatchSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the worker's side -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    sent, failed = self._deliver(batch)
                except Exception as exc:  # a bug must not kill the thread or lose the count
                    log.exception("sink %s: delivery raised", self.name)
                    sent, failed, self.last_error = 0, len(batch), repr(exc)
                with self._lock:
                    self._counts["sent"] += sent
                    self._counts["failed"] += failed
                    self._inflight = 0
                    self._idle.notify_all()
        finally:
            self._drop_connection()  # the worker owns the connection

    def _next_batch(self) -> list[Entry] | None:
        with self._lock:
            while not self._queue or self._abort.is_set():
                if self._closing:
                    return None  # close() counts what is left
                self._work.wait()
            while (len(self._queue) < self.batch_size and not self._flushers
                   and not self._closing):
                left = self._queue[0].mono + self.flush_interval - time.monotonic()
                if left <= 0:
                    break
                self._work.wait(left)
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            self._inflight = len(batch)
            return batch

    def _deliver(self, batch: list[Entry]) -> tuple[int, int]:
        """Send one batch, retrying as configured; returns (sent, failed)."""
        items: list[str] = []
        bad = 0
        for entry in batch:
            try:
                items.append(self.encode_entry(entry))
            except Exception as exc:  # TypeError, ValueError (NaN, lone surrogate), …
                bad += 1
                self._note(False, f"entry {entry.index} cannot be encoded: {exc!r}")
        if not items:
            return 0, bad
        body = self.envelope(items)
        attempt = 0
        while True:
            result = self._post(body, len(items))
            if result.ok:
                self._note(True, result.error)
                return len(items) - result.rejected, bad + result.rejected
            if not result.retry or attempt >= self.max_retries or self._abort.is_set():
                self._note(False, f"{result.error}; {len(items)} entries failed after "
                                  f"{attempt + 1} attempt(s)")
                return 0, bad + len(items)
            if attempt == 0:
                self._note(False, f"{result.error}; retrying")
            base = min(self.max_backoff, self.backoff * 2 ** attempt)
            delay = result.delay if result.delay is not None else \
                base / 2 + random.uniform(0, base / 2)
            attempt += 1
            with self._lock:
                self._counts["retries"] += 1
            if self._abort.wait(min(delay, self.max_backoff)):
                return 0, bad + len(items)

    def _note(self, ok: bool, message: str) -> None:
        """Log a change of health once (failing → logged; recovered → logged), not per batch."""
        if ok:
            if self._failing:
                self._failing = False
                log.warning("sink %s: delivering again", self.name)
            if message:  # a partial success
                log.warning("sink %s: receiver rejected part of a batch: %s", self.name, message)
            return
        self.last_error = message
        if not self._failing:
            self._failing = True
            log.warning("sink %s: %s (logged once until delivery recovers)", self.name, message)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        if self._conn is not None:
            return self._conn, True
        if self._https:
            self._conn = http.client.HTTPSConnection(self._host, self._port,
                                                     timeout=self.timeout, context=self._ssl)
        else:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return self._conn, False

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes, count: int) -> _Result:
        for _ in range(2):  # a kept-alive connection the server closed is retried once, fresh
            conn, reused = self._connection()
            try:
                with self._lock:
                    self._counts["requests"] += 1
                conn.request("POST", self._target, body=body, headers=self._headers)
                response = conn.getresponse()
                data = response.read(_RESPONSE_LIMIT)
                if not response.isclosed() or response.will_close:
                    self._drop_connection()
            except _STALE as exc:
                self._drop_connection()
                if reused:
                    continue
                return _Result(False, retry=True, error=f"connection lost: {exc!r}")
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                return _Result(False, retry=True, error=f"cannot reach receiver: {exc!r}")
            status = response.status
            if 200 <= status <= 299:
                rejected, message = self.rejected(data, count)
                return _Result(True, rejected=max(0, min(rejected, count)), error=message)
            return _Result(False, retry=self.retryable(status),
                           delay=_retry_after(response.getheader("Retry-After")),
                           error=f"HTTP {status} {response.reason}".rstrip())
        return _Result(False, retry=True, error="connection lost")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if valid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class WebhookSink(HttpBatchSink):
    """POSTs ``{"entries": [{"index": i, "record": {...}}, ...]}`` batches to ``url``.

    Retries connection errors, 429 and every 5xx; any other status fails the batch at once.
    """

    kind = "webhook"

    def encode_entry(self, entry: Entry) -> str:
        return json.dumps({"index": entry.index, "record": entry.record},
                          separators=(",", ":"), allow_nan=False)

    def envelope(self, items: Sequence[str]) -> bytes:
        return ('{"entries":[' + ",".join(items) + "]}").encode("ascii")
