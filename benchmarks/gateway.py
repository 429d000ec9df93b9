#!/usr/bin/env python3
"""Latency the MCP gateway adds per ``tools/call`` (goal: median ≤ 2 ms).

One upstream, the real ``@modelcontextprotocol/server-everything`` from ``tests/npm``
(``make npm-deps``), and its ``echo`` tool (a 2 KiB message, so every call moves and scans some
text). The official Python SDK client calls it over stdio, each call timed with
``perf_counter_ns`` from ``call_tool`` to its result:

* ``direct``: the client starts the upstream itself;
* ``gateway``: the client starts ``codor mcp gateway --upstream ...`` (the real executable),
  which decides each call with the workspace policy (``codor:coding-assistant``), records it
  in a SQLite ledger (decision, outcome, and the result's ``content.inbound`` decision),
  scans the result for secrets and prompt injection, and forwards it — client on the
  2025-11-25 handshake, like ``direct``;
* ``gateway_2026``: the same, the client on the 2026-07-28 revision (per-request envelopes);
* ``gateway_no_record``: ``gateway`` with ``--no-record`` (what the ledger costs).

Each gateway has its own workspace and ledger (every record is committed before the answer
goes back). Sessions stay open; modes run in interleaved blocks so that load from other
processes hits them alike. The added latency is each gateway mode's median minus
``direct``'s. Results go to ``benchmarks/results/gateway.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gateway.json"
EVERYTHING = ROOT / "tests" / "npm" / "node_modules" / ".bin" / "mcp-server-everything"
CODOR = str(Path(sys.executable).with_name("codor"))
GOAL_MS = 2.0
MESSAGE = ("The quick brown fox jumps over the lazy dog. " * 47)[:2048]


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 3),
            "p90_ms": round(ordered[int(len(ordered) * 0.9)], 3),
            "p99_ms": round(ordered[int(len(ordered) * 0.99)], 3),
            "mean_ms": round(statistics.fmean(samples), 3)}


@contextlib.asynccontextmanager
async def connect(command: str, args: list[str], mode: str) -> AsyncIterator[Any]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=command, args=args)
    async with Client(params, mode=mode) as client:
        yield client


async def timed(client: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        result = await client.call_tool("echo", {"message": MESSAGE})
        out.append((time.perf_counter_ns() - t0) / 1e6)
        if result.is_error:
            raise AssertionError(result)
    return out


async def run(calls: int, block: int, warmup: int, workspace: Path) -> dict[str, list[float]]:
    upstream = str(EVERYTHING)

    def gateway(name: str, *extra: str) -> list[str]:
        from codor.workspace import Workspace

        root = workspace / name  # a workspace and ledger per gateway
        root.mkdir()
        Workspace(root, root / ".codor").init(key_name="bench")
        return ["mcp", "gateway", "--workspace", str(root), "--upstream", upstream, *extra]

    specs = {
        "direct": (upstream, [], "legacy"),
        "gateway": (CODOR, gateway("gateway"), "legacy"),
        "gateway_2026": (CODOR, gateway("gateway_2026"), "2026-07-28"),
        "gateway_no_record": (CODOR, gateway("gateway_no_record", "--no-record"), "legacy"),
    }
    samples: dict[str, list[float]] = {name: [] for name in specs}
    async with contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(connect(*spec))
                   for name, spec in specs.items()}
        for client in clients.values():
            await timed(client, warmup)
        for _ in range(max(1, calls // block)):
            for name, client in clients.items():
                samples[name] += await timed(client, block)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="per mode")
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if not EVERYTHING.exists():
        print(f"{EVERYTHING} is missing: run `make npm-deps`", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "src"))
    work = Path(tempfile.mkdtemp(prefix="codor-bench-gateway-"))
    try:
        samples = anyio.run(run, args.calls, args.block, args.warmup, work)
        ledger_bytes = (work / "gateway" / ".codor" / "ledger.db").stat().st_size
    finally:
        shutil.rmtree(work)

    results = {name: summary(values) for name, values in samples.items()}
    base = results["direct"]["median_ms"]
    added = {name: round(r["median_ms"] - base, 3) for name, r in results.items()
             if name != "direct"}
    report = {
        "benchmark": "gateway",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "node": shutil.which("node") and os.popen("node --version").read().strip(),
                    "load_average_after": list(os.getloadavg())},
        "upstream": "@modelcontextprotocol/server-everything (stdio), tool echo",
        "message_bytes": len(MESSAGE),
        "calls_per_mode": len(samples["direct"]),
        "modes": results,
        "added_median_ms": added,
        "ledger_bytes_after": ledger_bytes,
        "goal_ms": GOAL_MS,
        "goal_counts": "gateway (recording, 2025-11-25 client)",
        "pass": added["gateway"] <= GOAL_MS,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
