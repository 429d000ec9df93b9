"""DSSE v1 envelopes (secure-systems-lab/dsse protocol.md) signed with Ed25519 log keys.

The signature is over the Pre-Authentication Encoding::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with lengths as ASCII decimal byte counts. The envelope is
``{"payload": base64(body), "payloadType": type, "signatures": [{"keyid", "sig"}]}``; ``keyid``
is the hex C2SP key id of the signing key (an unauthenticated hint only). Verifiers accept
standard or URL-safe base64, with or without padding, as DSSE requires.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from codor.evidence.errors import SignatureError
from codor.evidence.keys import SIG_ED25519, LogKey, Verifier

__all__ = ["pae", "sign_envelope", "verify_envelope"]


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 Pre-Authentication Encoding of ``payload_type`` and ``payload``."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise SignatureError(f"malformed DSSE envelope: {what} must be a base64 string")
    normal = text.replace("-", "+").replace("_", "/")
    normal += "=" * (-len(normal) % 4)
    try:
        return base64.b64decode(normal.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        raise SignatureError(f"malformed DSSE envelope: {what} is not base64") from None


def sign_envelope(
    payload: bytes, payload_type: str, key: LogKey | Sequence[LogKey]
) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` signed by ``key`` (or by each of several keys)."""
    if not isinstance(payload, bytes):
        raise TypeError("payload must be bytes")
    if not isinstance(payload_type, str) or not payload_type:
        raise SignatureError("a DSSE payload type must be a non-empty string")
    keys = [key] if isinstance(key, LogKey) else list(key)
    if not keys:
        raise SignatureError("a DSSE envelope needs at least one signing key")
    message = pae(payload_type, payload)
    return {
        "payload": _b64(payload),
        "payloadType": payload_type,
        "signatures": [{"keyid": k.key_id_hex, "sig": _b64(k.sign(message))} for k in keys],
    }


def verify_envelope(
    envelope: Mapping[str, Any],
    verifiers: Iterable[Verifier],
    *,
    payload_type: str | None = None,
    threshold: int = 1,
) -> bytes:
    """Verify a DSSE envelope; return its payload bytes.

    The envelope is accepted when signatures from at least ``threshold`` distinct trusted keys
    verify over the PAE (signatures that fail or come from unknown keys are skipped, as the
    DSSE multi-signature rule says). ``payload_type``, if given, must match exactly.
    Raises :class:`SignatureError` otherwise.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if not isinstance(envelope, Mapping):
        raise SignatureError("malformed DSSE envelope: not an object")
    kind = envelope.get("payloadType")
    if not isinstance(kind, str):
        raise SignatureError("malformed DSSE envelope: payloadType must be a string")
    payload = _unb64(envelope.get("payload"), "payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise SignatureError("malformed DSSE envelope: signatures must be a non-empty list")
    trusted = [v for v in verifiers if v.sig_type == SIG_ED25519]
    message = pae(kind, payload)
    accepted: set[str] = set()
    for entry in signatures:
        if not isinstance(entry, Mapping):
            raise SignatureError("malformed DSSE envelope: a signature must be an object")
        sig = _unb64(entry.get("sig"), "sig")
        hint = entry.get("keyid")
        candidates = [
            v
            for v in trusted
            if not hint or not isinstance(hint, str) or v.key_id_hex == hint.lower()
        ]
        for verifier in candidates:
            if verifier.vkey not in accepted and verifier.verify(message, sig):
                accepted.add(verifier.vkey)
                break
    if len(accepted) < threshold:
        raise SignatureError(
            f"DSSE envelope has {len(accepted)} valid signature(s) from trusted keys; "
            f"{threshold} required"
        )
    if payload_type is not None and kind != payload_type:
        raise SignatureError(f"unexpected DSSE payload type {kind!r}; expected {payload_type!r}")
    return payload
