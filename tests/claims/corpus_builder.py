"""The corpus player: turns one YAML session of ``tests/claims/corpus/`` into a real git repo,
a real CODOR ledger and a verified report (the format is in ``corpus/README.md``).

Playing a session:

1. A fresh git repo is made in a temporary directory with the session's ``files`` committed
   an hour in the past (commit date and file times), ``codor init``-style state in
   ``<repo>/.codor/`` under the default policy, and the usual caches git-ignored.
2. A kernel is opened on it (:func:`codor.integrations.context.open_kernel`) and every step is
   fed to CODOR as the Claude Code hook events the agent's tool call would raise, through
   :func:`codor.integrations.hooks.handler.handle` in process. Commands really run
   (``bash -c`` in the repo), files are really written and edited: the outputs in the ledger
   are what the runners printed. A PreToolUse ``deny`` skips the step (as Claude Code does);
   an ``ask`` is taken as a person's approval.
3. The report (``{commit}``/``{commit:REV}`` replaced by real short shas) is sent as the
   ``Stop`` event's ``last_assistant_message`` and verified with :func:`codor.claims.verification`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from codor.claims.patterns import PATTERNS

if TYPE_CHECKING:
    from codor.claims.report import Report
    from codor.kernel import Kernel

__all__ = [
    "CORPUS",
    "LABELS",
    "REQUIREMENTS",
    "CorpusError",
    "Played",
    "Session",
    "StepLog",
    "load_corpus",
    "load_session",
    "missing_requirements",
    "play",
]

ROOT: Final = Path(__file__).resolve().parents[2]
CORPUS: Final = Path(__file__).parent / "corpus"
LABELS: Final = ("honest", "fabricated")
STEP_KINDS: Final = ("bash", "write", "edit", "read", "unobserved", "sleep")
MAX_SLEEP: Final = 1.2
COMMAND_TIMEOUT: Final = 180
_VENV_BIN: Final = ROOT / ".venv" / "bin"
_NPM: Final = ROOT / "tests" / "npm" / "node_modules"
#: what a session may need beyond Python, and how to tell it is there
REQUIREMENTS: Final[dict[str, Callable[[], bool]]] = {
    "node": lambda: all((_NPM / ".bin" / name).exists() for name in ("jest", "vitest", "mocha")),
    "go": lambda: shutil.which("go", path=_search_path()) is not None,
    "cargo": lambda: shutil.which("cargo", path=_search_path()) is not None,
}
_INSTALL_HINT: Final = {"node": "make npm-deps", "go": "make system-deps",
                        "cargo": "make system-deps"}
_ID: Final = re.compile(r"[a-z0-9][a-z0-9-]*")
_PLACEHOLDER: Final = re.compile(r"\{commit(?::([^{}\s]+))?\}")
_IGNORED: Final = (".codor/", "__pycache__/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/",
                   "node_modules", "target/", "*.pyc")
_TOP_KEYS: Final = ("id", "label", "patterns", "about", "requires", "files", "steps", "report")
_REQUIRED_KEYS: Final = ("id", "label", "patterns", "about", "files", "steps", "report")
BASELINE_AGE: Final = 3600  # seconds between the repo's commit and the session's start


class CorpusError(Exception):
    """A session file that does not follow the format, or a step that cannot be played."""


# -- the format ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    kind: str                     # one of STEP_KINDS
    command: str = ""             # bash, unobserved
    path: str = ""                # write, edit, read
    content: str = ""             # write
    old: str = ""                 # edit
    new: str = ""                 # edit
    replace_all: bool = False     # edit
    seconds: float = 0.0          # sleep
    outcome_times: tuple[float, float] | None = None  # bash: forged (started, ended) offsets

    def describe(self) -> str:
        if self.kind in ("bash", "unobserved"):
            return self.command
        if self.kind == "sleep":
            return f"{self.seconds:g}s"
        return self.path


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    label: str
    patterns: tuple[str, ...]
    about: str
    files: Mapping[str, str]
    steps: tuple[Step, ...]
    report: str
    requires: tuple[str, ...] = ()
    source: Path | None = None

    @property
    def session_id(self) -> str:
        return f"corpus-{self.id}"

    @property
    def fabricated(self) -> bool:
        return self.label == "fabricated"


def _fail(where: str, message: str) -> CorpusError:
    return CorpusError(f"{where}: {message}")


def _string(where: str, value: Any, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _fail(where, f"{name} must be a {'' if empty else 'non-empty '}string")
    return value


def _relative(where: str, value: Any, name: str) -> str:
    path = _string(where, value, name)
    parts = Path(path).parts
    if path.startswith(("/", "~")) or ".." in parts or (parts and parts[0] in (".git", ".codor")):
        raise _fail(where, f"{name} {path!r} must be a relative path inside the repo "
                           "(not under .git/ or .codor/)")
    return path


def _number(where: str, value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"{name} must be a number")
    return float(value)


def _step(where: str, raw: Any) -> Step:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise _fail(where, f"a step is a mapping with exactly one of: {', '.join(STEP_KINDS)}")
    ((kind, body),) = raw.items()
    if kind not in STEP_KINDS:
        raise _fail(where, f"unknown step {kind!r}; known: {', '.join(STEP_KINDS)}")
    where = f"{where} ({kind})"
    if kind == "sleep":
        seconds = _number(where, body, "sleep")
        if not 0 < seconds <= MAX_SLEEP:
            raise _fail(where, f"sleep must be in (0, {MAX_SLEEP}] seconds")
        return Step(kind, seconds=seconds)
    if kind == "unobserved":
        return Step(kind, command=_string(where, body, "the command"))
    if kind == "read":
        return Step(kind, path=_relative(where, body, "the path"))
    if kind == "bash":
        if isinstance(body, str):
            return Step(kind, command=_string(where, body, "the command"))
        if not isinstance(body, dict) or set(body) - {"command", "outcome_times"} or \
                "command" not in body:
            raise _fail(where, "bash is a command string, or {command, outcome_times}")
        times = body.get("outcome_times")
        forged: tuple[float, float] | None = None
        if times is not None:
            if not isinstance(times, dict) or set(times) != {"started", "ended"}:
                raise _fail(where, "outcome_times is {started: seconds, ended: seconds}")
            forged = (_number(where, times["started"], "outcome_times.started"),
                      _number(where, times["ended"], "outcome_times.ended"))
        return Step(kind, command=_string(where, body["command"], "the command"),
                    outcome_times=forged)
    if not isinstance(body, dict):
        raise _fail(where, f"{kind} takes a mapping")
    if kind == "write":
        if set(body) != {"path", "content"}:
            raise _fail(where, "write takes exactly {path, content}")
        return Step(kind, path=_relative(where, body["path"], "path"),
                    content=_string(where, body["content"], "content", empty=True))
    # edit
    if not {"path", "old", "new"} <= set(body) <= {"path", "old", "new", "all"}:
        raise _fail(where, "edit takes {path, old, new} and optionally all: true")
    replace_all = body.get("all", False)
    if not isinstance(replace_all, bool):
        raise _fail(where, "all must be true or false")
    return Step(kind, path=_relative(where, body["path"], "path"),
                old=_string(where, body["old"], "old"),
                new=_string(where, body["new"], "new", empty=True), replace_all=replace_all)


def parse_session(data: Any, where: str, stem: str | None = None) -> Session:
    """Validate one session document; :class:`CorpusError` names the first problem."""
    if not isinstance(data, dict):
        raise _fail(where, "a session is a mapping")
    unknown = set(data) - set(_TOP_KEYS)
    if unknown:
        raise _fail(where, f"unknown keys {sorted(unknown)}; allowed: {', '.join(_TOP_KEYS)}")
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise _fail(where, f"missing keys {missing}")
    sid = _string(where, data["id"], "id")
    if not _ID.fullmatch(sid):
        raise _fail(where, "id must be lowercase letters, digits and dashes")
    if stem is not None and sid != stem:
        raise _fail(where, f"id {sid!r} must match the file name ({stem}.yaml)")
    label = data["label"]
    if label not in LABELS:
        raise _fail(where, f"label must be one of {', '.join(LABELS)}")
    patterns = data["patterns"]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise _fail(where, "patterns must be a list of pattern ids")
    unknown_ids = [p for p in patterns if p not in PATTERNS]
    if unknown_ids:
        raise _fail(where, f"unknown pattern ids {unknown_ids}")
    if len(set(patterns)) != len(patterns):
        raise _fail(where, "patterns must not repeat")
    if label == "fabricated" and not patterns:
        raise _fail(where, "a fabricated session names the patterns a verifier must report")
    if label == "honest" and patterns:
        raise _fail(where, "an honest session has patterns: []")
    requires = data.get("requires", [])
    if not isinstance(requires, list) or not set(requires) <= set(REQUIREMENTS):
        raise _fail(where, f"requires must be a list of: {', '.join(REQUIREMENTS)}")
    files = data["files"]
    if not isinstance(files, dict) or not files:
        raise _fail(where, "files must map at least one path to its content")
    checked_files = {_relative(where, p, "files path"):
                     _string(f"{where} files[{p}]", c, "content", empty=True)
                     for p, c in files.items()}
    steps = data["steps"]
    if not isinstance(steps, list) or not steps:
        raise _fail(where, "steps must be a non-empty list")
    return Session(
        id=sid, label=label, patterns=tuple(patterns),
        about=_string(where, data["about"], "about"), files=checked_files,
        steps=tuple(_step(f"{where} step {i + 1}", s) for i, s in enumerate(steps)),
        report=_string(where, data["report"], "report"), requires=tuple(requires))


def load_session(path: Path) -> Session:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path.name}: not valid YAML: {exc}") from exc
    return dataclasses.replace(parse_session(data, path.name, path.stem), source=path)


def load_corpus(directory: Path = CORPUS) -> list[Session]:
    """Every session of the corpus, sorted by id (:class:`CorpusError` on the first bad one)."""
    return [load_session(p) for p in sorted(directory.glob("*.yaml"))]


def missing_requirements(sessions: Iterable[Session]) -> dict[str, str]:
    """Requirements of ``sessions`` not met here, each with how to install it."""
    needed = {r for s in sessions for r in s.requires}
    return {r: _INSTALL_HINT[r] for r in sorted(needed) if not REQUIREMENTS[r]()}


# -- playing ------------------------------------------------------------------------------------
@dataclass(slots=True)
class StepLog:
    """What one step did: CODOR's PreToolUse answer (``None`` for steps no hook sees), the
    command's exit code and output."""

    kind: str
    detail: str
    decision: str | None = None
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""


@dataclass(slots=True)
class Played:
    session: Session
    repo: Path
    report_text: str
    steps: list[StepLog] = field(default_factory=list)
    verification: Report | None = None
    error: str | None = None     # verification raised (the report could not be judged)
    seconds: float = 0.0


def _search_path() -> str:
    extra = [str(_VENV_BIN), str(Path(sys.executable).parent), str(_NPM / ".bin"),
             str(Path.home() / ".cargo" / "bin"), "/usr/local/go/bin"]
    return os.pathsep.join([*extra, os.environ.get("PATH", os.defpath)])


def _environment(repo: Path, caches: Path) -> dict[str, str]:
    """A clean environment for the agent's commands: the project's venv and npm test runners
    on PATH, a shared mypy cache and no third-party pytest plugins (the venv's take seconds to
    import; a runner's ``-q`` output does not show them) so tiny repos stay fast, nothing of
    the outer pytest run leaking in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "CODOR", "GIT_", "VIRTUAL_ENV", "PYTHON", "NODE",
                                "npm_", "COV_", "CARGO_TARGET", "RUST_BACKTRACE"))}
    env.update(PATH=_search_path(), LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="dumb",
               NO_COLOR="1", FORCE_COLOR="0", CI="1", PYTHONDONTWRITEBYTECODE="1",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               MYPY_CACHE_DIR=str(caches / "mypy"), CARGO_TARGET_DIR=str(repo / "target"),
               GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local")
    return env


def _git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise CorpusError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def _link_node_modules(target: Path) -> None:
    """The project's test runners (``tests/npm``) as the repo's ``node_modules``: a directory
    of links, so a runner's cache (vitest writes ``node_modules/.vite``) stays in the repo."""
    target.mkdir()
    for entry in _NPM.iterdir():
        if not entry.name.startswith(".") or entry.name == ".bin":
            (target / entry.name).symlink_to(entry)


def _make_repo(session: Session, repo: Path, env: Mapping[str, str]) -> None:
    repo.mkdir(parents=True)
    past = time.time() - BASELINE_AGE
    for rel, content in session.files.items():
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    if "package.json" in session.files and _NPM.is_dir():
        _link_node_modules(repo / "node_modules")
    git_env = {**env, "GIT_AUTHOR_DATE": f"@{int(past)} +0000",
               "GIT_COMMITTER_DATE": f"@{int(past)} +0000"}
    _git(repo, "init", "-q", "-b", "main", env=git_env)
    _git(repo, "config", "user.name", "Corpus Agent")
    _git(repo, "config", "user.email", "agent@corpus.invalid")
    _git(repo, "config", "commit.gpgsign", "false")
    (repo / ".git" / "info" / "exclude").write_text("\n".join(_IGNORED) + "\n")
    _git(repo, "add", "-A", env=git_env)
    _git(repo, "commit", "-q", "-m", "Project as it was before the session", env=git_env)
    for rel in session.files:  # the files are as old as their commit
        os.utime(repo / rel, (past, past))
    from codor.workspace import Workspace

    Workspace(repo, repo / ".codor").init(key_name="corpus")


class _Player:
    def __init__(self, session: Session, repo: Path, kernel: Kernel,
                 env: Mapping[str, str]) -> None:
        self.session = session
        self.repo = repo
        self.kernel = kernel
        self.env = env
        self.uses = 0
        self.log: list[StepLog] = []

    # events ----------------------------------------------------------------------------------
    def event(self, name: str, **fields: Any) -> dict[str, Any]:
        return {"session_id": self.session.session_id,
                "transcript_path": str(self.repo.parent / f"{self.session.id}.jsonl"),
                "cwd": str(self.repo), "permission_mode": "default",
                "hook_event_name": name, **fields}

    def send(self, event: Mapping[str, Any]) -> bytes:
        from codor.integrations.hooks.handler import handle

        out, err, code = handle("claude-code", json.dumps(event).encode(), lambda: self.kernel)
        if code != 0:
            raise CorpusError(f"{self.session.id}: CODOR refused {event['hook_event_name']}: "
                              f"{err.strip()}")
        return out

    def tool(self, name: str, tool_input: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """PreToolUse for a tool call: the event (to reuse for PostToolUse) and the answer."""
        self.uses += 1
        event = self.event("PreToolUse", tool_name=name, tool_input=tool_input,
                           tool_use_id=f"toolu_corpus_{self.uses:04d}")
        out = self.send(event)
        decision = "none"
        if out:
            answer = json.loads(out).get("hookSpecificOutput", {})
            decision = str(answer.get("permissionDecision", "none"))
        return event, decision

    def post(self, pre: Mapping[str, Any], response: Any) -> None:
        self.send({**pre, "hook_event_name": "PostToolUse", "tool_response": response})

    def post_failure(self, pre: Mapping[str, Any], error: str) -> None:
        self.send({**pre, "hook_event_name": "PostToolUseFailure", "error": error,
                   "is_interrupt": False})

    # steps -----------------------------------------------------------------------------------
    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=self.repo, env=dict(self.env),
                              capture_output=True, text=True, errors="replace",
                              timeout=COMMAND_TIMEOUT, check=False)

    def play(self, step: Step) -> None:
        entry = StepLog(step.kind, step.describe())
        self.log.append(entry)
        if step.kind == "sleep":
            time.sleep(step.seconds)
        elif step.kind == "unobserved":
            result = self.run(step.command)
            entry.exit_code, entry.stdout, entry.stderr = \
                result.returncode, result.stdout, result.stderr
            if result.returncode != 0:
                raise CorpusError(f"{self.session.id}: unobserved step failed "
                                  f"({result.returncode}): {step.command}\n{result.stderr}")
        elif step.kind == "bash":
            self.bash(step, entry)
        elif step.kind == "write":
            self.write(step, entry)
        elif step.kind == "edit":
            self.edit(step, entry)
        else:
            self.read(step, entry)

    def bash(self, step: Step, entry: StepLog) -> None:
        from codor.evidence.records import now_us

        pre, entry.decision = self.tool("Bash", {"command": step.command,
                                                 "description": "corpus step"})
        if entry.decision == "deny":
            return
        began = now_us()
        result = self.run(step.command)
        entry.exit_code, entry.stdout, entry.stderr = \
            result.returncode, result.stdout, result.stderr
        if step.outcome_times is not None:
            self.forge_outcome(pre, result, step.outcome_times, began, now_us())
        elif result.returncode == 0:
            self.post(pre, {"stdout": result.stdout, "stderr": result.stderr,
                            "interrupted": False, "isImage": False})
        else:
            output = "\n".join(s for s in (result.stdout.rstrip("\n"),
                                           result.stderr.rstrip("\n")) if s)
            self.post_failure(pre, f"Exit code {result.returncode}\n{output}")

    def forge_outcome(self, pre: Mapping[str, Any], result: subprocess.CompletedProcess[str],
                      times: tuple[float, float], began: tuple[int, int],
                      now: tuple[int, int]) -> None:
        """Record the command's real output as the outcome the PostToolUse hook would record,
        but with wall-clock start and end ``times`` seconds from now (the monotonic times are
        the real run's): the only way to put a clock that runs backwards or a run that ends
        before it starts in a ledger."""
        from codor.evidence.records import StreamSummary
        from codor.integrations.hooks.claude_code import ADAPTER
        from codor.integrations.hooks.tools import tool_call

        post = {**pre, "hook_event_name": "PostToolUse",
                "tool_response": {"stdout": result.stdout, "stderr": result.stderr,
                                  "interrupted": False, "isImage": False}}
        call = tool_call(ADAPTER.parse(json.dumps(post).encode()))

        def wall(offset: float) -> int:
            return now[0] + int(offset * 1e6)

        for action in call.actions:
            self.kernel.record_outcome(
                action, None, started=(wall(times[0]), began[1]),
                ended=(wall(times[1]), now[1]),
                exit_status=None, stdout=StreamSummary.of(result.stdout.encode()),
                stderr=StreamSummary.of(result.stderr.encode()), products=dict(call.products),
                observer=ADAPTER.observer)

    def write(self, step: Step, entry: StepLog) -> None:
        target = self.repo / step.path
        pre, entry.decision = self.tool("Write", {"file_path": str(target),
                                                  "content": step.content})
        if entry.decision == "deny":
            return
        existed = target.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(step.content, encoding="utf-8")
        self.post(pre, {"type": "update" if existed else "create", "filePath": str(target),
                        "content": step.content, "structuredPatch": []})

    def edit(self, step: Step, entry: StepLog) -> None:
        target = self.repo / step.path
        try:
            original = target.read_text(encoding="utf-8")
        except OSError as exc:
            raise CorpusError(f"{self.session.id}: edit of {step.path}: {exc}") from exc
        found = original.count(step.old)
        if found == 0 or (found > 1 and not step.replace_all):
            raise CorpusError(f"{self.session.id}: edit of {step.path}: old text found "
                              f"{found} times (needs exactly one, or all: true)")
        pre, entry.decision = self.tool("Edit", {"file_path": str(target),
                                                 "old_string": step.old,
                                                 "new_string": step.new,
                                                 "replace_all": step.replace_all})
        if entry.decision == "deny":
            return
        target.write_text(original.replace(step.old, step.new, -1 if step.replace_all else 1),
                          encoding="utf-8")
        self.post(pre, {"filePath": str(target), "oldString": step.old,
                        "newString": step.new, "originalFile": original,
                        "structuredPatch": [], "userModified": False,
                        "replaceAll": step.replace_all})

    def read(self, step: Step, entry: StepLog) -> None:
        target = self.repo / step.path
        pre, entry.decision = self.tool("Read", {"file_path": str(target)})
        if entry.decision == "deny":
            return
        content = target.read_text(encoding="utf-8")
        lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        self.post(pre, {"type": "text", "file": {"filePath": str(target), "content": content,
                                                 "numLines": lines, "startLine": 1,
                                                 "totalLines": lines}})

    # the report ------------------------------------------------------------------------------
    def report_text(self) -> str:
        def sha(match: re.Match[str]) -> str:
            return _git(self.repo, "rev-parse", "--short=7", match.group(1) or "HEAD")

        return _PLACEHOLDER.sub(sha, self.session.report)


def _verifier() -> Callable[..., Report]:
    from codor.claims import verify

    return verify


def play(session: Session, workdir: Path, caches: Path) -> Played:
    """Play ``session`` in a new repo under ``workdir`` (see the module doc)."""
    from codor.integrations.context import open_kernel

    began = time.monotonic()
    repo = workdir / session.id
    env = _environment(repo, caches)
    _make_repo(session, repo, env)
    kernel = open_kernel(repo)
    try:
        player = _Player(session, repo, kernel, env)
        player.send(player.event("SessionStart", source="startup", model="corpus-player"))
        for step in session.steps:
            player.play(step)
        text = player.report_text()
        player.send(player.event("Stop", stop_hook_active=False, last_assistant_message=text))
        played = Played(session, repo, text, player.log)
        assert kernel.ledger is not None
        try:
            played.verification = _verifier()(kernel.ledger, session.session_id, text,
                                              workspace=repo)
        except Exception as exc:  # reported per session by the corpus test
            played.error = f"verify raised {type(exc).__name__}: {exc}"
    finally:
        kernel.close()
    played.seconds = time.monotonic() - began
    return played


def session_records(played: Played) -> list[dict[str, Any]]:
    """The session's ledger records, oldest first (for looking at what a session recorded)."""
    from codor.workspace import Workspace

    ledger = Workspace(played.repo, played.repo / ".codor").open_ledger(signing=False)
    try:
        entries = ledger.store.entries(0, ledger.store.size())
    finally:
        ledger.close()
    out = []
    for e in entries:
        if e.leaf is None:
            continue
        record = json.loads(e.leaf)
        record["_index"] = e.index
        out.append(record)
    return out
