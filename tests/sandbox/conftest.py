"""Fixtures for sandbox tests: throwaway workspaces whose mount points are released after."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from codor.sandbox.mountpoints import release_mount_points


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    """An empty workspace directory (not a git repository)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    yield ws
    release_mount_points(str(ws))


@pytest.fixture
def repo(workspace: Path) -> Path:
    """A workspace that is a git repository with one commit (made on the host)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workspace.parent), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    (workspace / "README.md").write_text("hello\n")
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-qm", "initial"]):
        subprocess.run(argv, cwd=workspace, env=env, check=True, capture_output=True)
    return workspace
