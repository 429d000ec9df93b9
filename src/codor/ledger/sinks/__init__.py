"""Audit sinks: forward every appended evidence entry somewhere else, as it is appended.

The ledger stays the record of truth; sinks are copies for people and systems watching
(a SIEM, a log pipeline, a webhook). A :class:`SinkFanout` is what a ledger or kernel calls
after each append — ``fanout.emit(index, record)`` — and it never raises into the decision
path: a sink that fails is counted and logged, never allowed to break a decision.

- :class:`JsonlSink` — JSON Lines file, fsync on flush, optional size rotation.
- :class:`WebhookSink` — batched JSON POSTs from a background thread, bounded queue,
  retries with exponential backoff and jitter.
- :class:`OtlpLogSink` — OpenTelemetry logs over OTLP/HTTP JSON, same machinery
  (:class:`HttpBatchSink`).

Every sink reports ``stats()``: ``sent``, ``failed``, ``dropped`` (refused: queue full or
closed), ``queued`` (accepted, not yet delivered), plus its own counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codor.lazy import lazy_exports

if TYPE_CHECKING:
    from codor.ledger.sinks.base import Sink, SinkFanout
    from codor.ledger.sinks.http import HttpBatchSink, WebhookSink
    from codor.ledger.sinks.jsonl import JsonlSink
    from codor.ledger.sinks.otlp import OtlpLogSink

__all__ = ["HttpBatchSink", "JsonlSink", "OtlpLogSink", "Sink", "SinkFanout", "WebhookSink"]

_EXPORTS = {"Sink": "codor.ledger.sinks.base", "SinkFanout": "codor.ledger.sinks.base",
            "HttpBatchSink": "codor.ledger.sinks.http", "WebhookSink": "codor.ledger.sinks.http",
            "JsonlSink": "codor.ledger.sinks.jsonl", "OtlpLogSink": "codor.ledger.sinks.otlp"}
__getattr__ = lazy_exports(__name__, _EXPORTS)
