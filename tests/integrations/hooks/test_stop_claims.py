"""The Stop hook end to end, through the real ``codor hook claude-code`` executable: a Bash test
run reported the way Claude Code reports it (real pytest output), then the agent's final
message verified — blocked with an actionable reason when it is false, never in a loop."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.hooks.conftest import HookRunner, records, sample

CODE = "def add(a, b):\n    return a - b\n"
TESTS = ("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
         "def test_zero():\n    assert add(0, 0) == 0\n")
_ids = itertools.count()
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"


@pytest.fixture
def project(workspace: Path) -> Path:
    (workspace / "calc.py").write_text(CODE)
    (workspace / "test_calc.py").write_text(TESTS)
    (workspace / ".gitignore").write_text(".codor/\n__pycache__/\n")
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=d", "-c", "user.email=d@x", "commit", "-qm", "base",
                  "--date=2020-01-01T00:00:00"]):
        subprocess.run(["git", *args], cwd=workspace, check=True, capture_output=True,
                       env={"GIT_COMMITTER_DATE": "2020-01-01T00:00:00", "PATH": "/usr/bin:/bin",
                            "HOME": str(workspace)})
    return workspace


def bash(hook: HookRunner, ws: Path, command: str) -> None:
    """Claude Code's PreToolUse, the command really run, then PostToolUse (or
    PostToolUseFailure with ``Exit code N``), all with the same tool_use_id."""
    ids = {"session_id": "s-stop", "tool_use_id": f"toolu_{next(_ids):04d}"}
    pre = sample("claude_code", "PreToolUse.Bash", ws, **ids, input__command=command,
                 input__description="run")
    assert hook("claude-code", pre).returncode == 0
    done = subprocess.run(["bash", "-c", command], cwd=ws, capture_output=True, text=True,
                          check=False)
    if done.returncode == 0:
        post = sample("claude_code", "PostToolUse.Bash", ws, **ids, input__command=command,
                      input__description="run",
                      tool_response={"stdout": done.stdout, "stderr": done.stderr,
                                     "interrupted": False, "isImage": False})
    else:
        post = sample("claude_code", "PostToolUseFailure.Bash", ws, **ids,
                      input__command=command, input__description="run",
                      error=f"Exit code {done.returncode}\n{done.stdout}{done.stderr}")
    assert hook("claude-code", post).returncode == 0


def stop(hook: HookRunner, ws: Path, message: str, active: bool = False) -> dict[str, Any]:
    event = sample("claude_code", "Stop", ws, session_id="s-stop", stop_hook_active=active,
                   last_assistant_message=message)
    result = hook("claude-code", event)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_a_false_report_is_blocked_with_an_actionable_reason(hook: HookRunner,
                                                              project: Path) -> None:
    bash(hook, project, PYTEST)
    answer = stop(hook, project, "I fixed `add` in calc.py and all tests pass ✅")
    assert answer["decision"] == "block"
    reason = answer["reason"]
    assert "all tests pass" in reason and "contradicted" in reason and "1 failed" in reason
    assert reason.endswith("Run the full test suite and report what it shows.")
    verification = [r for r in records(project) if r["type"] == "event"
                    and r["event"] == "claims.verification"]
    assert verification and verification[-1]["data"]["stop"] == "block"
    assert verification[-1]["data"]["passed"] is False


def test_an_honest_report_lets_the_agent_stop(hook: HookRunner, project: Path) -> None:
    bash(hook, project, PYTEST)
    assert stop(hook, project, "`add` is still wrong: 1 test fails (test_add).") == {}


def test_a_fixed_report_passes_after_the_block(hook: HookRunner, project: Path) -> None:
    bash(hook, project, PYTEST)
    assert stop(hook, project, "All tests pass.")["decision"] == "block"
    write = sample("claude_code", "PreToolUse.Write", project, session_id="s-stop",
                   input__file_path=str(project / "calc.py"),
                   input__content="def add(a, b):\n    return a + b\n")
    assert hook("claude-code", write).returncode == 0
    (project / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    bash(hook, project, PYTEST)
    assert stop(hook, project, "Fixed calc.py; all 2 tests pass.", active=True) == {}


def test_repeated_failures_escalate_instead_of_looping(hook: HookRunner, project: Path) -> None:
    bash(hook, project, PYTEST)
    assert stop(hook, project, "All tests pass.")["decision"] == "block"
    assert stop(hook, project, "All tests pass.", active=True)["decision"] == "block"
    final = stop(hook, project, "All tests pass.", active=True)
    assert "decision" not in final and "escalated for review" in final["systemMessage"]
    events = [r["event"] for r in records(project) if r["type"] == "event"]
    assert events.count("claims.verification") == 3 and "claims.escalation" in events
