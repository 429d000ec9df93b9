"""shell.exec and test.run: the router decides, hands the command to its runner, and records
exit status, output digests and the workspace files the command changed.

The runner here is :class:`~tests.runtime.hostrunner.UnsafeHostRunner` (plain subprocesses,
no sandbox): what is under test is the router's recording, not confinement."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from codor.errors import CodorError
from codor.runtime import RunReport, RunRequest, Snapshot
from tests.runtime.conftest import Setup, SetupFactory
from tests.runtime.hostrunner import UnsafeHostRunner


def with_runner(make_setup: SetupFactory) -> tuple[Setup, UnsafeHostRunner]:
    runner = UnsafeHostRunner()
    return make_setup(sandbox_runner=runner), runner


def test_exit_status_streams_and_timings_are_recorded(make_setup: SetupFactory) -> None:
    setup, runner = with_runner(make_setup)
    result = setup.router.call("shell.exec", {"command": "echo out; echo err >&2; exit 3"},
                               session="s2")
    assert result.ok and result.output["exit_status"] == 3
    assert result.output["stdout"] == "out\n" and result.output["stderr"] == "err\n"
    assert runner.calls[0].cwd == str(setup.root) and runner.calls[0].command is not None
    [decision] = setup.decisions()
    assert decision.action.kind == "command.exec" and decision.action.meta["tool"] == \
        "shell.exec"
    [outcome] = setup.outcomes()
    assert outcome.exit_status == 3 and outcome.sandbox == "unsafe-host"
    assert outcome.stdout.sha256 == hashlib.sha256(b"out\n").hexdigest()
    assert outcome.stdout.excerpt == "out\n" and outcome.stderr.excerpt == "err\n"
    assert outcome.session == "s2" and outcome.duration_us > 0


def test_files_the_command_changed_are_products(make_setup: SetupFactory) -> None:
    setup, _ = with_runner(make_setup)
    (setup.root / "keep.txt").write_text("same")
    (setup.root / "edit.txt").write_text("before")
    (setup.root / "gone.txt").write_text("bye")
    (setup.root / ".git").mkdir()
    script = ("printf after > edit.txt; mkdir -p out; printf new > out/new.txt; "
              "rm gone.txt; printf x > .git/index; touch -d 2001-01-01 edit.txt")
    result = setup.router.call("shell.exec", {"command": script})
    assert result.ok, result.to_json()
    out = result.to_json()["output"]
    assert out["changed"] == ["edit.txt", "out/new.txt"]
    assert out["deleted"] == ["gone.txt"] and out["products_complete"] is True
    [outcome] = setup.outcomes()
    assert dict(outcome.products) == {
        str(setup.root / "edit.txt"): hashlib.sha256(b"after").hexdigest(),
        str(setup.root / "out" / "new.txt"): hashlib.sha256(b"new").hexdigest()}


def test_a_denied_command_never_reaches_the_runner(make_setup: SetupFactory) -> None:
    setup, runner = with_runner(make_setup)
    result = setup.router.call("shell.exec", {"argv": ["curl", "http://example.org"]})
    assert result.status == "denied" and runner.calls == []
    assert setup.outcomes() == []


def test_argv_cwd_env_and_test_run(make_setup: SetupFactory) -> None:
    setup, runner = with_runner(make_setup)
    (setup.root / "sub").mkdir()
    result = setup.router.call("test.run", {"argv": ["sh", "-c", "pwd; echo $GREETING"],
                                            "cwd": "sub", "env": {"GREETING": "hi"}})
    assert result.ok and result.output["stdout"] == f"{setup.root / 'sub'}\nhi\n"
    assert runner.calls[0].argv == ("sh", "-c", "pwd; echo $GREETING")
    assert runner.calls[0].timeout == 600.0  # test.run's default
    [decision] = setup.decisions()
    assert decision.action.meta["tool"] == "test.run"
    assert decision.action.cwd == str(setup.root / "sub")
    assert decision.action.env is not None and dict(decision.action.env) == {"GREETING": "hi"}


def test_bad_command_arguments(make_setup: SetupFactory) -> None:
    setup, runner = with_runner(make_setup)
    (setup.root / "door").symlink_to(setup.outside)
    for args in ({}, {"command": "true", "argv": ["true"]}, {"command": "true", "cwd": ".."},
                 {"command": "true", "cwd": "door"}, {"argv": []},
                 {"command": "true", "timeout": 0}):
        result = setup.router.call("shell.exec", args)
        assert result.error_code == "E_TOOL_ARGS", args
    assert runner.calls == [] and setup.decisions() == []


def test_without_a_runner_commands_are_an_error(setup: Setup) -> None:
    result = setup.router.call("shell.exec", {"command": "true"})
    assert result.status == "error" and result.error_code == "E_TOOL"
    assert setup.decisions() == []


def test_a_timeout_kills_the_command(make_setup: SetupFactory) -> None:
    setup, _ = with_runner(make_setup)
    result = setup.router.call("shell.exec", {"command": "sleep 30", "timeout": 0.3})
    assert result.ok and result.output["timed_out"] is True
    assert result.output["exit_status"] < 0
    assert setup.outcomes()[0].exit_status == result.output["exit_status"]


def test_a_runner_that_refuses_is_recorded_as_an_error(make_setup: SetupFactory) -> None:
    class Refusing:
        def __call__(self, request: RunRequest) -> RunReport:
            raise CodorError("no sandbox can give the policy's guarantees")

    setup = make_setup(sandbox_runner=Refusing())
    result = setup.router.call("shell.exec", {"command": "true"})
    assert result.status == "error" and result.error_code == "CODOR_ERROR"
    [outcome] = setup.outcomes()
    assert outcome.exit_status is None and "guarantees" in outcome.stderr.excerpt


def test_secrets_in_output_are_redacted_in_the_ledger(make_setup: SetupFactory) -> None:
    setup, _ = with_runner(make_setup)
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    result = setup.router.call("shell.exec", {"argv": ["printf", key]})
    assert result.output["stdout"] == key  # the agent gets its output
    assert key.encode() not in setup.workspace.ledger_path.read_bytes()
    assert "REDACTED" in setup.outcomes()[0].stdout.excerpt


def test_snapshot_sees_changes_and_knows_when_it_is_incomplete(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("2")
    (tmp_path / ".codor").mkdir()
    before = Snapshot.take(str(tmp_path))
    (tmp_path / "a").write_text("3")
    os.symlink("a", tmp_path / "link")
    (tmp_path / ".codor" / "ledger.db").write_text("x")
    diff = before.diff(Snapshot.take(str(tmp_path)))
    assert diff.changed == (str(tmp_path / "a"),) and diff.other == (str(tmp_path / "link"),)
    assert diff.deleted == () and diff.complete
    assert not Snapshot.take(str(tmp_path), limit=1).complete
