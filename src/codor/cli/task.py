"""``codor task submit|list|show|cancel|run``: scheduled tasks (:mod:`codor.runtime.taskstore`)
in the workspace's state database — ``.codor/state.db``, or the one
``server.yaml``/``--state`` names, the same ``codor agent`` and the daemon use — so a
running daemon and its workers see them at once. A submission is checked against the
stored tasks (unknown dependency, id taken, dependency cycle) and written all or nothing;
every submission and cancellation is recorded in the workspace ledger (in the task's
session, ``codor-tasks`` by default) when the workspace has one. ``codor task run`` is a
worker (:mod:`codor.runtime.taskworker`) that runs them under the policy and the adaptive
executor until interrupted (or, with ``--until-idle``, until nothing is left to run)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codor.cli.agent import _read_document
from codor.cli.statectx import opened_state, who
from codor.errors import InputError

if TYPE_CHECKING:
    from codor.runtime.taskstore import StoredTask, TaskStore

__all__ = ["add_task_parser", "run_task"]

_CHANGES = ("submit", "cancel")


def add_task_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``codor task`` subcommands (called by :func:`codor.cli.main.build_parser`)."""
    task = sub.add_parser("task", help="submit, list, show or cancel scheduled tasks")
    tsub = task.add_subparsers(dest="task_command", parser_class=parser_class, required=True)
    submit = tsub.add_parser(
        "submit", help="submit a task: the command after --",
        description="Submit a task that runs ARGV (after --), or the tasks of a JSON file "
                    "(--file: a list of task objects, or {\"tasks\": [...]}).")
    submit.add_argument("argv", nargs="*", metavar="ARGV", help="the command, after --")
    submit.add_argument("--id", default=None, help="its id (default: a new t-... id)")
    submit.add_argument("--name", default=None, help="what it is for (default: the command)")
    submit.add_argument("--priority", "-p", type=int, default=None, metavar="P",
                        help="0 (most urgent) to 1000 (default 100)")
    submit.add_argument("--after", action="append", metavar="ID,ID",
                        help="tasks that must succeed first (repeat, or separate with commas)")
    submit.add_argument("--agent", default=None, help="the agent that runs it (default: any)")
    submit.add_argument("--retries", type=int, default=None, metavar="N",
                        help="retries after a failure, with backoff (default 0)")
    submit.add_argument("--session", default=None,
                        help="the ledger session its transitions go to (default codor-tasks)")
    submit.add_argument("--cwd", default=None, help="the directory it runs in")
    submit.add_argument("--no-preempt", action="store_true",
                        help="never pause or stop it for a more urgent task")
    submit.add_argument("--file", default=None, metavar="FILE",
                        help="submit the tasks of a JSON file (- for stdin) instead")
    submit.add_argument("--json", action="store_true", help="print the stored task(s) as JSON")
    tlist = tsub.add_parser("list", help="every task (optionally of one state or agent)")
    tlist.add_argument("--state", default=None,
                       choices=("pending", "ready", "running", "paused", "retry_wait",
                                "succeeded", "failed", "cancelled"))
    tlist.add_argument("--agent", default=None)
    tlist.add_argument("--json", action="store_true")
    show = tsub.add_parser("show", help="one task")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    cancel = tsub.add_parser("cancel", help="cancel a task and every task waiting for it")
    cancel.add_argument("id")
    cancel.add_argument("--reason", default=None, help="why (recorded in the ledger)")
    cancel.add_argument("--expect-version", type=int, default=None, metavar="N",
                        help="refuse unless the task is still at version N")
    run = tsub.add_parser(
        "run", help="run the tasks: a worker (policy-checked, supervised, recorded)",
        description="Run the workspace's tasks by priority and dependencies until Ctrl-C "
                    "(or --until-idle). Each task's command is decided as a command.exec of "
                    "its agent (deny or ask: the run fails), runs under the adaptive executor "
                    "with the limits below, and its outcome is recorded in its session.")
    run.add_argument("--until-idle", action="store_true",
                     help="stop when no task is waiting or running")
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="stop after S seconds at the latest")
    run.add_argument("--global-limit", type=int, default=4, metavar="N",
                     help="tasks running at once (default 4)")
    run.add_argument("--agent-limit", type=int, default=1, metavar="N",
                     help="tasks running at once per agent (default 1)")
    run.add_argument("--preemption", choices=("pause", "stop", "off"), default="pause",
                     help="what happens to a less urgent running task when a more urgent one "
                          "needs its slot (default pause)")
    run.add_argument("--aging", type=float, default=60.0, metavar="S",
                     help="seconds of waiting that gain one priority step (default 60)")
    run.add_argument("--backoff", type=float, default=1.0, metavar="S",
                     help="first retry delay, doubled per retry (default 1)")
    run.add_argument("--cpu-percent", type=float, default=None, metavar="P",
                     help="throttle a run's process tree above P%% of one core")
    run.add_argument("--memory-mb", type=float, default=None, metavar="MB",
                     help="kill a run whose process tree's RSS exceeds MB")
    run.add_argument("--wall-seconds", type=float, default=None, metavar="S",
                     help="stop a run after S seconds")
    run.add_argument("--sandbox", action="store_true",
                     help="run each task inside bubblewrap (the policy's sandbox settings, "
                          "network cut off)")
    run.add_argument("--policy", default=None, help="policy file or codor:<ruleset>")
    for p in (submit, tlist, show, cancel, run):
        p.add_argument("--workspace", "-w", default=None)
        p.add_argument("--state-db", dest="state_target", default=None, metavar="TARGET",
                       help="the state database (default: as `codor serve` finds it)")


def _who() -> str:
    return who("codor task")


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def _line(task: StoredTask, width: int = 0) -> str:
    return (f"{task.id:<{width}}  {task.state:<10}  p{task.spec.priority:<4}  "
            f"{task.spec.agent or '-':<12}  {task.spec.label}")


def _show(task: StoredTask) -> str:
    spec = task.spec
    lines = [f"id:          {task.id}", f"name:        {spec.label}",
             f"state:       {task.state}" + (f" ({task.reason})" if task.reason else ""),
             f"priority:    {spec.priority}", f"agent:       {spec.agent or '-'}",
             f"after:       {', '.join(spec.deps) or '-'}",
             f"command:     {' '.join(spec.argv) or '-'}", f"cwd:         {spec.cwd or '-'}",
             f"attempt:     {task.attempt} of {spec.max_retries + 1}",
             f"preemptible: {'yes' if spec.preemptible else 'no'}",
             f"session:     {spec.session or 'codor-tasks'}",
             f"submitted:   {_when(task.created)}", f"started:     {_when(task.started)}",
             f"ended:       {_when(task.ended)}", f"version:     {task.version}"]
    if task.due is not None:
        lines.insert(3, f"retry at:    {_when(task.due)}")
    return "\n".join(lines)


def run_task(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_OK, find_workspace
    from codor.runtime.taskstore import TaskStore
    from codor.server.settings import load_settings

    workspace = Path(find_workspace(args.workspace))
    if args.task_command == "run":
        settings = load_settings(workspace, state=args.state_target)
        return _work(args, workspace, settings.state_target, settings.home)
    with opened_state(workspace, args.state_target,
                      record=args.task_command in _CHANGES) as (db, kernel):
        _dispatch(args, TaskStore(db, kernel))
    return EXIT_OK


def _specs(args: argparse.Namespace) -> tuple[list[Any], bool]:
    """The tasks to submit, and whether they came as a batch (``--file``)."""
    from codor.runtime.scheduler import TaskSpec
    from codor.runtime.taskstore import new_task_id

    if args.file is not None:
        if args.argv:
            raise InputError("give either --file or a command after --, not both",
                             location="argv")
        document = _read_document(args.file)
        items = document.get("tasks") if isinstance(document, dict) else document
        if not isinstance(items, list):
            raise InputError("expected a list of tasks (or {\"tasks\": [...]})",
                             location=args.file)
        return [TaskSpec.from_json({"id": new_task_id(), **item} if isinstance(item, dict)
                                   else item, location=f"tasks[{i}]")
                for i, item in enumerate(items)], True
    data: dict[str, Any] = {"id": args.id or new_task_id(), "argv": args.argv,
                            "deps": [d.strip() for group in args.after or ()
                                     for d in group.split(",") if d.strip()],
                            "preemptible": not args.no_preempt}
    for field, value in (("name", args.name), ("priority", args.priority),
                         ("agent", args.agent), ("max_retries", args.retries),
                         ("session", args.session), ("cwd", args.cwd)):
        if value is not None:
            data[field] = value
    return [TaskSpec.from_json(data, location="task")], False


def _dispatch(args: argparse.Namespace, store: TaskStore) -> None:
    command, by = args.task_command, _who()
    if command == "submit":
        specs, batch = _specs(args)
        stored = store.submit(specs, by=by)
        if args.json:
            shown = [t.to_json() for t in stored]
            print(json.dumps(shown if batch else shown[0]))
        else:
            for task in stored:
                why = f": {task.reason}" if task.reason else ""
                print(f"submitted {task.id} ({task.state}{why})")
    elif command == "list":
        tasks = store.list(state=args.state, agent=args.agent)
        if args.json:
            print(json.dumps([t.to_json() for t in tasks]))
        else:
            width = max((len(t.id) for t in tasks), default=0)
            for task in tasks:
                print(_line(task, width))
    elif command == "show":
        task = store.get(args.id)
        print(json.dumps(task.to_json()) if args.json else _show(task))
    else:  # cancel
        done = store.cancel(args.id, by=by, reason=args.reason,
                            expected_version=args.expect_version)
        print(f"cancelled {done[0].id}")
        for task in done[1:]:
            print(f"cancelled {task.id} ({task.reason})")
        if len(done) > 1:
            print(f"{len(done) - 1} dependent task(s) cancelled with it", file=sys.stderr)


def _work(args: argparse.Namespace, workspace: Path, state_target: str, home: Path) -> int:
    """``codor task run``: a worker on the workspace's tasks, until Ctrl-C, SIGTERM or idle."""
    import math
    import signal

    from codor.cli.main import EXIT_OK, EXIT_USAGE
    from codor.integrations.context import open_kernel
    from codor.runtime.supervisor import Limits
    from codor.runtime.taskstore import TaskStore
    from codor.runtime.taskworker import TaskWorker
    from codor.statedb import StateDB

    for flag, value in (("--memory-mb", args.memory_mb), ("--cpu-percent", args.cpu_percent),
                        ("--wall-seconds", args.wall_seconds)):
        if value is not None and not (math.isfinite(value) and value > 0):
            print(f"codor: {flag} must be a positive number [E_USAGE]", file=sys.stderr)
            return EXIT_USAGE
    if args.global_limit < 1 or args.agent_limit < 1:
        print("codor: --global-limit and --agent-limit must be at least 1 [E_USAGE]",
              file=sys.stderr)
        return EXIT_USAGE
    limits = Limits(cpu_percent=args.cpu_percent,
                    memory_bytes=None if args.memory_mb is None else int(args.memory_mb * 2**20),
                    wall_seconds=args.wall_seconds)
    kernel = open_kernel(workspace, policy=args.policy, remote=False)
    db = StateDB.open(state_target)
    sandbox = kernel.engine.policy.sandbox if args.sandbox else None
    try:
        worker = TaskWorker(
            TaskStore(db, kernel), kernel, workspace=workspace, home=home, limits=limits,
            sandbox=sandbox, by=_who(), on_progress=lambda text: print(text, flush=True),
            global_limit=args.global_limit, agent_limit=args.agent_limit,
            preemption=args.preemption, aging_interval=args.aging, backoff_base=args.backoff)
        previous = signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        try:
            counts = worker.run(until_idle=args.until_idle, timeout=args.timeout)
        except KeyboardInterrupt:
            counts = worker.counters
        finally:
            signal.signal(signal.SIGTERM, previous)
            worker.close()
        print(f"runs: {counts.started} started, {counts.succeeded} succeeded, "
              f"{counts.failed} failed, {counts.refused} refused, {counts.stopped} stopped",
              file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            kernel.close()
        db.close()
    return EXIT_OK
