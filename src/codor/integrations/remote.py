"""A kernel that asks a CODOR daemon (``codor serve``) instead of deciding in this process.

With ``CODOR_URL`` set (e.g. ``http://127.0.0.1:8787``), :func:`codor.integrations.context.
open_kernel` returns a :class:`RemoteKernel`, so agent hooks, the MCP gateway and the Python SDK
send every action to the daemon (``POST /v1/check``) and report what happened afterwards
(``POST /v1/events``). The daemon decides under *its* policy and records in *its* ledger; this
process holds no policy and no ledger (``kernel.ledger`` is ``None``).

The API key comes from ``CODOR_TOKEN``, else from the file ``CODOR_TOKEN_FILE`` or
``<workspace>/.codor/token`` — which must be a regular file readable by its owner only (mode
0600 or stricter), else it is not used. Create an ``agent`` key for integrations; an admin key
works too but is more than they need.

Fail closed: an unreachable daemon, a timeout, a 5xx answer or an answer that is not a decision
is a **deny** with rule ``daemon.unreachable`` (severity high); a missing or refused key (401,
403) a deny with rule ``daemon.unauthorized``; an action the daemon refuses as invalid (400) a
deny with rule ``input.<code>``. Never an allow, never a traceback. Reporting an outcome or an
event that fails is one line on stderr (the action already ran; the hook must not break).

An ``ask`` that the daemon answers with an approval is waited for (long-poll ``GET
/v1/approvals/{id}/wait``) up to ``CODOR_APPROVAL_WAIT`` seconds (default 50, under Claude
Code's 60 s hook timeout; keep it above the daemon's ``approval_wait_s``, the time the
daemon itself may hold ``/v1/check`` open for a person); when the daemon has no such route,
or nobody answered in time, the ask stands (the agent's own prompt asks the person).

Claims verification of a Stop runs on the daemon (``POST /v1/claims/stop``), which holds the
session's evidence.

Only the standard library is used (``http.client`` with keep-alive): hooks must start fast.
Timeouts: ``CODOR_TIMEOUT`` seconds per request (default 10), connecting at most 2 s.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import stat
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from codor.kernel import Kernel
from codor.model import Action, Agent, Decision, Reason

if TYPE_CHECKING:
    from codor.evidence.records import Observer, SessionStart, StreamSummary
    from codor.integrations.hooks.events import HookAnswer, HookEvent

__all__ = ["RemoteKernel", "RemoteUnavailable", "read_token", "remote_url"]

UNREACHABLE: Final = "daemon.unreachable"
UNAUTHORIZED: Final = "daemon.unauthorized"
_CONNECT_TIMEOUT: Final = 2.0
_DEFAULT_TIMEOUT: Final = 10.0
_DEFAULT_APPROVAL_WAIT: Final = 50.0
#: the observers the daemon accepts from integrations; this process's own (``codor-engine``,
#: ``codor-runtime``) are reported as ``agent-claim``: the daemon did not observe them
_DAEMON_OWN: Final = frozenset({"codor-engine", "codor-runtime"})


class RemoteUnavailable(Exception):
    """The daemon did not give a usable answer: ``rule`` is ``daemon.unreachable`` or
    ``daemon.unauthorized`` (or ``input.<code>`` for a refused action)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def remote_url() -> str | None:
    """``CODOR_URL`` when set and not empty."""
    url = os.environ.get("CODOR_URL", "").strip()
    return url or None


def _home(workspace: str) -> Path:
    """The workspace's CODOR home (``$CODOR_HOME`` or ``.codor/``), as everywhere else."""
    from codor.integrations.context import codor_home

    return codor_home(Path(workspace))


def read_token(workspace: str | None = None) -> str | None:
    """The API key: ``CODOR_TOKEN``, else the first line of ``CODOR_TOKEN_FILE`` or
    ``<workspace>/.codor/token`` when that is a regular file of mode 0600 or stricter."""
    token = os.environ.get("CODOR_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("CODOR_TOKEN_FILE") or (
        str(_home(workspace) / "token") if workspace else None)
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            sys.stderr.write(f"codor: {path} is not a regular file; not used as the API key\n")
            return None
        if st.st_mode & 0o077:
            sys.stderr.write(f"codor: {path} is readable by others; not used as the API key "
                             "(chmod 600 it)\n")
            return None
        with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as f:
            first = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"codor: {path} cannot be read as an API key "
                         f"({type(exc).__name__}); not used\n")
        return None
    finally:
        os.close(fd)
    return first or None


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Client:
    """One keep-alive HTTP connection to the daemon (reopened once when the daemon closed it
    between two requests); thread-safe by a lock (the SDK may decide from several threads)."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteUnavailable(UNREACHABLE, f"CODOR_URL {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        try:
            port = parts.port
        except ValueError:  # a port out of range or not a number
            raise RemoteUnavailable(UNREACHABLE, f"CODOR_URL {url!r} has an invalid port"
                                    ) from None
        self.port = port or (443 if self.https else 80)
        self.base = parts.path.rstrip("/")
        self.token = token
        self.timeout = _seconds("CODOR_TIMEOUT", _DEFAULT_TIMEOUT)
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=_CONNECT_TIMEOUT)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None, *,
                timeout: float | None = None) -> tuple[int, Any]:
        """``(status, parsed JSON body or None)``; raises :class:`RemoteUnavailable` when no
        answer came (refused, reset, timed out)."""
        wait = timeout if timeout is not None else self.timeout
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Connection": "keep-alive"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        with self._lock:
            for attempt in (0, 1):
                reused = self._conn is not None
                try:
                    if self._conn is None:
                        self._conn = self._connect(wait)
                    elif self._conn.sock is not None:
                        self._conn.sock.settimeout(wait)
                    self._conn.request(method, self.base + path, body=payload, headers=headers)
                    response = self._conn.getresponse()
                    raw = response.read()
                    status = response.status
                    if response.will_close:
                        self._drop()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError,
                        ConnectionResetError) as exc:
                    self._drop()
                    if reused and attempt == 0:
                        continue  # the daemon closed the idle connection: once more, fresh
                    raise RemoteUnavailable(UNREACHABLE, f"the CODOR daemon at {self.url} "
                                            f"closed the connection ({type(exc).__name__})"
                                            ) from None
                except TimeoutError:
                    self._drop()
                    raise RemoteUnavailable(UNREACHABLE, f"the CODOR daemon at {self.url} "
                                            f"did not answer within {wait:g} s") from None
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    self._drop()  # ValueError: a host name IDNA cannot encode
                    what = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                        type(exc).__name__
                    raise RemoteUnavailable(UNREACHABLE, f"the CODOR daemon at {self.url} "
                                            f"cannot be reached ({what})") from None
            else:  # pragma: no cover - the loop always breaks or raises
                raise RemoteUnavailable(UNREACHABLE, "no answer")
        try:
            data = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            data = None
        return status, data

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def _error_text(data: Any) -> tuple[str, str]:
    """``(code, message)`` of the daemon's ``{"error": {...}}`` body."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or "E_DAEMON"), _clip(str(error.get("message") or ""))
    return "E_DAEMON", ""


def _check_status(client: _Client, status: int, data: Any, what: str) -> None:
    """Raise :class:`RemoteUnavailable` unless ``status`` is 2xx."""
    if 200 <= status < 300:
        return
    code, message = _error_text(data)
    detail = f" [{code}]{': ' + message if message else ''}"
    if status in (401, 403):
        hint = "no API key (set CODOR_TOKEN)" if not client.token else \
            "the API key was refused" if status == 401 else \
            "the API key lacks the permission"
        raise RemoteUnavailable(UNAUTHORIZED, f"the CODOR daemon at {client.url} refused "
                                f"{what}: {hint}{detail}")
    if status == 400 and code.startswith("E_"):
        raise RemoteUnavailable(f"input.{code}", f"the CODOR daemon refused {what} as "
                                f"invalid{detail}")
    raise RemoteUnavailable(UNREACHABLE, f"the CODOR daemon at {client.url} answered {what} "
                            f"with HTTP {status}{detail}")


class _RemotePolicy:
    """What integrations read of ``kernel.engine.policy``: the daemon's policy digest (from its
    latest decision) and the workspace."""

    def __init__(self, workspace: str | None) -> None:
        self.sha256 = ""
        self.workspace = workspace
        self.codor_home = str(_home(workspace)) if workspace else None
        self.files: tuple[str, ...] = ()


class _RemoteEngine:
    """``kernel.engine`` of a remote kernel: :meth:`decide` asks the daemon (which records the
    decision: the daemon has no unrecorded decisions)."""

    def __init__(self, kernel: RemoteKernel, workspace: str | None) -> None:
        self._kernel = kernel
        self.policy = _RemotePolicy(workspace)

    def decide(self, action: Action) -> Decision:
        return self._kernel.decide(action)

    def close(self) -> None:
        return None


class RemoteKernel(Kernel):
    """A :class:`~codor.kernel.Kernel` whose decisions and records are the daemon's (see the
    module doc). ``ledger`` is ``None``: nothing is recorded in this process."""

    remote: Final = True

    def __init__(self, url: str, token: str | None, *, observer: Observer = "codor-engine",
                 workspace: str | None = None) -> None:  # no super().__init__: no engine here
        self.workspace = workspace
        self.ledger = None
        self.observer = observer
        self.group_allows = False
        self._sessions = {}
        self._lock = threading.Lock()
        self._default_session = f"s-{os.getpid()}-{os.urandom(4).hex()}"
        self.engine = _RemoteEngine(self, workspace)  # type: ignore[assignment]
        self.url = url
        self._client: _Client | None = None
        self._setup_error: RemoteUnavailable | None = None
        try:
            self._client = _Client(url, token)
        except RemoteUnavailable as exc:
            self._setup_error = exc

    # -- deciding -------------------------------------------------------------------------------
    def _deny(self, rule: str, message: str) -> Decision:
        return Decision("deny", (Reason(rule, None, "high", f"{message}; denied"),),
                        policy=self.engine.policy.sha256)

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None, what: str, *,
              timeout: float | None = None) -> Any:
        if self._client is None:
            assert self._setup_error is not None
            raise self._setup_error
        status, data = self._client.request(method, path, body, timeout=timeout)
        _check_status(self._client, status, data, what)
        return data

    def decide_and_index(self, action: Action) -> tuple[Decision, int | None]:
        """The daemon's decision and the ledger index of its record there; a deny (never an
        allow) when the daemon does not answer with a decision."""
        try:
            started = time.monotonic()
            data = self._call("POST", "/v1/check", action.to_json(), "the decision",
                              timeout=self._check_timeout())
            if not isinstance(data, dict):
                raise RemoteUnavailable(UNREACHABLE, "the CODOR daemon's answer is not a "
                                        "decision (not a JSON object)")
            try:
                decision = Decision.from_json(data)
            except Exception as exc:
                raise RemoteUnavailable(UNREACHABLE, f"the CODOR daemon's answer is not a "
                                        f"decision ({_clip(str(exc), 120)})") from None
            index = data.get("index")
            index = index if isinstance(index, int) and not isinstance(index, bool) else None
            if decision.policy:
                self.engine.policy.sha256 = decision.policy
            if decision.decision == "ask":
                decision = self._await_approval(data, decision, time.monotonic() - started)
            return decision, index
        except RemoteUnavailable as exc:
            return self._deny(exc.rule, exc.message), None

    def _check_timeout(self) -> float:
        # the daemon may hold an ask open while a person decides (long-poll, up to its
        # approval_wait_s): keep CODOR_APPROVAL_WAIT at least that long
        assert self._client is not None or self._setup_error is not None
        base = self._client.timeout if self._client is not None else _DEFAULT_TIMEOUT
        return base + _seconds("CODOR_APPROVAL_WAIT", _DEFAULT_APPROVAL_WAIT)

    def _await_approval(self, data: Mapping[str, Any], asked: Decision,
                        waited: float) -> Decision:
        """Wait for the person's answer to the approval the daemon opened for this ask (what
        is left of ``CODOR_APPROVAL_WAIT`` after the ``waited`` seconds the daemon held the
        request); the ask itself when there is none to wait for, no time is left, or the
        daemon has no wait route."""
        approval = data.get("approval")
        if isinstance(approval, dict) and approval.get("status") not in (None, "pending"):
            return _resolved(approval, asked)  # settled while the daemon held the request
        ident = approval.get("id") if isinstance(approval, dict) else \
            approval if isinstance(approval, str | int) else data.get("approval_id")
        if ident is None or isinstance(ident, bool):
            return asked
        wait = _seconds("CODOR_APPROVAL_WAIT", _DEFAULT_APPROVAL_WAIT) - waited
        if wait < 0.5:
            return asked
        path = f"/v1/approvals/{urllib.parse.quote(str(ident), safe='')}/wait?" \
               f"timeout={wait:g}"
        assert self._client is not None
        status, answer = self._client.request("GET", path, None,
                                              timeout=wait + self._client.timeout)
        if status == 404 and _error_text(answer)[0] in ("E_NOT_FOUND", "E_DAEMON"):
            return asked  # no approvals route on this daemon: the agent's prompt asks
        _check_status(self._client, status, answer, "the approval")
        return _resolved(answer, asked)

    # -- recording ------------------------------------------------------------------------------
    def session(self, session_id: str | None, agent: Agent | None = None) -> SessionStart:
        """A local stand-in: the daemon records the session's start with its first record."""
        from codor.evidence.records import SessionStart

        sid = session_id or self._default_session
        with self._lock:
            start = self._sessions.get(sid)
            if start is None:
                start = SessionStart.new(sid, agent or Agent("unknown"),
                                         self.engine.policy.sha256 or "0" * 64)
                self._sessions[sid] = start
        return start

    def record(self, action: Action, decision: Decision) -> int:
        from codor.errors import InternalError

        raise InternalError("a remote kernel cannot record a decision it did not ask the "
                            "daemon for")

    def _report(self, body: Mapping[str, Any], what: str) -> int | None:
        try:
            data = self._call("POST", "/v1/events", body, what)
        except RemoteUnavailable as exc:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"codor: {what} was not recorded: {exc.message} "
                                 f"[{exc.rule}]\n")
            return None
        index = data.get("index") if isinstance(data, dict) else None
        return index if isinstance(index, int) and not isinstance(index, bool) else None

    def record_outcome(
        self, action: Action, decision_index: int | None, *,
        started: tuple[int, int], ended: tuple[int, int], exit_status: int | None = None,
        stdout: StreamSummary | None = None, stderr: StreamSummary | None = None,
        products: Mapping[str, str] | None = None, materials: Mapping[str, str] | None = None,
        sandbox: str | None = None, observer: Observer = "codor-runtime",
    ) -> int | None:
        """``POST /v1/events`` (``type: outcome``). The daemon summarises the stream text it
        receives: this process sends each stream's redacted excerpt (all of the output when
        it fits in the excerpt). ``materials`` and ``sandbox`` are not carried by the API."""
        del materials, sandbox
        body: dict[str, Any] = {
            "type": "outcome", "action": action.to_json(), "action_index": decision_index,
            "started_wall_us": started[0], "ended_wall_us": ended[0],
            "exit_status": exit_status, "products": dict(products or {}),
            "observer": _reported(observer)}
        for name, summary in (("stdout", stdout), ("stderr", stderr)):
            if summary is not None and summary.size:
                body[name] = summary.excerpt
        return self._report(body, f"the outcome of {action.kind}")

    def record_event(self, session: str | None, event: str, data: Mapping[str, Any], *,
                     observer: Observer | None = None, action_index: int | None = None,
                     agent: Agent | None = None) -> int | None:
        """``POST /v1/events`` (``type: event``); ``action_index`` and ``agent`` are not
        carried by the API (the daemon knows the session's agent from its decisions)."""
        del action_index, agent
        body = {"type": "event", "session": session or self._default_session, "event": event,
                "data": dict(data), "observer": _reported(observer or self.observer)}
        return self._report(body, f"the event {event}")

    # -- claims ---------------------------------------------------------------------------------
    def verify_stop(self, event: HookEvent, message: str | None) -> HookAnswer | None:
        """The daemon's claims verification of a Stop (see
        :func:`codor.integrations.hooks.handler.verify_stop`). Fails closed: a verification
        that cannot run blocks once, and lets the agent stop (with a message) when it is
        already continuing after a block, so it never loops."""
        from codor.integrations.hooks.events import HookAnswer

        if message is None or not message.strip():
            return None
        body = {"session": event.session_id, "report": message, "workspace": event.cwd,
                "agent": event.agent, "stop": True, "stop_hook_active": event.stop_hook_active}
        try:
            data = self._call("POST", "/v1/claims/stop", body, "the report's verification")
            stop = data.get("stop") if isinstance(data, dict) else None
            if stop not in ("none", "block", "escalate"):
                raise RemoteUnavailable(UNREACHABLE, "the CODOR daemon's verification has no "
                                        "stop answer")
        except RemoteUnavailable as exc:
            text = f"{exc.message} [{exc.rule}]"
            if event.stop_hook_active:
                return HookAnswer(message=f"CODOR could not verify the agent's report "
                                          f"({text}).")
            return HookAnswer("block", f"CODOR could not verify your report ({text}). State "
                                       "only what you ran and what it showed, then stop again.")
        assert isinstance(data, dict)
        reason, note = data.get("reason"), data.get("message")
        if stop == "block":
            return HookAnswer("block", str(reason or "CODOR: the report failed verification"))
        if stop == "escalate":
            return HookAnswer(message=str(note or "CODOR: the agent's report failed "
                                                  "verification and was escalated for review"))
        return None

    def verify_claims(self, session: str, report: str) -> dict[str, Any]:
        """The daemon's verification of ``report`` against ``session`` (recorded there):
        the report as JSON (``passed``, ``verdicts``, ``claims``, ``findings``...). Raises
        :class:`RemoteUnavailable` when the daemon cannot answer."""
        data = self._call("POST", "/v1/claims/verify", {"session": session, "report": report},
                          "the report's verification")
        if not isinstance(data, dict) or not isinstance(data.get("passed"), bool):
            raise RemoteUnavailable(UNREACHABLE, "the CODOR daemon's answer is not a claims "
                                    "report")
        return data

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _reported(observer: str) -> str:
    return "agent-claim" if observer in _DAEMON_OWN else observer


def _resolved(answer: Any, asked: Decision) -> Decision:
    """The decision once a person answered (an approval's JSON, bare or as ``approval``, from
    ``POST /v1/check`` or ``GET /v1/approvals/{id}/wait``; or a decision object): still
    ``pending`` → the ask; ``effect`` ``allow`` (approved) → allow; anything else (denied,
    expired, unreadable) → deny."""
    if isinstance(answer, dict) and isinstance(answer.get("approval"), dict):
        answer = answer["approval"]
    if not isinstance(answer, dict):
        return Decision("deny", (Reason(UNREACHABLE, None, "high", "the CODOR daemon's "
                                        "answer to the approval is unreadable; denied"),
                                 *asked.reasons), asked.warnings, asked.policy)
    if answer.get("decision") in ("allow", "deny", "ask") and "status" not in answer:
        with contextlib.suppress(Exception):  # malformed: judged as an approval below
            return Decision.from_json({"policy": asked.policy, **answer})
    status = str(answer.get("status") or "unknown")
    if status == "pending":
        return asked
    who = answer.get("decided_by")
    by = f" by {who}" if who else ""
    comment = answer.get("comment")
    note = f" ({_clip(str(comment), 200)})" if comment else ""
    if answer.get("effect") == "allow" or (status == "approved" and answer.get("effect") is None):
        return Decision("allow", (Reason("approval.approved", None, "info",
                                         f"a person approved it{by}{note}"), *asked.reasons),
                        asked.warnings, asked.policy)
    return Decision("deny", (Reason(f"approval.{status}", None, "high",
                                    f"the approval was {status}{by}{note}; denied"),
                             *asked.reasons), asked.warnings, asked.policy)
