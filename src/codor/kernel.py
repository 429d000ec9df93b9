"""The kernel: decide → (execute) → record, for every action, in one place.

``Kernel.decide`` asks the policy engine and records the decision as evidence in the
workspace ledger (when there is one). Recording is part of deciding: if the decision cannot
be recorded (disk full, read-only store), the answer is a deny with a clear reason — never an
unrecorded allow. So every record is committed before its decision is returned; only a
kernel made with ``group_allows=True`` (a long-running process that wants the store's group
commit for throughput) lets ordinary allow records wait for the next group commit, and a
store fault at that commit then denies the *next* decision, not the allows already given.
Each session starts with a recorded random challenge that its later records carry, so
evidence cannot be prepared before the session began.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from codor.model import Action, Agent, Decision, Reason, freeze, thaw

if TYPE_CHECKING:
    from codor.evidence.records import Observer, SessionStart, StreamSummary
    from codor.ledger.log import Ledger
    from codor.policy.engine import Engine

__all__ = ["DecisionGate", "Kernel", "evidence_form"]

_DURABLE_SEVERITIES = frozenset({"high", "critical"})


@cache
def _redactor() -> Callable[[str], str]:
    """The default secret scanner's ``redact``, loaded on first use (deciding without
    recording never loads the scanner)."""
    from codor.policy.secret_scanner import default_scanner

    return default_scanner().redact


def evidence_form(action: Action) -> Action:
    """The action as it is stored in evidence: written content is kept only as its sha256,
    capability tokens are dropped, and secrets are redacted from every other text field."""
    redact = _redactor()
    changes: dict[str, object] = {"token": None}
    if action.content is not None:
        changes["content"] = None
        changes["content_sha256"] = hashlib.sha256(
            action.content.encode("utf-8", "surrogatepass")).hexdigest()
    for name in ("command", "url", "text", "patch", "path", "host"):
        value = getattr(action, name)
        if isinstance(value, str):
            changes[name] = redact(value)
    if action.argv is not None:
        changes["argv"] = tuple(redact(a) for a in action.argv)
    if action.arguments is not None:
        changes["arguments"] = freeze(_redact_tree(thaw(action.arguments), redact))
    if action.env is not None:
        changes["env"] = freeze({k: redact(v) for k, v in action.env.items()})
    return dataclasses.replace(action, **changes)  # type: ignore[arg-type]


def _redact_tree(value: object, redact: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_tree(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, redact) for v in value]
    return value


def _unrecorded(decision: Decision, exc: Exception) -> Decision:
    """The deny given when ``decision`` could not be recorded: rule ``ledger.unavailable``,
    the failure on one line with its error code (``E_LEDGER_STORE`` for the store)."""
    from codor.errors import CodorError

    code, text = (exc.code, exc.message) if isinstance(exc, CodorError) else \
        (type(exc).__name__, str(exc))
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:297] + "..."
    reason = Reason("ledger.unavailable", None, "critical",
                    f"the decision could not be recorded [{code}]: {text}; denied")
    return Decision("deny", (reason, *decision.reasons), decision.warnings, decision.policy)


def _gate_failed(decision: Decision, exc: Exception) -> Decision:
    """The deny given when the workflow gate failed: rule ``workflow.error``."""
    from codor.errors import CodorError

    code = exc.code if isinstance(exc, CodorError) else type(exc).__name__
    text = " ".join(str(exc).split())[:300]
    reason = Reason("workflow.error", "workflow", "high",
                    f"the workflow state could not be checked [{code}]: {text}; denied")
    return Decision("deny", (reason, *decision.reasons), decision.warnings, decision.policy)


class DecisionGate(Protocol):
    """What may tighten the engine's decision before it is recorded — the workflow modes
    (:class:`codor.runtime.gate.WorkflowGate`): ``apply`` never loosens a decision, and
    ``recorded`` hears of the recorded decision's index (it never raises)."""

    def apply(self, action: Action, decision: Decision) -> Decision: ...

    def recorded(self, action: Action, decision: Decision, index: int | None) -> bool: ...


class Kernel:
    """Decides and records. ``ledger=None`` decides without recording (``--no-record``).
    ``gate`` (the workflow modes) may tighten each decision before it is recorded; an error
    in it is a deny (fail closed)."""

    def __init__(self, engine: Engine, ledger: Ledger | None = None, *,
                 observer: Observer = "codor-engine", group_allows: bool = False,
                 workspace: str | None = None, gate: DecisionGate | None = None) -> None:
        self.engine = engine
        self.gate = gate
        self._owned: list[Any] = []  # closed with the kernel (the gate's state database)
        self.workspace = workspace  # a git work tree whose HEAD each session start records
        self.ledger = ledger
        self.observer: Observer = observer
        self.group_allows = group_allows
        self._sessions: dict[str, SessionStart] = {}
        self._lock = threading.Lock()
        self._default_session = f"s-{os.getpid()}-{os.urandom(4).hex()}"

    def session(self, session_id: str | None, agent: Agent | None = None) -> SessionStart:
        """The session's start record, recorded (durably) the first time it is seen."""
        from codor.evidence.records import SessionStart

        sid = session_id or self._default_session
        with self._lock:
            start = self._sessions.get(sid)
            if start is None:
                start = SessionStart.new(sid, agent or Agent("unknown"), self.engine.policy.sha256)
                if self.ledger is not None:
                    self.ledger.append(start.to_bytes(), durable=True)
                    self._record_head(start)
                self._sessions[sid] = start
        return start

    def _record_head(self, start: SessionStart) -> None:
        """After a session start: a ``workspace.head`` event naming the commit the work tree
        is on (claims verification's base; commit dates can be back-dated)."""
        from codor.evidence.events import EventRecord
        from codor.evidence.githead import git_head
        from codor.evidence.records import now_us

        head = git_head(self.workspace) if self.workspace is not None else None
        if head is None or self.ledger is None:
            return
        wall, mono = now_us()
        record = EventRecord(start.session, start.challenge, "workspace.head",
                             {"git_head": head}, self.engine.policy.sha256, self.observer,
                             wall, mono, None)
        self.ledger.append(record.to_bytes(), durable=False)

    def decide(self, action: Action) -> Decision:
        return self.decide_and_index(action)[0]

    def record(self, action: Action, decision: Decision) -> int:
        """Append the decision as evidence, committed before this returns (with
        ``group_allows``, allows of lower than high severity within the store's group-commit
        window)."""
        from codor.evidence.records import DecisionRecord, now_us

        assert self.ledger is not None
        start = self.session(action.session, action.agent)
        wall, mono = now_us()
        record = DecisionRecord(start.session, start.challenge, evidence_form(action),
                                decision, self.engine.policy.sha256, self.observer, wall, mono)
        durable = not self.group_allows or decision.decision != "allow" or \
            decision.severity in _DURABLE_SEVERITIES
        return self.ledger.append(record.to_bytes(), durable=durable)

    def decide_and_index(self, action: Action) -> tuple[Decision, int | None]:
        """:meth:`decide` (same fail-closed recording), also returning the ledger index of the
        decision record: ``None`` without a ledger, or when recording failed (the decision is
        then the ``ledger.unavailable`` deny)."""
        decision = self.engine.decide(action)
        gate = self.gate
        if gate is not None:
            if action.session is None:  # recorded in the default session: judged in it too
                action = dataclasses.replace(action, session=self._default_session)
            try:
                decision = gate.apply(action, decision)
            except Exception as exc:  # fail closed: the gate could not judge the action
                decision = _gate_failed(decision, exc)
        if self.ledger is None:
            return decision, None
        try:
            index = self.record(action, decision)
        except Exception as exc:
            return _unrecorded(decision, exc), None
        if gate is not None:
            with contextlib.suppress(Exception):
                gate.recorded(action, decision, index)
        return decision, index

    def record_outcome(
        self, action: Action, decision_index: int | None, *,
        started: tuple[int, int], ended: tuple[int, int], exit_status: int | None = None,
        stdout: StreamSummary | None = None, stderr: StreamSummary | None = None,
        products: Mapping[str, str] | None = None, materials: Mapping[str, str] | None = None,
        sandbox: str | None = None, observer: Observer = "codor-runtime",
    ) -> int | None:
        """Append what executing ``action`` produced as an :class:`OutcomeRecord` bound to the
        session's challenge; returns its ledger index (``None`` without a ledger).

        ``started``/``ended`` are ``(wall_us, mono_us)`` pairs (:func:`now_us`). The record
        names its action by ``decision_index`` and by the digest of the action's evidence form
        (what the decision record stores). Committed before this returns (within the group
        commit with ``group_allows``); a store fault raises — the action already ran, so the
        caller reports it rather than denying."""
        from codor.evidence.records import EMPTY_STREAM, OutcomeRecord, action_digest

        if self.ledger is None:
            return None
        start = self.session(action.session, action.agent)
        record = OutcomeRecord(
            start.session, start.challenge, decision_index,
            action_digest(evidence_form(action)), exit_status, started[0], ended[0],
            started[1], ended[1], self.engine.policy.sha256, observer,
            stdout or EMPTY_STREAM, stderr or EMPTY_STREAM, products or {}, materials or {},
            sandbox)
        return self.ledger.append(record.to_bytes(), durable=not self.group_allows)

    def record_event(self, session: str | None, event: str, data: Mapping[str, Any], *,
                     observer: Observer | None = None, action_index: int | None = None,
                     agent: Agent | None = None) -> int | None:
        """Append an :class:`~codor.evidence.events.EventRecord` (a proxy refusal after an
        allow, an upstream error, a closed connection...) to ``session``; returns its index
        (``None`` without a ledger). Secrets in ``data`` are redacted. Committed like an outcome;
        a store fault raises."""
        from codor.evidence.events import EventRecord
        from codor.evidence.records import now_us

        if self.ledger is None:
            return None
        start = self.session(session, agent)
        wall, mono = now_us()
        clean = _redact_tree(dict(data), _redactor())
        assert isinstance(clean, dict)
        record = EventRecord(start.session, start.challenge, event, clean,
                             self.engine.policy.sha256, observer or self.observer, wall, mono,
                             action_index)
        return self.ledger.append(record.to_bytes(), durable=not self.group_allows)

    def record_approval(self, action: Action, decision_index: int | None, *, approved: bool,
                        approver: str, channel: str, comment: str | None = None) -> int | None:
        """Append a person's answer to the ``ask`` decided for ``action`` as an
        :class:`~codor.evidence.events.ApprovalRecord`, committed before this returns."""
        from codor.evidence.events import ApprovalRecord
        from codor.evidence.records import action_digest, now_us

        if self.ledger is None:
            return None
        start = self.session(action.session, action.agent)
        wall, mono = now_us()
        record = ApprovalRecord(start.session, start.challenge, decision_index,
                                action_digest(evidence_form(action)), approved, approver,
                                channel, self.engine.policy.sha256, wall, mono, comment)
        return self.ledger.append(record.to_bytes(), durable=True)

    def own(self, part: Any) -> None:
        """Close ``part`` (anything with ``close()``) when the kernel closes."""
        self._owned.append(part)

    def close(self) -> None:
        try:
            if self.ledger is not None:
                self.ledger.store.flush()
                self.ledger.close()
            self.engine.close()
        finally:
            owned, self._owned = self._owned, []
            for part in reversed(owned):
                with contextlib.suppress(Exception):
                    part.close()
