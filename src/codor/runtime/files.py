"""Safe file operations for the fast-path tools: touch exactly the path that was decided.

The policy judges a path in two forms, lexically normalised and symlink-resolved
(:mod:`codor.policy.paths`). The tools execute on one path, the *target*
(:func:`locate`): the resolved form, computed before the decision. The router makes sure the
policy allowed an action naming the target itself (when it differs from the normalised path,
a second decision is taken on it), and every function here reaches the target from ``/`` one
component at a time with ``openat(..., O_NOFOLLOW)`` on directory descriptors. A resolved path
holds no symlink, so meeting one on the way means the tree changed between decision and open —
a race — and the operation fails closed with :class:`UnsafePathError` before anything is read
or written. ``..`` and ``/proc/self/root`` aliases never reach the walk (the path is
normalised first), and no system call here follows a symlink.

Refused as unsafe: writing to a file with more than one hard link (the other names are paths
the policy never saw; a write would change what they name), and opening anything but a regular
file for reading or writing (FIFOs block or feed another process, devices have side effects on
open, sockets are not files). Reading a hard-linked file is refused too unless the caller opts
in (``hardlinks_ok``): a hard link planted in the workspace would otherwise expose a file the
policy denies under its other name. Deleting unlinks the entry itself (a symlink, not what it
points to) with ``unlinkat`` on the parent's descriptor.

Writes are atomic: a temporary file in the same directory (created ``O_EXCL|O_NOFOLLOW``),
written, given the old file's permission bits (and owner, when running as root), ``fsync``-ed,
renamed over the target, then the directory is ``fsync``-ed so the rename is durable before
the outcome is recorded. Set-id and sticky bits are not carried over.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import secrets
import stat
from dataclasses import dataclass
from typing import Final, Literal

from codor.errors import ToolArgumentError, ToolIOError, UnsafePathError
from codor.policy.paths import normalize_path, resolve_path

__all__ = [
    "Entry",
    "FileData",
    "Locate",
    "Target",
    "WriteInfo",
    "delete_entry",
    "kind_of",
    "list_dir",
    "locate",
    "lstat_target",
    "open_dir",
    "read_file",
    "write_file",
]

Locate = Literal["follow", "entry"]
_DIR_PATH: Final = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK: Final = 1 << 20
_IS_ROOT: Final = os.geteuid() == 0


@dataclass(frozen=True, slots=True)
class Target:
    """A path argument: ``norm`` is it normalised (what the agent named), ``path`` is where
    execution goes (``norm`` with its symlinks resolved)."""

    norm: str
    path: str

    @property
    def resolved(self) -> bool:
        """True when execution goes elsewhere than the normalised path (a symlink on it)."""
        return self.path != self.norm


@dataclass(frozen=True, slots=True)
class FileData:
    """A file read: at most the requested bytes; ``sha256`` and ``size`` are the whole file's."""

    data: bytes
    size: int
    sha256: str

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.size


@dataclass(frozen=True, slots=True)
class WriteInfo:
    created: bool
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry, never followed: ``type`` is file, dir, symlink or other."""

    name: str
    type: str
    size: int

    def to_json(self) -> dict[str, str | int]:
        return {"name": self.name, "type": self.type, "size": self.size}


def locate(raw: str, cwd: str, home: str, how: Locate = "follow") -> Target:
    """Normalise ``raw`` like the policy does and find where execution will go: ``follow``
    resolves the whole path; ``entry`` resolves only its directory (delete removes a symlink,
    not its target)."""
    try:
        norm = normalize_path(raw, cwd, home)
    except ValueError as exc:
        raise ToolArgumentError(f"bad path {raw!r}: {exc}") from None
    if how == "entry" and norm != "/":
        parent, name = posixpath.split(norm)
        return Target(norm, posixpath.join(resolve_path(parent, cwd, home), name))
    return Target(norm, resolve_path(norm, cwd, home))


# -- walking --------------------------------------------------------------------------------
class _MissingError(ToolIOError):
    """A path (or a directory on the way) that does not exist."""


def _io_error(exc: OSError, path: str, verb: str) -> ToolIOError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    cls = _MissingError if exc.errno in (errno.ENOENT, errno.ENOTDIR) else ToolIOError
    return cls(f"cannot {verb} {path}: {reason}")


def _changed(path: str, what: str) -> UnsafePathError:
    return UnsafePathError(f"{path}: {what} — the path changed between the decision and the "
                           f"open (a symlink or swapped directory on the way); nothing was done")


def _not_followed(dfd: int, name: str, at: str, verb: str, exc: OSError) -> Exception:
    """The error for ``name`` under ``dfd`` that O_NOFOLLOW/O_DIRECTORY refused."""
    try:
        mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
    except OSError:
        return _io_error(exc, at, verb)
    if stat.S_ISLNK(mode):
        return _changed(at, "a symlink where the decided path has a directory")
    return _io_error(exc, at, verb)


def open_dir(path: str, *, create: bool = False, readable: bool = False,
             verb: str = "open") -> int:
    """A descriptor of directory ``path`` (absolute, no symlinks) reached from ``/`` without
    following any symlink; missing directories are made when ``create``. ``readable`` gives
    an ``O_RDONLY`` descriptor (for ``scandir`` and ``fsync``), otherwise ``O_PATH``."""
    parts = [p for p in path.split("/") if p]
    last_flags = (os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC) if readable \
        else _DIR_PATH
    fd = os.open("/", last_flags if not parts else _DIR_PATH)
    at = ""
    try:
        for i, part in enumerate(parts):
            at = f"{at}/{part}"
            flags = last_flags if i == len(parts) - 1 else _DIR_PATH
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError as exc:
                if not create:
                    raise _io_error(exc, at, verb) from None
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile: the O_NOFOLLOW open below judges what it is
                except OSError as exc2:
                    raise _io_error(exc2, at, "create directory") from None
                try:
                    nfd = os.open(part, flags, dir_fd=fd)
                except OSError as exc2:
                    raise _not_followed(fd, part, at, verb, exc2) from None
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise _not_followed(fd, part, at, verb, exc) from None
                raise _io_error(exc, at, verb) from None
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _split(path: str) -> tuple[str, str]:
    parent, name = posixpath.split(path)
    if not name:
        raise ToolIOError(f"{path} is a directory, not a file")
    return parent, name


def kind_of(mode: int) -> str:
    """``file``, ``dir``, ``symlink`` or ``other`` for an ``st_mode``."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _check_file(st: os.stat_result, path: str, verb: str, *, hardlinks_ok: bool) -> None:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        raise _changed(path, "a symlink where the decided path has a file")
    if stat.S_ISDIR(mode):
        raise ToolIOError(f"cannot {verb} {path}: it is a directory")
    if not stat.S_ISREG(mode):
        raise UnsafePathError(f"cannot {verb} {path}: not a regular file "
                              f"({kind_of(mode)}: FIFO, device or socket); refused")
    if st.st_nlink > 1 and not hardlinks_ok:
        raise UnsafePathError(f"cannot {verb} {path}: it has {st.st_nlink} hard links, and "
                              f"the other names were never decided; refused")


def _lstat(dfd: int, name: str, path: str, verb: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _io_error(exc, path, verb) from None


# -- operations -----------------------------------------------------------------------------
def read_file(path: str, *, max_bytes: int, hardlinks_ok: bool = False) -> FileData:
    """Read at most ``max_bytes`` of regular file ``path``; hash all of it."""
    parent, name = _split(path)
    dfd = open_dir(parent, verb="read")
    try:
        st = _lstat(dfd, name, path, "read")
        if st is None:
            raise ToolIOError(f"cannot read {path}: No such file or directory")
        _check_file(st, path, "read", hardlinks_ok=hardlinks_ok)
        try:
            fd = os.open(name, _READ, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _changed(path, "a symlink appeared") from None
            raise _io_error(exc, path, "read") from None
    finally:
        os.close(dfd)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise _changed(path, "another file was put in its place")
        _check_file(now, path, "read", hardlinks_ok=hardlinks_ok)
        digest = hashlib.sha256()
        kept: list[bytes] = []
        have = size = 0
        want = now.st_size + 1  # the first read sized by fstat: one small buffer, usually
        while True:
            chunk = os.read(fd, min(want, _CHUNK) if want > 0 else _CHUNK)
            want = 0
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if have < max_bytes:
                kept.append(chunk[:max_bytes - have])
                have += len(kept[-1])
        return FileData(b"".join(kept), size, digest.hexdigest())
    except OSError as exc:
        raise _io_error(exc, path, "read") from None
    finally:
        os.close(fd)


def write_file(path: str, data: bytes, *, make_dirs: bool = True) -> WriteInfo:
    """Replace (or create) regular file ``path`` with ``data``, atomically."""
    parent, name = _split(path)
    dfd = open_dir(parent, create=make_dirs, readable=True, verb="write")
    try:
        st = _lstat(dfd, name, path, "write")
        if st is not None:
            _check_file(st, path, "write", hardlinks_ok=False)
        tmp = f".{name[:150]}.codor-{secrets.token_hex(6)}.tmp"
        try:
            tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                          os.O_CLOEXEC, 0o666, dir_fd=dfd)
        except OSError as exc:
            raise _io_error(exc, path, "write") from None
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(tfd, view):]
                if st is not None:
                    os.fchmod(tfd, stat.S_IMODE(st.st_mode) & 0o777)
                    if _IS_ROOT:
                        os.fchown(tfd, st.st_uid, st.st_gid)
                os.fsync(tfd)
            finally:
                os.close(tfd)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            if isinstance(exc, OSError):
                raise _io_error(exc, path, "write") from None
            raise
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return WriteInfo(st is None, len(data), hashlib.sha256(data).hexdigest())


def delete_entry(path: str) -> str | None:
    """Unlink ``path`` (a file or a symlink, never followed; not a directory). Returns the
    sha256 a regular file had (the deleted material), else ``None``."""
    parent, name = _split(path)
    dfd = open_dir(parent, verb="delete")
    try:
        st = _lstat(dfd, name, path, "delete")
        if st is None:
            raise ToolIOError(f"cannot delete {path}: No such file or directory")
        if stat.S_ISDIR(st.st_mode):
            raise ToolIOError(f"cannot delete {path}: it is a directory (fs.delete removes "
                              f"files and symlinks)")
        digest: str | None = None
        if stat.S_ISREG(st.st_mode):
            try:
                fd = os.open(name, _READ, dir_fd=dfd)
            except OSError as exc:
                raise _io_error(exc, path, "delete") from None
            try:
                h = hashlib.sha256()
                while chunk := os.read(fd, _CHUNK):
                    h.update(chunk)
                digest = h.hexdigest()
            finally:
                os.close(fd)
        try:
            os.unlink(name, dir_fd=dfd)
        except OSError as exc:
            raise _io_error(exc, path, "delete") from None
        return digest
    finally:
        os.close(dfd)


def list_dir(path: str, *, max_entries: int) -> tuple[list[Entry], bool]:
    """The entries of directory ``path`` sorted by name (at most ``max_entries``; the flag
    says more were left out). Entries are not followed."""
    fd = open_dir(path, readable=True, verb="list")
    out: list[Entry] = []
    truncated = False
    try:
        with os.scandir(fd) as it:
            for entry in it:
                if len(out) >= max_entries:
                    truncated = True
                    break
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed meanwhile
                out.append(Entry(entry.name, kind_of(st.st_mode), st.st_size))
    finally:
        os.close(fd)
    out.sort(key=lambda e: e.name)
    return out, truncated


def lstat_target(path: str) -> os.stat_result | None:
    """``lstat`` of ``path`` reached without following symlinks; ``None`` when it (or a
    directory on the way) does not exist."""
    if path == "/":
        return os.stat("/")
    parent, name = _split(path)
    try:
        dfd = open_dir(parent, verb="stat")
    except _MissingError:
        return None
    try:
        return _lstat(dfd, name, path, "stat")
    finally:
        os.close(dfd)
