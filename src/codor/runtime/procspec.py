"""What the adaptive executor (:mod:`codor.runtime.supervisor`) is asked to run and what it
reports: :class:`ProcessSpec` with its :class:`Limits`, :class:`RestartPolicy` and
:class:`HealthCheck`, the :class:`ProcessStatus` snapshot, and the errors.

Every spec type is a frozen dataclass validated when it is made: a bad value raises
:class:`SupervisorError` (``E_SUPERVISOR``) with ``location`` naming the field
(``limits.cpu_percent``, ``health.url``), so a wrong spec never reaches a process. Health
checks only ever reach the loopback interface: a TCP host or an HTTP URL whose host is not
``127.0.0.1``, ``::1`` or ``localhost`` is refused here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

from codor.errors import CodorError

if TYPE_CHECKING:
    from codor.sandbox.spec import SandboxSpec

__all__ = [
    "FINAL_STATES",
    "LOOPBACK_HOSTS",
    "CpuAction",
    "HealthCheck",
    "HealthKind",
    "Limits",
    "ProcessNotFoundError",
    "ProcessSpec",
    "ProcessStartError",
    "ProcessState",
    "ProcessStatus",
    "RestartMode",
    "RestartPolicy",
    "SupervisorError",
]

CpuAction = Literal["throttle", "terminate"]
RestartMode = Literal["never", "on-failure", "always"]
HealthKind = Literal["command", "tcp", "http"]
ProcessState = Literal["starting", "running", "throttled", "paused", "stopping", "exited",
                       "failed", "killed", "restarting"]
#: States after which nothing more happens to a handle (no restart pending).
FINAL_STATES: frozenset[str] = frozenset({"exited", "failed", "killed"})
#: The only hosts a health check may reach.
LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "::1", "localhost"})


class SupervisorError(CodorError):
    """A process spec that is not valid, or an operation the executor cannot do (closed)."""

    code = "E_SUPERVISOR"


class ProcessNotFoundError(SupervisorError):
    """No supervised process with that handle id."""

    code = "E_NOT_FOUND"


class ProcessStartError(SupervisorError):
    """The process could not be started: missing executable or working directory, no
    permission, or the sandbox could not be built."""

    code = "E_SUPERVISOR_START"


def _number(value: object, location: str, *, positive: bool = True,
            optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SupervisorError(f"must be a finite number, not {value!r}", location=location)
    if positive and value <= 0:
        raise SupervisorError(f"must be greater than 0, not {value!r}", location=location)
    if not positive and value < 0:
        raise SupervisorError(f"must not be negative, not {value!r}", location=location)


def _integer(value: object, location: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SupervisorError(f"must be an integer >= {minimum}, not {value!r}",
                              location=location)


def _choice(value: object, allowed: tuple[str, ...], location: str) -> None:
    if value not in allowed:
        raise SupervisorError(f"must be one of {', '.join(allowed)}, not {value!r}",
                              location=location)


def _argv(value: object, location: str) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise SupervisorError("must be a non-empty list of strings (the program, then its "
                              "arguments)", location=location)
    out = tuple(value)
    for i, arg in enumerate(out):
        if not isinstance(arg, str) or "\0" in arg:
            raise SupervisorError(f"argument {i} is not a string without NUL: {arg!r}",
                                  location=location)
    if not out[0]:
        raise SupervisorError("the program name is empty", location=location)
    return out


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one process tree (the process and all its descendants).

    ``cpu_percent`` is of one core, summed over the tree (150 = one and a half cores); above
    it for ``sustain_seconds`` the tree is throttled (``cpu_action="throttle"``: stopped and
    continued in a duty cycle so its use comes down to about the limit) or terminated.
    ``memory_bytes`` is the RSS summed over the tree; exceeding it kills the tree at once
    (SIGKILL: a grace period would let it keep growing). ``wall_seconds`` counts time not
    paused by the caller; past it the tree is stopped gracefully. A graceful stop is SIGTERM,
    then SIGKILL after ``grace_seconds``.
    """

    cpu_percent: float | None = None
    cpu_action: CpuAction = "throttle"
    memory_bytes: int | None = None
    wall_seconds: float | None = None
    grace_seconds: float = 5.0
    sustain_seconds: float = 1.0

    def __post_init__(self) -> None:
        _number(self.cpu_percent, "limits.cpu_percent", optional=True)
        _choice(self.cpu_action, get_args(CpuAction), "limits.cpu_action")
        if self.memory_bytes is not None:
            _integer(self.memory_bytes, "limits.memory_bytes", minimum=1)
        _number(self.wall_seconds, "limits.wall_seconds", optional=True)
        _number(self.grace_seconds, "limits.grace_seconds", positive=False)
        _number(self.sustain_seconds, "limits.sustain_seconds", positive=False)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When a process that ended is started again (under the same handle).

    ``never``; ``on-failure`` (a non-zero exit, a death by signal, a stop for a limit or an
    unhealthy check — including a kill for memory); ``always`` (a clean exit too). At most
    ``max_restarts`` times; the n-th restart waits ``min(backoff_max, backoff_base * 2**n)``
    seconds (n from 0). A stop asked for by the caller never restarts.
    """

    mode: RestartMode = "never"
    max_restarts: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        _choice(self.mode, get_args(RestartMode), "restart.mode")
        _integer(self.max_restarts, "restart.max_restarts", minimum=0)
        _number(self.backoff_base, "restart.backoff_base", positive=False)
        _number(self.backoff_max, "restart.backoff_max", positive=False)
        if self.backoff_max < self.backoff_base:
            raise SupervisorError("must not be less than restart.backoff_base",
                                  location="restart.backoff_max")

    def delay(self, restarts: int) -> float:
        """Seconds to wait before the restart that follows ``restarts`` earlier ones."""
        return float(min(self.backoff_max, self.backoff_base * 2.0 ** min(restarts, 60)))

    def wants_restart(self, outcome: str, restarts: int) -> bool:
        """Whether a run that ended in ``outcome`` (exited/failed/killed) is restarted."""
        if restarts >= self.max_restarts or self.mode == "never":
            return False
        return self.mode == "always" or outcome != "exited"


def _loopback(host: str, location: str) -> str:
    bare = host.strip("[]").lower()
    if bare not in LOOPBACK_HOSTS:
        raise SupervisorError(f"a health check may only reach loopback "
                              f"(127.0.0.1, ::1, localhost), not {host!r}", location=location)
    return bare


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """A probe run while the process lives, on a worker thread, never on the monitor.

    ``kind="command"``: ``command`` (argv) exits 0 within ``timeout`` (its process group is
    killed on timeout). ``kind="tcp"``: a connection to ``host:port`` (loopback) is accepted.
    ``kind="http"``: ``GET url`` (``http://`` on loopback) answers below 400. The first check
    runs ``start_period`` seconds after each start (default: one ``interval``), then one every
    ``interval`` seconds; after ``failures`` consecutive failures the process is unhealthy: it
    is stopped gracefully and the restart policy applies.
    """

    kind: HealthKind
    command: tuple[str, ...] = ()
    port: int | None = None
    host: str = "127.0.0.1"
    url: str | None = None
    interval: float = 5.0
    timeout: float = 2.0
    failures: int = 3
    start_period: float | None = None

    def __post_init__(self) -> None:
        _choice(self.kind, get_args(HealthKind), "health.kind")
        if self.kind == "command":
            object.__setattr__(self, "command", _argv(self.command, "health.command"))
        elif self.command:
            raise SupervisorError(f"only for kind command, not {self.kind}",
                                  location="health.command")
        if self.kind == "tcp":
            _integer(self.port, "health.port", minimum=1)
            assert self.port is not None
            if self.port > 65535:
                raise SupervisorError(f"not a port: {self.port}", location="health.port")
            if not isinstance(self.host, str):
                raise SupervisorError("must be a string", location="health.host")
            _loopback(self.host, "health.host")
        elif self.port is not None:
            raise SupervisorError(f"only for kind tcp, not {self.kind}", location="health.port")
        if self.kind == "http":
            self._check_url()
        elif self.url is not None:
            raise SupervisorError(f"only for kind http, not {self.kind}", location="health.url")
        _number(self.interval, "health.interval")
        _number(self.timeout, "health.timeout")
        _integer(self.failures, "health.failures", minimum=1)
        _number(self.start_period, "health.start_period", positive=False, optional=True)

    def _check_url(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise SupervisorError("an http check needs a url", location="health.url")
        try:
            parts = urlsplit(self.url)
            port = parts.port
        except ValueError as exc:
            raise SupervisorError(f"not a valid URL: {exc}", location="health.url") from exc
        if parts.scheme != "http":
            raise SupervisorError(f"only http:// URLs, not {parts.scheme or 'none'}://",
                                  location="health.url")
        if parts.username is not None or parts.password is not None:
            raise SupervisorError("no user or password in the URL", location="health.url")
        _loopback(parts.hostname or "", "health.url")
        if port == 0:
            raise SupervisorError("port 0 is not a port", location="health.url")

    @property
    def first_after(self) -> float:
        """Seconds after a start before the first check."""
        return self.interval if self.start_period is None else self.start_period


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One supervised process.

    ``env`` is the whole environment (default: this process's, read at each start).
    ``stdout``/``stderr`` are files the output is appended to (default: discarded).
    ``sandbox``: run ``argv`` inside bubblewrap under that spec (built with
    :func:`codor.sandbox.build_spec`; its own argv is replaced by ``argv``, its cwd by
    ``cwd`` when given, and its environment — already scrubbed — is used as is, so ``env``
    must not be given). The sandbox's network must be ``none``: the egress proxy's forwarder
    is not started by the executor.
    """

    name: str
    argv: Sequence[str]
    cwd: str | os.PathLike[str] | None = None
    env: Mapping[str, str] | None = None
    limits: Limits = field(default_factory=Limits)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    health: HealthCheck | None = None
    sandbox: SandboxSpec | None = None
    stdout: str | os.PathLike[str] | None = None
    stderr: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200 \
                or not self.name.isprintable():
            raise SupervisorError(f"a process name is 1 to 200 printable characters, not "
                                  f"{self.name!r}", location="name")
        object.__setattr__(self, "argv", _argv(self.argv, "argv"))
        for attr in ("cwd", "stdout", "stderr"):
            value = getattr(self, attr)
            if value is not None:
                if not isinstance(value, str | os.PathLike):
                    raise SupervisorError(f"must be a path, not {value!r}", location=attr)
                object.__setattr__(self, attr, os.fspath(value))
        if self.env is not None:
            if not isinstance(self.env, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) and k and "=" not in k
                    for k, v in self.env.items()):
                raise SupervisorError("must map variable names to strings", location="env")
            object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        for attr, kind in (("limits", Limits), ("restart", RestartPolicy)):
            if not isinstance(getattr(self, attr), kind):
                raise SupervisorError(f"must be a {kind.__name__}", location=attr)
        if self.health is not None and not isinstance(self.health, HealthCheck):
            raise SupervisorError("must be a HealthCheck or None", location="health")
        if self.sandbox is not None:
            self._check_sandbox()

    def _check_sandbox(self) -> None:
        from codor.sandbox.spec import SandboxSpec

        if not isinstance(self.sandbox, SandboxSpec):
            raise SupervisorError("must be a codor.sandbox.SandboxSpec (build_spec) or None",
                                  location="sandbox")
        if self.sandbox.network != "none":
            raise SupervisorError(
                "the adaptive executor runs sandboxes without the egress proxy: build the "
                "sandbox spec with network 'none' (its network is then cut off)",
                location="sandbox.network")
        if self.env is not None:
            raise SupervisorError("a sandboxed process uses the sandbox spec's environment "
                                  "(already scrubbed): pass env to build_spec instead",
                                  location="env")


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """A snapshot of one supervised process.

    ``state``: starting (a health check has not passed yet), running, throttled, paused,
    stopping, restarting (waiting out the backoff), or final: exited (exit status 0, or
    stopped at the caller's request), failed (any other end, or stopped for a limit or an
    unhealthy check), killed (SIGKILLed: memory limit, or still alive after the grace).
    ``exit_code`` is the last run's (negative: killed by that signal; under bubblewrap a
    signal N shows as 128+N). ``throttled_seconds``: total time the tree was held stopped by
    throttling. ``healthy``: None without a check or before its first answer.
    ``event_error``: the last exception raised by the ``on_event`` callback, if any.
    """

    id: str
    name: str
    state: ProcessState
    pid: int | None
    restarts: int
    exit_code: int | None
    reason: str | None
    cpu_percent: float | None
    rss_bytes: int | None
    throttled_seconds: float
    healthy: bool | None
    started_at: float | None = None
    ended_at: float | None = None
    event_error: str | None = None

    @property
    def final(self) -> bool:
        """Nothing more will happen: exited, failed or killed with no restart pending."""
        return self.state in FINAL_STATES

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}
