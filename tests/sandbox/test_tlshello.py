"""SNI from real ClientHellos (made by the ssl module), whole or in pieces."""

from __future__ import annotations

import ssl

import pytest

from codor.sandbox.tlshello import MAX_HELLO, Hello, HelloError, client_hello


def real_hello(server_name: str | None) -> bytes:
    ctx = ssl.create_default_context()
    if server_name is None:
        ctx.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_sni_is_read_from_a_real_client_hello() -> None:
    assert client_hello(real_hello("allowed.test")) == Hello(True, "allowed.test")


def test_a_hello_without_sni_has_no_server_name() -> None:
    assert client_hello(real_hello(None)) == Hello(True, None)


def test_bytes_arriving_one_at_a_time_are_asked_for_until_complete() -> None:
    data = real_hello("a-longer-name.allowed.test")
    got: Hello | int = 0
    for end in range(1, len(data) + 1):
        got = client_hello(data[:end])
        if end < len(data):
            assert isinstance(got, int) and got >= 1
    assert got == Hello(True, "a-longer-name.allowed.test")


def test_a_hello_split_over_two_records_is_reassembled() -> None:
    data = real_hello("split.test")
    body = data[5:]
    version = data[1:3]
    first, second = body[:40], body[40:]
    records = (b"\x16" + version + len(first).to_bytes(2, "big") + first
               + b"\x16" + version + len(second).to_bytes(2, "big") + second)
    assert client_hello(records) == Hello(True, "split.test")


def test_non_tls_bytes_are_not_tls() -> None:
    assert client_hello(b"GET / HTTP/1.1\r\n") == Hello(False)
    assert client_hello(b"SSH-2.0-x\r\n") == Hello(False)
    assert client_hello(b"") == 1


@pytest.mark.parametrize("mangle", [
    lambda d: d[:5] + b"\x02" + d[6:],                    # not a ClientHello
    lambda d: d[:1] + b"\x09" + d[2:],                    # unknown record version
    lambda d: d[:3] + b"\x00\x00" + d[5:],                # empty record
    lambda d: d[:5 + 4 + 34] + b"\x40" + d[5 + 4 + 35:],  # session id longer than 32
])
def test_malformed_hellos_are_errors(mangle: object) -> None:
    data = real_hello("allowed.test")
    assert callable(mangle)
    with pytest.raises(HelloError):
        client_hello(mangle(data))


def test_two_host_names_are_an_error() -> None:
    data = real_hello("ab.test")
    name = b"\x00\x00\x07ab.test"
    at = data.index(name)
    # the server_name list: grow it by a second host_name entry, fixing every length around
    doubled = data[:at] + name + name + data[at + len(name):]
    lengths = [(at - 2, 2), (at - 4, 2)]  # list length, extension length
    for pos, size in lengths:
        value = int.from_bytes(doubled[pos:pos + size], "big") + len(name)
        doubled = doubled[:pos] + value.to_bytes(size, "big") + doubled[pos + size:]
    ext_start = 5 + 4 + 2 + 32
    ext_start += 1 + doubled[ext_start]  # session id
    ext_start += 2 + int.from_bytes(doubled[ext_start:ext_start + 2], "big")  # suites
    ext_start += 1 + doubled[ext_start]  # compression
    for pos, size in ((ext_start, 2), (6, 3), (3, 2)):  # extensions, handshake, record
        value = int.from_bytes(doubled[pos:pos + size], "big") + len(name)
        doubled = doubled[:pos] + value.to_bytes(size, "big") + doubled[pos + size:]
    with pytest.raises(HelloError, match="more than one host_name"):
        client_hello(doubled)


def test_an_endless_hello_is_refused() -> None:
    header = b"\x16\x03\x01\x48\x00" + b"\x01" + (MAX_HELLO * 2).to_bytes(3, "big")
    with pytest.raises(HelloError, match="too large"):
        client_hello(header + b"\x00" * 0x4800)
