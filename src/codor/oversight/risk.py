"""Risk of an ``ask``: a score from 0 to 100 and the escalation level it leads to.

The score is a sum of four deterministic parts, capped at 100:

======================  ==================================================================
part                    points
======================  ==================================================================
severity                highest severity among the decision's reasons: info 0, low 10,
                        medium 25, high 45, critical 70
guard                   the riskiest guard named by a reason: secrets 20, injection 20,
                        egress 15, commands 15, paths 10, tools 10, patch 10; a plain
                        rule or a built-in protection 0
data flow               an outbound action (``network.request``, ``content.outbound``, a
                        ``tool.call``) in a session that has already *read* something
                        secret (an allowed read of a credential-looking path, or a
                        decision the secrets guard spoke on): 25; an outbound action
                        otherwise: 5
agent history           5 per earlier refusal in the session (a policy deny among the
                        last :data:`HISTORY_WINDOW` ledger entries, or a denied / expired
                        approval of the same session or agent in the last day), at most 20
======================  ==================================================================

and the level is read off the score:

=========  ======  ===========================================================================
score      level   what happens
=========  ======  ===========================================================================
0 – 9      auto    allowed at once, recorded as an approval by ``codor-auto``
10 – 49    review  a person must answer (routine look)
50 – 79    approval a person must answer (high risk; notified as such)
80 – 100   block   denied at once, recorded as a refusal by ``codor-risk``
=========  ======  ===========================================================================

For example a policy rule ``effect: ask`` of the default severity (medium) scores 25 —
``review``; a secrets-guard ask of high severity scores 65 — ``approval``; an ask to send
data out after the session read ``.env`` gains 25 on top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from codor.evidence.leaves import leaf_record, session_needle

if TYPE_CHECKING:
    from codor.ledger.log import Ledger
    from codor.model import Action, Decision
    from codor.oversight.approval import Level

__all__ = [
    "GUARD_POINTS", "HISTORY_WINDOW", "LEVEL_THRESHOLDS", "SEVERITY_POINTS", "History", "Risk",
    "assess", "level_for", "session_history",
]

SEVERITY_POINTS: Final[dict[str, int]] = {"info": 0, "low": 10, "medium": 25, "high": 45,
                                          "critical": 70}
GUARD_POINTS: Final[dict[str, int]] = {"secrets": 20, "injection": 20, "egress": 15,
                                       "commands": 15, "paths": 10, "tools": 10, "patch": 10}
OUTBOUND_KINDS: Final = frozenset({"network.request", "content.outbound", "tool.call"})
DATA_FLOW_POINTS: Final = 25
OUTBOUND_POINTS: Final = 5
HISTORY_POINTS: Final = 5
HISTORY_CAP: Final = 20
#: (lowest score, level), highest first
LEVEL_THRESHOLDS: Final[tuple[tuple[int, Level], ...]] = (
    (80, "block"), (50, "approval"), (10, "review"), (0, "auto"))
#: how many of the newest ledger entries the session history looks at
HISTORY_WINDOW: Final = 2000

_SECRET_PATH: Final = re.compile(
    r"(?:^|/)(?:\.env(?:\.[^/]*)?|\.netrc|\.pgpass|\.npmrc|\.pypirc|\.git-credentials|"
    r"id_(?:rsa|dsa|ecdsa|ed25519)[^/]*|[^/]*\.(?:pem|key|p12|pfx|keystore)|"
    r"[^/]*(?:secret|credential|passw|token)[^/]*)$|/\.(?:ssh|aws|gnupg|kube)/",
    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class History:
    """What the session did before: refusals, and whether it read something secret."""

    refusals: int = 0
    secret_read: bool = False


@dataclass(frozen=True, slots=True)
class Risk:
    """A score, its level, and one line per part that added points."""

    score: int
    level: Level
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "level": self.level, "reasons": list(self.reasons)}


def level_for(score: int) -> Level:
    for lowest, level in LEVEL_THRESHOLDS:
        if score >= lowest:
            return level
    return "auto"


def assess(action: Action, decision: Decision, history: History = History()) -> Risk:
    """The risk of ``action`` given its ``decision`` and the session's ``history``."""
    reasons: list[str] = []
    severity = decision.severity
    score = SEVERITY_POINTS.get(severity, 0)
    if score:
        reasons.append(f"severity {severity}: +{score}")
    guards = sorted({r.guard for r in decision.reasons if r.guard in GUARD_POINTS},
                    key=lambda g: (-GUARD_POINTS[g], g))
    if guards:
        points = GUARD_POINTS[guards[0]]
        score += points
        reasons.append(f"guard {guards[0]}: +{points}")
    if action.kind in OUTBOUND_KINDS:
        if history.secret_read:
            score += DATA_FLOW_POINTS
            reasons.append(f"data flow: {action.kind} after the session read a secret: "
                           f"+{DATA_FLOW_POINTS}")
        else:
            score += OUTBOUND_POINTS
            reasons.append(f"outbound {action.kind}: +{OUTBOUND_POINTS}")
    if history.refusals:
        points = min(HISTORY_CAP, HISTORY_POINTS * history.refusals)
        score += points
        reasons.append(f"history: {history.refusals} earlier refusal(s): +{points}")
    score = max(0, min(100, score))
    level = level_for(score)
    reasons.append(f"risk {score} -> {level}")
    return Risk(score, level, tuple(reasons))


def _secret_read(action: dict[str, Any], decision: dict[str, Any]) -> bool:
    if decision.get("decision") == "deny":
        return False  # nothing flowed
    reasons = decision.get("reasons") or []
    if any(isinstance(r, dict) and r.get("guard") == "secrets" for r in reasons):
        return True
    path = action.get("path")
    return action.get("kind") in ("file.read", "file.list") and isinstance(path, str) and \
        _SECRET_PATH.search(path) is not None


def session_history(ledger: Ledger | None, session: str | None, *,
                    window: int = HISTORY_WINDOW, before: int | None = None) -> History:
    """The session's policy denies and secret reads among the newest ``window`` ledger
    entries (before index ``before`` when given). Reads only the entries that name the
    session (searched by the store)."""
    if ledger is None or not session:
        return History()
    store = ledger.store
    end = store.size() if before is None else min(before, store.size())
    start = max(0, end - window)
    if end <= start:
        return History()
    refusals, secret = 0, False
    for _, leaf, _ in store.leaves_containing(start, end, session_needle(session)):
        rec = leaf_record(leaf)
        if rec is None or rec.get("type") != "decision" or rec.get("session") != session:
            continue
        action, decision = rec.get("action"), rec.get("decision")
        if not isinstance(action, dict) or not isinstance(decision, dict):
            continue
        if decision.get("decision") == "deny":
            refusals += 1
        elif not secret:
            secret = _secret_read(action, decision)
    return History(refusals, secret)
