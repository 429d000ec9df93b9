"""The hook server: keeps a workspace's policy and ledger loaded so ``codor hook`` answers fast.

Started in the background by the first ``codor hook`` of a workspace that finds none
(:mod:`codor.integrations.hookclient`), it listens on a unix socket in the user's private
runtime directory and answers each event exactly as an in-process ``codor hook`` would: the
same handler, the same policy, the same ledger (every decision is committed before the answer
is sent). It holds an exclusive lock next to its socket, so at most one server runs per
socket; before every event that needs the kernel it checks what the kernel was opened from —
the policy files, a new ``policy.yaml``, ``sinks.yaml``, a ledger created, removed or replaced
(``codor init``), the trusted capability-token issuers, a state database created (workflow
modes) — and reopens it when any changed; it exits after :data:`IDLE_SECONDS` without events,
when its state directory disappears, or on SIGTERM. A policy or ledger that does not open is
reported by the handler exactly as in-process; anything else that goes wrong while answering
is a fail-closed answer (exit 2 with the reason).
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


#: ``(path, whether its content counts)``: a policy file changes with its content, the
#: ledger only when it is created, removed or replaced (every decision writes to it)
Watched = tuple[tuple[str, bool], ...]
Signature = tuple[tuple[int, ...] | None, ...]


def _signature(watched: Watched) -> Signature:
    out: list[tuple[int, ...] | None] = []
    for path, content in watched:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) if content
                       else (st.st_dev, st.st_ino))
    return tuple(out)


@dataclass
class _Loaded:
    """One workspace's kernel and what it was opened from; ``lock`` is held while an event
    uses the kernel, ``closed`` set once it is retired."""

    kernel: Kernel
    watched: Watched
    signature: Signature
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def stale(self) -> bool:
        return _signature(self.watched) != self.signature

    def retire(self, timeout: float = -1) -> None:
        """Close the kernel once no event uses it (``timeout``: wait at most that long)."""
        got = self.lock.acquire(timeout=timeout)
        try:
            self.closed = True
            with contextlib.suppress(Exception):
                self.kernel.close()
        finally:
            if got:
                self.lock.release()


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
                loaded.retire(timeout=5.0)
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
        key = (workspace, policy if isinstance(policy, str) else None)
        stdin = str(request["stdin"]).encode("utf-8", "surrogateescape")  # the bytes sent
        held: list[_Loaded] = []

        def kernel() -> Kernel:
            # opened only when the event needs it, as in-process; a policy or ledger that does
            # not open raises here and the handler reports it as in-process
            if not held:
                held.append(self._kernel(*key))
            return held[0].kernel

        try:
            out, err, code = self.handler(agent, stdin, kernel)
        finally:
            for loaded in held:
                loaded.lock.release()
        return {"stdout": out.decode("utf-8", "surrogateescape"), "stderr": err, "exit": code}

    def _kernel(self, workspace: str, policy: str | None) -> _Loaded:
        """The kernel of ``(workspace, policy)``, reopened when stale; returned with its lock
        held (the caller releases it)."""
        key = (workspace, policy)
        while True:
            with self._kernels_lock:
                loaded = self._kernels.get(key)
                if loaded is None or loaded.stale():
                    if loaded is not None:
                        del self._kernels[key]
                        loaded.retire()
                    loaded = self._load(workspace, policy)
                    self._kernels[key] = loaded
            loaded.lock.acquire()
            if not loaded.closed:
                return loaded
            loaded.lock.release()  # retired while this event waited: take the new one

    def _load(self, workspace: str, policy: str | None) -> _Loaded:
        from codor.integrations.context import find_workspace, open_kernel
        from codor.workspace import Workspace

        state = Workspace.at(find_workspace(workspace))
        from codor.policy.tokenstore import ISSUER_DIR, ISSUER_PUB

        known: Watched = ((str(state.policy_path), True), (str(state.home / "sinks.yaml"), True),
                          (str(state.ledger_path), False),
                          # the state database: workflow modes apply once it exists
                          (str(state.home / "state.db"), False),
                          # trusted token issuers: the first `codor token issue` makes one
                          (str(state.home / ISSUER_PUB), True), (str(state.home / ISSUER_DIR),
                                                                 True))
        before = _signature(known)  # before opening: a change meanwhile is seen next time
        kernel = open_kernel(workspace, policy=policy, remote=False)
        files: Watched = tuple((f, True) for f in dict.fromkeys(kernel.engine.policy.files)
                               if not f.startswith("codor:") and (f, True) not in known)
        return _Loaded(kernel, known + files, before + _signature(files))


def _default_handler() -> Handler:
    from codor.integrations.hooks.handler import handle

    return handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codor.integrations.hookserver")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS)
    args = parser.parse_args(argv)
    # the state directory the client resolved (absolute), so this server finds the same one
    # whatever its own working directory
    os.environ["CODOR_HOME"] = args.home
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
