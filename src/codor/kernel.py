"""The kernel: decide → (execute) → record, for every action, in one place.

``Kernel.decide`` asks the policy engine and records the decision as evidence in the
workspace ledger (when there is one). Recording is part of deciding: if the decision cannot
be recorded (disk full, read-only store), the answer is a deny with a clear reason — never an
unrecorded allow. Each session starts with a recorded random challenge that its later records
carry, so evidence cannot be prepared before the session began.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from codor.model import Action, Agent, Decision, Reason

if TYPE_CHECKING:
    from codor.evidence.records import Observer, SessionStart
    from codor.ledger.log import Ledger
    from codor.policy.engine import Engine

__all__ = ["Kernel", "evidence_form"]

_DURABLE_SEVERITIES = frozenset({"high", "critical"})


def evidence_form(action: Action) -> Action:
    """The action as it is stored in evidence: written content is kept only as its sha256,
    capability tokens are dropped, and secrets are redacted from every other text field."""
    import dataclasses
    import hashlib

    from codor.model import freeze, thaw
    from codor.policy.secret_scanner import default_scanner

    redact = default_scanner().redact
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


class Kernel:
    """Decides and records. ``ledger=None`` decides without recording (``--no-record``)."""

    def __init__(self, engine: Engine, ledger: Ledger | None = None, *,
                 observer: Observer = "codor-engine") -> None:
        self.engine = engine
        self.ledger = ledger
        self.observer: Observer = observer
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
                self._sessions[sid] = start
        return start

    def decide(self, action: Action) -> Decision:
        decision = self.engine.decide(action)
        if self.ledger is None:
            return decision
        try:
            self.record(action, decision)
        except Exception as exc:
            reason = Reason("ledger.unavailable", None, "critical",
                            f"the decision could not be recorded ({type(exc).__name__}: "
                            f"{str(exc)[:200]}); denied")
            return Decision("deny", (reason, *decision.reasons), decision.warnings,
                            decision.policy)
        return decision

    def record(self, action: Action, decision: Decision) -> int:
        """Append the decision as evidence; deny, ask and high-severity decisions are
        committed before this returns, the rest within the store's group-commit window."""
        from codor.evidence.records import DecisionRecord, now_us

        assert self.ledger is not None
        start = self.session(action.session, action.agent)
        wall, mono = now_us()
        record = DecisionRecord(start.session, start.challenge, evidence_form(action),
                                decision, self.engine.policy.sha256, self.observer, wall, mono)
        durable = decision.decision != "allow" or decision.severity in _DURABLE_SEVERITIES
        return self.ledger.append(record.to_bytes(), durable=durable)

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.store.flush()
            self.ledger.close()
        self.engine.close()
