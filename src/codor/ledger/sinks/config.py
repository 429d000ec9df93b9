"""Sinks from configuration: ``.codor/sinks.yaml`` of a workspace.

::

    sinks:
      - {type: jsonl, path: /var/log/codor/evidence.jsonl, max_bytes: 104857600, keep: 5}
      - {type: webhook, url: "https://siem.example/codor", headers: {Authorization: "Bearer ..."}}
      - {type: otlp, endpoint: "http://127.0.0.1:4318", service_name: codor}
      - {type: nats, url: "nats://127.0.0.1:4222", subject: codor.ledger, stream: CODOR_LEDGER}

Unknown types or keys are errors (with the file and the entry number), never ignored.
The sinks' statistics (sent, failed, dropped, queued per sink) are added up in
``sinks-stats.json`` beside the configuration each time a process closes its ledger
(:mod:`codor.ledger.sinks.base`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from codor.errors import CodorError

if TYPE_CHECKING:  # the sink classes (HTTP client, TLS) load only when a sinks file exists
    from codor.ledger.sinks.base import Sink, SinkFanout

__all__ = ["STATS_FILE", "SinkConfigError", "load_sinks"]

#: The statistics file, beside ``sinks.yaml``.
STATS_FILE = "sinks-stats.json"

_HTTP_OPTIONS = {"batch_size", "flush_interval", "max_queue", "max_retries", "backoff",
                 "max_backoff", "timeout", "headers"}
_KEYS: dict[str, set[str]] = {
    "jsonl": {"path", "max_bytes", "keep"},
    "webhook": {"url"} | _HTTP_OPTIONS,
    "otlp": {"endpoint", "service_name"} | _HTTP_OPTIONS,
    "nats": {"url", "subject", "stream", "create_stream", "max_queue", "batch_size", "timeout",
             "max_retries", "backoff", "max_backoff"},  # JetStream (codor.ledger.sinks.nats)
}


class SinkConfigError(CodorError):
    """A sinks file that cannot be used."""

    code = "E_SINK_CONFIG"


def load_sinks(path: Path) -> SinkFanout | None:
    """The fan-out described by ``path``, or ``None`` when the file does not exist."""
    if not path.is_file():
        return None
    import yaml

    from codor.ledger.sinks.base import SinkFanout
    from codor.ledger.sinks.http import WebhookSink
    from codor.ledger.sinks.jsonl import JsonlSink
    from codor.ledger.sinks.otlp import OtlpLogSink

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SinkConfigError(f"cannot read sinks: {exc}", location=str(path)) from None
    if not isinstance(data, dict) or set(data) - {"sinks"} or \
            not isinstance(data.get("sinks", []), list):
        raise SinkConfigError("expected `sinks:` and a list of sinks", location=str(path))
    sinks: list[Sink] = []
    for number, entry in enumerate(data.get("sinks", []), 1):
        where = f"{path} (sink {number})"
        if not isinstance(entry, dict) or entry.get("type") not in _KEYS:
            raise SinkConfigError(f"each sink needs type: one of {', '.join(_KEYS)}",
                                  location=where)
        kind = entry["type"]
        options: dict[str, Any] = {k: v for k, v in entry.items() if k != "type"}
        unknown = set(options) - _KEYS[kind]
        if unknown:
            raise SinkConfigError(f"unknown key(s) for a {kind} sink: "
                                  f"{', '.join(sorted(unknown))}", location=where)
        try:
            if kind == "jsonl":
                sinks.append(JsonlSink(options.pop("path"), **options))
            elif kind == "webhook":
                sinks.append(WebhookSink(options.pop("url"), **options))
            elif kind == "nats":
                from codor.ledger.sinks.nats import NatsSink

                sinks.append(NatsSink(options.pop("url"), **options))
            else:
                sinks.append(OtlpLogSink(options.pop("endpoint"), **options))
        except (KeyError, TypeError, ValueError) as exc:
            raise SinkConfigError(f"bad {kind} sink: {exc}", location=where) from None
    return SinkFanout(sinks, stats_path=path.with_name(STATS_FILE))
