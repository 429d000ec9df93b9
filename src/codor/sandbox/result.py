"""What a sandboxed run yields: :class:`RunResult`, with bounded, hashed output streams."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RunResult", "StreamCapture"]


@dataclass(frozen=True, slots=True)
class StreamCapture:
    """One output stream: its first bytes, its full size and the sha256 of all of it."""

    data: bytes      # at most ``limits.output_kb`` KiB, from the start of the stream
    total: int       # bytes the command wrote
    sha256: str      # hex digest of everything written (not only ``data``)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def to_json(self) -> dict[str, object]:
        return {"total": self.total, "sha256": self.sha256, "truncated": self.truncated,
                "excerpt": self.text()}


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one sandboxed command.

    ``exit_status``: the command's exit code; negative = killed by that signal. (Under
    bubblewrap a command killed by signal N reports ``128 + N``, like a shell.)
    ``limits_hit``: ``wall``, ``cpu``, ``memory``, ``processes``, ``file_size``, ``output``
    as far as they can be told. ``enforcement``: which mechanism enforced each limit
    (``cgroup v2``, ``cgroup v1``, ``rlimit``, ``container``). ``missing_guarantees``: what
    the backend could not give (non-empty only when the policy allowed weaker isolation).
    """

    backend: str
    argv: tuple[str, ...]
    exit_status: int
    timed_out: bool
    limits_hit: tuple[str, ...]
    stdout: StreamCapture | None     # None when the caller's stdio was inherited
    stderr: StreamCapture | None
    started_at: float                # wall clock (time.time())
    ended_at: float
    started_mono: float              # time.monotonic()
    ended_mono: float
    child_pid: int | None = None
    enforcement: tuple[tuple[str, str], ...] = ()
    missing_guarantees: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Seconds, by the monotonic clock."""
        return self.ended_mono - self.started_mono

    def times_us(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(started, ended)``, each ``(wall_us, mono_us)``: the evidence records' form."""
        return ((int(self.started_at * 1e6), int(self.started_mono * 1e6)),
                (int(self.ended_at * 1e6), int(self.ended_mono * 1e6)))

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out

    def to_json(self) -> dict[str, object]:
        return {
            "backend": self.backend, "argv": list(self.argv), "exit_status": self.exit_status,
            "timed_out": self.timed_out, "limits_hit": list(self.limits_hit),
            "stdout": self.stdout.to_json() if self.stdout else None,
            "stderr": self.stderr.to_json() if self.stderr else None,
            "started_at": self.started_at, "ended_at": self.ended_at,
            "started_mono": self.started_mono, "ended_mono": self.ended_mono,
            "duration": self.duration, "enforcement": dict(self.enforcement),
            "missing_guarantees": list(self.missing_guarantees),
        }
