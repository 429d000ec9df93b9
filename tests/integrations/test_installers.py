"""CODOR's hooks in agents' settings files: merged, idempotent, backed up, removable exactly."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codor.integrations.installers import (
    InstallError,
    Plan,
    SettingsFileError,
    add_hooks,
    apply_plan,
    codor_command,
    find_codor_executable,
    is_codor_command,
    plan_install,
    plan_uninstall,
    remove_hooks,
    settings_path,
    spec_for,
)

AGENTS = ("claude-code", "codex", "gemini")
EXE = "/opt/codor env/bin/codor"  # a space on purpose: the command must quote it
TOOL_EVENTS = {"claude-code": ("PreToolUse", "PostToolUse"), "codex": ("PreToolUse", "PostToolUse"),
               "gemini": ("BeforeTool", "AfterTool")}


def install(path: Path, agent: str, exe: str = EXE) -> tuple[Plan, Path | None]:
    plan = plan_install(path, agent, exe)
    return plan, apply_plan(plan)


def uninstall(path: Path, agent: str) -> tuple[Plan, Path | None]:
    plan = plan_uninstall(path, agent)
    return plan, apply_plan(plan)


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, data: object, indent: int = 2) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")
    return path.read_bytes()


def codor_handlers(data: dict[str, Any], event: str, agent: str) -> list[Any]:
    groups = [g for g in data["hooks"][event] if isinstance(g, dict)]
    return [h for g in groups if isinstance(g.get("hooks"), list) for h in g["hooks"]
            if isinstance(h, dict) and is_codor_command(h.get("command"), agent)]


USER_HOOKS = {
    "model": "opus",
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "echo first"}]},
            {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "fmt.sh",
                                                 "timeout": 5}]},
        ],
        "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}],
    },
    "permissions": {"allow": ["Bash(ls:*)"]},
}


@pytest.mark.parametrize("agent", AGENTS)
def test_fresh_install_registers_every_event_with_the_codor_command(tmp_path: Path,
                                                                    agent: str) -> None:
    path = settings_path(agent, user=False, workspace=tmp_path)
    plan, backup = install(path, agent)
    assert plan.changed and backup is None
    data = read(path)
    spec = spec_for(agent)
    assert list(data["hooks"]) == [event.name for event in spec.events]
    for event in spec.events:
        [group] = data["hooks"][event.name]
        [handler] = group["hooks"]
        assert handler["type"] == "command"
        assert handler["command"] == f"'{EXE}' hook {agent}"
        assert handler["timeout"] == event.timeout * spec.timeout_scale
        assert group.get("matcher") == ("*" if event.tools else None)
    assert path.read_text(encoding="utf-8").endswith("}\n")


def test_every_event_the_hook_runtime_handles_is_registered() -> None:
    expected = {
        "claude-code": ["PreToolUse", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit",
                        "Stop", "SubagentStop", "SessionStart", "SessionEnd"],
        "codex": ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "SubagentStop",
                  "SessionStart", "SessionEnd"],
        "gemini": ["BeforeTool", "AfterTool", "BeforeAgent", "AfterAgent", "SessionStart",
                   "SessionEnd"],
    }
    for agent, names in expected.items():
        events = spec_for(agent).events
        assert [event.name for event in events] == names
        tool_events = [n for n in names if n.startswith(("PreTool", "PostTool", "BeforeTool",
                                                         "AfterTool"))]
        assert [event.name for event in events if event.tools] == tool_events


def test_settings_files_are_where_each_agent_reads_them(tmp_path: Path) -> None:
    expected = {"claude-code": ".claude/settings.json", "codex": ".codex/hooks.json",
                "gemini": ".gemini/settings.json"}
    for agent, relative in expected.items():
        assert settings_path(agent, user=False, workspace=tmp_path) == tmp_path / relative
        assert settings_path(agent, user=True, workspace=tmp_path, environ={}) \
            == Path.home() / relative


def test_user_scope_follows_the_agents_own_home_variables(tmp_path: Path) -> None:
    environ = {"CLAUDE_CONFIG_DIR": str(tmp_path / "claude"), "CODEX_HOME": str(tmp_path / "cx")}
    assert settings_path("claude-code", user=True, workspace=tmp_path, environ=environ) \
        == tmp_path / "claude" / "settings.json"
    assert settings_path("codex", user=True, workspace=tmp_path, environ=environ) \
        == tmp_path / "cx" / "hooks.json"


def test_user_scope_uses_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    path = settings_path("claude-code", user=True, workspace=Path("/elsewhere"))
    install(path, "claude-code")
    assert (tmp_path / ".claude" / "settings.json").is_file()


def test_install_keeps_the_users_settings_and_hooks_first_in_order(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write(path, USER_HOOKS)
    install(path, "claude-code")
    data = read(path)
    assert data["model"] == "opus" and data["permissions"] == USER_HOOKS["permissions"]
    assert list(data) == ["model", "hooks", "permissions"]
    assert data["hooks"]["PreToolUse"][:2] == USER_HOOKS["hooks"]["PreToolUse"]
    assert len(data["hooks"]["PreToolUse"]) == 3
    assert data["hooks"]["Notification"] == USER_HOOKS["hooks"]["Notification"]
    assert list(data["hooks"])[:2] == ["PreToolUse", "Notification"]


def test_installing_twice_changes_nothing_and_writes_no_second_backup(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write(path, USER_HOOKS)
    install(path, "claude-code")
    after_first = path.read_bytes()
    plan, backup = install(path, "claude-code")
    assert not plan.changed and backup is None
    assert path.read_bytes() == after_first
    assert len(list(path.parent.glob("settings.json.codor-backup-*"))) == 1


def test_backup_holds_the_previous_file_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / ".gemini" / "settings.json"
    path.parent.mkdir()
    old = b'{"theme": "Dracula",\n "ui": {"hideTips": true}}\n'
    path.write_bytes(old)
    _, backup = install(path, "gemini")
    assert backup is not None and backup.parent == path.parent
    assert backup.name.startswith("settings.json.codor-backup-") and backup.name.endswith("Z")
    assert backup.read_bytes() == old


def test_backups_in_the_same_second_do_not_overwrite_each_other(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    first = write(path, {"a": 1})
    _, backup1 = install(path, "claude-code")
    second = path.read_bytes()
    _, backup2 = uninstall(path, "claude-code")
    assert backup1 != backup2
    assert backup1 is not None and backup1.read_bytes() == first
    assert backup2 is not None and backup2.read_bytes() == second


def test_the_new_file_and_its_backup_keep_the_old_permissions(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    write(path, {"env": {"TOKEN": "secret"}})
    path.chmod(0o600)
    _, backup = install(path, "claude-code")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert backup is not None and stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if "codor-tmp" in p.name] == []


def test_the_files_indentation_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    old = write(path, {"model": "opus"}, indent=4)
    install(path, "claude-code")
    assert path.read_text(encoding="utf-8").startswith('{\n    "model": "opus",\n    "hooks"')
    uninstall(path, "claude-code")
    assert path.read_bytes() == old


def test_uninstall_restores_the_users_settings_exactly(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write(path, USER_HOOKS)
    install(path, "claude-code")
    plan, backup = uninstall(path, "claude-code")
    assert plan.changed and backup is not None
    assert read(path) == USER_HOOKS


def test_uninstall_leaves_out_the_hooks_key_it_emptied(tmp_path: Path) -> None:
    path = tmp_path / ".codex" / "hooks.json"
    install(path, "codex")
    uninstall(path, "codex")
    assert read(path) == {}


def test_uninstall_finds_codor_by_command_not_by_position(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    mine = {"type": "command", "command": "echo mine"}
    theirs = {"PreToolUse": [{"matcher": "Bash", "hooks": [
        mine, {"type": "command", "command": "/old/venv/bin/codor hook claude-code"}]}],
        "Stop": [{"hooks": [{"type": "command",
                             "command": "CODOR_HOOK_SERVER=0 codor hook claude-code"}]}]}
    write(path, {"hooks": theirs})
    uninstall(path, "claude-code")
    assert read(path) == {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [mine]}]}}


def test_uninstall_leaves_other_agents_and_lookalike_commands(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    lookalikes = ["codor hook codex", "mycodor hook claude-code", "echo codor hook claude-code",
                  "codor hook claude-code --verbose", "codor 'hook claude-code'", "codor hook"]
    data = {"hooks": {"PreToolUse": [
        {"hooks": [{"type": "command", "command": c} for c in lookalikes]}]}}
    before = write(path, data)
    plan, backup = uninstall(path, "claude-code")
    assert not plan.changed and backup is None
    assert path.read_bytes() == before


def test_uninstall_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    plan, backup = uninstall(path, "claude-code")
    assert not plan.changed and backup is None
    assert not path.parent.exists()


def test_install_after_the_executable_moved_updates_codor_in_place(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    user = {"type": "command", "command": "echo after"}
    write(path, {"hooks": {"PreToolUse": [
        {"matcher": "*", "hooks": [{"type": "command", "command": "/old/bin/codor hook codex",
                                    "timeout": 120}]},
        {"hooks": [user]}]}})
    install(path, "codex", exe="/new/bin/codor")
    groups = read(path)["hooks"]["PreToolUse"]
    assert groups[0]["hooks"][0]["command"] == "/new/bin/codor hook codex"
    assert groups[1] == {"hooks": [user]}
    assert len(codor_handlers(read(path), "PreToolUse", "codex")) == 1


def test_invalid_json_is_refused_naming_file_and_line_and_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{\n  "a": 1,\n  "b" 2\n}\n', encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(SettingsFileError) as caught:
        plan_install(path, "claude-code", EXE)
    line = caught.value.one_line()
    assert line.startswith(f"{path}:3: not valid JSON") and line.endswith("[E_INSTALL_SETTINGS]")
    assert "\n" not in line
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("text, message", [
    ("[1, 2]\n", "not a JSON object"),
    ('{"hooks": []}\n', '"hooks" is not a JSON object'),
    ('{"hooks": {"BeforeTool": {"matcher": "*"}}}\n', '"hooks.BeforeTool" is not a JSON array'),
])
def test_settings_of_the_wrong_shape_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsFileError, match=message):
        plan_install(path, "gemini", EXE)
    assert path.read_text(encoding="utf-8") == text


def test_an_empty_file_counts_as_empty_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("\n", encoding="utf-8")
    _, backup = install(path, "claude-code")
    assert "PreToolUse" in read(path)["hooks"]
    assert backup is not None and backup.read_text(encoding="utf-8") == "\n"


def test_a_symlinked_settings_file_is_written_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "settings.json"
    write(real, {"model": "opus"})
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(real)
    install(link, "claude-code")
    assert link.is_symlink()
    assert "hooks" in read(real)


def test_the_command_quotes_the_path_and_is_recognised() -> None:
    command = codor_command("/a b/codor", "gemini")
    assert command == "'/a b/codor' hook gemini"
    assert is_codor_command(command, "gemini")
    assert not is_codor_command(command, "codex")
    assert not is_codor_command(["codor", "hook", "gemini"], "gemini")
    assert not is_codor_command("codor 'unterminated hook gemini", "gemini")


def test_the_codor_executable_is_the_script_next_to_this_python() -> None:
    found = find_codor_executable()
    assert found == str(Path(sys.executable).absolute().with_name("codor"))
    assert os.access(found, os.X_OK)


def test_no_codor_executable_is_an_install_error(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InstallError) as caught:
        find_codor_executable()
    assert caught.value.code == "E_INSTALL"


def test_a_file_changed_after_planning_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    write(path, {"model": "opus"})
    plan = plan_install(path, "claude-code", EXE)
    path.write_text('{"model": "sonnet"}\n', encoding="utf-8")  # the agent saved meanwhile
    with pytest.raises(InstallError, match="changed while CODOR was reading it"):
        apply_plan(plan)
    assert read(path) == {"model": "sonnet"}
    assert list(tmp_path.iterdir()) == [path]


def test_a_file_that_cannot_be_written_is_an_install_error(tmp_path: Path) -> None:
    blocker = tmp_path / ".claude"
    blocker.write_text("a file where the directory should be", encoding="utf-8")
    with pytest.raises(InstallError) as caught:
        install(blocker / "settings.json", "claude-code")
    assert caught.value.code == "E_INSTALL"
    assert caught.value.one_line().startswith(f"{blocker / 'settings.json'}: cannot ")


# -- properties ---------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8) \
    | st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
COMMANDS = st.text(max_size=20) | st.sampled_from([
    "echo hi", "codor hook other", "mycodor hook claude-code", "codor hook",
    "/usr/bin/codor hook codex", "/usr/bin/codor hook gemini", "/usr/bin/codor hook claude-code"])
HANDLERS = st.fixed_dictionaries({"type": st.just("command"), "command": COMMANDS},
                                 optional={"timeout": st.integers(1, 600)}) | JSON
GROUPS = st.fixed_dictionaries({"hooks": st.lists(HANDLERS, max_size=3)},
                               optional={"matcher": st.text(max_size=6)}) | JSON
EVENT_NAMES = sorted({event.name for agent in AGENTS for event in spec_for(agent).events}
                     | {"Notification", "PreCompact"})


@st.composite
def existing_settings(draw: st.DrawFn, agent: str) -> dict[str, Any]:
    """Settings a user may have — with no CODOR hook for ``agent`` in them yet. An empty
    ``hooks`` object or empty event list cannot come back after an uninstall (it leaves empty
    ones out, by design), so they are not drawn."""
    data = draw(st.dictionaries(st.text(max_size=6).filter(lambda k: k != "hooks"), JSON,
                                max_size=4))
    ours = {event.name for event in spec_for(agent).events}
    table = draw(st.dictionaries(st.sampled_from(EVENT_NAMES) | st.text(max_size=6),
                                 st.lists(GROUPS, min_size=1, max_size=3), max_size=4))
    table.update(draw(st.dictionaries(st.text(max_size=6).filter(lambda k: k not in ours),
                                      JSON.filter(lambda v: v != []), max_size=2)))
    if table:
        data["hooks"] = table
    assume(remove_hooks(data, agent) == data)
    return data


@pytest.mark.parametrize("agent", AGENTS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_install_then_uninstall_gives_back_the_same_settings(agent: str,
                                                             data: st.DataObject) -> None:
    original = data.draw(existing_settings(agent))
    snapshot = json.loads(json.dumps(original))
    installed = add_hooks(original, agent, codor_command(EXE, agent))
    assert original == snapshot  # the input is never modified
    assert add_hooks(installed, agent, codor_command(EXE, agent)) == installed
    for event in TOOL_EVENTS[agent]:
        assert len(codor_handlers(installed, event, agent)) == 1
    assert remove_hooks(installed, agent) == original
