"""The tools guard: tool-name lists, MCP names, argument size and argument constraints."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from codor.errors import PolicyPatternError, PolicySchemaError
from codor.model import freeze
from codor.policy.guards import tools
from codor.policy.guards.base import Finding
from codor.policy.guards.tools import ToolsGuard, parse_pointer, resolve_pointer, split_tool_name
from tests.policy.guards.helpers import (
    WORKSPACE,
    build,
    for_each_guard_case,
    judge,
    outcome,
    rules,
)


def make(text: str = "{}", warnings: list[str] | None = None,
         workspace: str = WORKSPACE) -> ToolsGuard:
    return build(tools, text, warnings=warnings, workspace=workspace)


def run(guard: ToolsGuard, tool: str, workspace: str = WORKSPACE,
        **fields: Any) -> Sequence[Finding]:
    return judge(guard, "tool.call", workspace=workspace, tool=tool, **fields)


# -- lists ----------------------------------------------------------------------------------


def test_guard_name_and_kinds() -> None:
    g = make()
    assert g.name == "tools"
    assert g.kinds == frozenset({"tool.call"})


def test_allowed_tool_is_allowed_with_pattern_in_message() -> None:
    found = run(make("{allow: [read_file]}"), "read_file")
    assert outcome(found) == "allow"
    assert rules(found) == {"tools.allow"}
    assert "read_file" in found[0].message
    assert found[0].guard == "tools"


def test_default_pass_says_nothing_about_unlisted_tools() -> None:
    assert list(run(make("{allow: [read_file]}"), "Bash")) == []


@pytest.mark.parametrize("default", ["allow", "ask", "deny"])
def test_default_applies_to_unlisted_tools(default: str) -> None:
    found = run(make(f"{{default: {default}}}"), "Bash")
    assert outcome(found) == default
    assert rules(found) == {"tools.default"}


def test_default_does_not_apply_to_listed_tools() -> None:
    assert rules(run(make("{ask: [Bash], default: deny}"), "Bash")) == {"tools.ask"}


def test_deny_beats_allow_whatever_the_order() -> None:
    for text in ("{allow: ['*'], deny: [delete_*]}", "{deny: [delete_*], allow: ['*']}"):
        found = run(make(text), "delete_repo")
        assert outcome(found) == "deny"
        assert "tools.deny" in rules(found)


def test_ask_beats_allow() -> None:
    found = run(make("{allow: ['*'], ask: [Bash]}"), "Bash")
    assert outcome(found) == "ask"
    assert rules(found) == {"tools.ask", "tools.allow"}


@pytest.mark.parametrize(
    ("pattern", "tool", "hit"),
    [
        ("read_*", "read_file", True),
        ("read_*", "write_file", False),
        ("read_?ile", "read_file", True),
        ("[rw]*_file", "write_file", True),
        ("[!rw]*_file", "write_file", False),
        ("{read,write}_file", "write_file", True),
        ("{read,write}_file", "delete_file", False),
        ("Read", "read", False),  # case-sensitive
        ("read.file", "readxfile", False),  # '.' is literal
    ],
)
def test_name_glob_language(pattern: str, tool: str, hit: bool) -> None:
    found = run(make(yaml.safe_dump({"allow": [pattern]})), tool)
    assert (outcome(found) == "allow") is hit


# -- MCP names ------------------------------------------------------------------------------


def test_split_mcp_name() -> None:
    name = split_tool_name("mcp__github__create_issue")
    assert (name.bare, name.qualified) == ("create_issue", ("github/create_issue",))


def test_split_mcp_name_splits_at_the_first_double_underscore() -> None:
    name = split_tool_name("mcp__my_server__do__thing")
    assert (name.bare, name.qualified) == ("do__thing", ("my_server/do__thing",))


def test_split_plain_name_uses_the_server_field() -> None:
    assert split_tool_name("create_issue", "github").qualified == ("github/create_issue",)
    assert split_tool_name("Bash").qualified == ()
    assert split_tool_name("mcp__x").bare == "mcp__x"


def test_plain_pattern_matches_the_bare_mcp_tool_name() -> None:
    assert outcome(run(make("{deny: [create_issue]}"), "mcp__github__create_issue")) == "deny"


def test_plain_pattern_matches_the_name_as_written() -> None:
    assert outcome(run(make("{allow: ['mcp__github__*']}"), "mcp__github__create_issue")) \
        == "allow"


def test_server_pattern_matches_mcp_form_and_server_field() -> None:
    g = make("{allow: ['github/*']}")
    assert outcome(run(g, "mcp__github__create_issue")) == "allow"
    assert outcome(run(g, "create_issue", server="github")) == "allow"
    assert outcome(run(g, "mcp__gitlab__create_issue")) == "deny"


def test_server_pattern_never_matches_a_call_without_server() -> None:
    assert list(run(make("{allow: ['github/*']}"), "create_issue")) == []


def test_star_does_not_cross_the_server_separator() -> None:
    g = make("{deny: ['*/delete_*'], allow: ['git*']}")
    assert outcome(run(g, "mcp__github__delete_repo")) == "deny"
    assert list(run(g, "mcp__other__list")) == []


def test_conflicting_server_field_must_satisfy_allow_for_both_servers() -> None:
    found = run(make("{allow: ['github/*']}"), "mcp__github__create_issue", server="evil")
    assert outcome(found) != "allow"


def test_conflicting_server_field_is_denied_if_either_server_is_denied() -> None:
    found = run(make("{allow: ['*'], deny: ['evil/*']}"), "mcp__github__x", server="evil")
    assert outcome(found) == "deny"


# -- argument size --------------------------------------------------------------------------


def test_oversized_arguments_are_denied() -> None:
    found = run(make("{allow: ['*'], max_argument_bytes: 20}"), "write_file",
                arguments={"content": "x" * 50})
    assert outcome(found) == "deny"
    assert "tools.too_large" in rules(found)
    assert "20" in next(f.message for f in found if f.rule == "tools.too_large")


def test_arguments_at_the_limit_are_accepted() -> None:
    # {"c":"xxxx"} is 12 bytes of compact JSON
    found = run(make("{allow: ['*'], max_argument_bytes: 12}"), "t", arguments={"c": "xxxx"})
    assert outcome(found) == "allow"
    found = run(make("{allow: ['*'], max_argument_bytes: 11}"), "t", arguments={"c": "xxxx"})
    assert outcome(found) == "deny"


def test_argument_size_counts_utf8_bytes() -> None:
    # {"c":"éé"} is 10 characters but 12 bytes
    found = run(make("{allow: ['*'], max_argument_bytes: 11}"), "t", arguments={"c": "éé"})
    assert "tools.too_large" in rules(found)


def test_default_limit_allows_ordinary_arguments() -> None:
    found = run(make("{allow: ['*']}"), "t", arguments={"c": "x" * 10000, "n": [1, 2.5, None]})
    assert outcome(found) == "allow"


def test_call_without_arguments_is_never_too_large() -> None:
    assert outcome(run(make("{allow: ['*'], max_argument_bytes: 0}"), "t")) == "allow"


# -- constraints ----------------------------------------------------------------------------

WRITE = """
allow: ['*']
constraints:
  - tool: write_file
    pointer: /path
    allow: ["/workspace/**"]
    deny: ["**/.ssh/**", "**/.git/hooks/**"]
"""


def test_path_inside_the_allowed_tree_satisfies_the_constraint() -> None:
    found = run(make(WRITE), "write_file", arguments={"path": "/workspace/src/a.py"})
    assert outcome(found) == "allow"


def test_relative_path_is_judged_against_the_cwd() -> None:
    found = run(make(WRITE), "write_file", arguments={"path": "src/a.py"})
    assert outcome(found) == "allow"


def test_path_outside_the_allowed_tree_violates_the_constraint() -> None:
    found = run(make(WRITE), "write_file", arguments={"path": "/etc/passwd"})
    assert outcome(found) == "deny"
    assert "tools.constraint.0" in rules(found)
    hit = next(f for f in found if f.rule == "tools.constraint.0")
    assert "/etc/passwd" in hit.message
    assert "/path" in hit.message


def test_dot_dot_out_of_the_allowed_tree_violates_the_constraint() -> None:
    found = run(make(WRITE), "write_file",
                arguments={"path": "/workspace/../home/user/.bashrc"})
    assert outcome(found) == "deny"


def test_denied_glob_inside_the_allowed_tree_violates_the_constraint() -> None:
    found = run(make(WRITE), "write_file", arguments={"path": "/workspace/.git/hooks/pre-commit"})
    assert outcome(found) == "deny"
    assert "denied" in next(f.message for f in found if f.rule == "tools.constraint.0")


def test_symlink_out_of_the_allowed_tree_violates_the_constraint(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, ws / "link")
    text = f"{{allow: ['*'], constraints: [{{tool: w, pointer: /p, allow: ['{ws}/**']}}]}}"
    g = make(text, workspace=str(ws))
    assert outcome(run(g, "w", workspace=str(ws), arguments={"p": f"{ws}/a.txt"})) == "allow"
    assert outcome(run(g, "w", workspace=str(ws), arguments={"p": f"{ws}/link/a.txt"})) == "deny"


def test_constraint_only_applies_to_matching_tools() -> None:
    found = run(make(WRITE), "read_file", arguments={"path": "/etc/passwd"})
    assert outcome(found) == "allow"


def test_constraint_tool_glob_matches_mcp_names() -> None:
    text = """
    allow: ['*']
    constraints:
      - {tool: "filesystem/write_*", pointer: /path, deny: ["**/.env"]}
    """
    found = run(make(text), "mcp__filesystem__write_file", arguments={"path": "/workspace/.env"})
    assert outcome(found) == "deny"
    assert outcome(run(make(text), "write_file", arguments={"path": "/workspace/.env"})) \
        == "allow"


def test_missing_value_violates_a_constraint_with_allow() -> None:
    found = run(make(WRITE), "write_file", arguments={"content": "x"})
    assert outcome(found) == "deny"
    assert "missing" in next(f.message for f in found if f.rule == "tools.constraint.0")


def test_missing_arguments_violate_a_constraint_with_allow() -> None:
    assert outcome(run(make(WRITE), "write_file")) == "deny"


def test_missing_value_satisfies_a_deny_only_constraint() -> None:
    text = "{allow: ['*'], constraints: [{tool: w, pointer: /path, deny: ['**/.ssh/**']}]}"
    assert outcome(run(make(text), "w", arguments={"other": 1})) == "allow"


def test_ask_effect_and_custom_message() -> None:
    text = """
    allow: ['*']
    constraints:
      - tool: fetch
        pointer: /url
        allow: ["re:^https://docs\\\\.example\\\\.com/"]
        effect: ask
        message: "fetching outside the docs needs approval"
    """
    found = run(make(text), "fetch", arguments={"url": "https://evil.com/"})
    assert outcome(found) == "ask"
    hit = next(f for f in found if f.rule == "tools.constraint.0")
    assert hit.message == "fetching outside the docs needs approval"
    assert outcome(run(make(text), "fetch", arguments={"url": "https://docs.example.com/a"})) \
        == "allow"


def test_regex_entries_are_searched_unanchored() -> None:
    text = "{allow: ['*'], constraints: [{tool: Bash, pointer: /command, deny: ['re:rm\\s+-rf']}]}"
    assert outcome(run(make(text), "Bash", arguments={"command": "cd / && rm  -rf x"})) == "deny"
    assert outcome(run(make(text), "Bash", arguments={"command": "ls -la"})) == "allow"


def test_list_values_are_checked_element_by_element() -> None:
    text = "{allow: ['*'], constraints: [{tool: t, pointer: /paths, allow: ['/workspace/**']}]}"
    g = make(text)
    ok = {"paths": ["/workspace/a", "/workspace/b"]}
    bad = {"paths": ["/workspace/a", "/etc/shadow"]}
    assert outcome(run(g, "t", arguments=ok)) == "allow"
    assert outcome(run(g, "t", arguments=bad)) == "deny"


def test_non_string_values_are_matched_as_json_text() -> None:
    text = "{allow: ['*'], constraints: [{tool: t, pointer: /n, allow: ['re:^[0-9]{1,3}\\Z']}]}"
    g = make(text)
    assert outcome(run(g, "t", arguments={"n": 42})) == "allow"
    assert outcome(run(g, "t", arguments={"n": 4200})) == "deny"
    assert outcome(run(g, "t", arguments={"n": {"a": 1}})) == "deny"


def test_non_string_value_never_matches_a_path_glob() -> None:
    text = "{allow: ['*'], constraints: [{tool: t, pointer: /p, allow: ['/workspace/**']}]}"
    assert outcome(run(make(text), "t", arguments={"p": 7})) == "deny"


def test_value_with_nul_violates_a_path_constraint() -> None:
    found = run(make(WRITE), "write_file", arguments={"path": "/workspace/a\x00.txt"})
    assert outcome(found) == "deny"
    assert "not a valid path" in next(f.message for f in found if f.rule == "tools.constraint.0")


def test_empty_allow_list_allows_no_value() -> None:
    warnings: list[str] = []
    g = make("{allow: ['*'], constraints: [{tool: t, pointer: /p, allow: []}]}", warnings)
    assert outcome(run(g, "t", arguments={"p": "/workspace/x"})) == "deny"
    assert any("constraints[0].allow" in w for w in warnings)


def test_pointer_escapes_and_array_indexes() -> None:
    text = """
    allow: ['*']
    constraints:
      - {tool: t, pointer: "/a~1b/0/m~0n", deny: ["re:bad"]}
    """
    assert outcome(run(make(text), "t", arguments={"a/b": [{"m~n": "bad"}]})) == "deny"
    assert outcome(run(make(text), "t", arguments={"a/b": [{"m~n": "good"}]})) == "allow"


def test_root_pointer_checks_the_whole_arguments() -> None:
    text = "{allow: ['*'], constraints: [{tool: t, pointer: '', deny: ['re:AKIA[0-9A-Z]{16}']}]}"
    found = run(make(text), "t", arguments={"deep": {"k": "AKIAABCDEFGHIJKLMNOP"}})
    assert outcome(found) == "deny"


def test_constraint_indexes_follow_policy_order() -> None:
    text = """
    allow: ['*']
    constraints:
      - {tool: a, pointer: /x, deny: ["re:."]}
      - {tool: b, pointer: /x, deny: ["re:."]}
    """
    assert rules(run(make(text), "b", arguments={"x": "1"})) == {"tools.constraint.1",
                                                                   "tools.allow"}


def test_constraint_violation_and_default_both_apply_to_unlisted_tools() -> None:
    text = "{default: ask, constraints: [{tool: t, pointer: /p, deny: ['re:x']}]}"
    found = run(make(text), "t", arguments={"p": "x"})
    assert rules(found) == {"tools.constraint.0", "tools.default"}
    assert outcome(found) == "deny"


# -- pointers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [("", ()), ("/", ("",)), ("/a/b", ("a", "b")), ("/a~1b", ("a/b",)), ("/m~0n", ("m~n",)),
     ("/~01", ("~1",))],
)
def test_parse_pointer(pointer: str, tokens: tuple[str, ...]) -> None:
    assert parse_pointer(pointer) == tokens


@pytest.mark.parametrize("pointer", ["a", "a/b", "/~2", "/a~"])
def test_bad_pointers_are_rejected(pointer: str) -> None:
    with pytest.raises(ValueError):
        parse_pointer(pointer)


def test_resolve_pointer_on_frozen_documents() -> None:
    doc = freeze({"a": [10, 20], "b": {"c": None}})
    assert resolve_pointer(doc, ("a", "1")) == 20
    assert resolve_pointer(doc, ("b", "c")) is None
    missing = resolve_pointer(doc, ("zzz",))
    for tokens in (("a", "2"), ("a", "01"), ("a", "-"), ("a", "x"), ("b", "c", "d")):
        assert resolve_pointer(doc, tokens) is missing


# -- configuration --------------------------------------------------------------------------


def test_empty_tool_lists_are_silent() -> None:
    warnings: list[str] = []
    g = make("{inherit: false, allow: [], ask: [], deny: [], default: deny}", warnings)
    assert warnings == []
    assert outcome(run(g, "Read")) == "deny"


def test_inherit_must_be_a_boolean() -> None:
    with pytest.raises(PolicySchemaError):
        make("{inherit: 3}")


def test_unknown_key_is_a_located_schema_error() -> None:
    with pytest.raises(PolicySchemaError) as info:
        make("allow: [a]\ndeny: [b]\nmax_argument_byte: 3\n")
    assert info.value.location == "policy.yaml:3"


@pytest.mark.parametrize(
    "text",
    [
        "{constraints: [{pointer: /p, deny: [x]}]}",
        "{constraints: [{tool: t, deny: [x]}]}",
        "{constraints: [{tool: t, pointer: /p}]}",
        "{constraints: [{tool: t, pointer: /p, deny: [x], effect: allow}]}",
        "{constraints: [{tool: t, pointer: /p, deny: [x], extra: 1}]}",
        "{constraints: [not-a-mapping]}",
        "{default: maybe}",
        "{max_argument_bytes: -1}",
        "{max_argument_bytes: lots}",
    ],
)
def test_bad_configuration_is_a_schema_error(text: str) -> None:
    with pytest.raises(PolicySchemaError):
        make(text)


@pytest.mark.parametrize(
    "text",
    [
        "{allow: ['a/b/c']}",
        "{allow: ['/a']}",
        "{allow: ['']}",
        "{allow: ['[abc']}",
        "{deny: ['{a,b']}",
        "{constraints: [{tool: t, pointer: p, deny: [x]}]}",
        "{constraints: [{tool: t, pointer: /p, deny: ['re:(']}]}",
        "{constraints: [{tool: t, pointer: /p, allow: ['src/**/a**']}]}",
    ],
)
def test_bad_patterns_are_pattern_errors(text: str) -> None:
    with pytest.raises(PolicyPatternError):
        make(text)


def test_bad_pattern_error_carries_its_location() -> None:
    with pytest.raises(PolicyPatternError) as info:
        make("allow:\n  - ok\n  - 'a/b/c'\n")
    assert info.value.location == "policy.yaml:3"


# -- conformance cases, judged by this guard alone -------------------------------------------


@for_each_guard_case("tools")
def test_conformance_case_holds_for_the_guard_alone(
    name: str, config: str, action: dict[str, Any], expect: str, rule: str | None
) -> None:
    fields = {k: v for k, v in action.items() if k not in ("kind", "tool")}
    found = run(make(config), action["tool"], **fields)
    assert outcome(found) == expect, found
    if rule is not None:
        assert rule in rules(found), found
