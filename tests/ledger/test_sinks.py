"""Audit sinks against real receivers: HTTP servers the tests start on 127.0.0.1, real files.

Every receiver listens on the loopback address only; every test is bounded (small backoffs,
``pytest.mark.timeout``).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from codor.evidence.records import DecisionRecord, OutcomeRecord, SessionStart, now_us
from codor.ledger.merkle import leaf_hash
from codor.ledger.sinks import (
    HttpBatchSink,
    JsonlSink,
    OtlpLogSink,
    Sink,
    SinkFanout,
    WebhookSink,
)
from codor.ledger.sinks.otlp import severity
from codor.model import Action, Agent, Decision, Outcome, Reason, Severity

pytestmark = pytest.mark.timeout(5)

LOOPBACK = "127.0.0.1"
POLICY = "ab" * 32
# Small backoffs keep every test short. The long flush_interval means a batch leaves when it
# is full or when the test flushes, so batch boundaries never depend on the scheduler.
FAST: dict[str, Any] = {"flush_interval": 10.0, "backoff": 0.01, "max_backoff": 0.05,
                        "timeout": 2.0}

Script = int | tuple[int, dict[str, str], bytes]
S = TypeVar("S", bound=Sink)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    raw: bytes
    status: int

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class Receiver:
    """A real HTTP/1.1 server on 127.0.0.1. It answers POSTs from ``script`` (status, or
    status + headers + body), then 200; ``gate`` holds every request until set.

    The port is bound from the start but only listens after :meth:`start`, so before that a
    connection is refused: a receiver that is down, then comes up on the same address."""

    def __init__(self, script: list[Script] | None = None, *,
                 gate: threading.Event | None = None) -> None:
        self.script = list(script or [])
        self.gate = gate
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.arrived = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    item = receiver.script.pop(0) if receiver.script else 200
                status, headers, body = (item, {}, b"{}") if isinstance(item, int) else item
                receiver.arrived.set()
                if receiver.gate is not None:
                    receiver.gate.wait(4)
                with receiver.lock:
                    receiver.requests.append(Request(self.path, dict(self.headers), raw, status))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer((LOOPBACK, self.port), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = self.sock
        server.server_name, server.server_port = LOOPBACK, self.port
        self.sock.listen(16)
        self.server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        else:
            self.sock.close()

    def accepted(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status <= 299]


class Net:
    """Receivers and sinks of one test; sinks are closed before receivers stop."""

    def __init__(self) -> None:
        self.receivers: list[Receiver] = []
        self.sinks: list[Sink] = []

    def receiver(self, script: list[Script] | None = None, *, start: bool = True,
                 gate: threading.Event | None = None) -> Receiver:
        rx = Receiver(script, gate=gate)
        self.receivers.append(rx)
        return rx.start() if start else rx

    def track(self, sink: S) -> S:
        self.sinks.append(sink)
        return sink


@pytest.fixture
def net() -> Iterator[Net]:
    n = Net()
    yield n
    for sink in n.sinks:
        sink.close(0.5)
    for rx in n.receivers:
        rx.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def record(i: int) -> dict[str, Any]:
    return {"type": "decision", "v": 1, "session": "s-1", "n": i, "text": f"entry {i} · ü"}


def webhook_indices(requests: list[Request]) -> list[int]:
    return [e["index"] for r in requests for e in r.body["entries"]]


# -- webhook ------------------------------------------------------------------------------------
def test_webhook_delivers_every_entry_once_in_order_across_batches(net: Net) -> None:
    rx = net.receiver()
    sink = net.track(WebhookSink(rx.url + "/hook?token=t0p", batch_size=7, **FAST,
                                 headers={"Authorization": "Bearer x"}))
    for i in range(50):
        sink.emit(i, record(i))
    assert sink.flush(3)
    requests = rx.accepted()
    assert len(requests) >= 8 and all(len(r.body["entries"]) <= 7 for r in requests)
    assert webhook_indices(requests) == list(range(50))
    assert [e["record"] for r in requests for e in r.body["entries"]] == \
        [record(i) for i in range(50)]
    first = requests[0]
    assert first.path == "/hook?token=t0p"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"] == "Bearer x"
    assert first.headers["User-Agent"].startswith("codor/")
    assert sink.stats() == {"sent": 50, "failed": 0, "dropped": 0, "queued": 0, "retries": 0,
                            "requests": len(requests)}
    assert "t0p" not in sink.name  # the query string (often a token) is never logged


def test_webhook_sends_a_partial_batch_after_flush_interval(net: Net) -> None:
    rx = net.receiver()
    sink = net.track(WebhookSink(rx.url, batch_size=100, **FAST | {"flush_interval": 0.02}))
    for i in range(3):
        sink.emit(i, record(i))
    # no flush, batch not full: the oldest entry's timer sends what is there
    assert wait_until(lambda: webhook_indices(rx.accepted()) == [0, 1, 2])
    assert wait_until(lambda: sink.stats()["sent"] == 3 and sink.stats()["queued"] == 0)


def test_webhook_retries_503_then_delivers_everything(net: Net) -> None:
    rx = net.receiver([503, 503])
    sink = net.track(WebhookSink(rx.url, batch_size=100, **FAST))
    for i in range(10):
        sink.emit(i, record(i))
    assert sink.flush(3)
    assert [r.status for r in rx.requests] == [503, 503, 200]
    assert len({r.raw for r in rx.requests}) == 1  # the same batch, resent
    assert webhook_indices(rx.accepted()) == list(range(10))
    stats = sink.stats()
    assert (stats["sent"], stats["failed"], stats["retries"], stats["requests"]) == (10, 0, 2, 3)


def test_webhook_honours_retry_after_on_429(net: Net) -> None:
    rx = net.receiver([(429, {"Retry-After": "0"}, b"{}")])
    sink = net.track(WebhookSink(rx.url, **FAST))
    sink.emit(0, record(0))
    assert sink.flush(3)
    assert [r.status for r in rx.requests] == [429, 200]
    assert sink.stats()["retries"] == 1 and sink.stats()["sent"] == 1


def test_webhook_400_is_not_retried(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="codor.ledger.sinks")
    rx = net.receiver([(400, {}, b'{"error":"bad"}')])
    sink = net.track(WebhookSink(rx.url, **FAST))
    for i in range(5):
        sink.emit(i, record(i))
    assert sink.flush(3)
    assert [r.status for r in rx.requests] == [400]
    stats = sink.stats()
    assert (stats["sent"], stats["failed"], stats["retries"], stats["queued"]) == (0, 5, 0, 0)
    assert "HTTP 400" in sink.last_error
    sink.emit(5, record(5))  # the sink carries on with the next batch
    assert sink.flush(3)
    assert webhook_indices(rx.accepted()) == [5]
    assert sink.stats()["sent"] == 1
    assert any("delivering again" in r.getMessage() for r in caplog.records)


def test_webhook_receiver_down_then_up_gets_everything(net: Net) -> None:
    rx = net.receiver(start=False)  # bound, not listening: connections are refused
    sink = net.track(WebhookSink(rx.url, batch_size=4, max_retries=200, **FAST))
    for i in range(10):
        sink.emit(i, record(i))
    assert wait_until(lambda: sink.stats()["retries"] >= 3)
    assert "cannot reach receiver" in sink.last_error
    rx.start()
    assert sink.flush(3)
    assert webhook_indices(rx.accepted()) == list(range(10))
    stats = sink.stats()
    assert stats["sent"] == 10 and stats["failed"] == 0 and stats["retries"] >= 3


def test_webhook_full_queue_drops_counts_and_logs_once_per_burst(
        net: Net, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="codor.ledger.sinks")
    gate = threading.Event()
    rx = net.receiver(gate=gate)
    sink = net.track(WebhookSink(rx.url, batch_size=1, max_queue=5, **FAST))
    sink.emit(0, record(0))
    assert rx.arrived.wait(3)  # entry 0 is in flight, held by the receiver
    started = time.monotonic()
    for i in range(1, 13):  # 5 fit in the queue, 7 are dropped
        sink.emit(i, record(i))
    assert time.monotonic() - started < 0.5  # emit never waits for the receiver
    assert sink.stats() | {"requests": 0} == {"sent": 0, "failed": 0, "dropped": 7,
                                              "queued": 6, "retries": 0, "requests": 0}
    drops = [r for r in caplog.records if "dropping" in r.getMessage()]
    assert len(drops) == 1 and "queue full (5)" in drops[0].getMessage()
    gate.set()
    assert sink.flush(3)
    assert webhook_indices(rx.accepted()) == [0, 1, 2, 3, 4, 5]
    sink.emit(13, record(13))
    assert sink.flush(3)
    assert any("after dropping 7" in r.getMessage() for r in caplog.records)
    assert sink.stats()["sent"] == 7 and sink.stats()["dropped"] == 7


def test_close_counts_undelivered_entries_and_drops_later_ones(net: Net) -> None:
    rx = net.receiver(start=False)
    sink = WebhookSink(rx.url, max_retries=1000, **FAST)
    for i in range(4):
        sink.emit(i, record(i))
    started = time.monotonic()
    sink.close(0.2)
    assert time.monotonic() - started < 1.5
    sink.emit(4, record(4))
    stats = sink.stats()
    assert (stats["sent"], stats["failed"], stats["dropped"], stats["queued"]) == (0, 4, 1, 0)
    assert sink.flush(0.1)  # nothing pending
    sink.close()  # idempotent


def test_unencodable_entry_fails_alone(net: Net) -> None:
    rx = net.receiver()
    sink = net.track(WebhookSink(rx.url, **FAST))
    sink.emit(0, record(0))
    sink.emit(1, {"type": "decision", "bad": float("nan")})
    sink.emit(2, record(2))
    assert sink.flush(3)
    assert webhook_indices(rx.accepted()) == [0, 2]
    assert sink.stats()["sent"] == 2 and sink.stats()["failed"] == 1


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///path", "127.0.0.1:80",
                                 "http://user:pw@127.0.0.1/x"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        WebhookSink(url)


def test_bad_options_are_refused() -> None:
    bad: list[dict[str, Any]] = [{"batch_size": 0}, {"max_queue": 0}, {"max_retries": -1},
                                 {"backoff": 0}, {"backoff": 2, "max_backoff": 1}, {"timeout": 0}]
    for options in bad:
        with pytest.raises(ValueError):
            WebhookSink("http://127.0.0.1:9/x", **options)


# -- OTLP ---------------------------------------------------------------------------------------
DIGITS = re.compile(r"[0-9]+")
CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")


def check_any_value(value: Any) -> None:
    assert isinstance(value, dict) and len(value) == 1, value
    (kind, v), = value.items()
    assert kind in ("stringValue", "intValue", "boolValue", "doubleValue"), kind
    if kind == "intValue":  # int64: a decimal string
        assert isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v), v
    elif kind == "stringValue":
        assert isinstance(v, str)


def check_attributes(attributes: Any) -> dict[str, Any]:
    assert isinstance(attributes, list)
    out = {}
    for kv in attributes:
        assert set(kv) == {"key", "value"} and isinstance(kv["key"], str)
        check_any_value(kv["value"])
        out[kv["key"]] = next(iter(kv["value"].values()))
    return out


def check_keys(node: Any) -> None:
    """Every object key is lowerCamelCase (attribute keys are values, not keys)."""
    if isinstance(node, dict):
        for key, value in node.items():
            assert CAMEL.fullmatch(key), f"not lowerCamelCase: {key}"
            check_keys(value)
    elif isinstance(node, list):
        for item in node:
            check_keys(item)


def check_export_logs_request(request: Request) -> list[dict[str, Any]]:
    """Validate an ExportLogsServiceRequest (OTLP JSON); return its log records."""
    assert request.path == "/v1/logs"
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    check_keys(body)
    assert set(body) == {"resourceLogs"} and len(body["resourceLogs"]) == 1
    resource_logs = body["resourceLogs"][0]
    resource = check_attributes(resource_logs["resource"]["attributes"])
    assert resource["service.name"] == "codor-test" and resource["deployment.environment"] == "ci"
    records = []
    for scope_logs in resource_logs["scopeLogs"]:
        assert scope_logs["scope"]["name"] == "codor.ledger"
        assert scope_logs["logRecords"], "no empty envelopes"
        for log_record in scope_logs["logRecords"]:
            assert set(log_record) == {"timeUnixNano", "observedTimeUnixNano", "severityNumber",
                                       "severityText", "body", "attributes"}
            assert DIGITS.fullmatch(log_record["timeUnixNano"])  # fixed64: string digits
            assert DIGITS.fullmatch(log_record["observedTimeUnixNano"])
            assert isinstance(log_record["severityNumber"], int)  # enums are integers
            assert (log_record["severityNumber"], log_record["severityText"]) in \
                {(9, "INFO"), (13, "WARN"), (17, "ERROR")}
            assert set(log_record["body"]) == {"stringValue"}
            check_attributes(log_record["attributes"])
            records.append(log_record)
    return records


def evidence() -> list[tuple[dict[str, Any], bytes]]:
    """Real records: a session start, four decisions, an outcome (JSON and leaf bytes)."""
    start = SessionStart.new("s-otlp", Agent("claude-1", "coder"), POLICY)
    out: list[Any] = [start]
    cases: list[tuple[Outcome, Severity]] = [("allow", "low"), ("deny", "high"),
                                             ("ask", "medium"), ("deny", "critical")]
    for outcome, sev in cases:
        wall, mono = now_us()
        out.append(DecisionRecord(
            start.session, start.challenge,
            Action.create("command.exec", command="pytest -q", session=start.session),
            Decision(outcome, (Reason("r1", "g", sev, "why"),), (), POLICY), POLICY,
            "codor-engine", wall, mono))
    wall, mono = now_us()
    out.append(OutcomeRecord(start.session, start.challenge, 1, None, 0, wall, wall + 5,
                             mono, mono + 5, POLICY, "codor-sandbox"))
    return [(r.to_json(), r.to_bytes()) for r in out]


def test_otlp_requests_follow_the_json_encoding(net: Net) -> None:
    rx = net.receiver()
    sink = net.track(OtlpLogSink(rx.url + "/", batch_size=2, service_name="codor-test",
                                 resource_attributes={"deployment.environment": "ci"}, **FAST))
    entries = evidence()
    for i, (data, _) in enumerate(entries):
        sink.emit(i + 10, data)
    assert sink.flush(3)
    requests = rx.accepted()
    assert len(requests) == 3
    log_records = [lr for r in requests for lr in check_export_logs_request(r)]
    assert len(log_records) == len(entries)
    expected = [(9, "INFO"), (9, "INFO"), (13, "WARN"), (9, "INFO"), (17, "ERROR"), (9, "INFO")]
    for i, (log_record, (data, leaf)) in enumerate(zip(log_records, entries, strict=True)):
        attrs = check_attributes(log_record["attributes"])
        assert attrs["codor.index"] == str(i + 10)
        assert attrs["codor.type"] == data["type"] and attrs["codor.session"] == "s-otlp"
        assert attrs.get("codor.decision") == data.get("decision", {}).get("decision")
        assert (log_record["severityNumber"], log_record["severityText"]) == expected[i]
        body = log_record["body"]["stringValue"].encode("utf-8")
        assert body == leaf  # the ledger leaf itself: a collector can recompute its hash
        assert leaf_hash(body) == leaf_hash(leaf)
        when = data["ended_wall_us"] if data["type"] == "outcome" else data["wall_us"]
        assert log_record["timeUnixNano"] == str(when * 1000)


def test_otlp_endpoint_path_and_severity_mapping() -> None:
    sink = OtlpLogSink("http://127.0.0.1:9/v1/logs/")
    sink2 = OtlpLogSink("http://127.0.0.1:9/otel")
    try:
        assert sink.url.endswith(":9/v1/logs") and sink2.url.endswith(":9/otel/v1/logs")
    finally:
        sink.close(0.1)
        sink2.close(0.1)

    def decision(outcome: str, *severities: str) -> dict[str, Any]:
        return {"type": "decision", "decision": {"decision": outcome, "reasons": [
            {"severity": s} for s in severities]}}

    assert severity(decision("deny", "high")) == (13, "WARN")
    assert severity(decision("ask")) == (9, "INFO")
    assert severity(decision("allow", "low")) == (9, "INFO")
    assert severity(decision("deny", "low", "critical")) == (17, "ERROR")
    assert severity({"type": "outcome", "exit_status": 1}) == (9, "INFO")


def test_otlp_retries_only_the_retryable_statuses(net: Net) -> None:
    rx = net.receiver([503, 500])
    sink = net.track(OtlpLogSink(rx.url, service_name="codor-test",
                                 resource_attributes={"deployment.environment": "ci"}, **FAST))
    sink.emit(0, record(0))
    assert sink.flush(3)
    assert [r.status for r in rx.requests] == [503, 500]  # 503 retried, 500 not (OTLP spec)
    stats = sink.stats()
    assert (stats["retries"], stats["failed"], stats["sent"]) == (1, 1, 0)
    for request in rx.requests:
        check_export_logs_request(request)


def test_otlp_partial_success_counts_rejected_as_failed(net: Net) -> None:
    partial = json.dumps({"partialSuccess": {"rejectedLogRecords": "2",
                                             "errorMessage": "too old"}}).encode()
    rx = net.receiver([(200, {}, partial)])
    sink = net.track(OtlpLogSink(rx.url, **FAST))
    for i in range(5):
        sink.emit(i, record(i))
    assert sink.flush(3)
    stats = sink.stats()
    assert len(rx.requests) == 1 and (stats["sent"], stats["failed"]) == (3, 2)


# -- JSON Lines ---------------------------------------------------------------------------------
def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_writes_parseable_lines_and_fsyncs_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "ledger.jsonl"
    sink = JsonlSink(path)
    for i in range(5):
        sink.emit(i, record(i))
    assert sink.stats() | {"rotations": 0} == {"sent": 0, "failed": 0, "dropped": 0,
                                               "queued": 5, "rotations": 0}
    assert sink.flush()
    assert sink.stats()["sent"] == 5 and sink.stats()["queued"] == 0
    sink.emit(5, {"type": "decision", "bad": float("nan")})  # cannot be JSON: counted
    sink.close()
    sink.emit(6, record(6))  # after close: dropped
    assert read_lines(path) == [{"index": i, "record": record(i)} for i in range(5)]
    assert (path.stat().st_mode & 0o777) == 0o600
    stats = sink.stats()
    assert (stats["failed"], stats["dropped"]) == (1, 1)
    with JsonlSink(path) as again:  # appends to what is there
        again.emit(7, record(7))
    assert [e["index"] for e in read_lines(path)] == [0, 1, 2, 3, 4, 7]


def test_jsonl_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    sink = JsonlSink(path, max_bytes=600, keep=3)
    for i in range(200):
        sink.emit(i, record(i))
        if i % 50 == 0:
            assert sink.flush()
    sink.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["ledger.jsonl", "ledger.jsonl.1", "ledger.jsonl.2",
                                       "ledger.jsonl.3"]
    assert all(f.stat().st_size <= 600 for f in files)
    kept = [e for name in ("ledger.jsonl.3", "ledger.jsonl.2", "ledger.jsonl.1", "ledger.jsonl")
            for e in read_lines(tmp_path / name)]
    indices = [e["index"] for e in kept]
    assert indices == list(range(indices[0], 200))  # contiguous, in order, up to the last
    assert all(e["record"] == record(e["index"]) for e in kept)
    stats = sink.stats()
    assert stats["rotations"] > 3 and stats["sent"] == 200 and stats["failed"] == 0


def test_jsonl_reopens_after_an_outside_rotation(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(0, record(0))
        path.rename(tmp_path / "old.jsonl")
        sink.reopen()
        sink.emit(1, record(1))
    assert [e["index"] for e in read_lines(tmp_path / "old.jsonl")] == [0]
    assert [e["index"] for e in read_lines(path)] == [1]


# -- fan-out ------------------------------------------------------------------------------------
class BrokenSink:
    name = "broken"

    def emit(self, index: int, record: Any) -> None:
        raise RuntimeError("sink down")

    def flush(self, timeout: float | None = None) -> bool:
        raise RuntimeError("sink down")

    def close(self, timeout: float | None = 5.0) -> None:
        raise RuntimeError("sink down")

    def stats(self) -> dict[str, int]:
        raise RuntimeError("sink down")


def test_fanout_never_raises_and_counts(tmp_path: Path, net: Net,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="codor.ledger.sinks")
    rx = net.receiver()
    jsonl = JsonlSink(tmp_path / "a.jsonl")
    fanout = SinkFanout([BrokenSink(), jsonl, JsonlSink(tmp_path / "b.jsonl")])
    webhook_name = fanout.add(net.track(WebhookSink(rx.url, **FAST)))
    assert len(fanout) == 4 and "jsonl:" in str(list(fanout.sinks))
    entries = evidence()
    for i, (data, leaf) in enumerate(entries):
        fanout.emit(i, leaf if i % 2 else data)  # leaf bytes or the decoded record
    fanout.emit(99, b"\xff not json")
    fanout.emit(100, b"[1, 2]")
    assert not fanout.flush(3)  # the broken sink cannot flush
    stats = fanout.stats()
    assert stats["fanout"] == {"emitted": len(entries), "invalid": 2}
    assert stats["broken"]["emit_errors"] >= len(entries)
    assert stats[jsonl.name]["sent"] == len(entries) and stats[jsonl.name]["emit_errors"] == 0
    assert stats[webhook_name]["sent"] == len(entries)
    assert read_lines(tmp_path / "a.jsonl") == [{"index": i, "record": data}
                                               for i, (data, _) in enumerate(entries)]
    assert webhook_indices(rx.accepted()) == list(range(len(entries)))
    fanout.close(1)  # the broken sink's close raises: swallowed
    broken_logs = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(broken_logs) == 1  # logged once, not once per entry


def test_fanout_without_sinks_is_a_no_op() -> None:
    fanout = SinkFanout()
    fanout.emit(0, b"not even json")
    assert fanout.flush(0.1)
    assert fanout.stats() == {"fanout": {"emitted": 0, "invalid": 0}}


def test_fanout_names_are_unique(tmp_path: Path) -> None:
    with SinkFanout() as fanout:
        first = fanout.add(JsonlSink(tmp_path / "x.jsonl"))
        second = fanout.add(JsonlSink(tmp_path / "x.jsonl"))
        assert first != second and second.endswith("#2")


def test_the_http_sinks_share_one_machine() -> None:
    assert issubclass(WebhookSink, HttpBatchSink) and issubclass(OtlpLogSink, HttpBatchSink)
    assert OtlpLogSink._deliver is WebhookSink._deliver  # retry/queue code is not copied
