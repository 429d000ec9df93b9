"""Capability tokens: signed, scoped, time- and use-limited permission to skip the user rules.

A valid token makes the engine answer *allow* without consulting policy rules, guards or
extensions — but never without the built-in protections (semantics cases 7-9, 21-23).

Wire form: ``codor-cap.v1.<base64url(canonical JSON claims)>.<base64url(Ed25519 signature)>``.
Claims: ``id`` (random nonce), ``iss`` (issuer key id), ``sub`` (agent id), ``sandbox``
(optional binding), ``kinds`` (kind patterns), ``paths`` (globs; optional), ``nbf``, ``exp``
(unix seconds) and ``uses`` (maximum number of uses). Each use is counted; a token id seen with
different claims is a replay and is refused.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from codor.canonical import canonical_json
from codor.errors import TokenError
from codor.model import Action
from codor.policy.guards.base import EvalContext
from codor.policy.patterns import GlobSet

__all__ = [
    "PREFIX",
    "MemoryUseCounter",
    "TokenCheck",
    "TokenClaims",
    "TokenVerifier",
    "UseCounter",
    "issue_token",
    "key_id",
]

PREFIX = "codor-cap.v1."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable id for an issuer key (hex of the first 8 bytes of its sha256)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    id: str
    iss: str
    sub: str
    kinds: tuple[str, ...]
    paths: tuple[str, ...]
    nbf: float
    exp: float
    uses: int
    sandbox: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "iss": self.iss, "sub": self.sub, "kinds": list(self.kinds),
            "paths": list(self.paths), "nbf": self.nbf, "exp": self.exp, "uses": self.uses,
        }
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox
        return out

    @classmethod
    def from_json(cls, data: Any) -> TokenClaims:
        try:
            if not isinstance(data, Mapping):
                raise TypeError("claims must be an object")
            kinds = data["kinds"]
            paths = data.get("paths", [])
            if not isinstance(kinds, list) or not isinstance(paths, list):
                raise TypeError("kinds and paths must be lists")
            return cls(
                id=str(data["id"]), iss=str(data["iss"]), sub=str(data["sub"]),
                kinds=tuple(str(k) for k in kinds), paths=tuple(str(p) for p in paths),
                nbf=float(data["nbf"]), exp=float(data["exp"]), uses=int(data["uses"]),
                sandbox=None if data.get("sandbox") is None else str(data["sandbox"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenError(f"malformed token claims: {exc}") from None


def issue_token(
    private_key: Ed25519PrivateKey,
    *,
    agent: str,
    kinds: Sequence[str],
    now: float,
    ttl: float,
    uses: int = 1,
    paths: Sequence[str] = (),
    sandbox: str | None = None,
) -> str:
    """Sign a new token for ``agent``. ``uses`` ≥ 1, ``ttl`` in seconds."""
    if uses < 1 or ttl <= 0:
        raise TokenError("a token needs uses >= 1 and a positive ttl")
    claims = TokenClaims(
        id=secrets.token_hex(16), iss=key_id(private_key.public_key()), sub=agent,
        kinds=tuple(kinds), paths=tuple(paths), nbf=now, exp=now + ttl, uses=uses,
        sandbox=sandbox,
    )
    body = canonical_json(claims.to_json())
    return PREFIX + _b64(body) + "." + _b64(private_key.sign(body))


class UseCounter(Protocol):
    """Counts token uses atomically; must refuse a known id presented with other claims."""

    def consume(self, token_id: str, claims_digest: str, max_uses: int) -> bool: ...


class MemoryUseCounter:
    """Process-local use counter (tests, single-process use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str, int]] = {}

    def consume(self, token_id: str, claims_digest: str, max_uses: int) -> bool:
        with self._lock:
            digest, used = self._seen.get(token_id, (claims_digest, 0))
            if digest != claims_digest or used >= max_uses:
                return False
            self._seen[token_id] = (digest, used + 1)
            return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


@dataclass(frozen=True, slots=True)
class TokenCheck:
    valid: bool
    reason: str
    token_id: str | None = None


class TokenVerifier:
    """Verifies tokens against trusted issuer keys, scope, binding, time and use count."""

    def __init__(
        self,
        issuers: Sequence[Ed25519PublicKey],
        *,
        counter: UseCounter | None = None,
        workspace: str = "/",
        home: str = "/",
    ) -> None:
        self._keys = {key_id(k): k for k in issuers}
        self._counter: UseCounter = counter or MemoryUseCounter()
        self._workspace, self._home = workspace, home
        self._parsed: dict[str, tuple[TokenClaims, str, GlobSet]] = {}
        self._lock = threading.Lock()

    def _parse(self, token: str) -> tuple[TokenClaims, str, GlobSet]:
        cached = self._parsed.get(token)
        if cached is not None:
            return cached
        if not token.startswith(PREFIX) or token.count(".") != 3:
            raise TokenError("not a CODOR capability token")
        body_b64, sig_b64 = token[len(PREFIX):].split(".")
        try:
            body, sig = _unb64(body_b64), _unb64(sig_b64)
            claims = TokenClaims.from_json(json.loads(body))
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenError(f"malformed token: {exc}") from None
        key = self._keys.get(claims.iss)
        if key is None:
            raise TokenError("token issuer is not trusted")
        try:
            key.verify(sig, body)
        except InvalidSignature:
            raise TokenError("token signature is invalid") from None
        globs = GlobSet(claims.paths, workspace=self._workspace, home=self._home)
        parsed = (claims, hashlib.sha256(body).hexdigest(), globs)
        with self._lock:
            if len(self._parsed) > 4096:
                self._parsed.clear()
            self._parsed[token] = parsed
        return parsed

    def check(self, token: str, action: Action, ctx: EvalContext) -> TokenCheck:
        """Judge ``token`` for ``action`` at the evaluation's single time snapshot
        (``ctx.now``); a valid answer consumes one use."""
        try:
            claims, digest, globs = self._parse(token)
        except TokenError as exc:
            return TokenCheck(False, exc.message)
        now = ctx.now
        if now < claims.nbf:
            return TokenCheck(False, "token not yet valid", claims.id)
        if now >= claims.exp:
            return TokenCheck(False, "token expired", claims.id)
        agent = action.agent.id if action.agent else None
        if agent != claims.sub:
            return TokenCheck(False, "token is bound to another agent", claims.id)
        if claims.sandbox is not None and action.meta.get("sandbox") != claims.sandbox:
            return TokenCheck(False, "token is bound to another sandbox", claims.id)
        if not any(fnmatch.fnmatchcase(action.kind, k) for k in claims.kinds):
            return TokenCheck(False, f"token does not cover {action.kind}", claims.id)
        if claims.paths:
            if action.path is None:
                return TokenCheck(False, "token is limited to paths; action has none", claims.id)
            try:
                forms = ctx.forms(action.path, action.cwd)
            except ValueError:
                return TokenCheck(False, "invalid path", claims.id)
            if not all(globs.matches(f) for f in forms):
                return TokenCheck(False, "path outside the token's scope", claims.id)
        if not self._counter.consume(claims.id, digest, claims.uses):
            return TokenCheck(False, "token uses exhausted or replayed", claims.id)
        return TokenCheck(True, "valid capability token", claims.id)
