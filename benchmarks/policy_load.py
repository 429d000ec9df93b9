#!/usr/bin/env python3
"""Start-up cost: compiling ``codor:coding-assistant``, and one cold ``codor check``.

* compile: ``load_engine("codor:coding-assistant")`` (load, merge, compile every guard, build
  the engine), ``--compiles`` times in this process, every ``functools.lru_cache`` of CODOR
  cleared before each one so nothing parsed earlier is reused; the median is compared with the
  goal (<= 50 ms). The first compile of the process (module imports included) is reported too.
* cold check: ``codor check --no-record '<one action>'`` as a fresh subprocess in an empty
  workspace (so the default policy applies), ``--runs`` times with a bytecode cache (as an
  installed package has; the goal, <= 150 ms, applies to this median) and a few times without
  one (every module compiled from source).

Results go to ``benchmarks/results/policy_load.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "policy_load.json"
COMPILE_GOAL_MS = 50.0
CHECK_GOAL_MS = 150.0
ACTION = '{"kind": "file.read", "path": "src/main.py"}'


def clear_caches() -> int:
    """Clear every lru_cache-wrapped function in loaded ``codor`` modules; returns how many."""
    cleared = 0
    for name, module in list(sys.modules.items()):
        if not (name == "codor" or name.startswith("codor.")) or module is None:
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and isinstance(value, functools._lru_cache_wrapper):
                clear()
                cleared += 1
    return cleared


def time_compile(workspace: str, n: int) -> dict[str, Any]:
    from codor.policy import load_engine

    def once() -> float:
        t0 = time.perf_counter()
        engine = load_engine("codor:coding-assistant", workspace=workspace, home="/home/user",
                             env={})
        elapsed = time.perf_counter() - t0
        engine.close()
        return elapsed * 1000

    first = once()
    samples = []
    caches = 0
    for _ in range(n):
        caches = clear_caches()
        samples.append(once())
    median = statistics.median(samples)
    return {"first_ms_with_imports": round(first, 2), "median_ms": round(median, 2),
            "min_ms": round(min(samples), 2), "max_ms": round(max(samples), 2),
            "runs": n, "lru_caches_cleared": caches, "goal_ms": COMPILE_GOAL_MS,
            "pass": median <= COMPILE_GOAL_MS}


def codor_command() -> list[str]:
    exe = shutil.which("codor", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "codor.cli.main"]


def _runs(cmd: list[str], env: dict[str, str], cwd: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, cwd=cwd, check=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def time_cold_check(workspace: str, pycache: str, n: int) -> dict[str, Any]:
    """Median wall time of ``codor check`` in a fresh interpreter: with a bytecode cache (as
    an installed package has; the goal applies to this) and without one for CODOR's own
    modules (compiled from source on every run, as in a source checkout under
    PYTHONDONTWRITEBYTECODE)."""
    cmd = [*codor_command(), "check", "--no-record", "--workspace", workspace, ACTION]
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("CODOR_") and k not in ("PYTHONDONTWRITEBYTECODE",
                                                         "PYTHONPYCACHEPREFIX")}
    cached = {**base, "PYTHONPYCACHEPREFIX": pycache}
    uncached = {**base, "PYTHONDONTWRITEBYTECODE": "1"}  # stdlib keeps its own cache
    probe = subprocess.run(cmd, capture_output=True, text=True, env=cached, cwd=workspace,
                           check=False)  # also fills the bytecode cache
    if probe.returncode != 0:
        raise SystemExit(f"codor check failed ({probe.returncode}): {probe.stderr.strip()}")
    decision = json.loads(probe.stdout.splitlines()[0])["decision"]
    warm = _runs(cmd, cached, workspace, n)
    cold = _runs(cmd, uncached, workspace, max(3, n // 4))
    median = statistics.median(warm)
    python_only = _runs([sys.executable, "-c", "pass"], cached, workspace, 5)
    return {"command": " ".join(cmd[:-1]) + " '<action>'", "action": json.loads(ACTION),
            "decision": decision, "median_ms": round(median, 2),
            "min_ms": round(min(warm), 2), "max_ms": round(max(warm), 2), "runs": n,
            "median_ms_without_codor_bytecode": round(statistics.median(cold), 2),
            "python_startup_ms": round(statistics.median(python_only), 2),
            "goal_ms": CHECK_GOAL_MS, "pass": median <= CHECK_GOAL_MS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compiles", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--note", default=None, help="a remark stored with the results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="codor-bench-") as ws, \
            tempfile.TemporaryDirectory(prefix="codor-pycache-") as pycache:
        compile_result = time_compile(ws, args.compiles)
        check_result = time_cold_check(ws, pycache, args.runs)
    result = {
        "benchmark": "policy_load",
        "policy": "codor:coding-assistant",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": sys.version.split()[0]},
        "compile": compile_result,
        "cold_check": check_result,
        "pass": compile_result["pass"] and check_result["pass"],
    }
    if args.note:
        result["note"] = args.note
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    c, k = compile_result, check_result
    print(f"compile codor:coding-assistant: median {c['median_ms']} ms (first, with imports "
          f"{c['first_ms_with_imports']} ms); goal <= {COMPILE_GOAL_MS:g} ms: "
          f"{'PASS' if c['pass'] else 'FAIL'}")
    print(f"cold `codor check`: median {k['median_ms']} ms with bytecode cache "
          f"({k['median_ms_without_codor_bytecode']} ms without CODOR's; python startup "
          f"{k['python_startup_ms']} ms); goal <= {CHECK_GOAL_MS:g} ms: "
          f"{'PASS' if k['pass'] else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
