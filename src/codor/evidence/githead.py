"""The commit a git work tree's ``HEAD`` points to, read from the repository's files.

Recorded next to each session start (the ``workspace.head`` event), so that claims
verification knows which commit the session began from. Commit dates cannot tell: an agent
may commit with a back-dated ``GIT_COMMITTER_DATE`` (the reflog takes its times from the same
identity). Reading ``.git/HEAD``, the loose ref and ``packed-refs`` costs well under a
millisecond, where starting ``git`` would cost several on every cold hook.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

__all__ = ["git_head"]

_SHA: Final = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_MAX_UP: Final = 64       # directories searched upwards for the repository
_MAX_LINKS: Final = 8     # symbolic refs followed


def _git_dir(start: Path) -> Path | None:
    """The repository directory for a work tree containing ``start`` (``.git`` may be a
    directory, or a ``gitdir:`` file for worktrees and submodules)."""
    here = start
    for _ in range(_MAX_UP):
        dot = here / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            text = dot.read_text("utf-8", "replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:"):].strip())
                return target if target.is_absolute() else (here / target).resolve()
            return None
        if here.parent == here:
            return None
        here = here.parent
    return None


def _common_dir(git_dir: Path) -> Path:
    """Where shared refs live (a linked worktree names it in ``commondir``)."""
    common = git_dir / "commondir"
    if common.is_file():
        target = Path(common.read_text("utf-8", "replace").strip())
        return target if target.is_absolute() else (git_dir / target).resolve()
    return git_dir


def _ref(git_dir: Path, common: Path, name: str) -> str | None:
    for base in (git_dir, common):
        path = base / name
        if path.is_file():
            return path.read_text("utf-8", "replace").strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text("utf-8", "replace").splitlines():
            sha, _, ref = line.partition(" ")
            if ref.strip() == name and _SHA.fullmatch(sha):
                return sha
    return None


def git_head(root: str | os.PathLike[str]) -> str | None:
    """The commit ``HEAD`` resolves to in the git work tree holding ``root``; ``None``
    outside a repository, before the first commit, or when the files cannot be read."""
    try:
        git_dir = _git_dir(Path(os.path.realpath(root)))
        if git_dir is None:
            return None
        common = _common_dir(git_dir)
        value = (git_dir / "HEAD").read_text("utf-8", "replace").strip()
        for _ in range(_MAX_LINKS):
            if not value.startswith("ref:"):
                break
            ref = value[len("ref:"):].strip()
            if ".." in ref.split("/"):
                return None
            found = _ref(git_dir, common, ref)
            if found is None:
                return None  # an unborn branch: no commit yet
            value = found
    except OSError:
        return None
    return value if _SHA.fullmatch(value) else None
