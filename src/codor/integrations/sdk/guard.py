"""The in-process guard: decide an action under the workspace's policy, record the decision, and
— when the SDK runs the function itself — record what the run produced.

A :class:`Guard` is one kernel (:func:`codor.integrations.context.open_kernel`: the
workspace's policy, and its ledger whenever ``codor init`` created one) plus who is acting: a
session id and an agent. Every action it decides carries them, with ``origin`` ``codor-sdk``
and the process's current directory as ``cwd`` unless the action says otherwise.

Fail closed: nothing in this layer turns a failure into an allow. An action that cannot be
built is a deny (rule ``input.<code>``, like ``codor check``) recorded as an
``sdk.action_invalid`` event; a kernel failure is a deny (rule ``sdk.internal``); a closed
guard denies (rule ``sdk.closed``); a decision that could not be recorded is already a deny
from the kernel (rule ``ledger.unavailable``). Thread-safe: decisions run concurrently (the
engine and the ledger store are thread-safe), counters are locked.

Who observed what (the ``observer`` of evidence records): decisions are ``codor-engine``.
:meth:`Guard.execute` / :meth:`Guard.aexecute` (and so ``@guarded``, ``EnforcedAgent`` and the
adapters) run the function themselves and record the outcome as ``codor-runtime``: CODOR's
code called it, timed it and saw it return (the result, summarised) or raise (status 1, the
exception in ``stderr``). What the function did inside — files, processes — is not observed
by this layer (no ``products``/``materials``); run commands through ``codor run`` for that.
:meth:`Guard.record_outcome` is for outcomes the caller observed: it defaults to
``agent-claim`` because CODOR did not see them; pass another observer only when that is true.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from codor.errors import ActionError, CodorError, InputError
from codor.integrations.sdk.errors import describe
from codor.integrations.sdk.results import CallLog, Checked, jsonable, output_bytes, path_text
from codor.model import Action, Agent, Decision, Reason, Severity

if TYPE_CHECKING:
    from codor.evidence.records import Observer, StreamSummary
    from codor.kernel import Kernel

__all__ = ["ORIGIN", "Guard"]

ORIGIN: Final = "codor-sdk"
R = TypeVar("R")
_log = logging.getLogger("codor.sdk")

_CURRENT: ContextVar[Guard | None] = ContextVar("codor_sdk_guard", default=None)
_TRACKING: ContextVar[tuple[tuple[Guard, CallLog], ...]] = ContextVar("codor_sdk_tracking",
                                                                     default=())
_DEFAULT: Guard | None = None
_DEFAULT_LOCK = threading.Lock()


class Guard:
    """Decides and records actions for one session of one agent (see the module doc).

    ``Guard(workspace=None, policy=None, session=None, agent=None, record=True)`` opens the
    workspace like every integration does; ``session`` defaults to a fresh ``sdk-…`` id,
    ``record=False`` decides without recording. Use it as a context manager (it becomes
    :meth:`current` inside the block, and is closed at its end) or call :meth:`close`.
    """

    def __init__(self, workspace: str | os.PathLike[str] | None = None,
                 policy: str | None = None, session: str | None = None,
                 agent: str | Agent | None = None, record: bool = True, *,
                 cwd: str | os.PathLike[str] | None = None, origin: str = ORIGIN) -> None:
        from codor.integrations.context import open_kernel

        _check_who(session, agent)
        self._setup(open_kernel(workspace, policy=policy, record=record), session, agent,
                    cwd, origin, owns_kernel=True)

    @classmethod
    def from_kernel(cls, kernel: Kernel, *, session: str | None = None,
                    agent: str | Agent | None = None, cwd: str | os.PathLike[str] | None = None,
                    origin: str = ORIGIN) -> Guard:
        """A guard over an existing kernel; :meth:`close` leaves the kernel open."""
        _check_who(session, agent)
        guard = cls.__new__(cls)
        guard._setup(kernel, session, agent, cwd, origin, owns_kernel=False)
        return guard

    def _setup(self, kernel: Kernel, session: str | None, agent: str | Agent | None,
               cwd: str | os.PathLike[str] | None, origin: str, *, owns_kernel: bool) -> None:
        self._kernel = kernel
        self._owns_kernel = owns_kernel
        self.session = session or f"sdk-{os.urandom(6).hex()}"
        self.agent = Agent(agent) if isinstance(agent, str) else agent
        self.origin = origin
        self._cwd = None if cwd is None else os.fspath(cwd)
        self._lock = threading.Lock()
        self._closed = False
        self._log = CallLog(keep_entries=False)
        self._tokens: list[Token[Guard | None]] = []

    # -- who and where ------------------------------------------------------------------------
    @property
    def kernel(self) -> Kernel:
        return self._kernel

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def recording(self) -> bool:
        """Whether decisions and outcomes go into a ledger."""
        return self._kernel.ledger is not None

    @classmethod
    def current(cls) -> Guard:
        """The guard of the innermost ``with guard:`` block in this context, else the process's
        default guard (``Guard()`` for the current directory's workspace, opened on first use
        and closed at exit)."""
        guard = _CURRENT.get()
        return guard if guard is not None else _default_guard()

    # -- deciding -----------------------------------------------------------------------------
    def decide(self, action_or_kind: Action | str, /, **fields: Any) -> Checked:
        """Decide an :class:`~codor.model.Action` (missing ``session``, ``agent``, ``origin`` and
        ``cwd`` are filled in) or a kind with its fields; recorded when there is a ledger."""
        try:
            action = self._build(action_or_kind, fields)
        except CodorError as exc:
            return self.refuse(f"input.{exc.code}", exc.one_line(), severity="high")
        except Exception as exc:  # e.g. the current directory is gone: still a deny
            return self.refuse("sdk.internal", f"the action could not be built: "
                                               f"{type(exc).__name__}: {exc}",
                               severity="critical")
        return self._decide(action)

    def check(self, action_or_kind: Action | str, /, **fields: Any) -> Decision:
        """The policy's decision for the action (see :meth:`decide`); never raises for a deny."""
        return self.decide(action_or_kind, **fields).decision

    def require(self, action_or_kind: Action | str, /, **fields: Any) -> Checked:
        """:meth:`decide`, raising :class:`~codor.integrations.sdk.errors.ActionDenied` (or
        :class:`~codor.integrations.sdk.errors.ApprovalRequired` for an ask) unless allowed."""
        checked = self.decide(action_or_kind, **fields)
        checked.raise_unless_allowed()
        return checked

    def check_file_read(self, path: str | os.PathLike[str], **fields: Any) -> Decision:
        return self.check("file.read", path=path_text(path), **fields)

    def check_file_write(self, path: str | os.PathLike[str], content: str | bytes,
                         **fields: Any) -> Decision:
        """Bytes are decided by their sha256 (``content_sha256``); text is scanned as is."""
        if isinstance(content, bytes):
            return self.check("file.write", path=path_text(path),
                              content_sha256=hashlib.sha256(content).hexdigest(), **fields)
        return self.check("file.write", path=path_text(path), content=content, **fields)

    def check_command(self, command: str | Sequence[str], **fields: Any) -> Decision:
        """A shell string is decided as ``command``, a sequence as ``argv``."""
        if isinstance(command, str):
            return self.check("command.exec", command=command, **fields)
        return self.check("command.exec", argv=[path_text(a) for a in command], **fields)

    def check_url(self, url: str, method: str | None = None, **fields: Any) -> Decision:
        return self.check("network.request", url=url, method=method, **fields)

    def check_tool(self, tool: str, arguments: Mapping[str, Any] | None = None,
                   server: str | None = None, **fields: Any) -> Decision:
        return self.check("tool.call", tool=tool, arguments=jsonable(arguments or {}),
                          server=server, **fields)

    def refuse(self, rule: str, message: str, *, severity: Severity = "high") -> Checked:
        """A deny for a call that could not be decided as an action (a bad mapping, malformed
        fields): recorded as an ``sdk.action_invalid`` event when there is a ledger."""
        decision = Decision("deny", (Reason(rule, None, severity, message),),
                            policy=self._policy_sha())
        if not self._closed:
            try:
                self._kernel.record_event(self.session, "sdk.action_invalid",
                                          {"rule": rule, "error": message[:2000]},
                                          agent=self.agent)
            except Exception as exc:  # the deny stands; say what is missing
                _log.warning("codor: the refused call was not recorded: %s", exc)
        checked = Checked(None, decision, None)
        self._note("invalid action", checked)
        return checked

    # -- executing ----------------------------------------------------------------------------
    def execute(self, checked: Checked, fn: Callable[[], R]) -> R:
        """Run ``fn`` for an allowed ``checked`` and record its outcome (``codor-runtime``);
        raises :class:`~codor.integrations.sdk.errors.ActionDenied` without calling ``fn``
        unless the decision is an allow. An exception from ``fn`` is recorded (status 1) and
        re-raised."""
        checked.raise_unless_allowed()
        from codor.evidence.records import now_us

        started = now_us()
        try:
            result = fn()
        except BaseException as exc:
            self._observed(checked, started, None, exc)
            raise
        self._observed(checked, started, result, None)
        return result

    async def aexecute(self, checked: Checked, fn: Callable[[], Awaitable[R]]) -> R:
        """:meth:`execute` for a coroutine function. Deciding and recording stay on the event
        loop's thread: they take a fraction of a millisecond (in-process engine, local SQLite)."""
        checked.raise_unless_allowed()
        from codor.evidence.records import now_us

        started = now_us()
        try:
            result = await fn()
        except BaseException as exc:
            self._observed(checked, started, None, exc)
            raise
        self._observed(checked, started, result, None)
        return result

    def record_outcome(
        self, checked: Checked, *, started: tuple[int, int], ended: tuple[int, int],
        exit_status: int | None = None, stdout: bytes | str | StreamSummary | None = None,
        stderr: bytes | str | StreamSummary | None = None,
        products: Mapping[str, str] | None = None, materials: Mapping[str, str] | None = None,
        observer: Observer = "agent-claim",
    ) -> int | None:
        """Record the outcome of an allowed action that the *caller* ran (times from
        :func:`codor.evidence.records.now_us`); returns its ledger index (``None`` without a
        ledger). ``observer`` defaults to ``agent-claim``: CODOR did not see it run (see the
        module doc). Raises :class:`~codor.errors.InputError` for a refused ``checked``
        (nothing may have run) or a malformed outcome, and the ledger's error when it refuses
        the record."""
        if not checked.allowed or checked.action is None:
            raise InputError(f"{describe(checked.action)} was not allowed; there is no outcome "
                             f"to record")
        try:
            return self._kernel.record_outcome(
                checked.action, checked.index, started=started, ended=ended,
                exit_status=exit_status, stdout=_summary(stdout), stderr=_summary(stderr),
                products=products, materials=materials, observer=observer)
        except (TypeError, ValueError) as exc:  # the record refused its fields
            raise InputError(f"outcome of {describe(checked.action)}: {exc}") from None

    def record_event(self, event: str, data: Mapping[str, Any], *,
                     action_index: int | None = None) -> int | None:
        """Record an event of this session (a dotted lowercase name, a small JSON object);
        returns its ledger index (``None`` without a ledger). Raises
        :class:`~codor.errors.InputError` for a malformed event."""
        try:
            return self._kernel.record_event(self.session, event, jsonable(data),
                                             action_index=action_index, agent=self.agent)
        except (TypeError, ValueError) as exc:  # the record refused its fields
            raise InputError(f"event {event!r}: {exc}") from None

    # -- bookkeeping --------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counts since the guard opened: ``allowed``, ``denied``, ``asked`` decisions; ``ok``,
        ``failed`` executions; ``unrecorded`` outcomes."""
        return self._log.counts()

    @contextmanager
    def tracking(self) -> Iterator[CallLog]:
        """Collect, in a :class:`CallLog`, what this guard decides and executes inside the
        block *in this context* (asyncio tasks and ``contextvars.copy_context().run`` inherit
        it; a thread you start does not, though its calls are still decided and recorded)."""
        log = CallLog()
        token = _TRACKING.set((*_TRACKING.get(), (self, log)))
        try:
            yield log
        finally:
            _TRACKING.reset(token)

    def close(self) -> None:
        """Stop deciding (later calls are denied) and, if the guard opened its kernel, flush
        and close the ledger (a failure there is logged: every record was committed when it
        was made). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not self._owns_kernel:
            return
        try:
            self._kernel.close()
        except Exception as exc:  # every record was committed when it was made; say so
            _log.warning("codor: closing the guard's ledger failed: %s", exc)
            with contextlib.suppress(Exception):
                self._kernel.engine.close()

    def __enter__(self) -> Guard:
        with self._lock:
            self._tokens.append(_CURRENT.set(self))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            token = self._tokens.pop() if self._tokens else None
        if token is not None:
            try:
                _CURRENT.reset(token)
            except ValueError:  # exited in another context than it was entered in
                _CURRENT.set(None)
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("recording" if self.recording else "not recording")
        return f"<Guard session={self.session!r} {state}>"

    # -- internals ----------------------------------------------------------------------------
    def _build(self, action_or_kind: Action | str, fields: Mapping[str, Any]) -> Action:
        if isinstance(action_or_kind, str):
            data: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
            data["kind"] = action_or_kind
        elif isinstance(action_or_kind, Action):
            if fields:
                raise ActionError("give an Action or a kind with fields, not both")
            data = action_or_kind.to_json()
        else:
            raise ActionError(f"expected an Action or a kind, got "
                              f"{type(action_or_kind).__name__}")
        defaults = {"session": self.session, "origin": self.origin,
                    "cwd": self._cwd or os.getcwd(),
                    "agent": None if self.agent is None else self.agent.to_json()}
        for name, value in defaults.items():
            if value is not None and data.get(name) is None:
                data[name] = value
        return Action.from_json(data)

    def _decide(self, action: Action) -> Checked:
        if self._closed:
            decision = Decision("deny", (Reason("sdk.closed", None, "high",
                                                "the guard is closed; nothing is allowed"),),
                                policy=self._policy_sha())
            index = None
        else:
            try:
                decision, index = self._kernel.decide_and_index(action)
            except Exception as exc:  # the kernel is fail-closed; this layer is too
                code = getattr(exc, "code", None) or type(exc).__name__
                text = " ".join(str(exc).split())[:300]
                decision = Decision("deny", (Reason(
                    "sdk.internal", None, "critical",
                    f"the decision failed [{code}]: {text}; denied"),), policy=self._policy_sha())
                index = None
        checked = Checked(action, decision, index)
        self._note(describe(action), checked)
        return checked

    def _policy_sha(self) -> str:
        try:
            return self._kernel.engine.policy.sha256
        except Exception:
            return ""

    def _note(self, label: str, checked: Checked) -> None:
        self._log.decided(label, checked)
        for guard, log in _TRACKING.get():
            if guard is self:
                log.decided(label, checked)

    def _observed(self, checked: Checked, started: tuple[int, int], result: object,
                  error: BaseException | None) -> None:
        from codor.evidence.records import StreamSummary, now_us

        ended = now_us()
        assert checked.action is not None  # an allow always has its action
        stdout, stderr = _streams(result, error)
        index: int | None = None
        recorded = True
        try:
            index = self._kernel.record_outcome(
                checked.action, checked.index, started=started, ended=ended,
                exit_status=0 if error is None else 1, stdout=StreamSummary.of(stdout),
                stderr=StreamSummary.of(stderr), observer="codor-runtime")
        except Exception as exc:  # it already ran: report, never pretend it did not
            recorded = False
            _log.warning("codor: the outcome of %s was not recorded: %s",
                         describe(checked.action), exc)
        for log in (self._log, *(log for guard, log in _TRACKING.get() if guard is self)):
            log.executed(checked, failed=error is not None, outcome_index=index,
                         recorded=recorded)


def _check_who(session: object, agent: object) -> None:
    """Who acts must be well-typed before a guard opens: a bad value would deny every call."""
    if not isinstance(session, str | None) or not isinstance(agent, str | Agent | None):
        raise InputError(f"Guard: session must be a string and agent a string or an Agent, "
                         f"got {type(session).__name__} and {type(agent).__name__}")


def _streams(result: object, error: BaseException | None) -> tuple[bytes, bytes]:
    """What an outcome shows of a call: the result as stdout, or the exception as stderr. A
    value that cannot be shown is named as such; it never breaks the call it describes."""
    try:
        if error is None:
            return output_bytes(result), b""
        return b"", f"{type(error).__name__}: {error}".encode("utf-8", "replace")
    except Exception as exc:
        what = "result" if error is None else f"{type(error).__name__} exception"
        note = f"[the {what} could not be shown: {type(exc).__name__}]".encode()
        return (note, b"") if error is None else (b"", note)


def _summary(value: bytes | str | StreamSummary | None) -> StreamSummary | None:
    from codor.evidence.records import StreamSummary

    if value is None or isinstance(value, StreamSummary):
        return value
    return StreamSummary.of(value.encode("utf-8", "replace") if isinstance(value, str)
                            else value)


def _default_guard() -> Guard:
    global _DEFAULT  # noqa: PLW0603 - the one process-wide default, made on first use
    with _DEFAULT_LOCK:
        if _DEFAULT is None or _DEFAULT.closed:
            _DEFAULT = Guard()
            atexit.register(_DEFAULT.close)
        return _DEFAULT
