"""The workflow gate where decisions are made: every kernel a workspace opens (hooks,
``codor check``, ``codor run``) and the daemon carry it once a state database exists; a gate
that fails is a deny; forged workflow events are refused over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from codor.integrations.context import open_kernel
from codor.kernel import Kernel
from codor.model import Action, Decision
from codor.policy import load_engine
from codor.runtime.workflowstore import WorkflowStore
from codor.statedb import StateDB
from codor.workspace import Workspace

CODOR = str(Path(sys.executable).with_name("codor"))


def _write(path: str, session: str = "s1") -> Action:
    return Action.create("file.write", path=path, content="x", session=session, agent="c1")


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    return root


def _strict_by_default(root: Path) -> None:
    """Make strict the workspace's default mode (as `codor mode set strict` does)."""
    db = StateDB.open(root / ".codor" / "state.db")
    try:
        WorkflowStore(db, workspace=str(root)).set_default("strict", by="test")
    finally:
        db.close()


def test_a_workspace_without_a_state_database_opens_no_gate(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    kernel = open_kernel(root, remote=False)
    try:
        assert kernel.gate is None
        assert not (root / ".codor" / "state.db").exists()
    finally:
        kernel.close()


def test_a_strict_session_refuses_code_before_a_failing_test_through_open_kernel(
        tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    _strict_by_default(root)
    kernel = open_kernel(root, remote=False)
    try:
        assert kernel.gate is not None
        code = kernel.decide(_write("src/app.py"))
        assert code.decision == "deny" and code.reasons[0].rule == "workflow.phase"
        test = kernel.decide(_write("tests/test_app.py"))
        assert test.decision == "allow"
        assert any("planning → test_writing" in w for w in test.warnings)
        other = kernel.decide(_write("src/app.py", session="s2"))  # its own phase: planning
        assert other.decision == "deny"
    finally:
        kernel.close()
    # the refusals are in the ledger as recorded
    ledger = Workspace.at(root).open_ledger(signing=False)
    try:
        leaves = [json.loads(e.leaf) for e in ledger.store.entries(0, ledger.store.size())
                  if e.leaf]
    finally:
        ledger.close()
    refused = [r for r in leaves if r.get("type") == "decision"
               and r["decision"]["decision"] == "deny"]
    assert {r["decision"]["reasons"][0]["rule"] for r in refused} == {"workflow.phase"}


def test_codor_check_and_mode_commands_share_the_gate(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "CODOR_HOME"}

    def codor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CODOR, *args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    assert codor("mode", "set", "strict").returncode == 0
    action = {"kind": "file.write", "path": "src/app.py", "content": "x", "session": "s1",
              "agent": {"id": "c1"}}
    done = codor("check", json.dumps(action))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"] == "deny"
    assert codor("mode", "set", "off", "--session", "s1").returncode == 0
    assert json.loads(codor("check", json.dumps(action)).stdout)["decision"] == "allow"


class _Broken:
    def apply(self, action: Action, decision: Decision) -> Decision:
        raise RuntimeError("state database gone")

    def recorded(self, action: Action, decision: Decision, index: int | None) -> bool:
        raise AssertionError("not reached")


def test_a_failing_gate_is_a_recorded_deny(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    engine = load_engine("codor:default", workspace=str(root))
    ledger = Workspace.at(root).open_ledger(signing=False)
    kernel = Kernel(engine, ledger, workspace=str(root), gate=_Broken())
    try:
        decision, index = kernel.decide_and_index(
            Action.create("file.read", path="README.md", session="s1"))
        assert decision.decision == "deny" and index is not None
        assert decision.reasons[0].rule == "workflow.error"
        assert "state database gone" in decision.reasons[0].message
    finally:
        kernel.close()



def test_a_symlink_under_tests_to_code_is_code(tmp_path: Path) -> None:
    from codor.runtime.workflowpaths import relative_path

    root = _workspace(tmp_path)
    (root / "src").mkdir()
    (root / "tests").mkdir()
    (root / "tests" / "link").symlink_to("../src")
    (root / "tests" / "test_b.py").symlink_to("../src/app.py")
    assert relative_path("tests/link/app.py", None, str(root)) == ("src/app.py", True)
    assert relative_path("tests/test_b.py", None, str(root)) == ("src/app.py", True)
    _strict_by_default(root)
    kernel = open_kernel(root, remote=False)
    try:
        for path in ("tests/link/app.py", "tests/test_b.py"):
            decision = kernel.decide(_write(path))
            assert decision.decision == "deny", path
            assert decision.reasons[0].rule == "workflow.phase"
        assert kernel.decide(_write("tests/test_real.py")).decision == "allow"
    finally:
        kernel.close()


def test_an_action_without_a_session_is_held_to_the_workspace_default(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    _strict_by_default(root)
    kernel = open_kernel(root, remote=False)
    try:
        action = Action.create("file.write", path="src/app.py", content="x", agent="c1")
        assert action.session is None
        decision = kernel.decide(action)
        assert decision.decision == "deny" and decision.reasons[0].rule == "workflow.phase"
    finally:
        kernel.close()


def test_an_ask_refused_by_the_phase_moves_nothing(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    (root / ".codor" / "policy.yaml").write_text(
        "version: 1\nname: asks\nrules:\n  - {id: ask-writes, on: [file.write], effect: ask}\n")
    db = StateDB.open(root / ".codor" / "state.db")
    try:
        store = WorkflowStore(db, workspace=str(root))
        store.set_default("strict", by="test")
        kernel = open_kernel(root, remote=False)
        try:
            decision = kernel.decide(_write("tests/test_a.py"))  # would move planning → tests
            assert decision.decision == "deny"
            assert decision.reasons[0].rule == "workflow.phase"
        finally:
            kernel.close()
        state = store.get("s1")
        assert state is None or state.phase == "planning"
    finally:
        db.close()
