"""The forwarder: the sandbox's only way out, run by the host inside the sandbox's network.

A sandbox made with ``--unshare-net`` has nothing but ``lo``. The host starts this process
(never the sandboxed program) with :func:`start_forwarder`; it joins **only** the sandbox's
network namespace (and the user namespace that owns it, which the host user owns), so it
keeps the host's filesystem view and can reach the egress proxy's unix socket, which is never
mounted into the sandbox. Inside it listens on:

* ``127.0.0.1:3128`` — HTTP/CONNECT; every byte goes unchanged to the proxy
  (``HTTP_PROXY``/``HTTPS_PROXY`` point here, see :func:`proxy_env`);
* ``127.0.0.1:53`` UDP+TCP — the sandbox DNS (:mod:`codor.sandbox.dns`), with ``nameserver
  127.0.0.1`` in the sandbox's resolv.conf (:func:`resolv_conf`);
* each fake address the DNS hands out, on the forwarded ports (default 80, 443): a
  connection there is sent to the proxy as ``CONNECT name:port`` (as plain HTTP requests,
  judged one by one, for ``http_ports``), so programs that ignore proxy variables but resolve
  names (Go, git, pip) reach allowed hosts too.

Why not ``nsenter --user --net --target PID``: unprivileged bubblewrap nests the sandbox's
user namespace inside the one that owns its network namespace, so joining the child's user
namespace gives no right over its network; and a non-root process that ``exec``\\ s after
joining loses its capabilities in the namespace (it needs ``CAP_NET_BIND_SERVICE`` for port
53). The forwarder therefore calls ``setns`` itself, on the user namespace that owns the
network namespace (``NS_GET_USERNS``) and then on the network namespace, before any thread
exists; then it keeps only ``CAP_NET_BIND_SERVICE``, becomes non-dumpable and sets
``no_new_privs``. It exits when the host closes its stdin (or dies).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from codor.errors import SandboxNetworkError
from codor.sandbox.dns import FAKE_NETWORK, DnsResponder, FakeAddresses, proxy_lookup, serve_udp
from codor.sandbox.dns import serve_tcp_client as serve_dns_tcp

__all__ = ["PROXY_PORT", "ForwarderHandle", "ForwarderInfo", "proxy_env", "resolv_conf",
           "start_forwarder"]

PROXY_PORT: Final = 3128
_TRANSPARENT_HTTP: Final = "X-Codor-Transparent: http\r\n"
_BLOCK: Final = 65536


# -- host side ------------------------------------------------------------------------------------
def proxy_env(port: int = PROXY_PORT) -> dict[str, str]:
    """Environment variables that send common tools through the forwarder's proxy port."""
    url = f"http://127.0.0.1:{port}"
    local = "localhost,127.0.0.1,::1"
    env = {name: url for name in (
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
        "npm_config_proxy", "npm_config_https_proxy", "YARN_HTTP_PROXY", "YARN_HTTPS_PROXY",
        "PIP_PROXY", "CARGO_HTTP_PROXY")}
    env.update(NO_PROXY=local, no_proxy=local, NODE_USE_ENV_PROXY="1")
    return env


def resolv_conf() -> str:
    """The ``/etc/resolv.conf`` to bind into the sandbox (read-only)."""
    return "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n"


@dataclass(frozen=True, slots=True)
class ForwarderInfo:
    pid: int
    proxy_port: int
    dns_port: int | None
    ports: tuple[int, ...]


class ForwarderHandle:
    """A running forwarder. :meth:`ready` before releasing the sandbox; :meth:`close` after."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._info: ForwarderInfo | None = None

    def ready(self, timeout: float = 10.0) -> ForwarderInfo:
        """Wait until every listener exists; raises :class:`SandboxNetworkError` otherwise."""
        if self._info is not None:
            return self._info
        stdout = self.proc.stdout
        assert stdout is not None
        line = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.close()
                    raise SandboxNetworkError(f"the forwarder was not ready after {timeout}s")
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        try:
            said = json.loads(line or b"{}")
        except ValueError:
            said = {"error": line.decode(errors="replace")[:300]}
        if not said.get("ready"):
            self.close()
            raise SandboxNetworkError(f"the forwarder failed: {said.get('error', 'it exited')}")
        stdout.close()
        self._info = ForwarderInfo(self.pid, said["proxy_port"], said.get("dns_port"),
                                   tuple(said.get("ports", ())))
        return self._info

    def poll(self) -> int | None:
        return self.proc.poll()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the forwarder (closing its stdin ends it) and reap it. Idempotent."""
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ForwarderHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_forwarder(
    target_pid: int | None,
    proxy_socket: str | os.PathLike[str],
    *,
    netns: str | os.PathLike[str] | None = None,
    proxy_port: int = PROXY_PORT,
    dns_port: int | None = 53,
    ports: Sequence[int] = (80, 443),
    http_ports: Sequence[int] = (80,),
    fake_network: str = FAKE_NETWORK,
    idle_timeout: float = 300.0,
    max_connections: int = 512,
    python: str | None = None,
) -> ForwarderHandle:
    """Start a forwarder in the network namespace of ``target_pid`` (the sandbox's child,
    e.g. bubblewrap's ``--info-fd`` ``child-pid``) or of the namespace file ``netns``.

    ``dns_port=None`` serves no DNS; ``ports`` are the ports accepted on fake addresses
    (:func:`codor.sandbox.netutil.forwarded_ports` gives the policy's). Call
    :meth:`ForwarderHandle.ready` before letting the sandboxed program run. ``python`` is
    the interpreter to run it with (default: this one).
    """
    path = netns if netns is not None else f"/proc/{target_pid}/ns/net"
    if target_pid is None and netns is None:
        raise SandboxNetworkError("start_forwarder needs a target pid or a netns path")
    try:
        ns_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxNetworkError(f"cannot open the sandbox's network namespace {path}: "
                                  f"{exc.strerror}") from None
    here = Path(__file__).resolve().parent
    # The forwarder needs only this module, dns.py and codor.errors: a bare package object
    # stands in for codor.sandbox so that its __init__ (the backends) is not imported (~50 ms).
    boot = (f"import sys, types; sys.path.insert(0, {str(here.parents[1])!r}); "
            f"pkg = types.ModuleType('codor.sandbox'); pkg.__path__ = [{str(here)!r}]; "
            f"sys.modules['codor.sandbox'] = pkg; "
            f"from codor.sandbox.forwarder import main; sys.exit(main())")
    argv = [python or sys.executable, "-I", "-c", boot, "--netns-fd", str(ns_fd),
            "--proxy-socket", os.fspath(proxy_socket), "--proxy-port", str(proxy_port),
            "--dns-port", str(dns_port or 0), "--ports", ",".join(map(str, ports)),
            "--http-ports", ",".join(map(str, http_ports)), "--fake-network", fake_network,
            "--idle-timeout", str(idle_timeout), "--max-connections", str(max_connections)]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, pass_fds=(ns_fd,), close_fds=True,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    finally:
        os.close(ns_fd)
    return ForwarderHandle(proc)


# -- inside: the forwarder process ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Options:
    netns_fd: int
    proxy_socket: str
    proxy_port: int
    dns_port: int
    ports: tuple[int, ...]
    http_ports: frozenset[int]
    fake_network: str
    idle_timeout: float
    max_connections: int


class _Forwarder:
    def __init__(self, opts: _Options) -> None:
        self.opts = opts
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.pending: list[tuple[socket.socket, str]] = []
        self.slots = threading.BoundedSemaphore(opts.max_connections)
        self.fake = FakeAddresses(opts.fake_network, on_new=self._listen_fake)
        self.responder = DnsResponder(proxy_lookup(opts.proxy_socket), self.fake)

    # listeners
    def listen(self, host: str, port: int, kind: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
        with self.lock:
            self.pending.append((sock, kind))
        with contextlib.suppress(OSError):
            self.wake_w.send(b"x")
        return sock

    def _listen_fake(self, ip: object, name: str) -> None:
        for port in self.opts.ports:
            with contextlib.suppress(OSError):  # taken: connections there are refused
                self.listen(str(ip), port, "fake")

    def serve_forever(self) -> None:
        while True:
            for key, _ in self.sel.select():
                if key.data == "wake":
                    self.wake_r.recv(4096)
                    continue
                listener = key.fileobj
                assert isinstance(listener, socket.socket)
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                if not self.slots.acquire(blocking=False):
                    conn.close()
                    continue
                threading.Thread(target=self._connection, args=(conn, key.data),
                                 daemon=True).start()
            with self.lock:
                fresh, self.pending = self.pending, []
            for sock, kind in fresh:
                self.sel.register(sock, selectors.EVENT_READ, kind)

    # connections
    def _connection(self, conn: socket.socket, kind: str) -> None:
        try:
            if kind == "dns":
                serve_dns_tcp(conn, self.responder)
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            preamble = b""
            if kind == "fake":
                ip, port = conn.getsockname()[:2]
                name = self.fake.name_for(ip)
                if name is None:
                    return conn.close()
                extra = _TRANSPARENT_HTTP if port in self.opts.http_ports else ""
                preamble = (f"CONNECT {name}:{port} HTTP/1.1\r\nHost: {name}:{port}\r\n"
                            f"{extra}\r\n").encode("ascii")
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(self.opts.proxy_socket)
                if preamble:
                    up.sendall(preamble)
                    left = _proxy_said_ok(up, self.opts.idle_timeout)
                    if left is None:
                        up.close()
                        return conn.close()
                    if left:
                        conn.sendall(left)
            except OSError:
                up.close()
                return conn.close()
            _splice(conn, up, self.opts.idle_timeout)
        except OSError:
            conn.close()
        finally:
            self.slots.release()


def _proxy_said_ok(up: socket.socket, timeout: float) -> bytes | None:
    """Read the proxy's answer to a CONNECT: the bytes after it when it is 200, else None."""
    up.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = up.recv(8192)
        if not chunk or len(data) > 65536:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    up.settimeout(None)
    return rest if head.split(b" ", 2)[1:2] == [b"200"] else None


def _splice(a: socket.socket, b: socket.socket, idle: float) -> None:
    """Copy both ways until both sides end (or ``idle`` seconds without a byte), then close."""
    last = [time.monotonic()]
    a.settimeout(idle)
    b.settimeout(idle)
    other = threading.Thread(target=_copy, args=(b, a, last, idle), daemon=True)
    other.start()
    _copy(a, b, last, idle)
    other.join()
    a.close()
    b.close()


def _copy(src: socket.socket, dst: socket.socket, last: list[float], idle: float) -> None:
    try:
        while True:
            try:
                data = src.recv(_BLOCK)
            except TimeoutError:
                if time.monotonic() - last[0] < idle:
                    continue
                raise
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            last[0] = time.monotonic()
            dst.sendall(data)
    except OSError:  # reset, timeout, or the other direction gave up: end both
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# -- namespace, loopback, privileges --------------------------------------------------------------
_CLONE_NEWUSER: Final = 0x10000000
_CLONE_NEWNET: Final = 0x40000000
_NS_GET_USERNS: Final = 0xB701
_SIOCGIFFLAGS: Final = 0x8913
_SIOCSIFFLAGS: Final = 0x8914
_CAP_NET_BIND_SERVICE: Final = 10


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _setns(libc: ctypes.CDLL, fd: int, flag: int, what: str) -> None:
    if libc.setns(fd, flag) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns({what}): {os.strerror(err)}")


def join_network(netns_fd: int) -> None:
    """Enter the user namespace owning ``netns_fd`` (unless it is ours), then the network
    namespace. Must run before any thread starts (the kernel refuses otherwise)."""
    import fcntl

    libc = _libc()
    user_fd = fcntl.ioctl(netns_fd, _NS_GET_USERNS)
    try:
        mine = os.stat("/proc/self/ns/user")
        theirs = os.fstat(user_fd)
        if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
            _setns(libc, user_fd, _CLONE_NEWUSER, "user namespace")
    finally:
        os.close(user_fd)
    _setns(libc, netns_fd, _CLONE_NEWNET, "network namespace")
    os.close(netns_fd)


def loopback_up() -> None:
    """``ip link set lo up`` (a fresh network namespace has ``lo`` down)."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, _SIOCGIFFLAGS, ifr))[1]
        if not flags & 1:
            fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | 1))


def _harden() -> None:
    """Non-dumpable (no ptrace, no /proc/<pid>/mem), no_new_privs, and of all capabilities
    only CAP_NET_BIND_SERVICE (fake-address listeners on ports below 1024 open later)."""
    import resource

    libc = _libc()
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS

    class Header(ctypes.Structure):
        _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))

    class Data(ctypes.Structure):
        _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32))

    data = (Data * 2)()
    data[0].effective = data[0].permitted = 1 << _CAP_NET_BIND_SERVICE
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))


def _options(argv: Sequence[str]) -> _Options:
    import argparse

    p = argparse.ArgumentParser(prog="codor-forwarder")
    p.add_argument("--netns-fd", type=int, required=True)
    p.add_argument("--proxy-socket", required=True)
    p.add_argument("--proxy-port", type=int, default=PROXY_PORT)
    p.add_argument("--dns-port", type=int, default=53)
    p.add_argument("--ports", default="80,443")
    p.add_argument("--http-ports", default="80")
    p.add_argument("--fake-network", default=FAKE_NETWORK)
    p.add_argument("--idle-timeout", type=float, default=300.0)
    p.add_argument("--max-connections", type=int, default=512)
    a = p.parse_args(argv)

    def ints(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split(",") if x)

    return _Options(a.netns_fd, a.proxy_socket, a.proxy_port, a.dns_port, ints(a.ports),
                    frozenset(ints(a.http_ports)), a.fake_network, a.idle_timeout,
                    a.max_connections)


def main(argv: Sequence[str] | None = None) -> int:
    """The forwarder process: set up, say ``{"ready": true, ...}`` on stdout, serve."""
    opts = _options(sys.argv[1:] if argv is None else argv)
    say = sys.stdout.buffer
    try:
        join_network(opts.netns_fd)  # first: no thread may exist yet
        loopback_up()
        fwd = _Forwarder(opts)
        fwd.listen("127.0.0.1", opts.proxy_port, "proxy")
        if opts.dns_port:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", opts.dns_port))
            fwd.listen("127.0.0.1", opts.dns_port, "dns")
        _harden()
    except (OSError, ValueError) as exc:
        say.write(json.dumps({"error": str(exc)}).encode() + b"\n")
        say.flush()
        return 1
    threading.stack_size(512 * 1024)
    if opts.dns_port:
        threading.Thread(target=serve_udp, args=(udp, fwd.responder), daemon=True).start()
    threading.Thread(target=_lifeline, daemon=True).start()
    say.write(json.dumps({"ready": True, "proxy_port": opts.proxy_port,
                          "dns_port": opts.dns_port or None, "ports": opts.ports}).encode()
              + b"\n")
    say.flush()
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    fwd.serve_forever()
    return 0


def _lifeline() -> None:
    """Exit when the host closes our stdin (or dies)."""
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
