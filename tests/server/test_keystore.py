"""API keys: tokens shown once, stored as hashes, checked in constant time, revocable."""

from __future__ import annotations

from pathlib import Path

import pytest

from codor.server.keys import KeyError_, KeyStore
from codor.statedb import StateDB


def store(tmp_path: Path) -> KeyStore:
    return KeyStore(StateDB.open(tmp_path / "state.db"))


def test_a_token_verifies_to_its_key_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    keys = store(tmp_path)
    key, token = keys.create("ci", "agent")
    assert token.startswith(f"codor_{key.id}_") and keys.verify(token) == key
    secret = token.rsplit("_", 1)[1]
    raw = (tmp_path / "state.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("state.db-*"))
    assert secret.encode() not in raw


def test_wrong_malformed_and_revoked_tokens_fail(tmp_path: Path) -> None:
    keys = store(tmp_path)
    key, token = keys.create("ci", "operator")
    assert keys.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert keys.verify("codor_zz_" + "x" * 43) is None and keys.verify("") is None
    assert keys.verify(f"codor_{'0' * 16}_{'x' * 43}") is None
    assert keys.revoke(key.id).revoked is not None
    assert keys.verify(token) is None
    with pytest.raises(KeyError_, match="no API key"):
        keys.revoke("ffffffffffffffff")


def test_roles_and_names_are_checked(tmp_path: Path) -> None:
    keys = store(tmp_path)
    with pytest.raises(KeyError_, match="unknown role 'root'"):
        keys.create("x", "root")
    with pytest.raises(KeyError_, match="name"):
        keys.create("  ", "admin")
    assert not keys.has_role("admin")
    keys.create("first admin", "admin")
    assert keys.has_role("admin") and [k.role for k in keys.list()] == ["admin"]


def test_another_handle_sees_a_revocation_once_its_cache_expires(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    a, b = store(tmp_path), store(tmp_path)
    key, token = a.create("shared", "agent")
    assert b.verify(token) == key
    a.revoke(key.id)
    import codor.server.keys as mod

    monkeypatch.setattr(mod, "_CACHE_S", 0.0)  # the cache's lifetime, not the behaviour
    assert b.verify(token) is None
