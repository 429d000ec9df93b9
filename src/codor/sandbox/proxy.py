"""The egress proxy: every network request from a sandbox, decided by the policy first.

One :class:`EgressProxy` listens on a unix socket on the host (asyncio, in a background
thread). The sandbox reaches it only through the forwarder (:mod:`codor.sandbox.forwarder`),
never through a bind-mounted socket. It speaks:

* HTTP proxy requests (``GET http://host/path HTTP/1.1``), plain http only, keep-alive on the
  client side, one upstream connection per request;
* ``CONNECT host:port`` tunnels; for a TLS tunnel the ClientHello's SNI must name the CONNECT
  host (``proxy.sni_mismatch`` otherwise: the tunnel is closed);
* ``CONNECT host:port`` + ``X-Codor-Transparent: http``: the forwarder's tunnel for a program
  that resolved ``host`` through the sandbox DNS and connected to its fake address; the
  origin-form requests inside are judged one by one like proxy requests, and their ``Host``
  must name ``host``;
* ``CODOR-DNS name HTTP/1.1``: the forwarder's DNS asks whether ``name`` may resolve (the
  policy decides ``network.request {host}``; nothing is looked up).

Order for every request: parse and validate the target (same normaliser as the policy; odd
characters, userinfo, a ``Host`` header that names another host are refused) → ``decide``
(before any DNS lookup) → resolve → ``check_resolved`` on every address (no rebinding to
loopback, private or metadata ranges) → connect to a checked address (never re-resolved).
A block answers ``403`` (``X-Codor-Decision``, ``X-Codor-Rule``, JSON body); a failure after an
allow answers ``502``/``504``; no traceback ever reaches the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from codor.errors import ActionError, SandboxNetworkError
from codor.model import Action, Decision
from codor.policy.hostnames import IPAddress, format_host, normalize_host, parse_ip
from codor.policy.hosts import Target, parse_target
from codor.sandbox.httpwire import (
    Head,
    HttpError,
    end_to_end,
    parse_head,
    relay,
    request_framing,
    response_framing,
    serialize_head,
)
from codor.sandbox.netutil import AddressCheck, CheckResolved, Resolver, system_resolver
from codor.sandbox.proxy_support import (
    Block,
    Flow,
    authority,
    bind_unix,
    match_host_header,
    now,
    refusal,
    split_url,
    tunnel,
)

__all__ = ["DNS_METHOD", "TRANSPARENT_HEADER", "Decide", "EgressProxy", "ProxyLimits", "Record"]

Decide = Callable[[Action], Decision]
Record = Callable[[dict[str, Any]], None]

DNS_METHOD: Final = "CODOR-DNS"
TRANSPARENT_HEADER: Final = "X-Codor-Transparent"


@dataclass(frozen=True, slots=True)
class ProxyLimits:
    """Sizes and timeouts (seconds). ``max_lifetime`` bounds one client connection."""

    max_head: int = 65536
    max_headers: int = 100
    head_timeout: float = 30.0
    idle_timeout: float = 300.0
    connect_timeout: float = 10.0
    resolve_timeout: float = 10.0
    hello_timeout: float = 10.0
    max_lifetime: float | None = None
    max_connections: int = 256
    workers: int = 8


class EgressProxy:
    """The host side of sandbox egress. ``decide`` is the kernel's (it records); ``record``
    receives proxy-level events (``egress.blocked``, ``egress.upstream_error``,
    ``egress.closed`` with byte counts), called from a dedicated thread. ``action_fields``
    (session, agent, origin...) go into every action it decides.

    ``tcp_address=("127.0.0.1", 3128)`` also listens on TCP, for a sandbox that shares the
    host's network (Landlock alone): any local process can then use the proxy (every request
    is still decided and recorded); prefer the unix socket and the forwarder."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        decide: Decide,
        check_resolved: CheckResolved | None = None,
        record: Record | None = None,
        *,
        resolver: Resolver | None = None,
        limits: ProxyLimits | None = None,
        action_fields: Mapping[str, Any] | None = None,
        socket_mode: int = 0o600,
        tcp_address: tuple[str, int] | None = None,
    ) -> None:
        self.socket_path = str(socket_path)
        self._decide = decide
        self._check = check_resolved if check_resolved is not None else AddressCheck()
        self._record = record
        self._resolve = resolver if resolver is not None else system_resolver
        self.limits = limits if limits is not None else ProxyLimits()
        self._fields = dict(action_fields or {})
        self._mode = socket_mode
        self._tcp = tcp_address
        #: ``(host, port)`` of the TCP listener once started (``tcp_address`` port 0: chosen).
        self.tcp_address: tuple[str, int] | None = None
        self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="codor-proxy")
        self._events: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._recorder: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> EgressProxy:
        """Listen on the socket (in a background thread); returns once it accepts."""
        if self._thread is not None:
            raise SandboxNetworkError("the egress proxy is already started")
        if self._record is not None:
            self._recorder = threading.Thread(target=self._drain, name="codor-proxy-record",
                                              daemon=True)
            self._recorder.start()
        self._thread = threading.Thread(target=self._run, name="codor-egress-proxy",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._failure is not None:
            failure = self._failure
            self.close()
            raise SandboxNetworkError(f"the egress proxy did not start on {self.socket_path}: "
                                      f"{failure or 'timeout'}")
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut every connection, remove the socket. Idempotent."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._recorder is not None:
            self._events.put(None)
            self._recorder.join(timeout)
            self._recorder = None

    def __enter__(self) -> EgressProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        sock = bind_unix(self.socket_path, self._mode)
        servers: list[asyncio.Server] = []
        try:
            servers.append(await asyncio.start_unix_server(
                self._handle, sock=sock, limit=self.limits.max_head, backlog=512))
            if self._tcp is not None:
                tcp = await asyncio.start_server(self._handle, self._tcp[0], self._tcp[1],
                                                 limit=self.limits.max_head, backlog=512)
                servers.append(tcp)
                self.tcp_address = tcp.sockets[0].getsockname()[:2]
            self._ready.set()
            await self._stop.wait()
        finally:
            if not servers:
                sock.close()
            for server in servers:
                server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for server in servers:
                await server.wait_closed()
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path)

    def _drain(self) -> None:
        record = self._record
        assert record is not None
        while (event := self._events.get()) is not None:
            with contextlib.suppress(Exception):  # a broken sink must not stop the proxy
                record(event)

    def _emit(self, event: str, **fields: Any) -> None:
        if self._record is not None:
            self._events.put({"event": event, "time": time.time(), **fields})

    # -- one client connection -------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if len(self._tasks) > self.limits.max_connections:
                await self._refuse(writer, Block(503, "deny", "proxy.too_many_connections",
                                                  "too many connections through the proxy"),
                                   None, log=True)
                await _linger(reader, writer)
                return
            async with asyncio.timeout(self.limits.max_lifetime):
                await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:  # the proxy is closing: end quietly
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       fixed: Target | None = None) -> None:
        first = True
        while True:
            flow: Flow | None = None
            try:
                head = await self._read_head(reader, first)
                if head is None:
                    return
                first = False
                method, where = head.first[0], head.first[1]
                flow = Flow("http", where[:300], method, now())
                if fixed is None and method == "CONNECT":
                    flow.kind = "connect"
                    await self._connect(reader, writer, head, flow)
                    return
                if fixed is None and method == DNS_METHOD:
                    flow.kind = "dns"
                    await self._dns(writer, head)
                    return
                if not await self._forward(reader, writer, head, flow, fixed):
                    return
            except Block as block:
                await self._refuse(writer, block, flow, log=True)
                return
            except HttpError as err:
                await self._refuse(writer, Block(err.status, "deny", err.rule, err.message),
                                   flow, log=True)
                return
            except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
                raise
            except Exception as exc:  # a bug: answer, record, never show a traceback
                await self._refuse(writer, Block(500, "deny", "proxy.internal_error",
                                                  f"internal proxy error ({type(exc).__name__})"),
                                   flow, log=True)
                return

    async def _read_head(self, reader: asyncio.StreamReader, first: bool) -> Head | None:
        wait = self.limits.head_timeout if first else self.limits.idle_timeout
        try:
            async with asyncio.timeout(wait):
                raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise HttpError(400, "proxy.bad_request", "connection closed inside a request "
                                                          "head") from None
            return None
        except asyncio.LimitOverrunError:
            raise HttpError(431, "proxy.bad_request", f"request head larger than "
                                                      f"{self.limits.max_head} bytes") from None
        return parse_head(raw, request=True, max_headers=self.limits.max_headers)

    async def _refuse(self, writer: asyncio.StreamWriter, block: Block, flow: Flow | None,
                      *, log: bool) -> None:
        if log:
            kind = "egress.upstream_error" if block.status in (502, 504) else "egress.blocked"
            self._emit(kind, status=block.status, decision=block.decision, rule=block.rule,
                       message=block.message, method=flow.method if flow else None,
                       target=flow.target if flow else None)
        if flow is not None and flow.started:
            return  # bytes of an answer already went out: closing is all that is left
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.write(refusal(block.status, block.decision, block.rule, block.message))
            await writer.drain()

    # -- deciding --------------------------------------------------------------------------
    def _action(self, **fields: Any) -> Action:
        merged = {**self._fields, **{k: v for k, v in fields.items() if v is not None}}
        if "meta" in fields and "meta" in self._fields:
            merged["meta"] = {**self._fields["meta"], **fields["meta"]}
        try:
            return Action.create("network.request", **merged)
        except ActionError as exc:
            raise Block(400, "deny", "proxy.invalid_target", exc.message) from None

    def _decide_safely(self, action: Action) -> Decision | BaseException:
        try:
            return self._decide(action)
        except BaseException as exc:  # fail closed
            return exc

    async def _decision(self, action: Action) -> Decision:
        loop = asyncio.get_running_loop()
        got = await loop.run_in_executor(self._pool, self._decide_safely, action)
        if isinstance(got, BaseException):
            raise Block(403, "deny", "proxy.decide_failed",
                         f"the decision failed ({type(got).__name__}); denied")
        if got.decision != "allow":
            first = got.reasons[0] if got.reasons else None
            rule = (first.rule if first is not None else None) or "policy"
            message = first.message if first is not None else "denied by the policy"
            raise Block(403, got.decision, rule, message)
        return got

    async def _authorize(self, action: Action, target: Target) -> list[IPAddress]:
        await self._decision(action)
        if target.ip is not None:
            addresses: list[IPAddress] = [target.ip]
        else:
            port = target.port or 80
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self.limits.resolve_timeout):
                    found = await loop.run_in_executor(self._pool, self._resolve, target.host,
                                                       port)
            except TimeoutError:
                raise Block(504, "allow", "proxy.resolve_timeout",
                             f"resolving {target.host} timed out") from None
            except (OSError, UnicodeError, ValueError) as exc:
                raise Block(502, "allow", "proxy.resolve_failed",
                             f"cannot resolve {target.host}: {exc}") from None
            addresses = list(found)
            if not addresses:
                raise Block(502, "allow", "proxy.resolve_failed",
                             f"{target.host} has no address")
        for ip in addresses:
            try:
                reason = self._check(target.host, ip)
            except Exception as exc:
                reason = f"address check failed ({type(exc).__name__})"
            if reason is not None:
                raise Block(403, "deny", "proxy.resolved_address", reason)
        return addresses

    async def _open(self, addresses: list[IPAddress], target: Target
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        port = target.port or 80
        problem = "no address"
        for ip in addresses:
            try:
                async with asyncio.timeout(self.limits.connect_timeout):
                    return await asyncio.open_connection(str(ip), port,
                                                         limit=self.limits.max_head)
            except TimeoutError:
                problem = f"{ip}: connection timed out"
            except OSError as exc:
                problem = f"{ip}: {exc.strerror or exc}"
        raise Block(502, "allow", "proxy.upstream_unreachable",
                     f"cannot connect to {target.display}: {problem}")

    def _target(self, url: str | None, host: str | None = None) -> Target:
        try:
            return parse_target(url, host)
        except ValueError as exc:
            raise Block(400, "deny", "proxy.invalid_target", f"invalid target: {exc}") from None

    # -- CONNECT ---------------------------------------------------------------------------
    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       head: Head, flow: Flow) -> None:
        target = self._target(None, head.first[1])
        if not target.port:
            raise Block(400, "deny", "proxy.invalid_target", "CONNECT needs host:port")
        match_host_header(head, target)
        flow.target = target.display
        mode = head.one(TRANSPARENT_HEADER)
        if mode is not None:
            if mode.lower() != "http":
                raise Block(400, "deny", "proxy.bad_request", f"unknown transparent mode "
                                                               f"{mode[:20]!r}")
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
            await self._session(reader, writer, fixed=target)
            return
        action = self._action(host=format_host(target.host, target.ip), port=target.port,
                              scheme="https" if target.port == 443 else None, method="CONNECT")
        addresses = await self._authorize(action, target)
        up_reader, up_writer = await self._open(addresses, target)
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            flow.started = True
            with contextlib.suppress(ConnectionError, TimeoutError, asyncio.IncompleteReadError):
                await tunnel((reader, writer), (up_reader, up_writer), flow, target,
                             idle=self.limits.idle_timeout,
                             hello_timeout=self.limits.hello_timeout)
            self._closed(flow)
        finally:
            up_writer.close()

    def _closed(self, flow: Flow, **extra: Any) -> None:
        self._emit("egress.closed", kind=flow.kind, method=flow.method, target=flow.target,
                   bytes_up=flow.up, bytes_down=flow.down,
                   ms=round((now() - flow.t0) * 1000, 3), **extra)

    # -- DNS questions from the forwarder ------------------------------------------------------
    async def _dns(self, writer: asyncio.StreamWriter, head: Head) -> None:
        name = head.first[1]
        try:
            host = normalize_host(name)
        except ValueError as exc:
            raise Block(403, "deny", "proxy.invalid_target", f"invalid name: {exc}") from None
        if parse_ip(host) is not None:
            raise Block(403, "deny", "proxy.invalid_target", "a DNS name, not an address")
        outcome = "allow"
        try:
            await self._decision(self._action(host=host, meta={"via": "dns"}))
        except Block as block:
            if block.decision != "ask":
                raise
            outcome = "ask"  # resolvable: the connection will be decided (and asked) itself
        writer.write(serialize_head("HTTP/1.1 200 OK", [
            ("X-Codor-Decision", outcome), ("Content-Length", "0"), ("Connection", "close")]))
        await writer.drain()

    # -- plain HTTP ----------------------------------------------------------------------------
    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       head: Head, flow: Flow, fixed: Target | None) -> bool:
        """One request; ``True`` when the client connection stays open for another."""
        method, raw, version = head.first
        if fixed is not None:
            if not raw.startswith("/"):
                raise HttpError(400, "proxy.bad_request", "expected an origin-form target "
                                                          "(/path)")
            url = f"http://{authority(fixed)}{raw}"
        elif raw[:7].lower() == "http://":
            url = raw
        else:
            raise HttpError(400, "proxy.bad_request",
                            "only absolute http:// URLs are proxied; use CONNECT for https"
                            if "://" in raw else "a proxy request needs an absolute URL")
        userinfo_or_host, path = split_url(url)
        if "@" in userinfo_or_host:
            raise Block(400, "deny", "proxy.invalid_target", "userinfo in the request URL")
        target = self._target(url)
        flow.target = url[:300]
        match_host_header(head, target)
        framing = request_framing(head)
        addresses = await self._authorize(self._action(url=url, method=method), target)
        up_reader, up_writer = await self._open(addresses, target)
        idle = self.limits.idle_timeout
        try:
            headers = [("Host", authority(target)),
                       *end_to_end(head, frozenset({"host", "expect"})), ("Connection", "close")]
            up_writer.write(serialize_head(f"{method} {path} HTTP/1.1", headers))
            if "100-continue" in head.tokens("expect"):
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                flow.up = await relay(framing, reader, up_writer, idle)
            response = await self._response(up_reader, writer, target)
            status, reason = response.first[1], response.first[2]
            body = response_framing(response, method)
            keep = version == "HTTP/1.1" and "close" not in head.tokens("connection") and \
                body.kind != "close"
            out = end_to_end(response)
            if not keep:
                out.append(("Connection", "close"))
            writer.write(serialize_head(f"HTTP/1.1 {status} {reason}", out))
            flow.started = True
            flow.down = await relay(body, up_reader, writer, idle)
            await writer.drain()
            self._closed(flow, status=int(status))
            return keep
        finally:
            up_writer.close()

    async def _response(self, up: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        target: Target) -> Head:
        while True:
            try:
                async with asyncio.timeout(self.limits.idle_timeout):
                    raw = await up.readuntil(b"\r\n\r\n")
            except TimeoutError:
                raise Block(504, "allow", "proxy.upstream_timeout",
                             f"{target.display} did not answer in time") from None
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                raise Block(502, "allow", "proxy.bad_response",
                             f"{target.display} closed or sent an oversized head") from None
            head = parse_head(raw, request=False, max_headers=self.limits.max_headers)
            status = int(head.first[1])
            if status == 101:
                raise Block(502, "allow", "proxy.bad_response", "upstream switched protocols")
            if status >= 200:
                return head
            writer.write(serialize_head(f"HTTP/1.1 {status} {head.first[2]}", end_to_end(head)))


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After an early answer, half-close and read what the client is still sending (briefly,
    bounded), so its request write does not fail with a reset before it reads the answer."""
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
    with contextlib.suppress(ConnectionError, TimeoutError, OSError):
        async with asyncio.timeout(0.5):
            drained = 0
            while drained < 65536 and (chunk := await reader.read(4096)):
                drained += len(chunk)
