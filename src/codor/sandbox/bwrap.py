"""The bubblewrap backend (default on Linux): namespaces, a read-only host, seccomp.

One run is ``bwrap`` with a new user (capabilities dropped), pid, network, ipc, uts and cgroup
namespace, nested user namespaces disabled, a new session and ``--die-with-parent``. The host
root is bound read-only; ``/dev``, ``/proc``, ``/tmp``, ``/var/tmp`` and ``/run`` are fresh (no
host unix socket, D-Bus or ssh-agent in reach); the workspace and ``sandbox.writable`` are
bound read-write; protected paths inside them are re-bound read-only, and every directory
between a writable root and a protected path is bound onto itself so it is a mount point
that cannot be renamed away (``mv .git .g && mkdir -p .git/hooks`` fails with EBUSY).

A protected path that does not exist is masked: its first missing component gets an empty
read-only directory (``--tmpfs`` + ``--remount-ro``), so nothing can be created there — also
for files such as ``.mcp.json``: an empty directory is invisible to ``git add -A`` and
``git status``, where a ``/dev/null`` character device would make ``git add`` fail. A
workspace without ``.git`` therefore gets a read-only ``.git``: ``git init`` of the workspace
root fails inside (run it before). bubblewrap has to create each such mount point in the host
directory (an empty directory); :mod:`codor.sandbox.mountpoints` keeps them while this
process may run more sandboxes there and removes them (if still empty) when the last CODOR
process leaves. The seccomp filter comes from :mod:`codor.sandbox.seccomp`.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

from codor.errors import SandboxSetupError, SandboxUnavailableError
from codor.sandbox.forwarder import resolv_conf
from codor.sandbox.mountpoints import mount_points
from codor.sandbox.result import RunResult
from codor.sandbox.seccomp import build_filter, host_arch
from codor.sandbox.spec import SandboxSpec
from codor.sandbox.supervisor import Launch, OnStarted, supervise

__all__ = ["BubblewrapBackend", "MountPlan", "plan_mounts"]

_NAMESPACES = ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
               "--unshare-uts", "--unshare-cgroup-try")
_FRESH_DIRS = ("/tmp", "/var/tmp", "/run")  # noqa: S108 - replaced by empty tmpfs
# Mount order at one path: system dirs, writable binds, pins, protected, hidden.
_SYSTEM, _WRITABLE, _PIN, _PROTECT, _HIDE = range(5)
_Add = Callable[..., None]  # add(kind, path, *bwrap_args)


@dataclass(frozen=True, slots=True)
class MountPlan:
    """The filesystem part of a bwrap command line, computed from a spec and the disk."""

    args: tuple[str, ...]
    created: tuple[str, ...]     # mount points bwrap will create on the host (cleaned up)
    pinned: tuple[str, ...]      # directories bound onto themselves (cannot be renamed)

    def describe(self) -> list[str]:
        out, args = [], list(self.args)
        i = 0
        while i < len(args):
            op = args[i]
            n = 1 if op in ("--remount-ro", "--tmpfs", "--dev", "--proc") else 2
            out.append(" ".join((op, *args[i + 1:i + 1 + n])))
            i += 1 + n
        return out


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _runtime_prefixes() -> tuple[str, ...]:
    """The Python installation CODOR runs from (its virtualenv and base), when it lies under
    a directory the sandbox replaces with an empty tmpfs (a checkout in /tmp): bound
    read-only at the same place so ``sys.executable`` and its packages work inside."""
    out: list[str] = []
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        real = os.path.realpath(prefix)
        if any(_inside(real, d) for d in _FRESH_DIRS) and os.path.isdir(real):
            out.append(real)
    return tuple(out)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None


@cache
def _fresh_dirs() -> tuple[str, ...]:
    return tuple(d for d in _FRESH_DIRS if os.path.isdir(d) and not os.path.islink(d))


@lru_cache(maxsize=64)
def _static(spec: SandboxSpec) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...],
                                         tuple[str, ...]]:
    """What a spec's plan needs that does not depend on the disk: the writable roots, each
    protected path with its writable root (shortest first), the hidden candidates."""
    writable = (spec.workspace, *spec.writable)
    by_length = sorted(writable, key=len, reverse=True)
    protected = []
    for path in sorted({e.rstrip("/") for e in spec.protected}, key=len):
        owner = next((r for r in by_length if _inside(path, r)), None)
        if owner is not None and path != owner:  # else the read-only host covers it
            protected.append((path, owner))
    hidden = tuple(dict.fromkeys(e.rstrip("/") for e in spec.hidden))
    return writable, tuple(protected), hidden


def plan_mounts(spec: SandboxSpec, ours: frozenset[str] = frozenset()) -> MountPlan:
    """Mount operations for ``spec`` given what exists on disk now (a few ``lstat`` calls).

    ``ours``: empty directories CODOR created as mount points earlier (they are masked as if
    missing, and stay listed in ``created``)."""
    ops: list[tuple[int, int, int, tuple[str, ...]]] = []  # (depth, kind, seq, args)

    def add(kind: int, path: str, *args: str) -> None:
        ops.append((path.count("/"), kind, len(ops), args))

    writable, protected, hidden = _static(spec)
    for d in _fresh_dirs():
        add(_SYSTEM, d, "--tmpfs", d)
    for root in writable:
        add(_WRITABLE, root, "--bind", root, root)
    for prefix in _runtime_prefixes():  # CODOR's own interpreter, when a fresh dir hides it
        add(_WRITABLE, prefix, "--ro-bind", prefix, prefix)
    created: list[str] = []
    pinned: dict[str, None] = {}
    covered: list[str] = []  # protected already (read-only or masked), with all beneath
    for path, owner in protected:
        if not any(_inside(path, c) for c in covered):
            covered.append(_protect(path, owner, add, created, pinned, ours))
    keep = (spec.workspace, spec.cwd, *spec.writable)
    for path in hidden:
        _hide(path, keep, add)
    ops.sort(key=lambda op: (op[0], op[1], op[2]))
    args: list[str] = []
    for _depth, _kind, _seq, op_args in ops:
        args += op_args
    return MountPlan(tuple(args), tuple(created), tuple(pinned))


def _protect(path: str, root: str, add: _Add, created: list[str],
             pinned: dict[str, None], ours: frozenset[str]) -> str:
    """Mount ops making ``path`` read-only; returns the path actually made read-only
    (``path`` or its first missing ancestor, or an ancestor that is a file)."""
    rel = path[len(root.rstrip("/")) + 1:].split("/")
    current = root.rstrip("/")
    for i, part in enumerate(rel):
        current = f"{current}/{part}"
        last = i == len(rel) - 1
        st = None if current in ours else _lstat(current)
        if st is None:  # missing: an empty read-only directory at the first missing component
            add(_PROTECT, current, "--tmpfs", current)
            add(_PROTECT, current, "--remount-ro", current)
            if current not in created:
                created.append(current)
            return current
        if stat.S_ISLNK(st.st_mode):
            raise SandboxSetupError(
                f"protected path {path}: {current} is a symbolic link, which a read-only "
                "mount cannot pin (the link could be replaced); make it a real file or "
                "directory, or remove it")
        if last or not stat.S_ISDIR(st.st_mode):
            add(_PROTECT, current, "--ro-bind", current, current)
            return current
        if current not in pinned:
            pinned[current] = None
            add(_PIN, current, "--bind", current, current)
    return path


def _hide(path: str, keep: tuple[str, ...], add: _Add) -> None:
    st = _lstat(path)
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        path = os.path.realpath(path)
        try:
            st = os.stat(path)
        except OSError:
            return
    if any(_inside(k, path) for k in keep):
        return  # hiding it would hide the workspace
    if any(_inside(path, d) for d in _FRESH_DIRS) and not any(_inside(path, k) for k in keep):
        return  # inside a fresh tmpfs already
    if stat.S_ISDIR(st.st_mode):
        add(_HIDE, path, "--tmpfs", path)
        add(_HIDE, path, "--remount-ro", path)
    else:
        add(_HIDE, path, "--ro-bind", "/dev/null", path)


@cache
def _probe(bwrap: str) -> tuple[bool, str, tuple[str, ...]]:
    true = shutil.which("true") or "/bin/true"
    base = [bwrap, *_NAMESPACES, "--cap-drop", "ALL", "--ro-bind", "/", "/"]
    for extra in (("--disable-userns",), ()):
        try:
            proc = subprocess.run([*base[:1], *extra, *base[1:], true], capture_output=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"{bwrap} does not run: {exc}", ()
        if proc.returncode == 0:
            return True, "", extra
        error = proc.stderr.decode("utf-8", "replace").strip()
    hint = ""
    if "namespace" in error.lower() or "permission" in error.lower():
        hint = (" — user namespaces look disabled: enable them (sysctl "
                "kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0, or on "
                "Ubuntu kernel.apparmor_restrict_unprivileged_userns=0 / an AppArmor profile "
                "for bwrap)")
    return False, f"bwrap cannot create its namespaces: {error}{hint}", ()


class BubblewrapBackend:
    """Namespaces + read-only host + seccomp via bubblewrap. Every guarantee."""

    name = "bubblewrap"

    def __init__(self, bwrap: str | None = None) -> None:
        self._bwrap = bwrap

    def _path(self) -> str | None:
        return self._bwrap or shutil.which("bwrap")

    def available(self) -> tuple[bool, str]:
        path = self._path()
        if path is None or not os.access(path, os.X_OK):
            return False, f"bwrap is not installed{f' at {path}' if path else ''} " \
                          "(apt-get install bubblewrap)"
        if host_arch() is None:
            return False, "no seccomp filter for this CPU architecture"
        ok, why, _extra = _probe(path)
        return (True, f"{path} works (user namespaces available)") if ok else (False, why)

    def guarantees(self, network: str = "proxy") -> frozenset[str]:
        from codor.sandbox.backends import ALL_GUARANTEES

        return ALL_GUARANTEES

    def argv(self, spec: SandboxSpec, plan: MountPlan | None = None,
             fds: Mapping[str, int | str] | None = None) -> list[str]:
        """The bwrap command line (``fds`` names the descriptors: seccomp, info, block,
        resolv; placeholders when explaining)."""
        path = self._path()
        if path is None:
            raise SandboxUnavailableError("bwrap is not installed (apt-get install bubblewrap)")
        ok, why, extra = _probe(path)
        if not ok:
            raise SandboxUnavailableError(why)
        plan = plan or plan_mounts(spec)
        f = fds or {name: f"<{name}-fd>" for name in ("seccomp", "info", "block", "resolv")}
        args = [path, *_NAMESPACES, *extra, "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                *plan.args]
        if spec.network == "proxy":
            args += ["--perms", "0644", "--ro-bind-data", str(f["resolv"]), "/etc/resolv.conf"]
        args += ["--seccomp", str(f["seccomp"]), "--info-fd", str(f["info"]),
                 "--block-fd", str(f["block"]), "--chdir", spec.cwd, "--", *spec.argv]
        return args

    def explain(self, spec: SandboxSpec) -> str:
        plan = plan_mounts(spec)
        lines = [f"backend: {self.name}", "command line:",
                 "  " + " ".join(_quote(a) for a in self.argv(spec, plan)),
                 "mounts (in order):", *("  " + m for m in plan.describe())]
        if plan.created:
            lines.append("empty directories created on the host as mount points for missing "
                         "protected paths (removed when CODOR exits):")
            lines += ["  " + p for p in plan.created]
        lines.append(f"environment: {len(spec.env)} variables; removed: "
                     + (", ".join(spec.scrubbed) or "none"))
        return "\n".join(lines)

    def run(self, spec: SandboxSpec, *, stdin: bytes | None = None,
            inherit_stdio: bool = False, on_started: OnStarted | None = None,
            missing: tuple[str, ...] = ()) -> RunResult:
        registry = mount_points()
        ours = registry.ours(spec.workspace)
        plan = plan_mounts(spec, ours)
        registry.record(spec.workspace, (p for p in plan.created if p not in ours))
        seccomp_r, seccomp_w = os.pipe()
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        child = [seccomp_r, info_w, block_r]
        fds: dict[str, int | str] = {"seccomp": seccomp_r, "info": info_w, "block": block_r,
                                     "resolv": -1}
        try:
            os.write(seccomp_w, build_filter())
            os.close(seccomp_w)
            if spec.network == "proxy":
                resolv_r, resolv_w = os.pipe()
                os.write(resolv_w, resolv_conf().encode())
                os.close(resolv_w)
                child.append(resolv_r)
                fds["resolv"] = resolv_r
            argv = self.argv(spec, plan, fds)
        except BaseException:
            for fd in (*child, info_r, block_w):
                os.close(fd)
            raise
        env = spec.env_dict()
        env["TMPDIR"] = "/tmp"  # noqa: S108 - a fresh tmpfs inside
        launch = Launch(argv=argv, env=env, cwd=None, child_fds=tuple(child),
                        info_fd=info_r, release_fd=block_w)
        return supervise(launch, backend=self.name, argv=spec.argv, limits=spec.limits,
                         stdin=stdin, inherit_stdio=inherit_stdio, on_started=on_started,
                         missing=missing, setup_error=(1, b"bwrap: "))


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
