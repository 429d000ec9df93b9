"""Checkpoints as C2SP signed notes, and tlog-cosignature witness cosignatures."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.evidence.errors import CheckpointError, SignatureError
from codor.evidence.keys import LogKey, Verifier, valid_key_name
from codor.ledger.checkpoint import (
    MAX_SIGNATURES,
    Checkpoint,
    add_signatures,
    cosign,
    open_checkpoint,
    open_note,
    parse_body,
    sign_note,
    split_note,
    verify_cosignature,
)

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# The example checkpoint body of c2sp.org/tlog-checkpoint.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

ROOT = hashlib.sha256(b"root").digest()
ERRORS = (CheckpointError, SignatureError)

LOG = LogKey.generate("example.com/log")
WITNESS = LogKey.generate("witness.example/w1")

line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
)
checkpoints = st.builds(
    Checkpoint,
    origin=line_text,
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=2).map(tuple),
)
key_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=16,
).filter(valid_key_name)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def twin(data: str) -> str:
    """Another base64 text of the same bytes: flip an unused bit of the last data character."""
    assert data.endswith("=") and not data.endswith("==")
    flipped = data[:-2] + ALPHABET[ALPHABET.index(data[-2]) ^ 1] + "="
    assert flipped != data and base64.b64decode(flipped) == base64.b64decode(data)
    return flipped


# ---------------------------------------------------------------------------- body


def test_body_format() -> None:
    cp = Checkpoint("example.com/log", 5, ROOT)
    assert cp.body() == f"example.com/log\n5\n{b64(ROOT)}\n"
    ext = Checkpoint("o", 0, ROOT, ("ext one", "ext two"))
    assert ext.body() == f"o\n0\n{b64(ROOT)}\next one\next two\n"


def test_parse_spec_example() -> None:
    cp = parse_body(SPEC_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.body() == SPEC_BODY


@pytest.mark.parametrize(
    "text",
    [
        SPEC_BODY[:-1],
        "o\n1\n",
        f"o\n01\n{b64(ROOT)}\n",
        f"o\n+1\n{b64(ROOT)}\n",
        f"o\n 1\n{b64(ROOT)}\n",
        f"o\n\uff11\n{b64(ROOT)}\n",
        f"o\n-1\n{b64(ROOT)}\n",
        f"o\n{2**64}\n{b64(ROOT)}\n",
        "o\n1\nnot base64!\n",
        f"o\n1\n{b64(ROOT[:31])}\n",
        f"o\n1\n{twin(b64(ROOT))}\n",  # non-canonical padding bits
        f"o\n1\n{b64(ROOT)}\n\n",  # empty extension line
        f"\n1\n{b64(ROOT)}\n",  # empty origin
        f"o\r\n1\n{b64(ROOT)}\n",
    ],
)
def test_parse_body_rejects(text: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse_body(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"root": ROOT[:31]},
        {"extensions": ["x"]},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
    ],
)
def test_checkpoint_validation(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"origin": "o", "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(CheckpointError):
        Checkpoint(**args)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- signed notes


def test_go_vector_sign_and_open() -> None:
    key = LogKey.from_skey(GO_SKEY)
    assert sign_note(GO_TEXT, [key]) == GO_NOTE
    assert open_note(GO_NOTE, [Verifier(GO_VKEY)]) == (GO_TEXT, ["PeterNeumann"])
    assert open_note(GO_NOTE.encode(), [Verifier(GO_VKEY)])[1] == ["PeterNeumann"]


def test_note_layout() -> None:
    cp = Checkpoint("example.com/log", 7, ROOT)
    note = sign_note(cp.body(), [LOG])
    body, sigs = split_note(note)
    assert body == cp.body()
    assert note == body + "\n" + sigs[0].line
    assert sigs[0].line.startswith("\u2014 example.com/log ")
    raw = base64.b64decode(sigs[0].line.split(" ")[2])
    assert raw[:4] == LOG.key_id and len(raw) == 68
    Ed25519PublicKey.from_public_bytes(LOG.public_key).verify(raw[4:], body.encode())
    assert open_checkpoint(note, [LOG.verifier()]) == (cp, ["example.com/log"])


def test_multiple_signers_and_unknown_keys() -> None:
    other = LogKey.generate("mirror.example")
    note = sign_note(SPEC_BODY, [LOG, other])
    assert open_note(note, [LOG.verifier(), other.verifier()])[1] == [
        "example.com/log",
        "mirror.example",
    ]
    assert open_note(note, [other.verifier()])[1] == ["mirror.example"]
    with pytest.raises(SignatureError, match="no valid signature"):
        open_note(note, [LogKey.generate("stranger").verifier()])
    with pytest.raises(SignatureError):
        open_note(note, [])


def test_same_name_other_key_fails() -> None:
    note = sign_note(SPEC_BODY, [LOG])
    impostor = LogKey.generate(LOG.name)
    with pytest.raises(SignatureError, match="no valid signature"):
        open_note(note, [impostor.verifier()])
    # A forged line that reuses the real key id but carries the impostor's signature is a
    # known key whose signature fails: the whole note is rejected.
    forged_sig = b64(LOG.key_id + impostor.sign(SPEC_BODY.encode()))
    forged = f"{SPEC_BODY}\n\u2014 {LOG.name} {forged_sig}\n"
    with pytest.raises(SignatureError, match="invalid signature"):
        open_note(forged, [LOG.verifier()])
    # ... even when another trusted key did sign it correctly.
    with pytest.raises(SignatureError, match="invalid signature"):
        open_note(
            forged + sign_note(SPEC_BODY, [WITNESS]).split("\n\n")[1],
            [
                LOG.verifier(),
                WITNESS.verifier(),
            ],
        )


def test_ambiguous_verifiers_refused() -> None:
    a = LOG.verifier()
    same = Verifier(a.vkey)
    assert same == a  # the same key twice is fine
    assert open_note(sign_note(SPEC_BODY, [LOG]), [a, same])[1] == [LOG.name]
    # Two different keys with the same name and key id (a 32-bit collision, simulated).
    clash = LogKey.generate(LOG.name).verifier()
    clash.key_id = a.key_id
    with pytest.raises(SignatureError, match="ambiguous"):
        open_note(sign_note(SPEC_BODY, [LOG]), [a, clash])


def test_sixteen_signatures_accepted_and_limit() -> None:
    keys = [LogKey.generate(f"k{i}") for i in range(16)]
    note = sign_note(SPEC_BODY, keys)
    assert len(open_note(note, [k.verifier() for k in keys])[1]) == 16
    line = split_note(note)[1][0].line
    too_many = SPEC_BODY + "\n" + line * (MAX_SIGNATURES + 1)
    with pytest.raises(CheckpointError, match="more than"):
        open_note(too_many, [keys[0].verifier()])


GOOD = sign_note(SPEC_BODY, [LOG])
GOOD_LINE = GOOD.split("\n\n")[1]


@pytest.mark.parametrize(
    "note",
    [
        SPEC_BODY,  # no signatures
        SPEC_BODY + "\n",  # blank line, no signature lines
        GOOD[:-1],  # no final newline
        GOOD.replace("\u2014 ", "- "),
        GOOD.replace("\u2014 ", "\u2014"),
        GOOD.replace("example.com/log ", "example.com/log  "),
        GOOD.replace("example.com/log ", "example.com/log+x "),
        GOOD.replace(GOOD_LINE.split(" ")[2], "AAAA\n"),  # signature shorter than 5 bytes
        GOOD.replace(GOOD_LINE.split(" ")[2], "!!!!\n"),
        GOOD.replace("example.com", "example\r.com", 1),
        GOOD.replace("\n\n", "\n\t\n"),
        "\ud800" + GOOD,
    ],
)
def test_malformed_notes(note: str) -> None:
    with pytest.raises(CheckpointError):
        open_note(note, [LOG.verifier()])


def test_invalid_utf8_note() -> None:
    with pytest.raises(CheckpointError, match="UTF-8"):
        open_note(b"\xff" + GOOD.encode(), [LOG.verifier()])


def test_sign_note_rejects_bad_input() -> None:
    with pytest.raises(CheckpointError):
        sign_note("no newline", [LOG])
    with pytest.raises(CheckpointError):
        sign_note("a\x00\n", [LOG])
    with pytest.raises(SignatureError):
        sign_note(SPEC_BODY, [])
    with pytest.raises(SignatureError, match="twice"):
        sign_note(SPEC_BODY, [LOG, LOG])


def test_non_canonical_signature_base64_rejected() -> None:
    data = GOOD_LINE.split(" ")[2].rstrip("\n")
    with pytest.raises(CheckpointError):
        open_note(GOOD.replace(data, twin(data)), [LOG.verifier()])


# ---------------------------------------------------------------------------- cosignatures


def test_cosignature_format_and_verification() -> None:
    cp = parse_body(SPEC_BODY)
    line = cosign(cp, WITNESS, 1679315147)
    assert line.startswith("\u2014 witness.example/w1 ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert len(raw) == 4 + 8 + 64
    expected_id = hashlib.sha256(b"witness.example/w1\n\x04" + WITNESS.public_key).digest()[:4]
    assert raw[:4] == expected_id == WITNESS.cosigner_key_id
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()
    Ed25519PublicKey.from_public_bytes(WITNESS.public_key).verify(raw[12:], message)
    witness = WITNESS.cosigner_verifier()
    assert verify_cosignature(cp, line, witness) == 1679315147
    assert verify_cosignature(SPEC_BODY, line.rstrip("\n"), witness) == 1679315147


def test_cosigned_checkpoint_note() -> None:
    cp = Checkpoint("example.com/log", 42, ROOT)
    note = add_signatures(sign_note(cp.body(), [LOG]), [cosign(cp, WITNESS, 1700000000)])
    witness = WITNESS.cosigner_verifier()
    assert open_note(note, [LOG.verifier(), witness])[1] == ["example.com/log", WITNESS.name]
    assert open_note(note, [LOG.verifier()])[1] == ["example.com/log"]
    assert verify_cosignature(cp, note, witness) == 1700000000
    other = Checkpoint("example.com/log", 43, ROOT)
    with pytest.raises(SignatureError, match="not this checkpoint"):
        verify_cosignature(other, note, witness)
    with pytest.raises(SignatureError, match="no cosignature"):
        verify_cosignature(cp, sign_note(cp.body(), [LOG]), witness)


def test_cosignature_tampering_fails() -> None:
    cp = Checkpoint("example.com/log", 42, ROOT)
    line = cosign(cp, WITNESS, 1700000000)
    witness = WITNESS.cosigner_verifier()
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # timestamp
    bad = f"\u2014 {WITNESS.name} {b64(bytes(raw))}\n"
    with pytest.raises(SignatureError, match="invalid cosignature"):
        verify_cosignature(cp, bad, witness)
    with pytest.raises(SignatureError):
        verify_cosignature(Checkpoint("example.com/log", 41, ROOT), line, witness)
    with pytest.raises(SignatureError, match="not a witness"):
        verify_cosignature(cp, line, WITNESS.verifier())
    # A plain (type 0x01) note signature by the witness key is not a cosignature.
    plain = sign_note(cp.body(), [WITNESS]).split("\n\n")[1]
    with pytest.raises(SignatureError, match="no cosignature"):
        verify_cosignature(cp, plain, witness)
    note = add_signatures(sign_note(cp.body(), [LOG]), [bad])
    with pytest.raises(SignatureError):
        open_note(note, [LOG.verifier(), witness])


def test_cosign_rejects_bad_timestamps() -> None:
    cp = Checkpoint("o", 1, ROOT)
    for ts in (-1, 2**63, True):
        with pytest.raises(CheckpointError):
            cosign(cp, WITNESS, ts)
    assert verify_cosignature(cp, cosign(cp, WITNESS, 2**63 - 1), WITNESS.cosigner_verifier())
    with pytest.raises(CheckpointError):
        add_signatures(GOOD, ["not a signature line\n"])
    with pytest.raises(CheckpointError):
        verify_cosignature(cp, "a\nb", WITNESS.cosigner_verifier())


# ---------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(cp=checkpoints, names=st.lists(key_names, min_size=1, max_size=3, unique=True))
def test_sign_open_round_trip(cp: Checkpoint, names: list[str]) -> None:
    keys = [LogKey.generate(n) for n in names]
    note = sign_note(cp.body(), keys)
    body, verified = open_note(note, [k.verifier() for k in keys])
    assert body == cp.body()
    assert verified == names
    assert Checkpoint.parse_body(body) == cp


@settings(max_examples=150, deadline=None)
@given(cp=checkpoints, data=st.data())
def test_any_changed_byte_fails(cp: Checkpoint, data: st.DataObject) -> None:
    note = sign_note(cp.body(), [LOG]).encode("utf-8")
    index = data.draw(st.integers(min_value=0, max_value=len(note) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != note[index]), label="value")
    changed = note[:index] + bytes([value]) + note[index + 1 :]
    with pytest.raises(ERRORS):
        open_note(changed, [LOG.verifier()])


@settings(max_examples=100, deadline=None)
@given(cp=checkpoints, data=st.data())
def test_changed_byte_never_keeps_every_signature(cp: Checkpoint, data: st.DataObject) -> None:
    note = add_signatures(sign_note(cp.body(), [LOG, WITNESS]), [cosign(cp, WITNESS, 12345)])
    raw = note.encode()
    verifiers = [LOG.verifier(), WITNESS.verifier(), WITNESS.cosigner_verifier()]
    assert all(open_note(raw, [v]) for v in verifiers)
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]), label="value")
    changed = raw[:index] + bytes([value]) + raw[index + 1 :]
    # A line whose name or key id was altered becomes "unknown" and is ignored, so the note
    # may still open for the other keys, but never for all three.
    still_valid = 0
    for verifier in verifiers:
        try:
            open_note(changed, [verifier])
        except ERRORS:
            continue
        still_valid += 1
    assert still_valid < 3


@settings(max_examples=40, deadline=None)
@given(cp=checkpoints)
def test_other_key_with_same_name_fails(cp: Checkpoint) -> None:
    impostor = LogKey.generate(LOG.name)
    with pytest.raises(SignatureError):
        open_note(sign_note(cp.body(), [impostor]), [LOG.verifier()])
