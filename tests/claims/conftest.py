"""A recorded agent session in a real git repository: commands really run (their real output
and exit status recorded the way a harness reports them), files really written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.claims import Report, verify
from codor.evidence.records import StreamSummary, now_us
from codor.kernel import Kernel
from codor.model import Action
from codor.policy import compile_ref
from codor.policy.claims_section import ClaimsSettings
from codor.policy.engine import Engine
from codor.workspace import Workspace

OLD = "2020-01-01T00:00:00+00:00"


def git(root: Path, *args: str, date: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.com",
               GIT_COMMITTER_NAME="dev", GIT_COMMITTER_EMAIL="dev@example.com")
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


class Session:
    """One agent session recorded in ``root``'s ledger."""

    def __init__(self, root: Path, kernel: Kernel, session: str) -> None:
        self.root, self.kernel, self.id = root, kernel, session
        self.agent = {"id": "claude-code"}
        kernel.session(session)

    def run(self, command: str, *, observer: str = "claude-code-harness",
            status: bool = True) -> int:
        """Run ``command`` for real (bash, in the repository) and record it as the harness
        does; returns the decision's ledger index."""
        action = Action.create("command.exec", command=command, session=self.id,
                               agent=self.agent, cwd=str(self.root))
        decision, index = self.kernel.decide_and_index(action)
        assert index is not None
        if decision.decision != "allow":
            return index
        started = now_us()
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.path.dirname(
            sys.executable) + os.pathsep + os.environ.get("PATH", "")}
        done = subprocess.run(["bash", "-c", command], cwd=self.root, capture_output=True,
                              env=env, check=False, timeout=120)
        self.kernel.record_outcome(action, index, started=started, ended=now_us(),
                                   exit_status=done.returncode if status else None,
                                   stdout=StreamSummary.of(done.stdout),
                                   stderr=StreamSummary.of(done.stderr),
                                   observer=observer)  # type: ignore[arg-type]
        return index

    def write(self, path: str, content: str) -> int:
        import hashlib

        action = Action.create("file.write", path=str(self.root / path), content=content,
                               session=self.id, agent=self.agent)
        decision, index = self.kernel.decide_and_index(action)
        assert index is not None and decision.decision == "allow", decision
        started = now_us()
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        self.kernel.record_outcome(
            action, index, started=started, ended=now_us(),
            products={str(target): hashlib.sha256(content.encode()).hexdigest()},
            observer="claude-code-harness")
        return index

    def verify(self, report: str, **settings: Any) -> Report:
        assert self.kernel.ledger is not None
        return verify(self.kernel.ledger, self.id, report, workspace=self.root,
                      settings=ClaimsSettings(**settings))


PROJECT = {
    "src/__init__.py": "",
    "src/calc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "tests/__init__.py": "",
    "tests/test_calc.py": (
        "from src.calc import add, sub\n\n\n"
        "def test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_sub():\n    assert sub(5, 3) == 2\n\n\n"
        "def test_add_negative():\n    assert add(-1, -1) == -2\n"),
    ".gitignore": "__pycache__/\n.pytest_cache/\n.codor/\n",
}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A session in a git repository holding a small pytest project (3 passing tests),
    committed before the session began."""
    root = tmp_path / "repo"
    root.mkdir()
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base", date=OLD)
    ws = Workspace(root, root / ".codor")
    ws.init(key_name="test")
    engine = Engine(compile_ref("codor:coding-assistant", workspace=str(root),
                                home=str(tmp_path / "home"), env={}))
    kernel = Kernel(engine, ws.open_ledger(), workspace=str(root))  # as open_kernel does
    try:
        yield Session(root, kernel, "s-test")
    finally:
        kernel.close()
