"""The approvals queue: ``ask`` decisions and claims escalations waiting for a person, kept in
the state database so every daemon sharing it sees (and may answer) the same items.

Flow of an ``ask`` (:meth:`ApprovalQueue.on_ask`): the action's risk is assessed
(:mod:`codor.oversight.risk`); ``auto`` allows at once and ``block`` denies at once (both
recorded in the ledger as an approval by ``codor-auto`` / ``codor-risk``); ``review`` and
``approval`` create a pending item, notify the webhooks, and wait up to ``wait_s`` for a
person. The caller gets the final decision — ``allow``/``deny`` with a reason naming who
answered — or still ``ask`` with the approval to wait on. A pending item not answered within
``timeout_s`` gets the *timeout effect* (``deny`` by default), recorded in the ledger as an
approval by ``codor-timeout`` on channel ``timeout``. (Compiled policies carry no approval
timeout of their own — only ``settings.unattended``, which makes the engine deny instead of
asking — so the timeout and its effect are the daemon's settings.)

Concurrency: an answer is claimed with ``UPDATE ... WHERE status = 'pending'`` (one daemon
wins; the other gets ``E_CONFLICT``), recorded in the ledger, then settled; while it is being
recorded the row reads ``deciding`` internally (shown as ``pending``), and a claim whose
daemon died is released again after :data:`STALE_CLAIM_S`. A waiter wakes on a local
condition when this process answers, and polls the database every ``poll_s`` for answers
given by other daemons.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import orjson

from codor.errors import InputError
from codor.evidence.leaves import event_needle, leaf_record
from codor.model import Action, Decision, Reason
from codor.oversight.approval import (
    STATUSES,
    Approval,
    ApprovalConflict,
    ApprovalNotFound,
    Level,
    OversightError,
)
from codor.oversight.notify import WebhookNotifier
from codor.oversight.risk import History, Risk, assess, session_history
from codor.statedb import StateError

if TYPE_CHECKING:
    from codor.kernel import Kernel
    from codor.statedb import StateDB

__all__ = ["AUTO_APPROVER", "BLOCK_APPROVER", "TIMEOUT_APPROVER", "ApprovalQueue", "Requester"]

log = logging.getLogger("codor.oversight")

AUTO_APPROVER: Final = "codor-auto"
BLOCK_APPROVER: Final = "codor-risk"
TIMEOUT_APPROVER: Final = "codor-timeout"
#: a ``deciding`` claim older than this (its daemon died while recording) is released
STALE_CLAIM_S: Final = 60.0
#: how far back denied / expired approvals count towards an agent's history
HISTORY_S: Final = 24 * 3600.0
#: the risk of a claims escalation (a ``review`` item)
CLAIMS_RISK: Final = 40
COMMENT_MAX: Final = 2000
_ESCALATION_NEEDLE: Final = event_needle("claims.escalation")
_SCAN_CHUNK: Final = 10_000

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS oversight_approvals (id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "session TEXT, agent TEXT, action TEXT, decision_index INTEGER, status TEXT NOT NULL, "
    "level TEXT NOT NULL, risk INTEGER NOT NULL, reasons TEXT NOT NULL, "
    "requester TEXT NOT NULL, requester_key TEXT, created REAL NOT NULL, expires REAL, "
    "decided_by TEXT, decided_at REAL, comment TEXT, record_index INTEGER, effect TEXT, "
    "escalation_index INTEGER)",
    "CREATE INDEX IF NOT EXISTS oversight_approvals_status ON oversight_approvals "
    "(status, created)",
    "CREATE UNIQUE INDEX IF NOT EXISTS oversight_approvals_escalation ON oversight_approvals "
    "(escalation_index)",
)
_SELECT: Final = ("SELECT id, kind, session, action, decision_index, status, level, risk, reasons, "
                "requester, created, expires, decided_by, decided_at, comment, record_index, "
                "effect, requester_key FROM oversight_approvals ")


class Requester(Protocol):
    """Who asks (an API key: id, name, role)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...


def _new_id() -> str:
    return "apr_" + secrets.token_hex(8)


def _row(row: Sequence[Any]) -> Approval:
    (aid, kind, session, action, dindex, status, level, risk, reasons, requester, created,
     expires, decided_by, decided_at, comment, record_index, effect, requester_key) = row
    return Approval(
        id=str(aid), kind=kind, session=session,
        action=None if action is None else orjson.loads(action),
        decision_index=None if dindex is None else int(dindex),
        status="pending" if status == "deciding" else status,
        level=level, risk=int(risk), reasons=tuple(orjson.loads(reasons)),
        requester=str(requester), created=float(created),
        expires=None if expires is None else float(expires),
        decided_by=None if status == "deciding" else decided_by,
        decided_at=None if decided_at is None or status == "deciding" else float(decided_at),
        comment=comment, record_index=None if record_index is None else int(record_index),
        effect=effect, requester_key=requester_key)


def _clean_comment(comment: str | None) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InputError("must be a string", location="comment")
    text = comment.strip()
    if len(text) > COMMENT_MAX:
        raise InputError(f"is longer than {COMMENT_MAX} characters", location="comment")
    if "\x00" in text:
        raise InputError("contains a NUL character", location="comment")
    return text or None


class ApprovalQueue:
    """Approvals in ``state``, answers recorded through ``kernel`` (see the module doc).

    ``timeout_s``: how long a person has to answer before ``timeout_effect`` (``deny`` or
    ``allow``) applies; ``wait_s``: how long :meth:`on_ask` waits for an answer before it
    returns ``ask``; ``webhooks``: URLs notified of new and settled approvals; ``sweep_s``:
    how often a background thread expires overdue items and picks up claims escalations from
    the ledger (``None``: no thread; call :meth:`expire_due` / :meth:`scan_escalations`);
    ``poll_s``: how often a waiter re-reads the database for other daemons' answers.
    """

    def __init__(self, state: StateDB, kernel: Kernel, *, timeout_s: float,
                 webhooks: Sequence[str] = (), timeout_effect: str = "deny",
                 wait_s: float = 30.0, sweep_s: float | None = 1.0,
                 poll_s: float = 0.15) -> None:
        if timeout_effect not in ("deny", "allow"):
            raise OversightError(f"timeout effect must be deny or allow, not {timeout_effect!r}")
        if timeout_s <= 0:
            raise OversightError("the approval timeout must be positive")
        self.state = state
        self.kernel = kernel
        self.timeout_s = float(timeout_s)
        self.timeout_effect = timeout_effect
        self.wait_s = max(0.0, float(wait_s))
        self.poll_s = max(0.01, float(poll_s))
        self.notifier = WebhookNotifier(webhooks)
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._scanned = 0
        self._scan_lock = threading.Lock()
        state.migrate(_SCHEMA)
        self._sweeper: threading.Thread | None = None
        if sweep_s is not None:
            self._sweeper = threading.Thread(target=self._sweep, args=(float(sweep_s),),
                                             name="codor-approvals-sweep", daemon=True)
            self._sweeper.start()

    # -- reading ----------------------------------------------------------------------------
    def get(self, approval_id: str) -> Approval:
        rows = self.state.query(_SELECT + "WHERE id = ?", (approval_id,))
        if not rows:
            raise ApprovalNotFound(f"no approval {approval_id!r}", location="id")
        return _row(rows[0])

    def list(self, status: str | None = None, limit: int = 100) -> builtins.list[Approval]:
        """Newest first; ``status`` one of pending, approved, denied, expired."""
        limit = max(1, min(int(limit), 1000))
        if status is None:
            rows = self.state.query(_SELECT + "ORDER BY created DESC "
                                    "LIMIT ?", (limit,))
        elif status in STATUSES:
            where = "status IN ('pending', 'deciding')" if status == "pending" \
                else "status = ?"
            params: tuple[Any, ...] = (limit,) if status == "pending" else (status, limit)
            rows = self.state.query(_SELECT + "WHERE " + where +
                                    " ORDER BY created DESC LIMIT ?", params)
        else:
            raise InputError(f"status must be one of {', '.join(STATUSES)}", location="status")
        return [_row(r) for r in rows]

    def pending_count(self) -> int:
        rows = self.state.query("SELECT COUNT(*) FROM oversight_approvals "
                                "WHERE status IN ('pending', 'deciding')")
        return int(rows[0][0])

    # -- asking -----------------------------------------------------------------------------
    def assess(self, action: Action, decision: Decision,
               decision_index: int | None = None) -> Risk:
        """The risk of an ``ask`` (session history from the ledger and the state DB)."""
        history, unknown = History(), False
        try:
            if self.kernel.ledger is not None:
                self.kernel.ledger.store.flush()
            history = session_history(self.kernel.ledger, action.session,
                                      before=decision_index)
        except Exception as exc:  # unknown history may hide risk: never settled as auto
            log.warning("session history unavailable for the risk score: %s", exc)
            unknown = True
        agent = action.agent.id if action.agent is not None else None
        rows = self.state.query(
            "SELECT COUNT(*) FROM oversight_approvals WHERE status IN ('denied', 'expired') AND "
            "created > ? AND ((session IS NOT NULL AND session = ?) OR "
            "(agent IS NOT NULL AND agent = ?))",
            (time.time() - HISTORY_S, action.session or "", agent or ""))
        refused = int(rows[0][0])
        if refused:
            history = History(history.refusals + refused, history.secret_read)
        risk = assess(action, decision, history)
        if unknown and risk.level == "auto":
            return Risk(risk.score, "review",
                        (*risk.reasons, "session history unavailable -> review"))
        return risk

    def on_ask(self, action: Action, decision: Decision, decision_index: int | None,
               key: Requester, *, wait: bool = True) -> tuple[Decision, dict[str, Any]]:
        """An ``ask`` from ``/v1/check``: settle it by risk, or queue it and wait up to
        ``wait_s`` for a person (``wait=False``, as for a batch: queue it and return at
        once). Returns the final decision (still ``ask`` when nobody
        answered yet) and ``{"approval": {id, status, level, risk, wait_url}}``."""
        risk = self.assess(action, decision, decision_index)
        requester = key.name
        if risk.level in ("auto", "block"):
            approved = risk.level == "auto"
            try:
                approval = self._settle_now(action, decision, decision_index, risk, requester,
                                            key.id, approved=approved)
            except Exception as exc:  # not recorded: fail closed
                log.exception("approval could not be recorded")
                reason = Reason("approval.unrecorded", None, "critical",
                                f"the {risk.level} answer could not be recorded "
                                f"({type(exc).__name__}); denied")
                return Decision("deny", (reason, *decision.reasons), decision.warnings,
                                decision.policy), {}
        else:
            approval = self._create(action, decision, decision_index, requester, risk,
                                    level=risk.level, requester_key=key.id)
            if wait and self.wait_s > 0:
                approval = self.wait(approval.id, self.wait_s)
        return self.outcome(approval, decision), {"approval": self.summary(approval)}

    @staticmethod
    def summary(approval: Approval) -> dict[str, Any]:
        """The short form ``/v1/check`` answers with."""
        return {"id": approval.id, "status": approval.status, "level": approval.level,
                "risk": approval.risk, "wait_url": approval.wait_url}

    @staticmethod
    def outcome(approval: Approval, asked: Decision) -> Decision:
        """What ``approval`` makes of the ``ask`` decision ``asked``: unchanged while pending,
        else allow / deny with one more reason saying who answered."""
        if approval.pending or approval.effect not in ("allow", "deny"):
            return asked
        note = f": {approval.comment}" if approval.comment else ""
        if approval.status == "expired":
            reason = Reason("approval.timeout", None, "medium",
                            f"no answer to approval {approval.id} in time; the timeout effect "
                            f"({approval.effect}) applied")
        elif approval.decided_by == AUTO_APPROVER:
            reason = Reason("approval.auto", None, "info",
                            f"low risk, approved by {AUTO_APPROVER} (approval "
                            f"{approval.id}){note}")
        elif approval.decided_by == BLOCK_APPROVER:
            reason = Reason("approval.block", None, "high",
                            f"risk too high to ask, denied by {BLOCK_APPROVER} (approval "
                            f"{approval.id}){note}")
        elif approval.status == "approved":
            reason = Reason("approval.approved", None, "info",
                            f"approved by {approval.decided_by} (approval {approval.id}){note}")
        else:
            reason = Reason("approval.denied", None, "medium",
                            f"denied by {approval.decided_by} (approval {approval.id}){note}")
        effect = cast(Any, approval.effect)
        return Decision(effect, (reason, *asked.reasons), asked.warnings, asked.policy)

    def submit(self, action: Action, decision: Decision, decision_index: int | None,
               requester: str, *, level: Level | None = None,
               requester_key: str | None = None) -> Approval:
        """Queue ``action`` (its ``ask`` ``decision``, recorded at ``decision_index``) for a
        person; ``level`` overrides the assessed one (``review`` or ``approval``)."""
        risk = self.assess(action, decision, decision_index)
        chosen = level or risk.level
        if chosen not in ("review", "approval"):
            chosen = "review" if chosen == "auto" else "approval"
        return self._create(action, decision, decision_index, requester, risk, level=chosen,
                            requester_key=requester_key)

    def _identify(self, action: Action) -> tuple[str, dict[str, Any]]:
        from codor.kernel import evidence_form

        session = self.kernel.session(action.session, action.agent).session
        return session, evidence_form(action).to_json()

    @staticmethod
    def _reason_lines(decision: Decision, risk: Risk) -> tuple[str, ...]:
        lines = [f"{r.rule or r.guard or 'policy'} ({r.severity}): {r.message}"
                 for r in decision.reasons]
        return (*lines, *risk.reasons)

    def _insert(self, approval: Approval, agent: str | None,
                escalation_index: int | None = None, *, on_conflict: bool = False) -> int:
        sql = ("INSERT INTO oversight_approvals (id, kind, session, agent, action, decision_index, "
               "status, level, risk, reasons, requester, requester_key, created, expires, "
               "decided_by, decided_at, comment, record_index, effect, escalation_index) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        if on_conflict:
            sql += " ON CONFLICT (escalation_index) DO NOTHING"
        a = approval
        return self.state.execute(sql, (
            a.id, a.kind, a.session, agent,
            None if a.action is None else orjson.dumps(a.action).decode(),
            a.decision_index, a.status, a.level, a.risk, orjson.dumps(list(a.reasons)).decode(),
            a.requester, a.requester_key, a.created, a.expires, a.decided_by, a.decided_at,
            a.comment, a.record_index, a.effect, escalation_index))

    def _create(self, action: Action, decision: Decision, decision_index: int | None,
                requester: str, risk: Risk, *, level: Level,
                requester_key: str | None) -> Approval:
        now = time.time()
        approval = self._store_action(action, decision, decision_index, risk, requester,
                                      requester_key, now, status="pending", level=level,
                                      expires=now + self.timeout_s)
        self.notifier.send("approval.created", approval.to_json())
        return approval

    def _settle_now(self, action: Action, decision: Decision, decision_index: int | None,
                    risk: Risk, requester: str, requester_key: str | None, *,
                    approved: bool) -> Approval:
        """An ``auto`` / ``block`` answer: recorded in the ledger first, then stored."""
        who = AUTO_APPROVER if approved else BLOCK_APPROVER
        comment = (f"risk {risk.score} ({risk.level}): "
                   f"{'approved automatically' if approved else 'denied without asking'}")
        index = self.kernel.record_approval(action, decision_index, approved=approved,
                                            approver=who, channel="api", comment=comment)
        now = time.time()
        approval = self._store_action(
            action, decision, decision_index, risk, requester, requester_key, now,
            status="approved" if approved else "denied", level=risk.level, expires=now,
            decided_by=who, decided_at=now, comment=comment, record_index=index,
            effect="allow" if approved else "deny")
        self.notifier.send("approval.decided", approval.to_json())
        return approval

    def _store_action(self, action: Action, decision: Decision, decision_index: int | None,
                      risk: Risk, requester: str, requester_key: str | None, now: float,
                      **fields: Any) -> Approval:
        """A new ``action`` approval (``fields``: its status and what goes with it), stored."""
        session, form = self._identify(action)
        approval = Approval(
            id=_new_id(), kind="action", session=session, action=form,
            decision_index=decision_index, risk=risk.score,
            reasons=self._reason_lines(decision, risk), requester=requester, created=now,
            requester_key=requester_key, **fields)
        self._insert(approval, action.agent.id if action.agent is not None else None)
        return approval

    # -- claims escalations -----------------------------------------------------------------
    def note_escalation(self, session: str, ledger_index: int,
                        data: Mapping[str, Any]) -> Approval:
        """A ``claims.escalation`` event (recorded at ``ledger_index``) as a pending
        ``review`` item; the same event always gives the same item."""
        return self._note(session, ledger_index, data)[0]

    def _note(self, session: str, ledger_index: int,
              data: Mapping[str, Any]) -> tuple[Approval, bool]:
        known = self._escalation(ledger_index)
        if known is not None:
            return known, False
        blocks = data.get("blocks")
        summary = data.get("summary")
        reasons = ["claims escalation: the agent's report failed verification"
                   + (f" after {blocks} block(s)" if isinstance(blocks, int) else "")]
        if isinstance(summary, str) and summary:
            reasons.append(summary[:300])
        approval = Approval(
            id=_new_id(), kind="claims", session=session, action=None,
            decision_index=ledger_index, status="pending", level="review", risk=CLAIMS_RISK,
            reasons=tuple(reasons), requester="codor-stop-hook", created=time.time(),
            expires=None)
        inserted = self._insert(approval, None, ledger_index, on_conflict=True)
        if not inserted:  # another daemon noted it first
            known = self._escalation(ledger_index)
            if known is None:  # the conflicting row is gone again: a state database fault
                raise StateError(f"escalation {ledger_index} was noted and is now missing")
            return known, False
        self.notifier.send("approval.created", approval.to_json())
        return approval, True

    def _escalation(self, ledger_index: int) -> Approval | None:
        """The review item of the escalation recorded at ``ledger_index``, if noted."""
        rows = self.state.query(_SELECT + "WHERE escalation_index = ?", (ledger_index,))
        return _row(rows[0]) if rows else None

    def scan_escalations(self) -> int:
        """Note every ``claims.escalation`` event appended to the ledger since the last scan
        (the Stop hook records them from its own process); returns how many were new."""
        ledger = self.kernel.ledger
        if ledger is None:
            return 0
        with self._scan_lock:
            store = ledger.store
            size = store.size()
            new = 0
            start = self._scanned
            while start < size:
                end = min(size, start + _SCAN_CHUNK)
                for index, leaf, _ in store.leaves_containing(start, end, _ESCALATION_NEEDLE):
                    rec = leaf_record(leaf)
                    if rec is None or rec.get("type") != "event" or \
                            rec.get("event") != "claims.escalation":
                        continue
                    data = rec.get("data")
                    _, created = self._note(str(rec.get("session")), index,
                                            data if isinstance(data, dict) else {})
                    new += created
                start = end
            self._scanned = size
            return new

    # -- answering --------------------------------------------------------------------------
    def decide(self, approval_id: str, *, approved: bool, identity: str,
               comment: str | None, channel: str = "api") -> Approval:
        """A person's answer: stored (only if still pending — else ``E_CONFLICT``) and
        recorded in the ledger as an approval by ``identity`` on ``channel``."""
        if not isinstance(identity, str) or not identity.strip():
            raise InputError("an answer needs the identity of who gives it",
                             location="identity")
        if channel not in ("api", "dashboard", "tty", "hook"):
            raise InputError("channel must be api, dashboard, tty or hook", location="channel")
        text = _clean_comment(comment)
        approval = self.get(approval_id)
        if approval.pending and approval.expires is not None and \
                time.time() >= approval.expires:
            self._expire(approval)
            approval = self.get(approval_id)
        if not approval.pending:
            raise ApprovalConflict(f"approval {approval_id} is already {approval.status}",
                                   location="id")
        status = "approved" if approved else "denied"
        claimed = self.state.execute(
            "UPDATE oversight_approvals SET status = 'deciding', decided_by = ?, decided_at = ? "
            "WHERE id = ? AND status = 'pending'", (identity.strip(), time.time(), approval_id))
        if not claimed:
            raise ApprovalConflict(f"approval {approval_id} is already being answered or "
                                   f"{self.get(approval_id).status}", location="id")
        try:
            index = self._record(approval, approved=approved, approver=identity.strip(),
                                 channel=channel, comment=text)
        except BaseException:
            self._release(approval_id)
            raise
        self.state.execute(
            "UPDATE oversight_approvals SET status = ?, comment = ?, record_index = ?, effect = ? "
            "WHERE id = ? AND status = 'deciding'",
            (status, text, index, "allow" if approved else "deny", approval_id))
        return self._settled(approval_id)

    def _release(self, approval_id: str) -> None:
        with contextlib.suppress(Exception):
            self.state.execute("UPDATE oversight_approvals SET status = 'pending', "
                               "decided_by = NULL, decided_at = NULL "
                               "WHERE id = ? AND status = 'deciding'",
                               (approval_id,))

    def _settled(self, approval_id: str) -> Approval:
        settled = self.get(approval_id)
        with self._cond:
            self._cond.notify_all()
        self.notifier.send("approval.decided", settled.to_json())
        return settled

    def _record(self, approval: Approval, *, approved: bool, approver: str, channel: str,
                comment: str | None) -> int | None:
        """Append the answer to the ledger (durably); its index."""
        if approval.kind == "action":
            assert approval.action is not None
            action = Action.from_json(approval.action)
            return self.kernel.record_approval(action, approval.decision_index,
                                               approved=approved, approver=approver,
                                               channel=channel, comment=comment)
        from codor.evidence.events import ApprovalRecord
        from codor.evidence.records import now_us

        kernel = self.kernel
        if kernel.ledger is None:
            return None
        start = kernel.session(approval.session)
        wall, mono = now_us()
        record = ApprovalRecord(start.session, start.challenge, approval.decision_index, None,
                                approved, approver, channel, kernel.engine.policy.sha256,
                                wall, mono, comment)
        return kernel.ledger.append(record.to_bytes(), durable=True)

    # -- time -------------------------------------------------------------------------------
    def _expire(self, approval: Approval) -> bool:
        """Apply the timeout effect to one overdue item (if no one else settles it first)."""
        now = time.time()
        claimed = self.state.execute(
            "UPDATE oversight_approvals SET status = 'deciding', decided_by = ?, decided_at = ? "
            "WHERE id = ? AND status = 'pending' AND expires IS NOT NULL AND expires <= ?",
            (TIMEOUT_APPROVER, now, approval.id, now))
        if not claimed:
            return False
        allow = self.timeout_effect == "allow"
        waited = (approval.expires or now) - approval.created
        comment = (f"no answer within {waited:.0f} s; the timeout effect "
                   f"({self.timeout_effect}) applied")
        try:
            index = self._record(approval, approved=allow, approver=TIMEOUT_APPROVER,
                                 channel="timeout", comment=comment)
        except Exception:
            log.exception("the timeout of approval %s could not be recorded", approval.id)
            self._release(approval.id)
            return False
        self.state.execute(
            "UPDATE oversight_approvals SET status = 'expired', comment = ?, record_index = ?, "
            "effect = ? WHERE id = ? AND status = 'deciding'",
            (comment, index, self.timeout_effect, approval.id))
        self._settled(approval.id)
        return True

    def expire_due(self) -> int:
        """Apply the timeout effect to every overdue pending item (and release claims whose
        daemon died while recording); returns how many expired here."""
        now = time.time()
        self.state.execute("UPDATE oversight_approvals SET status = 'pending', decided_by = NULL, "
                           "decided_at = NULL WHERE status = 'deciding' AND decided_at < ?",
                           (now - STALE_CLAIM_S,))
        rows = self.state.query(_SELECT + "WHERE status = 'pending' AND "
                                "expires IS NOT NULL AND expires <= ? ORDER BY expires",
                                (now,))
        return sum(self._expire(_row(r)) for r in rows)

    def wait(self, approval_id: str, timeout_s: float) -> Approval:
        """The approval once settled, or as it stands after ``timeout_s`` seconds. Applies
        the timeout effect itself when the item's time runs out while waiting."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            approval = self.get(approval_id)
            if not approval.pending:
                return approval
            now = time.time()
            overdue = approval.expires is not None and now >= approval.expires
            if overdue and self._expire(approval):
                continue
            # else another thread or daemon is settling it (or recording failed): wait
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed.is_set():
                return approval
            pause = min(remaining, self.poll_s)
            if approval.expires is not None and not overdue:
                pause = min(pause, approval.expires - now + 0.001)
            with self._cond:
                self._cond.wait(pause)

    # -- background -------------------------------------------------------------------------
    def _sweep(self, every: float) -> None:
        while not self._closed.wait(every):
            try:
                self.expire_due()
                self.scan_escalations()
            except Exception:
                log.exception("approvals sweep failed")

    def close(self) -> None:
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if self._sweeper is not None:
            self._sweeper.join(5.0)
            self._sweeper = None
        self.notifier.close()
