"""Evidence records: what the ledger stores as leaves, one canonical JSON object each.

Each type has ``type``, ``v: 1``, ``to_json()``, ``from_json()`` and ``to_bytes()`` (RFC 8785
canonical JSON via :func:`codor.canonical.canonical_json`: the ledger leaf bytes).

- :class:`SessionStart` (``session.start``): session id, a fresh 32-byte random ``challenge``
  (64 hex digits), wall time, agent, policy hash. Every later record of the session carries
  the challenge, so evidence cannot be prepared before the session began
  (:func:`check_binding`).
- :class:`DecisionRecord` (``decision``): one action and the decision made for it.
- :class:`~codor.evidence.events.EventRecord` (``event``) and
  :class:`~codor.evidence.events.ApprovalRecord` (``approval``): proxy-level events and a
  person's answer to an ``ask`` (defined in :mod:`codor.evidence.events`).
- :class:`OutcomeRecord` (``outcome``): what running an action produced — exit status, sha256
  and a bounded, redacted excerpt of stdout/stderr (:class:`StreamSummary`), products and
  materials as ``path → sha256`` (in-toto link style), start/end times, sandbox profile. It
  names its action by ledger index and/or digest (:func:`action_digest`).

Times are integers in microseconds: ``*_wall_us`` since the Unix epoch, ``*_mono_us`` on the
observer's monotonic clock (comparable only within one boot of one host). Integers stay
within ±(2**53 - 1), so the canonical form is exact in every JSON implementation (I-JSON).

``observer`` says who saw the fact, one of :data:`OBSERVERS`:
``codor-sandbox`` (CODOR ran the action in its sandbox), ``codor-engine`` (CODOR's decision
engine: decisions, session starts), ``codor-runtime`` (CODOR's tool router ran a built-in tool
itself: in-process file tools, or a command through its sandbox runner),
``claude-code-harness`` / ``codex-harness`` / ``gemini-harness`` (the agent's harness reported
it through its hook protocol — seen by the harness, not said by the agent), ``mcp-gateway``
(CODOR's MCP gateway relayed the call and its result), and ``agent-claim``: the agent *says*
so. A claim is never an observation — :attr:`observed` is false for it and verifiers must not
count it as evidence.

Bad input raises :class:`ValueError` naming the field; construction validates too, so an
invalid record cannot exist.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from codor.evidence.events import ApprovalRecord, EventRecord
from codor.evidence.fields import (
    MAX_SAFE_INT,
    OBSERVERS,
    RECORD_VERSION,
    Observer,
    RecordBase,
    action_digest,
    args_of,
    bound_to_action,
    digests,
    hex64,
    integer,
    keys_of,
    now_us,
    observer,
    parse_action,
    parse_agent,
    parse_decision,
    record_fields,
    text,
)
from codor.model import Action, Agent, Decision, FrozenMap

__all__ = [
    "EMPTY_STREAM", "EXCERPT_HEAD_BYTES", "EXCERPT_MAX_BYTES", "MAX_SAFE_INT", "OBSERVERS",
    "RECORD_VERSION",
    "ApprovalRecord", "DecisionRecord", "EventRecord", "Observer", "OutcomeRecord", "Record",
    "SessionStart", "StreamSummary", "action_digest", "check_binding", "now_us",
    "record_from_bytes", "record_from_json",
]

EXCERPT_MAX_BYTES: Final = 2048
#: How much of the start of a long stream its excerpt keeps (the rest is kept from the end).
EXCERPT_HEAD_BYTES: Final = 1024
#: How much of a stream is redacted before the excerpt is cut (secrets are found whole).
_REDACT_WINDOW: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class SessionStart(RecordBase):
    """The start of a session: binds every later record to a fresh random challenge."""

    session: str
    challenge: str
    wall_us: int
    agent: Agent
    policy: str
    type: ClassVar[str] = "session.start"

    def __post_init__(self) -> None:
        text("session", self.session)
        hex64("challenge", self.challenge)
        integer("wall_us", self.wall_us)
        if not isinstance(self.agent, Agent):
            raise ValueError("agent must be an Agent")
        text("agent.id", self.agent.id)
        text("agent.role", self.agent.role, optional=True)
        hex64("policy", self.policy)

    @classmethod
    def new(cls, session: str, agent: Agent, policy: str) -> SessionStart:
        """A session start with a fresh 32-byte challenge from the OS's CSPRNG, stamped now."""
        return cls(session, secrets.token_hex(32), now_us()[0], agent, policy)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "v": RECORD_VERSION, "session": self.session,
                "challenge": self.challenge, "wall_us": self.wall_us,
                "agent": self.agent.to_json(), "policy": self.policy}

    @classmethod
    def from_json(cls, data: Any) -> SessionStart:
        d = record_fields("session.start", data, keys_of(cls), rtype=cls.type)
        return cls(**args_of(d, agent=parse_agent(d["agent"])))


@dataclass(frozen=True, slots=True)
class DecisionRecord(RecordBase):
    """One decision: the action, the decision (same JSON as the API) and who observed it."""

    session: str
    challenge: str
    action: Action
    decision: Decision
    policy: str
    observer: Observer
    wall_us: int
    mono_us: int
    type: ClassVar[str] = "decision"

    def __post_init__(self) -> None:
        text("session", self.session)
        hex64("challenge", self.challenge)
        if not isinstance(self.action, Action) or not isinstance(self.decision, Decision):
            raise ValueError("action must be an Action and decision a Decision")
        hex64("policy", self.policy)
        if self.decision.policy not in ("", self.policy):
            raise ValueError("decision.policy differs from the record's policy hash")
        observer(self.observer)
        integer("wall_us", self.wall_us)
        integer("mono_us", self.mono_us)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "v": RECORD_VERSION, "session": self.session,
                "challenge": self.challenge, "action": self.action.to_json(),
                "decision": self.decision.to_json(), "policy": self.policy,
                "observer": self.observer, "wall_us": self.wall_us, "mono_us": self.mono_us}

    @classmethod
    def from_json(cls, data: Any) -> DecisionRecord:
        d = record_fields("decision record", data, keys_of(cls), rtype=cls.type)
        return cls(**args_of(d, action=parse_action(d["action"]),
                           decision=parse_decision(d["decision"])))


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """An output stream: sha256 and size of the raw bytes, and a redacted excerpt of at most
    :data:`EXCERPT_MAX_BYTES` UTF-8 bytes; ``truncated`` says the excerpt is not all of it."""

    sha256: str
    size: int
    excerpt: str
    truncated: bool

    def __post_init__(self) -> None:
        hex64("sha256", self.sha256)
        integer("size", self.size)
        if self.excerpt != "":
            text("excerpt", self.excerpt)
        if (n := len(self.excerpt.encode("utf-8"))) > EXCERPT_MAX_BYTES:
            raise ValueError(f"excerpt is {n} bytes; at most {EXCERPT_MAX_BYTES} allowed")
        if type(self.truncated) is not bool:
            raise ValueError("truncated must be true or false")

    @classmethod
    def of(cls, data: bytes) -> StreamSummary:
        """Summarise raw stream bytes: decode (invalid UTF-8 → U+FFFD), redact credentials
        with :func:`default_scanner().redact <codor.policy.secret_scanner.default_scanner>`,
        then keep at most :data:`EXCERPT_MAX_BYTES`: all of it when it fits, else the first
        :data:`EXCERPT_HEAD_BYTES`, a marker line ``…[N bytes, middle omitted]…`` and the end
        (where test runners print their summaries), cut on character boundaries.

        Redaction runs before the cut so a secret is never half-shown. Only the first and the
        last 64 KiB are redacted; if redaction shrinks such a window so much that the cut could
        reach its far edge (a partial secret), that part of the excerpt is ``[REDACTED]``.
        """
        from codor.policy.secret_scanner import default_scanner

        redact = default_scanner().redact

        def clean(raw: bytes) -> str:
            return redact(raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd"))

        partial = len(data) > _REDACT_WINDOW
        head_text = clean(data[:_REDACT_WINDOW])
        encoded = head_text.encode("utf-8")
        if not partial and len(encoded) <= EXCERPT_MAX_BYTES:
            return cls(hashlib.sha256(data).hexdigest(), len(data), head_text, False)
        tail_text = clean(data[-_REDACT_WINDOW:]) if partial else head_text
        if partial and len(head_text) < 4 * EXCERPT_MAX_BYTES:
            head_text = "[REDACTED]"
        if partial and len(tail_text) < 4 * EXCERPT_MAX_BYTES:
            tail_text = "[REDACTED]"
        head = head_text.encode("utf-8")[:EXCERPT_HEAD_BYTES].decode("utf-8", errors="ignore")
        marker = f"\n\u2026[{len(data)} bytes, middle omitted]\u2026\n"
        room = EXCERPT_MAX_BYTES - len(head.encode("utf-8")) - len(marker.encode("utf-8"))
        tail = tail_text.encode("utf-8")[-room:].decode("utf-8", errors="ignore")
        return cls(hashlib.sha256(data).hexdigest(), len(data), head + marker + tail, True)

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "excerpt": self.excerpt,
                "truncated": self.truncated}

    @classmethod
    def from_json(cls, data: Any, name: str = "stream") -> StreamSummary:
        d = record_fields(name, data, frozenset({"sha256", "size", "excerpt", "truncated"}))
        return cls(d["sha256"], d["size"], d["excerpt"], d["truncated"])


#: ``StreamSummary.of(b"")``: a stream that produced nothing.
EMPTY_STREAM: Final = StreamSummary(hashlib.sha256(b"").hexdigest(), 0, "", False)


@dataclass(frozen=True, slots=True)
class OutcomeRecord(RecordBase):
    """What running one action produced, as observed by ``observer``.

    ``action_index`` (the ledger index of its :class:`DecisionRecord`) and/or
    ``action_sha256`` (:func:`action_digest`) name the action; at least one is required.
    ``exit_status`` follows :attr:`subprocess.Popen.returncode` (negative: killed by that
    signal) and is null when there is no process (a tool call). ``duration_us`` must equal
    ``ended_mono_us - started_mono_us``.
    """

    session: str
    challenge: str
    action_index: int | None
    action_sha256: str | None
    exit_status: int | None
    started_wall_us: int
    ended_wall_us: int
    started_mono_us: int
    ended_mono_us: int
    policy: str
    observer: Observer
    stdout: StreamSummary = EMPTY_STREAM
    stderr: StreamSummary = EMPTY_STREAM
    products: Mapping[str, str] = field(default_factory=FrozenMap)
    materials: Mapping[str, str] = field(default_factory=FrozenMap)
    sandbox: str | None = None
    duration_us: int = -1  # -1: computed from the monotonic times
    type: ClassVar[str] = "outcome"

    def __post_init__(self) -> None:
        bound_to_action("outcome", self.session, self.challenge, self.action_index,
                        self.action_sha256)
        integer("exit_status", self.exit_status, low=-MAX_SAFE_INT, optional=True)
        for name in ("started_wall_us", "ended_wall_us", "started_mono_us", "ended_mono_us"):
            integer(name, getattr(self, name))
        if self.ended_mono_us < self.started_mono_us:
            raise ValueError("ended_mono_us is before started_mono_us")
        elapsed = self.ended_mono_us - self.started_mono_us
        integer("duration_us", self.duration_us, low=-1)
        if self.duration_us == -1:
            object.__setattr__(self, "duration_us", elapsed)
        elif self.duration_us != elapsed:
            raise ValueError("duration_us must equal ended_mono_us - started_mono_us")
        if not isinstance(self.stdout, StreamSummary) or \
                not isinstance(self.stderr, StreamSummary):
            raise ValueError("stdout and stderr must be StreamSummary")
        object.__setattr__(self, "products", digests("products", self.products))
        object.__setattr__(self, "materials", digests("materials", self.materials))
        text("sandbox", self.sandbox, optional=True)
        hex64("policy", self.policy)
        observer(self.observer)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "v": RECORD_VERSION}
        for name in keys_of(type(self)):
            value = getattr(self, name)
            if isinstance(value, StreamSummary):
                value = value.to_json()
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> OutcomeRecord:
        d = record_fields("outcome record", data, keys_of(cls), rtype=cls.type)
        if d["duration_us"] == -1:
            raise ValueError("duration_us must be an integer in [0, 2**53-1]")
        return cls(**args_of(d, stdout=StreamSummary.from_json(d["stdout"], "stdout"),
                           stderr=StreamSummary.from_json(d["stderr"], "stderr")))


Record = SessionStart | DecisionRecord | OutcomeRecord | EventRecord | ApprovalRecord
_TYPES: Final[dict[str, type[Record]]] = {
    "session.start": SessionStart, "decision": DecisionRecord, "outcome": OutcomeRecord,
    "event": EventRecord, "approval": ApprovalRecord}


def record_from_json(data: Any) -> Record:
    """Validate a decoded record of any type (dispatch on ``type``)."""
    rtype = data.get("type") if isinstance(data, Mapping) else None
    cls = _TYPES.get(rtype) if isinstance(rtype, str) else None
    if cls is None:
        raise ValueError(f"unknown record type {rtype!r}; expected {', '.join(_TYPES)}")
    return cls.from_json(data)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key in record JSON")
    return out


def record_from_bytes(leaf: bytes) -> Record:
    """Parse ledger leaf bytes; they must be exactly the record's canonical JSON."""
    try:
        data = json.loads(leaf.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, a duplicate key
        raise ValueError(f"record is not UTF-8 JSON: {exc}") from None
    record = record_from_json(data)
    if record.to_bytes() != leaf:
        raise ValueError("record bytes are not its canonical JSON (RFC 8785)")
    return record


def check_binding(start: SessionStart,
                  record: DecisionRecord | OutcomeRecord | EventRecord | ApprovalRecord) -> None:
    """Raise :class:`ValueError` unless ``record`` belongs to ``start``'s session: same
    session, same challenge, and not dated before the session started."""
    if record.session != start.session:
        raise ValueError(f"record is for session {record.session!r}, not {start.session!r}")
    if not secrets.compare_digest(record.challenge, start.challenge):
        raise ValueError("record carries another challenge than its session start")
    wall = record.started_wall_us if isinstance(record, OutcomeRecord) else record.wall_us
    if wall < start.wall_us:
        raise ValueError("record is dated before its session started")
