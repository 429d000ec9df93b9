"""Stateless pieces of the egress proxy (:mod:`codor.sandbox.proxy`): the refusal answer,
target and ``Host`` checks, tunnel helpers, and binding its unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import stat
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Final

from codor.errors import SandboxNetworkError
from codor.policy.hostnames import format_host, normalize_host
from codor.policy.hosts import Target, parse_target
from codor.sandbox.httpwire import Head, serialize_head
from codor.sandbox.tlshello import Hello, HelloError, client_hello

__all__ = ["Block", "Flow", "authority", "bind_unix", "both", "hello_or_block",
           "match_host_header", "now", "pump", "read_some", "refusal", "split_url", "tunnel",
           "write_eof"]

_CHUNK: Final = 65536
_REASONS: Final = {400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large",
                   500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
                   503: "Service Unavailable", 504: "Gateway Timeout",
                   505: "HTTP Version Not Supported"}
_UNSAFE_HEADER = re.compile(r"[^\x21-\x7e]")


class Block(Exception):
    """Refuse the request: an HTTP status, the decision, a rule id and a message."""

    def __init__(self, status: int, decision: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.status, self.decision, self.rule, self.message = status, decision, rule, message


class Flow:
    """One exchange or tunnel: what it is, bytes each way, last activity."""

    __slots__ = ("down", "kind", "last", "method", "started", "t0", "target", "up")

    def __init__(self, kind: str, target: str, method: str, now: float) -> None:
        self.kind, self.target, self.method = kind, target, method
        self.up = self.down = 0
        self.started = False
        self.last = self.t0 = now


def refusal(status: int, decision: str, rule: str, message: str) -> bytes:
    """The whole answer for a refused request: status, machine-readable headers, JSON body."""
    body = json.dumps({"decision": decision, "rule": rule, "message": message}).encode() + b"\n"
    return serialize_head(f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", [
        ("X-Codor-Decision", _UNSAFE_HEADER.sub("?", decision)[:16]),
        ("X-Codor-Rule", _UNSAFE_HEADER.sub("?", rule)[:200]),
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Connection", "close")]) + body


async def both(*steps: Coroutine[Any, Any, None]) -> None:
    """Run ``steps`` together until all end; the first failure cancels the others and is
    raised."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def hello_or_block(data: bytes) -> Hello | int:
    try:
        return client_hello(data)
    except HelloError as exc:
        raise Block(403, "deny", "proxy.bad_client_hello", str(exc)) from None


def match_host_header(head: Head, target: Target) -> None:
    """A ``Host`` header (optional: the proxy sends its own upstream) must name the target."""
    value = head.one("host")
    if value is None:
        return
    with contextlib.suppress(UnicodeError):  # a UTF-8 (IDN) Host read as latin-1
        value = value.encode("latin-1").decode("utf-8")
    try:
        named = parse_target(None, value)
    except ValueError as exc:
        raise Block(400, "deny", "proxy.host_mismatch", f"invalid Host header: {exc}"
                     ) from None
    port = named.port if named.port is not None else (target.port if target.scheme is None
                                                      else 80)
    if named.host != target.host or port != target.port:
        raise Block(400, "deny", "proxy.host_mismatch",
                     f"Host header {named.display!r} does not name the target {target.display!r}")


def authority(target: Target) -> str:
    host = format_host(target.host, target.ip)
    return host if target.port in (None, 80) else f"{host}:{target.port}"


def split_url(url: str) -> tuple[str, str]:
    """``(authority, origin-form path)`` of an absolute URL (already known to be http)."""
    rest = url[url.index("://") + 3:]
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    path = rest[end:]
    if "#" in path:
        raise Block(400, "deny", "proxy.bad_request", "fragment in the request URL")
    if not path.startswith("/"):
        path = "/" + path
    return rest[:end], path


def write_eof(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()


def now() -> float:
    return time.monotonic()


def bind_unix(path: str, mode: int) -> socket.socket:
    """A unix socket at ``path`` with ``mode`` set before it listens (no window in which
    another user could connect). A stale socket file is replaced; anything else is an error."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise SandboxNetworkError(f"{path} exists and is not a socket")
        os.unlink(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
    except BaseException:
        sock.close()
        raise
    return sock


# -- tunnels ---------------------------------------------------------------------------------
async def tunnel(client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter], flow: Flow,
                 target: Target, *, idle: float, hello_timeout: float) -> None:
    """Relay both ways until both sides end (or ``idle`` seconds pass with no byte either
    way). When the client's first bytes are a TLS ClientHello, its SNI must name ``target``
    (:class:`Block` ``proxy.sni_mismatch`` otherwise) before anything goes up."""
    await both(pump(upstream[0], client[1], flow, idle, up=False),
               _client_side(client[0], upstream[1], flow, target, idle, hello_timeout))


async def _client_side(reader: asyncio.StreamReader, up: asyncio.StreamWriter, flow: Flow,
                       target: Target, idle: float, hello_timeout: float) -> None:
    data = await read_some(reader, flow, idle)
    if not data:
        return write_eof(up)
    while not isinstance(hello := hello_or_block(data), Hello):
        async with asyncio.timeout(hello_timeout):
            more = await reader.read(max(hello, 4096))
        if not more:
            raise Block(403, "deny", "proxy.bad_client_hello",
                        "connection closed inside the TLS ClientHello")
        data += more
    if hello.server_name is not None:
        try:
            sni = normalize_host(hello.server_name)
        except ValueError as exc:
            raise Block(403, "deny", "proxy.sni_mismatch", f"invalid TLS SNI: {exc}") from None
        if sni != target.host:
            raise Block(403, "deny", "proxy.sni_mismatch",
                        f"TLS SNI {sni!r} does not match the CONNECT host {target.host!r}")
    flow.up += len(data)
    up.write(data)
    await up.drain()
    await pump(reader, up, flow, idle, up=True)


async def read_some(reader: asyncio.StreamReader, flow: Flow, idle: float) -> bytes:
    """The next bytes (``b""`` at the end); ``TimeoutError`` once the whole flow has been
    idle for ``idle`` seconds (a one-way download keeps the other direction alive)."""
    while True:
        try:
            async with asyncio.timeout(idle):
                data = await reader.read(_CHUNK)
        except TimeoutError:
            if now() - flow.last >= idle:
                raise
            continue
        flow.last = now()
        return data


async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, flow: Flow, idle: float,
               *, up: bool) -> None:
    while data := await read_some(src, flow, idle):
        if up:
            flow.up += len(data)
        else:
            flow.down += len(data)
        dst.write(data)
        await dst.drain()
    write_eof(dst)
