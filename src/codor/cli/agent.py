"""``codor agent register|list|show|pause|resume|stop|export|import``: the agent registry
(:mod:`codor.runtime.registry`) in the workspace's state database — ``.codor/state.db``, or
the one ``server.yaml``/``--state`` names, the same the daemon uses — so a running daemon
sees these changes at once. Every change is recorded in the workspace ledger (session
``codor-admin``) when the workspace has one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codor.cli.statectx import opened_state, user_name, who
from codor.errors import InputError

if TYPE_CHECKING:
    from codor.runtime.registry import Agent, Registry

__all__ = ["run_agent"]

_CHANGES = ("register", "pause", "resume", "stop", "import")


def _line(agent: Agent) -> str:
    caps = ",".join(agent.capabilities) or "-"
    return (f"{agent.id}  {agent.role:<12}  {agent.status:<12}  v{agent.version:<4}  "
            f"{agent.owner}  [{caps}]")


def _show(agent: Agent) -> str:
    return "\n".join([f"id:           {agent.id}", f"role:         {agent.role}",
                      f"owner:        {agent.owner}",
                      f"capabilities: {', '.join(agent.capabilities) or '-'}",
                      f"status:       {agent.status}"
                      + (f" (was {agent.previous})" if agent.previous else ""),
                      f"version:      {agent.version}"])


def _read_document(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}", location=name) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", location=name) from None


def run_agent(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_OK, find_workspace
    from codor.runtime.registry import Registry

    workspace = Path(find_workspace(args.workspace))
    with opened_state(workspace, args.state, record=args.agent_command in _CHANGES) as (db, kernel):
        _dispatch(args, Registry(db, kernel))
    return EXIT_OK


def _dispatch(args: argparse.Namespace, registry: Registry) -> None:
    command, by = args.agent_command, who("codor agent")
    if command == "register":
        caps = [c for group in args.capability or () for c in group.split(",") if c]
        agent = registry.register(args.id, args.role, args.owner or user_name(), caps,
                                  by=by)
        print(f"registered {agent.id} ({agent.role}, owner {agent.owner})")
    elif command == "list":
        agents = registry.list(status=args.status, role=args.role)
        if args.json:
            print(json.dumps([a.to_json() for a in agents]))
        else:
            for agent in agents:
                print(_line(agent))
    elif command == "show":
        agent = registry.get(args.id)
        print(json.dumps(agent.to_json()) if args.json else _show(agent))
    elif command in ("pause", "resume", "stop"):
        verb = getattr(registry, command)
        agent = verb(args.id, expected_version=args.expect_version, by=by, reason=args.reason)
        print(f"{agent.id}: {agent.status} (version {agent.version})")
    elif command == "export":
        document = registry.export()
        text = json.dumps(document, indent=2) + "\n"
        if args.file == "-":
            sys.stdout.write(text)
        else:
            from codor.atomicfile import write_atomic

            try:
                write_atomic(args.file, text.encode(), mode=0o644)
            except OSError as exc:
                raise InputError(f"cannot write {args.file}: {exc.strerror}",
                                 location=args.file) from None
            print(f"exported {len(document['agents'])} agent(s) to {args.file}",
                  file=sys.stderr)
    else:  # import
        done = registry.import_agents(_read_document(args.file), replace=args.replace, by=by)
        print(f"imported {len(done)} agent(s)")

