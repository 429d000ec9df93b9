"""Coverage reports for the tech-debt budget: each format, the produced-by-a-recorded-run
check, the budget's thresholds, and hostile input — XML declarations and entities, a file past
the size cap, a symlink, bad JSON — with property tests that the parsers never fail in any
other way than a located ``E_COVERAGE`` error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.runtime.coverage import (
    DEFAULT_REPORTS,
    CoverageError,
    CoverageReport,
    RunWindow,
    budget,
    find_reports,
    parse_cobertura,
    parse_coverage_py,
    parse_istanbul,
    parse_lcov,
    parse_report,
    produced_by,
    read_report,
    report_signature,
)

COVERAGE_PY = json.dumps({"meta": {"version": "7.5"}, "files": {},
                          "totals": {"covered_lines": 87, "num_statements": 100,
                                     "percent_covered": 87.0,
                                     "percent_covered_display": "87"}}).encode()
COBERTURA = (b'<?xml version="1.0" ?>\n<coverage version="7.5" timestamp="1" '
             b'lines-valid="200" lines-covered="150" line-rate="0.75" branch-rate="0">'
             b'<sources><source>/ws</source></sources><packages/></coverage>\n')
LCOV = (b"TN:\nSF:src/a.js\nDA:1,1\nDA:2,0\nLF:2\nLH:1\nend_of_record\n"
        b"SF:src/b.js\nDA:1,1\nLF:8\nLH:7\nend_of_record\n")
ISTANBUL = json.dumps({"total": {"lines": {"total": 40, "covered": 30, "skipped": 0,
                                           "pct": 75.0},
                                 "statements": {"pct": 70}},
                       "/ws/src/a.js": {"lines": {"pct": 50}}}).encode()


def test_each_format() -> None:
    assert parse_coverage_py(COVERAGE_PY) == 87.0
    assert parse_cobertura(COBERTURA) == 75.0
    assert parse_lcov(LCOV) == 80.0
    assert parse_istanbul(ISTANBUL) == 75.0
    assert parse_report(COVERAGE_PY, "coverage.json") == ("coverage.py", 87.0)
    assert parse_report(ISTANBUL, "coverage/coverage-summary.json") == ("istanbul", 75.0)
    assert parse_report(COBERTURA, "coverage/cobertura-coverage.xml") == ("cobertura", 75.0)
    assert parse_report(LCOV, "coverage/lcov.info") == ("lcov", 80.0)


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"{", "coverage.json", "not valid JSON"),
    (b"[]", "coverage.json", "neither a coverage.py report nor an istanbul summary"),
    (b'{"totals": {}}', "coverage.json", "no totals.percent_covered"),
    (b'{"totals": {"percent_covered": "87"}}', "coverage.json", "is not a number"),
    (b'{"totals": {"percent_covered": 187}}', "coverage.json", "out of range"),
    (b'{"totals": {"percent_covered": true}}', "coverage.json", "is not a number"),
    (b'{"total": {"lines": {"pct": "Unknown"}}}', "coverage-summary.json", "not a number"),
    (b'{"total": {"lines": {}}}', "coverage-summary.json", "no total.lines.pct"),
    (b"<coverage/>", "coverage.xml", "no <coverage line-rate"),
    (b'<report line-rate="0.5"/>', "coverage.xml", "no <coverage line-rate"),
    (b'<coverage line-rate="lots"/>', "coverage.xml", "is not a number"),
    (b'<coverage line-rate="1.5"/>', "coverage.xml", "out of range"),
    (b'<coverage line-rate="nan"/>', "coverage.xml", "out of range"),
    (b"<coverage line-rate=", "coverage.xml", "not valid XML"),
    (b"", "coverage.xml", "not valid XML"),
    (b"SF:a\nend_of_record\n", "lcov.info", "no LF: lines"),
    (b"LF:0\nLH:0\n", "lcov.info", "reports no lines"),
    (b"LF:2\nLH:3\n", "lcov.info", "more lines hit"),
    (b"LF:x\n", "lcov.info", "is not a count"),
    (b"LF:-1\n", "lcov.info", "negative count"),
    (b"x", "coverage.txt", "not a known coverage report name"),
])
def test_bad_reports_are_located_errors(data: bytes, name: str, message: str) -> None:
    with pytest.raises(CoverageError) as info:
        parse_report(data, name)
    assert info.value.code == "E_COVERAGE"
    assert info.value.location == name
    assert message in info.value.message
    assert "\n" not in info.value.one_line()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<coverage line-rate="0.5">&lol3;</coverage>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE coverage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<coverage line-rate="0.5"><source>&xxe;</source></coverage>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL,
                                  b'<!doctype coverage SYSTEM "http://x/y.dtd">'
                                  b'<coverage line-rate="0.5"/>',
                                  b'<coverage line-rate="0.5"><!ENTITY a "b"></coverage>'])
def test_xml_declarations_are_refused(data: bytes) -> None:
    with pytest.raises(CoverageError, match="document type or entity declaration"):
        parse_cobertura(data, "coverage.xml")


@pytest.mark.parametrize("data", [
    '<!DOCTYPE c [<!ENTITY a "b">]><coverage line-rate="0.5"/>'.encode("utf-16"),
    '<?xml version="1.0" encoding="utf-16"?><coverage line-rate="0.5"/>'.encode("utf-16-le"),
    b'<?xml version="1.0" encoding="utf-7"?>+ADw-!DOCTYPE c+AD4-<coverage line-rate="0.5"/>',
    b'<?xml version="1.0" encoding="x-unknown"?><coverage line-rate="0.5"/>'])
def test_other_encodings_are_refused(data: bytes) -> None:
    with pytest.raises(CoverageError, match="only UTF-8 XML reports are read"):
        parse_cobertura(data, "coverage.xml")
    assert parse_cobertura(b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>'
                           b'<coverage line-rate="0.5"/>') == 50.0


def test_only_the_root_of_a_large_xml_is_read() -> None:
    body = b'<coverage line-rate="0.9">' + b"<class/>" * 300_000  # unclosed: never parsed
    assert parse_cobertura(body) == 90.0


def test_read_report(tmp_path: Path) -> None:
    path = tmp_path / "coverage.json"
    path.write_bytes(COVERAGE_PY)
    report = read_report(path, shown="coverage.json")
    assert (report.path, report.format, report.percent, report.size) == (
        "coverage.json", "coverage.py", 87.0, len(COVERAGE_PY))
    assert report.mtime_ns == path.stat().st_mtime_ns
    assert report.to_json()["percent"] == 87.0
    with pytest.raises(CoverageError, match="at most 100 are read") as info:
        read_report(path, max_bytes=100, shown="coverage.json")
    assert info.value.location == "coverage.json"
    link = tmp_path / "coverage.xml"
    link.symlink_to(path)
    with pytest.raises(CoverageError, match="cannot open"):
        read_report(link)
    with pytest.raises(CoverageError, match="cannot open"):
        read_report(tmp_path / "missing.json")
    fifo = tmp_path / "lcov.info"
    os.mkfifo(fifo)
    with pytest.raises(CoverageError, match="not a regular file"):
        read_report(fifo)


def test_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "coverage.json"
    with path.open("wb") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: 65 MiB past the default cap
    with pytest.raises(CoverageError, match="at most 67108864 are read"):
        read_report(path)


def test_find_reports_and_signature(tmp_path: Path) -> None:
    assert find_reports(tmp_path) == [] and report_signature(tmp_path) == ()
    (tmp_path / "coverage").mkdir()
    (tmp_path / "coverage" / "lcov.info").write_bytes(LCOV)
    (tmp_path / "coverage.json").write_bytes(COVERAGE_PY)
    os.utime(tmp_path / "coverage.json", (1, 1))
    (tmp_path / "coverage.xml").mkdir()  # not a file
    (tmp_path / "lcov.info").symlink_to(tmp_path / "coverage" / "lcov.info")  # not followed
    found = find_reports(tmp_path)
    assert [rel for rel, _ in found] == ["coverage/lcov.info", "coverage.json"]
    sig = report_signature(tmp_path)
    assert [s[0] for s in sig] == ["coverage.json", "coverage/lcov.info"]
    assert "coverage/coverage-summary.json" in DEFAULT_REPORTS


def _report(mtime_us: int, sha: str = "aa" * 32) -> CoverageReport:
    return CoverageReport("coverage.json", "coverage.py", 80.0, mtime_us * 1000, 10, sha)


def test_produced_by_a_recorded_run() -> None:
    windows = [RunWindow(5, 1_000_000, 2_000_000), RunWindow(9, 5_000_000, 6_000_000,
                                                            frozenset({"bb" * 32}))]
    assert produced_by(_report(1_500_000), windows) == windows[0]
    assert produced_by(_report(2_200_000), windows) == windows[0]      # within the slack
    assert produced_by(_report(2_300_000), windows) is None
    assert produced_by(_report(2_300_000), windows, slack_us=0) is None
    assert produced_by(_report(900_000), windows, slack_us=0) is None
    assert produced_by(_report(10, "bb" * 32), windows) == windows[1]  # by its digest
    assert produced_by(_report(1_500_000), []) is None


def test_budget() -> None:
    b = budget(77.5, 80.0)
    assert (b.delta, b.warn, b.locked) == (-2.5, True, False)
    assert "-2.5 points" in b.note()
    b = budget(75.0, 80.0)
    assert (b.warn, b.locked) == (True, True)
    b = budget(79.0, 80.0)
    assert (b.warn, b.locked) == (False, False)
    assert budget(90.0, 80.0).delta == 10.0
    assert budget(None, 80.0).delta is None and not budget(None, 80.0).locked
    assert "no coverage delta" in budget(80.0, None).note()
    b = budget(79.0, 80.0, warn_at=-1.0, lock_at=-1.0)
    assert b.warn and b.locked
    assert budget(70.0, 80.0).to_json()["locked"] is True
    for warn_at, lock_at in ((-5.0, -2.0), (1.0, -5.0), (float("nan"), -5.0)):
        with pytest.raises(CoverageError):
            budget(1.0, 2.0, warn_at=warn_at, lock_at=lock_at)


# ============================================================================ property tests

NAMES = st.sampled_from(["coverage.json", "coverage.xml", "lcov.info", "x.info",
                         "coverage-summary.json", "report.bin"])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), name=NAMES)
def test_any_bytes_parse_or_fail_with_a_coverage_error(data: bytes, name: str) -> None:
    try:
        fmt, pct = parse_report(data, name)
    except CoverageError as exc:
        assert exc.location == name
        return
    assert fmt in ("coverage.py", "cobertura", "lcov", "istanbul")
    assert 0.0 <= pct <= 100.0


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["totals", "total", "lines", "pct", "percent_covered", "x"]), inner,
        max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(doc=JSONISH)
def test_any_json_document_parses_or_fails_cleanly(doc: object) -> None:
    data = json.dumps(doc).encode()
    for name in ("coverage.json", "coverage-summary.json"):
        try:
            _fmt, pct = parse_report(data, name)
        except CoverageError:
            continue
        assert 0.0 <= pct <= 100.0


@settings(max_examples=200, deadline=None)
@given(records=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1,
                        max_size=20))
def test_lcov_is_the_sum_of_its_records(records: list[tuple[int, int]]) -> None:
    lines = []
    for a, b in records:
        found, hit = max(a, b), min(a, b)
        lines += [f"SF:f{len(lines)}", f"LF:{found}", f"LH:{hit}", "end_of_record"]
    data = "\n".join(lines).encode()
    total = sum(max(a, b) for a, b in records)
    if total == 0:
        with pytest.raises(CoverageError):
            parse_lcov(data)
        return
    expected = sum(min(a, b) for a, b in records) * 100.0 / total
    assert parse_lcov(data) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(min_value=0.0, max_value=1.0),
       extra=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
def test_cobertura_line_rate(rate: float, extra: str) -> None:
    from xml.sax.saxutils import quoteattr

    data = f'<coverage line-rate="{rate!r}" name={quoteattr(extra)}><x/></coverage>'.encode()
    assert parse_cobertura(data) == pytest.approx(rate * 100.0)


@settings(max_examples=200, deadline=None)
@given(pct=st.floats(min_value=0.0, max_value=100.0))
def test_json_percentages_round_trip(pct: float) -> None:
    assert parse_coverage_py(json.dumps({"totals": {"percent_covered": pct}}).encode()) == pct
    assert parse_istanbul(json.dumps({"total": {"lines": {"pct": pct}}}).encode()) == pct
