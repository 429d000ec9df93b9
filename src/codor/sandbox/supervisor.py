"""Running one sandbox process: spawn blocked, apply limits, release, bound the output, time out.

Shared by the backends. The spawned process (``bwrap``, the Landlock helper, the container
engine) starts in a new session with every inherited descriptor beyond 0-2 closed except the
few it is handed. It waits on a release pipe; meanwhile the supervisor learns the sandbox's
first process id, puts it under the limits and calls ``on_started(pid)`` (the network
forwarder joins the sandbox's namespaces there), then releases it. stdout and stderr are read
concurrently with the process's exit (epoll on the pipes and a pidfd): the first bytes of each
are kept, all of it hashed. At the wall limit the whole sandbox is killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from codor.errors import SandboxSetupError
from codor.policy.sandbox_section import Limits
from codor.sandbox.limits import LimitHandle, enforcement, prepare_limits
from codor.sandbox.result import RunResult, StreamCapture

__all__ = ["Launch", "OnStarted", "supervise"]

#: Called with the sandbox's first process id (host pid namespace) before it runs anything.
OnStarted = Callable[[int], None]
_CHUNK = 1 << 16
_DRAIN_AFTER_EXIT = 0.2   # seconds the pipes may stay open after the process exits
_DRAIN_AFTER_KILL = 2.0


@dataclass(slots=True)
class Launch:
    """How a backend starts its process. File descriptors are the parent's; ``child_fds``
    are handed to the process and closed here after the spawn."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    child_fds: tuple[int, ...] = ()
    info_fd: int | None = None      # read end: bwrap --info-fd JSON with "child-pid"
    release_fd: int | None = None   # write end: one byte releases the sandbox
    rlimits: bool = True            # False: the process sets its own rlimits
    limits: bool = True             # False: enforced elsewhere (the container engine)
    enforced_by: str | None = None  # with limits=False: who enforces them
    kill_group_on_exit: bool = False  # no pid namespace: leftovers die with the command
    cleanup: list[Callable[[], None]] = field(default_factory=list)


class _Sink:
    __slots__ = ("data", "digest", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.digest = hashlib.sha256()
        self.limit = limit
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.digest.update(chunk)
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def capture(self) -> StreamCapture:
        return StreamCapture(bytes(self.data), self.total, self.digest.hexdigest())


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _read_info(fd: int) -> int | None:
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        buf += chunk
        try:
            return int(json.loads(buf)["child-pid"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def supervise(
    launch: Launch,
    *,
    backend: str,
    argv: Sequence[str],
    limits: Limits,
    stdin: bytes | None = None,
    inherit_stdio: bool = False,
    on_started: OnStarted | None = None,
    missing: tuple[str, ...] = (),
    setup_error: tuple[int, bytes] | None = None,
) -> RunResult:
    """Run ``launch`` to completion under ``limits``; see the module docstring.

    ``setup_error``: (exit status, stderr prefix) by which the backend's own process reports
    that it could not build the sandbox (the command never ran): raised as
    :class:`~codor.errors.SandboxSetupError` instead of returned.
    """
    pipe = subprocess.PIPE
    started_at, t0 = time.time(), time.monotonic()
    handle = prepare_limits(limits) if launch.limits else LimitHandle()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            launch.argv, env=launch.env, cwd=launch.cwd, close_fds=True,
            pass_fds=launch.child_fds, start_new_session=True,
            stdin=None if inherit_stdio else (subprocess.DEVNULL if stdin is None else pipe),
            stdout=None if inherit_stdio else pipe, stderr=None if inherit_stdio else pipe)

    try:
        proc = handle.spawn(start)
    except OSError as exc:
        handle.close()
        for fd in (*launch.child_fds, launch.info_fd, launch.release_fd):
            _close(fd)
        raise SandboxSetupError(f"{backend}: cannot start {launch.argv[0]}: {exc}") from exc
    for fd in launch.child_fds:
        _close(fd)
    child_pid: int | None = proc.pid
    child_fd: int | None = None
    try:
        if launch.info_fd is not None:
            child_pid = _read_info(launch.info_fd)
            _close(launch.info_fd)
        if child_pid is not None:
            try:
                child_fd = os.pidfd_open(child_pid)
            except OSError:
                child_fd = None
            if launch.limits:
                handle.apply(child_pid, limits, rlimits=launch.rlimits)
            if on_started is not None:
                on_started(child_pid)
        if launch.release_fd is not None:
            with contextlib.suppress(OSError):  # if it already died, its status says why
                os.write(launch.release_fd, b"1")
            _close(launch.release_fd)
            launch.release_fd = None
        out, err, timed_out = _pump(proc, launch, child_fd, limits, stdin, inherit_stdio)
        status = proc.wait()
    except BaseException:
        _kill(proc, child_fd)
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        raise
    finally:
        _close(launch.release_fd)
        hits = handle.hits()
        handle.close()
        _close(child_fd)
        for fn in launch.cleanup:
            fn()
    t1, ended_at = time.monotonic(), time.time()
    if (setup_error is not None and err is not None and status == setup_error[0]
            and err.data.startswith(setup_error[1])):
        raise SandboxSetupError(f"{backend} could not build the sandbox: "
                                f"{err.text().strip()[:2000]}")
    return RunResult(
        backend=backend, argv=tuple(argv), exit_status=status, timed_out=timed_out,
        limits_hit=_limits_hit(status, timed_out, hits, out, err),
        stdout=out, stderr=err, started_at=started_at, ended_at=ended_at, started_mono=t0,
        ended_mono=t1,
        child_pid=child_pid, enforcement=_enforcement(launch, limits),
        missing_guarantees=missing)


def _pump(proc: subprocess.Popen[bytes], launch: Launch, child_fd: int | None, limits: Limits,
          stdin: bytes | None, inherit: bool
          ) -> tuple[StreamCapture | None, StreamCapture | None, bool]:
    sel = selectors.DefaultSelector()
    keep = limits.output_kb * 1024
    sinks: dict[int, _Sink] = {}
    if not inherit:
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            sinks[stream.fileno()] = _Sink(keep)
            sel.register(stream.fileno(), selectors.EVENT_READ, "out")
    pending = memoryview(stdin or b"")
    if proc.stdin is not None:
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "in")
        else:
            proc.stdin.close()
    exit_fd = os.pidfd_open(proc.pid)
    sel.register(exit_fd, selectors.EVENT_READ, "exit")
    deadline = time.monotonic() + limits.wall_seconds if limits.wall_seconds else None
    exited, timed_out = False, False
    drain_until: float | None = None
    open_streams = set(sinks)
    try:
        while not exited or open_streams:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                timed_out, deadline = True, None
                _kill(proc, child_fd)
                drain_until = now + _DRAIN_AFTER_KILL
            if drain_until is not None and now >= drain_until:
                _kill(proc, child_fd)
                break
            limit = [t for t in (deadline, drain_until) if t is not None]
            events = sel.select(max(0.0, min(limit) - now) if limit else None)
            for key, _mask in events:
                fd = int(key.fd)
                if key.data == "exit":
                    exited = True
                    sel.unregister(fd)
                    if launch.kill_group_on_exit:
                        _kill(proc, child_fd)
                    if drain_until is None:
                        drain_until = time.monotonic() + _DRAIN_AFTER_EXIT
                elif key.data == "in":
                    assert proc.stdin is not None
                    try:
                        pending = pending[os.write(fd, pending[:_CHUNK]):]
                    except (BrokenPipeError, BlockingIOError, OSError):
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()
                else:
                    chunk = os.read(fd, _CHUNK)
                    if chunk:
                        sinks[fd].feed(chunk)
                    else:
                        sel.unregister(fd)
                        open_streams.discard(fd)
    finally:
        sel.close()
        _close(exit_fd)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
    if inherit:
        return None, None, timed_out
    out_sink, err_sink = sinks.values()  # registered stdout first, then stderr
    return out_sink.capture(), err_sink.capture(), timed_out


def _enforcement(launch: Launch, limits: Limits) -> tuple[tuple[str, str], ...]:
    by = enforcement(limits)
    if not launch.limits:  # wall time and output stay the supervisor's
        by.update({k: launch.enforced_by or "none" for k in by if k not in ("wall", "output")})
    return tuple(sorted(by.items()))


def _kill(proc: subprocess.Popen[bytes], child_fd: int | None) -> None:
    """SIGKILL the sandbox: its first process (pid 1 of its pid namespace, if any: the kernel
    then kills every process in it) and the spawned process's whole process group."""
    if child_fd is not None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(child_fd, signal.SIGKILL)
    if proc.returncode is None:  # not reaped: its pid (and group id) cannot be reused yet
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)


def _limits_hit(status: int, timed_out: bool, cgroup_hits: list[str],
                out: StreamCapture | None, err: StreamCapture | None) -> tuple[str, ...]:
    hits = list(cgroup_hits)
    if timed_out:
        hits.append("wall")
    if status in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        hits.append("cpu")
    if status in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        hits.append("file_size")
    if (out and out.truncated) or (err and err.truncated):
        hits.append("output")
    return tuple(dict.fromkeys(hits))
