"""The hook server: keeps a workspace's policy and ledger loaded so ``codor hook`` answers fast.

Started in the background by the first ``codor hook`` of a workspace that finds none
(:mod:`codor.integrations.hookclient`), it listens on a unix socket in the user's private
runtime directory and answers each event exactly as an in-process ``codor hook`` would: the
same handler, the same policy, the same ledger (every decision is committed before the answer
is sent). It holds an exclusive lock next to its socket, so at most one server runs per
socket; it notices a changed policy file (or a new ``policy.yaml``) on every event and
reloads, and it exits after :data:`IDLE_SECONDS` without events, when its state directory
disappears, or on SIGTERM. Anything that goes wrong while answering is a fail-closed answer
(exit 2 with the reason), like the in-process path.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codor.integrations.hookclient import PROTOCOL, read_frame, write_frame

if TYPE_CHECKING:
    from codor.kernel import Kernel

__all__ = ["IDLE_SECONDS", "HookServer", "main"]

IDLE_SECONDS = 900.0
_FAIL = 2

#: ``handle(agent, stdin, open_kernel) -> (stdout, stderr, exit code)``
Handler = Callable[[str, bytes, Callable[[], "Kernel"]], tuple[bytes, str, int]]


def _signature(paths: tuple[str, ...]) -> tuple[tuple[int, int, int] | None, ...]:
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


@dataclass
class _Loaded:
    """One workspace's kernel and what it was compiled from."""

    kernel: Kernel
    watched: tuple[str, ...]
    signature: tuple[tuple[int, int, int] | None, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stale(self) -> bool:
        return _signature(self.watched) != self.signature


class HookServer:
    """Answers hook events for the workspaces whose state lives in ``home``."""

    def __init__(self, sock_path: str, home: str, handler: Handler, *,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self.sock_path = sock_path
        self.home = home
        self.handler = handler
        self.idle_seconds = idle_seconds
        self._kernels: dict[tuple[str, str | None], _Loaded] = {}
        self._kernels_lock = threading.Lock()
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._lock_fd: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take the socket's lock and bind; ``False`` when another server already holds it."""
        fd = os.open(self.sock_path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock_path)  # a dead server's socket: we hold the lock now
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(self.sock_path)
        finally:
            os.umask(old)
        listener.listen(64)
        listener.settimeout(1.0)
        self._listener = listener
        return True

    def serve(self) -> None:
        """Accept events until idle, stopped, or the state directory is gone."""
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                if time.monotonic() - self._last > self.idle_seconds or \
                        not os.path.isdir(self.home):
                    break
                continue
            except OSError:
                break
            self._last = time.monotonic()
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            with contextlib.suppress(OSError):
                os.unlink(self.sock_path)
        with self._kernels_lock:
            for loaded in self._kernels.values():
                with contextlib.suppress(Exception):
                    loaded.kernel.close()
            self._kernels.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- one event -----------------------------------------------------------------------------
    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(10.0)
                frame = read_frame(conn)
                if frame is None:
                    return
                reply = self._reply(frame)
            except Exception as exc:  # never a traceback: a fail-closed answer
                reply = {"stdout": "", "exit": _FAIL,
                         "stderr": f"codor: hook server error ({type(exc).__name__}); "
                                   f"refused [E_INTERNAL]\n"}
            with contextlib.suppress(OSError):
                write_frame(conn, json.dumps(reply).encode())

    def _reply(self, frame: bytes) -> dict[str, Any]:
        request = json.loads(frame)
        if request.get("v") != PROTOCOL or request.get("home") != self.home:
            raise ValueError("a request for another protocol or state directory")
        agent, workspace = str(request["agent"]), str(request["workspace"])
        policy = request.get("policy")
        loaded = self._kernel(workspace, policy if isinstance(policy, str) else None)
        with loaded.lock:
            out, err, code = self.handler(agent, str(request["stdin"]).encode("utf-8"),
                                          lambda: loaded.kernel)
        return {"stdout": out.decode("utf-8", "replace"), "stderr": err, "exit": code}

    def _kernel(self, workspace: str, policy: str | None) -> _Loaded:
        key = (workspace, policy)
        with self._kernels_lock:
            loaded = self._kernels.get(key)
            if loaded is not None and not loaded.stale():
                return loaded
            if loaded is not None:
                with loaded.lock:
                    loaded.kernel.close()
                del self._kernels[key]
            loaded = self._load(workspace, policy)
            self._kernels[key] = loaded
            return loaded

    def _load(self, workspace: str, policy: str | None) -> _Loaded:
        from codor.integrations.context import open_kernel

        default_file = os.path.join(self.home, "policy.yaml")
        kernel = open_kernel(workspace, policy=policy)
        files = tuple(f for f in kernel.engine.policy.files if not f.startswith("codor:"))
        watched = tuple(dict.fromkeys((*files, default_file)))
        return _Loaded(kernel, watched, _signature(watched))


def _default_handler() -> Handler:
    from codor.integrations.hooks.handler import serve_event

    return serve_event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codor.integrations.hookserver")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS)
    args = parser.parse_args(argv)
    if os.environ.get("CODOR_HOME") is None:
        os.environ["CODOR_HOME"] = args.home  # the state directory the client resolved
    server = HookServer(args.socket, str(Path(args.home)), _default_handler(),
                        idle_seconds=args.idle_seconds)
    if not server.acquire():
        return 0  # another server answers on this socket
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.serve()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
