"""``codor mode ...``: workflow modes in the workspace's ``.codor/state.db``, guards read from
the workspace ledger (evidence recorded by a kernel, as an agent's hooks do), every change
recorded, JSON output, and exit codes: 1 when a guard does not hold, 2 for a bad request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.cli.main import main
from codor.evidence.records import StreamSummary, now_us
from codor.kernel import Kernel
from codor.model import Action
from codor.workspace import Workspace

FAILED = "F\n1 failed in 0.02s\n"
PASSED = "..\n2 passed in 0.03s\n"


@pytest.fixture
def ws(tmp_path: Path) -> str:
    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    return str(root)


@pytest.fixture
def kernel(ws: str) -> Iterator[Kernel]:
    from codor.integrations.context import open_kernel

    k = open_kernel(Path(ws), remote=False)
    yield k
    k.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def record_write(kernel: Kernel, ws: str, rel: str, session: str = "s1") -> None:
    action = Action.create("file.write", path=f"{ws}/{rel}", content="x", session=session,
                           agent={"id": "claude"})
    _, index = kernel.decide_and_index(action)
    kernel.record_outcome(action, index, started=now_us(), ended=now_us())


def record_run(kernel: Kernel, ws: str, command: str, output: str, status: int,
               session: str = "s1") -> None:
    action = Action.create("command.exec", command=command, session=session, cwd=ws,
                           agent={"id": "claude"})
    _, index = kernel.decide_and_index(action)
    kernel.record_outcome(action, index, started=now_us(), ended=now_us(), exit_status=status,
                          stdout=StreamSummary.of(output.encode()),
                          observer="claude-code-harness")


def events(ws: str) -> list[Any]:
    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes

    ledger = Workspace.at(Path(ws)).open_ledger(signing=False)
    try:
        store = ledger.store
        return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                            if e.leaf is not None)
                if isinstance(r, EventRecord) and r.event.startswith("workflow.")]
    finally:
        ledger.close()


def test_set_show_advance_and_the_whole_cycle(ws: str, kernel: Kernel,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mode", "set", "strict", "--session", "s1", "--reason", "tdd",
                       "-w", ws)
    assert (code, out.strip()) == (0, "s1: strict mode, phase planning (version 1)")
    code, out, _ = run(capsys, "mode", "show", "-s", "s1", "--json", "-w", ws)
    shown = json.loads(out)
    assert (shown["mode"], shown["phase"], shown["next"]["phase"], shown["next"]["ok"]) == (
        "strict", "planning", "test_writing", True)
    code, out, _ = run(capsys, "mode", "advance", "-s", "s1", "-w", ws)
    assert out.strip() == "s1: strict mode, phase test_writing (version 2)"

    code, out, err = run(capsys, "mode", "advance", "-s", "s1", "-w", ws)
    assert code == 1 and out == ""
    assert "needs a failing test run first" in err and "[E_WORKFLOW_GUARD]" in err
    code, out, _ = run(capsys, "mode", "show", "-s", "s1", "-w", ws)
    assert "next:     code_writing — guard failing_test does not hold: needs a failing " \
           "test run first" in out
    assert "writes:   writes tests (and exempted paths) only" in out

    # the evidence an agent's hooks record, read from the ledger by the next command
    record_write(kernel, ws, "tests/test_a.py")
    record_run(kernel, ws, "pytest -q", FAILED, 1)
    assert run(capsys, "mode", "advance", "-s", "s1", "-w", ws)[0] == 0
    record_write(kernel, ws, "src/a.py")
    record_run(kernel, ws, "pytest -q", PASSED, 0)
    assert run(capsys, "mode", "advance", "-s", "s1", "-w", ws)[0] == 0
    record_run(kernel, ws, "pytest -q", PASSED, 0)
    code, out, _ = run(capsys, "mode", "advance", "-s", "s1", "-w", ws)
    assert out.strip() == "s1: strict mode, phase reviewing (version 5)"
    code, out, err = run(capsys, "mode", "approve", "review", "-s", "s1", "--by", "claude",
                         "-w", ws)  # the session's own agent (named in its records)
    assert code == 2 and "an agent cannot approve its own session's review" in err
    code, out, _ = run(capsys, "mode", "approve", "review", "-s", "s1", "--by", "bob",
                       "-w", ws)
    assert (code, out.strip()) == (0, "review of s1 approved by bob (version 6)")
    code, out, _ = run(capsys, "mode", "advance", "-s", "s1", "--to", "committing", "-w", ws)
    assert out.strip() == "s1: strict mode, phase committing (version 7)"

    recorded = events(ws)
    assert [e.event for e in recorded] == [
        "workflow.mode", "workflow.phase", "workflow.phase", "workflow.phase",
        "workflow.phase", "workflow.review.approved", "workflow.phase"]
    assert recorded[0].data["by"].endswith("(codor mode)") and recorded[0].data["reason"] == \
        "tdd"
    assert all(e.session == "s1" for e in recorded)


def test_workspace_default_exemptions_and_errors(ws: str, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODOR_SESSION", raising=False)
    code, out, _ = run(capsys, "mode", "set", "strict", "-w", ws)
    assert (code, out.strip()) == (0, "workspace default mode: strict (new sessions start "
                                      "in it)")
    code, out, _ = run(capsys, "mode", "exempt", "--category", "docs", "--path", "*.md",
                       "--path", "docs/**", "--reason", "docs need no test", "-w", ws)
    assert code == 0 and "(docs) for the workspace: *.md, docs/**" in out
    code, _, err = run(capsys, "mode", "exempt", "--category", "type-only", "--path",
                       "src/**/*.py", "--reason", "r", "-w", ws)
    assert code == 2 and "[E_WORKFLOW_EXEMPTION]" in err
    assert "a type-only exemption cannot cover 'src/**/*.py'" in err
    code, out, _ = run(capsys, "mode", "show", "-w", ws)
    assert "workspace default mode: strict" in out and "docs need no test" in out
    code, out, _ = run(capsys, "mode", "show", "--json", "-w", ws)
    assert json.loads(out)["exemptions"][0]["patterns"] == ["*.md", "docs/**"]
    # a session not seen yet would start in the default
    code, out, _ = run(capsys, "mode", "show", "-s", "new", "--json", "-w", ws)
    assert (json.loads(out)["mode"], json.loads(out)["started"]) == ("strict", False)

    code, _, err = run(capsys, "mode", "advance", "-w", ws)
    assert code == 2 and "needs --session" in err
    code, _, err = run(capsys, "mode", "advance", "-s", "nobody", "-w", ws)
    assert code == 2 and "[E_NOT_FOUND]" in err
    code, _, err = run(capsys, "mode", "set", "debug", "-w", ws)
    assert code == 2 and "debug cannot be a workspace default" in err
    code, _, err = run(capsys, "mode", "approve", "debug", "-s", "nobody", "-w", ws)
    assert code == 2 and "no pending debug request" in err
    with pytest.raises(SystemExit) as exited:
        main(["mode", "set", "lax", "-w", ws])
    assert exited.value.code == 2 and "[E_USAGE]" in capsys.readouterr().err
    admin = [e for e in events(ws)]
    assert [e.event for e in admin] == ["workflow.default", "workflow.exemption"]
    assert {e.session for e in admin} == {"codor-admin"}


def test_debug_is_requested_then_approved_by_a_person(ws: str, kernel: Kernel,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODOR_SESSION", "s1")  # the session from the environment
    assert run(capsys, "mode", "set", "explore", "-w", ws)[0] == 0
    code, _, err = run(capsys, "mode", "set", "debug", "--reason", "stuck", "-w", ws)
    assert code == 1 and "only 0 consecutive failing test run(s)" in err
    for _ in range(3):
        record_run(kernel, ws, "pytest -q", FAILED, 1)
    code, out, _ = run(capsys, "mode", "set", "debug", "--reason", "stuck", "-w", ws)
    assert code == 0 and "debug requested for s1" in out
    assert "codor mode approve debug --session s1" in out
    code, out, _ = run(capsys, "mode", "show", "-w", ws)
    assert "explore" in out and "debug:    request dbg-" in out
    code, out, _ = run(capsys, "mode", "approve", "debug", "--by", "alice", "-w", ws)
    assert out.strip() == "s1: debug mode, phase debugging (version 2)"
    code, out, _ = run(capsys, "mode", "show", "-w", ws)
    assert "came from: explore mode, phase exploring" in out
    code, out, _ = run(capsys, "mode", "advance", "-w", ws)
    assert out.strip() == "s1: explore mode, phase exploring (version 3)"
    names = [e.event for e in events(ws)]
    assert names == ["workflow.mode", "workflow.debug.requested", "workflow.debug.approved",
                     "workflow.mode", "workflow.mode"]


def test_debug_denied_and_baseline(ws: str, kernel: Kernel,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "mode", "set", "strict", "-s", "s1", "-w", ws)
    for _ in range(3):
        record_run(kernel, ws, "pytest -q", FAILED, 1)
    assert run(capsys, "mode", "set", "debug", "-s", "s1", "--reason", "r", "-w", ws)[0] == 0
    code, out, _ = run(capsys, "mode", "approve", "debug", "-s", "s1", "--deny", "--comment",
                       "not now", "-w", ws)
    assert code == 0 and "denied by" in out
    code, out, _ = run(capsys, "mode", "baseline", "81.5", "-w", ws)
    assert (code, out.strip()) == (0, "coverage baseline: 81.50%")
    code, out, _ = run(capsys, "mode", "show", "-w", ws)
    assert "coverage baseline:      81.50%" in out
    code, _, err = run(capsys, "mode", "baseline", "-s", "s1", "-w", ws)
    assert code == 2 and "no coverage report" in err


def test_an_empty_session_is_refused_not_widened_to_the_workspace(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["mode", "exempt", "--category", "docs", "--path", "docs/**", "--reason", "x",
                 "--session", "", "-w", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "empty session" in err and "E_INPUT" in err
    assert not (tmp_path / ".codor" / "state.db").exists()  # nothing was recorded anywhere
