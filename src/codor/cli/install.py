"""``codor install|uninstall claude-code|codex|gemini``: put CODOR's hooks in an agent's
settings file, or take them out (the work is :mod:`codor.integrations.installers`)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codor.integrations.installers import Plan

__all__ = ["run_install"]


def run_install(args: argparse.Namespace) -> int:
    from codor.integrations import installers

    workspace = Path(args.workspace or ".").absolute()
    path = installers.settings_path(args.agent, user=bool(args.user), workspace=workspace)
    executable = ""
    if args.command == "install":
        executable = installers.find_codor_executable()
        plan = installers.plan_install(path, args.agent, executable)
    else:
        plan = installers.plan_uninstall(path, args.agent)
    if args.dry_run:
        _print_dry_run(plan)
        return 0
    backup = installers.apply_plan(plan)
    if args.command == "install":
        _report_install(plan, args.agent, installers.codor_command(executable, args.agent),
                        backup)
        _print_how_to_check(args.agent, None if args.user else workspace)
    else:
        _report_uninstall(plan, args.agent, backup)
    return 0


def _print_dry_run(plan: Plan) -> None:
    what = "be written" if plan.changed else "stay as it is"
    sys.stderr.write(f"codor: dry run, nothing written: {plan.path} would {what}\n")
    sys.stdout.write(plan.text)


def _report_install(plan: Plan, agent: str, command: str, backup: Path | None) -> None:
    from codor.integrations.installers import spec_for

    spec = spec_for(agent)
    if not plan.changed:
        print(f"CODOR's hooks for {agent} are already installed in {plan.path}; nothing changed")
        return
    events = ", ".join(event.name for event in spec.events)
    print(f"installed CODOR's hooks for {agent} in {plan.path} ({events}); "
          "they take effect in the agent's next session")
    print(f"each runs: {command}")
    if backup is not None:
        print(f"previous file kept as {backup}")
    if spec.note:
        print(f"note: {spec.note}")


def _report_uninstall(plan: Plan, agent: str, backup: Path | None) -> None:
    if not plan.changed:
        print(f"CODOR's hooks for {agent} are not installed in {plan.path}; nothing changed")
        return
    print(f"removed CODOR's hooks for {agent} from {plan.path}")
    if backup is not None:
        print(f"previous file kept as {backup}")


def _print_how_to_check(agent: str, workspace: Path | None) -> None:
    """One line on how to see the hooks work, and whether decisions will be recorded."""
    from codor.workspace import Workspace

    if workspace is None:
        print(f"check: in a project with a ledger (`codor init`), `codor ledger tail` shows a "
              f"decision after {agent}'s next tool call")
        return
    state = Workspace.at(workspace)
    if not state.has_ledger():
        print(f"note: {workspace} has no ledger ({state.ledger_path} is missing): decisions will "
              "not be recorded until you run `codor init` there")
    print(f"check: after {agent}'s next tool call, "
          f"`codor ledger tail -w {shlex.quote(str(workspace))}` shows its decision")
