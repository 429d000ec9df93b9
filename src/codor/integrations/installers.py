"""Add CODOR's hooks to the settings file of Claude Code, Codex or Gemini CLI, and take them out.

Every agent gets one hook per event CODOR's hook runtime handles (the ``EVENTS`` table of its
adapter in :mod:`codor.integrations.hooks`: before and after each tool, prompt submit, stop,
session start and end), each running ``<codor executable> hook <agent>``.
Tool events match every tool (MCP tools included) with ``"*"``; lifecycle events carry no
matcher, which all three agents read as "always". The settings file is merged, never replaced:
the user's other settings and hooks stay as they were, in their order; installing twice
changes nothing; the previous file is kept next to it as ``<name>.codor-backup-<UTC time>``;
the new file keeps the old one's indentation (2 spaces for a new file) and permissions and is
written atomically. CODOR's entries are found
by their command (an executable named ``codor`` followed by ``hook <agent>``), never by
position, so ``uninstall`` removes exactly them, and an install after a move of the executable
updates them in place.

Formats, from the vendors' public documentation and source:

- Claude Code: ``.claude/settings.json`` (project) and ``~/.claude/settings.json`` (user,
  ``$CLAUDE_CONFIG_DIR`` when set); ``{"hooks": {Event: [{"matcher", "hooks": [{"type":
  "command", "command", "timeout"}]}]}}``, timeout in seconds, ``"*"`` matches every tool —
  docs.claude.com/docs/claude-code/hooks ("Configuration", "Structure"); a failed tool call
  fires PostToolUseFailure instead of PostToolUse (Claude Agent SDK hook input types).
- Codex: ``<repo>/.codex/hooks.json`` and ``~/.codex/hooks.json`` (``$CODEX_HOME``), same
  shape, timeout in seconds (default 600), ``"*"`` or no matcher match everything, event keys
  PreToolUse, PostToolUse, UserPromptSubmit, Stop, SubagentStop, SessionStart,
  SessionEnd... — openai/codex
  ``codex-rs/config/src/hook_config.rs`` (``HooksFile``, ``HookEventsToml``,
  ``HookHandlerConfig``), ``codex-rs/hooks/src/engine/discovery.rs`` (``load_hooks_json``,
  hook trust), ``codex-rs/hooks/src/events/common.rs`` (``matches_matcher``),
  ``codex-rs/features/src/lib.rs`` (hooks are stable and on by default).
- Gemini CLI: ``.gemini/settings.json`` and ``~/.gemini/settings.json``; ``hooks`` holds
  BeforeTool, AfterTool, BeforeAgent, AfterAgent, SessionStart, SessionEnd...; handlers take
  ``name``, ``type``, ``command``, ``timeout`` (milliseconds) and ``description`` —
  google-gemini/gemini-cli ``docs/hooks/index.md``, ``docs/hooks/reference.md``,
  ``packages/core/src/hooks/hookPlanner.ts`` (``"*"`` and ``""`` match all),
  ``packages/cli/src/config/settingsSchema.ts`` (``hooksConfig.enabled`` defaults to true).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codor.errors import CodorError

__all__ = [
    "AgentSpec", "HookEvent", "InstallError", "Plan", "SettingsFileError", "add_hooks",
    "apply_plan", "codor_command", "find_codor_executable", "is_codor_command", "plan_install",
    "plan_uninstall", "remove_hooks", "render", "settings_path", "spec_for",
]

#: seconds an agent waits for ``codor hook`` before a tool call (room for a person's approval)
PRE_TOOL_TIMEOUT = 120
#: seconds for every other event
EVENT_TIMEOUT = 60
#: the matcher that selects every tool, MCP tools included, in all three agents
ALL_TOOLS = "*"


class InstallError(CodorError):
    """CODOR's hooks cannot be installed or removed (no codor executable, unwritable file)."""

    code = "E_INSTALL"


class SettingsFileError(InstallError):
    """The agent's settings file is not valid JSON or not the shape the agent reads; it was
    left untouched."""

    code = "E_INSTALL_SETTINGS"


@dataclass(frozen=True, slots=True)
class HookEvent:
    name: str
    tools: bool  # a tool event: gets the all-tools matcher
    timeout: int  # seconds


@dataclass(frozen=True, slots=True)
class AgentSpec:
    agent: str
    directory: str  # the settings directory, in the project and in $HOME
    filename: str
    home_env: str | None  # variable that moves the user directory
    timeout_scale: int  # 1: the agent reads seconds; 1000: milliseconds
    handler_extra: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None  # one line the user should know after installing

    @property
    def events(self) -> tuple[HookEvent, ...]:
        """Every event the hook runtime handles for this agent, in its adapter's order."""
        from codor.integrations.hooks.handler import adapter_for

        table = adapter_for(self.agent).events
        return tuple(HookEvent(name, kind in ("pre_tool", "post_tool"),
                               PRE_TOOL_TIMEOUT if kind == "pre_tool" else EVENT_TIMEOUT)
                     for name, kind in table.items() if kind != "other")


_SPECS: dict[str, AgentSpec] = {
    "claude-code": AgentSpec("claude-code", ".claude", "settings.json", "CLAUDE_CONFIG_DIR", 1),
    "codex": AgentSpec(
        "codex", ".codex", "hooks.json", "CODEX_HOME", 1,
        note="Codex runs new hooks only once you trust them: review them with /hooks in Codex"),
    "gemini": AgentSpec(
        "gemini", ".gemini", "settings.json", None, 1000,
        handler_extra={"name": "codor",
                       "description": "CODOR: decide and record every action by policy"}),
}


def spec_for(agent: str) -> AgentSpec:
    try:
        return _SPECS[agent]
    except KeyError:
        raise InstallError(f"unknown agent {agent!r} (one of {', '.join(_SPECS)})") from None


def settings_path(agent: str, *, user: bool, workspace: Path,
                  environ: Mapping[str, str] = os.environ) -> Path:
    """The file CODOR's hooks go in: the project's (under ``workspace``) or the user's."""
    spec = spec_for(agent)
    if not user:
        return workspace.absolute() / spec.directory / spec.filename
    moved = environ.get(spec.home_env) if spec.home_env else None
    base = Path(moved) if moved else Path.home() / spec.directory
    return base.absolute() / spec.filename


# -- the command --------------------------------------------------------------------------


def find_codor_executable() -> str:
    """The absolute path of the ``codor`` console script: the one installed next to this
    Python (a virtualenv's ``bin/``), else the first on ``PATH``."""
    beside = Path(sys.executable).absolute().with_name("codor")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("codor")
    if found:
        return str(Path(found).absolute())
    raise InstallError("cannot find the codor executable (not next to "
                       f"{sys.executable}, not on PATH); install CODOR with pip first")


def codor_command(executable: str, agent: str) -> str:
    return f"{shlex.quote(executable)} hook {shlex.quote(agent)}"


_ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*", re.DOTALL)


def is_codor_command(command: object, agent: str) -> bool:
    """Whether ``command`` runs CODOR's hook for ``agent``: an executable named ``codor``
    followed by exactly ``hook <agent>`` (after ``NAME=value`` words, if any)."""
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return (len(words) >= 3 and words[-2:] == ["hook", agent]
            and Path(words[-3]).name in ("codor", "codor.exe")
            and all(_ENV_ASSIGNMENT.fullmatch(word) for word in words[:-3]))


def _is_codor_handler(handler: object, agent: str) -> bool:
    return isinstance(handler, dict) and is_codor_command(handler.get("command"), agent)


# -- merging (pure: the input is never modified) ------------------------------------------


def _group(spec: AgentSpec, event: HookEvent, command: str) -> dict[str, Any]:
    handler = {"type": "command", "command": command,
               "timeout": event.timeout * spec.timeout_scale, **spec.handler_extra}
    return {"matcher": ALL_TOOLS, "hooks": [handler]} if event.tools else {"hooks": [handler]}


def _strip(groups: list[Any], agent: str) -> tuple[list[Any], int | None]:
    """``groups`` without CODOR's handlers (a group left empty by that goes too), and the
    position of the first group CODOR's handlers were in."""
    kept: list[Any] = []
    first: int | None = None
    for group in groups:
        handlers = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(handlers, list):
            kept.append(group)
            continue
        others = [h for h in handlers if not _is_codor_handler(h, agent)]
        if len(others) == len(handlers):
            kept.append(group)
            continue
        if first is None:
            first = len(kept)
        if others:
            kept.append({**group, "hooks": others})
    return kept, first


def _hooks_table(settings: Mapping[str, Any]) -> dict[str, Any]:
    table = settings.get("hooks", {})
    if not isinstance(table, dict):
        raise SettingsFileError('"hooks" is not a JSON object')
    return table


def add_hooks(settings: Mapping[str, Any], agent: str, command: str) -> dict[str, Any]:
    """``settings`` with CODOR's hooks for ``agent`` running ``command``: appended to each
    event's list, or put in place of CODOR's earlier entries (so the result equals the input
    when they are already there)."""
    spec = spec_for(agent)
    result = copy.deepcopy(dict(settings))
    table = _hooks_table(result)
    for event in spec.events:
        groups = table.get(event.name, [])
        if not isinstance(groups, list):
            raise SettingsFileError(f'"hooks.{event.name}" is not a JSON array')
        kept, first = _strip(groups, agent)
        at = len(kept) if first is None else first
        table[event.name] = [*kept[:at], _group(spec, event, command), *kept[at:]]
    result["hooks"] = table
    return result


def remove_hooks(settings: Mapping[str, Any], agent: str) -> dict[str, Any]:
    """``settings`` without CODOR's hooks for ``agent``, wherever they are; an event list or
    a ``hooks`` object emptied by that is left out."""
    result = copy.deepcopy(dict(settings))
    table = result.get("hooks")
    if not isinstance(table, dict):  # no hooks object: none of CODOR's hooks either
        return result
    changed = False
    for name, groups in list(table.items()):
        if not isinstance(groups, list):
            continue
        kept, first = _strip(groups, agent)
        if first is None:
            continue
        changed = True
        if kept:
            table[name] = kept
        else:
            del table[name]
    if changed and not table:
        del result["hooks"]
    return result


# -- the file -----------------------------------------------------------------------------


def render(settings: Mapping[str, Any], indent: str = "  ") -> str:
    """The file's text: indented like the agents write it (2 spaces unless told), non-ASCII
    kept, a final newline."""
    return json.dumps(settings, indent=indent, ensure_ascii=False) + "\n"


def _indent_of(text: str) -> str:
    """The indentation unit of an existing pretty-printed file (2 spaces when it has none)."""
    found = re.match(r"\s*[{\[][ \t]*\r?\n([ \t]+)\S", text)
    return found.group(1) if found else "  "


def _read(path: Path) -> bytes | None:
    """The file's bytes, ``None`` when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InstallError(f"cannot read: {exc.strerror}", location=str(path)) from None


def _load(path: Path) -> tuple[bytes | None, dict[str, Any]]:
    """The file's bytes (``None`` when it does not exist) and its JSON object."""
    raw = _read(path)
    if raw is None:
        return None, {}
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SettingsFileError("not UTF-8 text; nothing changed", location=str(path)) from None
    if not text.strip():
        return raw, {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsFileError(f"not valid JSON: {exc.msg} (column {exc.colno}); nothing "
                                "changed", location=f"{path}:{exc.lineno}") from None
    if not isinstance(data, dict):
        raise SettingsFileError("not a JSON object; nothing changed", location=str(path))
    return raw, data


@dataclass(frozen=True, slots=True)
class Plan:
    """What installing or removing would do to one settings file."""

    path: Path
    before: bytes | None  # the file's bytes now; None: it does not exist
    text: str  # the file's text afterwards (its current text when nothing changes)
    changed: bool


def _plan(path: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Plan:
    before, settings = _load(path)
    try:
        after = change(settings)
    except SettingsFileError as exc:
        raise SettingsFileError(f"{exc.message}; nothing changed", location=str(path)) from None
    text = before.decode("utf-8-sig") if before else ""
    if after == settings:  # nothing to do: the file stays byte for byte as it is
        return Plan(path, before, text, changed=False)
    return Plan(path, before, render(after, _indent_of(text)), changed=True)


def plan_install(path: Path, agent: str, executable: str) -> Plan:
    command = codor_command(executable, agent)
    return _plan(path, lambda settings: add_hooks(settings, agent, command))


def plan_uninstall(path: Path, agent: str) -> Plan:
    return _plan(path, lambda settings: remove_hooks(settings, agent))


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _backup(target: Path, content: bytes) -> Path:
    """Write ``content`` to a new ``<target>.codor-backup-<UTC time>[-n]`` with the target's
    permissions."""
    stem = f"{target.name}.codor-backup-{_utc_stamp()}"
    for n in range(100):
        backup = target.with_name(stem if n == 0 else f"{stem}-{n}")
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         target.stat().st_mode & 0o777)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        return backup
    raise InstallError("too many backups written this second", location=str(target))


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_atomically(target: Path, text: str, mode: int) -> None:
    from codor.atomicfile import write_atomic

    write_atomic(target, text.encode("utf-8"), mode=mode)


def apply_plan(plan: Plan) -> Path | None:
    """Write the plan's file (through a symlink, to its target) and return the backup of the
    previous file, if there was one. Nothing is written when nothing changes."""
    if not plan.changed:
        return None
    target = Path(os.path.realpath(plan.path))
    if _read(target) != plan.before:
        raise InstallError("changed while CODOR was reading it; nothing written, run again",
                           location=str(plan.path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        backup = _backup(target, plan.before) if plan.before is not None else None
        mode = target.stat().st_mode & 0o7777 if plan.before is not None else _new_file_mode()
        _write_atomically(target, plan.text, mode)
    except OSError as exc:
        raise InstallError(f"cannot write: {exc.strerror or exc}", location=str(plan.path)) \
            from None
    return backup
