"""Verify an agent's report against one session's evidence: extract the claims, weigh each,
run the fabrication detectors, judge by policy, and record the verification in the ledger.

```
report ──► claims (extract | JSON) ──► verifiers ─┐
ledger ──► session evidence ──────────► detectors ├──► verdicts + findings ──► pass / fail
workspace (git base → disk) ──► changes ──────────┘
```
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from codor.claims.claim import Claim
from codor.claims.context import Context
from codor.claims.finding import ClaimResult, Finding
from codor.claims.report import Report
from codor.model import SEVERITY_RANK

if TYPE_CHECKING:
    from codor.claims.evidence import SessionEvidence
    from codor.kernel import Kernel
    from codor.ledger import Ledger
    from codor.policy.claims_section import ClaimsSettings

__all__ = ["claims_of", "record", "recorded_report", "verify", "verify_evidence"]

_RECORDED_ITEMS: Final = 50


def claims_of(report: str) -> list[Claim]:
    """The claims of a report: structured JSON claims when the report is such a document
    (raises :class:`~codor.errors.InputError` when it is malformed), else those extracted
    from its text."""
    from codor.claims.structured import looks_like_claims_json, parse_claims_json

    if looks_like_claims_json(report):
        import json

        return parse_claims_json(json.loads(report))
    from codor.claims.extract import extract

    return extract(report)


def verify(ledger: Ledger, session: str, report: str | None, *,
           workspace: str | os.PathLike[str], settings: ClaimsSettings | None = None,
           claims: Sequence[Claim] | None = None) -> Report:
    """Verify ``report`` (the agent's final message, or claims JSON; ``None``: the session's
    last recorded ``agent.final_report``) against the evidence ``ledger`` holds for
    ``session`` and the state of ``workspace``. Raises :class:`~codor.claims.ClaimsError`
    (no such session, no report) or :class:`~codor.errors.InputError` (malformed claims
    JSON)."""
    from codor.claims.evidence import load_session

    return verify_evidence(load_session(ledger, session), report, workspace=workspace,
                           settings=settings, claims=claims)


def verify_evidence(ev: SessionEvidence, report: str | None, *,
                    workspace: str | os.PathLike[str], settings: ClaimsSettings | None = None,
                    claims: Sequence[Claim] | None = None) -> Report:
    """:func:`verify` on evidence already loaded (:func:`~codor.claims.evidence.load_session`)."""
    from codor.claims import anomalies
    from codor.claims.verifiers import verify_claim
    from codor.claims.workspace import read_workspace
    from codor.evidence.records import now_us
    from codor.policy.claims_section import ClaimsSettings

    settings = settings or ClaimsSettings()
    if report is None:
        report = recorded_report(ev)
    found = list(claims) if claims is not None else claims_of(report)
    view = read_workspace(workspace, ev.start_wall_us, (w.path for w in ev.writes
                                                        if w.decision == "allow"),
                          settings.ignore_paths, ev.git_head)
    ctx = Context.build(ev, view, settings, found)
    results = [verify_claim(ctx, n, claim) for n, claim in enumerate(found)]
    anomalies.detect(ctx, found)
    _change_detectors(ctx)
    findings = _apply_policy(_escalate(ctx, found), settings)
    failures = _judge(results, findings, settings)
    return Report(
        session=ev.session, mode=settings.mode, passed=not failures, claims=tuple(results),
        findings=tuple(findings), failures=tuple(failures),
        report_sha256=hashlib.sha256(report.encode("utf-8", "surrogatepass")).hexdigest(),
        report_text=report, ledger_size=ev.ledger_size,
        evidence_entries=len(ev.entries), verified_wall_us=now_us()[0],
        workspace=str(view.root))


def recorded_report(ev: SessionEvidence) -> str:
    """The session's last recorded final message (``agent.final_report``: its redacted
    excerpt, at most 4 KiB)."""
    from codor.claims.evidence import ClaimsError

    for _, name, data, _ in reversed(ev.events):
        if name == "agent.final_report" and isinstance(data.get("excerpt"), str):
            return str(data["excerpt"])
    raise ClaimsError(f"session {ev.session!r} has no recorded final report; give one "
                      "with --report")


def _change_detectors(ctx: Context) -> None:
    from codor.claims import hardcoded, jstests, pytests, suppressions

    changes = ctx.view.changes
    for module in (pytests, jstests, suppressions):
        ctx.findings.extend(module.detect(changes))
    ctx.findings.extend(hardcoded.detect(changes, tests=ctx.view.python_tests()))


#: claims that say a check succeeded, and the weakening patterns each one rests on: a medium
#: finding becomes high when the report claims the success it undermines
_RESTS_ON: Final = {
    "tests.pass": ("tests.no_assertion", "tests.expected_changed",
                   "checks.suppression_added"),
    "tests.added": ("tests.no_assertion",),
    "lint.pass": ("checks.suppression_added",),
    "typecheck.pass": ("checks.suppression_added",),
    "build.pass": ("checks.suppression_added",),
    "browser.verified": ("evidence.placeholder_artifact", "evidence.copied_artifact",
                         "evidence.burst_artifacts"),
    "file.created": ("evidence.placeholder_artifact", "evidence.copied_artifact"),
}


def _escalate(ctx: Context, claims: list[Claim]) -> list[Finding]:
    """Findings with those the report's success claims rest on raised to high. An expected
    value edited while no production code changed is the test bent to fit the code; with
    code changed too it may be a deliberate change of behaviour, and stays medium."""
    from dataclasses import replace

    from codor.claims.pathkinds import is_code_path, is_config_path, is_test_path

    raised = {p for c in claims for p in _RESTS_ON.get(c.kind, ())}
    code_changed = any(is_code_path(c.path) and not is_test_path(c.path)
                       and not is_config_path(c.path) for c in ctx.view.changes)
    return [replace(f, severity="high", message=f.message + " — and the report's claims "
                    "rest on it")
            if f.pattern in raised and f.severity == "medium"
            and not (f.pattern == "tests.expected_changed" and code_changed) else f
            for f in ctx.findings]


def _apply_policy(findings: list[Finding], settings: ClaimsSettings) -> list[Finding]:
    """Policy severities applied, ``off`` patterns dropped, duplicates merged; worst first."""
    from dataclasses import replace

    out: dict[tuple[str, str, int | None, str | None], Finding] = {}
    for found in findings:
        severity = settings.severity_of(found.pattern, found.severity)
        if severity == "off":
            continue
        f = found if severity == found.severity else \
            replace(found, severity=severity)  # type: ignore[arg-type]
        out.setdefault((f.pattern, f.message, f.claim, f.path), f)
    return sorted(out.values(), key=lambda f: (-SEVERITY_RANK[f.severity], f.pattern,
                                               f.evidence, f.path or ""))


def _judge(results: list[ClaimResult], findings: list[Finding],
           settings: ClaimsSettings) -> list[str]:
    failures: list[str] = []
    for n, r in enumerate(results):
        text = " ".join(r.claim.text.split())[:80]
        if r.verdict == "contradicted":
            failures.append(f"claim {n + 1} contradicted: '{text}' — {r.reason}")
        elif r.verdict == "unsupported" and settings.mode == "strict":
            failures.append(f"claim {n + 1} unsupported (strict mode): '{text}' — {r.reason}")
    threshold = SEVERITY_RANK[settings.fail_on]
    for f in findings:
        if SEVERITY_RANK[f.severity] < threshold:
            continue
        if f.claim is not None and results[f.claim].verdict == "contradicted":
            continue  # already a failure line of its own
        failures.append(f"{f.severity} {f.pattern}: {f.message}")
    return failures


def record(kernel: Kernel, report: Report, **extra: Any) -> Report:
    """Append the verification to the ledger as a ``claims.verification`` event of the
    session (``extra``: more fields, e.g. what the Stop hook answered); returns the report
    with ``recorded_at`` set."""
    from dataclasses import replace

    data: dict[str, Any] = {**extra,
        "passed": report.passed, "mode": report.mode, "verdicts": report.verdict_counts,
        "report_sha256": report.report_sha256, "ledger_size": report.ledger_size,
        "claims": [{"kind": r.claim.kind, "verdict": r.verdict,
                    "text": " ".join(r.claim.text.split())[:200],
                    "evidence": list(r.evidence[:20])}
                   for r in report.claims[:_RECORDED_ITEMS]],
        "findings": [{"pattern": f.pattern, "severity": f.severity, "message": f.message[:300],
                      "evidence": list(f.evidence[:20])}
                     for f in report.findings[:_RECORDED_ITEMS]],
        "failures": [line[:300] for line in report.failures[:20]],
    }
    index = kernel.record_event(report.session, "claims.verification", data,
                                observer="codor-engine")
    return replace(report, recorded_at=index)
