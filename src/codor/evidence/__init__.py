"""Signed evidence: records of what happened, log keys, DSSE envelopes, in-toto statements."""

from __future__ import annotations

from codor.evidence.keys import KeyStore, LogKey, Verifier
from codor.evidence.records import DecisionRecord, OutcomeRecord, SessionStart

__all__ = ["DecisionRecord", "KeyStore", "LogKey", "OutcomeRecord", "SessionStart", "Verifier"]
