"""``codor agent ...``: the registry in the workspace's ``.codor/state.db``, every change in
the workspace ledger, JSON output, export and import, and errors as exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codor.cli.main import main
from codor.runtime.registry import Registry
from codor.statedb import StateDB
from codor.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> str:
    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    return str(root)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ledger_events(ws: str) -> list[Any]:
    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes

    ledger = Workspace.at(Path(ws)).open_ledger(signing=False)
    try:
        store = ledger.store
        return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                            if e.leaf is not None) if isinstance(r, EventRecord)]
    finally:
        ledger.close()


def test_register_list_show_and_lifecycle(ws: str, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    code, out, _ = run(capsys, "agent", "register", "claude-1", "--role", "coder", "--owner",
                       "alice", "-c", "fs.read,fs.write", "-c", "shell.exec", "-w", ws)
    assert code == 0 and "registered claude-1" in out
    code, out, _ = run(capsys, "agent", "list", "--json", "-w", ws)
    listed = json.loads(out)
    assert [(a["id"], a["status"], a["capabilities"]) for a in listed] == [
        ("claude-1", "registered", ["fs.read", "fs.write", "shell.exec"])]
    # the daemon's scheduler/executor moves it on; here, straight in the database
    db = StateDB.open(Path(ws) / ".codor" / "state.db")
    try:
        registry = Registry(db)
        for step in ("provisioning", "ready", "running"):
            registry.transition("claude-1", step)
    finally:
        db.close()
    assert run(capsys, "agent", "pause", "claude-1", "--reason", "review", "-w", ws)[0] == 0
    code, out, _ = run(capsys, "agent", "show", "claude-1", "--json", "-w", ws)
    shown = json.loads(out)
    assert (shown["status"], shown["previous"], shown["version"]) == ("paused", "running", 5)
    code, out, _ = run(capsys, "agent", "resume", "claude-1", "--expect-version", "5", "-w", ws)
    assert code == 0 and "running" in out
    code, out, _ = run(capsys, "agent", "show", "claude-1", "-w", ws)
    assert "status:       running (was paused)" in out and "owner:        alice" in out
    code, out, _ = run(capsys, "agent", "stop", "claude-1", "-w", ws)
    assert code == 0 and "stopped" in out
    code, out, _ = run(capsys, "agent", "list", "--status", "stopped", "-w", ws)
    assert out.startswith("claude-1  coder") and "[fs.read,fs.write,shell.exec]" in out
    recorded = [(e.session, e.event) for e in ledger_events(ws)]
    assert recorded == [("codor-admin", "agent.registered"), ("codor-admin", "agent.paused"),
                        ("codor-admin", "agent.running"), ("codor-admin", "agent.stopping"),
                        ("codor-admin", "agent.stopped")]
    assert all(e.data["by"].endswith("(codor agent)") for e in ledger_events(ws))


def test_errors_exit_2_with_a_code(ws: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "agent", "register", "a", "--role", "tester", "-w", ws)
    code, _, err = run(capsys, "agent", "pause", "a", "-w", ws)
    assert code == 2 and "[E_REGISTRY_TRANSITION]" in err
    code, _, err = run(capsys, "agent", "register", "a", "--role", "tester", "-w", ws)
    assert code == 2 and "[E_CONFLICT]" in err
    code, _, err = run(capsys, "agent", "show", "nobody", "-w", ws)
    assert code == 2 and "[E_NOT_FOUND]" in err
    code, _, err = run(capsys, "agent", "stop", "a", "--expect-version", "9", "-w", ws)
    assert code == 2 and "[E_CONFLICT]" in err
    code, _, err = run(capsys, "agent", "register", "bad id", "--role", "tester", "-w", ws)
    assert code == 2 and "[E_REGISTRY]" in err
    with pytest.raises(SystemExit):
        main(["agent", "register", "b", "--role", "king", "-w", ws])


def test_export_and_import(ws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                           ) -> None:
    run(capsys, "agent", "register", "a", "--role", "reviewer", "--owner", "o", "-w", ws)
    run(capsys, "agent", "register", "b", "--role", "tool", "--owner", "o", "-c", "x", "-w", ws)
    out_file = tmp_path / "agents.json"
    assert run(capsys, "agent", "export", str(out_file), "-w", ws)[0] == 0
    document = json.loads(out_file.read_text())
    assert [a["id"] for a in document["agents"]] == ["a", "b"]
    code, out, _ = run(capsys, "agent", "export", "-", "-w", ws)
    assert json.loads(out)["agents"] == document["agents"]

    other = tmp_path / "other"
    other.mkdir()
    Workspace(other, other / ".codor").init(key_name="test")
    code, out, _ = run(capsys, "agent", "import", str(out_file), "-w", str(other))
    assert code == 0 and "imported 2 agent(s)" in out
    code, _, err = run(capsys, "agent", "import", str(out_file), "-w", str(other))
    assert code == 2 and "[E_CONFLICT]" in err
    assert run(capsys, "agent", "import", str(out_file), "--replace", "-w", str(other))[0] == 0
    code, out, _ = run(capsys, "agent", "list", "--json", "-w", str(other))
    assert [(a["id"], a["version"]) for a in json.loads(out)] == [("a", 2), ("b", 2)]
    assert [e.event for e in ledger_events(str(other))] == ["agent.imported"] * 4

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, _, err = run(capsys, "agent", "import", str(broken), "-w", str(other))
    assert code == 2 and "[E_INPUT]" in err
    code, _, err = run(capsys, "agent", "import", str(tmp_path / "missing.json"), "-w", ws)
    assert code == 2 and "[E_INPUT]" in err


def test_without_a_ledger_changes_are_still_made(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "bare"
    (root / ".codor").mkdir(parents=True)
    code, _, _ = run(capsys, "agent", "register", "a", "--role", "custom", "-w", str(root))
    assert code == 0
    assert (root / ".codor" / "state.db").is_file()
    assert not Workspace.at(root).has_ledger()
