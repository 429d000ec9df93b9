"""DSSE envelopes and in-toto statements, predicates and bundles."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.canonical import canonical_json
from codor.errors import InputError
from codor.evidence import intoto
from codor.evidence.dsse import pae, sign_envelope, verify_envelope
from codor.evidence.errors import SignatureError
from codor.evidence.keys import LogKey

KEY = LogKey.generate("example.com/log")
OTHER = LogKey.generate("example.com/other")
H1 = hashlib.sha256(b"one").hexdigest()
H2 = hashlib.sha256(b"two").hexdigest()
TYPE = "application/vnd.codor.test+json"


def urlsafe_unpadded(text: str) -> str:
    return base64.urlsafe_b64encode(base64.b64decode(text)).decode().rstrip("=")


# ---------------------------------------------------------------------------- PAE


def test_pae_spec_vector() -> None:
    # secure-systems-lab/dsse protocol.md test vector.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_lengths_are_byte_lengths() -> None:
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"


# ---------------------------------------------------------------------------- envelopes


def test_sign_envelope_shape_and_raw_signature() -> None:
    env = sign_envelope(b"hello", TYPE, KEY)
    assert set(env) == {"payload", "payloadType", "signatures"}
    assert env["payload"] == base64.b64encode(b"hello").decode()
    assert env["payloadType"] == TYPE
    assert env["signatures"] == [{"keyid": KEY.key_id_hex, "sig": env["signatures"][0]["sig"]}]
    sig = base64.b64decode(env["signatures"][0]["sig"])
    Ed25519PublicKey.from_public_bytes(KEY.public_key).verify(sig, pae(TYPE, b"hello"))
    assert verify_envelope(env, [KEY.verifier()]) == b"hello"
    assert verify_envelope(env, [KEY.verifier()], payload_type=TYPE) == b"hello"


def test_tampering_is_detected() -> None:
    env = sign_envelope(b"hello", TYPE, KEY)
    for change in (
        {"payload": base64.b64encode(b"hellO").decode()},
        {"payloadType": TYPE + "x"},
        {"signatures": [{"keyid": KEY.key_id_hex, "sig": base64.b64encode(bytes(64)).decode()}]},
    ):
        with pytest.raises(SignatureError):
            verify_envelope({**env, **change}, [KEY.verifier()])
    with pytest.raises(SignatureError):
        verify_envelope(env, [OTHER.verifier()])
    with pytest.raises(SignatureError):
        verify_envelope(env, [LogKey.generate(KEY.name).verifier()])
    with pytest.raises(SignatureError, match="payload type"):
        verify_envelope(env, [KEY.verifier()], payload_type="other")


def test_url_safe_and_unpadded_base64_accepted() -> None:
    env = sign_envelope(b"\xfb\xff\xfe payload", TYPE, KEY)
    relaxed = {
        "payload": urlsafe_unpadded(env["payload"]),
        "payloadType": TYPE,
        "signatures": [{"sig": urlsafe_unpadded(env["signatures"][0]["sig"])}],
    }
    assert verify_envelope(relaxed, [KEY.verifier()]) == b"\xfb\xff\xfe payload"


def test_keyid_is_only_a_hint() -> None:
    env = sign_envelope(b"x", TYPE, KEY)
    no_hint = {**env, "signatures": [{"sig": env["signatures"][0]["sig"]}]}
    assert verify_envelope(no_hint, [OTHER.verifier(), KEY.verifier()]) == b"x"
    upper = {**env, "signatures": [{**env["signatures"][0], "keyid": KEY.key_id_hex.upper()}]}
    assert verify_envelope(upper, [KEY.verifier()]) == b"x"
    wrong = {**env, "signatures": [{**env["signatures"][0], "keyid": OTHER.key_id_hex}]}
    with pytest.raises(SignatureError):
        verify_envelope(wrong, [KEY.verifier()])


def test_threshold_counts_distinct_trusted_keys() -> None:
    env = sign_envelope(b"x", TYPE, [KEY, OTHER])
    assert [s["keyid"] for s in env["signatures"]] == [KEY.key_id_hex, OTHER.key_id_hex]
    both = [KEY.verifier(), OTHER.verifier()]
    assert verify_envelope(env, both, threshold=2) == b"x"
    with pytest.raises(SignatureError, match="2 required"):
        verify_envelope(env, [KEY.verifier()], threshold=2)
    doubled = {**env, "signatures": [env["signatures"][0], env["signatures"][0]]}
    with pytest.raises(SignatureError):
        verify_envelope(doubled, both, threshold=2)
    # One bad signature is skipped when enough others verify (DSSE multi-signature rule).
    bad = {"keyid": "", "sig": base64.b64encode(bytes(64)).decode()}
    assert verify_envelope({**env, "signatures": [bad, *env["signatures"]]}, both) == b"x"
    with pytest.raises(ValueError):
        verify_envelope(env, both, threshold=0)


def test_witness_keys_do_not_verify_envelopes() -> None:
    env = sign_envelope(b"x", TYPE, KEY)
    with pytest.raises(SignatureError):
        verify_envelope(env, [KEY.cosigner_verifier()])


@pytest.mark.parametrize(
    "envelope",
    [
        [],
        {},
        {"payload": "eA==", "signatures": []},
        {"payload": "eA==", "payloadType": TYPE, "signatures": []},
        {"payload": "eA==", "payloadType": TYPE},
        {"payload": 5, "payloadType": TYPE, "signatures": [{"sig": "AA=="}]},
        {"payload": "e!A=", "payloadType": TYPE, "signatures": [{"sig": "AA=="}]},
        {"payload": "eA==", "payloadType": TYPE, "signatures": ["AA=="]},
        {"payload": "eA==", "payloadType": TYPE, "signatures": [{"sig": None}]},
        {"payload": "eA==", "payloadType": 1, "signatures": [{"sig": "AA=="}]},
    ],
)
def test_malformed_envelopes(envelope: Any) -> None:
    with pytest.raises(SignatureError):
        verify_envelope(envelope, [KEY.verifier()])


def test_sign_envelope_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        sign_envelope("text", TYPE, KEY)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        sign_envelope(b"x", "", KEY)
    with pytest.raises(SignatureError):
        sign_envelope(b"x", TYPE, [])


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=200), payload_type=st.text(min_size=1, max_size=40))
def test_envelope_round_trip(payload: bytes, payload_type: str) -> None:
    env = sign_envelope(payload, payload_type, KEY)
    assert json.loads(json.dumps(env)) == env
    assert verify_envelope(env, [KEY.verifier()], payload_type=payload_type) == payload


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(min_size=1, max_size=100), data=st.data())
def test_changed_payload_byte_fails(payload: bytes, data: st.DataObject) -> None:
    env = sign_envelope(payload, TYPE, KEY)
    index = data.draw(st.integers(0, len(payload) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != payload[index]), label="value")
    changed = payload[:index] + bytes([value]) + payload[index + 1 :]
    with pytest.raises(SignatureError):
        verify_envelope({**env, "payload": base64.b64encode(changed).decode()}, [KEY.verifier()])


# ---------------------------------------------------------------------------- in-toto


def test_statement_shape() -> None:
    stmt = intoto.statement({"b.txt": H2.upper(), "a.txt": H1}, "https://example/p/v1", {"k": 1})
    assert stmt == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "a.txt", "digest": {"sha256": H1}},
            {"name": "b.txt", "digest": {"sha256": H2}},
        ],
        "predicateType": "https://example/p/v1",
        "predicate": {"k": 1},
    }


@pytest.mark.parametrize(
    ("subjects", "predicate_type", "predicate"),
    [
        ({}, "t", {}),
        ({"a": "abc"}, "t", {}),
        ({"a": H1 + "0"}, "t", {}),
        ({"a": "g" * 64}, "t", {}),
        ({"": H1}, "t", {}),
        ({"a": H1}, "", {}),
        ({"a": H1}, "t", []),
    ],
)
def test_statement_rejects(subjects: Any, predicate_type: str, predicate: Any) -> None:
    with pytest.raises(InputError):
        intoto.statement(subjects, predicate_type, predicate)


def test_link_predicate_and_statement() -> None:
    pred = intoto.link_predicate(
        ["pytest", "-q"], {"src/a.py": H1}, {"return-value": 0}, name="test"
    )
    assert pred == {
        "name": "test",
        "command": ["pytest", "-q"],
        "materials": [{"name": "src/a.py", "digest": {"sha256": H1}}],
        "byproducts": {"return-value": 0},
        "environment": {},
    }
    stmt = intoto.link_statement("build", ["make"], {"src": H1}, {"out.bin": H2})
    assert stmt["predicateType"] == "https://in-toto.io/attestation/link/v0.3"
    assert stmt["subject"] == [{"name": "out.bin", "digest": {"sha256": H2}}]
    assert "products" not in stmt["predicate"]
    descriptors = [{"name": "x", "digest": {"sha256": H1}, "uri": "file:x"}]
    assert intoto.link_predicate([], descriptors, name="s")["materials"] == descriptors


def test_link_predicate_rejects() -> None:
    with pytest.raises(InputError):
        intoto.link_predicate("make all", {}, name="s")
    with pytest.raises(InputError):
        intoto.link_predicate(["make"], {}, name="")
    dup = [{"name": "x", "digest": {"sha256": H1}}, {"name": "x", "digest": {"sha256": H2}}]
    with pytest.raises(InputError, match="unique"):
        intoto.link_predicate(["make"], dup, name="s")
    with pytest.raises(InputError):
        intoto.link_predicate(["make"], [{"name": "x"}], name="s")


def test_test_result_predicate() -> None:
    pred = intoto.test_result_predicate("PASSED", ["t1", "t2"], [])
    assert pred == {
        "result": "PASSED",
        "configuration": [],
        "passedTests": ["t1", "t2"],
        "warnedTests": [],
        "failedTests": [],
    }
    full = intoto.test_result_predicate(
        "FAILED", ["t1"], ["t2"], {"pyproject.toml": H1}, warned=["t3"], url="https://ci/run/1"
    )
    assert full["configuration"] == [{"name": "pyproject.toml", "digest": {"sha256": H1}}]
    assert (full["failedTests"], full["warnedTests"], full["url"]) == (
        ["t2"],
        ["t3"],
        "https://ci/run/1",
    )
    stmt = intoto.statement({"pkg": H1}, intoto.TEST_RESULT_PREDICATE_TYPE, full)
    assert stmt["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"


def test_test_result_predicate_rejects() -> None:
    with pytest.raises(InputError):
        intoto.test_result_predicate("passed", [], [])
    with pytest.raises(InputError, match="PASSED"):
        intoto.test_result_predicate("PASSED", [], ["broken"])
    with pytest.raises(InputError):
        intoto.test_result_predicate("WARNED", "t1", [])
    with pytest.raises(InputError):
        intoto.test_result_predicate("WARNED", [1], [])  # type: ignore[list-item]


def test_sign_and_verify_statement() -> None:
    stmt = intoto.link_statement("run", ["echo", "hi"], {}, {"out": H1})
    env = intoto.sign_statement(stmt, KEY)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(env["payload"]) == canonical_json(stmt)
    assert intoto.verify_statement(env, [KEY.verifier()]) == stmt
    with pytest.raises(SignatureError):
        intoto.verify_statement(env, [OTHER.verifier()])
    not_statement = sign_envelope(b'{"_type": "x"}', intoto.PAYLOAD_TYPE, KEY)
    with pytest.raises(SignatureError, match="Statement"):
        intoto.verify_statement(not_statement, [KEY.verifier()])
    not_json = sign_envelope(b"{", intoto.PAYLOAD_TYPE, KEY)
    with pytest.raises(SignatureError, match="JSON"):
        intoto.verify_statement(not_json, [KEY.verifier()])
    with pytest.raises(InputError):
        intoto.sign_statement({"_type": "other"}, KEY)


def test_bundle_lines_round_trip() -> None:
    envs = [
        intoto.sign_statement(intoto.statement({"a": H1}, "t", {"note": "x\u2028y"}), KEY),
        intoto.sign_statement(intoto.statement({"b": H2}, "t", {}), OTHER),
    ]
    text = intoto.bundle_lines(envs)
    assert text.count("\n") == 2 and text.endswith("\n")
    assert [json.loads(line) for line in text.split("\n")[:-1]] == envs
    assert text.split("\n")[0] == canonical_json(envs[0]).decode()
    assert intoto.parse_bundle(text) == envs
    assert intoto.parse_bundle(text + "\n\n") == envs
    assert intoto.bundle_lines([]) == ""
    unicode_line = canonical_json({"payload": "x\u2028y"}).decode()
    assert intoto.parse_bundle(unicode_line + "\n") == [{"payload": "x\u2028y"}]


def test_parse_bundle_rejects() -> None:
    with pytest.raises(InputError) as info:
        intoto.parse_bundle('{"a": 1}\nnot json\n')
    assert info.value.location == "line 2"
    with pytest.raises(InputError):
        intoto.parse_bundle("[1]\n")
