"""The forwarder, host side: starts the sandbox's only way out inside the sandbox's network.

A sandbox made with ``--unshare-net`` has nothing but ``lo``. The host starts a forwarder
process (never the sandboxed program; its code is :mod:`codor.sandbox.relay`) and hands it
the sandbox's network namespace; it joins **only** that namespace (and the user namespace
that owns it, which the host user owns), so it keeps the host's filesystem view and can reach
the egress proxy's unix socket, which is never mounted into the sandbox. Inside it listens on:

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
``no_new_privs``. It exits when the host closes its end of their socket (or dies).

The process is started first (:func:`spawn_forwarder`) and handed the namespace's file
descriptor over a unix socket afterwards (:meth:`ForwarderHandle.attach`); it reports the
namespace it joined, and :meth:`ForwarderHandle.ready` checks that it is the one handed over.
:func:`start_forwarder` does both at once. A :class:`ForwarderPool` keeps one process started
ahead (a *spare*, its Python start and imports done) so that a sandbox waits only for the
hand-over, not for an interpreter to start.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypedDict, Unpack

from codor.errors import SandboxNetworkError

__all__ = ["PROXY_PORT", "ForwarderGone", "ForwarderHandle", "ForwarderInfo", "ForwarderOptions",
           "ForwarderPool", "Loopback", "proxy_env", "resolv_conf", "spawn_forwarder",
           "start_forwarder"]

PROXY_PORT: Final = 3128
#: Who brings the namespace's ``lo`` up: the sandbox (``wait`` for it) or the forwarder (``up``).
Loopback = Literal["wait", "up"]


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


class ForwarderGone(SandboxNetworkError):
    """The forwarder process ended without a word (killed, crashed) before it was ready."""


class ForwarderHandle:
    """A forwarder process: :meth:`attach` it to a namespace (once), :meth:`ready` before
    releasing the sandbox, :meth:`close` after. ``control`` is the host's end of its socket."""

    def __init__(self, proc: subprocess.Popen[bytes], control: socket.socket) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.control = control
        self._netns: tuple[int, int] | None = None  # (st_dev, st_ino) handed over
        self._info: ForwarderInfo | None = None

    def attach(self, target_pid: int | None = None, *,
               netns: str | os.PathLike[str] | None = None) -> None:
        """Hand the process the network namespace of ``target_pid`` (or the namespace file
        ``netns``). Raises :class:`SandboxNetworkError` (:class:`ForwarderGone` when the
        process can no longer take it)."""
        fd = _open_netns(target_pid, netns)
        try:
            self.hand_over(fd)
        finally:
            os.close(fd)

    def hand_over(self, netns_fd: int) -> None:
        """Like :meth:`attach`, with an open network-namespace descriptor (not consumed)."""
        if self._netns is not None:
            raise SandboxNetworkError("this forwarder already has a network namespace")
        st = os.fstat(netns_fd)
        self._netns = (st.st_dev, st.st_ino)
        if self.proc.poll() is not None:
            raise ForwarderGone(f"the forwarder exited (status {self.proc.returncode}) "
                                "before it was handed its network namespace")
        try:
            socket.send_fds(self.control, [b"N"], [netns_fd])
        except OSError as exc:
            raise ForwarderGone(f"the forwarder could not be handed its network namespace: "
                                f"{exc}") from None

    def ready(self, timeout: float = 10.0) -> ForwarderInfo:
        """Wait until every listener exists in the namespace handed over; raises
        :class:`SandboxNetworkError` otherwise (the process is then stopped)."""
        if self._info is not None:
            return self._info
        if self._netns is None:
            raise SandboxNetworkError("the forwarder was not handed a network namespace")
        line = self._read_line(timeout)
        word, _, rest = line.decode("utf-8", "replace").strip().partition(" ")
        if word == "error":
            self.close()
            raise SandboxNetworkError(f"the forwarder failed: {rest[:300]}")
        if word != "ready":
            self.close()
            if not line:
                raise ForwarderGone("the forwarder failed: it exited before it was ready")
            raise SandboxNetworkError(f"the forwarder failed: it said {line[:300]!r}")
        try:
            proxy_port, dns_port, ports, netns = rest.split(" ")
            dev, _, ino = netns.partition(":")
            info = ForwarderInfo(self.pid, int(proxy_port), int(dns_port) or None,
                                 tuple(int(p) for p in ports.split(",") if p))
            joined = (int(dev), int(ino))
        except ValueError:
            self.close()
            raise SandboxNetworkError(f"the forwarder failed: it said {line[:300]!r}") from None
        if joined != self._netns:
            self.close()
            raise SandboxNetworkError("the forwarder joined another network namespace than "
                                      "the one it was handed")
        self._info = info
        return info

    def _read_line(self, timeout: float) -> bytes:
        line = b""
        deadline = time.monotonic() + timeout
        try:
            while not line.endswith(b"\n") and len(line) < 65536:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.control.settimeout(left)
                chunk = self.control.recv(4096)
                if not chunk:
                    break
                line += chunk
        except TimeoutError:
            self.close()
            raise SandboxNetworkError(f"the forwarder was not ready after {timeout}s") from None
        except OSError:  # reset: it died
            pass
        return line

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self) -> None:
        """Tell the forwarder to end (close its socket) without waiting for it: :meth:`poll`
        or :meth:`close` reaps it."""
        with contextlib.suppress(OSError):
            self.control.close()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the forwarder (closing its socket ends it) and reap it. Idempotent."""
        self.stop()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """Stop it at once (a spare that was never attached holds nothing) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.close()

    def __enter__(self) -> ForwarderHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ForwarderOptions(TypedDict, total=False):
    """What a forwarder serves; every key may be left out (its default in brackets, kept by
    :func:`codor.sandbox.relay.parse_options`).

    ``proxy_port`` [:data:`PROXY_PORT`] the HTTP/CONNECT listener; ``dns_port`` [53] the DNS
    (``None``: no DNS); ``ports`` [80, 443] the ports accepted on fake addresses
    (:func:`codor.sandbox.netutil.forwarded_ports` gives the policy's); ``http_ports`` [80]
    those of them sent as plain HTTP, judged per request; ``fake_network``
    [:data:`~codor.sandbox.dns.FAKE_NETWORK`]; ``idle_timeout`` [300 s] per connection;
    ``max_connections`` [512]; ``loopback`` [``"wait"``] waits for the sandbox to bring ``lo``
    up, as bubblewrap does right after it reports its child (bringing it up first would make
    bubblewrap fail), ``"up"`` brings it up (a bare ``unshare --net`` namespace); ``python``
    [this interpreter] the interpreter the process runs with.
    """

    proxy_port: int
    dns_port: int | None
    ports: Sequence[int]
    http_ports: Sequence[int]
    fake_network: str
    idle_timeout: float
    max_connections: int
    loopback: Loopback
    python: str | None


def spawn_forwarder(proxy_socket: str | os.PathLike[str],
                    **options: Unpack[ForwarderOptions]) -> ForwarderHandle:
    """Start a forwarder process that waits for its network namespace (see
    :class:`ForwarderOptions`). Raises :class:`SandboxNetworkError`."""
    argv = _command(proxy_socket, options)
    control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        proc = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, close_fds=True,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    except OSError as exc:
        control.close()
        raise SandboxNetworkError(f"cannot start the forwarder: {exc}") from None
    finally:
        theirs.close()
    return ForwarderHandle(proc, control)


def start_forwarder(
    target_pid: int | None,
    proxy_socket: str | os.PathLike[str],
    *,
    netns: str | os.PathLike[str] | None = None,
    **options: Unpack[ForwarderOptions],
) -> ForwarderHandle:
    """Start a forwarder (see :class:`ForwarderOptions`) in the network namespace of
    ``target_pid`` (the sandbox's child, e.g. bubblewrap's ``--info-fd`` ``child-pid``) or of
    the namespace file ``netns``. Call :meth:`ForwarderHandle.ready` before letting the
    sandboxed program run.
    """
    fd = _open_netns(target_pid, netns)
    try:
        handle = spawn_forwarder(proxy_socket, **options)
        try:
            handle.hand_over(fd)
        except BaseException:
            handle.kill()
            raise
    finally:
        os.close(fd)
    return handle


class ForwarderPool:
    """Forwarders for one egress proxy and one set of options, keeping one *spare*: a process
    started ahead (:meth:`refill`) that waits for a namespace, so that :meth:`start` costs a
    hand-over instead of a Python start. Thread-safe.

    A spare serves one sandbox at most (it is taken out of the pool before it is handed a
    namespace, and the process accepts one namespace only); a spare that died is replaced by
    a freshly started process. :meth:`retire` ends a forwarder without waiting for its exit
    (~1 ms); :meth:`close` kills the spare and reaps every forwarder retired here.
    """

    def __init__(self, proxy_socket: str | os.PathLike[str],
                 **options: Unpack[ForwarderOptions]) -> None:
        self.proxy_socket = os.fspath(proxy_socket)
        self.options = options
        self._lock = threading.Lock()
        self._spare: ForwarderHandle | None = None
        self._ending: list[ForwarderHandle] = []  # retired, not reaped yet
        self._closed = False

    @property
    def spare(self) -> ForwarderHandle | None:
        """The process waiting for a namespace, if any."""
        return self._spare

    def refill(self) -> None:
        """Start a spare unless there is one alive (or the pool is closed). A spare that
        cannot be started is not an error here: :meth:`start` then starts a process itself."""
        with self._lock:
            self._ending = [h for h in self._ending if h.poll() is None]
            if self._closed or (self._spare is not None and self._spare.poll() is None):
                return
            dead, self._spare = self._spare, None
            with contextlib.suppress(SandboxNetworkError):
                self._spare = self._spawn()
        if dead is not None:
            dead.kill()

    def start(self, target_pid: int, *, timeout: float = 10.0) -> ForwarderHandle:
        """A ready forwarder in ``target_pid``'s network namespace: the spare when it is
        alive, else a new process. Raises :class:`SandboxNetworkError`."""
        fd = _open_netns(target_pid, None)
        try:
            with self._lock:
                spare, self._spare = self._spare, None
            if spare is not None:
                try:
                    return _attach_and_wait(spare, fd, timeout)
                except ForwarderGone:
                    pass  # it died before it could serve: start one
            return _attach_and_wait(self._spawn(), fd, timeout)
        finally:
            os.close(fd)

    def retire(self, handle: ForwarderHandle) -> None:
        """End a forwarder (from :meth:`start`) now; it is reaped by a later :meth:`refill`
        or by :meth:`close`, so the caller does not wait for its exit."""
        handle.stop()
        with self._lock:
            self._ending.append(handle)

    def close(self) -> None:
        """Kill the spare and reap the retired forwarders (those handed out and not retired
        are their callers' to close). Idempotent."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
            ending, self._ending = self._ending, []
        if spare is not None:
            spare.kill()
        for handle in ending:
            handle.close()

    def _spawn(self) -> ForwarderHandle:
        return spawn_forwarder(self.proxy_socket, **self.options)

    def __enter__(self) -> ForwarderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attach_and_wait(handle: ForwarderHandle, netns_fd: int, timeout: float) -> ForwarderHandle:
    try:
        handle.hand_over(netns_fd)
        handle.ready(timeout)
    except BaseException:
        handle.kill()
        raise
    return handle


def _open_netns(target_pid: int | None, netns: str | os.PathLike[str] | None) -> int:
    if target_pid is None and netns is None:
        raise SandboxNetworkError("a forwarder needs a target pid or a netns path")
    path = netns if netns is not None else f"/proc/{target_pid}/ns/net"
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxNetworkError(f"cannot open the sandbox's network namespace {path}: "
                                  f"{exc.strerror}") from None


def _command(proxy_socket: str | os.PathLike[str], options: ForwarderOptions) -> list[str]:
    """The forwarder's command line: the options given, as ``--name value`` (the process
    applies the defaults). Raises ``TypeError`` for an unknown option, as a signature would."""
    unknown = options.keys() - ForwarderOptions.__optional_keys__
    if unknown:
        raise TypeError(f"unknown forwarder options: {', '.join(sorted(unknown))}")
    argv = [options.get("python") or sys.executable, "-I", "-S", "-c", _boot(),
            "--proxy-socket", os.fspath(proxy_socket)]
    for name, value in options.items():
        if name == "python":
            continue
        if value is None:  # dns_port: no DNS
            text = "0"
        elif isinstance(value, Sequence) and not isinstance(value, str):  # ports, http_ports
            text = ",".join(map(str, value))
        else:
            text = str(value)
        argv += ["--" + name.replace("_", "-"), text]
    return argv


@functools.cache
def _boot() -> str:
    """The ``-c`` program: import :mod:`codor.sandbox.relay` from this source tree and run it.
    A bare module object stands in for the ``codor.sandbox`` package so that its
    ``__init__`` (the backends, ~50 ms) is not imported; ``type(sys)`` is the module type
    (``types`` is not loaded under ``-S``)."""
    here = Path(__file__).resolve().parent
    return (f"import sys; sys.path.insert(0, {str(here.parents[1])!r}); "
            f"pkg = type(sys)('codor.sandbox'); pkg.__path__ = [{str(here)!r}]; "
            f"sys.modules['codor.sandbox'] = pkg; "
            f"from codor.sandbox.relay import main; sys.exit(main())")
