"""Signed evidence: records of what happened, log keys, DSSE envelopes, in-toto statements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from codor.lazy import lazy_exports

if TYPE_CHECKING:
    from codor.evidence.keys import KeyStore, LogKey, Verifier
    from codor.evidence.records import DecisionRecord, OutcomeRecord, SessionStart

__all__ = ["DecisionRecord", "KeyStore", "LogKey", "OutcomeRecord", "SessionStart", "Verifier"]

_EXPORTS = {"KeyStore": "codor.evidence.keys", "LogKey": "codor.evidence.keys",
            "Verifier": "codor.evidence.keys", "DecisionRecord": "codor.evidence.records",
            "OutcomeRecord": "codor.evidence.records", "SessionStart": "codor.evidence.records"}
__getattr__ = lazy_exports(__name__, _EXPORTS)
