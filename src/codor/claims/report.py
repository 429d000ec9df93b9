"""A verification's result: every claim's verdict, every finding, and pass or fail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from codor.claims.finding import ClaimResult, Finding

__all__ = ["REPORT_VERSION", "Report"]

REPORT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Report:
    """The result of verifying one agent report against one session's evidence.

    ``passed`` is the policy's judgement (``claims.mode``): a report fails when any claim is
    contradicted or any finding is at or above ``claims.fail_on`` severity, and in strict mode
    also when a claim is unsupported; ``failures`` says why, one line each. ``ledger_size`` is
    the ledger's size when the evidence was read (every index cited is below it) and
    ``recorded_at`` the index of the ``claims.verification`` event that recorded this report
    (``None`` until recorded, or when there is no ledger).
    """

    session: str
    mode: str
    passed: bool
    claims: tuple[ClaimResult, ...]
    findings: tuple[Finding, ...]
    failures: tuple[str, ...]
    report_sha256: str           # sha256 of the agent's report text (or claims JSON)
    report_text: str             # the agent's report as verified (redacted)
    ledger_size: int
    evidence_entries: int        # entries of the session that were read
    verified_wall_us: int
    workspace: str | None = None
    recorded_at: int | None = None

    @property
    def verdict_counts(self) -> dict[str, int]:
        counts = {"verified": 0, "contradicted": 0, "unsupported": 0, "unverifiable": 0}
        for result in self.claims:
            counts[result.verdict] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "v": REPORT_VERSION, "session": self.session, "mode": self.mode,
            "passed": self.passed, "failures": list(self.failures),
            "verdicts": self.verdict_counts,
            "claims": [c.to_json() for c in self.claims],
            "findings": [f.to_json() for f in self.findings],
            "report_sha256": self.report_sha256, "report_text": self.report_text,
            "ledger_size": self.ledger_size, "evidence_entries": self.evidence_entries,
            "verified_wall_us": self.verified_wall_us, "workspace": self.workspace,
            "recorded_at": self.recorded_at,
        }
