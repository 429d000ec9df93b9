"""The patch guard: size limits, forbidden paths, added-line patterns, parseability."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from codor.errors import PolicyPatternError, PolicySchemaError
from codor.policy.guards import patch as patch_guard
from codor.policy.guards.base import Finding
from codor.policy.guards.patch import PatchGuard
from tests.policy.guards.helpers import WORKSPACE, build, judge


def make(text: str = "{}", workspace: str = WORKSPACE,
         warnings: list[str] | None = None) -> PatchGuard:
    return build(patch_guard, text, warnings=warnings, workspace=workspace)


def run(guard: PatchGuard, patch: str, workspace: str = WORKSPACE,
        **fields: Any) -> Sequence[Finding]:
    return judge(guard, "patch.apply", workspace=workspace, patch=patch, **fields)


def rules(findings: Sequence[Finding]) -> list[str]:
    return [f.rule for f in findings]


def diff(path: str, added: Sequence[str] = ("x",), removed: Sequence[str] = ()) -> str:
    body = "".join(f"-{line}\n" for line in removed) + "".join(f"+{line}\n" for line in added)
    return (f"--- a/{path}\n+++ b/{path}\n@@ -1,{len(removed)} +1,{len(added)} @@\n{body}")


SIMPLE = "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,3 @@\n import os\n+print('hello')\n"


def test_guard_name_and_kinds() -> None:
    g = make()
    assert g.name == "patch" and g.kinds == frozenset({"patch.apply"})


def test_ordinary_patch_says_nothing() -> None:
    assert run(make(), SIMPLE) == []


def test_guard_never_allows() -> None:
    g = make("forbidden_paths: ['*.pem']\nask_patterns: [x]")
    for patch in (SIMPLE, diff("a.pem"), diff("b.py", ["x"]), "junk"):
        assert all(f.effect in ("deny", "ask") for f in run(g, patch))


# -- sizes -------------------------------------------------------------------------------------
def test_patch_over_max_bytes_is_denied_without_parsing() -> None:
    (f,) = run(make("max_bytes: 100\nforbidden_paths: ['**']"), diff("a.py", ["y" * 200]))
    assert (f.effect, f.rule) == ("deny", "patch.too_large")
    assert "max_bytes (100)" in f.message


def test_max_bytes_counts_utf8_bytes() -> None:
    g = make("max_bytes: 100")
    patch = diff("a.py", ["é" * 31])  # 62 bytes of é plus headers
    assert len(patch) <= 100 < len(patch.encode())
    assert rules(run(g, patch)) == ["patch.too_large"]


def test_too_many_added_lines() -> None:
    g = make("max_added_lines: 3")
    assert run(g, diff("a.py", ["1", "2", "3"])) == []
    (f,) = run(g, diff("a.py", ["1", "2", "3", "4"]))
    assert f.rule == "patch.too_many_added" and "adds 4 lines" in f.message


def test_too_many_removed_lines() -> None:
    g = make("max_removed_lines: 1")
    (f,) = run(g, diff("a.py", [], ["1", "2"]))
    assert f.rule == "patch.too_many_removed" and "max_removed_lines (1)" in f.message


def test_added_lines_count_over_all_files() -> None:
    g = make("max_added_lines: 3")
    assert rules(run(g, diff("a.py", ["1", "2"]) + diff("b.py", ["1", "2"]))) == [
        "patch.too_many_added"]


def test_too_many_files() -> None:
    g = make("max_files: 2")
    patch = "".join(diff(f"f{i}.py") for i in range(3))
    (f,) = run(g, patch)
    assert f.rule == "patch.too_many_files" and "3 files" in f.message


def test_default_limits() -> None:
    g = make()
    assert run(g, diff("a.py", ["x"] * 2000)) == []
    assert rules(run(g, diff("a.py", ["x"] * 2001))) == ["patch.too_many_added"]
    assert rules(run(g, "".join(diff(f"f{i}.py") for i in range(101)))) == [
        "patch.too_many_files"]


# -- parseability ------------------------------------------------------------------------------
def test_text_that_is_not_a_diff_is_denied() -> None:
    (f,) = run(make(), "please apply my changes")
    assert (f.effect, f.rule) == ("deny", "patch.unparseable")


def test_literal_backslash_n_patch_is_unparseable() -> None:
    patch = r"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n+evil\n"
    assert rules(run(make(), patch)) == ["patch.unparseable"]
    assert run(make("require_parseable: false"), patch) == []


def test_new_and_deleted_files_parse() -> None:
    created = "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+x\n"
    deleted = "--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    assert run(make(), created) == [] and run(make(), deleted) == []


# -- forbidden paths ---------------------------------------------------------------------------
def test_forbidden_path_in_the_diff_is_denied() -> None:
    g = make("forbidden_paths: ['.github/workflows/**', '*.pem']")
    (f,) = run(g, diff(".github/workflows/ci.yml"))
    assert (f.effect, f.rule, f.severity) == ("deny", "patch.forbidden_path", "high")
    assert "/workspace/.github/workflows/ci.yml" in f.message
    assert rules(run(g, diff("certs/server.pem"))) == ["patch.forbidden_path"]
    assert run(g, diff("src/app.py")) == []


def test_forbidden_path_from_the_action_path_is_denied() -> None:
    g = make("forbidden_paths: ['/etc/**']")
    assert rules(run(g, SIMPLE, path="/etc/hosts")) == ["patch.forbidden_path"]


def test_old_path_of_a_rename_counts() -> None:
    g = make("forbidden_paths: ['secrets/**']")
    patch = "--- a/secrets/k.txt\n+++ b/public/k.txt\n@@ -1 +1 @@\n-a\n+a\n"
    assert rules(run(g, patch)) == ["patch.forbidden_path"]


def test_paths_resolve_against_the_action_cwd() -> None:
    g = make("forbidden_paths: ['/srv/app/config/**']")
    assert rules(run(g, diff("config/prod.yml"), cwd="/srv/app")) == ["patch.forbidden_path"]
    assert run(g, diff("config/prod.yml")) == []


def test_dot_dot_cannot_escape_a_forbidden_glob() -> None:
    g = make("forbidden_paths: ['/etc/**']")
    assert rules(run(g, diff("../../etc/passwd"))) == ["patch.forbidden_path"]


def test_symlink_into_a_forbidden_tree_is_denied(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "protected").mkdir(parents=True)
    os.symlink(ws / "protected", ws / "innocent")
    g = make("forbidden_paths: ['protected/**']", workspace=str(ws))
    (f,) = run(g, diff("innocent/file.txt"), workspace=str(ws), cwd=str(ws))
    assert f.rule == "patch.forbidden_path" and "protected" in f.message


def test_nul_in_a_path_is_denied() -> None:
    g = make("forbidden_paths: ['x']")
    assert rules(run(g, "--- a/a\x00b\n+++ b/a\x00b\n@@ -1 +1 @@\n+x\n")) == [
        "patch.forbidden_path"]


# -- patterns ----------------------------------------------------------------------------------
def test_forbidden_pattern_in_added_lines_is_denied() -> None:
    g = make(r"forbidden_patterns: ['eval\(', '^\s*import\s+pickle']")
    (f,) = run(g, diff("a.py", ["x = eval(user_input)"]))
    assert (f.effect, f.rule, f.severity) == ("deny", "patch.forbidden_pattern", "high")
    assert "a.py" in f.message and "eval" in f.message
    assert "user_input" not in f.message  # the line itself is never shown


def test_patterns_ignore_removed_and_context_lines() -> None:
    g = make(r"forbidden_patterns: ['eval\(']")
    assert run(g, diff("a.py", ["y = 1"], ["x = eval(s)"])) == []
    context = "--- a/a.py\n+++ b/a.py\n@@ -1 +1,2 @@\n x = eval(s)\n+y = 1\n"
    assert run(g, context) == []


def test_patterns_are_multiline_per_line_anchors() -> None:
    g = make(r"forbidden_patterns: ['^import pickle$']")
    assert rules(run(g, diff("a.py", ["import os", "import pickle", "x = 1"]))) == [
        "patch.forbidden_pattern"]


def test_one_finding_per_pattern_listing_the_files() -> None:
    g = make(r"forbidden_patterns: ['eval\(']")
    patch = "".join(diff(f"f{i}.py", ["eval(x)"]) for i in range(5))
    (f,) = run(g, patch)
    assert "f0.py, f1.py, f2.py and 2 more" in f.message


def test_ask_pattern_asks() -> None:
    g = make(r"ask_patterns: ['(?i)disable[\s_\-]?(security|auth|ssl|tls)']")
    (f,) = run(g, diff("src/security.rs", ["    // disable security checks for debugging"]))
    assert (f.effect, f.rule, f.severity) == ("ask", "patch.ask_pattern", "medium")


def test_deny_and_ask_patterns_both_report() -> None:
    g = make("forbidden_patterns: [foo]\nask_patterns: [bar]")
    assert sorted(rules(run(g, diff("a.py", ["foo bar"])))) == [
        "patch.ask_pattern", "patch.forbidden_pattern"]


# -- configuration ----------------------------------------------------------------------------
def test_bad_regex_is_a_pattern_error_with_location() -> None:
    with pytest.raises(PolicyPatternError) as exc:
        make("forbidden_patterns:\n  - ok\n  - '(broken'\n")
    assert exc.value.location == "policy.yaml:3"


def test_bad_glob_is_a_pattern_error() -> None:
    with pytest.raises(PolicyPatternError):
        make("forbidden_paths: ['a/**b']")


@pytest.mark.parametrize("body", [
    "max_bytes: -1",
    "max_files: many",
    "max_added_lines: 1.5",
    "require_parseable: yes please",
    "forbidden_pattern: [x]",
    "forbidden_patterns: {a: b}",
])
def test_bad_settings_are_schema_errors(body: str) -> None:
    with pytest.raises(PolicySchemaError):
        make(body)


def test_empty_pattern_list_warns() -> None:
    warnings: list[str] = []
    make("forbidden_patterns: []", warnings=warnings)
    assert any("forbidden_patterns" in w for w in warnings)


def test_inherit_key_is_accepted() -> None:
    assert make("inherit: false").name == "patch"
