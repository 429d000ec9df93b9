"""``codor policy lint`` analyses: shadowed, duplicate, never-firing and no-op rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codor.policy import compile_ref
from codor.policy.lint import LintProblem, lint_policy


def lint(write_policy: Callable[..., Path], text: str) -> list[LintProblem]:
    path = write_policy(text)
    return lint_policy(lambda: compile_ref(path, workspace="/workspace", home="/h", env={}))


def codes(problems: list[LintProblem]) -> list[str]:
    return sorted(p.code for p in problems)


def test_clean_policy_has_no_problems(write_policy: Callable[..., Path]) -> None:
    assert lint(write_policy, "version: 1\nrules:\n"
                "  - {id: a, on: [file.read], match: {path: ['/w/**']}, effect: allow}\n") == []


def test_allow_shadowed_by_unconditional_deny(write_policy: Callable[..., Path]) -> None:
    problems = lint(write_policy, "version: 1\nrules:\n"
                    "  - {id: allow-reads, on: [file.read], match: {path: ['/w/**']}, "
                    "effect: allow}\n"
                    "  - {id: no-files, on: ['file.*'], effect: deny}\n")
    assert codes(problems) == ["W_SHADOWED"]
    assert problems[0].location is not None and problems[0].location.endswith(":3")
    assert "no-files" in problems[0].message


def test_deny_with_except_does_not_shadow(write_policy: Callable[..., Path]) -> None:
    problems = lint(write_policy, "version: 1\nrules:\n"
                    "  - {id: allow-reads, on: [file.read], effect: allow}\n"
                    "  - {id: no-files, on: ['file.*'], effect: deny, "
                    "except: [{path: ['/w/**']}]}\n")
    assert "W_SHADOWED" not in codes(problems)


def test_duplicate_rules(write_policy: Callable[..., Path]) -> None:
    problems = lint(write_policy, "version: 1\nrules:\n"
                    "  - {id: a, on: [file.read], match: {path: ['/x']}, effect: ask}\n"
                    "  - {id: b, on: [file.read], match: {path: ['/x']}, effect: ask}\n")
    assert codes(problems) == ["W_DUPLICATE"]


def test_path_match_on_pathless_kinds_never_fires(write_policy: Callable[..., Path]) -> None:
    problems = lint(write_policy, "version: 1\nrules:\n"
                    "  - {id: a, on: [command.exec], match: {path: ['/etc/**']}, effect: deny}\n")
    assert codes(problems) == ["W_NEVER_FIRES"]
    assert "command.exec" in problems[0].message


def test_pass_rule_without_except_does_nothing(write_policy: Callable[..., Path]) -> None:
    problems = lint(write_policy, "version: 1\nrules:\n"
                    "  - {id: a, on: [file.read], effect: pass}\n")
    assert codes(problems) == ["W_NO_EFFECT"]


def test_empty_except_never_fires(write_policy: Callable[..., Path]) -> None:
    problems = lint(write_policy, "version: 1\nrules:\n"
                    "  - {id: a, on: [file.read], except: [{}], effect: deny}\n")
    assert codes(problems) == ["W_NEVER_FIRES"]


def test_load_error_is_reported_not_raised(write_policy: Callable[..., Path]) -> None:
    problems = lint(write_policy, "version: 1\nrules: 3\n")
    assert [p.level for p in problems] == ["error"]
    assert problems[0].code == "E_POLICY_SCHEMA"


def test_overrides_are_reported_as_info(write_policy: Callable[..., Path]) -> None:
    write_policy("version: 1\nrules:\n  - {id: r, on: [file.read], effect: deny}\n", "base.yaml")
    problems = lint(write_policy, "version: 1\nextends: [./base.yaml]\nrules:\n"
                    "  - {id: r, on: [file.read], effect: allow}\n")
    assert [(p.level, p.code) for p in problems] == [("info", "I_OVERRIDE")]
