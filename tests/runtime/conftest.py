"""A real workspace for the tool router: ``.codor/`` with a signed SQLite ledger, a policy
confined to the workspace, a kernel; records are read back from the ledger file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codor.evidence.records import DecisionRecord, OutcomeRecord, Record, record_from_bytes
from codor.kernel import Kernel
from codor.runtime import ToolRouter
from codor.statedb import StateDB
from codor.workspace import Workspace
from tests.conftest import EngineFactory

#: Reads and writes inside the workspace only; "secret" names denied everywhere; a person
#: approves writes under approve-me/; a few programs run; loopback HTTP is allowed.
POLICY = """
version: 1
guards:
  paths:
    deny: ["**/secret*"]
    read: {allow: ["${WORKSPACE}/**"]}
    write:
      allow: ["${WORKSPACE}/**"]
      ask: ["**/approve-me/**"]
  commands:
    allow: [echo, sh, "true", "false", exit, pwd, python3, ls, cat, touch, sleep, printf, rm,
            mkdir]
    default: deny
  egress:
    allow_cidrs: ["127.0.0.1/32"]
    ask: ["ask.example"]
    default: deny
"""


@dataclass
class Setup:
    root: Path  # the workspace
    outside: Path  # a directory next to it, on the same filesystem
    workspace: Workspace
    kernel: Kernel
    router: ToolRouter

    def records(self) -> list[Record]:
        ledger = self.workspace.open_ledger(signing=False)
        try:
            size = ledger.sync()
            return [record_from_bytes(e.leaf) for e in ledger.store.entries(0, size)
                    if e.leaf is not None]
        finally:
            ledger.close()

    def decisions(self) -> list[DecisionRecord]:
        return [r for r in self.records() if isinstance(r, DecisionRecord)]

    def outcomes(self) -> list[OutcomeRecord]:
        return [r for r in self.records() if isinstance(r, OutcomeRecord)]


SetupFactory = Callable[..., Setup]


@pytest.fixture
def make_setup(tmp_path: Path, make_engine: EngineFactory) -> Iterator[SetupFactory]:
    made: list[Setup] = []

    def factory(policy: str = POLICY, **router_kwargs: Any) -> Setup:
        root = tmp_path / "ws"
        outside = tmp_path / "outside"
        root.mkdir(exist_ok=True)
        outside.mkdir(exist_ok=True)
        ws = Workspace(root, root / ".codor")
        ws.init(key_name="test")
        engine = make_engine(policy, workspace=str(root))
        kernel = Kernel(engine, ws.open_ledger())
        setup = Setup(root, outside, ws, kernel, ToolRouter(kernel, root, **router_kwargs))
        made.append(setup)
        return setup

    yield factory
    for setup in made:
        if setup.kernel.ledger is not None:
            setup.kernel.ledger.close()


@pytest.fixture
def setup(make_setup: SetupFactory) -> Setup:
    return make_setup()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    """A state database (SQLite) of its own."""
    handle = StateDB.open(tmp_path / "state.db")
    yield handle
    handle.close()


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    """A kernel on a fresh workspace with a ledger (``tmp_path / "ws"``)."""
    from codor.integrations.context import open_kernel
    from codor.workspace import Workspace

    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    k = open_kernel(root, remote=False)
    assert k.ledger is not None
    yield k
    k.close()
