"""``codor mode show|set|advance|exempt|approve|baseline``: workflow modes
(:mod:`codor.runtime.workflow`) in the workspace's state database — ``.codor/state.db``, or the
one ``server.yaml``/``--state`` names, the same the daemon uses — so a running daemon sees
these changes within a second. Every change is recorded in the workspace ledger when it has
one (the session's own events; workspace-wide ones in ``codor-admin``).

The session is ``--session S`` or, when not given, ``$CODOR_SESSION``; without either, ``set``
and ``exempt`` act on the workspace (the default mode of new sessions, workspace-wide
exemptions). Exit status: 0 done, 1 a guard does not hold (the message says which evidence is
missing), 2 a bad request.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codor.cli.statectx import opened_state, who
from codor.errors import InputError

if TYPE_CHECKING:
    from codor.runtime.workflowstore import WorkflowStore

__all__ = ["add_mode_parser", "run_mode"]

_CHANGES = ("set", "advance", "exempt", "approve", "baseline")
_PHASES = ("planning", "test_writing", "code_writing", "validating", "reviewing",
           "committing", "exploring", "retro_testing", "debugging")


def add_mode_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``codor mode`` subcommands (called by :func:`codor.cli.main.build_parser`)."""
    mode = sub.add_parser("mode", help="workflow modes: show, set, advance, exempt, approve",
                          description="Workflow modes (strict TDD, explore, debug): what each "
                                      "phase allows and the evidence the next phase needs.")
    msub = mode.add_subparsers(dest="mode_command", parser_class=parser_class, required=True)
    show = msub.add_parser("show", help="mode, phase, what is allowed, the next guard")
    show.add_argument("--json", action="store_true")
    mset = msub.add_parser("set", help="set a session's mode (without --session: the "
                                       "workspace default); debug is requested")
    mset.add_argument("mode", choices=("strict", "explore", "debug", "off"))
    mset.add_argument("--reason", default=None, help="why (recorded; required for debug)")
    mset.add_argument("--expect-version", type=int, default=None, metavar="N",
                      help="refuse unless the session's state is still at version N")
    adv = msub.add_parser("advance", help="move to the next phase (or --to PHASE) when its "
                                          "guard holds; in debug: leave debug")
    adv.add_argument("--to", choices=_PHASES, default=None)
    adv.add_argument("--reason", default=None)
    adv.add_argument("--expect-version", type=int, default=None, metavar="N")
    exempt = msub.add_parser("exempt", help="record a TDD exemption (config, docs, assets, "
                                            "type-only) for the session or the workspace")
    exempt.add_argument("--category", required=True,
                        choices=("config", "docs", "assets", "type-only"))
    exempt.add_argument("--path", action="append", default=None, metavar="GLOB",
                        help="a path pattern within the category (repeat; default: the "
                             "category's patterns)")
    exempt.add_argument("--reason", required=True, help="why (recorded)")
    approve = msub.add_parser("approve", help="a person approves a session's review or its "
                                              "debug request")
    approve.add_argument("what", choices=("review", "debug"))
    approve.add_argument("--by", default=None, help="who approves (default: you)")
    approve.add_argument("--deny", action="store_true",
                         help="deny the debug request instead")
    approve.add_argument("--comment", default=None)
    base = msub.add_parser("baseline", help="set the workspace's coverage baseline")
    base.add_argument("percent", nargs="?", type=float, default=None,
                      help="the baseline (default: the coverage counted now in --session)")
    for p in (show, mset, adv, exempt, approve, base):
        p.add_argument("--session", "-s", default=None,
                       help="the session (default: $CODOR_SESSION)")
        p.add_argument("--workspace", "-w", default=None)
        p.add_argument("--state", default=None,
                       help="the state database (default: as `codor serve` finds it)")


def _who() -> str:
    return who("codor mode")


def run_mode(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK, find_workspace
    from codor.runtime.workflow import GuardError
    from codor.runtime.workflowstore import WorkflowStore

    workspace = Path(find_workspace(args.workspace))
    if args.session is not None and not args.session.strip():
        raise InputError("an empty session (leave --session out to act on the workspace)",
                         location="--session")
    session = args.session or os.environ.get("CODOR_SESSION") or None
    with opened_state(workspace, args.state, record=True) as (db, kernel):
        store = WorkflowStore(db, kernel, workspace=str(workspace))
        try:
            _dispatch(args, store, session)
        except GuardError as exc:
            sys.stderr.write(f"codor: {exc.one_line()}\n")
            return EXIT_FAILED
    return EXIT_OK


def _need(session: str | None, command: str) -> str:
    if session is None:
        raise InputError(f"`codor mode {command}` needs --session (or $CODOR_SESSION)",
                         location="--session")
    return session


def _dispatch(args: argparse.Namespace, store: WorkflowStore, session: str | None) -> None:
    command = args.mode_command
    by = getattr(args, "by", None) or _who()
    if command == "show":
        status = store.status(session)
        print(json.dumps(status, indent=2) if args.json else _show(status))
    elif command == "set":
        if session is None:
            mode = store.set_default(args.mode, by=by, reason=args.reason)
            print(f"workspace default mode: {mode or 'off'} (new sessions start in it)")
        elif args.mode == "debug":
            request = store.request_debug(session, by=by, reason=args.reason or "")
            print(f"debug requested for {session} (request {request.id}; failing test runs "
                  f"at ledger {', '.join(map(str, request.evidence))}); a person approves with:"
                  f" codor mode approve debug --session {session}")
        else:
            state = store.set_mode(session, args.mode, by=by, reason=args.reason,
                                   expected_version=args.expect_version)
            print(_line(state.session, state.mode, state.phase, state.version))
    elif command == "advance":
        state = store.advance(_need(session, command), args.to, by=by, reason=args.reason,
                              expected_version=args.expect_version)
        print(_line(state.session, state.mode, state.phase, state.version))
    elif command == "exempt":
        exemption = store.request_exemption(session, args.category, args.path, args.reason, by)
        scope = f"session {session}" if session else "the workspace"
        print(f"exemption {exemption.id} ({exemption.category}) for {scope}: "
              f"{', '.join(exemption.patterns)}")
    elif command == "approve":
        target = _need(session, command)
        if args.what == "review":
            if args.deny:
                raise InputError("a review is not denied: request changes by moving the "
                                 "session back (codor mode advance --to code_writing)",
                                 location="--deny")
            state = store.approve_review(target, by, comment=args.comment)
            print(f"review of {target} approved by {by} (version {state.version})")
        else:
            pending = store.pending_debug(target)
            if pending is None:
                raise InputError(f"session {target!r} has no pending debug request",
                                 location="--session")
            if args.deny:
                store.deny_debug(pending.id, by, comment=args.comment)
                print(f"debug request {pending.id} of {target} denied by {by}")
            else:
                state = store.approve_debug(pending.id, by, comment=args.comment)
                print(_line(state.session, state.mode, state.phase, state.version))
    else:  # baseline
        percent = store.set_baseline(args.percent, by=by, session=session)
        print(f"coverage baseline: {percent:.2f}%")


def _line(session: str, mode: str, phase: str | None, version: int) -> str:
    if mode == "off":
        return f"{session}: no workflow mode (version {version})"
    return f"{session}: {mode} mode, phase {phase} (version {version})"


def _show(status: dict[str, Any]) -> str:
    if status.get("session") is None:
        lines = [f"workspace default mode: {status['default_mode']}"]
        base = status.get("baseline")
        lines.append(f"coverage baseline:      {base['percent']:.2f}%" if base else
                     "coverage baseline:      -")
        lines += _exemptions(status.get("exemptions") or [])
        return "\n".join(lines)
    lines = [f"session: {status['session']}", f"mode:    {status['mode']}"]
    if status.get("phase"):
        started = "" if status.get("started") else " (when the session starts)"
        lines.append(f"phase:   {status['phase']}{started}")
    if status.get("origin_mode"):
        lines.append(f"came from: {status['origin_mode']} mode, phase {status['origin_phase']}")
    allowed = status.get("allowed")
    if allowed:
        lines += [f"writes:   {allowed['writes']}", f"commands: {allowed['commands']}",
                  f"now:      {allowed['next']}"]
    nxt = status.get("next")
    if nxt:
        held = "holds" if nxt["ok"] else "does not hold"
        lines.append(f"next:     {nxt['phase']} — guard {nxt['guard']} {held}"
                     + (f": needs {nxt['need']} — {nxt['hint']}" if not nxt["ok"] else ""))
    if status.get("review_by"):
        lines.append(f"review:   approved by {status['review_by']}")
    pending = status.get("debug_request")
    if pending:
        lines.append(f"debug:    request {pending['id']} pending (by {pending['requested_by']})")
    cov = status.get("coverage")
    if cov:
        delta = cov.get("delta")
        lines.append("coverage: " + (f"{cov['current']:.1f}% ({delta:+.1f} points, baseline "
                                     f"{cov['baseline']:.1f}% from the {cov['source']})"
                                     + (" — explore LOCKED" if cov.get("locked") else
                                        " — below budget" if cov.get("warn") else "")
                                     if delta is not None else "no counted report"))
    commits = [c for c in status.get("commits") or () if c["status"] == "unverified"]
    if commits:
        lines.append(f"unverified commits: {len(commits)} (ledger "
                     f"{', '.join(str(c['decision']) for c in commits)})")
    lines += _exemptions(status.get("exemptions") or [])
    return "\n".join(lines)


def _exemptions(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return ["exemptions: -"]
    out = ["exemptions:"]
    for ex in items:
        out.append(f"  {ex['id']}  {ex['category']:<9}  {ex['scope']:<9}  "
                   f"{', '.join(ex['patterns'])}  ({ex['reason']}, by {ex['by']})")
    return out
