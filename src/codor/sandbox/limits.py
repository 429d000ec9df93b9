"""Resource limits for a sandboxed process tree: cgroups when writable, rlimits otherwise.

Limits are applied from the outside to the sandbox's first process while it is still blocked
(bubblewrap's ``--block-fd``, the Landlock helper's release pipe), so every process of the
sandbox inherits them and no ``preexec_fn`` slows the spawn. Memory and process count go to a
cgroup (:mod:`codor.sandbox.cgroups`) when one is usable; rlimits always carry CPU time
(``RLIMIT_CPU``, per process), file size (``RLIMIT_FSIZE``), open files (``RLIMIT_NOFILE``),
no core dumps, and ``RLIMIT_DATA`` / ``RLIMIT_NPROC`` for what no cgroup covers.
``RLIMIT_NPROC`` does not bind root (the kernel exempts it), which is why a cgroup matters
for fork bombs; :func:`enforcement` says which mechanism enforces what.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from typing import TypeVar

from codor.policy.sandbox_section import Limits
from codor.sandbox.cgroups import CgroupSupport, Group, cgroup_support, pool

__all__ = ["LimitHandle", "apply_limits", "enforcement", "prepare_limits", "rlimit_table"]

_MIB = 1 << 20
T = TypeVar("T")


def enforcement(limits: Limits, support: CgroupSupport | None = None) -> dict[str, str]:
    """Which mechanism enforces each limit (reported in every RunResult and by doctor)."""
    cg = support or cgroup_support()
    have = cg.controllers()
    label = f"cgroup v{cg.version}"
    root = os.geteuid() == 0
    return {
        "wall": "supervisor (kills the whole sandbox)" if limits.wall_seconds else "none",
        "cpu": "rlimit RLIMIT_CPU (per process)" if limits.cpu_seconds else "none",
        "memory": label if "memory" in have else "rlimit RLIMIT_DATA (per process)",
        "processes": label if "pids" in have else (
            "rlimit RLIMIT_NPROC (per user; root is exempt)" if root
            else "rlimit RLIMIT_NPROC (per user)"),
        "file_size": "rlimit RLIMIT_FSIZE",
        "open_files": "rlimit RLIMIT_NOFILE",
        "output": "supervisor (first bytes kept, all hashed)",
    }


class LimitHandle:
    """One run's limits: its cgroup (if any), starting the process inside it, applying rlimits
    to it, what the group caught, and giving the group back to the pool."""

    __slots__ = ("_group", "_inside")

    def __init__(self, group: Group | None = None) -> None:
        self._group = group
        self._inside = False

    def spawn(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` (it starts the sandbox's process) so that the process is born in the
        group when the group allows it (cgroup v1 spawner thread)."""
        if self._group is None:
            return fn()
        result, self._inside = self._group.spawn(fn)
        return result

    def apply(self, pid: int, limits: Limits, *, rlimits: bool = True) -> None:
        """Put ``pid`` (blocked, not yet running the command) under ``limits``: into the group
        unless it was born there, and rlimits for what the group does not cover."""
        if self._group is not None and not self._inside:
            self._group.attach(pid)
        if rlimits:
            have = frozenset(c for c, _ in self._group.dirs) if self._group else frozenset()
            for res, soft, hard in _rlimits(limits, have):
                resource.prlimit(pid, res, (soft, hard))

    def hits(self) -> list[str]:
        return self._group.hits() if self._group is not None else []

    def kill(self) -> None:
        if self._group is not None:
            self._group.kill()

    def close(self) -> None:
        """Kill leftovers (processes that escaped the session) and release the group."""
        group, self._group = self._group, None
        p = pool()
        if group is not None and p is not None:
            p.release(group)


def _rlimits(limits: Limits, have: frozenset[str]) -> list[tuple[int, int, int]]:
    out = [(resource.RLIMIT_FSIZE, limits.file_size_mb * _MIB, limits.file_size_mb * _MIB),
           (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
           (resource.RLIMIT_CORE, 0, 0)]
    if limits.cpu_seconds:  # SIGXCPU at the soft limit, SIGKILL a little later
        out.append((resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 2))
    if "memory" not in have:
        out.append((resource.RLIMIT_DATA, limits.memory_mb * _MIB, limits.memory_mb * _MIB))
    if "pids" not in have:
        out.append((resource.RLIMIT_NPROC, limits.processes, limits.processes))
    clamped = []
    for res, soft, hard in out:
        cur_hard = resource.getrlimit(res)[1]
        top = hard if cur_hard == resource.RLIM_INFINITY else min(hard, cur_hard)
        clamped.append((res, min(soft, top), top))
    return clamped


def rlimit_table(limits: Limits, *, cgroups: bool = True) -> list[tuple[int, int, int]]:
    """``(resource, soft, hard)`` for what no cgroup covers (the Landlock helper sets them)."""
    have = cgroup_support().controllers() if cgroups else frozenset()
    return _rlimits(limits, have)


def prepare_limits(limits: Limits) -> LimitHandle:
    """Take a cgroup for one run (before its process starts); see :class:`LimitHandle`."""
    p = pool()
    return LimitHandle(p.acquire(limits.memory_mb * _MIB, limits.processes)
                       if p is not None else None)


def apply_limits(pid: int, limits: Limits, *, rlimits: bool = True) -> LimitHandle:
    """Put an already started, blocked ``pid`` under ``limits`` (moved into a cgroup)."""
    handle = prepare_limits(limits)
    handle.apply(pid, limits, rlimits=rlimits)
    return handle
