"""Workflow guards from a real ledger: a workspace with a ledger and a state database, a real
Kernel deciding and recording, and the gate applied between the decision and its record (as
the Kernel wires it). Commands either really run (pytest) or have their output recorded the
way an agent's harness reports it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.evidence.events import EventRecord
from codor.evidence.records import StreamSummary, now_us, record_from_bytes
from codor.kernel import Kernel
from codor.model import Action, Decision
from codor.runtime.gate import WorkflowGate
from codor.runtime.workflow import GuardError, WorkflowError
from codor.runtime.workflowstore import (
    WorkflowConfig,
    WorkflowConflictError,
    WorkflowNotFoundError,
    WorkflowStore,
)
from codor.statedb import StateDB
from codor.workspace import Workspace

FAILED = "F\n=== FAILURES ===\nE   assert 1 == 3\n1 failed in 0.02s\n"
PASSED = "...\n3 passed in 0.03s\n"
TEST_FILE = ("def test_add():\n    import sys, pathlib\n"
             "    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'src'))\n"
             "    from app import add\n    assert add(1, 2) == 3\n")


class Agent:
    """An agent session driven through the kernel with the gate wired in: decide, gate,
    record, then (when allowed) act and record the outcome as a harness does."""

    def __init__(self, root: Path, kernel: Kernel, gate: WorkflowGate, session: str = "s1",
                 agent: str = "claude") -> None:
        self.root, self.kernel, self.gate, self.id = root, kernel, gate, session
        self.agent = {"id": agent}
        kernel.session(session)

    def decide(self, action: Action) -> tuple[Decision, int | None]:
        decision = self.kernel.engine.decide(action)
        decision = self.gate.apply(action, decision)
        index = self.kernel.record(action, decision)
        self.gate.recorded(action, decision, index)
        return decision, index

    def write(self, rel: str, content: str = "x = 1\n") -> Decision:
        action = Action.create("file.write", path=str(self.root / rel), content=content,
                               session=self.id, agent=self.agent)
        decision, index = self.decide(action)
        if decision.decision == "allow":
            started = now_us()
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            self.kernel.record_outcome(action, index, started=started, ended=now_us(),
                                       products={str(target): hashlib.sha256(
                                           content.encode()).hexdigest()})
        return decision

    def run(self, command: str, output: str | None = None, exit_status: int | None = 0,
            products: dict[str, str] | None = None) -> tuple[Decision, int | None]:
        """Run ``command`` for real (``output`` None), or record ``output`` as its result."""
        action = Action.create("command.exec", command=command, session=self.id,
                               agent=self.agent, cwd=str(self.root))
        decision, index = self.decide(action)
        if decision.decision != "allow":
            return decision, index
        started = now_us()
        if output is None:
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
            done = subprocess.run(["bash", "-c", command], cwd=self.root, capture_output=True,
                                  env=env, check=False, timeout=120)
            out, err, exit_status = done.stdout, done.stderr, done.returncode
        else:
            out, err = output.encode(), b""
        self.kernel.record_outcome(action, index, started=started, ended=now_us(),
                                   exit_status=exit_status, stdout=StreamSummary.of(out),
                                   stderr=StreamSummary.of(err), products=products,
                                   observer="claude-code-harness")
        return decision, index


class Setup:
    def __init__(self, root: Path, kernel: Kernel, db: StateDB, store: WorkflowStore,
                 gate: WorkflowGate) -> None:
        self.root, self.kernel, self.db, self.store, self.gate = root, kernel, db, store, gate

    def agent(self, session: str = "s1", agent: str = "claude") -> Agent:
        return Agent(self.root, self.kernel, self.gate, session, agent)

    def events(self, prefix: str = "workflow.") -> list[EventRecord]:
        assert self.kernel.ledger is not None
        store = self.kernel.ledger.store
        store.flush()
        return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                            if e.leaf is not None)
                if isinstance(r, EventRecord) and r.event.startswith(prefix)]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    from codor.integrations.context import open_kernel

    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root, root / ".codor").init(key_name="test")
    kernel = open_kernel(root, remote=False)
    assert kernel.ledger is not None
    db = StateDB.open(root / ".codor" / "state.db")
    store = WorkflowStore(db, kernel)
    yield Setup(root, kernel, db, store, WorkflowGate(store))
    kernel.close()
    db.close()


def reasons(decision: Decision) -> list[str]:
    return [r.rule or "" for r in decision.reasons]


# ============================================================================ strict, end to end

def test_strict_tdd_cycle_from_the_ledger(setup: Setup) -> None:
    agent = setup.agent()
    state = setup.store.set_mode("s1", "strict", by="alice", reason="TDD please")
    assert (state.mode, state.phase, state.version) == ("strict", "planning", 1)

    # planning: code is refused, a test moves the session to test_writing (no guard)
    refused = agent.write("src/app.py", "def add(a, b):\n    return a + b\n")
    assert refused.decision == "deny" and reasons(refused)[0] == "workflow.phase"
    written = agent.write("tests/test_app.py", TEST_FILE)
    assert written.decision == "allow"
    assert "moved planning → test_writing" in written.warnings[0]
    assert setup.store.get("s1").phase == "test_writing"  # type: ignore[union-attr]

    # test_writing: the code write is refused until a failing run is recorded
    refused = agent.write("src/app.py", "def add(a, b):\n    return a - b\n")
    assert refused.decision == "deny"
    assert refused.reasons[0].rule == "workflow.phase"
    assert refused.reasons[0].guard == "workflow"
    assert refused.reasons[0].message == (
        "strict mode, phase test_writing: writing src/app.py needs a failing test run first — "
        "run the tests you wrote (none ran since tests/test_app.py was written)")
    assert refused.reasons[1].rule is not None  # the policy's allow stays listed after it
    # a shell redirection into src/ is a code write too
    sneaky, _ = agent.run("cat > src/app.py <<'EOF'\nx = 1\nEOF")
    assert sneaky.decision == "deny" and "it writes src/app.py" in sneaky.reasons[0].message
    # a real failing pytest run (the module does not exist yet)
    ran, run_index = agent.run(f"{sys.executable} -m pytest -q -p no:cacheprovider tests")
    assert ran.decision == "allow"
    allowed = agent.write("src/app.py", "def add(a, b):\n    return a - b\n")
    assert allowed.decision == "allow", allowed
    assert "moved test_writing → code_writing" in allowed.warnings[0]
    phase_events = [e for e in setup.events("workflow.phase")]
    auto = phase_events[-1]
    assert (auto.data["from"], auto.data["to"], auto.data["auto"], auto.data["guard"]) == (
        "test_writing", "code_writing", True, "failing_test")
    assert run_index in auto.data["evidence"]

    # code_writing -> validating needs a pass after the last change; a commit is refused
    with pytest.raises(GuardError, match="a passing test run after your last change"):
        setup.store.advance("s1", by="claude")
    commit, _ = agent.run("git commit -am wip", "", 0)
    assert commit.decision == "deny"
    assert "git commit is allowed only in the committing phase" in commit.reasons[0].message
    agent.run(f"{sys.executable} -m pytest -q -p no:cacheprovider tests")  # still failing
    with pytest.raises(GuardError, match="did not pass"):
        setup.store.advance("s1", by="claude")
    agent.write("src/app.py", "def add(a, b):\n    return a + b\n")
    agent.run(f"{sys.executable} -m pytest -q -p no:cacheprovider tests")
    assert setup.store.advance("s1", by="claude").phase == "validating"

    # validating: a subset does not count; the whole suite must pass in this phase
    agent.run("pytest tests/test_app.py", PASSED, 0)
    with pytest.raises(GuardError, match="whole test suite"):
        setup.store.advance("s1", by="claude")
    agent.run("pytest -q", PASSED, 0)
    assert setup.store.advance("s1", by="claude").phase == "reviewing"

    # reviewing: not by the session's own agent
    with pytest.raises(GuardError, match="a review approval"):
        setup.store.advance("s1", by="claude")
    with pytest.raises(WorkflowError, match="own session's review"):
        setup.store.approve_review("s1", "claude")
    setup.store.approve_review("s1", "bob (reviewer)")
    assert setup.store.advance("s1", by="claude").phase == "committing"

    # committing: a write is refused, the commit is allowed, then the next task
    assert agent.write("src/app.py").decision == "deny"
    with pytest.raises(GuardError, match="git commit"):
        setup.store.advance("s1", by="claude")
    failed_commit, _ = agent.run("git commit -m add", "nothing to commit", 1)
    assert failed_commit.decision == "allow"
    with pytest.raises(GuardError, match="did not succeed"):
        setup.store.advance("s1", by="claude")
    agent.run("git commit -m add", "[main 1a2b3c] add\n 2 files changed", 0)
    assert setup.store.advance("s1", by="claude").phase == "planning"

    moves = [(e.data["from"], e.data["to"], e.data["auto"])
             for e in setup.events("workflow.phase")]
    assert moves == [("planning", "test_writing", True), ("test_writing", "code_writing", True),
                     ("code_writing", "validating", False), ("validating", "reviewing", False),
                     ("reviewing", "committing", False), ("committing", "planning", False)]
    assert [e.session for e in setup.events()] == ["s1"] * len(setup.events())
    approved = setup.events("workflow.review.approved")
    assert approved[0].data["by"] == "bob (reviewer)"


def test_refusals_in_other_phases_name_their_guard(setup: Setup) -> None:
    agent = setup.agent()
    setup.store.set_mode("s1", "strict", by="alice")
    refused = agent.write("src/app.py")
    assert refused.reasons[0].message == (
        "strict mode, phase planning: writing src/app.py needs a failing test run first — "
        "write a test for the behaviour you are adding (no test file was written in this "
        "phase), run it and see it fail (reaching code_writing through test_writing)")
    refused = agent.write("README.md")
    assert "this phase writes nothing but exempted paths; now: plan the task" in \
        refused.reasons[0].message
    # an exemption lets it through in any phase, and is recorded
    exemption = setup.store.request_exemption("s1", "docs", ["*.md"], "docs need no test",
                                              "claude")
    assert agent.write("README.md").decision == "allow"
    recorded = setup.events("workflow.exemption")
    assert recorded[-1].session == "s1" and recorded[-1].data["id"] == exemption.id
    self_change, _ = agent.run("codor mode set off --session s1")
    assert self_change.decision == "deny"
    assert self_change.reasons[0].rule == "workflow.self-approval"
    assert self_change.reasons[0].severity == "high"


def test_workspace_default_mode_and_exemptions(setup: Setup) -> None:
    setup.store.set_default("strict", by="alice")
    setup.store.request_exemption(None, "config", ["*.toml"], "deps", "alice")
    agent = setup.agent("s2")
    assert agent.write("src/app.py").decision == "deny"
    assert agent.write("pyproject.toml", "[project]\n").decision == "allow"
    state = setup.store.get("s2")
    assert state is not None and (state.mode, state.phase, state.agent) == (
        "strict", "planning", "claude")
    started = [e for e in setup.events("workflow.mode") if e.session == "s2"]
    assert started[0].data["by"] == "workspace default"
    admin = [e.event for e in setup.events() if e.session == "codor-admin"]
    assert admin == ["workflow.default", "workflow.exemption"]
    # a session set off explicitly stays unrestricted
    setup.store.set_mode("s3", "off", by="alice")
    assert setup.agent("s3").write("src/app.py").decision == "allow"


# ============================================================================ explore and budget

def test_explore_commit_unverified_then_verified(setup: Setup) -> None:
    agent = setup.agent()
    setup.store.set_mode("s1", "explore", by="alice")
    assert agent.write("src/x.py").decision == "allow"
    assert agent.write("notes/idea.txt").decision == "allow"  # anywhere
    commit, index = agent.run("git commit -am spike", "[main 1] spike", 0)
    assert commit.decision == "allow" and "unverified" in commit.warnings[0]
    push, _ = agent.run("git push", "", 0)
    assert push.decision == "deny"
    unverified = setup.events("workflow.commit.unverified")
    assert len(unverified) == 1 and unverified[0].action_index == index
    assert unverified[0].data["decision"] == index
    assert setup.store.commits("s1")[0]["status"] == "unverified"

    assert setup.store.advance("s1", by="claude").phase == "retro_testing"
    assert agent.write("src/x.py").decision == "deny"
    with pytest.raises(GuardError, match="write tests for the code you explored"):
        setup.store.advance("s1", by="claude")
    assert agent.write("tests/test_x.py").decision == "allow"
    agent.run("pytest -q", PASSED, 0)
    assert setup.store.advance("s1", by="claude").phase == "validating"
    agent.run("pytest -q", PASSED, 0)
    assert setup.store.advance("s1", by="claude").phase == "reviewing"
    verified = setup.events("workflow.commit.verified")
    assert list(verified[0].data["decisions"]) == [index]
    assert setup.store.commits("s1")[0]["status"] == "verified"


def _coverage_run(agent: Agent, root: Path, percent: float) -> None:
    """A test run that writes coverage.json (as pytest-cov would) inside its window."""
    action_output = PASSED
    (root / "coverage.json").write_text(json.dumps({"totals": {"percent_covered": percent}}))
    agent.run("pytest -q --cov --cov-report=json", action_output, 0)


def test_tech_debt_budget_warns_then_locks_explore(setup: Setup) -> None:
    agent = setup.agent()
    setup.store.set_mode("s1", "explore", by="alice")
    setup.store.set_baseline(80.0, by="alice")
    _coverage_run(agent, setup.root, 79.0)
    ok = agent.write("src/a.py")
    assert ok.decision == "allow" and not any("budget" in w for w in ok.warnings)
    time.sleep(0.01)
    _coverage_run(agent, setup.root, 77.5)  # -2.5: a warning
    warned = agent.write("src/a.py")
    assert warned.decision == "allow"
    assert any("tech-debt budget: coverage 77.5% (coverage.json) is -2.5 points" in w
               for w in warned.warnings)
    time.sleep(0.01)
    _coverage_run(agent, setup.root, 74.0)  # -6: explore is locked
    forced = agent.write("src/a.py")
    assert forced.decision == "deny"  # moved to retro_testing, where code is not written
    assert setup.store.get("s1").phase == "retro_testing"  # type: ignore[union-attr]
    assert agent.write("tests/test_a.py").decision == "allow"
    with pytest.raises(GuardError, match="explore is locked"):
        setup.store.set_mode("s1", "explore", by="alice")
    with pytest.raises(GuardError, match="explore is locked"):
        setup.store.set_default("explore", by="alice")
    agent.run("pytest -q", PASSED, 0)
    assert setup.store.advance("s1", by="claude").phase == "validating"
    agent.run("pytest -q", PASSED, 0)
    with pytest.raises(GuardError, match="coverage within the tech-debt budget"):
        setup.store.advance("s1", by="claude")
    with pytest.raises(GuardError, match="explore stays locked"):
        setup.store.advance("s1", "exploring", by="claude")
    status = setup.store.status("s1")
    assert status["coverage"]["locked"] and status["coverage"]["delta"] == -6.0
    # recovery: a new report above -5
    time.sleep(0.01)
    _coverage_run(agent, setup.root, 78.0)
    assert setup.store.advance("s1", by="claude").phase == "reviewing"


def test_a_report_not_produced_by_a_recorded_run_does_not_count(setup: Setup) -> None:
    agent = setup.agent()
    setup.store.set_mode("s1", "explore", by="alice")
    setup.store.set_baseline(90.0, by="alice")
    report = setup.root / "coverage.json"
    report.write_text(json.dumps({"totals": {"percent_covered": 10.0}}))
    old = time.time() - 3600
    os.utime(report, (old, old))
    agent.run("pytest -q", PASSED, 0)
    assert agent.write("src/a.py").decision == "allow"  # not locked: the report is not counted
    cov = setup.store.coverage("s1")
    assert cov is not None and cov.current is None
    assert "not produced by a test run recorded in this session" in cov.problems[0]
    # the agent writing the report itself does not count either
    assert agent.write("coverage.json", json.dumps({"totals": {"percent_covered": 99}})) \
        .decision == "allow"
    cov = setup.store.coverage("s1")
    assert cov is not None and cov.current is None
    assert "coverage.json: " in cov.problems[0]
    # but a report whose digest a run's outcome reported counts
    data = json.dumps({"totals": {"percent_covered": 88.0}}).encode()
    report.write_bytes(data)
    os.utime(report, (old, old))
    agent.run("pytest -q", PASSED, 0, products={str(report): hashlib.sha256(data).hexdigest()})
    cov = setup.store.coverage("s1")
    assert cov is not None and (cov.current, cov.delta) == (88.0, -2.0)


def test_session_baseline_and_baseline_set_when_committing(setup: Setup) -> None:
    agent = setup.agent()
    setup.store.set_mode("s1", "strict", by="alice")
    _coverage_run(agent, setup.root, 70.0)
    cov = setup.store.coverage("s1")
    assert cov is not None and (cov.baseline, cov.source) == (70.0, "session")
    for phase in ("test_writing", "code_writing", "validating", "reviewing", "committing"):
        if phase == "code_writing":
            agent.write("tests/test_a.py")
            agent.run("pytest -q", FAILED, 1)
        if phase in ("validating", "reviewing"):
            time.sleep(0.01)
            _coverage_run(agent, setup.root, 72.0)
        if phase == "committing":
            setup.store.approve_review("s1", "bob")
        setup.store.advance("s1", by="claude")
    agent.run("git commit -m x", "[main 1] x", 0)
    setup.store.advance("s1", by="claude")
    baseline = setup.store.baseline()
    assert baseline is not None and baseline["percent"] == 72.0
    assert setup.events("workflow.baseline")[-1].session == "codor-admin"


# =================================================================================== debug mode

def test_debug_needs_repeated_failures_and_a_person(setup: Setup) -> None:
    agent = setup.agent()
    setup.store.set_mode("s1", "strict", by="alice")
    agent.write("tests/test_a.py")
    agent.run("pytest -q", FAILED, 1)
    agent.write("src/a.py")  # auto: code_writing
    assert setup.store.get("s1").phase == "code_writing"  # type: ignore[union-attr]
    agent.run("pytest -q", FAILED, 1)
    with pytest.raises(GuardError, match="only 2 consecutive failing test run"):
        setup.store.request_debug("s1", by="claude", reason="stuck")
    agent.run("pytest -q", FAILED, 1)
    request = setup.store.request_debug("s1", by="claude", reason="stuck on a flaky import")
    assert request.status == "pending" and len(request.evidence) == 3
    assert setup.store.get("s1").mode == "strict"  # type: ignore[union-attr]  # an ask
    with pytest.raises(WorkflowConflictError):
        setup.store.request_debug("s1", by="claude", reason="again")
    with pytest.raises(WorkflowError, match="own agent cannot approve"):
        setup.store.approve_debug(request.id, "claude")
    state = setup.store.approve_debug(request.id, "alice", comment="go")
    assert (state.mode, state.phase, state.origin_mode, state.origin_phase) == (
        "debug", "debugging", "strict", "code_writing")
    with pytest.raises(WorkflowConflictError, match="already approved"):
        setup.store.deny_debug(request.id, "alice")
    with pytest.raises(WorkflowError, match="from strict or explore mode"):
        setup.store.request_debug("s1", by="claude", reason="again")
    assert agent.write("src/a.py", "fixed = 1\n").decision == "allow"
    assert agent.write("README.md").decision == "deny"
    assert agent.run("git commit -m fix", "", 0)[0].decision == "deny"
    agent.run("pytest -q", PASSED, 0)
    back = setup.store.advance("s1", by="claude")  # the fix is in: code_writing
    assert (back.mode, back.phase, back.origin_mode) == ("strict", "code_writing", None)
    names = [e.event for e in setup.events() if e.event.startswith("workflow.debug")]
    assert names == ["workflow.debug.requested", "workflow.debug.approved"]
    approved = setup.events("workflow.debug.approved")[0]
    assert approved.data["by"] == "alice"


def test_debug_denied_and_left_without_a_fix(setup: Setup) -> None:
    agent = setup.agent()
    setup.store.set_mode("s1", "explore", by="alice")
    for _ in range(3):
        agent.run("pytest -q", FAILED, 1)
    request = setup.store.request_debug("s1", by="claude", reason="r")
    denied = setup.store.deny_debug(request.id, "alice", comment="no")
    assert denied.status == "denied" and denied.answered_by == "alice"
    assert setup.store.get("s1").mode == "explore"  # type: ignore[union-attr]
    request = setup.store.request_debug("s1", by="claude", reason="r2")
    setup.store.approve_debug(request.id, "alice")
    with pytest.raises(WorkflowError):
        setup.store.advance("s1", "exploring", by="claude")
    back = setup.store.leave_debug("s1", by="claude")  # no passing run: where it came from
    assert (back.mode, back.phase) == ("explore", "exploring")
    setup.store.set_mode("s4", "off", by="alice")
    with pytest.raises(WorkflowNotFoundError, match="has no workflow mode"):
        setup.store.request_debug("s4", by="x", reason="y")
    with pytest.raises(WorkflowError, match="requested and approved"):
        setup.store.set_mode("s1", "debug", by="alice")


# ============================================================================== the gate itself

def test_the_gate_never_loosens_and_leaves_unmoded_sessions_alone(setup: Setup) -> None:
    gate = setup.gate
    write = Action.create("file.write", path=str(setup.root / "src/a.py"), content="x",
                          session="free")
    allow = Decision("allow", (), (), "p")
    assert gate.apply(write, allow) is allow  # no mode: unchanged, the same object
    setup.store.set_mode("s1", "strict", by="alice")
    moded = Action.create("file.write", path=str(setup.root / "src/a.py"), content="x",
                          session="s1")
    deny = Decision("deny", (), (), "p")
    assert gate.apply(moded, deny) is deny
    ask = Decision("ask", (), ("w",), "p")
    assert gate.apply(moded, ask).decision == "deny"  # the phase refuses it: no point asking
    test_write = Action.create("file.write", path=str(setup.root / "tests/test_a.py"),
                               content="x", session="s1")
    # an ask the phase refuses is denied even when a guard-free move would allow it: the
    # session never moves on an action nobody has approved yet
    answered = gate.apply(test_write, ask)
    assert answered.decision == "deny" and "codor mode advance" in answered.reasons[0].message
    state = setup.store.get("s1")
    assert state is not None and state.phase == "planning"
    read = Action.create("file.read", path=str(setup.root / "src/a.py"), session="s1")
    assert gate.apply(read, allow) is allow
    sessionless = Action.create("file.write", path=str(setup.root / "src/a.py"), content="x")
    assert gate.apply(sessionless, allow) is allow


def test_fail_closed_on_a_broken_store(setup: Setup, tmp_path: Path) -> None:
    db = StateDB.open(tmp_path / "broken.db")
    store = WorkflowStore(db, setup.kernel)
    gate = WorkflowGate(store)
    write = Action.create("file.write", path=str(setup.root / "src/a.py"), content="x",
                          session="s9")
    allow = Decision("allow", (), (), "p")
    assert gate.apply(write, allow) is allow
    gate.forget()
    db.execute("DROP TABLE workflow_sessions")
    out = gate.apply(write, allow)
    assert out.decision == "deny" and out.reasons[0].rule == "workflow.error"
    assert out.reasons[0].guard == "workflow" and out.reasons[0].severity == "high"
    assert "[E_STATE]" in out.reasons[0].message
    read = Action.create("file.read", path=str(setup.root / "src/a.py"), session="s9")
    assert gate.apply(read, allow) is allow  # never looked up
    db.close()


def test_fail_closed_when_evidence_cannot_be_read(setup: Setup) -> None:
    def broken(session: str) -> Any:
        raise OSError("the ledger is gone")

    setup.store.set_mode("s1", "strict", by="alice")
    gate = WorkflowGate(setup.store, broken)
    write = Action.create("file.write", path=str(setup.root / "src/a.py"), content="x",
                          session="s1")
    out = gate.apply(write, Decision("allow", (), (), "p"))
    assert out.reasons[0].rule == "workflow.error" and "OSError" in out.reasons[0].message
    test_write = Action.create("file.write", path=str(setup.root / "tests/test_a.py"),
                               content="x", session="s1")
    assert gate.apply(test_write, Decision("allow", (), (), "p")).decision == "allow"


def test_changes_from_another_process_are_seen_within_the_ttl(setup: Setup) -> None:
    now = [100.0]
    gate = WorkflowGate(setup.store, clock=lambda: now[0])
    other_db = StateDB.open(setup.root / ".codor" / "state.db")
    other = WorkflowStore(other_db, setup.kernel)  # as `codor mode` in another process
    write = Action.create("file.write", path=str(setup.root / "src/a.py"), content="x",
                          session="s5")
    allow = Decision("allow", (), (), "p")
    assert gate.apply(write, allow) is allow
    other.set_mode("s5", "strict", by="alice")
    assert gate.apply(write, allow) is allow  # cached for cache_ttl_s
    now[0] += setup.store.config.cache_ttl_s + 0.01
    assert gate.apply(write, allow).decision == "deny"
    setup.store.set_mode("s5", "off", by="alice")  # the same store: seen at once
    assert gate.apply(write, allow) is allow
    other_db.close()


def test_store_errors(setup: Setup) -> None:
    store = setup.store
    with pytest.raises(WorkflowNotFoundError):
        store.advance("nobody", by="x")
    with pytest.raises(WorkflowError, match="administration session"):
        store.set_mode("codor-admin", "strict", by="x")
    with pytest.raises(WorkflowError, match="unknown mode"):
        store.set_mode("s1", "lax", by="x")
    store.set_mode("s1", "strict", by="x")
    with pytest.raises(WorkflowConflictError):
        store.set_mode("s1", "explore", by="x", expected_version=7)
    with pytest.raises(WorkflowError, match="not reviewing"):
        store.approve_review("s1", "bob")
    with pytest.raises(WorkflowError, match="cannot go from planning to committing"):
        store.advance("s1", "committing", by="x")
    with pytest.raises(WorkflowError, match="debug cannot be a workspace default"):
        store.set_default("debug", by="x")
    with pytest.raises(WorkflowNotFoundError):
        store.revoke_exemption("ex-nope", by="x")
    made = store.request_exemption(None, "docs", None, "r", "x")
    store.revoke_exemption(made.id, by="x")
    assert store.exemptions() == []
    with pytest.raises(WorkflowError):
        WorkflowConfig(debug_failures=0)
    with pytest.raises(WorkflowError):
        store.set_baseline(101.0, by="x")


def test_configurable_failure_count(setup: Setup) -> None:
    store = WorkflowStore(setup.db, setup.kernel, config=WorkflowConfig(debug_failures=1))
    agent = setup.agent()
    store.set_mode("s1", "strict", by="alice")
    agent.run("pytest -q", FAILED, 1)
    assert store.request_debug("s1", by="claude", reason="r").status == "pending"


def test_a_summary_the_agent_printed_itself_is_not_a_test_run(setup: Setup) -> None:
    """`pytest >/dev/null; echo '=== 5 passed ==='` would read as a passing run: only output a
    runner printed counts (pass-through filters such as `| tail` are fine)."""
    agent = setup.agent()
    setup.store.set_mode("s1", "strict", by="alice")
    assert agent.write("tests/test_app.py", TEST_FILE).decision == "allow"
    agent.run("pytest -q; echo '=== 1 failed in 0.1s ==='", "=== 1 failed in 0.1s ===\n", 0)
    assert agent.write("src/app.py").decision == "deny"  # the failure was only printed
    agent.run("pytest -q | tail -3", "FAILED tests/test_app.py::test_add\n"
              "=== 1 failed in 0.1s ===\n", 1)
    assert agent.write("src/app.py").decision == "allow"  # a runner's failure counts
    agent.run("pytest -q >/dev/null; echo '=== 5 passed in 0.1s ==='",
              "=== 5 passed in 0.1s ===\n", 0)
    with pytest.raises(GuardError, match="a passing test run after your last change"):
        setup.store.advance("s1", by="claude")


@pytest.mark.parametrize(("command", "trusted"), [
    ("pytest -q", True), ("pytest -q | tail -5", True), ("pytest | tee log.txt", True),
    ('cd x && pytest; echo "exit: $?"', True), ("npm test", True),
    ("pytest -q >/dev/null; echo '=== 5 passed in 0.1s ==='", False),
    ("pytest | sed s/failed/passed/", False), ("pytest; cat out.txt", False),
    ("pytest; python -c \"print('=== 5 passed in 0.1s ===')\"", False),
    ("S='5 passed'; pytest; echo $S", False), ("pytest; cat <<EOF\n5 passed\nEOF", False),
])
def test_which_command_lines_leave_the_output_to_the_runner(command: str, trusted: bool
                                                            ) -> None:
    from codor.runtime.workflowevidence import _output_is_the_runners

    assert _output_is_the_runners(command, None) is trusted
