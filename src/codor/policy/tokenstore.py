"""Capability-token state that outlives a process: use counts, revocations and the issuer key.

* :class:`StateUseCounter` counts uses in the state database (:class:`codor.statedb.StateDB`,
  table ``token_uses``) with one atomic ``UPDATE ... WHERE used < max``, so a token's uses are
  exact across threads, processes and daemons sharing the database, and a replay (its id
  presented with other claims) fails everywhere. The engine's default stays the in-memory
  :class:`codor.policy.tokens.MemoryUseCounter`.
* :class:`StateRevocationList` keeps revoked ids in memory (O(1) lookups) and in the table
  ``token_revocations``; it re-reads the table at most every ``refresh`` seconds, so another
  process's revocation takes effect within that time.
* The **issuer key** of a workspace is ``.codor/keys/token.key`` (PKCS#8 PEM Ed25519, mode
  0600; ``.codor/keys/`` is unreadable to agents by the built-in protections) with its public
  half in ``.codor/keys/token.pub``. The trusted issuers are ``token.pub`` plus every
  ``.codor/token-issuers/*.pub`` (PEM public keys), for tokens signed elsewhere.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from codor.atomicfile import write_atomic
from codor.errors import TokenError
from codor.policy.tokens import Link, RevocationList

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from codor.policy.tokens import TokenVerifier
    from codor.statedb import StateDB

__all__ = [
    "ISSUER_DIR",
    "ISSUER_KEY",
    "ISSUER_PUB",
    "StateRevocationList",
    "StateUseCounter",
    "load_issuer_key",
    "trusted_issuers",
    "workspace_verifier",
]

#: the issuer's signing key and its public half, relative to CODOR's home (``.codor``)
ISSUER_KEY: Final = "keys/token.key"
ISSUER_PUB: Final = "keys/token.pub"
#: more trusted issuers' public keys (``*.pub``), relative to CODOR's home
ISSUER_DIR: Final = "token-issuers"

_USES_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS token_uses (id TEXT PRIMARY KEY, digest TEXT NOT NULL, "
    "max_uses INTEGER NOT NULL, used INTEGER NOT NULL)",
)
_REVOKED_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS token_revocations (id TEXT PRIMARY KEY, "
    "revoked_at REAL NOT NULL, reason TEXT NOT NULL)",
)


class _Exhausted(Exception):
    """A link had no use left: roll the chain's transaction back."""


class StateUseCounter:
    """A :class:`codor.policy.tokens.UseCounter` in the state database."""

    def __init__(self, db: StateDB) -> None:
        self._db = db
        db.migrate(_USES_SCHEMA)

    def consume(self, token_id: str, claims_digest: str, max_uses: int) -> bool:
        return self.consume_chain(((token_id, claims_digest, max_uses),)) < 0

    def consume_chain(self, chain: Sequence[Link]) -> int:
        """One use of every link in one transaction (all or none), each link's count
        raised by one conditional ``UPDATE`` — atomic against every other thread, process
        and daemon; a link that has no use left rolls the whole chain back."""
        db = self._db
        failed = -1
        try:
            with db.transaction():
                for n, (tid, digest, uses) in enumerate(chain):
                    db.execute("INSERT INTO token_uses (id, digest, max_uses, used) "
                               "VALUES (?, ?, ?, 0) ON CONFLICT (id) DO NOTHING",
                               (tid, digest, uses))
                    if db.execute("UPDATE token_uses SET used = used + 1 "
                                  "WHERE id = ? AND digest = ? AND used < ?",
                                  (tid, digest, uses)) != 1:
                        failed = n
                        raise _Exhausted
        except _Exhausted:
            return failed
        return -1

    def used(self, token_id: str) -> int:
        """How many uses of ``token_id`` were counted (0 for an unknown id)."""
        rows = self._db.query("SELECT used FROM token_uses WHERE id = ?", (token_id,))
        return int(rows[0][0]) if rows else 0


class StateRevocationList(RevocationList):
    """A :class:`codor.policy.tokens.RevocationList` persisted in the state database."""

    def __init__(self, db: StateDB, *, refresh: float = 5.0) -> None:
        self._db = db
        db.migrate(_REVOKED_SCHEMA)
        super().__init__(self._load())
        self._refresh = refresh
        self._loaded = time.monotonic()
        self._reload_lock = threading.Lock()

    def _load(self) -> set[str]:
        return {str(r[0]) for r in self._db.query("SELECT id FROM token_revocations")}

    def reload(self) -> None:
        """Re-read the table now (revocations made by other processes)."""
        ids = self._load()
        with self._lock:
            self._ids |= ids
        self._loaded = time.monotonic()

    def revoke(self, token_id: str, reason: str = "") -> None:
        self._db.execute("INSERT INTO token_revocations (id, revoked_at, reason) "
                         "VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                         (token_id, time.time(), reason))
        super().revoke(token_id, reason)

    def any_revoked(self, ids: Sequence[str]) -> str | None:
        if time.monotonic() - self._loaded > self._refresh and \
                self._reload_lock.acquire(blocking=False):
            try:
                self.reload()
            finally:
                self._reload_lock.release()
        return super().any_revoked(ids)

    def revoked(self) -> list[tuple[str, float, str]]:
        """Every revocation: (id, unix time, reason), oldest first."""
        rows = self._db.query("SELECT id, revoked_at, reason FROM token_revocations "
                              "ORDER BY revoked_at, id")
        return [(str(r[0]), float(r[1]), str(r[2])) for r in rows]


def load_issuer_key(home: str | os.PathLike[str], *, create: bool = False) -> Ed25519PrivateKey:
    """The workspace's token issuer key (``<home>/keys/token.key``); with ``create``, a new
    one is made (and its ``token.pub`` written) when there is none."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(home) / ISSUER_KEY
    if not path.exists():
        if not create:
            raise TokenError(f"no token issuer key at {path} (`codor token issue` makes one)")
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use that one
            return load_issuer_key(home)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        pub = key.public_key().public_bytes(ser.Encoding.PEM,
                                            ser.PublicFormat.SubjectPublicKeyInfo)
        write_atomic(Path(home) / ISSUER_PUB, pub, mode=0o644)
        return key
    if path.stat().st_mode & 0o077:
        raise TokenError(f"the token issuer key {path} is readable by group or others; "
                         "chmod 600 it")
    try:
        loaded = ser.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise TokenError(f"{path} is not a PEM private key: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise TokenError(f"{path} is not an Ed25519 key")
    return loaded


def trusted_issuers(home: str | os.PathLike[str]) -> list[Ed25519PublicKey]:
    """The public keys whose tokens a workspace trusts: ``keys/token.pub`` and
    ``token-issuers/*.pub`` under CODOR's home."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    root = Path(home)
    files = [root / ISSUER_PUB, *sorted((root / ISSUER_DIR).glob("*.pub"))]
    keys: list[Ed25519PublicKey] = []
    for f in files:
        if not f.is_file():
            continue
        try:
            key = ser.load_pem_public_key(f.read_bytes())
        except ValueError as exc:
            raise TokenError(f"{f} is not a PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise TokenError(f"{f} is not an Ed25519 public key")
        keys.append(key)
    return keys


def workspace_verifier(home: str | os.PathLike[str], *, workspace: str | os.PathLike[str],
                       state: StateDB | str | None = None,
                       persistent: bool = True) -> TokenVerifier | None:
    """The capability-token verifier of a workspace whose CODOR home is ``home``, or ``None``
    when it trusts no issuer yet (no ``keys/token.pub``, no ``token-issuers/*.pub``): then an
    action's token is ignored with a warning and the action is evaluated in full.

    Use counts and revocations live in the state database — ``state`` (an open
    :class:`~codor.statedb.StateDB`, or its target), else ``<home>/state.db`` — so they hold
    across hook processes and daemons. ``persistent=False`` (a dry run such as ``codor check
    --no-record``) counts uses in memory only, spending none, and still honours persisted
    revocations when the state database exists. A public key file that cannot be read raises
    :class:`~codor.errors.TokenError`: the caller fails closed as for a bad policy."""
    from codor.policy.tokens import MemoryUseCounter, TokenVerifier
    from codor.statedb import StateDB

    issuers = trusted_issuers(home)
    if not issuers:
        return None
    db = state if isinstance(state, StateDB) else None
    owned: list[StateDB] = []
    target = state if isinstance(state, str) else str(Path(home) / "state.db")
    if db is None and (persistent or isinstance(state, str) or Path(target).exists()):
        db = StateDB.open(target)
        owned.append(db)
    user_home = os.environ.get("HOME") or str(Path.home())
    try:
        return TokenVerifier(
            issuers,
            counter=StateUseCounter(db) if db is not None and persistent
            else MemoryUseCounter(),
            revocations=StateRevocationList(db) if db is not None else None,
            workspace=str(workspace), home=user_home, owns=owned)
    except BaseException:
        for opened in owned:
            opened.close()
        raise
