#!/usr/bin/env python3
"""Sandbox overhead: a sandboxed ``true`` against a bare ``true``.

1. bare: ``subprocess.run(["true"])`` with stdout/stderr captured (what any runner pays).
2. sandboxed: ``BubblewrapBackend.run(spec)`` for ``true`` in a fresh git repository with the
   default settings of a policy — every namespace, seccomp, the read-only host, all built-in
   protected paths (the missing ones masked and their mount points removed afterwards), the
   cgroup or rlimit limits, bounded output capture. The spec is built once, as a caller
   running many commands would. Goal: median added <= 8 ms over bare.
3. floor: bubblewrap's own cost, ``bwrap --ro-bind / / true``, and the same with the
   namespaces CODOR asks for (no mounts, no seccomp, no supervisor).
4. landlock: the Landlock-only backend for comparison (a Python helper execs the command).
5. with the network forwarder, as ``codor run`` and the tool router run a command when the
   policy's sandbox network is ``proxy``: ``SandboxExecutor.run(["true"])`` with the same
   settings (the egress proxy running, the spec built per command, the forwarder ready in
   the sandbox's network namespace before ``true`` runs, ended after it). The executor keeps
   a spare forwarder process, started after each command (a Python start, ~20 ms, off the
   command's path), so this is a command in a session: after it the benchmark pauses
   ``SETTLE_S`` (untimed), as an agent does between commands, so that the next spare's start
   does not land on the next case. ``sandboxed_true_forwarder_cold`` starts a new forwarder
   process for each command instead (no spare), and reports how long that start takes.

All cases are run round-robin (``--runs`` each) so a change in machine load hits all of them.
Results go to ``benchmarks/results/sandbox.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "sandbox.json"
GOAL_MS = 8.0
SETTLE_S = 0.05


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p10_ms": round(ordered[len(ordered) // 10] * 1000, 3),
            "p90_ms": round(ordered[len(ordered) * 9 // 10] * 1000, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    from codor.kernel import Kernel
    from codor.policy import compile_ref
    from codor.policy.engine import Engine
    from codor.runtime.executor import SandboxExecutor
    from codor.sandbox import SandboxSettings, build_spec
    from codor.sandbox.bwrap import BubblewrapBackend, plan_mounts
    from codor.sandbox.cgroups import cgroup_support
    from codor.sandbox.forwarder import ForwarderHandle, start_forwarder
    from codor.sandbox.landlock import LandlockBackend
    from codor.sandbox.mountpoints import mount_points, release_mount_points

    true = shutil.which("true") or "/bin/true"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        print("bwrap is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "repo"
        ws.mkdir()
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
        settings = SandboxSettings()
        t0 = time.perf_counter()
        spec = build_spec(settings, [true], workspace=ws)
        build_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(20):
            build_spec(settings, [true], workspace=ws)
        build_warm = (time.perf_counter() - t0) / 20
        backend, landlock = BubblewrapBackend(), LandlockBackend()
        assert backend.available()[0], backend.available()[1]
        namespaces = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net",
                      "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                      "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                      "--ro-bind", "/", "/", true]
        pipe = subprocess.PIPE

        def bare() -> None:
            subprocess.run([true], stdout=pipe, stderr=pipe, check=True)

        def sandboxed() -> None:
            result = backend.run(spec)
            assert result.exit_status == 0, result

        def floor() -> None:
            subprocess.run([bwrap, "--ro-bind", "/", "/", true], check=True)

        def floor_ns() -> None:
            subprocess.run(namespaces, check=True)

        def landlocked() -> None:
            result = landlock.run(spec)
            assert result.exit_status == 0, result

        engine = Engine(compile_ref("codor:default", workspace=str(ws), home="/root", env={}))
        executor = SandboxExecutor(Kernel(engine), ws, settings=settings)
        proxied = executor.spec([true])  # starts the egress proxy, as the first run does
        assert proxied.network == "proxy" and proxied.proxy_socket is not None
        fresh_ready: list[float] = []

        def with_forwarder() -> None:
            result = executor.run([true])
            assert result.exit_status == 0, result

        def with_forwarder_cold() -> None:
            handles: list[ForwarderHandle] = []

            def on_started(pid: int) -> None:
                t0 = time.perf_counter()
                handle = start_forwarder(pid, str(proxied.proxy_socket),
                                         proxy_port=proxied.proxy_port)
                handles.append(handle)
                handle.ready(timeout=10.0)
                fresh_ready.append(time.perf_counter() - t0)

            try:
                result = backend.run(proxied, on_started=on_started)
            finally:
                for handle in handles:
                    handle.close()
            assert result.exit_status == 0, result

        cases: dict[str, Callable[[], None]] = {
            "bare_true": bare, "sandboxed_true": sandboxed, "bwrap_floor": floor,
            "bwrap_namespaces_only": floor_ns}
        if landlock.available()[0]:
            cases["landlock_true"] = landlocked
        cases["sandboxed_true_forwarder"] = with_forwarder
        cases["sandboxed_true_forwarder_cold"] = with_forwarder_cold
        for fn in cases.values():  # warm up (probes, caches)
            for _ in range(5):
                fn()
                if fn is with_forwarder:
                    time.sleep(SETTLE_S)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
                if fn is with_forwarder:
                    time.sleep(SETTLE_S)  # the next spare starts now (see the module doc)
        executor.close()
        fresh_ready = fresh_ready[5:]  # without the warm-up
        plan = plan_mounts(spec, mount_points().ours(spec.workspace))
        while_running = sorted(p.name for p in ws.iterdir() if p.name != ".git")
        release_mount_points(str(ws))
        leftovers = sorted(p.name for p in ws.iterdir() if p.name != ".git")

    stats = {name: _ms(v) for name, v in samples.items()}
    bare_ms = stats["bare_true"]["median_ms"]
    added = stats["sandboxed_true"]["median_ms"] - bare_ms
    forwarder_added = stats["sandboxed_true_forwarder"]["median_ms"] - bare_ms
    result: dict[str, Any] = {
        "benchmark": "sandbox",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "bwrap": subprocess.run([bwrap, "--version"], capture_output=True,
                                            text=True, check=False).stdout.strip(),
                    "limits": cgroup_support().reason},
        "runs": args.runs,
        "cases": stats,
        "added_ms_median": round(added, 3),
        "bwrap_floor_added_ms": round(stats["bwrap_floor"]["median_ms"]
                                      - stats["bare_true"]["median_ms"], 3),
        "goal_added_ms": GOAL_MS,
        "pass": added <= GOAL_MS,
        "forwarder": {
            "added_ms_median": round(forwarder_added, 3),
            "pass": forwarder_added <= GOAL_MS,
            "cold_added_ms_median": round(
                stats["sandboxed_true_forwarder_cold"]["median_ms"] - bare_ms, 3),
            "cold_start_to_ready": _ms(fresh_ready),
            "settle_after_each_ms": SETTLE_S * 1000,
        },
        "spec": {"mount_args": len(plan.args), "created_mount_points": len(plan.created),
                 "pinned_dirs": len(plan.pinned), "build_spec_cold_ms":
                     round(build_cold * 1000, 2),
                 "build_spec_warm_ms": round(build_warm * 1000, 3),
                 "mount_points_on_host_while_running": while_running,
                 "host_leftovers_after_release": leftovers},
    }
    result["machine"]["load_average_after"] = list(os.getloadavg())
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, s in stats.items():
        print(f"{name:<22} median {s['median_ms']:7.2f} ms  (p10 {s['p10_ms']:.2f}, "
              f"p90 {s['p90_ms']:.2f})")
    print(f"added by the sandbox: {added:.2f} ms median (goal <= {GOAL_MS} ms): "
          f"{'PASS' if result['pass'] else 'FAIL'}; bwrap's own floor adds "
          f"{result['bwrap_floor_added_ms']:.2f} ms")
    fwd = result["forwarder"]
    print(f"added with the network forwarder: {forwarder_added:.2f} ms median (goal <= "
          f"{GOAL_MS} ms): {'PASS' if fwd['pass'] else 'FAIL'}; starting a new forwarder per "
          f"command instead: {fwd['cold_added_ms_median']:.2f} ms (its start to ready: "
          f"{fwd['cold_start_to_ready']['median_ms']:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
