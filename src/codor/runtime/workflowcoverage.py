"""The tech-debt budget of a session and the workspace's coverage baseline, as the store keeps
them: the newest coverage report a recorded test run of the session produced, against the
baseline (:mod:`codor.runtime.coverage` reads reports and computes the budget).
:class:`WorkflowCoverage` is a part of :class:`codor.runtime.workflowstore.WorkflowStore`.

**Baseline.** The workspace's coverage baseline is set when a session passes committing (the
coverage counted at that moment) or explicitly (:meth:`WorkflowCoverage.set_baseline`); until
there is one, a session's baseline is the first report counted in it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from codor.runtime.coverage import (
    Budget,
    CoverageError,
    RunWindow,
    budget,
    find_reports,
    produced_by,
    read_report,
    report_signature,
)
from codor.runtime.workflow import Evidence, GuardError, WorkflowError
from codor.runtime.workflowschema import ADMIN_SESSION, _text
from codor.runtime.workflowsessions import WorkflowSessions

__all__ = ["WorkflowCoverage"]


class WorkflowCoverage(WorkflowSessions):
    """The coverage budget and baseline of the workflow store."""

    # -- reading ---------------------------------------------------------------------------

    def baseline(self) -> dict[str, Any] | None:
        """The workspace's coverage baseline: ``{"percent", "report", "session", "by",
        "set"}``, or ``None``."""
        value = self._setting("coverage_baseline")
        return value if isinstance(value, dict) and isinstance(value.get("percent"),
                                                               int | float) else None

    def last_coverage(self) -> dict[str, Any] | None:
        """The last budget computed in any session (``set_default(explore)`` checks it)."""
        value = self._setting("coverage_last")
        return value if isinstance(value, dict) else None

    def report_signature(self) -> tuple[tuple[str, int, int], ...]:
        """The coverage reports present now (cheap: one ``lstat`` each)."""
        if self.workspace is None:
            return ()
        return report_signature(self.workspace, self.config.coverage_reports)

    def coverage(self, session: str, evidence: Evidence | None = None) -> Budget | None:
        """The session's tech-debt budget: the newest report a recorded test run of the
        session produced, against the baseline. ``None`` when there is no report at all."""
        if self.workspace is None:
            return None
        cfg = self.config
        found = find_reports(self.workspace, cfg.coverage_reports)
        if not found:
            return None
        ev = evidence if evidence is not None else self.evidence(session)
        windows = [RunWindow(r.index, min(x for x in (r.decided_us, r.started_us) if x),
                             max(x for x in (r.ended_us, r.started_us, r.decided_us) if x),
                             frozenset(r.products))
                   for r in ev.runs if r.test and r.ran and (r.decided_us or r.started_us)]
        problems: list[str] = []
        counted = None
        for rel, full in found:
            try:
                report = read_report(full, max_bytes=cfg.max_report_bytes, shown=rel)
            except CoverageError as exc:
                problems.append(exc.one_line())
                continue
            window = produced_by(report, windows, slack_us=int(cfg.report_slack_s * 1e6))
            if window is None:
                problems.append(f"{rel}: not produced by a test run recorded in this session")
                continue
            if any(w.path == rel and w.index > window.index for w in ev.writes):
                problems.append(f"{rel}: written by the agent after the test run")
                continue
            counted = report
            break
        if counted is None:
            return budget(None, None, warn_at=cfg.coverage_warn, lock_at=cfg.coverage_lock,
                          problems=problems)
        stored = self.baseline()
        base: float | None
        if stored is not None:
            base, source = float(stored["percent"]), "workspace"
        else:
            state = self.get(session)
            base = state.baseline if state is not None else None
            if base is None and state is not None:
                base = counted.percent
                self._db.execute("UPDATE workflow_sessions SET baseline = ? WHERE session = ? "
                                 "AND baseline IS NULL", (base, session))
            source = "session" if base is not None else "none"
        result = budget(counted.percent, base, warn_at=cfg.coverage_warn,
                        lock_at=cfg.coverage_lock, report=counted, source=source,
                        problems=problems)
        self._set_setting("coverage_last", {"session": session, "at": time.time(),
                                            **result.to_json()})
        return result

    # -- changing --------------------------------------------------------------------------

    def set_baseline(self, percent: float | None = None, *, by: str,
                     session: str | None = None) -> float:
        """Set the workspace's coverage baseline: ``percent``, or the coverage counted now in
        ``session`` (a report a recorded test run of it produced)."""
        by = _text(by, "by")
        report = None
        if percent is None:
            if session is None:
                raise WorkflowError("set_baseline needs a percentage or a session whose "
                                    "coverage to take")
            cov = self.coverage(session)
            if cov is None or cov.current is None:
                raise WorkflowError(f"no coverage report produced by a test run of session "
                                    f"{session!r}", location=session)
            percent, report = cov.current, cov.report.path if cov.report else None
        if isinstance(percent, bool) or not isinstance(percent, int | float) or \
                not math.isfinite(percent) or not 0 <= percent <= 100:
            raise WorkflowError("a coverage baseline is a percentage (0 to 100)",
                                location="percent")
        with self._db.transaction():
            self._store_baseline(float(percent), session=session, by=by, report=report)
        self._changed()
        return float(percent)

    # -- internals -------------------------------------------------------------------------

    def _store_baseline(self, percent: float, *, session: str | None, by: str,
                        report: str | None) -> None:
        value = {"percent": percent, "report": report, "session": session, "by": by,
                 "set": time.time()}
        self._set_setting("coverage_baseline", value)
        self._record(ADMIN_SESSION, "workflow.baseline", value, None)

    def _check_unlocked(self, session: str) -> None:
        cov = self.coverage(session)
        if cov is not None and cov.locked:
            raise GuardError(f"explore is locked by the tech-debt budget: {cov.note()}; add "
                             "tests until coverage recovers", location=session)
