"""Canonical, immutable types every part of CODOR speaks: ``Action``, ``Decision``, ``Reason``.

This module imports nothing from the package except :mod:`codor.errors`. The JSON shapes are
contracts (DESIGN.md §3.1-3.2); add fields, rename none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, cast, get_args

from codor.errors import ActionError, InputError, UnknownKindError

__all__ = [
    "ACTION_KINDS",
    "EFFECTS",
    "SEVERITIES",
    "Action",
    "Agent",
    "Decision",
    "Effect",
    "Outcome",
    "Reason",
    "Severity",
    "freeze",
    "thaw",
]

Outcome = Literal["allow", "deny", "ask"]
Effect = Literal["allow", "deny", "ask", "pass"]
Severity = Literal["info", "low", "medium", "high", "critical"]

EFFECTS: Final[tuple[str, ...]] = get_args(Effect)
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
SEVERITY_RANK: Final[Mapping[str, int]] = MappingProxyType(
    {name: rank for rank, name in enumerate(SEVERITIES)}
)

#: Every action kind and the fields it may carry (besides the common ones).
KIND_FIELDS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "file.read": frozenset({"path"}),
        "file.list": frozenset({"path"}),
        "file.delete": frozenset({"path"}),
        "file.write": frozenset({"path", "content", "content_sha256"}),
        "patch.apply": frozenset({"path", "patch"}),
        "command.exec": frozenset({"command", "argv", "env"}),
        "network.request": frozenset({"url", "host", "port", "scheme", "method"}),
        "tool.call": frozenset({"tool", "server", "arguments"}),
        "content.inbound": frozenset({"text", "source"}),
        "content.outbound": frozenset({"text", "destination"}),
        "workflow.task.start": frozenset({"task"}),
        "workflow.task.finish": frozenset({"task"}),
        "workflow.mode.change": frozenset({"mode"}),
        "workflow.exemption.request": frozenset({"task"}),
    }
)
ACTION_KINDS: Final[frozenset[str]] = frozenset(KIND_FIELDS)
COMMON_FIELDS: Final[frozenset[str]] = frozenset(
    {"kind", "session", "agent", "cwd", "origin", "token", "meta"}
)
INBOUND_SOURCES: Final[frozenset[str]] = frozenset({"user", "tool", "web"})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts become read-only mappings, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Agent:
    """Who asks: an agent id and, optionally, its role (``coder``, ``reviewer``...)."""

    id: str
    role: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"id": self.id}
        if self.role is not None:
            out["role"] = self.role
        return out


@dataclass(frozen=True, slots=True)
class Action:
    """One thing an agent wants to do. Build it with :meth:`from_json` to get validation."""

    kind: str
    path: str | None = None
    content: str | None = None
    content_sha256: str | None = None
    patch: str | None = None
    command: str | None = None
    argv: tuple[str, ...] | None = None
    env: Mapping[str, str] | None = None
    url: str | None = None
    host: str | None = None
    port: int | None = None
    scheme: str | None = None
    method: str | None = None
    tool: str | None = None
    server: str | None = None
    arguments: Mapping[str, Any] | None = None
    text: str | None = None
    source: str | None = None
    destination: str | None = None
    task: str | None = None
    mode: str | None = None
    session: str | None = None
    agent: Agent | None = None
    cwd: str | None = None
    origin: str | None = None
    token: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def create(cls, kind: str, **fields: Any) -> Action:
        """Build and validate an action from keyword fields (same rules as JSON)."""
        return cls.from_json({"kind": kind, **fields})

    @classmethod
    def from_json(cls, data: Any, *, location: str | None = None) -> Action:
        """Validate a decoded JSON object and return the action.

        Raises :class:`UnknownKindError` for a kind CODOR does not know and
        :class:`ActionError` for anything else malformed; never another exception.
        """
        if not isinstance(data, Mapping):
            raise ActionError(
                f"an action must be a JSON object, got {type(data).__name__}", location=location
            )
        kind = data.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ActionError("action has no 'kind' string", location=location)
        allowed = KIND_FIELDS.get(kind)
        if allowed is None:
            raise UnknownKindError(f"unknown action kind {kind!r}", location=location)
        unknown = sorted(set(data) - allowed - COMMON_FIELDS)
        if unknown:
            raise ActionError(
                f"{kind}: unknown field(s) {', '.join(map(repr, unknown))}", location=location
            )
        v = _Validator(kind, data, location)
        fields: dict[str, Any] = {"kind": kind}
        for name in ("path", "content", "patch", "command", "url", "host", "scheme", "method",
                     "tool", "server", "text", "source", "destination", "task", "mode",
                     "session", "cwd", "origin"):
            if name in data and data[name] is not None:
                fields[name] = v.string(name)
        if data.get("token") is not None:
            fields["token"] = v.string("token")
        if data.get("content_sha256") is not None:
            digest = v.string("content_sha256").lower().removeprefix("sha256:")
            if not _SHA256_HEX.fullmatch(digest):
                v.fail("content_sha256 must be 64 hex digits")
            fields["content_sha256"] = digest
        if data.get("argv") is not None:
            argv = data["argv"]
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                v.fail("argv must be a non-empty list of strings")
            fields["argv"] = tuple(argv)
        if data.get("env") is not None:
            env = data["env"]
            if not isinstance(env, Mapping) or not all(
                isinstance(k, str) and isinstance(x, str) for k, x in env.items()
            ):
                v.fail("env must be an object of strings")
            fields["env"] = freeze(env)
        if data.get("port") is not None:
            port = data["port"]
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                v.fail("port must be an integer 0-65535")
            fields["port"] = port
        if data.get("arguments") is not None:
            if not isinstance(data["arguments"], Mapping):
                v.fail("arguments must be an object")
            fields["arguments"] = freeze(data["arguments"])
        if data.get("meta") is not None:
            if not isinstance(data["meta"], Mapping):
                v.fail("meta must be an object")
            fields["meta"] = freeze(data["meta"])
        agent = data.get("agent")
        if agent is not None:
            if isinstance(agent, str):
                fields["agent"] = Agent(agent)
            elif isinstance(agent, Mapping) and isinstance(agent.get("id"), str):
                role = agent.get("role")
                if role is not None and not isinstance(role, str):
                    v.fail("agent.role must be a string")
                extra = set(agent) - {"id", "role"}
                if extra:
                    v.fail(f"agent: unknown field(s) {', '.join(map(repr, sorted(extra)))}")
                fields["agent"] = Agent(agent["id"], role)
            else:
                v.fail("agent must be an object with an 'id' string")
        _check_required(kind, fields, v)
        return cls(**fields)

    @classmethod
    def from_json_text(cls, text: str | bytes, *, location: str | None = None) -> Action:
        """Parse one JSON document (one line of JSON Lines) into an action."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON: {exc}", location=location) from None
        return cls.from_json(data, location=location)

    # -- views ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The action as a JSON object (only fields that are set)."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is None or (name == "meta" and not value):
                continue
            if name == "agent":
                out[name] = value.to_json()
            else:
                out[name] = thaw(value)
        return out

    @property
    def family(self) -> str:
        """The part of the kind before the first dot: ``file``, ``command``..."""
        return self.kind.partition(".")[0]


class _Validator:
    __slots__ = ("data", "kind", "location")

    def __init__(self, kind: str, data: Mapping[str, Any], location: str | None) -> None:
        self.kind, self.data, self.location = kind, data, location

    def fail(self, message: str) -> None:
        raise ActionError(f"{self.kind}: {message}", location=self.location)

    def string(self, name: str) -> str:
        value = self.data[name]
        if not isinstance(value, str):
            self.fail(f"{name} must be a string, got {type(value).__name__}")
        if "\x00" in value and name not in ("content", "text", "patch"):
            self.fail(f"{name} contains a NUL character")
        return cast(str, value)


def _check_required(kind: str, fields: Mapping[str, Any], v: _Validator) -> None:
    family = kind.partition(".")[0]
    if family == "file" and "path" not in fields:
        v.fail("needs 'path'")
    if kind == "file.write" and "content" not in fields and "content_sha256" not in fields:
        v.fail("needs 'content' or 'content_sha256'")
    if kind == "patch.apply" and "patch" not in fields:
        v.fail("needs 'patch'")
    if kind == "command.exec" and "command" not in fields and "argv" not in fields:
        v.fail("needs 'command' or 'argv'")
    if kind == "network.request" and "url" not in fields and "host" not in fields:
        v.fail("needs 'url' or 'host'")
    if kind == "tool.call" and "tool" not in fields:
        v.fail("needs 'tool'")
    if family == "content" and "text" not in fields:
        v.fail("needs 'text'")
    if kind == "content.inbound" and fields.get("source", "tool") not in INBOUND_SOURCES:
        v.fail("source must be one of user, tool, web")


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: the rule (or guard sub-rule) that produced an effect, with its severity."""

    rule: str | None
    guard: str | None
    severity: Severity
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "guard": self.guard, "severity": self.severity,
                "message": self.message}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reason:
        severity = data.get("severity", "medium")
        if severity not in SEVERITIES:
            raise ActionError(f"reason: bad severity {severity!r}")
        return cls(data.get("rule"), data.get("guard"), cast(Severity, severity),
                   str(data.get("message", "")))


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one action. ``policy`` is the sha256 of the compiled policy."""

    decision: Outcome
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[str, ...] = ()
    policy: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def severity(self) -> Severity:
        """The highest severity among the reasons (``info`` when there are none)."""
        best = "info"
        for r in self.reasons:
            if SEVERITY_RANK[r.severity] > SEVERITY_RANK[best]:
                best = r.severity
        return cast(Severity, best)

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": [r.to_json() for r in self.reasons],
            "warnings": list(self.warnings),
            "policy": self.policy,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decision:
        outcome = data.get("decision")
        if outcome not in ("allow", "deny", "ask"):
            raise ActionError(f"decision: bad outcome {outcome!r}")
        reasons = data.get("reasons", [])
        warnings = data.get("warnings", [])
        if not isinstance(reasons, Sequence) or not isinstance(warnings, Sequence):
            raise ActionError("decision: reasons and warnings must be lists")
        return cls(
            cast(Outcome, outcome),
            tuple(Reason.from_json(r) for r in reasons),
            tuple(str(w) for w in warnings),
            str(data.get("policy", "")),
        )
