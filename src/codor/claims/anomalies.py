"""Session-wide fabrication detectors, independent of any one claim: printed or replayed
runner output, masked exit statuses, artefacts that are placeholders, copies or fakes, and
times that do not add up. Changed tests and code go to the change detectors
(:mod:`codor.claims.pytests`, :mod:`~codor.claims.jstests`, :mod:`~codor.claims.suppressions`,
:mod:`~codor.claims.hardcoded`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from typing import Final

from codor.claims.claim import Claim
from codor.claims.context import Context

__all__ = ["detect"]

#: evidence timestamps may step back this much (hooks of one session run concurrently)
_CLOCK_SLACK_US: Final = 2_000_000
#: an outcome may be stamped this much before its decision (two processes, one clock)
_ORDER_SLACK_US: Final = 250_000
_BURST_COUNT: Final = 5
_BURST_WINDOW_US: Final = 1_000_000
_ARTEFACT: Final = re.compile(
    r"(^|/)(evidence|artifacts?|artefacts?|reports?|screenshots?|test-results|proofs?)/"
    r"|\.(png|jpe?g|gif|webp|bmp)$", re.IGNORECASE)
_RUNNER_JSON_KEYS: Final = (
    {"numPassedTests"}, {"numFailedTests"}, {"testResults", "success"},
    {"stats", "passes"}, {"tool_use_id"}, {"tool_response"}, {"summary", "tests", "exitcode"},
)
_POSITIVE: Final = {"test": "tests.pass", "build": "build.pass", "lint": "lint.pass",
                    "typecheck": "typecheck.pass"}


def detect(ctx: Context, claims: list[Claim]) -> None:
    """Add every session-wide finding to ``ctx``."""
    _printed(ctx)
    _masked(ctx, claims)
    _times(ctx)
    _artefacts(ctx)


def _printed(ctx: Context) -> None:
    for a in ctx.analysed:
        if a.printed and a.summary is not None and a.run.ran:
            line = a.summary.lines[0] if a.summary.lines else a.summary.runner
            ctx.find("evidence.printed_output", f"entry {a.run.index} printed a "
                     f"{a.summary.runner} summary ({line[:80]!r}) without running "
                     f"{a.summary.runner}: `{a.run.command[:80]}`", a.run.evidence)


def _masked(ctx: Context, claims: list[Claim]) -> None:
    claimed = {c.kind for c in claims}
    for a in ctx.analysed:
        if not a.run.ran:
            continue
        for inv in a.invocations:
            if inv.masked is not None:
                relied = _POSITIVE.get(inv.category) in claimed
                ctx.find("evidence.masked_exit", f"entry {a.run.index}: the exit status of "
                         f"{inv.tool} was masked with `{inv.masked}`", a.run.evidence,
                         severity=None if relied else "low")
            elif inv.piped is not None:
                ctx.find("evidence.piped_exit", f"entry {a.run.index}: the exit status of "
                         f"{inv.tool} was lost in `{inv.piped}`; its output was read instead",
                         a.run.evidence)


def _times(ctx: Context) -> None:
    latest, latest_index = -1, -1
    for e in ctx.ev.entries:
        if latest - e.wall_us > _CLOCK_SLACK_US:
            ctx.find("time.clock_backwards", f"entry {e.index} is dated "
                     f"{(latest - e.wall_us) / 1e6:.1f} s before entry {latest_index}",
                     (latest_index, e.index))
        if e.wall_us > latest:
            latest, latest_index = e.wall_us, e.index
        if e.ended_wall_us is not None and e.ended_wall_us < e.wall_us:
            ctx.find("time.ended_before_start", f"entry {e.index} ended "
                     f"{(e.wall_us - e.ended_wall_us) / 1e6:.3f} s before it started",
                     (e.index,))
    for a in ctx.analysed:
        s, run = a.summary, a.run
        if run.started_us is None or run.ended_us is None:
            continue
        if run.started_us < run.wall_us - _ORDER_SLACK_US:
            ctx.find("time.clock_backwards", f"entry {run.outcome}: the run started "
                     f"{(run.wall_us - run.started_us) / 1e6:.2f} s before it was decided "
                     f"(entry {run.index})", run.evidence)
        if s is None or s.duration_s is None:
            continue
        # a sandbox measures the run; a harness reports when it saw the result, so the run
        # took at most the time from its decision to that report
        exact = run.outcome_observer in ("codor-sandbox", "codor-runtime")
        bound = run.duration_us if exact and run.duration_us is not None else \
            run.ended_us - min(run.wall_us, run.started_us)
        if s.duration_s * 1e6 > bound + 1_000_000:
            ctx.find("time.impossible_duration", f"entry {run.index}: the output says the run "
                     f"took {s.duration_s:.2f} s but it {'ran' if exact else 'was over'} in "
                     f"{bound / 1e6:.2f} s", run.evidence)


def _artefacts(ctx: Context) -> None:
    added = [c for c in ctx.view.changes if c.after is not None and _ARTEFACT.search(c.path)]
    by_content: dict[str, list[str]] = defaultdict(list)
    for c in added:
        assert c.after is not None
        if len(c.after.strip()) == 0 and c.before is None:
            ctx.find("evidence.placeholder_artifact", f"{c.path} is empty", path=c.path)
        elif len(c.after) >= 16:
            by_content[c.after].append(c.path)
    for paths in by_content.values():
        if len(paths) > 1:
            ctx.find("evidence.copied_artifact", f"{', '.join(sorted(paths)[:4])} have "
                     "identical content", path=sorted(paths)[0])
    blobs = ctx.view.tracked_blobs() if added else {}
    for c in added:
        assert c.after is not None
        data = c.after.encode("utf-8")
        if c.before is not None or len(data) < 16:
            continue
        blob = hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False)
        source = blobs.get(blob.hexdigest())
        if source is not None and source != c.path:
            ctx.find("evidence.copied_artifact", f"{c.path} is a byte-for-byte copy of "
                     f"{source}", path=c.path)
    for c in ctx.view.changes:
        if c.after is not None and c.path.endswith(".json") and _runner_json(c.after) and \
                not _produced_by_run(ctx, c.path):
            ctx.find("evidence.fake_tool_response", f"{c.path} holds a test or tool result "
                     "that no observed command produced", path=c.path)
    _burst(ctx)
    for path, size in ctx.view.sizes.items():
        if _ARTEFACT.search(path) and path.lower().endswith((".png", ".jpg", ".jpeg", ".gif",
                                                            ".webp")) and 0 < size < 100:
            ctx.find("evidence.placeholder_artifact", f"{path} is an image of {size} bytes",
                     path=path)


def _runner_json(text: str) -> bool:
    if len(text) > 1 << 20:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    keys = set(data)
    return any(want <= keys for want in _RUNNER_JSON_KEYS)


def _produced_by_run(ctx: Context, path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(name in a.run.command and a.invocations and a.run.ran for a in ctx.analysed)


def _burst(ctx: Context) -> None:
    """Many evidence files written within a second: by observed writes, or (a loop in one
    command) by their modification times."""
    times = sorted((w.wall_us, w.index, rel) for w in ctx.ev.writes
                   if w.decision == "allow" and (rel := ctx.view.relative(w.path)) is not None
                   and _ARTEFACT.search(rel))
    if len(times) < _BURST_COUNT:
        times = sorted((ctx.view.mtimes_ns[c.path] // 1000, -1, c.path)
                       for c in ctx.view.changes if c.before is None
                       and c.path in ctx.view.mtimes_ns and _ARTEFACT.search(c.path))
    for i in range(len(times) - _BURST_COUNT + 1):
        window = times[i:i + _BURST_COUNT]
        if window[-1][0] - window[0][0] <= _BURST_WINDOW_US:
            ctx.find("evidence.burst_artifacts", f"{_BURST_COUNT} evidence files written "
                     f"within one second ({window[0][2]} … {window[-1][2]})",
                     tuple(w[1] for w in window if w[1] >= 0))
            return
