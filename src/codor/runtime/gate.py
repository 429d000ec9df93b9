"""The workflow gate: after the policy engine decided, the session's workflow mode and phase
(:mod:`codor.runtime.workflow`) may tighten the decision — never loosen it.

:meth:`WorkflowGate.apply` takes the action and the engine's decision and returns:

- the decision unchanged when it is a deny, when the action is a read, a listing, a network
  request, a tool call or a content check (left to the policy), when the action names no
  session, or when the session has no mode (cost: one cached lookup);
- a deny (rule ``workflow.phase``, guard ``workflow``) when the phase refuses the action and no
  phase within two transitions that allows it is reachable with every guard holding — its
  message says which guard is missing and what evidence would satisfy it;
- a deny (rule ``workflow.self-approval``) for a command that runs ``codor mode set`` or
  ``codor mode approve`` in a session with a mode;
- otherwise the decision, with warnings added: an explore-mode commit (unverified), the
  coverage budget (2 points below the baseline), an automatic transition the gate made;
- a deny (rule ``workflow.error``) when anything goes wrong inside (the state database cannot
  be read, the ledger cannot be searched): fail closed.

**Automatic transitions.** When the phase refuses an action but a phase one or two
transitions away allows it and every guard on the way holds (evaluated on the session's ledger
evidence), the gate moves the session there — recorded as ``workflow.phase`` events with
``"auto": true`` — and lets the action through. In explore mode, a write or commit while the
coverage budget is locked first moves an exploring session to ``retro_testing``.

**Cost.** A session's state and exemptions are cached for ``cache_ttl_s`` (1 s by default;
changes made through the same :class:`~codor.runtime.workflowstore.WorkflowStore` are seen at
once). The session's evidence is loaded from the ledger only when a guard must be evaluated (a
refused action); the coverage reports are looked at (one ``lstat`` per candidate) only for
writes and commits, at most every half second (and again after a test run was decided), and
read again only when they changed.

The Kernel calls :meth:`WorkflowGate.apply` between the engine's decision and recording it,
and :meth:`WorkflowGate.recorded` after recording it (an explore-mode commit is recorded as
unverified with the decision's ledger index).
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from codor.model import Action, Decision, Reason
from codor.runtime.workflow import (
    ActionFacts,
    Evidence,
    ExemptionSet,
    GuardResult,
    allows_facts,
    check_path,
    classify,
    guard_for,
    next_text,
    plan_paths,
)
from codor.runtime.workflowstore import (
    SessionState,
    WorkflowConflictError,
    WorkflowStore,
    load_evidence,
    needs_coverage,
)

if TYPE_CHECKING:
    from codor.ledger import Ledger
    from codor.runtime.coverage import Budget

__all__ = ["GATED_KINDS", "GATE_AGENT", "WorkflowGate"]

#: the action kinds the gate looks at (everything else is left to the policy)
GATED_KINDS: Final = frozenset({"file.write", "patch.apply", "file.delete", "command.exec"})
#: who the gate's automatic transitions are recorded as made by
GATE_AGENT: Final = "codor workflow gate"
_MAX_CACHE: Final = 4096
_RECHECK_S: Final = 2.0   # how long an uncounted coverage report is trusted to stay so
_SIGNATURE_S: Final = 0.5  # how often the coverage reports are looked at (lstat)

_log = logging.getLogger("codor.workflow")


@dataclass(slots=True)
class _Entry:
    expires: float
    generation: int
    state: SessionState | None
    exemptions: ExemptionSet
    coverage_key: tuple[tuple[str, int, int], ...] | None = None
    coverage: Budget | None = None
    coverage_at: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


def _deny(decision: Decision, rule: str, message: str, severity: str = "medium") -> Decision:
    reason = Reason(rule, "workflow", severity, message)  # type: ignore[arg-type]
    return Decision("deny", (reason, *decision.reasons), decision.warnings, decision.policy)


def _error(decision: Decision, exc: BaseException) -> Decision:
    from codor.errors import CodorError

    code, text = (exc.code, exc.message) if isinstance(exc, CodorError) else \
        (type(exc).__name__, str(exc))
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:297] + "..."
    return _deny(decision, "workflow.error",
                 f"the workflow state could not be evaluated [{code}]: {text}; denied", "high")


class WorkflowGate:
    """Tightens the engine's decisions by the session's workflow phase (see the module doc).

    ``store`` holds the state; ``ledger`` is where session evidence is read — a
    :class:`~codor.ledger.Ledger`, or a function ``session -> Evidence`` (default: the
    store's ledger); ``workspace`` is what paths are relative to (default: the store's)."""

    def __init__(self, store: WorkflowStore,
                 ledger: Ledger | Callable[[str], Evidence] | None = None, *,
                 workspace: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.workspace = workspace if workspace is not None else store.workspace
        self._load: Callable[[str], Evidence]
        if ledger is None:
            self._load = store.evidence
        elif callable(ledger):
            self._load = ledger
        else:
            given = ledger
            self._load = lambda session: load_evidence(given, session, self.workspace)
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._signature: tuple[float, tuple[tuple[str, int, int], ...]] = (float("-inf"), ())

    # -- the kernel's calls -----------------------------------------------------------------

    def apply(self, action: Action, decision: Decision, index: int | None = None
              ) -> Decision:
        """The decision for ``action`` once the workflow had its say (see the module doc).
        ``index``: the decision record's ledger index when the caller already knows it (then
        :meth:`recorded` is done here)."""
        if decision.decision == "deny" or action.kind not in GATED_KINDS or \
                action.session is None:
            return decision
        try:
            for attempt in (0, 1):
                entry = self._entry(action.session, action)
                state = entry.state
                if state is None or not state.active:
                    return decision
                try:
                    out = self._decide(action, decision, entry, state)
                except WorkflowConflictError:  # changed meanwhile (another process): once more
                    if attempt:
                        raise
                    self.forget(action.session)
                    continue
                if index is not None and out.decision != "deny":
                    self.recorded(action, out, index)
                return out
            raise AssertionError("unreachable")  # pragma: no cover
        except Exception as exc:
            _log.warning("workflow gate failed for session %r: %s", action.session, exc)
            return _error(decision, exc)

    def recorded(self, action: Action, decision: Decision, index: int | None) -> bool:
        """After ``decision`` was recorded at ``index``: an explore-mode commit in the
        exploring phase is recorded as unverified. Returns whether something was recorded;
        never raises (the decision stands: its warning already says it is unverified)."""
        if index is None or decision.decision == "deny" or action.kind != "command.exec" or \
                action.session is None:
            return False
        try:
            entry = self._entry(action.session, action)
            state = entry.state
            if state is None or state.mode != "explore" or state.phase != "exploring":
                return False
            facts = classify(action, entry.exemptions, self.workspace)
            if not facts.commit:
                return False
            text = action.command if action.command is not None else \
                shlex.join(action.argv or ())
            self.store.record_commit(action.session, index, text)
            return True
        except Exception as exc:
            _log.warning("could not record the unverified commit of session %r: %s",
                         action.session, exc)
            return False

    def forget(self, session: str | None = None) -> None:
        """Drop cached state (one session's, or all, with the coverage reports' signature)."""
        with self._lock:
            if session is None:
                self._cache.clear()
                self._signature = (float("-inf"), ())
            else:
                self._cache.pop(session, None)

    # -- internals -------------------------------------------------------------------------

    def _entry(self, session: str, action: Action | None = None) -> _Entry:
        now = self._clock()
        generation = self.store.generation
        entry = self._cache.get(session)
        if entry is not None and entry.expires > now and entry.generation == generation:
            return entry
        agent = action.agent.id if action is not None and action.agent is not None else None
        state = self.store.start(session, agent)
        exemptions = ExemptionSet(self.store.exemptions(session)) \
            if state is not None and state.active else ExemptionSet()
        fresh = _Entry(now + self.store.config.cache_ttl_s, generation, state, exemptions)
        if entry is not None:
            fresh.coverage_key, fresh.coverage = entry.coverage_key, entry.coverage
            fresh.coverage_at = entry.coverage_at
        with self._lock:
            if len(self._cache) >= _MAX_CACHE:
                self._cache = {k: v for k, v in self._cache.items() if v.expires > now}
                if len(self._cache) >= _MAX_CACHE:
                    self._cache.clear()
            self._cache[session] = fresh
        return fresh

    def _moved(self, entry: _Entry, state: SessionState) -> None:
        entry.state = state
        entry.generation = self.store.generation

    def _coverage(self, session: str, entry: _Entry, evidence: Evidence | None = None
                  ) -> Budget | None:
        """The session's budget, recomputed only when the reports changed (or, while the
        newest one is not counted, every few seconds: its run's outcome may come later)."""
        now = self._clock()
        if now - self._signature[0] >= _SIGNATURE_S:  # the reports change when tests run
            self._signature = (now, self.store.report_signature())
        key = self._signature[1]
        if not key:
            entry.coverage_key, entry.coverage = key, None
            return None
        cached = entry.coverage
        fresh = key == entry.coverage_key and (
            (cached is not None and cached.current is not None)
            or now - entry.coverage_at < _RECHECK_S)
        if fresh:
            return cached
        result = self.store.coverage(session, evidence)
        entry.coverage_key, entry.coverage, entry.coverage_at = key, result, now
        return result

    def _decide(self, action: Action, decision: Decision, entry: _Entry,
                state: SessionState) -> Decision:
        session = state.session
        facts = classify(action, entry.exemptions, self.workspace)
        warnings: list[str] = []
        if facts.test:  # a test run may write new coverage reports: look again next time
            self._signature = (float("-inf"), self._signature[1])
        touches = facts.commit or any(t.inside for t in facts.targets)
        cov = self._coverage(session, entry) if touches else None
        if cov is not None and cov.locked and state.mode == "explore" and \
                state.phase == "exploring":
            state = self._force_retro(entry, state, cov)
            warnings.append(f"workflow: explore is locked by the tech-debt budget ({cov.note()}); "
                            "the session moved to retro_testing")
        verdict = allows_facts(state.mode, state.phase, facts)
        if not verdict.allowed and verdict.rule == "workflow.phase":
            if decision.decision != "allow":  # an ask nobody answered yet moves nothing
                return _deny(decision, "workflow.phase",
                             f"{verdict.message} (the policy asks a person for this action, "
                             "so the session does not move on by itself: `codor mode advance` "
                             "first)")
            moved, failure = self._advance_for(facts, entry, state)
            if moved is None:
                return _deny(decision, "workflow.phase", failure)
            warnings.append(f"workflow: {state.mode} mode moved {state.phase} → "
                            f"{moved.phase} ({facts.what} needed it; every guard held)")
            state = moved
            verdict = allows_facts(state.mode, state.phase, facts)
        if not verdict.allowed:
            severity = "high" if verdict.rule == "workflow.self-approval" else "medium"
            return _deny(decision, verdict.rule, verdict.message, severity)
        warnings.extend(verdict.warnings)
        if cov is not None and cov.warn:
            warnings.append(f"workflow: tech-debt budget: {cov.note()}")
        if not warnings:
            return decision
        return Decision(decision.decision, decision.reasons, (*decision.warnings, *warnings),
                        decision.policy)

    def _force_retro(self, entry: _Entry, state: SessionState, cov: Budget) -> SessionState:
        result = GuardResult("none", True, "", cov.note())
        moved = self.store.move(state, "retro_testing", result, by=GATE_AGENT,
                                reason=f"coverage locked: {cov.note()}", auto=True)
        self._moved(entry, moved)
        return moved

    def _advance_for(self, facts: ActionFacts, entry: _Entry, state: SessionState
                     ) -> tuple[SessionState | None, str]:
        """Try the phases that allow the action; returns the state moved to, or ``None`` and
        the refusal's message."""
        mode, phase = state.mode, state.phase or ""
        label = f"{mode} mode, phase {phase}"
        paths = plan_paths(mode, phase, facts)
        if not paths:
            refused = allows_facts(mode, phase, facts)
            return None, f"{refused.message}; now: {next_text(phase, state.session)}"
        steps = [(a, b) for path in paths for a, b in zip((phase, *path), path, strict=False)]
        if all(guard_for(mode, a, b) == "none" for a, b in steps[:len(paths[0])]):
            evidence = Evidence(state.session)  # the first plan needs no evidence: no search
        else:
            evidence = self._load(state.session)
        cov = None
        if any(needs_coverage(a, guard_for(mode, a, b)) for a, b in steps):
            cov = self._coverage(state.session, entry, evidence)
        ctx = self.store.context(state, evidence, cov)
        failure: tuple[tuple[str, ...], GuardResult] | None = None
        for path in paths:
            results = check_path(mode, phase, path, ctx)
            if len(results) == len(path) and all(r.ok for r in results):
                current = state
                for to, result in zip(path, results, strict=True):
                    current = self.store.move(current, to, result, by=GATE_AGENT,
                                              reason=f"automatic: {facts.what}", auto=True,
                                              coverage=cov)
                    self._moved(entry, current)
                return current, ""
            if failure is None:
                failure = (path, results[-1])
        assert failure is not None
        path, result = failure
        via = f" (reaching {path[-1]} through {path[0]})" if len(path) > 1 else ""
        doing = facts.what if facts.family != "command" or not facts.targets else \
            f"{facts.what} (it writes {facts.targets[0].path})"
        return None, f"{label}: {doing} needs {result.message()}{via}"
