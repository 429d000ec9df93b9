"""Path normalisation: the lexical form every path rule sees, and its symlink-resolved twin.

``normalize_path`` is pure (no I/O): ``~`` expansion, joining with the action's cwd, ``.``,
``..`` and doubled slashes, and ``/proc/self/root``-style aliases of ``/``. ``resolve_path``
additionally follows symlinks on the real filesystem (the only I/O the evaluator does).
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from functools import lru_cache

__all__ = ["normalize_path", "path_forms", "resolve_path", "resolved_forms"]

# /proc/self/root, /proc/thread-self/root, /proc/<pid>/root and /proc/<pid>/task/<tid>/root
# all name the root directory of a process: for policy purposes, "/".
_PROC_ROOT = re.compile(r"^/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/root(?=/|$)")
_PROC_CWD = re.compile(r"^/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/cwd(?=/|$)")


def _is_clean(path: str) -> bool:
    """Already normal: absolute, no empty, ``.`` or ``..`` segment, no trailing slash, and
    not under ``/proc`` (where the root and cwd aliases live)."""
    return (
        "//" not in path and "/./" not in path and "/../" not in path
        and not path.endswith(("/.", "/..", "/")) and not path.startswith("/proc")
    ) or path == "/"


@lru_cache(maxsize=4096)
def normalize_path(raw: str, cwd: str = "/", home: str = "/root") -> str:
    """Return the absolute, lexically normalised form of ``raw`` (pure; cached).

    Raises ``ValueError`` for a path containing NUL (callers turn it into a deny).
    """
    if "\x00" in raw:
        raise ValueError("path contains a NUL character")
    path = raw
    if path == "~" or path.startswith("~/"):
        path = home.rstrip("/") + path[1:]
    elif path.startswith("~"):
        expanded = os.path.expanduser(path)
        path = expanded if expanded != path else path
    if not path.startswith("/"):
        path = posixpath.join(cwd if cwd.startswith("/") else "/" + cwd, path)
    if _is_clean(path):
        return path
    for _ in range(8):  # aliases can nest: /proc/self/root/proc/self/root/etc
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        new = _PROC_ROOT.sub("", path, count=1) or "/"
        new = _PROC_CWD.sub(lambda _m: cwd.rstrip("/") or "/", new, count=1)
        if new == path:
            break
        path = new if new.startswith("/") else "/" + new
    return path


def _walk_realpath(path: str) -> str | None:
    """Resolve a normalised absolute path by ``lstat``-ing each prefix. It stops at the first
    component that does not exist (nothing below it can be a symlink), so a path into a
    missing directory costs one or two system calls. Returns ``None`` when a symlink (or an
    unreadable component) is met; callers then use :func:`os.path.realpath`."""
    resolved = ""
    for part in path.split("/")[1:]:
        candidate = f"{resolved}/{part}"
        try:
            mode = os.lstat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return path
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            return None
        resolved = candidate
    return resolved or "/"


def resolve_path(normalized: str, cwd: str = "/", home: str = "/root") -> str:
    """Follow symlinks (non-strict: missing tails stay as written), then normalise again."""
    real = _walk_realpath(normalized)
    if real is None:
        try:
            real = os.path.realpath(normalized)
        except (OSError, ValueError):
            return normalized
    return real if real == normalized else normalize_path(real, cwd, home)


def resolved_forms(normalized: str, home: str = "/root") -> tuple[str, ...]:
    """The forms of an already normalised path: itself, then its resolution if different
    (the only I/O of an evaluation)."""
    real = resolve_path(normalized, "/", home)
    return (normalized,) if real == normalized else (normalized, real)


def path_forms(raw: str, cwd: str = "/", home: str = "/root") -> tuple[str, ...]:
    """The distinct forms a path rule must consider: normalised, then resolved if different."""
    return resolved_forms(normalize_path(raw, cwd, home), home)
