"""search.grep and search.glob through the router: per-file policy, no symlink followed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import Setup


def tree(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "main.py").write_text("import os\nTODO = 1\nprint('todo')\n")
    (root / "src" / "pkg" / "util.py").write_text("def f():\n    return 'TODO later'\n")
    (root / "README.md").write_text("# Project\nNothing TODO here\n")
    (root / "secret.env").write_text("TODO token\n")  # denied by the policy
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("TODO in git\n")
    (root / "image.bin").write_bytes(b"TODO\x00\x01\x02")


def grep(setup: Setup, **args: Any) -> dict[str, Any]:
    result = setup.router.call("search.grep", args)
    assert result.status == "ok", result.to_json()
    out: dict[str, Any] = result.to_json()["output"]
    return out


def test_grep_finds_lines_and_skips_git_binary_and_denied_files(setup: Setup) -> None:
    tree(setup.root)
    out = grep(setup, pattern="TODO")
    assert [(m["path"], m["line"], m["text"]) for m in out["matches"]] == [
        ("README.md", 2, "Nothing TODO here"),
        ("src/main.py", 2, "TODO = 1"),
        ("src/pkg/util.py", 2, "    return 'TODO later'"),
    ]
    assert "secret.env" in out["denied"]
    assert out["skipped"].get("binary") == 1
    assert out["truncated"] is False


def test_grep_records_a_read_decision_and_material_for_each_file_it_returns(
    setup: Setup,
) -> None:
    tree(setup.root)
    result = setup.router.call("search.grep", {"pattern": "TODO", "path": "src"})
    decisions = setup.decisions()
    assert decisions[0].action.kind == "file.list"
    assert decisions[0].action.path == str(setup.root / "src")
    reads = sorted(d.action.path or "" for d in decisions[1:])
    assert reads == [str(setup.root / "src" / "main.py"),
                     str(setup.root / "src" / "pkg" / "util.py")]
    assert all(d.action.kind == "file.read" and d.decision.decision == "allow"
               for d in decisions[1:])
    [outcome] = setup.outcomes()
    assert outcome.action_index == result.decision_index
    main = (setup.root / "src" / "main.py").read_bytes()
    assert dict(outcome.materials) == {
        str(setup.root / "src" / "main.py"): hashlib.sha256(main).hexdigest(),
        str(setup.root / "src" / "pkg" / "util.py"):
            hashlib.sha256((setup.root / "src" / "pkg" / "util.py").read_bytes()).hexdigest()}
    assert "src/main.py:2:TODO = 1" in outcome.stdout.excerpt


def test_grep_options(setup: Setup) -> None:
    tree(setup.root)
    assert [m["path"] for m in grep(setup, pattern="todo", ignore_case=True,
                                    include="*.py")["matches"]] == \
        ["src/main.py", "src/main.py", "src/pkg/util.py"]
    assert grep(setup, pattern="print('todo')", fixed=True)["matches"][0]["line"] == 3
    assert grep(setup, pattern="pr.nt", path="src/main.py")["matches"][0]["line"] == 3
    limited = grep(setup, pattern="TODO", max_matches=2)
    assert len(limited["matches"]) == 2 and limited["truncated"] is True
    bad = setup.router.call("search.grep", {"pattern": "("})
    assert bad.status == "error" and bad.error_code == "E_TOOL_ARGS"


def test_grep_reports_each_line_once_and_counts_lines_right(setup: Setup) -> None:
    (setup.root / "f.txt").write_text("a a a\nb\n\nc a\r\nlast a")
    out = grep(setup, pattern="a")
    assert [(m["line"], m["text"]) for m in out["matches"]] == [(1, "a a a"), (4, "c a"),
                                                               (5, "last a")]


def test_grep_follows_no_symlink(setup: Setup) -> None:
    (setup.outside / "leak.txt").write_text("TODO outside\n")
    (setup.root / "door").symlink_to(setup.outside)
    (setup.root / "file-door.txt").symlink_to(setup.outside / "leak.txt")
    out = grep(setup, pattern="TODO")
    assert out["matches"] == []
    assert out["skipped"] == {"symlink or special file": 2}
    through = setup.router.call("search.grep", {"pattern": "TODO", "path": "door"})
    assert through.status == "denied"  # the root itself resolves outside the workspace


def test_grep_does_not_open_a_hard_linked_file(setup: Setup) -> None:
    (setup.outside / "o.txt").write_text("TODO outside\n")
    os.link(setup.outside / "o.txt", setup.root / "linked.txt")
    out = grep(setup, pattern="TODO")
    assert out["matches"] == [] and out["skipped"] == {"hard-linked": 1}


@pytest.mark.parametrize("pattern", ["**/*.py", "*.md", "src/*/*.py", "src/**", "**/util.py",
                                     "*", "**/pkg", "s?c/[m]*"])
def test_glob_matches_like_pathlib(setup: Setup, pattern: str) -> None:
    tree(setup.root)
    result = setup.router.call("search.glob", {"pattern": pattern})
    assert result.ok, result.to_json()
    want = sorted(str(p.relative_to(setup.root)) or "." for p in setup.root.glob(pattern)
                  if ".codor/keys/" not in str(p) + "/")  # a protected directory
    assert result.to_json()["output"]["paths"] == want


def test_glob_lists_a_symlink_but_never_descends_into_it(setup: Setup) -> None:
    (setup.outside / "x.py").write_text("")
    (setup.root / "door").symlink_to(setup.outside)
    (setup.root / "a.py").write_text("")
    out = setup.router.call("search.glob", {"pattern": "**/*.py"}).to_json()["output"]
    assert out["paths"] == ["a.py"]
    names = setup.router.call("search.glob", {"pattern": "*"}).to_json()["output"]["paths"]
    assert "door" in names


def test_glob_does_not_descend_into_denied_directories(setup: Setup) -> None:
    (setup.root / "secrets" / "deep").mkdir(parents=True)
    (setup.root / "secrets" / "deep" / "a.py").write_text("")
    (setup.root / "b.py").write_text("")
    result = setup.router.call("search.glob", {"pattern": "**/*.py"})
    out = result.to_json()["output"]
    assert out["paths"] == ["b.py"] and "secrets" in out["denied"]


@pytest.mark.parametrize("pattern", ["../*", "a/../../b", "", "/"])
def test_glob_refuses_patterns_that_leave_the_root(setup: Setup, pattern: str) -> None:
    result = setup.router.call("search.glob", {"pattern": pattern})
    assert result.status == "error" and result.error_code == "E_TOOL_ARGS"


def test_glob_limits_its_results(setup: Setup) -> None:
    for i in range(5):
        (setup.root / f"f{i}.txt").write_text("")
    out = setup.router.call("search.glob", {"pattern": "*.txt", "max_results": 3}).to_json()
    assert out["output"]["paths"] == ["f0.txt", "f1.txt", "f2.txt"]
    assert out["output"]["truncated"] is True
