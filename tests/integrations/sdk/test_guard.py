"""Guard: in-process decisions recorded in a real workspace ledger, fail-closed edges, outcomes,
threads, and the real ``codor`` executable reading what the SDK wrote."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from codor.errors import InputError
from codor.evidence.records import action_digest, now_us
from codor.integrations.context import open_kernel
from codor.integrations.sdk import ActionDenied, ApprovalRequired, Guard
from codor.kernel import Kernel, evidence_form
from codor.model import Action, Decision
from tests.cli.test_cli import run
from tests.integrations.sdk.conftest import Space


def test_each_convenience_check_is_decided_under_the_workspace_policy(space: Space) -> None:
    with Guard(agent="coder-1") as guard:
        assert guard.check_file_read("notes.txt").decision == "allow"
        assert guard.check_file_write(".env", "KEY=1").decision == "deny"
        assert guard.check_file_write("out.bin", b"\x00\x01").decision == "allow"
        assert guard.check_command(["ls", "-l"]).decision == "allow"
        assert guard.check_command("rm -rf /").decision == "deny"
        assert guard.check_url("https://example.org/a").decision == "allow"
        assert guard.check_url("https://evil.test/a", method="POST").decision == "deny"
        assert guard.check_tool("search", {"q": "x"}).decision == "allow"
        assert guard.check_tool("shell_exec", {"command": "id"}).decision == "deny"
        assert guard.check_tool("git_push", {}, server="git").decision == "ask"
        session = guard.session
    decisions = space.decisions(session)
    assert [d.decision.decision for d in decisions] == [
        "allow", "deny", "allow", "allow", "deny", "allow", "deny", "allow", "deny", "ask"]
    first = decisions[0]
    assert first.action.agent is not None and first.action.agent.id == "coder-1"
    assert first.action.origin == "codor-sdk"
    assert first.action.cwd == str(space.root)
    assert first.observer == "codor-engine"
    binary = decisions[2].action
    assert binary.content is None and binary.content_sha256 is not None
    assert decisions[9].action.server == "git"


def test_an_action_object_keeps_its_own_session_and_gets_the_missing_fields(space: Space) -> None:
    with Guard(session="s-guard") as guard:
        mine = guard.decide(Action.create("file.read", path="a.txt", session="s-mine"))
        filled = guard.decide(Action.create("file.read", path="b.txt"))
    assert mine.action is not None and mine.action.session == "s-mine"
    assert filled.action is not None and filled.action.session == "s-guard"
    assert [d.action.path for d in space.decisions("s-mine")] == ["a.txt"]
    assert [d.action.path for d in space.decisions("s-guard")] == ["b.txt"]


def test_require_raises_typed_errors_with_the_decision(space: Space) -> None:
    with Guard() as guard:
        allowed = guard.require("file.read", path="a.txt")
        assert allowed.allowed and allowed.index is not None
        with pytest.raises(ActionDenied) as denied:
            guard.require("tool.call", tool="shell_exec", arguments={})
        with pytest.raises(ApprovalRequired) as asked:
            guard.require("tool.call", tool="git_push")
    error = denied.value
    assert error.code == "E_DENIED" and not isinstance(error, ApprovalRequired)
    assert error.decision.decision == "deny"
    assert "tools.deny" in [r.rule for r in error.decision.reasons]
    assert "shell_exec" in error.message and "matches deny pattern" in error.message
    assert error.index is not None and error.action is not None
    assert asked.value.code == "E_APPROVAL_REQUIRED" and isinstance(asked.value, ActionDenied)
    assert asked.value.decision.decision == "ask"


def test_a_malformed_action_is_a_recorded_deny_not_an_exception(space: Space) -> None:
    with Guard() as guard:
        missing = guard.decide("file.read")
        unknown = guard.decide("file.teleport", path="x")
        wrong_type = guard.check(42)  # type: ignore[arg-type]
        session = guard.session
    assert missing.decision.decision == "deny" and missing.action is None
    assert missing.decision.reasons[0].rule == "input.E_ACTION"
    assert unknown.decision.reasons[0].rule == "input.E_ACTION_KIND"
    assert wrong_type.decision == "deny"
    events = space.events(session)
    assert [e.event for e in events] == ["sdk.action_invalid"] * 3
    assert events[0].data["rule"] == "input.E_ACTION" and "needs 'path'" in events[0].data["error"]


def test_execute_records_the_outcome_bound_to_its_decision(space: Space) -> None:
    with Guard() as guard:
        checked = guard.require("tool.call", tool="summarise", arguments={"n": 2})
        assert guard.execute(checked, lambda: {"words": 2}) == {"words": 2}
        session = guard.session
    [outcome] = space.outcomes(session)
    assert checked.action is not None
    assert outcome.action_index == checked.index
    assert outcome.action_sha256 == action_digest(evidence_form(checked.action))
    assert outcome.observer == "codor-runtime" and outcome.exit_status == 0
    assert outcome.stdout.excerpt == '{"words": 2}'
    assert outcome.ended_mono_us >= outcome.started_mono_us


def test_an_exception_is_recorded_as_a_failure_and_re_raised(space: Space) -> None:
    def fail() -> None:
        raise OSError("disk on fire")

    with Guard() as guard:
        checked = guard.require("tool.call", tool="burn")
        with pytest.raises(OSError, match="disk on fire"):
            guard.execute(checked, fail)
        assert guard.stats()["failed"] == 1
        session = guard.session
    [outcome] = space.outcomes(session)
    assert outcome.exit_status == 1
    assert outcome.stderr.excerpt == "OSError: disk on fire"


def test_a_refused_action_never_executes(space: Space) -> None:
    ran: list[str] = []
    with Guard() as guard:
        refused = guard.decide("tool.call", tool="danger_zone")
        with pytest.raises(ActionDenied):
            guard.execute(refused, lambda: ran.append("ran"))
        session = guard.session
    assert ran == []
    assert space.outcomes(session) == []


def test_a_caller_reported_outcome_is_a_claim_unless_said_otherwise(space: Space) -> None:
    with Guard() as guard:
        checked = guard.require("command.exec", argv=["ls"])
        started = now_us()
        index = guard.record_outcome(checked, started=started, ended=now_us(), exit_status=0,
                                     stdout="a.txt\n")
        with pytest.raises(Exception, match="was not allowed"):
            guard.record_outcome(guard.decide("command.exec", argv=["rm", "x"]),
                                 started=started, ended=now_us())
        session = guard.session
    [outcome] = space.outcomes(session)
    assert index is not None
    assert outcome.observer == "agent-claim" and not outcome.observed
    assert outcome.stdout.excerpt == "a.txt\n"


def test_record_event_goes_into_the_session(space: Space) -> None:
    with Guard() as guard:
        guard.record_event("sdk.note", {"path": Path("x.txt"), "n": 1})
        session = guard.session
    [event] = space.events(session)
    assert event.event == "sdk.note" and dict(event.data) == {"path": "x.txt", "n": 1}


def test_a_closed_guard_denies_everything(space: Space) -> None:
    guard = Guard()
    guard.close()
    guard.close()  # idempotent
    decision = guard.check_file_read("a.txt")
    assert decision.decision == "deny" and decision.reasons[0].rule == "sdk.closed"


def test_a_guard_over_a_kernel_leaves_it_open(space: Space) -> None:
    kernel = open_kernel(space.root)
    try:
        with Guard.from_kernel(kernel, session="s-k") as guard:
            assert guard.check_file_read("a.txt").allowed
        assert kernel.decide(Action.create("file.read", path="a.txt", session="s-k")).allowed
    finally:
        kernel.close()
    assert len(space.decisions("s-k")) == 2


def test_record_false_decides_without_recording(space: Space) -> None:
    before = len(space.records())
    with Guard(record=False) as guard:
        assert not guard.recording
        checked = guard.require("file.read", path="a.txt")
        assert checked.index is None
        assert guard.check_file_write(".env", "x").decision == "deny"
        assert guard.execute(checked, lambda: "ok") == "ok"
    assert len(space.records()) == before


def test_a_ledger_that_cannot_record_turns_allows_into_denies(space: Space) -> None:
    with Guard() as guard:
        ledger = guard.kernel.ledger
        assert ledger is not None
        ledger.store.close()  # the store is gone: nothing can be recorded
        decision = guard.check_file_read("a.txt")
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "ledger.unavailable"


class _BrokenKernel(Kernel):
    def decide_and_index(self, action: Action) -> tuple[Decision, int | None]:
        raise RuntimeError("kernel bug")


def test_a_kernel_failure_is_a_deny(space: Space) -> None:
    healthy = open_kernel(space.root)
    try:
        broken = _BrokenKernel(healthy.engine, healthy.ledger)
        guard = Guard.from_kernel(broken)
        decision = guard.check_tool("search", {})
        with pytest.raises(ActionDenied, match="kernel bug"):
            guard.require("tool.call", tool="search")
    finally:
        healthy.close()
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "sdk.internal"
    assert decision.reasons[0].severity == "critical"


def test_concurrent_checks_are_all_decided_and_recorded(space: Space) -> None:
    threads, per_thread = 8, 25
    with Guard(session="s-threads") as guard:

        def work(n: int) -> None:
            for i in range(per_thread):
                checked = guard.decide("tool.call", tool="search" if i % 5 else "shell_exec",
                                       arguments={"thread": n, "i": i})
                if checked.allowed:
                    guard.execute(checked, lambda value=i: value)

        pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        stats = guard.stats()
    total = threads * per_thread
    assert stats["allowed"] + stats["denied"] == total
    assert stats["denied"] == threads * (per_thread // 5)
    assert stats["ok"] == stats["allowed"]
    assert len(space.decisions("s-threads")) == total
    assert len(space.outcomes("s-threads")) == stats["allowed"]
    assert space.verify()


def test_with_makes_the_guard_current(space: Space) -> None:
    with Guard() as guard:
        assert Guard.current() is guard
        with Guard() as inner:
            assert Guard.current() is inner
        assert Guard.current() is guard
    default = Guard.current()
    assert default is not guard and not default.closed
    assert Guard.current() is default


def test_tracking_counts_what_this_guard_decides_in_this_context(space: Space) -> None:
    with Guard() as guard, Guard() as other:
        guard.check_file_read("before.txt")
        with guard.tracking() as log:
            guard.check_file_read("a.txt")
            guard.check_tool("shell_exec", {})
            other.check_file_read("other.txt")  # another guard: not this log's
            checked = guard.require("tool.call", tool="search")
            guard.execute(checked, lambda: None)
        counts = log.counts()
        entries = log.entries()
    assert counts["allowed"] == 2 and counts["denied"] == 1 and counts["ok"] == 1
    assert [e.status for e in entries] == [None, "denied", "ok"]
    assert entries[2].outcome_index is not None


def test_the_codor_executable_reads_what_the_sdk_recorded(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODOR_HOME", raising=False)
    root = tmp_path / "project"
    root.mkdir()
    init = run("init", "--workspace", str(root))
    assert init.returncode == 0, init.stderr
    with Guard(workspace=root, session="s-cli", agent="cli-agent") as guard:
        guard.check_file_write(root / ".env", "SECRET=1")
        checked = guard.require("tool.call", tool="lookup", arguments={"q": "codor"})
        guard.execute(checked, lambda: "found")
    tail = run("ledger", "tail", "-n", "3", "--workspace", str(root))
    assert tail.returncode == 0, tail.stderr
    records = [json.loads(line)["record"] for line in tail.stdout.splitlines()]
    assert [r["type"] for r in records] == ["decision", "decision", "outcome"]
    assert records[0]["decision"]["decision"] == "deny"
    assert records[0]["action"]["kind"] == "file.write"
    assert "content" not in records[0]["action"]  # evidence keeps only the digest
    assert records[1]["action"]["tool"] == "lookup" and records[1]["session"] == "s-cli"
    assert records[2]["observer"] == "codor-runtime"
    assert records[2]["stdout"]["excerpt"] == "found"
    verify = run("ledger", "verify", "--workspace", str(root))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_result_or_exception_that_cannot_be_shown_never_breaks_the_call(space: Space) -> None:
    class Opaque:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    class Mute(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    def mute() -> None:
        raise Mute

    with Guard(session="s-opaque") as guard:
        value = Opaque()
        assert guard.execute(guard.require("tool.call", tool="make"), lambda: value) is value
        with pytest.raises(Mute):
            guard.execute(guard.require("tool.call", tool="mute"), mute)
    first, second = space.outcomes("s-opaque")
    assert first.exit_status == 0
    assert first.stdout.excerpt == '"<Opaque without a repr>"'
    assert second.exit_status == 1
    assert second.stderr.excerpt == "[the Mute exception could not be shown: RuntimeError]"


def test_a_vanished_working_directory_is_a_deny(space: Space, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    with Guard() as guard:
        monkeypatch.chdir(gone)
        gone.rmdir()
        decision = guard.check_file_read("a.txt")
        monkeypatch.chdir(space.root)
    assert decision.decision == "deny" and decision.reasons[0].rule == "sdk.internal"
    assert "FileNotFoundError" in decision.reasons[0].message


def test_a_mistyped_path_or_argv_is_a_deny_not_a_type_error(space: Space) -> None:
    with Guard() as guard:
        argv = guard.check_command(["ls", 1])  # type: ignore[list-item]
        path = guard.check_file_read(5)  # type: ignore[arg-type]
        write = guard.check_file_write(None, "x")  # type: ignore[arg-type]
        session = guard.session
    assert [d.decision for d in (argv, path, write)] == ["deny"] * 3
    assert {d.reasons[0].rule for d in (argv, path, write)} == {"input.E_ACTION"}
    assert [e.event for e in space.events(session)] == ["sdk.action_invalid"] * 3


def test_a_malformed_event_or_outcome_is_an_input_error(space: Space) -> None:
    with Guard() as guard:
        with pytest.raises(InputError, match="dotted lowercase name"):
            guard.record_event("Not An Event", {})
        checked = guard.require("tool.call", tool="search")
        with pytest.raises(InputError, match="hex"):
            guard.record_outcome(checked, started=now_us(), ended=now_us(),
                                 products={"out.txt": "not-a-digest"})


def test_a_mistyped_agent_or_session_is_refused_when_the_guard_opens(space: Space) -> None:
    with pytest.raises(InputError, match="agent a string or an Agent"):
        Guard(agent=123)  # type: ignore[arg-type]
    kernel = open_kernel(space.root)
    try:
        with pytest.raises(InputError, match="session must be a string"):
            Guard.from_kernel(kernel, session=7)  # type: ignore[arg-type]
    finally:
        kernel.close()
