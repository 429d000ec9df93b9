"""The monitor thread of the adaptive executor (:mod:`codor.runtime.supervisor`): each step it
reaps leaders that exited and stops what outlives them, samples every tree's CPU time and
memory from one ``/proc`` snapshot, enforces the limits (a kill over memory, a stop over wall
time, throttling or a stop over CPU), runs the throttling duty cycle, starts health checks on
the worker pool and reads their results, and restarts by policy. :class:`Monitor` is a base of
:class:`~codor.runtime.supervisor.AdaptiveExecutor`, whose state (set up in its
``__init__``) and actions under the lock (signalling, stopping, delivering events) it uses.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import psutil

from codor.errors import CodorError
from codor.runtime.health import probe
from codor.runtime.procrecord import _Batch, _Proc
from codor.runtime.procspec import ProcessState
from codor.runtime.proctree import Launched, Snapshot, launch

__all__ = ["Monitor"]

_log = logging.getLogger("codor.runtime.supervisor")  # the executor's logger, as before
_MIB = 1 << 20
_MIN_DUTY = 0.05          # a throttled tree runs at least this share of each period
_UNTHROTTLE = 0.9         # ... and runs freely again once its use stays below limit * this


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "ended"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _size(n: float) -> str:
    return f"{n / _MIB:.1f} MiB" if n < 10 * _MIB else f"{n / _MIB:.0f} MiB"


class Monitor:
    """The monitor's steps, as methods of the adaptive executor (a base of
    :class:`~codor.runtime.supervisor.AdaptiveExecutor`, whose ``__init__`` sets the
    attributes below)."""

    sample_interval: float
    _cond: threading.Condition
    _procs: dict[str, _Proc]
    _pool: ThreadPoolExecutor | None
    _next_sample: float
    _closing: bool
    _halt: bool
    _live: dict[str, Launched]
    _period: float
    _window: float

    if TYPE_CHECKING:  # provided by the AdaptiveExecutor
        def _flag(self, name: str) -> bool: ...

        def _install(self, p: _Proc, launched: Launched, now: float, batch: _Batch) -> None: ...

        def _discard_launch(self, launched: Launched) -> None: ...

        def _signal(self, p: _Proc, groups: Iterable[int], sig: int,
                    snap: Snapshot | None = None) -> None: ...

        def _begin_stop(self, p: _Proc, now: float, why: str, cause: str, grace: float,
                        batch: _Batch) -> None: ...

        def _kill(self, p: _Proc, snap: Snapshot | None = None) -> None: ...

        def _finalize(self, p: _Proc, batch: _Batch) -> None: ...

        def _deliver(self, batch: _Batch) -> None: ...

    # -- the monitor ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            batch = _Batch()
            relaunch: list[_Proc] = []
            with self._cond:
                if self._halt:
                    return
                try:
                    relaunch = self._tick(time.monotonic(), batch)
                except Exception:  # a bug must not end supervision of every process
                    _log.exception("supervisor monitor step failed")
            self._deliver(batch)
            for p in relaunch:
                self._relaunch(p)
            with self._cond:
                if self._flag("halt"):
                    return
                delay = self._next_wake(time.monotonic())
                if delay is None or delay > 0:
                    self._cond.wait(delay)

    def _active(self) -> list[_Proc]:
        return [p for p in self._procs.values() if p.phase != "final"]

    def _next_wake(self, now: float) -> float | None:
        active = self._active()
        if not active:
            return None
        due = self._next_sample
        for p in active:
            if p.phase == "restarting":
                if not p.paused and not p.launching and p.restart_at is not None:
                    due = min(due, p.restart_at)
                continue
            if p.kill_deadline is not None and not p.kill_sent:
                due = min(due, p.kill_deadline)
            if p.throttled and not p.paused and p.next_toggle is not None:
                due = min(due, p.next_toggle)
        return max(0.0, due - now)

    def _tick(self, now: float, batch: _Batch) -> list[_Proc]:
        active = self._active()
        snap: Snapshot | None = None
        if active and now >= self._next_sample:
            self._next_sample = now + self.sample_interval
            snap = Snapshot({g for p in active for g in p.groups})
        relaunch: list[_Proc] = []
        for p in active:
            if p.phase == "restarting":
                if (not p.paused and not p.launching and not self._closing
                        and p.restart_at is not None and now >= p.restart_at):
                    p.launching = True
                    relaunch.append(p)
                continue
            try:
                self._step(p, now, snap, batch)
            except Exception:
                _log.exception("supervising %s failed in this step", p.id)
        return relaunch

    def _step(self, p: _Proc, now: float, snap: Snapshot | None, batch: _Batch) -> None:
        assert p.popen is not None
        if not p.leader_done and p.popen.poll() is not None:
            p.leader_done = True
            p.exit_code, p.ended_at = p.popen.returncode, time.time()
            p.throttled = False
            p.unhold(now)
        if p.leader_done:
            if snap is not None:
                self._sweep(p, now, snap, batch)
            return
        if snap is not None:
            self._sample(p, now, snap, batch)
        if p.phase == "stopping":
            if p.kill_deadline is not None and not p.kill_sent and now >= p.kill_deadline:
                self._kill(p)
            return
        if p.throttled and not p.paused and p.next_toggle is not None and now >= p.next_toggle:
            self._toggle(p, now)
        self._health(p, now, batch)

    def _sweep(self, p: _Proc, now: float, snap: Snapshot, batch: _Batch) -> None:
        """After the leader ended: finish once its groups are empty, else stop the rest."""
        live = [g for g in p.groups if g in snap.live_groups]
        if not live:
            # ``snap`` listed /proc before the leader was reaped: a child it forked just
            # before exiting may be missing from it. Confirm with a scan made after the reap.
            fresh = Snapshot(set(p.groups))
            live = [g for g in p.groups if g in fresh.live_groups]
            snap = fresh
        if not live:
            self._finish(p, now, batch)
            return
        if p.kill_deadline is None:
            grace = p.spec.limits.grace_seconds
            p.phase = "stopping"
            batch.add("process.stopping", p, reason="its process group outlived it",
                      grace=grace)
            self._signal(p, live, signal.SIGTERM, snap)
            self._signal(p, live, signal.SIGCONT, snap)
            p.kill_deadline = now + grace
        elif not p.kill_sent and now >= p.kill_deadline:
            self._kill(p, snap)

    def _finish(self, p: _Proc, now: float, batch: _Batch) -> None:
        code = p.exit_code
        if p.killed:
            outcome: ProcessState = "killed"
        elif p.cause == "caller" or (p.cause is None and code == 0):
            outcome = "exited"
        else:
            outcome = "failed"
        if p.cause is not None and p.reason:
            reason = f"{p.reason} ({_describe_exit(code)})"
        else:
            reason = _describe_exit(code)
        p.outcome, p.reason = outcome, reason
        p.check, p.next_check = None, None
        self._live.pop(p.id, None)
        restart = (not p.caller_stop and not self._closing
                   and p.spec.restart.wants_restart(outcome, p.restarts))
        batch.add("process.killed" if outcome == "killed" else "process.exited", p,
                  state=outcome, exit_code=code, reason=reason, restarts=p.restarts,
                  final=not restart)
        if restart:
            delay = p.spec.restart.delay(p.restarts)
            p.phase, p.restart_at = "restarting", now + delay
            batch.add("process.restarting", p, attempt=p.restarts + 1, delay=delay,
                      after=outcome, reason=reason)
        else:
            self._finalize(p, batch)

    def _relaunch(self, p: _Proc) -> None:
        """Start ``p`` again (monitor thread, no lock held while spawning)."""
        launched: Launched | None = None
        error = ""
        try:
            launched = launch(p.spec)
        except CodorError as exc:
            error = exc.message
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        batch = _Batch()
        orphan: Launched | None = None
        with self._cond:
            p.launching = False
            if p.phase != "restarting":  # stopped (or the executor closed) meanwhile
                orphan = launched
            elif launched is None:
                p.outcome, p.reason = "failed", f"restart failed: {error}"
                batch.add("process.exited", p, state="failed", exit_code=None,
                          reason=p.reason, restarts=p.restarts, final=True)
                self._finalize(p, batch)
            else:
                p.restarts += 1
                self._install(p, launched, time.monotonic(), batch)
            self._cond.notify_all()
        if orphan is not None:
            self._discard_launch(orphan)
        self._deliver(batch)

    # -- measuring and limiting ------------------------------------------------------------------
    def _sample(self, p: _Proc, now: float, snap: Snapshot, batch: _Batch) -> None:
        assert p.popen is not None
        alive: dict[tuple[int, int], tuple[float, int]] = {}
        delta, rss = 0.0, 0
        for pid in snap.tree(p.popen.pid, p.groups):
            st = snap.index[pid]
            key = (pid, st.start)
            try:
                proc = p.cache.get(key)
                if proc is None:
                    proc = p.cache[key] = psutil.Process(pid)
                with proc.oneshot():
                    times = proc.cpu_times()
                    if not st.zombie:
                        rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess too
                continue
            total = times.user + times.system + times.children_user + times.children_system
            before = p.counted.get(key)
            delta += total - before[0] if before is not None else total
            alive[key] = (total, st.ppid)
        members = {pid for pid, _ in alive} | {pid for pid, _ in p.counted}
        for key, (total, ppid) in p.counted.items():
            # reaped by another member: its time moved into that member's children_* times
            if key not in alive and key[0] not in snap.index and ppid in members:
                delta -= total
        p.counted = alive
        for key in [k for k in p.cache if k not in alive]:
            del p.cache[key]
        p.cpu_acc += max(delta, 0.0)
        if p.run_since is not None:
            p.run_acc += now - p.run_since
            p.run_since = now
        p.window.append((now, p.cpu_acc, p.run_acc))
        while len(p.window) > 2 and p.window[1][0] <= now - self._window:
            p.window.popleft()
        t0, cpu0, run0 = p.window[0]
        if now - t0 > 0:
            p.cpu_percent = (p.cpu_acc - cpu0) / (now - t0) * 100.0
        running = p.run_acc - run0
        rate = (p.cpu_acc - cpu0) / running * 100.0 if running > 0.02 else None
        p.rss = rss
        self._enforce(p, now, rate, batch)

    def _enforce(self, p: _Proc, now: float, rate: float | None, batch: _Batch) -> None:
        limits = p.spec.limits
        if limits.memory_bytes is not None and p.rss is not None \
                and p.rss > limits.memory_bytes and not p.kill_sent:
            why = f"memory {_size(p.rss)} over limit {_size(limits.memory_bytes)}"
            batch.add("process.limit_exceeded", p, limit="memory", value=p.rss,
                      threshold=limits.memory_bytes, action="kill", reason=why)
            if p.phase != "stopping":
                self._begin_stop(p, now, why, "limit", 0.0, batch)
            else:
                p.reason, p.cause = why, "limit"
                self._kill(p)
            return
        if p.phase != "live" or p.paused:
            return
        if limits.wall_seconds is not None:
            active = now - p.started_mono - p.paused_total
            if active >= limits.wall_seconds:
                why = f"wall time {active:.2f}s over limit {limits.wall_seconds:g}s"
                batch.add("process.limit_exceeded", p, limit="wall", value=round(active, 3),
                          threshold=limits.wall_seconds, action="stop", reason=why)
                self._begin_stop(p, now, why, "limit", limits.grace_seconds, batch)
                return
        if limits.cpu_percent is None or p.cpu_percent is None:
            return
        limit = limits.cpu_percent
        if p.throttled:
            if rate is None:
                return
            target = limit / rate if rate > 0 else 1.0
            p.duty = min(1.0, max(_MIN_DUTY, 0.5 * p.duty + 0.5 * target))
            if rate < _UNTHROTTLE * limit:
                p.under_since = p.under_since if p.under_since is not None else now
                if now - p.under_since >= max(limits.sustain_seconds, self._window):
                    if p.held:
                        self._signal(p, p.groups, signal.SIGCONT)
                    p.unhold(now)
                    p.mark_running(now)
                    p.throttled, p.next_toggle, p.over_since = False, None, None
                    batch.add("process.unthrottled", p, cpu_percent=round(rate, 1),
                              limit=limit, throttled_seconds=round(p.throttled_seconds, 3))
            else:
                p.under_since = None
            return
        if p.cpu_percent <= limit:
            p.over_since = None
            return
        p.over_since = p.over_since if p.over_since is not None else now
        if now - p.over_since < limits.sustain_seconds:
            return
        used = round(p.cpu_percent, 1)
        if limits.cpu_action == "terminate":
            why = f"cpu {used:g}% over limit {limit:g}% for {limits.sustain_seconds:g}s"
            batch.add("process.limit_exceeded", p, limit="cpu", value=used, threshold=limit,
                      action="terminate", reason=why)
            self._begin_stop(p, now, why, "limit", limits.grace_seconds, batch)
            return
        estimate = rate if rate is not None and rate > 0 else p.cpu_percent
        p.duty = min(1.0, max(_MIN_DUTY, limit / estimate))
        p.throttled, p.under_since = True, None
        p.next_toggle = now + self._period * p.duty
        batch.add("process.throttled", p, cpu_percent=used, limit=limit,
                  duty=round(p.duty, 3))

    def _toggle(self, p: _Proc, now: float) -> None:
        """One edge of the throttling duty cycle."""
        if p.held:
            self._signal(p, p.groups, signal.SIGCONT)
            p.unhold(now)
            p.mark_running(now)
            p.next_toggle = now + self._period * p.duty
        elif p.duty < 1.0:
            self._signal(p, p.groups, signal.SIGSTOP)
            p.held, p.held_since = True, now
            p.mark_stopped(now)
            p.next_toggle = now + self._period * (1.0 - p.duty)
        else:
            p.next_toggle = now + self._period

    # -- health ----------------------------------------------------------------------------------
    def _health(self, p: _Proc, now: float, batch: _Batch) -> None:
        check = p.spec.health
        if check is None or p.paused:
            return
        if p.check is not None:
            if not p.check.done():
                return
            ok, detail = p.check.result()
            p.check, p.next_check = None, now + check.interval
            if ok:
                p.fails = 0
                if p.healthy is not True:
                    p.healthy = True
                    batch.add("process.healthy", p, detail=detail)
            else:
                p.fails += 1
                if p.fails >= check.failures:
                    p.healthy = False
                    why = f"unhealthy: {detail} ({p.fails} consecutive failures)"
                    batch.add("process.unhealthy", p, failures=p.fails, detail=detail)
                    self._begin_stop(p, now, why, "unhealthy", p.spec.limits.grace_seconds,
                                     batch)
                    return
        if p.next_check is not None and now >= p.next_check:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="codor-health")
            cwd = None if p.spec.cwd is None else os.fspath(p.spec.cwd)
            env = p.spec.env if p.spec.sandbox is None else None
            p.check = self._pool.submit(probe, check, cwd=cwd, env=env)
            p.next_check = None
