"""Log keys (C2SP vkey/skey formats) and the on-disk key store."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.evidence.errors import KeyFileError
from codor.evidence.keys import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    KeyStore,
    LogKey,
    Verifier,
    b64decode_canonical,
    cosignature_message,
    key_id,
    valid_key_name,
)
from codor.ledger.checkpoint import Checkpoint, open_note, sign_note

# golang.org/x/mod/sumdb/note package documentation example.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

key_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=24,
).filter(valid_key_name)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------- formats


def test_go_vector_skey_and_vkey() -> None:
    key = LogKey.from_skey(GO_SKEY)
    assert key.name == "PeterNeumann"
    assert key.key_id_hex == "c74f20a3"
    assert key.vkey() == GO_VKEY
    assert key.skey() == GO_SKEY
    verifier = Verifier(GO_VKEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id == bytes.fromhex("c74f20a3")
    assert verifier.sig_type == SIG_ED25519
    assert verifier.public_key == key.public_key
    assert verifier == key.verifier()


def test_key_id_formula() -> None:
    key = LogKey.generate("example.com/log")
    digest = hashlib.sha256(b"example.com/log\n\x01" + key.public_key).digest()
    assert key.key_id == digest[:4]
    assert key_id("example.com/log", key.public_key) == digest[:4]
    cosig = hashlib.sha256(b"example.com/log\n\x04" + key.public_key).digest()[:4]
    assert key.cosigner_key_id == cosig
    assert key.cosigner_key_id != key.key_id


def test_vkey_and_skey_layout() -> None:
    key = LogKey.generate("log.example/a")
    name, hex_id, data = key.vkey().split("+", 2)
    assert (name, hex_id) == ("log.example/a", key.key_id_hex)
    assert base64.b64decode(data) == b"\x01" + key.public_key
    parts = key.skey().split("+", 4)
    assert parts[:4] == ["PRIVATE", "KEY", "log.example/a", key.key_id_hex]
    assert len(base64.b64decode(parts[4])) == 33


def test_cosigner_vkey_is_type_4() -> None:
    key = LogKey.generate("witness.example/w1")
    verifier = Verifier(key.cosigner_vkey())
    assert verifier.sig_type == SIG_COSIGNATURE_V1
    assert verifier.key_id == key.cosigner_key_id
    assert verifier == key.cosigner_verifier()
    assert verifier != key.verifier()


def test_sign_and_verify() -> None:
    key = LogKey.generate("a")
    verifier = key.verifier()
    sig = key.sign(b"message")
    assert len(sig) == 64
    assert verifier.verify(b"message", sig)
    assert not verifier.verify(b"messagE", sig)
    assert not verifier.verify(b"message", sig[:-1])
    assert not verifier.verify(b"message", bytes(64))
    assert not LogKey.generate("a").verifier().verify(b"message", sig)


def test_cosigner_verifier_checks_timestamped_message() -> None:
    key = LogKey.generate("w")
    verifier = key.cosigner_verifier()
    ts = 1_679_315_147
    sig = key.sign(cosignature_message(b"body\n", ts))
    assert verifier.verify(b"body\n", ts.to_bytes(8, "big") + sig)
    assert not verifier.verify(b"body\n", (ts + 1).to_bytes(8, "big") + sig)
    assert not verifier.verify(b"body\n", sig)  # no timestamp
    assert not verifier.verify(b"body\n", (2**63).to_bytes(8, "big") + sig)
    assert cosignature_message("b\n", 5) == b"cosignature/v1\ntime 5\nb\n"


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\x01b"]
)
def test_invalid_names(name: str) -> None:
    assert not valid_key_name(name)
    with pytest.raises(KeyFileError):
        LogKey.generate(name)


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+_74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAA==",
        "PeterNeumann+c74f20a3+",
    ],
)
def test_malformed_vkeys(vkey: str) -> None:
    with pytest.raises(KeyFileError):
        Verifier(vkey)


def test_unknown_type_byte_refused() -> None:
    key = LogKey.generate("n")
    raw = b"\x02" + key.public_key
    text = f"n+{key_id('n', key.public_key, 2).hex()}+{base64.b64encode(raw).decode()}"
    with pytest.raises(KeyFileError, match="not Ed25519"):
        Verifier(text)


def test_uppercase_key_id_accepted_and_normalised() -> None:
    upper = GO_VKEY.replace("c74f20a3", "C74F20A3")
    assert Verifier(upper).vkey == GO_VKEY


@pytest.mark.parametrize(
    "skey",
    [
        GO_SKEY.replace("PRIVATE+KEY", "PUBLIC+KEY"),
        GO_SKEY.replace("c74f20a3", "c74f20a4"),
        GO_SKEY.replace("PeterNeumann", "PeterNeumanx"),
        GO_SKEY[:-1],
        "PRIVATE+KEY+x",
        GO_VKEY,
    ],
)
def test_malformed_skeys(skey: str) -> None:
    with pytest.raises(KeyFileError) as info:
        LogKey.from_skey(skey)
    assert "AYEKFALVFGyNhPJEMzD1QIDr" not in str(info.value)


def test_secret_is_never_in_repr_or_pickle() -> None:
    key = LogKey.from_skey(GO_SKEY)
    secret = GO_SKEY.rsplit("+", 1)[1]
    assert secret not in repr(key)
    assert secret not in str(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_b64decode_canonical() -> None:
    assert b64decode_canonical("AAE=") == b"\x00\x01"
    assert b64decode_canonical("AAF=") is None  # stray padding bits
    assert b64decode_canonical("AAE") is None
    assert b64decode_canonical("AA E=") is None
    assert b64decode_canonical("é") is None


@settings(max_examples=40, deadline=None)
@given(name=key_names)
def test_generated_keys_round_trip(name: str) -> None:
    key = LogKey.generate(name)
    verifier = Verifier(key.vkey())
    assert (verifier.name, verifier.key_id) == (name, key.key_id)
    again = LogKey.from_skey(key.skey())
    assert again.vkey() == key.vkey()
    assert verifier.verify(b"x", again.sign(b"x"))


# ---------------------------------------------------------------------------- key store


def test_init_creates_key_files(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    key = store.init("example.com/log")
    assert mode(tmp_path / "keys") == 0o700
    assert mode(store.key_path) == 0o600
    assert mode(store.pub_path) == 0o644
    assert store.key_path.read_text() == key.skey() + "\n"
    assert store.pub_path.read_text() == key.vkey() + "\n"
    assert store.load().vkey() == key.vkey()
    assert store.verifiers() == [key.verifier()]
    leftovers = [p.name for p in store.directory.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    first = store.init("log")
    with pytest.raises(KeyFileError, match="already exists"):
        store.init("log")
    assert store.load().vkey() == first.vkey()


def test_init_modes_ignore_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = KeyStore(tmp_path)
        store.init("log")
    finally:
        os.umask(old)
    assert mode(store.key_path) == 0o600


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o660, 0o644, 0o700])
def test_load_refuses_group_or_other_access(tmp_path: Path, bad_mode: int) -> None:
    store = KeyStore(tmp_path)
    key = store.init("log")
    store.key_path.chmod(bad_mode)
    if bad_mode & 0o077 == 0:
        assert store.load().vkey() == key.vkey()
        return
    with pytest.raises(KeyFileError, match="chmod 600") as info:
        store.load()
    assert key.skey() not in str(info.value)


def test_load_refuses_symlink(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "a")
    store.init("log")
    other = KeyStore(tmp_path / "b")
    other.directory.mkdir()
    other.key_path.symlink_to(store.key_path)
    with pytest.raises(KeyFileError, match="symlink"):
        other.load()


def test_load_missing_and_corrupt(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(KeyFileError, match="run init"):
        store.load()
    with pytest.raises(KeyFileError, match="run init"):
        store.verifiers()
    key = store.init("log")
    # PRIVATE+KEY+<name>+<hash>+<base64>: the base64 may itself contain "+"
    secret = key.skey().split("+", 4)[4]
    assert len(secret) > 40
    store.key_path.write_text(key.skey().replace("+log+", "+lag+") + "\n")
    with pytest.raises(KeyFileError) as info:
        store.load()
    assert secret not in str(info.value)
    store.key_path.write_bytes(b"\xff" * 10)
    with pytest.raises(KeyFileError, match="UTF-8"):
        store.load()


def test_rotate_retires_old_public_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    old = store.init("example.com/log")
    cp = Checkpoint("example.com/log", 3, bytes(32))
    old_note = sign_note(cp.body(), [old])
    new = store.rotate()
    assert new.name == old.name
    assert new.vkey() != old.vkey()
    assert store.load().vkey() == new.vkey()
    assert mode(store.key_path) == 0o600
    retired = sorted(p.name for p in store.retired_dir.iterdir())
    assert retired == [f"{old.key_id_hex}.pub"]
    assert (store.retired_dir / retired[0]).read_text() == old.vkey() + "\n"
    verifiers = store.verifiers()
    assert verifiers == [new.verifier(), old.verifier()]
    assert open_note(old_note, verifiers)[1] == ["example.com/log"]
    assert open_note(sign_note(cp.body(), [new]), verifiers)[1] == ["example.com/log"]
    renamed = store.rotate("example.com/log2")
    assert renamed.name == "example.com/log2"
    assert len(store.verifiers()) == 3


def test_load_repairs_interrupted_rotation(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    old = store.init("log")
    new = store.rotate()
    # Simulate a crash after log.key was replaced but before log.pub was rewritten.
    store.pub_path.write_text(old.vkey() + "\n")
    assert store.load().vkey() == new.vkey()
    assert store.pub_path.read_text() == new.vkey() + "\n"
    assert store.verifiers() == [new.verifier(), old.verifier()]
    assert len(list(store.retired_dir.iterdir())) == 1


def test_init_retires_orphan_public_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    orphan = LogKey.generate("log")
    store.pub_path.write_text(orphan.vkey() + "\n")
    key = store.init("log")
    assert store.verifiers() == [key.verifier(), orphan.verifier()]


def test_malformed_public_key_file_is_reported(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.init("log")
    store.retired_dir.mkdir()
    bad = store.retired_dir / "bad.pub"
    bad.write_text("not a key\n")
    with pytest.raises(KeyFileError) as info:
        store.verifiers()
    assert info.value.location == str(bad)
    assert info.value.code == "E_KEY"
