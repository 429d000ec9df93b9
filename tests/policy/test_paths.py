"""Path normalisation (pure) and resolution (symlinks), with property tests."""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codor.policy.paths import normalize_path, path_forms, resolve_path


@pytest.mark.parametrize(("raw", "expected"), [
    ("/etc/passwd", "/etc/passwd"),
    ("//etc//passwd", "/etc/passwd"),
    ("///etc/./passwd", "/etc/passwd"),
    ("/workspace/../etc/passwd", "/etc/passwd"),
    ("/../../etc/passwd", "/etc/passwd"),
    ("a/b/../c", "/workspace/a/c"),
    ("../../../etc/shadow", "/etc/shadow"),
    ("~", "/home/user"),
    ("~/.ssh/id_rsa", "/home/user/.ssh/id_rsa"),
    ("/proc/self/root/etc/shadow", "/etc/shadow"),
    ("/proc/self/root", "/"),
    ("/proc/thread-self/root/etc/shadow", "/etc/shadow"),
    ("/proc/4242/root/etc/shadow", "/etc/shadow"),
    ("/proc/1/task/7/root/etc/shadow", "/etc/shadow"),
    ("/proc/self/root/proc/self/root/etc/x", "/etc/x"),
    ("/proc/self/cwd/x", "/workspace/x"),
    ("/proc/self/rootfs/x", "/proc/self/rootfs/x"),
    ("/workspace/./src/", "/workspace/src"),
])
def test_normalize_path(raw: str, expected: str) -> None:
    assert normalize_path(raw, "/workspace", "/home/user") == expected


def test_nul_is_rejected() -> None:
    with pytest.raises(ValueError, match="NUL"):
        normalize_path("/etc/pass\x00wd", "/", "/root")


def test_symlink_is_resolved(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "link").symlink_to(outside)
    forms = path_forms(str(ws / "link" / "secret.txt"), str(ws), "/root")
    assert forms == (str(ws / "link" / "secret.txt"), str(outside / "secret.txt"))


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = resolve_path(str(tmp_path / "a" / "x"))
    assert result.startswith("/")


segments = st.text(alphabet="ab.~/", min_size=0, max_size=30)


@given(segments)
def test_normalized_paths_are_absolute_and_clean(raw: str) -> None:
    out = normalize_path(raw, "/workspace", "/home/user")
    assert out.startswith("/")
    assert "//" not in out
    assert "/./" not in out and not out.endswith("/.")
    assert "/../" not in out and not out.endswith("/..")
    assert out == "/" or not out.endswith("/")


@given(segments)
def test_normalization_is_idempotent(raw: str) -> None:
    once = normalize_path(raw, "/workspace", "/home/user")
    assert normalize_path(once, "/workspace", "/home/user") == once


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "proc", "self", "root"]),
                max_size=12))
def test_normalization_agrees_with_posix_semantics(parts: list[str]) -> None:
    raw = "/" + "/".join(parts)
    out = normalize_path(raw, "/", "/root")
    expected = posixpath.normpath(raw).replace("//", "/")
    if "/proc/self/root" not in expected:
        assert out == expected
    else:
        assert not out.startswith("/proc/self/root")


def test_fast_resolution_agrees_with_realpath(tmp_path: Path) -> None:
    import os

    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "deeper")
    (tmp_path / "real" / "file").write_text("x")
    (tmp_path / "real" / "up").symlink_to("..")
    cases = [
        "link/sub/new-file", "link/file", "link/up/link/file", "missing/a/b", "dangling",
        "dangling/child", "real/file/not-a-dir", "link", ".",
    ]
    for rel in cases:
        path = normalize_path(str(tmp_path / rel))
        assert resolve_path(path) == os.path.realpath(path), rel
