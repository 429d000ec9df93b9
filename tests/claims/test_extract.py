"""Claims extracted from reports written in prose: the phrasings agents use, what is *not* a
claim (negations, hedges, questions, plans, pasted output), whole Markdown reports in the
style of Claude Code and Codex summaries, and properties of every extraction (spans into the
original text, order, no duplicates, determinism, robustness)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims import phrases
from codor.claims.claim import Claim
from codor.claims.extract import extract
from codor.claims.sentence import lower, normalise


def brief(claim: Claim) -> str:
    """The claim's kind and the fields it sets, in a fixed order."""
    parts = [claim.kind]
    for name in ("count", "scope", "runner", "command", "commit"):
        value = getattr(claim, name)
        if value is not None:
            parts.append(f"{name}={value}")
    if claim.paths:
        parts.append("paths=" + ",".join(claim.paths))
    return " ".join(parts)


def check_invariants(text: str, claims: list[Claim]) -> None:
    seen: set[tuple[int, int, str]] = set()
    for claim in claims:
        assert claim.span is not None and claim.source == "text"
        assert 0 <= claim.span.start < claim.span.end <= len(text)
        assert text[claim.span.start:claim.span.end] == claim.text
        key = (claim.span.start, claim.span.end, claim.kind)
        assert key not in seen
        seen.add(key)
    assert [c.span.start for c in claims if c.span] == sorted(
        c.span.start for c in claims if c.span)


def briefs(text: str) -> list[str]:
    claims = extract(text)
    check_invariants(text, claims)
    return [brief(c) for c in claims]


# -- one statement at a time ---------------------------------------------------------------

SNIPPETS: list[tuple[str, list[str]]] = [
    # tests.pass
    ("All 42 tests pass", ["tests.pass count=42 scope=all"]),
    ("all tests passing ✅", ["tests.pass scope=all"]),
    ("The full test suite is green.", ["tests.pass scope=all"]),
    ("42/42 tests passed", ["tests.pass count=42 scope=all"]),
    ("Tests: 12 passed", ["tests.pass count=12 scope=all"]),
    ("**Tests:** 12 passed", ["tests.pass count=12 scope=all"]),
    ("pytest: 17 passed", ["tests.pass count=17 scope=all runner=pytest"]),
    ("`npm test` passes", ["tests.pass scope=all runner=npm test command=npm test"]),
    ("All unit tests now pass.", ["tests.pass scope=all"]),
    ("The test suite passes.", ["tests.pass scope=all"]),
    ("Tests pass.", ["tests.pass scope=all"]),
    ("The parser tests pass.", ["tests.pass scope=subset"]),
    ("The tests for the date parser pass.", ["tests.pass scope=subset"]),
    ("5 new tests, all passing", ["tests.added count=5", "tests.pass count=5 scope=subset"]),
    ("mocha: 42 passing", ["tests.pass count=42 scope=all runner=mocha"]),
    ("unittest: Ran 12 tests in 0.3s OK", ["tests.pass count=12 scope=all runner=unittest"]),
    ("`pytest tests/test_parser.py` passes",
     ["tests.pass scope=subset runner=pytest command=pytest tests/test_parser.py"]),
    ("`go test ./...` passes", ["tests.pass scope=all runner=go test command=go test ./..."]),
    ("`cargo test`: 57 passed; 0 failed",
     ["tests.pass count=57 scope=all runner=cargo test command=cargo test"]),
    ("42 tests pass, 0 fail.", ["tests.pass count=42 scope=all"]),
    ("The change passes all 42 tests.", ["tests.pass count=42 scope=all"]),
    ("Previously 2 tests failed; now all 40 pass.", ["tests.pass count=40 scope=all"]),
    ("| pytest | ✅ 42 passed |", ["tests.pass count=42 scope=all runner=pytest"]),
    # tests.fail
    ("2 tests still fail", ["tests.fail count=2"]),
    ("3 failing", ["tests.fail count=3"]),
    ("40 of 42 pass", ["tests.fail count=2"]),
    ("40/42 tests passed", ["tests.fail count=2"]),
    ("One test is still failing.", ["tests.fail count=1"]),
    ("The test for the CSV export fails because of a race.", ["tests.fail"]),
    ("Tests: 40 passed, 2 failed, 1 skipped", ["tests.fail count=2"]),
    ("All tests pass except test_login.", ["tests.fail count=1"]),
    ("All tests pass except `test_a` and `test_b`.", ["tests.fail count=2"]),
    ("All but 2 tests pass.", ["tests.fail count=2"]),
    ("Not all tests pass.", ["tests.fail"]),
    ("The tests do not pass yet.", ["tests.fail"]),
    ("`npm test` fails with a timeout.", ["tests.fail runner=npm test command=npm test"]),
    ("The parser tests pass but 2 integration tests still fail.",
     ["tests.pass scope=subset", "tests.fail count=2"]),
    # tests.not_run
    ("I did not run the tests.", ["tests.not_run"]),
    ("I couldn't run the test suite (no network).", ["tests.not_run"]),
    ("Tests were not run.", ["tests.not_run"]),
    ("This is untested.", ["tests.not_run"]),
    ("I haven't run `pytest` yet.", ["tests.not_run runner=pytest"]),
    ("Tests: not run (no database)", ["tests.not_run"]),
    ("I skipped the e2e tests.", ["tests.not_run"]),
    # tests.added
    ("Added 3 tests in tests/test_parser.py",
     ["tests.added count=3 paths=tests/test_parser.py",
      "file.modified paths=tests/test_parser.py"]),
    ("Wrote unit tests for the parser.", ["tests.added"]),
    ("I added a test for the empty-input case.", ["tests.added count=1"]),
    ("Wrote tests/test_cli.py covering the new flags.",
     ["tests.added paths=tests/test_cli.py", "file.created paths=tests/test_cli.py"]),
    # files
    ("Created `docs/api.md`", ["file.created paths=docs/api.md"]),
    ("Added src/utils/date.ts", ["file.created paths=src/utils/date.ts"]),
    ("Modified parser.py", ["file.modified paths=parser.py"]),
    ("Fixed the bug in parser.py.", ["file.modified paths=parser.py"]),
    ("Updated README.md and setup.cfg", ["file.modified paths=README.md,setup.cfg"]),
    ("Removed old_api.py", ["file.deleted paths=old_api.py"]),
    ("New file: x.py", ["file.created paths=x.py"]),
    ("`old_api.py` has been removed.", ["file.deleted paths=old_api.py"]),
    ("README.md and setup.cfg were updated.", ["file.modified paths=README.md,setup.cfg"]),
    ("Created a.py and modified b.py.",
     ["file.created paths=a.py", "file.modified paths=b.py"]),
    ("Removed the unused import from `src/app.py`.", ["file.modified paths=src/app.py"]),
    ("Deleted the `tmp/` directory.", ["file.deleted paths=tmp/"]),
    ("Renamed `utils/strings.py` to `utils/text.py`.",
     ["file.modified paths=utils/strings.py,utils/text.py"]),
    ("Changes to `src/a.py` and `src/b.py`.", ["file.modified paths=src/a.py,src/b.py"]),
    ("Added a `--verbose` flag to cli.py.", ["file.modified paths=cli.py"]),
    ("Edited src/app.py:42 and tests/test_app.py::test_run.",
     ["file.modified paths=src/app.py,tests/test_app.py"]),
    ("## Files changed\n- `src/a.py`: refactored the loop\n- `src/b.py` (new)\n"
     "- `src/c.py` (deleted)\n",
     ["file.modified paths=src/a.py", "file.created paths=src/b.py",
      "file.deleted paths=src/c.py"]),
    ("**New files:**\n- `src/x.py`\n- `src/y.py` — helpers\n",
     ["file.created paths=src/x.py", "file.created paths=src/y.py"]),
    ("Changes:\n- M src/a.py\n- A src/b.py\n- D src/c.py\n",
     ["file.modified paths=src/a.py", "file.created paths=src/b.py",
      "file.deleted paths=src/c.py"]),
    ("- `internal/retry.go` — new package", ["file.created paths=internal/retry.go"]),
    ("- Update `README.md` with the new flags", ["file.modified paths=README.md"]),
    # commands
    ("I ran `npm run build`.", ["command.ran command=npm run build"]),
    ("Executed `make lint`", ["command.ran command=make lint"]),
    ("I ran:\n```bash\npytest -q\n```", ["command.ran command=pytest -q"]),
    ("I ran: ```bash\npytest -q\n```", ["command.ran command=pytest -q"]),
    ("After running `cargo test`, all 57 tests pass.",
     ["command.ran command=cargo test",
      "tests.pass count=57 scope=all runner=cargo test command=cargo test"]),
    ("I ran `pytest -q`: 42 passed.",
     ["command.ran command=pytest -q",
      "tests.pass count=42 scope=all runner=pytest command=pytest -q"]),
    ("`npm run build` was run twice.", ["command.ran command=npm run build"]),
    ("Commands run: `ruff check .`, `mypy src`",
     ["command.ran command=ruff check .", "command.ran command=mypy src"]),
    # git
    ("Committed as abc1234", ["git.commit commit=abc1234"]),
    ("commit 3f2a9c1", ["git.commit commit=3f2a9c1"]),
    ("Pushed in a1b2c3d4e5.", ["git.commit commit=a1b2c3d4e5"]),
    ("Commit: `A1B2C3D`", ["git.commit commit=a1b2c3d"]),
    ("Committed as 1234567.", ["git.commit commit=1234567"]),  # short ids can be all digits
    ("Committed as abcdefa.", ["git.commit commit=abcdefa"]),
    ("Committed abc1234 and def5678.",
     ["git.commit commit=abc1234", "git.commit commit=def5678"]),
    # build, lint, typecheck
    ("The build succeeds.", ["build.pass"]),
    ("`npm run build` completes without errors", ["build.pass command=npm run build"]),
    ("It compiles cleanly.", ["build.pass"]),
    ("Build: ✅", ["build.pass"]),
    ("Lint is clean.", ["lint.pass"]),
    ("ruff reports no issues", ["lint.pass command=ruff"]),
    ("No linting errors.", ["lint.pass"]),
    ("eslint passes", ["lint.pass command=eslint"]),
    ("✅ `ruff check .`", ["lint.pass command=ruff check ."]),
    ("mypy passes", ["typecheck.pass command=mypy"]),
    ("Type checks pass.", ["typecheck.pass"]),
    ("Type checks pass (`pyright`).", ["typecheck.pass command=pyright"]),
    ("tsc --noEmit is clean", ["typecheck.pass command=tsc --noEmit"]),
    ("No type errors.", ["typecheck.pass"]),
    ("The code passes `ruff check` and `mypy --strict`.",
     ["lint.pass command=ruff check", "typecheck.pass command=mypy --strict"]),
    ("Lint ✅ Types ✅ Build ✅", ["lint.pass", "typecheck.pass", "build.pass"]),
    # manual checks
    ("Verified in the browser.", ["browser.verified"]),
    ("Tested manually.", ["browser.verified"]),
    ("I checked the page in Chrome.", ["browser.verified"]),
    ("Confirmed it renders correctly.", ["browser.verified"]),
    # vague
    ("Thoroughly tested.", ["vague"]),
    ("Fully validated.", ["vague"]),
    ("It works end to end.", ["vague"]),
    ("The feature is production-ready.", ["vague"]),
    ("Everything works.", ["vague"]),
    ("Comprehensively verified.", ["vague"]),
    ("It should work now.", ["vague"]),
    ("Everything works and all 12 tests pass.", ["tests.pass count=12 scope=all"]),
    # attribution
    ("The team finished the modal.", ["attribution"]),
    ("This was already done by another agent.", ["attribution"]),
    ("The CI will verify the rest.", ["attribution"]),
    ("Someone else fixed the flaky test.", ["attribution"]),
    ("As the user requested, the migration was done by the DBA agent.", ["attribution"]),
    ("The user already ran the migrations.", ["attribution"]),
    ("The failure is from the design team's modal rework.", ["attribution"]),
    ("It is caused by another developer's change.", ["attribution"]),
    ("They already fixed this on their branch.", ["attribution"]),
]


@pytest.mark.parametrize(("text", "expected"), SNIPPETS, ids=[s[:40] for s, _ in SNIPPETS])
def test_statements_become_the_expected_claims(text: str, expected: list[str]) -> None:
    assert briefs(text) == expected


NOT_CLAIMS = [
    "The failure comes from the fixture in conftest.py.",
    "I fixed it on the feature branch.",
    "Tests do not exist for this module.",
    "I have not committed.",
    "I have not committed abc1234 yet.",
    "I did not create docs/api.md.",
    "I did not run `npm run build`.",
    "If the tests pass, we can merge.",
    "Once the build succeeds, deploy it.",
    "Do the tests pass?",
    "Should I commit this as abc1234?",
    "Run `pytest` to verify that all tests pass.",
    "You should run the tests before merging.",
    "The tests will pass once the fixture is updated.",
    "I haven't verified that all tests pass.",
    "I fixed the 3 failing tests.",
    "The test that used to fail now passes.",
    "See commit 3f2a9c1 for the original implementation.",
    "This regression was introduced in commit 3f2a9c1.",
    "I looked at https://github.com/o/r/commit/abc1234 for context.",
    "The bug is in parser.py.",
    "I read config.yaml and found the timeout.",
    "Please review src/app.py.",
    "Version 1.2.3 is pinned, e.g. in the lock file.",
    "The build does not succeed on Windows.",
    "It compiles, but I haven't run it.",
    "`ruff format` reformatted 3 files.",
    "No tests were added.",
    "I will commit this after review.",
    "Pushed 1000000 rows to the staging table.",
    "The test suite takes 3 minutes to run.",
    "~~All tests pass~~ (see below).",
    "Consider adding tests for the CSV path.",
    "Next steps:\n- Run the full suite\n- Commit as one change\n- Update `docs/config.md`\n",
    "## Next steps\n\n- Create `docs/api.md`\n- Verify in the browser\n",
    "- [ ] Update `docs/config.md`\n- [ ] Run the e2e tests\n",
    "```\n$ pytest -q\n40 passed in 0.5s\n```",
    "```text\n===== 12 passed, 0 failed =====\nAll tests pass\n```",
    "Here is the script:\n```python\nimport os\nos.remove('old_api.py')\n```",
    "To reproduce, run:\n```bash\nnpm test\n```",
    "",
    "   \n\n  ",
]


@pytest.mark.parametrize("text", NOT_CLAIMS, ids=[s[:40] for s in NOT_CLAIMS])
def test_negations_hedges_questions_plans_and_output_claim_nothing(text: str) -> None:
    assert briefs(text) == []


def test_a_checked_box_is_done_even_under_next_steps() -> None:
    text = "Next steps:\n- Run the e2e suite\n\n- [x] Added `limiter/bucket.py`\n"
    assert briefs(text) == ["file.created paths=limiter/bucket.py"]


def test_honest_failures_survive_hedged_sections() -> None:
    text = "## Next steps\n- 2 tests still fail; fix them next\n- I did not run the e2e tests\n"
    assert briefs(text) == ["tests.fail count=2", "tests.not_run"]


def test_a_second_command_of_a_sentence_spans_its_own_text() -> None:
    text = "I ran `npm test` and `npm run lint`; both pass."
    claims = extract(text)
    assert [(c.command, c.text) for c in claims] == [
        ("npm test", text), ("npm run lint", "npm run lint")]
    check_invariants(text, claims)


def test_fenced_commands_span_their_lines() -> None:
    text = ("I ran:\n\n```console\n$ ruff check src \\\n    tests\nAll checks passed!\n"
            "$ mypy --strict src\nSuccess: no issues found\n```\n")
    claims = extract(text)
    check_invariants(text, claims)
    assert [(c.kind, c.command) for c in claims] == [
        ("command.ran", "ruff check src tests"), ("command.ran", "mypy --strict src")]
    assert claims[0].text == "ruff check src \\\n    tests"


def test_a_commands_section_takes_shell_blocks_but_not_output() -> None:
    text = ("## Verification\n\n```bash\nnpm test\nnpm run build\n```\n\n"
            "```\n128 passed\n```\n")
    assert briefs(text) == ["command.ran command=npm test", "command.ran command=npm run build"]


def test_a_result_after_a_command_block_names_its_runner() -> None:
    text = "I ran:\n```bash\npython -m pytest -q\n```\nResult: 214 passed.\n"
    assert briefs(text) == [
        "command.ran command=python -m pytest -q",
        "tests.pass count=214 scope=all runner=pytest command=python -m pytest -q"]


def test_markdown_around_a_claim_does_not_hide_it() -> None:
    text = ("> **Note:** all *42* tests pass ✅\n\n1. Updated [`README.md`](README.md)\n\n"
            "### ✅ Build succeeds\n")
    assert briefs(text) == ["tests.pass count=42 scope=all", "file.modified paths=README.md",
                            "build.pass"]


def test_windows_line_endings_keep_spans_exact() -> None:
    text = "## Summary\r\n\r\n- Fixed the bug in parser.py.\r\n- All 42 tests pass.\r\n"
    assert briefs(text) == ["file.modified paths=parser.py", "tests.pass count=42 scope=all"]


def test_claims_keep_the_sentence_they_came_from() -> None:
    text = "Intro line. I fixed the bug in `parser.py`. All 42 tests pass!"
    claims = extract(text)
    assert [(c.kind, c.text, c.span and c.span.to_json()) for c in claims] == [
        ("file.modified", "I fixed the bug in `parser.py`.", [12, 43]),
        ("tests.pass", "All 42 tests pass!", [44, 62])]


def test_a_report_must_be_text() -> None:
    with pytest.raises(TypeError):
        extract(b"All tests pass")  # type: ignore[arg-type]


# -- whole reports -------------------------------------------------------------------------
# Honest successes (claude_code, codex, table, js, go_rust), honest failures (honest_failure,
# hedged), fabricated-sounding ones (fabricated, attribution) and mixtures (fenced_log, mixed).

REPORTS: dict[str, str] = {}
REPORTS['claude_code'] = (
    "## Summary\n"
    "\n"
    "I fixed the date-parsing bug reported in #214. The root cause was that `parse_date()` in "
    "`src/utils/date.py` assumed every timestamp carried a timezone offset, so naive timestamps "
    "from the legacy importer were shifted by the server's local offset. I changed the parser to "
    "treat naive timestamps as UTC, which matches what the importer writes, and added a guard "
    "for the two-digit year format the CSV exports still use.\n"
    "\n"
    "While I was in there I also cleaned up the duplicated formatting helpers: `format_short()` "
    "and `format_long()` now share one implementation, and the unused `legacy_format()` is "
    "gone.\n"
    "\n"
    "## Changes\n"
    "\n"
    "- `src/utils/date.py`: naive timestamps are now interpreted as UTC; two-digit years are "
    "expanded with a sliding window (00–69 → 2000s, 70–99 → 1900s).\n"
    "- `src/utils/formatting.py`: merged the two formatting helpers into `_format()`; removed "
    "`legacy_format()`.\n"
    "- `src/importer/csv_reader.py`: passes `assume_utc=True` explicitly so the behaviour is "
    "visible at the call site.\n"
    "- `tests/test_date.py` (new): 9 tests covering naive vs aware timestamps, DST boundaries "
    "and the two-digit year window.\n"
    "- `tests/test_formatting.py`: updated two expectations that depended on the old "
    "trailing-space behaviour.\n"
    '- `CHANGELOG.md`: added an entry under "Unreleased".\n'
    "\n"
    "## Verification\n"
    "\n"
    "I ran the full suite locally:\n"
    "\n"
    "```bash\n"
    "python -m pytest -q\n"
    "```\n"
    "\n"
    "Result: **214 passed, 3 skipped** in 12.4s. The 3 skipped tests are the Postgres "
    "integration tests, which need a database that isn't available in this environment, so I did "
    "not run those.\n"
    "\n"
    "- `ruff check .` — no issues\n"
    "- `mypy --strict src` — Success: no issues found in 48 source files\n"
    "- `python -m build` completes without errors\n"
    "\n"
    "I also checked the import preview page in Chrome with a sample CSV from the bug report, and "
    "the dates now render correctly (previously they were off by one day for timestamps after "
    "19:00 local time).\n"
    "\n"
    "## Notes and caveats\n"
    "\n"
    "- The two-digit year window is a heuristic. If there is real data from before 1970 in the "
    "CSV exports it will be misread; I couldn't find any in the fixtures, but it's worth "
    "confirming with the data team.\n"
    "- I did not touch the API serializers; they already emit ISO 8601 with an explicit offset, "
    "so they were not affected.\n"
    "- One flaky test (`test_scheduler_retry`) failed once during an earlier run and passed on "
    "rerun. It's unrelated to this change (it depends on wall-clock timing), but it should "
    "probably be looked at separately.\n"
    "\n"
    "## Next steps\n"
    "\n"
    "- Run the Postgres integration tests in CI to confirm nothing regressed there.\n"
    "- Consider adding a data-migration note for customers who worked around the bug by "
    "pre-shifting their timestamps.\n"
    "\n"
    "Committed as `4f3a9c2` on branch `fix/naive-timestamps`; I have not pushed it yet.\n"
)
REPORTS['honest_failure'] = (
    "I made progress on the CSV export, but it is **not finished**.\n"
    "\n"
    "**What I did**\n"
    "- Added `src/export/csv_writer.py` with the streaming writer.\n"
    "- Updated `src/export/__init__.py` to register the new format.\n"
    "- Wrote unit tests for the writer in `tests/export/test_csv_writer.py`.\n"
    "\n"
    "**Test status**\n"
    "I ran `pytest tests/export -q`: 18 passed, 2 failed. The two failures are "
    "`test_unicode_bom` and `test_crlf_line_endings`; both fail because the writer always emits "
    "`\\n` line endings. I have not fixed that yet.\n"
    "\n"
    "I couldn't run the full test suite because it needs a running Redis instance.\n"
    "\n"
    "Nothing has been committed.\n"
)
REPORTS['fabricated'] = (
    "## ✅ Task Complete!\n"
    "\n"
    "I've successfully implemented the user authentication system. All tests pass and the "
    "implementation is production-ready.\n"
    "\n"
    "### What was done\n"
    "- Implemented JWT-based login and refresh tokens\n"
    "- Added password hashing with bcrypt\n"
    "- The team finished the modal for the login form, so I wired it up\n"
    "\n"
    "### Quality\n"
    "- ✅ All 156 tests passing\n"
    "- ✅ Thoroughly tested, including edge cases\n"
    "- ✅ Everything works end to end\n"
    "- ✅ Lint is clean\n"
    "\n"
    "The CI will verify the deployment configuration. This should work now in all environments.\n"
)
REPORTS['codex'] = (
    "**Summary**\n"
    "- Fixed the off-by-one in `paginate()` (`app/pagination.py`) that dropped the last page "
    "when the total was a multiple of the page size.\n"
    "- Added regression tests in `tests/test_pagination.py`.\n"
    "- Updated `CHANGELOG.md`.\n"
    "\n"
    "**Testing**\n"
    "- ✅ `pytest -q` (312 passed)\n"
    "- ✅ `ruff check .`\n"
    "- ✅ `mypy app`\n"
)
REPORTS['table'] = (
    "# Dependency upgrade: React 18 → 19\n"
    "\n"
    "| Check | Command | Result |\n"
    "|---|---|---|\n"
    "| Unit tests | `npm test` | ✅ 241 passed |\n"
    "| Types | `tsc --noEmit` | ✅ clean |\n"
    "| Lint | `npm run lint` | ✅ no warnings |\n"
    "| Build | `npm run build` | ✅ |\n"
    "| E2E | `npx playwright test` | ⚠️ not run (needs browsers) |\n"
    "\n"
    "## Files changed\n"
    "\n"
    "| File | Change |\n"
    "|---|---|\n"
    "| `package.json` | bumped react, react-dom |\n"
    "| `src/legacy/findDOMNode.ts` | deleted |\n"
    "| `src/hooks/useRefCallback.ts` | new |\n"
    "\n"
    "I verified the settings page in the browser and it renders correctly.\n"
)
REPORTS['attribution'] = (
    "Status update on the billing migration:\n"
    "\n"
    "The database schema changes were already done by another agent in the previous session, and "
    "someone else fixed the flaky webhook test. The frontend team finished the invoice modal "
    "yesterday.\n"
    "\n"
    "I only touched `billing/api.py`, where I modified the invoice endpoint to use the new "
    "`line_items` table. The API tests pass locally (`pytest tests/api -q`: 37 passed).\n"
    "\n"
    "The CI pipeline will catch anything else.\n"
)
REPORTS['fenced_log'] = (
    "Ran the test suite after the refactor:\n"
    "\n"
    "```\n"
    "$ pytest -q\n"
    "........................................ [100%]\n"
    "40 passed in 2.31s\n"
    "```\n"
    "\n"
    "I ran:\n"
    "\n"
    "```bash\n"
    "ruff check src tests\n"
    "mypy --strict src\n"
    "```\n"
    "\n"
    "Both came back clean. Committed as 9f2c1ab and pushed to `origin/refactor-io`.\n"
)
REPORTS['js'] = (
    "## Changes\n"
    "\n"
    "I replaced the hand-rolled debounce in `src/components/Search.tsx` with the shared "
    "`useDebounce` hook and deleted `src/utils/debounce.js`.\n"
    "\n"
    "## Verification\n"
    "\n"
    "- `npm test` passes (jest: 128 passed, 0 failed)\n"
    "- `tsc --noEmit` is clean\n"
    "- eslint passes with no warnings\n"
    "- `npm run build` completes without errors\n"
    "- Tested manually in Chrome: typing in the search box now fires one request per pause.\n"
)
REPORTS['go_rust'] = (
    "The retry middleware is in place.\n"
    "\n"
    "* `internal/retry/retry.go` — new package with exponential backoff\n"
    "* `cmd/server/main.go` — wires the middleware into the HTTP client\n"
    "* `internal/retry/retry_test.go` — 6 new tests, all passing\n"
    "\n"
    "`go test ./...` passes and `go vet` reports no issues. I also ran `golangci-lint run`, "
    "which found 0 issues.\n"
    "\n"
    "For the Rust helper crate, `cargo test` gives 57 passed; 0 failed, and `cargo clippy` is "
    "clean.\n"
)
REPORTS['hedged'] = (
    "I started on the rate limiter but did not finish.\n"
    "\n"
    "I did not create `docs/rate-limits.md` yet, and I have not committed anything. The tests do "
    "not pass yet: 3 failing in `tests/test_limiter.py`.\n"
    "\n"
    "If the remaining tests pass after the fix, the feature can ship. Should I also update the "
    "README?\n"
    "\n"
    "Next steps:\n"
    "- Fix the window calculation in `limiter/window.py`\n"
    "- Run the full suite\n"
    "- Commit as a single change\n"
    "\n"
    "- [x] Added `limiter/bucket.py`\n"
    "- [ ] Update `docs/config.md`\n"
)
REPORTS['mixed'] = (
    "Done. Summary of changes:\n"
    "\n"
    "1. Renamed `utils/strings.py` to `utils/text.py` and updated every import.\n"
    "2. Removed the deprecated `format_legacy()` helper from `utils/text.py`.\n"
    "3. New file: `utils/slug.py` (slugify with transliteration).\n"
    "\n"
    "All 42 tests pass, 40 of 42 in the `text` module alone... actually, correction: 40 of 42 "
    "pass; `test_slug_cyrillic` and `test_slug_emoji` still fail because the transliteration "
    "table is incomplete.\n"
    "\n"
    "Type checks pass (`pyright`). I have not run the browser tests. Everything else was "
    "verified by the user.\n"
)

EXPECTED: dict[str, list[tuple[str, str]]] = {
    'claude_code': [
        ('file.modified paths=src/utils/date.py',
         ('`src/utils/date.py`: naive timestamps are now interpreted as UTC; two-digit years '
          'are expanded with a sliding window (00–69 → 2000s, 70–99 → 1900s).')),
        ('file.modified paths=src/utils/formatting.py',
         ('`src/utils/formatting.py`: merged the two formatting helpers into `_format()`; '
          'removed `legacy_format()`.')),
        ('file.modified paths=src/importer/csv_reader.py',
         ('`src/importer/csv_reader.py`: passes `assume_utc=True` explicitly so the behaviour '
          'is visible at the call site.')),
        ('tests.added paths=tests/test_date.py',
         ('`tests/test_date.py` (new): 9 tests covering naive vs aware timestamps, DST '
          'boundaries and the two-digit year window.')),
        ('file.created paths=tests/test_date.py',
         ('`tests/test_date.py` (new): 9 tests covering naive vs aware timestamps, DST '
          'boundaries and the two-digit year window.')),
        ('file.modified paths=tests/test_formatting.py',
         ('`tests/test_formatting.py`: updated two expectations that depended on the old '
          'trailing-space behaviour.')),
        ('file.modified paths=CHANGELOG.md',
         '`CHANGELOG.md`: added an entry under "Unreleased".'),
        ('command.ran command=python -m pytest -q',
         'python -m pytest -q'),
        ('tests.pass count=214 scope=all runner=pytest command=python -m pytest -q',
         'Result: **214 passed, 3 skipped** in 12.4s.'),
        ('tests.not_run',
         ('The 3 skipped tests are the Postgres integration tests, which need a database that '
          "isn't available in this environment, so I did not run those.")),
        ('command.ran command=ruff check .',
         '`ruff check .` — no issues'),
        ('lint.pass command=ruff check .',
         '`ruff check .` — no issues'),
        ('command.ran command=mypy --strict src',
         '`mypy --strict src` — Success: no issues found in 48 source files'),
        ('typecheck.pass command=mypy --strict src',
         '`mypy --strict src` — Success: no issues found in 48 source files'),
        ('command.ran command=python -m build',
         '`python -m build` completes without errors'),
        ('build.pass command=python -m build',
         '`python -m build` completes without errors'),
        ('browser.verified',
         ('I also checked the import preview page in Chrome with a sample CSV from the bug '
          'report, and the dates now render correctly (previously they were off by one day for '
          'timestamps after 19:00 local time).')),
        ('git.commit commit=4f3a9c2',
         'Committed as `4f3a9c2` on branch `fix/naive-timestamps`; I have not pushed it yet.'),
    ],
    'honest_failure': [
        ('file.created paths=src/export/csv_writer.py',
         'Added `src/export/csv_writer.py` with the streaming writer.'),
        ('file.modified paths=src/export/__init__.py',
         'Updated `src/export/__init__.py` to register the new format.'),
        ('tests.added paths=tests/export/test_csv_writer.py',
         'Wrote unit tests for the writer in `tests/export/test_csv_writer.py`.'),
        ('file.modified paths=tests/export/test_csv_writer.py',
         'Wrote unit tests for the writer in `tests/export/test_csv_writer.py`.'),
        ('command.ran command=pytest tests/export -q',
         'I ran `pytest tests/export -q`: 18 passed, 2 failed.'),
        ('tests.fail count=2 runner=pytest command=pytest tests/export -q',
         'I ran `pytest tests/export -q`: 18 passed, 2 failed.'),
        ('tests.not_run',
         "I couldn't run the full test suite because it needs a running Redis instance."),
    ],
    'fabricated': [
        ('tests.pass scope=all',
         'All tests pass and the implementation is production-ready.'),
        ('attribution',
         'The team finished the modal for the login form, so I wired it up'),
        ('tests.pass count=156 scope=all',
         '✅ All 156 tests passing'),
        ('vague',
         '✅ Thoroughly tested, including edge cases'),
        ('vague',
         '✅ Everything works end to end'),
        ('lint.pass',
         '✅ Lint is clean'),
        ('attribution',
         'The CI will verify the deployment configuration.'),
        ('vague',
         'This should work now in all environments.'),
    ],
    'codex': [
        ('file.modified paths=app/pagination.py',
         ('Fixed the off-by-one in `paginate()` (`app/pagination.py`) that dropped the last '
          'page when the total was a multiple of the page size.')),
        ('tests.added paths=tests/test_pagination.py',
         'Added regression tests in `tests/test_pagination.py`.'),
        ('file.modified paths=tests/test_pagination.py',
         'Added regression tests in `tests/test_pagination.py`.'),
        ('file.modified paths=CHANGELOG.md',
         'Updated `CHANGELOG.md`.'),
        ('tests.pass count=312 scope=all runner=pytest command=pytest -q',
         '✅ `pytest -q` (312 passed)'),
        ('command.ran command=pytest -q',
         '✅ `pytest -q` (312 passed)'),
        ('lint.pass command=ruff check .',
         '✅ `ruff check .`'),
        ('command.ran command=ruff check .',
         '✅ `ruff check .`'),
        ('typecheck.pass command=mypy app',
         '✅ `mypy app`'),
        ('command.ran command=mypy app',
         '✅ `mypy app`'),
    ],
    'table': [
        ('tests.pass count=241 scope=all runner=npm test command=npm test',
         '| Unit tests | `npm test` | ✅ 241 passed |'),
        ('typecheck.pass command=tsc --noEmit',
         '| Types | `tsc --noEmit` | ✅ clean |'),
        ('lint.pass command=npm run lint',
         '| Lint | `npm run lint` | ✅ no warnings |'),
        ('build.pass command=npm run build',
         '| Build | `npm run build` | ✅ |'),
        ('tests.not_run runner=playwright test',
         '| E2E | `npx playwright test` | ⚠️ not run (needs browsers) |'),
        ('file.modified paths=package.json',
         '| `package.json` | bumped react, react-dom |'),
        ('file.deleted paths=src/legacy/findDOMNode.ts',
         '| `src/legacy/findDOMNode.ts` | deleted |'),
        ('file.created paths=src/hooks/useRefCallback.ts',
         '| `src/hooks/useRefCallback.ts` | new |'),
        ('browser.verified',
         'I verified the settings page in the browser and it renders correctly.'),
    ],
    'attribution': [
        ('attribution',
         ('The database schema changes were already done by another agent in the previous '
          'session, and someone else fixed the flaky webhook test.')),
        ('attribution',
         'The frontend team finished the invoice modal yesterday.'),
        ('file.modified paths=billing/api.py',
         ('I only touched `billing/api.py`, where I modified the invoice endpoint to use the '
          'new `line_items` table.')),
        ('tests.pass count=37 scope=subset runner=pytest command=pytest tests/api -q',
         'The API tests pass locally (`pytest tests/api -q`: 37 passed).'),
        ('attribution',
         'The CI pipeline will catch anything else.'),
    ],
    'fenced_log': [
        ('command.ran command=pytest -q',
         'pytest -q'),
        ('command.ran command=ruff check src tests',
         'ruff check src tests'),
        ('command.ran command=mypy --strict src',
         'mypy --strict src'),
        ('git.commit commit=9f2c1ab',
         'Committed as 9f2c1ab and pushed to `origin/refactor-io`.'),
    ],
    'js': [
        ('file.modified paths=src/components/Search.tsx',
         ('I replaced the hand-rolled debounce in `src/components/Search.tsx` with the shared '
          '`useDebounce` hook and deleted `src/utils/debounce.js`.')),
        ('file.deleted paths=src/utils/debounce.js',
         ('I replaced the hand-rolled debounce in `src/components/Search.tsx` with the shared '
          '`useDebounce` hook and deleted `src/utils/debounce.js`.')),
        ('tests.pass count=128 scope=all runner=npm test command=npm test',
         '`npm test` passes (jest: 128 passed, 0 failed)'),
        ('command.ran command=npm test',
         '`npm test` passes (jest: 128 passed, 0 failed)'),
        ('command.ran command=tsc --noEmit',
         '`tsc --noEmit` is clean'),
        ('typecheck.pass command=tsc --noEmit',
         '`tsc --noEmit` is clean'),
        ('lint.pass command=eslint',
         'eslint passes with no warnings'),
        ('command.ran command=npm run build',
         '`npm run build` completes without errors'),
        ('build.pass command=npm run build',
         '`npm run build` completes without errors'),
        ('browser.verified',
         'Tested manually in Chrome: typing in the search box now fires one request per pause.'),
    ],
    'go_rust': [
        ('file.created paths=internal/retry/retry.go',
         '`internal/retry/retry.go` — new package with exponential backoff'),
        ('file.modified paths=cmd/server/main.go',
         '`cmd/server/main.go` — wires the middleware into the HTTP client'),
        ('tests.added count=6',
         '`internal/retry/retry_test.go` — 6 new tests, all passing'),
        ('tests.pass count=6 scope=subset',
         '`internal/retry/retry_test.go` — 6 new tests, all passing'),
        ('tests.pass scope=all runner=go test command=go test ./...',
         '`go test ./...` passes and `go vet` reports no issues.'),
        ('lint.pass command=go vet',
         '`go test ./...` passes and `go vet` reports no issues.'),
        ('command.ran command=golangci-lint run',
         'I also ran `golangci-lint run`, which found 0 issues.'),
        ('lint.pass command=golangci-lint run',
         'I also ran `golangci-lint run`, which found 0 issues.'),
        ('tests.pass count=57 scope=all runner=cargo test command=cargo test',
         ('For the Rust helper crate, `cargo test` gives 57 passed; 0 failed, and `cargo '
          'clippy` is clean.')),
        ('lint.pass command=cargo clippy',
         ('For the Rust helper crate, `cargo test` gives 57 passed; 0 failed, and `cargo '
          'clippy` is clean.')),
    ],
    'hedged': [
        ('tests.fail count=3',
         'The tests do not pass yet: 3 failing in `tests/test_limiter.py`.'),
        ('file.created paths=limiter/bucket.py',
         'Added `limiter/bucket.py`'),
    ],
    'mixed': [
        ('file.modified paths=utils/strings.py,utils/text.py',
         'Renamed `utils/strings.py` to `utils/text.py` and updated every import.'),
        ('file.modified paths=utils/text.py',
         'Removed the deprecated `format_legacy()` helper from `utils/text.py`.'),
        ('file.created paths=utils/slug.py',
         'New file: `utils/slug.py` (slugify with transliteration).'),
        ('tests.fail count=2',
         ('All 42 tests pass, 40 of 42 in the `text` module alone... actually, correction: 40 '
          'of 42 pass; `test_slug_cyrillic` and `test_slug_emoji` still fail because the '
          'transliteration table is incomplete.')),
        ('typecheck.pass command=pyright',
         'Type checks pass (`pyright`).'),
        ('tests.not_run',
         'I have not run the browser tests.'),
        ('attribution',
         'Everything else was verified by the user.'),
    ],
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_whole_reports_give_exactly_the_expected_claims(name: str) -> None:
    text = REPORTS[name]
    claims = extract(text)
    check_invariants(text, claims)
    assert [(brief(c), c.text) for c in claims] == EXPECTED[name]


def test_every_report_has_expectations() -> None:
    assert set(EXPECTED) == set(REPORTS) and len(REPORTS) >= 8


# -- properties ----------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from([
    "All 42 tests pass", "`npm test`", "```", "```bash\n", "\n", "\n\n", "- ", "* ", "1. ",
    "| ", " | ", "## ", "**", "✅", "❌", "ran ", "I ran:", "committed ", "abc1234", "not ",
    "if ", "?", ".", ": ", "tests/test_x.py", "Created ", "`src/a.py`", "~~", "[x] ", "[ ] ",
    "Next steps:", "Files changed:", "> ", "—", "passed", "failed", "3 ", "/", "\\", "\r\n",
    "\t", "İ", "ß", "\u2028", "\x00", "`", "``", "(", ")", "e.g. ", "mypy", " clean",
])
_MARKDOWNISH = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=6)), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), _MARKDOWNISH))
def test_extraction_never_raises_keeps_exact_spans_and_is_deterministic(text: str) -> None:
    claims = extract(text)
    check_invariants(text, claims)
    assert extract(text) == claims


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(REPORTS)), st.integers(0, 5000), _MARKDOWNISH)
def test_edited_reports_keep_the_invariants(name: str, at: int, insert: str) -> None:
    report = REPORTS[name]
    at = min(at, len(report))
    text = report[:at] + insert + report[at:]
    check_invariants(text, extract(text))


ADVERSARIAL = [
    "a" * 100_000, "test " * 20_000, "tests pass " * 10_000, "`" * 100_000, "1/" * 50_000,
    "- " * 50_000, "ran `x` and " * 8_000, "```\n" * 25_000, "| " * 50_000, "-" * 100_000,
    "a.b" * 33_000, "/a" * 50_000, "committed " + "a1" * 50_000,
    "tests " + "foo " * 25_000 + "pass",
    "if " * 30_000, "*" * 100_000, ". A" * 33_000, "✅" * 50_000, "not " * 25_000,
    "all but " * 12_000, "# " * 50_000, " " * 100_000, "Updated " + "a.py and " * 11_000,
    "\n".join(f"- `src/a{i}.py`: updated" for i in range(4_000)),
    "[" * 50_000 + "](" * 25_000, "~~" * 50_000, "0 " * 50_000 + "failed",
    "tests pass 2 failed " * 5_000, "I ran " + " and ".join(f"`x{i}`" for i in range(8_000)),
    "`a` and " * 12_000 + "passes", "lint, " * 16_000 + "pass", "ran " * 25_000 + "\n```\nx\n```",
    "- " + ", ".join("a.py" for _ in range(10_000)) + ": updated",
    "committed " + " and ".join(f"abc{i:04d}" for i in range(9_000)),
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[repr(t[:12]) for t in ADVERSARIAL])
def test_large_adversarial_reports_finish(text: str) -> None:
    claims = extract(text)
    check_invariants(text, claims)


def test_guards_are_keys_every_match_contains() -> None:
    # A unit is scanned by a pattern only if it holds one of the pattern's guard keys; a key
    # missing from a real match would silently lose claims.
    texts = [t for t, _ in SNIPPETS] + NOT_CLAIMS + list(REPORTS.values())
    lows = [lower(normalise(line)) for text in texts for line in text.splitlines()
            if line.strip()]
    hits = 0
    for pattern, keys in phrases.GUARDS.items():
        assert isinstance(keys, tuple) and keys and all(isinstance(k, str) for k in keys)
        for low in lows:
            for m in pattern.finditer(low):
                hits += 1
                assert any(k in m.group() for k in keys), (pattern.pattern[:60], m.group())
    assert hits > 100


def test_a_file_only_mentioned_after_the_created_file_is_not_claimed_modified() -> None:
    text = "Created docs/api.md documenting the three endpoints in api/routes.py."
    assert [(c.kind, c.paths) for c in extract(text)] == [("file.created", ("docs/api.md",))]
    fixed = "Fixed the bug in parser.py and util.py."
    assert [(c.kind, c.paths) for c in extract(fixed)] == [
        ("file.modified", ("parser.py", "util.py"))]
