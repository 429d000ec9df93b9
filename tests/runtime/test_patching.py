"""Unified diffs applied in-process: exact context, atomic, the same reading as the policy's."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from codor.errors import PatchApplyError
from codor.runtime.patching import apply_hunks, parse_hunks, split_lines
from tests.runtime.conftest import Setup


def git_diff(tmp_path: Path, before: dict[str, str], after: dict[str, str | None]) -> str:
    """A real ``git diff`` between two states of a small tree."""
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                               *args], cwd=repo, check=True, capture_output=True, text=True)
        return done.stdout

    git("init", "-q")
    for name, text in before.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git("add", "-A")
    git("commit", "-qm", "before")
    for name, new in after.items():
        if new is None:
            (repo / name).unlink()
        else:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(new)
    git("add", "-A")
    return git("diff", "--cached", "--no-renames")


def test_split_lines_keeps_terminators_and_only_splits_on_newline() -> None:
    assert split_lines("a\r\nb\x0bc\nd") == ["a\r\n", "b\x0bc\n", "d"]
    assert split_lines("") == [] and split_lines("x\n") == ["x\n"]


def test_hunks_apply_at_an_offset_but_never_with_fuzz() -> None:
    [section] = parse_hunks("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n")
    text, offsets = apply_hunks("x\ny\na\nb\nc\n", section.hunks, "f")
    assert text == "x\ny\na\nB\nc\n" and offsets == [2]
    with pytest.raises(PatchApplyError, match="does not match"):
        apply_hunks("a\nb changed\nc\n", section.hunks, "f")


def test_no_newline_markers_are_honoured() -> None:
    patch = ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-old\n\\ No newline at end of file\n+new\n"
             "\\ No newline at end of file\n")
    [section] = parse_hunks(patch)
    assert apply_hunks("old", section.hunks, "f")[0] == "new"
    with pytest.raises(PatchApplyError):
        apply_hunks("old\n", section.hunks, "f")  # the file does end with a newline


def test_a_removed_line_that_looks_like_a_header_stays_a_line() -> None:
    """``-- x`` removed and ``++ y`` added read as ``--- x``/``+++ y``: the policy's reader
    would see a new file section there, so the two readings differ and the patch is refused
    rather than applied differently from how it was judged."""
    patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n--- x\n+++ y\n"
    with pytest.raises(PatchApplyError, match="policy's reader"):
        parse_hunks(patch)


def test_unsupported_sections_are_refused() -> None:
    with pytest.raises(PatchApplyError, match="unsupported"):
        parse_hunks("diff --git a/x b/x\nold mode 100644\nnew mode 100755\n")
    with pytest.raises(PatchApplyError, match="no file section"):
        parse_hunks("just some text\n")
    with pytest.raises(PatchApplyError, match="ends early"):
        parse_hunks("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n")


def test_a_real_git_diff_round_trips(setup: Setup, tmp_path: Path) -> None:
    before = {"app.py": "import os\n\n\ndef main():\n    return 1\n" + "x = 0\n" * 20,
              "old.txt": "bye\n", "docs/a.md": "# A\n"}
    after: dict[str, str | None] = {
        "app.py": "import os\nimport sys\n\n\ndef main():\n    return 2\n" + "x = 0\n" * 19
                  + "x = 1\n",
        "old.txt": None, "new/b.md": "# B\nline\n"}
    patch = git_diff(tmp_path, before, after)
    for name, text in before.items():
        (setup.root / name).parent.mkdir(parents=True, exist_ok=True)
        (setup.root / name).write_text(text)
    result = setup.router.call("patch.apply", {"patch": patch})
    assert result.ok, result.to_json()
    assert (setup.root / "app.py").read_text() == after["app.py"]
    assert not (setup.root / "old.txt").exists()
    assert (setup.root / "new" / "b.md").read_text() == "# B\nline\n"
    changes = {f["path"]: f["change"] for f in result.to_json()["output"]["files"]}
    assert changes == {"app.py": "modified", "old.txt": "deleted", "new/b.md": "created"}
    [outcome] = setup.outcomes()
    assert set(outcome.materials) == {str(setup.root / "app.py"), str(setup.root / "old.txt")}
    assert set(outcome.products) == {str(setup.root / "app.py"),
                                     str(setup.root / "new" / "b.md")}


def test_a_mismatch_anywhere_changes_nothing(setup: Setup) -> None:
    (setup.root / "a.txt").write_text("one\n")
    (setup.root / "b.txt").write_text("two\n")
    patch = ("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-one\n+ONE\n"
             "--- a/b.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-three\n+THREE\n")
    result = setup.router.call("patch.apply", {"patch": patch})
    assert result.status == "error" and result.error_code == "E_PATCH_APPLY"
    assert (setup.root / "a.txt").read_text() == "one\n"
    [outcome] = setup.outcomes()
    assert "does not match" in outcome.stderr.excerpt and not outcome.products


def test_creating_an_existing_file_and_renaming_onto_one_are_refused(setup: Setup) -> None:
    (setup.root / "a.txt").write_text("x\n")
    create = "--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+y\n"
    assert setup.router.call("patch.apply", {"patch": create}).error_code == "E_PATCH_APPLY"
    (setup.root / "b.txt").write_text("x\n")
    rename = "--- a/a.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-x\n+z\n"
    assert setup.router.call("patch.apply", {"patch": rename}).error_code == "E_PATCH_APPLY"
    assert (setup.root / "a.txt").read_text() == (setup.root / "b.txt").read_text() == "x\n"


def test_rename_new_mode_crlf_and_two_sections_for_one_file(setup: Setup) -> None:
    (setup.root / "win.txt").write_bytes(b"a\r\nb\r\n")
    (setup.root / "old.py").write_text("1\n2\n")
    patch = ("--- a/win.txt\n+++ b/win.txt\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"
             "--- a/old.py\n+++ b/new.py\n@@ -1,2 +1,2 @@\n 1\n-2\n+3\n"
             "diff --git a/run.sh b/run.sh\nnew file mode 100755\n"
             "--- /dev/null\n+++ b/run.sh\n@@ -0,0 +1 @@\n+#!/bin/sh\n"
             "--- a/new.py\n+++ b/new.py\n@@ -2 +2,2 @@\n 3\n+4\n")
    result = setup.router.call("patch.apply", {"patch": patch})
    assert result.ok, result.to_json()
    assert (setup.root / "win.txt").read_bytes() == b"a\r\nc\r\n"
    assert not (setup.root / "old.py").exists()
    assert (setup.root / "new.py").read_text() == "1\n3\n4\n"
    assert stat.S_IMODE((setup.root / "run.sh").stat().st_mode) == 0o755


def test_the_path_argument_must_be_a_file_the_patch_touches(setup: Setup) -> None:
    (setup.root / "a.txt").write_text("x\n")
    patch = "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-x\n+y\n"
    wrong = setup.router.call("patch.apply", {"patch": patch, "path": "b.txt"})
    assert wrong.error_code == "E_TOOL_ARGS"
    right = setup.router.call("patch.apply", {"patch": patch, "path": "./a.txt"})
    assert right.ok and (setup.root / "a.txt").read_text() == "y\n"


def test_patch_paths_are_judged_by_the_policy(setup: Setup) -> None:
    (setup.outside / "o.txt").write_text("x\n")
    escape = "--- a/../outside/o.txt\n+++ b/../outside/o.txt\n@@ -1 +1 @@\n-x\n+y\n"
    assert setup.router.call("patch.apply", {"patch": escape}).status == "denied"
    (setup.root / "door").symlink_to(setup.outside)
    through = "--- a/door/o.txt\n+++ b/door/o.txt\n@@ -1 +1 @@\n-x\n+y\n"
    assert setup.router.call("patch.apply", {"patch": through}).status == "denied"
    assert (setup.outside / "o.txt").read_text() == "x\n"


def test_a_patch_through_an_inside_symlink_gets_a_decision_on_the_real_path(
    setup: Setup,
) -> None:
    (setup.root / "real").mkdir()
    (setup.root / "real" / "f.txt").write_text("x\n")
    (setup.root / "alias").symlink_to("real")
    patch = "--- a/alias/f.txt\n+++ b/alias/f.txt\n@@ -1 +1 @@\n-x\n+y\n"
    result = setup.router.call("patch.apply", {"patch": patch})
    assert result.ok and (setup.root / "real" / "f.txt").read_text() == "y\n"
    assert (setup.root / "alias").is_symlink()
    paths = [d.action.path for d in setup.decisions()]
    assert paths == [None, str(setup.root / "real" / "f.txt")]
