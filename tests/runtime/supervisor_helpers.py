"""Shared by the adaptive executor's tests: real child processes written as small Python
scripts, an event recorder, and checks on process trees with psutil."""

from __future__ import annotations

import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

PY = sys.executable


def script(code: str, *args: str) -> list[str]:
    """argv running ``code`` (dedented) with this interpreter."""
    return [PY, "-c", textwrap.dedent(code), *args]


#: Grows its RSS by 8 MiB every 30 ms (pages written, not just reserved), up to 1 GiB.
HOG = textwrap.dedent("""
    import time
    keep = []
    for _ in range(128):
        keep.append(b"\\x01" * (8 << 20))
        time.sleep(0.03)
    time.sleep(60)
""")

#: Listens on 127.0.0.1:PORT (argv[1]) for SERVE seconds (argv[2]), then closes the listener
#: and stays alive without answering.
TCP_SERVER = """
    import socket, sys, time
    port, serve = int(sys.argv[1]), float(sys.argv[2])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    s.settimeout(0.05)
    end = time.monotonic() + serve
    while time.monotonic() < end:
        try:
            conn, _ = s.accept()
            conn.close()
        except OSError:
            pass
    s.close()
    time.sleep(60)
"""


class Recorder:
    """An ``on_event`` that keeps every event (thread-safe)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, kind: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((kind, dict(data)))

    def kinds(self, hid: str | None = None) -> list[str]:
        with self._lock:
            return [k for k, d in self.events if hid is None or d["id"] == hid]

    def of(self, kind: str, hid: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d for k, d in self.events if k == kind and (hid is None or d["id"] == hid)]


def eventually(predicate: Callable[[], object], timeout: float = 5.0,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def gone(pid: int) -> bool:
    """No such process, or a zombie (this container's pid 1 does not reap orphans)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def reaped(pid: int) -> bool:
    """Not a child of this process any more, not even a zombie: ``Popen`` waited for it."""
    return pid not in {child.pid for child in psutil.Process().children()}


def read_ints(path: Path, count: int, timeout: float = 5.0) -> list[int]:
    """The first ``count`` integers a child wrote to ``path`` (one per line)."""
    out: list[int] = []

    def ready() -> bool:
        nonlocal out
        try:
            lines = path.read_text().split()
        except FileNotFoundError:
            return False
        if len(lines) < count:
            return False
        out = [int(x) for x in lines[:count]]
        return True

    eventually(ready, timeout, f"{count} numbers in {path.name}")
    return out


def tree(pid: int) -> list[psutil.Process]:
    leader = psutil.Process(pid)
    return [leader, *leader.children(recursive=True)]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for proc in tree(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
