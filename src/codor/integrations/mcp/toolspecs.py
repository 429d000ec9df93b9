"""How CODOR's built-in tools look to an MCP client: name, description, input schema, hints.

One :class:`ToolSpec` per tool of :data:`codor.runtime.tools.TOOLS`, under the runtime's own
name (``fs.read``, ``shell.exec``...: MCP tool names may hold letters, digits, ``_``, ``-`` and
``.``, SEP-986). Each input schema mirrors what :class:`codor.runtime.arguments.Arguments`
accepts — the same names (no others: ``additionalProperties: false``), types, defaults and
bounds — so a client can build valid calls; the router still validates every call itself.
The schemas stay plain JSON Schema (``type``/``properties``/``required`` at the root, no
``oneOf`` there, which several model APIs reject): "exactly one of ``command`` and ``argv``"
is said in the descriptions and enforced by the router.

Annotations are hints for the client, set honestly: reads are ``readOnlyHint``; ``fs.write``
and ``patch.apply`` overwrite content, ``fs.delete`` removes it, and a command can do
anything inside the sandbox, so all of those are ``destructiveHint``; ``http.fetch`` is the
open-world tool by nature, and not read-only (it may POST or DELETE); a sandboxed command has
the policy's egress too, so it is marked open-world as well. Nothing here imports the MCP SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["TOOL_SPECS", "ToolSpec"]

_MIB: Final = 1 << 20
_POLICY_NOTE: Final = (" Every call is decided by CODOR's policy and recorded in the workspace "
                       "ledger; a refused call returns an error naming the rule.")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as listed by ``tools/list``."""

    name: str
    title: str
    description: str
    properties: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...] = ()
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False

    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the tool's arguments (a fresh dict)."""
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {k: dict(v) for k, v in self.properties.items()},
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        return schema

    def annotations(self) -> dict[str, Any]:
        """``ToolAnnotations`` as wire JSON."""
        out: dict[str, Any] = {"title": self.title, "readOnlyHint": self.read_only,
                               "openWorldHint": self.open_world}
        if not self.read_only:
            out["destructiveHint"] = self.destructive
            out["idempotentHint"] = self.idempotent
        return out


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description, **extra}


def _int(description: str, low: int, high: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "default": default,
            "description": description}


def _flag(description: str, default: bool) -> dict[str, Any]:
    return {"type": "boolean", "default": default, "description": description}


_PATH_NOTE: Final = "relative to the workspace, or absolute"
_STRINGS: Final = {"type": "object", "additionalProperties": {"type": "string"}}


def _command_spec(name: str, title: str, what: str, timeout: float) -> ToolSpec:
    return ToolSpec(
        name, title,
        f"{what} Runs confined in CODOR's sandbox (bubblewrap: the workspace writable, the rest "
        f"of the system read-only, network only through CODOR's egress proxy). Give exactly one "
        f"of `command` (a shell string, run with /bin/sh -c) and `argv`. Returns the exit "
        f"status, stdout and stderr (each cut at 256 KiB) and the workspace files the command "
        f"changed." + _POLICY_NOTE,
        {
            "command": _text("shell command line for /bin/sh -c (exactly one of command and "
                             "argv)"),
            "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                     "description": "program and arguments, run without a shell (exactly one "
                                    "of command and argv)"},
            "cwd": _text(f"working directory inside the workspace ({_PATH_NOTE})",
                         default="."),
            "env": {**_STRINGS, "description": "extra environment variables (credentials are "
                                               "scrubbed by the sandbox)"},
            "timeout": {"type": "number", "minimum": 0.1, "maximum": 86400, "default": timeout,
                        "description": "wall-time limit in seconds; the whole process group "
                                       "is killed at it"},
        },
        destructive=True, open_world=True)


#: Every built-in tool, by name, in the runtime's order.
TOOL_SPECS: Final[Mapping[str, ToolSpec]] = {s.name: s for s in (
    ToolSpec(
        "fs.read", "Read a file",
        "Read a file of the workspace. Returns its content (UTF-8 text, or base64 with "
        "encoding 'base64' for binary data), size, sha256 and whether it was cut at max_bytes."
        + _POLICY_NOTE,
        {"path": _text(f"file to read ({_PATH_NOTE})"),
         "max_bytes": _int("read at most this many bytes", 0, 64 * _MIB, _MIB)},
        ("path",), read_only=True),
    ToolSpec(
        "fs.write", "Write a file",
        "Create or overwrite a file with the given UTF-8 text (atomically). Returns the path, "
        "size, sha256 and whether the file was created." + _POLICY_NOTE,
        {"path": _text(f"file to write ({_PATH_NOTE})"),
         "content": {"type": "string", "description": "the complete new content (may be "
                                                      "empty)"},
         "make_dirs": _flag("create missing parent directories", True)},
        ("path", "content"), destructive=True, idempotent=True),
    ToolSpec(
        "fs.list", "List a directory",
        "List the entries of a directory (name, type, size). Symlinks are listed, not "
        "followed." + _POLICY_NOTE,
        {"path": _text(f"directory to list ({_PATH_NOTE})", default="."),
         "max_entries": _int("list at most this many entries", 1, 100_000, 10_000)},
        read_only=True),
    ToolSpec(
        "fs.exists", "Check a path",
        "Whether a path exists, and its type (file, dir, symlink, other)." + _POLICY_NOTE,
        {"path": _text(f"path to check ({_PATH_NOTE})")},
        ("path",), read_only=True),
    ToolSpec(
        "fs.delete", "Delete a file",
        "Delete a file or a symlink (not its target); directories are refused." + _POLICY_NOTE,
        {"path": _text(f"entry to delete ({_PATH_NOTE})")},
        ("path",), destructive=True, idempotent=True),
    ToolSpec(
        "search.grep", "Search file contents",
        "Search the files under a directory (or one file) for lines matching a regular "
        "expression (Python syntax) or a fixed string. Returns path, line number and text of "
        "each match; files the policy refuses are skipped and named." + _POLICY_NOTE,
        {"pattern": _text("regular expression (or fixed text with fixed=true)"),
         "path": _text(f"directory or file to search ({_PATH_NOTE})", default="."),
         "fixed": _flag("treat pattern as plain text", False),
         "ignore_case": _flag("match case-insensitively", False),
         "include": _text("only files whose name matches this glob, e.g. '*.py'"),
         "max_matches": _int("stop after this many matches", 1, 10_000, 200),
         "max_file_bytes": _int("skip files larger than this", 1, 64 * _MIB, 4 * _MIB)},
        ("pattern",), read_only=True),
    ToolSpec(
        "search.glob", "Find files by name",
        "Find paths under a directory matching a glob ('**' crosses directories, e.g. "
        "'src/**/*.py')." + _POLICY_NOTE,
        {"pattern": _text("glob pattern, relative to path"),
         "path": _text(f"directory to search ({_PATH_NOTE})", default="."),
         "max_results": _int("return at most this many paths", 1, 100_000, 10_000)},
        ("pattern",), read_only=True),
    ToolSpec(
        "patch.apply", "Apply a unified diff",
        "Apply a unified diff (as `diff -u` or `git diff` print it) to workspace files: "
        "modify, create, delete or rename text files. All or nothing: nothing is written when "
        "a hunk does not apply." + _POLICY_NOTE,
        {"patch": {"type": "string", "minLength": 1, "description": "the unified diff"},
         "path": _text("optional: the one file the patch is expected to touch")},
        ("patch",), destructive=True),
    _command_spec("shell.exec", "Run a command", "Run a command in the workspace.", 120.0),
    _command_spec("test.run", "Run tests", "Run a test command (pytest, npm test, make "
                                           "check...) in the workspace.", 600.0),
    ToolSpec(
        "http.fetch", "Fetch a URL",
        "Make one HTTP(S) request and return status, headers and body (UTF-8 text, or base64 "
        "with encoding 'base64'). Redirects are not followed: a 3xx is returned as is. The "
        "request goes through CODOR's egress proxy (no private or metadata addresses unless "
        "the policy allows them)." + _POLICY_NOTE,
        {"url": _text("http:// or https:// URL", pattern="^[Hh][Tt][Tt][Pp][Ss]?://"),
         "method": {"type": "string", "default": "GET",
                    "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                    "description": "HTTP method"},
         "headers": {**_STRINGS, "description": "request headers"},
         "body": _text("request body (UTF-8 text)"),
         "timeout": {"type": "number", "minimum": 0.1, "maximum": 600, "default": 30,
                     "description": "seconds"},
         "max_bytes": _int("return at most this many body bytes", 0, 64 * _MIB, _MIB)},
        ("url",), destructive=True, open_world=True),
)}
