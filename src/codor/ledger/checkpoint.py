"""Checkpoints of the ledger as C2SP signed notes, with witness cosignatures.

* c2sp.org/tlog-checkpoint: the body is ``<origin>\\n<tree size>\\n<base64 root>\\n`` followed by
  optional non-empty extension lines.
* c2sp.org/signed-note: the body, a blank line, then one line per signature,
  ``— <key name> <base64(4-byte key id || signature)>\\n`` (em dash U+2014, space). Signatures
  from unknown keys are ignored; a known key's signature that fails rejects the whole note; a
  note no known key has signed is rejected.
* c2sp.org/tlog-cosignature: a witness signs ``cosignature/v1\\ntime <t>\\n`` + body with an
  Ed25519 key whose key id uses type byte 0x04; the signature is ``8-byte time || signature``.

Base64 must be canonical (no stray padding bits), so a signature has exactly one text form.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codor.evidence.errors import CheckpointError, SignatureError
from codor.evidence.keys import (
    MAX_TIMESTAMP,
    SIG_COSIGNATURE_V1,
    LogKey,
    Verifier,
    b64decode_canonical,
    cosignature_message,
    valid_key_name,
)

__all__ = [
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteSignature",
    "add_signatures",
    "cosign",
    "open_checkpoint",
    "open_note",
    "parse_body",
    "sign_note",
    "split_note",
    "verify_cosignature",
]

MAX_SIGNATURES = 100  # the spec requires accepting at least 16
HASH_SIZE = 32  # RFC 6962 with SHA-256
MAX_TREE_SIZE = 2**64 - 1
_SIG_PREFIX = "— "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 and c != "\n" for c in text)


def _line_ok(line: str) -> bool:
    return bool(line) and "\n" not in line and not _has_control(line)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's ``origin``, its tree ``size`` and 32-byte Merkle ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not _line_ok(self.origin):
            raise CheckpointError("checkpoint origin must be a non-empty line of text")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError("checkpoint size must be an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint size {self.size} is out of range")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple) or not all(
            isinstance(line, str) and _line_ok(line) for line in self.extensions
        ):
            raise CheckpointError("checkpoint extension lines must be non-empty lines of text")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in \\n."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        lines.extend(self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text (strict: no leading zeros, canonical base64)."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint text needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise CheckpointError(f"malformed checkpoint tree size {size_text[:40]!r}")
        root = b64decode_canonical(root_text)
        if root is None or len(root) != HASH_SIZE:
            raise CheckpointError("malformed checkpoint root hash")
        return cls(origin, int(size_text), root, tuple(extensions))


def parse_body(text: str) -> Checkpoint:
    """Module-level alias of :meth:`Checkpoint.parse_body`."""
    return Checkpoint.parse_body(text)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One parsed (not yet verified) signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes
    line: str


def _signature_line(name: str, key_id: bytes, signature: bytes) -> str:
    return f"{_SIG_PREFIX}{name} {base64.b64encode(key_id + signature).decode('ascii')}\n"


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise CheckpointError("malformed note: a signature line must start with '— '")
    name, sep, data = line[len(_SIG_PREFIX) :].partition(" ")
    raw = b64decode_canonical(data) if sep else None
    if not valid_key_name(name) or raw is None or len(raw) < 5:
        raise CheckpointError("malformed note signature line")
    return NoteSignature(name, raw[:4], raw[4:], line + "\n")


def _decode_note(text: str | bytes) -> str:
    try:
        note = text.decode("utf-8") if isinstance(text, bytes) else text
        note.encode("utf-8")  # rejects lone surrogates
    except UnicodeError:
        raise CheckpointError("malformed note: not valid UTF-8") from None
    if _has_control(note):
        raise CheckpointError("malformed note: control characters other than newline")
    return note


def split_note(text: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and parsed signature lines (nothing is verified)."""
    note = _decode_note(text)
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signatures")
    body, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise CheckpointError("malformed note: signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return body, [_parse_signature_line(line) for line in lines]


def _check_body(body: str) -> None:
    if not isinstance(body, str) or not body.endswith("\n"):
        raise CheckpointError("note text must end with a newline")
    _decode_note(body)


def sign_note(body: str, keys: Sequence[LogKey]) -> str:
    """Sign the note text ``body`` with each of ``keys`` (type 0x01 Ed25519 signatures)."""
    _check_body(body)
    if not keys:
        raise SignatureError("a note needs at least one signing key")
    seen: set[tuple[str, bytes]] = set()
    lines = []
    message = body.encode("utf-8")
    for key in keys:
        ident = (key.name, key.key_id)
        if ident in seen:
            raise SignatureError(f"key {key.name}+{key.key_id_hex} given twice")
        seen.add(ident)
        lines.append(_signature_line(key.name, key.key_id, key.sign(message)))
    return body + "\n" + "".join(lines)


def _index(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    index: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        if ident in index and index[ident] != verifier:
            raise SignatureError(
                f"ambiguous verifier keys: two different keys named {verifier.name} with id "
                f"{verifier.key_id_hex}"
            )
        index[ident] = verifier
    return index


def open_note(text: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[str]]:
    """Verify a signed note; return its text and the names of the keys whose signatures verified.

    Raises :class:`CheckpointError` if the note is malformed and :class:`SignatureError` if a
    known key's signature fails or if no known key signed it. Unknown keys (name or key id not
    both matching a verifier) are ignored, as C2SP requires.
    """
    index = _index(verifiers)
    body, signatures = split_note(text)
    message = body.encode("utf-8")
    names: list[str] = []
    for sig in signatures:
        verifier = index.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise SignatureError(
                f"invalid signature from key {sig.name}+{sig.key_id.hex()}; note rejected"
            )
        if sig.name not in names:
            names.append(sig.name)
    if not names:
        raise SignatureError("the note has no valid signature from a trusted key")
    return body, names


def open_checkpoint(
    text: str | bytes, verifiers: Iterable[Verifier]
) -> tuple[Checkpoint, list[str]]:
    """:func:`open_note`, then parse the verified text as a :class:`Checkpoint`."""
    body, names = open_note(text, verifiers)
    return Checkpoint.parse_body(body), names


def add_signatures(note: str, lines: Iterable[str]) -> str:
    """Append signature lines (e.g. from :func:`cosign`) to a signed note."""
    split_note(note)
    extra = "".join(lines)
    if extra:
        split_note("x\n\n" + extra)  # each added line must be a well-formed signature line
    return note + extra


def _body_of(checkpoint: Checkpoint | str) -> str:
    if isinstance(checkpoint, Checkpoint):
        return checkpoint.body()
    _check_body(checkpoint)
    return checkpoint


def cosign(checkpoint: Checkpoint | str, witness_key: LogKey, timestamp: int) -> str:
    """A witness's tlog-cosignature/v1 signature line over ``checkpoint`` at ``timestamp``.

    The line carries the type-0x04 key id and ``8-byte big-endian timestamp || signature``;
    append it to the signed checkpoint with :func:`add_signatures`.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise CheckpointError("cosignature timestamp must be an integer (POSIX seconds)")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CheckpointError(f"cosignature timestamp {timestamp} is out of range")
    body = _body_of(checkpoint)
    signature = witness_key.sign(cosignature_message(body, timestamp))
    return _signature_line(
        witness_key.name, witness_key.cosigner_key_id, timestamp.to_bytes(8, "big") + signature
    )


def verify_cosignature(checkpoint: Checkpoint | str, signed: str, verifier: Verifier) -> int:
    """Verify the cosignature of ``verifier`` (a type-0x04 witness key) on ``checkpoint``.

    ``signed`` is either one signature line or a whole signed note (whose text must then be the
    checkpoint's body). Returns the cosignature's timestamp; raises :class:`SignatureError` if
    there is no cosignature by that witness or it does not verify.
    """
    if verifier.sig_type != SIG_COSIGNATURE_V1:
        raise SignatureError(f"verifier {verifier.name} is not a witness cosignature key")
    body = _body_of(checkpoint)
    if "\n\n" in signed:
        note_body, signatures = split_note(signed)
        if note_body != body:
            raise SignatureError("the signed note is not this checkpoint")
    else:
        line = signed.removesuffix("\n")
        _decode_note(line)
        if "\n" in line:
            raise CheckpointError("expected one signature line or a signed note")
        signatures = [_parse_signature_line(line)]
    message = body.encode("utf-8")
    timestamp: int | None = None
    for sig in signatures:
        if (sig.name, sig.key_id) != (verifier.name, verifier.key_id):
            continue
        if not verifier.verify(message, sig.signature):
            raise SignatureError(f"invalid cosignature from witness {verifier.name}")
        timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp is None:
        raise SignatureError(f"no cosignature from witness {verifier.name}+{verifier.key_id_hex}")
    return timestamp
