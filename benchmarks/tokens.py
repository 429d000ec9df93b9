#!/usr/bin/env python3
"""Capability-token validation (goal: ≤ 5 µs per validation).

Each sample times :meth:`codor.policy.tokens.TokenVerifier.check` end to end — parse,
signature(s), delegation chain, time window, revocation index (in memory, 1,000 revoked ids),
agent/sandbox binding, kind and path scope, and one use counted in the in-memory counter:

* **first use**: a token the verifier has not seen, so every Ed25519 signature of its chain is
  verified (``cryptography``; about 50+ µs per signature — this cannot meet 5 µs and is
  reported as it is);
* **persisted use counts**: repeat validation with :class:`StateUseCounter` on a SQLite state
  database, as hooks and the daemon count uses (one transaction per use); reported beside the
  goal, which is the verifier's own work;
* **repeat**: the same token again; the verifier's LRU cache of verified token strings turns
  the signature work into a dict lookup, leaving the per-use checks. Measured for a kinds-only
  token, a path-scoped token (its path resolved through the evaluation's context, as the
  engine does) and a delegated grandchild (three use counters consumed per use).

The goal applies to repeat validation, the engine's steady state. Results go to
``benchmarks/results/tokens.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "tokens.json"
GOAL_US = 5.0
T0 = 1_800_000_000.0


def timed(fn: Callable[[], object], n: int) -> dict[str, float]:
    """Per-call times (µs) of ``n`` calls: median, p99, mean of batches (timer overhead
    excluded by timing 100 calls at once)."""
    clock = time.perf_counter_ns
    single: list[float] = []
    for _ in range(n):
        t = clock()
        fn()
        single.append((clock() - t) / 1000)
    batches: list[float] = []
    for _ in range(max(1, n // 100)):
        t = clock()
        for _ in range(100):
            fn()
        batches.append((clock() - t) / 100_000)
    single.sort()
    return {"calls": n, "p50_us": round(statistics.median(single), 3),
            "p99_us": round(single[int(len(single) * 0.99) - 1], 3),
            "batched_mean_us": round(statistics.mean(batches), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--first-use", type=int, default=2_000)
    args = parser.parse_args()

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from codor import __version__
    from codor.model import Action
    from codor.policy.guards.base import EvalContext
    from codor.policy.tokens import RevocationList, TokenVerifier, delegate, issue_token

    key = Ed25519PrivateKey.generate()
    ws = "/workspace"
    revoked = RevocationList(f"{i:032x}" for i in range(1000))
    big = 10**9

    def verifier() -> TokenVerifier:
        return TokenVerifier([key.public_key()], revocations=revoked, workspace=ws,
                             home="/home/user")

    kinds_only = issue_token(key, agent="a1", kinds=["file.read"], now=T0, ttl=3600, uses=big)
    scoped = issue_token(key, agent="a1", kinds=["file.read", "file.write"],
                         paths=["src/**"], now=T0, ttl=3600, uses=big)
    child = delegate(scoped, key, kinds=["file.read"], paths=["src/lib/**"], now=T0)
    grandchild = delegate(child, key, paths=["src/lib/a/**"], now=T0)
    plain = Action.create("file.read", path=f"{ws}/src/lib/a/x.py", agent="a1")

    def repeat(token: str, *, resolved: bool = True, v: TokenVerifier | None = None
               ) -> dict[str, float]:
        """The same token again, with a fresh evaluation context per check (the engine makes
        one per evaluation). ``resolved``: the action's path forms are already in the context,
        as in the engine, whose built-in protections resolve the path before the token fast
        path; otherwise the check resolves them (a realpath on disk)."""
        v = v or verifier()
        assert v.check(token, plain, EvalContext(T0 + 1, ws, "/home/user")).valid
        contexts = [EvalContext(T0 + 1, ws, "/home/user") for _ in range(args.iterations * 2)]
        if resolved:
            for c in contexts:
                c.forms(plain.path or "/")
        it = iter(contexts)

        def once() -> object:
            return v.check(token, plain, next(it))

        return timed(once, args.iterations)

    def first_use(make: Callable[[], str]) -> dict[str, float]:
        """Each sample: a token its verifier has never seen (a fresh verifier per token)."""
        tokens_ = [make() for _ in range(args.first_use)]
        ctx = EvalContext(T0 + 1, ws, "/home/user")
        clock = time.perf_counter_ns
        samples: list[float] = []
        for tok in tokens_:
            fresh = verifier()
            t = clock()
            ok = fresh.check(tok, plain, ctx).valid
            samples.append((clock() - t) / 1000)
            assert ok
        samples.sort()
        return {"calls": len(samples), "p50_us": round(statistics.median(samples), 3),
                "p99_us": round(samples[int(len(samples) * 0.99) - 1], 3),
                "mean_us": round(statistics.mean(samples), 3)}

    import tempfile

    from codor.policy.tokenstore import StateUseCounter
    from codor.statedb import StateDB

    with tempfile.TemporaryDirectory() as tmp:
        db = StateDB.open(Path(tmp) / "state.db")
        persisted = TokenVerifier([key.public_key()], revocations=revoked, workspace=ws,
                                  home="/home/user", counter=StateUseCounter(db))
        state_db = {"path_scoped_token": repeat(scoped, v=persisted),
                    "delegated_grandchild": repeat(grandchild, v=persisted)}
        db.close()
    results = {
        "persisted_use_counts": state_db,
        "repeat": {
            "kinds_only_token": repeat(kinds_only),
            "path_scoped_token": repeat(scoped),
            "delegated_grandchild": repeat(grandchild),
            "path_scoped_token_path_unresolved": repeat(scoped, resolved=False),
        },
        "first_use": {
            "root_token": first_use(lambda: issue_token(
                key, agent="a1", kinds=["file.read"], paths=["src/**"], now=T0, ttl=3600,
                uses=big)),
            "delegated_grandchild": first_use(lambda: delegate(delegate(
                scoped, key, paths=["src/lib/**"], now=T0), key, now=T0)),
        },
    }
    repeat_p50 = max(r["p50_us"] for name, r in results["repeat"].items()
                     if not name.endswith("_unresolved"))
    out = {
        "benchmark": "tokens",
        "goal_us": GOAL_US,
        "goal_applies_to": "repeat validation (verified-token cache hit) with the action's "
                           "path already resolved by the built-ins, as in the engine; "
                           "path_scoped_token_path_unresolved shows the cost when the token "
                           "check is the first to resolve the path (one realpath on disk)",
        "goal_met": repeat_p50 <= GOAL_US,
        "worst_repeat_p50_us": repeat_p50,
        "persisted_note": "persisted_use_counts: the same repeat validation with the uses "
                          "counted in a SQLite state database (one transaction per use, "
                          "all links of the chain at once), as hooks and the daemon count "
                          "them; the goal applies to the verifier's own work",
        "note": "first use verifies every Ed25519 signature of the chain (cryptography, "
                "~50+ us each) and cannot meet the goal; the verifier caches verified token "
                "strings (bounded LRU), so each later use is a dict lookup plus the time, "
                "revocation, binding, scope and use-count checks",
        "codor": {"version": __version__, **results},
        "revoked_ids_in_index": len(revoked),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
