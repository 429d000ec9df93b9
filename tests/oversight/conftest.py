"""Factories for the approvals queue: a real workspace (ledger + keys), a real policy engine
and kernel, a state database on SQLite, and a loopback HTTP server that records webhooks."""

from __future__ import annotations

import http.server
import json
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from codor.evidence.records import Record, record_from_bytes
from codor.kernel import Kernel
from codor.model import Action
from codor.oversight import ApprovalQueue
from codor.policy import load_engine
from codor.statedb import StateDB
from codor.workspace import Workspace

#: a policy that asks: a deploy (medium), an echo (info: auto), any request out (critical)
POLICY = """
version: 1
name: oversight-test
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
  - id: harmless-ask
    on: [command.exec]
    match: {command: ["echo *"]}
    effect: ask
    severity: info
    reason: asked, but harmless
  - id: requests-out-need-a-person
    on: [network.request]
    effect: ask
    severity: critical
    reason: data leaving needs a person
"""


def deploy(session: str = "s1", agent: str = "claude-1") -> Action:
    return Action.create("command.exec", command="deploy prod", session=session,
                         agent={"id": agent})


@dataclass
class Rig:
    """A workspace with its kernel, state DB and queue (more queues on the same files by
    :meth:`another`)."""

    root: Path
    state_path: Path
    kernel: Kernel
    queue: ApprovalQueue
    opened: list[Any] = field(default_factory=list)

    def ask(self, action: Action, key: Any = None, queue: ApprovalQueue | None = None
            ) -> tuple[Any, dict[str, Any], int | None]:
        """Decide ``action`` for real (recorded), then hand the ask to the queue."""
        q = queue or self.queue
        decision, index = q.kernel.decide_and_index(action)
        assert decision.decision == "ask", decision
        final, extra = q.on_ask(action, decision, index, key or AgentKey())
        return final, extra, index

    def record(self, index: int, kernel: Kernel | None = None) -> Record:
        store = (kernel or self.kernel).ledger.store  # type: ignore[union-attr]
        store.flush()
        leaf = store.entry(index).leaf
        assert leaf is not None
        return record_from_bytes(leaf)


@dataclass(frozen=True)
class AgentKey:
    id: str = "k-agent-1"
    name: str = "agent one"
    role: str = "agent"


RigFactory = Callable[..., Rig]


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """``make_rig(**queue_kwargs)``: a fresh workspace; ``rig.opened`` closes at the end."""
    rigs: list[Rig] = []

    def make(policy: str = POLICY, **kwargs: Any) -> Rig:
        root = tmp_path / f"ws{len(rigs)}"
        root.mkdir()
        ws = Workspace(root, root / ".codor")
        ws.init(key_name="test")
        policy_path = root / "policy.yaml"
        policy_path.write_text(textwrap.dedent(policy), encoding="utf-8")
        engine = load_engine(policy_path, workspace=str(root), codor_home=str(root / ".codor"))
        kernel = Kernel(engine, ws.open_ledger(), workspace=str(root))
        state_path = root / ".codor" / "state.db"
        state = StateDB.open(state_path)
        kwargs.setdefault("timeout_s", 60.0)
        kwargs.setdefault("wait_s", 0.0)
        kwargs.setdefault("sweep_s", None)
        queue = ApprovalQueue(state, kernel, **kwargs)
        rig = Rig(root, state_path, kernel, queue, [queue, kernel, state])
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        for part in rig.opened:
            part.close()


def another_queue(rig: Rig, **kwargs: Any) -> ApprovalQueue:
    """A second "daemon": its own ledger handle, kernel and state DB handle on the same files."""
    ws = Workspace(rig.root, rig.root / ".codor")
    engine = load_engine(rig.root / "policy.yaml", workspace=str(rig.root),
                         codor_home=str(rig.root / ".codor"))
    kernel = Kernel(engine, ws.open_ledger(), workspace=str(rig.root))
    state = StateDB.open(rig.state_path)
    kwargs.setdefault("timeout_s", 60.0)
    kwargs.setdefault("wait_s", 0.0)
    kwargs.setdefault("sweep_s", None)
    queue = ApprovalQueue(state, kernel, **kwargs)
    rig.opened[:0] = [queue, kernel, state]
    return queue


class Hooks:
    """A loopback HTTP server that records each POSTed JSON body; ``fail_first`` answers the
    first N requests with 500; ``hold`` makes each request wait until it is set."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.requests = 0
        self.received = threading.Event()
        self.hold: threading.Event | None = None
        self.lock = threading.Lock()
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with hooks.lock:
                    hooks.requests += 1
                    failing = hooks.requests <= hooks.fail_first
                    if not failing:
                        hooks.bodies.append(json.loads(body))
                hooks.received.set()
                if hooks.hold is not None:
                    hooks.hold.wait(10)
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def types(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(b["type"], b["approval"]["id"]) for b in self.bodies]

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[Callable[..., Hooks]]:
    made: list[Hooks] = []

    def make(**kwargs: Any) -> Hooks:
        h = Hooks(**kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
