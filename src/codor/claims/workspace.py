"""What the session changed in the workspace: each changed file's text at the session's start
(from git: the last commit made before the session began) and now (from disk), and the
commits the repository holds.

Git is read, never written (``--no-optional-locks``, no hooks run). Without a git repository
only the files the session was seen writing are known, with no earlier version.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

from codor.claims.change import Change

__all__ = ["Commit", "WorkspaceView", "read_workspace"]

MAX_FILES: Final = 2000
MAX_BYTES: Final = 1 << 20
_TIMEOUT: Final = 20.0
_HEX: Final = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    author_time: int      # seconds since the epoch
    committer_time: int
    subject: str


@dataclass
class WorkspaceView:
    """The workspace as the verifier sees it."""

    root: Path
    git: bool
    base: str | None = None                     # the commit the session started from
    changes: list[Change] = field(default_factory=list)
    mtimes_ns: dict[str, int] = field(default_factory=dict)   # changed path -> mtime now
    sizes: dict[str, int] = field(default_factory=dict)       # changed path -> size now
    skipped: list[str] = field(default_factory=list)          # too big, binary, or too many

    def relative(self, path: str) -> str | None:
        """``path`` (absolute, or relative to the workspace) relative to the workspace, or
        ``None`` when it lies outside."""
        p = Path(path) if os.path.isabs(path) else self.root / path
        try:
            return Path(os.path.normpath(p)).relative_to(self.root).as_posix()
        except ValueError:
            return None

    def python_tests(self, limit: int = 300) -> dict[str, str]:
        """The workspace's Python test files (path → text), tracked or not, changed or not:
        what the hard-coded-result detector compares production code against."""
        from codor.claims.pathkinds import is_test_path

        out: dict[str, str] = {}
        if self.git:
            listed = _git(self.root, "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard", "--", "*.py")
            names = [n.decode("utf-8", "replace") for n in (listed or b"").split(b"\x00") if n]
        else:
            names = [p.relative_to(self.root).as_posix() for p in self.root.rglob("*.py")
                     if ".codor" not in p.parts][:5000]
        for name in names:
            if len(out) >= limit or not is_test_path(name):
                continue
            try:
                data = (self.root / name).read_bytes()
            except OSError:
                continue
            text = _text(data) if len(data) <= MAX_BYTES else None
            if text is not None:
                out[name] = text
        return out

    def tracked_blobs(self) -> dict[str, str]:
        """Git blob id → a tracked path holding that content (the index's view)."""
        if not self.git:
            return {}
        listed = _git(self.root, "ls-files", "-s", "-z")
        out: dict[str, str] = {}
        for item in (listed or b"").split(b"\x00"):
            head, _, name = item.partition(b"\t")
            parts = head.split()
            if len(parts) == 3 and name:
                out.setdefault(parts[1].decode(), name.decode("utf-8", "replace"))
        return out

    def commit(self, ref: str) -> Commit | None:
        """The commit ``ref`` names (a hex prefix), or ``None`` when there is none."""
        if not self.git or not ref or not all(c in "0123456789abcdefABCDEF" for c in ref):
            return None
        out = _git(self.root, "log", "-1", "--format=%H%x00%at%x00%ct%x00%s",
                   f"{ref}^{{commit}}", "--")
        if out is None:
            return None
        parts = out.decode("utf-8", "replace").rstrip("\n").split("\x00")
        if len(parts) != 4:
            return None
        return Commit(parts[0], int(parts[1]), int(parts[2]), parts[3])


def _git(root: Path, *args: str) -> bytes | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    try:
        done = subprocess.run(["git", "-c", "core.quotepath=off", "-c", "core.hooksPath=/dev/null",
                               *args], cwd=root, env=env, capture_output=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _text(data: bytes | None) -> str | None:
    if data is None or b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _ignored(path: str, ignore: Sequence[str]) -> bool:
    return any(fnmatchcase(path, pat) or fnmatchcase(path, pat.rstrip("/") + "/**")
               or path.startswith(pat.rstrip("*").rstrip("/") + "/") for pat in ignore)


def read_workspace(root: str | os.PathLike[str], start_wall_us: int,
                   written: Iterable[str] = (), ignore: Sequence[str] = (),
                   head: str | None = None) -> WorkspaceView:
    """The workspace's changes since the session started at ``start_wall_us``.

    With git: the base is ``head``, the commit the session start recorded, when the
    repository has it; otherwise the newest commit on HEAD dated before the session began
    (so commits made during the session are part of the change — unless back-dated, which
    the recorded head defeats); changed files are those that differ
    from it in the work tree, plus untracked files not ignored by ``.gitignore``. ``written``
    (paths the session was seen writing) are added. ``ignore`` are glob patterns
    (``claims.ignore_paths``); ``.codor/`` is always ignored."""
    top = Path(os.path.realpath(root))
    view = WorkspaceView(top, git=False)
    ignore = (*ignore, ".codor", ".git")
    inside = _git(top, "rev-parse", "--show-toplevel")
    paths: dict[str, None] = {}
    if inside is not None:
        view.git = True
        git_top = Path(inside.decode().strip())
        if git_top != top:  # a subdirectory of a repository: read the repository's root
            top = view.root = git_top
        found = _git(top, "rev-parse", "--verify", "--quiet", f"{head}^{{commit}}") \
            if head is not None and _HEX.fullmatch(head) else None
        if not found:
            # whole seconds: a commit in the session's first second is the session's own
            found = _git(top, "rev-list", "-1", f"--before={start_wall_us // 1_000_000 - 1}",
                         "HEAD")
        base = found.decode().strip() if found else ""
        view.base = base or None
        if view.base is not None:
            diff = _git(top, "diff", "--name-only", "-z", "--no-renames", view.base, "--")
        else:  # no commit before the session: every tracked file is the session's own
            diff = _git(top, "ls-files", "-z")
        others = _git(top, "ls-files", "-z", "--others", "--exclude-standard")
        for blob in (diff or b"", others or b""):
            for name in blob.split(b"\x00"):
                if name:
                    paths[name.decode("utf-8", "replace")] = None
    for path in written:
        rel = view.relative(path)
        if rel is not None:
            paths[rel] = None
    wanted = [rel for rel in paths if not _ignored(rel, ignore)]
    view.skipped.extend(wanted[MAX_FILES:])
    wanted = wanted[:MAX_FILES]
    blobs = _blobs(top, view.base, wanted) if view.base else {}
    for rel in wanted:
        _add_change(view, rel, blobs.get(rel))
    return view


def _blobs(root: Path, base: str | None, paths: list[str]) -> dict[str, bytes]:
    """The contents of ``paths`` at ``base`` (one ``git cat-file --batch``); absent and
    oversized files are left out."""
    if not paths or base is None:
        return {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    request = "".join(f"{base}:{p}\n" for p in paths if "\n" not in p).encode()
    try:
        done = subprocess.run(["git", "cat-file", "--batch"], cwd=root, env=env, input=request,
                              capture_output=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    out, pos, found = done.stdout, 0, {}
    for path in (p for p in paths if "\n" not in p):
        end = out.find(b"\n", pos)
        if end < 0:
            break
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<name> missing", or a tree
        size = int(header[2])
        if size <= MAX_BYTES:
            found[path] = out[pos:pos + size]
        pos += size + 1
    return found


def _add_change(view: WorkspaceView, rel: str, before: bytes | None) -> None:
    disk = view.root / rel
    after: bytes | None = None
    try:
        st = disk.stat()
        if disk.is_file():
            view.mtimes_ns[rel] = st.st_mtime_ns
            view.sizes[rel] = st.st_size
            if st.st_size > MAX_BYTES:
                view.skipped.append(rel)
                return
            after = disk.read_bytes()
    except OSError:
        after = None
    before_text, after_text = _text(before), _text(after)
    if (before is not None and before_text is None) or (after is not None and after_text is None):
        view.skipped.append(rel)  # binary
        return
    if before_text == after_text:
        return
    view.changes.append(Change(rel, before_text, after_text))
