"""Field checks shared by the evidence record types (:mod:`codor.evidence.records`,
:mod:`codor.evidence.events`): each raises :class:`ValueError` naming the field."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar, Final, Literal, cast, get_args

from codor.canonical import canonical_json, canonical_sha256
from codor.errors import CodorError
from codor.model import SEVERITIES, Action, Agent, Decision, FrozenMap, Reason, Severity

__all__ = [
    "MAX_SAFE_INT", "OBSERVERS", "RECORD_VERSION", "Observer", "RecordBase", "action_digest",
    "args_of", "bound_to_action", "digests", "hex64", "integer", "keys_of", "now_us", "observer",
    "parse_action", "parse_agent", "parse_decision", "record_fields", "text",
]

RECORD_VERSION: Final = 1
MAX_SAFE_INT: Final = 2**53 - 1

Observer = Literal["codor-sandbox", "codor-engine", "codor-runtime", "claude-code-harness",
                   "codex-harness", "gemini-harness", "mcp-gateway", "agent-claim"]
OBSERVERS: Final[tuple[str, ...]] = get_args(Observer)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def now_us() -> tuple[int, int]:
    """The current (wall, monotonic) times in microseconds."""
    return time.time_ns() // 1000, time.monotonic_ns() // 1000


def action_digest(action: Action) -> str:
    """The sha256 (hex) of an action's canonical JSON: how an outcome names its action."""
    return canonical_sha256(action.to_json())


# -- field checks -------------------------------------------------------------------------------
def text(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    if "\x00" in value:
        raise ValueError(f"{name} contains a NUL character")
    if not value.isascii() and any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError(f"{name} is not valid Unicode (lone surrogate)")


def hex64(name: str, value: Any, *, optional: bool = False) -> None:
    if not (value is None and optional) and \
            (not isinstance(value, str) or not _HEX64.fullmatch(value)):
        raise ValueError(f"{name} must be 64 lowercase hex digits")


def integer(name: str, value: Any, *, low: int = 0, optional: bool = False) -> None:
    if not (value is None and optional) and \
            (type(value) is not int or not low <= value <= MAX_SAFE_INT):
        raise ValueError(f"{name} must be an integer in [{low}, 2**53-1]")


def bound_to_action(what: str, session: Any, challenge: Any, action_index: Any,
                    action_sha256: Any) -> None:
    """The fields that bind a record to its session and name its action (by ledger index
    and/or action digest; at least one)."""
    text("session", session)
    hex64("challenge", challenge)
    integer("action_index", action_index, optional=True)
    hex64("action_sha256", action_sha256, optional=True)
    if action_index is None and action_sha256 is None:
        raise ValueError(f"{what} needs action_index or action_sha256")


def observer(value: Any) -> None:
    if value not in OBSERVERS:
        raise ValueError(f"observer must be one of {', '.join(OBSERVERS)}; got {value!r}")


def digests(name: str, value: Any) -> FrozenMap:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be an object of path → sha256")
    for path, digest in value.items():
        text(f"{name} path", path)
        hex64(f"{name}[{path!r}]", digest)
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def record_fields(cls_name: str, data: Any, required: frozenset[str],
            optional: frozenset[str] = frozenset(), rtype: str | None = None) -> Mapping[str, Any]:
    """Check an object's keys (and ``type``/``v`` when ``rtype`` is given)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls_name} must be a JSON object, got {type(data).__name__}")
    if rtype is not None:
        if data.get("type") != rtype:
            raise ValueError(f"{cls_name}: type must be {rtype!r}, got {data.get('type')!r}")
        if type(data.get("v")) is not int or data["v"] != RECORD_VERSION:
            raise ValueError(f"{cls_name}: unsupported version v={data.get('v')!r}")
    keys = set(data) - {"type", "v"} if rtype is not None else set(data)
    unknown = keys - required - optional
    if unknown:
        raise ValueError(f"{cls_name}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    missing = required - keys
    if missing:
        raise ValueError(f"{cls_name}: missing field(s) {', '.join(sorted(missing))}")
    return data


def parse_decision(data: Any) -> Decision:
    d = record_fields("decision", data, frozenset({"decision", "reasons", "warnings", "policy"}))
    if d["decision"] not in ("allow", "deny", "ask"):
        raise ValueError(f"decision.decision must be allow, deny or ask; got {d['decision']!r}")
    if not isinstance(d["reasons"], list) or not isinstance(d["warnings"], list):
        raise ValueError("decision.reasons and decision.warnings must be lists")
    reasons = []
    for item in d["reasons"]:
        r = record_fields("decision.reasons[]", item,
                          frozenset({"rule", "guard", "severity", "message"}))
        if not all(r[k] is None or isinstance(r[k], str) for k in ("rule", "guard")):
            raise ValueError("decision.reasons[]: rule and guard must be strings or null")
        if r["severity"] not in SEVERITIES or not isinstance(r["message"], str):
            raise ValueError("decision.reasons[]: bad severity or message")
        reasons.append(Reason(r["rule"], r["guard"], cast(Severity, r["severity"]),
                              r["message"]))
    if not all(isinstance(w, str) for w in d["warnings"]) or not isinstance(d["policy"], str):
        raise ValueError("decision: warnings must be strings and policy a string")
    return Decision(d["decision"], tuple(reasons), tuple(d["warnings"]), d["policy"])


def parse_action(data: Any) -> Action:
    try:
        return Action.from_json(data)
    except CodorError as exc:
        raise ValueError(f"action: {exc.message}") from None


def parse_agent(data: Any) -> Agent:
    a = record_fields("agent", data, frozenset({"id"}), frozenset({"role"}))
    text("agent.id", a["id"])
    text("agent.role", a.get("role"), optional=True)
    return Agent(a["id"], a.get("role"))


def keys_of(cls: type) -> frozenset[str]:
    """The JSON keys of a record type besides ``type`` and ``v``: its dataclass fields."""
    return frozenset(f.name for f in fields(cls))


def args_of(data: Mapping[str, Any], **parsed: Any) -> dict[str, Any]:
    """Constructor arguments: the record's fields (not ``type``/``v``), some parsed."""
    return {k: v for k, v in data.items() if k not in ("type", "v")} | parsed


# -- the shared base ---------------------------------------------------------------------------
class RecordBase:
    """Shared behaviour: canonical bytes and the observed/claimed distinction."""

    type: ClassVar[str]
    __slots__ = ()

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The record's RFC 8785 canonical JSON: the ledger leaf."""
        try:
            return canonical_json(self.to_json())
        except (TypeError, UnicodeEncodeError) as exc:
            raise ValueError(f"{self.type}: cannot canonicalise: {exc}") from None

    @property
    def observed(self) -> bool:
        """True unless the record is only an agent's claim."""
        return cast(str, getattr(self, "observer", "codor-engine")) != "agent-claim"
