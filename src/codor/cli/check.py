"""``codor check``: one decision per input line, JSON Lines in and out; bad lines are reported
(one line on stderr, a deny on stdout) and skipped, and the exit status is then 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from codor.errors import CodorError, InputError

__all__ = ["run_check"]


def _lines(source: str) -> Iterator[tuple[str, str]]:
    """Yield (location, text) for every non-blank input line."""
    if source.lstrip().startswith("{"):
        yield "<argument>", source
        return
    opened: contextlib.AbstractContextManager[TextIO]
    if source == "-":
        name, opened = "<stdin>", contextlib.nullcontext(sys.stdin)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError("not a JSON action, '-' or a readable file", location=source)
        name, opened = source, path.open(encoding="utf-8", errors="surrogateescape")
    with opened as stream:
        for number, text in enumerate(stream, 1):
            if text.strip():
                yield f"{name}:{number}", text


def run_check(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_OK, EXIT_USAGE, codor_home, find_workspace, resolve_policy
    from codor.model import Action, Decision, Reason
    from codor.policy import load_engine

    workspace = find_workspace(args.workspace)
    engine = load_engine(resolve_policy(args.policy, workspace), workspace=workspace,
                         codor_home=str(codor_home(workspace)), tokens="workspace",
                         record=not args.no_record)
    kernel = _kernel(engine, workspace, record=not args.no_record)
    if kernel.ledger is not None:  # only a workspace with a ledger pays for this import
        from codor.ledger.retention import warn_if_large

        warn_if_large(kernel.ledger)  # the ledger size warning (CODOR_LEDGER_WARN_BYTES), once
    for warning in engine.policy.warnings:  # the policy loads, but something in it is suspect
        sys.stderr.write(f"codor: warning: {warning} (see `codor policy lint`)\n")
    to_action = _clawdstrike_reader() if args.format == "clawdstrike" else None
    bad = 0
    counts = {"allow": 0, "deny": 0, "ask": 0}
    out = sys.stdout
    try:
        for where, text in _lines(args.input):
            extra: dict[str, Any] = {}
            try:
                try:
                    data = json.loads(text)
                except ValueError as exc:
                    raise InputError(f"not valid JSON: {exc}", location=where) from None
                if to_action is not None:
                    if isinstance(data, dict) and "eventId" in data:
                        extra["eventId"] = data["eventId"]
                    action = to_action(data, location=where)
                else:
                    action = Action.from_json(data, location=where)
            except CodorError as exc:
                bad += 1
                sys.stderr.write(f"codor: {exc.one_line()}\n")
                decision = Decision("deny", (Reason(f"input.{exc.code}", None, "high",
                                                    exc.one_line()),),
                                    policy=engine.policy.sha256)
                extra["error"] = exc.to_json()
            else:
                decision = kernel.decide(action)
            counts[decision.decision] += 1
            if args.pretty:
                out.write(_pretty(where, text, decision) + "\n")
            else:
                out.write(json.dumps({**decision.to_json(), **extra}, ensure_ascii=False) + "\n")
            out.flush()
    finally:
        kernel.close()
    if args.pretty:
        total = sum(counts.values())
        out.write(f"{total} actions: {counts['allow']} allowed, {counts['deny']} denied, "
                  f"{counts['ask']} need approval"
                  + (f" ({bad} bad input line(s))" if bad else "")
                  + f" — policy {engine.policy.name} sha256:{engine.policy.sha256[:12]}\n")
    return EXIT_USAGE if bad else EXIT_OK


_MARK = {"allow": "ALLOW", "deny": "DENY ", "ask": "ASK  "}


def _pretty(where: str, text: str, decision: Any) -> str:
    """``DENY  command.exec  curl … | bash  — commands.pipe_to_shell: …``"""
    try:
        data = json.loads(text)
        kind = data.get("kind") or data.get("eventType") or "?"
        subject = next((str(data[k]) for k in ("path", "command", "url", "host", "tool", "text",
                                                "task", "mode")
                        if isinstance(data, dict) and data.get(k)), "")
    except (ValueError, AttributeError):
        kind, subject = "?", ""
    if len(subject) > 60:
        subject = subject[:57] + "..."
    reason = decision.reasons[0] if decision.reasons else None
    why = f"{reason.rule}: {reason.message}" if reason else ""
    more = f" (+{len(decision.reasons) - 1} more)" if len(decision.reasons) > 1 else ""
    return f"{_MARK[decision.decision]} {kind:<16} {subject:<60}  {why}{more}"


def _kernel(engine: Any, workspace: Path, *, record: bool) -> Any:
    """Decisions are recorded whenever the workspace has a ledger (``--no-record`` opts out)."""
    from codor.kernel import Kernel
    from codor.workspace import Workspace

    state = Workspace.at(workspace)
    # recording appends entries: no signing key needed (checkpoints are signed by
    # `codor ledger checkpoint` and the daemon), so the signing library is not imported
    ledger = state.open_ledger(signing=False, sinks=True) if record and state.has_ledger() \
        else None
    kernel = Kernel(engine, ledger, workspace=str(workspace))
    from codor.integrations.context import attach_workflow

    try:
        attach_workflow(kernel, state.home)
    except BaseException:
        kernel.close()
        raise
    return kernel


def _clawdstrike_reader() -> Any:
    from codor.integrations.clawdstrike import event_to_action

    return event_to_action
