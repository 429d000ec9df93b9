"""Opening CODOR for an integration: the workspace, its policy and its ledger, as one kernel.

Every integration (agent hooks, the MCP gateway, CODOR's MCP server, the Python SDK) starts
the same way: find the workspace (``--workspace``, else the nearest directory holding
``.codor/``, else the starting directory), take its policy (``$CODOR_HOME/policy.yaml`` or
``.codor/policy.yaml``, else ``codor:coding-assistant``), and record in its ledger whenever
one exists (``codor init``). :func:`open_kernel` does exactly that.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codor.evidence.records import Observer
    from codor.kernel import Kernel
    from codor.statedb import StateDB

__all__ = ["attach_workflow", "codor_home", "find_workspace", "open_kernel", "resolve_policy"]


def find_workspace(explicit: str | os.PathLike[str] | None = None,
                   start: str | os.PathLike[str] | None = None) -> Path:
    """``explicit``, else the nearest ancestor of ``start`` (default: cwd) holding
    ``.codor/``, else ``start`` itself; absolute, with ``.`` and ``..`` folded (so the
    ancestors are those of the directory named, and ``codor hook``'s own os.path search,
    :func:`codor.cli.hook._locate`, finds the same one)."""
    if explicit:
        return Path(os.path.abspath(explicit))
    here = Path(os.path.abspath(start if start is not None else os.getcwd()))
    for d in (here, *here.parents):
        if (d / ".codor").is_dir():
            return d
    return here


def codor_home(workspace: Path) -> Path:
    """Where the workspace's state lives: ``$CODOR_HOME``, else ``<workspace>/.codor``."""
    from codor.workspace import Workspace

    return Workspace.at(workspace).home


def resolve_policy(explicit: str | None, workspace: Path) -> str:
    """``explicit``, else the workspace's policy file, else the default ruleset."""
    if explicit:
        return explicit
    candidate = codor_home(workspace) / "policy.yaml"
    if candidate.is_file():
        return str(candidate)
    from codor.policy import DEFAULT_POLICY

    return DEFAULT_POLICY


def open_kernel(workspace: str | os.PathLike[str] | None = None, *, policy: str | None = None,
                observer: Observer = "codor-engine", record: bool = True,
                start: str | os.PathLike[str] | None = None, remote: bool = True) -> Kernel:
    """A :class:`~codor.kernel.Kernel` for the workspace (see the module doc). ``record=False``
    decides without recording even when a ledger exists. With ``CODOR_URL`` set (and
    ``record``), a :class:`~codor.integrations.remote.RemoteKernel` that asks that daemon
    instead (``remote=False``: always in-process, for callers that need the local ledger or
    sandbox policy). Raises :class:`~codor.errors.CodorError` for a bad policy or an unusable
    ledger; the caller decides how to fail closed."""
    # remote (CODOR_URL): the daemon decides and records; see codor.integrations.remote
    url = os.environ.get("CODOR_URL", "").strip()
    if url and record and remote:
        from codor.integrations.remote import RemoteKernel, read_token

        root = find_workspace(workspace, start)
        return RemoteKernel(url, read_token(str(root)), observer=observer, workspace=str(root))
    from codor.kernel import Kernel
    from codor.policy import load_engine
    from codor.statedb import StateDB
    from codor.workspace import Workspace

    root = find_workspace(workspace, start)
    home = codor_home(root)
    # one connection to the state database, when there is one, for the token verifier's use
    # counts and revocations and for the workflow gate
    state_path = home / "state.db"
    db = StateDB.open(state_path) if state_path.is_file() else None
    try:
        engine = load_engine(resolve_policy(policy, root), workspace=str(root),
                             codor_home=str(home), tokens="workspace", record=record,
                             state=db)
    except BaseException:
        if db is not None:
            db.close()
        raise
    try:
        state = Workspace.at(root)
        ledger = state.open_ledger(signing=False, sinks=True) \
            if record and state.has_ledger() else None
    except BaseException:
        engine.close()
        if db is not None:
            db.close()
        raise
    kernel = Kernel(engine, ledger, observer=observer, workspace=str(root))
    if db is not None:
        kernel.own(db)
    try:
        attach_workflow(kernel, home, db)
    except BaseException:
        kernel.close()
        raise
    return kernel


def attach_workflow(kernel: Kernel, home: Path, db: StateDB | None = None) -> None:
    """Give ``kernel`` the workflow gate of the workspace (:mod:`codor.runtime.gate`) when its
    state database exists (``<home>/state.db``: where ``codor mode`` keeps the modes) — so
    the session's phase decides which actions are allowed. ``db``: that database, already
    open (the caller closes it); otherwise it is opened here and closed with the kernel.
    Nothing is opened when there is none: a workspace that never used a mode, a token, a
    task or an agent pays one ``stat``."""
    if db is None:
        path = home / "state.db"
        if not path.is_file():
            return
        from codor.statedb import StateDB

        db = StateDB.open(path)
        kernel.own(db)
    from codor.runtime.gate import WorkflowGate
    from codor.runtime.workflowstore import WorkflowStore

    kernel.gate = WorkflowGate(WorkflowStore(db, kernel, workspace=kernel.workspace))
