"""Errors of the evidence and ledger signing layer (keys, signatures, checkpoints).

These extend the one CODOR error tree (:class:`codor.errors.CodorError`); each carries a
stable ``code``.
"""

from __future__ import annotations

from codor.errors import CodorError

__all__ = ["CheckpointError", "KeyFileError", "SignatureError"]


class KeyFileError(CodorError):
    """A key or key file that is missing, malformed, unsafe (permissions) or already exists."""

    code = "E_KEY"


class SignatureError(CodorError):
    """A signature that does not verify, or a signed object no trusted key has signed."""

    code = "E_SIGNATURE"


class CheckpointError(CodorError):
    """A malformed checkpoint or signed note (syntax, not cryptography)."""

    code = "E_CHECKPOINT"
