#!/usr/bin/env python3
"""``codor hook claude-code``: process start to decision (goal: p50 ≤ 60 ms).

A temporary git repository with ``codor init`` (policy file, ledger); each run starts the real
``codor`` executable with a Claude Code ``PreToolUse`` event for ``Bash`` (``git status &&
git diff --stat``) on stdin and waits for its answer; the wall time covers interpreter start,
imports, the decision, committing the decision record to the ledger, and the answer. Modes,
interleaved round-robin so machine load hits both alike:

* ``warm``: the workspace's hook server (started by the first hook) answers; the hook process
  itself is a thin client;
* ``cold``: ``CODOR_HOOK_SERVER=0``: every hook compiles the policy and opens the ledger in
  its own process;
* ``python``: ``python -c pass`` with the same interpreter, for scale.

Results go to ``benchmarks/results/hooks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "hooks.json"
GOAL_MS = 60.0
CODOR = str(Path(sys.executable).with_name("codor"))


def event(cwd: Path, n: int) -> bytes:
    return json.dumps({
        "session_id": "bench-session", "transcript_path": str(cwd / "t.jsonl"), "cwd": str(cwd),
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "git status && git diff --stat", "description": "status"},
        "tool_use_id": f"toolu_{n:06d}"}).encode()


def once(argv: list[str], stdin: bytes, env: dict[str, str], cwd: Path) -> tuple[float, bytes]:
    t = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=cwd, check=False)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"hook failed ({proc.returncode}): {proc.stderr.decode()}")
    return elapsed * 1000, proc.stdout


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p10_ms": round(ordered[len(ordered) // 10], 2),
            "p90_ms": round(ordered[(len(ordered) * 9) // 10], 2),
            "min_ms": round(ordered[0], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="codor-bench-hooks-") as tmp:
        repo = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        subprocess.run([CODOR, "init"], cwd=repo, check=True, capture_output=True)
        base = {k: v for k, v in os.environ.items() if k not in ("CODOR_HOME",
                                                                 "CODOR_HOOK_SERVER")}
        modes: dict[str, tuple[list[str], dict[str, str]]] = {
            "warm": ([CODOR, "hook", "claude-code"], base),
            "cold": ([CODOR, "hook", "claude-code"], {**base, "CODOR_HOOK_SERVER": "0"}),
            "python": ([sys.executable, "-c", "pass"], base),
        }
        _, answer = once(modes["warm"][0], event(repo, 0), base, repo)  # starts the server
        time.sleep(1.0)
        _, answer = once(modes["warm"][0], event(repo, 0), base, repo)
        samples: dict[str, list[float]] = {name: [] for name in modes}
        for n in range(args.runs):
            for name, (cmd, env) in modes.items():
                ms, _ = once(cmd, event(repo, n), env, repo)
                samples[name].append(ms)
        ledger_size = subprocess.run([CODOR, "ledger", "verify", "--json"], cwd=repo,
                                     capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = {
        "benchmark": "hooks",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_after": list(os.getloadavg())},
        "runs": args.runs,
        "event": "Claude Code PreToolUse Bash 'git status && git diff --stat'",
        "answer": json.loads(answer),
        "cases": {name: stats(values) for name, values in samples.items()},
        "ledger_after": json.loads(ledger_size),
        "goal_p50_ms": GOAL_MS,
    }
    result["pass"] = result["cases"]["warm"]["p50_ms"] <= GOAL_MS
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["cases"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
