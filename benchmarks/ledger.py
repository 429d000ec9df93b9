#!/usr/bin/env python3
"""Ledger speed: sustained appends with group commit, full verification, inclusion proofs.

1. append: ``--entries`` evidence-sized (1 KiB) leaves through ``Ledger.append`` into a fresh
   SQLite ledger (WAL, group commit of 100 entries / 500 ms), one leaf per call as the kernel
   does, then a final flush; entries/s over the whole run. Goal >= 50k/s. The same for
   ``--pg-entries`` on a throwaway PostgreSQL server, one leaf per call (goal >= 15k/s; 100
   leaves per call shown beside it).
2. verify: ``Ledger.verify()`` of that ledger (leaf hashes, chain, Merkle tree, checkpoints);
   entries/s. Goal >= 300k/s. Then reopen: a new ``Ledger`` on the file syncs, appends one
   entry and signs a checkpoint (its tree starts from the stored compact range), beside the
   time a full rebuild of the tree from every leaf hash takes.
3. proof: an in-memory tree of 2**20 leaves; median time to produce and to verify one
   inclusion proof for random indexes. Goal <= 1 ms for both together.

Results go to ``benchmarks/results/ledger.json``. Peers (reference/ledger-formats.md): the
best transparency logs publish ~10k entries/s on NVMe with 7 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "ledger.json"


def bench_append_and_verify(entries: int) -> dict[str, Any]:
    from codor.evidence.keys import KeyStore
    from codor.ledger.log import Ledger
    from codor.ledger.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        keys = KeyStore(Path(tmp) / "keys")
        keys.init("bench")
        store = SQLiteStore(Path(tmp) / "ledger.db", batch_size=100, flush_interval=0.5)
        ledger = Ledger(store, origin="codor.bench/ledger", key=keys.load(),
                        verifiers=keys.verifiers())
        pad = "x" * 960
        leaves = [f'{{"i":{i},"pad":"{pad}"}}'.encode() for i in range(entries)]
        start = time.perf_counter()
        for leaf in leaves:
            ledger.append(leaf)
        store.flush()
        append_s = time.perf_counter() - start
        ledger.checkpoint()
        start = time.perf_counter()
        report = ledger.verify()
        verify_s = time.perf_counter() - start
        size = os.path.getsize(Path(tmp) / "ledger.db")
        ledger.close()
        reopen = bench_reopen(Path(tmp) / "ledger.db", keys, entries)
    if not report.ok:
        raise SystemExit(f"verification failed: {report}")
    return {
        "entries": entries,
        "entry_bytes": len(leaves[0]),
        "append": {"seconds": round(append_s, 3), "per_s": round(entries / append_s),
                   "goal_per_s": 50_000, "pass": entries / append_s >= 50_000},
        "verify": {"seconds": round(verify_s, 3), "per_s": round(entries / verify_s),
                   "goal_per_s": 300_000, "pass": entries / verify_s >= 300_000},
        "file_mib": round(size / 2**20, 1),
        "reopen": reopen,
    }


def bench_reopen(path: Path, keys: Any, entries: int) -> dict[str, Any]:
    """Opening the ledger again and signing the next checkpoint: the tree starts from the
    stored compact range of the latest checkpoint; beside it, what rebuilding the tree from
    every leaf hash (as before nodes were stored) costs."""
    from codor.ledger.log import Ledger
    from codor.ledger.merkle import MerkleTree
    from codor.ledger.sqlite import SQLiteStore

    ledger = Ledger(SQLiteStore(path), origin="codor.bench/ledger", key=keys.load(),
                    verifiers=keys.verifiers())
    try:
        start = time.perf_counter()
        ledger.sync()
        ledger.append(b'{"after":"reopen"}')
        ledger.checkpoint()
        open_s = time.perf_counter() - start
        tree = ledger._tree
        assert tree is not None
        nodes = tree.in_memory()
        start = time.perf_counter()
        full = MerkleTree()
        for begin in range(0, entries, 4096):
            full.extend(ledger.store.leaf_hashes(begin, min(entries, begin + 4096)))
        rebuild_s = time.perf_counter() - start
    finally:
        ledger.close()
    return {"entries": entries, "sync_append_checkpoint_ms": round(open_s * 1000, 1),
            "nodes_in_memory": nodes, "full_rebuild_ms": round(rebuild_s * 1000, 1)}


def bench_postgres(entries: int) -> dict[str, Any] | None:
    """The PostgreSQL store on a throwaway local server (fsync on, TCP loopback): appends of
    1 KiB entries with group commit (100 entries / 500 ms). The goal counts one leaf per
    append call, as the kernel appends; 100 leaves per call is shown beside it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        from codor.ledger.postgres import PostgresStore
        from tests.ledger.pgserver import find_bindir, running
    except ImportError as exc:
        print(f"postgres: skipped ({exc})")
        return None
    if find_bindir() is None:
        print("postgres: skipped (no PostgreSQL server binaries)")
        return None
    out: dict[str, Any] = {"entries": entries, "server": "throwaway, fsync on, TCP 127.0.0.1",
                           "group_commit": "100 entries / 500 ms"}
    leaf = os.urandom(1024)
    with running(fsync=True) as server:
        for per_call in (1, 100):
            with PostgresStore(server.dsn, schema=f"bench{per_call}", batch_size=100,
                               flush_interval=0.5) as store:
                store.append([b"warm-up"], durable=True)
                start = time.perf_counter()
                for _ in range(entries // per_call):
                    store.append([leaf] * per_call)
                store.flush()
                seconds = time.perf_counter() - start
            n = entries // per_call * per_call
            out[f"leaves_per_call_{per_call}"] = {"entries": n, "seconds": round(seconds, 3),
                                                  "per_s": round(n / seconds)}
    measured = out["leaves_per_call_1"]["per_s"]
    out.update({"goal_per_s": 15_000, "goal_counts": "leaves_per_call_1",
                "pass": measured >= 15_000})
    return out


def bench_proofs(leaves: int, samples: int) -> dict[str, Any]:
    import hashlib

    from codor.ledger.merkle import MerkleTree, leaf_hash, verify_inclusion

    tree = MerkleTree(leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest())
                      for i in range(leaves))
    root = tree.root()
    rng = random.Random(7)
    make: list[float] = []
    check: list[float] = []
    for _ in range(samples):
        index = rng.randrange(leaves)
        t0 = time.perf_counter()
        proof = tree.inclusion_proof(index)
        t1 = time.perf_counter()
        ok = verify_inclusion(index, leaves, tree.get(0, index), proof, root)
        t2 = time.perf_counter()
        if not ok:
            raise SystemExit(f"proof for {index} did not verify")
        make.append((t1 - t0) * 1e6)
        check.append((t2 - t1) * 1e6)
    total = statistics.median(make) + statistics.median(check)
    return {"leaves": leaves, "samples": samples,
            "produce_us_median": round(statistics.median(make), 1),
            "verify_us_median": round(statistics.median(check), 1),
            "proof_hashes": len(tree.inclusion_proof(leaves // 3)),
            "goal_us": 1000, "pass": total <= 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--proof-leaves", type=int, default=2**20)
    parser.add_argument("--pg-entries", type=int, default=100_000)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    result = {
        "benchmark": "ledger",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": sys.version.split()[0]},
        "sqlite": bench_append_and_verify(args.entries),
        "postgres": bench_postgres(args.pg_entries),
        "proofs": bench_proofs(args.proof_leaves, 200),
    }
    result["machine"]["load_average_after"] = list(os.getloadavg())
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    s, p = result["sqlite"], result["proofs"]
    print(f"append  {s['append']['per_s']:>9,}/s (goal 50,000/s): "
          f"{'PASS' if s['append']['pass'] else 'FAIL'}")
    print(f"verify  {s['verify']['per_s']:>9,}/s (goal 300,000/s): "
          f"{'PASS' if s['verify']['pass'] else 'FAIL'}")
    r = s["reopen"]
    print(f"reopen  sync + append + checkpoint {r['sync_append_checkpoint_ms']} ms "
          f"({r['nodes_in_memory']} nodes in memory; a full rebuild takes "
          f"{r['full_rebuild_ms']} ms)")
    if result["postgres"]:
        pg = result["postgres"]
        print(f"postgres {pg['leaves_per_call_1']['per_s']:>8,}/s with 1 leaf per call (goal "
              f"15,000/s): {'PASS' if pg['pass'] else 'FAIL'}; "
              f"{pg['leaves_per_call_100']['per_s']:,}/s with 100 per call")
    print(f"proof at {p['leaves']:,} leaves: produce {p['produce_us_median']} us + verify "
          f"{p['verify_us_median']} us (goal 1000 us): {'PASS' if p['pass'] else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
