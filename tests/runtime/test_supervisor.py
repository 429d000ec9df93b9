"""The adaptive executor with real processes: memory and CPU limits on whole trees,
throttling, graceful and forced shutdown, pause/resume, start errors, events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from codor.runtime.supervisor import (
    AdaptiveExecutor,
    Limits,
    ProcessNotFoundError,
    ProcessSpec,
    ProcessStartError,
    SupervisorError,
)
from tests.runtime.supervisor_helpers import (
    HOG,
    Recorder,
    cpu_seconds,
    eventually,
    gone,
    read_ints,
    reaped,
    script,
    tree,
)

pytestmark = pytest.mark.timeout(30)
MIB = 1 << 20
BUSY = "while True: pass"


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(events: Recorder) -> Iterator[AdaptiveExecutor]:
    with AdaptiveExecutor(on_event=events, sample_interval=0.05) as ex:
        yield ex


def test_a_process_over_its_memory_limit_is_killed(executor: AdaptiveExecutor,
                                                   events: Recorder) -> None:
    t0 = time.monotonic()
    hid = executor.start(ProcessSpec("hog", script(HOG), limits=Limits(memory_bytes=60 * MIB)))
    status = executor.wait(hid, timeout=10)
    assert status.state == "killed", status
    assert status.exit_code == -9
    assert status.reason is not None and status.reason.startswith("memory ")
    assert "over limit 60 MiB" in status.reason
    assert time.monotonic() - t0 < 5
    [exceeded] = events.of("process.limit_exceeded", hid)
    assert exceeded["limit"] == "memory" and exceeded["threshold"] == 60 * MIB
    assert exceeded["value"] > 60 * MIB
    assert events.kinds(hid)[-1] == "process.killed"
    assert gone(status.pid or 0) and reaped(status.pid or 0)


def test_a_grandchilds_memory_counts_and_the_whole_group_is_killed(
        executor: AdaptiveExecutor, events: Recorder, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    parent = script(f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", {HOG!r}])
        with open({str(pids)!r}, "w") as fh:
            fh.write(f"{{os.getpid()}}\\n{{child.pid}}\\n")
        child.wait()
        time.sleep(60)
    """)
    # the leader stays small: only the tree's sum sees the grandchild's memory
    hid = executor.start(ProcessSpec("family", parent, limits=Limits(memory_bytes=70 * MIB)))
    leader, grandchild = read_ints(pids, 2)
    status = executor.wait(hid, timeout=10)
    assert status.state == "killed", status
    assert "memory" in (status.reason or "")
    eventually(lambda: gone(grandchild) and gone(leader), 2, "the tree to be gone")
    assert events.of("process.limit_exceeded", hid)


def test_a_busy_loop_is_throttled_to_about_its_cpu_limit(executor: AdaptiveExecutor,
                                                         events: Recorder) -> None:
    hid = executor.start(ProcessSpec(
        "busy", script(BUSY), limits=Limits(cpu_percent=30, sustain_seconds=0.2)))
    eventually(lambda: executor.status(hid).state == "throttled", 5, "throttling")
    pid = executor.status(hid).pid
    assert pid is not None
    time.sleep(0.3)  # let the duty cycle settle
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    time.sleep(1.5)
    share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
    assert share < 0.6, f"used {share:.0%} of a core under a 30% limit"
    status = executor.status(hid)
    assert status.state == "throttled"
    assert status.throttled_seconds > 0.5
    [throttled] = events.of("process.throttled", hid)
    assert throttled["limit"] == 30 and throttled["cpu_percent"] > 30
    assert 0 < throttled["duty"] < 1
    final = executor.stop(hid, grace=2)  # a held (SIGSTOPped) tree still acts on SIGTERM
    assert final.state == "exited" and final.exit_code == -15


def test_throttling_ends_once_the_process_calms_down(executor: AdaptiveExecutor,
                                                     events: Recorder) -> None:
    code = """
        import time
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pass
        time.sleep(60)
    """
    hid = executor.start(ProcessSpec(
        "burst", script(code), limits=Limits(cpu_percent=40, sustain_seconds=0.2)))
    eventually(lambda: events.of("process.throttled", hid), 5, "throttling")
    eventually(lambda: events.of("process.unthrottled", hid), 6, "the end of throttling")
    status = executor.status(hid)
    assert status.state == "running"
    assert status.throttled_seconds > 0
    assert events.of("process.unthrottled", hid)[0]["throttled_seconds"] > 0
    assert {p.status() for p in tree(status.pid or 0)} <= {"sleeping", "running"}


def test_cpu_terminate_stops_the_process(executor: AdaptiveExecutor,
                                         events: Recorder) -> None:
    hid = executor.start(ProcessSpec("busy", script(BUSY), limits=Limits(
        cpu_percent=30, cpu_action="terminate", sustain_seconds=0.2, grace_seconds=1)))
    status = executor.wait(hid, timeout=10)
    assert status.state == "failed", status
    assert status.exit_code == -15
    assert (status.reason or "").startswith("cpu ") and "over limit 30%" in (status.reason or "")
    [exceeded] = events.of("process.limit_exceeded", hid)
    assert exceeded["limit"] == "cpu" and exceeded["action"] == "terminate"
    assert not events.of("process.throttled", hid)


def test_wall_time_over_the_limit_stops_the_process(executor: AdaptiveExecutor,
                                                    events: Recorder) -> None:
    hid = executor.start(ProcessSpec("sleepy", ["sleep", "30"],
                                     limits=Limits(wall_seconds=0.3, grace_seconds=1)))
    status = executor.wait(hid, timeout=5)
    assert status.state == "failed"
    assert (status.reason or "").startswith("wall time ")
    assert events.of("process.limit_exceeded", hid)[0]["limit"] == "wall"


def test_stop_lets_a_process_that_traps_sigterm_exit_cleanly(
        executor: AdaptiveExecutor, events: Recorder, tmp_path: Path) -> None:
    ready, said = tmp_path / "ready", tmp_path / "said"
    code = f"""
        import os, signal, sys, time
        def bye(*_):
            open({str(said)!r}, "w").write("bye")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        open({str(ready)!r}, "w").write(f"{{os.getpid()}}\\n")
        time.sleep(60)
    """
    hid = executor.start(ProcessSpec("polite", script(code), limits=Limits(grace_seconds=5)))
    read_ints(ready, 1)
    t0 = time.monotonic()
    status = executor.stop(hid)
    assert time.monotonic() - t0 < 2  # well within its 5 s grace
    assert status.state == "exited" and status.exit_code == 0
    assert status.reason == "stopped by caller (exit code 0)"
    assert said.read_text() == "bye"
    assert events.kinds(hid) == ["process.started", "process.stopping", "process.exited"]


def test_stop_kills_a_process_that_ignores_sigterm_and_its_children(
        executor: AdaptiveExecutor, events: Recorder, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
               "time.sleep(60)"
    code = f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", {stubborn!r}])
        time.sleep(0.2)  # the child has installed its handler
        open({str(pids)!r}, "w").write(f"{{os.getpid()}}\\n{{child.pid}}\\n")
        time.sleep(60)
    """
    hid = executor.start(ProcessSpec("stubborn", script(code)))
    leader, child = read_ints(pids, 2)
    t0 = time.monotonic()
    status = executor.stop(hid, grace=0.5)
    elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed < 3
    assert status.state == "killed" and status.exit_code == -9
    assert gone(leader) and gone(child)
    assert events.kinds(hid)[-1] == "process.killed"


def test_the_rest_of_the_group_is_stopped_when_the_leader_exits(
        executor: AdaptiveExecutor, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    hid = executor.start(ProcessSpec(
        "daemonish", ["sh", "-c", f"sleep 60 & echo $! > {pids}; exit 0"],
        limits=Limits(grace_seconds=2)))
    [orphan] = read_ints(pids, 1)
    status = executor.wait(hid, timeout=5)
    assert status.state == "exited" and status.exit_code == 0
    assert gone(orphan)


def test_pause_and_resume_stop_and_continue_the_whole_tree(executor: AdaptiveExecutor,
                                                           events: Recorder) -> None:
    hid = executor.start(ProcessSpec("pair", ["sh", "-c", "sleep 60 & sleep 60; wait"]))
    pid = executor.status(hid).pid
    assert pid is not None
    # both children exec'd (a stopped vfork child would hold sh in disk-sleep, not stopped)
    eventually(lambda: sorted(p.name() for p in tree(pid)) == ["sh", "sleep", "sleep"], 5,
               "sh and its two sleeps")
    assert executor.pause(hid).state == "paused"
    eventually(lambda: {p.status() for p in tree(pid)} == {"stopped"}, 2, "a stopped tree")
    assert executor.status(hid).state == "paused"
    assert executor.resume(hid).state == "running"
    eventually(lambda: "stopped" not in {p.status() for p in tree(pid)}, 2, "a running tree")
    assert events.kinds(hid) == ["process.started", "process.paused", "process.resumed"]
    executor.stop(hid, grace=1)


def test_an_on_event_that_raises_does_not_stop_the_limits() -> None:
    calls: list[str] = []

    def broken(kind: str, data: object) -> None:
        calls.append(kind)
        raise RuntimeError("ledger down")

    with AdaptiveExecutor(on_event=broken, sample_interval=0.05) as ex:
        hid = ex.start(ProcessSpec("hog", script(HOG), limits=Limits(memory_bytes=60 * MIB)))
        status = ex.wait(hid, timeout=10)
        assert status.state == "killed"
        assert "memory" in (status.reason or "")
        assert status.event_error is not None and "RuntimeError: ledger down" in \
            status.event_error
        # the monitor is still alive and still enforcing: a second hog is killed too
        second = ex.start(ProcessSpec("hog2", script(HOG),
                                      limits=Limits(memory_bytes=60 * MIB)))
        assert ex.wait(second, timeout=10).state == "killed"
    assert calls.count("process.limit_exceeded") == 2


def test_finished_reports_each_end_once(executor: AdaptiveExecutor) -> None:
    ok = executor.start(ProcessSpec("ok", ["true"]))
    bad = executor.start(ProcessSpec("bad", ["sh", "-c", "exit 4"]))
    executor.wait(ok, timeout=5)
    executor.wait(bad, timeout=5)
    done = dict(executor.finished())
    assert done.keys() == {ok, bad}
    assert (done[ok].state, done[ok].exit_code, done[ok].reason) == ("exited", 0, "exit code 0")
    assert (done[bad].state, done[bad].exit_code) == ("failed", 4)
    assert executor.finished() == []
    assert {s.id for s in executor.statuses()} == {ok, bad}
    executor.discard(ok)
    with pytest.raises(ProcessNotFoundError):
        executor.status(ok)


def test_start_errors_are_clear_and_nothing_is_left_supervised(
        executor: AdaptiveExecutor, tmp_path: Path) -> None:
    with pytest.raises(ProcessStartError) as missing:
        executor.start(ProcessSpec("ghost", ["no-such-program-codor", "x"]))
    assert missing.value.code == "E_SUPERVISOR_START"
    assert "executable 'no-such-program-codor' not found on PATH" in missing.value.one_line()
    assert "\n" not in missing.value.one_line()
    with pytest.raises(ProcessStartError, match="working directory"):
        executor.start(ProcessSpec("lost", ["true"], cwd=tmp_path / "nowhere"))
    with pytest.raises(ProcessStartError, match="not an executable file"):
        executor.start(ProcessSpec("path", [str(tmp_path / "nothing.sh")]))
    assert executor.statuses() == []


def test_unknown_handles_and_a_closed_executor(tmp_path: Path) -> None:
    ex = AdaptiveExecutor(sample_interval=0.05)
    with pytest.raises(ProcessNotFoundError) as unknown:
        ex.status("nope.1")
    assert unknown.value.code == "E_NOT_FOUND"
    first = ex.start(ProcessSpec("a", ["sleep", "30"]))
    second = ex.start(ProcessSpec("b", ["sleep", "30"]))
    pids = [ex.status(h).pid or 0 for h in (first, second)]
    ex.close()
    assert all(gone(pid) and reaped(pid) for pid in pids)
    assert {ex.status(h).state for h in (first, second)} == {"exited"}
    ex.close()  # idempotent
    with pytest.raises(SupervisorError, match="closed"):
        ex.start(ProcessSpec("c", ["true"]))


def test_status_reports_measurements(executor: AdaptiveExecutor) -> None:
    hid = executor.start(ProcessSpec("sleeper", ["sleep", "30"]))
    eventually(lambda: executor.status(hid).rss_bytes, 5, "a first sample")
    status = executor.status(hid)
    assert status.state == "running" and status.pid is not None
    assert status.rss_bytes is not None and status.rss_bytes > 0
    assert status.cpu_percent is not None and status.cpu_percent < 50
    assert status.healthy is None and status.restarts == 0
    assert psutil.Process(status.pid).status() == "sleeping"
    assert status.to_json()["state"] == "running"
