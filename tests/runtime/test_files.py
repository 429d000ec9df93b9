"""The safe file layer on real files: it reaches exactly the decided path or fails closed."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from codor.errors import ToolArgumentError, ToolIOError, UnsafePathError
from codor.runtime import files


def test_locate_normalises_like_the_policy_and_resolves_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    ws = str(tmp_path)
    plain = files.locate("a//b/../c.txt", ws, "/root")
    assert plain.norm == plain.path == f"{ws}/a/c.txt" and not plain.resolved
    alias = files.locate(f"/proc/self/root{ws}/x", ws, "/root")
    assert alias.norm == f"{ws}/x"
    via = files.locate("link/f.txt", ws, "/root")
    assert via.norm == f"{ws}/link/f.txt" and via.path == f"{ws}/real/f.txt" and via.resolved
    entry = files.locate("link", ws, "/root", "entry")  # delete removes the link itself
    assert entry.path == entry.norm == f"{ws}/link"
    with pytest.raises(ToolArgumentError):
        files.locate("a\x00b", ws, "/root")


def test_read_is_bounded_and_hashes_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(3000)
    (tmp_path / "f.bin").write_bytes(data)
    got = files.read_file(str(tmp_path / "f.bin"), max_bytes=100)
    assert got.data == data[:100] and got.size == 3000 and got.truncated
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    whole = files.read_file(str(tmp_path / "f.bin"), max_bytes=10_000)
    assert whole.data == data and not whole.truncated


def test_a_directory_swapped_for_a_symlink_fails_closed(tmp_path: Path) -> None:
    """The decided path had a real directory; it becomes a symlink to elsewhere before the
    open: the walk refuses it instead of following it."""
    (tmp_path / "ws" / "d").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f.txt").write_text("not decided")
    decided = str(tmp_path / "ws" / "d" / "f.txt")
    (tmp_path / "ws" / "d").rmdir()
    (tmp_path / "ws" / "d").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError, match="changed between the decision and the open"):
        files.read_file(decided, max_bytes=100)
    with pytest.raises(UnsafePathError):
        files.write_file(decided, b"x")
    with pytest.raises(UnsafePathError):
        files.delete_entry(decided)
    assert (tmp_path / "elsewhere" / "f.txt").read_text() == "not decided"


def test_a_file_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text("outside")
    (tmp_path / "f.txt").symlink_to(tmp_path / "target.txt")
    with pytest.raises(UnsafePathError, match="symlink"):
        files.read_file(str(tmp_path / "f.txt"), max_bytes=100)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UnsafePathError, match="not a regular file"):
        files.write_file(str(fifo), b"data")
    with pytest.raises(UnsafePathError, match="not a regular file"):
        files.read_file(str(fifo), max_bytes=10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO: not replaced


def test_a_device_is_refused() -> None:
    with pytest.raises(UnsafePathError, match="not a regular file"):
        files.read_file("/dev/zero", max_bytes=10)


def test_hard_links_are_refused_for_writes_and_by_default_for_reads(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("keep me")
    os.link(tmp_path / "outside.txt", tmp_path / "alias.txt")
    with pytest.raises(UnsafePathError, match="2 hard links"):
        files.write_file(str(tmp_path / "alias.txt"), b"changed")
    with pytest.raises(UnsafePathError, match="hard links"):
        files.read_file(str(tmp_path / "alias.txt"), max_bytes=100)
    allowed = files.read_file(str(tmp_path / "alias.txt"), max_bytes=100, hardlinks_ok=True)
    assert allowed.data == b"keep me"
    assert (tmp_path / "outside.txt").read_text() == "keep me"


def test_writes_are_atomic_keep_the_mode_and_leave_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o751)
    inode = target.stat().st_ino
    info = files.write_file(str(target), b"#!/bin/sh\n")
    assert not info.created and info.size == 10
    assert info.sha256 == hashlib.sha256(b"#!/bin/sh\n").hexdigest()
    assert target.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert target.stat().st_ino != inode  # a new file renamed over the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["script.sh"]


def test_write_makes_missing_directories_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(ToolIOError, match="No such file"):
        files.write_file(str(tmp_path / "a" / "b.txt"), b"x", make_dirs=False)
    info = files.write_file(str(tmp_path / "a" / "b" / "c.txt"), b"x")
    assert info.created and (tmp_path / "a" / "b" / "c.txt").read_bytes() == b"x"


def test_delete_unlinks_a_symlink_not_its_target(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text("stays")
    (tmp_path / "link").symlink_to(tmp_path / "target.txt")
    assert files.delete_entry(str(tmp_path / "link")) is None
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "target.txt").exists()
    assert files.delete_entry(str(tmp_path / "target.txt")) == \
        hashlib.sha256(b"stays").hexdigest()
    (tmp_path / "dir").mkdir()
    with pytest.raises(ToolIOError, match="is a directory"):
        files.delete_entry(str(tmp_path / "dir"))


def test_list_and_lstat_never_follow(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("12345")
    (tmp_path / "a").mkdir()
    (tmp_path / "c").symlink_to("/etc")
    entries, truncated = files.list_dir(str(tmp_path), max_entries=10)
    assert [(e.name, e.type) for e in entries] == [("a", "dir"), ("b.txt", "file"),
                                                   ("c", "symlink")]
    assert entries[1].size == 5 and not truncated
    assert files.list_dir(str(tmp_path), max_entries=2)[1] is True
    assert files.lstat_target(str(tmp_path / "nope" / "x")) is None
    assert files.lstat_target(str(tmp_path / "b.txt" / "x")) is None  # a file on the way
    found = files.lstat_target(str(tmp_path / "c"))
    assert found is not None and stat.S_ISLNK(found.st_mode)
