"""The warm path of ``codor hook``: hand the event to this workspace's hook server, if one runs.

An agent runs ``codor hook`` on every tool call, and a fresh Python that compiles the policy
and opens the ledger takes ~120 ms. The hook server (:mod:`codor.integrations.hookserver`)
keeps both loaded; this client only finds its socket, sends the event and prints the answer —
no policy, no ledger, no third-party import. When no server answers, :func:`ask_server`
returns ``None`` (the caller decides in-process, as always) after starting one in the
background for the next call, so the first hook of a session pays the cold start and the rest
do not.

``CODOR_HOOK_SERVER=0`` turns the warm path off. The socket lives in a private directory
(``$XDG_RUNTIME_DIR/codor`` or ``/tmp/codor-<uid>``, mode 0700, owned by this user — anything
else and the warm path is not used), named after the workspace state directory and CODOR's
install (environment, package location, version), so a server never answers for another
workspace or another install. Wire format: a 4-byte big-endian length, then JSON, each way;
the event and the answer travel as the exact bytes (UTF-8, other bytes as surrogate escapes),
so the server refuses what the in-process hook refuses.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import sys

__all__ = ["PROTOCOL", "ask_server", "read_frame", "runtime_dir", "socket_path", "write_frame"]

PROTOCOL = 1
#: the longest a client waits for an answer once its request is sent (seconds)
ANSWER_TIMEOUT = 25.0
_CONNECT_TIMEOUT = 2.0
_MAX_FRAME = 64 << 20
_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL


def runtime_dir() -> str | None:
    """The private directory of this user's hook sockets (created 0700), or ``None`` when it
    is not safe to use (another owner, group/other access, a symlink)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "codor") if base else f"/tmp/codor-{os.getuid()}"  # noqa: S108
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path


def socket_path(home: str) -> str | None:
    """The socket of the hook server for the state directory ``home`` (absolute)."""
    import hashlib

    import codor

    directory = runtime_dir()
    if directory is None:
        return None
    # the install (environment and package location), not the interpreter's name: `python`
    # and `python3` of one virtual environment must find the same server
    install = f"{sys.prefix}\0{os.path.dirname(codor.__file__)}\0{codor.__version__}"
    key = f"{PROTOCOL}\0{install}\0{home}".encode()
    path = os.path.join(directory, f"hook-{hashlib.sha256(key).hexdigest()[:24]}.sock")
    # a path no socket can bind: no warm path (else every hook would start a server in vain)
    return path if len(os.fsencode(path)) <= _MAX_SOCKET_PATH else None


def write_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def read_frame(sock: socket.socket) -> bytes | None:
    """One frame, or ``None`` when the peer closed before sending one whole."""
    head = _read_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > _MAX_FRAME:
        return None
    return _read_exact(sock, size)


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def ask_server(agent: str, stdin: bytes, home: str, workspace: str,
               policy: str | None) -> tuple[bytes, str, int] | None:
    """The server's ``(stdout, stderr, exit code)`` for this event, or ``None`` when the
    warm path is off or no server answered (one is then started for the next call)."""
    import json

    if os.environ.get("CODOR_HOOK_SERVER", "1") == "0":
        return None
    path = socket_path(home)
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(_CONNECT_TIMEOUT)
        try:
            sock.connect(path)
        except OSError:
            _start_server(path, home)
            return None
        request = {"v": PROTOCOL, "agent": agent,
                   "stdin": stdin.decode("utf-8", "surrogateescape"),
                   "home": home, "workspace": workspace, "policy": policy}
        try:
            write_frame(sock, json.dumps(request).encode())
            sock.settimeout(ANSWER_TIMEOUT)
            frame = read_frame(sock)
        except OSError:
            return None  # the server went away: decide in-process
        if frame is None:
            return None
        answer = json.loads(frame)
        return (answer["stdout"].encode("utf-8", "surrogateescape"), str(answer["stderr"]),
                int(answer["exit"]))
    finally:
        sock.close()


def _start_server(path: str, home: str) -> None:
    """Start a hook server for ``home`` in the background (it exits by itself when idle, and
    at once when another already serves the socket)."""
    argv = [sys.executable, "-m", "codor.integrations.hookserver", "--socket", path,
            "--home", home]
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    import contextlib

    # posix_spawn: no Popen object to outlive, its own session, stdio on /dev/null. If it
    # fails, every hook decides in-process, which is correct, only slower.
    with contextlib.suppress(OSError):
        os.posix_spawn(sys.executable, argv, os.environ, file_actions=devnull, setsid=True)
