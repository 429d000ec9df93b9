"""Unified diffs applied in-process: hunks with exact context (fuzz 0), atomic per file.

The diff is read twice: :func:`codor.policy.diff.parse_patch` (what the policy judged: paths,
added and removed lines) and :func:`parse_hunks` here (line counts from each ``@@`` header,
so a removed line that looks like ``--- x`` stays a removed line). Both must agree on every
file section, its paths and its added and removed lines, or the patch is refused: what is
written is exactly what the policy saw. Lines outside hunks (``diff --git``, ``index``, mail
text) are ignored; ``new file mode`` sets a created file's permission bits; binary patches,
copies and mode-only changes are refused. A hunk applies where its header says or, if the
context is not there, at the nearest line where every context and removed line matches
exactly (an *offset*, as ``patch`` and ``git apply`` allow); there is no fuzz. ``/dev/null``
as the old path creates a file (it must not exist), as the new path deletes it (every line
must be removed); different old and new paths rename. Every file's new content is computed
before anything is written, then each file is written atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from codor.errors import PatchApplyError
from codor.policy.diff import parse_patch

__all__ = ["FileDiff", "Hunk", "apply_hunks", "parse_hunks", "split_lines"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_UNSUPPORTED: Final = ("GIT binary patch", "Binary files ", "copy from ", "old mode ",
                       "new mode ")


@dataclass(frozen=True, slots=True)
class Hunk:
    """One ``@@`` hunk: its header numbers and its lines as (tag, text) with tag one of
    `` ``, ``-``, ``+``; ``text`` ends with ``\\n`` unless the diff said there was none."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[tuple[str, str], ...]

    @property
    def old(self) -> list[str]:
        return [t for tag, t in self.lines if tag != "+"]

    @property
    def new(self) -> list[str]:
        return [t for tag, t in self.lines if tag != "-"]


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One file section: paths as the policy's reader gives them (``None`` = /dev/null)."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]
    new_mode: int | None = None


def split_lines(text: str) -> list[str]:
    """``text`` as lines that keep their ``\\n`` (only ``\\n`` separates lines)."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _hunk(lines: list[str], i: int, header: re.Match[str]) -> tuple[Hunk, int]:
    old_len = 1 if header.group(2) is None else int(header.group(2))
    new_len = 1 if header.group(4) is None else int(header.group(4))
    body: list[tuple[str, str]] = []
    olds = news = 0
    n = len(lines)
    while olds < old_len or news < new_len:
        if i >= n:
            raise PatchApplyError(f"hunk {header.group(0)} ends early")
        line = lines[i]
        if line.startswith("\\"):
            if body:
                tag, text = body[-1]
                body[-1] = (tag, text.removesuffix("\n"))
            i += 1
            continue
        tag, text = (line[:1], line[1:]) if line else (" ", "")
        if tag not in (" ", "-", "+"):
            raise PatchApplyError(f"hunk {header.group(0)}: unexpected line {line[:60]!r}")
        body.append((tag, text + "\n"))
        olds += tag != "+"
        news += tag != "-"
        i += 1
        if olds > old_len or news > new_len:
            raise PatchApplyError(f"hunk {header.group(0)} has more lines than its header says")
    if i < n and lines[i].startswith("\\") and body:
        tag, text = body[-1]
        body[-1] = (tag, text.removesuffix("\n"))
        i += 1
    hunk = Hunk(int(header.group(1)), old_len, int(header.group(3)), new_len, tuple(body))
    return hunk, i


def parse_hunks(text: str) -> list[FileDiff]:
    """Every file section of a unified diff with its hunks, checked against the policy's
    reading of the same text (:func:`~codor.policy.diff.parse_patch`)."""
    lines = text.split("\n")
    n = len(lines)
    sections: list[tuple[list[Hunk], int | None]] = []
    mode: int | None = None
    i = 0
    while i < n:
        line = lines[i]
        if line.startswith("diff --git "):
            mode = None
        elif line.startswith(_UNSUPPORTED):
            raise PatchApplyError(f"unsupported diff section: {line[:60]!r} (binary patches, "
                                  f"copies and mode changes are not applied by patch.apply)")
        elif line.startswith("new file mode "):
            try:
                mode = int(line.split()[-1], 8) & 0o777
            except ValueError:
                raise PatchApplyError(f"bad mode line {line[:60]!r}") from None
        elif line.startswith("--- ") and i + 1 < n and lines[i + 1].startswith("+++ "):
            hunks: list[Hunk] = []
            i += 2
            while i < n and (m := _HUNK.match(lines[i])):
                hunk, i = _hunk(lines, i + 1, m)
                hunks.append(hunk)
            if not hunks:
                raise PatchApplyError(f"file section {line[4:64]!r} has no hunk")
            sections.append((hunks, mode))
            mode = None
            continue
        i += 1
    judged = parse_patch(text).files
    if not sections:
        raise PatchApplyError("no file section in the patch (expected ---/+++ headers and "
                              "@@ hunks)")
    if len(judged) != len(sections):
        raise PatchApplyError(f"the diff reads as {len(sections)} file section(s) by its hunk "
                              f"headers but {len(judged)} by the policy's reader; refused")
    out: list[FileDiff] = []
    for fp, (hunks, new_mode) in zip(judged, sections, strict=True):
        added = tuple(t.removesuffix("\n") for h in hunks for tag, t in h.lines if tag == "+")
        removed = tuple(t.removesuffix("\n") for h in hunks for tag, t in h.lines if tag == "-")
        if added != fp.added or removed != fp.removed:
            raise PatchApplyError(f"the lines of {fp.new_path or fp.old_path} read differently "
                                  f"by hunk headers and by the policy's reader; refused")
        if fp.old_path is None and fp.new_path is None:
            raise PatchApplyError("a file section names /dev/null on both sides")
        out.append(FileDiff(fp.old_path, fp.new_path, tuple(hunks), new_mode))
    return out


def _find(lines: list[str], old: list[str], want: int, floor: int) -> int | None:
    """The start nearest to ``want`` (not before ``floor``) where ``old`` matches exactly."""
    size = len(old)
    limit = len(lines) - size
    if limit < floor:
        return None
    want = min(max(want, floor), limit)
    for delta in range(max(want - floor, limit - want) + 1):
        for pos in (want - delta, want + delta) if delta else (want,):
            if floor <= pos <= limit and lines[pos:pos + size] == old:
                return pos
    return None


def apply_hunks(text: str, hunks: tuple[Hunk, ...], name: str) -> tuple[str, list[int]]:
    """Apply ``hunks`` in order to ``text``; returns the new text and each hunk's offset."""
    lines = split_lines(text)
    out: list[str] = []
    offsets: list[int] = []
    done = 0  # lines of the original consumed so far
    for number, hunk in enumerate(hunks, 1):
        old = hunk.old
        want = hunk.old_start - 1 if hunk.old_len else hunk.old_start
        pos = _find(lines, old, want, done)
        if pos is None:
            raise PatchApplyError(f"{name}: hunk {number} (@@ -{hunk.old_start},{hunk.old_len} "
                                  f"@@) does not match the file; nothing was changed")
        offsets.append(pos - want)
        out.extend(lines[done:pos])
        out.extend(hunk.new)
        done = pos + len(old)
    out.extend(lines[done:])
    return "".join(out), offsets
