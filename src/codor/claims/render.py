"""Rendering a claims :class:`~codor.claims.report.Report` for people and for agents.

- :func:`to_table`: a terminal view (``rich`` tables, imported lazily).
- :func:`to_html`: one self-contained, offline HTML page (inline CSS, no script).
- :func:`summary_line`: one line, e.g. ``FAIL: 1 contradicted, 2 verified, 1 finding (high)``.
- :func:`block_reason`: the short, actionable answer sent back to an agent whose report failed.

Everything the agent wrote (report text, claim text, paths) is attacker-controlled: it is never
interpreted as markup (``rich`` markup or HTML) and control characters are neutralised. Claims
are numbered from 1 in every view (``Finding.claim`` is 0-based and shown plus one).
"""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from codor.claims.finding import ClaimResult, Finding
from codor.claims.patterns import GROUPS, PATTERNS
from codor.claims.report import Report
from codor.model import SEVERITIES

__all__ = ["block_reason", "summary_line", "to_html", "to_table"]

_SYMBOLS = {"verified": "✔", "contradicted": "✘", "unsupported": "?", "unverifiable": "–"}
_RICH_STYLES = {"verified": "green", "contradicted": "bold red", "unsupported": "yellow",
                "unverifiable": "dim"}
_SEVERITY_STYLES = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
                    "low": "cyan", "info": "dim"}
_VERDICT_ORDER = ("contradicted", "unsupported", "unverifiable", "verified")
_SEV_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# -- text hygiene --------------------------------------------------------------------------------

def _clean(text: str, *, one_line: bool = True) -> str:
    """``text`` with control, surrogate and bidi-override characters made harmless; with
    ``one_line`` every whitespace run (newlines included) becomes one space, otherwise tabs,
    newlines and printable spaces are kept and carriage returns dropped."""
    out: list[str] = []
    for ch in text:
        if not one_line and (ch in "\n\t" or unicodedata.category(ch) in ("Zs", "Zl", "Zp")):
            out.append(ch)
        elif not one_line and ch == "\r":
            continue
        elif ch.isspace():
            out.append(" ")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    joined = "".join(out)
    return " ".join(joined.split()) if one_line else joined


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near,
    ending with ``…`` when anything was cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= max(1, len(cut) - 20):
        cut = cut[:space]
    return cut.rstrip(" ,;:.-—") + "…"


def _indexes(evidence: Iterable[int]) -> str:
    return " ".join(f"#{i}" for i in evidence)


def _location(finding: Finding) -> str:
    if finding.path is None:
        return ""
    return finding.path if finding.line is None else f"{finding.path}:{finding.line}"


def _when(wall_us: int) -> str:
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=wall_us)
    except OverflowError:
        return f"{wall_us} µs since the epoch"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _by_severity(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: -_SEV_RANK.get(f.severity, 0))


def _worst(findings: Iterable[Finding]) -> str | None:
    ranked = _by_severity(findings)
    return ranked[0].severity if ranked else None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


# -- one line ------------------------------------------------------------------------------------

def summary_line(report: Report) -> str:
    """One line: ``FAIL: 1 contradicted, 2 verified, 1 finding (high) — session s-123``."""
    counts = report.verdict_counts
    parts = [f"{counts[v]} {v}" for v in _VERDICT_ORDER if counts.get(v)]
    if not parts:
        parts.append("no claims")
    worst = _worst(report.findings)
    if worst is not None:
        parts.append(f"{_plural(len(report.findings), 'finding')} ({worst})")
    status = "PASS" if report.passed else "FAIL"
    return f"{status}: {', '.join(parts)} — session {_clip(_clean(report.session), 80)}"


# -- terminal table ------------------------------------------------------------------------------

def to_table(report: Report, *, width: int | None = None, color: bool | None = None) -> str:
    """The report as terminal text: a header line, the claims, the findings, the failures.

    ``color`` ``None`` colours only when standard output is a terminal and ``NO_COLOR`` is unset;
    ``False`` guarantees no escape sequence in the result. ``width`` defaults to the terminal's.
    """
    from rich import box
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    if color is None:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    buffer = io.StringIO()
    console = Console(file=buffer, width=max(width, 20), force_terminal=color,
                      color_system="standard" if color else None, no_color=not color,
                      highlight=False, emoji=False, markup=False, legacy_windows=False)

    counts = report.verdict_counts
    header = Text()
    header.append(" PASS " if report.passed else " FAIL ",
                  style="bold white on green" if report.passed else "bold white on red")
    header.append(f"  session {_clip(_clean(report.session), 80)}  mode {_clean(report.mode)}  ")
    header.append(", ".join(f"{counts[v]} {v}" for v in _VERDICT_ORDER))
    header.append(f", {_plural(len(report.findings), 'finding')}")
    parts: list[Text | Table] = [header]

    if report.claims:
        claims = Table(title="Claims", box=box.SIMPLE_HEAD, title_justify="left", expand=True)
        claims.add_column("n", justify="right", no_wrap=True)
        claims.add_column("verdict", no_wrap=True)
        claims.add_column("claim", ratio=3)
        claims.add_column("reason", ratio=4)
        claims.add_column("evidence", ratio=1, overflow="fold")
        for number, result in enumerate(report.claims, 1):
            claims.add_row(
                Text(str(number)),
                Text(f"{_SYMBOLS[result.verdict]} {result.verdict}",
                     style=_RICH_STYLES[result.verdict]),
                Text(_clip(_clean(result.claim.text), 80)),
                Text(_clean(result.reason)),
                Text(_indexes(result.evidence)))
        parts.append(claims)
    else:
        parts.append(Text("No claims.", style="dim"))

    if report.findings:
        findings = Table(title="Findings", box=box.SIMPLE_HEAD, title_justify="left",
                         expand=True)
        findings.add_column("severity", no_wrap=True)
        findings.add_column("pattern", ratio=3, overflow="fold")
        findings.add_column("message", ratio=5)
        findings.add_column("evidence", ratio=3, overflow="fold")
        for finding in _by_severity(report.findings):
            where = [_indexes(finding.evidence), _clean(_location(finding))]
            if finding.claim is not None:
                where.append(f"claim {finding.claim + 1}")
            findings.add_row(
                Text(finding.severity, style=_SEVERITY_STYLES.get(finding.severity, "")),
                Text(_clean(finding.pattern)), Text(_clean(finding.message)),
                Text(" ".join(w for w in where if w)))
        parts.append(findings)

    if report.failures:
        failures = Text("Failures:\n", style="bold")
        for line in report.failures:
            failures.append(f"  - {_clean(line)}\n", style="red")
        failures.rstrip()
        parts.append(failures)
    console.print(Group(*parts))
    return "".join(line.rstrip(" ") + "\n" for line in buffer.getvalue().splitlines())


# -- block reason (the answer to the agent) ------------------------------------------------------

_CLOSINGS = (  # (category, instruction), most important first
    ("manufactured", "Run the real commands (never print or fake their output) and report "
                     "what they show."),
    ("weakened", "Restore the tests and checks you weakened, fix the code instead, and report "
                 "what the full test suite shows."),
    ("hard-coded", "Replace the hard-coded results with a real implementation, then run the "
                   "tests and report what they show."),
    ("tests", "Run the full test suite and report what it shows."),
    ("checks", "Run the build, linter and type checker and report what they show."),
    ("files", "Create the files or correct the report."),
    ("commits", "Make the commit or correct the report so it names only commits that exist."),
    ("commands", "Run the command or correct the report."),
    ("generic", "Fix the work or correct the report so it says only what the evidence shows."),
)
_KIND_CATEGORY = {"file.created": "files", "file.modified": "files", "file.deleted": "files",
                  "git.commit": "commits", "command.ran": "commands", "build.pass": "checks",
                  "lint.pass": "checks", "typecheck.pass": "checks"}
_PATTERN_CATEGORY = {
    "claim.file_not_written": "files", "claim.file_missing": "files",
    "claim.file_changed_since": "files", "claim.commit_missing": "commits",
    "claim.command_not_run": "commands", "claim.check_not_run": "checks",
    "claim.no_test_run": "tests", "claim.stale_tests": "tests", "claim.tests_failed": "tests",
    "claim.zero_tests": "tests", "claim.count_mismatch": "tests", "claim.narrowed_scope": "tests",
}


def _claim_category(result: ClaimResult) -> str:
    kind = result.claim.kind
    return "tests" if kind.startswith("tests.") else _KIND_CATEGORY.get(kind, "generic")


def _finding_category(finding: Finding) -> str:
    if finding.pattern in _PATTERN_CATEGORY:
        return _PATTERN_CATEGORY[finding.pattern]
    known = PATTERNS.get(finding.pattern)
    return known.group if known is not None and known.group != "no-evidence" else "generic"


def _cite(text: str, evidence: tuple[int, ...], where: str = "", *, empty: str) -> str:
    """``text`` (``empty`` when it says nothing) as a sentence, followed by the ledger entries
    it rests on unless it names them already, and by ``where`` (a path) when given."""
    text = text.rstrip(" .") or empty
    missing = [i for i in evidence if not re.search(rf"(?<!\d){i}(?!\d)", text)]
    notes = []
    if missing:
        notes.append(("entry " if len(missing) == 1 else "entries ")
                     + ", ".join(str(i) for i in missing))
    if where:
        notes.append(where)
    return text + (f" ({'; '.join(notes)})" if notes else "") + "."


def _restates(report: Report, finding: Finding) -> bool:
    """Whether ``finding`` only restates a contradicted claim's verdict: it concerns that
    claim, names no path and cites nothing the claim's result does not."""
    if finding.claim is None or not 0 <= finding.claim < len(report.claims) or finding.path:
        return False
    result = report.claims[finding.claim]
    return result.verdict == "contradicted" and set(finding.evidence) <= set(result.evidence)


def _more(count: int) -> str:
    return f"({count} more not shown.)"


def block_reason(report: Report, *, limit: int = 900) -> str:
    """What to tell an agent whose report failed, in at most ``limit`` characters.

    Contradicted claims come first, then findings (medium and above, most severe first), then
    unsupported claims; the policy's failure lines stand in when none of those explain the
    failure. The message ends with one instruction chosen from what failed. A report with
    nothing wrong gives ``""``.
    """
    items: list[tuple[str, str]] = []  # (sentence, category)
    for result in report.claims:
        if result.verdict == "contradicted":
            quoted = _clip(_clean(result.claim.text), 80)
            items.append((f"Your claim '{quoted}' is contradicted: "
                          + _cite(_clean(result.reason), result.evidence,
                                  empty="the evidence shows otherwise"),
                          _claim_category(result)))
    for finding in _by_severity(report.findings):
        if _SEV_RANK.get(finding.severity, 0) < _SEV_RANK["medium"] or _restates(report, finding):
            continue
        known = PATTERNS.get(finding.pattern)
        sentence = _cite(_clean(finding.message), finding.evidence, _clean(_location(finding)),
                         empty=known.title if known else _clean(finding.pattern) or "problem")
        items.append((sentence[:1].upper() + sentence[1:], _finding_category(finding)))
    for result in report.claims:
        if result.verdict == "unsupported":
            quoted = _clip(_clean(result.claim.text), 80)
            items.append((f"Your claim '{quoted}' has no evidence: "
                          + _cite(_clean(result.reason), result.evidence,
                                  empty="nothing recorded supports it"),
                          _claim_category(result)))
    if not items and not report.passed:
        items = [(_cite(_clean(line), (), empty="the report failed verification"), "generic")
                 for line in report.failures] or \
                [("The report failed verification.", "generic")]
    if not items or limit <= 0:
        return ""
    sentences: list[str] = []
    for sentence, _ in items:
        if sentence not in sentences:
            sentences.append(sentence)
    present = {category for _, category in items}
    closing = next(text for category, text in _CLOSINGS
                   if category in present or category == "generic")
    budget = limit - len(closing) - 1
    if budget < 20:
        return _clip(f"{sentences[0]} {closing}", limit)
    body: list[str] = []
    used = -1
    for number, sentence in enumerate(sentences):
        after = len(sentences) - number - 1  # room is kept to say these were left out
        if used + 1 + len(sentence) + (len(_more(after)) + 1 if after else 0) <= budget:
            body.append(sentence)
            used += 1 + len(sentence)
            continue
        left_out = len(sentences) - number
        if not body:  # the first problem alone is too long: clip it
            room = budget - (len(_more(left_out - 1)) + 1 if left_out > 1 else 0)
            if room < 20:  # no room to say more were left out
                room, left_out = budget, 1
            body.append(_clip(sentence, room))
            left_out -= 1
        if left_out:
            body.append(_more(left_out))
        break
    return _clip(" ".join([*body, closing]), limit)


# -- HTML page -----------------------------------------------------------------------------------

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
