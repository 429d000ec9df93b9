"""What a test runner or checker said about its run: :func:`parse_output` reads the summary
pytest, unittest, jest, vitest, mocha, ``go test``, ``cargo test``, mypy, ruff, tsc or eslint
printed, and :class:`RunSummary` holds its counts.

The text is a run's output as recorded (stdout and stderr joined; possibly an excerpt that keeps
its head and tail around a ``…[N bytes, middle omitted]…`` marker): colour codes are ignored,
several summaries are added up (several go packages, cargo test binaries, runners run by one
``npm test``), and text with no known summary gives ``None``. Reading is cheap: each format is
looked for only when a literal it cannot do without is present.

Which checks a command line runs is :mod:`codor.claims.shell`'s job; its API is re-exported
here (:class:`Invocation`, :func:`invocations`, :func:`prints_only`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from codor.claims.shell import Category, Invocation, invocations, prints_only

__all__ = ["Category", "Invocation", "RunSummary", "invocations", "parse_output", "prints_only"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The counts a run's own summary reports.

    ``runner`` is the format that matched (``"pytest"``, ``"go"``, ``"mypy"``...; formats found
    together are joined with ``+``, e.g. ``"jest+mocha"``). For test runners ``passed`` is
    ``None`` when the output does not say (``go test`` without ``-v``); ``skipped`` includes
    xfailed, todo, pending and ignored tests; ``total`` counts the tests the summary accounts
    for (collection errors excluded). For checkers (mypy, ruff, tsc, eslint) ``errors`` is the
    number of problems reported and ``passed``/``total`` are ``None``. ``ok`` is true when the
    output itself says success: nothing failed, no errors, and for tests at least one passed.
    ``lines`` are the summary lines read, stripped.
    """

    runner: str
    passed: int | None
    failed: int
    errors: int
    skipped: int
    total: int | None
    duration_s: float | None
    ok: bool
    lines: tuple[str, ...]


_CHECKERS: Final = frozenset({"mypy", "ruff", "tsc", "eslint"})
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_NUM = r"(\d+(?:\.\d+)?)"
_MAX_LINE: Final = 300      # summary lines are short; longer ones are kept cut
_Hit = tuple[int, RunSummary]       # where the first summary line starts, and the summary


def _line(text: str, pos: int) -> tuple[int, str]:
    """The start and the stripped text (at most :data:`_MAX_LINE` characters) of the line
    containing ``pos``."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, text[start:end if end >= 0 else len(text)].strip()[:_MAX_LINE]


def _each(rx: re.Pattern[str], text: str, pos: int = 0,
          endpos: int | None = None) -> Iterator[tuple[int, str, re.Match[str]]]:
    """The first match of ``rx`` on each line of ``text[pos:endpos]``, with the start and the
    stripped text of its line: one match per line, so no line is read twice."""
    stop = len(text) if endpos is None else min(endpos, len(text))
    while pos < stop:
        m = rx.search(text, pos, stop)
        if m is None:
            return
        start, line = _line(text, m.start())
        yield start, line, m
        end = text.find("\n", m.end())
        pos = stop if end < 0 else end + 1


def _secs(value: str, unit: str) -> float:
    return float(value) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


def _sum(values: list[float]) -> float | None:
    return round(sum(values), 6) if values else None


# ===================================================================================== pytest

_PYTEST_IN = re.compile(r" in \d+(?:\.\d+)?s\b")
_PYTEST_LINE = re.compile(
    r"=*[ ]*((?:\d+ [a-z]+(?: [a-z]+)?, )*\d+ [a-z]+(?: [a-z]+)?|no tests ran)"
    r" in " + _NUM + r"s(?: \(\d+:\d\d:\d\d\))?[ ]*=*")
_PYTEST_ITEM = re.compile(r"(\d+) ([a-z]+(?: [a-z]+)?)")
_PYTEST_WORDS: Final = {
    "passed": "passed", "xpassed": "passed", "failed": "failed", "error": "errors",
    "errors": "errors", "skipped": "skipped", "xfailed": "skipped", "warning": "",
    "warnings": "", "deselected": "", "rerun": "", "reruns": "", "subtests passed": "",
    "subtest passed": "", "subtests skipped": "", "subtest skipped": "",
    "subtests xfailed": "", "subtests failed": "failed", "subtest failed": "failed",
}


def _pytest(text: str) -> _Hit | None:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    lines: list[str] = []
    durations: list[float] = []
    first = -1
    for start, line, _m in _each(_PYTEST_IN, text):
        full = _PYTEST_LINE.fullmatch(line)
        if full is None:
            continue
        items = [] if full.group(1) == "no tests ran" else _PYTEST_ITEM.findall(full.group(1))
        keys = [(_PYTEST_WORDS.get(word), int(count)) for count, word in items]
        if any(key is None for key, _count in keys):
            continue            # not pytest's words: some other "N things in 2s" line
        for key, count in keys:
            if key:
                counts[key] += count
        durations.append(float(full.group(2)))
        lines.append(line)
        if first < 0:
            first = start
    if not lines:
        return None
    passed, failed, errors, skipped = (counts["passed"], counts["failed"], counts["errors"],
                                       counts["skipped"])
    total = passed + failed + skipped + errors
    if "during collection" in text and "Interrupted: " in text:
        total -= errors             # errors collecting files, not tests
    interrupted = "KeyboardInterrupt" in text
    ok = failed == 0 and errors == 0 and passed > 0 and not interrupted
    return first, RunSummary("pytest", passed, failed, errors, skipped, total, _sum(durations),
                             ok, tuple(lines))


# =================================================================================== unittest

_UT_RAN = re.compile(r"Ran (\d+) tests? in " + _NUM + "s")
_UT_RESULT = re.compile(r"\n[ \t]*(OK|FAILED|NO TESTS RAN)(?: \(([^)\n]*)\))?[ \t]*(?=\n|$)")
_UT_PAIR = re.compile(r"([a-z ]+)=(\d+)")


def _unittest(text: str) -> _Hit | None:
    ran = passed = failed = errors = skipped = 0
    lines: list[str] = []
    durations: list[float] = []
    first = -1
    ok = True
    for m in _UT_RAN.finditer(text):
        if m.start() and text[m.start() - 1] != "\n":
            continue
        start, line = _line(text, m.start())
        if line != m.group():
            continue
        n = int(m.group(1))
        result = _UT_RESULT.search(text, m.end(), m.end() + 400)
        lines.append(line)
        durations.append(float(m.group(2)))
        first = start if first < 0 else first
        ran += n
        if result is None:          # cut off before the verdict
            ok = False
            continue
        lines.append(result.group().strip())
        pairs = {k.strip(): int(v) for k, v in _UT_PAIR.findall(result.group(2) or "")}
        f = pairs.get("failures", 0) + pairs.get("unexpected successes", 0)
        e = pairs.get("errors", 0)
        s = pairs.get("skipped", 0) + pairs.get("expected failures", 0)
        failed += f
        errors += e
        skipped += s
        passed += max(0, n - f - e - s)
        if result.group(1) != "OK" or n == 0:
            ok = False
    if not lines:
        return None
    ok = ok and failed == 0 and errors == 0 and passed > 0
    return first, RunSummary("unittest", passed, failed, errors, skipped, ran, _sum(durations),
                             ok, tuple(lines))


# ======================================================================== jest / vitest / mocha

_JEST_TESTS = re.compile(r"Tests:[ \t]+([^\n]{0,120}?)(\d+) total")
_JEST_SUITES = re.compile(r"Test Suites:[ \t]+([^\n]{0,120}?)(\d+) total")
_JEST_TIME = re.compile(r"Time:[ \t]+" + _NUM + r" ?(ms|s|m)\b")
_JS_ITEM = re.compile(r"(\d+) (failed|passed|skipped|todo|pending|expected fail)")
_JEST_NONE = "No tests found, exiting with code"


def _js_counts(body: str) -> dict[str, int]:
    counts = {"failed": 0, "passed": 0, "skipped": 0}
    for count, word in _JS_ITEM.findall(body):
        counts["failed" if word == "failed" else "passed" if word == "passed" else
               "skipped"] += int(count)
    return counts


def _jest(text: str) -> _Hit | None:
    passed = failed = skipped = total = suites_failed = 0
    lines: list[str] = []
    first = -1
    for start, line, m in _each(_JEST_SUITES, text):
        suites_failed += _js_counts(m.group(1))["failed"]
        lines.append(line)
        first = start if first < 0 else first
    for start, line, m in _each(_JEST_TESTS, text):
        counts = _js_counts(m.group(1))
        passed += counts["passed"]
        failed += counts["failed"]
        skipped += counts["skipped"]
        total += int(m.group(2))
        lines.append(line)
        first = start if first < 0 else min(first, start)
    if not lines:
        pos = text.find(_JEST_NONE)
        if pos < 0:
            return None
        first, line = _line(text, pos)
        lines.append(line)
    durations = [_secs(v, u) for v, u in _JEST_TIME.findall(text)]
    errors = max(0, suites_failed - failed)
    ok = failed == 0 and errors == 0 and passed > 0
    return first, RunSummary("jest", passed, failed, errors, skipped, total, _sum(durations),
                             ok, tuple(lines))


_VT_FILES = re.compile(r"Test Files[ \t]+([^\n]{0,120}?)\((\d+)\)")
_VT_TESTS = re.compile(r"Tests[ \t]+(?:no tests|([^\n]{0,120}?)\((\d+)\))")
_VT_DURATION = re.compile(r"Duration[ \t]+" + _NUM + r"(ms|s|m)\b")
_VT_ERRORS = re.compile(r"Errors[ \t]+(\d+) errors?")
_VT_NONE = "No test files found"


def _vitest(text: str) -> _Hit | None:
    passed = failed = skipped = total = files_failed = unhandled = 0
    lines: list[str] = []
    first = -1
    for start, line, m in _each(_VT_FILES, text):
        files_failed += _js_counts(m.group(1))["failed"]
        lines.append(line)
        first = start if first < 0 else first
        tests = _VT_TESTS.search(text, m.end(), m.end() + 400)
        if tests is not None:
            lines.append(_line(text, tests.start())[1])
            if tests.group(2) is not None:
                counts = _js_counts(tests.group(1))
                passed += counts["passed"]
                failed += counts["failed"]
                skipped += counts["skipped"]
                total += int(tests.group(2))
        errs = _VT_ERRORS.search(text, m.end(), m.end() + 600)
        if errs is not None:
            unhandled += int(errs.group(1))
    if not lines:
        pos = text.find(_VT_NONE)
        if pos < 0:
            return None
        first, line = _line(text, pos)
        lines.append(line)
    durations = [_secs(v, u) for v, u in _VT_DURATION.findall(text)]
    errors = max(0, files_failed - failed) + unhandled
    ok = failed == 0 and errors == 0 and passed > 0
    return first, RunSummary("vitest", passed, failed, errors, skipped, total, _sum(durations),
                             ok, tuple(lines))


_MOCHA_PASSING = re.compile(r"(\d+) passing \(" + _NUM + r"(ms|s|m|h)\)")
_MOCHA_OTHER = re.compile(r"(\d+) (failing|pending)")


def _mocha(text: str) -> _Hit | None:
    passed = failed = skipped = 0
    lines: list[str] = []
    durations: list[float] = []
    first = -1
    for start, line, m in _each(_MOCHA_PASSING, text):
        if line != m.group():
            continue
        passed += int(m.group(1))
        durations.append(_secs(m.group(2), m.group(3)))
        lines.append(line)
        first = start if first < 0 else first
        for other in _MOCHA_OTHER.finditer(text, m.end(), m.end() + 120):
            _s, oline = _line(text, other.start())
            if oline != other.group():
                continue
            lines.append(oline)
            if other.group(2) == "failing":
                failed += int(other.group(1))
            else:
                skipped += int(other.group(1))
    if not lines:
        return None
    ok = failed == 0 and passed > 0
    return first, RunSummary("mocha", passed, failed, 0, skipped, passed + failed + skipped,
                             _sum(durations), ok, tuple(lines))


# ================================================================================ go / cargo

_GO_PKG = re.compile(
    r"(ok|FAIL|\?)[ \t]+(\S+)[ \t]+(?:" + _NUM + r"s|\(cached\)|\[([a-z ]+)\])(.*)")
_CUT_MARK = "omitted]\u2026"    # the excerpt marker: "…[N bytes, middle omitted]…"


def _go(text: str) -> _Hit | None:
    if not ("ok  \t" in text or "FAIL\t" in text or "?   \t" in text):
        return None
    first = -1
    ok_pkgs = fail_pkgs = errors = 0
    passes = fails = skips = 0
    fails_since = 0
    verbose = False
    empty_pkgs = 0
    durations: list[float] = []
    lines: list[str] = []
    pos = 0
    for raw in text.split("\n"):
        line_start = pos
        pos += len(raw) + 1
        c = raw[:1]
        if c in ("o", "F", "?"):
            m = _GO_PKG.fullmatch(raw.rstrip())
            if m is None:
                continue
            lines.append(raw.strip())
            first = line_start if first < 0 else first
            if m.group(3) is not None:
                durations.append(float(m.group(3)))
            if m.group(1) == "ok":
                ok_pkgs += 1
                if "[no tests to run]" in m.group(5):
                    empty_pkgs += 1
            elif m.group(1) == "FAIL":
                fail_pkgs += 1
                if fails_since == 0:
                    errors += 1     # a build failure, a panic, a failing TestMain
            fails_since = 0
            continue
        stripped = raw.lstrip()
        if stripped.startswith("--- "):
            if stripped.startswith("--- PASS:"):
                passes += 1
            elif stripped.startswith("--- FAIL:"):
                fails += 1
                fails_since += 1
            elif stripped.startswith("--- SKIP:"):
                skips += 1
        elif stripped.startswith("=== RUN"):
            verbose = True
    if not lines:
        return None
    complete = verbose and _CUT_MARK not in text
    passed = passes if complete else None
    total = passes + fails + skips if complete else None
    ran_something = ok_pkgs > empty_pkgs and (passed is None or passed > 0)
    ok = fails == 0 and errors == 0 and fail_pkgs == 0 and ran_something
    return first, RunSummary("go", passed, fails, errors, skips, total, _sum(durations), ok,
                             tuple(lines))


_CARGO_RESULT = re.compile(
    r"test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; "
    r"(\d+) filtered out(?:; finished in " + _NUM + "s)?")
_CARGO_COMPILE = re.compile(r"error(?:\[E\d+\])?: could not compile[^\n]*")


def _cargo(text: str) -> _Hit | None:
    passed = failed = skipped = 0
    results = 0
    lines: list[str] = []
    durations: list[float] = []
    first = -1
    ok = True
    for start, line, m in _each(_CARGO_RESULT, text):
        results += 1
        passed += int(m.group(2))
        failed += int(m.group(3))
        skipped += int(m.group(4))
        if m.group(7) is not None:
            durations.append(float(m.group(7)))
        ok = ok and m.group(1) == "ok"
        lines.append(line)
        first = start if first < 0 else first
    errors = 0
    if "could not compile" in text:
        for start, line, _m in _each(_CARGO_COMPILE, text):
            errors += 1
            lines.append(line)
            first = start if first < 0 else min(first, start)
    if not lines:
        return None
    ok = ok and failed == 0 and errors == 0 and passed > 0
    return first, RunSummary("cargo", passed if results else None, failed, errors, skipped,
                             passed + failed + skipped if results else None, _sum(durations),
                             ok, tuple(lines))


# ================================================================================== checkers

_MYPY_OK = re.compile(r"Success: no issues found in \d+ source files?")
_MYPY_BAD = re.compile(r"Found (\d+) errors? in \d+ files? \((?:checked \d+ source files?|"
                       r"errors prevented further checking)\)")
_RUFF_FOUND = re.compile(r"Found (\d+) errors?(?: \((\d+) fixed, (\d+) remaining\))?\.")
_FORMATTED = re.compile(" formatted")
_RUFF_FORMAT = re.compile(r"(?:(\d+) files? would be reformatted)?(?:, )?"
                          r"(?:(\d+) files? already formatted)?")
_TSC_FOUND = re.compile(r"Found (\d+) errors?(?: in (?:the same file|\d+ files)|\.| in \S+:\d+)")
_TSC_ERROR = re.compile(r"(?:\(\d+,\d+\): | - )error TS\d+:")
_ESLINT = re.compile(r"✖ (\d+) problems? \((\d+) errors?, (\d+) warnings?\)")


def _checker(name: str, first: int, errors: int, lines: list[str], ok: bool) -> _Hit:
    return first, RunSummary(name, None, 0, errors, 0, None, None, ok and errors == 0,
                             tuple(lines))


def _mypy(text: str) -> _Hit | None:
    errors = 0
    lines: list[str] = []
    first = -1
    for rx in (_MYPY_OK, _MYPY_BAD):
        for start, line, m in _each(rx, text):
            if rx is _MYPY_BAD:
                errors += int(m.group(1))
            lines.append(line)
            first = start if first < 0 else min(first, start)
    return _checker("mypy", first, errors, lines, True) if lines else None


def _ruff(text: str, hinted: bool = False) -> _Hit | None:
    errors = 0
    lines: list[str] = []
    first = -1
    ts_output = not hinted and "error TS" in text
    pos = text.find("All checks passed!")
    if pos >= 0:
        first, line = _line(text, pos)
        lines.append(line)
    if not ts_output:
        for start, line, m in _each(_RUFF_FOUND, text):
            if line != m.group():
                continue
            errors += int(m.group(3) if m.group(3) is not None else m.group(1))
            lines.append(line)
            first = start if first < 0 else min(first, start)
    for start, line, _m in _each(_FORMATTED, text):
        fmt = _RUFF_FORMAT.fullmatch(line)
        if fmt is not None and (fmt.group(1) or fmt.group(2)):
            errors += int(fmt.group(1) or 0)
            lines.append(line)
            first = start if first < 0 else min(first, start)
    return _checker("ruff", first, errors, lines, True) if lines else None


def _tsc(text: str) -> _Hit | None:
    errors = 0
    lines: list[str] = []
    first = -1
    ts_output = "error TS" in text
    for start, line, m in _each(_TSC_FOUND, text):
        if "(checked" in line or "prevented further checking" in line:
            continue            # mypy's
        if m.group().endswith(".") and not ts_output:
            continue            # ruff's
        errors += int(m.group(1))
        lines.append(line)
        first = start if first < 0 else first
    if not lines:
        for start, line, _m in _each(_TSC_ERROR, text):
            errors += 1
            lines.append(line)
            first = start if first < 0 else first
    return _checker("tsc", first, errors, lines, True) if lines else None


def _eslint(text: str) -> _Hit | None:
    errors = 0
    lines: list[str] = []
    first = -1
    for start, line, m in _each(_ESLINT, text):
        errors += int(m.group(2))
        lines.append(line)
        first = start if first < 0 else first
    return _checker("eslint", first, errors, lines, True) if lines else None


# ==================================================================================== entry

_PARSERS: Final[dict[str, Callable[[str], _Hit | None]]] = {
    "pytest": _pytest, "unittest": _unittest, "jest": _jest, "vitest": _vitest,
    "mocha": _mocha, "go": _go, "cargo": _cargo, "mypy": _mypy, "ruff": _ruff, "tsc": _tsc,
    "eslint": _eslint,
}
_HINTS: Final = {
    "pytest": "pytest", "py.test": "pytest", "unittest": "unittest", "django": "unittest",
    "jest": "jest", "react-scripts": "jest", "vitest": "vitest", "mocha": "mocha", "go": "go",
    "cargo": "cargo", "mypy": "mypy", "dmypy": "mypy", "ruff": "ruff", "tsc": "tsc",
    "vue-tsc": "tsc", "eslint": "eslint",
}


def _candidates(text: str) -> list[Callable[[str], _Hit | None]]:
    """The parsers whose indispensable literals occur in ``text``. A few broad literals are
    looked for first (each search is a pass over the text), the narrower ones only behind
    them."""
    out: list[Callable[[str], _Hit | None]] = []
    has_in = " in " in text     # pytest, unittest, mypy, tsc's "Found N errors in"
    has_est = "est" in text     # Tests:, Test Files, No test..., test result, Ran N tests
    has_rror = "rror" in text   # Found N errors., could not compile, error TS
    found = (has_in or has_rror) and "Found " in text
    if has_in:
        out.append(_pytest)
        if has_est and "Ran " in text:
            out.append(_unittest)
    if has_est:
        if "Test" in text:
            if "Tests:" in text:
                out.append(_jest)
            if "Test Files" in text:
                out.append(_vitest)
        if "No test" in text:
            if _JEST_NONE in text and _jest not in out:
                out.append(_jest)
            if _VT_NONE in text and _vitest not in out:
                out.append(_vitest)
    if "pass" in text:
        if " passing (" in text:
            out.append(_mocha)
        if "All checks passed!" in text:
            out.append(_ruff)
    if "\t" in text:
        out.append(_go)
    if (has_est and "test result: " in text) or (has_rror and "could not compile" in text):
        out.append(_cargo)
    if has_in and (found or "Success: no issues" in text):
        out.append(_mypy)
    if _ruff not in out and ((has_rror and found) or "formatted" in text):
        out.append(_ruff)
    if found or (has_rror and "error TS" in text):
        out.append(_tsc)
    if "✖" in text:
        out.append(_eslint)
    return out


def _combine(hits: list[_Hit]) -> RunSummary:
    if len(hits) == 1:
        return hits[0][1]
    parts = [s for _pos, s in sorted(hits, key=lambda h: h[0])]
    tests = [p for p in parts if p.runner not in _CHECKERS]
    passed = None if not tests or any(p.passed is None for p in tests) else \
        sum(p.passed or 0 for p in tests)
    total = None if not tests or any(p.total is None for p in tests) else \
        sum(p.total or 0 for p in tests)
    durations = [p.duration_s for p in parts if p.duration_s is not None]
    return RunSummary(
        "+".join(p.runner for p in parts), passed, sum(p.failed for p in parts),
        sum(p.errors for p in parts), sum(p.skipped for p in parts), total,
        _sum(durations), all(p.ok for p in parts),
        tuple(line for p in parts for line in p.lines))


def parse_output(text: str, tool: str | None = None) -> RunSummary | None:
    """The summary a runner or checker printed in ``text``, or ``None`` when there is none.

    ``tool`` is a hint (:attr:`Invocation.tool`): when it names a format and that format is
    found, only it is read; generic tools (``npm``, ``make``, ``tox``...) or no hint read every
    format present and add them up."""
    if not text:
        return None
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    hint = _HINTS.get(tool) if tool else None
    if hint is not None:
        hit = _ruff(text, hinted=True) if hint == "ruff" else _PARSERS[hint](text)
        if hit is not None:
            return hit[1]
    hits = [hit for parser in _candidates(text) if (hit := parser(text)) is not None]
    return _combine(hits) if hits else None
