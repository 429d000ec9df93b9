"""The forwarder process itself: joins a sandbox's network namespace and relays to the proxy.

The host side (:mod:`codor.sandbox.forwarder`, which explains the design) starts this module
as ``python -I -S -c <boot> --proxy-socket PATH ...`` with one end of a unix socket pair as
its stdin, and speaks to it over that socket only:

1. the host sends one message carrying the sandbox's network namespace as a file descriptor
   (``SCM_RIGHTS``). Until then the process has done nothing but load this module, so the
   host may start it ahead of time (a *spare*) and hand it a namespace later;
2. the process joins that namespace (:func:`join_network`), waits for the sandbox to bring
   ``lo`` up (bubblewrap does; ``--loopback up``: brings it up itself, see
   :func:`loopback_up`), opens its listeners, keeps only ``CAP_NET_BIND_SERVICE``
   (:func:`harden`) and answers one line:
   ``ready PROXY_PORT DNS_PORT PORTS DEV:INODE`` (``DNS_PORT`` 0 for none, ``PORTS``
   comma-separated, ``DEV:INODE`` the network namespace it is now in, from
   ``/proc/self/ns/net``) or ``error MESSAGE``;
3. it serves until the host closes its end (or dies); end of file before step 1 just exits.

Its start is on the path of every sandboxed command, so it imports only modules that load
in a few milliseconds (no ``dataclasses``, ``typing``, ``json``, ``argparse``, ``pathlib``,
``subprocess``), and all of them before step 1, so that a spare imports nothing afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import selectors
import socket
import struct
import sys
import threading
import time

from codor.sandbox.dns import FAKE_NETWORK, DnsResponder, FakeAddresses, proxy_lookup, serve_udp
from codor.sandbox.dns import serve_tcp_client as serve_dns_tcp

__all__ = ["Options", "harden", "join_network", "loopback_up", "main", "parse_options"]

_TRANSPARENT_HTTP = "X-Codor-Transparent: http\r\n"
_BLOCK = 65536
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_NS_GET_USERNS = 0xB701
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_CAP_NET_BIND_SERVICE = 10
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_CAPABILITY_VERSION_3 = 0x20080522
_LOOPBACK_WAIT = 5.0  # seconds; less than the host's default ready timeout (10 s)


class Options:
    """What the host asked for, defaults applied (see :func:`parse_options`)."""

    __slots__ = ("dns_port", "fake_network", "http_ports", "idle_timeout", "loopback",
                 "max_connections", "ports", "proxy_port", "proxy_socket")

    def __init__(self, proxy_socket: str, *, proxy_port: int, dns_port: int,
                 ports: tuple[int, ...], http_ports: frozenset[int], fake_network: str,
                 idle_timeout: float, max_connections: int, loopback: str) -> None:
        self.proxy_socket = proxy_socket
        self.proxy_port = proxy_port
        self.dns_port = dns_port
        self.ports = ports
        self.http_ports = http_ports
        self.fake_network = fake_network
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.loopback = loopback


def parse_options(argv: list[str]) -> Options:
    """``--name value`` pairs (``--proxy-socket`` required; the defaults of the others are
    these, see :class:`codor.sandbox.forwarder.ForwarderOptions`); raises ``ValueError``."""
    if len(argv) % 2:
        raise ValueError(f"options come in pairs: {argv}")
    given = dict(zip(argv[::2], argv[1::2], strict=True))
    known = {"--proxy-socket", "--proxy-port", "--dns-port", "--ports", "--http-ports",
             "--fake-network", "--idle-timeout", "--max-connections", "--loopback"}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown options: {', '.join(unknown)}")
    if "--proxy-socket" not in given:
        raise ValueError("--proxy-socket is required")
    if given.get("--loopback", "wait") not in ("wait", "up"):
        raise ValueError("--loopback is 'wait' or 'up'")

    def ints(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split(",") if x)

    return Options(given["--proxy-socket"],
                   proxy_port=int(given.get("--proxy-port", "3128")),
                   dns_port=int(given.get("--dns-port", "53")),
                   ports=ints(given.get("--ports", "80,443")),
                   http_ports=frozenset(ints(given.get("--http-ports", "80"))),
                   fake_network=given.get("--fake-network", FAKE_NETWORK),
                   idle_timeout=float(given.get("--idle-timeout", "300")),
                   max_connections=int(given.get("--max-connections", "512")),
                   loopback=given.get("--loopback", "wait"))


# -- serving --------------------------------------------------------------------------------------
class _Relay:
    """The listeners (one selector thread) and a thread per connection."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.pending: list[tuple[socket.socket, str]] = []
        self.slots = threading.BoundedSemaphore(opts.max_connections)
        self.fake = FakeAddresses(opts.fake_network, on_new=self._listen_fake)
        self.responder = DnsResponder(proxy_lookup(opts.proxy_socket), self.fake)

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
class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))


def _setns(libc: ctypes.CDLL, fd: int, flag: int, what: str) -> None:
    if libc.setns(fd, flag) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns({what}): {os.strerror(err)}")


def join_network(libc: ctypes.CDLL, netns_fd: int) -> tuple[int, int]:
    """Enter the user namespace owning ``netns_fd`` (unless it is ours), then the network
    namespace; close ``netns_fd``. Must run before any thread starts (the kernel refuses
    otherwise). Returns the (device, inode) of the network namespace now joined."""
    try:
        user_fd = fcntl.ioctl(netns_fd, _NS_GET_USERNS)
        try:
            mine = os.stat("/proc/self/ns/user")
            theirs = os.fstat(user_fd)
            if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
                _setns(libc, user_fd, _CLONE_NEWUSER, "user namespace")
        finally:
            os.close(user_fd)
        _setns(libc, netns_fd, _CLONE_NEWNET, "network namespace")
    finally:
        os.close(netns_fd)
    now = os.stat("/proc/self/ns/net")
    return now.st_dev, now.st_ino


def loopback_up(wait: float | None = None) -> None:
    """``ip link set lo up`` (a fresh network namespace has ``lo`` down); with ``wait``, wait
    that many seconds for the namespace's maker to do it instead (``OSError`` if it does not).

    bubblewrap brings ``lo`` up itself (address, then link) just *after* it reports its child
    and refuses to go on if the address exists already, which it does once ``lo`` is up: in
    its namespaces the forwarder must not be first, so it waits."""
    deadline = time.monotonic() + (wait or 0.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        while True:
            flags = struct.unpack("16sH14x", fcntl.ioctl(s, _SIOCGIFFLAGS, ifr))[1]
            if flags & 1:
                return
            if wait is None:
                fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | 1))
                return
            if time.monotonic() > deadline:
                raise OSError(f"lo was not brought up within {wait}s (did the sandbox fail "
                              "to start?)")
            time.sleep(0.0002)


def harden(libc: ctypes.CDLL) -> None:
    """Non-dumpable (no ptrace, no /proc/<pid>/mem), no_new_privs, and of all capabilities
    only CAP_NET_BIND_SERVICE (fake-address listeners on ports below 1024 open later)."""
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = 1 << _CAP_NET_BIND_SERVICE
    if libc.capset(ctypes.byref(_CapHeader(_CAPABILITY_VERSION_3, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))


# -- the process ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """The forwarder process (see the module doc); fd 0 is its socket to the host."""
    control = socket.socket(fileno=0)
    try:
        opts = parse_options(sys.argv[1:] if argv is None else argv)
        libc = ctypes.CDLL(None, use_errno=True)
    except (OSError, ValueError) as exc:
        return _say(control, f"error {exc}", 1)
    try:  # wait for the namespace: the only thing that may come before it is end of file
        data, fds, _, _ = socket.recv_fds(control, 64, 1)
    except OSError:
        return 0
    if not fds:
        return _say(control, "error no network namespace was handed over", 1) if data else 0
    try:
        dev, ino = join_network(libc, fds[0])  # first: no thread may exist yet
        loopback_up(_LOOPBACK_WAIT if opts.loopback == "wait" else None)
        relay = _Relay(opts)
        relay.listen("127.0.0.1", opts.proxy_port, "proxy")
        udp = None
        if opts.dns_port:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", opts.dns_port))
            relay.listen("127.0.0.1", opts.dns_port, "dns")
        harden(libc)
    except (OSError, ValueError) as exc:
        return _say(control, f"error {exc}", 1)
    # ready now: the sockets are bound and listening, so whatever the sandbox sends waits in
    # their queues until the threads below run (starting them first cost ~3 ms here)
    ports = ",".join(map(str, opts.ports))
    if _say(control, f"ready {opts.proxy_port} {opts.dns_port} {ports} {dev}:{ino}", 0):
        return 1
    threading.stack_size(512 * 1024)
    if udp is not None:
        threading.Thread(target=serve_udp, args=(udp, relay.responder), daemon=True).start()
    threading.Thread(target=_lifeline, args=(control,), daemon=True).start()
    relay.serve_forever()
    return 0


def _say(control: socket.socket, line: str, status: int) -> int:
    """Send one line to the host (errors: on one line); returns ``status`` (1 if it failed)."""
    try:
        control.sendall(line.replace("\n", " ").encode("utf-8", "replace") + b"\n")
    except OSError:
        return 1
    return status


def _lifeline(control: socket.socket) -> None:
    """Exit when the host closes its end of the socket (or dies)."""
    with contextlib.suppress(OSError):
        while control.recv(4096):
            pass
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
