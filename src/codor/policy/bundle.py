"""Signed policy bundles: a policy's YAML in a DSSE envelope signed with Ed25519.

A bundle is one JSON object, a DSSE v1 envelope (:mod:`codor.evidence.dsse`)::

    {"payload": "<base64 of the policy YAML bytes>",
     "payloadType": "application/vnd.codor.policy+yaml",
     "signatures": [{"keyid": "<8 hex digits>", "sig": "<base64 Ed25519 signature>"}]}

The signature covers DSSE's pre-authentication encoding of the payload type and the YAML
bytes, so neither can be swapped. ``keyid`` is the signer's C2SP key id (a hint only: every
trusted key is tried).

**Signing keys** are C2SP signer keys (the format of ``.codor/keys/log.key``), one per file,
mode 0600: ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>``
(``codor policy keygen NAME`` writes one and its public half).

**Trusted signers** are the files ``.codor/policy-keys/*.pub``: each holds one or more C2SP
verifier keys, ``<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>``, one per line;
blank lines and lines starting with ``#`` are ignored. A bundle is accepted when one of them
signed it.

A signed policy should stand alone: a bundle whose policy ``extends`` a file (rather than a
built-in ``codor:`` ruleset) would let unsigned text change it, so :func:`policy_files_ok`
lets the daemon refuse such bundles after loading them.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from codor.errors import CodorError
from codor.evidence.keys import LogKey, Verifier

__all__ = [
    "MAX_BUNDLE_BYTES",
    "PAYLOAD_TYPE",
    "POLICY_KEYS_DIR",
    "PolicyBundleError",
    "is_bundle_ref",
    "materialize",
    "policy_files_ok",
    "read_signing_key",
    "sign_bundle",
    "trusted_keys",
    "verify_bundle",
]

PAYLOAD_TYPE: Final = "application/vnd.codor.policy+yaml"
#: the directory (under the workspace's ``.codor/``) of trusted policy signers' keys
POLICY_KEYS_DIR: Final = "policy-keys"
MAX_BUNDLE_BYTES: Final = 4 * 1024 * 1024
_BUNDLE_SUFFIX: Final = ".bundle.json"
_MAX_KEY_FILE: Final = 64 * 1024


class PolicyBundleError(CodorError):
    """A policy bundle that cannot be used: malformed, unsigned, signed by no trusted key,
    not UTF-8, or a signing or trusted key that cannot be read."""

    code = "E_BUNDLE"


def is_bundle_ref(ref: str | os.PathLike[str]) -> bool:
    """Whether a policy reference names a signed bundle (``*.bundle.json``)."""
    return str(ref).endswith(_BUNDLE_SUFFIX)


def sign_bundle(policy_text: str, key: LogKey | Sequence[LogKey]) -> bytes:
    """The bundle of ``policy_text`` signed by ``key`` (or by each of several keys)."""
    from codor.evidence.dsse import sign_envelope
    from codor.evidence.errors import SignatureError

    if not isinstance(policy_text, str):
        raise PolicyBundleError("the policy must be text")
    try:
        envelope = sign_envelope(policy_text.encode("utf-8"), PAYLOAD_TYPE, key)
    except (SignatureError, UnicodeEncodeError) as exc:
        raise PolicyBundleError(f"cannot sign the policy: {exc}") from None
    return (json.dumps(envelope, indent=1) + "\n").encode("ascii")


def verify_bundle(data: bytes | str, trusted: Iterable[Verifier]) -> tuple[str, str]:
    """``(policy_text, keyid)`` of a bundle one of the ``trusted`` keys signed (``keyid``:
    the hex key id of the first trusted key whose signature verifies). Raises
    :class:`PolicyBundleError` on any failure."""
    from codor.evidence.dsse import verify_envelope
    from codor.evidence.errors import SignatureError

    keys = [v for v in trusted]
    if not keys:
        raise PolicyBundleError("no trusted policy signer keys (put their verifier keys in "
                                f".codor/{POLICY_KEYS_DIR}/*.pub)")
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_BUNDLE_BYTES:
        raise PolicyBundleError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise PolicyBundleError(f"the bundle is not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise PolicyBundleError("the bundle must be a JSON object (a DSSE envelope)")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise PolicyBundleError(f"the bundle's payloadType must be {PAYLOAD_TYPE!r}")
    signer: Verifier | None = None
    payload = b""
    problem = "no signature from a trusted key verifies"
    for verifier in keys:
        try:
            payload = verify_envelope(envelope, [verifier], payload_type=PAYLOAD_TYPE)
        except SignatureError as exc:
            if "malformed" in exc.message:
                raise PolicyBundleError(exc.message) from None
            continue
        except (TypeError, ValueError) as exc:
            problem = f"malformed bundle: {exc}"
            continue
        signer = verifier
        break
    if signer is None:
        raise PolicyBundleError(f"the bundle is not trusted: {problem} (trusted: "
                                f"{', '.join(k.name + '+' + k.key_id_hex for k in keys)})")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyBundleError(f"the bundled policy is not UTF-8 (byte {exc.start})") from None
    return text, signer.key_id_hex


def _parse_keys(text: str, where: str) -> list[Verifier]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(Verifier(line))
        except CodorError as exc:
            raise PolicyBundleError(f"not a verifier key: {exc.message}",
                                    location=f"{where}:{number}") from None
    return out


def trusted_keys(home: str | os.PathLike[str], extra: Iterable[str | os.PathLike[str]] = ()
                 ) -> list[Verifier]:
    """The trusted policy signers: every key of ``<home>/policy-keys/*.pub`` and of the
    ``extra`` files (same format)."""
    files = sorted((Path(home) / POLICY_KEYS_DIR).glob("*.pub"))
    files += [Path(p) for p in extra]
    found: list[Verifier] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyBundleError(f"cannot read trusted keys: {exc}",
                                    location=str(path)) from None
        for key in _parse_keys(text, str(path)):
            if key not in found:
                found.append(key)
    return found


def read_signing_key(path: str | os.PathLike[str]) -> LogKey:
    """A signer key from a file that only its owner can read (mode 0600, not a symlink)."""
    where = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PolicyBundleError(f"cannot read the signing key: {exc.strerror}",
                                location=where) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PolicyBundleError("the signing key is not a regular file", location=where)
        if info.st_mode & 0o077:
            raise PolicyBundleError(f"the signing key is readable by group or others (mode "
                                    f"{stat.S_IMODE(info.st_mode):04o}); chmod 600 it",
                                    location=where)
        data = handle.read(_MAX_KEY_FILE + 1)
    if len(data) > _MAX_KEY_FILE:
        raise PolicyBundleError("the signing key file is too large", location=where)
    try:
        return LogKey.from_skey(data.decode("utf-8").strip())
    except (CodorError, UnicodeDecodeError) as exc:
        message = exc.message if isinstance(exc, CodorError) else "not UTF-8 text"
        raise PolicyBundleError(f"not a signer key: {message}", location=where) from None


def materialize(policy_text: str, directory: str | os.PathLike[str]) -> Path:
    """Write a verified policy to ``<directory>/<sha256 of its text>.yaml`` (content-named,
    so a file there is never rewritten with other text) and return the path to load."""
    import hashlib

    data = policy_text.encode("utf-8")
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}.yaml"
    if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
        return path
    from codor.atomicfile import write_atomic

    try:
        write_atomic(path, data)
    except OSError as exc:
        raise PolicyBundleError(f"cannot write the verified policy: {exc.strerror}",
                                location=str(path)) from None
    return path


def policy_files_ok(files: Iterable[str], own: str | os.PathLike[str]) -> str | None:
    """``None`` when a bundled policy (loaded from ``own``) read no file but itself and
    built-in rulesets, else what it read that the signature does not cover."""
    own_path = str(Path(own).resolve())
    for name in files:
        if name.startswith("codor:") or name == own_path:
            continue
        return (f"a signed policy may extend only built-in rulesets (codor:...); it extends "
                f"{name}, which the signature does not cover")
    return None
