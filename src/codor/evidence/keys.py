"""Ed25519 log keys in the C2SP signed-note formats, and the on-disk key store.

Formats (c2sp.org/signed-note, golang.org/x/mod/sumdb/note):

* key id: ``SHA-256(name || 0x0A || type || 32-byte public key)[:4]``; type ``0x01`` is a plain
  Ed25519 note signature, ``0x04`` a timestamped Ed25519 witness cosignature
  (c2sp.org/tlog-cosignature).
* verifier key (public, "vkey"): ``<name>+<8 hex key id>+<base64(type || public key)>``.
* signer key (secret, "skey"): ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>``.

A :class:`KeyStore` keeps the active key in ``<dir>/log.key`` (mode 0600) and its verifier key
in ``<dir>/log.pub``; rotated-out verifier keys stay in ``<dir>/retired/*.pub`` so that old
checkpoints remain verifiable. Secret key material never appears in a ``repr`` or an error.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography (~20 ms to import) loads when a key signs or verifies
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

from codor.evidence.errors import KeyFileError

__all__ = [
    "COSIGNATURE_HEADER",
    "MAX_TIMESTAMP",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "KeyStore",
    "LogKey",
    "Verifier",
    "b64decode_canonical",
    "cosignature_message",
    "key_id",
    "valid_key_name",
]

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = b"cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_MAX_KEY_FILE = 4096


def valid_key_name(name: str) -> bool:
    """A key name is non-empty and has no Unicode space, no ``+`` and no control character."""
    return bool(name) and not any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name)


def key_id(name: str, public_key: bytes, sig_type: int = SIG_ED25519) -> bytes:
    """The 4-byte C2SP key id of ``public_key`` under ``name`` for signature type ``sig_type``."""
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(data).digest()[:4]


def b64decode_canonical(text: str) -> bytes | None:
    """Decode standard padded base64, or ``None`` unless ``text`` is exactly its canonical form.

    Refusing non-canonical encodings (stray padding bits) makes signatures non-malleable at the
    text level: two different strings never decode to the same signature.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def cosignature_message(body: str | bytes, timestamp: int) -> bytes:
    """The message an Ed25519 witness signs: ``cosignature/v1\\ntime <t>\\n`` + the note body."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return COSIGNATURE_HEADER + b"time %d\n" % timestamp + data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not valid_key_name(name):
        raise KeyFileError(
            f"invalid key name {name!r}: it must be non-empty, without spaces, '+' or control "
            "characters"
        )


class LogKey:
    """A named Ed25519 signing key (the log's, or a witness's)."""

    __slots__ = ("_name", "_private", "_public")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self._name = name
        self._private = private_key
        from cryptography.hazmat.primitives import serialization as ser

        raw = ser.Encoding.Raw
        self._public = private_key.public_key().public_bytes(raw, ser.PublicFormat.Raw)

    @classmethod
    def generate(cls, name: str) -> LogKey:
        """A fresh random key called ``name``."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> LogKey:
        """Parse a ``PRIVATE+KEY+<name>+<id>+<data>`` signer key (the key id must match)."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise KeyFileError("malformed signer key (expected PRIVATE+KEY+<name>+<id>+<data>)")
        name, hex_id, data = parts[2], parts[3], parts[4]
        raw = b64decode_canonical(data)
        if not valid_key_name(name) or not _HEX8.fullmatch(hex_id) or raw is None:
            raise KeyFileError("malformed signer key")
        if len(raw) != 33 or raw[0] != SIG_ED25519:
            raise KeyFileError("signer key is not an Ed25519 key (type 0x01, 32-byte seed)")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if key.key_id != bytes.fromhex(hex_id):
            raise KeyFileError(f"signer key for {name!r} has a key id that does not match it")
        return key

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._public

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id for plain Ed25519 note signatures (type 0x01)."""
        return key_id(self._name, self._public, SIG_ED25519)

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    @property
    def cosigner_key_id(self) -> bytes:
        """The 4-byte key id for timestamped witness cosignatures (type 0x04)."""
        return key_id(self._name, self._public, SIG_COSIGNATURE_V1)

    def vkey(self) -> str:
        """The public verifier key for note signatures: ``<name>+<id>+<base64(0x01||pub)>``."""
        return f"{self._name}+{self.key_id_hex}+{_b64(bytes([SIG_ED25519]) + self._public)}"

    def cosigner_vkey(self) -> str:
        """The public verifier key of this key used as a witness (type 0x04)."""
        data = _b64(bytes([SIG_COSIGNATURE_V1]) + self._public)
        return f"{self._name}+{self.cosigner_key_id.hex()}+{data}"

    def skey(self) -> str:
        """The *secret* signer key text. Store it only in a 0600 file; never print it."""
        from cryptography.hazmat.primitives import serialization as ser

        seed = self._private.private_bytes(
            ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption()
        )
        return f"PRIVATE+KEY+{self._name}+{self.key_id_hex}+{_b64(bytes([SIG_ED25519]) + seed)}"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def verifier(self) -> Verifier:
        return Verifier(self.vkey())

    def cosigner_verifier(self) -> Verifier:
        return Verifier(self.cosigner_vkey())

    def __repr__(self) -> str:
        return f"LogKey(name={self._name!r}, key_id={self.key_id_hex!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("LogKey cannot be pickled (it holds a secret key)")


class Verifier:
    """A public verifier key parsed from vkey text; verifies type 0x01 or 0x04 signatures.

    For type 0x04 (witness cosignature) ``verify(msg, sig)`` expects ``sig`` to be the
    ``timestamped_signature`` (8-byte big-endian time || 64-byte signature) and checks it over
    :func:`cosignature_message` of ``msg``; this lets :func:`codor.ledger.checkpoint.open_note`
    verify witness cosignatures like any other note signature.
    """

    __slots__ = ("_key", "key_id", "name", "public_key", "sig_type", "vkey")

    def __init__(self, vkey: str) -> None:
        parts = vkey.strip().split("+", 2) if isinstance(vkey, str) else []
        if len(parts) != 3:
            raise KeyFileError("malformed verifier key (expected <name>+<id>+<data>)")
        name, hex_id, data = parts
        raw = b64decode_canonical(data)
        if not valid_key_name(name) or not _HEX8.fullmatch(hex_id) or raw is None or not raw:
            raise KeyFileError(f"malformed verifier key for {name!r}")
        if raw[0] not in (SIG_ED25519, SIG_COSIGNATURE_V1) or len(raw) != 33:
            raise KeyFileError(
                f"verifier key for {name!r} is not Ed25519 (type 0x01 or 0x04, 32-byte key)"
            )
        self.name: str = name
        self.sig_type: int = raw[0]
        self.public_key: bytes = raw[1:]
        self.key_id: bytes = key_id(name, self.public_key, self.sig_type)
        if self.key_id != bytes.fromhex(hex_id):
            raise KeyFileError(f"verifier key for {name!r} has a key id that does not match it")
        self._key: Ed25519PublicKey | None = None  # made at the first verify
        self.vkey: str = f"{name}+{self.key_id.hex()}+{data}"

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's valid signature of ``message``."""
        if self.sig_type == SIG_COSIGNATURE_V1:
            if len(signature) != 72:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            message, signature = cosignature_message(message, timestamp), signature[8:]
        if len(signature) != 64:
            return False
        from cryptography.exceptions import InvalidSignature

        key = self._key
        if key is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            key = self._key = Ed25519PublicKey.from_public_bytes(self.public_key)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verifier) and other.vkey == self.vkey

    def __hash__(self) -> int:
        return hash(self.vkey)

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomic(path: Path, data: str, mode: int, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and a rename (or a
    hard link when ``overwrite`` is false, which fails if ``path`` exists)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeyFileError(f"{path} already exists; refusing to overwrite it") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


class KeyStore:
    """The log's keys in one directory: ``log.key`` (secret), ``log.pub``, ``retired/*.pub``."""

    KEY_FILE = "log.key"
    PUB_FILE = "log.pub"
    RETIRED_DIR = "retired"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.key_path = self.directory / self.KEY_FILE
        self.pub_path = self.directory / self.PUB_FILE
        self.retired_dir = self.directory / self.RETIRED_DIR

    def init(self, name: str) -> LogKey:
        """Create a new active key called ``name``; refuses if ``log.key`` already exists."""
        _check_name(name)
        if self.key_path.exists() or self.key_path.is_symlink():
            raise KeyFileError(f"{self.key_path} already exists; refusing to overwrite it")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = LogKey.generate(name)
        _write_atomic(self.key_path, key.skey() + "\n", 0o600, overwrite=False)
        self._sync_public(key)
        return key

    def load(self) -> LogKey:
        """The active key. Refuses a key file that group or others can access, or a symlink.

        If ``log.pub`` is missing or stale (an interrupted :meth:`rotate`), it is rewritten from
        the key, after retiring the stale verifier key it held.
        """
        key = LogKey.from_skey(self._read_secret().strip())
        self._sync_public(key)
        return key

    def rotate(self, name: str | None = None) -> LogKey:
        """Make a new active key (named ``name``, default: the current name) and retire the
        current one's verifier key to ``retired/`` so old checkpoints stay verifiable."""
        old = self.load()
        new = LogKey.generate(old.name if name is None else name)
        self._retire(old.verifier())
        _write_atomic(self.key_path, new.skey() + "\n", 0o600, overwrite=True)
        self._sync_public(new)
        return new

    def verifiers(self) -> list[Verifier]:
        """Verifier keys of the active key and of every retired key (active first)."""
        if not self.pub_path.exists():
            raise KeyFileError(f"no public key at {self.pub_path}; run init first")
        found = [self._read_verifier(self.pub_path)]
        if self.retired_dir.is_dir():
            found.extend(self._read_verifier(p) for p in sorted(self.retired_dir.glob("*.pub")))
        unique: list[Verifier] = []
        for verifier in found:
            if verifier not in unique:
                unique.append(verifier)
        return unique

    def _read_secret(self) -> str:
        path = self.key_path
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:  # O_NOFOLLOW: a symlinked key file is refused (ELOOP)
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise KeyFileError(f"no log key at {path}; run init first") from None
        except OSError as exc:
            why = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
            raise KeyFileError(f"refusing to read {path}: {why}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise KeyFileError(f"{path} is not a regular file")
            if info.st_mode & 0o077:
                raise KeyFileError(
                    f"{path} is accessible by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
                )
            data = handle.read(_MAX_KEY_FILE + 1)
        if len(data) > _MAX_KEY_FILE:
            raise KeyFileError(f"{path} is too large to be a key file")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyFileError(f"{path} is not UTF-8 text") from None

    @staticmethod
    def _read_verifier(path: Path) -> Verifier:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read {path}: {exc}") from None
        try:
            return Verifier(text.strip())
        except KeyFileError as exc:
            raise KeyFileError(exc.message, location=str(path)) from None

    def _sync_public(self, key: LogKey) -> None:
        vkey = key.vkey()
        if self.pub_path.exists():
            current = self._read_verifier(self.pub_path)
            if current.vkey == vkey:
                return
            self._retire(current)
        _write_atomic(self.pub_path, vkey + "\n", 0o644, overwrite=True)

    def _retire(self, verifier: Verifier) -> None:
        self.retired_dir.mkdir(mode=0o755, exist_ok=True)
        for n in range(1000):
            suffix = "" if n == 0 else f"-{n}"
            path = self.retired_dir / f"{verifier.key_id_hex}{suffix}.pub"
            if not path.exists():
                _write_atomic(path, verifier.vkey + "\n", 0o644, overwrite=False)
                return
            if self._read_verifier(path) == verifier:
                return
        raise KeyFileError(f"too many retired keys with id {verifier.key_id_hex}")
