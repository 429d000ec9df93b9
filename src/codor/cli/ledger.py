"""``codor init``, ``codor keys ...`` and ``codor ledger verify|prove|checkpoint|tail``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

__all__ = ["run_ledger"]


def run_ledger(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK, find_workspace
    from codor.workspace import Workspace

    workspace = Workspace.at(find_workspace(args.workspace))
    if args.command == "init":
        created = workspace.init(key_name=args.key_name)
        for line in created:
            print(f"created {line}")
        if not created:
            print(f"{workspace.home} already holds a policy, a log key and a ledger")
        return EXIT_OK
    if args.command == "keys":
        return _keys(args, workspace)
    if args.ledger_command == "verify":
        ledger = workspace.open_ledger(signing=False)
        try:
            report = ledger.verify(progress=_progress() if not args.json else None)
        finally:
            ledger.close()
        if args.json:
            print(json.dumps(report.to_json()))
        elif report.ok:
            print(f"ok: {report.size} entries, {report.checkpoints} signed checkpoint(s) "
                  f"verified; root {report.root}")
        else:
            print(f"FAILED at index {report.first_bad}: {report.problem}")
        return EXIT_OK if report.ok else EXIT_FAILED
    ledger = workspace.open_ledger(signing=args.ledger_command in ("prove", "checkpoint"))
    try:
        if args.ledger_command == "checkpoint":
            sys.stdout.write(ledger.checkpoint())
        elif args.ledger_command == "prove":
            proof = ledger.prove(args.index)
            if not ledger.check_proof(proof):  # never hand out a proof that does not verify
                print(f"codor: the proof of entry {args.index} does not verify [E_LEDGER]",
                      file=sys.stderr)
                return EXIT_FAILED
            print(json.dumps(proof.to_json()) if args.json else proof.text(), end="")
        else:
            _tail(ledger, args.n, args.follow)
    finally:
        ledger.close()
    return EXIT_OK


def _keys(args: argparse.Namespace, workspace: object) -> int:
    from codor.cli.main import EXIT_OK
    from codor.evidence.keys import KeyStore
    from codor.workspace import Workspace

    assert isinstance(workspace, Workspace)
    store = KeyStore(workspace.keys_dir)
    if args.keys_command == "init":
        key = store.init(args.name or "codor")
        print(f"created {store.key_path} (0600); verifier key:\n{key.vkey()}")
    elif args.keys_command == "rotate":
        key = store.rotate(args.name)
        print(f"rotated; the old public key is kept in {store.retired_dir}; new verifier key:"
              f"\n{key.vkey()}")
    else:
        for verifier in store.verifiers():
            print(verifier.vkey)
    return EXIT_OK


def _tail(ledger: object, n: int, follow: bool) -> None:
    from codor.ledger.log import Ledger

    assert isinstance(ledger, Ledger)
    size = ledger.sync()
    start = max(0, size - n)
    while True:
        for entry in ledger.store.entries(start, size):
            body = entry.leaf.decode("utf-8", "replace") if entry.leaf is not None else None
            record = json.loads(body) if body else None
            print(json.dumps({"index": entry.index, "leaf_hash": entry.leaf_hash.hex(),
                              "record": record}), flush=True)
        if not follow:
            return
        start = size
        while (size := ledger.sync()) == start:
            time.sleep(0.5)


def _progress() -> Callable[[int, int], None] | None:
    """A progress callback that draws a bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return None
    width = 30

    def show(done: int, total: int) -> None:
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\rverifying [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
