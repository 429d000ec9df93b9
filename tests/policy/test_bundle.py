"""Signed policy bundles: DSSE envelopes over the policy YAML, Ed25519, trusted keys from
``.codor/policy-keys/*.pub``; every kind of tampering is an ``E_BUNDLE`` error; and the
``codor policy sign|verify-bundle|keygen`` commands."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from codor.cli.main import main
from codor.evidence.dsse import pae
from codor.evidence.keys import LogKey, Verifier
from codor.policy.bundle import (
    PAYLOAD_TYPE,
    PolicyBundleError,
    is_bundle_ref,
    materialize,
    policy_files_ok,
    read_signing_key,
    sign_bundle,
    trusted_keys,
    verify_bundle,
)

POLICY = "version: 1\nname: signed\nextends: [codor:default]\n# é ünïcode\n"


@pytest.fixture
def alice() -> LogKey:
    return LogKey.generate("alice")


def test_a_signed_bundle_verifies_and_names_its_signer(alice: LogKey) -> None:
    data = sign_bundle(POLICY, alice)
    envelope = json.loads(data)
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert base64.b64decode(envelope["payload"]).decode() == POLICY
    assert envelope["signatures"][0]["keyid"] == alice.key_id_hex
    # the signature is Ed25519 over DSSE's PAE, checkable without CODOR's verifier
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    assert alice.verifier().verify(pae(PAYLOAD_TYPE, POLICY.encode()), sig)
    bob = LogKey.generate("bob")
    text, keyid = verify_bundle(data, [bob.verifier(), alice.verifier()])
    assert text == POLICY and keyid == alice.key_id_hex


def test_several_signers_any_trusted_one_suffices(alice: LogKey) -> None:
    bob = LogKey.generate("bob")
    data = sign_bundle(POLICY, [alice, bob])
    assert verify_bundle(data, [bob.verifier()]) == (POLICY, bob.key_id_hex)


def tampered(data: bytes, **changes: object) -> bytes:
    envelope = json.loads(data)
    envelope.update(changes)
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("case", ["payload", "type", "sig", "no-sigs", "keyid-lies",
                                  "not-json", "not-object", "bad-base64", "sig-not-string"])
def test_any_tampering_is_refused_with_e_bundle(alice: LogKey, case: str) -> None:
    data = sign_bundle(POLICY, alice)
    env = json.loads(data)
    other = base64.b64encode(POLICY.replace("default", "permissive").encode()).decode()
    sig = env["signatures"][0]
    bad = {
        "payload": tampered(data, payload=other),
        "type": tampered(data, payloadType="application/json"),
        "sig": tampered(data, signatures=[{**sig, "sig": base64.b64encode(bytes(64)).decode()}]),
        "no-sigs": tampered(data, signatures=[]),
        "keyid-lies": tampered(data, signatures=[{**sig, "keyid": "00000000"}]),
        "not-json": b"{not json",
        "not-object": b"[1, 2]",
        "bad-base64": tampered(data, payload="***"),
        "sig-not-string": tampered(data, signatures=[{"keyid": sig["keyid"], "sig": 5}]),
    }[case]
    with pytest.raises(PolicyBundleError) as info:
        verify_bundle(bad, [alice.verifier()])
    assert info.value.code == "E_BUNDLE"


def test_an_untrusted_signer_or_no_trusted_keys_is_refused(alice: LogKey) -> None:
    data = sign_bundle(POLICY, alice)
    with pytest.raises(PolicyBundleError, match="not trusted"):
        verify_bundle(data, [LogKey.generate("mallory").verifier()])
    with pytest.raises(PolicyBundleError, match="no trusted policy signer keys"):
        verify_bundle(data, [])


def test_a_payload_that_is_not_utf8_is_refused(alice: LogKey) -> None:
    from codor.evidence.dsse import sign_envelope

    data = json.dumps(sign_envelope(b"\xff\xfe", PAYLOAD_TYPE, alice)).encode()
    with pytest.raises(PolicyBundleError, match="not UTF-8"):
        verify_bundle(data, [alice.verifier()])


def test_trusted_keys_files_hold_vkeys_one_per_line_with_comments(tmp_path: Path,
                                                                 alice: LogKey) -> None:
    bob = LogKey.generate("bob")
    keys = tmp_path / "policy-keys"
    keys.mkdir()
    (keys / "team.pub").write_text(f"# the policy team\n\n{alice.vkey()}\n  {bob.vkey()}  \n")
    (keys / "dup.pub").write_text(alice.vkey() + "\n")
    (keys / "ignored.txt").write_text("not a key")
    found = trusted_keys(tmp_path)
    assert found == [Verifier(alice.vkey()), Verifier(bob.vkey())]
    (keys / "bad.pub").write_text("# ok\nnot-a-key\n")
    with pytest.raises(PolicyBundleError) as info:
        trusted_keys(tmp_path)
    assert info.value.location is not None and info.value.location.endswith("bad.pub:2")
    assert trusted_keys(tmp_path / "nowhere") == []


def test_signing_keys_must_be_private_files(tmp_path: Path, alice: LogKey) -> None:
    path = tmp_path / "alice.key"
    path.write_text(alice.skey() + "\n")
    path.chmod(0o644)
    with pytest.raises(PolicyBundleError, match="group or others"):
        read_signing_key(path)
    path.chmod(0o600)
    assert read_signing_key(path).vkey() == alice.vkey()
    link = tmp_path / "link.key"
    link.symlink_to(path)
    with pytest.raises(PolicyBundleError):
        read_signing_key(link)
    (tmp_path / "junk.key").write_text("PRIVATE+KEY+x")
    (tmp_path / "junk.key").chmod(0o600)
    with pytest.raises(PolicyBundleError, match="not a signer key"):
        read_signing_key(tmp_path / "junk.key")


def test_materialize_is_content_named_and_files_check(tmp_path: Path) -> None:
    path = materialize(POLICY, tmp_path / "p")
    assert path.read_text() == POLICY and path.name.endswith(".yaml")
    assert materialize(POLICY, tmp_path / "p") == path
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert policy_files_ok(["codor:default", str(path)], path) is None
    problem = policy_files_ok(["codor:default", "/etc/other.yaml", str(path)], path)
    assert problem is not None and "/etc/other.yaml" in problem
    assert is_bundle_ref("x/policy.bundle.json") and not is_bundle_ref("policy.yaml")


def test_cli_keygen_sign_and_verify_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    ws = tmp_path / "ws"
    (ws / ".codor" / "policy-keys").mkdir(parents=True)
    assert main(["policy", "keygen", "ops", "--out", str(tmp_path / "keys")]) == 0
    vkey = capsys.readouterr().out.strip()
    assert Verifier(vkey).name == "ops"
    assert os.stat(tmp_path / "keys" / "ops.key").st_mode & 0o777 == 0o600
    assert main(["policy", "keygen", "ops", "--out", str(tmp_path / "keys")]) == 2  # exists
    capsys.readouterr()
    policy = tmp_path / "team.yaml"
    policy.write_text(POLICY)
    assert main(["policy", "sign", str(policy), "--key", str(tmp_path / "keys" / "ops.key")]
                ) == 0
    bundle = tmp_path / "team.bundle.json"
    assert verify_bundle(bundle.read_bytes(), [Verifier(vkey)])[0] == POLICY
    capsys.readouterr()
    # not trusted yet
    assert main(["policy", "verify-bundle", str(bundle), "-w", str(ws)]) == 2
    assert "E_BUNDLE" in capsys.readouterr().err
    # trusted with --key-file, then from .codor/policy-keys/
    assert main(["policy", "verify-bundle", str(bundle), "-w", str(ws), "--key-file",
                 str(tmp_path / "keys" / "ops.pub")]) == 0
    assert f"signed by {vkey.split('+')[0]}+{vkey.split('+')[1]}" in capsys.readouterr().out
    (ws / ".codor" / "policy-keys" / "ops.pub").write_text(vkey + "\n")
    assert main(["policy", "verify-bundle", str(bundle), "-w", str(ws), "--print"]) == 0
    assert capsys.readouterr().out == POLICY
    bundle.write_bytes(bundle.read_bytes().replace(b'"payloadType"', b'"payloadtype"'))
    assert main(["policy", "verify-bundle", str(bundle), "-w", str(ws)]) == 2
