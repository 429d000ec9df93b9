"""Rendering a claims :class:`~codor.claims.report.Report` for people and for agents.

- :func:`to_table`: a terminal view (``rich`` tables, imported lazily).
- :func:`to_html`: one self-contained, offline HTML page (inline CSS, no script), made by
  :mod:`codor.claims.htmlpage`.
- :func:`summary_line`: one line, e.g. ``FAIL: 1 contradicted, 2 verified, 1 finding (high)``.
- :func:`block_reason`: the short, actionable answer sent back to an agent whose report failed.

Everything the agent wrote (report text, claim text, paths) is attacker-controlled: it is never
interpreted as markup (``rich`` markup or HTML) and control characters are neutralised. Claims
are numbered from 1 in every view (``Finding.claim`` is 0-based and shown plus one).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys

from codor.claims.finding import ClaimResult, Finding
from codor.claims.htmlpage import to_html
from codor.claims.patterns import PATTERNS
from codor.claims.report import Report
from codor.claims.viewtext import (
    _SEV_RANK,
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

__all__ = ["block_reason", "summary_line", "to_html", "to_table"]

_RICH_STYLES = {"verified": "green", "contradicted": "bold red", "unsupported": "yellow",
                "unverifiable": "dim"}
_SEVERITY_STYLES = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
                    "low": "cyan", "info": "dim"}


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
