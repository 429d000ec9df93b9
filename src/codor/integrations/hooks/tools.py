"""Agent tool calls → CODOR actions, one table per agent (Claude Code, Codex, Gemini CLI).

Every action carries the event's session, the agent (vendor name as id and as ``origin``), the
event's cwd and ``meta`` ``{"tool": <tool name>, "tool_use_id": ...}`` (plus ``subagent`` when
the call comes from inside one), so a PostToolUse rebuilds exactly the action its PreToolUse
decided and the outcome names it by digest. Relative paths are joined with the event's cwd.

Claude Code built-ins (Codex accepts the same names)::

    Bash          command.exec {command}; dangerouslyDisableSandbox: true → at least ask
    Read          file.read {path: file_path}           LS    file.list {path}
    Write         file.write {path: file_path, content} (products: sha256 of content)
    Edit          file.write {path, content: new_string}            meta.edit = "inserted"
    MultiEdit     file.write {path, content: every new_string, "\\n"-joined}
    NotebookEdit  file.write {path: notebook_path, content: new_source}
    Glob          file.list {path: the literal directory the pattern starts in
                             (path or cwd joined with the pattern, up to its first glob)}
    Grep          file.read {path: path or cwd}
    WebFetch      network.request {url}
    mcp__<server>__<tool>  tool.call {tool: the full name, server, arguments}
    anything else (WebSearch, Agent, Task, TodoWrite...)  tool.call {tool, arguments}

For ``Edit``/``MultiEdit``/``NotebookEdit``/Gemini's ``replace`` the ``content`` is the
*inserted* text, not the whole file: the secrets guard sees what the agent adds, and the path
rules see where. The evidence keeps only its sha256, as for every write.

Codex adds ``Bash``/``shell``/``local_shell``/``exec_command``/``shell_command`` (``command``
string, or an argv list) and ``apply_patch`` (``{"command": <patch>}``; Codex's own
``*** Begin Patch`` envelope is rewritten as a unified diff so the patch and paths guards read
every touched file and added line; anything else is passed on as a diff) → ``patch.apply``.

Gemini CLI: ``run_shell_command`` {command, dir_path} → command.exec; ``read_file`` →
file.read; ``write_file`` → file.write; ``replace`` → file.write (new_string); ``glob`` →
file.list; ``grep_search``/``search_file_content`` → file.read; ``list_directory`` →
file.list; ``read_many_files`` → one file.read per include pattern; ``web_fetch`` → one
network.request per URL in its prompt (a tool.call when there is none); ``save_memory`` →
file.write of ``~/.gemini/GEMINI.md`` (where it appends); MCP tools → tool.call with the server
from ``mcp_context``.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from codor.integrations.hooks.events import HookEvent, ToolCall, input_error
from codor.model import Action

__all__ = ["TABLES", "codex_patch_to_diff", "glob_root", "tool_call"]

Mapper = Callable[[HookEvent, Mapping[str, Any]], ToolCall]
_GLOB_CHARS: Final = frozenset("*?[{")
_URL: Final = re.compile(r"https?://[^\s<>\"'`)\]]+", re.IGNORECASE)


# -- building actions ---------------------------------------------------------------------------
def action(event: HookEvent, kind: str, *, meta: Mapping[str, Any] | None = None,
           **fields: Any) -> Action:
    """An action of ``kind`` with the event's common fields (see the module doc)."""
    tags: dict[str, Any] = {"tool": event.tool_name}
    if event.tool_use_id:
        tags["tool_use_id"] = event.tool_use_id
    sub = {k: v for k in ("agent_id", "agent_type")
           if type(v := event.raw.get(k)) is str and v}
    if sub:
        tags["subagent"] = sub
    if meta:
        tags.update(meta)
    fields.setdefault("cwd", event.cwd)
    return Action.create(kind, session=event.session_id, agent={"id": event.agent},
                         origin=event.agent, meta=tags, **fields)


def _string(event: HookEvent, inp: Mapping[str, Any], *keys: str) -> str:
    """The first of ``keys`` holding a non-empty string (required)."""
    for key in keys:
        value = inp.get(key)
        if type(value) is str and value:
            return value
    raise input_error(event.agent,
                      f"{event.tool_name}: tool_input.{keys[0]} must be a non-empty string")


def _optional(inp: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = inp.get(key)
        if type(value) is str and value:
            return value
    return None


def _text(event: HookEvent, inp: Mapping[str, Any], key: str) -> str:
    """A string field that may be empty (inserted text); absent counts as empty."""
    value = inp.get(key, "")
    if value is None:
        return ""
    if type(value) is not str:
        raise input_error(event.agent, f"{event.tool_name}: tool_input.{key} must be a string")
    return value


def join(event: HookEvent, path: str) -> str:
    """``path`` joined with the event's cwd (absolute and ``~`` paths stay as they are)."""
    if path.startswith(("/", "~")) or event.cwd is None:
        return path
    return posixpath.join(event.cwd, path)


def glob_root(base: str, pattern: str) -> str:
    """The literal directory a glob starts in: ``base`` joined with ``pattern``, cut before the
    first segment holding a glob character (``/src/**/*.py`` → ``/src``)."""
    full = pattern if pattern.startswith(("/", "~")) else posixpath.join(base, pattern)
    kept: list[str] = []
    for segment in full.split("/"):
        if _GLOB_CHARS.intersection(segment):
            break
        kept.append(segment)
    else:
        return full
    root = "/".join(kept)
    return root or ("/" if full.startswith("/") else ".")


def _base(event: HookEvent, inp: Mapping[str, Any], *keys: str) -> str:
    given = _optional(inp, *keys)
    if given is not None:
        return join(event, given)
    return event.cwd or "."


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# -- mappers ------------------------------------------------------------------------------------
def generic(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
    """``tool.call`` with the tool's name and input; MCP names (``mcp__<server>__<tool>``) and
    Gemini's ``mcp_context`` also give the server."""
    name = event.tool_name or ""
    server: str | None = None
    if name.startswith("mcp__"):
        head, sep, tail = name[5:].partition("__")
        if sep and head and tail:
            server = head
    context = event.raw.get("mcp_context")
    if server is None and isinstance(context, Mapping):
        named = context.get("server_name")
        server = named if type(named) is str and named else None
    return ToolCall((action(event, "tool.call", tool=name, server=server,
                            arguments=dict(inp)),))


def _shell(*keys: str, cwd_keys: tuple[str, ...] = ()) -> Mapper:
    def mapper(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
        cwd = _optional(inp, *cwd_keys)
        where: dict[str, Any] = {"cwd": join(event, cwd)} if cwd else {}
        for key in keys:
            value = inp.get(key)
            if isinstance(value, list) and value and all(type(a) is str for a in value):
                exec_action = action(event, "command.exec", argv=list(value), **where)
                break
        else:
            exec_action = action(event, "command.exec", command=_string(event, inp, *keys),
                                 **where)
        if inp.get("dangerouslyDisableSandbox") is True:
            return ToolCall((exec_action,), "ask",
                            f"{event.tool_name} asks to run outside the agent's sandbox "
                            "(dangerouslyDisableSandbox): a person must approve")
        return ToolCall((exec_action,))

    return mapper


def _read(*keys: str, kind: str = "file.read") -> Mapper:
    def mapper(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
        return ToolCall((action(event, kind, path=join(event, _string(event, inp, *keys))),))

    return mapper


def _under(kind: str, *keys: str) -> Mapper:
    """A directory-wide read (Grep, list_directory): the given path or the cwd."""
    def mapper(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
        return ToolCall((action(event, kind, path=_base(event, inp, *keys)),))

    return mapper


def _glob(*keys: str) -> Mapper:
    def mapper(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
        pattern = _string(event, inp, "pattern")
        return ToolCall((action(event, "file.list",
                                path=glob_root(_base(event, inp, *keys), pattern)),))

    return mapper


def _write(*keys: str) -> Mapper:
    def mapper(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
        path = join(event, _string(event, inp, *keys))
        content = _text(event, inp, "content")
        return ToolCall((action(event, "file.write", path=path, content=content),),
                        products={path: _sha256(content)})

    return mapper


def _edit(*keys: str, text_key: str = "new_string") -> Mapper:
    def mapper(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
        path = join(event, _string(event, inp, *keys))
        return ToolCall((action(event, "file.write", path=path,
                                content=_text(event, inp, text_key),
                                meta={"edit": "inserted"}),))

    return mapper


def _multi_edit(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
    path = join(event, _string(event, inp, "file_path"))
    edits = inp.get("edits")
    if not isinstance(edits, list) or not all(isinstance(e, Mapping) for e in edits):
        raise input_error(event.agent,
                          f"{event.tool_name}: tool_input.edits must be a list of objects")
    inserted = "\n".join(_text(event, e, "new_string") for e in edits)
    return ToolCall((action(event, "file.write", path=path, content=inserted,
                            meta={"edit": "inserted"}),))


def _fetch(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
    return ToolCall((action(event, "network.request", url=_string(event, inp, "url")),))


def _gemini_fetch(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
    url = _optional(inp, "url")
    found = (u.rstrip(".,;:!?") for u in _URL.findall(_optional(inp, "prompt") or ""))
    urls = [url] if url else list(dict.fromkeys(found))
    if not urls:
        return generic(event, inp)
    return ToolCall(tuple(action(event, "network.request", url=u) for u in urls))


def _read_many(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
    patterns = inp.get("include", inp.get("paths"))
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns or \
            not all(type(p) is str and p for p in patterns):
        raise input_error(event.agent, f"{event.tool_name}: tool_input.include must be a "
                                       "non-empty list of strings")
    base = _base(event, inp, "dir_path")
    roots = dict.fromkeys(glob_root(base, p) for p in patterns)
    return ToolCall(tuple(action(event, "file.read", path=r) for r in roots))


def _save_memory(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
    return ToolCall((action(event, "file.write", path="~/.gemini/GEMINI.md",
                            content=_string(event, inp, "fact"), meta={"edit": "appended"}),))


def _apply_patch(event: HookEvent, inp: Mapping[str, Any]) -> ToolCall:
    text = _string(event, inp, "command", "input", "patch")
    diff = codex_patch_to_diff(text)
    meta = {"format": "codex-apply-patch"} if diff is not None else None
    return ToolCall((action(event, "patch.apply", patch=diff if diff is not None else text,
                            meta=meta),))


def codex_patch_to_diff(text: str) -> str | None:
    """Codex's ``*** Begin Patch`` envelope as a unified diff (paths as written, ``a/``/``b/``
    prefixed; hunks without line numbers), or ``None`` when ``text`` is not such an envelope.
    ``*** Add File`` → ``/dev/null`` to the file, ``*** Delete File`` → the file to
    ``/dev/null``, ``*** Update File`` (with ``*** Move to``) → old to new path."""
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != "*** Begin Patch":
        return None
    out: list[str] = []
    i = 1
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("*** Add File: "):
            out += ["--- /dev/null", f"+++ b/{line[14:].strip()}", "@@"]
        elif line.startswith("*** Delete File: "):
            out += [f"--- a/{line[17:].strip()}", "+++ /dev/null"]
        elif line.startswith("*** Update File: "):
            old = new = line[17:].strip()
            if i < len(lines) and lines[i].startswith("*** Move to: "):
                new = lines[i][13:].strip()
                i += 1
            out += [f"--- a/{old}", f"+++ b/{new}"]
        elif line.startswith("@@"):
            out.append("@@")
        elif line.strip() == "*** End Patch":
            break
        elif line.startswith(("+", "-", " ")):
            out.append(line)
        elif line == "":
            out.append(" ")
    return "\n".join(out) + "\n"


# -- the tables ---------------------------------------------------------------------------------
CLAUDE: Final[Mapping[str, Mapper]] = {
    "Bash": _shell("command"),
    "Read": _read("file_path"),
    "LS": _read("path", kind="file.list"),
    "Write": _write("file_path"),
    "Edit": _edit("file_path"),
    "MultiEdit": _multi_edit,
    "NotebookEdit": _edit("notebook_path", text_key="new_source"),
    "Glob": _glob("path"),
    "Grep": _under("file.read", "path"),
    "WebFetch": _fetch,
}
CODEX: Final[Mapping[str, Mapper]] = {
    **CLAUDE,
    **dict.fromkeys(("Bash", "shell", "local_shell", "exec_command", "shell_command",
                     "container.exec"), _shell("command", "cmd", cwd_keys=("workdir",))),
    "apply_patch": _apply_patch,
}
GEMINI: Final[Mapping[str, Mapper]] = {
    "run_shell_command": _shell("command", cwd_keys=("dir_path", "directory")),
    "read_file": _read("file_path", "absolute_path", "path"),
    "write_file": _write("file_path", "absolute_path", "path"),
    "replace": _edit("file_path", "absolute_path", "path"),
    "glob": _glob("dir_path", "path"),
    "grep_search": _under("file.read", "dir_path", "path"),
    "search_file_content": _under("file.read", "dir_path", "path"),
    "list_directory": _under("file.list", "dir_path", "path"),
    "read_many_files": _read_many,
    "web_fetch": _gemini_fetch,
    "save_memory": _save_memory,
}
TABLES: Final[Mapping[str, Mapping[str, Mapper]]] = {
    "claude-code": CLAUDE, "codex": CODEX, "gemini": GEMINI}


def tool_call(event: HookEvent) -> ToolCall:
    """The actions of a pre/post tool event (see the module doc). Raises
    :class:`~codor.errors.CodorError` for a tool input that does not fit its tool."""
    if event.tool_name is None or event.tool_input is None:
        raise input_error(event.agent, f"{event.vendor_event} is not a tool event")
    mapper = TABLES.get(event.agent, {}).get(event.tool_name, generic)
    return mapper(event, event.tool_input)
