"""The Landlock-only backend: for machines without user namespaces. Weaker, and labelled so.

The command runs as a child of :mod:`codor.sandbox.landlock_exec`, which drops every
capability, restricts itself with Landlock and seccomp, and execs it. What it gives:
the host filesystem read-only (credential stores unreadable) except the workspace,
``sandbox.writable`` and a private temporary directory (``TMPDIR``); no unix sockets, no
io_uring/ptrace/bpf/namespaces (seccomp); only TCP (other socket types are refused), and with
Landlock ABI >= 4 TCP only to the proxy's port (``network: none``: no TCP at all); with ABI >= 6
no signals to or abstract sockets of processes outside. What it cannot give: a private pid
namespace (host processes stay visible in ``/proc``), protected paths *inside* the writable
workspace (Landlock only grants, it cannot take a right back for a sub-path), a private
``/tmp`` for programs that ignore ``TMPDIR``, and confinement of the proxy port by address
(any host on that port is reachable), so ``network: proxy`` is not isolation here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from functools import cache, lru_cache

from codor.errors import SandboxSetupError, SandboxUnavailableError
from codor.sandbox.limits import rlimit_table
from codor.sandbox.result import RunResult
from codor.sandbox.seccomp import build_filter, host_arch
from codor.sandbox.spec import SandboxSpec
from codor.sandbox.supervisor import Launch, OnStarted, supervise

__all__ = ["LandlockBackend", "abi_version", "readable_roots"]

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "landlock_exec.py")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/ptmx", "/dev/pts")
_MAX_CARVE = 20000  # rules at most when carving hidden paths out of the readable tree


@cache
def abi_version() -> int:
    """The kernel's Landlock ABI (0: unavailable). Probed once, in this process."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return int(result) if result > 0 else 0


def readable_roots(hidden: list[str], keep: list[str]) -> list[str]:
    """Directories (and files) to grant read access beneath so that ``/`` is readable except
    the ``hidden`` paths: each directory on the way to a hidden path is replaced by its
    entries. ``keep`` (the workspace...) is always readable.

    Cached per arguments: an entry that appears later in a carved directory is simply not
    readable (the safe direction), so a stale answer never exposes a hidden path."""
    return list(_readable_roots(tuple(hidden), tuple(keep)))


@lru_cache(maxsize=32)
def _readable_roots(hidden: tuple[str, ...], keep: tuple[str, ...]) -> tuple[str, ...]:
    hide = {h.rstrip("/") or "/" for h in hidden}
    hide = {h for h in hide if not any(k == h or k.startswith(h + "/") for k in keep)}
    out: list[str] = []

    def carve(directory: str) -> None:
        if len(out) > _MAX_CARVE:
            raise SandboxSetupError(
                f"hiding {sorted(hide)} from the Landlock sandbox needs more than {_MAX_CARVE} "
                f"rules (a directory on the way, such as {directory}, has too many entries)")
        prefix = directory.rstrip("/") + "/"
        if not any(h.startswith(prefix) for h in hide):
            out.append(directory)
            return
        try:
            entries = os.listdir(directory)
        except OSError:
            return
        for name in entries:
            child = prefix + name
            if child in hide or os.path.islink(child):
                continue  # a link's target is granted (or not) under its own path
            if os.path.isdir(child):
                carve(child)
            else:
                out.append(child)

    carve("/")
    return tuple(out)


class LandlockBackend:
    """Landlock + seccomp + dropped capabilities, no namespaces (see the module docstring)."""

    name = "landlock"

    def available(self) -> tuple[bool, str]:
        if sys.platform != "linux":
            return False, "Landlock is a Linux feature"
        if host_arch() is None:
            return False, "no seccomp filter for this CPU architecture"
        abi = abi_version()
        if abi < 1:
            return False, ("Landlock is not enabled in this kernel (needs Linux >= 5.13 with "
                           "lsm=landlock)")
        net = "TCP port rules" if abi >= 4 else "no network rules (ABI < 4)"
        return True, f"Landlock ABI {abi} ({net}) via {sys.executable}"

    def guarantees(self, network: str = "proxy") -> frozenset[str]:
        have = {"readonly_root", "hidden_paths", "host_sockets", "syscall_filter",
                "no_privileges", "resource_limits"}
        if network == "none" and abi_version() >= 4:
            have.add("network_isolation")
        return frozenset(have)

    def config(self, spec: SandboxSpec, tmpdir: str, release_fd: int | None) -> dict[str, object]:
        """What the helper applies (JSON on its command line)."""
        writable = [spec.workspace, *spec.writable, tmpdir]
        hidden = [h for h in spec.hidden if os.path.lexists(h.rstrip("/"))]
        arch = host_arch()
        if arch is None:
            raise SandboxUnavailableError("no seccomp filter for this CPU architecture")
        return {
            "arch": arch,
            "read": readable_roots(hidden, [spec.workspace, *spec.writable]),
            "write": writable,
            "devices": [d for d in _DEVICES if os.path.exists(d)],
            "network": True,
            "connect_tcp": [spec.proxy_port] if spec.network == "proxy" else [],
            "rlimits": rlimit_table(spec.limits),
            "seccomp": build_filter(inet_stream_only=True).hex(),
            "release_fd": release_fd,
        }

    def argv(self, spec: SandboxSpec, config: dict[str, object]) -> list[str]:
        return [sys.executable, "-I", "-S", HELPER, json.dumps(config), "--", *spec.argv]

    def explain(self, spec: SandboxSpec) -> str:
        writable = [spec.workspace, *spec.writable, "<private TMPDIR>"]
        reads = readable_roots([h for h in spec.hidden if os.path.lexists(h.rstrip("/"))],
                               writable)
        ports = [spec.proxy_port] if spec.network == "proxy" else []
        lines = [f"backend: {self.name} (weaker: no pid/mount/network namespaces)",
                 f"helper: {sys.executable} -I -S {HELPER} CONFIG -- "
                 + " ".join(spec.argv),
                 f"read-only: / ({len(reads)} rules; hidden paths carved out)",
                 "read-write: " + ", ".join(writable),
                 f"tcp connect: {ports or 'none'}",
                 f"environment: {len(spec.env)} variables; removed: "
                 + (", ".join(spec.scrubbed) or "none")]
        return "\n".join(lines)

    def run(self, spec: SandboxSpec, *, stdin: bytes | None = None,
            inherit_stdio: bool = False, on_started: OnStarted | None = None,
            missing: tuple[str, ...] = ()) -> RunResult:
        ok, why = self.available()
        if not ok:
            raise SandboxUnavailableError(f"landlock backend: {why}")
        tmpdir = tempfile.mkdtemp(prefix="codor-sandbox-")
        release_r, release_w = os.pipe()
        try:
            cfg = self.config(spec, tmpdir, release_r)
        except BaseException:
            os.close(release_r)
            os.close(release_w)
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        env = spec.env_dict()
        env["TMPDIR"] = tmpdir
        launch = Launch(argv=self.argv(spec, cfg), env=env, cwd=spec.cwd,
                        child_fds=(release_r,), release_fd=release_w, rlimits=False,
                        kill_group_on_exit=True,
                        cleanup=[lambda: shutil.rmtree(tmpdir, ignore_errors=True)])
        return supervise(launch, backend=self.name, argv=spec.argv, limits=spec.limits,
                         stdin=stdin, inherit_stdio=inherit_stdio, on_started=on_started,
                         missing=missing, setup_error=(126, b"codor-landlock: cannot"))
