"""Loading policies: extends, variables, merging, and every bad input with file:line + code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codor.errors import (
    PolicyError,
    PolicyExtendsError,
    PolicyPatternError,
    PolicySchemaError,
    PolicySyntaxError,
    PolicyVariableError,
)
from codor.policy import compile_ref
from codor.policy.loader import (
    _RULESETS_DIR,
    BUILTIN_RULESETS,
    MAX_EXTENDS_DEPTH,
    builtin_ruleset_text,
    load_policy,
    parse_builtin_ruleset,
    prebuilt_ruleset,
    render_prebuilt_ruleset,
)
from codor.policy.source import LocDict, LocList, load_yaml

WritePolicy = Callable[..., Path]


def compile_file(path: Path, env: dict[str, str] | None = None) -> object:
    return compile_ref(path, workspace="/workspace", home="/home/user", env=env or {})


def error_of(path: Path, env: dict[str, str] | None = None) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        compile_file(path, env)
    return info.value


def test_malformed_yaml_reports_line(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nrules:\n  - id: x\n    on: [file.read\n")
    err = error_of(path)
    assert isinstance(err, PolicySyntaxError)
    assert err.code == "E_POLICY_YAML"
    assert err.location is not None and err.location.startswith(f"{path}:")


def test_unknown_top_level_key_suggests_the_right_one(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nrulez: []\n")
    err = error_of(path)
    assert isinstance(err, PolicySchemaError)
    assert err.location == f"{path}:2"
    assert "did you mean 'rules'" in err.message


def test_unknown_rule_key_is_located(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nrules:\n  - id: a\n    on: [file.read]\n"
                        "    effect: allow\n    efect: deny\n")
    err = error_of(path)
    assert err.code == "E_POLICY_SCHEMA"
    assert err.location == f"{path}:6"


def test_bad_effect_is_a_schema_error(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nrules:\n  - {id: a, on: [file.read], effect: maybe}\n")
    err = error_of(path)
    assert err.code == "E_POLICY_SCHEMA"
    assert "allow, deny, ask, pass" in err.message


def test_wrong_type_is_a_schema_error(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nguards:\n  paths:\n    deny: 42\n")
    err = error_of(path)
    assert err.code == "E_POLICY_SCHEMA"
    assert err.location == f"{path}:4"


def test_missing_version_is_rejected(write_policy: WritePolicy) -> None:
    err = error_of(write_policy("rules: []\n"))
    assert "version" in err.message


def test_unknown_kind_in_on_is_rejected(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nrules:\n  - id: a\n    on: [file.rread]\n    effect: allow\n")
    err = error_of(path)
    assert isinstance(err, PolicyPatternError)
    assert err.location == f"{path}:4"


def test_bad_glob_is_located(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nguards:\n  paths:\n    deny:\n      - 'ok/**'\n"
                        "      - 'bad[glob'\n")
    err = error_of(path)
    assert isinstance(err, PolicyPatternError)
    assert err.location == f"{path}:6"


def test_bad_regex_is_located(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nrules:\n  - id: a\n    on: [command.exec]\n"
                        "    match: {command: ['re:(unclosed']}\n    effect: deny\n")
    err = error_of(path)
    assert isinstance(err, PolicyPatternError)
    assert "bad regular expression" in err.message


def test_missing_extended_file(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nextends: [./nope.yaml]\n")
    err = error_of(path)
    assert isinstance(err, PolicyExtendsError)
    assert err.location == f"{path}:2"


def test_unknown_builtin_ruleset(write_policy: WritePolicy) -> None:
    err = error_of(write_policy("version: 1\nextends: ['codor:lenient']\n"))
    assert isinstance(err, PolicyExtendsError)
    assert "codor:default" in err.message


def test_extends_cycle_is_rejected(write_policy: WritePolicy) -> None:
    write_policy("version: 1\nextends: [./b.yaml]\n", "a.yaml")
    b = write_policy("version: 1\nextends: [./a.yaml]\n", "b.yaml")
    err = error_of(b)
    assert isinstance(err, PolicyExtendsError)
    assert "cycle" in err.message


def test_extends_deeper_than_16_is_rejected(write_policy: WritePolicy) -> None:
    depth = MAX_EXTENDS_DEPTH + 2
    for i in range(depth):
        parent = f"extends: [./p{i + 1}.yaml]\n" if i + 1 < depth else ""
        write_policy(f"version: 1\n{parent}", f"p{i}.yaml")
    err = error_of(Path(write_policy("version: 1\nextends: [./p0.yaml]\n", "top.yaml")))
    assert isinstance(err, PolicyExtendsError)
    assert "deeper than 16" in err.message


def test_extends_at_depth_16_is_fine(write_policy: WritePolicy) -> None:
    for i in range(MAX_EXTENDS_DEPTH - 1):
        parent = f"extends: [./q{i + 1}.yaml]\n" if i + 1 < MAX_EXTENDS_DEPTH - 1 else ""
        write_policy(f"version: 1\n{parent}", f"q{i}.yaml")
    compile_file(write_policy("version: 1\nextends: [./q0.yaml]\n", "top.yaml"))


def test_undefined_variable_is_located(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nrules:\n  - id: a\n    on: [file.read]\n"
                        "    match: {path: ['${NOPE}/x']}\n    effect: allow\n")
    err = error_of(path)
    assert isinstance(err, PolicyVariableError)
    assert err.location == f"{path}:5"


def test_env_variables_and_defaults(write_policy: WritePolicy) -> None:
    path = write_policy("version: 1\nvariables:\n  A: '${env:CODOR_T_A}'\n"
                        "  B: '${env:CODOR_T_B:-fallback}'\n  C: '$${literal}'\n")
    doc = load_policy(path, workspace="/w", home="/h", env={"CODOR_T_A": "from-env"})
    assert doc.variables["A"] == "from-env"
    assert doc.variables["B"] == "fallback"
    assert doc.variables["C"] == "${literal}"
    err = error_of(write_policy("version: 1\nvariables:\n  A: '${env:MISSING_X}'\n", "e.yaml"))
    assert isinstance(err, PolicyVariableError)


def test_builtin_variables_cannot_be_redefined(write_policy: WritePolicy) -> None:
    err = error_of(write_policy("version: 1\nvariables:\n  WORKSPACE: /elsewhere\n"))
    assert "built in" in err.message


def test_child_rule_replaces_parent_rule_with_same_id(write_policy: WritePolicy) -> None:
    write_policy("version: 1\nrules:\n  - {id: r, on: [file.read], effect: deny}\n"
                 "  - {id: keep, on: [file.list], effect: allow}\n", "parent.yaml")
    child = write_policy("version: 1\nextends: [./parent.yaml]\n"
                         "rules:\n  - {id: r, on: [file.read], effect: allow}\n", "child.yaml")
    doc = load_policy(child, workspace="/w", home="/h", env={})
    assert doc.rules["r"]["effect"] == "allow"
    assert "keep" in doc.rules
    assert any("overrides" in o for o in doc.overrides)


def test_disable_rules_removes_inherited_rule(write_policy: WritePolicy) -> None:
    write_policy("version: 1\nrules:\n  - {id: r, on: [file.read], effect: deny}\n", "p.yaml")
    child = write_policy("version: 1\nextends: [./p.yaml]\ndisable_rules: [r, ghost]\n", "c.yaml")
    doc = load_policy(child, workspace="/w", home="/h", env={})
    assert "r" not in doc.rules
    assert any("ghost" in w for w in doc.warnings)


def test_guard_lists_merge_and_inherit_false_replaces(write_policy: WritePolicy) -> None:
    write_policy("version: 1\nguards:\n  paths:\n    deny: [a]\n    read: {allow: ['/**']}\n",
                 "p.yaml")
    merged = write_policy("version: 1\nextends: [./p.yaml]\nguards:\n  paths:\n    deny: [b]\n",
                          "m.yaml")
    doc = load_policy(merged, workspace="/w", home="/h", env={})
    assert list(doc.guards["paths"]["deny"]) == ["a", "b"]
    assert doc.guards["paths"]["read"]["allow"] == ["/**"]
    replaced = write_policy("version: 1\nextends: [./p.yaml]\nguards:\n  paths:\n"
                            "    inherit: false\n    deny: [b]\n", "r.yaml")
    doc = load_policy(replaced, workspace="/w", home="/h", env={})
    assert list(doc.guards["paths"]["deny"]) == ["b"]
    assert "read" not in doc.guards["paths"]


def test_unknown_guard_is_rejected(write_policy: WritePolicy) -> None:
    err = error_of(write_policy("version: 1\nguards:\n  firewall: {}\n"))
    assert "unknown guard 'firewall'" in err.message


def test_yaml_on_key_is_not_a_boolean(write_policy: WritePolicy) -> None:
    doc = load_policy(write_policy("version: 1\nrules:\n  - {id: a, on: [file.read], "
                                   "effect: allow}\n"), workspace="/w", home="/h", env={})
    assert doc.rules["a"]["on"] == ["file.read"]


def test_duplicate_keys_are_rejected(write_policy: WritePolicy) -> None:
    err = error_of(write_policy("version: 1\nname: a\nname: b\n"))
    assert "duplicate key" in err.message


def test_policy_hash_changes_with_content(write_policy: WritePolicy) -> None:
    a = compile_ref(write_policy("version: 1\nrules:\n  - {id: a, on: [file.read], "
                                 "effect: allow}\n", "a.yaml"), workspace="/w", env={})
    b = compile_ref(write_policy("version: 1\nrules:\n  - {id: a, on: [file.read], "
                                 "effect: deny}\n", "b.yaml"), workspace="/w", env={})
    again = compile_ref(write_policy("version: 1\nrules:\n  - {id: a, on: [file.read], "
                                     "effect: allow}\n", "c.yaml"), workspace="/w", env={})
    assert a.sha256 != b.sha256
    assert a.sha256 == again.sha256


@pytest.mark.parametrize("name", ["default", "coding-assistant", "strict", "ci", "permissive"])
def test_builtin_rulesets_compile_without_warnings(name: str) -> None:
    compiled = compile_ref(f"codor:{name}", workspace="/workspace", home="/home/user", env={})
    assert compiled.warnings == []
    compiled.close()


@pytest.mark.parametrize("name", BUILTIN_RULESETS)
def test_prebuilt_rulesets_are_current(name: str) -> None:
    shipped = (_RULESETS_DIR / f"{name}.json").read_text("utf-8")
    assert shipped == render_prebuilt_ruleset(name), \
        "run: .venv/bin/python scripts/prebuild_rulesets.py"


@pytest.mark.parametrize("name", BUILTIN_RULESETS)
def test_prebuilt_ruleset_keeps_every_line_number(name: str) -> None:
    ref = f"codor:{name}"
    from_yaml = load_yaml(builtin_ruleset_text(name), ref)
    prebuilt = parse_builtin_ruleset(name)

    def walk(a: object, b: object) -> None:
        assert type(a) is type(b)
        if isinstance(a, LocDict) and isinstance(b, LocDict):
            assert (a.source, a.line, a.key_lines) == (b.source, b.line, b.key_lines)
            assert list(a) == list(b)
            for key in a:
                walk(a[key], b[key])
        elif isinstance(a, LocList) and isinstance(b, LocList):
            assert (a.source, a.line, a.item_lines) == (b.source, b.line, b.item_lines)
            assert len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                walk(x, y)
        else:
            assert a == b

    walk(from_yaml, prebuilt)


def test_stale_prebuilt_ruleset_is_ignored() -> None:
    assert prebuilt_ruleset("default", builtin_ruleset_text("default") + "\n# edited\n") is None
    assert prebuilt_ruleset("default", builtin_ruleset_text("default")) is not None
