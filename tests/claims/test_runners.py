"""``parse_output`` on what real runners print: pytest, unittest, jest, vitest, mocha, ``go test``,
``cargo test``, ``npm test``, mypy, ruff, tsc and eslint run on tiny projects whose counts are
known by construction (tests/claims/runner_fixtures.py). A runner missing from the machine fails
its tests with the command that installs it."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.runners import RunSummary, parse_output
from codor.evidence.records import StreamSummary
from tests.claims import runner_fixtures as rf

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rf.Runs]:
    """Every runner invocation of this module, started together at module setup."""
    base = tmp_path_factory.mktemp("runners")
    env = rf.clean_env()
    py = rf.clean_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    r = rf.Runs()
    pyx = sys.executable

    p = rf.pytest_project(base / "py")
    common = ["-p", "no:cacheprovider"]
    r.start("pytest_mixed", [pyx, "-m", "pytest", *common, "test_mixed.py"], p, py)
    r.start("pytest_mixed_q", [pyx, "-m", "pytest", "-q", *common, "test_mixed.py"], p, py)
    r.start("pytest_mixed_v", [pyx, "-m", "pytest", "-v", *common, "test_mixed.py"], p, py)
    r.start("pytest_k", [pyx, "-m", "pytest", *common, "-k", "one or two", "test_mixed.py"],
            p, py)
    r.start("pytest_ok", [pyx, "-m", "pytest", "-q", *common, "ok"], p, py)
    r.start("pytest_many", [pyx, "-m", "pytest", "-v", *common, "many"], p, py)
    r.start("pytest_empty", [pyx, "-m", "pytest", *common], p / "empty", py)
    r.start("pytest_collect_error", [pyx, "-m", "pytest", *common], p / "collect_error", py)

    u = rf.unittest_project(base / "ut")
    r.start("unittest_mixed", [pyx, "-m", "unittest", "-v", "test_mixed_ut"], u, env)
    r.start("unittest_ok", [pyx, "-m", "unittest", "test_ok_ut"], u, env)
    r.start("unittest_empty", [pyx, "-m", "unittest"], u / "empty", env)

    j = rf.jest_project(base / "jest")
    r.start("jest_mixed", ["jest", "--ci", "a.test.js", "b.test.js"], j, env)
    r.start("jest_subset", ["jest", "--ci", "a.test.js"], j, env, after="jest_mixed")
    r.start("jest_broken", ["jest", "--ci", "broken"], j, env, after="jest_subset")
    r.start("jest_none", ["jest", "--ci", "no-such-test"], j, env, after="jest_broken")
    r.start("npm_jest", ["npm", "test", "--no-audit", "--no-fund"], j, env, after="jest_none")
    two = rf.npm_two_runners_project(base / "two")
    r.start("npm_two", ["npm", "test"], two, env)

    v = rf.vitest_project(base / "vitest")
    r.start("vitest_mixed", ["vitest", "run"], v, rf.clean_env(FORCE_COLOR="1"))
    r.start("vitest_subset", ["vitest", "run", "a.test.js"], v, env, after="vitest_mixed")
    r.start("vitest_none", ["vitest", "run", "no-such-test"], v, env, after="vitest_subset")

    m = rf.mocha_project(base / "mocha")
    r.start("mocha_mixed", ["mocha"], m, env)
    r.start("mocha_grep", ["mocha", "--grep", "adds"], m, env)

    genv = rf.clean_env(GOFLAGS="-mod=mod", GOPROXY="off", GOCACHE=str(base / "gocache"),
                        GOPATH=str(base / "gopath"), GOTOOLCHAIN="local")
    g = rf.go_module(base / "go")
    r.start("go_all", ["go", "test", "./..."], g, genv)
    r.start("go_all_v", ["go", "test", "-count=1", "-v", "./..."], g, genv, after="go_all")
    r.start("go_one", ["go", "test", "-count=1", "./a"], g, genv, after="go_all_v")
    r.start("go_broken", ["go", "test", "./..."], rf.go_broken_module(base / "gobroken"), genv,
            after="go_one")

    cenv = rf.clean_env(CARGO_TARGET_DIR=str(base / "target"), RUST_BACKTRACE="0",
                        CARGO_TERM_COLOR="never")
    c = rf.cargo_crate(base / "crate")
    r.start("cargo_all", ["cargo", "test", "--offline", "--no-fail-fast"], c, cenv)
    r.start("cargo_filter", ["cargo", "test", "--offline", "adds"], c, cenv, after="cargo_all")
    r.start("cargo_broken", ["cargo", "test", "--offline"], rf.cargo_broken_crate(base / "bad"),
            cenv, after="cargo_filter")

    k = rf.checkers_project(base / "checks")
    mypy = [pyx, "-m", "mypy", "--cache-dir", str(base / "mypy-cache")]
    r.start("mypy_ok", [*mypy, "typed_ok.py"], k, env)
    r.start("mypy_bad", [*mypy, "typed_bad.py", "typed_ok.py"], k, env, after="mypy_ok")
    ruff = ["ruff", "check", "--isolated", "--no-cache"]
    r.start("ruff_ok", [*ruff, "typed_ok.py"], k, env)
    r.start("ruff_bad", [*ruff, "lint_bad.py"], k, env)
    r.start("ruff_format", ["ruff", "format", "--isolated", "--no-cache", "--check",
                            "fmt_bad.py", "typed_ok.py"], k, env)
    r.start("tsc_bad", ["tsc", "--noEmit", "bad.ts", "ok.ts"], k, env)
    r.start("tsc_pretty", ["tsc", "--noEmit", "--pretty", "bad.ts", "ok.ts"], k, env)
    r.start("tsc_ok", ["tsc", "--noEmit", "ok.ts"], k, env)
    r.start("eslint_bad", ["eslint", "bad.js", "warn.js"], k, env)
    r.start("eslint_warn", ["eslint", "warn.js"], k, env)
    r.start("eslint_ok", ["eslint", "ok.js"], k, env)
    yield r
    r.close()


def parsed(r: rf.Runs, name: str, tool: str | None = None) -> RunSummary:
    ran = r.get(name)
    summary = parse_output(ran.output, tool)
    assert summary is not None, f"no summary found in the output of {ran.argv}:\n{ran.output}"
    text = ANSI.sub("", ran.output)
    for line in summary.lines:
        assert line in text, f"{line!r} is not a line of the output"
    return summary


def counts(s: RunSummary) -> tuple[int | None, int, int, int, int | None, bool]:
    return s.passed, s.failed, s.errors, s.skipped, s.total, s.ok


# ===================================================================================== pytest

@pytest.mark.parametrize("name", ["pytest_mixed", "pytest_mixed_q", "pytest_mixed_v"])
def test_pytest_mixed_outcomes_at_every_verbosity(runs: rf.Runs, name: str) -> None:
    s = parsed(runs, name, "pytest")
    assert runs.get(name).returncode == 1
    # 3 passed + 1 xpassed; 2 failed; 1 setup error; 2 skipped + 1 xfailed
    assert counts(s) == (4, 2, 1, 3, 10, False)
    assert s.runner == "pytest"
    assert s.duration_s is not None and s.duration_s >= 0
    assert parse_output(runs.get(name).output) == s        # found without the hint too


def test_pytest_passing_run_and_k_subset(runs: rf.Runs) -> None:
    assert counts(parsed(runs, "pytest_ok")) == (5, 0, 0, 0, 5, True)
    assert counts(parsed(runs, "pytest_k")) == (2, 0, 0, 0, 2, True)
    assert "8 deselected" in parsed(runs, "pytest_k").lines[0]


def test_pytest_zero_collected_is_not_ok(runs: rf.Runs) -> None:
    s = parsed(runs, "pytest_empty")
    assert runs.get("pytest_empty").returncode == 5
    assert counts(s) == (0, 0, 0, 0, 0, False)
    assert "no tests ran" in s.lines[0]


def test_pytest_collection_error_counts_as_error_not_test(runs: rf.Runs) -> None:
    s = parsed(runs, "pytest_collect_error")
    assert counts(s) == (0, 0, 1, 0, 0, False)


def test_pytest_cut_excerpt_keeps_the_summary(runs: rf.Runs) -> None:
    ran = runs.get("pytest_many")
    full = parsed(runs, "pytest_many")
    assert counts(full) == (300, 1, 0, 0, 301, False)
    excerpt = StreamSummary.of(ran.stdout.encode())
    assert excerpt.truncated and "middle omitted" in excerpt.excerpt
    assert len(ran.stdout) > 10 * len(excerpt.excerpt)
    cut = parse_output(excerpt.excerpt, "pytest")
    assert cut is not None
    assert counts(cut) == counts(full)


# =================================================================================== unittest

def test_unittest_mixed(runs: rf.Runs) -> None:
    s = parsed(runs, "unittest_mixed", "unittest")
    # Ran 7: failures=1, errors=1, skipped=1, expected failures=1
    assert counts(s) == (3, 1, 1, 2, 7, False)
    assert s.lines[0] == "Ran 7 tests in " + s.lines[0].split(" in ")[1]


def test_unittest_ok_and_empty(runs: rf.Runs) -> None:
    assert counts(parsed(runs, "unittest_ok")) == (4, 0, 0, 0, 4, True)
    empty = parsed(runs, "unittest_empty")
    assert counts(empty) == (0, 0, 0, 0, 0, False)   # "OK" (3.11) or "NO TESTS RAN" (3.12+)


# ============================================================================== jest / vitest

def test_jest_mixed_and_subset(runs: rf.Runs) -> None:
    s = parsed(runs, "jest_mixed", "jest")
    assert counts(s) == (3, 1, 0, 2, 6, False)       # 1 skipped + 1 todo
    assert s.duration_s is not None and s.duration_s > 0
    assert counts(parsed(runs, "jest_subset")) == (2, 0, 0, 2, 4, True)


def test_jest_suite_that_fails_to_load_is_an_error(runs: rf.Runs) -> None:
    assert counts(parsed(runs, "jest_broken")) == (0, 0, 1, 0, 0, False)


def test_jest_no_tests_found(runs: rf.Runs) -> None:
    s = parsed(runs, "jest_none")
    assert counts(s) == (0, 0, 0, 0, 0, False)


def test_npm_test_wrapping_jest(runs: rf.Runs) -> None:
    ran = runs.get("npm_jest")
    assert "> jest --ci a.test.js b.test.js" in ran.output
    s = parsed(runs, "npm_jest", "npm")
    assert s.runner == "jest"
    assert counts(s) == counts(parsed(runs, "jest_mixed"))


def test_npm_test_running_two_runners_is_summed(runs: rf.Runs) -> None:
    s = parsed(runs, "npm_two", "npm")
    assert sorted(s.runner.split("+")) == ["jest", "mocha"]
    assert counts(s) == (5, 0, 0, 0, 5, True)        # jest 2 + mocha 3


def test_vitest_coloured_output(runs: rf.Runs) -> None:
    ran = runs.get("vitest_mixed")
    assert "\x1b[" in ran.output                    # FORCE_COLOR: the codes are really there
    s = parsed(runs, "vitest_mixed", "vitest")
    assert counts(s) == (3, 1, 0, 2, 6, False)
    assert s.duration_s is not None and s.duration_s > 0


def test_vitest_subset_and_no_files(runs: rf.Runs) -> None:
    assert counts(parsed(runs, "vitest_subset")) == (2, 0, 0, 2, 4, True)
    assert counts(parsed(runs, "vitest_none")) == (0, 0, 0, 0, 0, False)


def test_mocha(runs: rf.Runs) -> None:
    s = parsed(runs, "mocha_mixed", "mocha")
    assert counts(s) == (2, 1, 0, 2, 5, False)       # 1 skipped + 1 pending
    assert counts(parsed(runs, "mocha_grep")) == (2, 0, 0, 0, 2, True)


# ================================================================================ go / cargo

def test_go_several_packages(runs: rf.Runs) -> None:
    s = parsed(runs, "go_all", "go")
    assert len(s.lines) == 3                          # ok a, FAIL b, ? c [no test files]
    assert counts(s) == (None, 1, 0, 0, None, False)  # without -v, passes are not listed


def test_go_verbose_counts_tests(runs: rf.Runs) -> None:
    s = parsed(runs, "go_all_v", "go")
    assert counts(s) == (3, 1, 0, 1, 5, False)
    assert s.duration_s is not None


def test_go_one_passing_package(runs: rf.Runs) -> None:
    assert counts(parsed(runs, "go_one")) == (None, 0, 0, 0, None, True)


def test_go_build_failure_is_an_error(runs: rf.Runs) -> None:
    s = parsed(runs, "go_broken")
    assert s.errors == 1 and not s.ok and s.failed == 0


def test_cargo_sums_every_test_binary(runs: rf.Runs) -> None:
    s = parsed(runs, "cargo_all", "cargo")
    assert len([x for x in s.lines if x.startswith("test result:")]) == 3   # lib, it, doc
    assert counts(s) == (3, 1, 0, 1, 5, False)       # 1 ignored


def test_cargo_filtered_run(runs: rf.Runs) -> None:
    assert counts(parsed(runs, "cargo_filter")) == (2, 0, 0, 0, 2, True)


def test_cargo_compile_error(runs: rf.Runs) -> None:
    s = parsed(runs, "cargo_broken", "cargo")
    assert s.passed is None and s.total is None and s.errors >= 1 and not s.ok
    assert all("could not compile" in line for line in s.lines)


# ================================================================================== checkers

def test_mypy(runs: rf.Runs) -> None:
    ok = parsed(runs, "mypy_ok", "mypy")
    assert (ok.runner, ok.errors, ok.ok, ok.passed, ok.total) == ("mypy", 0, True, None, None)
    bad = parsed(runs, "mypy_bad")
    assert (bad.runner, bad.errors, bad.ok) == ("mypy", 2, False)


def test_ruff(runs: rf.Runs) -> None:
    assert (parsed(runs, "ruff_ok").errors, parsed(runs, "ruff_ok").ok) == (0, True)
    bad = parsed(runs, "ruff_bad", "ruff")
    assert (bad.runner, bad.errors, bad.ok) == ("ruff", 2, False)
    fmt = parsed(runs, "ruff_format")
    assert (fmt.runner, fmt.errors, fmt.ok) == ("ruff", 1, False)


def test_tsc(runs: rf.Runs) -> None:
    plain = parsed(runs, "tsc_bad", "tsc")
    assert (plain.runner, plain.errors, plain.ok) == ("tsc", 2, False)
    pretty = parsed(runs, "tsc_pretty")                # coloured, with "Found 2 errors ..."
    assert (pretty.runner, pretty.errors, pretty.ok) == ("tsc", 2, False)
    assert runs.get("tsc_ok").output == ""
    assert parse_output(runs.get("tsc_ok").output, "tsc") is None     # silence says nothing


def test_eslint(runs: rf.Runs) -> None:
    bad = parsed(runs, "eslint_bad", "eslint")
    assert (bad.runner, bad.errors, bad.ok) == ("eslint", 1, False)   # 1 error, 2 warnings
    warn = parsed(runs, "eslint_warn")
    assert (warn.errors, warn.ok) == (0, True)
    assert parse_output(runs.get("eslint_ok").output) is None


# ============================================================================ several formats

def test_outputs_joined_are_summed_in_order(runs: rf.Runs) -> None:
    text = runs.get("mypy_ok").output + runs.get("pytest_ok").output
    s = parse_output(text)
    assert s is not None
    assert s.runner == "mypy+pytest"
    assert counts(s) == (5, 0, 0, 0, 5, True)
    failing = parse_output(runs.get("mypy_bad").output + runs.get("pytest_ok").output)
    assert failing is not None and (failing.errors, failing.ok) == (2, False)


def test_a_hint_reads_only_its_format(runs: rf.Runs) -> None:
    text = runs.get("pytest_ok").output + runs.get("mypy_bad").output
    s = parse_output(text, "pytest")
    assert s is not None and (s.runner, s.ok) == ("pytest", True)
    assert parse_output(text, "npm") == parse_output(text)            # generic: everything
    assert parse_output(runs.get("mocha_mixed").output, "pytest") == \
        parse_output(runs.get("mocha_mixed").output)                  # hint not found: all


def test_text_without_a_summary(runs: rf.Runs) -> None:
    for text in ("", "hello\n", Path(rf.__file__).read_text(), runs.get("tsc_ok").output,
                 Path(__file__).read_text()[:3000]):
        assert parse_output(text) is None


# ============================================================================= robustness

_FRAGMENTS = st.sampled_from([
    " in ", "0.5s", "1 passed", ", ", "2 failed", "3 error", "no tests ran", "=====", "\n",
    "Ran 3 tests in 0.1s", "OK", "FAILED (failures=1", "errors=2)", "Tests:", "5 total",
    "Test Suites:", "Test Files", "Tests  ", "(4)", " | ", "Duration  3ms", "2 passing (3ms)",
    "1 failing", "ok  \tpkg\t0.01s", "FAIL\tpkg", "--- FAIL: T", "=== RUN", "\t", "?   \t",
    "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
    "error[E0425]: could not compile", "Found 2 errors", " in 1 file (checked 3 source files)",
    "Success: no issues found in 1 source file", "All checks passed!", "Found 1 error.",
    "error TS2322:", "✖ 3 problems (2 errors, 1 warning)", "\x1b[31m", "\r", "…[9 bytes, middle "
    "omitted]…", "No tests found, exiting with code 1", "No test files found", "formatted",
    "1 file would be reformatted", "KeyboardInterrupt", "Interrupted: ", "during collection",
])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.one_of(_FRAGMENTS, st.text(max_size=5))).map("".join)),
       st.sampled_from([None, "pytest", "npm", "ruff", "go", "tsc", "unknown"]))
def test_parse_output_never_raises(text: str, tool: str | None) -> None:
    s = parse_output(text, tool)
    if s is not None:
        assert s.failed >= 0 and s.errors >= 0 and s.skipped >= 0
        assert s.passed is None or s.passed >= 0
        assert not s.ok or (s.failed == 0 and s.errors == 0)


@pytest.mark.parametrize("text", [
    "1 passed, " * 20000 + "in 1s",
    "=" * 100000 + " 1 passed in 1s",
    " in 1.0s" * 30000,                         # many matches on one long line
    " in 1.0s\n" * 20000,
    "Tests: " + "1 passed, " * 20000,
    "Tests: " * 30000,
    "Test Files " * 30000,
    "Test Files " + "1 passed | " * 20000,
    "1 passing (1ms) " * 30000,
    "1 passing (1ms)\n" * 10000 + "1 failing " * 10000,
    "\t" * 100000 + "ok",
    "ok  \tp\t0.1s\n--- FAIL: T\n=== RUN T\n" * 10000,
    "test result: " * 30000,
    "Found " * 30000,
    "Found 1 error.\n" * 20000,
    " formatted" * 30000,
    "a.ts(1,1): error TS1: " * 20000,
    "✖ 1 problem (1 error, 0 warnings) " * 20000,
    "\nRan 1 test in 1s\n" * 20000,
    "\x1b]" * 50000,
    "\r" * 100000 + "1 passed in 1s",
])
def test_adversarial_text_parses_in_linear_time(text: str) -> None:
    start = time.perf_counter()
    parse_output(text)
    assert time.perf_counter() - start < 2.0
