"""Control groups for sandboxes: detecting a usable hierarchy, and a pool of groups.

Detection (:func:`cgroup_support`), best first: a cgroup v2 child group when this process's
own v2 group has the ``memory`` and ``pids`` controllers and may hold children; else a
cgroup v1 child group in the ``memory`` and ``pids`` hierarchies (hybrid layouts); else none.

Making and removing a group costs about a millisecond, and moving a process into one
(``cgroup.procs``) waits for an RCU grace period (~5 ms when the system is quiet). So groups
are pooled — a sandbox takes a free group with the same limits (or a new one) and gives it
back once every process in it is gone — and in cgroup v1, where threads are placed one by
one, each group keeps a *spawner thread* of this process inside it: the sandbox is started
from that thread and so is born in the group, with no migration at all. (cgroup v2 keeps the
threads of a process together; there the first process is moved in while it is blocked.)
Counters (``pids.events max``, ``oom_kill``) are read at the start and the end of a run, so a
reused group reports only what happened in that run. Pooled groups are removed at exit;
groups left by a CODOR process that died are removed the next time a pool starts.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

__all__ = ["CgroupSupport", "Group", "GroupPool", "cgroup_support", "pool"]

_WANTED = ("memory", "pids")
_PREFIX = "codor-"
_counter = itertools.count()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CgroupSupport:
    """Which cgroup mechanism this process can use, and why (for ``codor doctor``)."""

    version: int                          # 2, 1, or 0 when none is usable
    dirs: tuple[tuple[str, str], ...]     # controller -> directory new groups are made in
    reason: str

    def controllers(self) -> frozenset[str]:
        return frozenset(c for c, _ in self.dirs)


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fstype, super options) of every cgroup mount."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields, rest = left.split(), right.split()
                if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
                    out.append((fields[4].replace("\\040", " "), rest[0], rest[2]))
    except OSError:
        pass
    return out


def _own_groups() -> dict[str, str]:
    """``/proc/self/cgroup``: controller list (``""`` for v2) -> this process's group path."""
    out = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    out[parts[1]] = parts[2]
    except OSError:
        pass
    return out


def _probe(parent: str, needed: tuple[str, ...], v2: bool) -> str | None:
    """Make and remove a child group; ``None`` if it works, else why not."""
    if not os.access(parent, os.W_OK):
        return f"{parent} is not writable"
    probe = os.path.join(parent, f"codor-probe-{os.getpid()}-{next(_counter)}")
    try:
        os.mkdir(probe)
    except OSError as exc:
        return f"cannot create a group in {parent}: {exc.strerror}"
    try:
        if v2:
            with open(os.path.join(probe, "cgroup.controllers"), encoding="ascii") as fh:
                have = set(fh.read().split())
            if not set(needed) <= have:
                return f"controllers {', '.join(sorted(set(needed) - have))} not delegated"
        return None
    except OSError as exc:
        return f"cannot read {probe}: {exc.strerror}"
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(probe)


def _v2(mounts: list[tuple[str, str, str]], groups: dict[str, str]) -> tuple[CgroupSupport | None,
                                                                             str]:
    mount = next((m for m, kind, _ in mounts if kind == "cgroup2"), None)
    if mount is None or "" not in groups:
        return None, "no cgroup v2 hierarchy"
    parent = os.path.normpath(mount + groups[""])
    try:
        with open(os.path.join(parent, "cgroup.controllers"), encoding="ascii") as fh:
            available = set(fh.read().split())
    except OSError as exc:
        return None, f"cgroup v2 at {parent} unreadable: {exc.strerror}"
    missing = [c for c in _WANTED if c not in available]
    if missing:
        return None, (f"cgroup v2 at {mount} lacks the {', '.join(missing)} controller(s) "
                      "(a hybrid layout keeps them in v1)")
    try:
        with open(os.path.join(parent, "cgroup.subtree_control"), encoding="ascii") as fh:
            enabled = set(fh.read().split())
        if not set(_WANTED) <= enabled:
            with open(os.path.join(parent, "cgroup.subtree_control"), "w",
                      encoding="ascii") as fh:
                fh.write(" ".join(f"+{c}" for c in _WANTED))
    except OSError as exc:
        return None, (f"cannot enable memory and pids for children of {parent} "
                      f"({exc.strerror}); run CODOR in a delegated cgroup "
                      "(systemd-run --user --scope -p Delegate=yes)")
    why = _probe(parent, _WANTED, True)
    if why:
        return None, f"cgroup v2: {why}"
    return CgroupSupport(2, tuple((c, parent) for c in _WANTED), f"cgroup v2 at {parent}"), ""


def _v1(mounts: list[tuple[str, str, str]], groups: dict[str, str]) -> tuple[CgroupSupport | None,
                                                                             str]:
    dirs: list[tuple[str, str]] = []
    notes: list[str] = []
    for controller in _WANTED:
        mount = next((m for m, kind, opts in mounts
                      if kind == "cgroup" and controller in opts.split(",")), None)
        own = next((path for names, path in groups.items()
                    if controller in names.split(",")), None)
        if mount is None or own is None:
            notes.append(f"no v1 {controller} hierarchy")
            continue
        parent = os.path.normpath(mount + own)
        why = _probe(parent, (controller,), False)
        if why:
            notes.append(f"v1 {controller}: {why}")
        else:
            dirs.append((controller, parent))
    if not dirs:
        return None, "; ".join(notes)
    where = ", ".join(f"{c} at {d}" for c, d in dirs)
    return CgroupSupport(1, tuple(dirs), f"cgroup v1 ({where})"), "; ".join(notes)


@cache
def cgroup_support() -> CgroupSupport:
    """Detect (once per process) the best usable cgroup mechanism."""
    mounts, groups = _mounts(), _own_groups()
    found, why2 = _v2(mounts, groups)
    if found:
        return found
    found1, why1 = _v1(mounts, groups)
    if found1:
        return CgroupSupport(1, found1.dirs, f"{found1.reason}; not v2: {why2}")
    return CgroupSupport(0, (), f"no writable cgroup ({why2}; {why1}); rlimits only")


def _event(path: str, name: str, key: str) -> int:
    try:
        with open(os.path.join(path, name), encoding="ascii") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 2 and parts[0] == key:
                    return int(parts[1])
    except (OSError, ValueError):
        pass
    return 0


def _write(path: str, name: str, value: str) -> bool:
    try:
        with open(os.path.join(path, name), "w", encoding="ascii") as fh:
            fh.write(value)
        return True
    except OSError:
        return False


class _Slot(Generic[T]):
    """One result handed from the spawner thread to the caller."""

    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def set(self, value: T | None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error
        self._done.set()

    def get(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class _Spawner:
    """A thread that lives in a v1 group and starts processes there: a child inherits the
    cgroups of the thread that forks it, so no migration (a write to ``cgroup.procs`` that
    waits for an RCU grace period, ~5 ms) is needed per sandbox."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], _Slot[Any]] | None] = (
            queue.SimpleQueue())
        self.tid: _Slot[int] = _Slot()
        self._thread = threading.Thread(target=self._loop, name="codor-sandbox-spawner",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        self.tid.set(threading.get_native_id())
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, slot = job
            try:
                slot.set(fn())
            except BaseException as exc:  # handed to the caller
                slot.set(None, exc)
            del job, fn, slot  # hold no reference to the caller's objects between jobs

    def call(self, fn: Callable[[], T]) -> T:
        slot: _Slot[T] = _Slot()
        self._jobs.put((fn, slot))
        return slot.get()

    def stop(self) -> None:
        self._jobs.put(None)


class Group:
    """One sandbox's cgroup(s): a directory per hierarchy (v1) or one directory (v2)."""

    __slots__ = ("base", "dirs", "key", "spawner", "version")

    def __init__(self, version: int, dirs: list[tuple[str, str]], key: tuple[int, int]) -> None:
        self.version = version
        self.dirs = dirs            # (controller, directory)
        self.key = key              # (memory bytes, pids.max)
        self.spawner: _Spawner | None = None
        if version == 1:  # v1 places threads individually: start one inside
            spawner = _Spawner()
            tid = str(spawner.tid.get())
            if all(_write(path, "tasks", tid) for path in self.paths()):
                self.spawner = spawner
            else:
                spawner.stop()
        self.base = self.counters()

    def paths(self) -> list[str]:
        return list(dict.fromkeys(p for _c, p in self.dirs))

    def spawn(self, fn: Callable[[], T]) -> tuple[T, bool]:
        """Run ``fn`` (which starts a process) so the process starts inside the group if this
        group has a spawner thread; the flag says whether it did (else :meth:`attach`)."""
        if self.spawner is not None:
            return self.spawner.call(fn), True
        return fn(), False

    def attach(self, pid: int) -> None:
        for path in self.paths():
            _write(path, "cgroup.procs", str(pid))

    def counters(self) -> dict[str, int]:
        out = {}
        for controller, path in self.dirs:
            if controller == "pids":
                out["processes"] = _event(path, "pids.events", "max")
            elif controller == "memory":
                out["memory"] = _event(path, "memory.events" if self.version == 2
                                       else "memory.oom_control", "oom_kill")
        return out

    def hits(self) -> list[str]:
        now = self.counters()
        return [name for name, value in now.items() if value > self.base.get(name, 0)]

    def procs(self) -> list[int]:
        """Processes in the group, except this one (whose spawner thread lives there)."""
        me = os.getpid()
        out: list[int] = []
        for path in self.paths():
            try:
                with open(os.path.join(path, "cgroup.procs"), encoding="ascii") as fh:
                    out += [int(x) for x in fh.read().split() if int(x) != me]
            except (OSError, ValueError):
                pass
        return out

    def kill(self) -> None:
        """SIGKILL every process still in the group (also ones that left the session)."""
        if self.version == 2:
            for path in self.paths():
                _write(path, "cgroup.kill", "1")
        for pid in self.procs():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        if self.spawner is not None:  # the thread must leave before the group can go
            self.spawner.stop()
            self.spawner = None
            time.sleep(0.01)
        ok = True
        for path in self.paths():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok


class GroupPool:
    """Free groups by limits; see the module docstring."""

    def __init__(self, support: CgroupSupport) -> None:
        self.support = support
        self._free: dict[tuple[int, int], list[Group]] = {}
        self._all: list[Group] = []
        self._lock = threading.Lock()
        self._remove_stale()
        atexit.register(self.close)

    def acquire(self, memory_bytes: int, processes: int) -> Group | None:
        key = (memory_bytes, processes)
        with self._lock:
            free = self._free.get(key)
            if free:
                group = free.pop()
                group.base = group.counters()
                return group
        made = self._make(key)
        if made is not None:
            with self._lock:
                self._all.append(made)
        return made

    def release(self, group: Group) -> None:
        """Kill what is left in ``group``; pool it once empty (a thread waits if need be)."""
        group.kill()
        if not group.procs():
            with self._lock:
                self._free.setdefault(group.key, []).append(group)
            return
        threading.Thread(target=self._settle, args=(group,), daemon=True).start()

    def _settle(self, group: Group) -> None:
        for attempt in range(200):
            time.sleep(0.005)
            if not group.procs():
                with self._lock:
                    self._free.setdefault(group.key, []).append(group)
                return
            if attempt % 20 == 19:
                group.kill()

    def close(self) -> None:
        with self._lock:
            groups, self._all, self._free = self._all, [], {}
        for group in groups:
            group.kill()
            for _ in range(50):
                if group.remove():
                    break
                time.sleep(0.01)

    def _make(self, key: tuple[int, int]) -> Group | None:
        cg = self.support
        name = f"{_PREFIX}{os.getpid()}-{next(_counter)}"
        # v1: the spawner thread counts as one task of the group
        memory, processes = str(key[0]), str(key[1] + (1 if cg.version == 1 else 0))
        settings = {  # in this order; a file the kernel lacks is skipped
            "pids": [("pids.max", processes)],
            "memory": [("memory.max", memory), ("memory.swap.max", "0")] if cg.version == 2
            else [("memory.limit_in_bytes", memory), ("memory.memsw.limit_in_bytes", memory)],
        }
        if cg.version == 2:  # one group holds every controller
            jobs = [(cg.dirs[0][1], [c for c, _ in cg.dirs])]
        else:
            jobs = [(parent, [c]) for c, parent in cg.dirs]
        made: list[tuple[str, str]] = []
        for parent, controllers in jobs:
            path = os.path.join(parent, name)
            try:
                os.mkdir(path)
            except OSError:
                continue
            for controller in controllers:
                made.append((controller, path))
                for file, value in settings[controller]:
                    _write(path, file, value)
        return Group(cg.version, made, key) if made else None

    def _remove_stale(self) -> None:
        """Remove empty groups of CODOR processes that no longer exist."""
        for parent in dict.fromkeys(p for _c, p in self.support.dirs):
            try:
                names = os.listdir(parent)
            except OSError:
                continue
            for name in names:
                if not name.startswith(_PREFIX):
                    continue
                owner = name[len(_PREFIX):].split("-", 1)[0]
                if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(parent, name))


@cache
def pool() -> GroupPool | None:
    """This process's pool, or ``None`` when no cgroup is usable."""
    support = cgroup_support()
    return GroupPool(support) if support.version else None
