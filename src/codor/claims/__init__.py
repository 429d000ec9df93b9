"""Claims verification: check what an agent says it did against what the ledger shows it did.

``verify(ledger, session, report, workspace=...)`` extracts the claims of a final report (or
reads structured claims JSON), weighs each against the session's evidence — test runs and
their output, files written, commands, commits — runs the fabrication detectors, and judges
the report by the policy's ``claims:`` section. Exports load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codor.lazy import lazy_exports

if TYPE_CHECKING:
    from codor.claims.claim import Claim, Span
    from codor.claims.evidence import ClaimsError
    from codor.claims.finding import ClaimResult, Finding
    from codor.claims.patterns import PATTERNS
    from codor.claims.report import Report
    from codor.claims.verification import claims_of, record, verify
    from codor.policy.claims_section import ClaimsSettings

__all__ = ["PATTERNS", "Claim", "ClaimResult", "ClaimsError", "ClaimsSettings", "Finding",
           "Report", "Span", "claims_of", "record", "verify"]

__getattr__ = lazy_exports(__name__, {
    "Claim": "codor.claims.claim", "Span": "codor.claims.claim",
    "ClaimsError": "codor.claims.evidence",
    "ClaimResult": "codor.claims.finding", "Finding": "codor.claims.finding",
    "PATTERNS": "codor.claims.patterns", "Report": "codor.claims.report",
    "claims_of": "codor.claims.verification", "record": "codor.claims.verification",
    "verify": "codor.claims.verification", "ClaimsSettings": "codor.policy.claims_section",
})
