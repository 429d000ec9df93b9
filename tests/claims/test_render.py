"""Rendering claims reports: terminal table, HTML page, summary line, the agent's block reason."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.claim import Claim, Span
from codor.claims.finding import ClaimResult, Finding
from codor.claims.render import block_reason, summary_line, to_html, to_table
from codor.claims.report import Report

TEXT = ("I fixed the parser. All tests pass. Created src/parser.py as asked. "
        "Committed abc123. Everything works end to end.")
HOSTILE = '<script>alert("x")</script>'
VOID = {"meta", "br", "link", "img", "hr", "input"}


def span_of(text: str, part: str) -> Span:
    start = text.index(part)
    return Span(start, start + len(part))


def make_report(*, passed: bool = False, claims: tuple[ClaimResult, ...] = (),
                findings: tuple[Finding, ...] = (), failures: tuple[str, ...] = (),
                text: str = TEXT, session: str = "s-123") -> Report:
    return Report(session=session, mode="standard", passed=passed, claims=claims,
                  findings=findings, failures=failures, report_sha256="ab" * 32,
                  report_text=text, ledger_size=900, evidence_entries=120,
                  verified_wall_us=1_700_000_000_000_000, workspace="/w", recorded_at=901)


def claim(kind: str, part: str, verdict: str, reason: str, evidence: tuple[int, ...] = (),
          text: str = TEXT) -> ClaimResult:
    return ClaimResult(Claim(kind, part, span_of(text, part)), verdict,  # type: ignore[arg-type]
                       reason, evidence)


def failing() -> Report:
    return make_report(
        claims=(
            claim("tests.pass", "All tests pass", "contradicted",
                  "the last pytest run (entry 812) had 2 failures, and src/parser.py changed "
                  "after it", (812, 815)),
            claim("file.created", "Created src/parser.py", "verified",
                  "src/parser.py was written at entry 790", (790,)),
            claim("git.commit", "Committed abc123", "unsupported", "no commit abc123 was made"),
            claim("vague", "Everything works end to end", "unverifiable", "nothing checkable"),
        ),
        findings=(
            Finding("claim.tests_failed", "high", "tests claimed to pass but the run failed",
                    (812,), claim=0),
            Finding("tests.skip_added", "high", "a test was marked skip",
                    path="tests/test_parser.py", line=12),
            Finding("evidence.printed_output", "critical", "pytest output printed with echo",
                    (801,)),
            Finding("checks.suppression_added", "medium", "a # noqa was added", (803,)),
            Finding("claim.vague", "low", "vague evidence words", claim=3),
            Finding("evidence.piped_exit", "info", "pytest piped to tail", (799,)),
            Finding("custom.unknown", "medium", "a pattern no group knows"),
        ),
        failures=("claim 1 is contradicted", "finding evidence.printed_output (critical)"))


def passing() -> Report:
    return make_report(passed=True, claims=(
        claim("tests.pass", "All tests pass", "verified", "pytest passed at entry 850", (850,)),
        claim("file.created", "Created src/parser.py", "verified", "written at entry 790",
              (790,))))


def hostile() -> Report:
    text = f"Done. {HOSTILE} and [bold red]markup[/] \x1b[31mred\x1b[0m \u202eevil"
    return make_report(
        text=text, session=f"s-{HOSTILE}",
        claims=(claim("vague", HOSTILE, "contradicted", f"reason {HOSTILE}", (5,), text=text),
                claim("vague", "[bold red]markup[/]", "unsupported", "x", text=text),
                claim("vague", "\x1b[31mred\x1b[0m", "verified", "y", text=text)),
        findings=(Finding("claim.vague", "high", f"msg {HOSTILE}", (5,),
                          path=f'"><img src=x onerror=alert(1)>{HOSTILE}', line=3),
                  Finding(f"p.{HOSTILE}", "low", "m")),
        failures=(f"fail {HOSTILE}",))


# -- HTML checking ------------------------------------------------------------------------------

class Checker(HTMLParser):
    """Checks nesting and collects the report's marked segments and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.marks: list[tuple[str, str]] = []  # (data-claims, text)
        self.pre_text: list[str] = []
        self.h3: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "mark":
            self.marks.append((dict(attrs).get("data-claims") or "", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack[-1:] == ["mark"]:
            attr, text = self.marks[-1]
            self.marks[-1] = (attr, text + data)
        if "pre" in self.stack and "sup" not in self.stack:
            self.pre_text.append(data)
        if self.stack[-1:] == ["h3"]:
            self.h3.append(data)


def check_html(page: str) -> Checker:
    checker = Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert "<script" not in page.lower()
    assert {tag for tag, _ in checker.tags} <= {
        "html", "head", "meta", "title", "style", "body", "main", "header", "div", "h1", "h2",
        "h3", "dl", "dt", "dd", "span", "ul", "li", "pre", "mark", "sup", "p", "table", "thead",
        "tbody", "tr", "th", "td", "code", "br"}
    for _, attrs in checker.tags:
        assert not any(name.startswith("on") or name in ("src", "href") for name in attrs)
    return checker


def claim_texts(checker: Checker) -> dict[int, str]:
    out: dict[int, str] = {}
    for attr, text in checker.marks:
        for number in attr.split():
            out[int(number)] = out.get(int(number), "") + text
    return out


# -- terminal table -----------------------------------------------------------------------------

def test_table_failing_report_without_color() -> None:
    out = to_table(failing(), width=200, color=False)
    assert "\x1b" not in out
    header = out.splitlines()[0]
    for word in ("FAIL", "session s-123", "mode standard", "1 contradicted", "1 verified",
                 "1 unsupported", "1 unverifiable", "7 findings"):
        assert word in header
    for word in ("✘ contradicted", "✔ verified", "? unsupported", "– unverifiable",
                 "#812 #815", "#790", "All tests pass", "changed after it",
                 "tests/test_parser.py:12", "evidence.printed_output", "claim 1",
                 "Failures:", "- claim 1 is contradicted"):
        assert word in out
    # findings most severe first
    assert out.index("evidence.printed_output") < out.index("tests.skip_added") \
        < out.index("checks.suppression_added") < out.index("claim.vague  ") \
        < out.index("evidence.piped_exit")
    assert all(line == line.rstrip() for line in out.splitlines())


def test_table_passing_and_empty_reports() -> None:
    out = to_table(passing(), width=120, color=False)
    assert out.splitlines()[0].lstrip().startswith("PASS")
    assert "Findings" not in out and "Failures" not in out
    empty = to_table(make_report(passed=True, text=""), width=80, color=False)
    assert "No claims." in empty and "0 findings" in empty


def test_table_color_and_width() -> None:
    assert "\x1b[" in to_table(failing(), width=120, color=True)
    narrow = to_table(failing(), width=40, color=False)
    assert max(len(line) for line in narrow.splitlines()) <= 40


def test_table_clips_long_claims() -> None:
    long = "All tests pass " + "and more " * 40
    report = make_report(text=long, claims=(claim("tests.pass", long, "verified", "ok",
                                                   text=long),))
    out = to_table(report, width=300, color=False)
    assert "…" in out and long.strip() not in out


def test_table_is_not_fooled_by_markup_or_escapes() -> None:
    out = to_table(hostile(), width=250, color=False)
    assert "\x1b" not in out and "\u202e" not in out
    assert "[bold red]markup[/]" in out
    assert HOSTILE in out


def test_import_is_lazy() -> None:
    code = "import sys, codor.claims.render; assert 'rich' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- HTML ---------------------------------------------------------------------------------------

def test_html_failing_report() -> None:
    report = failing()
    page = to_html(report)
    checker = check_html(page)
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in page
    assert '<meta name="color-scheme" content="light dark">' in page
    assert "@media (prefers-color-scheme:dark)" in page
    assert '<div class="badge fail">FAIL</div>' in page
    assert "2023-11-14T22:13:20Z" in page and "<dd>900</dd>" in page
    assert 'th scope="col"' in page
    texts = claim_texts(checker)
    assert texts == {n: r.claim.text for n, r in enumerate(report.claims, 1)}
    assert '<mark class="v-contradicted" data-claims="1"' in page
    assert '<sup class="cn v-contradicted">1</sup>' in page
    # the whole report text is there, in order
    assert "".join(checker.pre_text) == "\n" + TEXT
    # findings grouped, in GROUPS order, unknown patterns last
    assert checker.h3 == ["Claims without evidence", "Evidence manufactured by the agent",
                          "Tests weakened so they pass", "Other findings"]
    assert "Why it failed" in page and "claim 1 is contradicted" in page
    assert "#812 #815" in page and "tests/test_parser.py:12" in page
    assert "http://" not in page and "https://" not in page and "@import" not in page


def test_html_passing_and_empty() -> None:
    page = to_html(passing())
    check_html(page)
    assert '<div class="badge pass">PASS</div>' in page
    assert "No findings." in page and "Why it failed" not in page
    page = to_html(make_report(passed=True, text=""))
    checker = check_html(page)
    assert "No claims." in page and "No report text" in page and checker.marks == []


def test_html_overlapping_missing_and_out_of_range_spans() -> None:
    text = "alpha beta gamma delta"
    results = (
        ClaimResult(Claim("vague", text[0:10], Span(0, 10)), "verified", "a"),
        ClaimResult(Claim("vague", text[6:16], Span(6, 16)), "contradicted", "b"),
        ClaimResult(Claim("vague", "no span"), "unsupported", "c"),
        ClaimResult(Claim("vague", "beyond", Span(100, 120)), "unverifiable", "d"),
        ClaimResult(Claim("vague", "delta", Span(17, 99)), "verified", "e"),
        ClaimResult(Claim("vague", "", Span(3, 3)), "verified", "f"),
        ClaimResult(Claim("vague", text[6:10], Span(6, 10)), "unsupported", "g"),
    )
    checker = check_html(to_html(make_report(text=text, claims=results)))
    assert claim_texts(checker) == {1: "alpha beta", 2: "beta gamma", 5: "delta", 7: "beta"}
    assert ("1 2 7", "beta") in checker.marks
    assert "".join(checker.pre_text) == "\n" + text


def test_html_escapes_hostile_text() -> None:
    report = hostile()
    page = to_html(report)
    checker = check_html(page)
    assert "&lt;script&gt;" in page
    assert "<img" not in page and "\x1b" not in page and "\u202e" not in page
    assert claim_texts(checker)[1] == HOSTILE
    assert claim_texts(checker)[2] == "[bold red]markup[/]"


# -- summary line and block reason --------------------------------------------------------------

def test_summary_line() -> None:
    assert summary_line(failing()) == ("FAIL: 1 contradicted, 1 unsupported, 1 unverifiable, "
                                       "1 verified, 7 findings (critical) — session s-123")
    assert summary_line(passing()) == "PASS: 2 verified — session s-123"
    one = make_report(findings=(Finding("claim.vague", "low", "m"),), session="a\nb")
    assert summary_line(one) == "FAIL: no claims, 1 finding (low) — session a b"


def test_block_reason_failing_report() -> None:
    reason = block_reason(failing())
    assert reason.startswith("Your claim 'All tests pass' is contradicted: the last pytest run "
                             "(entry 812) had 2 failures, and src/parser.py changed after it "
                             "(entry 815).")
    # findings by severity after the contradicted claims; low/info and restatements left out
    assert reason.index("contradicted") < reason.index("Pytest output printed with echo "
                                                       "(entry 801).") \
        < reason.index("A test was marked skip (tests/test_parser.py:12).") \
        < reason.index("A # noqa was added (entry 803).")
    assert "Your claim 'Committed abc123' has no evidence" in reason
    for absent in ("vague evidence", "piped to tail", "the run failed"):
        assert absent not in reason
    assert reason.endswith("Run the real commands (never print or fake their output) and "
                           "report what they show.")
    assert len(reason) <= 900


@pytest.mark.parametrize(("kind", "part", "closing"), [
    ("tests.pass", "All tests pass", "Run the full test suite and report what it shows."),
    ("file.created", "Created src/parser.py", "Create the files or correct the report."),
    ("git.commit", "Committed abc123", "Make the commit or correct the report so it names "
                                       "only commits that exist."),
    ("vague", "Everything works end to end",
     "Fix the work or correct the report so it says only what the evidence shows."),
])
def test_block_reason_closing_follows_what_failed(kind: str, part: str, closing: str) -> None:
    report = make_report(claims=(claim(kind, part, "contradicted", "it is not so", (7,)),))
    assert block_reason(report) == (f"Your claim '{part}' is contradicted: it is not so "
                                    f"(entry 7). {closing}")


def test_block_reason_passing_and_failure_lines_only() -> None:
    assert block_reason(passing()) == ""
    report = make_report(failures=("strict mode: claim 2 is unsupported",))
    assert block_reason(report) == ("strict mode: claim 2 is unsupported. Fix the work or "
                                    "correct the report so it says only what the evidence "
                                    "shows.")
    assert block_reason(make_report()).startswith("The report failed verification.")


def test_block_reason_limit() -> None:
    report = failing()
    full = block_reason(report, limit=10_000)
    for limit in range(0, 600):
        reason = block_reason(report, limit=limit)
        assert len(reason) <= limit and reason == reason.strip()
        if 0 < limit < len(full):
            assert "…" in reason or "more not shown." in reason
    short = block_reason(report, limit=250)
    assert short.endswith("report what they show.") and "more not shown." in short
    assert block_reason(report, limit=0) == ""


# -- properties ---------------------------------------------------------------------------------

def _printable(ch: str) -> bool:
    return unicodedata.category(ch) not in ("Cc", "Cs") and unicodedata.bidirectional(ch) not in (
        "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI", "LRM", "RLM", "ALM")


@st.composite
def reports(draw: st.DrawFn, alphabet: st.SearchStrategy[str] | None = None) -> Report:
    chars = alphabet if alphabet is not None else st.characters()
    text = draw(st.text(chars, max_size=80))
    results = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(text) + 3))
        end = draw(st.integers(start, len(text) + 6))
        use_span = draw(st.booleans())
        results.append(ClaimResult(
            Claim("vague", text[start:end] if use_span else draw(st.text(chars, max_size=30)),
                  Span(start, end) if use_span else None),
            draw(st.sampled_from(["verified", "contradicted", "unsupported", "unverifiable"])),
            draw(st.text(chars, max_size=40)),
            tuple(draw(st.lists(st.integers(0, 10**6), max_size=3)))))
    findings = tuple(
        Finding(draw(st.sampled_from(["claim.vague", "tests.deleted", "zz"])),
                draw(st.sampled_from(["info", "low", "medium", "high", "critical"])),
                draw(st.text(chars, max_size=40)), claim=draw(st.none() | st.integers(-1, 5)),
                path=draw(st.none() | st.text(chars, min_size=1, max_size=20)), line=1)
        for _ in range(draw(st.integers(0, 3))))
    return make_report(text=text, claims=tuple(results), findings=findings,
                       failures=tuple(draw(st.lists(st.text(chars, max_size=20), max_size=2))),
                       session=draw(st.text(chars, max_size=20)),
                       passed=draw(st.booleans()))


@settings(max_examples=60, deadline=None)
@given(reports(), st.integers(0, 1200))
def test_renderers_never_raise_and_stay_safe(report: Report, limit: int) -> None:
    page = to_html(report)
    check_html(page)
    table = to_table(report, width=90, color=False)
    assert "\x1b" not in table
    reason = block_reason(report, limit=limit)
    assert len(reason) <= limit and reason == reason.strip() and "\n" not in reason
    assert "\n" not in summary_line(report)


@settings(max_examples=60, deadline=None)
@given(reports(st.characters().filter(_printable) | st.sampled_from("<>&\"'\n")))
def test_html_keeps_text_and_spans_exactly(report: Report) -> None:
    checker = check_html(to_html(report))
    assert "".join(checker.pre_text) == ("\n" + report.report_text if report.report_text else "")
    expected = {}
    for number, result in enumerate(report.claims, 1):
        span = result.claim.span
        if span is not None and span.start < min(span.end, len(report.report_text)):
            expected[number] = report.report_text[span.start:span.end]
    assert claim_texts(checker) == expected


def test_block_reason_fills_in_empty_explanations() -> None:
    report = make_report(
        claims=(ClaimResult(Claim("tests.pass", "tests pass"), "contradicted", " . "),),
        findings=(Finding("tests.deleted", "high", "", path="tests/test_a.py"),))
    assert block_reason(report) == (
        "Your claim 'tests pass' is contradicted: the evidence shows otherwise. Tests deleted "
        "(tests/test_a.py). Restore the tests and checks you weakened, fix the code instead, "
        "and report what the full test suite shows.")
