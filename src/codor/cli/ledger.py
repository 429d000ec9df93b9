"""``codor init``, ``codor keys ...`` and ``codor ledger verify|prove|checkpoint|tail``, and
``codor ledger export|verify-bundle|prune|sinks``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from codor.errors import CodorError, InputError

if TYPE_CHECKING:
    from codor.evidence.keys import Verifier
    from codor.workspace import Workspace

__all__ = ["run_ledger"]


def run_ledger(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK, find_workspace
    from codor.workspace import Workspace

    if args.command == "init":  # here (or --workspace), never an enclosing workspace
        from pathlib import Path

        workspace = Workspace.at(Path(args.workspace or ".").absolute())
        created = workspace.init(key_name=args.key_name)
        for line in created:
            print(f"created {line}")
        if not created:
            print(f"{workspace.home} already holds a policy, a log key and a ledger")
        return EXIT_OK
    workspace = Workspace.at(find_workspace(args.workspace))
    if args.command == "keys":
        return _keys(args, workspace)
    if args.ledger_command in ("export", "verify-bundle", "prune"):
        return _bundles(args, workspace)
    if args.ledger_command == "sinks":
        return _sink_stats(workspace, as_json=bool(getattr(args, "json", False)))
    if args.ledger_command == "verify":
        from codor.ledger.retention import pruned_bodies, warn_if_large

        ledger = workspace.open_ledger(signing=False)
        try:
            report = ledger.verify(progress=_progress() if not args.json else None)
            pruned = pruned_bodies(ledger)
            if report.ok and args.from_checkpoint:
                report = _against_saved(ledger, args.from_checkpoint, report)  # type: ignore[assignment]
        finally:
            ledger.close()
        if args.json:
            print(json.dumps({**report.to_json(), "pruned_bodies": pruned.count}))
        elif report.ok:
            print(f"ok: {report.size} entries, {report.checkpoints} signed checkpoint(s) "
                  f"verified; root {report.root}")
            if pruned.count:
                print(f"    {pruned.describe()}")
        else:
            where = f"index {report.first_bad}" if report.first_bad is not None else "checkpoint"
            print(f"FAILED at {where}: {report.problem}")
        warn_if_large(workspace.ledger_path)
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


def _against_saved(ledger: object, path: str, report: object) -> object:
    """The report, failed unless the saved checkpoint is a prefix of the verified log."""
    import dataclasses
    from pathlib import Path

    from codor.errors import InputError
    from codor.ledger.log import Ledger, VerifyReport

    assert isinstance(ledger, Ledger) and isinstance(report, VerifyReport)
    try:
        note = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read checkpoint: {exc}", location=path) from None
    problem = ledger.extends(note)
    if problem is None:
        return report
    return dataclasses.replace(report, ok=False, first_bad=None,
                               problem=f"{path}: {problem}")


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


def _bar(label: str, *, stream: TextIO | None = None, delay: float = 0.5
         ) -> Callable[[int, int], None] | None:
    """A progress bar on ``stream`` (stderr) when it is a terminal, drawn only once the work
    has taken ``delay`` seconds (short runs stay quiet)."""
    out = sys.stderr if stream is None else stream
    if not out.isatty():
        return None
    started, width, shown = time.monotonic(), 30, [False]

    def show(done: int, total: int) -> None:
        if not shown[0] and time.monotonic() - started < delay:
            return
        shown[0] = True
        filled = width * done // max(total, 1)
        out.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            out.write("\n")
        out.flush()

    return show


def _bundles(args: argparse.Namespace, workspace: Workspace) -> int:
    if args.ledger_command == "verify-bundle":
        return _verify_bundle(args)
    if args.ledger_command == "prune":
        return _prune(args, workspace)
    return _export(args, workspace)


def _export(args: argparse.Namespace, workspace: Workspace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK
    from codor.evidence.intoto import bundle_lines
    from codor.ledger.bundle import export_bundle, export_intoto, verify_bundle

    ledger = workspace.open_ledger(signing=True)
    try:
        progress = _bar("exporting")
        if args.format == "intoto":
            envelopes = export_intoto(ledger, args.session, progress=progress)
            text, what = bundle_lines(envelopes), f"{len(envelopes)} in-toto statement(s)"
        else:
            bundle = export_bundle(ledger, args.session, progress=progress)
            report = verify_bundle(bundle, ledger.verifiers)  # never hand out a bad bundle
            if not report.ok:
                print(f"codor: the exported bundle does not verify at {report.where}: "
                      f"{report.problem} [E_BUNDLE]", file=sys.stderr)
                return EXIT_FAILED
            text = json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"
            what = f"{len(bundle['entries'])} entries with inclusion proofs"
    finally:
        ledger.close()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        _write(Path(args.output), text)
        print(f"exported {what} of session {args.session} to {args.output}", file=sys.stderr)
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a reader never sees half a bundle."""
    from codor.atomicfile import write_atomic

    try:
        write_atomic(path, text.encode("utf-8"), mode=0o644)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", location=str(path)) from None


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", location=name) from None


def _pinned_keys(args: argparse.Namespace) -> list[Verifier]:
    from codor.evidence.keys import Verifier

    texts = [(k, "--key") for k in args.key]
    for name in args.key_file:
        lines = _read_input(name).decode("utf-8", "replace").splitlines()
        texts += [(line.strip(), name) for line in lines
                  if line.strip() and not line.lstrip().startswith("#")]
    pinned = []
    for text, where in texts:
        try:
            pinned.append(Verifier(text))
        except CodorError as exc:
            raise InputError(f"not a verifier key: {exc.message}", location=where) from None
    if args.key_file and not pinned:
        raise InputError("no verifier key in the key file(s)", location=args.key_file[0])
    return pinned


def _verify_bundle(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK
    from codor.ledger.bundle import verify_bundle

    pinned = _pinned_keys(args)
    report = verify_bundle(_read_input(args.bundle), pinned or None)
    if args.json:
        print(json.dumps(report.to_json()))
        return EXIT_OK if report.ok else EXIT_FAILED
    if not report.ok:
        print(f"FAILED at {report.where}: {report.problem}")
        return EXIT_FAILED
    counts = ", ".join(f"{report.counts[kind]} {kind}" for kind in
                       ("session.start", "decision", "outcome") if kind in report.counts)
    print(f"ok: session {report.session}: {len(report.indexes)} entries ({counts}), ledger "
          f"indexes {report.indexes[0]}..{report.indexes[-1]}")
    print(f"    every leaf hash, inclusion proof and session binding verified against the "
          f"checkpoint of {report.origin} at size {report.size}, root {report.root}")
    print(f"    signed by {', '.join(report.signers)}")
    if report.pinned:
        print("    key pinned: the checkpoint is signed by the key you gave")
    else:
        print("    warning: key NOT pinned: the bundle's own key was trusted, so anyone could "
              "have made it; pin the log's key with --key or --key-file (`codor keys show`)")
    return EXIT_OK


def _prune(args: argparse.Namespace, workspace: Workspace) -> int:
    from codor.cli.main import EXIT_OK
    from codor.ledger.retention import compact, mib, parse_age, prune

    age = parse_age(args.older_than)
    ledger = workspace.open_ledger(signing=True)
    try:
        report = prune(ledger, age)
    finally:
        ledger.close()
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(report.cutoff))
    print(f"pruned {report.pruned} entry bodies appended before {when}; their leaf hashes "
          f"stay, so every checkpoint (latest: size {report.size}) and proof still verifies")
    if not args.no_vacuum:
        before, after = compact(workspace.ledger_path)
        print(f"ledger file: {mib(before)} MiB -> {mib(after)} MiB")
    return EXIT_OK


_STAT_COLUMNS = ("sent", "failed", "dropped", "queued")


def _sink_stats(workspace: Workspace, *, as_json: bool) -> int:
    """``codor ledger sinks``: what the sinks of ``.codor/sinks.yaml`` delivered, failed and
    dropped, added up over every process that used them (``.codor/sinks-stats.json``)."""
    from codor.cli.main import EXIT_OK
    from codor.ledger.sinks.base import read_stats
    from codor.ledger.sinks.config import STATS_FILE

    config = workspace.home / "sinks.yaml"
    path = workspace.home / STATS_FILE
    data = read_stats(path)
    if as_json:
        print(json.dumps({"configured": config.is_file(), "stats_file": str(path),
                          "stats": data}))
        return EXIT_OK
    if not config.is_file():
        print(f"no sinks configured ({config} does not exist)")
    if data is None:
        print(f"no sink statistics yet ({path} is written when a process that used the "
              "sinks closes its ledger)")
        return EXIT_OK
    print(f"sink statistics of {data.get('runs', '?')} run(s) from {data.get('since', '?')} to "
          f"{data.get('updated', '?')} ({path}):")
    rows = [(name, counters) for name, counters in sorted(data["sinks"].items())
            if name != "fanout" and isinstance(counters, dict)]
    width = max([len(name) for name, _ in rows] + [4])
    print(f"  {'sink':<{width}}  " + "  ".join(f"{c:>8}" for c in _STAT_COLUMNS))
    for name, counters in rows:
        print(f"  {name:<{width}}  " +
              "  ".join(f"{counters.get(c, 0):>8}" for c in _STAT_COLUMNS))
    last = data.get("last_run")
    if isinstance(last, dict) and isinstance(last.get("sinks"), dict):
        lost = [f"{name}: {counters.get('dropped', 0)} dropped, {counters.get('failed', 0)} "
                f"failed" for name, counters in sorted(last["sinks"].items())
                if isinstance(counters, dict) and name != "fanout" and
                (counters.get("dropped") or counters.get("failed"))]
        print(f"  last run: pid {last.get('pid', '?')}, ended {last.get('ended', '?')}" +
              (f"; {'; '.join(lost)}" if lost else "; nothing dropped or failed"))
    return EXIT_OK
