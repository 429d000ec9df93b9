"""``search.grep`` and ``search.glob``: tree walks on directory descriptors, gated per entry.

Both walk with :func:`os.scandir` on ``O_NOFOLLOW`` directory descriptors opened relative to
their parent, so no symlink is ever followed (symlinked files and directories are not
searched; glob lists a symlink's name when it matches, as ``file.list`` of its directory), and
every path handed to the gate is exactly where the walk is. ``gate(kind, path)`` is the
policy: ``file.list`` for each directory entered, ``file.read`` for each file grep opens;
anything not allowed is skipped (never opened) and counted with its path.

grep skips ``.git`` and ``.codor`` directories, files larger than ``max_file_bytes``, binary
files (a NUL byte in the first 8 KiB), hard-linked files (unless allowed: see
:mod:`codor.runtime.files`) and non-regular files. Matching is per line on bytes (the
pattern is compiled for bytes, so no file is decoded unless it matches); each line is reported
once, cut to :data:`LINE_MAX_CHARS`.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from codor.errors import ToolArgumentError
from codor.runtime.files import open_dir

__all__ = ["LINE_MAX_CHARS", "MAX_DEPTH", "Gate", "GlobResult", "GrepResult", "Match",
           "compile_pattern", "glob", "grep"]

#: ``gate(kind, path)``: is this ``file.list`` / ``file.read`` of ``path`` allowed?
Gate = Callable[[str, str], bool]
LINE_MAX_CHARS: Final = 500
_BINARY_PROBE: Final = 8192
_DIR: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_SKIP_DIRS: Final = frozenset({".git", ".codor"})
#: How deep a walk goes (bind mounts can make a tree without end).
MAX_DEPTH: Final = 128


@dataclass(frozen=True, slots=True)
class Match:
    path: str  # absolute
    line: int
    text: str

    def to_json(self, shown: str) -> dict[str, str | int]:
        return {"path": shown, "line": self.line, "text": self.text}


@dataclass(slots=True)
class GrepResult:
    """What grep saw. ``files`` maps each file whose lines are in ``matches`` to its sha256
    (the materials)."""

    matches: list[Match] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    searched: int = 0
    denied: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    truncated: bool = False

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


@dataclass(slots=True)
class GlobResult:
    paths: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    truncated: bool = False


def compile_pattern(pattern: str, *, fixed: bool, ignore_case: bool) -> re.Pattern[bytes]:
    """The grep pattern as a bytes regex (``fixed``: a literal string)."""
    try:
        raw = pattern.encode("utf-8", "surrogateescape")
        source = re.escape(raw) if fixed else raw
        return re.compile(source, re.MULTILINE | (re.IGNORECASE if ignore_case else 0))
    except (re.error, UnicodeEncodeError) as exc:
        raise ToolArgumentError(f"bad pattern {pattern!r}: {exc}") from None


def _line_of(data: bytes, start: int, end: int) -> tuple[int, int]:
    lo = data.rfind(b"\n", 0, start) + 1
    hi = data.find(b"\n", end if end > start else start)
    return lo, len(data) if hi < 0 else hi


def _grep_bytes(data: bytes, regex: re.Pattern[bytes], path: str, out: GrepResult,
                limit: int) -> bool:
    """Add ``data``'s matching lines; True if there was at least one."""
    pos = 0
    found = False
    line_no = 1
    counted = 0  # offset up to which newlines are counted into line_no
    while len(out.matches) < limit:
        m = regex.search(data, pos)
        if m is None:
            break
        lo, hi = _line_of(data, m.start(), m.end())
        line_no += data.count(b"\n", counted, lo)
        counted = lo
        text = data[lo:hi].decode("utf-8", "replace").rstrip("\r")
        out.matches.append(Match(path, line_no, text[:LINE_MAX_CHARS]))
        found = True
        pos = hi + 1
        if pos > len(data):
            break
    else:
        if regex.search(data, pos) is not None:
            out.truncated = True
    return found


def _read_all(fd: int, hint: int, cap: int) -> bytes:
    """Up to ``cap`` bytes of ``fd``; ``hint`` (the size ``fstat`` gave, plus one) sizes the
    first read so a small file costs one small buffer."""
    data = os.read(fd, hint)
    if len(data) < hint:
        return data
    parts = [data]
    size = len(data)
    while size < cap:
        chunk = os.read(fd, min(1 << 20, cap - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _grep_file(dfd: int, name: str, path: str, regex: re.Pattern[bytes], out: GrepResult, *,
               limit: int, max_file_bytes: int, hardlinks_ok: bool) -> None:
    import hashlib

    try:
        fd = os.open(name, _FILE, dir_fd=dfd)
    except OSError:
        out.skip("unreadable")
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            out.skip("not a regular file")
            return
        if st.st_nlink > 1 and not hardlinks_ok:
            out.skip("hard-linked")
            return
        if st.st_size > max_file_bytes:
            out.skip("too large")
            return
        data = _read_all(fd, min(st.st_size, max_file_bytes) + 1, max_file_bytes + 1)
    except OSError:
        out.skip("unreadable")
        return
    finally:
        os.close(fd)
    if len(data) > max_file_bytes:
        out.skip("too large")
        return
    if b"\0" in data[:_BINARY_PROBE]:
        out.skip("binary")
        return
    out.searched += 1
    if _grep_bytes(data, regex, path, out, limit):
        out.files[path] = hashlib.sha256(data).hexdigest()


def grep(root: str, regex: re.Pattern[bytes], gate: Gate, *, limit: int,
         max_file_bytes: int, include: str | None = None, hardlinks_ok: bool = False,
         root_is_file: bool = False) -> GrepResult:
    """Search the tree at ``root`` (absolute, symlink-free; a single file when
    ``root_is_file``) for ``regex``, at most ``limit`` matching lines."""
    out = GrepResult()
    name_ok = re.compile(fnmatch.translate(include)).match if include else None

    def search(dfd: int, name: str, path: str) -> None:
        _grep_file(dfd, name, path, regex, out, limit=limit, max_file_bytes=max_file_bytes,
                   hardlinks_ok=hardlinks_ok)

    if root_is_file:
        parent, name = os.path.split(root)
        if not gate("file.read", root):
            out.denied.append(root)
            return out
        dfd = open_dir(parent, verb="search")
        try:
            search(dfd, name, root)
        finally:
            os.close(dfd)
        return out

    def walk(dfd: int, path: str, depth: int) -> None:
        with os.scandir(dfd) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs: list[str] = []
        for entry in entries:
            if len(out.matches) >= limit:
                out.truncated = True
                return
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in _SKIP_DIRS:
                        subdirs.append(entry.name)
                    continue
                if not entry.is_file(follow_symlinks=False):
                    out.skip("symlink or special file")
                    continue
            except OSError:
                continue
            if name_ok is not None and not name_ok(entry.name):
                continue
            child = _join(path, entry.name)
            if not gate("file.read", child):
                out.denied.append(child)
                continue
            search(dfd, entry.name, child)
        for sub in subdirs:
            if len(out.matches) >= limit:
                out.truncated = True
                return
            child = _join(path, sub)
            if depth >= MAX_DEPTH:
                out.skip("too deep")
            elif not gate("file.list", child):
                out.denied.append(child)
            else:
                _descend(dfd, sub, child, depth, walk, out.skip)

    top = open_dir(root, readable=True, verb="search")
    try:
        walk(top, root, 0)
    finally:
        os.close(top)
    return out


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path != "/" else f"/{name}"


def _descend(dfd: int, name: str, path: str, depth: int,
             walk: Callable[[int, str, int], None], skip: Callable[[str], None]) -> None:
    """Open subdirectory ``name`` of ``dfd`` without following a symlink and walk it."""
    try:
        cfd = os.open(name, _DIR, dir_fd=dfd)
    except OSError:
        skip("unreadable")
        return
    try:
        walk(cfd, path, depth + 1)
    except OSError:
        skip("unreadable")
    finally:
        os.close(cfd)


# -- glob -----------------------------------------------------------------------------------
def _segments(pattern: str) -> list[str]:
    if "\x00" in pattern:
        raise ToolArgumentError("glob pattern contains a NUL character")
    parts = [p for p in pattern.split("/") if p and p != "."]
    if not parts or any(p == ".." for p in parts):
        raise ToolArgumentError(f"bad glob pattern {pattern!r}: empty, or with '..'")
    return parts


def glob(root: str, pattern: str, gate: Gate, *, limit: int) -> GlobResult:
    """Paths under ``root`` matching ``pattern`` (``*``, ``?``, ``[...]`` within a name,
    ``**`` for any number of directories, a trailing ``**`` for directories only; hidden names
    match too, as with :meth:`pathlib.Path.glob`), sorted, at most ``limit``."""
    parts = _segments(pattern)
    matchers: list[Callable[[str], object] | None] = [
        None if p == "**" else re.compile(fnmatch.translate(p), re.DOTALL).match for p in parts]
    last = len(parts)
    out = GlobResult()
    found: list[str] = []

    def walk(dfd: int, path: str, depth: int, states: frozenset[int]) -> None:
        if any(matchers[i] is None and i + 1 == last for i in states):
            found.append(path)  # a trailing "**" matches every directory it reaches
        with os.scandir(dfd) as it:
            listing = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        for name, is_dir in listing:
            if len(found) > limit:
                return
            reached: set[int] = set()
            for i in states:
                reached.update(_advance(matchers, i, name, is_dir))
            child = _join(path, name)
            if last in reached:
                found.append(child)
            deeper = frozenset(i for i in reached if i < last)
            if not deeper or not is_dir:
                continue
            if depth >= MAX_DEPTH or not gate("file.list", child):
                out.denied.append(child)
                continue
            _descend(dfd, name, child, depth, functools.partial(walk, states=deeper),
                     lambda _why: None)

    top = open_dir(root, readable=True, verb="glob")
    try:
        walk(top, root, 0, frozenset({0}))
    finally:
        os.close(top)
    paths = sorted(set(found))
    out.truncated = len(paths) > limit
    out.paths = paths[:limit]
    return out


def _advance(matchers: list[Callable[[str], object] | None], index: int, name: str,
             is_dir: bool) -> list[int]:
    """The segment indexes reached after consuming entry ``name`` at segment ``index``."""
    out: list[int] = []
    pending = [index]
    visited: set[int] = set()
    while pending:
        i = pending.pop()
        if i in visited or i >= len(matchers):
            continue
        visited.add(i)
        matcher = matchers[i]
        if matcher is None:  # "**": zero dirs (skip it) or this dir and stay
            pending.append(i + 1)
            if is_dir:
                out.append(i)
        elif matcher(name):
            out.append(i + 1)
    return out
