"""The server name (SNI) in a TLS ClientHello, read without terminating TLS.

The egress proxy decides a ``CONNECT host:port`` by its host; the client's first bytes in the
tunnel are, for TLS, a ClientHello whose ``server_name`` says which site the client really
wants. A tunnel opened for ``allowed.example`` that greets the server as ``evil.example``
(domain fronting through a shared front end) is closed. :func:`client_hello` reads as much as
it needs, incrementally: it answers how many more bytes it wants until it can answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_HELLO", "Hello", "HelloError", "client_hello"]

#: Bytes the proxy buffers, at most, to see one whole ClientHello (post-quantum key shares make
#: hellos of 1.5-2 KiB common; 64 KiB is far above any real one).
MAX_HELLO: Final = 65536
_HANDSHAKE: Final = 0x16
_CLIENT_HELLO: Final = 0x01
_SERVER_NAME: Final = 0x0000


class HelloError(ValueError):
    """Bytes that start like a TLS handshake but are not a well-formed ClientHello."""


@dataclass(frozen=True, slots=True)
class Hello:
    """What the first bytes of a tunnel say: ``tls`` when they are a TLS handshake, and the
    SNI host name (ASCII, as sent) when the ClientHello carries one."""

    tls: bool
    server_name: str | None = None


def client_hello(data: bytes) -> Hello | int:
    """The :class:`Hello` in ``data``, or how many more bytes are needed (> 0).

    Raises :class:`HelloError` for a malformed or oversized hello.
    """
    if not data:
        return 1
    if data[0] != _HANDSHAKE:
        return Hello(tls=False)
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        if data[pos] != _HANDSHAKE:
            raise HelloError("a non-handshake TLS record before the ClientHello ended")
        if data[pos + 1] != 3:
            raise HelloError("unknown TLS record version")
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        if length == 0 or length > 16384 + 2048:
            raise HelloError("bad TLS record length")
        end = pos + 5 + length
        if end > len(data):
            return _more(end, data)
        handshake += data[pos + 5:end]
        pos = end
        if len(handshake) >= 4:
            if handshake[0] != _CLIENT_HELLO:
                raise HelloError("the first handshake message is not a ClientHello")
            size = int.from_bytes(handshake[1:4], "big")
            if size + 4 > MAX_HELLO:
                raise HelloError("ClientHello too large")
            if len(handshake) >= size + 4:
                return Hello(True, _server_name(bytes(handshake[4:size + 4])))
    return _more(pos + 5, data)


def _more(end: int, data: bytes) -> int:
    if end > MAX_HELLO:
        raise HelloError("ClientHello too large")
    return end - len(data)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise HelloError("truncated ClientHello")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def number(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, size_bytes: int) -> bytes:
        return self.take(self.number(size_bytes))

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _server_name(body: bytes) -> str | None:
    r = _Reader(body)
    r.take(2 + 32)  # legacy_version, random
    if len(r.vector(1)) > 32:
        raise HelloError("session id longer than 32 bytes")
    suites = r.vector(2)
    if not suites or len(suites) % 2:
        raise HelloError("bad cipher suite list")
    if not r.vector(1):
        raise HelloError("no compression methods")
    if r.left == 0:
        return None  # no extensions at all
    extensions = _Reader(r.vector(2))
    if r.left:
        raise HelloError("junk after the ClientHello extensions")
    found: str | None = None
    seen: set[int] = set()
    while extensions.left:
        kind = extensions.number(2)
        payload = extensions.vector(2)
        if kind in seen:
            raise HelloError(f"duplicate TLS extension {kind}")
        seen.add(kind)
        if kind == _SERVER_NAME:
            found = _host_name(payload)
    return found


def _host_name(payload: bytes) -> str | None:
    r = _Reader(payload)
    names = _Reader(r.vector(2))
    if r.left:
        raise HelloError("junk after the server_name list")
    host: str | None = None
    while names.left:
        name_type = names.number(1)
        name = names.vector(2)
        if name_type != 0:
            continue  # not a host_name; no other type is defined
        if host is not None:
            raise HelloError("more than one host_name in server_name")
        if not name or any(b < 0x21 or b > 0x7E for b in name):
            raise HelloError("server_name is not a printable ASCII host name")
        host = name.decode("ascii")
    return host
