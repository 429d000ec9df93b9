#!/usr/bin/env python3
"""Claims verification: a report checked against a session of 10,000 evidence entries
(goal: ≤ 200 ms).

A temporary git repository with a real pytest project and ``codor init``; a kernel records a
session of 10,000 entries the way the hooks do — commands (decision + outcome, the test runs
with real pytest output captured by running pytest), file writes, tool calls — in ledger
order. Each sample times :func:`codor.claims.verification` end to end: reading the session from
the SQLite ledger (leaf hashes checked), the workspace's git state, extraction of a
realistic report, every verifier and detector. There is no peer tool that verifies agent
claims to compare against; the figure is against the goal.

Results go to ``benchmarks/results/claims.json``.
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

RESULTS = Path(__file__).resolve().parent / "results" / "claims.json"
GOAL_MS = 200.0
REPORT = """## Summary

Fixed the rounding bug in `src/calc.py` and added a regression test in
`tests/test_calc.py`.

- Modified `src/calc.py`: `add` now rounds half up.
- Created `docs/rounding.md` describing the behaviour.
- Ran `python -m pytest -q`: all {count} tests pass ✅
- Committed as {commit}.
"""


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


def build(root: Path, entries: int) -> tuple[str, str]:
    """Record a session of about ``entries`` entries; returns (session id, report)."""
    from codor.evidence.records import StreamSummary, now_us
    from codor.integrations.context import open_kernel
    from codor.model import Action

    (root / "src").mkdir()
    (root / "tests").mkdir()
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    tests = "".join(f"def test_add_{i}():\n    assert add({i}, 1) == {i + 1}\n\n"
                    for i in range(40))
    (root / "tests" / "test_calc.py").write_text("from src.calc import add\n\n\n" + tests)
    git(root, "init", "-q")
    git(root, "-c", "user.name=b", "-c", "user.email=b@x", "add", "-A")
    old = "2020-01-01T00:00:00"
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "base"],
                   cwd=root, check=True, env={**os.environ, "GIT_AUTHOR_DATE": old,
                                              "GIT_COMMITTER_DATE": old})
    subprocess.run([sys.executable, "-m", "codor.cli.main", "init"], cwd=root, check=True,
                   capture_output=True)
    kernel = open_kernel(root)
    session = "bench-claims"
    agent = {"id": "claude-code"}

    def command(text: str, output: bytes, status: int | None = 0) -> int:
        action = Action.create("command.exec", command=text, session=session, agent=agent,
                               cwd=str(root))
        kernel.decide(action)
        t = now_us()
        kernel.record_outcome(action, None, started=t, ended=t, exit_status=status,
                              stdout=StreamSummary.of(output), observer="claude-code-harness")
        return 2

    def write(path: str, content: str) -> int:
        action = Action.create("file.write", path=str(root / path), content=content,
                               session=session, agent=agent)
        kernel.decide(action)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content)
        return 1

    pytest_out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                                cwd=root, capture_output=True, check=False).stdout
    n = 1  # the session start
    i = 0
    while n < entries - 12:
        i += 1
        if i % 3 == 0:
            n += command(f"grep -rn add_{i} src tests", b"tests/test_calc.py:4:def test_add\n")
        elif i % 3 == 1:
            n += command("git status --short", b" M src/calc.py\n")
        else:
            tool = Action.create("tool.call", tool="Read", arguments={"file_path": "src/calc.py"},
                                 session=session, agent=agent)
            kernel.decide(tool)
            n += 1
    n += write("src/calc.py", "def add(a, b):\n    return a + b  # rounds half up\n")
    n += write("docs/rounding.md", "# Rounding\n\nHalf up.\n")
    n += write("tests/test_calc.py", (root / "tests" / "test_calc.py").read_text()
               + "def test_add_regression():\n    assert add(2, 2) == 4\n")
    n += command("python -m pytest -q", pytest_out)
    git(root, "-c", "user.name=b", "-c", "user.email=b@x", "add", "-A", "src", "docs")
    git(root, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "fix rounding")
    n += command("git commit -am 'fix rounding'", b"[main abc] fix rounding\n")
    kernel.close()
    return session, REPORT.format(count=40, commit=git(root, "rev-parse", "--short", "HEAD"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    from codor.claims import verify
    from codor.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        t0 = time.perf_counter()
        session, report = build(root, args.entries)
        built_s = time.perf_counter() - t0
        ledger = Workspace.at(root).open_ledger(signing=False)
        try:
            times = []
            result = None
            for _ in range(args.samples):
                t = time.perf_counter()
                result = verify(ledger, session, report, workspace=root)
                times.append((time.perf_counter() - t) * 1000)
            size = ledger.store.size()
        finally:
            ledger.close()
    assert result is not None
    if not result.passed:
        raise SystemExit(f"the honest report failed verification: {result.failures}")
    ordered = sorted(times)
    out = {
        "benchmark": "claims verification of a 10,000-entry session",
        "goal_ms": GOAL_MS,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "session_entries": result.evidence_entries, "ledger_size": size,
        "claims": len(result.claims), "verdicts": result.verdict_counts,
        "build_seconds": round(built_s, 1), "samples": len(times),
        "p50_ms": round(statistics.median(ordered), 2), "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
        "meets_goal": statistics.median(ordered) <= GOAL_MS,
    }
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
