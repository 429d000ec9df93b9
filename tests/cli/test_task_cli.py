"""``codor task ...``: tasks in the workspace's ``.codor/state.db`` (the one ``codor agent``
and the daemon use), submissions and cancellations in the workspace ledger, JSON output,
batches from a file, and errors as exit code 2 with their codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codor.cli.main import main
from codor.runtime.taskstore import TaskStore
from codor.statedb import StateDB
from codor.workspace import Workspace
from tests.cli.test_agent_cli import ledger_events, run


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # never the repository's own workspace
    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    return str(root)


def test_submit_list_show_cancel(ws: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "task", "submit", "--id", "build", "--name", "build it", "-w",
                       ws, "--", "make", "-j4")
    assert (code, out) == (0, "submitted build (ready)\n")
    code, out, _ = run(capsys, "task", "submit", "--id", "test", "--after", "build",
                       "--priority", "5", "--agent", "claude-1", "--retries", "2",
                       "--session", "s-ci", "--json", "-w", ws, "--", "pytest", "-q",
                       "--maxfail=1")
    shown = json.loads(out)
    assert (shown["state"], shown["deps"], shown["argv"], shown["max_retries"]) == (
        "pending", ["build"], ["pytest", "-q", "--maxfail=1"], 2)
    code, out, _ = run(capsys, "task", "submit", "-w", ws, "--", "echo", "hi")
    generated = out.split()[1]
    assert code == 0 and generated.startswith("t-")
    code, out, _ = run(capsys, "task", "list", "-w", ws)
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["build", "test", generated]
    assert "pending" in lines[1] and "p5" in lines[1] and "claude-1" in lines[1]
    code, out, _ = run(capsys, "task", "list", "--state", "pending", "--json", "-w", ws)
    assert [t["id"] for t in json.loads(out)] == ["test"]
    assert run(capsys, "task", "list", "--agent", "nobody", "-w", ws)[1] == ""
    code, out, _ = run(capsys, "task", "show", "test", "-w", ws)
    assert "state:       pending" in out and "after:       build" in out
    assert "command:     pytest -q --maxfail=1" in out and "attempt:     0 of 3" in out
    code, out, err = run(capsys, "task", "cancel", "build", "--reason", "not today", "-w", ws)
    assert code == 0
    assert out == "cancelled build\ncancelled test (dependency build cancelled)\n"
    assert "1 dependent task(s)" in err
    shown = json.loads(run(capsys, "task", "show", "build", "--json", "-w", ws)[1])
    assert (shown["state"], shown["reason"], shown["version"]) == ("cancelled", "not today", 2)
    recorded = [(e.session, e.event, e.data["task"]) for e in ledger_events(ws)
                if e.event.startswith("task.")]
    assert recorded == [("codor-tasks", "task.ready", "build"), ("s-ci", "task.pending", "test"),
                        ("codor-tasks", "task.ready", generated),
                        ("codor-tasks", "task.cancelled", "build"),
                        ("s-ci", "task.cancelled", "test")]
    assert all(e.data["by"].endswith("(codor task)") for e in ledger_events(ws)
               if e.event.startswith("task."))


def test_submit_a_batch_from_a_file(ws: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "dag.json"
    batch.write_text(json.dumps({"tasks": [
        {"id": "lint", "argv": ["ruff", "check"]},
        {"id": "unit", "argv": ["pytest"], "deps": ["lint"], "priority": 10},
        {"argv": ["echo", "anonymous"]}]}))
    code, out, _ = run(capsys, "task", "submit", "--file", str(batch), "--json", "-w", ws)
    made = json.loads(out)
    assert code == 0 and [t["state"] for t in made] == ["ready", "pending", "ready"]
    assert made[2]["id"].startswith("t-")
    db = StateDB.open(Path(ws) / ".codor" / "state.db")  # what the daemon reads
    try:
        assert [t.id for t in TaskStore(db).list(state="pending")] == ["unit"]
    finally:
        db.close()


def test_errors_are_one_line_with_their_code(ws: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "task", "submit", "--id", "a", "-w", ws, "--", "true")[0] == 0
    cases = [
        (("task", "submit", "--id", "b", "--after", "ghost", "--", "true"), "E_TASK]"),
        (("task", "submit", "--id", "a", "--", "true"), "E_CONFLICT]"),
        (("task", "submit", "--id", "c", "--priority", "5000", "--", "true"), "E_TASK]"),
        (("task", "submit", "--id", "bad id", "--", "true"), "E_TASK]"),
        (("task", "show", "ghost"), "E_NOT_FOUND]"),
        (("task", "cancel", "a", "--expect-version", "9"), "E_CONFLICT]"),
    ]
    for argv, code_text in cases:
        code, out, err = run(capsys, *argv[:2], "-w", ws, *argv[2:])
        assert code == 2 and out == "", argv
        assert err.startswith("codor: ") and err.rstrip().endswith(code_text), (argv, err)
        assert len(err.strip().splitlines()) == 1
    cyclic = tmp_path / "cycle.json"
    cyclic.write_text(json.dumps([{"id": "x", "deps": ["y"]}, {"id": "y", "deps": ["x"]}]))
    code, _, err = run(capsys, "task", "submit", "--file", str(cyclic), "-w", ws)
    assert code == 2 and "→" in err and err.rstrip().endswith("[E_TASK_CYCLE]")
    assert run(capsys, "task", "cancel", "a", "-w", ws)[0] == 0
    code, _, err = run(capsys, "task", "cancel", "a", "-w", ws)
    assert code == 2 and "[E_TASK_TRANSITION]" in err
    code, _, err = run(capsys, "task", "submit", "--file", str(cyclic), "-w", ws, "--", "x")
    assert not (tmp_path / ".codor").exists()
    assert code == 2 and "[E_INPUT]" in err


def test_the_state_database_is_found_like_codor_agent(ws: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    other = tmp_path / "elsewhere.db"
    assert run(capsys, "task", "submit", "--id", "x", "--state-db", str(other), "-w", ws,
               "--", "true")[0] == 0
    assert run(capsys, "task", "list", "-w", ws)[1] == ""
    assert run(capsys, "task", "list", "--state-db", str(other), "-w", ws)[1].startswith("x ")
    assert run(capsys, "task", "submit", "--id", "y", "-w", ws, "--", "true")[0] == 0
    assert main(["agent", "register", "a-1", "--role", "coder", "-w", ws]) == 0
    db = StateDB.open(Path(ws) / ".codor" / "state.db")  # codor agent's database
    try:
        assert [t.id for t in TaskStore(db).list()] == ["y"]
    finally:
        db.close()
