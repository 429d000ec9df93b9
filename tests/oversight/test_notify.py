"""The webhook notifier against a real loopback HTTP server: delivery, retries, drops."""

from __future__ import annotations

import time
from collections.abc import Callable

from codor.oversight import WebhookNotifier
from tests.oversight.conftest import Hooks


def test_a_notification_is_posted_as_json(hooks: Callable[..., Hooks]) -> None:
    h = hooks()
    notifier = WebhookNotifier([h.url])
    try:
        assert notifier.send("approval.created", {"id": "apr_1", "status": "pending"})
        assert notifier.flush(5)
        assert h.bodies == [{"type": "approval.created",
                             "approval": {"id": "apr_1", "status": "pending"}}]
        assert notifier.stats()["sent"] == 1
    finally:
        notifier.close()


def test_a_failing_receiver_is_retried_with_backoff(hooks: Callable[..., Hooks]) -> None:
    h = hooks(fail_first=2)
    notifier = WebhookNotifier([h.url], retries=3, backoff_s=0.05)
    try:
        notifier.send("approval.decided", {"id": "apr_2"})
        assert notifier.flush(5)
        assert h.requests == 3 and h.types() == [("approval.decided", "apr_2")]
        stats = notifier.stats()
        assert stats["retried"] == 2 and stats["sent"] == 1 and stats["failed"] == 0
    finally:
        notifier.close()


def test_an_unreachable_receiver_is_counted_and_never_blocks_the_sender() -> None:
    notifier = WebhookNotifier(["http://127.0.0.1:9/nothing-listens"], retries=1,
                               backoff_s=0.01, timeout_s=1)
    try:
        t0 = time.perf_counter()
        assert notifier.send("approval.created", {"id": "apr_3"})
        assert time.perf_counter() - t0 < 0.05
        assert notifier.flush(5)
        assert notifier.stats()["failed"] == 1 and notifier.stats()["sent"] == 0
    finally:
        notifier.close()


def test_a_full_queue_drops_and_counts(hooks: Callable[..., Hooks]) -> None:
    import threading

    h = hooks()
    h.hold = threading.Event()
    notifier = WebhookNotifier([h.url], max_queue=1)
    try:
        notifier.send("approval.created", {"id": "a"})
        assert h.received.wait(5)          # the thread is busy posting "a"
        assert notifier.send("approval.created", {"id": "b"})       # queued
        assert not notifier.send("approval.created", {"id": "c"})   # dropped
        assert not notifier.send("approval.created", {"id": "d"})   # dropped
        assert notifier.stats()["dropped"] == 2
        h.hold.set()
        assert notifier.flush(5)
        assert [i for _, i in h.types()] == ["a", "b"]
    finally:
        notifier.close()
