"""Capability tokens: signatures, scope, replay."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from codor.model import Action
from codor.policy.guards.base import EvalContext
from codor.policy.tokens import PREFIX, TokenVerifier, issue_token

T0 = 1_800_000_000.0


def ctx() -> EvalContext:
    return EvalContext(T0, "/workspace", "/home/user")


def read(path: str = "/workspace/a", agent: str = "a1", tok: str | None = None) -> Action:
    return Action.create("file.read", path=path, agent=agent, token=tok)


def test_untrusted_issuer_is_rejected() -> None:
    mine, theirs = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    tok = issue_token(theirs, agent="a1", kinds=["file.*"], now=T0, ttl=60)
    check = TokenVerifier([mine.public_key()]).check(tok, read(tok=tok), ctx())
    assert not check.valid and "not trusted" in check.reason


def test_tampered_claims_fail_the_signature() -> None:
    key = Ed25519PrivateKey.generate()
    tok = issue_token(key, agent="a1", kinds=["file.read"], now=T0, ttl=60)
    body, sig = tok[len(PREFIX):].split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["kinds"] = ["*"]
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = PREFIX + forged_body + "." + sig
    check = TokenVerifier([key.public_key()]).check(forged, read(tok=forged), ctx())
    assert not check.valid and "signature" in check.reason


def test_garbage_is_not_a_token() -> None:
    check = TokenVerifier([]).check("hello", read(), ctx())
    assert not check.valid


def test_path_scope_is_enforced() -> None:
    key = Ed25519PrivateKey.generate()
    tok = issue_token(key, agent="a1", kinds=["file.read"], paths=["/workspace/docs/**"],
                      now=T0, ttl=60, uses=10)
    verifier = TokenVerifier([key.public_key()], workspace="/workspace")
    assert verifier.check(tok, read("/workspace/docs/a.md", tok=tok), ctx()).valid
    outside = verifier.check(tok, read("/workspace/docs/../src/a.py", tok=tok), ctx())
    assert not outside.valid and "scope" in outside.reason


def test_kind_scope_is_enforced() -> None:
    key = Ed25519PrivateKey.generate()
    tok = issue_token(key, agent="a1", kinds=["file.read"], now=T0, ttl=60)
    write = Action.create("file.write", path="/workspace/a", content="x", agent="a1", token=tok)
    check = TokenVerifier([key.public_key()]).check(tok, write, ctx())
    assert not check.valid and "does not cover" in check.reason


def test_not_yet_valid() -> None:
    key = Ed25519PrivateKey.generate()
    tok = issue_token(key, agent="a1", kinds=["*"], now=T0 + 100, ttl=60)
    check = TokenVerifier([key.public_key()]).check(tok, read(tok=tok), ctx())
    assert not check.valid and "not yet valid" in check.reason


def test_each_use_is_counted_across_verifier_instances_sharing_a_counter() -> None:
    from codor.policy.tokens import MemoryUseCounter

    key = Ed25519PrivateKey.generate()
    counter = MemoryUseCounter()
    tok = issue_token(key, agent="a1", kinds=["*"], now=T0, ttl=60, uses=1)
    first = TokenVerifier([key.public_key()], counter=counter)
    second = TokenVerifier([key.public_key()], counter=counter)
    assert first.check(tok, read(tok=tok), ctx()).valid
    replay = second.check(tok, read(tok=tok), ctx())
    assert not replay.valid and "exhausted or replayed" in replay.reason
