"""cgroup detection and the group pool, on this machine's real hierarchy."""

from __future__ import annotations

import os
import subprocess

from codor.sandbox.cgroups import cgroup_support, pool


def _mountinfo_types() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return {line.split(" - ")[1].split()[0] for line in fh if " - " in line}


def test_detection_reports_a_mechanism_and_why() -> None:
    support = cgroup_support()
    assert support.reason
    if support.version == 0:
        assert "rlimits only" in support.reason
    else:
        assert support.reason.startswith(f"cgroup v{support.version}")
        assert support.controllers() <= {"memory", "pids"} and support.controllers()
        for _controller, path in support.dirs:
            assert os.access(path, os.W_OK)
    if support.version == 1 and "cgroup2" in _mountinfo_types():
        assert "not v2:" in support.reason  # a hybrid layout says why v2 was not used


def test_pooled_groups_are_reused_and_start_processes_inside() -> None:
    p = pool()
    if p is None:
        assert cgroup_support().version == 0  # nothing to pool: rlimits only
        return
    group = p.acquire(64 << 20, 20)
    assert group is not None
    proc, inside = group.spawn(lambda: subprocess.Popen(["sleep", "30"]))
    try:
        assert inside == (group.spawner is not None)  # cgroup v1: born inside, no migration
        if not inside:
            group.attach(proc.pid)
        assert proc.pid in group.procs()
        assert os.getpid() not in group.procs()  # the spawner thread's process is not listed
        with open(f"/proc/{proc.pid}/cgroup", encoding="ascii") as fh:
            membership = fh.read()
        assert os.path.basename(group.paths()[0]) in membership
    finally:
        group.kill()  # what release() does first
        proc.wait()
        p.release(group)
    assert proc.returncode == -9
    again = p.acquire(64 << 20, 20)
    assert again is group and again.hits() == []
    p.release(again)
