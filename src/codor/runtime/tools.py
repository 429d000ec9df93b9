"""The built-in tools: each turns its arguments into a :class:`Plan` — the action to decide,
the paths execution will touch, and the execution itself.

Tool → action kind: ``fs.read`` → ``file.read``; ``fs.write`` → ``file.write``; ``fs.list``,
``fs.exists``, ``search.glob`` → ``file.list`` (of the path or the search root);
``fs.delete`` → ``file.delete``; ``search.grep`` → ``file.list`` of the root (``file.read``
when the root is a file) plus a ``file.read`` check of every file searched;
``patch.apply`` → ``patch.apply``; ``shell.exec`` and ``test.run`` → ``command.exec``;
``http.fetch`` → ``network.request``.

What grep records (a coarser rule than one recorded decision per file, which would write
thousands of records per search): the decision on the root, then — after the search — a
recorded ``file.read`` decision for every file whose lines are returned, and the outcome with
those files as materials. Every file searched was first checked with an unrecorded
``file.read`` decision and every directory entered with a ``file.list`` one; a file or
directory the policy does not allow (deny or ask) is never opened, and the outcome's
``stderr`` lists it. A grep that finds nothing therefore records one decision and one outcome.

Evidence per tool: materials are files read (fs.read, the files grep returns lines of, a
patched file's old content, a deleted file), products files written (fs.write, patch.apply,
files a command changed). ``stdout`` holds the command's or response's output, grep's
``path:line:text`` lines; file tools leave it empty (their digests say what was read).
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from codor.errors import PatchApplyError, ToolArgumentError, ToolError, ToolIOError
from codor.policy.diff import parse_patch
from codor.runtime import files, patching, search
from codor.runtime.arguments import Arguments
from codor.runtime.commands import RunRequest, SandboxRunner, Snapshot
from codor.runtime.fetch import METHODS, FetchRequest, HttpClient
from codor.runtime.outcome import Observation, stream

__all__ = ["TOOLS", "Plan", "ToolContext"]

_MIB: Final = 1 << 20
OUTPUT_MAX_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What the tools need from the router."""

    workspace: str
    workspace_real: str  # the workspace with its own symlinks resolved
    home: str
    gate: Callable[[str, str], bool]  # unrecorded per-entry policy check (kind, path)
    record_read: Callable[[str], None]  # record the file.read decision of a returned file
    max_read_bytes: int
    hardlinks_ok: bool
    runner: SandboxRunner | None
    client: HttpClient | None

    def locate(self, raw: str, how: files.Locate = "follow") -> files.Target:
        return files.locate(raw, self.workspace, self.home, how)

    def inside(self, path: str) -> bool:
        return any(path == ws or path.startswith(ws.rstrip("/") + "/")
                   for ws in (self.workspace, self.workspace_real))

    def shown(self, path: str) -> str:
        """``path`` relative to the workspace when it is inside it."""
        for ws in (self.workspace, self.workspace_real):
            if path == ws:
                return "."
            if path.startswith(ws.rstrip("/") + "/"):
                return path[len(ws.rstrip("/")) + 1:]
        return path


Execute = Callable[[tuple[int, int]], tuple[dict[str, Any], Observation]]


@dataclass(frozen=True, slots=True)
class Plan:
    """``kind`` and ``fields`` make the action; ``targets`` are the paths execution touches
    (one that differs from its normalised form gets its own decision); ``execute`` runs it,
    given the start time, and returns the output and the observation."""

    kind: str
    fields: dict[str, Any]
    execute: Execute
    targets: tuple[files.Target, ...] = ()
    cwd: str | None = None
    needs: str | None = field(default=None)  # "runner" | "client": what must be configured


def _fs_read(ctx: ToolContext, args: Arguments) -> Plan:
    target = ctx.locate(args.text("path"))
    limit = args.integer("max_bytes", ctx.max_read_bytes, low=0, high=64 * _MIB)

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        got = files.read_file(target.path, max_bytes=limit, hardlinks_ok=ctx.hardlinks_ok)
        try:
            content, encoding = got.data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            content, encoding = base64.b64encode(got.data).decode("ascii"), "base64"
        out = {"path": ctx.shown(target.path), "content": content, "encoding": encoding,
               "size": got.size, "truncated": got.truncated, "sha256": got.sha256}
        return out, Observation(started, materials={target.path: got.sha256})

    return Plan("file.read", {"path": target.norm}, run, (target,))


def _fs_write(ctx: ToolContext, args: Arguments) -> Plan:
    target = ctx.locate(args.text("path"))
    content = args.content("content")
    make_dirs = args.flag("make_dirs", True)

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        info = files.write_file(target.path, content.encode("utf-8"), make_dirs=make_dirs)
        out = {"path": ctx.shown(target.path), "size": info.size, "sha256": info.sha256,
               "created": info.created}
        return out, Observation(started, products={target.path: info.sha256})

    return Plan("file.write", {"path": target.norm, "content": content}, run, (target,))


def _fs_list(ctx: ToolContext, args: Arguments) -> Plan:
    target = ctx.locate(args.text("path", "."))
    limit = args.integer("max_entries", 10_000, low=1, high=100_000)

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        entries, truncated = files.list_dir(target.path, max_entries=limit)
        out = {"path": ctx.shown(target.path), "entries": [e.to_json() for e in entries],
               "truncated": truncated}
        return out, Observation(started)

    return Plan("file.list", {"path": target.norm}, run, (target,))


def _fs_exists(ctx: ToolContext, args: Arguments) -> Plan:
    target = ctx.locate(args.text("path"))

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        st = files.lstat_target(target.path)
        kind = None if st is None else files.kind_of(st.st_mode)
        return {"path": ctx.shown(target.path), "exists": st is not None, "type": kind}, \
            Observation(started)

    return Plan("file.list", {"path": target.norm}, run, (target,))


def _fs_delete(ctx: ToolContext, args: Arguments) -> Plan:
    target = ctx.locate(args.text("path"), "entry")

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        digest = files.delete_entry(target.path)
        materials = {} if digest is None else {target.path: digest}
        return {"path": ctx.shown(target.path), "deleted": True}, \
            Observation(started, materials=materials)

    return Plan("file.delete", {"path": target.norm}, run, (target,))


def _grep(ctx: ToolContext, args: Arguments) -> Plan:
    pattern = args.text("pattern")
    regex = search.compile_pattern(pattern, fixed=args.flag("fixed", False),
                                   ignore_case=args.flag("ignore_case", False))
    target = ctx.locate(args.text("path", "."))
    include = args.optional_text("include")
    limit = args.integer("max_matches", 200, low=1, high=10_000)
    max_file = args.integer("max_file_bytes", 4 * _MIB, low=1, high=64 * _MIB)
    st = files.lstat_target(target.path)
    is_file = st is not None and files.kind_of(st.st_mode) == "file"

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        got = search.grep(target.path, regex, ctx.gate, limit=limit, max_file_bytes=max_file,
                          include=include, hardlinks_ok=ctx.hardlinks_ok, root_is_file=is_file)
        for path in got.files:
            ctx.record_read(path)
        lines = [f"{ctx.shown(m.path)}:{m.line}:{m.text}" for m in got.matches]
        notes = [f"searched {got.searched} file(s); {len(got.denied)} refused by the policy"]
        notes += [f"refused: {ctx.shown(p)}" for p in got.denied[:50]]
        notes += [f"skipped {n}: {why}" for why, n in sorted(got.skipped.items())]
        out = {"matches": [m.to_json(ctx.shown(m.path)) for m in got.matches],
               "truncated": got.truncated, "files_searched": got.searched,
               "denied": [ctx.shown(p) for p in got.denied], "skipped": dict(got.skipped)}
        return out, Observation(started, stdout=stream("\n".join(lines).encode()),
                                stderr=stream("\n".join(notes).encode()),
                                materials=dict(got.files))

    return Plan("file.read" if is_file else "file.list", {"path": target.norm}, run, (target,))


def _glob(ctx: ToolContext, args: Arguments) -> Plan:
    pattern = args.text("pattern")
    target = ctx.locate(args.text("path", "."))
    limit = args.integer("max_results", 10_000, low=1, high=100_000)

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        got = search.glob(target.path, pattern, ctx.gate, limit=limit)
        shown = [ctx.shown(p) for p in got.paths]
        out = {"paths": shown, "truncated": got.truncated,
               "denied": [ctx.shown(p) for p in got.denied]}
        return out, Observation(started, stdout=stream("\n".join(shown).encode()))

    return Plan("file.list", {"path": target.norm}, run, (target,))


def _patch(ctx: ToolContext, args: Arguments) -> Plan:
    text = args.content("patch")
    path = args.optional_text("path")
    touched = [ctx.locate(p) for p in parse_patch(text).paths]
    if path is not None:
        named = ctx.locate(path)
        if named.norm not in {t.norm for t in touched}:
            raise ToolArgumentError(f"patch.apply: path {path!r} is not a file the patch "
                                    f"touches")
    by_norm = {t.norm: t for t in touched}

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        return _apply(ctx, text, by_norm, started)

    fields: dict[str, Any] = {"patch": text}
    if path is not None:
        fields["path"] = path
    return Plan("patch.apply", fields, run, tuple(touched))


def _apply(ctx: ToolContext, text: str, by_norm: Mapping[str, files.Target],
           started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
    """Compute every file's new content (a file may appear in several sections), then write
    and delete."""
    sections = patching.parse_hunks(text)
    materials: dict[str, str] = {}
    original: dict[str, str | None] = {}
    state: dict[str, str | None] = {}  # target path → content so far (None: absent)
    modes: dict[str, int] = {}
    report: list[dict[str, Any]] = []

    def target(raw: str) -> str:
        return by_norm[ctx.locate(raw).norm].path

    def load(path: str) -> str | None:
        if path not in state:
            content: str | None = None
            if files.lstat_target(path) is not None:
                got = files.read_file(path, max_bytes=64 * _MIB, hardlinks_ok=ctx.hardlinks_ok)
                if got.truncated:
                    raise PatchApplyError(f"{ctx.shown(path)} is larger than 64 MiB")
                materials[path] = got.sha256
                content = got.data.decode("utf-8", "surrogateescape")
            state[path] = original[path] = content
        return state[path]

    for section in sections:
        old = None if section.old_path is None else target(section.old_path)
        new = None if section.new_path is None else target(section.new_path)
        name = ctx.shown(new or old or "")
        if old is None:
            assert new is not None
            if load(new) is not None:
                raise PatchApplyError(f"{name} already exists; the patch creates it")
            before = ""
        else:
            current = load(old)
            if current is None:
                raise PatchApplyError(f"{ctx.shown(old)} does not exist")
            before = current
        after, offsets = patching.apply_hunks(before, section.hunks, name)
        if new is None:
            assert old is not None
            if after:
                raise PatchApplyError(f"{name}: the patch deletes the file but leaves lines "
                                      f"in it")
            state[old] = None
            change = "deleted"
        else:
            if old is not None and old != new:
                if load(new) is not None:
                    raise PatchApplyError(f"{name} already exists; the patch renames "
                                          f"{ctx.shown(old)} onto it")
                state[old] = None
            state[new] = after
            if old is None and section.new_mode is not None:
                modes[new] = section.new_mode
            change = "created" if old is None else "modified" if old == new else "renamed"
        report.append({"path": name, "change": change, "hunks": len(section.hunks),
                       "offsets": offsets})
    products: dict[str, str] = {}
    for path, content in state.items():
        if content is not None and content != original[path]:
            products[path] = files.write_file(
                path, content.encode("utf-8", "surrogateescape")).sha256
            if path in modes:
                _chmod(path, modes[path])
    for path, content in state.items():
        if content is None and original[path] is not None:
            files.delete_entry(path)
    return {"files": report}, Observation(started, products=products, materials=materials)


def _chmod(path: str, mode: int) -> None:
    import os

    parent, name = posixpath.split(path)
    fd = files.open_dir(parent, verb="chmod")
    try:
        os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)
    except NotImplementedError:  # lchmod: only where the platform has it
        pass
    except OSError as exc:
        raise ToolIOError(f"cannot set the mode of {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _command(tool: str, default_timeout: float) -> Callable[[ToolContext, Arguments], Plan]:
    def plan(ctx: ToolContext, args: Arguments) -> Plan:
        command = args.optional_text("command")
        argv = args.strings("argv")
        if (command is None) == (argv is None):
            raise ToolArgumentError(f"{tool}: give exactly one of command and argv")
        where = ctx.locate(args.text("cwd", "."))
        ws = ctx.workspace
        for cwd in (where.norm, where.path):  # a symlink may not lead out either
            if not ctx.inside(cwd):
                raise ToolArgumentError(f"{tool}: cwd {cwd} is outside the workspace {ws}")
        cwd = where.path
        env = args.mapping("env")
        timeout = args.number("timeout", default_timeout, low=0.1, high=24 * 3600)
        request = RunRequest(argv, command, cwd, ws, env or {}, timeout)

        def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
            return _run(ctx, request, started)

        fields: dict[str, Any] = {"command": command} if argv is None else {"argv": argv}
        if env:
            fields["env"] = env
        return Plan("command.exec", fields, run, cwd=cwd, needs="runner")

    return plan


def _run(ctx: ToolContext, request: RunRequest,
         started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
    assert ctx.runner is not None
    before = Snapshot.take(ctx.workspace)
    report = ctx.runner(request)
    changes = before.diff(Snapshot.take(ctx.workspace))
    products: dict[str, str] = {}
    unhashed: list[str] = []
    for path in changes.changed:
        if len(products) >= 2000:
            unhashed.append(path)
            continue
        try:
            products[path] = files.read_file(path, max_bytes=0, hardlinks_ok=True).sha256
        except ToolError:
            unhashed.append(path)  # gone again, or replaced by something else meanwhile
    out = {"exit_status": report.exit_status, "timed_out": report.timed_out,
           "limits_hit": list(report.limits_hit),
           "stdout": report.stdout[:OUTPUT_MAX_BYTES].decode("utf-8", "replace"),
           "stderr": report.stderr[:OUTPUT_MAX_BYTES].decode("utf-8", "replace"),
           "changed": [ctx.shown(p) for p in (*changes.changed, *changes.other)],
           "deleted": [ctx.shown(p) for p in changes.deleted],
           "products_complete": changes.complete and not unhashed,
           "sandbox": report.backend}
    observation = Observation(
        report.started, report.ended, report.exit_status,
        stream(report.stdout, size=report.stdout_size, sha256=report.stdout_sha256),
        stream(report.stderr, size=report.stderr_size, sha256=report.stderr_sha256),
        products, {}, report.backend)
    return out, observation


def _fetch(ctx: ToolContext, args: Arguments) -> Plan:
    url = args.text("url")
    if not url.lower().startswith(("http://", "https://")):
        raise ToolArgumentError("http.fetch: url must start with http:// or https://")
    method = args.text("method", "GET").upper()
    if method not in METHODS:
        raise ToolArgumentError(f"http.fetch: method must be one of {', '.join(sorted(METHODS))}")
    body = args.optional_text("body")
    request = FetchRequest(url, method, args.mapping("headers") or {},
                           None if body is None else body.encode("utf-8"),
                           args.number("timeout", 30.0, low=0.1, high=600),
                           args.integer("max_bytes", _MIB, low=0, high=64 * _MIB))

    def run(started: tuple[int, int]) -> tuple[dict[str, Any], Observation]:
        assert ctx.client is not None
        report = ctx.client(request)
        try:
            content, encoding = report.body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            content, encoding = base64.b64encode(report.body).decode("ascii"), "base64"
        size = len(report.body) if report.body_size is None else report.body_size
        head = "\n".join([f"HTTP {report.status}", *(f"{k}: {v}" for k, v in report.headers)])
        out = {"status": report.status, "headers": [list(h) for h in report.headers],
               "body": content, "encoding": encoding, "size": size,
               "truncated": size > len(report.body)}
        return out, Observation(report.started, report.ended, None,
                                stream(report.body, size=report.body_size,
                                       sha256=report.body_sha256),
                                stream(head.encode("utf-8", "replace")), sandbox=report.via)

    fields: dict[str, Any] = {"url": url, "method": method}
    return Plan("network.request", fields, run, needs="client")


Planner = Callable[[ToolContext, Arguments], Plan]
#: Each tool: its planner and the argument names it accepts.
TOOLS: Final[dict[str, tuple[Planner, frozenset[str]]]] = {
    "fs.read": (_fs_read, frozenset({"path", "max_bytes"})),
    "fs.write": (_fs_write, frozenset({"path", "content", "make_dirs"})),
    "fs.list": (_fs_list, frozenset({"path", "max_entries"})),
    "fs.exists": (_fs_exists, frozenset({"path"})),
    "fs.delete": (_fs_delete, frozenset({"path"})),
    "search.grep": (_grep, frozenset({"pattern", "path", "fixed", "ignore_case", "include",
                                      "max_matches", "max_file_bytes"})),
    "search.glob": (_glob, frozenset({"pattern", "path", "max_results"})),
    "patch.apply": (_patch, frozenset({"patch", "path"})),
    "shell.exec": (_command("shell.exec", 120.0), frozenset({"command", "argv", "cwd", "env",
                                                             "timeout"})),
    "test.run": (_command("test.run", 600.0), frozenset({"command", "argv", "cwd", "env",
                                                         "timeout"})),
    "http.fetch": (_fetch, frozenset({"url", "method", "headers", "body", "timeout",
                                      "max_bytes"})),
}
