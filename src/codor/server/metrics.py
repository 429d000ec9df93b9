"""Prometheus metrics of one daemon, in its own registry (no process-wide globals): decisions
by outcome, decision latency, ledger appends, approvals waiting, sink drops."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
                           2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.decisions = Counter("codor_decisions", "Decisions made, by outcome",
                                 ["decision"], registry=r)
        self.check_seconds = Histogram("codor_check_seconds",
                                       "Time to decide and record one action",
                                       buckets=_LATENCY_BUCKETS, registry=r)
        self.http_seconds = Histogram("codor_http_request_seconds", "HTTP request latency",
                                      ["route", "method", "status"],
                                      buckets=_LATENCY_BUCKETS, registry=r)
        self.ledger_appends = Counter("codor_ledger_appends", "Ledger entries appended by "
                                      "this daemon", ["type"], registry=r)
        self.approvals_pending = Gauge("codor_approvals_pending",
                                       "Approvals waiting for a person", registry=r)
        self.queue_size = Gauge("codor_queue_size", "Items waiting in internal queues",
                                ["queue"], registry=r)
        self.sink_drops = Gauge("codor_sink_drops", "Entries a ledger sink dropped",
                                ["sink"], registry=r)
        self.rejected = Counter("codor_http_rejected", "Requests refused before a route ran",
                                ["reason"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
