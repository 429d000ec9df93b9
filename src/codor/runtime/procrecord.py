"""What the adaptive executor (:mod:`codor.runtime.supervisor`) keeps about each process it
supervises: ``_Proc``, the record of one handle — its spec and current run (leader, process
groups), its phase (live, stopping, restarting, final), pause and throttling state, the CPU
time counted per tree member and the sliding window CPU percent is computed over, memory, and
health — guarded by the executor's lock; and ``_Batch``, what one step changed: the events to
deliver (with no lock held) and the handles to settle after them.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import psutil

from codor.runtime.procspec import ProcessSpec, ProcessState

__all__ = ["_Batch", "_Proc"]


class _Proc:
    """Everything the monitor knows about one handle (guarded by the executor's lock)."""

    def __init__(self, hid: str, spec: ProcessSpec) -> None:
        self.id = hid
        self.spec = spec
        self.popen: subprocess.Popen[bytes] | None = None
        self.groups: tuple[int, ...] = ()
        self.term_groups: tuple[int, ...] = ()
        # live | stopping | restarting | final; ``settled``: final and its events delivered
        self.phase = "live"
        self.settled = False
        self.launching = False
        self.outcome: ProcessState = "failed"
        self.restarts = 0
        self.restart_at: float | None = None
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.event_error: str | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.caller_stop = False
        self.reset(0.0)

    def reset(self, now: float) -> None:
        """Fresh per-run state (a start or restart at ``now``)."""
        self.started_mono = now
        self.leader_done = False
        self.cause: str | None = None         # None | caller | limit | unhealthy
        self.kill_deadline: float | None = None
        self.kill_sent = False
        self.killed = False                   # the leader was SIGKILLed by us
        self.paused = False
        self.paused_since: float | None = None
        self.paused_total = 0.0
        self.counted: dict[tuple[int, int], tuple[float, int]] = {}
        self.cache: dict[tuple[int, int], psutil.Process] = {}
        self.window: deque[tuple[float, float, float]] = deque([(now, 0.0, 0.0)])
        self.cpu_acc = 0.0
        self.run_acc = 0.0
        self.run_since: float | None = now
        self.cpu_percent: float | None = None
        self.rss: int | None = None
        self.over_since: float | None = None
        self.under_since: float | None = None
        self.throttled = False
        self.duty = 1.0
        self.held = False
        self.held_since: float | None = None
        self.next_toggle: float | None = None
        self.throttled_seconds = 0.0
        self.healthy: bool | None = None
        self.fails = 0
        self.check: Future[tuple[bool, str]] | None = None
        health = self.spec.health
        self.next_check: float | None = now + health.first_after if health else None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def state(self) -> ProcessState:
        if self.phase == "final":
            return self.outcome
        if self.phase == "restarting":
            return "paused" if self.paused else "restarting"
        if self.phase == "stopping":
            return "stopping"
        if self.paused:
            return "paused"
        if self.throttled:
            return "throttled"
        if self.spec.health is not None and self.healthy is None:
            return "starting"
        return "running"

    def mark_stopped(self, now: float) -> None:
        if self.run_since is not None:
            self.run_acc += now - self.run_since
            self.run_since = None

    def mark_running(self, now: float) -> None:
        if self.run_since is None:
            self.run_since = now

    def unhold(self, now: float) -> None:
        """Throttling's hold ends (accounting only; the caller sends SIGCONT if needed)."""
        if self.held and self.held_since is not None:
            self.throttled_seconds += now - self.held_since
        self.held, self.held_since = False, None


@dataclass(slots=True)
class _Batch:
    """What one step changed: events to deliver, then handles to settle."""

    events: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    settle: list[_Proc] = dataclasses.field(default_factory=list)

    def add(self, kind: str, p: _Proc, **data: Any) -> None:
        self.events.append((kind, {"name": p.spec.name, "id": p.id, "pid": p.pid, **data}))
