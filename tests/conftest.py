"""Shared fixtures: factories, never shared mutable state."""

from __future__ import annotations

import os
import signal
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.model import Action
from codor.policy import compile_ref
from codor.policy.engine import Engine

WORKSPACE = "/workspace"
HOME = "/home/user"

EngineFactory = Callable[..., Engine]


@pytest.fixture(scope="session", autouse=True)
def _private_hook_servers() -> Iterator[str]:
    """Hook servers started by `codor hook` during the tests live in a runtime directory of
    this test session (never the user's), and are stopped when the session ends."""
    with tempfile.TemporaryDirectory(prefix="codor-test-xdg-") as base:
        os.chmod(base, 0o700)
        old = os.environ.get("XDG_RUNTIME_DIR")
        os.environ["XDG_RUNTIME_DIR"] = base
        try:
            yield base
        finally:
            if old is None:
                os.environ.pop("XDG_RUNTIME_DIR", None)
            else:
                os.environ["XDG_RUNTIME_DIR"] = old
            _stop_processes_mentioning(base)


def _stop_processes_mentioning(text: str) -> None:
    needle = text.encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
            except OSError:
                continue
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists() and
                not _zombie(p)]
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a policy file (dedented) into the test's temp dir and return its path."""

    def factory(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return factory


@pytest.fixture
def make_engine(write_policy: Callable[[str, str], Path]) -> Iterator[EngineFactory]:
    """Build an engine from inline policy YAML (or a built-in name). Engines are closed after
    the test so extension workers never outlive it."""
    engines: list[Engine] = []

    def factory(policy: str, *, workspace: str = WORKSPACE, home: str = HOME,
                env: dict[str, str] | None = None, **engine_kwargs: Any) -> Engine:
        ref: str | Path = policy if policy.startswith("codor:") else write_policy(policy,
                                                                                "policy.yaml")
        compiled = compile_ref(ref, workspace=workspace, home=home, env=env or {})
        engine = Engine(compiled, **engine_kwargs)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.close()


def act(kind: str, **fields: Any) -> Action:
    """Shorthand for a validated action."""
    return Action.create(kind, **fields)


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    """A real PostgreSQL server for the module's tests (`make test` installs PostgreSQL; no
    server fails the test, never skips it); stopped and removed after the module."""
    from tests.ledger import pgserver

    with pgserver.running() as server:
        yield server
