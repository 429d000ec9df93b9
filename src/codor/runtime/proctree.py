"""Process trees for the adaptive executor (:mod:`codor.runtime.supervisor`): starting one
process in a session of its own (directly, or inside bubblewrap), and reading ``/proc`` once
to find every tree and process group at one instant.

:func:`launch` checks what can be checked before the spawn (working directory, executable on
the environment's ``PATH``) so a typo is a one-line :class:`ProcessStartError`, not a child
that dies at once. Under a sandbox it builds bubblewrap's command line with
:meth:`codor.sandbox.bwrap.BubblewrapBackend.argv` (mount plan, seccomp filter, info and
block descriptors — the sandbox is released at once) and reads the sandbox's first process id
from ``--info-fd``: bubblewrap's init runs the command in a session of its own, whose group
is the run's second group. :class:`Snapshot` parses ``/proc/<pid>/stat`` (parent, process
group, zombie or not, start time) for every process, so the monitor needs one pass per sample
whatever the number of supervised trees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO

from codor.runtime.procspec import ProcessSpec, ProcessStartError

__all__ = ["Launched", "Snapshot", "launch"]

_INFO_TIMEOUT = 10.0      # seconds bubblewrap may take to report its child


# -- /proc ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Stat:
    ppid: int
    pgrp: int
    zombie: bool
    start: int            # start time in clock ticks since boot: with the pid, an identity


class Snapshot:
    """Every process on the machine at one instant: parent, process group, zombie or not."""

    __slots__ = ("by_group", "children", "index", "live_groups")

    def __init__(self, groups: set[int]) -> None:
        self.index: dict[int, _Stat] = {}
        self.children: dict[int, list[int]] = {}
        self.by_group: dict[int, list[int]] = {}
        self.live_groups: set[int] = set()
        try:
            names = os.listdir("/proc")
        except OSError:
            return
        for name in names:
            if not name.isdigit():
                continue
            try:
                fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
                try:
                    data = os.read(fd, 1024)
                finally:
                    os.close(fd)
                rest = data[data.rfind(b")") + 2:].split()
                st = _Stat(int(rest[1]), int(rest[2]), rest[0] in (b"Z", b"X"), int(rest[19]))
            except (OSError, IndexError, ValueError):
                continue
            pid = int(name)
            self.index[pid] = st
            self.children.setdefault(st.ppid, []).append(pid)
            if st.pgrp in groups:
                self.by_group.setdefault(st.pgrp, []).append(pid)
                if not st.zombie:
                    self.live_groups.add(st.pgrp)

    def tree(self, leader: int, groups: Iterable[int]) -> list[int]:
        """The leader, its descendants, and every member of ``groups`` with theirs."""
        todo = [leader, *(pid for g in groups for pid in self.by_group.get(g, ()))]
        seen: set[int] = set()
        out: list[int] = []
        while todo:
            pid = todo.pop()
            if pid in seen or pid not in self.index:
                continue
            seen.add(pid)
            out.append(pid)
            todo.extend(self.children.get(pid, ()))
        return out


# -- starting a process --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Launched:
    popen: subprocess.Popen[bytes]
    groups: tuple[int, ...]        # every group of the run (STOP/CONT/KILL)
    term_groups: tuple[int, ...]   # where SIGTERM goes (the command's own group)


def _check_startable(spec: ProcessSpec, env: Mapping[str, str], cwd: str | None) -> None:
    program = spec.argv[0]
    if cwd is not None and not os.path.isdir(cwd):
        raise ProcessStartError(f"cannot start {spec.name}: working directory {cwd} does not "
                                "exist or is not a directory", location=f"{spec.name}.cwd")
    if "/" in program:
        path = program if cwd is None else os.path.join(cwd, program)
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise ProcessStartError(f"cannot start {spec.name}: {program} is not an "
                                    "executable file", location=f"{spec.name}.argv")
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise ProcessStartError(f"cannot start {spec.name}: executable {program!r} not found "
                                "on PATH", location=f"{spec.name}.argv")


def _bwrap_command(spec: ProcessSpec) -> tuple[list[str], dict[str, str], str, list[int], int]:
    """bwrap's argv and environment for ``spec`` (the sandbox is released at once), the
    descriptors to hand to it, and the read end of its ``--info-fd``."""
    from codor.sandbox.bwrap import BubblewrapBackend, plan_mounts
    from codor.sandbox.mountpoints import mount_points
    from codor.sandbox.seccomp import build_filter

    assert spec.sandbox is not None
    inner = dataclasses.replace(
        spec.sandbox, argv=tuple(spec.argv),
        cwd=os.path.realpath(spec.cwd) if spec.cwd is not None else spec.sandbox.cwd)
    registry = mount_points()
    ours = registry.ours(inner.workspace)
    plan = plan_mounts(inner, ours)
    registry.record(inner.workspace, (p for p in plan.created if p not in ours))
    pipes = [os.pipe() for _ in range(3)]
    (seccomp_r, seccomp_w), (info_r, info_w), (block_r, block_w) = pipes
    try:
        os.write(seccomp_w, build_filter())
        os.write(block_w, b"1")  # released as soon as it is ready: nothing to set up first
        argv = BubblewrapBackend().argv(inner, plan, {"seccomp": seccomp_r, "info": info_w,
                                                      "block": block_r, "resolv": -1})
    except BaseException:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        raise
    os.close(seccomp_w)
    os.close(block_w)
    env = inner.env_dict()
    env["TMPDIR"] = "/tmp"  # noqa: S108 - a fresh tmpfs inside
    return argv, env, inner.cwd, [seccomp_r, info_w, block_r], info_r


def _read_child_pid(fd: int, timeout: float) -> int | None:
    deadline, buf = time.monotonic() + timeout, b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return int(json.loads(buf)["child-pid"])
    return None


def launch(spec: ProcessSpec) -> Launched:
    """Start ``spec`` in a new session; raises ProcessStartError (or the sandbox's errors)."""
    info: int | None = None
    child_fds: list[int] = []
    cwd: str | None
    if spec.sandbox is not None:
        _check_startable(spec, spec.sandbox.env_dict(), None)
        argv, env, cwd, child_fds, info = _bwrap_command(spec)
    else:
        argv, env = list(spec.argv), dict(os.environ if spec.env is None else spec.env)
        cwd = None if spec.cwd is None else os.fspath(spec.cwd)
        _check_startable(spec, env, cwd)
    files: list[IO[bytes]] = []
    try:
        out: IO[bytes] | None = None
        err: IO[bytes] | None = None
        if spec.stdout is not None:
            out = open(spec.stdout, "ab")  # noqa: SIM115 - closed below, after the spawn
            files.append(out)
        if spec.stderr is not None:
            err = open(spec.stderr, "ab")  # noqa: SIM115
            files.append(err)
        popen = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=out or subprocess.DEVNULL, stderr=err or subprocess.DEVNULL,
            close_fds=True, pass_fds=child_fds, start_new_session=True)
    except OSError as exc:
        if info is not None:
            os.close(info)
        raise ProcessStartError(f"cannot start {spec.name}: {argv[0]}: "
                                f"{exc.strerror or exc}", location=spec.name) from exc
    finally:
        for fh in files:
            fh.close()
        for fd in child_fds:
            os.close(fd)
    if info is None:
        return Launched(popen, (popen.pid,), (popen.pid,))
    try:
        inner = _read_child_pid(info, _INFO_TIMEOUT)
    finally:
        os.close(info)
    if inner is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        status = popen.wait()
        raise ProcessStartError(f"cannot start {spec.name}: bubblewrap could not build the "
                                f"sandbox (exit status {status}; its message is in the "
                                "process's stderr file, if one was given)", location=spec.name)
    return Launched(popen, (popen.pid, inner), (inner,))
