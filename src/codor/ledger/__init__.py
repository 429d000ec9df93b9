"""The append-only ledger: a transparency log with signed checkpoints (see README.md here)."""

from __future__ import annotations

from codor.ledger.log import InclusionProof, Ledger, VerifyReport
from codor.ledger.store import LedgerStore, LedgerStoreError

__all__ = ["InclusionProof", "Ledger", "LedgerStore", "LedgerStoreError", "VerifyReport"]
