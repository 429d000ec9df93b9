"""The daemon's parts, opened once from the settings and shared by every request: the policy
engine, the ledger (the workspace's SQLite file or a shared PostgreSQL log), the kernel that
decides and records, the state database (API keys, approvals) and the metrics.

Nothing here knows HTTP; :func:`codor.server.app.create_app` wires it to routes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codor.errors import CodorError

if TYPE_CHECKING:
    from codor.kernel import Kernel
    from codor.ledger import Ledger
    from codor.policy.engine import Engine
    from codor.server.keys import KeyStore
    from codor.server.metrics import Metrics
    from codor.server.settings import ServerSettings
    from codor.statedb import StateDB

__all__ = ["Daemon", "DaemonError"]


class DaemonError(CodorError):
    """The daemon cannot start (no workspace, an unusable ledger or state database)."""

    code = "E_DAEMON"


def _open_ledger(settings: ServerSettings) -> Ledger:
    from codor.evidence.keys import KeyStore as LogKeys
    from codor.ledger.log import Ledger
    from codor.workspace import Workspace

    ws = Workspace(settings.workspace, settings.home)
    if settings.ledger is None:
        if not ws.has_ledger():
            raise DaemonError(f"no ledger at {ws.ledger_path}; run `codor init` first",
                              location=str(settings.workspace))
        return ws.open_ledger(signing=True, sinks=True)
    if settings.ledger.startswith(("postgresql://", "postgres://")):
        from codor.ledger.postgres import PostgresStore

        keys = LogKeys(ws.keys_dir)
        origin = settings.origin or f"codor.local/{socket.gethostname()}/shared"
        return Ledger(PostgresStore(settings.ledger), origin=origin, key=keys.load(),
                      verifiers=keys.verifiers())
    from codor.ledger.sqlite import SQLiteStore

    keys = LogKeys(ws.keys_dir)
    return Ledger(SQLiteStore(Path(settings.ledger)), origin=settings.origin or ws.origin,
                  key=keys.load(), verifiers=keys.verifiers())


@dataclass
class Daemon:
    """What one running daemon holds."""

    settings: ServerSettings
    engine: Engine
    ledger: Ledger
    kernel: Kernel
    state: StateDB
    keys: KeyStore
    metrics: Metrics
    policy_ref: str
    extras: dict[str, Any] = field(default_factory=dict)  # parts added by other components
    #: the ledger is this host's SQLite file (a single decision is then cheaper on the event
    #: loop than a hop to the thread pool; see codor.server.routes.check)
    local_ledger: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: ServerSettings) -> Daemon:
        """Open every part; raises :class:`~codor.errors.CodorError` with a one-line reason
        (and closes what was opened) when one cannot be."""
        from codor.integrations.context import resolve_policy
        from codor.kernel import Kernel
        from codor.policy import load_engine
        from codor.server.keys import KeyStore
        from codor.server.metrics import Metrics
        from codor.statedb import StateDB

        if not settings.workspace.is_dir():
            raise DaemonError("the workspace is not a directory", location=str(settings.workspace))
        opened: list[Any] = []
        try:
            ref = resolve_policy(settings.policy, settings.workspace)
            if ref.endswith(".bundle.json"):  # a signed bundle: verified before use
                from codor.server.policyload import bundle_ref

                ref = bundle_ref(ref, settings)
            state = StateDB.open(settings.state_target)
            opened.append(state)
            # capability tokens: use counts and revocations in the daemon's state database
            engine = load_engine(ref, workspace=str(settings.workspace),
                                 codor_home=str(settings.home),
                                 tokens="workspace", state=state)
            opened.append(engine)
            ledger = _open_ledger(settings)
            opened.append(ledger)
            keys = KeyStore(state)
            kernel = Kernel(engine, ledger, observer="codor-engine", group_allows=True,
                            workspace=str(settings.workspace))
            from codor.ledger.sqlite import SQLiteStore
            from codor.oversight import ApprovalQueue

            daemon = cls(settings, engine, ledger, kernel, state, keys, Metrics(), str(ref),
                         local_ledger=isinstance(ledger.store, SQLiteStore))

            # workflow modes: the session's phase tightens decisions; the routes share the store
            from codor.runtime.gate import WorkflowGate
            from codor.runtime.workflowstore import WorkflowStore

            workflow = WorkflowStore(state, kernel, workspace=str(settings.workspace))
            kernel.gate = WorkflowGate(workflow)
            daemon.extras["workflow"] = workflow
            daemon.extras["approvals"] = ApprovalQueue(
                state, kernel, timeout_s=settings.approval_timeout_s,
                wait_s=settings.approval_wait_s, webhooks=settings.webhooks)
            return daemon
        except BaseException:
            for part in reversed(opened):
                with contextlib.suppress(Exception):
                    part.close()
            raise

    def first_admin_token(self) -> str | None:
        """On first start (no admin key yet): create one and return its token, to be shown
        once; later starts return ``None``."""
        with self._lock:
            if self.keys.has_role("admin"):
                return None
            _, token = self.keys.create("first admin", "admin")
            return token

    def swap_engine(self, engine: Engine) -> None:
        """Use a newly loaded policy for every later decision (it keeps the daemon's
        capability-token verifier: its caches, use counts and revocations)."""
        old = self.engine
        if engine.tokens is None:
            engine.tokens, old.tokens = old.tokens, None
        self.engine = engine
        self.kernel.engine = engine
        with contextlib.suppress(Exception):
            old.close()

    def close(self) -> None:
        for closer in (*[c for c in self.extras.values() if hasattr(c, "close")], self.kernel,
                       self.state):  # the kernel closes the ledger and the engine
            with contextlib.suppress(Exception):
                closer.close()

