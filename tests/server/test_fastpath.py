"""``FastCheck`` (the fast path ``codor serve`` puts around the app for ``POST /v1/check``)
answers exactly what the full app answers: the same statuses, bodies and headers for
decisions, bad input, missing or weak keys and refusals, and it hands everything else to
the app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from codor.server.routes.check import FastCheck
from tests.server.conftest import Server

READ = {"kind": "file.read", "path": "README.md", "session": "s1"}
RM = {"kind": "command.exec", "command": "rm -rf /", "session": "s1"}
BAD_TOKEN = "codor_0000000000000000_" + "x" * 43


def _shape(r: Any) -> tuple[int, Any, str | None, str | None]:
    try:
        body: Any = r.json()
    except ValueError:
        body = [json.loads(line) for line in r.text.splitlines()]
    for item in body if isinstance(body, list) else [body]:
        if isinstance(item, dict):
            item.pop("index", None)  # each call appends: indexes differ
    return (r.status_code, body, r.headers.get("content-type"),
            r.headers.get("www-authenticate"))


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("allow", "agent", {"json": READ}),
    ("deny", "agent", {"json": RM}),
    ("bad json", "agent", {"content": b"{", "headers": {"Content-Type": "application/json"}}),
    ("bad action", "agent", {"json": {"kind": "file.read"}}),
    ("not an object", "agent", {"json": [1, 2]}),
    ("unknown kind", "agent", {"json": {"kind": "nope"}}),
    ("forbidden", "auditor", {"json": READ}),
    ("bad token", "", {"json": READ, "headers": {"Authorization": f"Bearer {BAD_TOKEN}"}}),
    ("no token", "", {"json": READ}),
    ("batch", "agent", {"content": (json.dumps(READ) + "\n{x\n").encode(),
                        "headers": {"Content-Type": "application/x-ndjson"}}),
    ("too large", "agent", {"content": b" " * 2_000_000,
                            "headers": {"Content-Type": "application/json"}}),
]


@pytest.mark.parametrize(("name", "role", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_the_fast_path_answers_like_the_app(server: Server, name: str, role: str,
                                            kwargs: dict[str, Any]) -> None:
    fast = TestClient(FastCheck(server.client.app), raise_server_exceptions=False)

    def send(client: TestClient) -> Any:
        headers = {**(server.headers(role) if role else {}), **kwargs.get("headers", {})}
        rest = {k: v for k, v in kwargs.items() if k != "headers"}
        return client.post("/v1/check", headers=headers, **rest)

    assert _shape(send(fast)) == _shape(send(server.client))


def test_a_fast_decision_is_recorded_and_other_routes_pass_through(server: Server) -> None:
    fast = TestClient(FastCheck(server.client.app), raise_server_exceptions=False)
    r = fast.post("/v1/check", json=RM, headers=server.headers("agent"))
    assert r.status_code == 200
    server.daemon.ledger.store.flush()
    assert server.daemon.ledger.store.entry(r.json()["index"]).leaf is not None
    assert fast.get("/health").json() == {"status": "ok"}
    assert fast.get("/ready").json()["status"] == "ready"
