"""The adaptive executor: starts agent processes (inside bubblewrap when asked), watches the
CPU and memory of each whole process tree, throttles or stops what goes over its limits,
checks health, restarts by policy, and reports every lifecycle change as an event.

:class:`AdaptiveExecutor` supervises any number of :class:`~codor.runtime.procspec.ProcessSpec`
with **one** monitor thread. Each process starts in a session of its own (it leads its own
process group); every ``sample_interval`` the monitor reads ``/proc`` once, finds each tree
(the leader's descendants and every member of its process groups, so orphans still count)
and sums, with psutil, the RSS and the CPU time of its members — CPU percent is the growth of
that time over wall time, in a sliding window (a member reaped by another member moves its
time into the reaper's ``children_*`` times, which are counted too, so short-lived compilers
and test runners are not missed). Then, per process:

* **memory** over ``limits.memory_bytes``: SIGKILL to the process group at once
  (``process.limit_exceeded``, final state ``killed``);
* **CPU** over ``limits.cpu_percent`` for ``sustain_seconds``: ``throttle`` duty-cycles the
  groups with SIGSTOP/SIGCONT so the tree runs about ``limit / (its use while running)`` of
  each period, adapting as its use changes, and lets it run freely again once that use stays
  under the limit (``process.throttled``/``process.unthrottled``); ``terminate`` stops it;
* **wall time** (not counting the caller's pauses) over ``limits.wall_seconds``: stopped;
* **health**: checks run on a small worker pool (never on the monitor), each bounded by its
  timeout; after ``failures`` consecutive failures the process is stopped
  (``process.unhealthy``) and the restart policy applies.

A graceful stop sends SIGTERM (and SIGCONT, so a stopped tree can act on it), waits
``grace_seconds``, then SIGKILLs the process group; the run is final only once no member of
its groups is left alive (zombies that nobody reaps — orphans under a pid 1 that does not
wait — do not count). The leader is reaped with ``Popen.poll``. When a leader exits on its own
while members of its group live on, they get the same graceful stop. Signals only ever go to
process groups this executor started.

**Sandbox.** With ``ProcessSpec.sandbox`` the command runs under the bubblewrap command line
built by :meth:`codor.sandbox.bwrap.BubblewrapBackend.argv` (namespaces, read-only host,
masked credentials, seccomp), released at once. bubblewrap's init process puts the command in
a session of its own inside the sandbox; its group id (the ``--info-fd`` child pid) is a
second group: SIGSTOP/SIGCONT go to both, SIGTERM to the command's group, SIGKILL to both —
killing bubblewrap kills the sandbox's pid namespace. The monitor sees bwrap and everything
under it. The sandbox spec's own ``limits`` (cgroup, rlimits) are not applied: this
executor's :class:`~codor.runtime.procspec.Limits` are.

**Events.** ``on_event(kind, data)`` receives ``process.started``, ``process.healthy``,
``process.unhealthy``, ``process.throttled``, ``process.unthrottled``,
``process.limit_exceeded``, ``process.paused``, ``process.resumed``, ``process.stopping``,
``process.exited``, ``process.killed``, ``process.restarting`` and
``process.restart_cancelled``; ``data`` always has ``name``, ``id`` and ``pid``. It is called
without any lock held, from the thread that made the change (the monitor, or the caller of
:meth:`AdaptiveExecutor.start`/``stop``/``pause``/``resume``); an exception it raises is
logged, kept in :attr:`ProcessStatus.event_error`, and changes nothing else. A handle is
reported by :meth:`AdaptiveExecutor.finished` and released by ``wait``/``stop`` only after
the events of its end were delivered.

The monitor's steps (sampling, limits, throttling, health, restarts) live in
:mod:`codor.runtime.monitor`, the record kept per process in :mod:`codor.runtime.procrecord`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from codor.runtime.monitor import Monitor
from codor.runtime.procrecord import _Batch, _Proc
from codor.runtime.procspec import (
    FINAL_STATES,
    HealthCheck,
    Limits,
    ProcessNotFoundError,
    ProcessSpec,
    ProcessStartError,
    ProcessState,
    ProcessStatus,
    RestartPolicy,
    SupervisorError,
)
from codor.runtime.proctree import Launched, Snapshot, launch

__all__ = [
    "FINAL_STATES",
    "AdaptiveExecutor",
    "EventSink",
    "HealthCheck",
    "Limits",
    "ProcessNotFoundError",
    "ProcessSpec",
    "ProcessStartError",
    "ProcessState",
    "ProcessStatus",
    "RestartPolicy",
    "SupervisorError",
]

#: ``on_event(kind, data)``.
EventSink = Callable[[str, Mapping[str, Any]], None]
_log = logging.getLogger(__name__)


def _kill_all(live: dict[str, Launched]) -> None:
    """Last resort at interpreter exit for an executor never closed: SIGKILL its groups."""
    for launched in list(live.values()):
        if launched.popen.poll() is None:
            for group in launched.groups:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
            with contextlib.suppress(Exception):
                launched.popen.wait(timeout=5)


# -- the executor --------------------------------------------------------------------------
class AdaptiveExecutor(Monitor):
    """Supervises processes; see the module docstring. Thread-safe; use as a context manager
    or call :meth:`close`.

    ``on_event(kind, data)``: every lifecycle change (e.g. ``kernel.record_event(session,
    kind, data)``); must not call ``stop``/``wait``/``close`` with waiting (they would wait
    for the monitor thread that is calling it). ``sample_interval``: seconds between two
    samples of every tree (also the longest a change waits to be noticed).
    """

    def __init__(self, *, on_event: EventSink | None = None,
                 sample_interval: float = 0.1) -> None:
        if isinstance(sample_interval, bool) or not isinstance(sample_interval, int | float) \
                or not 0 < sample_interval <= 60:
            raise SupervisorError("must be a number of seconds in (0, 60]",
                                  location="sample_interval")
        self._on_event = on_event
        self.sample_interval = float(sample_interval)
        self._period = max(0.1, 2 * self.sample_interval)   # one throttling duty cycle
        self._window = max(0.5, 4 * self.sample_interval)   # CPU percent is over this
        self._cond = threading.Condition(threading.Lock())
        self._procs: dict[str, _Proc] = {}
        self._finished: deque[tuple[str, ProcessStatus]] = deque()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._next_sample = 0.0
        self._closing = False
        self._halt = False
        self._closed = False
        self._live: dict[str, Launched] = {}
        self._finalizer = weakref.finalize(self, _kill_all, self._live)

    # -- public API --------------------------------------------------------------------------
    def start(self, spec: ProcessSpec) -> str:
        """Start ``spec``; returns its handle id. Raises :class:`ProcessStartError` when it
        cannot start (nothing is then supervised)."""
        if not isinstance(spec, ProcessSpec):
            raise SupervisorError("start() takes a ProcessSpec", location="spec")
        if self._closing:
            raise SupervisorError("the executor is closed")
        launched = launch(spec)
        batch = _Batch()
        with self._cond:
            if self._flag("closing"):
                self._discard_launch(launched)
                raise SupervisorError("the executor is closed")
            p = _Proc(f"{spec.name}.{next(self._ids)}", spec)
            self._procs[p.id] = p
            self._install(p, launched, time.monotonic(), batch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="codor-supervisor",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()
        self._deliver(batch)
        return p.id

    def status(self, hid: str) -> ProcessStatus:
        with self._cond:
            return self._status(self._get(hid))

    def statuses(self) -> list[ProcessStatus]:
        """Every handle still known (finished ones until :meth:`discard`)."""
        with self._cond:
            return [self._status(p) for p in self._procs.values()]

    def finished(self) -> list[tuple[str, ProcessStatus]]:
        """Handles that reached a final state since the last call, with their final status
        (non-blocking; each is reported once, after its events were delivered)."""
        with self._cond:
            out = list(self._finished)
            self._finished.clear()
            return out

    def pause(self, hid: str) -> ProcessStatus:
        """SIGSTOP the whole tree (a scheduler preempting it); a process waiting to restart
        stays down until resumed. No effect on a stopping or finished process."""
        batch = _Batch()
        with self._cond:
            p = self._get(hid)
            if p.phase in ("live", "restarting") and not p.paused:
                now = time.monotonic()
                p.paused, p.paused_since = True, now
                if p.phase == "live" and not p.leader_done:
                    p.unhold(now)
                    self._signal(p, p.groups, signal.SIGSTOP)
                    p.mark_stopped(now)
                batch.add("process.paused", p)
            status = self._status(p)
        self._deliver(batch)
        return status

    def resume(self, hid: str) -> ProcessStatus:
        """SIGCONT the tree paused by :meth:`pause`."""
        batch = _Batch()
        with self._cond:
            p = self._get(hid)
            if p.paused and p.phase in ("live", "restarting"):
                now = time.monotonic()
                if p.paused_since is not None:
                    p.paused_total += now - p.paused_since
                p.paused, p.paused_since = False, None
                if p.phase == "live" and not p.leader_done:
                    self._signal(p, p.groups, signal.SIGCONT)
                    p.mark_running(now)
                    if p.throttled:
                        p.next_toggle = now + self._period * p.duty
                batch.add("process.resumed", p)
                self._cond.notify_all()
            status = self._status(p)
        self._deliver(batch)
        return status

    def stop(self, hid: str, grace: float | None = None, *, wait: bool = True) -> ProcessStatus:
        """Stop gracefully: SIGTERM to the group, ``grace`` seconds (default: the spec's
        ``grace_seconds``), then SIGKILL; never restarted. With ``wait`` (default) returns
        once the whole group is gone, with the final status."""
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int | float)
                                  or not grace >= 0):
            raise SupervisorError(f"grace must be a number >= 0, not {grace!r}",
                                  location="grace")
        self._refuse_on_monitor("stop(wait=True)" if wait else None)
        batch = _Batch()
        with self._cond:
            p = self._get(hid)
            self._request_stop(p, grace, "stopped by caller", batch)
            self._cond.notify_all()
        self._deliver(batch)
        return self.wait(hid) if wait else self.status(hid)

    def wait(self, hid: str, timeout: float | None = None) -> ProcessStatus:
        """Wait until the handle is final (no restart pending) or ``timeout`` passes; returns
        its status either way (check :attr:`ProcessStatus.final`)."""
        self._refuse_on_monitor("wait()")
        with self._cond:
            p = self._get(hid)
            self._cond.wait_for(lambda: p.settled, timeout)
            return self._status(p)

    def discard(self, hid: str) -> None:
        """Forget a finished handle (its status is no longer kept)."""
        with self._cond:
            p = self._get(hid)
            if not p.settled:
                raise SupervisorError(f"process {hid} is not finished", location=hid)
            del self._procs[hid]

    def close(self) -> None:
        """Stop every process (each with its grace), wait for all, end the monitor.
        Idempotent."""
        self._refuse_on_monitor("close()")
        batch = _Batch()
        with self._cond:
            if self._closed:
                return
            self._closing = True
            for p in self._procs.values():
                self._request_stop(p, None, "executor closed", batch)
            self._cond.notify_all()
        self._deliver(batch)
        with self._cond:
            self._cond.wait_for(lambda: all(p.settled for p in self._procs.values()))
            self._halt = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._closed = True
        self._finalizer.detach()

    def __enter__(self) -> AdaptiveExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers under the lock ----------------------------------------------------------------
    def _flag(self, name: str) -> bool:
        """``_closing`` or ``_halt`` read afresh (another thread may have set it)."""
        return bool(getattr(self, f"_{name}"))

    def _refuse_on_monitor(self, what: str | None) -> None:
        if what is not None and threading.current_thread() is self._thread:
            raise SupervisorError(f"{what} from an on_event callback would wait for the "
                                  "monitor thread that runs it; use stop(..., wait=False)")

    def _get(self, hid: str) -> _Proc:
        p = self._procs.get(hid)
        if p is None:
            raise ProcessNotFoundError(f"no supervised process {hid!r}", location=hid)
        return p

    def _status(self, p: _Proc) -> ProcessStatus:
        held = time.monotonic() - p.held_since if p.held and p.held_since is not None else 0.0
        cpu = None if p.cpu_percent is None else round(p.cpu_percent, 1)
        return ProcessStatus(
            id=p.id, name=p.spec.name, state=p.state(), pid=p.pid, restarts=p.restarts,
            exit_code=p.exit_code, reason=p.reason, cpu_percent=cpu, rss_bytes=p.rss,
            throttled_seconds=round(p.throttled_seconds + held, 3), healthy=p.healthy,
            started_at=p.started_at, ended_at=p.ended_at, event_error=p.event_error)

    def _install(self, p: _Proc, launched: Launched, now: float, batch: _Batch) -> None:
        p.popen, p.groups, p.term_groups = launched.popen, launched.groups, launched.term_groups
        p.phase, p.restart_at = "live", None
        p.exit_code, p.reason, p.ended_at = None, None, None
        p.started_at = time.time()
        p.reset(now)
        self._live[p.id] = launched
        batch.add("process.started", p, argv=list(p.spec.argv), restarts=p.restarts,
                  sandboxed=p.spec.sandbox is not None)

    def _discard_launch(self, launched: Launched) -> None:
        for group in launched.groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        launched.popen.wait()

    def _signal(self, p: _Proc, groups: Iterable[int], sig: int,
                snap: Snapshot | None = None) -> None:
        """Signal process groups of ``p``'s current run. Once the leader is reaped its group
        id could in principle be reused, so a group is then signalled only if this step's
        snapshot shows live members in it."""
        assert p.popen is not None
        reaped = p.popen.returncode is not None
        for group in groups:
            if reaped and (snap is None or group not in snap.live_groups):
                continue
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
            except PermissionError as exc:  # a member changed its credentials (setuid)
                _log.warning("cannot signal process group %d of %s: %s", group, p.id, exc)

    def _request_stop(self, p: _Proc, grace: float | None, why: str, batch: _Batch) -> None:
        if p.phase == "final":
            return
        p.caller_stop = True
        now = time.monotonic()
        if p.phase == "restarting":
            p.restart_at = None
            p.reason = f"{why} while waiting to restart (last run: {p.reason})"
            batch.add("process.restart_cancelled", p, reason=p.reason)
            self._finalize(p, batch)
            return
        g = p.spec.limits.grace_seconds if grace is None else float(grace)
        if p.phase == "stopping" or p.leader_done:
            if p.kill_deadline is not None and not p.kill_sent:
                p.kill_deadline = min(p.kill_deadline, now + g)
            return
        self._begin_stop(p, now, why, "caller", g, batch)

    def _begin_stop(self, p: _Proc, now: float, why: str, cause: str, grace: float,
                    batch: _Batch) -> None:
        p.phase, p.reason, p.cause = "stopping", why, cause
        p.throttled = False
        p.unhold(now)
        if p.paused and p.paused_since is not None:
            p.paused_total += now - p.paused_since
        p.paused, p.paused_since = False, None
        p.mark_running(now)
        batch.add("process.stopping", p, reason=why, grace=grace)
        if grace <= 0:
            self._kill(p)
            return
        self._signal(p, p.term_groups, signal.SIGTERM)
        self._signal(p, p.groups, signal.SIGCONT)  # a stopped tree must run to act on it
        p.kill_deadline = now + grace

    def _kill(self, p: _Proc, snap: Snapshot | None = None) -> None:
        self._signal(p, p.groups, signal.SIGKILL, snap)
        p.kill_sent = True
        if not p.leader_done:
            p.killed = True

    def _finalize(self, p: _Proc, batch: _Batch) -> None:
        p.phase = "final"
        p.check, p.next_check = None, None
        batch.settle.append(p)

    def _deliver(self, batch: _Batch) -> None:
        """Call on_event for each event (no lock held), then settle finished handles."""
        for kind, data in batch.events:
            if self._on_event is None:
                break
            try:
                self._on_event(kind, data)
            except Exception as exc:
                message = f"on_event failed for {kind}: {type(exc).__name__}: {exc}"
                _log.warning("%s (process %s)", message, data.get("id"))
                with self._cond:
                    p = self._procs.get(str(data.get("id")))
                    if p is not None:
                        p.event_error = message
        if batch.settle:
            with self._cond:
                for p in batch.settle:
                    p.settled = True
                    self._finished.append((p.id, self._status(p)))
                self._cond.notify_all()
