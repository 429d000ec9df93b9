"""The store's foundation (:class:`WorkflowSessions`, which the store's parts extend): the
state database and ledger it works on, its tunables (:class:`WorkflowConfig`), a session's row
and its versioned changes, the workspace settings, the recording of every change in the ledger,
and a session's evidence read from the ledger (:func:`load_evidence`) with the guard context of
its current phase. The whole store is :class:`codor.runtime.workflowstore.WorkflowStore`.

**Concurrency.** A session row carries a ``version`` every change increments; a change based
on another version is refused with :class:`WorkflowConflictError` (``E_CONFLICT``) and nothing
is written. Reads and writes of one change run in one transaction.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from codor.runtime.coverage import DEFAULT_REPORTS, MAX_REPORT_BYTES, Budget, budget
from codor.runtime.workflow import (
    Evidence,
    GuardContext,
    RunFact,
    WorkflowError,
    evidence_from,
)
from codor.runtime.workflowschema import (
    _SCHEMA,
    _SELECT_SESSION,
    ADMIN_SESSION,
    WORKFLOW_AGENT,
    SessionState,
    WorkflowConflictError,
    WorkflowNotFoundError,
    _session_row,
)

if TYPE_CHECKING:
    from codor.kernel import Kernel
    from codor.ledger import Ledger
    from codor.statedb import StateDB

__all__ = ["EvidenceLoader", "WorkflowConfig", "WorkflowSessions", "load_evidence"]

_PRODUCTS_RUNS: Final = 32   # test runs whose outcome products are read for coverage


@dataclass(frozen=True, slots=True)
class WorkflowConfig:
    """Tunables: the debug guard's failure count, the budget thresholds (percentage points,
    negative), where coverage reports are looked for, how much a report's time may lie
    outside its run's window, the report size cap, and how long the gate caches a session's
    state (changes made in this process are seen at once)."""

    debug_failures: int = 3
    coverage_warn: float = -2.0
    coverage_lock: float = -5.0
    coverage_reports: tuple[str, ...] = DEFAULT_REPORTS
    report_slack_s: float = 0.25
    max_report_bytes: int = MAX_REPORT_BYTES
    cache_ttl_s: float = 1.0

    def __post_init__(self) -> None:
        if self.debug_failures < 1:
            raise WorkflowError("debug_failures must be at least 1")
        budget(None, None, warn_at=self.coverage_warn, lock_at=self.coverage_lock)


def load_evidence(ledger: Ledger | None, session: str, workspace: str | None = None
                  ) -> Evidence:
    """The guards' view of ``session``'s entries in ``ledger``
    (:func:`~codor.runtime.workflow.evidence_from`), with the digests the outcomes of its last
    test runs reported; empty without a ledger or before the session's first record."""
    from codor.claims.evidence import ClaimsError, load_session

    if ledger is None:
        return Evidence(session)
    try:
        ev = load_session(ledger, session)
    except ClaimsError as exc:
        if "no session" not in exc.message:
            raise
        return Evidence(session, size=ledger.store.size())
    view = evidence_from(ev, workspace)
    return replace(view, runs=tuple(_with_products(ledger, view.runs)))


def _with_products(ledger: Ledger, runs: Sequence[RunFact]) -> Iterable[RunFact]:
    """Runs with the digests their outcomes reported (the last few test runs only)."""
    import orjson

    tested = [r.outcome for r in runs if r.test and r.outcome is not None]
    wanted = set(tested[-_PRODUCTS_RUNS:])
    for run in runs:
        if run.outcome not in wanted or run.outcome is None:
            yield run
            continue
        try:
            leaf = ledger.store.entry(run.outcome).leaf
            record = orjson.loads(leaf) if leaf else None
        except Exception:  # a pruned or odd entry: no products
            record = None
        products = record.get("products") if isinstance(record, dict) else None
        digests = tuple(v for v in products.values() if isinstance(v, str)) \
            if isinstance(products, dict) else ()
        yield replace(run, products=digests)


class WorkflowSessions:
    """The base the store's parts extend (the whole store, and the meaning of the constructor's
    arguments: :class:`~codor.runtime.workflowstore.WorkflowStore`): the handles and tunables,
    a session's row and its versioned changes, settings, and the ledger record of each
    change."""

    def __init__(self, db: StateDB, kernel: Kernel | None = None, *,
                 ledger: Ledger | None = None, workspace: str | os.PathLike[str] | None = None,
                 config: WorkflowConfig | None = None) -> None:
        self._db = db
        self._kernel = kernel
        self.ledger = ledger if ledger is not None else \
            (kernel.ledger if kernel is not None else None)
        if workspace is None and kernel is not None:
            workspace = kernel.workspace
        self.workspace = None if workspace is None else os.fspath(workspace)
        self.config = config or WorkflowConfig()
        self._generation = 0
        self._gen_lock = threading.Lock()
        db.migrate(_SCHEMA)

    # -- reading ---------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Increments with every change this store makes (the gate's cache checks it)."""
        return self._generation

    def _changed(self) -> None:
        with self._gen_lock:
            self._generation += 1

    def get(self, session: str) -> SessionState | None:
        """The session's stored state, or ``None`` (no row: the workspace default applies)."""
        rows = self._db.query(_SELECT_SESSION, (session,))
        return _session_row(rows[0]) if rows else None

    # -- evidence --------------------------------------------------------------------------

    def evidence(self, session: str) -> Evidence:
        """The guards' view of the session's ledger entries (empty without a ledger, or
        before the session's first record)."""
        return load_evidence(self.ledger, session, self.workspace)

    def session_agents(self, session: str) -> set[str]:
        """The agent ids the session's records name (its starts and its decisions), besides
        the row's own: who may not approve the session's review or debug request."""
        import orjson

        from codor.canonical import canonical_json

        found: set[str] = set()
        state = self.get(session)
        if state is not None and state.agent:
            found.add(state.agent)
        if self.ledger is None:
            return found
        store = self.ledger.store
        store.flush()
        size = store.size()
        needle = b'"session":' + canonical_json(session)
        for start in range(0, size, 16384):
            for _index, leaf, _hash in store.leaves_containing(start, min(size, start + 16384),
                                                               needle):
                try:
                    rec = orjson.loads(leaf)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(rec, dict) or rec.get("session") != session:
                    continue
                holder = rec.get("action") if rec.get("type") == "decision" else rec
                agent = holder.get("agent") if isinstance(holder, dict) else None
                name = agent.get("id") if isinstance(agent, dict) else None
                if isinstance(name, str):
                    found.add(name)
        return found - {"unknown", WORKFLOW_AGENT, ADMIN_SESSION}

    def context(self, state: SessionState, evidence: Evidence,
                coverage: Budget | None = None) -> GuardContext:
        """The guard context of ``state``'s current phase."""
        return GuardContext(evidence, state.since_index, state.review_by,
                            bool(coverage is not None and coverage.locked),
                            coverage.note() if coverage is not None else "",
                            state.session, self.config.debug_failures)

    # -- internals -------------------------------------------------------------------------

    def _setting(self, name: str) -> Any:
        rows = self._db.query("SELECT value FROM workflow_settings WHERE name = ?", (name,))
        if not rows:
            return None
        try:
            return json.loads(rows[0][0])
        except ValueError:
            return None

    def _set_setting(self, name: str, value: Any) -> None:
        text = json.dumps(value)
        with self._db.transaction():
            if self._db.execute("UPDATE workflow_settings SET value = ?, updated = ? WHERE "
                                "name = ?", (text, time.time(), name)) == 0:
                self._db.execute("INSERT INTO workflow_settings (name, value, updated) VALUES "
                                 "(?, ?, ?)", (name, text, time.time()))

    def _require(self, session: str) -> SessionState:
        state = self.get(session)
        if state is None or state.mode == "off":
            raise WorkflowNotFoundError(f"session {session!r} has no workflow mode (set one "
                                        "with `codor mode set strict --session ...`)",
                                        location=session)
        return state

    @staticmethod
    def _expect(session: str, current: SessionState | None, expected: int | None) -> None:
        if expected is None:
            return
        have = current.version if current is not None else 0
        if have != expected:
            raise WorkflowConflictError(f"the workflow state of session {session!r} changed "
                                        f"meanwhile (version {have}, expected {expected}); "
                                        "read it again", location=session)

    def _set(self, current: SessionState, mode: str, phase: str | None, *, by: str,
             reason: str | None, origin: tuple[str | None, str | None]) -> SessionState:
        moved = self._update(current, mode=mode, phase=phase, review_by=None,
                             origin_mode=origin[0], origin_phase=origin[1])
        index = self._record(current.session, "workflow.mode",
                             {"mode": mode, "phase": phase, "from_mode": current.mode,
                              "from_phase": current.phase, "by": by, "reason": reason,
                              "version": moved.version}, current.agent)
        return self._entered(moved, index)

    def _update(self, current: SessionState, **changes: Any) -> SessionState:
        moved = replace(current, version=current.version + 1, updated=time.time(), **changes)
        if "phase" in changes or "mode" in changes:
            moved = replace(moved, since=moved.updated)
        changed = self._db.execute(
            "UPDATE workflow_sessions SET mode = ?, phase = ?, since = ?, version = ?, "
            "review_by = ?, origin_mode = ?, origin_phase = ?, updated = ? WHERE session = ? "
            "AND version = ?",
            (moved.mode, moved.phase, moved.since, moved.version, moved.review_by,
             moved.origin_mode, moved.origin_phase, moved.updated, current.session,
             current.version))
        if changed != 1:
            raise WorkflowConflictError(f"the workflow state of session {current.session!r} "
                                        "changed meanwhile; read it again")
        return moved

    def _entered(self, state: SessionState, index: int | None) -> SessionState:
        """Set the ledger index the current phase counts evidence after."""
        if index is None:
            index = self.ledger.store.size() - 1 if self.ledger is not None else -1
        self._db.execute("UPDATE workflow_sessions SET since_index = ? WHERE session = ?",
                         (index, state.session))
        return replace(state, since_index=index)

    def _record(self, session: str, event: str, data: Mapping[str, Any],
                agent: str | None, *, action_index: int | None = None) -> int | None:
        if self._kernel is None:
            return None
        from codor.model import Agent

        principal = Agent(ADMIN_SESSION) if session == ADMIN_SESSION else \
            Agent(agent or WORKFLOW_AGENT)
        return self._kernel.record_event(session, event, data, agent=principal,
                                         action_index=action_index)


#: a loader of a session's evidence (the gate may be given its own)
EvidenceLoader = Callable[[str], Evidence]
