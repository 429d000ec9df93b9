"""Mount points CODOR had to create in a workspace, and removing them when no sandbox needs them.

Masking a protected path that does not exist (``.claude/``, ``.mcp.json``, ``.git`` in a
workspace that is not a repository yet) needs a mount point, which bubblewrap creates in the
host directory as an empty directory. Creating and removing those on every command would
cost about two milliseconds and make editors' file watchers flicker, so they stay while
this process may still run sandboxes in the workspace, and the last CODOR process out
removes them (those still empty) at exit or on :func:`release_mount_points`.

Per workspace, a lock file under ``$XDG_RUNTIME_DIR`` (or ``/tmp``) ``/codor-sandbox-<uid>/``
lists the mount points created there; every process that runs sandboxes in the workspace
holds a shared ``flock`` on it. Removal takes the lock exclusively without waiting: while
another process holds it, nothing is removed (removing a mount point detaches the mount in
every namespace, which would unprotect a sandbox still running).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterable

__all__ = ["MountPoints", "mount_points", "release_mount_points"]


def _is_empty_dir(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


class MountPoints:
    """The registry (one per process: :func:`mount_points`)."""

    def __init__(self, base: str | None = None) -> None:
        self._base = base or os.path.join(
            os.environ.get("XDG_RUNTIME_DIR") or "/tmp",  # noqa: S108 - a 0700 dir of ours
            f"codor-sandbox-{os.getuid()}")
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fd(self, workspace: str) -> int:
        with self._lock:
            fd = self._fds.get(workspace)
            if fd is None:
                fd = self._open(workspace)
                self._fds[workspace] = fd
            return fd

    def _open(self, workspace: str) -> int:
        os.makedirs(self._base, mode=0o700, exist_ok=True)
        key = hashlib.sha256(workspace.encode()).hexdigest()[:24]
        path = os.path.join(self._base, f"{key}.mounts")
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits while another process removes
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)  # the last holder removed that file meanwhile: take the new one

    def ours(self, workspace: str) -> frozenset[str]:
        """Paths CODOR created in ``workspace`` that are still empty directories."""
        data = os.pread(self._fd(workspace), 1 << 20, 0).decode("utf-8", "replace")
        return frozenset(p for p in data.splitlines() if p and _is_empty_dir(p))

    def record(self, workspace: str, paths: Iterable[str]) -> None:
        text = "".join(f"{p}\n" for p in paths)
        if text:
            os.write(self._fd(workspace), text.encode())

    def release(self, workspace: str) -> list[str]:
        """Give up this process's hold on ``workspace``; if no other process holds it, remove
        the recorded mount points that are still empty. Returns the paths removed."""
        with self._lock:
            fd = self._fds.pop(workspace, None)
        if fd is None:
            return []
        removed: list[str] = []
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []  # another CODOR process still runs sandboxes here
            data = os.pread(fd, 1 << 20, 0).decode("utf-8", "replace")
            for path in sorted(set(data.splitlines()), key=len, reverse=True):
                if path and _is_empty_dir(path):
                    with contextlib.suppress(OSError):
                        os.rmdir(path)
                        removed.append(path)
            key = hashlib.sha256(workspace.encode()).hexdigest()[:24]
            with contextlib.suppress(OSError):  # waiting openers notice and reopen
                os.unlink(os.path.join(self._base, f"{key}.mounts"))
        finally:
            os.close(fd)
        return removed

    def release_all(self) -> list[str]:
        removed: list[str] = []
        for workspace in list(self._fds):
            removed += self.release(workspace)
        return removed


_REGISTRY = MountPoints()
atexit.register(_REGISTRY.release_all)


def mount_points() -> MountPoints:
    """This process's registry (removes what it can at exit)."""
    return _REGISTRY


def release_mount_points(workspace: str | None = None) -> list[str]:
    """Remove the empty mount points CODOR created (in ``workspace``, or everywhere), unless
    another CODOR process still runs sandboxes there. For long-running callers (the tool
    router at the end of a session) and tests; at exit it happens anyway."""
    registry = mount_points()
    if workspace is None:
        return registry.release_all()
    return registry.release(os.path.realpath(workspace))
