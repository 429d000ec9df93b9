"""Built-in protections: always on, never overridable by a policy or a capability token.

They deny any agent write (``file.write``, ``file.delete``, ``patch.apply``, and the write
targets of a ``command.exec``) to the active policy files, CODOR's state directory (ledger,
keys, policy), and CODOR's own installation; and any read of CODOR's private keys. A
``tool.call`` (an MCP server's ``write_file``, a framework tool) whose path-like argument
(``path``, ``file_path``, ``targetPath``... at any depth) names one of those is denied too:
CODOR cannot know whether an arbitrary tool writes, so it assumes it may. Arguments too big to
check (more than 256 distinct paths, or nested deeper than 32 levels) are denied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

from codor.model import Action
from codor.policy.diff import touched_paths
from codor.policy.guards.base import EvalContext, Finding

__all__ = ["BuiltinProtections", "installation_root"]

_WRITE_KINDS = frozenset({"file.write", "file.delete", "patch.apply"})
#: argument names that hold paths in the tools agents use (MCP filesystem servers, SDK tools):
#: one of these words, alone or as the last part of a snake_case, kebab-case or camelCase name
#: (``file_path``, ``targetPath``), in any case
_PATH_KEY = re.compile(r"(?:^|[_-]|(?<=[a-z0-9])(?=[A-Z]))(?i:path|paths|file|files|filename|"
                       r"filepath|dir|directory|folder|source|destination|dest|src|target|"
                       r"root|cwd)$")
#: bounds of the argument walk; arguments beyond them are denied, never waved through
_MAX_ARGUMENT_PATHS = 256
_MAX_ARGUMENT_DEPTH = 32


@cache
def _write_targets() -> Callable[[str | None, Sequence[str] | None], tuple[str, ...]]:
    """:func:`codor.policy.shell.write_targets`, imported on first use (the shell parser is
    not loaded for policies that never see a command)."""
    from codor.policy.shell import write_targets

    return write_targets


def installation_root() -> str:
    """The directory of the installed ``codor`` package."""
    return str(Path(__file__).resolve().parent.parent)


def _under(path: str, roots: Sequence[str]) -> str | None:
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


class BuiltinProtections:
    """The built-in protection layer. ``roots`` are protected files or directories."""

    name = "builtin"
    kinds = frozenset({"file.read", "file.list", "file.write", "file.delete", "patch.apply",
                       "command.exec", "tool.call"})

    def __init__(self, write_roots: Iterable[str], secret_roots: Iterable[str] = ()) -> None:
        self.write_roots = tuple(sorted({r.rstrip("/") or "/" for r in write_roots}))
        self.secret_roots = tuple(sorted({r.rstrip("/") or "/" for r in secret_roots}))

    @classmethod
    def for_workspace(
        cls, *, policy_files: Iterable[str], codor_home: str, extra: Iterable[str] = ()
    ) -> BuiltinProtections:
        files = [f for f in policy_files if not f.startswith("codor:")]
        home = str(Path(codor_home).absolute())
        write_roots = [*files, home, installation_root(), *extra]
        # resolved forms too, so a protected path reached through a symlink stays protected
        write_roots += [str(Path(r).resolve()) for r in list(write_roots)]
        keys = str(Path(home) / "keys")
        return cls(write_roots, [keys, str(Path(keys).resolve())])

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        kind = action.kind
        if kind in _WRITE_KINDS:
            return self._paths(touched_paths(action), "write", ctx, action.cwd)
        if kind == "command.exec":
            targets = _write_targets()(action.command, action.argv)
            return self._paths(targets, "write", ctx, action.cwd) if targets else []
        if kind in ("file.read", "file.list") and action.path is not None and self.secret_roots:
            return self._paths([action.path], "read", ctx, action.cwd)
        if kind == "tool.call" and action.arguments:
            paths = _argument_paths(action.arguments)
            if paths is None:
                return [Finding("deny", "builtin.unchecked_arguments", self.name, "high",
                                f"the tool's arguments name more than {_MAX_ARGUMENT_PATHS} "
                                f"paths or nest deeper than {_MAX_ARGUMENT_DEPTH} levels: "
                                "too many to check against CODOR's own state")]
            return self._paths(paths, "write", ctx, action.cwd) if paths else []
        return ()

    def _paths(self, paths: Iterable[str], op: str, ctx: EvalContext,
               cwd: str | None) -> list[Finding]:
        roots = self.write_roots if op == "write" else self.secret_roots
        out: list[Finding] = []
        for raw in paths:
            try:
                forms = ctx.forms(raw, cwd)
            except ValueError:
                out.append(Finding("deny", "builtin.invalid_path", self.name, "high",
                                   "path contains a NUL character"))
                continue
            for form in forms:
                if not form.startswith(roots):  # a path under a root starts with it
                    continue
                root = _under(form, roots)
                if root is not None:
                    what = "write to" if op == "write" else "read of"
                    out.append(Finding("deny", f"builtin.protected_{op}", self.name, "critical",
                                       f"{what} {raw} is never allowed: it is CODOR's own state "
                                       f"({root})"))
                    break
        return out


def _argument_paths(arguments: Mapping[str, object]) -> list[str] | None:
    """The distinct non-empty strings under path-like keys of a tool's arguments, at any depth
    (a list under such a key included); ``None`` past the walk's bounds."""
    found: dict[str, None] = {}
    stack: list[tuple[object, bool, int]] = [(arguments, False, 0)]
    while stack:
        item, path_key, level = stack.pop()
        if isinstance(item, str):
            if path_key and item and item not in found:
                if len(found) == _MAX_ARGUMENT_PATHS:
                    return None
                found[item] = None
        elif isinstance(item, (Mapping, list, tuple)):
            if level == _MAX_ARGUMENT_DEPTH:
                return None
            if isinstance(item, Mapping):
                stack.extend((v, _PATH_KEY.search(str(k)) is not None, level + 1)
                             for k, v in item.items())
            else:
                stack.extend((v, path_key, level + 1) for v in item)
    return list(found)
