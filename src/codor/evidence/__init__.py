"""Signed evidence: records of what happened, log keys, DSSE envelopes, in-toto statements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codor.evidence.keys import KeyStore, LogKey, Verifier
    from codor.evidence.records import DecisionRecord, OutcomeRecord, SessionStart

__all__ = ["DecisionRecord", "KeyStore", "LogKey", "OutcomeRecord", "SessionStart", "Verifier"]

_EXPORTS = {"KeyStore": "codor.evidence.keys", "LogKey": "codor.evidence.keys",
            "Verifier": "codor.evidence.keys", "DecisionRecord": "codor.evidence.records",
            "OutcomeRecord": "codor.evidence.records", "SessionStart": "codor.evidence.records"}


def __getattr__(name: str) -> Any:
    """Exports load on first use: recording needs the records, not the signing library."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
