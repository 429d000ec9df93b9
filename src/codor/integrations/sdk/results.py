"""What the SDK hands back — one decided action (:class:`Checked`), the tally of a tracked run
(:class:`CallLog`) — and how Python values become evidence (:func:`jsonable`,
:func:`output_bytes`)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from codor.integrations.sdk.errors import ActionDenied, ApprovalRequired

if TYPE_CHECKING:
    from codor.model import Action, Decision

__all__ = ["CallEntry", "CallLog", "Checked", "jsonable", "output_bytes", "path_text"]

_MAX_DEPTH = 32
_COUNTER = {"allow": "allowed", "deny": "denied", "ask": "asked"}


@dataclass(frozen=True, slots=True)
class Checked:
    """One decided action: the action (``None`` when none could be built: then the decision is
    a deny naming the error), the decision, and the ledger index of its decision record
    (``None`` without a ledger, or when recording failed — then the decision is a deny)."""

    action: Action | None
    decision: Decision
    index: int | None = None

    @property
    def allowed(self) -> bool:
        return self.decision.decision == "allow"

    def raise_unless_allowed(self) -> None:
        """Raise :class:`ApprovalRequired` for an ask, :class:`ActionDenied` for anything else
        that is not an allow."""
        if self.decision.decision == "allow":
            return
        error = ApprovalRequired if self.decision.decision == "ask" else ActionDenied
        raise error(self.decision, self.action, self.index)


Status = Literal["ok", "failed", "denied", "asked"]
_REFUSED: dict[str, Status] = {"deny": "denied", "ask": "asked"}


@dataclass(frozen=True, slots=True)
class CallEntry:
    """One decision seen by a tracked run and, when the action ran, how it ended."""

    label: str
    decision: str
    decision_index: int | None
    status: Status | None = None  # ok/failed once executed; denied/asked when refused
    outcome_index: int | None = None


class CallLog:
    """The decisions and outcomes one tracked run went through (``Guard.tracking()``).

    Thread-safe. Counts: ``allowed``/``denied``/``asked`` decisions, ``ok``/``failed``
    executions (a function that returned / raised), and ``unrecorded`` outcomes (ran, but
    the ledger refused the outcome record)."""

    def __init__(self, *, keep_entries: bool = True) -> None:
        self._keep = keep_entries  # a long-lived guard keeps counts only
        self._lock = threading.Lock()
        self._entries: list[CallEntry] = []
        self._pending: dict[int, int] = {}  # id(checked) -> its entry, until it has run
        self._counts = dict.fromkeys(("allowed", "denied", "asked", "ok", "failed",
                                      "unrecorded"), 0)

    def decided(self, label: str, checked: Checked) -> None:
        outcome = checked.decision.decision
        status = _REFUSED.get(outcome)
        with self._lock:
            self._counts[_COUNTER[outcome]] += 1
            if not self._keep:
                return
            if status is None:
                self._pending[id(checked)] = len(self._entries)
            self._entries.append(CallEntry(label, outcome, checked.index, status))

    def executed(self, checked: Checked, *, failed: bool, outcome_index: int | None,
                 recorded: bool) -> None:
        with self._lock:
            self._counts["failed" if failed else "ok"] += 1
            if not recorded:
                self._counts["unrecorded"] += 1
            position = self._pending.pop(id(checked), None)
            if position is not None:
                entry = self._entries[position]
                self._entries[position] = CallEntry(entry.label, entry.decision,
                                                    entry.decision_index,
                                                    "failed" if failed else "ok", outcome_index)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def entries(self) -> tuple[CallEntry, ...]:
        with self._lock:
            return tuple(self._entries)


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data for an action's ``arguments``: JSON types pass, paths become
    strings, mappings and sequences are converted member by member, anything else is its
    ``repr`` (so a decision always sees *something* for every argument)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth >= _MAX_DEPTH:
        return _repr(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)  # pydantic models (LangChain, OpenAI Agents)
    if callable(dump):
        try:
            return jsonable(dump(), depth + 1)
        except Exception:
            return _repr(value)
    return _repr(value)


def path_text(value: Any) -> Any:
    """A path-like object as its path; anything else as it is, for the action's own
    validation to judge (so a bad value is a deny, never a ``TypeError`` here)."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} without a repr>"


def output_bytes(value: Any) -> bytes:
    """The bytes an outcome record summarises for a function's result: text as UTF-8, bytes
    as they are, anything else as its JSON form (keys sorted)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    try:
        text = json.dumps(jsonable(value), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        text = _repr(value)
    return text.encode("utf-8", "surrogatepass")
