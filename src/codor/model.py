"""Canonical, immutable types every part of CODOR speaks: ``Action``, ``Decision``, ``Reason``.

This module imports nothing from the package except :mod:`codor.errors`. The JSON shapes are
contracts (DESIGN.md §3.1-3.2); add fields, rename none.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from types import MappingProxyType
from typing import Any, Final, Literal, NoReturn, cast, get_args

from codor.errors import ActionError, InputError, UnknownKindError

__all__ = [
    "ACTION_KINDS",
    "EFFECTS",
    "SEVERITIES",
    "Action",
    "Agent",
    "Decision",
    "Effect",
    "FrozenMap",
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


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable mapping (what :func:`freeze` makes of a JSON object), so that
    actions can be compared, hashed and used as memo keys."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] = MappingProxyType({})) -> None:
        self._data = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


_EMPTY = FrozenMap()


def _wrap(data: dict[str, Any]) -> FrozenMap:
    """A FrozenMap that owns ``data`` (a new dict nobody else holds): no copy."""
    out = object.__new__(FrozenMap)
    out._data = data
    out._hash = None
    return out


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: objects become :class:`FrozenMap`, lists become tuples."""
    t = type(value)  # exact types first: actions are built on the decision path
    if t in _SCALARS:
        return value
    if t is dict:
        return _wrap({str(k): freeze(v) for k, v in value.items()})
    if t is list or t is tuple:
        return tuple(freeze(v) for v in value)
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return _wrap({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts (string keys) and lists, ready for
    ``json.dumps``. Exact-type checks first: it runs on the decision path."""
    t = type(value)
    if t in _SCALARS:
        return value
    if t is tuple or t is list:
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): thaw(v) for k, v in value.items()}
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


@dataclass(frozen=True)
class Action:
    """One thing an agent wants to do. Build it with :meth:`from_json` to get validation.

    (Not ``slots``: validated construction fills ``__dict__`` directly, several times faster
    than a frozen dataclass ``__init__`` on the decision hot path.)
    """

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
    meta: Mapping[str, Any] = _EMPTY

    # -- construction -------------------------------------------------------------------
    @classmethod
    def create(cls, kind: str, **fields: Any) -> Action:
        """Build and validate an action from keyword fields (same rules as JSON)."""
        fields["kind"] = kind  # ``fields`` is this call's own dict
        return cls.from_json(fields)

    @classmethod
    def from_json(cls, data: Any, *, location: str | None = None) -> Action:
        """Validate a decoded JSON object and return the action.

        Raises :class:`UnknownKindError` for a kind CODOR does not know and
        :class:`ActionError` for anything else malformed; never another exception.
        """
        if type(data) is not dict and not isinstance(data, Mapping):
            raise ActionError(
                f"an action must be a JSON object, got {type(data).__name__}", location=location
            )
        kind = data.get("kind")
        if type(kind) is not str or not kind:
            raise ActionError("action has no 'kind' string", location=location)
        accepted = _ACCEPTED.get(kind)
        if accepted is None:
            raise UnknownKindError(f"unknown action kind {kind!r}", location=location)
        state = _ACTION_DEFAULTS.copy()  # every field, set to its default
        for name, value in data.items():
            if name not in accepted:
                unknown = sorted(k for k in data if k not in accepted)
                raise ActionError(f"{kind}: unknown field(s) {', '.join(map(repr, unknown))}",
                                  location=location)
            if value is None:
                continue
            convert = _CONVERTERS.get(name)
            if convert is None:  # a plain string field (kind included)
                if type(value) is not str:
                    _fail(kind, location, f"{name} must be a string, got "
                                          f"{type(value).__name__}")
                if "\x00" in value and name not in _NUL_ALLOWED:
                    _fail(kind, location, f"{name} contains a NUL character")
                state[name] = value
            else:
                state[name] = convert(value, kind, location)
        _check_required(kind, state, location)
        action = object.__new__(cls)
        object.__setattr__(action, "__dict__", state)
        return action

    @classmethod
    def from_json_text(cls, text: str | bytes, *, location: str | None = None) -> Action:
        """Parse one JSON document (one line of JSON Lines) into an action."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON: {exc}", location=location) from None
        return cls.from_json(data, location=location)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not Action:
            return NotImplemented
        return hash(self) == hash(other) and \
            _FIELD_VALUES(self.__dict__) == _FIELD_VALUES(other.__dict__)

    def __hash__(self) -> int:
        """Hash of every field, computed once (actions are memo keys on the decision path)."""
        state = self.__dict__
        cached: int | None = state.get("_hash")
        if cached is None:
            cached = hash(_FIELD_VALUES(state))
            state["_hash"] = cached
        return cached

    # -- views ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The action as a JSON object (only fields that are set)."""
        out: dict[str, Any] = {}
        for name in _ACTION_FIELDS:
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


def _fail(kind: str, location: str | None, message: str) -> NoReturn:
    raise ActionError(f"{kind}: {message}", location=location)


def _conv_sha256(value: Any, kind: str, location: str | None) -> str:
    if not isinstance(value, str):
        _fail(kind, location, "content_sha256 must be a string")
    digest = value.lower().removeprefix("sha256:")
    if not _SHA256_HEX.fullmatch(digest):
        _fail(kind, location, "content_sha256 must be 64 hex digits")
    return digest


def _conv_argv(value: Any, kind: str, location: str | None) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value or \
            not all(isinstance(a, str) for a in value):
        _fail(kind, location, "argv must be a non-empty list of strings")
    if any("\x00" in a for a in value):
        _fail(kind, location, "argv contains a NUL character")
    return tuple(value)


def _conv_env(value: Any, kind: str, location: str | None) -> Any:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(x, str) for k, x in value.items()
    ):
        _fail(kind, location, "env must be an object of strings")
    return freeze(value)


def _conv_port(value: Any, kind: str, location: str | None) -> int:
    if type(value) is not int or not 0 <= value <= 65535:
        _fail(kind, location, "port must be an integer 0-65535")
    return value


def _conv_object(name: str) -> Callable[[Any, str, str | None], Any]:
    def convert(value: Any, kind: str, location: str | None) -> Any:
        if type(value) is not dict and not isinstance(value, Mapping):
            _fail(kind, location, f"{name} must be an object")
        return freeze(value)

    return convert


def _conv_agent(value: Any, kind: str, location: str | None) -> Agent:
    if isinstance(value, str):
        return Agent(value)
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        role = value.get("role")
        if role is not None and not isinstance(role, str):
            _fail(kind, location, "agent.role must be a string")
        extra = set(value) - {"id", "role"}
        if extra:
            _fail(kind, location, f"agent: unknown field(s) "
                                  f"{', '.join(map(repr, sorted(extra)))}")
        return Agent(value["id"], role)
    _fail(kind, location, "agent must be an object with an 'id' string")


# plain dicts (never mutated): the decision hot path reads them
_CONVERTERS: Final[dict[str, Callable[[Any, str, str | None], Any]]] = {
    "content_sha256": _conv_sha256,
    "argv": _conv_argv,
    "env": _conv_env,
    "port": _conv_port,
    "arguments": _conv_object("arguments"),
    "meta": _conv_object("meta"),
    "agent": _conv_agent,
}
_NUL_ALLOWED: Final = frozenset({"content", "text", "patch"})
_ACCEPTED: Final[dict[str, frozenset[str]]] = {
    kind: fields | COMMON_FIELDS for kind, fields in KIND_FIELDS.items()}


_ACTION_FIELDS: Final = tuple(f.name for f in dataclass_fields(Action))
_FIELD_VALUES: Final = operator.itemgetter(*_ACTION_FIELDS)
# a plain dict (never mutated): dict.update from a dict is the fast path
_ACTION_DEFAULTS: Final[dict[str, Any]] = {
    f.name: None if f.name == "kind" else f.default for f in dataclass_fields(Action)}


#: For each kind, the groups of fields of which at least one must be present.
_REQUIRED: Final[dict[str, tuple[tuple[tuple[str, ...], str], ...]]] = {
    **{k: ((("path",), "needs 'path'"),) for k in ("file.read", "file.list", "file.delete")},
    "file.write": ((("path",), "needs 'path'"),
                   (("content", "content_sha256"), "needs 'content' or 'content_sha256'")),
    "patch.apply": ((("patch",), "needs 'patch'"),),
    "command.exec": ((("command", "argv"), "needs 'command' or 'argv'"),),
    "network.request": ((("url", "host"), "needs 'url' or 'host'"),),
    "tool.call": ((("tool",), "needs 'tool'"),),
    "content.inbound": ((("text",), "needs 'text'"),),
    "content.outbound": ((("text",), "needs 'text'"),),
}


def _check_required(kind: str, fields: Mapping[str, Any], location: str | None) -> None:
    for names, message in _REQUIRED.get(kind, ()):
        for name in names:
            if fields.get(name) is not None:
                break
        else:
            _fail(kind, location, message)
    if kind == "content.inbound" and (fields.get("source") or "tool") not in INBOUND_SOURCES:
        _fail(kind, location, "source must be one of user, tool, web")


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
