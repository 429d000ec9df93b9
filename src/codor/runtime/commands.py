"""``shell.exec`` and ``test.run``: what the router hands to the sandbox, what it gets back, and
how it sees which workspace files a command changed.

The router never starts a process itself: it calls an injected :class:`SandboxRunner` (the
sandbox backend, wired by ``codor run`` and the MCP server) with a :class:`RunRequest` and
records the :class:`RunReport` it returns.

Products of a run are found by a :class:`Snapshot` of the workspace taken before and after
(``lstat`` of every entry, walked with :func:`os.scandir`, no symlink followed): a file whose
(mtime, ctime, size, inode, mode) changed, or that is new, is a product and is hashed
afterwards. ``ctime`` cannot be set from user space, so ``touch -d`` does not hide a change.
``.git`` directories and the workspace's ``.codor`` are not walked (commits and CODOR's own
ledger are not products of the command); deleted files are reported in the result but are not
in the record (their content before the run was never hashed). A workspace of more than
``limit`` entries is walked only that far and the result says the product list is incomplete.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

__all__ = ["RunReport", "RunRequest", "SandboxRunner", "Snapshot", "SnapshotDiff"]

_SKIP_ANYWHERE: Final = frozenset({".git"})
_SKIP_AT_ROOT: Final = frozenset({".codor"})


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One command to run: ``argv`` (exec'd as is) or ``command`` (a shell string for
    ``/bin/sh -c``), exactly one set; ``cwd`` is inside ``workspace``; ``env`` holds only the
    variables the agent asked for (the sandbox adds and scrubs the rest); ``timeout`` in
    seconds of wall time, after which the whole process group is killed."""

    argv: tuple[str, ...] | None
    command: str | None
    cwd: str
    workspace: str
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 120.0

    def __post_init__(self) -> None:
        if (self.argv is None) == (self.command is None):
            raise ValueError("RunRequest needs exactly one of argv and command")


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a runner observed. ``exit_status`` follows ``Popen.returncode`` (negative: the
    signal that killed it). ``stdout``/``stderr`` may be only the beginning of the streams:
    then ``*_size`` and ``*_sha256`` describe the whole stream. ``started``/``ended`` are
    ``(wall_us, mono_us)``. ``backend`` names the sandbox (profile) that confined the run;
    ``limits_hit`` names the limits that stopped it (``wall``, ``memory``, ``output``...)."""

    exit_status: int
    stdout: bytes
    stderr: bytes
    started: tuple[int, int]
    ended: tuple[int, int]
    backend: str
    timed_out: bool = False
    stdout_size: int | None = None
    stderr_size: int | None = None
    stdout_sha256: str | None = None
    stderr_sha256: str | None = None
    limits_hit: tuple[str, ...] = ()


class SandboxRunner(Protocol):
    """Runs one command confined; returns what it observed. Raising a
    :class:`~codor.errors.CodorError` (e.g. no sandbox can give the policy's guarantees)
    means nothing ran."""

    def __call__(self, request: RunRequest) -> RunReport: ...


Stamp = tuple[int, int, int, int, int]  # mtime_ns, ctime_ns, size, inode, mode


@dataclass(frozen=True, slots=True)
class SnapshotDiff:
    changed: tuple[str, ...]  # new or modified regular files (absolute paths)
    other: tuple[str, ...]  # new or modified symlinks and special files
    deleted: tuple[str, ...]
    complete: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """``lstat`` stamps of every entry under a workspace (see the module notes)."""

    root: str
    stamps: Mapping[str, Stamp]
    complete: bool

    @classmethod
    def take(cls, root: str, *, limit: int = 200_000) -> Snapshot:
        stamps: dict[str, Stamp] = {}
        complete = True
        stack = [root]
        while stack:
            path = stack.pop()
            try:
                it = os.scandir(path)
            except OSError:
                continue
            with it:
                for entry in it:
                    name = entry.name
                    if name in _SKIP_ANYWHERE or (path == root and name in _SKIP_AT_ROOT):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if len(stamps) >= limit:
                        complete = False
                        stack.clear()
                        break
                    stamps[entry.path] = (st.st_mtime_ns, st.st_ctime_ns, st.st_size,
                                          st.st_ino, st.st_mode)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
        return cls(root, stamps, complete)

    def diff(self, after: Snapshot) -> SnapshotDiff:
        before = self.stamps
        changed: list[str] = []
        other: list[str] = []
        for path, stamp in after.stamps.items():
            if before.get(path) == stamp or stat.S_ISDIR(stamp[4]):
                continue
            (changed if stat.S_ISREG(stamp[4]) else other).append(path)
        deleted = [p for p in before if p not in after.stamps]
        return SnapshotDiff(tuple(sorted(changed)), tuple(sorted(other)), tuple(sorted(deleted)),
                            self.complete and after.complete)
