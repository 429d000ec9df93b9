"""Shared helpers: fixture events, a `codor init` workspace, the real `codor hook` executable."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import run

FIXTURES = Path(__file__).parent / "fixtures"
HookRunner = Callable[..., subprocess.CompletedProcess[str]]


def sample(agent: str, name: str, workspace: Path, **changes: Any) -> dict[str, Any]:
    """The fixture event ``name`` of ``agent`` (``claude_code``, ``codex``, ``gemini``) in
    ``workspace``: ``cwd`` and ``transcript_path`` point there; ``changes`` replace fields and
    ``tool_input`` keys given as ``input__<key>``."""
    events = json.loads((FIXTURES / f"{agent}.json").read_text(encoding="utf-8"))
    event: dict[str, Any] = json.loads(json.dumps(events[name]))
    event["cwd"] = str(workspace)
    if event.get("transcript_path"):
        event["transcript_path"] = str(workspace / "transcript.jsonl")
    for key, value in changes.items():
        if key.startswith("input__"):
            event["tool_input"][key[len("input__"):]] = value
        else:
            event[key] = value
    return event


def records(workspace: Path, n: int = 50) -> list[dict[str, Any]]:
    """The last ``n`` ledger records of the workspace, oldest first."""
    out = run("ledger", "tail", "-n", str(n), cwd=workspace)
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["record"] for line in out.stdout.splitlines() if line.strip()]


def decisions(workspace: Path) -> list[dict[str, Any]]:
    return [r for r in records(workspace) if r["type"] == "decision"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    result = run("init", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def hook(workspace: Path) -> HookRunner:
    """Run ``codor hook <agent> [args]`` in the workspace with an event (dict or raw text)."""

    def runner(agent: str, event: dict[str, Any] | str, *args: str,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        stdin = event if isinstance(event, str) else json.dumps(event)
        result = run("hook", agent, *args, stdin=stdin, cwd=cwd or workspace,
                     env={"CODOR_HOOK_SERVER": "0"})
        assert "Traceback" not in result.stderr
        return result

    return runner


def answer(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The hook's JSON answer (exit 0 expected)."""
    assert result.returncode == 0, result.stderr
    value: dict[str, Any] = json.loads(result.stdout)
    return value


def permission(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """Claude Code / Codex PreToolUse answer: (permissionDecision, reason)."""
    out = answer(result)["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    return out["permissionDecision"], out["permissionDecisionReason"]
