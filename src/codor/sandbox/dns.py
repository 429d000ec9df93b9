"""DNS inside the sandbox: names the policy allows resolve to fake loopback addresses.

The forwarder (:mod:`codor.sandbox.forwarder`; its process runs :mod:`codor.sandbox.relay`)
serves this on ``127.0.0.1:53`` (UDP and TCP) inside the sandbox's network namespace; the
sandbox's ``/etc/resolv.conf`` says ``nameserver 127.0.0.1``. Nothing is ever forwarded to a
real resolver, so a query carries no data out (``dig <data>.evil.tld`` reaches only the policy
and the ledger):

* ``A`` for a name the policy allows (or would ask about) — the egress proxy decides
  ``network.request {host: name}`` and records it — is answered with a fake address unique
  to the name, from ``127.77.0.0/16``; a connection to that address is tunnelled by the
  forwarder to the proxy as ``CONNECT name:port``, where it is decided again with its port;
* ``AAAA`` and other types for such a name: an empty answer (programs fall back to ``A``);
* a denied or invalid name: ``NXDOMAIN``; the proxy unreachable: ``SERVFAIL``;
* ``PTR`` for a fake address answers its name; other reverse names ``NXDOMAIN``, locally.

Limits: the policy is asked per name, so under ``*.example.com`` every
``<anything>.example.com`` resolves (to a fake address; the data in it reaches only the
ledger until a connection is made, when the host resolves it for real). A port-pinned allow
pattern (``example.com:8443``) does not match a name-only question: such a name gets
``NXDOMAIN`` and must be reached through the proxy variables instead.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["FAKE_NETWORK", "DnsResponder", "FakeAddresses", "Query", "parse_query",
           "proxy_lookup", "serve_tcp_client", "serve_udp"]

# The forwarder process imports this module, so it imports only what loads in a few ms (no
# dataclasses or typing); see codor.sandbox.relay.

#: Where fake addresses come from (inside the sandbox; 127/8 is all on ``lo``).
FAKE_NETWORK = "127.77.0.0/16"
A, PTR, AAAA, ANY = 1, 12, 28, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
_HEADER = struct.Struct("!HHHHHH")
_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
MAX_TCP_MESSAGE = 4096

#: ``lookup(name) -> allowed?``; raises ``OSError`` when nobody can answer.
Lookup = Callable[[str], bool]


class FakeAddresses:
    """A stable, unique fake IPv4 address per name (thread-safe), at most ``limit`` names;
    ``on_new`` is called once per new address (the forwarder opens its listeners there)."""

    def __init__(self, network: str = FAKE_NETWORK, *, limit: int = 1024,
                 on_new: Callable[[ipaddress.IPv4Address, str], None] | None = None) -> None:
        net = ipaddress.IPv4Network(network)
        self.network = net
        self._next = int(net.network_address) + 1
        self._last = min(int(net.broadcast_address) - 1, self._next + limit - 1)
        self._by_name: dict[str, ipaddress.IPv4Address] = {}
        self._by_ip: dict[ipaddress.IPv4Address, str] = {}
        self._lock = threading.Lock()
        self._on_new = on_new

    def address_for(self, name: str) -> ipaddress.IPv4Address | None:
        """The name's address (allocated on first use), ``None`` when the pool is full."""
        with self._lock:
            ip = self._by_name.get(name)
            if ip is not None:
                return ip
            if self._next > self._last:
                return None
            ip = ipaddress.IPv4Address(self._next)
            self._next += 1
            self._by_name[name] = ip
            self._by_ip[ip] = name
        if self._on_new is not None:
            self._on_new(ip, name)
        return ip

    def name_for(self, ip: str | ipaddress.IPv4Address) -> str | None:
        with contextlib.suppress(ValueError):
            return self._by_ip.get(ipaddress.IPv4Address(ip))
        return None

    def __len__(self) -> int:
        return len(self._by_name)


class Query:
    """One question: ``name`` is lower-case text (odd bytes escaped as ``\\DDD``);
    ``question`` is the question section as received. (A plain class, not a dataclass: the
    forwarder process imports this module, and ``dataclasses`` alone takes ~6 ms to load.)"""

    __slots__ = ("flags", "id", "name", "qclass", "qtype", "question")

    def __init__(self, id: int, flags: int, name: str, qtype: int, qclass: int,
                 question: bytes) -> None:
        self.id = id
        self.flags = flags
        self.name = name
        self.qtype = qtype
        self.qclass = qclass
        self.question = question

    def __repr__(self) -> str:
        return (f"Query(id={self.id}, flags={self.flags:#06x}, name={self.name!r}, "
                f"qtype={self.qtype}, qclass={self.qclass})")


class _Malformed(ValueError):
    pass


def parse_query(packet: bytes) -> Query:
    """Parse a DNS query with exactly one question. Raises ``ValueError``."""
    if len(packet) < _HEADER.size:
        raise _Malformed("short packet")
    qid, flags, qd, _, _, _ = _HEADER.unpack_from(packet)
    if flags & 0x8000:
        raise _Malformed("a response, not a query")
    if qd != 1:
        raise _Malformed("exactly one question expected")
    pos = _HEADER.size
    labels: list[str] = []
    total = 0
    while True:
        if pos >= len(packet):
            raise _Malformed("truncated name")
        size = packet[pos]
        if size & 0xC0:
            raise _Malformed("compressed or extended label in a question")
        pos += 1
        if size == 0:
            break
        label = packet[pos:pos + size]
        if len(label) != size:
            raise _Malformed("truncated label")
        total += size + 1
        if total > 255:
            raise _Malformed("name too long")
        labels.append(_label_text(label))
        pos += size
    if pos + 4 > len(packet):
        raise _Malformed("truncated question")
    qtype, qclass = struct.unpack_from("!HH", packet, pos)
    question = packet[_HEADER.size:pos + 4]
    return Query(qid, flags, ".".join(labels).lower(), qtype, qclass, question)


def _label_text(label: bytes) -> str:
    if all(b in _NAME_CHARS for b in label):
        return label.decode("ascii")
    return "".join(chr(b) if b in _NAME_CHARS else f"\\{b:03d}" for b in label)


def response(query: Query, rcode: int, answers: Sequence[tuple[int, bytes]] = (),
             ttl: int = 60) -> bytes:
    """A response to ``query``: ``answers`` are ``(type, rdata)`` for the question's name."""
    flags = 0x8000 | (query.flags & 0x7800) | 0x0400 | (query.flags & 0x0100) | 0x0080 | rcode
    out = bytearray(_HEADER.pack(query.id, flags, 1, len(answers), 0, 0))
    out += query.question
    for rtype, rdata in answers:
        out += struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(rdata)) + rdata
    return bytes(out)


def _error(packet: bytes, rcode: int) -> bytes | None:
    """A header-only error answer to a packet that could not be parsed (or ``None``)."""
    if len(packet) < _HEADER.size or packet[2] & 0x80:
        return None
    qid, flags = struct.unpack_from("!HH", packet)
    return _HEADER.pack(qid, 0x8000 | (flags & 0x7900) | 0x0080 | rcode, 0, 0, 0, 0)


class DnsResponder:
    """Answers queries from the policy's verdict per name (cached ``cache_seconds``)."""

    def __init__(self, lookup: Lookup, addresses: FakeAddresses, *, ttl: int = 60,
                 cache_seconds: float = 30.0, cache_size: int = 4096) -> None:
        self._lookup = lookup
        self.addresses = addresses
        self._ttl = ttl
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def answer(self, packet: bytes) -> bytes | None:
        """The response bytes for one query packet (``None``: drop it)."""
        try:
            query = parse_query(packet)
        except ValueError:
            return _error(packet, FORMERR)
        if (query.flags >> 11) & 0xF:
            return response(query, NOTIMP)
        if query.qclass not in (1, 255):
            return response(query, REFUSED)
        name = query.name
        if not name:
            return response(query, REFUSED)
        if name.endswith(".arpa") or query.qtype == PTR:
            return self._reverse(query)
        try:
            allowed = self._allowed(name)
        except OSError:
            return response(query, SERVFAIL)
        if not allowed:
            return response(query, NXDOMAIN)
        if query.qtype not in (A, ANY):
            return response(query, NOERROR)  # no AAAA: programs use the A answer
        ip = self.addresses.address_for(name)
        if ip is None:
            return response(query, SERVFAIL)
        return response(query, NOERROR, [(A, ip.packed)], self._ttl)

    def _allowed(self, name: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        verdict = self._lookup(name)
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[name] = (now + self._cache_seconds, verdict)
        return verdict

    def _reverse(self, query: Query) -> bytes:
        parts = query.name.split(".")
        if query.qtype == PTR and len(parts) == 6 and parts[4:] == ["in-addr", "arpa"]:
            name = self.addresses.name_for(".".join(reversed(parts[:4])))
            if name is not None:
                wire = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.split("."))
                return response(query, NOERROR, [(PTR, wire + b"\0")], self._ttl)
        return response(query, NXDOMAIN)


def proxy_lookup(socket_path: str, timeout: float = 5.0) -> Lookup:
    """A :data:`Lookup` that asks the egress proxy (``CODOR-DNS name``) over its socket."""

    def lookup(name: str) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(f"CODOR-DNS {name} HTTP/1.1\r\n\r\n".encode("ascii", "replace"))
            head = b""
            while b"\r\n" not in head and len(head) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
        status = head.split(b"\r\n", 1)[0].split(b" ")
        if len(status) < 2 or not status[1].isdigit():
            raise OSError("no answer from the egress proxy")
        return status[1] == b"200"

    return lookup


def serve_udp(sock: socket.socket, responder: DnsResponder) -> None:
    """Answer queries on a bound UDP socket until it is shut down (``shutdown()`` wakes it;
    ``close()`` alone does not)."""
    while True:
        try:
            packet, peer = sock.recvfrom(4096)
        except OSError:
            return
        if peer is None:  # shut down
            return
        reply = responder.answer(packet)
        if reply is not None:
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)  # < 512 bytes: one question, at most one answer


def serve_tcp_client(conn: socket.socket, responder: DnsResponder, idle: float = 10.0) -> None:
    """Answer length-prefixed queries on one accepted TCP connection, then close it."""
    with conn:
        conn.settimeout(idle)
        try:
            while True:
                size_bytes = _recv_exact(conn, 2)
                if size_bytes is None:
                    return
                size = struct.unpack("!H", size_bytes)[0]
                if size > MAX_TCP_MESSAGE:
                    return
                packet = _recv_exact(conn, size)
                if packet is None:
                    return
                reply = responder.answer(packet)
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data
