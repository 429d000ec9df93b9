"""Schemathesis against the OpenAPI description the daemon serves (``/v1/openapi.json``):
requests generated from every operation's schema — valid (positive) and invalid (negative)
parameters and bodies —
are sent with the admin key to the real app, and none may answer 5xx (bad input is a 4xx
with a JSON error). Bounded: a couple of dozen examples per operation, no deadline."""

from __future__ import annotations

import time
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.server.conftest import Server, ServerFactory

EXAMPLES = 30
#: operations that would wait for a person or stream without end; their input handling is
#: still fuzzed with a zero wait where they take one
NO_WAIT = {"timeout": 0}


@pytest.fixture
def fuzz_server(make_server: ServerFactory) -> Server:
    server = make_server(approval_wait_s=0.0)
    for session in ("s-1", "s-2"):
        for action in ({"kind": "file.read", "path": "README.md"},
                       {"kind": "command.exec", "command": "rm -rf /"}):
            r = server.post("/v1/check", "agent", json={**action, "session": session})
            assert r.status_code == 200
    server.daemon.ledger.checkpoint()
    return server


def _send(server: Server, kwargs: dict[str, Any]) -> Any:
    kwargs = dict(kwargs)
    headers = {k: v for k, v in kwargs.pop("headers", {}).items()
               if k.lower() not in ("connection", "accept-encoding")}
    headers.update(server.headers("admin"))
    method, url = kwargs.pop("method"), kwargs.pop("url")
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs.pop("json")
    if "data" in kwargs:
        data = kwargs.pop("data")
        body["content"] = data.encode() if isinstance(data, str) else data
    params = kwargs.pop("params", None) or {}
    if url.endswith("/wait") or "/approvals" in url:
        params = {**params, **NO_WAIT}
    return server.client.request(method, url, headers=headers, params=params,
                                 cookies=kwargs.pop("cookies", None) or None, **body)


@pytest.mark.slow
def test_no_operation_answers_5xx(fuzz_server: Server) -> None:
    started = time.monotonic()
    spec = fuzz_server.get("/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()  # type: ignore[union-attr]
                  ]
    assert len(operations) >= 20
    failures: list[str] = []
    sent = 0

    for operation in operations:
        if operation.path.endswith("/stream") and operation.method.upper() == "GET" and \
                "ledger" not in operation.path:
            continue  # the live event feed never ends by itself

        strategy = operation.as_strategy() | \
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)

        @given(case=strategy)
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck),
                  phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        def run(case: Any) -> None:
            nonlocal sent
            kwargs = case.as_transport_kwargs(base_url="http://testserver")
            response = _send(fuzz_server, kwargs)
            sent += 1
            if response.status_code >= 500:
                failures.append(f"{kwargs['method']} {kwargs['url']} -> "
                                f"{response.status_code} {response.text[:200]}")

        run()
    assert not failures, "\n".join(failures[:20])
    assert sent >= EXAMPLES * 10
    assert time.monotonic() - started < 60
    # the daemon still answers afterwards
    assert fuzz_server.get("/v1/ledger").status_code == 200
