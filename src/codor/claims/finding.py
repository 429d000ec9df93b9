"""What verification concluded: a :class:`Finding` (a fabrication pattern seen, with proof) and
a :class:`ClaimResult` (one claim's verdict, with proof)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from codor.claims.claim import Claim
from codor.model import SEVERITIES, Severity

__all__ = ["VERDICTS", "ClaimResult", "Finding", "Verdict"]

Verdict = Literal["verified", "contradicted", "unsupported", "unverifiable"]
VERDICTS: Final[tuple[str, ...]] = get_args(Verdict)


@dataclass(frozen=True, slots=True)
class Finding:
    """A fabrication pattern (:data:`~codor.claims.patterns.PATTERNS` id) seen in the session.

    ``evidence`` are the ledger indexes that prove it (may be empty when the proof is the
    workspace itself, e.g. a test file's diff: then ``path``/``line`` say where). ``claim`` is
    the number (0-based) of the claim it concerns, when it concerns one.
    """

    pattern: str
    severity: Severity
    message: str
    evidence: tuple[int, ...] = ()
    claim: int | None = None
    path: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pattern": self.pattern, "severity": self.severity,
                               "message": self.message, "evidence": list(self.evidence)}
        for name in ("claim", "path", "line"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """One claim's verdict, why, and the ledger indexes of the evidence it rests on."""

    claim: Claim
    verdict: Verdict
    reason: str
    evidence: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim.to_json(), "verdict": self.verdict, "reason": self.reason,
                "evidence": list(self.evidence)}
