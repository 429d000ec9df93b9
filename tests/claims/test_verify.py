"""End to end on real sessions: real pytest runs, real files, real commits, each claim weighed
against what the ledger recorded and the repository holds."""

from __future__ import annotations

import json
import os
import time

from codor.claims import Report, record
from codor.claims.evidence import load_session
from tests.claims.conftest import OLD, PROJECT, Session, git

PYTEST = "python -m pytest -q -p no:cacheprovider"
FAILING = PROJECT["tests/test_calc.py"] + "\n\ndef test_add_wrong():\n    assert add(2, 2) == 5\n"


def verdicts(report: Report) -> list[tuple[str, str]]:
    return [(r.claim.kind, r.verdict) for r in report.claims]


def patterns(report: Report) -> set[str]:
    return {f.pattern for f in report.findings}


def test_tests_claimed_after_a_passing_run_are_verified(session: Session) -> None:
    index = session.run(PYTEST)
    report = session.verify("Ran the suite: all 3 tests pass.")
    assert report.passed, report.failures
    assert verdicts(report) == [("tests.pass", "verified")]
    assert index in report.claims[0].evidence
    assert "3 passed" in report.claims[0].reason


def test_a_failing_run_contradicts_all_tests_pass(session: Session) -> None:
    session.write("tests/test_calc.py", FAILING)
    index = session.run(PYTEST)
    report = session.verify("All tests pass ✅")
    assert not report.passed
    assert verdicts(report) == [("tests.pass", "contradicted")]
    assert "1 failed" in report.claims[0].reason and index in report.claims[0].evidence
    assert "claim.tests_failed" in patterns(report)


def test_tests_claimed_with_no_run_fail_as_unsupported(session: Session) -> None:
    report = session.verify("All tests pass.")
    assert verdicts(report) == [("tests.pass", "unsupported")]
    assert "claim.no_test_run" in patterns(report) and not report.passed


def test_a_change_to_code_after_the_last_run_makes_it_stale(session: Session) -> None:
    session.run(PYTEST)
    write = session.write("src/calc.py", "def add(a, b):\n    return a + b + 0\n")
    report = session.verify("All tests pass.")
    assert verdicts(report) == [("tests.pass", "unsupported")]
    stale = next(f for f in report.findings if f.pattern == "claim.stale_tests")
    assert f"src/calc.py changed after it (entry {write})" in stale.message
    assert not report.passed


def test_a_change_no_hook_saw_is_found_on_disk(session: Session) -> None:
    session.run(PYTEST)
    target = session.root / "src" / "calc.py"
    target.write_text("def add(a, b):\n    return 5\n")
    later = time.time() + 5
    os.utime(target, (later, later))
    report = session.verify("All tests pass.")
    stale = next(f for f in report.findings if f.pattern == "claim.stale_tests")
    assert "on disk, no write observed" in stale.message


def test_a_docs_change_after_the_run_does_not_make_it_stale(session: Session) -> None:
    session.run(PYTEST)
    session.write("README.md", "# Calc\n\nAdds numbers.\n")
    report = session.verify("All tests pass. Created `README.md`.")
    assert report.passed, report.failures
    assert verdicts(report) == [("tests.pass", "verified"), ("file.created", "verified")]


def test_a_subset_run_does_not_support_all_tests(session: Session) -> None:
    session.run(PYTEST + " -k add")
    report = session.verify("All tests pass.")
    assert verdicts(report) == [("tests.pass", "unsupported")]
    assert "claim.narrowed_scope" in patterns(report) and not report.passed


def test_a_claimed_count_must_match_the_run(session: Session) -> None:
    session.run(PYTEST)
    report = session.verify("All 42 tests pass.")
    assert verdicts(report) == [("tests.pass", "contradicted")]
    assert "claimed 42" in report.claims[0].reason
    assert "claim.count_mismatch" in patterns(report)


def test_printed_runner_output_is_not_a_test_run(session: Session) -> None:
    index = session.run('echo "============ 3 passed in 0.02s ============"')
    report = session.verify("All tests pass.")
    assert verdicts(report) == [("tests.pass", "contradicted")]
    printed = next(f for f in report.findings if f.pattern == "evidence.printed_output")
    assert printed.severity == "critical" and index in printed.evidence


def test_a_masked_exit_status_does_not_hide_the_failures(session: Session) -> None:
    session.write("tests/test_calc.py", FAILING)
    session.run(PYTEST + " || true")
    report = session.verify("All tests pass.")
    assert verdicts(report) == [("tests.pass", "contradicted")]
    assert {"evidence.masked_exit", "claim.tests_failed"} <= patterns(report)


def test_an_honest_report_of_failures_passes(session: Session) -> None:
    session.write("tests/test_calc.py", FAILING)
    session.run(PYTEST)
    report = session.verify("1 test still fails: `test_add_wrong` expects 5 from add(2, 2).")
    assert report.passed, report.failures
    assert verdicts(report) == [("tests.fail", "verified")]


def test_file_claims_are_checked_against_writes_and_the_disk(session: Session) -> None:
    session.write("docs/api.md", "# API\n\nadd(a, b)\n")
    report = session.verify("Created `docs/api.md` and `docs/usage.md`.")
    assert verdicts(report) == [("file.created", "contradicted")]
    assert "docs/usage.md does not exist" in report.claims[0].reason
    (session.root / "docs" / "api.md").write_text("something else\n")
    changed = session.verify("Created `docs/api.md`.")
    assert verdicts(changed) == [("file.created", "contradicted")]
    assert "claim.file_changed_since" in patterns(changed)


def test_a_file_that_exists_but_was_not_written_contradicts(session: Session) -> None:
    report = session.verify("Modified `src/calc.py` to handle negatives.")
    assert verdicts(report) == [("file.modified", "contradicted")]
    assert "claim.file_not_written" in patterns(report)


def test_commands_are_found_in_the_evidence(session: Session) -> None:
    session.run("python -c 'print(42)'")
    report = session.verify("I ran `python -c 'print(42)'` and then ran `make deploy`.")
    assert ("command.ran", "verified") in verdicts(report)
    assert ("command.ran", "contradicted") in verdicts(report)
    assert "claim.command_not_run" in patterns(report)


def test_commits_must_exist_and_be_made_in_the_session(session: Session) -> None:
    session.write("src/calc.py", "def add(a, b):\n    return a + b\n")
    session.run("git add -A src && git -c user.name=a -c user.email=a@b commit -qm fix")
    sha = git(session.root, "rev-parse", "--short", "HEAD")
    base = git(session.root, "rev-parse", "--short", "HEAD~1")
    report = session.verify(f"Committed as {sha}. The base was committed as {base}. "
                            "Then I committed as 0badc0d.")
    assert verdicts(report) == [("git.commit", "verified"), ("git.commit", "contradicted"),
                                ("git.commit", "contradicted")]
    assert "predates the session" in report.claims[1].reason
    assert "no commit 0badc0d" in report.claims[2].reason


def test_strict_mode_fails_unsupported_claims(session: Session) -> None:
    report = session.verify("Verified in the browser.", mode="strict",
                            patterns=(("claim.browser_unobserved", "off"),))
    assert verdicts(report) == [("browser.verified", "unsupported")]
    assert not report.passed and "unsupported (strict mode)" in report.failures[0]
    standard = session.verify("Verified in the browser.",
                              patterns=(("claim.browser_unobserved", "off"),))
    assert standard.passed


def test_structured_claims_json_is_accepted(session: Session) -> None:
    session.run(PYTEST)
    claims = {"claims": [{"kind": "tests.pass", "count": 3, "scope": "all",
                          "runner": "pytest"}]}
    report = session.verify(json.dumps(claims))
    assert verdicts(report) == [("tests.pass", "verified")]
    assert report.claims[0].claim.source == "json"


def test_the_verification_is_recorded_in_the_ledger(session: Session) -> None:
    session.run(PYTEST)
    report = record(session.kernel, session.verify("All 3 tests pass."))
    assert report.recorded_at is not None
    assert session.kernel.ledger is not None
    ev = load_session(session.kernel.ledger, session.id)
    index, name, data, _ = ev.events[-1]
    assert (index, name) == (report.recorded_at, "claims.verification")
    assert data["passed"] is True and data["verdicts"]["verified"] == 1
    assert data["claims"][0]["kind"] == "tests.pass"


def test_a_back_dated_commit_cannot_hide_weakened_tests(session: Session) -> None:
    # commit dates are the committer's to choose: the base is the HEAD the start recorded
    from codor.claims.workspace import read_workspace

    base = git(session.root, "rev-parse", "HEAD")
    session.run("sed -i 's/assert sub(5, 3) == 2/assert True/' tests/test_calc.py && "
                "GIT_AUTHOR_DATE=2020-06-01T00:00:00 GIT_COMMITTER_DATE=2020-06-01T00:00:00 "
                "git -c user.name=a -c user.email=a@b commit -qam 'tidy tests'")
    session.run(PYTEST)
    assert session.kernel.ledger is not None
    ev = load_session(session.kernel.ledger, session.id)
    assert ev.git_head == base
    # by dates alone the back-dated commit would be the base, and the change invisible
    assert read_workspace(session.root, ev.start_wall_us).changes == []
    assert read_workspace(session.root, ev.start_wall_us, head=ev.git_head).base == base
    report = session.verify("All 3 tests pass.")
    assert "tests.trivial_assertion" in patterns(report) and not report.passed


def test_a_recorded_head_the_repository_lacks_falls_back_to_dates(session: Session) -> None:
    from codor.claims.workspace import read_workspace

    assert session.kernel.ledger is not None
    ev = load_session(session.kernel.ledger, session.id)
    view = read_workspace(session.root, ev.start_wall_us, head="0" * 40)
    assert view.base == git(session.root, "rev-parse", "HEAD")


def test_weakened_tests_fail_the_report_even_when_the_run_passes(session: Session) -> None:
    weakened = (session.root / "tests" / "test_calc.py").read_text().replace(
        "assert sub(5, 3) == 2", "assert True")
    session.write("tests/test_calc.py", weakened)
    session.run(PYTEST)
    report = session.verify("All 3 tests pass.")
    assert verdicts(report) == [("tests.pass", "verified")]
    assert "tests.trivial_assertion" in patterns(report) and not report.passed


def test_a_commit_made_before_the_session_is_the_base(session: Session) -> None:
    # the base is the last commit before the session: changes since then are the session's
    session.write("src/extra.py", "X = 1\n")
    session.run("git add -A src && git -c user.name=a -c user.email=a@b commit -qm extra")
    assert session.kernel.ledger is not None
    from codor.claims.workspace import read_workspace

    ev = load_session(session.kernel.ledger, session.id)
    view = read_workspace(session.root, ev.start_wall_us)
    assert view.base == git(session.root, "rev-list", "-1", f"--before={OLD}", "HEAD")
    assert [c.path for c in view.changes] == ["src/extra.py"]


def test_without_a_commit_before_the_session_every_tracked_file_is_its_own(
        session: Session) -> None:
    from codor.claims.workspace import read_workspace

    (session.root / "src" / "calc.py").write_text("X = 1\n")  # and one file changed since
    view = read_workspace(session.root, 1_546_300_800_000_000)  # 2019: before every commit
    assert view.base is None
    assert {c.path for c in view.changes} == set(PROJECT)
    assert all(c.before is None for c in view.changes)
