"""``codor install|uninstall`` through the real executable, on real files in temp dirs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import CODOR

SETTINGS = {"claude-code": ".claude/settings.json", "codex": ".codex/hooks.json",
            "gemini": ".gemini/settings.json"}
PRE_TOOL = {"claude-code": "PreToolUse", "codex": "PreToolUse", "gemini": "BeforeTool"}


def run(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CODOR_HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME")}
    env["HOME"] = str(home)
    return subprocess.run([CODOR, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=60, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    (tmp_path / "home").mkdir()
    return tmp_path / "project"


def home_of(project: Path) -> Path:
    return project.parent / "home"


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.codor-backup-*"))


@pytest.mark.parametrize("agent", ["claude-code", "codex", "gemini"])
def test_fresh_install_writes_the_hook_command_and_says_how_to_check(project: Path,
                                                                     agent: str) -> None:
    result = run("install", agent, cwd=project, home=home_of(project))
    assert result.returncode == 0, result.stderr
    path = project / SETTINGS[agent]
    [group] = read(path)["hooks"][PRE_TOOL[agent]]
    assert group["matcher"] == "*"
    assert group["hooks"][0]["command"] == f"{shlex.quote(CODOR)} hook {agent}"
    assert f"installed CODOR's hooks for {agent} in {path}" in result.stdout
    assert "codor init" in result.stdout  # no ledger here yet
    assert "codor ledger tail" in result.stdout
    assert result.stderr == ""


def test_install_merges_with_the_users_hooks_and_keeps_their_order(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    theirs = {"hooks": {"PreToolUse": [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "one.sh"}]},
        {"matcher": "Write", "hooks": [{"type": "command", "command": "two.sh"}]}]},
        "model": "sonnet"}
    path.write_text(json.dumps(theirs, indent=2) + "\n", encoding="utf-8")
    assert run("install", "claude-code", cwd=project, home=home_of(project)).returncode == 0
    data = read(path)
    assert data["model"] == "sonnet"
    assert [g["hooks"][0]["command"] for g in data["hooks"]["PreToolUse"]] == [
        "one.sh", "two.sh", f"{shlex.quote(CODOR)} hook claude-code"]


def test_second_install_says_already_installed_and_changes_nothing(project: Path) -> None:
    home = home_of(project)
    assert run("install", "gemini", cwd=project, home=home).returncode == 0
    path = project / ".gemini" / "settings.json"
    first = path.read_bytes()
    again = run("install", "gemini", "--project", cwd=project, home=home)
    assert again.returncode == 0
    assert "already installed" in again.stdout
    assert path.read_bytes() == first
    assert backups(path) == []  # there was no file before the first install


def test_backup_equals_the_old_file_and_uninstall_restores_it(project: Path) -> None:
    home = home_of(project)
    path = project / ".codex" / "hooks.json"
    path.parent.mkdir()
    old = ('{\n  "hooks": {\n    "Stop": [\n      {\n        "hooks": [\n          {\n'
           '            "type": "command",\n            "command": "notify.sh"\n          }\n'
           '        ]\n      }\n    ]\n  }\n}\n')
    path.write_text(old, encoding="utf-8")
    installed = run("install", "codex", cwd=project, home=home)
    [backup] = backups(path)
    assert backup.read_text(encoding="utf-8") == old
    assert f"previous file kept as {backup}" in installed.stdout
    removed = run("uninstall", "codex", cwd=project, home=home)
    assert removed.returncode == 0
    assert f"removed CODOR's hooks for codex from {path}" in removed.stdout
    assert path.read_text(encoding="utf-8") == old
    again = run("uninstall", "codex", cwd=project, home=home)
    assert "not installed" in again.stdout and again.returncode == 0


def test_invalid_json_is_refused_with_one_line_and_nothing_changes(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{\n  "model": "opus",\n}\n', encoding="utf-8")
    before = path.read_bytes()
    result = run("install", "claude-code", cwd=project, home=home_of(project))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"codor: {path}:3: not valid JSON")
    assert result.stderr.rstrip().endswith("[E_INSTALL_SETTINGS]")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


def test_user_install_writes_under_home(project: Path) -> None:
    home = home_of(project)
    result = run("install", "claude-code", "--user", cwd=project, home=home)
    assert result.returncode == 0, result.stderr
    assert "PreToolUse" in read(home / ".claude" / "settings.json")["hooks"]
    assert not (project / ".claude").exists()
    assert run("uninstall", "claude-code", "--user", cwd=project, home=home).returncode == 0
    assert read(home / ".claude" / "settings.json") == {}


def test_dry_run_prints_the_file_and_its_path_and_writes_nothing(project: Path) -> None:
    result = run("install", "codex", "--dry-run", cwd=project, home=home_of(project))
    assert result.returncode == 0, result.stderr
    assert "PreToolUse" in json.loads(result.stdout)["hooks"]
    assert str(project / ".codex" / "hooks.json") in result.stderr
    assert "nothing written" in result.stderr
    assert list(project.iterdir()) == []


def test_workspace_option_and_an_existing_ledger(project: Path) -> None:
    home = home_of(project)
    assert run("init", cwd=project, home=home).returncode == 0
    result = run("install", "gemini", "--workspace", str(project), cwd=home, home=home)
    assert result.returncode == 0, result.stderr
    assert (project / ".gemini" / "settings.json").is_file()
    assert "codor init" not in result.stdout
    assert f"codor ledger tail -w {project}" in result.stdout
