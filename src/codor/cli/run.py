"""``codor run -- CMD...`` (run a command or a whole agent in the sandbox) and ``codor doctor``.

``codor run`` decides the command as a ``command.exec`` action, runs it confined (every network
request through the egress proxy, decided and recorded), records what it observed and exits with
the command's status. CODOR's own refusals have their own statuses: 126 when the policy denies
the command (or asks and nobody can answer), 125 when no sandbox can give the policy's
guarantees or the sandbox cannot be built.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codor.model import Decision

__all__ = ["EXIT_NO_SANDBOX", "EXIT_REFUSED", "run_doctor", "run_run"]

EXIT_REFUSED = 126
EXIT_NO_SANDBOX = 125


def run_run(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_USAGE, codor_home, find_workspace, resolve_policy
    from codor.errors import CodorError, SandboxError
    from codor.kernel import Kernel
    from codor.model import Action, Agent, Decision
    from codor.policy import load_engine
    from codor.runtime.executor import SandboxExecutor

    argv = list(args.cmd)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.stderr.write("codor: nothing to run: codor run [options] -- CMD... [E_USAGE]\n")
        return EXIT_USAGE
    workspace = find_workspace(args.workspace)
    record = not args.no_record and not args.explain
    engine = load_engine(resolve_policy(args.policy, workspace), workspace=workspace,
                         codor_home=str(codor_home(workspace)), tokens="workspace",
                         record=record)
    ledger = _ledger(workspace, record=record)
    kernel = Kernel(engine, ledger, observer="codor-sandbox", workspace=str(workspace))
    try:
        from codor.integrations.context import attach_workflow

        attach_workflow(kernel, codor_home(workspace))
    except BaseException:
        kernel.close()
        raise
    session = args.session or f"run-{os.urandom(6).hex()}"
    agent = Agent(args.agent) if args.agent else Agent("codor-run")
    cwd = os.getcwd()
    if not _inside(cwd, str(workspace)):
        cwd = str(workspace)
    action = Action.create("command.exec", argv=argv, cwd=cwd, session=session,
                           agent=agent.id, origin="codor-run")
    # one command: no forwarder is started ahead for a next one
    executor = SandboxExecutor(kernel, workspace, session=session, agent=agent, spare=False)
    try:
        if args.explain:
            decision = engine.decide(action)
            print(f"decision: {decision.decision} "
                  + "; ".join(f"{r.rule}: {r.message}" for r in decision.reasons))
            print(executor.explain(argv, cwd=cwd))
            return 0
        decision, index = kernel.decide_and_index(action)
        if decision.decision == "ask" and index is not None and _can_ask():
            approved = _ask_person(decision)
            try:
                kernel.record_approval(action, index, approved=approved,
                                       approver=_person(), channel="tty")
            except CodorError as exc:  # an unrecorded approval approves nothing
                sys.stderr.write(f"codor: the answer could not be recorded, so the command "
                                 f"does not run: {exc.one_line()}\n")
                return EXIT_REFUSED
            if approved:
                decision = Decision("allow", decision.reasons, decision.warnings,
                                    decision.policy)
        if decision.decision != "allow":
            why = "; ".join(f"{r.rule}: {r.message}" for r in decision.reasons)
            verb = "denied" if decision.decision == "deny" else "needs approval"
            hint = ""
            if decision.decision == "ask":  # why nobody was asked
                hint = ("; --no-record: no approval can be recorded" if args.no_record
                        else "; no ledger to record an approval in: run `codor init`"
                        if ledger is None else "; no terminal to ask on")
            sys.stderr.write(f"codor: {verb}: {why} (session {session}{hint})\n")
            return EXIT_REFUSED
        policy = engine.policy
        try:
            backend = executor.choice.backend.name
        except SandboxError as exc:
            sys.stderr.write(f"codor: {exc.one_line()}\n")
            return EXIT_NO_SANDBOX
        weaker = f", WEAKER: no {', '.join(executor.choice.missing)}" \
            if executor.choice.missing else ""
        sys.stderr.write(f"codor: session {session} · sandbox {backend}{weaker} · policy "
                         f"{policy.name} sha256:{policy.sha256[:12]}"
                         + ("" if ledger else " · not recorded (no ledger: run `codor init`)")
                         + "\n")
        try:
            result = executor.run(argv, cwd=cwd, inherit_stdio=True)
        except SandboxError as exc:
            sys.stderr.write(f"codor: {exc.one_line()}\n")
            return EXIT_NO_SANDBOX
        started, ended = result.times_us()
        if ledger is not None:
            try:
                kernel.record_outcome(action, index, started=started, ended=ended,
                                      exit_status=result.exit_status, sandbox=backend,
                                      observer="codor-sandbox")
            except CodorError as exc:  # the command ran: keep its status, say what is missing
                sys.stderr.write(f"codor: warning: the outcome was not recorded: "
                                 f"{exc.one_line()}\n")
        if result.timed_out:
            sys.stderr.write(f"codor: killed at the wall-time limit "
                             f"({policy.sandbox.limits.wall_seconds} s)\n")
        elif result.limits_hit:
            sys.stderr.write(f"codor: limits hit: {', '.join(result.limits_hit)}\n")
        status = result.exit_status
        return 128 - status if status < 0 else status
    finally:
        executor.close()
        kernel.close()


def _inside(path: str, root: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip("/") + "/")


def _can_ask() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _person() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid
        user = f"uid-{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _ask_person(decision: Decision) -> bool:
    """An ``ask`` on a terminal: the person running ``codor run`` answers y/N (anything but
    y/yes, or end of input, is no). Never asked without a terminal, and never without a
    ledger to record the answer in (an approval nobody can audit is not given)."""
    why = "; ".join(f"{r.rule}: {r.message}" for r in decision.reasons)
    sys.stderr.write(f"codor: approval needed: {why}\ncodor: run it? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _ledger(workspace: Any, *, record: bool) -> Any:
    from codor.workspace import Workspace

    state = Workspace.at(workspace)
    if not record or not state.has_ledger():
        return None
    return state.open_ledger(signing=False, sinks=True)


def run_doctor(args: argparse.Namespace) -> int:
    """What this machine can confine with, under the workspace's policy."""
    from codor.cli.main import codor_home, find_workspace, resolve_policy
    from codor.errors import SandboxError
    from codor.policy import load_engine
    from codor.sandbox.backends import choose_backend, report

    workspace = find_workspace(args.workspace)
    ref = resolve_policy(args.policy, workspace)
    engine = load_engine(ref, workspace=workspace, codor_home=str(codor_home(workspace)))
    settings = engine.policy.sandbox
    rows = report(settings)
    try:
        chosen: str | None = choose_backend(settings).backend.name
        problem = None
    except SandboxError as exc:
        chosen, problem = None, exc.one_line()
    if args.json:
        print(json.dumps({"policy": str(ref), "backend": chosen, "problem": problem,
                          "backends": [r.to_json() for r in rows]}, indent=2))
        return 0 if chosen else 1
    print(f"policy: {ref} (sandbox backend {settings.backend}, network {settings.network})")
    for r in rows:
        state = "available" if r.available else "unavailable"
        print(f"  {r.name:<11} {state:<11} {r.reason}")
        if r.available and r.missing:
            print(f"  {'':<11} lacks: {', '.join(r.missing)}")
    print(f"codor run would use: {chosen}" if chosen else f"codor run cannot run: {problem}")
    engine.close()
    return 0 if chosen else 1
