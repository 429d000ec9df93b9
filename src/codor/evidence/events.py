"""Evidence records for what happens around actions: proxy-level events and people's approvals.

- :class:`EventRecord` (``event``): something an observer saw that is not a decision or an
  action's outcome — the egress proxy refusing a tunnel after the policy allowed its host
  (``egress.blocked``: SNI mismatch, a rebinding answer), an upstream failure
  (``egress.upstream_error``), a finished connection with its byte counts (``egress.closed``).
  ``data`` is a small JSON object (at most :data:`EVENT_DATA_MAX_BYTES` canonical bytes).
- :class:`ApprovalRecord` (``approval``): a person's answer to an ``ask`` decision — approved
  or not, who answered, on which channel (``tty``, ``api``, ``dashboard``...), an optional
  comment, naming the decision by ledger index and/or action digest.

Both carry the session's challenge like every record (see :mod:`codor.evidence.records`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from codor.canonical import canonical_json
from codor.evidence.fields import (
    RECORD_VERSION,
    Observer,
    RecordBase,
    args_of,
    bound_to_action,
    hex64,
    integer,
    keys_of,
    observer,
    record_fields,
    text,
)
from codor.model import FrozenMap, freeze, thaw

__all__ = ["APPROVAL_CHANNELS", "EVENT_DATA_MAX_BYTES", "ApprovalRecord", "EventRecord"]

EVENT_DATA_MAX_BYTES: Final = 8192
#: Where a person's answer came from.
APPROVAL_CHANNELS: Final = ("tty", "api", "dashboard", "hook", "timeout")
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_COMMENT_MAX: Final = 2000


@dataclass(frozen=True, slots=True)
class EventRecord(RecordBase):
    """An observed event of a session (see the module doc). ``action_index`` optionally names
    the decision the event belongs to."""

    session: str
    challenge: str
    event: str
    data: Mapping[str, Any]
    policy: str
    observer: Observer
    wall_us: int
    mono_us: int
    action_index: int | None = None
    type: ClassVar[str] = "event"

    def __post_init__(self) -> None:
        text("session", self.session)
        hex64("challenge", self.challenge)
        if not isinstance(self.event, str) or not _EVENT_NAME.fullmatch(self.event):
            raise ValueError("event must be a dotted lowercase name such as 'egress.blocked'")
        if not isinstance(self.data, Mapping):
            raise ValueError("data must be a JSON object")
        try:
            size = len(canonical_json(thaw(self.data)))
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            raise ValueError(f"data is not canonical JSON: {exc}") from None
        if size > EVENT_DATA_MAX_BYTES:
            raise ValueError(f"data is {size} bytes; at most {EVENT_DATA_MAX_BYTES} allowed")
        if not isinstance(self.data, FrozenMap):
            object.__setattr__(self, "data", freeze(dict(self.data)))
        hex64("policy", self.policy)
        observer(self.observer)
        integer("wall_us", self.wall_us)
        integer("mono_us", self.mono_us)
        integer("action_index", self.action_index, optional=True)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "v": RECORD_VERSION, "session": self.session,
                "challenge": self.challenge, "event": self.event, "data": thaw(self.data),
                "policy": self.policy, "observer": self.observer, "wall_us": self.wall_us,
                "mono_us": self.mono_us, "action_index": self.action_index}

    @classmethod
    def from_json(cls, data: Any) -> EventRecord:
        d = record_fields("event record", data, keys_of(cls), rtype=cls.type)
        return cls(**args_of(d))


@dataclass(frozen=True, slots=True)
class ApprovalRecord(RecordBase):
    """A person's answer to an ``ask`` (see the module doc)."""

    session: str
    challenge: str
    action_index: int | None
    action_sha256: str | None
    approved: bool
    approver: str
    channel: str
    policy: str
    wall_us: int
    mono_us: int
    comment: str | None = field(default=None)
    type: ClassVar[str] = "approval"

    def __post_init__(self) -> None:
        bound_to_action("approval", self.session, self.challenge, self.action_index,
                        self.action_sha256)
        if type(self.approved) is not bool:
            raise ValueError("approved must be true or false")
        text("approver", self.approver)
        if self.channel not in APPROVAL_CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(APPROVAL_CHANNELS)}; "
                             f"got {self.channel!r}")
        hex64("policy", self.policy)
        integer("wall_us", self.wall_us)
        integer("mono_us", self.mono_us)
        if self.comment is not None:
            text("comment", self.comment)
            if len(self.comment) > _COMMENT_MAX:
                raise ValueError(f"comment is longer than {_COMMENT_MAX} characters")

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "v": RECORD_VERSION, "session": self.session,
                "challenge": self.challenge, "action_index": self.action_index,
                "action_sha256": self.action_sha256, "approved": self.approved,
                "approver": self.approver, "channel": self.channel, "policy": self.policy,
                "wall_us": self.wall_us, "mono_us": self.mono_us, "comment": self.comment}

    @classmethod
    def from_json(cls, data: Any) -> ApprovalRecord:
        d = record_fields("approval record", data, keys_of(cls), rtype=cls.type)
        return cls(**args_of(d))
