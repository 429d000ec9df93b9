"""Supervising a sandbox: the wall limit kills everything, output is bounded and hashed."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import pytest

from codor.policy.sandbox_section import Limits
from codor.sandbox.bwrap import BubblewrapBackend
from codor.sandbox.landlock import LandlockBackend
from tests.sandbox.harness import processes_with, sandboxed, sh, spec_for

BACKENDS = [BubblewrapBackend(), LandlockBackend()]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_the_wall_limit_kills_the_whole_sandbox(workspace: Path, backend: object) -> None:
    """Class 20: background jobs, a new session and a double fork all die with it."""
    marker = f"codor-wall-{uuid.uuid4().hex}"
    # the marker is each shell's $0, so it shows in the host's /proc/<pid>/cmdline
    script = (f"sh -c 'sleep 300' {marker}-a & setsid sh -c 'sleep 301' {marker}-b & "
              f"(sh -c 'sleep 302' {marker}-c &); echo started; sh -c 'sleep 303' {marker}-d")
    start = time.monotonic()
    result = sh(workspace, script, limits=Limits(wall_seconds=1.0), backend=backend)
    assert time.monotonic() - start < 10
    assert result.timed_out and "wall" in result.limits_hit
    assert result.stdout is not None and result.stdout.text() == "started\n"
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == []


def test_output_is_bounded_counted_and_hashed(workspace: Path) -> None:
    script = "import sys; sys.stdout.write('y\\n' * 100000); sys.stderr.write('e' * 10)"
    result = sandboxed(workspace, ["python3", "-I", "-c", script],
                       limits=Limits(output_kb=1))
    assert result.stdout is not None and result.stderr is not None
    assert len(result.stdout.data) == 1024 and result.stdout.total == 200000
    assert result.stdout.truncated and result.stdout.data == b"y\n" * 512
    assert result.stdout.sha256 == hashlib.sha256(b"y\n" * 100000).hexdigest()
    assert result.stderr.data == b"e" * 10 and not result.stderr.truncated
    assert "output" in result.limits_hit


def test_a_failing_on_started_hook_kills_the_held_sandbox(workspace: Path) -> None:
    spec = spec_for(workspace, ["/bin/sh", "-c", "touch ran"])

    def refuse(pid: int) -> None:
        raise RuntimeError(f"network not ready for {pid}")

    with pytest.raises(RuntimeError, match="network not ready"):
        BubblewrapBackend().run(spec, on_started=refuse)
    time.sleep(0.1)
    assert not (workspace / "ran").exists()


def test_exit_status_and_timings_are_reported(workspace: Path) -> None:
    result = sh(workspace, "exit 7")
    assert result.exit_status == 7 and not result.ok and not result.timed_out
    assert result.backend == "bubblewrap" and result.argv[0] == "/bin/sh"
    assert 0 < result.duration < 10 and result.started_at <= result.ended_at
    assert dict(result.enforcement)["wall"].startswith("supervisor")
    assert result.to_json()["exit_status"] == 7
