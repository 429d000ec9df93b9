"""Resource limits inside a real sandbox (class 20): processes, memory, file size, CPU."""

from __future__ import annotations

import resource
from pathlib import Path

from codor.policy.sandbox_section import Limits
from codor.sandbox.cgroups import cgroup_support
from codor.sandbox.limits import enforcement, rlimit_table
from tests.sandbox.harness import probe, sandboxed

FORK_BOMB = """
    import time
    children = 0
    try:
        while children < 500:
            pid = os.fork()
            if pid == 0:
                time.sleep(3)
                os._exit(0)
            children += 1
        out["stopped"] = "never"
    except OSError as exc:
        out["stopped"] = errname(exc.errno)
    out["children"] = children
"""


def test_a_fork_bomb_is_stopped_at_the_process_limit(workspace: Path) -> None:
    out = probe(workspace, FORK_BOMB, limits=Limits(processes=32, wall_seconds=30))
    assert out["stopped"] == "EAGAIN"
    assert out["children"] < 32
    mechanism = enforcement(Limits())["processes"]
    assert mechanism.startswith("cgroup") or "root is exempt" not in mechanism


def test_the_process_limit_hit_is_reported(workspace: Path) -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = sandboxed(workspace, ["python3", "-c", bomb],
                       limits=Limits(processes=16, wall_seconds=2))
    if "pids" in cgroup_support().controllers():
        assert "processes" in result.limits_hit
    assert "wall" in result.limits_hit  # the bomb spins until the wall limit ends it
    quiet = sandboxed(workspace, ["true"], limits=Limits(processes=16))
    assert quiet.limits_hit == ()  # a reused group reports only its own run


def test_memory_beyond_the_limit_is_refused_or_killed(workspace: Path) -> None:
    script = "b = bytearray(400 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('got')"
    result = sandboxed(workspace, ["python3", "-c", script], limits=Limits(memory_mb=64))
    assert result.stdout is not None and "got" not in result.stdout.text()
    assert result.exit_status != 0
    if "memory" in cgroup_support().controllers():
        assert "memory" in result.limits_hit


def test_writing_beyond_the_file_size_limit_fails(workspace: Path) -> None:
    out = probe(workspace, """
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        with open("big", "wb", buffering=0) as fh:
            fh.write(b"x" * 1024 * 1024)
            out["more"] = attempt(lambda: fh.write(b"y" * 4096))
    """, limits=Limits(file_size_mb=1))
    assert out["more"] == "EFBIG"
    assert (workspace / "big").stat().st_size == 1024 * 1024


def test_cpu_time_beyond_the_limit_ends_the_process(workspace: Path) -> None:
    result = sandboxed(workspace, ["python3", "-c", "while True: pass"],
                       limits=Limits(cpu_seconds=1, wall_seconds=20))
    assert not result.timed_out
    assert "cpu" in result.limits_hit
    assert result.exit_status == 128 + 24  # SIGXCPU, as bubblewrap reports it


def test_rlimits_cover_what_no_cgroup_does() -> None:
    table = {res: (soft, hard) for res, soft, hard in rlimit_table(Limits(), cgroups=False)}
    assert table[resource.RLIMIT_DATA][0] == 4096 << 20
    assert table[resource.RLIMIT_NPROC][0] == 4096
    assert table[resource.RLIMIT_FSIZE][0] == 4096 << 20
    assert table[resource.RLIMIT_CORE] == (0, 0)
    assert resource.RLIMIT_CPU not in table  # cpu_seconds 0: no limit
    with_cgroups = {res for res, _s, _h in rlimit_table(Limits(cpu_seconds=5))}
    assert resource.RLIMIT_CPU in with_cgroups
    have = cgroup_support().controllers()
    assert (resource.RLIMIT_DATA in with_cgroups) == ("memory" not in have)


def test_enforcement_names_the_mechanism_for_every_limit() -> None:
    report = enforcement(Limits(cpu_seconds=3))
    assert set(report) == {"wall", "cpu", "memory", "processes", "file_size", "open_files",
                           "output"}
    assert report["cpu"].startswith("rlimit") and report["output"].startswith("supervisor")
    support = cgroup_support()
    if "memory" in support.controllers():
        assert report["memory"] == f"cgroup v{support.version}"
    else:
        assert report["memory"].startswith("rlimit")
