"""OpenTelemetry logs over OTLP/HTTP, JSON encoding.

Each entry becomes one ``LogRecord`` of an ``ExportLogsServiceRequest`` POSTed to
``<endpoint>/v1/logs`` (an endpoint already ending in ``/v1/logs`` is used as given), in
the OTLP "JSON Protobuf Encoding": lowerCamelCase keys, enums as integers
(``severityNumber``), 64-bit integers as decimal strings (``timeUnixNano``, ``intValue``).
Records carry no trace context, so no ``traceId``/``spanId`` is sent (they would be hex).

- ``timeUnixNano``: the record's own time (``wall_us``; ``ended_wall_us`` for an outcome),
  ``observedTimeUnixNano``: when the sink accepted the entry.
- ``severityNumber``/``severityText``: a decision with a ``critical`` reason → 17 ``ERROR``;
  ``deny`` → 13 ``WARN``; ``ask``, ``allow`` and other records → 9 ``INFO``.
- ``body.stringValue``: the record's RFC 8785 canonical JSON — the ledger leaf itself, so a
  collector can recompute the leaf hash and check it against the ledger's proofs.
- ``attributes``: ``codor.index`` (int), ``codor.type``, ``codor.session``,
  ``codor.observer`` and, for decisions, ``codor.decision``.

Retries follow the OTLP/HTTP spec: 429, 502, 503 and 504 (and connection errors) are
retried, honouring ``Retry-After``; every other status is not. A 200 whose
``partialSuccess.rejectedLogRecords`` is set counts those entries as failed, not retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from codor import __version__
from codor.canonical import canonical_json
from codor.ledger.sinks.http import Entry, HttpBatchSink

__all__ = ["OtlpLogSink", "any_value", "log_record", "severity"]

#: SeverityNumber values (opentelemetry/proto/logs/v1/logs.proto).
INFO: Final = (9, "INFO")
WARN: Final = (13, "WARN")
ERROR: Final = (17, "ERROR")
_RETRYABLE: Final = frozenset({429, 502, 503, 504})


def severity(record: Mapping[str, Any]) -> tuple[int, str]:
    """The (severityNumber, severityText) of a record."""
    decision = record.get("decision") if record.get("type") == "decision" else None
    if not isinstance(decision, Mapping):
        return INFO
    reasons = decision.get("reasons")
    if isinstance(reasons, list) and any(
            isinstance(r, Mapping) and r.get("severity") == "critical" for r in reasons):
        return ERROR
    return WARN if decision.get("decision") == "deny" else INFO


def any_value(value: object) -> dict[str, Any]:
    """An ``AnyValue`` in the OTLP JSON mapping (int64 as a decimal string)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"stringValue": json.dumps(value, separators=(",", ":"), default=str)}


def _attributes(pairs: Mapping[str, object]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in pairs.items()]


def log_record(index: int, record: Mapping[str, Any], observed_ns: int) -> dict[str, Any]:
    """One entry as an OTLP ``LogRecord`` (JSON mapping)."""
    when = record.get("ended_wall_us" if record.get("type") == "outcome" else "wall_us")
    time_ns = when * 1000 if type(when) is int and when > 0 else observed_ns
    number, text = severity(record)
    attrs: dict[str, object] = {"codor.index": index}
    for key in ("type", "session", "observer"):
        if isinstance(record.get(key), str):
            attrs[f"codor.{key}"] = record[key]
    decision = record.get("decision") if record.get("type") == "decision" else None
    if isinstance(decision, Mapping) and isinstance(decision.get("decision"), str):
        attrs["codor.decision"] = decision["decision"]
    return {"timeUnixNano": str(time_ns), "observedTimeUnixNano": str(observed_ns),
            "severityNumber": number, "severityText": text,
            "body": {"stringValue": canonical_json(record).decode("utf-8")},
            "attributes": _attributes(attrs)}


def _logs_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/logs"):
        path += "/v1/logs"
    return urlunsplit(parts._replace(path=path))


class OtlpLogSink(HttpBatchSink):
    """Sends entries as OpenTelemetry log records over OTLP/HTTP JSON.

    ``endpoint`` is the collector's base URL (``http://127.0.0.1:4318``); options as for
    :class:`~codor.ledger.sinks.http.HttpBatchSink`. ``resource_attributes`` are added to
    the resource besides ``service.name``.
    """

    kind = "otlp"

    def __init__(self, endpoint: str, *, service_name: str = "codor",
                 resource_attributes: Mapping[str, object] | None = None,
                 **options: Any) -> None:
        resource = {"service.name": service_name, **(resource_attributes or {})}
        scope = {"name": "codor.ledger", "version": __version__}
        resource_json = json.dumps({"attributes": _attributes(resource)}, separators=(",", ":"))
        scope_json = json.dumps(scope, separators=(",", ":"))
        # {"resourceLogs":[{"resource":…,"scopeLogs":[{"scope":…,"logRecords":[ items ]}]}]}
        self._head = ('{"resourceLogs":[{"resource":' + resource_json +
                      ',"scopeLogs":[{"scope":' + scope_json + ',"logRecords":[')
        super().__init__(_logs_url(endpoint), **options)

    def encode_entry(self, entry: Entry) -> str:
        return json.dumps(log_record(entry.index, entry.record, entry.wall_ns),
                          separators=(",", ":"), allow_nan=False)

    def envelope(self, items: Sequence[str]) -> bytes:
        return (self._head + ",".join(items) + "]}]}]}").encode("ascii")

    def retryable(self, status: int) -> bool:
        return status in _RETRYABLE

    def rejected(self, body: bytes, count: int) -> tuple[int, str]:
        """``partialSuccess.rejectedLogRecords`` of an ``ExportLogsServiceResponse``."""
        try:
            partial = json.loads(body).get("partialSuccess") or {}
            rejected = int(partial.get("rejectedLogRecords") or 0)
            message = str(partial.get("errorMessage") or "")
        except (ValueError, TypeError, AttributeError):  # empty, protobuf, or not an object
            return 0, ""
        return rejected, message
