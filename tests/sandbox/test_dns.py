"""The sandbox DNS: fake addresses for allowed names, NXDOMAIN otherwise, nothing forwarded.

The verdict comes from a real egress proxy over its unix socket (the forwarder's path)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codor.sandbox.dns import (
    AAAA,
    NOERROR,
    NXDOMAIN,
    PTR,
    SERVFAIL,
    DnsResponder,
    FakeAddresses,
    parse_query,
    proxy_lookup,
    serve_tcp_client,
    serve_udp,
)
from tests.sandbox.origins import Witness, running_proxy

A, MX, TXT = 1, 15, 16


def query(name: str | bytes | list[bytes], qtype: int = A, qid: int = 0x1234,
          flags: int = 0x0100, qdcount: int = 1) -> bytes:
    """A query; ``name`` as text, as bytes split on dots, or as raw labels."""
    if isinstance(name, list):
        labels = name
    else:
        labels = name.split(b".") if isinstance(name, bytes) else [
            p.encode() for p in name.split(".")]
    wire = b"".join(bytes([len(p)]) + p for p in labels if p) + b"\0"
    return struct.pack("!HHHHHH", qid, flags, qdcount, 0, 0, 0) + wire + \
        struct.pack("!HH", qtype, 1)


def decode(reply: bytes) -> tuple[int, int, list[bytes]]:
    """(id, rcode, rdata of each answer)."""
    qid, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", reply)
    assert flags & 0x8000  # a response
    pos = 12
    for _ in range(qd):
        while reply[pos]:
            pos += reply[pos] + 1
        pos += 5
    rdatas = []
    for _ in range(an):
        assert reply[pos:pos + 2] == b"\xc0\x0c"
        _, _, _, size = struct.unpack_from("!HHIH", reply, pos + 2)
        rdatas.append(reply[pos + 12:pos + 12 + size])
        pos += 12 + size
    return qid, flags & 0xF, rdatas


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[tuple[DnsResponder, Witness]]:
    with running_proxy(tmp_path) as (proxy, witness):
        yield DnsResponder(proxy_lookup(proxy.socket_path), FakeAddresses()), witness


def test_allowed_names_get_stable_unique_fake_addresses(
        dns: tuple[DnsResponder, Witness]) -> None:
    responder, witness = dns
    qid, rcode, [first] = decode(responder.answer(query("allowed.test")) or b"")
    assert (qid, rcode) == (0x1234, NOERROR)
    _, _, [again] = decode(responder.answer(query("ALLOWED.test.")) or b"")
    _, _, [other] = decode(responder.answer(query("x.wild.test")) or b"")
    assert first == again == ipaddress.IPv4Address("127.77.0.1").packed
    assert other == ipaddress.IPv4Address("127.77.0.2").packed
    assert responder.addresses.name_for("127.77.0.2") == "x.wild.test"
    assert witness.lookups == []  # nothing was resolved for real
    assert [a.host for a, _ in witness.decisions] == ["allowed.test", "x.wild.test"]


def test_denied_names_are_nxdomain_and_reach_only_the_policy(
        dns: tuple[DnsResponder, Witness]) -> None:
    """Escape class 9: the data in the name is recorded as a denied request; no query leaves."""
    responder, witness = dns
    _, rcode, answers = decode(responder.answer(query("c2VjcmV0LWRhdGE.evil.test")) or b"")
    assert (rcode, answers) == (NXDOMAIN, [])
    _, rcode, _ = decode(responder.answer(query("evil.test", TXT)) or b"")
    assert rcode == NXDOMAIN
    assert witness.lookups == []
    assert [(a.host, d.decision) for a, d in witness.decisions] == [
        ("c2vjcmv0lwrhdgE.evil.test".lower(), "deny"), ("evil.test", "deny")]
    assert len(responder.addresses) == 0


def test_other_record_types_of_an_allowed_name_are_empty(
        dns: tuple[DnsResponder, Witness]) -> None:
    responder, witness = dns
    for qtype in (AAAA, MX, TXT):
        _, rcode, answers = decode(responder.answer(query("allowed.test", qtype)) or b"")
        assert (rcode, answers) == (NOERROR, [])
    assert len(witness.decisions) == 1  # the verdict is cached per name


def test_odd_labels_are_sent_escaped_and_refused(dns: tuple[DnsResponder, Witness]) -> None:
    responder, witness = dns
    for name in (b"allowed.test\x00.evil", [b"allowed.test", b"evil"], b"allowed test"):
        _, rcode, _ = decode(responder.answer(query(name)) or b"")
        assert rcode == NXDOMAIN
    assert parse_query(query(b"a\x00b.test")).name == "a\\000b.test"
    assert parse_query(query([b"allowed.test", b"evil"])).name == "allowed\\046test.evil"
    assert witness.decisions == []  # never even a valid host to decide
    assert set(witness.rules()) == {"proxy.invalid_target"}


def test_reverse_lookups_answer_fake_addresses_locally(
        dns: tuple[DnsResponder, Witness]) -> None:
    responder, witness = dns
    responder.answer(query("allowed.test"))
    _, rcode, [name] = decode(responder.answer(query("1.0.77.127.in-addr.arpa", PTR)) or b"")
    assert (rcode, name) == (NOERROR, b"\x07allowed\x04test\x00")
    _, rcode, _ = decode(responder.answer(query("1.1.168.192.in-addr.arpa", PTR)) or b"")
    assert rcode == NXDOMAIN
    assert len(witness.decisions) == 1  # reverse names never reach the policy


def test_malformed_and_unsupported_queries() -> None:
    responder = DnsResponder(lambda name: True, FakeAddresses())
    assert responder.answer(b"\x00") is None
    _, rcode, _ = decode(responder.answer(query("a.test", qdcount=2)) or b"")
    assert rcode == 1  # FORMERR
    _, rcode, _ = decode(responder.answer(query("a.test", flags=0x2800)) or b"")  # UPDATE
    assert rcode == 4  # NOTIMP
    _, rcode, _ = decode(responder.answer(query("", A)) or b"")
    assert rcode == 5  # REFUSED
    compressed = query("a.test")[:12] + b"\xc0\x0c" + struct.pack("!HH", A, 1)
    _, rcode, _ = decode(responder.answer(compressed) or b"")
    assert rcode == 1


def test_proxy_unreachable_is_servfail(tmp_path: Path) -> None:
    responder = DnsResponder(proxy_lookup(str(tmp_path / "nobody.sock")), FakeAddresses())
    _, rcode, _ = decode(responder.answer(query("allowed.test")) or b"")
    assert rcode == SERVFAIL


def test_fake_addresses_are_bounded_and_announced() -> None:
    seen: list[tuple[str, str]] = []
    pool = FakeAddresses("127.77.0.0/16", limit=2, on_new=lambda ip, n: seen.append((str(ip), n)))
    assert str(pool.address_for("a.test")) == "127.77.0.1"
    assert str(pool.address_for("a.test")) == "127.77.0.1"
    assert str(pool.address_for("b.test")) == "127.77.0.2"
    assert pool.address_for("c.test") is None
    assert seen == [("127.77.0.1", "a.test"), ("127.77.0.2", "b.test")]
    assert pool.name_for("127.77.0.9") is None and pool.name_for("junk") is None


def test_udp_and_tcp_servers_answer_on_loopback(dns: tuple[DnsResponder, Witness]) -> None:
    responder, _ = dns
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=serve_udp, args=(udp, responder), daemon=True)
    thread.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(query("allowed.test", qid=7), udp.getsockname())
        qid, rcode, [address] = decode(client.recv(512))
    assert (qid, rcode, address) == (7, NOERROR, bytes([127, 77, 0, 1]))
    with contextlib.suppress(OSError):
        udp.shutdown(socket.SHUT_RDWR)  # wakes the server thread
    thread.join(5)
    assert not thread.is_alive()
    udp.close()

    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        conn, _ = listener.accept()
        worker = threading.Thread(target=serve_tcp_client, args=(conn, responder), daemon=True)
        worker.start()
        for name, expect in (("allowed.test", NOERROR), ("evil.test", NXDOMAIN)):
            packet = query(name)
            client.sendall(struct.pack("!H", len(packet)) + packet)
            size = struct.unpack("!H", client.recv(2))[0]
            _, rcode, _ = decode(client.recv(size))
            assert rcode == expect
        client.close()
        worker.join(5)
