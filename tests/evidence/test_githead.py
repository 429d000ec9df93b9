"""git_head: the commit HEAD resolves to, read from the repository's files, checked against
``git rev-parse`` on real repositories (loose and packed refs, detached, worktrees)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codor.evidence.githead import git_head


def git(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.com",
               GIT_COMMITTER_NAME="dev", GIT_COMMITTER_EMAIL="dev@example.com")
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "sub" / "dir").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


def test_head_of_a_branch_with_a_loose_ref(repo: Path) -> None:
    assert git_head(repo) == git(repo, "rev-parse", "HEAD")
    assert git_head(repo / "sub" / "dir") == git(repo, "rev-parse", "HEAD")


def test_head_of_a_branch_with_packed_refs(repo: Path) -> None:
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert git_head(repo) == git(repo, "rev-parse", "HEAD")


def test_detached_head(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    git(repo, "checkout", "-q", "--detach", first)
    assert git_head(repo) == first


def test_linked_worktree_reads_its_own_head(repo: Path, tmp_path: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    other = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(other), "HEAD~1")
    assert (other / ".git").is_file()
    assert git_head(other) == git(other, "rev-parse", "HEAD") != git_head(repo)


def test_no_commit_yet_and_no_repository_give_none(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert git_head(empty) is None
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_head(plain) is None


def test_a_garbled_head_gives_none(repo: Path) -> None:
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/../../../etc/passwd\n")
    assert git_head(repo) is None
    (repo / ".git" / "HEAD").write_text("not a sha\n")
    assert git_head(repo) is None
