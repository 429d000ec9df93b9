"""Webhook notifications: ``POST`` a small JSON body to each configured URL when an approval
is created or decided, from one background thread — a slow or dead receiver never delays a
decision.

The body is ``{"type": "approval.created" | "approval.decided", "approval": {...}}`` (the
approval's JSON form). :meth:`WebhookNotifier.send` only puts it on a bounded queue; when the
queue is full the notification is dropped and counted. The thread posts to each URL with a
timeout and retries failures (a connection error, a timeout or a 5xx/429 answer) with an
exponential backoff; a URL that still fails is counted and skipped. :meth:`stats` gives the
counters; :meth:`close` stops the thread after what is queued has been tried (within a
bounded time).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["WebhookNotifier"]

log = logging.getLogger("codor.oversight.notify")

_STOP: Final = object()


class WebhookNotifier:
    """Posts approval events to ``urls`` from a background thread (see the module doc)."""

    def __init__(self, urls: Sequence[str], *, timeout_s: float = 5.0, retries: int = 3,
                 backoff_s: float = 0.5, max_queue: int = 1000) -> None:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        self.urls = tuple(urls)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._counts = {"sent": 0, "failed": 0, "dropped": 0, "retried": 0}
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        if self.urls:
            self._thread = threading.Thread(target=self._run, name="codor-webhooks",
                                            daemon=True)
            self._thread.start()

    def send(self, event: str, approval: Mapping[str, Any]) -> bool:
        """Queue ``{"type": event, "approval": approval}`` for every URL; never blocks.
        Returns ``False`` when it was dropped (queue full, closed, or no URLs)."""
        if not self.urls or self._closing.is_set():
            return False
        body = json.dumps({"type": event, "approval": dict(approval)},
                          separators=(",", ":"), default=str).encode()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self._count("dropped")
            log.warning("webhook queue full: %s dropped", event)
            return False
        return True

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "queued": self._queue.qsize()}

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, bytes)
                for url in self.urls:
                    if self._deliver(url, item):
                        self._count("sent")
                    else:
                        self._count("failed")
            finally:
                self._queue.task_done()

    def _deliver(self, url: str, body: bytes) -> bool:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            if attempt:
                self._count("retried")
                # while closing, retry without sleeping long: close() is bounded
                if self._closing.wait(delay):
                    delay = min(delay, 0.05)
                delay *= 2
            request = urllib.request.Request(  # noqa: S310  (http(s) only, checked above)
                url, data=body, method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "codor-webhook"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                    answer.read(1024)
                    return True
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    log.warning("webhook %s refused the notification: HTTP %s", url, exc.code)
                    return False
                log.info("webhook %s: HTTP %s (attempt %d)", url, exc.code, attempt + 1)
            except (OSError, ValueError) as exc:
                log.info("webhook %s: %s (attempt %d)", url, exc, attempt + 1)
        log.warning("webhook %s: giving up after %d attempts", url, self.retries + 1)
        return False

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued so far has been tried; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread after what is queued (waits at most ``timeout_s``)."""
        if self._thread is None:
            return
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout_s)
        self._thread.join(timeout_s)
        self._thread = None
