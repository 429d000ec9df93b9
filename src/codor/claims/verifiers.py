"""One verifier per kind of claim: each weighs a claim against the session's evidence and
returns its verdict with the ledger indexes it rests on, adding findings to the context."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Final

from codor.claims.claim import Claim
from codor.claims.context import Analysed, Context
from codor.claims.finding import ClaimResult

__all__ = ["verify_claim"]

Verifier = Callable[[Context, int, Claim], ClaimResult]
_IMAGE: Final = re.compile(r"\.(png|jpe?g|gif|webp|bmp)$", re.IGNORECASE)
#: tool names (MCP browsers, Claude in Chrome...) that are browser activity
_BROWSER_TOOL: Final = re.compile(
    r"browser|playwright|puppeteer|chrome|firefox|selenium|webdriver|screenshot|navigate"
    r"|cypress", re.IGNORECASE)
#: commands that drive a browser or fetch a local page
_BROWSER_COMMAND: Final = re.compile(
    r"\b(playwright|puppeteer|chromium|chrome|google-chrome|firefox|selenium|cypress"
    r"|webdriver)\b|\b(curl|wget|http|xh)\b.*\b(localhost|127\.0\.0\.1|\[::1\])",
    re.IGNORECASE)
_MIN_IMAGE_BYTES: Final = 100
_SESSION_SLACK_S: Final = 5


def verify_claim(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    """The verdict on claim number ``n``."""
    return _VERIFIERS[claim.kind](ctx, n, claim)


def _result(claim: Claim, verdict: str, reason: str, evidence: tuple[int, ...] = ()) -> ClaimResult:
    return ClaimResult(claim, verdict, reason, tuple(sorted(set(evidence))))  # type: ignore[arg-type]


def _quote(claim: Claim, limit: int = 60) -> str:
    text = " ".join(claim.text.split())
    return f"'{text[:limit - 1]}…'" if len(text) > limit else f"'{text}'"


# -- tests and other checks ---------------------------------------------------------------------
def _describe(a: Analysed) -> str:
    s = a.summary
    if s is None:
        return f"exit status {a.run.exit_status}" if a.run.exit_status is not None else \
            "no summary"
    if s.passed is None and not (s.failed or s.errors):
        return f"{s.lines[-1][:60]}" if s.lines else ("clean" if s.ok else "not clean")
    parts = [f"{s.passed} passed"] if s.passed is not None else []
    parts += [f"{v} {k}" for k, v in (("failed", s.failed), ("errors", s.errors),
                                        ("skipped", s.skipped)) if v]
    return ", ".join(parts) or f"{s.total or 0} tests"


def _judge_run(ctx: Context, n: int, claim: Claim, a: Analysed,
               category: str, fail_pattern: str) -> ClaimResult:
    """Verdict from the run ``a`` that should show the claimed success."""
    s, inv = a.summary, a.of(category)
    status = a.run.exit_status
    lost = inv is not None and (inv.masked is not None or inv.piped is not None)
    ev = a.run.evidence
    honest = any(c.kind == "tests.fail" for c in ctx.claims)
    if s is not None and (s.failed or s.errors) and honest and claim.count is not None and \
            claim.count == s.passed:
        return _result(claim, "verified", f"{s.passed} passed in the last {a.label}, and the "
                       "report says the others fail", ev)
    if s is not None and (s.failed or s.errors):
        ctx.find(fail_pattern, f"{_quote(claim)}: the last {a.label} had {_describe(a)}",
                 ev, claim=n)
        return _result(claim, "contradicted", f"the last {a.label} had {_describe(a)}", ev)
    if category == "test" and s is not None and not s.ok and not s.passed:
        ctx.find("claim.zero_tests", f"{_quote(claim)}: the {a.label} ran no tests", ev,
                 claim=n)
        return _result(claim, "contradicted", f"the {a.label} ran no tests", ev)
    if status not in (None, 0) and not lost:
        ctx.find(fail_pattern, f"{_quote(claim)}: the last {a.label} exited with status "
                 f"{status}", ev, claim=n)
        return _result(claim, "contradicted", f"the last {a.label} exited with status {status}",
                       ev)
    if s is None and (status is None or lost):
        why = "its exit status was masked" if lost else "no exit status was reported"
        return _result(claim, "unsupported", f"the last {a.label} shows no summary and {why}",
                       ev)
    if claim.count is not None and s is not None and s.passed is not None and \
            claim.count not in (s.passed, s.total):
        ctx.find("claim.count_mismatch", f"{_quote(claim)}: claimed {claim.count}, the "
                 f"{a.label} shows {_describe(a)}", ev, claim=n)
        return _result(claim, "contradicted",
                       f"claimed {claim.count}, the {a.label} shows {_describe(a)}", ev)
    return _result(claim, "verified", f"the {a.label} after the last change: {_describe(a)}", ev)


def _stale_reason(ctx: Context, a: Analysed) -> str | None:
    changed = ctx.changed_after(a)
    if not changed:
        return None
    path, index = changed[0]
    where = f"entry {index}" if index is not None else "on disk, no write observed"
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return f"{path} changed after it ({where}){more}"


def _checks(ctx: Context, n: int, claim: Claim, category: str, none_pattern: str,
            fail_pattern: str) -> ClaimResult:
    runs = ctx.checks(category)
    if claim.runner:
        named = [a for a in runs if claim.runner in (a.of(category).tool  # type: ignore[union-attr]
                                                     , a.summary.runner if a.summary else None)]
        runs = named or runs
    if claim.command:
        wanted = " ".join(claim.command.split())
        named = [a for a in runs if wanted in " ".join(a.run.command.split())]
        runs = named or runs
    what = {"test": "test run", "build": "build", "lint": "lint run",
            "typecheck": "type check"}[category]
    if not runs:
        printed = [a for a in ctx.analysed if a.printed and a.summary is not None]
        if printed:
            ev = tuple(i for a in printed for i in a.run.evidence)
            return _result(claim, "contradicted", f"no {what} was observed; entry "
                           f"{printed[-1].run.index} only printed a runner's output", ev)
        ctx.find(none_pattern, f"{_quote(claim)}: no {what} was observed in the session",
                 claim=n)
        return _result(claim, "unsupported", f"no {what} was observed in the session")
    fresh = [a for a in runs if not ctx.changed_after(a)]
    if not fresh:
        last = runs[-1]
        why = _stale_reason(ctx, last)
        pid = "claim.stale_tests" if category == "test" else none_pattern
        ctx.find(pid, f"{_quote(claim)}: the last {last.label} is stale: {why}",
                 last.run.evidence, claim=n)
        return _result(claim, "unsupported", f"the last {last.label} is stale: {why}",
                       last.run.evidence)
    pool = fresh
    if category == "test" and claim.kind == "tests.pass" and claim.scope == "all":
        full = [a for a in fresh if a.of("test").subset is None]  # type: ignore[union-attr]
        if not full:
            last = fresh[-1]
            subset = last.of("test").subset  # type: ignore[union-attr]
            ctx.find("claim.narrowed_scope", f"{_quote(claim)}: the {last.label} ran only a "
                     f"subset ({subset})", last.run.evidence, claim=n)
            return _result(claim, "unsupported", f"only a subset ran ({subset}) in the "
                           f"{last.label}", last.run.evidence)
        pool = full
    # the last run of each tool must show the success
    last_by_tool: dict[str, Analysed] = {}
    for a in pool:
        last_by_tool[a.of(category).tool] = a  # type: ignore[union-attr]
    results = [_judge_run(ctx, n, claim, a, category, fail_pattern)
               for a in sorted(last_by_tool.values(), key=lambda a: a.run.index)]
    for verdict in ("contradicted", "unsupported"):
        bad = [r for r in results if r.verdict == verdict]
        if bad:
            return bad[0]
    evidence = tuple(i for r in results for i in r.evidence)
    return _result(claim, "verified", "; ".join(r.reason for r in results), evidence)


def _tests_pass(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    return _checks(ctx, n, claim, "test", "claim.no_test_run", "claim.tests_failed")


def _tests_fail(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    runs = ctx.checks("test")
    if not runs:
        return _result(claim, "unsupported", "no test run was observed")
    a = runs[-1]
    s = a.summary
    failing = (s.failed + s.errors) if s is not None else None
    if failing is None:
        if a.run.exit_status not in (None, 0):
            return _result(claim, "verified", f"the last {a.label} exited with status "
                           f"{a.run.exit_status}", a.run.evidence)
        return _result(claim, "unsupported", f"the last {a.label} shows no summary",
                       a.run.evidence)
    if failing == 0:
        return _result(claim, "unsupported", f"the last {a.label} shows no failures "
                       f"({_describe(a)})", a.run.evidence)
    if claim.count is not None and claim.count != failing:
        return _result(claim, "contradicted", f"claimed {claim.count} failing, the last "
                       f"{a.label} shows {_describe(a)}", a.run.evidence)
    return _result(claim, "verified", f"the last {a.label}: {_describe(a)}", a.run.evidence)


def _tests_not_run(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    runs = ctx.checks("test")
    if not runs:
        return _result(claim, "verified", "no test run was observed")
    return _result(claim, "unverifiable", f"{len(runs)} test run(s) were observed; the claim "
                   "may concern other tests", runs[-1].run.evidence)


def _check(category: str) -> Verifier:
    def verify(ctx: Context, n: int, claim: Claim) -> ClaimResult:
        return _checks(ctx, n, claim, category, "claim.check_not_run", "claim.check_not_run")

    return verify


# -- files -----------------------------------------------------------------------------------
def _resolve(ctx: Context, path: str) -> str:
    """The workspace-relative path a report's path names: exact, else the one written or
    changed file it is a suffix of, else as given."""
    clean = path.strip().lstrip("./") if not path.startswith("/") else path
    rel = ctx.view.relative(clean) or clean
    known = [r for _, r in ctx.code_writes] + [ctx.view.relative(w.path) or w.path
                                               for w in ctx.ev.writes] + \
        [c.path for c in ctx.view.changes]
    if rel in known or (ctx.view.root / rel).exists():
        return rel
    matches = sorted({k for k in known if k.endswith("/" + rel)})
    return matches[0] if len(matches) == 1 else rel


def _file(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    if not claim.paths:
        return _result(claim, "unverifiable", "no file is named")
    results = [_one_file(ctx, n, claim, p) for p in claim.paths]
    for verdict in ("contradicted", "unsupported"):
        bad = [r for r in results if r.verdict == verdict]
        if bad:
            return bad[0]
    return _result(claim, "verified", "; ".join(r.reason for r in results),
                   tuple(i for r in results for i in r.evidence))


def _one_file(ctx: Context, n: int, claim: Claim, path: str) -> ClaimResult:
    rel = _resolve(ctx, path)
    disk = ctx.view.root / rel
    writes = [w for w in ctx.ev.writes if w.decision == "allow" and
              (ctx.view.relative(w.path) or w.path) == rel]
    changed = next((c for c in ctx.view.changes if c.path == rel), None)
    ev = tuple(i for w in writes for i in ((w.index,) if w.outcome is None
                                            else (w.index, w.outcome)))
    exists = disk.is_file()
    if claim.kind == "file.deleted":
        if exists:
            return _result(claim, "contradicted", f"{rel} still exists", ev)
        return _result(claim, "verified", f"{rel} no longer exists", ev)
    if not writes and changed is None:
        if not exists:
            ctx.find("claim.file_missing", f"{_quote(claim)}: {rel} does not exist", claim=n,
                     path=rel)
            return _result(claim, "contradicted", f"{rel} does not exist")
        if not ctx.view.git:
            return _result(claim, "unsupported", f"{rel} exists, but no write to it was "
                           "observed and without git history its age is unknown")
        ctx.find("claim.file_not_written", f"{_quote(claim)}: {rel} was not written in the "
                 "session", claim=n, path=rel)
        return _result(claim, "contradicted", f"{rel} was not written in the session")
    if not exists:
        ctx.find("claim.file_missing", f"{_quote(claim)}: {rel} does not exist now", ev,
                 claim=n, path=rel)
        return _result(claim, "contradicted", f"{rel} does not exist now", ev)
    data = disk.read_bytes() if disk.stat().st_size <= (8 << 20) else None
    if data is not None and (len(data) == 0 or (_IMAGE.search(rel)
                                                and len(data) < _MIN_IMAGE_BYTES)):
        ctx.find("evidence.placeholder_artifact", f"{_quote(claim)}: {rel} is a placeholder "
                 f"({len(data)} bytes)", ev, claim=n, path=rel)
        return _result(claim, "contradicted", f"{rel} is a placeholder ({len(data)} bytes)", ev)
    last = writes[-1] if writes else None
    if last is not None and last.sha256 is not None and data is not None and \
            hashlib.sha256(data).hexdigest() != last.sha256:
        later = [a for a in ctx.analysed if a.run.index > last.index and a.run.ran]
        message = f"{rel} on disk differs from its last observed write (entry {last.index})"
        if not later:
            ctx.find("claim.file_changed_since", f"{_quote(claim)}: {message}", ev, claim=n,
                     path=rel, severity="high")
            return _result(claim, "contradicted", message + " and nothing observed since "
                           "explains it", ev)
        ctx.find("claim.file_changed_since", f"{_quote(claim)}: {message}; a later command "
                 f"(entry {later[0].run.index}) may have changed it", ev, claim=n, path=rel)
    if writes:
        return _result(claim, "verified", f"{rel} written (entry {writes[-1].index})", ev)
    return _result(claim, "verified", f"{rel} changed since the session began (no write "
                   "observed: changed by a command)", ev)


def _tests_added(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    from codor.claims.pathkinds import is_test_path

    if claim.paths:
        return _file(ctx, n, claim)
    touched = [c.path for c in ctx.view.changes if c.after is not None and is_test_path(c.path)]
    ev = tuple(w.index for w in ctx.ev.writes if w.decision == "allow"
               and is_test_path(ctx.view.relative(w.path) or w.path))
    if touched or ev:
        return _result(claim, "verified", f"test files written: {', '.join(touched[:5])}", ev)
    ctx.find("claim.file_not_written", f"{_quote(claim)}: no test file was written", claim=n)
    return _result(claim, "contradicted", "no test file was written in the session")


# -- commands, commits, browsers ------------------------------------------------------------
def _command(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    wanted = " ".join((claim.command or "").strip().strip("`").removeprefix("$ ").split())
    if not wanted:
        return _result(claim, "unverifiable", "no command is named")
    found = [a for a in ctx.analysed if wanted in " ".join(a.run.command.split())]
    ran = [a for a in found if a.run.decision == "allow" and a.run.ran]
    if ran:
        last = ran[-1]
        status = f", exit status {last.run.exit_status}" if last.run.exit_status is not None \
            else ""
        return _result(claim, "verified", f"`{wanted}` ran (entry {last.run.index}{status})",
                       last.run.evidence)
    if found:
        return _result(claim, "contradicted", f"`{wanted}` was {found[-1].run.decision}-ed "
                       f"(entry {found[-1].run.index}), not run", found[-1].run.evidence)
    ctx.find("claim.command_not_run", f"{_quote(claim)}: `{wanted}` was never run", claim=n)
    return _result(claim, "contradicted", f"`{wanted}` was never run in the session")


def _commit(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    sha = claim.commit or ""
    runs = tuple(i for a in ctx.analysed if "git" in a.run.command and "commit" in a.run.command
                 and a.run.ran for i in a.run.evidence)
    if not ctx.view.git:
        return _result(claim, "unverifiable", "the workspace is not a git repository", runs)
    found = ctx.view.commit(sha)
    if found is None:
        ctx.find("claim.commit_missing", f"{_quote(claim)}: no commit {sha} in the repository",
                 runs, claim=n)
        return _result(claim, "contradicted", f"no commit {sha} in the repository", runs)
    start_s = ctx.ev.start_wall_us // 1_000_000
    if found.committer_time < start_s - _SESSION_SLACK_S:
        ctx.find("claim.commit_missing", f"{_quote(claim)}: commit {found.sha[:12]} was made "
                 "before the session began", runs, claim=n)
        return _result(claim, "contradicted", f"commit {found.sha[:12]} predates the session",
                       runs)
    return _result(claim, "verified", f"commit {found.sha[:12]} made during the session "
                   f"({found.subject[:60]!r})", runs)


def _browser(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    ev = [t.index for t in ctx.ev.tools if t.decision != "deny" and
          (_BROWSER_TOOL.search(t.name) if t.kind == "tool.call" else
           _BROWSER_COMMAND.search("curl " + t.name))]
    ev += [i for a in ctx.analysed if a.run.ran and _BROWSER_COMMAND.search(a.run.command)
           for i in a.run.evidence]
    if ev:
        return _result(claim, "verified", "browser or local-server activity observed",
                       tuple(ev))
    ctx.find("claim.browser_unobserved", f"{_quote(claim)}: no browser, page fetch or local "
             "server activity was observed", claim=n)
    return _result(claim, "unsupported", "no browser activity was observed")


def _vague(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    checked = any(ctx.checks(c) for c in ("test", "build", "lint", "typecheck"))
    ctx.find("claim.vague", f"{_quote(claim)}: vague; say what was run and what it showed",
             claim=n, severity=None if checked else "medium")
    return _result(claim, "unverifiable", "a vague statement with nothing checkable")


def _attribution(ctx: Context, n: int, claim: Claim) -> ClaimResult:
    ctx.find("claim.attribution", f"{_quote(claim)}: work attributed to someone else; report "
             "only what this session did", claim=n)
    return _result(claim, "unverifiable", "work attributed to someone else")


_VERIFIERS: Final[dict[str, Verifier]] = {
    "tests.pass": _tests_pass, "tests.fail": _tests_fail, "tests.not_run": _tests_not_run,
    "tests.added": _tests_added,
    "file.created": _file, "file.modified": _file, "file.deleted": _file,
    "command.ran": _command, "git.commit": _commit,
    "build.pass": _check("build"), "lint.pass": _check("lint"),
    "typecheck.pass": _check("typecheck"),
    "browser.verified": _browser, "vague": _vague, "attribution": _attribution,
}
