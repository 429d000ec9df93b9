"""Capability tokens: signed, scoped, time- and use-limited permission to skip the user rules.

A valid token makes the engine answer *allow* without consulting policy rules, guards or
extensions — but never without the built-in protections (semantics cases 7-9, 21-23).

Wire form: ``codor-cap.v1.<base64url(canonical JSON claims)>.<base64url(Ed25519 signature)>``.
Claims: ``id`` (random nonce), ``iss`` (issuer key id), ``sub`` (agent id), ``sandbox``
(optional binding), ``kinds`` (kind patterns), ``paths`` (globs; optional), ``nbf``, ``exp``
(unix seconds) and ``uses`` (maximum number of uses). Each use is counted; a token id seen with
different claims is a replay and is refused.

**Delegation** (:func:`delegate`) only attenuates. A child token carries ``parent`` (the parent's
id) and ``proof`` (the parent token itself, whose own ``proof`` carries the grandparent, up to
:data:`MAX_DEPTH` links), so a verifier checks the whole chain without a database: every link's
signature is checked against the trusted issuers, and every child must be covered by its parent
(:func:`attenuation_error`) in each dimension — kinds, paths, sandbox, time window and uses. A use
of a child also consumes one use of every ancestor, so a parent's ``uses`` bounds its whole
tree; a revoked or expired ancestor invalidates every descendant.

**Revocation** (:class:`RevocationList`) is an in-memory set of token ids, checked in O(1) per
link; :mod:`codor.policy.tokenstore` persists it (and use counts) in the state database.

**Validation cost**: the verifier caches each verified token string (bounded LRU), so only the
first sight of a token pays for Ed25519 verification; a repeat is a dict lookup plus the time,
revocation, scope and use-count checks.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
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
    "MAX_DEPTH",
    "PREFIX",
    "Link",
    "MemoryUseCounter",
    "RevocationList",
    "TokenCheck",
    "TokenClaims",
    "TokenVerifier",
    "UseCounter",
    "attenuation_error",
    "delegate",
    "issue_token",
    "key_id",
    "kind_covered",
    "path_covered",
    "read_claims",
]

PREFIX = "codor-cap.v1."
#: the longest delegation chain a verifier accepts (the root token plus 7 delegations)
MAX_DEPTH = 8


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
    #: the parent token's id (delegated tokens only)
    parent: str | None = None
    #: the parent token itself (delegated tokens only): the proof that this token attenuates it
    proof: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "iss": self.iss, "sub": self.sub, "kinds": list(self.kinds),
            "paths": list(self.paths), "nbf": self.nbf, "exp": self.exp, "uses": self.uses,
        }
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox
        if self.parent is not None:
            out["parent"] = self.parent
        if self.proof is not None:
            out["proof"] = self.proof
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
                parent=None if data.get("parent") is None else str(data["parent"]),
                proof=None if data.get("proof") is None else str(data["proof"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenError(f"malformed token claims: {exc}") from None


def _sign(private_key: Ed25519PrivateKey, claims: TokenClaims) -> str:
    body = canonical_json(claims.to_json())
    return PREFIX + _b64(body) + "." + _b64(private_key.sign(body))


def _split(token: str) -> tuple[bytes, bytes, TokenClaims]:
    """Body, signature and claims of ``token`` (the signature is *not* checked here)."""
    if not token.startswith(PREFIX) or token.count(".") != 3:
        raise TokenError("not a CODOR capability token")
    body_b64, sig_b64 = token[len(PREFIX):].split(".")
    try:
        body, sig = _unb64(body_b64), _unb64(sig_b64)
        claims = TokenClaims.from_json(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError(f"malformed token: {exc}") from None
    return body, sig, claims


def read_claims(token: str) -> TokenClaims:
    """The claims of ``token`` without checking its signature (for display, revocation by
    token text and delegation; a verifier checks everything again)."""
    return _split(token)[2]


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
    return _sign(private_key, claims)


# -- attenuation ---------------------------------------------------------------------------
#
# A child scope must be *provably* inside its parent's, by a conservative syntactic check;
# when the check is unsure it refuses. Kinds (fnmatch patterns):
#
# * a child kind equal to a parent kind, or any child kind under a parent ``*``, is covered;
# * a literal child kind (no ``*?[]``) is covered when a parent pattern matches it;
# * under a parent ``P*`` (``P`` literal) a child pattern is covered when its literal prefix
#   (the text before its first metacharacter) starts with ``P``.
#
# Paths (CODOR globs, compared in their absolute forms with the workspace and home left
# symbolic, so ``src/**`` and ``src/a/**`` compare but ``src/**`` never covers ``/abs/...``):
#
# * a child glob equal to a parent glob, or any glob under a parent ``/**`` (or ``**``), is
#   covered;
# * under a parent tree ``L/**`` (``L`` literal) a child is covered when it is ``L`` or its
#   literal prefix starts with ``L/`` (everything it can match lies in the tree);
# * under a parent ``**/D/**`` (``D`` literal) a child is covered when its literal prefix
#   contains ``/D/``;
# * a literal child glob (one path) is covered when a parent glob matches it;
# * anything else — a child with ``.``/``..`` segments, an unlimited child (no paths) under a
#   path-limited parent — is refused.

_META = frozenset("*?[]{}\\")
_SYMBOLIC = "@codor-"
_WS, _HOME = "/@codor-workspace", "/@codor-home"


def _literal_prefix(pattern: str) -> str:
    for i, ch in enumerate(pattern):
        if ch in _META:
            return pattern[:i]
    return pattern


def _is_literal(pattern: str) -> bool:
    return not any(ch in _META for ch in pattern)


def kind_covered(child: str, parents: Sequence[str]) -> bool:
    """Whether every action kind the pattern ``child`` matches is matched by ``parents``."""
    for p in parents:
        if p in (child, "*"):
            return True
        if _is_literal(child) and fnmatch.fnmatchcase(child, p):
            return True
        if p.endswith("*") and _is_literal(p[:-1]) and _literal_prefix(child).startswith(p[:-1]):
            return True
    return False


def _expand(pattern: str) -> str | None:
    from codor.errors import PolicyPatternError
    from codor.policy.patterns import expand_glob

    if _SYMBOLIC in pattern:
        return None
    try:
        full = expand_glob(pattern, workspace=_WS, home=_HOME)
    except PolicyPatternError:
        return None
    if any(seg in (".", "..") for seg in full.split("/")):
        return None
    return full


def path_covered(child: str, parents: Sequence[str]) -> bool:
    """Whether every path the glob ``child`` matches is matched by a glob of ``parents``."""
    c = _expand(child)
    if c is None:
        return False
    prefix = _literal_prefix(c)
    for p in parents:
        pe = _expand(p)
        if pe is None:
            continue
        if pe == c or pe in ("/**", "**/**"):
            return True
        if pe.endswith("/**"):
            tree = pe[:-3]
            if tree.startswith("/") and _is_literal(tree) and (
                    c == tree or prefix.startswith(tree + "/")):
                return True
            if tree.startswith("**/") and _is_literal(tree[3:]) and tree[3:] and \
                    f"/{tree[3:]}/" in prefix:
                return True
        if _is_literal(c) and c.startswith("/"):
            try:
                if GlobSet([pe]).matches(c):
                    return True
            except ValueError:
                continue
    return False


def attenuation_error(parent: TokenClaims, child: TokenClaims) -> str | None:
    """Why ``child`` is not a valid attenuation of ``parent``, or ``None`` when it is."""
    if child.parent != parent.id:
        return "the child token names another parent"
    if parent.sandbox is not None and child.sandbox != parent.sandbox:
        return "a child token cannot change or drop its parent's sandbox"
    for k in child.kinds:
        if not kind_covered(k, parent.kinds):
            return f"kind {k!r} exceeds the parent's kinds {list(parent.kinds)}"
    if parent.paths:
        if not child.paths:
            return "a child of a path-limited token must be path-limited too"
        for path in child.paths:
            if not path_covered(path, parent.paths):
                return f"path {path!r} is not provably within the parent's paths " \
                       f"{list(parent.paths)}"
    if child.nbf < parent.nbf:
        return "the child token starts before its parent"
    if child.exp > parent.exp:
        return "the child token outlives its parent"
    if child.uses > parent.uses:
        return f"the child token has more uses ({child.uses}) than its parent ({parent.uses})"
    return None


def _depth(token: str) -> int:
    depth = 0
    proof: str | None = token
    while proof is not None:
        depth += 1
        if depth > MAX_DEPTH:
            break
        proof = read_claims(proof).proof
    return depth


def delegate(
    parent_token: str,
    key: Ed25519PrivateKey,
    *,
    kinds: Sequence[str] | None = None,
    paths: Sequence[str] | None = None,
    exp: float | None = None,
    uses: int | None = None,
    sub: str | None = None,
    sandbox: str | None = None,
    now: float | None = None,
) -> str:
    """A child of ``parent_token`` signed by ``key`` (a trusted issuer's key), with each scope
    narrowed or inherited (``None``): kinds, paths, expiry, uses, agent (``sub``) and sandbox.
    Raises :class:`TokenError` when the child would exceed its parent in any dimension, when
    the parent has expired or when the chain would be longer than :data:`MAX_DEPTH`."""
    parent = read_claims(parent_token)
    if _depth(parent_token) >= MAX_DEPTH:
        raise TokenError(f"delegation refused: chains are limited to {MAX_DEPTH} tokens")
    t = time.time() if now is None else now
    if t >= parent.exp:
        raise TokenError("delegation refused: the parent token has expired")
    child = TokenClaims(
        id=secrets.token_hex(16), iss=key_id(key.public_key()),
        sub=parent.sub if sub is None else sub,
        kinds=parent.kinds if kinds is None else tuple(kinds),
        paths=parent.paths if paths is None else tuple(paths),
        nbf=max(t, parent.nbf), exp=parent.exp if exp is None else float(exp),
        uses=parent.uses if uses is None else int(uses),
        sandbox=parent.sandbox if sandbox is None else sandbox,
        parent=parent.id, proof=parent_token,
    )
    if child.uses < 1:
        raise TokenError("delegation refused: a token needs uses >= 1")
    if child.exp <= t:
        raise TokenError("delegation refused: the child token would already be expired")
    error = attenuation_error(parent, child)
    if error is not None:
        raise TokenError(f"delegation refused: {error}")
    return _sign(key, child)


class RevocationList:
    """Revoked token ids, in memory (O(1) per lookup). Revoking a token revokes every token
    delegated from it. :class:`codor.policy.tokenstore.StateRevocationList` persists it."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: set[str] = set(ids)
        self._lock = threading.Lock()

    def revoke(self, token_id: str, reason: str = "") -> None:
        with self._lock:
            self._ids.add(token_id)

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._ids

    def any_revoked(self, ids: Sequence[str]) -> str | None:
        """The first id of ``ids`` that is revoked, or ``None``."""
        revoked = self._ids
        if revoked.isdisjoint(ids):
            return None
        for i in ids:
            if i in revoked:
                return i
        return None

    def __len__(self) -> int:
        return len(self._ids)


#: one link of a token's chain as the use counter sees it: (id, claims digest, max uses)
Link = tuple[str, str, int]


class UseCounter(Protocol):
    """Counts token uses atomically; must refuse a known id presented with other claims."""

    def consume(self, token_id: str, claims_digest: str, max_uses: int) -> bool: ...

    def consume_chain(self, chain: Sequence[Link]) -> int:
        """Consume one use of every link, all or none: ``-1`` when every link had a use
        left, else the position of the first link that had none (or was replayed), with
        nothing consumed."""
        ...


class MemoryUseCounter:
    """Process-local use counter (tests, single-process use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str, int]] = {}

    def consume(self, token_id: str, claims_digest: str, max_uses: int) -> bool:
        return self.consume_chain(((token_id, claims_digest, max_uses),)) < 0

    def consume_chain(self, chain: Sequence[Link]) -> int:
        seen = self._seen
        with self._lock:
            for n, (tid, digest, uses) in enumerate(chain):
                known = seen.get(tid)
                if uses < 1 or (known is not None and (known[0] != digest or known[1] >= uses)):
                    return n
            for tid, digest, _ in chain:
                known = seen.get(tid)
                seen[tid] = (digest, 1 if known is None else known[1] + 1)
            return -1

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


@dataclass(frozen=True, slots=True)
class TokenCheck:
    valid: bool
    reason: str
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Parsed:
    claims: TokenClaims
    digest: str
    globs: GlobSet
    #: (id, claims digest, max uses) of the token and then of each ancestor
    chain: tuple[tuple[str, str, int], ...]
    ids: tuple[str, ...]
    kinds: dict[str, bool]  # memo: action kind -> covered


class Closeable(Protocol):
    def close(self) -> None: ...


class TokenVerifier:
    """Verifies tokens against trusted issuer keys, scope, binding, time, revocation and use
    count — for a delegated token, along its whole chain.

    Verified token strings are cached (an LRU of ``cache_size`` entries), so a token's
    signatures are checked once; the time window, revocation, scope and uses are checked at
    every use."""

    def __init__(
        self,
        issuers: Sequence[Ed25519PublicKey],
        *,
        counter: UseCounter | None = None,
        revocations: RevocationList | None = None,
        workspace: str = "/",
        home: str = "/",
        cache_size: int = 4096,
        owns: Sequence[Closeable] = (),
    ) -> None:
        self._owns = tuple(owns)  # closed by close(): what the verifier's maker opened for it
        self._keys = {key_id(k): k for k in issuers}
        self._counter: UseCounter = counter or MemoryUseCounter()
        self.revocations = revocations if revocations is not None else RevocationList()
        self._workspace, self._home = workspace, home
        self._parsed: OrderedDict[str, _Parsed] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._lock = threading.Lock()

    def _parse(self, token: str, depth: int = 1) -> _Parsed:
        cached = self._parsed.get(token)
        if cached is not None:
            try:  # noqa: SIM105 (a try is cheaper than contextlib.suppress on the hot path)
                self._parsed.move_to_end(token)
            except KeyError:  # evicted by another thread meanwhile
                pass
            return cached
        if depth > MAX_DEPTH:
            raise TokenError(f"delegation chain longer than {MAX_DEPTH} tokens")
        body, sig, claims = _split(token)
        key = self._keys.get(claims.iss)
        if key is None:
            raise TokenError("token issuer is not trusted")
        try:
            key.verify(sig, body)
        except InvalidSignature:
            raise TokenError("token signature is invalid") from None
        digest = hashlib.sha256(body).hexdigest()
        link = ((claims.id, digest, claims.uses),)
        if claims.proof is not None or claims.parent is not None:
            if claims.proof is None:
                raise TokenError("delegated token carries no proof of its parent")
            try:
                parent = self._parse(claims.proof, depth + 1)
            except TokenError as exc:
                raise TokenError(f"parent token: {exc.message}") from None
            if len(parent.chain) >= MAX_DEPTH:  # the parent may come from the cache
                raise TokenError(f"delegation chain longer than {MAX_DEPTH} tokens")
            error = attenuation_error(parent.claims, claims)
            if error is not None:
                raise TokenError(f"token exceeds its parent: {error}")
            chain = link + parent.chain
        else:
            chain = link
        globs = GlobSet(claims.paths, workspace=self._workspace, home=self._home)
        parsed = _Parsed(claims, digest, globs, chain, tuple(c[0] for c in chain), {})
        with self._lock:
            while len(self._parsed) >= self._cache_size:
                self._parsed.popitem(last=False)
            self._parsed[token] = parsed
        return parsed

    def close(self) -> None:
        """Close what the verifier owns (a state database opened for it); idempotent."""
        owns, self._owns = self._owns, ()
        for part in owns:
            part.close()

    def verify(self, token: str) -> TokenClaims:
        """The claims of ``token`` once its signatures and delegation chain are checked and
        none of its chain is revoked (time, scope and uses are judged by :meth:`check`)."""
        parsed = self._parse(token)
        revoked = self.revocations.any_revoked(parsed.ids)
        if revoked is not None:
            raise TokenError("token revoked" if revoked == parsed.claims.id
                             else "a parent token was revoked")
        return parsed.claims

    def check(self, token: str, action: Action, ctx: EvalContext) -> TokenCheck:
        """Judge ``token`` for ``action`` at the evaluation's single time snapshot
        (``ctx.now``); a valid answer consumes one use of the token and of each ancestor."""
        try:
            parsed = self._parse(token)
        except TokenError as exc:
            return TokenCheck(False, exc.message)
        claims = parsed.claims
        now = ctx.now
        if now < claims.nbf:
            return TokenCheck(False, "token not yet valid", claims.id)
        if now >= claims.exp:
            return TokenCheck(False, "token expired", claims.id)
        revoked = self.revocations.any_revoked(parsed.ids)
        if revoked is not None:
            return TokenCheck(False, "token revoked" if revoked == claims.id
                              else "a parent token was revoked", claims.id)
        agent = action.agent.id if action.agent else None
        if agent != claims.sub:
            return TokenCheck(False, "token is bound to another agent", claims.id)
        if claims.sandbox is not None and action.meta.get("sandbox") != claims.sandbox:
            return TokenCheck(False, "token is bound to another sandbox", claims.id)
        kind = action.kind
        covered = parsed.kinds.get(kind)
        if covered is None:
            covered = any(fnmatch.fnmatchcase(kind, k) for k in claims.kinds)
            if len(parsed.kinds) < 64:
                parsed.kinds[kind] = covered
        if not covered:
            return TokenCheck(False, f"token does not cover {kind}", claims.id)
        if claims.paths:
            if action.path is None:
                return TokenCheck(False, "token is limited to paths; action has none", claims.id)
            try:
                forms = ctx.forms(action.path, action.cwd)
            except ValueError:
                return TokenCheck(False, "invalid path", claims.id)
            globs = parsed.globs
            if not all(globs.matches(f) for f in forms):
                return TokenCheck(False, "path outside the token's scope", claims.id)
        failed = self._counter.consume_chain(parsed.chain)
        if failed >= 0:
            return TokenCheck(False, "token uses exhausted or replayed" if failed == 0 else
                              "a parent token's uses are exhausted or replayed", claims.id)
        return TokenCheck(True, "valid capability token", claims.id)
