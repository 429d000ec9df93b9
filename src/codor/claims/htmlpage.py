"""The HTML page of a claims report: one self-contained, offline page for people to read.
:func:`to_html` renders a :class:`~codor.claims.report.Report` as one HTML5 page with inline
CSS, no script and no external resource, in light and dark colour schemes: a PASS/FAIL badge
and the run's metadata, why it failed, the agent's report with each claim's span marked by
verdict, the claims table and the findings grouped by pattern group; every piece of text the
agent wrote is cleaned (:mod:`codor.claims.viewtext`) and escaped, never read as markup.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from codor.claims.finding import Finding
from codor.claims.patterns import GROUPS, PATTERNS
from codor.claims.report import Report
from codor.claims.viewtext import (
    _SYMBOLS,
    _VERDICT_ORDER,
    _by_severity,
    _clean,
    _clip,
    _indexes,
    _location,
    _plural,
    _worst,
)

__all__ = ["to_html"]


# -- HTML page -----------------------------------------------------------------------------------

def _when(wall_us: int) -> str:
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=wall_us)
    except OverflowError:
        return f"{wall_us} µs since the epoch"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _e(text: str, *, one_line: bool = True) -> str:
    return html.escape(_clean(text, one_line=one_line), quote=True)


_CSS = """
:root{--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--card:#f6f8fa;--ok:#1a7f37;
--okbg:#dafbe1;--bad:#b3261e;--badbg:#ffebe9;--warn:#7a5400;--warnbg:#fff3c4;--na:#4d5560;
--nabg:#eaeef2}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9da7b3;--line:#30363d;
--card:#161b22;--ok:#56d364;--okbg:#0f2e1a;--bad:#ff7b72;--badbg:#3d1214;--warn:#e3b341;
--warnbg:#3a2c06;--na:#b1bac4;--nabg:#262c33}}*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}
header{display:flex;gap:24px;align-items:center;flex-wrap:wrap;padding-bottom:16px;
border-bottom:1px solid var(--line)}h1{font-size:1.4rem;margin:0 0 4px}
h2{font-size:1.15rem;margin:28px 0 8px}h3{font-size:1rem;margin:18px 0 6px;color:var(--muted)}
.badge{font-size:2rem;font-weight:800;letter-spacing:.06em;padding:8px 22px;border-radius:10px;
border:2px solid currentColor}.badge.pass{color:var(--ok);background:var(--okbg)}
.badge.fail{color:var(--bad);background:var(--badbg)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}
.counts{display:flex;gap:8px;flex-wrap:wrap;margin-top:14px}
.chip{padding:2px 10px;border-radius:999px;font-weight:600;white-space:nowrap}
.v-verified{color:var(--ok);background:var(--okbg)}
.v-contradicted{color:var(--bad);background:var(--badbg)}
.v-unsupported{color:var(--warn);background:var(--warnbg)}
.v-unverifiable{color:var(--na);background:var(--nabg)}
.s-critical,.s-high{color:var(--bad);background:var(--badbg)}
.s-medium{color:var(--warn);background:var(--warnbg)}
.s-low,.s-info{color:var(--na);background:var(--nabg)}
pre.report{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px;
white-space:pre-wrap;overflow-wrap:anywhere;font:13.5px/1.6 ui-monospace,Menlo,Consolas,monospace}
pre.report mark{color:inherit;border-radius:3px;padding:0 1px}
mark.v-verified{background:var(--okbg);box-shadow:inset 0 -2px var(--ok)}
mark.v-contradicted{background:var(--badbg);box-shadow:inset 0 -2px var(--bad)}
mark.v-unsupported{background:var(--warnbg);box-shadow:inset 0 -2px var(--warn)}
mark.v-unverifiable{background:var(--nabg);box-shadow:inset 0 -2px var(--na)}
sup.cn{font:700 10px/1 system-ui,sans-serif;padding:1px 4px;border-radius:4px;margin-right:1px}
table{width:100%;border-collapse:collapse;margin:6px 0 10px}
th,td{text-align:left;vertical-align:top;padding:6px 10px;border-bottom:1px solid var(--line);
overflow-wrap:anywhere}th{background:var(--card);font-weight:600}
td.num{text-align:right;white-space:nowrap}td.nowrap{white-space:nowrap}
code{font:13px ui-monospace,Menlo,Consolas,monospace}.muted{color:var(--muted)}
ul.failures li{color:var(--bad);margin:2px 0}
"""


def _marked_report(report: Report) -> str:
    """The report text, each claim's span in ``mark`` elements coloured by verdict.

    Spans are clipped to the text; overlapping spans split the text into segments, each marked
    with every claim covering it (``data-claims``) and coloured by the first of them.
    """
    text = report.report_text
    spans: list[tuple[int, int, int]] = []  # (claim number, start, end)
    for number, result in enumerate(report.claims, 1):
        span = result.claim.span
        if span is not None and span.start < min(span.end, len(text)):
            spans.append((number, span.start, min(span.end, len(text))))
    cuts = sorted({0, len(text), *(s for _, s, _ in spans), *(e for _, _, e in spans)})
    out: list[str] = []
    for start, end in pairwise(cuts):
        for number, s, _ in spans:
            if s == start:
                verdict = report.claims[number - 1].verdict
                out.append(f'<sup class="cn v-{verdict}">{number}</sup>')
        segment = _e(text[start:end], one_line=False)
        covering = [n for n, s, e in spans if s <= start and end <= e]
        if not covering:
            out.append(segment)
            continue
        verdict = report.claims[covering[0] - 1].verdict
        numbers = " ".join(str(n) for n in covering)
        label = ", ".join(f"claim {n}: {report.claims[n - 1].verdict}" for n in covering)
        out.append(f'<mark class="v-{verdict}" data-claims="{numbers}" title="{label}">'
                   f"{segment}</mark>")
    return "".join(out)


def _claims_table(report: Report) -> str:
    rows = []
    for number, result in enumerate(report.claims, 1):
        v = result.verdict
        rows.append(
            f'<tr><td class="num">{number}</td><td class="nowrap"><span class="chip v-{v}">'
            f"{_SYMBOLS[v]} {v}</span></td><td><code>{_e(result.claim.kind)}</code></td>"
            f"<td>{_e(result.claim.text)}</td><td>{_e(result.reason)}</td>"
            f"<td>{_indexes(result.evidence)}</td></tr>")
    return ('<table><thead><tr><th scope="col">#</th><th scope="col">Verdict</th>'
            '<th scope="col">Kind</th><th scope="col">Claim</th><th scope="col">Reason</th>'
            '<th scope="col">Evidence</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _findings_tables(report: Report) -> str:
    groups: dict[str, list[Finding]] = {}
    for finding in _by_severity(report.findings):
        known = PATTERNS.get(finding.pattern)
        groups.setdefault(known.group if known is not None else "", []).append(finding)
    out = []
    for group in [*GROUPS, ""]:
        if group not in groups:
            continue
        out.append(f"<h3>{_e(GROUPS.get(group, 'Other findings'))}</h3>")
        out.append('<table><thead><tr><th scope="col">Severity</th><th scope="col">Pattern</th>'
                   '<th scope="col">Message</th><th scope="col">Claim</th>'
                   '<th scope="col">Evidence / location</th></tr></thead><tbody>')
        for f in groups[group]:
            known = PATTERNS.get(f.pattern)
            title = f'<br><span class="muted">{_e(known.title)}</span>' if known else ""
            where = " ".join(x for x in (_indexes(f.evidence), _location(f)) if x)
            claim = "" if f.claim is None else str(f.claim + 1)
            out.append(f'<tr><td class="nowrap"><span class="chip s-{_e(f.severity)}">'
                       f"{_e(f.severity)}</span></td><td><code>{_e(f.pattern)}</code>{title}"
                       f'</td><td>{_e(f.message)}</td><td class="num">{claim}</td>'
                       f"<td><code>{_e(where)}</code></td></tr>")
        out.append("</tbody></table>")
    return "".join(out)


def to_html(report: Report) -> str:
    """The report as one self-contained HTML5 page: no script, no external resource; light
    and dark colour schemes; every piece of text escaped."""
    status = "PASS" if report.passed else "FAIL"
    counts = report.verdict_counts
    meta = [("Session", report.session), ("Mode", report.mode),
            ("Verified at", _when(report.verified_wall_us)),
            ("Ledger size", str(report.ledger_size)),
            ("Entries read", str(report.evidence_entries))]
    if report.workspace is not None:
        meta.append(("Workspace", report.workspace))
    if report.recorded_at is not None:
        meta.append(("Recorded at", f"entry {report.recorded_at}"))
    meta.append(("Report sha256", report.report_sha256))
    chips = "".join(f'<span class="chip v-{v}">{_SYMBOLS[v]} {counts[v]} {v}</span>'
                    for v in _VERDICT_ORDER)
    worst = _worst(report.findings)
    chips += (f'<span class="chip s-{worst}">{_plural(len(report.findings), "finding")}'
              f" (worst: {worst})</span>") if worst else '<span class="chip">no findings</span>'
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{status} — CODOR claims report — session {_e(_clip(report.session, 80))}"
        f"</title><style>{_CSS}</style></head><body><main>",
        f'<header><div class="badge {status.lower()}">{status}</div><div>'
        '<h1>Claims verification</h1><dl class="meta">',
        *(f"<dt>{name}</dt><dd>{_e(value)}</dd>" for name, value in meta),
        f'</dl></div></header><div class="counts">{chips}</div>',
    ]
    if report.failures:
        parts.append('<h2>Why it failed</h2><ul class="failures">')
        parts.extend(f"<li>{_e(line)}</li>" for line in report.failures)
        parts.append("</ul>")
    parts.append("<h2>The agent's report</h2>")
    if report.report_text:
        # the newline after <pre> is dropped by parsers: the text's own first newline is kept
        parts.append(f'<pre class="report">\n{_marked_report(report)}</pre>')
    else:
        parts.append('<p class="muted">No report text (claims were given as JSON).</p>')
    parts.append("<h2>Claims</h2>")
    parts.append(_claims_table(report) if report.claims else '<p class="muted">No claims.</p>')
    parts.append("<h2>Findings</h2>")
    parts.append(_findings_tables(report) if report.findings
                 else '<p class="muted">No findings.</p>')
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
