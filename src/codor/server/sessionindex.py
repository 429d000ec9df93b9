"""An in-memory index of the sessions in the ledger, brought up to date incrementally: each
:meth:`SessionIndex.update` reads only the entries appended since the last one (the ledger
is append-only, so nothing already read changes). Thread-safe; one per daemon.

Per session it keeps the first and last ledger index, when and by which agent it started,
how many decisions were allow, deny and ask, how many entries it has, and the verdict of its
last ``claims.verification`` event.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from codor.evidence.leaves import leaf_record

if TYPE_CHECKING:
    from codor.ledger.store import LedgerStore

__all__ = ["SessionIndex", "SessionSummary", "index_of"]

_BATCH: Final = 4096


@dataclass(slots=True)
class SessionSummary:
    """What the index knows of one session."""

    id: str
    first_index: int
    last_index: int
    started_wall_us: int | None = None
    agent: dict[str, Any] | None = None
    entries: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: {"allow": 0, "deny": 0,
                                                               "ask": 0})
    last_wall_us: int | None = None
    claims: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "first_index": self.first_index, "last_index": self.last_index,
                "started_wall_us": self.started_wall_us, "agent": self.agent,
                "entries": self.entries, "decisions": dict(self.decisions),
                "last_wall_us": self.last_wall_us, "claims": self.claims}

    def copy(self) -> SessionSummary:
        return replace(self, decisions=dict(self.decisions),
                       agent=None if self.agent is None else dict(self.agent),
                       claims=None if self.claims is None else dict(self.claims))


class SessionIndex:
    """Sessions seen in a ledger, kept up to date from its size (see the module doc)."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionSummary] = {}
        self._scanned = 0
        self._update = threading.Lock()  # one reader of new entries at a time
        self._read = threading.Lock()    # guards _sessions against readers mid-update

    @property
    def scanned(self) -> int:
        """How many ledger entries have been read."""
        return self._scanned

    def update(self, store: LedgerStore) -> int:
        """Read the entries appended since the last update; returns the ledger size read."""
        with self._update:
            store.flush()  # index only what is committed (a rolled-back append never shows)
            size = store.size()
            pos = self._scanned
            while pos < size:
                end = min(size, pos + _BATCH)
                batch = [(e.index, leaf_record(e.leaf)) for e in store.entries(pos, end)]
                with self._read:
                    for index, record in batch:
                        if record is not None:
                            self._add(index, record)
                    self._scanned = end
                pos = end
            return size

    def _add(self, index: int, rec: dict[str, Any]) -> None:
        sid = rec.get("session")
        if not isinstance(sid, str):
            return
        summary = self._sessions.get(sid)
        if summary is None:
            summary = self._sessions[sid] = SessionSummary(sid, index, index)
        summary.last_index = index
        summary.entries += 1
        rtype = rec.get("type")
        wall = rec.get("wall_us", rec.get("started_wall_us"))
        if isinstance(wall, int):
            summary.last_wall_us = wall if summary.last_wall_us is None else \
                max(summary.last_wall_us, wall)
        if rtype == "session.start":
            if summary.started_wall_us is None and isinstance(wall, int):
                summary.started_wall_us = wall
            agent = rec.get("agent")
            if summary.agent is None and isinstance(agent, dict):
                summary.agent = agent
        elif rtype == "decision":
            decision = rec.get("decision")
            verdict = decision.get("decision") if isinstance(decision, dict) else None
            if verdict in summary.decisions:
                summary.decisions[verdict] += 1
            if summary.agent is None:
                action = rec.get("action")
                agent = action.get("agent") if isinstance(action, dict) else None
                if isinstance(agent, dict):
                    summary.agent = agent
        elif rtype == "event" and rec.get("event") == "claims.verification":
            data = rec.get("data")
            if isinstance(data, dict):
                summary.claims = {"index": index, "passed": data.get("passed"),
                                  "verdicts": data.get("verdicts"), "mode": data.get("mode"),
                                  "wall_us": wall}

    def sessions(self) -> list[SessionSummary]:
        """Copies of every session's summary, most recently active first."""
        with self._read:
            found = [s.copy() for s in self._sessions.values()]
        found.sort(key=lambda s: s.last_index, reverse=True)
        return found

    def get(self, session: str) -> SessionSummary | None:
        with self._read:
            found = self._sessions.get(session)
            return None if found is None else found.copy()


def index_of(extras: dict[str, Any]) -> SessionIndex:
    """The daemon's session index (kept in ``Daemon.extras``), made on first use."""
    found = extras.get("session_index")
    if not isinstance(found, SessionIndex):
        found = extras.setdefault("session_index", SessionIndex())
    assert isinstance(found, SessionIndex)
    return found
