"""The adaptive executor's restart policy, health checks (tcp, http, command), spec
validation, and processes run inside bubblewrap — all with real processes."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.policy.sandbox_section import SandboxSettings
from codor.runtime.supervisor import (
    AdaptiveExecutor,
    HealthCheck,
    Limits,
    ProcessSpec,
    RestartPolicy,
    SupervisorError,
)
from codor.sandbox.spec import SandboxSpec, build_spec
from tests.runtime.supervisor_helpers import (
    HOG,
    TCP_SERVER,
    Recorder,
    eventually,
    free_port,
    gone,
    read_ints,
    reaped,
    script,
    tree,
)

pytestmark = pytest.mark.timeout(30)
MIB = 1 << 20
FAST = {"backoff_base": 0.05, "backoff_max": 1.0}


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(events: Recorder) -> Iterator[AdaptiveExecutor]:
    with AdaptiveExecutor(on_event=events, sample_interval=0.05) as ex:
        yield ex


# -- restart policy ------------------------------------------------------------------------
def test_on_failure_restarts_a_crashing_process_with_backoff_then_fails(
        executor: AdaptiveExecutor, events: Recorder) -> None:
    hid = executor.start(ProcessSpec("crash", ["sh", "-c", "exit 3"], restart=RestartPolicy(
        "on-failure", max_restarts=2, **FAST)))
    status = executor.wait(hid, timeout=10)
    assert (status.state, status.exit_code, status.restarts) == ("failed", 3, 2)
    assert status.reason == "exit code 3"
    restarting = events.of("process.restarting", hid)
    assert [(e["attempt"], e["delay"]) for e in restarting] == [(1, 0.05), (2, 0.1)]
    started = events.of("process.started", hid)
    assert len(started) == 3 and all(reaped(e["pid"]) for e in started)
    assert [e["final"] for e in events.of("process.exited", hid)] == [False, False, True]
    assert executor.finished() == [(hid, status)]


def test_never_does_not_restart(executor: AdaptiveExecutor, events: Recorder) -> None:
    hid = executor.start(ProcessSpec("crash", ["sh", "-c", "exit 1"]))
    status = executor.wait(hid, timeout=5)
    assert (status.state, status.restarts) == ("failed", 0)
    assert not events.of("process.restarting", hid)


def test_always_restarts_after_a_clean_exit_until_max_restarts(
        executor: AdaptiveExecutor, events: Recorder) -> None:
    hid = executor.start(ProcessSpec("job", ["true"], restart=RestartPolicy(
        "always", max_restarts=2, **FAST)))
    status = executor.wait(hid, timeout=10)
    assert (status.state, status.exit_code, status.restarts) == ("exited", 0, 2)
    assert len(events.of("process.started", hid)) == 3


def test_on_failure_does_not_restart_a_clean_exit(executor: AdaptiveExecutor) -> None:
    hid = executor.start(ProcessSpec("job", ["true"], restart=RestartPolicy("on-failure",
                                                                           **FAST)))
    assert executor.wait(hid, timeout=5).restarts == 0


def test_a_kill_for_memory_counts_as_a_failure(executor: AdaptiveExecutor) -> None:
    hid = executor.start(ProcessSpec(
        "hog", script(HOG), limits=Limits(memory_bytes=60 * MIB),
        restart=RestartPolicy("on-failure", max_restarts=1, **FAST)))
    status = executor.wait(hid, timeout=15)
    assert (status.state, status.restarts) == ("killed", 1)
    assert "memory" in (status.reason or "")


def test_a_stop_by_the_caller_never_restarts(executor: AdaptiveExecutor,
                                             events: Recorder) -> None:
    hid = executor.start(ProcessSpec("svc", ["sleep", "30"], restart=RestartPolicy(
        "always", max_restarts=5, **FAST)))
    status = executor.stop(hid, grace=1)
    assert (status.state, status.restarts) == ("exited", 0)
    time.sleep(0.3)
    assert executor.status(hid).restarts == 0
    assert not events.of("process.restarting", hid)


def test_a_stop_while_waiting_to_restart_cancels_the_restart(
        executor: AdaptiveExecutor, events: Recorder) -> None:
    hid = executor.start(ProcessSpec("crash", ["sh", "-c", "exit 2"], restart=RestartPolicy(
        "on-failure", max_restarts=3, backoff_base=5, backoff_max=5)))
    eventually(lambda: executor.status(hid).state == "restarting", 5, "the backoff")
    status = executor.stop(hid)
    assert (status.state, status.exit_code, status.restarts) == ("failed", 2, 0)
    assert "while waiting to restart" in (status.reason or "")
    assert events.kinds(hid)[-1] == "process.restart_cancelled"


# -- health checks -------------------------------------------------------------------------
def test_a_tcp_check_against_a_live_server_is_healthy(executor: AdaptiveExecutor,
                                                      events: Recorder) -> None:
    port = free_port()
    hid = executor.start(ProcessSpec(
        "server", script(TCP_SERVER, str(port), "60"),
        health=HealthCheck("tcp", port=port, interval=0.1, timeout=0.5, start_period=0.1)))
    assert executor.status(hid).state == "starting"
    eventually(lambda: executor.status(hid).healthy, 5, "a healthy server")
    status = executor.status(hid)
    assert status.state == "running"
    assert len(events.of("process.healthy", hid)) == 1


def test_a_server_that_stops_answering_is_unhealthy_and_restarted(
        executor: AdaptiveExecutor, events: Recorder) -> None:
    port = free_port()
    hid = executor.start(ProcessSpec(
        "flaky", script(TCP_SERVER, str(port), "0.6"),
        health=HealthCheck("tcp", port=port, interval=0.1, timeout=0.3, failures=2,
                           start_period=0.2),
        restart=RestartPolicy("on-failure", max_restarts=1, **FAST),
        limits=Limits(grace_seconds=1)))
    status = executor.wait(hid, timeout=15)
    assert (status.state, status.restarts, status.healthy) == ("failed", 1, False)
    assert (status.reason or "").startswith("unhealthy: tcp 127.0.0.1:")
    assert len(events.of("process.healthy", hid)) == 2  # each run answered at first
    assert len(events.of("process.unhealthy", hid)) == 2
    assert events.of("process.unhealthy", hid)[0]["failures"] == 2
    assert len(events.of("process.restarting", hid)) == 1


def test_an_http_check_on_loopback(executor: AdaptiveExecutor, tmp_path: Path) -> None:
    port = free_port()
    hid = executor.start(ProcessSpec(
        "web", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path, health=HealthCheck("http", url=f"http://localhost:{port}/",
                                         interval=0.1, timeout=1, start_period=0.2)))
    eventually(lambda: executor.status(hid).healthy, 8, "a healthy web server")
    assert executor.status(hid).state == "running"


def test_a_command_check(executor: AdaptiveExecutor, events: Recorder,
                         tmp_path: Path) -> None:
    flag = tmp_path / "up"
    hid = executor.start(ProcessSpec(
        "worker", ["sh", "-c", f"sleep 0.3; touch {flag}; sleep 30"], cwd=tmp_path,
        health=HealthCheck("command", command=("test", "-e", "up"), interval=0.1,
                           timeout=1, failures=20, start_period=0)))
    eventually(lambda: executor.status(hid).healthy, 5, "the flag file")
    assert executor.status(hid).state == "running"
    # a failing command makes the process unhealthy; never restarted → final failed
    sick = executor.start(ProcessSpec(
        "sick", ["sleep", "30"],
        health=HealthCheck("command", command=("false",), interval=0.1, failures=2,
                           start_period=0)))
    status = executor.wait(sick, timeout=5)
    assert (status.state, status.healthy) == ("failed", False)
    assert status.reason is not None and status.reason.startswith("unhealthy: false exited 1")
    assert events.of("process.unhealthy", sick)


def test_a_paused_process_is_not_health_checked(executor: AdaptiveExecutor) -> None:
    hid = executor.start(ProcessSpec(
        "paused", ["sleep", "30"],
        health=HealthCheck("command", command=("false",), interval=0.05, failures=1,
                           start_period=0.2)))
    executor.pause(hid)
    time.sleep(0.6)
    status = executor.status(hid)
    assert (status.state, status.healthy) == ("paused", None)


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "location"), [
    ({"kind": "tcp", "port": 80, "host": "10.0.0.1"}, "health.host"),
    ({"kind": "tcp", "port": 80, "host": "127.0.0.2"}, "health.host"),
    ({"kind": "tcp", "port": 80, "host": "example.com"}, "health.host"),
    ({"kind": "http", "url": "http://example.com/health"}, "health.url"),
    ({"kind": "http", "url": "http://169.254.169.254/"}, "health.url"),
    ({"kind": "http", "url": "http://localhost.evil.test/"}, "health.url"),
    ({"kind": "http", "url": "http://user@localhost/"}, "health.url"),
    ({"kind": "http", "url": "https://localhost/"}, "health.url"),
    ({"kind": "http", "url": "http://localhost:99999/"}, "health.url"),
    ({"kind": "tcp", "port": 0}, "health.port"),
    ({"kind": "tcp"}, "health.port"),
    ({"kind": "command", "command": ()}, "health.command"),
    ({"kind": "command", "command": ("true",), "url": "http://localhost/"}, "health.url"),
    ({"kind": "ping"}, "health.kind"),
    ({"kind": "tcp", "port": 80, "interval": 0}, "health.interval"),
    ({"kind": "tcp", "port": 80, "failures": 0}, "health.failures"),
])
def test_health_checks_only_reach_loopback_and_are_validated(fields: dict[str, Any],
                                                             location: str) -> None:
    with pytest.raises(SupervisorError) as error:
        HealthCheck(**fields)
    assert error.value.code == "E_SUPERVISOR"
    assert error.value.location == location


def test_loopback_health_checks_are_accepted() -> None:
    HealthCheck("tcp", port=8080, host="localhost")
    HealthCheck("tcp", port=8080, host="::1")
    HealthCheck("http", url="http://127.0.0.1:8080/healthz?full=1")
    HealthCheck("http", url="http://[::1]:8080/")
    assert HealthCheck("command", command=["true"]).command == ("true",)


@pytest.mark.parametrize(("make", "location"), [
    (lambda: Limits(cpu_percent=-5), "limits.cpu_percent"),
    (lambda: Limits(cpu_action="nap"), "limits.cpu_action"),
    (lambda: Limits(memory_bytes=0), "limits.memory_bytes"),
    (lambda: Limits(grace_seconds=float("nan")), "limits.grace_seconds"),
    (lambda: RestartPolicy("sometimes"), "restart.mode"),
    (lambda: RestartPolicy(max_restarts=-1), "restart.max_restarts"),
    (lambda: RestartPolicy(backoff_base=5, backoff_max=1), "restart.backoff_max"),
    (lambda: ProcessSpec("x", []), "argv"),
    (lambda: ProcessSpec("x", "sleep 1"), "argv"),
    (lambda: ProcessSpec("", ["true"]), "name"),
    (lambda: ProcessSpec("x", ["true"], env={"A": 1}), "env"),
])
def test_bad_specs_are_refused_with_a_location(make: Callable[[], object],
                                               location: str) -> None:
    with pytest.raises(SupervisorError) as error:
        make()
    assert error.value.location == location
    assert error.value.code == "E_SUPERVISOR"


def test_restart_backoff_is_exponential_and_capped() -> None:
    policy = RestartPolicy("on-failure", backoff_base=0.5, backoff_max=3)
    assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# -- inside bubblewrap ---------------------------------------------------------------------
def _sandbox(workspace: Path) -> SandboxSpec:
    settings = dataclasses.replace(SandboxSettings(), network="none")
    return build_spec(settings, ["true"], workspace=workspace)


def test_a_sandboxed_process_over_its_memory_limit_is_killed_with_the_sandbox(
        executor: AdaptiveExecutor, events: Recorder, tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    code = f"import os; open({str(inside)!r}, 'w').write(f'{{os.getpid()}}\\n')\n" + HOG
    hid = executor.start(ProcessSpec(
        "boxed-hog", script(code), sandbox=_sandbox(tmp_path),
        limits=Limits(memory_bytes=60 * MIB)))
    bwrap = executor.status(hid).pid
    assert bwrap is not None
    [pid_inside] = read_ints(inside, 1)
    assert pid_inside < 10  # its own pid namespace: bwrap's init is 1
    members = [p.pid for p in tree(bwrap)]
    status = executor.wait(hid, timeout=10)
    assert status.state == "killed", status
    assert "memory" in (status.reason or "")
    assert events.of("process.started", hid)[0]["sandboxed"] is True
    eventually(lambda: all(gone(pid) for pid in members), 2, "the whole sandbox gone")


def test_a_sandboxed_process_is_paused_and_stopped_gracefully(
        executor: AdaptiveExecutor, tmp_path: Path) -> None:
    said, ready = tmp_path / "said", tmp_path / "ready"
    code = f"""
        import signal, sys, time
        def bye(*_):
            open({str(said)!r}, "w").write("bye")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        open({str(ready)!r}, "w").write("1\\n")
        time.sleep(60)
    """
    hid = executor.start(ProcessSpec("boxed", script(code),
                                     sandbox=_sandbox(tmp_path)))
    read_ints(ready, 1)
    bwrap = executor.status(hid).pid
    assert bwrap is not None
    [command] = [p for p in tree(bwrap) if p.name().startswith("python")]
    executor.pause(hid)
    eventually(lambda: command.status() == "stopped", 2, "the command stopped")
    executor.resume(hid)
    eventually(lambda: command.status() == "sleeping", 2, "the command running")
    status = executor.stop(hid, grace=5)
    assert (status.state, status.exit_code) == ("exited", 0)
    assert said.read_text() == "bye"  # SIGTERM reached the command inside, not just bwrap


def test_a_sandbox_spec_must_not_need_the_egress_proxy(tmp_path: Path) -> None:
    with_proxy = build_spec(SandboxSettings(), ["true"], workspace=tmp_path)
    with pytest.raises(SupervisorError) as error:
        ProcessSpec("boxed", ["true"], sandbox=with_proxy)
    assert error.value.location == "sandbox.network"
    with pytest.raises(SupervisorError) as env_error:
        ProcessSpec("boxed", ["true"], sandbox=_sandbox(tmp_path),
                    env={"A": "b"})
    assert env_error.value.location == "env"
