"""A real workspace for the SDK: ``.codor/`` made by ``Workspace.init`` (a signed SQLite
ledger), a policy written for these tests, the process's cwd inside it; records are read back
from the ledger file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codor.evidence.events import EventRecord
from codor.evidence.records import DecisionRecord, OutcomeRecord
from codor.integrations.sdk import guard as guard_module
from codor.workspace import Workspace
from tests.test_kernel import records

#: Reads and writes inside the workspace (never .env or secret*); ls and echo run; one host;
#: tools allowed unless named shell_exec / danger_* (denied) or git_push (a person decides).
POLICY = """\
version: 1
rules:
  - id: workflow-events
    "on": [workflow.*]
    effect: allow
    reason: task bookkeeping is recorded
guards:
  paths:
    deny: ["**/.env", "**/secret*"]
    read: {allow: ["${WORKSPACE}/**"]}
    write: {allow: ["${WORKSPACE}/**"]}
  commands:
    allow: [ls, echo]
    default: deny
  egress:
    allow: [example.org]
    default: deny
  tools:
    deny: [shell_exec, "danger_*"]
    ask: [git_push]
    default: allow
"""


# The tools the adapter tests wrap (LangChain ``@tool``, OpenAI ``@function_tool``). They
# work in the current directory, the workspace: a file on disk shows that a call ran.
def write_note(name: str, text: str) -> str:
    """Write a note into the workspace."""
    Path(name).write_text(text)
    return f"wrote {name}"


def shell_exec(command: str) -> str:
    """Run a shell command."""
    Path("pwned").write_text(command)
    return "ran"


def git_push(remote: str) -> str:
    """Push to a remote."""
    Path("pushed").write_text(remote)
    return "pushed"


@dataclass
class Space:
    root: Path
    workspace: Workspace

    def records(self) -> list[object]:
        return records(self.workspace)

    def decisions(self, session: str | None = None) -> list[DecisionRecord]:
        return [r for r in self.records() if isinstance(r, DecisionRecord)
                and (session is None or r.session == session)]

    def outcomes(self, session: str | None = None) -> list[OutcomeRecord]:
        return [r for r in self.records() if isinstance(r, OutcomeRecord)
                and (session is None or r.session == session)]

    def events(self, session: str | None = None) -> list[EventRecord]:
        return [r for r in self.records() if isinstance(r, EventRecord)
                and (session is None or r.session == session)]

    def verify(self) -> bool:
        ledger = self.workspace.open_ledger(signing=False)
        try:
            return ledger.verify().ok
        finally:
            ledger.close()


@pytest.fixture
def space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Space]:
    monkeypatch.delenv("CODOR_HOME", raising=False)
    root = tmp_path / "ws"
    root.mkdir()
    workspace = Workspace.at(root)
    workspace.init(key_name="sdk-test")
    workspace.policy_path.write_text(POLICY, encoding="utf-8")
    monkeypatch.chdir(root)
    yield Space(root, workspace)
    # a test that reached the process-wide default guard must not leak it to the next one
    default = guard_module._DEFAULT
    if default is not None:
        default.close()
        guard_module._DEFAULT = None
