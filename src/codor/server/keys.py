"""API keys: random bearer tokens, stored only as SHA-256 hashes, each with one role.

A token reads ``codor_<id>_<secret>``: the id finds the row, the secret (32 random bytes) is
compared by hash in constant time. Secrets this long need no slow hash; the hash means a copy
of the database grants nothing. Verified keys are cached for a few seconds so the hot path
does not touch the database, and a revocation reaches every daemon within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final, Literal, get_args

from codor.errors import CodorError
from codor.statedb import StateDB

__all__ = ["ROLES", "ApiKey", "KeyError_", "KeyStore", "Role"]

Role = Literal["admin", "operator", "auditor", "agent"]
ROLES: Final[tuple[str, ...]] = get_args(Role)

_TOKEN: Final = re.compile(r"codor_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_CACHE_S: Final = 5.0

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "role TEXT NOT NULL, hash BLOB NOT NULL, created REAL NOT NULL, revoked REAL)",
)


class KeyError_(CodorError):
    """An API key request that cannot be done (unknown role, unknown key)."""

    code = "E_KEY"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's public facts (never its secret)."""

    id: str
    name: str
    role: Role
    created: float
    revoked: float | None = None

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role, "created": self.created,
                "revoked": self.revoked}


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class KeyStore:
    """API keys in the state database."""

    def __init__(self, db: StateDB) -> None:
        self._db = db
        db.migrate(_SCHEMA)
        self._cache: dict[str, tuple[float, tuple[bytes, ApiKey] | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: str) -> tuple[ApiKey, str]:
        """A new key; returns it and its token (shown once, never stored)."""
        if role not in ROLES:
            raise KeyError_(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if not name.strip() or len(name) > 200:
            raise KeyError_("a key needs a name of 1 to 200 characters")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        key = ApiKey(key_id, name.strip(), role, time.time())  # type: ignore[arg-type]
        self._db.execute("INSERT INTO api_keys (id, name, role, hash, created) "
                         "VALUES (?, ?, ?, ?, ?)", (key.id, key.name, key.role,
                                                    _digest(secret), key.created))
        return key, f"codor_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        rows = self._db.query("SELECT id, name, role, created, revoked FROM api_keys "
                              "ORDER BY created")
        return [ApiKey(str(i), str(n), r, float(c), None if v is None else float(v))
                for i, n, r, c, v in rows]

    def has_role(self, role: Role) -> bool:
        return bool(self._db.query("SELECT 1 FROM api_keys WHERE role = ? AND revoked IS NULL "
                                   "LIMIT 1", (role,)))

    def revoke(self, key_id: str) -> ApiKey:
        changed = self._db.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND "
                                   "revoked IS NULL", (time.time(), key_id))
        with self._lock:
            self._cache.pop(key_id, None)
        found = [k for k in self.list() if k.id == key_id]
        if not found:
            raise KeyError_(f"no API key {key_id!r}")
        if not changed and found[0].revoked is None:
            raise KeyError_(f"API key {key_id!r} could not be revoked")
        return found[0]

    def _lookup(self, key_id: str) -> tuple[bytes, ApiKey] | None:
        """The stored hash and facts of ``key_id`` (``None``: no such key), cached for a few
        seconds — unknown ids too, so a stream of made-up tokens does not reach the
        database on every request."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] <= _CACHE_S:
            return cached[1]
        rows = self._db.query("SELECT name, role, hash, created, revoked FROM api_keys "
                              "WHERE id = ?", (key_id,))
        found: tuple[bytes, ApiKey] | None = None
        if rows:
            name, role, digest, created, revoked = rows[0]
            found = (bytes(digest), ApiKey(key_id, str(name), role, float(created),
                                           None if revoked is None else float(revoked)))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_id] = (now, found)
        return found

    def active(self, key_id: str) -> ApiKey | None:
        """The key ``key_id`` unless it is unknown or revoked (a dashboard session's key)."""
        found = self._lookup(key_id)
        return None if found is None or found[1].revoked is not None else found[1]

    def verify(self, token: str) -> ApiKey | None:
        """The key a token belongs to, or ``None`` (malformed, unknown, revoked, wrong)."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        key_id, secret = match.groups()
        found = self._lookup(key_id)
        if found is None:
            return None
        digest, key = found
        if key.revoked is not None or not hmac.compare_digest(digest, _digest(secret)):
            return None
        return key
