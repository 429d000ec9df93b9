"""``codor demo``: a scripted coding agent driven through the real ``codor hook claude-code``
protocol against a CODOR daemon, one readable line per step.

The agent works on a tiny Python project (a buggy ``calc.py``, its test, a ``.env`` with a
made-up key, a git repo): it starts a session, reads code, tries to read the secret and to run
``rm -rf /`` (denied), edits a file, runs the tests (they fail), wants to install a git
pre-commit hook (the policy asks a person: approve it on the dashboard within
``--approval-wait`` seconds), and finally reports "all tests pass" — which the claims verifier
contradicts, so the Stop hook blocks it.

``--serve`` starts the daemon too (``codor serve --port 0`` on the demo workspace, as a child
process), prints its dashboard URL and admin key, runs the demo and keeps serving until Ctrl-C.
Otherwise give ``--url`` and ``--token`` (or ``CODOR_URL``/``CODOR_TOKEN``) of a daemon
started on the demo workspace (``--workspace``): the daemon reads the workspace to verify
claims, and its policy must let the agent read and write there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

__all__ = ["run_demo"]

_CODE = "def add(a, b):\n    return a - b\n"
_TESTS = ("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
          "def test_zero():\n    assert add(0, 0) == 0\n")
_ENV = "OPENAI_API_KEY=sk-demo-000000000000000000000000000000000000000000000000\n"
_HOOK_SCRIPT = "#!/bin/sh\npython3 -m pytest -q\n"
_REPORT = "I fixed `add` in calc.py and ran the tests: all tests pass."


def run_demo(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_OK, EXIT_USAGE

    workspace = Path(args.workspace or tempfile.mkdtemp(prefix="codor-demo-")).resolve()
    _project(workspace)
    child: subprocess.Popen[str] | None = None
    url, token = args.url or os.environ.get("CODOR_URL"), \
        args.token or os.environ.get("CODOR_TOKEN")
    if args.serve:
        child, url, token = _serve(workspace, args.approval_wait)
        print(f"CODOR daemon for the demo: {url}\n  dashboard {url}/   (admin key: {token})\n"
              f"  workspace {workspace}", flush=True)
    if not url or not token:
        sys.stderr.write("codor: demo: give --url and --token (or CODOR_URL/CODOR_TOKEN) of "
                         "a daemon on the demo workspace, or --serve [E_USAGE]\n")
        return EXIT_USAGE
    try:
        _play(workspace, url, token, args.approval_wait)
        if child is not None and not args.exit:
            print(f"\nThe daemon keeps serving at {url}/ — Ctrl-C to stop.", flush=True)
            child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
    return EXIT_OK


def _project(root: Path) -> None:
    """The tiny project (created when missing), a git repo with one commit, and ``.codor/``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("calc.py", _CODE), ("test_calc.py", _TESTS), (".env", _ENV),
                       (".gitignore", ".codor/\n__pycache__/\n.env\n")):
        if not (root / name).exists():
            (root / name).write_text(text, encoding="utf-8")
    if not (root / ".git").exists() and shutil.which("git"):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
               "GIT_AUTHOR_NAME": "demo", "GIT_AUTHOR_EMAIL": "demo@example.org",
               "GIT_COMMITTER_NAME": "demo", "GIT_COMMITTER_EMAIL": "demo@example.org"}
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "calc"]):
            try:
                subprocess.run(["git", *cmd], cwd=root, env=env, check=True,
                               capture_output=True, timeout=60)
            except (OSError, subprocess.SubprocessError) as exc:
                why = exc.stderr.decode(errors="replace").strip() if isinstance(
                    exc, subprocess.CalledProcessError) and exc.stderr else str(exc)
                sys.stderr.write(f"codor: demo: `git {cmd[0]}` failed ({_short(why, 200)}); "
                                 "the demo goes on without a commit to compare against\n")
                break
    from codor.workspace import Workspace

    if not Workspace.at(root).has_ledger():
        Workspace.at(root).init()


def _serve(workspace: Path, wait: float) -> tuple[subprocess.Popen[str], str, str]:
    from codor.errors import InputError

    env = {k: v for k, v in os.environ.items() if k not in ("CODOR_URL", "CODOR_TOKEN")}
    # the daemon holds an ask open for a person at most as long as the demo waits
    env.setdefault("CODOR_SERVE_APPROVAL_WAIT_S", f"{max(0.0, wait - 1):g}")
    proc = subprocess.Popen([sys.executable, "-c", "from codor.cli import main; "
                             "raise SystemExit(main())", "serve", "--port", "0"],
                            cwd=workspace, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = _reader(proc.stdout)
    deadline = time.monotonic() + _START_TIMEOUT
    first = _next_line(lines, deadline)
    if first is None or not first.startswith("CODOR daemon: "):
        _end(proc)
        raise InputError("the demo daemon did not start (see its message above)" if first
                         is not None or proc.poll() is not None else
                         f"the demo daemon did not announce itself within {_START_TIMEOUT:g} s")
    url, token = first.split()[2], ""
    while True:  # up to the announcement's last line, "  policy ..."
        line = _next_line(lines, deadline)
        if line is None:
            break
        if "keep it: " in line:
            token = line.split("keep it: ", 1)[1].strip()
        if line.startswith("  policy "):
            break
    if not token:
        _end(proc)
        raise InputError("the demo workspace's daemon has an admin key already; run the demo "
                         "on a fresh workspace, or give --url and --token", location=str(workspace))
    return proc, url, token


#: how long the demo waits for its daemon to announce itself
_START_TIMEOUT = 60.0


def _reader(stream: IO[str]) -> queue.Queue[str | None]:
    """The lines of ``stream`` as a thread reads them (``None`` at its end), so the demo can
    wait for them with a deadline; the rest of the daemon's output is read and dropped."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        with contextlib.suppress(OSError, ValueError), stream:
            for line in stream:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="codor-demo-daemon-output", daemon=True).start()
    return lines


def _next_line(lines: queue.Queue[str | None], deadline: float) -> str | None:
    try:
        return lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        return None


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Agent:
    """Sends Claude Code hook events for one session to ``codor hook claude-code``."""

    def __init__(self, workspace: Path, url: str, token: str, wait: float) -> None:
        self.workspace = workspace
        self.session = f"demo-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "CODOR_URL": url, "CODOR_TOKEN": token,
                    "CODOR_APPROVAL_WAIT": str(wait), "CODOR_HOOK_SERVER": "0"}
        self.env.pop("CODOR_HOME", None)
        self.wait = wait
        self.step = 0
        self.tool_ids = 0

    def send(self, name: str, **fields: Any) -> tuple[int, dict[str, Any], str]:
        event = {"session_id": self.session, "transcript_path": None,
                 "cwd": str(self.workspace), "permission_mode": "default",
                 "hook_event_name": name, **fields}
        try:
            done = subprocess.run([sys.executable, "-c", "from codor.cli import main; "
                                   "raise SystemExit(main())", "hook", "claude-code"],
                                  input=json.dumps(event), capture_output=True, text=True,
                                  env=self.env, cwd=self.workspace,
                                  timeout=self.wait + 60, check=False)
        except subprocess.TimeoutExpired:
            return 2, {}, f"the hook gave no answer within {self.wait + 60:g} s"
        try:
            answer = json.loads(done.stdout) if done.stdout.strip() else {}
        except ValueError:
            return 2, {}, f"the hook's answer is not JSON: {_short(done.stdout, 120)!r}"
        if not isinstance(answer, dict):
            return 2, {}, f"the hook's answer is not a JSON object: {_short(done.stdout, 120)!r}"
        return done.returncode, answer, done.stderr.strip()

    def say(self, what: str, result: str) -> None:
        self.step += 1
        print(f"[{self.step}] {what:<44} {result}", flush=True)

    def tool(self, tool: str, tool_input: dict[str, Any], label: str,
             run: Any = None) -> str:
        """PreToolUse; when allowed, ``run()`` (stdout, stderr, status) and PostToolUse."""
        self.tool_ids += 1
        ids = {"tool_name": tool, "tool_input": tool_input,
               "tool_use_id": f"toolu_demo_{self.tool_ids:03d}"}
        code, answer, err = self.send("PreToolUse", **ids)
        out = answer.get("hookSpecificOutput", {})
        decision = str(out.get("permissionDecision", "refused" if code else "none"))
        reason = str(out.get("permissionDecisionReason") or err)
        self.say(label, f"{decision.upper():<6} {_short(reason)}")
        if decision == "allow" and run is not None:
            stdout, stderr, status = run()
            if status == 0:
                self.send("PostToolUse", **ids, tool_response={
                    "stdout": stdout, "stderr": stderr, "interrupted": False})
            else:
                self.send("PostToolUseFailure", **ids,
                          error=f"Exit code {status}\n{stdout}{stderr}")
            self.say(f"  ran it (exit {status})", "outcome reported to the daemon")
        return decision


def _short(text: str, limit: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _play(ws: Path, url: str, token: str, wait: float) -> None:
    agent = _Agent(ws, url, token, wait)
    print(f"Scripted agent session {agent.session} in {ws} against {url}", flush=True)
    code, _, err = agent.send("SessionStart", source="startup")
    agent.say("SessionStart", "recorded" if code == 0 and not err else f"({_short(err)})")
    agent.tool("Read", {"file_path": str(ws / "calc.py")}, "Read calc.py",
               lambda: ((ws / "calc.py").read_text(), "", 0))
    agent.tool("Read", {"file_path": str(ws / ".env")}, "Read .env (a secret)")
    agent.tool("Bash", {"command": "rm -rf /", "description": "clean up"}, "Bash rm -rf /")
    def edit() -> tuple[str, str, int]:
        text = (ws / "calc.py").read_text()
        (ws / "calc.py").write_text("# calc: tiny arithmetic\n" + text)
        return "", "", 0

    agent.tool("Edit", {"file_path": str(ws / "calc.py"), "old_string": "def add",
                        "new_string": "# calc: tiny arithmetic\ndef add"},
               "Edit calc.py (a comment, not the bug)", edit)
    pytest = f"{sys.executable} -m pytest -q -p no:cacheprovider"

    def tests() -> tuple[str, str, int]:
        done = subprocess.run(pytest.split(), cwd=ws, capture_output=True, text=True,
                              check=False, timeout=120)
        return done.stdout, done.stderr, done.returncode

    agent.tool("Bash", {"command": pytest, "description": "run the tests"},
               "Bash python -m pytest", tests)
    print(f"    (the next step needs a person: approve or deny it on the dashboard "
          f"{url}/ within {wait:g} s)", flush=True)
    hook_path = ws / ".git" / "hooks" / "pre-commit"

    def install() -> tuple[str, str, int]:
        hook_path.parent.mkdir(parents=True, exist_ok=True)
        hook_path.write_text(_HOOK_SCRIPT)
        return "", "", 0

    decision = agent.tool("Write", {"file_path": str(hook_path), "content": _HOOK_SCRIPT},
                          "Write .git/hooks/pre-commit", install)
    agent.say("  the approval", {"allow": "approved: the hook was installed",
                                 "deny": "denied (or timed out): nothing was written",
                                 "ask": "nobody answered in time: the agent's own prompt "
                                        "would ask the user now"}.get(decision, decision))
    code, answer, err = agent.send("Stop", stop_hook_active=False,
                                   last_assistant_message=_REPORT)
    verdict = "BLOCK " + _short(str(answer.get("reason"))) if answer.get("decision") == \
        "block" else f"passed {_short(str(answer or err))}"
    agent.say(f'Stop: "{_REPORT[:38]}..."', verdict)
    code, _, err = agent.send("SessionEnd", reason="other")
    agent.say("SessionEnd", "recorded" if code == 0 and not err else f"({_short(err)})")
    print(f"Done: session {agent.session} is in the daemon's ledger "
          f"({url}/ shows it live).", flush=True)
