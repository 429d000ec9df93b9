"""Tool calls → actions: each vendor's tool names, path joining, glob roots, Codex patches;
arbitrary tool input gives actions or a CodorError, never another exception."""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.errors import CodorError
from codor.integrations.hooks.events import HookEvent
from codor.integrations.hooks.tools import TABLES, codex_patch_to_diff, glob_root, tool_call
from codor.policy.diff import parse_patch


def ev(agent: str, tool: str, tool_input: dict[str, Any], *, cwd: str | None = "/w",
       **raw: Any) -> HookEvent:
    return HookEvent(agent=agent, kind="pre_tool", vendor_event="PreToolUse", session_id="s",
                     cwd=cwd, tool_name=tool, tool_input=MappingProxyType(tool_input),
                     tool_use_id="t1", raw=MappingProxyType(raw))


def summary(agent: str, tool: str, tool_input: dict[str, Any], **raw: Any
            ) -> list[tuple[str, Any]]:
    call = tool_call(ev(agent, tool, tool_input, **raw))
    out = []
    for a in call.actions:
        value = a.path or a.command or a.argv or a.url or a.tool or a.patch
        out.append((a.kind, value))
    return out


@pytest.mark.parametrize(("agent", "tool", "tool_input", "expected"), [
    ("claude-code", "Bash", {"command": "ls"}, [("command.exec", "ls")]),
    ("claude-code", "Read", {"file_path": "a.py"}, [("file.read", "/w/a.py")]),
    ("claude-code", "Read", {"file_path": "/etc/hosts"}, [("file.read", "/etc/hosts")]),
    ("claude-code", "Read", {"file_path": "~/.netrc"}, [("file.read", "~/.netrc")]),
    ("claude-code", "LS", {"path": "/w/src"}, [("file.list", "/w/src")]),
    ("claude-code", "Write", {"file_path": "b.txt", "content": ""}, [("file.write", "/w/b.txt")]),
    ("claude-code", "Edit", {"file_path": "b.txt", "new_string": "x"},
     [("file.write", "/w/b.txt")]),
    ("claude-code", "NotebookEdit", {"notebook_path": "n.ipynb", "edit_mode": "delete"},
     [("file.write", "/w/n.ipynb")]),
    ("claude-code", "Glob", {"pattern": "**/*.py", "path": "src"}, [("file.list", "/w/src")]),
    ("claude-code", "Glob", {"pattern": "/etc/*.conf"}, [("file.list", "/etc")]),
    ("claude-code", "Grep", {"pattern": "x"}, [("file.read", "/w")]),
    ("claude-code", "WebFetch", {"url": "https://a.example/"},
     [("network.request", "https://a.example/")]),
    ("claude-code", "TodoWrite", {"todos": []}, [("tool.call", "TodoWrite")]),
    ("codex", "Bash", {"command": "ls"}, [("command.exec", "ls")]),
    ("codex", "local_shell", {"command": ["bash", "-lc", "ls"]},
     [("command.exec", ("bash", "-lc", "ls"))]),
    ("codex", "exec_command", {"cmd": "pwd", "workdir": "sub"}, [("command.exec", "pwd")]),
    ("codex", "Read", {"file_path": "a.py"}, [("file.read", "/w/a.py")]),
    ("codex", "spawn_agent", {"message": "go"}, [("tool.call", "spawn_agent")]),
    ("gemini", "run_shell_command", {"command": "ls", "dir_path": "sub"},
     [("command.exec", "ls")]),
    ("gemini", "read_file", {"absolute_path": "/w/a.py"}, [("file.read", "/w/a.py")]),
    ("gemini", "write_file", {"file_path": "a.py", "content": "x"}, [("file.write", "/w/a.py")]),
    ("gemini", "replace", {"file_path": "a.py", "old_string": "x", "new_string": "y"},
     [("file.write", "/w/a.py")]),
    ("gemini", "glob", {"pattern": "src/*.ts"}, [("file.list", "/w/src")]),
    ("gemini", "grep_search", {"pattern": "x", "dir_path": "/w/lib"}, [("file.read", "/w/lib")]),
    ("gemini", "search_file_content", {"pattern": "x"}, [("file.read", "/w")]),
    ("gemini", "list_directory", {"dir_path": "docs"}, [("file.list", "/w/docs")]),
    ("gemini", "read_many_files", {"include": ["src/**/*.py", "README.md", "src/*.ts"]},
     [("file.read", "/w/src"), ("file.read", "/w/README.md")]),
    ("gemini", "web_fetch", {"prompt": "see https://a.example/x, then https://b.example"},
     [("network.request", "https://a.example/x"), ("network.request", "https://b.example")]),
    ("gemini", "web_fetch", {"prompt": "no links here"}, [("tool.call", "web_fetch")]),
    ("gemini", "save_memory", {"fact": "likes tabs"}, [("file.write", "~/.gemini/GEMINI.md")]),
    ("gemini", "google_web_search", {"query": "x"}, [("tool.call", "google_web_search")]),
])
def test_each_tool_maps_to_its_actions(agent: str, tool: str, tool_input: dict[str, Any],
                                       expected: list[tuple[str, Any]]) -> None:
    assert summary(agent, tool, tool_input) == expected


def test_every_action_carries_the_events_common_fields() -> None:
    (action,) = tool_call(ev("claude-code", "Read", {"file_path": "a"},
                             agent_id="a-1", agent_type="explorer")).actions
    assert action.session == "s" and action.origin == "claude-code" and action.cwd == "/w"
    assert action.agent is not None and action.agent.id == "claude-code"
    assert dict(action.meta) == {"tool": "Read", "tool_use_id": "t1",
                                 "subagent": {"agent_id": "a-1", "agent_type": "explorer"}}


def test_a_shell_working_directory_becomes_the_actions_cwd() -> None:
    (action,) = tool_call(ev("gemini", "run_shell_command",
                             {"command": "ls", "dir_path": "sub"})).actions
    assert action.cwd == "/w/sub"


def test_relative_paths_stay_relative_without_a_cwd() -> None:
    (action,) = tool_call(ev("claude-code", "Read", {"file_path": "a.py"}, cwd=None)).actions
    assert action.path == "a.py" and action.cwd is None


def test_a_whole_file_write_names_its_product() -> None:
    call = tool_call(ev("claude-code", "Write", {"file_path": "b.txt", "content": "hi"}))
    assert dict(call.products) == {"/w/b.txt": hashlib.sha256(b"hi").hexdigest()}
    edit = tool_call(ev("claude-code", "Edit", {"file_path": "b", "new_string": "hi"}))
    assert dict(edit.products) == {}


def test_dangerously_disable_sandbox_sets_an_ask_floor() -> None:
    call = tool_call(ev("claude-code", "Bash", {"command": "ls",
                                                "dangerouslyDisableSandbox": True}))
    assert call.floor == "ask" and "dangerouslyDisableSandbox" in (call.floor_reason or "")
    assert tool_call(ev("claude-code", "Bash", {"command": "ls",
                                                "dangerouslyDisableSandbox": False})).floor \
        == "allow"


@pytest.mark.parametrize(("tool", "server"), [("mcp__github__create_issue", "github"),
                                              ("mcp__a__b__c", "a"), ("mcp__broken", None),
                                              ("mcp____x", None)])
def test_mcp_names_give_the_server(tool: str, server: str | None) -> None:
    (action,) = tool_call(ev("claude-code", tool, {"x": 1})).actions
    assert (action.kind, action.tool, action.server) == ("tool.call", tool, server)
    assert dict(action.arguments or {}) == {"x": 1}


@pytest.mark.parametrize(("base", "pattern", "root"), [
    ("/w", "src/**/*.py", "/w/src"), ("/w", "*.py", "/w"), ("/w", "/etc/*", "/etc"),
    ("/w", "/*", "/"), ("/w", "~/.ssh/*", "~/.ssh"), ("/w", "a/b/c.txt", "/w/a/b/c.txt"),
    ("/w", "../x/{a,b}/*", "/w/../x"), (".", "*", "."), ("/w", "[ab]/x", "/w"),
])
def test_glob_root_is_the_literal_start_of_the_pattern(base: str, pattern: str,
                                                       root: str) -> None:
    assert glob_root(base, pattern) == root


def test_a_codex_patch_becomes_a_unified_diff_of_every_file() -> None:
    patch = ("*** Begin Patch\n*** Add File: hello.txt\n+Hello\n+World\n"
             "*** Update File: src/app.py\n*** Move to: src/main.py\n@@ def greet():\n"
             " context\n-print('Hi')\n+print('Hello')\n*** End of File\n"
             "*** Delete File: old.txt\n*** End Patch\n")
    diff = codex_patch_to_diff(patch)
    assert diff is not None
    info = parse_patch(diff)
    assert [(f.old_path, f.new_path) for f in info.files] == [
        (None, "hello.txt"), ("src/app.py", "src/main.py"), ("old.txt", None)]
    assert info.files[0].added == ("Hello", "World")
    assert info.files[1].added == ("print('Hello')",)
    assert info.files[1].removed == ("print('Hi')",)


def test_a_unified_diff_is_passed_to_the_patch_guard_as_it_is() -> None:
    diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    assert codex_patch_to_diff(diff) is None
    (action,) = tool_call(ev("codex", "apply_patch", {"command": diff})).actions
    assert (action.kind, action.patch) == ("patch.apply", diff)
    assert "format" not in action.meta


@pytest.mark.parametrize(("agent", "tool", "tool_input"), [
    ("claude-code", "Bash", {}), ("claude-code", "Bash", {"command": ""}),
    ("claude-code", "Read", {"file_path": 3}), ("claude-code", "Write", {"file_path": "a",
                                                                        "content": 3}),
    ("claude-code", "MultiEdit", {"file_path": "a", "edits": "x"}),
    ("claude-code", "Glob", {}), ("claude-code", "WebFetch", {"url": None}),
    ("claude-code", "Read", {"file_path": "a\x00b"}),
    ("gemini", "read_many_files", {"include": []}),
])
def test_a_tool_input_that_does_not_fit_its_tool_is_a_codor_error(
        agent: str, tool: str, tool_input: dict[str, Any]) -> None:
    with pytest.raises(CodorError):
        tool_call(ev(agent, tool, tool_input))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12)
TOOLS = st.sampled_from(sorted({(agent, tool) for agent, table in TABLES.items()
                                for tool in table} | {("claude-code", "mcp__s__t"),
                                                      ("gemini", "unknown_tool")}))
FIELDS = st.sampled_from(["command", "cmd", "file_path", "absolute_path", "path", "content",
                          "new_string", "new_source", "notebook_path", "edits", "pattern",
                          "url", "prompt", "include", "fact", "dir_path", "workdir", "input",
                          "dangerouslyDisableSandbox"])


@settings(max_examples=400, deadline=None)
@given(tool=TOOLS, tool_input=st.dictionaries(FIELDS, JSON | st.text(), max_size=5),
       cwd=st.sampled_from(["/w", None]))
def test_arbitrary_tool_input_gives_actions_or_a_codor_error(
        tool: tuple[str, str], tool_input: dict[str, Any], cwd: str | None) -> None:
    agent, name = tool
    try:
        call = tool_call(ev(agent, name, tool_input, cwd=cwd))
    except CodorError:
        return
    assert call.actions and all(a.session == "s" for a in call.actions)
