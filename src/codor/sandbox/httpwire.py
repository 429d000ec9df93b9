"""HTTP/1.x on the wire, for the egress proxy: strict head parsing, header rewriting, and
body relays by framing (``Content-Length``, ``chunked``, until close).

Strict on purpose: anything two parsers could read differently (obsolete line folding,
whitespace before a colon, control characters, both ``Content-Length`` and
``Transfer-Encoding``, conflicting lengths) is refused, so that what the proxy judged is what
the origin receives. Heads are rebuilt from the parsed fields, never passed through raw.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "HOP_BY_HOP",
    "Framing",
    "Head",
    "HttpError",
    "parse_head",
    "relay",
    "request_framing",
    "response_framing",
    "serialize_head",
]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STR_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")
_VERSIONS: Final = frozenset({"HTTP/1.0", "HTTP/1.1"})
#: Headers that describe one connection, never forwarded (plus any named in ``Connection``).
HOP_BY_HOP: Final = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "upgrade",
})
_CHUNK_LINE_MAX: Final = 4096
_MAX_TRAILERS: Final = 64
_BLOCK: Final = 65536


class HttpError(Exception):
    """A request (or response) the proxy will not pass on: an HTTP status and a rule id."""

    def __init__(self, status: int, rule: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.rule = rule
        self.message = message


@dataclass(frozen=True, slots=True)
class Head:
    """A parsed request or response head. For a request ``first`` is (method, target,
    version); for a response (version, status, reason). Header names keep their case."""

    first: tuple[str, str, str]
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]

    def one(self, name: str) -> str | None:
        """The single value of ``name``; two or more is an error (smuggling territory)."""
        found = self.values(name)
        if len(found) > 1:
            raise HttpError(400, "proxy.bad_request", f"more than one {name} header")
        return found[0] if found else None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every ``name`` header, lower-cased."""
        return [t.strip().lower() for v in self.values(name) for t in v.split(",") if t.strip()]


def parse_head(raw: bytes, *, request: bool, max_headers: int = 100) -> Head:
    """Parse a head ending in an empty line (``\\r\\n\\r\\n``). Raises :class:`HttpError`."""
    status = 400 if request else 502
    rule = "proxy.bad_request" if request else "proxy.bad_response"
    lines = raw.split(b"\r\n")
    if len(lines) < 3 or lines[-1] or lines[-2]:
        raise HttpError(status, rule, "malformed head")
    first = _request_line(lines[0]) if request else _status_line(lines[0])
    if len(lines) - 3 > max_headers:
        raise HttpError(431 if request else 502, rule, f"more than {max_headers} header lines")
    headers: list[tuple[str, str]] = []
    for line in lines[1:-2]:
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise HttpError(status, rule, "malformed header line (bad name, folding or "
                                          "whitespace before ':')")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value) is not None:
            raise HttpError(status, rule, f"control character in header {name.decode()!r}")
        headers.append((name.decode("ascii"), value.decode("latin-1")))
    return Head(first, tuple(headers))


def _request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.split(b" ")
    if len(parts) != 3 or _TOKEN.fullmatch(parts[0]) is None or not parts[1] or \
            _BAD_TARGET.search(parts[1]) is not None:
        raise HttpError(400, "proxy.bad_request", "malformed request line")
    version = parts[2].decode("ascii", "replace")
    if version not in _VERSIONS:
        raise HttpError(505, "proxy.bad_request", f"unsupported HTTP version {version[:16]!r}")
    try:
        target = parts[1].decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "proxy.bad_request", "request target is not UTF-8") from None
    return parts[0].decode("ascii"), target, version


def _status_line(line: bytes) -> tuple[str, str, str]:
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version.decode("ascii", "replace") not in _VERSIONS or len(code) != 3 or \
            not code.isdigit() or _BAD_VALUE.search(reason) is not None:
        raise HttpError(502, "proxy.bad_response", "malformed status line from upstream")
    return version.decode("ascii"), code.decode("ascii"), reason.decode("latin-1")


def serialize_head(first: str, headers: list[tuple[str, str]]) -> bytes:
    out = [first]
    out.extend(f"{k}: {v}" for k, v in headers)
    out.append("\r\n")
    return "\r\n".join(out).encode("latin-1")


def end_to_end(head: Head, drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The headers to forward: no hop-by-hop header, none named in ``Connection``, none in
    ``drop`` (lower-case names)."""
    listed = set(head.tokens("connection"))
    return [(k, v) for k, v in head.headers
            if (low := k.lower()) not in HOP_BY_HOP and low not in listed and low not in drop]


# -- framing ----------------------------------------------------------------------------------
Kind = Literal["none", "length", "chunked", "close"]


@dataclass(frozen=True, slots=True)
class Framing:
    kind: Kind
    length: int = 0


_NO_BODY: Final = Framing("none")


def _content_length(head: Head, status: int, rule: str) -> int | None:
    values = {v.strip() for raw in head.values("content-length") for v in raw.split(",")}
    if not values:
        return None
    if len(values) > 1:
        raise HttpError(status, rule, "conflicting Content-Length values")
    text = values.pop()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise HttpError(status, rule, "invalid Content-Length")
    return int(text)


def request_framing(head: Head) -> Framing:
    """How the request body is delimited; anything ambiguous is an :class:`HttpError`."""
    te = head.tokens("transfer-encoding")
    length = _content_length(head, 400, "proxy.bad_request")
    if te:
        if length is not None:
            raise HttpError(400, "proxy.bad_request",
                            "both Transfer-Encoding and Content-Length")
        if te != ["chunked"]:
            raise HttpError(501, "proxy.bad_request", "only the chunked transfer coding is "
                                                      "supported in requests")
        return Framing("chunked")
    if length:
        return Framing("length", length)
    return _NO_BODY


def response_framing(head: Head, method: str) -> Framing:
    status = int(head.first[1])
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return _NO_BODY
    te = head.tokens("transfer-encoding")
    if te:
        return Framing("chunked") if te[-1] == "chunked" else Framing("close")
    length = _content_length(head, 502, "proxy.bad_response")
    if length is not None:
        return Framing("length", length) if length else _NO_BODY
    return Framing("close")


# -- relays -----------------------------------------------------------------------------------
async def relay(framing: Framing, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                idle: float) -> int:
    """Copy one body from ``src`` to ``dst`` as framed; the number of bytes copied.

    Raises ``asyncio.IncompleteReadError`` when the sender stops early, ``TimeoutError`` after
    ``idle`` seconds without a byte, :class:`HttpError` for bad chunked framing."""
    if framing.kind == "none":
        return 0
    if framing.kind == "length":
        return await _exact(src, dst, framing.length, idle)
    if framing.kind == "chunked":
        return await _chunked(src, dst, idle)
    total = 0
    while True:
        async with asyncio.timeout(idle):
            data = await src.read(_BLOCK)
        if not data:
            return total
        total += len(data)
        dst.write(data)
        await dst.drain()


async def _exact(src: asyncio.StreamReader, dst: asyncio.StreamWriter, n: int,
                 idle: float) -> int:
    left = n
    while left:
        async with asyncio.timeout(idle):
            data = await src.read(min(left, _BLOCK))
        if not data:
            raise asyncio.IncompleteReadError(b"", left)
        left -= len(data)
        dst.write(data)
        await dst.drain()
    return n


async def _line(src: asyncio.StreamReader, idle: float) -> bytes:
    async with asyncio.timeout(idle):
        try:
            line = await src.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError(400, "proxy.bad_request", "chunk line too long") from None
    if len(line) > _CHUNK_LINE_MAX:
        raise HttpError(400, "proxy.bad_request", "chunk line too long")
    return line


async def _chunked(src: asyncio.StreamReader, dst: asyncio.StreamWriter, idle: float) -> int:
    total = 0
    while True:
        line = await _line(src, idle)
        size_text = line[:-2].split(b";", 1)[0].strip(b" \t")
        if not size_text or len(size_text) > 15 or \
                any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise HttpError(400, "proxy.bad_request", "invalid chunk size")
        size = int(size_text, 16)
        dst.write(line)
        total += len(line)
        if size == 0:
            break
        total += await _exact(src, dst, size, idle)
        async with asyncio.timeout(idle):
            crlf = await src.readexactly(2)
        if crlf != b"\r\n":
            raise HttpError(400, "proxy.bad_request", "chunk not followed by CRLF")
        dst.write(crlf)
        total += 2
    for _ in range(_MAX_TRAILERS + 1):
        line = await _line(src, idle)
        if line != b"\r\n" and (b":" not in line or _BAD_VALUE.search(line[:-2])):
            raise HttpError(400, "proxy.bad_request", "malformed trailer")
        dst.write(line)
        total += len(line)
        if line == b"\r\n":
            await dst.drain()
            return total
    raise HttpError(400, "proxy.bad_request", "too many trailers")


def is_token(text: str) -> bool:
    return _STR_TOKEN.fullmatch(text) is not None
