"""write_atomic: the whole new content or the old one, with the asked mode, no leftovers."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from codor.atomicfile import write_atomic


def test_a_file_is_replaced_whole_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    write_atomic(target, b"new", mode=0o640)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    write_atomic(target, b"newer", durable=False)
    assert target.read_bytes() == b"newer" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_text("x")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "dir", b"data")  # a non-empty directory cannot be replaced
    assert (tmp_path / "dir" / "inside").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]
