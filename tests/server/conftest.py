"""Factories for daemon tests: a workspace with a ledger, a :class:`Daemon` on it, the real
FastAPI app (driven in-process through httpx by Starlette's TestClient, lifespan included),
and API keys of each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from codor.server.app import create_app
from codor.server.daemon import Daemon
from codor.server.settings import ServerSettings, load_settings
from codor.workspace import Workspace


@dataclass
class Server:
    """One daemon under test: its settings, parts, HTTP client and a token per role."""

    settings: ServerSettings
    daemon: Daemon
    client: TestClient
    tokens: dict[str, str]

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def post(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.post(path, headers={**self.headers(role),
                                               **kwargs.pop("headers", {})}, **kwargs)

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.get(path, headers={**self.headers(role),
                                              **kwargs.pop("headers", {})}, **kwargs)


ServerFactory = Callable[..., Server]

#: a policy that asks a person before a deploy (and lets reads through)
ASKING_POLICY = """
version: 1
name: asking
rules:
  - id: read-all
    on: [file.read]
    effect: allow
  - id: deploy-needs-a-person
    on: [command.exec]
    match: {command: ["deploy *"]}
    effect: ask
    severity: medium
    reason: deploys need a person
"""


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """``make_server(policy=..., **settings)``: a fresh workspace and daemon per call."""
    made: list[tuple[TestClient, Daemon]] = []

    def make(*, policy: str | None = "codor:default", workspace: Path | None = None,
             **overrides: Any) -> Server:
        root = workspace or tmp_path / f"ws{len(made)}"
        root.mkdir(parents=True, exist_ok=True)
        Workspace(root, root / ".codor").init(key_name="test")
        settings = load_settings(root, env={}, policy=policy, **overrides)
        daemon = Daemon.open(settings)
        tokens = {role: daemon.keys.create(f"test {role}", role)[1]
                  for role in ("admin", "operator", "auditor", "agent")}
        client = TestClient(create_app(settings, daemon=daemon), raise_server_exceptions=False)
        client.__enter__()
        made.append((client, daemon))
        return Server(settings, daemon, client, tokens)

    yield make
    for client, daemon in made:
        client.__exit__(None, None, None)
        daemon.close()


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server()
