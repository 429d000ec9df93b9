"""A workspace's CODOR state on disk: ``.codor/`` with policy.yaml, ledger.db and keys/.

``CODOR_HOME`` overrides the location. Created by ``codor init``; whenever a ledger exists
there, every decision is recorded in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codor.errors import CodorError

if TYPE_CHECKING:
    from codor.ledger.log import Ledger

__all__ = ["DEFAULT_POLICY_TEXT", "Workspace", "WorkspaceError"]

DEFAULT_POLICY_TEXT = """\
# The policy for this workspace. It starts from codor:coding-assistant; add rules and guard
# settings below (see `codor policy show codor:coding-assistant` for what it contains).
version: 1
extends: ["codor:coding-assistant"]
"""


class WorkspaceError(CodorError):
    """The workspace's CODOR state is missing, partial or unusable."""

    code = "E_WORKSPACE"


@dataclass(frozen=True, slots=True)
class Workspace:
    root: Path
    home: Path  # the .codor directory (or $CODOR_HOME)

    @classmethod
    def at(cls, root: Path) -> Workspace:
        env = os.environ.get("CODOR_HOME")
        home = Path(env).absolute() if env else root / ".codor"
        return cls(root.absolute(), home)

    @property
    def policy_path(self) -> Path:
        return self.home / "policy.yaml"

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.db"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def origin(self) -> str:
        """The log's origin line: unique per host and workspace."""
        import socket

        return f"codor.local/{socket.gethostname()}{self.root}"

    def has_ledger(self) -> bool:
        return self.ledger_path.is_file()

    def init(self, *, key_name: str | None = None) -> list[str]:
        """Create what is missing (policy, keys, ledger); never overwrite. Returns what was
        created, as human-readable lines."""
        from codor.evidence.keys import KeyStore
        from codor.ledger.sqlite import SQLiteStore

        created: list[str] = []
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.policy_path.exists():
            self.policy_path.write_text(DEFAULT_POLICY_TEXT, encoding="utf-8")
            created.append(f"policy  {self.policy_path}")
        keys = KeyStore(self.keys_dir)
        if not keys.key_path.exists():
            import socket

            name = key_name or f"codor-{socket.gethostname()}".replace("+", "-")
            key = keys.init(name)
            created.append(f"log key {keys.key_path} ({key.vkey()})")
        if not self.ledger_path.exists():
            SQLiteStore(self.ledger_path).close()
            created.append(f"ledger  {self.ledger_path}")
        return created

    def open_ledger(self, *, signing: bool = True, sinks: bool | None = None) -> Ledger:
        """Open the ledger with the workspace's keys (``signing=False``: public keys only;
        appending needs no key, only checkpoints do). ``sinks`` (default: ``signing``) loads
        ``.codor/sinks.yaml`` so appended entries are copied there."""
        from codor.evidence.keys import KeyStore
        from codor.ledger.log import Ledger
        from codor.ledger.sqlite import SQLiteStore

        if not self.has_ledger():
            raise WorkspaceError(f"no ledger at {self.ledger_path}; run `codor init`")
        from codor.ledger.sinks.config import load_sinks

        keys = KeyStore(self.keys_dir)
        key = keys.load() if signing else None
        fanout = load_sinks(self.home / "sinks.yaml") if (
            signing if sinks is None else sinks) else None
        return Ledger(SQLiteStore(self.ledger_path), origin=self.origin, key=key,
                      verifiers=keys.verifiers(), sinks=fanout)
