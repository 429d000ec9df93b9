"""Clawdstrike ``PolicyEvent`` (v1) → CODOR :class:`~codor.model.Action`.

A PolicyEvent is a camelCase JSON object (snake_case aliases accepted)::

    {"eventId": "evt-1", "eventType": "file_read", "timestamp": "2026-02-03T00:00:00Z",
     "sessionId": "sess-1", "data": {"type": "file", "path": "/etc/passwd"},
     "metadata": {"source": "cli", "agentId": "agent-1", "toolKind": "mcp"}}

Mapping (``data`` fields; ``data.type`` must be the discriminator shown)::

    file_read       file     path                              → file.read
    file_write      file     path, content | contentHash       → file.write (content /
                                                                  content_sha256)
    network_egress  network  host and/or url, port, protocol   → network.request
    command_exec    command  command, args[], cwd              → command.exec (args: argv)
    patch_apply     patch    filePath, patchContent            → patch.apply (path, patch)
    tool_call       tool     toolName, parameters              → tool.call (tool, arguments)
    custom          custom   customType untrusted_text | user_input (or hushclaw.*), text
                                                               → content.inbound

Common fields: ``sessionId`` → ``session``, ``metadata.agentId`` → ``agent``, origin
``clawdstrike``; ``eventId``, ``eventType``, ``timestamp`` and the other metadata keys
(``toolKind``, ``toolProvider``, ``source``, ``trust``...) are kept in ``meta``. Relative paths
stay relative (the engine resolves them against the action's cwd, the workspace by default).

A tool call is an MCP call when ``metadata.toolKind`` is ``mcp`` or its name starts with
``mcp__``. An MCP call gets a ``server`` (``metadata.server``, ``metadata.mcpServer``, else
``metadata.toolProvider``, else ``mcp`` unless the ``mcp__<server>__`` name already says it),
so that policies can tell MCP calls from an agent's built-in tools; a non-MCP call has none.

Content source: ``metadata.source`` (or ``data.source``) ``user`` → ``user``; ``web``,
``browser``, ``http(s)://...`` → ``web``; anything else → ``tool``; without one, user_input
is ``user`` and untrusted_text is ``web`` when ``metadata.trust`` is ``untrusted``, else ``tool``.

Malformed events raise :class:`~codor.errors.ActionError` (an unknown ``eventType`` or
``customType`` raises :class:`~codor.errors.UnknownKindError`), always with the caller's
location; never another exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, NoReturn

from codor.errors import ActionError, CodorError, UnknownKindError
from codor.model import Action

__all__ = ["EVENT_TYPES", "INBOUND_CUSTOM_TYPES", "event_to_action", "is_mcp_call"]

#: eventType → the ``data.type`` discriminator it must carry.
EVENT_TYPES: Final[Mapping[str, str]] = {
    "file_read": "file",
    "file_write": "file",
    "network_egress": "network",
    "command_exec": "command",
    "patch_apply": "patch",
    "tool_call": "tool",
    "custom": "custom",
}
#: customType → the Clawdstrike guard that scans it (both become ``content.inbound``).
INBOUND_CUSTOM_TYPES: Final[Mapping[str, str]] = {
    "untrusted_text": "prompt_injection",
    "hushclaw.untrusted_text": "prompt_injection",
    "user_input": "jailbreak",
    "hushclaw.user_input": "jailbreak",
}
_ALIASES: Final[Mapping[str, str]] = {
    "event_id": "eventId",
    "event_type": "eventType",
    "session_id": "sessionId",
}
_DATA_ALIASES: Final[Mapping[str, str]] = {
    "file_path": "filePath",
    "patch_content": "patchContent",
    "content_hash": "contentHash",
    "tool_name": "toolName",
    "custom_type": "customType",
}
_META_ALIASES: Final[Mapping[str, str]] = {
    "agent_id": "agentId",
    "tool_kind": "toolKind",
    "tool_provider": "toolProvider",
}
_SHA256: Final = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
_URL_SOURCE: Final = re.compile(r"(?i)^(?:https?|wss?)://")


class _Reader:
    """Located access to one event: every failure names the location and the event id."""

    __slots__ = ("event_id", "location")

    def __init__(self, location: str | None) -> None:
        self.location = location
        self.event_id: str | None = None

    def fail(self, message: str, *, unknown: bool = False) -> NoReturn:
        who = f"clawdstrike event {self.event_id!r}" if self.event_id else "clawdstrike event"
        cls = UnknownKindError if unknown else ActionError
        raise cls(f"{who}: {message}", location=self.location)

    def mapping(self, value: Any, what: str, aliases: Mapping[str, str]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(f"{what} must be an object, got {_type(value)}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                self.fail(f"{what} has a non-string key")
            out[aliases.get(key, key)] = item
        return out

    def string(self, obj: Mapping[str, Any], key: str, what: str, *,
               required: bool = True) -> str | None:
        value = obj.get(key)
        name = f"{what}.{key}" if what else key
        if value is None:
            if required:
                self.fail(f"{name} is required")
            return None
        if not isinstance(value, str):
            self.fail(f"{name} must be a string, got {_type(value)}")
        if required and not value:
            self.fail(f"{name} must not be empty")
        return value


def _type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


def event_to_action(data: Any, *, location: str | None = None) -> Action:
    """Translate one decoded Clawdstrike PolicyEvent into a validated CODOR action."""
    r = _Reader(location)
    event = r.mapping(data, "the event", _ALIASES)
    raw_id = event.get("eventId")
    if isinstance(raw_id, str) and raw_id:
        r.event_id = raw_id
    elif raw_id is not None:
        r.fail(f"eventId must be a string, got {_type(raw_id)}")
    event_type = r.string(event, "eventType", "")
    assert event_type is not None
    expected_type = EVENT_TYPES.get(event_type)
    if expected_type is None:
        r.fail(f"unknown eventType {event_type!r}; known: {', '.join(EVENT_TYPES)}",
               unknown=True)
    payload = r.mapping(event.get("data"), "data", _DATA_ALIASES)
    discriminator = r.string(payload, "type", "data")
    if discriminator != expected_type:
        r.fail(f"data.type is {discriminator!r}, but a {event_type} event carries "
               f"data.type {expected_type!r}")
    metadata = r.mapping(event.get("metadata") or {}, "metadata", _META_ALIASES)

    fields = _KIND_BUILDERS[event_type](r, payload, metadata)
    session = r.string(event, "sessionId", "", required=False)
    agent = r.string(metadata, "agentId", "metadata", required=False)
    timestamp = event.get("timestamp")
    if timestamp is not None and not isinstance(timestamp, str):
        r.fail(f"timestamp must be a string, got {_type(timestamp)}")
    meta: dict[str, Any] = {k: v for k, v in metadata.items() if k != "agentId"}
    meta.update({"eventType": event_type})
    if r.event_id is not None:
        meta["eventId"] = r.event_id
    if timestamp is not None:
        meta["timestamp"] = timestamp
    meta.update(fields.pop("meta", {}))
    fields.update({"origin": "clawdstrike", "meta": meta})
    if session:
        fields["session"] = session
    if agent:
        fields["agent"] = agent
    try:
        return Action.from_json(fields, location=location)
    except CodorError as exc:
        r.fail(exc.message)


# -- one builder per eventType: payload → Action fields ---------------------------------------
Fields = dict[str, Any]


def _file_read(r: _Reader, d: Mapping[str, Any], _m: Mapping[str, Any]) -> Fields:
    return {"kind": "file.read", "path": r.string(d, "path", "data")}


def _file_write(r: _Reader, d: Mapping[str, Any], _m: Mapping[str, Any]) -> Fields:
    out: Fields = {"kind": "file.write", "path": r.string(d, "path", "data")}
    content = r.string(d, "content", "data", required=False)
    digest = r.string(d, "contentHash", "data", required=False)
    if content is not None:
        out["content"] = content
    if digest is not None:
        m = _SHA256.fullmatch(digest.strip())
        if m is None:
            r.fail(f"data.contentHash must be 'sha256:' and 64 hex digits, got {digest!r}")
        out["content_sha256"] = m.group(1).lower()
    if content is None and digest is None:
        r.fail("a file_write needs data.content or data.contentHash")
    return out


def _network(r: _Reader, d: Mapping[str, Any], _m: Mapping[str, Any]) -> Fields:
    out: Fields = {"kind": "network.request"}
    host = r.string(d, "host", "data", required=False)
    url = r.string(d, "url", "data", required=False)
    if not host and not url:
        r.fail("a network_egress needs data.host or data.url")
    if host:
        out["host"] = host
    if url:
        out["url"] = url
    port = d.get("port")
    if port is not None:
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            r.fail(f"data.port must be an integer 0-65535, got {port!r}")
        out["port"] = port
    protocol = r.string(d, "protocol", "data", required=False)
    if protocol:
        out["meta"] = {"protocol": protocol}  # tcp/udp: not a URL scheme
    return out


def _command(r: _Reader, d: Mapping[str, Any], _m: Mapping[str, Any]) -> Fields:
    command = r.string(d, "command", "data")
    assert command is not None
    out: Fields = {"kind": "command.exec"}
    args = d.get("args")
    if args is None or args == []:
        out["command"] = command
    elif isinstance(args, list) and all(isinstance(a, str) for a in args):
        out["argv"] = [command, *args]
    else:
        r.fail("data.args must be a list of strings")
    for key in ("cwd", "workingDir", "workingDirectory"):
        cwd = r.string(d, key, "data", required=False)
        if cwd:
            out["cwd"] = cwd
            break
    return out


def _patch(r: _Reader, d: Mapping[str, Any], _m: Mapping[str, Any]) -> Fields:
    out: Fields = {"kind": "patch.apply",
                   "path": r.string(d, "filePath", "data"),
                   "patch": r.string(d, "patchContent", "data")}
    patch_hash = r.string(d, "patchHash", "data", required=False)
    if patch_hash:
        out["meta"] = {"patchHash": patch_hash}
    return out


def is_mcp_call(tool: str, metadata: Mapping[str, Any]) -> bool:
    """Clawdstrike's rule: ``metadata.toolKind == "mcp"`` or a ``mcp__`` name."""
    return metadata.get("toolKind") == "mcp" or tool.startswith("mcp__")


def _tool(r: _Reader, d: Mapping[str, Any], m: Mapping[str, Any]) -> Fields:
    tool = r.string(d, "toolName", "data")
    assert tool is not None
    arguments = d.get("parameters", d.get("arguments"))
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        r.fail(f"data.parameters must be an object, got {_type(arguments)}")
    out: Fields = {"kind": "tool.call", "tool": tool, "arguments": arguments}
    if is_mcp_call(tool, m):
        server = None
        for key in ("server", "mcpServer", "toolProvider"):
            value = m.get(key)
            if isinstance(value, str) and value:
                server = value
                break
        if server is None and not tool.startswith("mcp__"):
            server = "mcp"
        if server is not None:
            out["server"] = server
    return out


def _custom(r: _Reader, d: Mapping[str, Any], m: Mapping[str, Any]) -> Fields:
    custom_type = r.string(d, "customType", "data")
    assert custom_type is not None
    guard = INBOUND_CUSTOM_TYPES.get(custom_type)
    if guard is None:
        r.fail(f"unsupported customType {custom_type!r}; supported: "
               + ", ".join(INBOUND_CUSTOM_TYPES), unknown=True)
    text = d.get("text")
    if not isinstance(text, str):
        r.fail(f"data.text must be a string, got {_type(text)}")
    return {"kind": "content.inbound", "text": text,
            "source": _source(d, m, user_input=guard == "jailbreak"),
            "meta": {"customType": custom_type}}


def _source(d: Mapping[str, Any], m: Mapping[str, Any], *, user_input: bool) -> str:
    for raw in (m.get("source"), d.get("source")):
        if isinstance(raw, str) and raw:
            value = raw.strip().lower()
            if value == "user":
                return "user"
            if value in ("web", "browser") or _URL_SOURCE.match(value):
                return "web"
            return "tool"
    if user_input:
        return "user"
    return "web" if m.get("trust") == "untrusted" else "tool"


_KIND_BUILDERS = {
    "file_read": _file_read,
    "file_write": _file_write,
    "network_egress": _network,
    "command_exec": _command,
    "patch_apply": _patch,
    "tool_call": _tool,
    "custom": _custom,
}
