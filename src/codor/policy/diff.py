"""A small, strict-enough unified diff reader: which files a patch touches and what it adds."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from codor.model import Action

__all__ = ["FilePatch", "PatchInfo", "parse_patch", "touched_paths"]


@dataclass(frozen=True, slots=True)
class FilePatch:
    """One file's part of a patch. Paths have their ``a/`` / ``b/`` prefixes removed;
    ``None`` stands for ``/dev/null`` (file created or deleted)."""

    old_path: str | None
    new_path: str | None
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        out = []
        for p in (self.old_path, self.new_path):
            if p is not None and p not in out:
                out.append(p)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class PatchInfo:
    files: tuple[FilePatch, ...]
    size: int
    _paths: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def added(self) -> int:
        return sum(len(f.added) for f in self.files)

    @property
    def removed(self) -> int:
        return sum(len(f.removed) for f in self.files)

    @property
    def paths(self) -> tuple[str, ...]:
        got = self._paths  # computed once (several guards ask)
        if got is None:
            out: list[str] = []
            for f in self.files:
                out.extend(p for p in f.paths if p not in out)
            got = tuple(out)
            object.__setattr__(self, "_paths", got)
        return got

    def added_text(self) -> str:
        return "\n".join(line for f in self.files for line in f.added)


def _strip_prefix(raw: str) -> str | None:
    path = raw.split("\t", 1)[0].strip()
    if path.startswith('"') and path.endswith('"') and len(path) >= 2:
        path = path[1:-1]
    if path == "/dev/null":
        return None
    if path.startswith(("a/", "b/")):
        return path[2:]
    return path


@lru_cache(maxsize=256)
def parse_patch(text: str) -> PatchInfo:
    """Parse a unified diff (git or plain). Lines outside hunks are ignored; added and removed
    lines are collected per file. Text that is not a diff yields no files."""
    files: list[FilePatch] = []
    old: str | None = None
    new: str | None = None
    added: list[str] = []
    removed: list[str] = []
    in_file = False
    in_hunk = False
    lines = text.split("\n")
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        c = line[:1]  # the prefixes below differ in their first character
        if c == "+":
            if in_hunk:
                added.append(line[1:])
        elif c == "-":
            if line.startswith("--- ") and i + 1 < n and lines[i + 1].startswith("+++ "):
                if in_file:
                    files.append(FilePatch(old, new, tuple(added), tuple(removed)))
                old, new = _strip_prefix(line[4:]), _strip_prefix(lines[i + 1][4:])
                added, removed = [], []
                in_file, in_hunk = True, False
                i += 2
                continue
            if in_hunk:
                removed.append(line[1:])
        elif c == "@":
            if line.startswith("@@"):
                in_hunk = in_file
        elif c == "d" and line.startswith("diff --git "):
            in_hunk = False
        i += 1
    if in_file:
        files.append(FilePatch(old, new, tuple(added), tuple(removed)))
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return PatchInfo(tuple(files), size)


def touched_paths(action: Action) -> list[str]:
    """The paths an action names, as written: its ``path`` and, for ``patch.apply``, every
    file the diff touches (without repeats)."""
    paths = [action.path] if action.path is not None else []
    if action.kind == "patch.apply" and action.patch:
        paths.extend(p for p in parse_patch(action.patch).paths if p not in paths)
    return paths
