"""The normalised hook event model: what arrived, what to answer, and the shared parser.

:class:`HookEvent` is what arrived, :class:`HookAnswer` what to answer, :func:`parse_event` the
parser the three vendor adapters configure.

Each vendor sends one JSON object per hook on stdin; the names differ but the substance is the
same (Claude Code ``PreToolUse`` = Codex ``PreToolUse`` = Gemini CLI ``BeforeTool``). The
adapters (:mod:`.claude_code`, :mod:`.codex`, :mod:`.gemini`) map their event names to a
normalised :data:`EventKind` and render a :class:`HookAnswer` in their own output format;
everything in between (:mod:`.handler`) sees only :class:`HookEvent`.

Parsing is strict where a field decides something (the event name, the session id, the tool
name and input, the prompt) and lenient where it is only informational (``model``,
``transcript_path``): bad input raises :class:`HookInputError` (``E_HOOK_INPUT``), never
another exception, so the caller can fail closed with a stable code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from codor.errors import CodorError

if TYPE_CHECKING:
    from codor.evidence.records import Observer
    from codor.model import Action

__all__ = [
    "NO_OPINION",
    "TOOL_EVENTS",
    "Adapter",
    "AnswerKind",
    "EventKind",
    "HookAnswer",
    "HookEvent",
    "HookInputError",
    "ToolCall",
    "hook_output",
    "input_error",
    "parse_event",
    "to_stdout",
]

EventKind = Literal["pre_tool", "post_tool", "prompt", "stop", "session_start", "session_end",
                    "other"]
AnswerKind = Literal["allow", "deny", "ask", "block", "none"]

#: tool-event names of every vendor: one of these sent to the wrong adapter is a
#: misconfiguration, refused rather than ignored (ignoring it would let the tool run)
TOOL_EVENTS: Final = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure",
                                "BeforeTool", "AfterTool"})
_MAX_ID: Final = 1024
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class HookInputError(CodorError):
    """A hook event that is not what the agent's hook protocol sends: not UTF-8 JSON, not an
    object, a missing or mistyped field, an event of another agent."""

    code = "E_HOOK_INPUT"


@dataclass(frozen=True, slots=True)
class HookEvent:
    """One hook event, normalised. ``agent`` is CODOR's name of the vendor (``claude-code``,
    ``codex``, ``gemini``); ``vendor_event`` the vendor's event name; ``raw`` the whole
    object as received (read-only)."""

    agent: str
    kind: EventKind
    vendor_event: str
    session_id: str
    cwd: str | None = None
    transcript_path: str | None = None
    tool_name: str | None = None
    tool_input: Mapping[str, Any] | None = None
    tool_use_id: str | None = None
    tool_response: Any = None
    tool_error: str | None = None
    prompt: str | None = None
    last_assistant_message: str | None = None
    stop_hook_active: bool = False
    model: str | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)


@dataclass(frozen=True, slots=True)
class HookAnswer:
    """What CODOR answers: ``allow``/``deny``/``ask`` for a tool call, ``block`` for a prompt
    or a stop, ``none`` for no opinion (the agent goes on as it would without the hook).
    ``reason`` goes to the agent or the person as the vendor's contract says; ``context`` is
    extra text for the model (where the vendor supports it); ``message`` is shown to the user."""

    decision: AnswerKind = "none"
    reason: str | None = None
    context: str | None = None
    message: str | None = None


#: the answer that says nothing: the agent goes on as it would without the hook
NO_OPINION: Final = HookAnswer()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call as CODOR actions. Every action is decided; deny wins, then ask. ``floor``
    raises the answer to at least ``ask`` (with ``floor_reason``) whatever the policy says;
    ``products`` are the whole files the call writes (path → sha256), for the outcome."""

    actions: tuple[Action, ...]
    floor: Literal["allow", "ask"] = "allow"
    floor_reason: str | None = None
    products: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Adapter:
    """One vendor's hook protocol: its event names, the observer name of its harness, the
    fields holding the final message of a stop event (see :func:`parse_event`) and how answers
    are written. Tool calls become actions through :mod:`.tools`, whose tables are per agent."""

    agent: str
    observer: Observer
    events: Mapping[str, EventKind]
    render: Callable[[HookEvent, HookAnswer], bytes]
    final_keys: tuple[str, ...] = ("last_assistant_message",)

    def parse(self, data: bytes) -> HookEvent:
        """One event of this agent from its hook's stdin."""
        return parse_event(self.agent, data, self.events, final_keys=self.final_keys)


def to_stdout(obj: Mapping[str, Any]) -> bytes:
    """A hook answer as the agent reads it: one JSON object and a newline."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"


def hook_output(event: HookEvent, answer: HookAnswer, permission: Mapping[str, Any]) -> bytes:
    """Claude Code's hook output, which Codex reads too: ``permission`` is the PreToolUse part
    of ``hookSpecificOutput`` (the vendors differ there; empty for none), a deny or block of a
    prompt, a finished tool or a stop is ``{"decision": "block", "reason"}``, ``context`` is
    ``additionalContext``, ``message`` ``systemMessage``; no opinion is an empty stdout."""
    out: dict[str, Any] = {}
    if answer.decision in ("block", "deny") and event.kind in ("prompt", "post_tool", "stop"):
        out = {"decision": "block", "reason": answer.reason or "refused by CODOR policy"}
    specific = dict(permission)
    if answer.context and event.kind in ("pre_tool", "post_tool", "prompt", "session_start"):
        specific["additionalContext"] = answer.context
    if specific:
        out["hookSpecificOutput"] = {"hookEventName": event.vendor_event, **specific}
    if answer.message:
        out["systemMessage"] = answer.message
    return to_stdout(out) if out else b""


# -- parsing ------------------------------------------------------------------------------------
def input_error(agent: str, message: str) -> HookInputError:
    """The error for a hook event (or tool input) of ``agent`` that does not fit."""
    return HookInputError(message, location=f"<{agent} hook>")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_object(agent: str, data: bytes) -> dict[str, Any]:
    """The hook's stdin as a JSON object."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise input_error(agent, "hook input is not UTF-8") from None
    except RecursionError:
        raise input_error(agent, "hook input is nested too deeply") from None
    except ValueError as exc:
        raise input_error(agent, f"hook input is not JSON: {exc}") from None
    if type(value) is not dict:
        raise input_error(agent, f"hook input must be a JSON object, got {type(value).__name__}")
    return value


def _text(agent: str, data: Mapping[str, Any], key: str, *, required: bool = False,
          limit: int | None = None, strict: bool = True) -> str | None:
    """A string field: ``required`` must be a non-empty string; ``strict`` refuses another
    type (else it counts as absent)."""
    value = data.get(key)
    if value is None:
        if required:
            raise input_error(agent, f"{data.get('hook_event_name')}: missing field {key!r}")
        return None
    if type(value) is not str:
        if strict or required:
            raise input_error(agent, f"{key} must be a string, got {type(value).__name__}")
        return None
    if required and not value:
        raise input_error(agent, f"{key} must not be empty")
    if limit is not None and len(value) > limit:
        raise input_error(agent, f"{key} is longer than {limit} characters")
    if "\x00" in value and key in ("session_id", "cwd", "tool_name", "tool_use_id"):
        raise input_error(agent, f"{key} contains a NUL character")
    return value


def parse_event(agent: str, data: bytes, events: Mapping[str, EventKind], *,
                final_keys: tuple[str, ...] = ("last_assistant_message",)) -> HookEvent:
    """Parse one hook event of ``agent`` whose event names map through ``events``.

    ``final_keys`` name the field holding the agent's final message on a stop event, in order
    of preference. Event names this agent does not know become ``other`` — except another
    vendor's tool events, which are refused (see :data:`TOOL_EVENTS`).
    """
    obj = decode_object(agent, data)
    name = obj.get("hook_event_name")
    if type(name) is not str or not name:
        raise input_error(agent, "hook input has no 'hook_event_name' string")
    kind = events.get(name)
    if kind is None:
        if name in TOOL_EVENTS:
            raise input_error(agent, f"{name} is not a {agent} hook event (is the hook registered "
                               f"for the right agent?)")
        kind = "other"
    session = _text(agent, obj, "session_id", required=True, limit=_MAX_ID)
    cwd = _text(agent, obj, "cwd", limit=4096)
    if cwd is not None and not cwd.startswith("/"):
        raise input_error(agent, f"cwd must be an absolute path, got {cwd!r}")
    fields: dict[str, Any] = {}
    if kind in ("pre_tool", "post_tool"):
        fields["tool_name"] = _text(agent, obj, "tool_name", required=True, limit=_MAX_ID)
        tool_input = obj.get("tool_input")
        if type(tool_input) is not dict:
            raise input_error(agent, f"{name}: tool_input must be a JSON object, got "
                               f"{type(tool_input).__name__}")
        fields["tool_input"] = MappingProxyType(tool_input)
        fields["tool_use_id"] = _text(agent, obj, "tool_use_id", limit=_MAX_ID)
        if kind == "post_tool":
            fields["tool_response"] = obj.get("tool_response")
            error = obj.get("error")  # Claude Code PostToolUseFailure
            fields["tool_error"] = error if type(error) is str or error is None else \
                f"an error of type {type(error).__name__}"
    elif kind == "prompt":
        fields["prompt"] = _text(agent, obj, "prompt", required=False)
        if fields["prompt"] is None:
            raise input_error(agent, f"{name}: missing field 'prompt'")
    elif kind == "stop":
        for key in final_keys:
            message = _text(agent, obj, key)
            if message is not None:
                fields["last_assistant_message"] = message
                break
    active = obj.get("stop_hook_active", False)
    if type(active) is not bool:
        raise input_error(agent, f"stop_hook_active must be true or false, got "
                           f"{type(active).__name__}")
    assert session is not None
    return HookEvent(
        agent=agent, kind=kind, vendor_event=name, session_id=session, cwd=cwd,
        transcript_path=_text(agent, obj, "transcript_path", strict=False),
        stop_hook_active=active, model=_text(agent, obj, "model", strict=False),
        raw=MappingProxyType(obj), **fields)
