"""What the state-database commands (``codor agent``, ``codor task``, ``codor mode``) open:
the state database as ``codor serve`` finds it, and — for a change — the workspace's kernel,
which records the change in the ledger when the workspace has one. Both are closed after."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codor.kernel import Kernel
    from codor.statedb import StateDB

__all__ = ["opened_state", "user_name", "who"]


def user_name() -> str:
    """The login name running the command (``unknown`` when the environment has none)."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "unknown"


def who(command: str) -> str:
    """Who made a change from the command line, as recorded: ``<user> (<command>)``."""
    return f"{user_name()} ({command})"


@contextlib.contextmanager
def opened_state(workspace: Path, state: str | None, *, record: bool
                 ) -> Iterator[tuple[StateDB, Kernel | None]]:
    """The state database (``state``: its target, else as ``codor serve`` finds it) and,
    with ``record``, the workspace's in-process kernel; both closed on the way out."""
    from codor.server.settings import load_settings
    from codor.statedb import StateDB

    db = StateDB.open(load_settings(workspace, state=state).state_target)
    kernel: Kernel | None = None
    try:
        if record:
            from codor.integrations.context import open_kernel

            kernel = open_kernel(workspace, remote=False)  # records only with a ledger
        yield db, kernel
    finally:
        if kernel is not None:
            with contextlib.suppress(Exception):
                kernel.close()
        db.close()
